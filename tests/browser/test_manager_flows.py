"""A country manager in Chromium against the demo data: resolve a conflict from the inbox, and
the team overview and data-quality list of the own company."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from crm.models import SalesCompany
from opportunities.models import Conflict, ConflictKind, ConflictStatus, OpportunitySplit
from opportunities.resolution import situation_deals
from tests.browser.conftest import screenshot
from tests.browser.test_rep_flows import check_basic_accessibility, seed, sign_in

pytestmark = pytest.mark.browser


def test_danish_country_manager_resolves_a_conflict_in_the_inbox(
    page: Page, live_server: object
) -> None:
    org = seed()
    dk = SalesCompany.objects.for_org(org).get(code="DK")
    conflict = (
        Conflict.objects.for_org(org)
        .filter(
            status=ConflictStatus.OPEN,
            kind=ConflictKind.GROUP_OTHER_COMPANY,
            participants__sales_company=dk,
        )
        .order_by("pk")
        .first()
    )
    assert conflict is not None, "the demo has live conflicts involving Denmark"
    deals = situation_deals(conflict)
    danish = next(d for d in deals if d.sales_company_id == dk.pk)
    other = next(d for d in deals if d.sales_company_id != dk.pk)
    sign_in(page, live_server.url, "manager.dk@nordvik.example")
    page.goto(f"{live_server.url}/opportunities/conflicts/")
    row = page.get_by_test_id(f"conflict-{conflict.pk}")
    expect(row).to_be_visible()
    check_basic_accessibility(page)
    screenshot(page, "conflicts-inbox")
    row.get_by_role("link", name="Resolve").click()
    expect(page.get_by_test_id("suggestion")).to_contain_text("The deal belongs to")
    check_basic_accessibility(page)
    page.get_by_label("Keep both with a split").check()
    page.locator("#id_opportunity").select_option(str(danish.pk))
    page.locator("#id_other_opportunity").select_option(str(other.pk))
    page.get_by_label("Share for the other seller (%)").fill("40")
    screenshot(page, "conflict-resolve")
    page.get_by_role("button", name="Resolve conflict").click()
    expect(page.get_by_role("status")).to_contain_text("Conflict resolved.")
    expect(page.get_by_test_id(f"conflict-{conflict.pk}")).to_have_count(0)
    conflict.refresh_from_db()
    assert conflict.status == ConflictStatus.RESOLVED
    assert conflict.resolved_by.email == "manager.dk@nordvik.example"
    shares = dict(
        OpportunitySplit.objects.for_org(org)
        .filter(opportunity_id=danish.pk, kind="revenue")
        .values_list("user_id", "percent")
    )
    assert shares[other.owner_id] == 40


def test_manager_team_overview_and_data_quality(page: Page, live_server: object) -> None:
    seed()
    sign_in(page, live_server.url, "manager.dk@nordvik.example")
    page.goto(f"{live_server.url}/opportunities/team/")
    expect(page.get_by_test_id("team")).to_contain_text("Rasmus Dahl")
    check_basic_accessibility(page)
    screenshot(page, "team-overview")
    page.goto(f"{live_server.url}/opportunities/data-quality/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Data quality")
    check_basic_accessibility(page)
    screenshot(page, "data-quality")
    # A rep has neither page.
    page.context.clear_cookies()
    sign_in(page, live_server.url, "rep.dk@nordvik.example")
    response = page.goto(f"{live_server.url}/opportunities/team/")
    assert response is not None and response.status == 403
