"""Quoting in Chromium, in the four languages: an opportunity with three lines in two
currencies' products (one EUR product converted into SEK at the dated rate, one a typed price
with the locale's decimal comma), the running total, the agreement's discount pre-filled, lines
added and removed in place; then an edit of one field keeps lines, totals and the close date.
And the clicks and page loads a rep needs from the home page to a saved deal with a line."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone, translation
from django.utils.formats import number_format
from playwright.sync_api import Locator, Page, expect

from accounts.models import Account
from crm.demo import DEMO_PASSWORD
from crm.models import Organization, User
from opportunities.customer import agreement_for_account
from opportunities.models import Opportunity, OpportunityLine, Product
from tests.browser.conftest import login, screenshot
from tests.browser.test_rep_flows import check_basic_accessibility
from tests.demo_snapshot import load_demo
from tests.factories import users_today

pytestmark = pytest.mark.browser

LANGUAGES = ["en", "de", "da", "sv"]
REP = "rep.se@nordvik.example"


def _sign_in(page: Page, base_url: str, language: str) -> None:
    User.objects.unscoped().filter(email=REP).update(language=language)
    login(page, base_url, REP, DEMO_PASSWORD)
    expect(page.locator("html")).to_have_attribute("lang", language)


def _spaces(text: str) -> str:
    # Swedish groups digits with a no-break space (Django and the browser alike).
    return re.sub(r"\s", " ", text.replace("\u202f", " ").replace("\xa0", " ")).strip()


def _number(value: Decimal, language: str) -> str:
    with translation.override(language):
        return _spaces(number_format(value, 2, use_l10n=True, force_grouping=True))


def _typed(value: str, language: str) -> str:
    """A decimal as a person of the language types it (decimal comma in de, da, sv)."""
    return value if language == "en" else value.replace(".", ",")


def _choose_account(page: Page, name: str) -> None:
    page.locator("#account-search").fill(name[:10])
    page.get_by_label(re.compile(re.escape(name))).check()


def _row(page: Page, index: int) -> Locator:
    return page.locator("#line-rows tr.line-row").nth(index)


@pytest.mark.parametrize("language", LANGUAGES)
def test_three_lines_in_two_currencies_created_and_edited_keep_lines_totals_and_close_date(
    page: Page, live_server: object, language: str
) -> None:
    load_demo()
    org = Organization.objects.get(slug="nordvik")
    products = {p.sku: p for p in Product.objects.for_org(org)}
    sek_pump, eur_kit, eur_valve = products["PMP-SE-40"], products["SPR-KIT"], products["VLV-50"]
    account = Account.objects.for_org(org).get(name="Volvera Group AB")
    se = User.objects.for_org(org).get(email=REP).sales_company
    terms = agreement_for_account(account=account, on_date=timezone.localdate(), booking_company=se)
    assert terms is not None and terms.discount_percent > 0  # the demo's agreement applies
    _sign_in(page, live_server.url, language)

    page.goto(f"{live_server.url}/opportunities/new/")
    check_basic_accessibility(page)
    close_default = page.locator("#id_expected_close_date").input_value()
    rep = User.objects.for_org(org).get(email=REP)
    assert close_default == (users_today(rep) + dt.timedelta(days=90)).isoformat()
    page.locator("#id_name").fill("Volvera quote test")
    _choose_account(page, "Volvera Group AB")
    # The preview has told the form which agreement applies: its tier is what new lines get.
    expect(page.get_by_test_id("preview-agreement")).to_be_visible()
    # Three empty rows without a script; one removed in place, then two more added.
    expect(page.locator("#line-rows tr.line-row")).to_have_count(3)
    _row(page, 2).get_by_test_id("remove-line").click()
    expect(page.locator("#line-rows tr.line-row")).to_have_count(2)
    page.get_by_test_id("add-line").click()
    page.get_by_test_id("add-line").click()
    expect(page.locator("#line-rows tr.line-row")).to_have_count(4)
    assert page.locator("input[name='lines-TOTAL_FORMS']").input_value() == "4"
    # Row names follow their position after a removal (the formset reads 0..TOTAL-1).
    assert _row(page, 3).locator("select").get_attribute("name") == "lines-3-product"

    # Line 1: a SEK product at its list price; the agreement's discount is pre-filled.
    _row(page, 0).locator("select").select_option(str(sek_pump.pk))
    discount = _row(page, 0).locator("[name$='-discount_percent']")
    expect(discount).to_have_value(_typed(f"{terms.discount_percent:.2f}", language))
    _row(page, 0).locator("[name$='-quantity']").fill(_typed("2.5", language))
    # Line 2: an EUR product, converted into SEK at today's rate, and said so.
    _row(page, 1).locator("select").select_option(str(eur_kit.pk))
    _row(page, 1).locator("[name$='-quantity']").fill("4")
    expect(_row(page, 1).get_by_test_id("line-note")).to_contain_text("EUR")
    note = _spaces(_row(page, 1).get_by_test_id("line-note").inner_text())
    assert _number(eur_kit.list_price, language) in note
    # Line 3: an EUR product with a typed SEK price, decimal comma in de, da and sv.
    _row(page, 2).locator("select").select_option(str(eur_valve.pk))
    _row(page, 2).locator("[name$='-quantity']").fill("10")
    _row(page, 2).locator("[name$='-unit_price']").fill(_typed("6850.50", language))
    _row(page, 2).locator("[name$='-discount_percent']").fill(_typed("7.5", language))
    # The fourth row stays empty: it is not a line.
    running = page.get_by_test_id("lines-total")
    expect(running).to_contain_text("SEK")
    check_basic_accessibility(page)
    screenshot(page, f"quote-form-{language}")
    before = _spaces(running.inner_text())
    page.locator("#opp-form button[type=submit]").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Volvera quote test")

    opp = Opportunity.objects.for_org(org).get(name="Volvera quote test")
    lines = list(
        OpportunityLine.objects.for_org(org).filter(opportunity=opp).order_by("product__sku")
    )
    assert [ln.product.sku for ln in lines] == ["PMP-SE-40", "SPR-KIT", "VLV-50"]
    pump, kit, valve = lines
    assert (pump.quantity, pump.unit_price, pump.discount_percent) == (
        Decimal("2.50"),
        sek_pump.list_price,
        terms.discount_percent,
    )
    assert pump.converted_from_currency == ""
    assert (kit.converted_from_currency, kit.converted_from_price) == ("EUR", eur_kit.list_price)
    assert kit.conversion_date == users_today(rep)
    assert kit.unit_price == (eur_kit.list_price * kit.conversion_rate).quantize(Decimal("0.01"))
    assert (valve.unit_price, valve.discount_percent) == (Decimal("6850.50"), Decimal("7.50"))
    assert opp.currency == "SEK" and opp.amount == sum(ln.total for ln in lines)
    assert opp.expected_close_date.isoformat() == close_default
    # What the form showed before saving is what was saved.
    assert before == f"{_number(opp.amount, language)} SEK"
    facts = _spaces(page.get_by_test_id("facts").inner_text())
    assert _number(opp.amount, language) in facts
    expect(page.get_by_test_id("line-conversion")).to_have_count(1)
    expect(page.get_by_test_id("line-conversion")).to_contain_text("EUR")

    # Edit only the next step: lines, amount, conversions and the close date stay.
    saved = [
        (ln.product_id, ln.quantity, ln.unit_price, ln.discount_percent, ln.conversion_rate)
        for ln in lines
    ]
    page.goto(f"{live_server.url}/opportunities/{opp.pk}/edit/")
    expect(page.locator("#id_expected_close_date")).to_have_value(close_default)
    expect(page.get_by_test_id("lines-total")).to_have_text(f"{_number(opp.amount, language)} SEK")
    expect(_row(page, 1).get_by_test_id("line-note")).to_contain_text("EUR")
    check_basic_accessibility(page)
    page.locator("#id_next_step").fill("Send the quote")
    page.locator("#opp-form button[type=submit]").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Volvera quote test")
    edited = Opportunity.objects.for_org(org).get(pk=opp.pk)
    assert edited.next_step == "Send the quote"
    assert (edited.amount, edited.expected_close_date) == (opp.amount, opp.expected_close_date)
    after = [
        (ln.product_id, ln.quantity, ln.unit_price, ln.discount_percent, ln.conversion_rate)
        for ln in OpportunityLine.objects.for_org(org)
        .filter(opportunity=opp)
        .order_by("product__sku")
    ]
    assert after == saved
    expect(page.get_by_test_id("line-conversion")).to_have_count(1)


def test_a_rep_logs_an_opportunity_with_a_product_line_in_six_clicks_and_four_page_loads(
    page: Page, live_server: object
) -> None:
    """Counted from the home page as a mouse user works: every click (into the account search
    too; the name has focus already, typing is not a click) and every document loaded."""
    load_demo()
    org = Organization.objects.get(slug="nordvik")
    product = Product.objects.for_org(org).get(sku="PMP-SE-40")
    _sign_in(page, live_server.url, "en")
    loads = []
    page.on("load", lambda p: loads.append(p.url))
    clicks = 0

    def click(locator: Locator) -> None:
        nonlocal clicks
        clicks += 1
        locator.click()

    page.goto(f"{live_server.url}/")
    click(page.locator("nav.mainnav [data-nav='opportunities:list']"))
    click(page.locator("main").get_by_role("link", name="New opportunity").first)
    expect(page.locator("#id_name")).to_be_focused()  # the page is there: typing goes in
    page.keyboard.type("Norrland saw line 2")
    click(page.locator("#account-search"))
    page.keyboard.type("Norrland")
    click(page.get_by_label(re.compile("Norrland Trä AB")))
    clicks += 1  # choosing from the product list is one click on the list
    page.locator("#id_lines-0-product").select_option(str(product.pk))
    expect(page.locator("#id_lines-0-quantity")).to_have_value("1")
    click(page.get_by_role("button", name="Save opportunity"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Norrland saw line 2")
    opp = Opportunity.objects.for_org(org).get(name="Norrland saw line 2")
    assert opp.account.name == "Norrland Trä AB"
    assert opp.amount == product.list_price
    assert (clicks, len(loads)) == (6, 4), loads
