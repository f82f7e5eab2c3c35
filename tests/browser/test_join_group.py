"""The Hansa case of issue 17 in Chromium on the demo: a Danish rep types a customer that
exists in a group worked by Germany and Sweden, which she cannot see. She is told who works it
and whom to ask - no deal detail - and asks to join; the group's global account manager
approves from the join requests page; the account is in the group."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Account, GroupJoinRequest, JoinStatus
from tests.browser.conftest import screenshot
from tests.browser.test_rep_flows import check_basic_accessibility, seed, sign_in

pytestmark = pytest.mark.browser

NAME = "Hansa Logistik Danmark ApS"
DOMAIN = "hansa-logistik.example"
# What the Danish rep must not read: the group's accounts and its deals.
HIDDEN = ["Hansa Logistik GmbH", "Hansa Logistik Sverige AB", "Hansa fleet pumps",
          "Hansa Göteborg terminal"]  # fmt: skip


def test_danish_rep_asks_to_join_the_hidden_group_and_the_gam_approves(
    page: Page, live_server: object
) -> None:
    org = seed()
    top = Account.objects.for_org(org).get(registration_key="DE300022001")
    sign_in(page, live_server.url, "rep.dk@nordvik.example")
    page.goto(f"{live_server.url}/opportunities/new/")
    page.get_by_text("New account", exact=True).click()
    page.get_by_label("Company name").fill(NAME)
    page.get_by_label("Country (ISO code)").fill("DK")
    page.get_by_label("Web domain").fill(DOMAIN)
    page.get_by_label("Web domain").press("Tab")  # "change" runs the check
    told = page.locator("#new-account-duplicates").get_by_test_id("hidden-match")
    expect(told).to_contain_text("This customer exists — worked by Nordvik Deutschland")
    expect(told).to_contain_text("contact")
    page.get_by_role("button", name="Create account").click()
    choices = page.get_by_test_id("account-choices")
    expect(choices.get_by_test_id("duplicate-warning")).to_be_visible()
    match = choices.get_by_test_id("hidden-match")
    expect(match).to_contain_text("This customer exists — worked by")
    for secret in HIDDEN:
        assert secret not in page.content()
    check_basic_accessibility(page)
    screenshot(page, "join-hidden-match")
    match.get_by_label("Why you ask to join (optional)").fill("Same fleet buyer as Hamburg")
    match.get_by_role("button", name="Ask to join this group").click()
    expect(choices.get_by_test_id("join-requested")).to_be_visible()
    expect(choices.get_by_test_id("account-created")).to_contain_text(NAME)
    request = GroupJoinRequest.objects.for_org(org).get(account__name=NAME)
    assert request.group_id == top.pk and request.status == JoinStatus.PENDING
    danish = request.account
    assert danish.name == NAME and danish.parent_id is None

    # The group's global account manager (rep.de in the demo) decides.
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, live_server.url, "rep.de@nordvik.example")
    page.goto(f"{live_server.url}/accounts/join-requests/")
    row = page.get_by_test_id(f"join-request-{request.pk}")
    expect(row).to_contain_text(NAME)
    expect(row).to_contain_text("Same fleet buyer as Hamburg")
    check_basic_accessibility(page)
    row.get_by_role("button", name="Approve").click()
    expect(page.get_by_test_id("confirm-join")).to_be_visible()
    page.get_by_test_id("confirm").click()
    expect(page.locator(".messages")).to_contain_text("is now in the group")
    danish.refresh_from_db()
    assert danish.parent_id == top.pk and danish.group_id == top.pk

    # Its 360° shows the group.
    page.goto(f"{live_server.url}/accounts/{danish.pk}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hansa Logistik GmbH")
    expect(page.get_by_test_id("group-accounts")).to_contain_text(NAME)
    screenshot(page, "join-approved-360")
