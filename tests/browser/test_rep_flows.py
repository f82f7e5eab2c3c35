"""A sales rep's day in Chromium against the demo data: log an opportunity at an international
group (conflict warning and agreement tier before saving), drag a card on the board (and the
keyboard alternative), log an activity on the 360° page, and no way into another company's deal."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Account
from crm.demo import DEMO_PASSWORD
from crm.models import Organization, User
from opportunities.models import Opportunity, StageChange
from pipeline.models import LocalStage
from tests.browser.conftest import login, screenshot
from tests.demo_snapshot import load_demo

pytestmark = pytest.mark.browser

# --- Shared steps (test_manager_flows.py imports them) ---------------------------------------


def seed() -> Organization:
    # seed_demo once per test process, restored from its snapshot for every later test.
    load_demo()
    return Organization.objects.get(slug="nordvik")


def sign_in(page: Page, base_url: str, email: str) -> None:
    # Demo users see their company's language; these tests read the English strings, so the
    # person signing in has chosen English (the translations are tested where they are made).
    User.objects.unscoped().filter(email=email).update(language="en")
    login(page, base_url, email, DEMO_PASSWORD)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def opportunity(org: Organization, name: str) -> Opportunity:
    return Opportunity.objects.for_org(org).select_related("local_stage").get(name=name)


# Inputs that a person fills in must have a label (a <label>, or aria-label on a search box).
_UNLABELLED = """() => Array.from(document.querySelectorAll('input, select, textarea'))
  .filter(el => el.type !== 'hidden' && el.offsetParent !== null)
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby'))
  .map(el => el.name || el.id)"""


def check_basic_accessibility(page: Page) -> None:
    """One h1, every visible input labelled, no inline script or inline event handler."""
    expect(page.locator("h1")).to_have_count(1)
    assert page.evaluate(_UNLABELLED) == []
    inline = page.evaluate(
        """() => Array.from(document.querySelectorAll('script'))
             .filter(s => !s.src && s.textContent.trim()).length"""
    )
    assert inline == 0
    handlers = page.evaluate(
        """() => Array.from(document.querySelectorAll('*'))
             .filter(el => Array.from(el.attributes).some(a => a.name.startsWith('on'))).length"""
    )
    assert handlers == 0


# --- Flows -----------------------------------------------------------------------------------


def test_danish_rep_logs_an_opportunity_and_sees_conflict_and_tier_before_saving(
    page: Page, live_server: object
) -> None:
    org = seed()
    sign_in(page, live_server.url, "rep.dk@nordvik.example")
    page.goto(f"{live_server.url}/opportunities/new/")
    # Keyboard first: the name has focus, defaults are filled in (company, currency, close date).
    expect(page.locator("#id_name")).to_be_focused()
    expect(page.locator("#id_currency")).to_have_value("DKK")
    expect(page.locator("#id_expected_close_date")).not_to_have_value("")
    check_basic_accessibility(page)
    page.keyboard.type("Volvera Aarhus pumps phase 2")
    page.get_by_label("Search account", exact=True).fill("Volvera Dan")
    page.get_by_label(re.compile("Volvera Danmark A/S")).check()
    preview = page.get_by_test_id("preview")
    # Sweden (and others) work the same group: the warning and the agreement's tier show at once.
    expect(preview.get_by_test_id("preview-conflicts")).to_contain_text(
        "Several companies work the group"
    )
    expect(preview.get_by_test_id("preview-conflicts")).to_contain_text("Nordvik Sverige AB")
    expect(preview.get_by_test_id("preview-agreement")).to_contain_text(
        "Volvera Global Framework Agreement"
    )
    expect(preview.get_by_test_id("current-tier")).to_contain_text("% discount")
    assert not Opportunity.objects.for_org(org).filter(name__contains="phase 2").exists()
    page.locator("#id_amount").fill("180000")
    check_basic_accessibility(page)
    screenshot(page, "opportunity-form")
    page.get_by_role("button", name="Save opportunity").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Volvera Aarhus pumps phase 2")
    expect(page.get_by_role("region", name="Conflicts")).to_contain_text("Several companies")
    created = Opportunity.objects.for_org(org).get(name="Volvera Aarhus pumps phase 2")
    assert created.sales_company.code == "DK" and created.account.name == "Volvera Danmark A/S"


def test_rep_drags_a_card_to_the_next_stage_and_it_persists(
    page: Page, live_server: object
) -> None:
    org = seed()
    deal = opportunity(org, "Volvera Aarhus retrofit")
    stages = list(
        LocalStage.objects.for_org(org)
        .filter(process__sales_company=deal.sales_company, global_stage__is_won=False,
                global_stage__is_lost=False)
        .order_by("order")
    )  # fmt: skip
    target = stages[stages.index(deal.local_stage) + 1]
    sign_in(page, live_server.url, "rep.dk@nordvik.example")
    page.goto(f"{live_server.url}/opportunities/board/")
    expect(page.locator("#board[data-ready]")).to_have_count(1)
    check_basic_accessibility(page)
    screenshot(page, "board")
    card = page.get_by_test_id(f"card-{deal.pk}")
    column = page.locator(f'[data-column][data-stage-id="{target.pk}"]')
    card.drag_to(column.locator(".cards"))
    expect(page.get_by_test_id("board-message")).to_contain_text("moved to")
    page.reload()
    expect(column.get_by_test_id(f"card-{deal.pk}")).to_have_count(1)
    deal.refresh_from_db()
    assert deal.local_stage_id == target.pk
    assert StageChange.objects.for_org(org).filter(opportunity=deal, to_local_stage=target).exists()

    # The keyboard alternative: focus the card's "Move to" list, choose, Tab to the button, Enter.
    back = stages[stages.index(target) - 1]
    select = page.locator(f"#move-{deal.pk}")
    select.focus()
    select.select_option(str(back.pk))
    page.keyboard.press("Tab")
    expect(
        page.get_by_test_id(f"card-{deal.pk}").get_by_role("button", name="Move to…")
    ).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("board-message")).to_contain_text("moved to")
    deal.refresh_from_db()
    assert deal.local_stage_id == back.pk


def test_stale_board_is_refused_and_the_card_snaps_back(page: Page, live_server: object) -> None:
    org = seed()
    deal = opportunity(org, "Øresund cold-chain pumps")
    sign_in(page, live_server.url, "rep.dk@nordvik.example")
    page.goto(f"{live_server.url}/opportunities/board/")
    expect(page.locator("#board[data-ready]")).to_have_count(1)
    # Someone else saves the deal after the board was drawn: its version moves on.
    Opportunity.objects.for_org(org).filter(pk=deal.pk).update(version=deal.version + 1)
    first = page.locator("[data-column]").first
    page.get_by_test_id(f"card-{deal.pk}").drag_to(first.locator(".cards"))
    expect(page.get_by_test_id("board-message")).to_contain_text("changed by someone else")
    home = page.locator(f'[data-column][data-stage-id="{deal.local_stage_id}"]')
    expect(home.get_by_test_id(f"card-{deal.pk}")).to_have_count(1)
    deal.refresh_from_db()
    assert deal.local_stage_id == opportunity(org, "Øresund cold-chain pumps").local_stage_id


def test_list_360_and_an_activity_in_two_clicks(page: Page, live_server: object) -> None:
    org = seed()
    sign_in(page, live_server.url, "rep.dk@nordvik.example")
    page.goto(f"{live_server.url}/opportunities/")
    expect(page.get_by_test_id("opportunity-table")).to_contain_text("Volvera Aarhus retrofit")
    check_basic_accessibility(page)
    screenshot(page, "opportunity-list")
    group = Account.objects.for_org(org).get(name="Volvera Group AB")
    page.goto(f"{live_server.url}/accounts/{group.pk}/")
    expect(page.get_by_test_id("group-accounts")).to_contain_text("Volvera Danmark A/S")
    expect(page.get_by_test_id("team")).to_contain_text("Global account manager")
    check_basic_accessibility(page)
    screenshot(page, "account-360")
    # The timeline and its log form load (htmx) when they scroll into view.
    page.get_by_test_id("lazy-activities").scroll_into_view_if_needed()
    form = page.get_by_test_id("log-activity")
    form.get_by_label("Meeting").check()
    form.get_by_label("Subject").fill("Site visit Aarhus")
    form.get_by_role("button", name="Log").click()
    expect(page.get_by_test_id("activity-notice")).to_be_visible()
    expect(page.get_by_test_id("activities")).to_contain_text("Site visit Aarhus")


def test_rep_cannot_open_another_companys_opportunity_by_url(
    page: Page, live_server: object
) -> None:
    org = seed()
    german = opportunity(org, "Rheinland Stahl Antriebe")
    sign_in(page, live_server.url, "rep.dk@nordvik.example")
    response = page.goto(f"{live_server.url}/opportunities/{german.pk}/")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    assert "Rheinland" not in page.content()
    response = page.goto(f"{live_server.url}/opportunities/{german.pk}/edit/")
    assert response is not None and response.status == 404
    screenshot(page, "opportunity-404")


def test_tellus_user_sees_nothing_of_nordvik(page: Page, live_server: object) -> None:
    org = seed()
    deal = opportunity(org, "Volvera Aarhus retrofit")
    sign_in(page, live_server.url, "rep@tellus.example")
    response = page.goto(f"{live_server.url}/opportunities/{deal.pk}/")
    assert response is not None and response.status == 404
    page.goto(f"{live_server.url}/opportunities/")
    body = page.locator("main").inner_text()
    assert "Volvera Aarhus" not in body and "Nordvik" not in body
    page.goto(f"{live_server.url}/opportunities/board/")
    assert "Volvera Aarhus" not in page.locator("main").inner_text()
