"""The director reads overlay credit and the smarketing figures on the dashboard, follows a
campaign to its page, whose own figures load in place, and sets an overlay target; in en and de."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from crm.demo import DEMO_PASSWORD
from crm.models import User
from reporting.models import Target, TargetKind
from reporting.periods import fiscal_quarter
from tests.browser.conftest import ARTIFACTS, login, screenshot
from tests.browser.test_rep_flows import seed

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("language", ["en", "de"])
def test_director_reads_joint_goals_and_a_campaigns_figures(
    page: Page, live_server: object, language: str
) -> None:
    org = seed()
    email = "director@nordvik.example"
    User.objects.unscoped().filter(email=email).update(language=language)
    base = live_server.url  # type: ignore[attr-defined]
    login(page, base, email, DEMO_PASSWORD)

    page.goto(f"{base}/reports/")
    overlay = page.get_by_test_id("overlay-attainment")
    expect(overlay).to_be_visible()
    # The demo's overlay splits credit the Swedish company (a specialist on DK and DE deals).
    se_row = overlay.locator("tbody tr").filter(has_text="Nordvik Sverige AB")
    expect(se_row).to_have_count(1)
    expect(se_row.locator("td").nth(4)).not_to_have_text("0")
    kpis = page.get_by_test_id("smarketing-kpis")
    expect(kpis).to_contain_text("25")  # 2 of 8 leads of the quarter converted: 25.0 %
    expect(page.get_by_test_id("smarketing-events")).to_contain_text("Nordvik Sverige AB")
    screenshot(page, f"joint-goals-dashboard-{language}")
    # The two sections alone, to look at (the whole dashboard is 6,000 pixels tall).
    ARTIFACTS.mkdir(exist_ok=True)
    for testid in ("overlay", "smarketing"):
        section = page.get_by_test_id(testid)
        section.screenshot(path=str(ARTIFACTS / f"joint-goals-{testid}-{language}.png"))

    campaigns = page.get_by_test_id("smarketing-campaigns")
    campaigns.get_by_role("link", name="Elmia Subcontractor").click()
    figures = page.get_by_test_id("campaign-figures")
    expect(figures).to_be_visible()
    # Two Elmia leads, one converted: 50.0 % (50,0 % in German).
    expect(page.get_by_test_id("campaign-conversion")).to_contain_text("50")
    expect(page.get_by_test_id("campaign-pipeline")).not_to_have_text("0")
    screenshot(page, f"joint-goals-campaign-{language}")

    page.goto(f"{base}/reports/targets/")
    form = page.get_by_test_id("target-form")
    rep = User.objects.unscoped().get(email="rep.dk@nordvik.example")
    quarter = fiscal_quarter(org, timezone.localdate())
    form.locator("[name=who]").select_option(f"user:{rep.pk}")
    form.locator("[name=period]").select_option(f"quarter:{quarter.start.isoformat()}")
    form.locator("[name=kind]").select_option(TargetKind.OVERLAY)
    form.locator("[name=value]").fill("12500")
    form.locator("button[type=submit]").click()
    target = Target.objects.for_org(org).get(
        user=rep, kind=TargetKind.OVERLAY, period_kind="quarter", period_start=quarter.start
    )
    assert target.value == 12500
    row = page.locator(f"[data-target-id='{target.pk}']")
    expect(row.get_by_test_id("target-value")).to_contain_text("EUR")
