"""Deviation alerts as the director reads them on the demo, in English and Danish: the bell
counts them, the menu leads to the list (last week's three alerts), a filter narrows it, an
alert's link explains it, and acknowledging asks first. Located by test ids and links, not by
text: the Danish catalogue is filled by the translator after the merge."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from crm.models import Notification, SalesCompany
from reporting.models import AlertStatus, DeviationAlert
from tests.browser.conftest import screenshot
from tests.browser.test_dates_and_handover import sign_in_as
from tests.browser.test_rep_flows import seed

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("language", ["en", "da"])
def test_the_director_reads_and_acknowledges_an_alert(
    page: Page, live_server: object, language: str
) -> None:
    org = seed()
    base = live_server.url  # type: ignore[attr-defined]
    alerts = DeviationAlert.objects.for_org(org)
    assert alerts.count() == 3
    dk = SalesCompany.objects.for_org(org).get(code="DK")
    dk_alert = alerts.get(sales_company=dk)
    sign_in_as(page, base, "director@nordvik.example", language)
    unread = Notification.objects.for_org(org).filter(
        recipient__email="director@nordvik.example", read_at__isnull=True
    )
    assert unread.filter(kind__startswith="deviation_").count() == 3

    page.locator('nav a[href="/reports/alerts/"]').first.click()
    rows = page.locator("tr.alert-row")
    expect(rows).to_have_count(3)
    screenshot(page, f"deviation-alerts-{language}")

    page.locator("#id_measure").select_option("data_quality")
    page.locator('[data-testid="alert-filters"] button[type=submit]').click()
    expect(rows).to_have_count(1)
    row = page.get_by_test_id(f"alert-{dk_alert.pk}")
    expect(row.get_by_test_id("alert-value")).to_have_text(
        "38,0\u00a0%" if language == "da" else "38.0\u00a0%"
    )

    row.get_by_test_id("acknowledge").click()
    expect(page.get_by_test_id("confirm-form")).to_be_visible()
    page.get_by_test_id("confirm-acknowledge").click()
    expect(page).to_have_url(re.compile(r"/reports/alerts/\?.*measure=data_quality"))
    dk_alert.refresh_from_db()
    assert dk_alert.status == AlertStatus.ACKNOWLEDGED
    expect(row.get_by_test_id("acknowledge")).to_have_count(0)

    row.get_by_test_id("explain").click()
    expect(page).to_have_url(f"{base}/opportunities/data-quality/?company={dk.pk}")
