"""Coaching and customer-time KPIs (issue 19), in SQL, for what the acting user may see.

Per sales company, per manager and in total, for a period (the dashboard's quarter):

* **sessions per rep per month**: coaching sessions and deal reviews held in the period, divided
  by the active sales reps (of the company; of a manager's role scope inside the report's scope)
  and by the period's months;
* **big deals reviewed before proposal**: deals that first reached the proposal stage (the
  organization's setting, or any later open stage: skipping it counts as reaching it) during
  the period with a value, at that day's rate, of at least the review threshold; reviewed when a
  deal review of the deal was held on or before that day (from ``StageChange``);
* **actions done on time**: agreed actions due in the period up to the report date, done on or
  before their due date; and actions overdue now (open, due before the report date);
* **win rate of reviewed vs unreviewed deals**: deals closed in the period, reviewed when a deal
  review was held on or before the close date;
* **customer time per rep per week**: minutes of meetings and calls of sales reps that happened
  in the four weeks up to the report date, per active rep and week, in hours.

A fixed number of queries whatever the number of rows; the organization total is the sum of the
companies' rows (every session, deal and activity belongs to one company).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.db.models import Count, Exists, F, Min, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import TruncDate

from accounts.models import Activity, ActivityKind
from coaching.models import CoachingAction, CoachingSession, SessionKind
from coaching.selectors import review_rule
from crm.models import User
from crm.money import missing_rate, raise_if_missing, with_corporate_amount
from crm.roles import ORG_WIDE_ROLES, Role
from crm.visibility import visible_companies
from opportunities.models import StageChange
from reporting.kpis import ORGANIZATION, Scope, percent, visible_opportunities
from reporting.periods import Period

CUSTOMER_TIME_WEEKS = 4
CUSTOMER_KINDS = (ActivityKind.MEETING, ActivityKind.CALL)
HUNDREDTH = Decimal("0.01")
TENTH = Decimal("0.1")


@dataclass
class CoachingRow:
    party: str  # "company", "manager" or "total"
    key: int
    name: str
    reps: int = 0
    sessions: int = 0
    reviews: int = 0
    months: int = 3
    actions_due: int = 0
    actions_on_time: int = 0
    actions_overdue: int = 0
    big_deals: int = 0
    big_deals_reviewed: int = 0
    reviewed_won: int = 0
    reviewed_lost: int = 0
    unreviewed_won: int = 0
    unreviewed_lost: int = 0

    @property
    def sessions_per_rep_month(self) -> Decimal | None:
        if not self.reps or not self.months:
            return None
        value = Decimal(self.sessions) / self.reps / self.months
        return value.quantize(HUNDREDTH, rounding=ROUND_HALF_EVEN)

    @property
    def on_time_percent(self) -> Decimal | None:
        return percent(self.actions_on_time, self.actions_due)

    @property
    def reviewed_percent(self) -> Decimal | None:
        return percent(self.big_deals_reviewed, self.big_deals)

    @property
    def reviewed_win_rate(self) -> Decimal | None:
        return percent(self.reviewed_won, self.reviewed_won + self.reviewed_lost)

    @property
    def unreviewed_win_rate(self) -> Decimal | None:
        return percent(self.unreviewed_won, self.unreviewed_won + self.unreviewed_lost)

    def add(self, other: CoachingRow) -> None:
        for name in (
            "reps", "sessions", "reviews", "actions_due", "actions_on_time", "actions_overdue",
            "big_deals", "big_deals_reviewed", "reviewed_won", "reviewed_lost", "unreviewed_won",
            "unreviewed_lost",
        ):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class CustomerTimeRow:
    key: int
    name: str
    reps: int = 0
    minutes: int = 0
    weeks: int = CUSTOMER_TIME_WEEKS

    @property
    def hours_per_rep_week(self) -> Decimal | None:
        if not self.reps:
            return None
        value = Decimal(self.minutes) / 60 / self.reps / self.weeks
        return value.quantize(TENTH, rounding=ROUND_HALF_EVEN)


@dataclass
class CoachingFigures:
    review_threshold: Decimal
    proposal_stage: str
    period_start: dt.date
    period_end: dt.date
    time_from: dt.date
    time_to: dt.date
    total: CoachingRow
    companies: list[CoachingRow] = field(default_factory=list)
    managers: list[CoachingRow] = field(default_factory=list)
    customer_time: list[CustomerTimeRow] = field(default_factory=list)
    customer_time_total: CustomerTimeRow | None = None


def _rows(qs: Any) -> list[dict[str, Any]]:
    """A values() query's rows (typed loosely: each query names its own aggregates)."""
    return list(qs)


def _months(period: Period) -> int:
    return (period.end.year - period.start.year) * 12 + period.end.month - period.start.month


def _company_q(scope: Scope, prefix: str = "") -> Q:
    if scope.sales_company_id:
        return Q(**{f"{prefix}sales_company_id": scope.sales_company_id})
    if scope.region_id:
        return Q(**{f"{prefix}sales_company__region_id": scope.region_id})
    return Q()


def _companies(user: User, scope: Scope) -> dict[int, tuple[str, int]]:
    """The scope's companies: id -> (name, region id)."""
    qs = visible_companies(user)
    if scope.sales_company_id:
        qs = qs.filter(pk=scope.sales_company_id)
    elif scope.region_id:
        qs = qs.filter(region_id=scope.region_id)
    return {pk: (name, region) for pk, name, region in qs.values_list("pk", "name", "region_id")}


def _reps_by_company(user: User, company_ids: list[int]) -> dict[int, int]:
    rows = (
        User.objects.visible_to(user)
        .filter(is_active=True, role=Role.SALES_REP, sales_company_id__in=company_ids)
        .values("sales_company_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {r["sales_company_id"]: r["n"] for r in rows}


def _sessions(user: User, scope: Scope) -> QuerySet[CoachingSession]:
    return CoachingSession.objects.visible_to(user).filter(_company_q(scope))


def _reviews_until(user: User, day: Any) -> Exists:
    """A deal review of the outer deal held on or before ``day`` (an expression)."""
    return Exists(
        CoachingSession.objects.visible_to(user).filter(
            kind=SessionKind.DEAL_REVIEW, opportunity_id=OuterRef("pk"), held_on__lte=day
        )
    )


def coaching_figures(
    *, user: User, scope: Scope = ORGANIZATION, period: Period, as_of: dt.date
) -> CoachingFigures:
    org = user.organization
    threshold, stage = review_rule(org.pk)
    companies = _companies(user, scope)
    reps = _reps_by_company(user, list(companies))
    months = _months(period)
    rows = {
        pk: CoachingRow("company", pk, name, reps=reps.get(pk, 0), months=months)
        for pk, (name, _region) in companies.items()
    }
    sessions = _sessions(user, scope).filter(held_on__gte=period.start, held_on__lt=period.end)

    # Sessions per company and per manager.
    review = Q(kind=SessionKind.DEAL_REVIEW)
    r: dict[str, Any]
    for r in _rows(
        sessions.values("sales_company_id")
        .annotate(n=Count("id"), reviews=Count("id", filter=review))
        .order_by()
    ):
        if r["sales_company_id"] in rows:
            rows[r["sales_company_id"]].sessions = r["n"]
            rows[r["sales_company_id"]].reviews = r["reviews"]
    managers: dict[int, CoachingRow] = {}
    manager_rows = (
        sessions.values(
            "manager_id", "manager__full_name", "manager__role", "manager__sales_company_id",
            "manager__region_id",
        )
        .annotate(n=Count("id"), reviews=Count("id", filter=review))
        .order_by()
    )  # fmt: skip
    for r in _rows(manager_rows):
        role = r["manager__role"]
        if role in ORG_WIDE_ROLES:
            covered = list(companies)
        elif role == Role.REGIONAL_MANAGER:
            covered = [
                pk for pk, (_n, region) in companies.items() if region == r["manager__region_id"]
            ]
        else:
            covered = [pk for pk in companies if pk == r["manager__sales_company_id"]]
        managers[r["manager_id"]] = CoachingRow(
            "manager", r["manager_id"], r["manager__full_name"],
            reps=sum(reps.get(pk, 0) for pk in covered), sessions=r["n"], reviews=r["reviews"],
            months=months,
        )  # fmt: skip

    # Agreed actions: due in the period up to the report date; overdue now.
    due_until = min(period.end, as_of + dt.timedelta(days=1))
    actions: QuerySet[Any] = CoachingAction.objects.visible_to(user).filter(
        _company_q(scope, "session__")
    )
    due = Q(due_on__gte=period.start, due_on__lt=due_until)
    on_time = due & Q(done_at__isnull=False, done_date__lte=F("due_on"))
    overdue = Q(done_at__isnull=True, due_on__lt=as_of)
    aggregates = {
        "due": Count("id", filter=due),
        "on_time": Count("id", filter=on_time),
        "overdue": Count("id", filter=overdue),
    }
    actions = actions.annotate(done_date=TruncDate("done_at"))
    for group, target in (("session__sales_company_id", rows), ("session__manager_id", managers)):
        for r in _rows(actions.values(group).annotate(**aggregates).order_by()):
            row = target.get(r[group])
            if row is not None:
                row.actions_due, row.actions_on_time = r["due"], r["on_time"]
                row.actions_overdue = r["overdue"]

    # Big deals: first reached the proposal stage in the period, valued at that day's rate.
    if stage is not None:
        reached = (
            StageChange.objects.for_org(org.pk)
            .filter(
                opportunity_id=OuterRef("pk"),
                to_global_stage__order__gte=stage.order,
                to_global_stage__is_lost=False,
            )
            .values("opportunity_id")
            .annotate(first=Min("changed_at"))
            .values("first")
        )
        # A deal that first reached the stage in the period reached it in the period: those
        # deals are found set-based first (one scan of the stage changes, a hash semi-join),
        # so the first reaching, a correlated subquery, runs for them only, not for every deal
        # in scope (at 1M: once per deal, 15 s of the coaching figures). Same answer: the
        # filter only drops deals without any reaching in the period.
        in_period = (
            StageChange.objects.for_org(org.pk)
            .filter(
                to_global_stage__order__gte=stage.order,
                to_global_stage__is_lost=False,
                changed_at__date__gte=period.start,
                changed_at__date__lt=period.end,
            )
            .values("opportunity_id")
        )
        deals = (
            visible_opportunities(user, scope)
            .filter(pk__in=in_period)
            .annotate(reached_at=Subquery(reached))
        )
        deals = deals.filter(reached_at__date__gte=period.start, reached_at__date__lt=period.end)
        deals = with_corporate_amount(deals, org, rate_date=TruncDate("reached_at"))
        deals = deals.annotate(reached_on=TruncDate("reached_at"))
        deals = deals.annotate(reviewed=_reviews_until(user, OuterRef("reached_on")))
        big = Q(corporate_amount__gte=threshold)
        found = _rows(
            deals.values("sales_company_id")
            .annotate(
                big=Count("id", filter=big),
                reviewed_big=Count("id", filter=big & Q(reviewed=True)),
                missing=missing_rate(),
            )
            .order_by()
        )
        raise_if_missing(org, (r["missing"] for r in found))
        for r in found:
            if r["sales_company_id"] in rows:
                rows[r["sales_company_id"]].big_deals = r["big"]
                rows[r["sales_company_id"]].big_deals_reviewed = r["reviewed_big"]

    # Win rates of deals closed in the period, reviewed (by the close date) or not.
    closed = visible_opportunities(user, scope).filter(
        Q(global_stage__is_won=True) | Q(global_stage__is_lost=True),
        closed_at__date__gte=period.start,
        closed_at__date__lt=period.end,
    )
    closed = closed.annotate(closed_on=TruncDate("closed_at"))
    closed = closed.annotate(reviewed=_reviews_until(user, OuterRef("closed_on")))
    won, lost = Q(global_stage__is_won=True), Q(global_stage__is_lost=True)
    for r in _rows(
        closed.values("sales_company_id")
        .annotate(
            rw=Count("id", filter=won & Q(reviewed=True)),
            rl=Count("id", filter=lost & Q(reviewed=True)),
            uw=Count("id", filter=won & Q(reviewed=False)),
            ul=Count("id", filter=lost & Q(reviewed=False)),
        )
        .order_by()
    ):
        row = rows.get(r["sales_company_id"])
        if row is not None:
            row.reviewed_won, row.reviewed_lost = r["rw"], r["rl"]
            row.unreviewed_won, row.unreviewed_lost = r["uw"], r["ul"]
    deal_won = Q(opportunity__global_stage__is_won=True)
    deal_lost = Q(opportunity__global_stage__is_lost=True)
    # Per manager: the deals he reviewed (before they closed) that closed in the period.
    reviewed_by = (
        _sessions(user, scope)
        .filter(
            kind=SessionKind.DEAL_REVIEW,
            opportunity__in=closed.values("pk"),
            held_on__lte=TruncDate("opportunity__closed_at"),
        )
        .values("manager_id")
        .annotate(
            w=Count("opportunity_id", distinct=True, filter=deal_won),
            lost=Count("opportunity_id", distinct=True, filter=deal_lost),
        )
        .order_by()
    )  # fmt: skip
    for r in _rows(reviewed_by):
        row = managers.get(r["manager_id"])
        if row is not None:
            row.reviewed_won, row.reviewed_lost = r["w"], r["lost"]

    total = CoachingRow("total", 0, "", months=months)
    for row in rows.values():
        total.add(row)
    ct_rows, ct_total, time_from = _customer_time(user, scope, as_of, companies, reps)
    return CoachingFigures(
        review_threshold=threshold,
        proposal_stage=stage.name if stage is not None else "",
        period_start=period.start,
        period_end=period.end,
        time_from=time_from,
        time_to=as_of,
        total=total,
        companies=sorted(rows.values(), key=lambda r: r.name),
        managers=sorted(managers.values(), key=lambda r: r.name),
        customer_time=ct_rows,
        customer_time_total=ct_total,
    )


def _customer_time(
    user: User,
    scope: Scope,
    as_of: dt.date,
    companies: dict[int, tuple[str, int]],
    reps: dict[int, int],
) -> tuple[list[CustomerTimeRow], CustomerTimeRow, dt.date]:
    since = as_of - dt.timedelta(days=7 * CUSTOMER_TIME_WEEKS - 1)
    minutes = dict(
        Activity.objects.visible_to(user)
        .filter(
            _company_q(scope),
            kind__in=CUSTOMER_KINDS,
            owner__role=Role.SALES_REP,
            happened_at__date__gte=since,
            happened_at__date__lte=as_of,
        )
        .values("sales_company_id")
        .annotate(minutes=Sum("duration_minutes"))
        .order_by()
        .values_list("sales_company_id", "minutes")
    )
    rows = [
        CustomerTimeRow(pk, name, reps=reps.get(pk, 0), minutes=minutes.get(pk) or 0)
        for pk, (name, _region) in companies.items()
    ]
    total = CustomerTimeRow(
        0, "", reps=sum(r.reps for r in rows), minutes=sum(r.minutes for r in rows)
    )
    return sorted(rows, key=lambda r: r.name), total, since
