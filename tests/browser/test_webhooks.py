"""The global admin sets up a webhook in the browser: create (the secret shown once), a test
ping to a real receiver on loopback, the delivery log, delete with confirmation; in en and de."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from crm.models import User
from tests.browser.conftest import login, screenshot
from tests.conftest import World
from tests.factories import PASSWORD
from tests.webhooks.receiver import Receiver, verify
from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_admin_creates_pings_and_deletes_a_webhook(
    page: Page, live_server: object, world: World, language: str
) -> None:
    User.objects.for_org(world.org).filter(pk=world.admin.pk).update(language=language)
    receiver = Receiver().start()
    try:
        login(page, live_server.url, world.admin.email, PASSWORD)
        expect(page.locator("html")).to_have_attribute("lang", language)
        page.goto(f"{live_server.url}/setup/")
        page.locator("a[href='/setup/webhooks/']").click()
        page.locator("a[href='/setup/webhooks/new/']").click()
        page.locator("#id_name").fill("ERP")
        page.locator("#id_url").fill(receiver.url)
        page.locator("input[name=event_types][value='opportunity.won']").check()
        page.locator("#id_scope").select_option("company")
        page.locator("#id_sales_company").select_option(str(world.se.pk))
        page.locator("main form[method=post] button[type=submit]").click()
        endpoint = WebhookEndpoint.objects.for_org(world.org).get()
        expect(page.locator("#webhook-secret")).to_have_text(endpoint.secret)
        screenshot(page, f"webhook-secret-{language}")
        page.locator(f"a[href='/setup/webhooks/{endpoint.pk}/']").click()
        # The edit page never shows the secret again.
        expect(page.locator("main")).not_to_contain_text(endpoint.secret)
        page.locator(f"form[action='/setup/webhooks/{endpoint.pk}/ping/'] button").click()
        expect(page.locator("table tbody tr")).to_have_count(1)
        expect(page.locator("table tbody")).to_contain_text("200")
        screenshot(page, f"webhook-deliveries-{language}")
        assert len(receiver.received) == 1 and verify(endpoint.secret, receiver.received[0])
        page.goto(f"{live_server.url}/setup/webhooks/{endpoint.pk}/delete/")
        page.locator("main form button.danger").click()
        expect(page).to_have_url(f"{live_server.url}/setup/webhooks/")
        assert not WebhookEndpoint.objects.for_org(world.org).exists()
    finally:
        receiver.stop()
