"""The campaign export with its rows and the group-wide suppression in it, in Chromium, in each
of the four languages (issue 18): marketing pauses marketing to a customer on its 360° page,
then downloads the newsletter's members and finds the held-back ones flagged with the reason.

Asserts on values (names, companies, the reason typed, the delimiter, data-testid), not on the
new strings' translations, which the lead fills in after merging."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from django.utils import formats, translation
from playwright.sync_api import Page, expect

from accounts.models import Contact
from crm.demo import DEMO_PASSWORD
from crm.models import Organization, User
from leads.models import Campaign
from tests.browser.conftest import login, screenshot
from tests.demo_snapshot import load_demo
from tests.factories import users_today

pytestmark = pytest.mark.browser

NEGOTIATING = "Nordvik Sverige AB"  # the demo's Volvera deal in Negotiate is Sweden's


@pytest.mark.parametrize("language", ["en", "de", "da", "sv"])
def test_campaign_export_shows_rows_and_the_group_wide_suppression(
    page: Page, live_server: object, language: str
) -> None:
    load_demo()
    org = Organization.objects.get(slug="nordvik")
    User.objects.unscoped().filter(email="marketing@nordvik.example").update(language=language)
    campaign = Campaign.objects.for_org(org).get(name="Nordic customer newsletter")
    aino = Contact.objects.for_org(org).select_related("account").get(full_name="Aino Virtanen")
    login(page, live_server.url, "marketing@nordvik.example", DEMO_PASSWORD)
    expect(page.locator("html")).to_have_attribute("lang", language)

    # The 360° of Aino's customer: OK to market, until marketing pauses it.
    page.goto(f"{live_server.url}/accounts/{aino.account_id}/")
    card = page.get_by_test_id("marketing-card")
    expect(card.get_by_test_id("account-ok-to-market")).to_be_visible()
    card.locator("summary").click()
    marketing = User.objects.unscoped().get(email="marketing@nordvik.example")
    until = users_today(marketing) + dt.timedelta(days=21)
    card.locator("#id_reason").fill("Complaint under review")
    card.locator("#id_until").fill(until.isoformat())
    card.get_by_test_id("marketing-pause-form").locator("button[type=submit]").click()
    expect(card.get_by_test_id("account-do-not-market")).to_be_visible()
    expect(card.get_by_test_id("account-suppression-reason")).to_contain_text(
        "Complaint under review"
    )
    with translation.override(language):
        shown_until = formats.date_format(until, "SHORT_DATE_FORMAT")
    expect(card.get_by_test_id("account-suppression-reason")).to_contain_text(shown_until)
    screenshot(page, f"account-marketing-paused-{language}")

    # The campaign page: the group in negotiation (Volvera, in Sweden, Denmark and Norway) and
    # the paused customer are held back, each with its reason.
    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/")
    reasons = page.get_by_test_id("suppression-reason")
    # Karin, Johan and Mads (contacts of the group), and Ola, a lead from a Volvera address.
    expect(reasons.filter(has_text=NEGOTIATING)).to_have_count(4)
    expect(reasons.filter(has_text="Complaint under review")).to_have_count(1)
    screenshot(page, f"campaign-members-suppressed-{language}")

    with page.expect_download() as info:
        page.locator(f'a[href="/campaigns/{campaign.pk}/members.csv"]').click()
    download = info.value
    assert download.suggested_filename.startswith("campaign-nordic-customer-newsletter-")
    assert download.suggested_filename.endswith(f"{users_today(marketing).isoformat()}.csv")
    body = Path(download.path()).read_bytes().decode("utf-8-sig")
    delimiter = "," if language == "en" else ";"  # a decimal comma in de, da and sv
    rows = list(csv.reader(io.StringIO(body), delimiter=delimiter))
    header, data = rows[0], rows[1:]
    assert len(header) == 9 and all(len(r) == 9 for r in data)
    by_name = {r[1]: r for r in data}
    # The rows are there (the streamed export once answered its header only) ...
    assert {"Karin Lindqvist", "Mads Holm", "Aino Virtanen", "Ola Nordmann"} <= set(by_name)
    # ... the held-back ones flagged with the reason, never the deal's name or amount ...
    for name in ("Karin Lindqvist", "Mads Holm", "Ola Nordmann"):
        assert NEGOTIATING in by_name[name][8]
    assert "Complaint under review" in by_name["Aino Virtanen"][8]
    flagged = {r[7] for r in data if r[8]}
    assert len(flagged) == 1 and flagged.isdisjoint({r[7] for r in data if not r[8]})
    # ... and last, so that a mailing can take the top of the file.
    held = [bool(r[8]) for r in data]
    assert held == sorted(held)
