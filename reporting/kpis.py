"""KPI selectors: every number computed in SQL, in the corporate currency, for what the acting
user may see.

Each selector takes the acting ``user`` and a ``Scope`` (the organization, a region, a sales
company or one person) and intersects the two: the scope narrows, the visibility policy
(``crm.visibility``) decides. Money is converted inside the query with the rate valid on the
relevant date (the close date for closed deals, the report date ``as_of`` for open ones), with
the kernel's one SQL conversion (``crm.money.with_corporate_amount``: exact per deal, the sum
rounded half-even by ``money``). A row whose rate is missing is reported by the same query
(``missing_rate``) and raises ``MissingExchangeRateError``: never a silent 1.0.

Every selector is a fixed number of queries, whatever the number of opportunities.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import (
    Case,
    Count,
    DateField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import TruncDate

from accounts.models import Account
from crm.models import Organization, User
from crm.money import EXACT, missing_rate, money, raise_if_missing, with_corporate_amount
from opportunities import selectors as quality
from opportunities.models import (
    Conflict,
    ConflictParticipant,
    ConflictStatus,
    Opportunity,
    OpportunitySplit,
    SplitKind,
    StageChange,
)
from opportunities.resolution import overdue_before
from pipeline.models import ForecastCategory
from reporting.models import PeriodKind, PipelineSnapshot, Target, TargetKind
from reporting.periods import Period, fiscal_quarter, next_quarter

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

ONE_DECIMAL = Decimal("0.1")


@dataclass(frozen=True)
class Scope:
    """What a report is about; ``Scope()`` is the whole organization (as far as visible)."""

    region_id: int | None = None
    sales_company_id: int | None = None
    user_id: int | None = None

    def q(self, prefix: str = "", *, owner_field: str = "owner_id") -> Q:
        """The scope as a filter on opportunity-like rows (``prefix`` leads to their company)."""
        q = Q()
        if self.sales_company_id:
            q &= Q(**{f"{prefix}sales_company_id": self.sales_company_id})
        elif self.region_id:
            q &= Q(**{f"{prefix}sales_company__region_id": self.region_id})
        if self.user_id:
            q &= Q(**{f"{prefix}{owner_field}": self.user_id})
        return q


ORGANIZATION = Scope()

# How rows are grouped for breakdowns: the opportunity field and the target field.
GROUPS: dict[str, tuple[str, str]] = {
    "region": ("sales_company__region_id", "sales_company__region_id"),
    "company": ("sales_company_id", "sales_company_id"),
    "owner": ("owner_id", "user_id"),
}
GROUP_NAMES: dict[str, str] = {
    "region": "sales_company__region__name",
    "company": "sales_company__name",
    "owner": "owner__full_name",
}


def percent(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(ONE_DECIMAL, rounding=ROUND_HALF_EVEN)


# --- Building blocks -----------------------------------------------------------------------


def visible_opportunities(user: User, scope: Scope = ORGANIZATION) -> QuerySet[Opportunity]:
    qs = Opportunity.objects.visible_to(user)
    return qs.filter(scope.q())


def open_q(prefix: str = "") -> Q:
    """An open deal: neither in a won nor in a lost global stage."""
    return Q(**{f"{prefix}global_stage__is_won": False, f"{prefix}global_stage__is_lost": False})


def _open(qs: QuerySet[Any], prefix: str = "") -> QuerySet[Any]:
    return qs.filter(open_q(prefix))


def weighted_amount() -> ExpressionWrapper:
    """The weighted pipeline rule, the one copy: a deal's exact corporate amount (annotated by
    ``with_corporate_amount``) times its global stage's probability. Summed, then rounded."""
    return ExpressionWrapper(
        F("corporate_amount") * F("global_stage__probability") / Value(Decimal(100)),
        output_field=EXACT,
    )


def _closed_in(period: Period, prefix: str = "") -> Q:
    return Q(
        **{
            f"{prefix}closed_at__date__gte": period.start,
            f"{prefix}closed_at__date__lt": period.end,
        }
    )


def rate_date_expression(as_of: dt.date, prefix: str = "") -> Case:
    """The relevant date of a deal's money: its close date once closed, else the report date."""
    return Case(
        When(**{f"{prefix}closed_at__isnull": False}, then=TruncDate(f"{prefix}closed_at")),
        default=Value(as_of, output_field=DateField()),
        output_field=DateField(),
    )


def _organization(user: User) -> Organization:
    return user.organization


# --- Pipeline ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StageRow:
    stage_id: int
    stage: str
    order: int
    probability: int
    forecast_category: str
    count: int
    amount: Decimal
    weighted: Decimal


def pipeline_by_stage(*, user: User, scope: Scope = ORGANIZATION, as_of: dt.date) -> list[StageRow]:
    """Open opportunities per global stage: count, amount and weighted amount (x probability)."""
    org = _organization(user)
    qs = with_corporate_amount(
        _open(visible_opportunities(user, scope)), org, rate_date=Value(as_of, DateField())
    )
    rows = list(
        qs.values(
            "global_stage_id",
            "global_stage__name",
            "global_stage__order",
            "global_stage__probability",
            "global_stage__forecast_category",
        )
        .annotate(
            n=Count("id"),
            total=Sum("corporate_amount"),
            weighted=Sum(weighted_amount()),
            missing=missing_rate(),
        )
        .order_by("global_stage__order")
    )
    raise_if_missing(org, (r["missing"] for r in rows))
    return [
        StageRow(
            stage_id=r["global_stage_id"],
            stage=r["global_stage__name"],
            order=r["global_stage__order"],
            probability=r["global_stage__probability"],
            forecast_category=r["global_stage__forecast_category"],
            count=r["n"],
            amount=money(r["total"]),
            weighted=money(r["weighted"]),
        )
        for r in rows
    ]


@dataclass(frozen=True)
class PipelineTotals:
    count: int
    amount: Decimal
    weighted: Decimal


def weighted_pipeline(rows: list[StageRow]) -> PipelineTotals:
    """Totals of ``pipeline_by_stage`` (the rows are already per-stage SQL aggregates)."""
    return PipelineTotals(
        count=sum(r.count for r in rows),
        amount=money(sum((r.amount for r in rows), Decimal(0))),
        weighted=money(sum((r.weighted for r in rows), Decimal(0))),
    )


@dataclass(frozen=True)
class GroupRow:
    key: int
    name: str
    count: int
    amount: Decimal
    weighted: Decimal


def pipeline_by(
    *, user: User, scope: Scope = ORGANIZATION, as_of: dt.date, group: str
) -> list[GroupRow]:
    """Open pipeline per region, sales company or owner (``group``), for drill-down tables."""
    org = _organization(user)
    key, name = GROUPS[group][0], GROUP_NAMES[group]
    qs = with_corporate_amount(
        _open(visible_opportunities(user, scope)), org, rate_date=Value(as_of, DateField())
    )
    rows = list(
        qs.values(key, name)
        .annotate(
            n=Count("id"),
            total=Sum("corporate_amount"),
            weighted=Sum(weighted_amount()),
            missing=missing_rate(),
        )
        .order_by(name)
    )
    raise_if_missing(org, (r["missing"] for r in rows))
    return [
        GroupRow(r[key], r[name], r["n"], money(r["total"]), money(r["weighted"])) for r in rows
    ]


# --- Targets ---------------------------------------------------------------------------------


def visible_targets(user: User, scope: Scope = ORGANIZATION) -> QuerySet[Target]:
    """Targets of the scope: one person's own when the scope is a person, else companies'."""
    qs = Target.objects.visible_to(user)
    if scope.user_id:
        return qs.filter(user_id=scope.user_id)
    qs = qs.filter(sales_company__isnull=False)
    if scope.sales_company_id:
        return qs.filter(sales_company_id=scope.sales_company_id)
    if scope.region_id:
        return qs.filter(sales_company__region_id=scope.region_id)
    return qs


def target_sums(
    *,
    user: User,
    scope: Scope = ORGANIZATION,
    kind: str,
    periods: Iterable[Period],
    group: str | None = None,
) -> dict[tuple[dt.date, int | None], Decimal]:
    """Sum of targets per (period start, group key); one query."""
    periods = list(periods)
    qs = visible_targets(user, scope)
    if group == "owner":
        qs = Target.objects.visible_to(user).filter(user__isnull=False, **_user_scope(scope))
    q = Q()
    for p in periods:
        q |= Q(period_kind=p.kind, period_start=p.start)
    qs = qs.filter(q, kind=kind)
    key = GROUPS[group][1] if group else None
    fields = ["period_start", key] if key else ["period_start"]
    return {
        (r["period_start"], r[key] if key else None): r["total"]
        for r in qs.values(*fields).annotate(total=Sum("value")).order_by()
    }


def _user_scope(scope: Scope) -> dict[str, int]:
    if scope.user_id:
        return {"user_id": scope.user_id}
    if scope.sales_company_id:
        return {"user__sales_company_id": scope.sales_company_id}
    if scope.region_id:
        return {"user__sales_company__region_id": scope.region_id}
    return {}


# --- Forecast ------------------------------------------------------------------------------


@dataclass
class ForecastQuarter:
    period: Period
    by_category: dict[str, Decimal]
    target: Decimal | None

    @property
    def won(self) -> Decimal:
        return self.by_category.get(ForecastCategory.CLOSED, Decimal(0))

    @property
    def commit(self) -> Decimal:
        """Won plus committed: what the scope is calling for the quarter."""
        return self.won + self.by_category.get(ForecastCategory.COMMIT, Decimal(0))

    @property
    def best_case(self) -> Decimal:
        return self.commit + self.by_category.get(ForecastCategory.BEST_CASE, Decimal(0))

    @property
    def pipeline(self) -> Decimal:
        return self.best_case + self.by_category.get(ForecastCategory.PIPELINE, Decimal(0))

    @property
    def attainment(self) -> Decimal | None:
        return percent(self.won, self.target) if self.target else None


def forecast_quarters(*, user: User, as_of: dt.date) -> tuple[Period, Period]:
    org = _organization(user)
    this = fiscal_quarter(org, as_of)
    return this, next_quarter(org, this)


def _forecast_rows(
    user: User, scope: Scope, as_of: dt.date, quarters: tuple[Period, ...], group: str | None
) -> list[dict[str, Any]]:
    """Open deals by expected close date, won deals by close date, per quarter and category."""
    org = _organization(user)
    placed = Case(
        *[
            When(
                Q(
                    global_stage__is_won=False,
                    global_stage__is_lost=False,
                    expected_close_date__gte=p.start,
                    expected_close_date__lt=p.end,
                )
                | (Q(global_stage__is_won=True) & _closed_in(p)),
                then=Value(p.start),
            )
            for p in quarters
        ],
        default=None,
        output_field=DateField(),
    )
    qs = visible_opportunities(user, scope).annotate(quarter=placed).filter(quarter__isnull=False)
    qs = with_corporate_amount(qs, org, rate_date=rate_date_expression(as_of))
    fields = ["quarter", "global_stage__forecast_category"]
    if group:
        fields.append(GROUPS[group][0])
    rows = list(
        qs.values(*fields)
        .annotate(total=Sum("corporate_amount"), missing=missing_rate())
        .order_by()
    )
    raise_if_missing(org, (r["missing"] for r in rows))
    return rows


def forecast(*, user: User, scope: Scope = ORGANIZATION, as_of: dt.date) -> list[ForecastQuarter]:
    """This and next fiscal quarter: amounts per forecast category against revenue targets."""
    quarters = forecast_quarters(user=user, as_of=as_of)
    rows = _forecast_rows(user, scope, as_of, quarters, None)
    targets = target_sums(user=user, scope=scope, kind=TargetKind.REVENUE, periods=quarters)
    out = []
    for p in quarters:
        cats = {
            r["global_stage__forecast_category"]: money(r["total"])
            for r in rows
            if r["quarter"] == p.start
        }
        target = targets.get((p.start, None))
        out.append(ForecastQuarter(p, cats, money(target) if target is not None else None))
    return out


@dataclass(frozen=True)
class ForecastGroupRow:
    key: int | None  # the region, company or owner; None for deals without one
    won: Decimal
    commit: Decimal
    best_case: Decimal
    target: Decimal | None


def forecast_by(
    *, user: User, scope: Scope = ORGANIZATION, as_of: dt.date, group: str
) -> list[ForecastGroupRow]:
    """This fiscal quarter per region/company/owner: won, commit, best case vs revenue target."""
    quarter = forecast_quarters(user=user, as_of=as_of)[0]
    key = GROUPS[group][0]
    rows = _forecast_rows(user, scope, as_of, (quarter,), group)
    targets = target_sums(
        user=user, scope=scope, kind=TargetKind.REVENUE, periods=[quarter], group=group
    )
    keys = sorted({r[key] for r in rows} | {k for (_, k) in targets}, key=lambda k: k or 0)
    out = []
    for k in keys:
        cats = {
            r["global_stage__forecast_category"]: money(r["total"]) for r in rows if r[key] == k
        }
        fq = ForecastQuarter(quarter, cats, None)
        target = targets.get((quarter.start, k))
        out.append(
            ForecastGroupRow(
                k, fq.won, fq.commit, fq.best_case, money(target) if target is not None else None
            )
        )
    return out


# --- Won deals: win rate, deal size, sales cycle -------------------------------------------


@dataclass(frozen=True)
class WinStats:
    won: int
    lost: int
    won_amount: Decimal
    win_rate: Decimal | None  # percent of closed deals that were won
    average_deal: Decimal | None
    cycle_days: Decimal | None  # average days from created to won


def _win_aggregates(org: Organization) -> dict[str, Any]:
    won = Q(global_stage__is_won=True)
    return {
        "won": Count("id", filter=won),
        "lost": Count("id", filter=Q(global_stage__is_lost=True)),
        "won_amount": Sum("corporate_amount", filter=won),
        "won_priced": Count("id", filter=won & Q(amount__isnull=False)),
        "cycle": Sum(
            ExpressionWrapper(F("closed_at") - F("created_at"), output_field=DurationField()),
            filter=won,
        ),
        "missing": missing_rate(filter=won),
    }


def _win_stats(org: Organization, r: dict[str, Any]) -> WinStats:
    won, lost = r["won"], r["lost"]
    won_amount = money(r["won_amount"])
    cycle = r["cycle"]
    cycle_days = None
    if won and cycle is not None:
        seconds = Decimal(cycle.days * 86400 + cycle.seconds)
        cycle_days = (seconds / 86400 / won).quantize(ONE_DECIMAL, rounding=ROUND_HALF_EVEN)
    return WinStats(
        won=won,
        lost=lost,
        won_amount=won_amount,
        win_rate=percent(won, won + lost),
        average_deal=money(won_amount / r["won_priced"]) if r["won_priced"] else None,
        cycle_days=cycle_days,
    )


def _closed_qs(user: User, scope: Scope, period: Period) -> QuerySet[Opportunity]:
    org = _organization(user)
    qs = visible_opportunities(user, scope).filter(
        Q(global_stage__is_won=True) | Q(global_stage__is_lost=True), _closed_in(period)
    )
    return with_corporate_amount(qs, org, rate_date=TruncDate("closed_at"))


def win_stats(*, user: User, scope: Scope = ORGANIZATION, period: Period) -> WinStats:
    """Deals closed in ``period``: win rate, won amount, average deal size and sales cycle."""
    org = _organization(user)
    r = _closed_qs(user, scope, period).aggregate(**_win_aggregates(org))
    raise_if_missing(org, [r["missing"]])
    return _win_stats(org, r)


def win_stats_by(
    *, user: User, scope: Scope = ORGANIZATION, period: Period, group: str
) -> dict[int, WinStats]:
    org = _organization(user)
    key = GROUPS[group][0]
    rows = list(
        _closed_qs(user, scope, period).values(key).annotate(**_win_aggregates(org)).order_by()
    )
    raise_if_missing(org, (r["missing"] for r in rows))
    return {r[key]: _win_stats(org, r) for r in rows}


# --- Stage conversion ----------------------------------------------------------------------


@dataclass(frozen=True)
class ConversionRow:
    stage: str
    order: int
    entered: int
    advanced: int
    converted_percent: Decimal | None  # of those entering this stage, share that moved on


def stage_conversion(
    *, user: User, scope: Scope = ORGANIZATION, period: Period
) -> list[ConversionRow]:
    """Per global stage: distinct opportunities that entered it in ``period`` (StageChange), and
    the share of them that later moved on to any later, not lost stage. Counting "moved on"
    rather than "entered the next stage" keeps the share honest when deals skip a stage."""
    changes = StageChange.objects.visible_to(user)
    later = StageChange.objects.for_org(user.organization_id).filter(
        opportunity_id=OuterRef("opportunity_id"),
        to_global_stage__order__gt=OuterRef("to_global_stage__order"),
        to_global_stage__is_lost=False,
        changed_at__gte=OuterRef("changed_at"),
    )
    qs = (
        changes.filter(
            scope.q("opportunity__"),
            changed_at__date__gte=period.start,
            changed_at__date__lt=period.end,
            to_global_stage__is_lost=False,
        )
        .annotate(moved_on=Exists(later))
        .values("to_global_stage__name", "to_global_stage__order", "to_global_stage__is_won")
        .annotate(
            entered=Count("opportunity_id", distinct=True),
            advanced=Count("opportunity_id", distinct=True, filter=Q(moved_on=True)),
        )
        .order_by("to_global_stage__order")
    )
    return [
        ConversionRow(
            stage=r["to_global_stage__name"],
            order=r["to_global_stage__order"],
            entered=r["entered"],
            advanced=r["advanced"],
            # Won is the end of the road: there is nothing to convert to.
            converted_percent=None
            if r["to_global_stage__is_won"]
            else percent(r["advanced"], r["entered"]),
        )
        for r in qs
    ]


# --- New customers -------------------------------------------------------------------------


@dataclass(frozen=True)
class NewCustomers:
    won: int
    target: Decimal | None

    @property
    def attainment(self) -> Decimal | None:
        return percent(self.won, self.target) if self.target else None


def _scoped_accounts(user: User, scope: Scope) -> QuerySet[Account]:
    return Account.objects.visible_to(user).filter(_account_scope_q(user, scope))


def new_customers(*, user: User, scope: Scope = ORGANIZATION, period: Period) -> NewCustomers:
    """Accounts first won in ``period`` (``first_won_at``) against the new-customer target."""
    won = (
        _scoped_accounts(user, scope)
        .filter(first_won_at__date__gte=period.start, first_won_at__date__lt=period.end)
        .count()
    )
    target = target_sums(
        user=user, scope=scope, kind=TargetKind.NEW_CUSTOMERS, periods=[period]
    ).get((period.start, None))
    return NewCustomers(won=won, target=target)


# --- Split credit and target attainment ----------------------------------------------------


@dataclass(frozen=True)
class AttainmentRow:
    party: str  # "company" or "user"
    key: int
    name: str
    target: Decimal | None
    actual: Decimal

    @property
    def attainment(self) -> Decimal | None:
        return percent(self.actual, self.target) if self.target else None


def revenue_credit(
    *, user: User, scope: Scope = ORGANIZATION, period: Period, party: str
) -> dict[int, tuple[str, Decimal]]:
    """Won revenue credited per sales company or person (``party``) for deals closed in
    ``period``: each revenue split gives its percent; a deal without revenue splits gives 100%
    to its owner and booking company. Two queries (split and unsplit deals)."""
    org = _organization(user)
    split_key = "sales_company_id" if party == "company" else "user_id"
    split_name = "sales_company__name" if party == "company" else "user__full_name"
    splits = OpportunitySplit.objects.visible_to(user).filter(
        Q(opportunity__global_stage__is_won=True),
        _closed_in(period, "opportunity__"),
        scope.q(owner_field="user_id"),
        kind=SplitKind.REVENUE,
    )
    priced_splits = with_corporate_amount(
        splits, org, rate_date=TruncDate("opportunity__closed_at"), prefix="opportunity__"
    )
    # Rows keyed by the party's fields, chosen at run time: read as mappings.
    split_rows: list[Mapping[str, Any]] = list(
        priced_splits.values(split_key, split_name)
        .annotate(
            credit=Sum(
                F("corporate_amount") * F("percent") / Value(Decimal(100)), output_field=EXACT
            ),
            missing=missing_rate("opportunity__"),
        )
        .order_by()
    )
    has_split = OpportunitySplit.objects.for_org(org).filter(
        opportunity_id=OuterRef("pk"), kind=SplitKind.REVENUE
    )
    opp_key = "sales_company_id" if party == "company" else "owner_id"
    opp_name = "sales_company__name" if party == "company" else "owner__full_name"
    unsplit = (
        Opportunity.objects.visible_to(user)
        .filter(scope.q(), _closed_in(period), global_stage__is_won=True)
        .filter(~Exists(has_split))
    )
    priced_unsplit = with_corporate_amount(unsplit, org, rate_date=TruncDate("closed_at"))
    unsplit_rows: list[Mapping[str, Any]] = list(
        priced_unsplit.values(opp_key, opp_name)
        .annotate(credit=Sum("corporate_amount"), missing=missing_rate())
        .order_by()
    )
    raise_if_missing(org, [r["missing"] for r in split_rows + unsplit_rows])
    credit: dict[int, tuple[str, Decimal]] = {}
    for rows, key, name in ((split_rows, split_key, split_name), (unsplit_rows, opp_key, opp_name)):
        for r in rows:
            before = credit.get(r[key], (r[name], Decimal(0)))[1]
            credit[r[key]] = (r[name], before + (r["credit"] or Decimal(0)))
    return {k: (n, money(v)) for k, (n, v) in credit.items()}


def target_attainment(
    *, user: User, scope: Scope = ORGANIZATION, period: Period
) -> list[AttainmentRow]:
    """Revenue targets of the period for companies and people in scope, against split credit."""
    # Read by the party's id and name fields, chosen per party below: as mappings.
    targets: list[Mapping[str, Any]] = list(
        Target.objects.visible_to(user)
        .filter(
            Q(sales_company__isnull=False, **_company_scope(scope))
            | Q(user__isnull=False, **_user_scope(scope)),
            kind=TargetKind.REVENUE,
            period_kind=period.kind,
            period_start=period.start,
        )
        .values("sales_company_id", "sales_company__name", "user_id", "user__full_name", "value")
    )
    rows: list[AttainmentRow] = []
    for party in ("company", "user"):
        credit = revenue_credit(user=user, scope=scope, period=period, party=party)
        id_field = "sales_company_id" if party == "company" else "user_id"
        name_field = "sales_company__name" if party == "company" else "user__full_name"
        mine = {t[id_field]: t for t in targets if t[id_field]}
        for key in sorted(set(mine) | set(credit)):
            t = mine.get(key)
            name = t[name_field] if t else credit[key][0]
            actual = credit.get(key, (name, Decimal(0)))[1]
            rows.append(AttainmentRow(party, key, name, money(t["value"]) if t else None, actual))
    return rows


def _company_scope(scope: Scope) -> dict[str, int]:
    if scope.user_id:
        return {"sales_company_id": -1}  # a person's scope has no company targets
    if scope.sales_company_id:
        return {"sales_company_id": scope.sales_company_id}
    if scope.region_id:
        return {"sales_company__region_id": scope.region_id}
    return {}


# --- Conflicts -----------------------------------------------------------------------------


def _open_conflicts(user: User, scope: Scope) -> QuerySet[Conflict]:
    """Open situations the user sees in the scope: a company (or a region's companies) on any
    side, a seller's deals in them."""
    qs = Conflict.objects.visible_to(user).filter(status=ConflictStatus.OPEN)
    sides = ConflictParticipant.objects.for_org(user.organization_id)
    if scope.sales_company_id:
        sides = sides.filter(sales_company_id=scope.sales_company_id)
    elif scope.region_id:
        sides = sides.filter(sales_company__region_id=scope.region_id)
    if scope.user_id:
        sides = sides.filter(seller_id=scope.user_id)
    if scope.sales_company_id or scope.region_id or scope.user_id:
        qs = qs.filter(pk__in=sides.values("conflict_id"))
    return qs


def open_conflicts_by_kind(*, user: User, scope: Scope = ORGANIZATION) -> dict[str, int]:
    qs = _open_conflicts(user, scope)
    return {r["kind"]: r["n"] for r in qs.values("kind").annotate(n=Count("id")).order_by("kind")}


def overdue_conflicts(*, user: User, scope: Scope = ORGANIZATION) -> int:
    """Open situations past the organization's target time to resolve, in the scope (the
    manager's and director's dashboards)."""
    return (
        _open_conflicts(user, scope)
        .filter(created_at__lt=overdue_before(_organization(user)))
        .count()
    )


# --- Data quality --------------------------------------------------------------------------

# The rule (issues, staleness) is opportunities.selectors'; reporting only narrows it to a scope.
OPPORTUNITY_ISSUES = quality.OPPORTUNITY_ISSUES
ACCOUNT_ISSUES = quality.ACCOUNT_ISSUES


def _account_scope_q(user: User, scope: Scope) -> Q:
    q = Q()
    if scope.sales_company_id:
        q &= Q(home_company_id=scope.sales_company_id)
    elif scope.region_id:
        q &= Q(home_company__region_id=scope.region_id)
    if scope.user_id:
        owned = Opportunity.objects.for_org(user.organization_id).filter(owner_id=scope.user_id)
        q &= Q(id__in=owned.values("account_id"))
    return q


def data_quality_opportunities(
    user: User, scope: Scope, as_of: dt.date
) -> QuerySet[WithAnnotations[Opportunity, quality.OpportunityQuality]]:
    """Open opportunities in scope, each annotated with one boolean per issue and has_issue."""
    return quality.data_quality_opportunities(user=user, as_of=as_of, within=scope.q())


def data_quality_accounts(
    user: User, scope: Scope
) -> QuerySet[WithAnnotations[Account, quality.AccountQuality]]:
    return quality.data_quality_accounts(user=user, within=_account_scope_q(user, scope))


@dataclass
class QualityCounts:
    opportunities: int = 0
    opportunities_with_issues: int = 0
    accounts: int = 0
    accounts_with_issues: int = 0
    issues: dict[str, int] = field(default_factory=dict)

    @property
    def records(self) -> int:
        return self.opportunities + self.accounts

    @property
    def with_issues(self) -> int:
        return self.opportunities_with_issues + self.accounts_with_issues

    @property
    def score(self) -> Decimal | None:
        """Percent of checked records (open opportunities and accounts) with no issue."""
        return percent(self.records - self.with_issues, self.records)

    def share(self, issue: str) -> Decimal | None:
        whole = self.accounts if issue in ACCOUNT_ISSUES else self.opportunities
        return percent(self.issues.get(issue, 0), whole)


@dataclass
class DataQuality:
    total: QualityCounts
    by_company: dict[int, tuple[str, QualityCounts]]
    opportunities_to_fix: list[dict[str, Any]]
    accounts_to_fix: list[dict[str, Any]]


def _counts(issues: dict[str, str]) -> dict[str, Count]:
    return {
        "n": Count("id"),
        "any_issue": Count("id", filter=Q(has_issue=True)),
        **{name: Count("id", filter=Q(**{name: True})) for name in issues},
    }


def data_quality(
    *, user: User, scope: Scope = ORGANIZATION, as_of: dt.date, limit: int = 50
) -> DataQuality:
    """Share of open opportunities and accounts with each issue, per company, and the first
    ``limit`` records to fix of each. Five queries."""
    opp_q, acc_q = OPPORTUNITY_ISSUES, ACCOUNT_ISSUES
    opps = data_quality_opportunities(user, scope, as_of)
    accs = data_quality_accounts(user, scope)
    total = QualityCounts()
    by_company: dict[int, tuple[str, QualityCounts]] = {}
    # Counted per issue by name (annotate(**counts)): the rows are read as mappings.
    opp_rows: Iterable[Mapping[str, Any]] = (
        opps.values("sales_company_id", "sales_company__name").annotate(**_counts(opp_q)).order_by()
    )
    acc_rows: Iterable[Mapping[str, Any]] = (
        accs.values("home_company_id", "home_company__name").annotate(**_counts(acc_q)).order_by()
    )
    for r in opp_rows:
        c = by_company.setdefault(
            r["sales_company_id"], (r["sales_company__name"], QualityCounts())
        )[1]
        for counts in (c, total):
            counts.opportunities += r["n"]
            counts.opportunities_with_issues += r["any_issue"]
            for name in opp_q:
                counts.issues[name] = counts.issues.get(name, 0) + r[name]
    for r in acc_rows:
        c = by_company.setdefault(r["home_company_id"], (r["home_company__name"], QualityCounts()))[
            1
        ]
        for counts in (c, total):
            counts.accounts += r["n"]
            counts.accounts_with_issues += r["any_issue"]
            for name in acc_q:
                counts.issues[name] = counts.issues.get(name, 0) + r[name]
    opp_fields = ["id", "name", "sales_company__code", "owner__full_name", *opp_q]
    acc_fields = ["id", "name", "home_company__code", *acc_q]
    return DataQuality(
        total=total,
        by_company=dict(sorted(by_company.items(), key=lambda kv: kv[1][0])),
        opportunities_to_fix=list(
            opps.filter(has_issue=True)
            .values(*opp_fields)
            .order_by("expected_close_date", "id")[:limit]
        ),
        accounts_to_fix=list(
            accs.filter(has_issue=True).values(*acc_fields).order_by("name")[:limit]
        ),
    )


def issue_labels(row: dict[str, Any]) -> list[str]:
    names = {**OPPORTUNITY_ISSUES, **ACCOUNT_ISSUES}
    return [label for key, label in names.items() if row.get(key)]


# --- Snapshots: trend and forecast accuracy ------------------------------------------------


def visible_snapshots(user: User, scope: Scope = ORGANIZATION) -> QuerySet[PipelineSnapshot]:
    qs = PipelineSnapshot.objects.visible_to(user)
    if scope.sales_company_id:
        return qs.filter(sales_company_id=scope.sales_company_id)
    if scope.region_id:
        return qs.filter(sales_company__region_id=scope.region_id)
    return qs


def pipeline_trend(
    *, user: User, scope: Scope = ORGANIZATION, since: dt.date
) -> list[tuple[dt.date, dict[str, Decimal]]]:
    """Snapshot amounts per date and forecast category, oldest first (a person's scope shows
    their companies' trend: snapshots are per company)."""
    rows = (
        visible_snapshots(user, scope)
        .filter(taken_on__gte=since)
        .values("taken_on", "forecast_category")
        .annotate(total=Sum("amount"))
        .order_by("taken_on")
    )
    out: dict[dt.date, dict[str, Decimal]] = {}
    for r in rows:
        out.setdefault(r["taken_on"], {})[r["forecast_category"]] = money(r["total"])
    return list(out.items())


@dataclass(frozen=True)
class ForecastAccuracy:
    taken_on: dt.date
    until: dt.date  # exclusive: end of the fiscal quarter of the snapshot
    committed: Decimal
    won_after: Decimal

    @property
    def accuracy(self) -> Decimal | None:
        return percent(self.won_after, self.committed)


def forecast_accuracy(
    *, user: User, scope: Scope = ORGANIZATION, taken_on: dt.date
) -> ForecastAccuracy:
    """What was in Commit at the snapshot against what was won after it, to the end of that
    fiscal quarter. Two queries."""
    org = _organization(user)
    quarter = fiscal_quarter(org, taken_on)
    committed = (
        visible_snapshots(user, scope)
        .filter(taken_on=taken_on, forecast_category=ForecastCategory.COMMIT)
        .aggregate(total=Sum("amount"))["total"]
    )
    after = Period(PeriodKind.QUARTER, taken_on + dt.timedelta(days=1), quarter.end, "")
    won = with_corporate_amount(
        visible_opportunities(user, scope).filter(_closed_in(after), global_stage__is_won=True),
        org,
        rate_date=TruncDate("closed_at"),
    ).aggregate(total=Sum("corporate_amount"), missing=missing_rate())
    raise_if_missing(org, [won["missing"]])
    return ForecastAccuracy(taken_on, quarter.end, money(committed), money(won["total"]))
