"""Issue 15, holes 10 and 11. Size limits (``crm.limits``) answer 400 naming the field, before
anything is stored: 5,000 lines on one opportunity and 1 MB activity notes went through. And
``PUT …/splits/`` now takes the opportunity's version like every other change of it: 409 with
the current version when stale, 400 without one, and a split change bumps the version."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from accounts.models import Activity
from crm.limits import (
    MAX_COMPANIES_PER_LIST,
    MAX_LINES_PER_OPPORTUNITY,
    MAX_SPLITS_PER_OPPORTUNITY,
    MAX_TEXT_LENGTH,
    MAX_TIERS_PER_AGREEMENT,
)
from opportunities.models import Opportunity, OpportunityLine, OpportunitySplit
from opportunities.services import LineInput, opportunity_set_lines
from tests.accounts.factories import make_account
from tests.conftest import World
from tests.factories import UserFactory, as_user
from tests.opportunities.factories import OpportunityFactory, ProductFactory, process_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def opp(world: World) -> Opportunity:
    process_for(world.se)
    account = make_account(organization=world.org, home_company=world.se, name="Volvera AB")
    return OpportunityFactory(account=account, owner=world.rep_se)


def _lines(product_id: int, n: int) -> list[dict[str, object]]:
    return [{"product": product_id, "quantity": "1", "unit_price": "10"} for _ in range(n)]


def test_too_many_lines_are_400_on_put_and_create(world: World, opp: Opportunity) -> None:
    product = ProductFactory(organization=world.org)
    client = as_user(world.rep_se)
    too_many = _lines(product.pk, MAX_LINES_PER_OPPORTUNITY + 1)
    response = client.put(
        f"/api/v1/opportunities/{opp.pk}/lines/",
        {"version": opp.version, "lines": too_many},
        format="json",
    )
    assert response.status_code == 400 and "lines" in response.json(), response.json()
    assert str(MAX_LINES_PER_OPPORTUNITY) in str(response.json()["lines"])
    response = client.post(
        "/api/v1/opportunities/",
        {"account": opp.account_id, "name": "Many", "lines": too_many},
        format="json",
    )
    assert response.status_code == 400 and "lines" in response.json()
    assert not OpportunityLine.objects.for_org(world.org).exists()
    # At the limit it is fine.
    response = client.put(
        f"/api/v1/opportunities/{opp.pk}/lines/",
        {"version": opp.version, "lines": _lines(product.pk, MAX_LINES_PER_OPPORTUNITY)},
        format="json",
    )
    assert response.status_code == 200
    assert OpportunityLine.objects.for_org(world.org).count() == MAX_LINES_PER_OPPORTUNITY


def test_the_line_limit_is_the_services(world: World, opp: Opportunity) -> None:
    product = ProductFactory(organization=world.org)
    lines = [LineInput(product=product, quantity=1)] * (MAX_LINES_PER_OPPORTUNITY + 1)
    with pytest.raises(ValidationError) as err:
        opportunity_set_lines(opportunity=opp, lines=lines, acting_user=world.rep_se)
    assert "lines" in err.value.message_dict


def test_a_10001_character_note_is_400(world: World, opp: Opportunity) -> None:
    client = as_user(world.rep_se)
    body = {"account": opp.account_id, "kind": "call", "subject": "Call"}
    response = client.post(
        "/api/v1/activities/", {**body, "notes": "x" * (MAX_TEXT_LENGTH + 1)}, format="json"
    )
    assert response.status_code == 400 and "notes" in response.json(), response.json()
    assert not Activity.objects.for_org(world.org).exists()
    response = client.post(
        "/api/v1/activities/", {**body, "notes": "x" * MAX_TEXT_LENGTH}, format="json"
    )
    assert response.status_code == 201


def test_too_many_splits_are_400(world: World, opp: Opportunity) -> None:
    people = UserFactory.create_batch(
        MAX_SPLITS_PER_OPPORTUNITY + 1, organization=world.org, sales_company=world.se
    )
    splits = [{"user": u.pk, "kind": "overlay", "percent": "1"} for u in people]
    splits[0] = {"user": world.rep_se.pk, "kind": "revenue", "percent": "100"}
    response = as_user(world.rep_se).put(
        f"/api/v1/opportunities/{opp.pk}/splits/",
        {"version": opp.version, "splits": splits},
        format="json",
    )
    assert response.status_code == 400 and "splits" in response.json(), response.json()


def _split_body(world: World, **extra: object) -> dict[str, object]:
    return {
        "splits": [
            {"user": world.rep_se.pk, "kind": "revenue", "percent": "70"},
            {"user": world.manager_se.pk, "kind": "revenue", "percent": "30"},
        ],
        **extra,
    }


def test_splits_need_the_current_version(world: World, opp: Opportunity) -> None:
    client = as_user(world.rep_se)
    url = f"/api/v1/opportunities/{opp.pk}/splits/"
    missing = client.put(url, _split_body(world), format="json")
    assert missing.status_code == 400 and "version" in missing.json()
    stale = client.put(url, _split_body(world, version=opp.version + 5), format="json")
    assert stale.status_code == 409
    assert stale.json()["current_version"] == opp.version
    assert OpportunitySplit.objects.for_org(world.org).filter(opportunity=opp).count() == 1
    ok = client.put(url, _split_body(world, version=opp.version), format="json")
    assert ok.status_code == 200 and len(ok.json()) == 2
    # A split change is a change of the opportunity: its version moves on.
    assert Opportunity.objects.for_org(world.org).get(pk=opp.pk).version == opp.version + 1
    again = client.put(url, _split_body(world, version=opp.version), format="json")
    assert again.status_code == 409


def test_agreement_lists_and_legal_notes_are_bounded(world: World, opp: Opportunity) -> None:
    client = as_user(world.director)
    body = {
        "account": opp.account_id,
        "name": "Frame",
        "valid_from": "2026-01-01",
        "valid_to": "2026-12-31",
        "covered_companies": [world.se.pk],
        "incoterm": "DAP",
        "payment_terms": "30 days",
        "legal_notes": {},
        "tiers": [{"threshold": "0", "discount_percent": "0"}],
    }
    tiers = [
        {"threshold": str(i * 1000), "discount_percent": "1"}
        for i in range(MAX_TIERS_PER_AGREEMENT + 1)
    ]
    response = client.post("/api/v1/agreements/", {**body, "tiers": tiers}, format="json")
    assert response.status_code == 400 and "tiers" in response.json(), response.json()
    notes = {"en": "x" * (MAX_TEXT_LENGTH + 1)}
    response = client.post("/api/v1/agreements/", {**body, "legal_notes": notes}, format="json")
    assert response.status_code == 400 and "legal_notes" in response.json(), response.json()
    companies = [world.se.pk] * (MAX_COMPANIES_PER_LIST + 1)
    response = client.post(
        "/api/v1/agreements/", {**body, "covered_companies": companies}, format="json"
    )
    assert response.status_code == 400 and "covered_companies" in response.json()
    assert client.post("/api/v1/agreements/", body, format="json").status_code == 201
