from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import login, screenshot
from tests.conftest import World
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


def test_rep_signs_in_with_the_keyboard_and_sees_own_company(
    page: Page, live_server: object, world: World
) -> None:
    page.goto(f"{live_server.url}/login/")
    screenshot(page, "login")
    # Keyboard only: the e-mail field has focus, Tab reaches the password, Enter submits.
    page.keyboard.type(world.rep_dk.email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text(world.rep_dk.full_name)
    # The test world's companies speak Swedish (the factory's default): "Säljare" is "Sales rep".
    expect(page.get_by_test_id("role")).to_have_text("Säljare")
    expect(page.get_by_test_id("organization")).to_have_text("Nordvik")
    screenshot(page, "home-rep")


def test_wrong_password_is_explained(page: Page, live_server: object, world: World) -> None:
    login(page, live_server.url, world.rep_dk.email, "wrong-password")
    expect(page.get_by_role("alert")).to_contain_text("correct")


def test_tellus_user_sees_nothing_of_nordvik(page: Page, live_server: object, world: World) -> None:
    login(page, live_server.url, world.stranger.email, PASSWORD)
    expect(page.get_by_test_id("organization")).to_have_text("Tellus")
    body = page.locator("main").inner_text()
    assert "Nordvik" not in body
    assert "Tellus SE" in body
    screenshot(page, "home-tellus")


def test_phone_layout_keeps_navigation_usable(
    browser: object, live_server: object, world: World
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    login(page, live_server.url, world.director.email, PASSWORD)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    screenshot(page, "home-phone")
    context.close()
