"""Coaching demo data: the organization's topics, coaching sessions of the demo managers with
their reps this quarter, deal reviews of deals before they reached the proposal stage, agreed
actions (one done late, one overdue), and durations on the demo's meetings and calls, so the
coaching and customer-time figures on the country and director dashboards are not zero.

Idempotent: topics by name; the sessions only when the organization has none yet.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Min, OuterRef, Subquery
from django.utils import timezone

from accounts.models import Activity, ActivityKind
from coaching.models import CoachingAction, CoachingSession, CoachingTopic, SessionKind
from coaching.selectors import default_proposal_stage
from coaching.services import ActionInput, coaching_session_create
from crm.models import Organization, User
from opportunities.models import Opportunity, StageChange

TOPICS = [
    "Account planning",
    "Discovery and qualification",
    "Negotiation",
    "Pipeline hygiene",
    "Time with customers",
]
# (manager, rep, days ago, topics, notes)
SESSIONS = [
    ("manager.se", "rep.se", 25, ["Pipeline hygiene", "Time with customers"],
     "Walked the pipeline: two deals without a next step; more plant visits in Q1."),
    ("manager.se", "rep.se", 6, ["Negotiation"], "Prepared the Volvera renewal talks."),
    ("manager.dk", "rep.dk", 18, ["Discovery and qualification"],
     "Practised discovery questions for the Aarhus retrofit."),
    ("manager.de", "rep.de", 12, ["Account planning"], "Hamburg fleet renewal: who decides?"),
    ("nordics", "rep.dk", 9, ["Time with customers"], "Ride-along in Jutland."),
    ("director", "rep.us", 15, ["Account planning", "Negotiation"],
     "US plant retrofit: the global account team's plan."),
]  # fmt: skip
# (manager of the deal's company, else the director) reviews the deal a day before it first
# reached the proposal stage: every other deal of the quarter, so the share is not 100 %.
MANAGERS = {"SE": "manager.se", "DK": "manager.dk", "DE": "manager.de"}


def _user(org: Organization, short: str) -> User:
    return User.objects.for_org(org).get(email=f"{short}@nordvik.example")


def seed_demo(org: Organization) -> None:
    for name in TOPICS:
        CoachingTopic.objects.for_org(org).get_or_create(organization=org, name=name)
    # Durations on the demo's meetings and calls (logged without one): customer time.
    activities = Activity.objects.for_org(org).filter(duration_minutes__isnull=True)
    activities.filter(kind=ActivityKind.MEETING).update(duration_minutes=120)
    activities.filter(kind=ActivityKind.CALL).update(duration_minutes=30)
    # Sessions for Nordvik's demo people only (Tellus shows isolation, not coaching).
    if (
        CoachingSession.objects.for_org(org).exists()
        or not User.objects.for_org(org).filter(email="director@nordvik.example").exists()
    ):
        return
    topics = {t.name: t for t in CoachingTopic.objects.for_org(org)}
    today = timezone.localdate()
    for manager, rep, days_ago, names, notes in SESSIONS:
        held = today - dt.timedelta(days=days_ago)
        actions = []
        if days_ago >= 15:
            actions = [
                ActionInput(
                    text="Add a next step to every open deal", due_on=held + dt.timedelta(days=5)
                ),
                ActionInput(text="Book two customer visits", due_on=held + dt.timedelta(days=10)),
            ]
        coaching_session_create(
            acting_user=_user(org, manager), rep=_user(org, rep), kind=SessionKind.COACHING,
            held_on=held, duration_minutes=45 if days_ago % 2 else 60,
            topics=[topics[n] for n in names], notes=notes, actions=actions,
        )  # fmt: skip
    # The first action of each session is done on time, the second late, except Sara's second
    # (rep.se, 25 days ago, due 15 days ago): still open, so overdue.
    for action in CoachingAction.objects.for_org(org).select_related("session__rep"):
        first = action.text.startswith("Add")
        if not first and action.session.rep.email.startswith("rep.se"):
            continue
        done_on = (
            action.due_on - dt.timedelta(days=1) if first else action.due_on + dt.timedelta(days=3)
        )
        done_on = min(done_on, today)
        done = timezone.make_aware(dt.datetime.combine(done_on, dt.time(15)))
        CoachingAction.objects.for_org(org).filter(pk=action.pk).update(done_at=done)
    _seed_reviews(org, today)


def _seed_reviews(org: Organization, today: dt.date) -> None:
    stage = default_proposal_stage(org.pk)
    if stage is None:
        return
    reached = (
        StageChange.objects.for_org(org)
        .filter(
            opportunity_id=OuterRef("pk"),
            to_global_stage__order__gte=stage.order,
            to_global_stage__is_lost=False,
        )
        .values("opportunity_id")
        .annotate(first=Min("changed_at"))
        .values("first")
    )
    deals = (
        Opportunity.objects.for_org(org)
        .annotate(reached_at=Subquery(reached))
        .filter(reached_at__isnull=False, owner__role="sales_rep")
        .select_related("owner", "sales_company")
        .order_by("name")
    )
    director = _user(org, "director")
    for i, deal in enumerate(deals):
        if i % 2:
            continue  # not reviewed
        reached_on = timezone.localdate(deal.reached_at)
        held = max(reached_on - dt.timedelta(days=1), timezone.localdate(deal.created_at))
        held = min(held, today)
        short = MANAGERS.get(deal.sales_company.code)
        coaching_session_create(
            acting_user=_user(org, short) if short else director, rep=deal.owner,
            kind=SessionKind.DEAL_REVIEW, held_on=held, duration_minutes=30, opportunity=deal,
            notes="Reviewed before the proposal: scope, decision makers, price position.",
        )  # fmt: skip
