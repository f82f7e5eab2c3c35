"""In-app notifications in Chromium against the demo data: the top bar's badge counts a new
notification, the page shows it, opening it goes where it points and the badge is gone."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from accounts.models import Account
from crm.models import NotificationKind, User
from crm.notifications import ALL, mark_read, notify
from tests.browser.conftest import screenshot
from tests.browser.test_rep_flows import check_basic_accessibility, seed, sign_in

pytestmark = pytest.mark.browser


def test_manager_sees_the_badge_opens_the_notification_and_the_badge_is_gone(
    page: Page, live_server: object
) -> None:
    org = seed()
    manager = User.objects.for_org(org).get(email="manager.dk@nordvik.example")
    account = Account.objects.for_org(org).get(name="Volvera Danmark A/S")
    # The demo's own situations notified him already; read, they leave one new one to count.
    mark_read(user=manager, ids=ALL)
    notify(
        organization_id=org.pk,
        user_ids=[manager.pk],
        kind=NotificationKind.CONFLICT_NEW,
        params={"account": account.name, "companies": "Nordvik Danmark, Nordvik Sverige AB"},
        url=reverse("accounts:detail", args=[account.pk]),
    )
    sign_in(page, live_server.url, manager.email)
    link = page.get_by_test_id("notifications-link")
    expect(link.get_by_test_id("unread-badge")).to_have_text("1")
    expect(link).to_have_attribute("aria-label", "1 unread notification")
    screenshot(page, "notifications-badge")

    link.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Notifications")
    # Newest first: the one just made, above the demo's (read) ones.
    item = page.get_by_test_id("notification").first
    expect(item).to_contain_text("New conflict at Volvera Danmark A/S")
    check_basic_accessibility(page)
    screenshot(page, "notifications-page")

    item.get_by_role("button", name="New conflict at Volvera Danmark A/S").click()
    page.wait_for_url(f"**{reverse('accounts:detail', args=[account.pk])}")
    # The account's 360° (of its group).
    expect(page.get_by_role("heading", level=1)).to_contain_text("360°")
    expect(page.get_by_test_id("unread-badge")).to_have_count(0)
    expect(page.get_by_test_id("notifications-link")).to_have_attribute(
        "aria-label", "No unread notifications"
    )

    # Read now: still listed, no longer marked, and nothing left to mark.
    page.get_by_test_id("notifications-link").click()
    expect(page.get_by_test_id("notification").first).to_contain_text("Volvera Danmark A/S")
    expect(page.locator(".notification.unread")).to_have_count(0)
    expect(page.get_by_test_id("mark-all-read")).to_have_count(0)
