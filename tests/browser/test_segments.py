"""The admin adds a segment rule on the set-up page; after the nightly refresh the director
reads the segments report, the dashboard's segments block and an account's value on the 360°,
in en and de."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Account, SegmentRule
from crm.demo import DEMO_PASSWORD
from crm.models import User
from reporting.customer_value import refresh_account_values
from tests.browser.conftest import login, screenshot
from tests.browser.test_rep_flows import seed

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("language", ["en", "de"])
def test_admin_rule_then_director_reads_segments(
    page: Page, live_server: object, language: str
) -> None:
    org = seed()
    User.objects.unscoped().filter(
        email__in=["admin@nordvik.example", "director@nordvik.example"]
    ).update(language=language)
    base = live_server.url  # type: ignore[attr-defined]
    login(page, base, "admin@nordvik.example", DEMO_PASSWORD)
    page.goto(f"{base}/setup/segment-rules/")
    rules_before = SegmentRule.objects.for_org(org).count()
    page.locator("[name=order]").fill("5")
    page.locator("[name=segment]").select_option("A")
    page.locator("[name=min_potential]").fill("7500000")
    page.locator("form:not([action]) button[type=submit]").click()
    expect(page.get_by_test_id("segment-rules")).to_contain_text("7")
    assert SegmentRule.objects.for_org(org).count() == rules_before + 1
    screenshot(page, f"segment-rules-{language}")

    refresh_account_values(organization=org)  # what the nightly task does
    context = page.context
    context.clear_cookies()
    login(page, base, "director@nordvik.example", DEMO_PASSWORD)
    page.goto(f"{base}/reports/segments/")
    rows = page.get_by_test_id("segment-rows")
    expect(rows).to_contain_text("SE")
    for segment in ("A", "B", "C"):
        expect(page.get_by_test_id("segment-totals").first).to_contain_text(segment)
    screenshot(page, f"segments-{language}")

    volvera = Account.objects.for_org(org).get(registration_number="SE5560001001")
    page.goto(f"{base}/accounts/{volvera.pk}/")
    expect(page.get_by_test_id("value-account")).to_be_visible()
    expect(page.get_by_test_id("value-group")).to_be_visible()
    screenshot(page, f"account-value-{language}")

    page.goto(f"{base}/reports/")
    expect(page.get_by_test_id("dashboard-segments")).to_be_visible()
