"""Audit history: trigger-based, so ORM saves, bulk updates and deletes are all recorded, with
the acting user and the request id, and read back through the visibility policy."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from crm.audit import history_for
from crm.models import UserEvent
from crm.roles import Role
from opportunities.models import Opportunity
from tests.accounts.factories import make_account
from tests.conftest import World
from tests.opportunities.factories import OpportunityFactory, ProductFactory

pytestmark = pytest.mark.django_db


def as_user(user: object) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_api_changes_carry_user_and_request_id(world: World) -> None:
    opp = OpportunityFactory(
        account=make_account(organization=world.org, home_company=world.se), owner=world.rep_se
    )
    client = as_user(world.rep_se)
    response = client.patch(
        f"/api/v1/opportunities/{opp.pk}/",
        {"version": 1, "next_step": "Call the buyer"},
        format="json",
        HTTP_X_REQUEST_ID="req42abc",
    )
    assert response.status_code == 200 and response["X-Request-ID"] == "req42abc"
    history = client.get(f"/api/v1/opportunities/{opp.pk}/history/").json()
    update = [h for h in history if h["label"] == "update"][-1]
    assert update["user_id"] == world.rep_se.pk
    assert update["request_id"] == "req42abc"
    assert update["changes"]["next_step"] == ["", "Call the buyer"]
    assert update["changes"]["version"] == ["1", "2"]


def test_bulk_updates_and_deletes_are_recorded_too(world: World) -> None:
    opp = OpportunityFactory(
        account=make_account(organization=world.org, home_company=world.se), owner=world.rep_se
    )
    Opportunity.objects.for_org(world.org).filter(pk=opp.pk).update(next_step="bulk")
    line_product = ProductFactory(organization=world.org)
    from tests.opportunities.factories import OpportunityLineFactory

    line = OpportunityLineFactory(opportunity=opp, product=line_product)
    line.delete()
    entries = history_for(user=world.director, obj=opp)
    kinds = [(e.kind, e.label) for e in entries]
    assert ("opportunity", "update") in kinds
    assert ("opportunity line", "insert") in kinds and ("opportunity line", "delete") in kinds
    bulk = [e for e in entries if e.kind == "opportunity" and e.label == "update"][-1]
    assert bulk.changes["next_step"][1] == "bulk"


def test_history_follows_visibility(world: World) -> None:
    opp = OpportunityFactory(
        account=make_account(organization=world.org, home_company=world.se), owner=world.rep_se
    )
    url = f"/api/v1/opportunities/{opp.pk}/history/"
    assert as_user(world.director).get(url).status_code == 200
    assert as_user(world.rep_dk).get(url).status_code == 404
    assert as_user(world.stranger).get(url).status_code == 404
    account_url = f"/api/v1/accounts/{opp.account_id}/history/"
    assert as_user(world.manager_se).get(account_url).status_code == 200
    assert as_user(world.stranger).get(account_url).status_code == 404


def test_role_changes_are_recorded_but_sign_ins_are_not(world: World) -> None:
    before = UserEvent.objects.for_org(world.org).filter(pgh_obj=world.rep_se).count()
    world.rep_se.last_login = world.rep_se.date_joined
    world.rep_se.save()
    assert UserEvent.objects.for_org(world.org).filter(pgh_obj=world.rep_se).count() == before
    world.rep_se.role = Role.COUNTRY_MANAGER
    world.rep_se.save()
    latest = UserEvent.objects.for_org(world.org).filter(pgh_obj=world.rep_se).latest("pgh_id")
    assert (latest.pgh_label, latest.role) == ("update", Role.COUNTRY_MANAGER)
