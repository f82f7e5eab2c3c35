"""Issue 18: the region dashboard's "Opportunity list" link carries the region, and the list
honours it (only the region's companies' deals; a region outside the user's scope narrows
nothing he could not see anyway)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from reporting import selectors
from tests.accounts.factories import make_account
from tests.conftest import World
from tests.opportunities.factories import OpportunityFactory
from tests.pages.conftest import Deals

pytestmark = pytest.mark.django_db


def _names(response: object) -> set[str]:
    return {o.name for o in response.context["page"].object_list}  # type: ignore[attr-defined]


def test_the_list_keeps_to_the_region(client: Client, world: World, deals: Deals) -> None:
    german = make_account(organization=world.org, home_company=world.de, name="Rhein GmbH")
    OpportunityFactory(account=german, owner=world.rep_de, name="Rhein drives")
    client.force_login(world.director)
    url = reverse("opportunities:list")
    assert {"Volvera pumps", "Rhein drives"} <= _names(client.get(url))
    assert _names(client.get(url, {"region": world.dach.pk})) == {"Rhein drives"}
    nordic = client.get(url, {"region": world.nordics.pk})
    assert "Volvera pumps" in _names(nordic) and "Rhein drives" not in _names(nordic)
    assert nordic.context["form"].cleaned_data["region"] == world.nordics.pk  # ids, not rows
    # A country manager's region choices are his company's region only; another is ignored.
    client.force_login(world.manager_se)
    response = client.get(url, {"region": world.dach.pk})
    assert not response.context["form"].is_valid()
    assert "Rhein drives" not in _names(response) and "Volvera pumps" in _names(response)


def test_the_region_dashboards_link_carries_the_region(
    client: Client, world: World, deals: Deals
) -> None:
    scope = selectors.dashboard_scope(user=world.director, region_id=str(world.dach.pk))
    board = selectors.dashboard(user=world.director, scope=scope, as_of=timezone.localdate())
    assert board.opportunities_link == f"/opportunities/?region={world.dach.pk}"
    german = make_account(organization=world.org, home_company=world.de, name="Rhein GmbH")
    OpportunityFactory(account=german, owner=world.rep_de, name="Rhein drives")
    client.force_login(world.director)
    page = client.get(reverse("reporting:dashboard"), {"region": world.dach.pk})
    assert f'href="/opportunities/?region={world.dach.pk}"' in page.content.decode()
    assert _names(client.get(board.opportunities_link)) == {"Rhein drives"}
