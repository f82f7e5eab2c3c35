"""The 360° for every visible account (issue 17): a subsidiary in a group whose top the user may
not see opens with 200, the top shown at need-to-know level (name, home company) and the deals
narrowed to the user's own; never a 404 for an account in the user's own list."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import Account
from crm.services import exchange_rate_set
from opportunities import customer
from tests.accounts.factories import make_account, make_opportunity
from tests.conftest import World

pytestmark = pytest.mark.django_db


@pytest.fixture
def group(world: World) -> dict[str, Account]:
    for currency in ("SEK", "DKK", "EUR"):
        exchange_rate_set(
            organization=world.org,
            currency=currency,
            rate="0.1" if currency != "EUR" else "1",
            valid_from="2020-01-01",
            acting_user=None,
        )
    top = make_account(organization=world.org, home_company=world.se, name="Hansa Group AB")
    dk = make_account(organization=world.org, home_company=world.dk, name="Hansa A/S", parent=top)
    make_opportunity(account=top, company=world.se, owner=world.rep_se, amount="900000")
    make_opportunity(account=dk, company=world.dk, owner=world.rep_dk, amount="1000")
    return {"top": top, "dk": dk}


def test_a_subsidiary_opens_although_the_groups_top_is_invisible(
    world: World, group: dict[str, Account]
) -> None:
    view = customer.account_360(user=world.rep_dk, group=group["dk"].pk)
    assert view.requested == group["dk"] and view.group == group["top"]
    assert view.group_visible is False
    assert set(view.subsidiaries_by_country) == {"DK"}  # the top is not listed as a company
    assert set(view.figures_by_country) == {"DK"}  # only her own deals count
    assert view.agreements == [] and view.team == []


def test_the_page_and_the_api_answer_200_without_the_tops_details(
    client: Client, world: World, group: dict[str, Account]
) -> None:
    client.force_login(world.rep_dk)
    page = client.get(reverse("accounts:detail", args=[group["dk"].pk]))
    assert page.status_code == 200
    assert "Hansa Group AB" in page.content.decode()
    assert set(page.context["view"].figures_by_country) == {"DK"}
    assert [row[0] for row in page.context["country_rows"]] == ["DK"]
    api = APIClient()
    api.force_authenticate(world.rep_dk)
    body = api.get(f"/api/v1/accounts/{group['dk'].pk}/360/").json()
    assert body["group_visible"] is False
    assert body["group"] == {
        "id": group["top"].pk,
        "name": "Hansa Group AB",
        "home_company": world.se.pk,
    }
    assert set(body["figures_by_country"]) == {"DK"}


def test_the_top_itself_and_strangers_still_get_404(
    client: Client, world: World, group: dict[str, Account]
) -> None:
    client.force_login(world.rep_dk)
    assert client.get(reverse("accounts:detail", args=[group["top"].pk])).status_code == 404
    client.force_login(world.stranger)
    assert client.get(reverse("accounts:detail", args=[group["dk"].pk])).status_code == 404
    client.force_login(world.rep_de)
    assert client.get(reverse("accounts:detail", args=[group["dk"].pk])).status_code == 404
