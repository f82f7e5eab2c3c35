"""Issue 18's defects that lost or hid data, in each language: the close date kept when only the
next step is edited (and the +90-day default of a new form)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from crm.demo import DEMO_PASSWORD
from crm.models import User
from opportunities.models import Opportunity
from tests.browser.conftest import login
from tests.browser.test_rep_flows import seed

pytestmark = pytest.mark.browser

LANGUAGES = ["en", "de", "da", "sv"]


def sign_in_as(page: Page, base_url: str, email: str, language: str) -> None:
    User.objects.unscoped().filter(email=email).update(language=language)
    login(page, base_url, email, DEMO_PASSWORD)
    expect(page.locator("html")).to_have_attribute("lang", language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_editing_only_the_next_step_keeps_the_close_date(
    page: Page, live_server: object, language: str
) -> None:
    org = seed()
    deal = (
        Opportunity.objects.for_org(org)
        .filter(owner__email="rep.de@nordvik.example", local_stage__global_stage__is_won=False,
                local_stage__global_stage__is_lost=False)
        .order_by("pk")
        .first()
    )  # fmt: skip
    assert deal is not None
    close = dt.date(2027, 3, 15)
    Opportunity.objects.for_org(org).filter(pk=deal.pk).update(expected_close_date=close)
    sign_in_as(page, live_server.url, "rep.de@nordvik.example", language)

    page.goto(f"{live_server.url}/opportunities/new/")
    default = timezone.localdate() + dt.timedelta(days=90)
    expect(page.locator("#id_expected_close_date")).to_have_value(default.isoformat())

    page.goto(f"{live_server.url}/opportunities/{deal.pk}/edit/")
    expect(page.locator("#id_expected_close_date")).to_have_value("2027-03-15")
    page.locator("#id_next_step").fill(f"Call the buyer ({language})")
    page.locator("#opp-form button[type=submit]").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(deal.name)
    deal.refresh_from_db()
    assert deal.next_step == f"Call the buyer ({language})"
    assert deal.expected_close_date == close
