"""Marketing hand-over and the admin's set-up in Chromium, keyboard and labels included."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Account
from crm.models import SalesCompany
from leads.models import Lead, LeadStatus
from leads.services import lead_create
from pipeline.models import GlobalStage, LocalStage
from tests.browser.conftest import login, screenshot
from tests.conftest import World
from tests.factories import PASSWORD
from tests.opportunities.factories import (
    CampaignFactory,
    OpportunityFactory,
    account_for,
    process_for,
    stage_for,
)

pytestmark = pytest.mark.browser


def _english(world: World) -> None:
    # The factories give every company Swedish; these flows are checked in English.
    SalesCompany.objects.for_org(world.org).update(language="en")
    for user in world.users().values():
        user.refresh_from_db()


def test_country_manager_converts_a_marketing_lead_with_the_duplicate_check(
    page: Page, live_server: object, world: World
) -> None:
    _english(world)
    process_for(world.se)
    existing = account_for(world.se, "Scania CV AB", registration_number="556084-0976")
    campaign = CampaignFactory(organization=world.org, owner=world.marketing, name="Elmia 2026")
    lead = lead_create(
        organization=world.org, acting_user=world.marketing, company_name="Scania AB",
        registration_number="5560840976", contact_name="Sune Scania", country="SE",
        source="Elmia", campaign=campaign,
    )  # fmt: skip
    # Marketing qualifies the lead in the inbox.
    login(page, live_server.url, world.marketing.email, PASSWORD)
    page.get_by_role("link", name="Leads").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Leads")
    page.get_by_label("Campaign").select_option(label="Elmia 2026")
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("link", name="Scania AB").click()
    page.get_by_role("button", name="Qualify").click()
    expect(page.get_by_test_id("lead-status")).to_have_text("Qualified")
    screenshot(page, "lead-qualified")
    page.get_by_role("button", name="Sign out").click()
    # The Swedish country manager converts it: the duplicate check stops and asks.
    login(page, live_server.url, world.manager_se.email, PASSWORD)
    page.goto(f"{live_server.url}/leads/{lead.pk}/")
    page.get_by_role("link", name="Convert").click()
    page.get_by_label("Seller").select_option(value=str(world.rep_se.pk))
    page.get_by_label("Amount").fill("25000")
    page.get_by_role("button", name="Convert").click()
    duplicates = page.get_by_test_id("duplicates")
    expect(duplicates).to_contain_text("Scania CV AB")
    expect(duplicates).to_contain_text("same registration number")
    screenshot(page, "lead-convert-duplicates")
    assert Lead.objects.for_org(world.org).get(pk=lead.pk).status == LeadStatus.QUALIFIED
    page.get_by_label("Scania CV AB").check()
    page.get_by_role("button", name="Convert with this choice").click()
    expect(page.get_by_test_id("lead-status")).to_have_text("Converted")
    expect(page.get_by_role("status")).to_contain_text("is converted")
    lead.refresh_from_db()
    assert lead.converted_account == existing
    assert (
        Account.objects.for_org(world.org).filter(normalized_name__startswith="scania").count() == 1
    )
    screenshot(page, "lead-converted")


def test_admin_remaps_a_local_stage_after_confirming(
    page: Page, live_server: object, world: World
) -> None:
    process_for(world.se)
    stage = stage_for(world.se, "Propose")
    LocalStage.objects.for_org(world.org).filter(pk=stage.pk).update(name="Offert")
    deal = OpportunityFactory(account=account_for(world.se), owner=world.rep_se, local_stage=stage)
    login(page, live_server.url, world.admin.email, PASSWORD)
    page.get_by_role("link", name="Processes").click()
    screenshot(page, "setup-processes")
    page.get_by_role("link", name="Re-map Offert (SE)").click()
    page.get_by_label("New global stage").select_option(label="Negotiate")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_test_id("remap-confirm")).to_contain_text("1 opportunity moves with it")
    screenshot(page, "setup-remap-confirm")
    deal.refresh_from_db()
    assert deal.global_stage.name == "Propose"
    page.get_by_role("button", name="Yes, re-map").click()
    expect(page.get_by_role("status")).to_contain_text("now maps to Negotiate")
    deal.refresh_from_db()
    assert deal.global_stage == GlobalStage.objects.for_org(world.org).get(name="Negotiate")


def test_setup_forms_are_labelled_and_keyboard_reachable(
    page: Page, live_server: object, world: World
) -> None:
    login(page, live_server.url, world.admin.email, PASSWORD)
    for path in ["/setup/users/new/", "/setup/companies/new/", "/setup/rates/"]:
        page.goto(f"{live_server.url}{path}")
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        # Every visible form control has an accessible name (a label).
        unlabelled = page.evaluate(
            """() => [...document.querySelectorAll('main input, main select, main textarea')]
                .filter(el => el.type !== 'hidden' && el.offsetParent !== null)
                .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
                .map(el => el.name)"""
        )
        assert unlabelled == [], (path, unlabelled)
    # Keyboard: the skip link is the first stop and lands on main; Tab reaches the form's button.
    page.goto(f"{live_server.url}/setup/rates/")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Save rate":
            break
    expect(page.get_by_role("button", name="Save rate")).to_be_focused()
    # Submitting empty shows the errors next to the fields.
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("Please correct the marked fields.")
    screenshot(page, "setup-rates-errors")
