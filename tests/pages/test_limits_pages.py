"""Issue 15, hole 10 on the pages: the same limits as the API (``crm.limits``), as form errors."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Activity
from crm.limits import MAX_LINES_PER_OPPORTUNITY, MAX_TEXT_LENGTH
from opportunities.models import OpportunityLine
from tests.conftest import World
from tests.pages.conftest import Deals

pytestmark = pytest.mark.django_db


def test_the_edit_page_refuses_201_lines(client: Client, world: World, deals: Deals) -> None:
    opp = deals.opportunity
    client.force_login(world.rep_se)
    n = MAX_LINES_PER_OPPORTUNITY + 1
    data: dict[str, object] = {
        "name": opp.name,
        "account": deals.account.pk,
        "currency": opp.currency,
        "expected_close_date": "2026-09-30",
        "next_step": "",
        "version": opp.version,
        "lines-TOTAL_FORMS": str(n),
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": str(MAX_LINES_PER_OPPORTUNITY),
    }
    for i in range(n):
        data[f"lines-{i}-product"] = deals.product.pk
        data[f"lines-{i}-quantity"] = "1"
        data[f"lines-{i}-unit_price"] = "10"
    response = client.post(reverse("opportunities:edit", args=[opp.pk]), data)
    assert response.status_code in (200, 400)
    errors = response.context["formset"].non_form_errors()
    assert errors and str(MAX_LINES_PER_OPPORTUNITY) in str(errors)
    assert str(MAX_LINES_PER_OPPORTUNITY) in response.content.decode()
    assert not OpportunityLine.objects.for_org(world.org).filter(opportunity=opp).exists()


def test_the_activity_form_refuses_a_10001_character_note(
    client: Client, world: World, deals: Deals
) -> None:
    client.force_login(world.rep_se)
    response = client.post(
        reverse("accounts:activity_create", args=[deals.account.pk]),
        {
            "kind": "call",
            "subject": "Call",
            "account": deals.account.pk,
            "notes": "x" * (MAX_TEXT_LENGTH + 1),
        },
    )
    assert response.status_code == 400
    assert "notes" in response.context["activity_form"].errors
    assert not Activity.objects.for_org(world.org).exists()
