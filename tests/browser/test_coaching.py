"""A country manager logs a coaching session with a topic and an agreed action (keyboard
friendly form, in en and de); the rep finds it, acknowledges it and marks the action done; the
director's dashboard shows the coaching figures."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone, translation
from django.utils.translation import gettext
from playwright.sync_api import Page, expect

from coaching.models import CoachingAction, CoachingSession
from crm.demo import DEMO_PASSWORD
from crm.models import User
from tests.browser.conftest import login, screenshot
from tests.browser.test_rep_flows import seed

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("language", ["en", "de"])
def test_a_manager_coaches_and_the_rep_acknowledges(
    page: Page, live_server: object, language: str
) -> None:
    org = seed()
    email = "manager.se@nordvik.example"
    User.objects.unscoped().filter(email=email).update(language=language)
    rep = User.objects.unscoped().get(email="rep.se@nordvik.example")
    base = live_server.url  # type: ignore[attr-defined]
    before = CoachingSession.objects.for_org(org).count()
    login(page, base, email, DEMO_PASSWORD)

    page.goto(f"{base}/coaching/")
    expect(page.get_by_test_id("sessions")).to_be_visible()
    page.goto(f"{base}/coaching/new/")
    form = page.get_by_test_id("session-form")
    form.locator("[name=rep]").select_option(str(rep.pk))
    form.locator("[name=kind]").select_option("coaching")
    held = timezone.localdate() - dt.timedelta(days=1)
    form.locator("[name=held_on]").fill(held.isoformat())
    form.locator("[name=duration_minutes]").fill("50")
    form.get_by_label("Negotiation").check()
    form.locator("[name=notes]").fill(f"Objection handling ({language})")
    form.locator("[name='actions-0-text']").fill("Role-play the price talk")
    due = timezone.localdate() + dt.timedelta(days=7)
    form.locator("[name='actions-0-due_on']").fill(due.isoformat())
    # Keyboard: the last field, then Enter submits the form.
    form.locator("[name='actions-0-due_on']").press("Enter")
    expect(page.get_by_test_id("session-facts")).to_be_visible()
    session = CoachingSession.objects.for_org(org).order_by("-pk").first()
    assert session is not None and CoachingSession.objects.for_org(org).count() == before + 1
    assert (session.rep_id, session.duration_minutes, session.held_on) == (rep.pk, 50, held)
    screenshot(page, f"coaching-session-{language}")

    page.context.clear_cookies()
    # The rep reads the test's language too (the demo's rep.se reads Swedish).
    rep.language = language
    rep.save(update_fields=["language"])
    login(page, base, rep.email, DEMO_PASSWORD)
    page.goto(f"{base}/coaching/")
    page.locator(f"a[href='/coaching/{session.pk}/']").click()
    with translation.override(language):
        not_yet, mark_done, open_again = (
            gettext("not yet"),
            gettext("Mark done"),
            gettext("Open again"),
        )
    expect(page.get_by_test_id("acknowledged")).to_have_text(not_yet)
    page.get_by_test_id("acknowledge").click()
    expect(page.get_by_test_id("acknowledge")).to_have_count(0)
    page.get_by_test_id("actions").get_by_role("button", name=mark_done).click()
    expect(page.get_by_test_id("actions")).to_contain_text(open_again)
    screenshot(page, f"coaching-acknowledged-{language}")
    session.refresh_from_db()
    assert session.acknowledged_at is not None
    action = CoachingAction.objects.for_org(org).get(session=session)
    assert action.done_at is not None


def test_the_director_dashboard_shows_coaching(page: Page, live_server: object) -> None:
    seed()
    base = live_server.url  # type: ignore[attr-defined]
    login(page, base, "director@nordvik.example", DEMO_PASSWORD)
    page.goto(f"{base}/reports/")
    section = page.get_by_test_id("coaching")
    expect(section).to_contain_text("Sessions per rep per month")
    expect(page.get_by_test_id("coaching-managers")).to_contain_text("Sven Svensson")
    section.scroll_into_view_if_needed()
    screenshot(page, "coaching-dashboard")
    section.screenshot(path="test-artifacts/coaching-dashboard-section.png")
