"""Contacts and the timeline in Chromium, in each of the four languages: a Swedish rep creates
and edits a contact at her customer, gives it a buying-centre role on her deal, logs a meeting
that happened days ago on the deal's page (the ISO date input, a time) and finds it on the
deal's and the account's timeline, dated in her language's format.

Assertions read values, test ids and dates (formatted the way Django formats them for the
language), not the new strings, whose translations are added after the merge."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.utils import formats, timezone, translation
from playwright.sync_api import Page, expect

from accounts.models import Activity, Contact
from crm.demo import DEMO_PASSWORD
from crm.models import User
from opportunities.models import OpportunityContactRole
from tests.browser.conftest import login, screenshot
from tests.browser.test_rep_flows import check_basic_accessibility, opportunity, seed

pytestmark = pytest.mark.browser

REP = "rep.se@nordvik.example"
DEAL = "Volvera Göteborg line upgrade"


@pytest.mark.parametrize("language", ["en", "de", "da", "sv"])
def test_contact_role_and_an_activity_on_the_deal_and_the_account_timeline(
    page: Page, live_server: object, language: str
) -> None:
    org = seed()
    base = live_server.url  # type: ignore[attr-defined]
    User.objects.unscoped().filter(email=REP).update(language=language)
    rep = User.objects.unscoped().get(email=REP)
    login(page, base, REP, DEMO_PASSWORD)
    deal = opportunity(org, DEAL)
    account = deal.account
    name = f"Ingrid Sjöberg {language}"

    # Create a contact at the deal's account, then edit it.
    page.goto(f"{base}/accounts/contacts/new/?account={account.pk}")
    check_basic_accessibility(page)
    form = page.get_by_test_id("contact-form")
    form.locator("#id_full_name").fill(name)
    form.locator("#id_title").fill("Head of maintenance")
    form.locator("#id_email").fill(f"ingrid.{language}@volvera.example")
    form.locator("button[type=submit]").click()
    expect(page.get_by_test_id("contact-name")).to_contain_text(name)
    contact = Contact.objects.for_org(org).get(full_name=name)
    page.get_by_test_id("edit-contact").click()
    page.locator("#id_title").fill("Maintenance director")
    page.get_by_test_id("contact-form").locator("button[type=submit]").click()
    expect(page.get_by_test_id("contact-title")).to_have_text("Maintenance director")

    # On the deal: give the contact a buying-centre role.
    page.goto(f"{base}/opportunities/{deal.pk}/")
    check_basic_accessibility(page)
    roles = page.get_by_test_id("add-role")
    roles.locator("#id_role-contact").select_option(str(contact.pk))
    roles.locator("#id_role-role").select_option("decision_maker")
    roles.locator("button[type=submit]").click()
    centre = page.get_by_test_id("buying-centre")
    expect(centre.locator(f'li[data-contact="{contact.pk}"]')).to_contain_text(name)
    expect(
        centre.locator(f'li[data-contact="{contact.pk}"] [data-role="decision_maker"]')
    ).to_have_count(1)
    assert (
        OpportunityContactRole.objects.for_org(org)
        .filter(opportunity=deal, contact=contact, role="decision_maker")
        .exists()
    )

    # Log a meeting that happened five days ago, from the deal's page, in one step.
    zone = zoneinfo.ZoneInfo(rep.effective_timezone)
    happened = (timezone.now().astimezone(zone) - dt.timedelta(days=5)).replace(
        hour=9, minute=15, second=0, microsecond=0
    )
    subject = f"Line walk {language}"
    log = page.get_by_test_id("log-activity")
    log.locator('input[name="kind"][value="meeting"]').check()
    log.locator("#id_subject").fill(subject)
    log.locator("#id_happened_on").fill(happened.date().isoformat())
    log.locator("#id_happened_time").fill("09:15")
    log.locator("#id_duration_minutes").fill("45")
    log.locator("#id_contact").select_option(str(contact.pk))
    log.locator("#id_outcome").fill("Pilot in Q1")
    log.get_by_test_id("log").click()

    activity = Activity.objects.for_org(org).get(subject=subject)
    assert activity.happened_at == happened
    assert (activity.opportunity_id, activity.account_id, activity.owner_id) == (
        deal.pk,
        account.pk,
        rep.pk,
    )
    with translation.override(language), timezone.override(zone):
        shown = formats.date_format(timezone.localtime(happened), "SHORT_DATETIME_FORMAT")
    item = page.get_by_test_id("timeline").locator(f'li[data-activity="{activity.pk}"]')
    expect(item).to_contain_text(subject)
    expect(item.get_by_test_id("happened")).to_have_text(shown)
    expect(item.get_by_test_id("outcome")).to_have_text("Pilot in Q1")
    expect(item).to_contain_text(name)
    screenshot(page, f"deal-timeline-{language}")

    # The account's timeline (the 360°) and the contact's have it too.
    page.goto(f"{base}/accounts/{account.pk}/")
    # Below the fold: the contacts and the timeline load (htmx) when scrolled into view.
    page.get_by_test_id("lazy-contacts").scroll_into_view_if_needed()
    page.get_by_test_id("lazy-activities").scroll_into_view_if_needed()
    item = page.get_by_test_id("timeline").locator(f'li[data-activity="{activity.pk}"]')
    expect(item).to_contain_text(subject)
    expect(item.get_by_test_id("happened")).to_have_text(shown)
    expect(page.get_by_test_id("group-contacts")).to_contain_text(name)
    page.goto(f"{base}/accounts/contacts/{contact.pk}/")
    expect(page.get_by_test_id("timeline")).to_contain_text(subject)
    expect(page.get_by_test_id("contact-roles")).to_contain_text(DEAL)
