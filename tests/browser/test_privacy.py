"""GDPR in Chromium, in English and German: the global admin opens a contact's personal data,
downloads it as JSON, erases it with a reason, and finds the contact anonymized.

Assertions read test ids and values, not the new strings (translated after the merge)."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Activity, Contact
from crm.demo import DEMO_PASSWORD
from crm.models import User
from privacy.models import PersonalDataAction
from privacy.services import ERASED_NAME
from tests.browser.conftest import login, screenshot
from tests.browser.test_rep_flows import check_basic_accessibility, seed

pytestmark = pytest.mark.browser

ADMIN = "admin@nordvik.example"


@pytest.mark.parametrize("language", ["en", "de"])
def test_admin_exports_and_erases_a_contact(page: Page, live_server: object, language: str) -> None:
    org = seed()
    base = live_server.url  # type: ignore[attr-defined]
    User.objects.unscoped().filter(email=ADMIN).update(language=language)
    login(page, base, ADMIN, DEMO_PASSWORD)
    contact = Contact.objects.for_org(org).exclude(email="").order_by("pk").first()
    assert contact is not None
    # A note about the person on an activity with them (the demo logs none with a contact).
    Activity.objects.create(
        organization=org,
        kind="call",
        subject=f"Call with {contact.full_name}",
        notes="Prefers calls in the morning",
        owner=User.objects.unscoped().get(email="rep.se@nordvik.example"),
        sales_company=contact.account.home_company,
        account=contact.account,
        contact=contact,
    )
    old_name, old_email = contact.full_name, contact.email

    page.goto(f"{base}/accounts/contacts/{contact.pk}/")
    page.get_by_test_id("personal-data").click()
    expect(page.get_by_test_id("privacy-title")).to_contain_text(old_name)
    check_basic_accessibility(page)
    with page.expect_download() as download:
        page.get_by_test_id("privacy-json").click()
    data = json.loads(download.value.path().read_text(encoding="utf-8"))
    assert data["record"]["full_name"] == old_name
    assert data["record"]["email"] == old_email
    assert [a["notes"] for a in data["activities"]] == ["Prefers calls in the morning"]

    page.get_by_test_id("privacy-erase-link").click()
    expect(page.get_by_test_id("erase-effects")).to_contain_text(ERASED_NAME)
    check_basic_accessibility(page)
    page.get_by_test_id("erase-form").locator("textarea").fill("Art. 17 request by e-mail")
    page.get_by_test_id("erase-submit").click()
    expect(page.get_by_test_id("privacy-erased")).to_be_visible()
    expect(page.get_by_test_id("privacy-title")).to_contain_text(ERASED_NAME)
    screenshot(page, f"privacy-erased-{language}")

    contact.refresh_from_db()
    assert (contact.full_name, contact.email) == (ERASED_NAME, "")
    action = PersonalDataAction.objects.for_org(org).get(kind="erase", subject_id=contact.pk)
    assert action.reason == "Art. 17 request by e-mail"
    assert Activity.objects.for_org(org).get(contact=contact).notes == ""
    # The contact's own page no longer offers to edit the erased person.
    page.goto(f"{base}/accounts/contacts/{contact.pk}/")
    expect(page.get_by_test_id("edit-contact")).to_have_count(0)
