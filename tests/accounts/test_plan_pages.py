"""Account plans and their actions from the 360°: create, edit, add an action with a due date,
mark it done; who may (the group's managers and GAM, the plan's owner) and who gets 403/404."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import AccountPlan, PlanAction
from tests.conftest import World
from tests.opportunities.factories import account_for

pytestmark = pytest.mark.django_db


def test_a_manager_creates_a_plan_and_adds_and_completes_an_action(
    client: Client, world: World
) -> None:
    group = account_for(world.se, "Planned AB")
    client.force_login(world.manager_se)
    # The plan section of the 360° (its htmx fragment) offers a new plan.
    detail = client.get(reverse("accounts:360_plan", args=[group.pk])).content.decode()
    assert reverse("accounts:plan_create", args=[group.pk]) in detail
    response = client.post(
        reverse("accounts:plan_create", args=[group.pk]),
        {
            "year": 2026,
            "revenue_target": "250000",
            "status": "active",
            "owner": world.manager_se.pk,
            "objectives": "Grow",
        },
    )
    plan = AccountPlan.objects.for_org(world.org).get(account=group)
    assert response.status_code == 302 and plan.revenue_target == Decimal(250000)
    page = reverse("accounts:plan", args=[plan.pk])
    response = client.post(
        page,
        {
            "action": "1",
            "action-title": "Visit the plant",
            "action-owner": world.rep_se.pk,
            "action-due_date": "2026-03-15",
        },
    )
    assert response.status_code == 302
    action = PlanAction.objects.for_org(world.org).get(plan=plan)
    assert str(action.due_date) == "2026-03-15"
    html = client.get(page).content.decode()
    assert "Visit the plant" in html
    client.force_login(world.rep_se)  # the action's owner marks it done
    edit = reverse("accounts:plan_action", args=[action.pk])
    response = client.post(
        edit,
        {
            "title": "Visit the plant",
            "owner": world.rep_se.pk,
            "due_date": "2026-03-20",
            "status": "done",
        },
    )
    assert response.status_code == 302
    action.refresh_from_db()
    assert action.status == "done" and str(action.due_date) == "2026-03-20"
    assert (
        client.post(
            page,
            {
                "plan": "1",
                "year": 2026,
                "revenue_target": "1",
                "status": "active",
                "owner": world.rep_se.pk,
            },
        ).status_code
        == 403
    )
    client.force_login(world.manager_se)
    assert (
        client.post(
            page, {"action": "1", "action-title": "", "action-owner": world.rep_se.pk}
        ).status_code
        == 400
    )


def test_others_get_403_or_404(client: Client, world: World) -> None:
    group = account_for(world.se, "Private Plan AB")
    plan = AccountPlan.objects.create(
        organization=world.org, account=group, year=2026, revenue_target=1, owner=world.manager_se
    )
    client.force_login(world.rep_se)
    assert client.get(reverse("accounts:plan_create", args=[group.pk])).status_code == 403
    for who in ("rep_dk", "stranger"):
        client.force_login(getattr(world, who))
        assert client.get(reverse("accounts:plan", args=[plan.pk])).status_code == 404
        assert client.get(reverse("accounts:plan_create", args=[group.pk])).status_code == 404


def test_the_api_edits_and_completes_an_action(world: World) -> None:
    group = account_for(world.se, "Api Plan AB")
    plan = AccountPlan.objects.create(
        organization=world.org, account=group, year=2026, revenue_target=1, owner=world.manager_se
    )
    action = PlanAction.objects.create(
        organization=world.org, plan=plan, title="Call", owner=world.rep_se
    )
    api = APIClient()
    api.force_authenticate(world.rep_se)
    url = f"/api/v1/plan-actions/{action.pk}/"
    answer = api.patch(url, {"status": "done", "due_date": "2026-04-01"}, format="json")
    assert answer.status_code == 200, answer.content
    action.refresh_from_db()
    assert action.status == "done"
    api.force_authenticate(world.rep_dk)
    assert api.patch(url, {"status": "open"}, format="json").status_code == 404
