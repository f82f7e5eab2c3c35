"""Shared steps of the sales browser tests: demo data, sign-in, basic accessibility checks."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command
from playwright.sync_api import Page, expect

from crm.demo import DEMO_PASSWORD
from crm.models import Organization, User
from opportunities.models import Opportunity
from tests.browser.conftest import login


def seed() -> Organization:
    call_command("seed_demo", stdout=StringIO())
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
