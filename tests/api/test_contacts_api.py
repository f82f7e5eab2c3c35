"""The API of contacts (archive, restore, merge, archived ones apart), buying-centre roles and
activities with when they happened. Isolation and list query counts of every endpoint are
generated in test_isolation.py; these check the behaviour and the refusals."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services
from accounts.models import Activity, Contact
from opportunities.models import OpportunityContactRole
from tests.accounts.factories import make_account
from tests.conftest import World
from tests.opportunities.factories import OpportunityFactory

pytestmark = pytest.mark.django_db


def _client(user: object) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_archive_restore_and_the_archived_list(world: World) -> None:
    account = make_account(organization=world.org, home_company=world.se)
    kim = services.contact_create(account=account, full_name="Kim", acting_user=None)
    api = _client(world.rep_se)
    assert api.post(f"/api/v1/contacts/{kim.pk}/archive/").json()["archived_at"] is not None
    assert kim.pk not in {r["id"] for r in api.get("/api/v1/contacts/").json()["results"]}
    archived = api.get("/api/v1/contacts/", {"archived": "true"}).json()["results"]
    assert [r["id"] for r in archived] == [kim.pk]
    assert api.get(f"/api/v1/contacts/{kim.pk}/").status_code == 200
    assert api.post(f"/api/v1/contacts/{kim.pk}/restore/").json()["archived_at"] is None
    assert _client(world.rep_de).post(f"/api/v1/contacts/{kim.pk}/archive/").status_code == 404
    assert _client(world.stranger).post(f"/api/v1/contacts/{kim.pk}/merge/").status_code == 404
    assert _client(world.marketing).post(f"/api/v1/contacts/{kim.pk}/archive/").status_code == 403


def test_merge_through_the_api(world: World) -> None:
    account = make_account(organization=world.org, home_company=world.se)
    keep = services.contact_create(account=account, full_name="Kim Berg", acting_user=None)
    dupe = services.contact_create(
        account=account, full_name="K. Berg", phone="+46 8 1", acting_user=None
    )
    other = services.contact_create(
        account=make_account(organization=world.org, home_company=world.se),
        full_name="Elsewhere",
        acting_user=None,
    )
    api = _client(world.rep_se)
    url = f"/api/v1/contacts/{keep.pk}/merge/"
    assert api.post(url, {"remove": other.pk}, format="json").status_code == 400
    assert api.post(url, {"remove": keep.pk}, format="json").status_code == 400
    bad = api.post(url, {"remove": dupe.pk, "take_from_removed": ["account"]}, format="json")
    assert bad.status_code == 400
    done = api.post(url, {"remove": dupe.pk, "take_from_removed": ["phone"]}, format="json")
    assert done.status_code == 200
    assert (done.json()["full_name"], done.json()["phone"]) == ("Kim Berg", "+46 8 1")
    assert not Contact.objects.for_org(world.org).filter(pk=dupe.pk).exists()


def test_contact_roles_endpoint(world: World) -> None:
    account = make_account(organization=world.org, home_company=world.se)
    kim = services.contact_create(account=account, full_name="Kim", acting_user=None)
    deal = OpportunityFactory(account=account, owner=world.rep_se)
    api = _client(world.rep_se)
    made = api.post(
        "/api/v1/contact-roles/",
        {"opportunity": deal.pk, "contact": kim.pk, "role": "economic_buyer"},
        format="json",
    )
    assert made.status_code == 201, made.json()
    assert made.json()["added_by"] == world.rep_se.pk
    bad = api.post(
        "/api/v1/contact-roles/",
        {"opportunity": deal.pk, "contact": kim.pk, "role": "boss"},
        format="json",
    )
    assert bad.status_code == 400 and "role" in bad.json()
    listed = api.get("/api/v1/contact-roles/", {"opportunity": deal.pk}).json()["results"]
    assert [r["role"] for r in listed] == ["economic_buyer"]
    # Someone who may not see the deal cannot use it, nor the contact.
    foreign = _client(world.rep_de).post(
        "/api/v1/contact-roles/",
        {"opportunity": deal.pk, "contact": kim.pk, "role": "user"},
        format="json",
    )
    assert foreign.status_code == 400
    assert api.delete(f"/api/v1/contact-roles/{made.json()['id']}/").status_code == 204
    assert not OpportunityContactRole.objects.for_org(world.org).exists()


def test_activities_carry_when_they_happened(world: World) -> None:
    account = make_account(organization=world.org, home_company=world.se)
    deal = OpportunityFactory(account=account, owner=world.rep_se)
    api = _client(world.rep_se)
    last_week = (timezone.now() - dt.timedelta(days=7)).replace(microsecond=0)
    made = api.post(
        "/api/v1/activities/",
        {
            "kind": "meeting",
            "subject": "Visit",
            "account": account.pk,
            "opportunity": deal.pk,
            "happened_at": last_week.isoformat(),
            "duration_minutes": 60,
            "outcome": "Pilot agreed",
        },
        format="json",
    )
    assert made.status_code == 201, made.json()
    activity = Activity.objects.for_org(world.org).get(pk=made.json()["id"])
    assert (activity.happened_at, activity.opportunity_id, activity.duration_minutes) == (
        last_week,
        deal.pk,
        60,
    )
    later = api.post(
        "/api/v1/activities/",
        {"kind": "call", "subject": "Now", "account": account.pk},
        format="json",
    )
    assert later.status_code == 201
    rows = api.get("/api/v1/activities/", {"opportunity": deal.pk}).json()["results"]
    assert [r["subject"] for r in rows] == ["Visit"]
    newest = api.get("/api/v1/activities/", {"account": account.pk}).json()["results"]
    assert [r["subject"] for r in newest] == ["Now", "Visit"]  # newest first by happened_at
    future = api.post(
        "/api/v1/activities/",
        {
            "kind": "call",
            "subject": "Tomorrow",
            "account": account.pk,
            "happened_at": (timezone.now() + dt.timedelta(days=1)).isoformat(),
        },
        format="json",
    )
    assert future.status_code == 400 and "happened_at" in future.json()
    too_long = api.post(
        "/api/v1/activities/",
        {"kind": "call", "subject": "x", "account": account.pk, "duration_minutes": 10**6},
        format="json",
    )
    assert too_long.status_code == 400 and "duration_minutes" in too_long.json()
