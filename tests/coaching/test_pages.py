"""The coaching pages: who sees and changes what, form errors instead of 500s, constant query
counts, the set-up page, History, the dashboard section and the export's sheet."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import translation
from django.utils.translation import gettext

from coaching.models import CoachingAction, CoachingSession, CoachingSettings, CoachingTopic
from coaching.services import ActionInput, coaching_session_create
from crm.models import User
from reporting import exports
from reporting.kpis import Scope
from tests.conftest import World
from tests.opportunities.factories import OpportunityFactory, account_for, global_stages_for

pytestmark = pytest.mark.django_db


def _as(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _session(w: World, **kw: object) -> CoachingSession:
    args: dict[str, object] = {
        "acting_user": w.manager_se, "rep": w.rep_se, "kind": "coaching",
        "held_on": dt.date(2026, 5, 4), "duration_minutes": 30,
        "actions": [ActionInput(text="Call back", due_on=dt.date(2026, 6, 1))],
    }  # fmt: skip
    args.update(kw)
    return coaching_session_create(**args)  # type: ignore[arg-type]


def _form(w: World, **kw: str) -> dict[str, str]:
    data = {
        "rep": str(w.rep_se.pk), "kind": "coaching", "held_on": "2026-05-04",
        "duration_minutes": "45", "notes": "Pipeline walk",
        "actions-TOTAL_FORMS": "3", "actions-INITIAL_FORMS": "0",
        "actions-0-text": "Add next steps", "actions-0-due_on": "2026-05-11",
    }  # fmt: skip
    data.update(kw)
    return data


def test_a_manager_logs_a_session_and_the_rep_acknowledges_it(world: World) -> None:
    w = world
    topic = CoachingTopic.objects.create(organization=w.org, name="Negotiation")
    manager = _as(w.manager_se)
    assert manager.get("/coaching/new/").status_code == 200
    response = manager.post("/coaching/new/", _form(w, topics=str(topic.pk)))
    assert response.status_code == 302
    session = CoachingSession.objects.for_org(w.org).get()
    assert response["Location"] == f"/coaching/{session.pk}/"
    assert (session.manager, session.rep, session.sales_company) == (w.manager_se, w.rep_se, w.se)
    action = CoachingAction.objects.for_org(w.org).get()
    assert (action.text, action.owner, action.due_on) == (
        "Add next steps",
        w.rep_se,
        dt.date(2026, 5, 11),
    )
    rep = _as(w.rep_se)
    page = rep.get("/coaching/").content.decode()
    assert f"/coaching/{session.pk}/" in page
    detail = rep.get(f"/coaching/{session.pk}/").content.decode()
    assert 'data-testid="acknowledge"' in detail and "Negotiation" in detail
    assert manager.post(f"/coaching/{session.pk}/acknowledge/").status_code == 403
    assert rep.post(f"/coaching/{session.pk}/acknowledge/").status_code == 302
    session.refresh_from_db()
    assert session.acknowledged_at is not None
    assert rep.post(f"/coaching/actions/{action.pk}/mark/", {"done": "1"}).status_code == 302
    action.refresh_from_db()
    assert action.done_at is not None


def test_outsiders_get_404_and_marketing_has_no_coaching(world: World) -> None:
    w = world
    session = _session(w)
    action = CoachingAction.objects.for_org(w.org).get()
    for user in (w.rep_dk, w.rep_de, w.manager_de, w.stranger):
        client = _as(user)
        assert client.get(f"/coaching/{session.pk}/").status_code == 404, user
        assert client.get(f"/coaching/{session.pk}/history/").status_code == 404, user
        assert client.post(f"/coaching/{session.pk}/acknowledge/").status_code == 404, user
        assert client.post(f"/coaching/actions/{action.pk}/mark/").status_code == 404, user
        if user.role == "sales_rep" and user.organization_id == w.org.pk:
            assert f"/coaching/{session.pk}/" not in client.get("/coaching/").content.decode()
    assert _as(w.manager_de).get(f"/coaching/{session.pk}/edit/").status_code == 404
    assert _as(w.marketing).get("/coaching/").status_code == 403
    assert _as(w.marketing).get(f"/coaching/{session.pk}/").status_code == 403
    # Reps read, never log.
    assert _as(w.rep_se).get("/coaching/new/").status_code == 403
    # The regional manager (Nordics) and the director see it; its History too.
    for user in (w.regional, w.director):
        assert _as(user).get(f"/coaching/{session.pk}/").status_code == 200
    assert _as(w.manager_se).get(f"/coaching/{session.pk}/history/").status_code == 200


def test_bad_input_is_a_form_error_not_a_500(world: World) -> None:
    w = world
    manager = _as(w.manager_se)
    no_deal = manager.post("/coaching/new/", _form(w, kind="deal_review"))
    assert no_deal.status_code == 200
    with translation.override(w.manager_se.effective_language):
        told = gettext("A deal review is about one opportunity: choose it.")
    assert told in no_deal.content.decode()
    for bad in ({"duration_minutes": "0"}, {"duration_minutes": "abc"}, {"held_on": "2099-01-01"},
                {"rep": str(w.rep_de.pk)}, {"rep": "x"}, {"actions-0-due_on": ""}):  # fmt: skip
        response = manager.post("/coaching/new/", _form(w, **bad))
        assert response.status_code == 200, bad
        assert "has-errors" in response.content.decode(), bad
    # Another company's deal is not a choice of the Swedish manager.
    deal = OpportunityFactory(account=account_for(w.de), owner=w.rep_de)
    review = manager.post("/coaching/new/", _form(w, kind="deal_review", opportunity=str(deal.pk)))
    assert review.status_code == 200
    assert CoachingSession.objects.for_org(w.org).count() == 0


def test_the_deal_page_prefills_a_review(world: World) -> None:
    w = world
    deal = OpportunityFactory(account=account_for(w.se), owner=w.rep_se)
    page = _as(w.manager_se).get(f"/opportunities/{deal.pk}/").content.decode()
    assert f"/coaching/new/?opportunity={deal.pk}" in page
    form = _as(w.manager_se).get(f"/coaching/new/?opportunity={deal.pk}").content.decode()
    assert f'<option value="{deal.pk}" selected>' in form
    assert _as(w.manager_de).get(f"/coaching/new/?opportunity={deal.pk}").status_code == 404
    options = _as(w.manager_se).get(f"/coaching/new/deals/?rep={w.rep_se.pk}").content.decode()
    assert deal.name in options


def test_the_list_filters_sorts_and_keeps_its_query_count(world: World) -> None:
    w = world
    manager = _as(w.director)

    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert manager.get(url).status_code == 200
        return len(ctx.captured_queries)

    _session(w)
    few = queries("/coaching/")
    for day in range(1, 7):
        _session(w, held_on=dt.date(2026, 4, day), acting_user=w.manager_de, rep=w.rep_de)
    assert queries("/coaching/") == few
    page = manager.get("/coaching/", {"sort": "date", "company": w.de.pk}).content.decode()
    assert page.count('href="/coaching/') - page.count('href="/coaching/new') >= 6
    assert "2026-05-04" not in page
    empty = manager.get("/coaching/", {"held_from": "2030-01-01"}).content.decode()
    assert "No sessions match." in empty
    assert manager.get("/coaching/", {"sort": "evil", "held_from": "nonsense"}).status_code == 200


def test_the_admin_sets_up_topics_and_the_review_rule(world: World) -> None:
    w = world
    stages = global_stages_for(w.org)
    admin = _as(w.admin)
    assert admin.get("/setup/coaching/").status_code == 200
    assert admin.post("/setup/coaching/", {"form": "topic", "name": "Discovery"}).status_code == 302
    assert admin.post("/setup/coaching/", {"form": "topic", "name": "discovery"}).status_code == 400
    saved = admin.post(
        "/setup/coaching/",
        {"form": "settings", "review_threshold": "75000", "proposal_stage": stages["Negotiate"].pk},
    )
    assert saved.status_code == 302
    row = CoachingSettings.objects.for_org(w.org).get()
    assert (row.review_threshold, row.proposal_stage) == (75000, stages["Negotiate"])
    bad = admin.post("/setup/coaching/", {"form": "settings", "review_threshold": "-1"})
    assert bad.status_code == 400
    assert _as(w.manager_se).get("/setup/coaching/").status_code == 403
    assert [t.name for t in CoachingTopic.objects.for_org(w.org)] == ["Discovery"]


def test_the_dashboard_and_the_export_carry_the_coaching_figures(world: World) -> None:
    w = world
    global_stages_for(w.org)
    _session(w)
    page = _as(w.director).get("/reports/").content.decode()
    assert 'data-testid="coaching"' in page and "Sessions per rep per month" in page
    sections = list(
        exports.report_sections(user=w.director, scope=Scope(), as_of=dt.date(2026, 5, 15))
    )
    coaching = next(s for s in sections if s.title == "Coaching")
    rows = list(coaching.rows)
    total = rows[-1]
    assert total[0] == "All companies" and total[3] == 1  # one session in Q2 2026
