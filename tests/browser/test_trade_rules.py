"""The trade rules in Chromium on the demo: a seller changes where a deal is delivered, the live
preview warns of a possible parallel import before saving (preview = save), the saved deal shows
the delivery country and the finding; in English and in German."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from crm.demo import DEMO_PASSWORD
from crm.models import User
from opportunities.models import Conflict, ConflictKind, ConflictStatus
from tests.browser.conftest import login, screenshot
from tests.browser.test_rep_flows import opportunity, seed, sign_in

pytestmark = pytest.mark.browser


def _deliver(page: Page, base_url: str, opp_id: int, country: str) -> None:
    page.goto(f"{base_url}/opportunities/{opp_id}/edit/")
    field = page.locator("#id_delivery_country")
    field.fill(country)
    field.dispatch_event("change")
    expect(page.get_by_test_id("preview-conflicts")).to_contain_text("parallel import")


def test_a_swedish_rep_ships_abroad_and_is_told_of_a_parallel_import(
    page: Page, live_server: object
) -> None:
    org = seed()
    deal = opportunity(org, "Volvera Göteborg line upgrade")
    sign_in(page, live_server.url, "rep.se@nordvik.example")
    page.goto(f"{live_server.url}/opportunities/{deal.pk}/edit/")
    expect(page.locator("#id_delivery_country")).to_have_value("SE")
    _deliver(page, live_server.url, deal.pk, "DE")
    screenshot(page, "trade-preview-en")
    page.get_by_role("button", name="Save opportunity").click()
    expect(page.get_by_test_id("delivery-country")).to_have_text("DE")
    expect(page.locator("main")).to_contain_text("a possible parallel import")
    screenshot(page, "trade-detail-en")
    assert (
        Conflict.objects.for_org(org)
        .filter(kind=ConflictKind.PARALLEL_IMPORT, opportunity=deal, status=ConflictStatus.OPEN)
        .exists()
    )


def test_a_german_rep_ships_to_sweden_in_the_german_ui(page: Page, live_server: object) -> None:
    org = seed()
    deal = opportunity(org, "Volvera Stuttgart drives")
    User.objects.unscoped().filter(email="rep.de@nordvik.example").update(language="de")
    login(page, live_server.url, "rep.de@nordvik.example", DEMO_PASSWORD)
    expect(page.locator("html")).to_have_attribute("lang", "de")
    page.goto(f"{live_server.url}/opportunities/{deal.pk}/edit/")
    field = page.locator("#id_delivery_country")
    expect(field).to_have_value("DE")
    field.fill("SE")
    field.dispatch_event("change")
    expect(page.get_by_test_id("preview-conflicts")).to_be_visible()
    screenshot(page, "trade-preview-de")
    page.locator("#opp-form button[type=submit]").click()
    expect(page.get_by_test_id("delivery-country")).to_have_text("SE")
    screenshot(page, "trade-detail-de")
    assert (
        Conflict.objects.for_org(org)
        .filter(kind=ConflictKind.PARALLEL_IMPORT, opportunity=deal, status=ConflictStatus.OPEN)
        .exists()
    )
