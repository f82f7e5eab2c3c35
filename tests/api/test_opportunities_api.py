"""The API does what a rep and a manager do in the pages, through the same services."""

from __future__ import annotations

from decimal import Decimal

import pytest

from opportunities.models import Conflict, Opportunity, StageChange
from tests.accounts.factories import make_account
from tests.conftest import World
from tests.factories import as_user
from tests.opportunities.factories import (
    OpportunityFactory,
    ProductFactory,
    process_for,
    stage_for,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def group(world: World) -> dict[str, object]:
    process_for(world.se), process_for(world.dk)
    top = make_account(organization=world.org, home_company=world.se, name="Volvera AB")
    dk = make_account(organization=world.org, home_company=world.dk, parent=top, name="Volvera A/S")
    return {"top": top, "dk": dk}


def test_rep_creates_an_opportunity_with_lines_and_sees_the_conflict(world: World, group) -> None:
    OpportunityFactory(account=group["top"], owner=world.rep_se)
    product = ProductFactory(organization=world.org, currency="DKK", list_price=Decimal("500"))
    response = as_user(world.rep_dk).post(
        "/api/v1/opportunities/",
        {
            "account": group["dk"].pk,
            "name": "Pumps for Volvera DK",
            "expected_close_date": "2026-12-15",
            "lines": [{"product": product.pk, "quantity": "4", "discount_percent": "10"}],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["amount"], body["currency"], body["version"]) == ("1800.00", "DKK", 1)
    conflicts = as_user(world.rep_dk).get("/api/v1/conflicts/").json()["results"]
    (conflict,) = conflicts
    assert conflict["kind"] == "group_other_company"
    # Need-to-know: the Danish rep learns who to call in Sweden, not the Swedish deal.
    assert conflict["other_opportunity"] is None
    assert conflict["contact_person_email"] == world.rep_se.email


def test_stale_update_answers_409_with_the_current_version(world: World, group) -> None:
    opp = OpportunityFactory(account=group["top"], owner=world.rep_se)
    client = as_user(world.rep_se)
    url = f"/api/v1/opportunities/{opp.pk}/"
    first = client.patch(url, {"version": 1, "next_step": "Send offer"}, format="json")
    assert first.status_code == 200 and first.json()["version"] == 2
    stale = client.patch(url, {"version": 1, "next_step": "Overwrite"}, format="json")
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 2
    assert Opportunity.objects.for_org(world.org).get(pk=opp.pk).next_step == "Send offer"


def test_move_stage_writes_history_and_refuses_a_stale_board(world: World, group) -> None:
    opp = OpportunityFactory(account=group["top"], owner=world.rep_se)
    develop = stage_for(world.se, "Develop")
    client = as_user(world.rep_se)
    url = f"/api/v1/opportunities/{opp.pk}/move-stage/"
    moved = client.post(url, {"local_stage": develop.pk, "version": 1}, format="json")
    assert moved.status_code == 200, moved.json()
    assert moved.json()["global_stage_name"] == "Develop"
    assert StageChange.objects.for_org(world.org).filter(opportunity=opp).count() >= 1
    again = client.post(url, {"local_stage": develop.pk, "version": 1}, format="json")
    assert again.status_code == 409
    history = client.get(f"/api/v1/opportunities/{opp.pk}/stage-history/").json()
    assert history[-1]["to_local_stage"] == develop.pk


def test_bad_input_is_400_with_field_messages(world: World, group) -> None:
    client = as_user(world.rep_se)
    response = client.post(
        "/api/v1/opportunities/",
        {"account": 10**9, "name": "", "amount": "lots", "expected_close_date": "31/12"},
        format="json",
    )
    assert response.status_code == 400
    assert {"account", "name", "amount", "expected_close_date"} <= set(response.json())
    # An account of another organization reads as missing, not as forbidden.
    foreign = make_account(organization=world.other_org, home_company=world.other_company)
    response = client.post(
        "/api/v1/opportunities/", {"account": foreign.pk, "name": "x"}, format="json"
    )
    assert response.status_code == 400 and "account" in response.json()
    opp = OpportunityFactory(account=group["top"], owner=world.rep_se)
    splits = client.put(
        f"/api/v1/opportunities/{opp.pk}/splits/",
        {"version": 1, "splits": [{"user": world.rep_se.pk, "kind": "revenue", "percent": "60"}]},
        format="json",
    )
    assert splits.status_code == 400
    assert "100" in str(splits.json())


def test_reader_may_not_change_anothers_opportunity(world: World, group) -> None:
    opp = OpportunityFactory(account=group["top"], owner=world.manager_se)
    response = as_user(world.rep_se).patch(
        f"/api/v1/opportunities/{opp.pk}/", {"version": 1, "name": "Mine now"}, format="json"
    )
    # The rep cannot even see a colleague's deal off their team: 404, nothing changed.
    assert response.status_code == 404
    assert Opportunity.objects.for_org(world.org).get(pk=opp.pk).name != "Mine now"


def test_manager_resolves_a_conflict_through_the_api(world: World, group) -> None:
    OpportunityFactory(account=group["top"], owner=world.rep_se)
    dk = OpportunityFactory(account=group["dk"], owner=world.rep_dk)
    from opportunities.conflicts import detect_for_opportunity

    (conflict,) = detect_for_opportunity(opportunity=dk, acting_user=world.rep_dk)
    url = f"/api/v1/conflicts/{conflict.pk}/resolve/"
    assert (
        as_user(world.rep_dk).post(url, {"resolution": "acknowledged"}, format="json").status_code
        == 403
    )
    assert (
        as_user(world.manager_de)
        .post(url, {"resolution": "acknowledged"}, format="json")
        .status_code
        == 404
    )
    done = as_user(world.manager_se).post(
        url, {"resolution": "keep_both_split", "split_percent": "30"}, format="json"
    )
    assert done.status_code == 200, done.json()
    assert done.json()["status"] == "resolved"
    twice = as_user(world.director).post(url, {"resolution": "acknowledged"}, format="json")
    assert twice.status_code == 400 and "already resolved" in str(twice.json())
    assert Conflict.objects.for_org(world.org).get(pk=conflict.pk).resolution == "keep_both_split"


def test_account_create_shows_duplicates_first(world: World) -> None:
    make_account(
        organization=world.org,
        home_company=world.se,
        name="Acme AB",
        registration_number="556677-8899",
    )
    client = as_user(world.rep_se)
    payload = {"name": "ACME Aktiebolag", "home_company": world.se.pk, "country": "SE"}
    response = client.post("/api/v1/accounts/", payload, format="json")
    assert response.status_code == 400
    assert response.json()["duplicates"][0]["account"]["name"] == "Acme AB"
    forced = client.post("/api/v1/accounts/", {**payload, "ignore_duplicates": True}, format="json")
    assert forced.status_code == 201


def test_group_360_through_the_api(world: World, group) -> None:
    import datetime as dt

    from tests.factories import ExchangeRateFactory

    OpportunityFactory(account=group["dk"], owner=world.rep_dk, amount=Decimal("1000"))
    url = f"/api/v1/accounts/{group['dk'].pk}/360/"
    # Without a DKK rate the view refuses to guess, and says which rate is missing (409: the
    # organization's data, not the request, is at fault).
    missing = as_user(world.director).get(url)
    assert missing.status_code == 409 and "DKK" in missing.json()["detail"]
    ExchangeRateFactory(
        organization=world.org, currency="DKK", rate="0.13400000", valid_from=dt.date(2020, 1, 1)
    )
    view = as_user(world.director).get(url)
    assert view.status_code == 200, view.json()
    body = view.json()
    assert body["figures_by_country"]["DK"]["open_amount"] == "134.00"
    assert body["group"]["id"] == group["top"].pk
    assert set(body["subsidiaries_by_country"]) == {"SE", "DK"}
    assert as_user(world.stranger).get(f"/api/v1/accounts/{group['dk'].pk}/360/").status_code == 404
    # Not a number: the same JSON 404 as an unknown account, never a 500.
    bad = as_user(world.director).get("/api/v1/accounts/abc/360/")
    assert bad.status_code == 404 and bad["Content-Type"].startswith("application/json")
