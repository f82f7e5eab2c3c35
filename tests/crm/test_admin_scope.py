"""The Django admin is each organization's global admin's: every registered model is scoped to
the admin's organization or not registered at all (issue 15, hole 1: axes logs and auth groups
were shared by every tenant)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from crm.admin import OrganizationAdmin, OrgScopedAdmin
from crm.models import ExchangeRate, Organization
from tests.conftest import World
from tests.factories import RegionFactory

pytestmark = pytest.mark.django_db

# Models allowed without OrgScopedAdmin, and why. Organization is the tenant itself: its admin
# shows only the admin's own organization (asserted below).
ALLOWED = {Organization: OrganizationAdmin}


def test_every_registered_model_is_org_scoped() -> None:
    unscoped = []
    for model, model_admin in admin.site._registry.items():
        if model in ALLOWED:
            assert type(model_admin) is ALLOWED[model], model
            continue
        if not isinstance(model_admin, OrgScopedAdmin):
            unscoped.append(model._meta.label)
    assert unscoped == []


def test_shared_tables_are_not_in_the_admin() -> None:
    for model in (Group, AccessAttempt, AccessLog, AccessFailureLog):
        assert model not in admin.site._registry, model._meta.label


def _foreign_rows(world: World) -> None:
    """Something of the other organization in every registered table."""
    RegionFactory(organization=world.other_org, name="Tellus region")
    ExchangeRate.objects.for_org(world.other_org).create(
        organization=world.other_org, currency="SEK", rate=Decimal("0.1"), valid_from="2026-01-01"
    )


def test_changelists_show_only_the_admins_organization(world: World) -> None:
    _foreign_rows(world)
    client = Client()
    client.force_login(world.admin)
    checked = 0
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        response = client.get(url)
        assert response.status_code == 200, url
        rows = list(response.context["cl"].queryset)
        for row in rows:
            org_id = row.pk if model is Organization else row.organization_id
            assert org_id == world.org.pk, (url, row)
        # The other organization's rows exist; none of them is listed.
        assert "Tellus" not in response.content.decode(), url
        checked += 1
    assert checked >= 5


def test_axes_logs_are_not_reachable(world: World) -> None:
    AccessLog.objects.create(username=world.stranger.email, ip_address="10.0.0.1")
    client = Client()
    client.force_login(world.admin)
    for url in (
        "/admin/axes/accesslog/",
        "/admin/axes/accessattempt/",
        "/admin/axes/accessfailurelog/",
        "/admin/auth/group/",
        "/admin/axes/accesslog/?q=tellus",
    ):
        assert client.get(url).status_code == 404, url
    assert "axes" not in client.get("/admin/").content.decode().lower()
