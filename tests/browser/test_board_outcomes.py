"""The board in each language (issue 18): a deal dragged to Won, another moved to Lost through
the lost-reason dialog (cancelling first leaves the card where it was), the keyboard's "Move to"
keeping the focus on the moved card, and the director picking a company that has a process."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from crm.models import SalesCompany
from opportunities.models import Opportunity
from pipeline.models import LocalStage, SalesProcess
from tests.browser.test_dates_and_handover import LANGUAGES, sign_in_as
from tests.browser.test_rep_flows import check_basic_accessibility, opportunity, seed

pytestmark = pytest.mark.browser


def _open_deals(org: object, owner: str) -> list[Opportunity]:
    return list(
        Opportunity.objects.for_org(org)
        .filter(owner__email=owner, local_stage__global_stage__is_won=False,
                local_stage__global_stage__is_lost=False)
        .select_related("local_stage")
        .order_by("pk")
    )  # fmt: skip


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_rep_drags_a_deal_to_won_and_the_keyboard_keeps_the_focus(
    page: Page, live_server: object, language: str
) -> None:
    org = seed()
    won_deal, kept = _open_deals(org, "rep.dk@nordvik.example")[:2]
    # Every column on screen: a drag does not scroll the board's own scroll box.
    page.set_viewport_size({"width": 1900, "height": 1000})
    sign_in_as(page, live_server.url, "rep.dk@nordvik.example", language)
    page.goto(f"{live_server.url}/opportunities/board/")
    expect(page.locator("#board[data-ready]")).to_have_count(1)
    check_basic_accessibility(page)

    # Won: one drop, the deal leaves the board closed as won.
    page.get_by_test_id(f"card-{won_deal.pk}").drag_to(
        page.get_by_test_id("drop-won").locator(".cards")
    )
    expect(page.get_by_test_id(f"card-{won_deal.pk}")).to_have_count(0)
    expect(page.get_by_test_id("board-message")).to_contain_text(won_deal.name)
    won_deal.refresh_from_db()
    assert won_deal.local_stage.global_stage.is_won

    # The keyboard alternative keeps the focus on the moved card.
    stages = list(
        LocalStage.objects.for_org(org)
        .filter(process__sales_company=kept.sales_company, global_stage__is_won=False,
                global_stage__is_lost=False)
        .order_by("order")
    )  # fmt: skip
    target = next(s for s in stages if s.pk != kept.local_stage_id)
    page.locator(f"#move-{kept.pk}").select_option(str(target.pk))
    page.get_by_test_id(f"card-{kept.pk}").locator("form.move button").click()
    column = page.locator(f'[data-column][data-stage-id="{target.pk}"]')
    expect(column.get_by_test_id(f"card-{kept.pk}")).to_have_count(1)
    expect(page.get_by_test_id(f"card-{kept.pk}").locator("form.move button")).to_be_focused()
    kept.refresh_from_db()
    assert kept.local_stage_id == target.pk


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_keyboard_move_to_lost_asks_the_reason_too(
    page: Page, live_server: object, language: str
) -> None:
    org = seed()
    deal = _open_deals(org, "rep.dk@nordvik.example")[0]
    lost = (
        LocalStage.objects.for_org(org)
        .filter(process__sales_company=deal.sales_company, global_stage__is_lost=True)
        .order_by("order")
        .first()
    )
    assert lost is not None
    sign_in_as(page, live_server.url, "rep.dk@nordvik.example", language)
    page.goto(f"{live_server.url}/opportunities/board/")
    expect(page.locator("#board[data-ready]")).to_have_count(1)
    select = page.locator(f"#move-{deal.pk}")
    select.select_option(str(lost.pk))
    button = page.get_by_test_id(f"card-{deal.pk}").locator("form.move button")
    button.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("lost-dialog")).to_be_visible()
    page.get_by_test_id("lost-cancel").click()
    expect(button).to_be_focused()
    expect(select).to_have_value(str(deal.local_stage_id))
    deal.refresh_from_db()
    assert not deal.local_stage.global_stage.is_lost
    select.select_option(str(lost.pk))
    button.focus()
    page.keyboard.press("Enter")
    page.locator("#lost-reason").fill("Budget cut")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id(f"card-{deal.pk}")).to_have_count(0)
    # The card left the board: the focus is on the message that says where it went.
    expect(page.get_by_test_id("board-message")).to_be_focused()
    deal.refresh_from_db()
    assert deal.local_stage.global_stage.is_lost and deal.lost_reason == "Budget cut"


def test_the_directors_board_offers_companies_with_a_process(
    page: Page, live_server: object
) -> None:
    org = seed()
    with_process = set(
        SalesProcess.objects.for_org(org).values_list("sales_company__code", flat=True)
    )
    without = SalesCompany.objects.for_org(org).exclude(code__in=with_process)
    sign_in_as(page, live_server.url, "director@nordvik.example", "en")
    page.goto(f"{live_server.url}/opportunities/board/")
    # A board at once (the first company with a process), and only such companies to pick.
    expect(page.locator("#board [data-column]").first).to_be_visible()
    picker = page.get_by_test_id("board-company")
    options = picker.locator("option").all_inner_texts()
    assert {o.split(" · ")[0] for o in options} == with_process
    for company in without:
        assert not any(o.startswith(f"{company.code} ·") for o in options)
    dk = SalesCompany.objects.for_org(org).get(code="DK")
    picker.select_option(str(dk.pk))
    page.locator("form.filters button[type=submit]").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(dk.name)
    deal = opportunity(org, "Volvera Aarhus retrofit")
    expect(page.get_by_test_id(f"card-{deal.pk}")).to_have_count(1)
