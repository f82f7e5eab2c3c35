"""One rule each for "may book opportunities" and "may see the team pages", asked by the pages,
the API and the templates (through the ``may_*`` flags), never a role string in a template."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from opportunities.models import Opportunity
from opportunities.services import may_book_opportunities, may_see_team
from tests.conftest import World
from tests.opportunities.factories import account_for, process_for

pytestmark = pytest.mark.django_db

CREATE = reverse("opportunities:create")


def _html(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


def test_the_rules(world: World) -> None:
    assert not may_book_opportunities(world.marketing)
    assert not may_book_opportunities(world.marketing_se)
    for user in (world.rep_se, world.manager_se, world.regional, world.director, world.admin):
        assert may_book_opportunities(user), user.role
    assert not may_see_team(world.rep_se) and not may_see_team(world.marketing_se)
    for user in (world.manager_se, world.regional, world.director, world.admin):
        assert may_see_team(user), user.role


def test_marketing_is_offered_no_booking_and_is_refused_on_page_and_api(
    client: Client, world: World
) -> None:
    process_for(world.se)
    account = account_for(world.se, "Volvo AB")
    client.force_login(world.marketing_se)
    for url in (reverse("opportunities:list"), reverse("accounts:detail", args=[account.pk])):
        html = _html(client, url)
        assert f'href="{CREATE}' not in html, url
        # Nor the manager pages of the sales sub-menu.
        assert f'href="{reverse("opportunities:team")}"' not in html, url
    assert client.get(CREATE).status_code == 403
    assert client.get(CREATE, {"account": account.pk}).status_code == 403
    api = APIClient()
    api.force_authenticate(world.marketing_se)
    response = api.post(
        "/api/v1/opportunities/", {"account": account.pk, "name": "Trucks"}, format="json"
    )
    assert response.status_code == 403, response.content
    assert not Opportunity.objects.for_org(world.org).exists()


def test_a_rep_is_offered_booking_but_not_the_team_pages(client: Client, world: World) -> None:
    process_for(world.se)
    account = account_for(world.se, "Volvo AB")
    client.force_login(world.rep_se)
    html = _html(client, reverse("opportunities:list"))
    assert f'href="{CREATE}"' in html
    assert f'href="{reverse("opportunities:team")}"' not in html
    assert f'href="{CREATE}?account={account.pk}"' in _html(
        client, reverse("accounts:detail", args=[account.pk])
    )
    assert client.get(CREATE).status_code == 200
    assert client.get(reverse("opportunities:team")).status_code == 403


def test_a_manager_is_offered_the_team_pages(client: Client, world: World) -> None:
    client.force_login(world.manager_se)
    html = _html(client, reverse("opportunities:list"))
    assert f'href="{reverse("opportunities:team")}"' in html
    assert f'href="{reverse("opportunities:data_quality")}"' in html
    assert client.get(reverse("opportunities:team")).status_code == 200


# Templates decide what to offer from ``may_*`` flags; a role string compared in a template is a
# second copy of a rule that lives in a service.
_ROLE_COMPARISON = re.compile(r"\.role\s*(==|!=|\bin\b|\bnot in\b)")


def test_no_template_compares_role_strings() -> None:
    root = Path(settings.BASE_DIR) / "templates"
    found = [
        f"{path.relative_to(root)}:{number}: {line.strip()}"
        for path in sorted(root.rglob("*.html"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if _ROLE_COMPARISON.search(line)
    ]
    assert found == []


def test_marketing_is_not_offered_the_deal_pages(client: Client, world: World) -> None:
    """Board, opportunity list and conflicts inbox show marketing nothing it may work on."""
    client.force_login(world.marketing)
    html = _html(client, reverse("accounts:list"))
    for name in ("opportunities:board", "opportunities:list", "opportunities:conflicts"):
        assert f'href="{reverse(name)}"' not in html, name
    client.force_login(world.rep_se)
    html = _html(client, reverse("accounts:list"))
    for name in ("opportunities:board", "opportunities:list", "opportunities:conflicts"):
        assert f'href="{reverse(name)}"' in html, name
