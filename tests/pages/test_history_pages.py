"""The History tab: who changed what, for those who may see the record, 404 for others."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.accounts.factories import make_account
from tests.conftest import World
from tests.opportunities.factories import OpportunityFactory

pytestmark = pytest.mark.django_db


def test_opportunity_and_account_history_pages(client: Client, world: World) -> None:
    account = make_account(organization=world.org, home_company=world.se, name="Historic AB")
    opp = OpportunityFactory(account=account, owner=world.rep_se, name="Old name")
    client.force_login(world.rep_se)
    url = reverse("opportunities:history", args=[opp.pk])
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    # The insert event shows every field it was created with (issue 18: as "created").
    assert "Old name" in html and 'data-testid="history-row"' in html
    account_page = client.get(reverse("accounts:history", args=[account.pk]))
    assert account_page.status_code == 200 and "Historic AB" in account_page.content.decode()
    for outsider in (world.rep_de, world.stranger):
        client.force_login(outsider)
        assert client.get(url).status_code == 404
        assert client.get(reverse("accounts:history", args=[account.pk])).status_code == 404


def test_history_lists_each_change_with_its_author(client: Client, world: World) -> None:
    from opportunities.services import opportunity_update

    account = make_account(organization=world.org, home_company=world.se)
    opp = OpportunityFactory(account=account, owner=world.rep_se)
    import pghistory

    with pghistory.context(user=world.manager_se.pk):
        opportunity_update(
            opportunity=opp, acting_user=world.manager_se, expected_version=opp.version,
            next_step="Workshop on site",
        )  # fmt: skip
    client.force_login(world.director)
    html = client.get(reverse("opportunities:history", args=[opp.pk])).content.decode()
    assert "Workshop on site" in html
    assert world.manager_se.full_name in html
