"""One duplicate-account guard: ``account_create`` refuses a look-alike for a person unless
confirmed, and the page and the API only map its error (the candidates the user may see)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts import services
from accounts.models import Account
from tests.accounts.factories import make_account
from tests.conftest import World
from tests.factories import as_user

pytestmark = pytest.mark.django_db
API = "/api/v1/accounts/"


@pytest.fixture
def existing(world: World) -> dict[str, Account]:
    return {
        "visible": make_account(
            organization=world.org, home_company=world.se, name="Acme AB", country="SE"
        ),
        # Homed in Germany, no deal in Sweden: the Swedish rep cannot see it.
        "hidden": make_account(
            organization=world.org, home_company=world.de, name="Bergmann GmbH", country="DE"
        ),
    }


def _count(world: World, name: str) -> int:
    return Account.objects.for_org(world.org).filter(name=name).count()


def test_the_service_refuses_and_names_only_what_the_user_may_see(world, existing) -> None:
    with pytest.raises(services.DuplicateAccountError) as seen:
        services.account_create(
            organization=world.org, name="ACME Aktiebolag", home_company=world.se,
            country="SE", acting_user=world.rep_se,
        )  # fmt: skip
    assert [c.account for c in seen.value.candidates] == [existing["visible"]]
    assert seen.value.hidden == 0
    with pytest.raises(services.DuplicateAccountError) as unseen:
        services.account_create(
            organization=world.org, name="Bergmann", home_company=world.se, country="DE",
            acting_user=world.rep_se,
        )  # fmt: skip
    assert unseen.value.candidates == [] and unseen.value.hidden == 1
    confirmed = services.account_create(
        organization=world.org, name="ACME Aktiebolag", home_company=world.se, country="SE",
        acting_user=world.rep_se, allow_duplicate=True,
    )  # fmt: skip
    assert confirmed.pk and _count(world, "ACME Aktiebolag") == 1


@pytest.mark.parametrize(
    ("name", "country", "named"),
    [("ACME Aktiebolag", "SE", ["Acme AB"]), ("Bergmann", "DE", [])],
    ids=["visible-look-alike", "hidden-look-alike"],
)
def test_page_and_api_refuse_the_same_duplicate_the_same_way(
    client: Client, world: World, existing, name: str, country: str, named: list[str]
) -> None:
    api = as_user(world.rep_se)
    payload = {"name": name, "home_company": world.se.pk, "country": country}
    refused = api.post(API, payload, format="json")
    assert refused.status_code == 400
    assert "looks like one that exists" in refused.json()["non_field_errors"][0]
    assert [d["account"]["name"] for d in refused.json()["duplicates"]] == named

    client.force_login(world.rep_se)
    url = reverse("accounts:inline_create")
    form = {"new_name": name, "new_country": country}
    page = client.post(url, form, HTTP_HX_REQUEST="true")
    assert page.context["duplicate_warning"] is True
    assert [a.name for a in page.context["accounts"]] == named
    assert "Bergmann GmbH" not in page.content.decode()  # never named to who cannot see it
    assert _count(world, name) == 0

    # Confirmed, both create it.
    forced = api.post(API, {**payload, "ignore_duplicates": True}, format="json")
    assert forced.status_code == 201
    page = client.post(url, {**form, "new_ignore_duplicates": "on"}, HTTP_HX_REQUEST="true")
    assert page["HX-Trigger"] == "accountChosen"
    assert _count(world, name) == 2
