"""Reads of coaching for pages and API: always through the visibility policy."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet

from coaching.models import (
    DEFAULT_REVIEW_THRESHOLD,
    CoachingAction,
    CoachingSession,
    CoachingSettings,
    CoachingTopic,
)
from crm.models import User
from crm.registry import access_by_id
from pipeline.models import GlobalStage

SORTS = {
    "date": ("held_on", "id"),
    "-date": ("-held_on", "-id"),
    "rep": ("rep__full_name", "-held_on", "-id"),
    "manager": ("manager__full_name", "-held_on", "-id"),
    "duration": ("duration_minutes", "-held_on", "-id"),
    "-duration": ("-duration_minutes", "-held_on", "-id"),
}


def session_list(
    *,
    user: User,
    kind: str | None = None,
    rep: User | None = None,
    sales_company_id: int | None = None,
    held_from: dt.date | None = None,
    held_to: dt.date | None = None,
    unacknowledged: bool = False,
    opportunity_id: int | None = None,
    sort: str = "-date",
) -> QuerySet[CoachingSession]:
    """The sessions the user sees, filtered and sorted; one query (plus one per prefetch)."""
    qs: QuerySet[CoachingSession] = CoachingSession.objects.visible_to(user)
    if kind:
        qs = qs.filter(kind=kind)
    if rep is not None:
        qs = qs.filter(rep=rep)
    if sales_company_id:
        qs = qs.filter(sales_company_id=sales_company_id)
    if held_from:
        qs = qs.filter(held_on__gte=held_from)
    if held_to:
        qs = qs.filter(held_on__lte=held_to)
    if unacknowledged:
        qs = qs.filter(acknowledged_at__isnull=True)
    if opportunity_id:
        qs = qs.filter(opportunity_id=opportunity_id)
    return (
        qs.select_related("manager", "rep", "sales_company", "opportunity")
        .annotate(
            action_count=Count("actions", distinct=True),
            open_actions=Count("actions", filter=Q(actions__done_at__isnull=True), distinct=True),
        )
        .order_by(*SORTS.get(sort, SORTS["-date"]))
    )


def access_session_by_id(user: User, pk: object) -> CoachingSession:
    """One session the user may see, with its topics and actions; 404 otherwise."""
    qs: QuerySet[CoachingSession] = (
        CoachingSession.objects.visible_to(user)
        .select_related("manager", "rep", "sales_company", "opportunity")
        # Inside a request the organization is in scope for the related managers too.
        .prefetch_related("topics", "actions__owner")
    )
    return access_by_id(qs, pk)


def access_action_by_id(user: User, pk: object) -> CoachingAction:
    return access_by_id(
        CoachingAction.objects.visible_to(user).select_related("session", "owner"), pk
    )


def active_topics(user: User) -> QuerySet[CoachingTopic]:
    return CoachingTopic.objects.visible_to(user).filter(is_active=True).order_by("name")


def open_actions_for(user: User) -> QuerySet[Any]:
    """The user's own open coaching actions (My tasks), oldest due first."""
    return (
        CoachingAction.objects.visible_to(user)
        .filter(owner_id=user.pk, done_at__isnull=True)
        .select_related("session")
        .order_by("due_on", "id")
    )


def default_proposal_stage(organization_id: int) -> GlobalStage | None:
    """The stage named like "Proposal" (the demo's "Propose"), else the middle open stage."""
    stages = list(
        GlobalStage.objects.for_org(organization_id)
        .filter(is_won=False, is_lost=False)
        .order_by("order")
    )
    named = [s for s in stages if s.name.lower().startswith("propos")]
    if named:
        return named[0]
    return stages[len(stages) // 2] if stages else None


def review_rule(organization_id: int) -> tuple[Decimal, GlobalStage | None]:
    """The review threshold and proposal stage, without writing (reports read them): the
    defaults until the admin saves the settings."""
    row = CoachingSettings.objects.for_org(organization_id).select_related("proposal_stage").first()
    if row is None:
        return DEFAULT_REVIEW_THRESHOLD, default_proposal_stage(organization_id)
    return row.review_threshold, row.proposal_stage
