"""The home page per role: what needs the user today (their open deals, tasks due, conflicts,
leads), and for managers and the director their scope's figures.

The shell's: it reads every app. Each block is one query (or, for the figures, the stored
dashboard figures: a handful of queries whatever the number of deals), so the page costs a
constant number of queries (tests/crm/test_home.py). Every block reads through the visibility
policies; the figures through reporting.figures, which checks the role covers the scope.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import F
from django.utils import timezone

from accounts.models import ActionStatus, Activity, PlanAction
from crm.models import User
from crm.money import MissingExchangeRateError
from crm.roles import MANAGER_ROLES, ORG_WIDE_ROLES, Role
from crm.selectors import HomeSummary, home_summary
from leads.models import Lead, LeadStatus
from opportunities.models import Conflict, Opportunity
from opportunities.resolution import conflict_scope
from opportunities.selectors import open_q
from opportunities.services import may_book_opportunities
from reporting import figures
from reporting.selectors import Dashboard, dashboard_scope

# Rows per block: the home page is a summary; each block links to its full list.
BLOCK_ROWS = 8
# Tasks and plan actions due within this many days (and every overdue one) are "due".
DUE_WITHIN_DAYS = 7
OPEN_LEAD_STATUSES = (LeadStatus.NEW, LeadStatus.WORKING, LeadStatus.QUALIFIED)


@dataclass
class Home:
    summary: HomeSummary
    today: dt.date
    now: dt.datetime
    may_book: bool
    deals: list[Opportunity] = field(default_factory=list)
    activities: list[Activity] = field(default_factory=list)
    actions: list[PlanAction] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    # "mine": situations one of my deals is in (a seller); "scope": every open one I see.
    conflicts_kind: str = "mine"
    leads: list[Lead] = field(default_factory=list)
    figures: Dashboard | None = None
    figures_error: str = ""
    shows_figures: bool = False


def _deals(user: User) -> list[Opportunity]:
    """My open deals, closing soonest first (undated last)."""
    return list(
        Opportunity.objects.visible_to(user)
        .filter(open_q(), owner_id=user.pk)
        .select_related("account", "local_stage")
        .order_by(F("expected_close_date").asc(nulls_last=True), "pk")[:BLOCK_ROWS]
    )


def _activities(user: User, until: dt.datetime) -> list[Activity]:
    """My open activities due by ``until`` (overdue ones included), soonest first."""
    return list(
        Activity.objects.visible_to(user)
        .filter(owner_id=user.pk, done_at__isnull=True, due_at__lte=until)
        .select_related("account", "opportunity")
        .order_by("due_at", "pk")[:BLOCK_ROWS]
    )


def _actions(user: User, until: dt.date) -> list[PlanAction]:
    """My open account-plan actions due by ``until`` (overdue ones included)."""
    return list(
        PlanAction.objects.visible_to(user)
        .filter(owner_id=user.pk, status=ActionStatus.OPEN, due_date__lte=until)
        .select_related("plan__account")
        .order_by("due_date", "pk")[:BLOCK_ROWS]
    )


def _conflicts(user: User, *, mine: bool) -> list[Conflict]:
    """Open situations: those my deals are in (a seller), or all I see (who resolves them),
    longest waiting first. Named by kind and group only, as the inbox names them."""
    return list(
        conflict_scope(user=user, mine=mine)
        .select_related("account__group")
        .order_by("created_at", "pk")[:BLOCK_ROWS]
    )


def _leads(user: User) -> list[Lead]:
    """Leads assigned to me that are still to work, newest first."""
    return list(
        Lead.objects.visible_to(user)
        .filter(owner_id=user.pk, status__in=OPEN_LEAD_STATUSES)
        .select_related("sales_company")
        .order_by("-created_at", "-pk")[:BLOCK_ROWS]
    )


def home_for(*, user: User) -> Home:
    """The home page's blocks for the user's role."""
    now = timezone.now()
    today = timezone.localdate()
    home = Home(
        summary=home_summary(user=user),
        today=today,
        now=now,
        may_book=may_book_opportunities(user) and user.role != Role.GLOBAL_ADMIN,
    )
    sells = user.role not in (Role.MARKETING, Role.GLOBAL_ADMIN)
    if sells:
        home.deals = _deals(user)
        home.activities = _activities(user, now + dt.timedelta(days=DUE_WITHIN_DAYS))
        home.actions = _actions(user, today + dt.timedelta(days=DUE_WITHIN_DAYS))
        resolves = user.role in MANAGER_ROLES or user.role == Role.GLOBAL_DIRECTOR
        home.conflicts_kind = "scope" if resolves else "mine"
        home.conflicts = _conflicts(user, mine=not resolves)
    home.leads = _leads(user)
    if user.role in MANAGER_ROLES or user.role in ORG_WIDE_ROLES:
        home.shows_figures = True
        _add_figures(home, user, today)
    return home


def _add_figures(home: Home, user: User, today: dt.date) -> None:
    """The scope's figures from the stored dashboard figures (the dashboard's own numbers:
    pipeline, won this quarter, per rep / company / region), or the missing rate that stops
    them."""
    try:
        shown: Any = figures.show(user=user, where=dashboard_scope(user=user), as_of=today)
    except MissingExchangeRateError as exc:
        home.figures_error = exc.user_message
    else:
        home.figures = shown.dashboard
