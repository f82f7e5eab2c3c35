"""Known answers for the coaching and customer-time KPIs (reporting.coaching).

Report date 2026-05-15 (Q2 2026: three months); review threshold 20,000 EUR; proposal stage
"Propose". Reps: SE rep_se and rep_se2, DK rep_dk, DE rep_de (four). Rates: SEK 0.08 from
04-01, DKK 0.13 from 01-01 and 0.135 from 05-01.

sessions  manager     rep      kind     held
s1        manager_se  rep_se   coaching 04-10
s2        manager_se  rep_se   review A 04-20
s3        regional    rep_dk   review B 05-02
s4        manager_se  rep_se2  coaching 05-05
s5        director    rep_de   coaching 03-20  (Q1: not counted)
s6        manager_de  rep_de   coaching 05-10
s7        manager_se  rep_se2  review F 07-02  (Q3, after F closed: F stays unreviewed)

deals  company  amount       first reached Propose or later      closed
A      SE       300,000 SEK  Propose 04-25 (x 0.08 = 24,000)     won 05-10
B      DK       200,000 DKK  Negotiate 04-28 (x 0.13 = 26,000)   lost 05-12
C      SE       100,000 SEK  Propose 05-01 (8,000: small)        open
D      DE       50,000 EUR   Propose 03-15 (Q1), Negotiate 04-15 open
E      SE       10,000 SEK   -                                   won 04-15
F      SE       10,000 SEK   -                                   lost 04-18
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from django.utils import timezone

from accounts.models import Activity, ActivityKind
from coaching.models import CoachingAction, CoachingSession, CoachingSettings, SessionKind
from coaching.services import ActionInput, coaching_session_create, coaching_settings
from crm.models import ExchangeRate, User
from crm.money import MissingExchangeRateError
from crm.roles import Role
from reporting.coaching import CoachingFigures, coaching_figures
from reporting.kpis import Scope
from reporting.periods import fiscal_quarter
from tests.conftest import World
from tests.factories import UserFactory
from tests.opportunities.factories import account_for, global_stages_for
from tests.reporting.conftest import _change, _opp, at

pytestmark = pytest.mark.django_db

AS_OF = dt.date(2026, 5, 15)


def _session(manager: User, rep: User, day: str, kind: str = "coaching", opp=None, actions=()):
    return coaching_session_create(
        acting_user=manager, rep=rep, kind=kind, held_on=dt.date.fromisoformat(day),
        duration_minutes=45, opportunity=opp, actions=actions,
    )  # fmt: skip


def _action(text: str, due: str, owner: User) -> ActionInput:
    return ActionInput(text=text, due_on=dt.date.fromisoformat(due), owner=owner)


def _done(session: CoachingSession, text: str, day: str) -> None:
    CoachingAction.objects.for_org(session.organization_id).filter(
        session=session, text=text
    ).update(done_at=at(day))


def _activity(w: World, owner: User, kind: str, day: str, minutes: int | None) -> None:
    company = owner.sales_company
    Activity.objects.create(
        organization=w.org, kind=kind, subject="Visit", happened_at=at(day),
        duration_minutes=minutes, owner=owner, sales_company=company,
        account=account_for(company),
    )  # fmt: skip


@pytest.fixture
def coached(world: World) -> World:
    w = world
    for currency, rate, day in [("SEK", "0.08", "2026-04-01"), ("DKK", "0.13", "2026-01-01"),
                                ("DKK", "0.135", "2026-05-01")]:  # fmt: skip
        ExchangeRate.objects.create(
            organization=w.org, currency=currency, rate=D(rate),
            valid_from=dt.date.fromisoformat(day),
        )  # fmt: skip
    w.rep_se2 = UserFactory(organization=w.org, role=Role.SALES_REP, sales_company=w.se)  # type: ignore[attr-defined]
    global_stages_for(w.org)
    settings = coaching_settings(w.org.pk)
    assert settings.proposal_stage is not None and settings.proposal_stage.name == "Propose"
    CoachingSettings.objects.for_org(w.org).update(review_threshold=D(20_000))

    se, dk, de = account_for(w.se, "Svea"), account_for(w.dk, "Dansk"), account_for(w.de, "Rhein")
    a = _opp(w, se, w.rep_se, "Won", "300000", "SEK", created="2026-04-01", closed="2026-05-10")
    _change(a, "Propose", "2026-04-25")
    _change(a, "Won", "2026-05-10")
    b = _opp(w, dk, w.rep_dk, "Lost", "200000", "DKK", created="2026-04-01", closed="2026-05-12")
    _change(b, "Negotiate", "2026-04-28")
    _change(b, "Lost", "2026-05-12")
    c = _opp(w, se, w.rep_se2, "Propose", "100000", "SEK", created="2026-04-02")
    _change(c, "Propose", "2026-05-01")
    d = _opp(w, de, w.rep_de, "Negotiate", "50000", "EUR", created="2026-03-01")
    _change(d, "Propose", "2026-03-15")
    _change(d, "Negotiate", "2026-04-15")
    _opp(w, se, w.rep_se, "Won", "10000", "SEK", created="2026-03-01", closed="2026-04-15")
    f = _opp(w, se, w.rep_se2, "Lost", "10000", "SEK", created="2026-03-01", closed="2026-04-18")

    s1 = _session(w.manager_se, w.rep_se, "2026-04-10", actions=[
        _action("a1", "2026-04-20", w.rep_se), _action("a2", "2026-04-30", w.rep_se)])  # fmt: skip
    _done(s1, "a1", "2026-04-19")
    _done(s1, "a2", "2026-05-03")
    _session(w.manager_se, w.rep_se, "2026-04-20", SessionKind.DEAL_REVIEW, a,
             [_action("a3", "2026-05-10", w.rep_se)])  # fmt: skip
    s3 = _session(w.regional, w.rep_dk, "2026-05-02", SessionKind.DEAL_REVIEW, b,
                  [_action("a4", "2026-05-12", w.rep_dk)])  # fmt: skip
    _done(s3, "a4", "2026-05-12")
    _session(w.manager_se, w.rep_se2, "2026-05-05")  # type: ignore[attr-defined]
    _session(w.director, w.rep_de, "2026-03-20", actions=[_action("a6", "2026-03-31", w.rep_de)])
    _session(w.manager_de, w.rep_de, "2026-05-10", actions=[_action("a5", "2026-06-10", w.rep_de)])
    _session(w.manager_se, w.rep_se2, "2026-07-02", SessionKind.DEAL_REVIEW, f)  # type: ignore[attr-defined]

    # Customer time, 04-18 .. 05-15.
    _activity(w, w.rep_se, ActivityKind.MEETING, "2026-05-14", 90)
    _activity(w, w.rep_se, ActivityKind.CALL, "2026-04-18", 30)
    _activity(w, w.rep_se, ActivityKind.EMAIL, "2026-05-01", 60)  # not a meeting or call
    _activity(w, w.rep_se, ActivityKind.MEETING, "2026-04-17", 45)  # before the four weeks
    _activity(w, w.rep_se2, ActivityKind.CALL, "2026-05-01", 60)  # type: ignore[attr-defined]
    _activity(w, w.manager_se, ActivityKind.MEETING, "2026-05-02", 120)  # not a rep
    _activity(w, w.rep_dk, ActivityKind.MEETING, "2026-05-05", 240)
    _activity(w, w.rep_dk, ActivityKind.MEETING, "2026-05-06", None)
    return w


def _figures(w: World, user: User | None = None, **scope: int) -> CoachingFigures:
    return coaching_figures(
        user=user or w.director, scope=Scope(**scope), period=fiscal_quarter(w.org, AS_OF),
        as_of=AS_OF,
    )  # fmt: skip


def test_sessions_per_rep_per_month(coached: World) -> None:
    f = _figures(coached)
    rows = {r.name: r for r in f.companies}
    se, dk, de = rows["Nordvik SE"], rows[coached.dk.name], rows[coached.de.name]
    # SE: s1, s2, s4 / 2 reps / 3 months = 0.50; DK: s3 / 1 / 3 = 0.33; DE: s6 (s5 is Q1) = 0.33.
    assert [(r.sessions, r.reviews, r.reps, r.sessions_per_rep_month) for r in (se, dk, de)] == [
        (3, 1, 2, D("0.50")),
        (1, 1, 1, D("0.33")),
        (1, 0, 1, D("0.33")),
    ]
    # 5 sessions / 4 reps / 3 months = 0.41666 -> 0.42.
    assert (f.total.sessions, f.total.reps, f.total.sessions_per_rep_month) == (5, 4, D("0.42"))
    managers = {r.key: r for r in f.managers}
    w = coached
    # manager_se: 3 / SE's 2 reps / 3; regional: 1 / Nordics' 3 reps / 3; manager_de 1 / 1 / 3.
    assert managers[w.manager_se.pk].sessions_per_rep_month == D("0.50")
    assert managers[w.regional.pk].sessions_per_rep_month == D("0.11")
    assert managers[w.manager_de.pk].sessions_per_rep_month == D("0.33")
    assert w.director.pk not in managers  # no session in Q2


def test_actions_done_on_time(coached: World) -> None:
    f = _figures(coached)
    rows = {r.name: r for r in f.companies}
    w = coached
    # SE: a1 on time, a2 late, a3 open and overdue; DK: a4 done on its due day; DE: a5 not
    # due yet, a6 (Q1) overdue.
    se, dk, de = rows["Nordvik SE"], rows[w.dk.name], rows[w.de.name]
    assert (se.actions_due, se.actions_on_time, se.on_time_percent, se.actions_overdue) == (
        3, 1, D("33.3"), 1,
    )  # fmt: skip
    assert (dk.actions_due, dk.actions_on_time, dk.on_time_percent, dk.actions_overdue) == (
        1, 1, D("100.0"), 0,
    )  # fmt: skip
    assert (de.actions_due, de.on_time_percent, de.actions_overdue) == (0, None, 1)
    assert (f.total.actions_due, f.total.on_time_percent, f.total.actions_overdue) == (
        4, D("50.0"), 2,
    )  # fmt: skip
    manager_se = next(r for r in f.managers if r.key == w.manager_se.pk)
    assert (manager_se.actions_due, manager_se.actions_on_time, manager_se.actions_overdue) == (
        3, 1, 1,
    )  # fmt: skip


def test_big_deals_reviewed_before_proposal(coached: World) -> None:
    f = _figures(coached)
    rows = {r.name: r for r in f.companies}
    w = coached
    # A (24,000) reviewed 04-20 before 04-25; B (26,000, skipped Propose) reviewed 05-02, after
    # reaching Negotiate on 04-28; C is 8,000; D first reached Propose in Q1.
    se, dk, de = rows["Nordvik SE"], rows[w.dk.name], rows[w.de.name]
    assert (se.big_deals, se.big_deals_reviewed, se.reviewed_percent) == (1, 1, D("100.0"))
    assert (dk.big_deals, dk.big_deals_reviewed, dk.reviewed_percent) == (1, 0, D("0.0"))
    assert (de.big_deals, de.reviewed_percent) == (0, None)
    assert (f.total.big_deals, f.total.reviewed_percent) == (2, D("50.0"))
    assert (f.review_threshold, f.proposal_stage) == (D("20000.00"), "Propose")


def test_threshold_is_inclusive_and_configurable(coached: World) -> None:
    # At 24,000 exactly A still counts; B (26,000) too; at 24,000.01 only B.
    CoachingSettings.objects.for_org(coached.org).update(review_threshold=D("24000"))
    assert _figures(coached).total.big_deals == 2
    CoachingSettings.objects.for_org(coached.org).update(review_threshold=D("24000.01"))
    assert (_figures(coached).total.big_deals, _figures(coached).total.big_deals_reviewed) == (1, 0)


def test_win_rate_of_reviewed_and_unreviewed_deals(coached: World) -> None:
    f = _figures(coached)
    rows = {r.name: r for r in f.companies}
    w = coached
    se, dk = rows["Nordvik SE"], rows[w.dk.name]
    # SE: A reviewed and won; E won and F lost unreviewed (F's review came after it closed).
    assert (se.reviewed_won, se.reviewed_lost, se.reviewed_win_rate) == (1, 0, D("100.0"))
    assert (se.unreviewed_won, se.unreviewed_lost, se.unreviewed_win_rate) == (1, 1, D("50.0"))
    assert (dk.reviewed_win_rate, dk.unreviewed_win_rate) == (D("0.0"), None)
    assert (f.total.reviewed_win_rate, f.total.unreviewed_win_rate) == (D("50.0"), D("50.0"))
    managers = {r.key: r for r in f.managers}
    assert managers[w.manager_se.pk].reviewed_win_rate == D("100.0")
    assert managers[w.regional.pk].reviewed_win_rate == D("0.0")


def test_customer_time_per_rep_per_week(coached: World) -> None:
    f = _figures(coached)
    w = coached
    rows = {r.name: r for r in f.customer_time}
    # SE: 90 + 30 + 60 = 180 min / 60 / 2 reps / 4 weeks = 0.375 -> 0.4 h; DK: 240 / 60 / 1 / 4
    # = 1.0; DE: nothing logged, 0.0. Total 420 / 60 / 4 / 4 = 0.4375 -> 0.4.
    assert [(r.minutes, r.reps, r.hours_per_rep_week) for r in (
        rows["Nordvik SE"], rows[w.dk.name], rows[w.de.name])] == [
        (180, 2, D("0.4")), (240, 1, D("1.0")), (0, 1, D("0.0")),
    ]  # fmt: skip
    assert f.customer_time_total is not None
    assert (f.customer_time_total.minutes, f.customer_time_total.hours_per_rep_week) == (
        420, D("0.4"),
    )  # fmt: skip
    assert (f.time_from, f.time_to) == (dt.date(2026, 4, 18), AS_OF)


def test_figures_are_narrowed_to_what_the_user_sees(coached: World) -> None:
    w = coached
    mine = _figures(w, w.manager_de)
    assert [r.name for r in mine.companies] == [w.de.name]
    assert (mine.total.sessions, mine.total.actions_overdue) == (1, 1)
    assert [r.key for r in mine.managers] == [w.manager_de.pk]
    region = _figures(w, w.regional, region_id=w.nordics.pk)
    assert region.total.sessions == 4 and region.total.big_deals == 2
    company = _figures(w, sales_company_id=w.dk.pk)
    assert (company.total.sessions, company.total.reps) == (1, 1)


def test_a_missing_rate_is_named_not_guessed(coached: World) -> None:
    ExchangeRate.objects.for_org(coached.org).filter(currency="DKK").delete()
    with pytest.raises(MissingExchangeRateError) as info:
        _figures(coached)
    assert info.value.currency == "DKK"


def test_query_count_is_constant(coached: World, django_assert_max_num_queries) -> None:
    with django_assert_max_num_queries(12):
        _figures(coached)
    timezone.now()
