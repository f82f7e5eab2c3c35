"""A deal dragged to Lost on the board (issue 18): the drop asks for the reason in the dialog,
and the deal is lost with that reason; in English and in German. The keyboard version is in
test_board_outcomes.py, whose fixtures this reuses."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from opportunities.models import Opportunity
from tests.browser.conftest import screenshot
from tests.browser.test_board_outcomes import _open_deals
from tests.browser.test_dates_and_handover import sign_in_as
from tests.browser.test_rep_flows import seed

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("language", ["en", "de"])
def test_a_rep_drags_a_deal_to_lost_and_gives_the_reason(
    page: Page, live_server: object, language: str
) -> None:
    org = seed()
    assert _open_deals(org, "rep.dk@nordvik.example")
    # Every column and card on screen: a drag that scrolls the page between pressing and
    # dropping would drop whatever card is under the pointer by then.
    page.set_viewport_size({"width": 1900, "height": 2400})
    sign_in_as(page, live_server.url, "rep.dk@nordvik.example", language)
    page.goto(f"{live_server.url}/opportunities/board/")
    expect(page.locator("#board[data-ready]")).to_have_count(1)

    # The top card of the first stage, held by its top edge (above its links and form).
    card = page.locator("[data-column]:not([data-outcome]) [data-card]").first
    card.drag_to(
        page.get_by_test_id("drop-lost").locator(".cards"), source_position={"x": 8, "y": 3}
    )
    dialog = page.get_by_test_id("lost-dialog")
    expect(dialog).to_be_visible()
    # The deal is the one the dialog names: drag_to scrolls the board's scroll box towards
    # Lost before the drag starts, so it may start on the neighbouring card (README).
    name = page.locator("[data-lost-deal]").inner_text()
    deal = Opportunity.objects.for_org(org).get(name=name, owner__email="rep.dk@nordvik.example")
    # Nothing is moved before the reason is given.
    deal.refresh_from_db()
    assert not deal.local_stage.global_stage.is_lost
    page.locator("#lost-reason").fill("Went with a competitor")
    screenshot(page, f"board-drag-lost-{language}")
    page.get_by_test_id("lost-confirm").click()

    expect(page.get_by_test_id(f"card-{deal.pk}")).to_have_count(0)
    expect(page.get_by_test_id("board-message")).to_contain_text(deal.name)
    deal.refresh_from_db()
    assert deal.local_stage.global_stage.is_lost
    assert deal.lost_reason == "Went with a competitor"
    assert deal.closed_at is not None
