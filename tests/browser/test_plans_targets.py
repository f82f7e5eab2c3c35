"""A country manager sets a target for a rep on the targets page and adds an account-plan action
with a due date typed in the date input, in en, de, da and sv; both are listed afterwards."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import AccountPlan, PlanAction
from crm.demo import DEMO_PASSWORD
from crm.models import User
from reporting.models import Target
from reporting.periods import fiscal_quarter
from tests.browser.conftest import login, screenshot
from tests.browser.test_rep_flows import seed

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("language", ["en", "de", "da", "sv"])
def test_manager_sets_a_target_and_adds_a_plan_action(
    page: Page, live_server: object, language: str
) -> None:
    org = seed()
    email = "manager.se@nordvik.example"
    User.objects.unscoped().filter(email=email).update(language=language)
    manager = User.objects.unscoped().get(email=email)
    rep = User.objects.unscoped().get(email="rep.se@nordvik.example")
    base = live_server.url  # type: ignore[attr-defined]
    login(page, base, email, DEMO_PASSWORD)

    page.goto(f"{base}/reports/targets/")
    form = page.get_by_test_id("target-form")
    quarter = fiscal_quarter(org, timezone.localdate())
    form.locator("[name=who]").select_option(f"user:{rep.pk}")
    form.locator("[name=period]").select_option(f"quarter:{quarter.start.isoformat()}")
    form.locator("[name=kind]").select_option("events_attended")
    form.locator("[name=value]").fill("7")
    form.locator("button[type=submit]").click()
    target = Target.objects.for_org(org).get(
        user=rep, kind="events_attended", period_kind="quarter", period_start=quarter.start
    )
    assert target.value == 7
    row = page.locator(f"[data-target-id='{target.pk}']")
    expect(row.get_by_test_id("target-value")).to_have_text("7")

    plan = (
        AccountPlan.objects.for_org(org)
        .filter(account__home_company=manager.sales_company)
        .order_by("-year", "pk")
        .first()
    )
    assert plan is not None, "the demo has a plan of a Swedish group"
    page.goto(f"{base}/accounts/plans/{plan.pk}/")
    add = page.get_by_test_id("action-add-form")
    add.locator("[name=action-title]").fill(f"Workshop {language}")
    add.locator("[name=action-owner]").select_option(str(rep.pk))
    add.locator("[name=action-due_date]").fill("2027-03-15")
    add.locator("button[type=submit]").click()
    action = PlanAction.objects.for_org(org).get(plan=plan, title=f"Workshop {language}")
    assert action.due_date == dt.date(2027, 3, 15)
    listed = page.get_by_test_id("plan-action").filter(has_text=f"Workshop {language}")
    expect(listed).to_have_count(1)
    expect(listed.get_by_test_id("action-due")).to_contain_text("15")
    expect(listed.get_by_test_id("action-due")).to_contain_text("2027")
    screenshot(page, f"plan-action-{language}")
