"""The trade rules on the pages and the API: the delivery country on the form (defaulting to
the booking company's), the API field, the live preview (preview = save), the inbox's kind
filter and counts, and 404 for another organization."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from accounts.models import Account
from crm.models import ExchangeRate
from opportunities.models import Conflict, ConflictKind, ConflictStatus, Opportunity
from tests.accounts.factories import AccountFactory
from tests.conftest import World
from tests.factories import as_user
from tests.opportunities.factories import OpportunityFactory, stage_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def group(world: World) -> dict[str, Account]:
    top = AccountFactory(
        organization=world.org, home_company=world.se, name="Orbis AB", country="SE"
    )
    de = AccountFactory(
        organization=world.org, home_company=world.de, parent=top, name="Orbis GmbH", country="DE"
    )
    ExchangeRate.objects.create(
        organization=world.org, currency="SEK", rate="0.1", valid_from=dt.date(2000, 1, 1)
    )
    stage_for(world.se, "Qualify")
    stage_for(world.de, "Qualify")
    return {"top": top, "de": de}


def _form(group: dict[str, Account], world: World, **extra: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "Pumps for Hamburg",
        "account": group["top"].pk,
        "sales_company": world.se.pk,
        "currency": "SEK",
        "amount": "5000",
        "expected_close_date": "2026-09-30",
        "lines-TOTAL_FORMS": "0",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "20",
    }
    data.update(extra)
    return data


def _parallel(world: World) -> list[Conflict]:
    return list(
        Conflict.objects.for_org(world.org).filter(
            kind=ConflictKind.PARALLEL_IMPORT, status=ConflictStatus.OPEN
        )
    )


def test_the_form_defaults_the_delivery_country_to_the_booking_company(
    client: Client, world: World, group: Any
) -> None:
    client.force_login(world.rep_se)
    response = client.get(reverse("opportunities:create"))
    assert response.status_code == 200
    assert response.context["form"].initial["delivery_country"] == "SE"
    assert 'name="delivery_country"' in response.content.decode()


def test_saving_a_deal_delivered_abroad_tells_of_the_parallel_import(
    client: Client, world: World, group: Any
) -> None:
    client.force_login(world.rep_se)
    response = client.post(
        reverse("opportunities:create"), _form(group, world, delivery_country="de")
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    opp = Opportunity.objects.for_org(world.org).get(name="Pumps for Hamburg")
    assert opp.delivery_country == "DE"
    (found,) = _parallel(world)
    detail = client.get(reverse("opportunities:detail", args=[opp.pk])).content.decode()
    # rep.se reads Swedish: the sentence's end in his language.
    with translation.override("sv"):
        told = (
            gettext(
                "Booked by %(booking)s for delivery to %(country)s, where %(served)s serves this "
                "customer group: a possible parallel import."
            )
            .rsplit(":", 1)[1]
            .strip()
        )
    assert told in detail and 'data-testid="delivery-country">DE' in detail
    # The German manager (the served company) finds it in the inbox, filtered by its kind.
    client.force_login(world.manager_de)
    inbox = client.get(reverse("opportunities:conflicts"), {"kind": ConflictKind.PARALLEL_IMPORT})
    assert inbox.status_code == 200
    with translation.override(world.manager_de.effective_language):
        kind_label = str(ConflictKind.PARALLEL_IMPORT.label)
    assert kind_label in inbox.content.decode()
    counts = {k: n for k, _label, n in inbox.context["kind_counts"]}
    assert counts[ConflictKind.PARALLEL_IMPORT] == 1
    # Another organization's user: 404 for the situation, page and API alike.
    client.force_login(world.stranger)
    assert client.get(reverse("opportunities:conflict", args=[found.pk])).status_code == 404
    assert as_user(world.stranger).get(f"/api/v1/conflicts/{found.pk}/").status_code == 404


@pytest.mark.parametrize("bad", ["D1", "DEU", "de1"])
def test_a_bad_delivery_country_is_a_form_error(
    client: Client, world: World, group: Any, bad: str
) -> None:
    client.force_login(world.rep_se)
    response = client.post(
        reverse("opportunities:create"), _form(group, world, delivery_country=bad)
    )
    assert response.status_code in (200, 400)
    assert "delivery_country" in response.context["form"].errors
    assert not Opportunity.objects.for_org(world.org).exists()


@pytest.mark.parametrize(("country", "warned"), [("DE", True), ("SE", False), ("NO", False)])
def test_the_preview_warns_of_a_parallel_import_like_the_save(
    client: Client, world: World, group: Any, country: str, warned: bool
) -> None:
    client.force_login(world.rep_se)
    response = client.get(
        reverse("opportunities:preview"),
        {
            "account": group["top"].pk,
            "sales_company": world.se.pk,
            "delivery_country": country,
            "lines-TOTAL_FORMS": "0",
            "lines-INITIAL_FORMS": "0",
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    kinds = [w.conflict.kind for w in response.context["warnings"]]
    assert (ConflictKind.PARALLEL_IMPORT in kinds) is warned
    assert not Conflict.objects.for_org(world.org).exists()  # nothing written


def test_the_api_reads_and_writes_the_delivery_country(world: World, group: Any) -> None:
    api = as_user(world.rep_se)
    created = api.post(
        "/api/v1/opportunities/",
        {"account": group["top"].pk, "name": "API pumps", "delivery_country": "DE"},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["delivery_country"] == "DE"
    assert _parallel(world)
    opp_id, version = created.json()["id"], created.json()["version"]
    bad = api.patch(
        f"/api/v1/opportunities/{opp_id}/",
        {"version": version, "delivery_country": "Germany"},
        format="json",
    )
    assert bad.status_code == 400 and "delivery_country" in bad.json()
    home = api.patch(
        f"/api/v1/opportunities/{opp_id}/", {"version": version, "delivery_country": "SE"},
        format="json",
    )  # fmt: skip
    assert home.status_code == 200 and home.json()["delivery_country"] == "SE"
    assert _parallel(world) == []
    # The conflicts endpoint tells the served company's rep the text, never the deal.
    OpportunityFactory(account=group["top"], owner=world.rep_se, delivery_country="DE")
    from opportunities.conflicts import detect_for_opportunity

    for opp in Opportunity.objects.for_org(world.org):
        detect_for_opportunity(opportunity=opp)
    rows = as_user(world.rep_de).get("/api/v1/conflicts/").json()
    rows = rows.get("results", rows) if isinstance(rows, dict) else rows
    texts = [r["text"] for r in rows if r["kind"] == ConflictKind.PARALLEL_IMPORT]
    assert texts and all("parallel import" in t for t in texts)
    assert all("API pumps" not in str(r) for r in rows)
    assert as_user(world.stranger).get(f"/api/v1/opportunities/{opp_id}/").status_code == 404
