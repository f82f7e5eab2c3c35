"""On a 390 px phone the pages fit: wide tables scroll inside themselves, charts shrink, and
the page itself never scrolls sideways (the 360° above all: a seller opens it at the customer)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from accounts.models import Account
from tests.browser.conftest import screenshot, watch_errors
from tests.browser.test_rep_flows import seed, sign_in

pytestmark = pytest.mark.browser

PAGES = ["/accounts/{volvera}/", "/reports/", "/opportunities/conflicts/", "/opportunities/"]


@pytest.fixture
def phone(browser: Browser, live_server: object) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors = watch_errors(page)
    yield page
    context.close()
    assert errors == [], "the browser reported errors:\n" + "\n".join(errors)


@pytest.mark.parametrize("email", ["director@nordvik.example", "rep.dk@nordvik.example"])
def test_pages_fit_a_phone(phone: Page, live_server: object, email: str) -> None:
    org = seed()
    volvera = Account.objects.for_org(org).get(registration_key="SE5560001001")
    sign_in(phone, live_server.url, email)
    for path in PAGES:
        phone.goto(live_server.url + path.format(volvera=volvera.pk))
        widths = phone.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1], (path, widths)
    screenshot(phone, f"phone-conflicts-{email.split('@')[0]}")
