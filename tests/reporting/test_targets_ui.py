"""Targets in the UI and the API: who sets which (a rep never, nor a manager his own; a manager
in his company; the director everywhere), the page lists and edits, bad input is a 400."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from reporting.models import Target
from reporting.periods import fiscal_quarter
from reporting.services import target_set
from tests.conftest import World

pytestmark = pytest.mark.django_db


def _set(world: World, acting: object, **who: object) -> Target:
    quarter = fiscal_quarter(world.org, timezone.localdate())
    return target_set(
        organization=world.org,
        kind="revenue",
        period_kind="quarter",
        period_start=quarter.start,
        value=Decimal(100),
        acting_user=acting,
        **who,
    )


def test_who_may_set_targets(world: World) -> None:
    assert _set(world, world.director, sales_company=world.dk).value == 100
    assert _set(world, world.manager_se, user=world.rep_se).user == world.rep_se
    assert _set(world, world.manager_se, sales_company=world.se).sales_company == world.se
    for acting, who in [
        (world.rep_se, {"user": world.rep_se}),
        (world.manager_se, {"user": world.manager_se}),
        (world.manager_se, {"user": world.rep_dk}),
        (world.manager_se, {"sales_company": world.dk}),
        (world.marketing, {"sales_company": world.se}),
    ]:
        with pytest.raises(PermissionDenied):
            _set(world, acting, **who)


def test_a_period_starts_on_a_fiscal_period_start(world: World) -> None:
    with pytest.raises(ValidationError):
        target_set(
            organization=world.org,
            kind="revenue",
            period_kind="quarter",
            period_start=dt.date(2026, 2, 3),
            value=Decimal(1),
            acting_user=world.director,
            sales_company=world.se,
        )


def test_the_page_sets_lists_and_edits_a_target(client: Client, world: World) -> None:
    client.force_login(world.manager_se)
    page = client.get(reverse("reporting:targets"))
    assert page.status_code == 200
    period = fiscal_quarter(world.org, timezone.localdate())
    data = {
        "who": f"user:{world.rep_se.pk}",
        "period": f"quarter:{period.start.isoformat()}",
        "kind": "revenue",
        "value": "1500",
    }
    assert client.post(reverse("reporting:targets"), data).status_code == 302
    target = Target.objects.for_org(world.org).get(user=world.rep_se)
    assert target.value == Decimal(1500)
    edit = client.get(reverse("reporting:targets"), {"edit": target.pk})
    assert 'value="1500' in edit.content.decode()
    assert client.post(reverse("reporting:targets"), {**data, "value": "2000"}).status_code == 302
    target.refresh_from_db()
    assert target.value == Decimal(2000)
    # Someone outside his scope is no choice: a form error, not a 500.
    bad = client.post(reverse("reporting:targets"), {**data, "who": f"user:{world.rep_dk.pk}"})
    assert bad.status_code == 400
    assert client.post(reverse("reporting:targets"), {**data, "value": "-1"}).status_code == 400


def test_reps_and_strangers_get_no_targets_page(client: Client, world: World) -> None:
    client.force_login(world.rep_se)
    assert client.get(reverse("reporting:targets")).status_code == 403
    client.force_login(world.director)
    target = _set(world, world.director, sales_company=world.se)
    client.force_login(world.stranger)
    assert client.get(reverse("reporting:targets"), {"edit": target.pk}).status_code in (403, 404)


def test_the_api_sets_and_changes_a_target(world: World) -> None:
    api = APIClient()
    api.force_authenticate(world.manager_se)
    period = fiscal_quarter(world.org, timezone.localdate())
    body = {
        "user": world.rep_se.pk,
        "period_kind": "quarter",
        "period_start": period.start.isoformat(),
        "kind": "events_attended",
        "value": "3",
    }
    created = api.post("/api/v1/targets/", body, format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert api.patch(f"/api/v1/targets/{pk}/", {"value": "4"}, format="json").status_code == 200
    assert Target.objects.for_org(world.org).get(pk=pk).value == Decimal(4)
    api.force_authenticate(world.rep_se)
    assert api.post("/api/v1/targets/", body, format="json").status_code == 403
    api.force_authenticate(world.manager_se)
    both = {**body, "sales_company": world.se.pk}
    assert api.post("/api/v1/targets/", both, format="json").status_code == 400
