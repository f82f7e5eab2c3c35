"""Languages in the browser: the user's language wins, and search never crosses organizations."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from crm.models import SalesCompany
from tests.browser.conftest import login, screenshot
from tests.conftest import World
from tests.factories import PASSWORD
from tests.opportunities.factories import account_for, process_for

pytestmark = pytest.mark.browser


def test_a_german_rep_sees_the_german_ui(page: Page, live_server: object, world: World) -> None:
    SalesCompany.objects.for_org(world.org).filter(pk=world.de.pk).update(
        language="de", timezone="Europe/Berlin"
    )
    login(page, live_server.url, world.rep_de.email, PASSWORD)
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Willkommen")
    expect(page.get_by_role("button", name="Abmelden")).to_be_visible()
    page.get_by_test_id("profile-link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ihr Profil")
    expect(page.get_by_test_id("effective-timezone")).to_have_text("Europe/Berlin")
    expect(page.get_by_role("combobox", name="Sprache")).to_be_visible()
    screenshot(page, "profile-de")


def test_a_tellus_user_finds_nothing_of_nordvik(
    page: Page, live_server: object, world: World
) -> None:
    SalesCompany.objects.for_org(world.other_org).update(language="en")
    for company in (world.se, world.other_company):
        process_for(company)
    account_for(world.se, "Volvo Nordvik AB")
    account_for(world.other_company, "Volvo Tellus AB")
    login(page, live_server.url, world.stranger.email, PASSWORD)
    page.get_by_label("Search accounts, contacts and opportunities").fill("volvo")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("results-accounts")).to_contain_text("Volvo Tellus AB")
    body = page.locator("main").inner_text()
    assert "Nordvik" not in body
    screenshot(page, "search-tellus")
