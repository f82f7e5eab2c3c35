"""Issue 18's defects that lost or hid data, in each language: the close date kept when only the
next step is edited (and the +90-day default of a new form); the lead hand-over from marketing
to a rep to a converted deal."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import translation
from playwright.sync_api import Page, expect

from crm.demo import DEMO_PASSWORD
from crm.models import User
from leads.models import LeadStatus
from leads.services import lead_create
from opportunities.models import Opportunity
from tests.browser.conftest import login
from tests.browser.test_rep_flows import seed
from tests.factories import users_today

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
    rep = User.objects.for_org(org).get(email="rep.de@nordvik.example")
    default = users_today(rep) + dt.timedelta(days=90)
    expect(page.locator("#id_expected_close_date")).to_have_value(default.isoformat())

    page.goto(f"{live_server.url}/opportunities/{deal.pk}/edit/")
    expect(page.locator("#id_expected_close_date")).to_have_value("2027-03-15")
    page.locator("#id_next_step").fill(f"Call the buyer ({language})")
    page.locator("#opp-form button[type=submit]").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(deal.name)
    deal.refresh_from_db()
    assert deal.next_step == f"Call the buyer ({language})"
    assert deal.expected_close_date == close


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_lead_hand_over_from_marketing_to_a_rep_to_a_converted_deal(
    page: Page, live_server: object, language: str
) -> None:
    org = seed()
    base = live_server.url
    name = f"Kiruna Gruvteknik {language.upper()} AB"
    lead = lead_create(
        organization=org, acting_user=None, company_name=name, contact_name="Karin Berg",
        email=f"karin@kiruna-{language}.example", country="SE", source="Elmia",
    )  # fmt: skip
    rep = User.objects.for_org(org).get(email="rep.se@nordvik.example")

    # Marketing qualifies the lead and assigns it to rep.se.
    sign_in_as(page, base, "marketing@nordvik.example", language)
    page.goto(f"{base}/leads/{lead.pk}/")
    page.locator('form[action$="/qualify/"] button').click()
    expect(page.get_by_test_id("lead-status")).to_have_text(
        str(_status_label("qualified", language))
    )
    page.locator(f'a[href="/leads/{lead.pk}/assign/"]').click()
    page.locator("#id_owner").select_option(str(rep.pk))
    page.locator("form.card button[type=submit]").click()
    expect(page).to_have_url(f"{base}/leads/{lead.pk}/")
    lead.refresh_from_db()
    assert (lead.status, lead.owner_id) == (LeadStatus.QUALIFIED, rep.pk)
    page.locator('form[action="/logout/"] button').click()

    # rep.se finds it in My tasks, opens it and converts it into his deal.
    sign_in_as(page, base, "rep.se@nordvik.example", language)
    page.locator('nav [data-nav="accounts:tasks"]').first.click()
    page.get_by_test_id("my-leads").get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    page.get_by_test_id("lead-convert").click()
    page.locator("#id_expected_close_date").fill("2027-03-15")
    page.locator("form.card button[type=submit]").click()
    expect(page).to_have_url(f"{base}/leads/{lead.pk}/")
    lead.refresh_from_db()
    assert lead.status == LeadStatus.CONVERTED
    deal = Opportunity.objects.for_org(org).get(pk=lead.converted_opportunity_id)
    assert deal.owner_id == rep.pk and deal.expected_close_date == dt.date(2027, 3, 15)
    page.locator(f'a[href="/opportunities/{deal.pk}/"]').click()
    expect(page.get_by_role("heading", level=1)).to_have_text(deal.name)
    # Converted: no longer among his open hand-overs.
    page.goto(f"{base}/accounts/tasks/")
    expect(page.get_by_test_id("my-leads").get_by_role("link", name=name)).to_have_count(0)


def _status_label(status: str, language: str) -> str:
    with translation.override(language):
        return str(LeadStatus(status).label)
