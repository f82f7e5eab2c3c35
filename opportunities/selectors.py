"""Reads of opportunities: lists, the board, money in the corporate currency, and campaign
suppression. Every read takes the acting user and goes through ``crm.visibility``; lists are one
query (plus a constant few), whatever the number of rows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypedDict, cast

from django.db.models import (
    BooleanField,
    Case,
    Count,
    DateField,
    Exists,
    ExpressionWrapper,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import Account, Activity, ActivityKind
from crm.models import Organization, Region, SalesCompany, User
from crm.money import MissingExchangeRateError, money, rate_on, to_corporate, to_corporate_exact
from crm.registry import access_by_id
from crm.visibility import visible_companies
from opportunities.models import Conflict, Opportunity, StageChange
from pipeline.models import LocalStage, SalesProcess

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

_LIST_RELATED = ("account", "sales_company", "owner", "local_stage", "global_stage")


def open_q(prefix: str = "") -> Q:
    return Q(**{f"{prefix}global_stage__is_won": False, f"{prefix}global_stage__is_lost": False})


def opportunity_list(
    *,
    user: User,
    region: Region | int | None = None,
    sales_company: SalesCompany | int | None = None,
    owner: User | int | None = None,
    account: Any = None,
    global_stage: Any = None,
    local_stage: Any = None,
    is_open: bool | None = None,
    closing_from: dt.date | None = None,
    closing_to: dt.date | None = None,
    search: str = "",
) -> QuerySet[Opportunity]:
    """The opportunities the user sees, filtered, with what a list row shows joined in."""
    qs = Opportunity.objects.visible_to(user).select_related(*_LIST_RELATED)
    if region is not None:
        # The region's companies as ids: the deal's own index on sales_company, no join.
        companies = SalesCompany.objects.for_org(user.organization_id).filter(region=region)
        qs = qs.filter(sales_company_id__in=companies.values("id"))
    if sales_company is not None:
        qs = qs.filter(sales_company=sales_company)
    if owner is not None:
        qs = qs.filter(owner=owner)
    if account is not None:
        qs = qs.filter(account=account)
    if global_stage is not None:
        qs = qs.filter(global_stage=global_stage)
    if local_stage is not None:
        qs = qs.filter(local_stage=local_stage)
    if is_open is not None:
        qs = qs.filter(open_q()) if is_open else qs.exclude(open_q())
    if closing_from is not None:
        qs = qs.filter(expected_close_date__gte=closing_from)
    if closing_to is not None:
        qs = qs.filter(expected_close_date__lte=closing_to)
    if search.strip():
        term = search.strip()
        qs = qs.filter(Q(name__icontains=term) | Q(account__name__icontains=term))
    return qs.order_by("-created_at", "-id")


def access_opportunity_by_id(user: User, pk: object) -> Opportunity:
    """One opportunity the user may see; 404 for missing, foreign and invisible alike."""
    return access_by_id(
        Opportunity.objects.visible_to(user).select_related(*_LIST_RELATED, "campaign"), pk
    )


_CONFLICT_RELATED = (
    "organization",
    "account__group",
    "account__home_company",
    "other_account",
    "sales_company",
    "opportunity__owner",
    "opportunity__sales_company",
    "product",
    "agreement",
    "resolved_by",
)


def access_conflict_by_id(user: User, pk: object) -> Conflict:
    """One conflict the user may see, with what its page and its warning show joined in."""
    return access_by_id(Conflict.objects.visible_to(user).select_related(*_CONFLICT_RELATED), pk)


def stage_history(*, user: User, opportunity: Opportunity) -> QuerySet[StageChange]:
    return (
        StageChange.objects.visible_to(user)
        .filter(opportunity=opportunity)
        .select_related(
            "from_local_stage", "to_local_stage", "from_global_stage", "to_global_stage"
        )
        .select_related("changed_by")
        .order_by("changed_at", "id")
    )


# --- Money ---------------------------------------------------------------------------------------


def conversion_date(opportunity: Opportunity) -> dt.date:
    """The date whose rate values the deal: when it closed, else when it is expected to."""
    if opportunity.closed_at is not None:
        return timezone.localdate(opportunity.closed_at)
    return opportunity.expected_close_date or timezone.localdate()


def opportunity_amount_corporate(
    *, opportunity: Opportunity, organization: Organization | None = None
) -> Decimal | None:
    """The amount in the corporate currency at the conversion date; ``None`` if no amount.

    A missing rate raises ``crm.money.MissingExchangeRateError`` (naming currency and date)."""
    if opportunity.amount is None:
        return None
    org = organization or Organization.objects.get(pk=opportunity.organization_id)
    return to_corporate(
        organization=org,
        amount=opportunity.amount,
        currency=opportunity.currency,
        on_date=conversion_date(opportunity),
    )


def _conversion_date_expr() -> Any:
    # The same rule as conversion_date(), in SQL, so totals group by (currency, date) there.
    return Case(
        When(closed_at__isnull=False, then=TruncDate("closed_at")),
        When(expected_close_date__isnull=False, then="expected_close_date"),
        default=Value(timezone.localdate(), output_field=DateField()),
        output_field=DateField(),
    )


def total_corporate(
    qs: QuerySet[Opportunity], *, organization: Organization
) -> tuple[Decimal, int]:
    """Sum of amounts in the corporate currency, and the count of opportunities in ``qs``.

    Summed in SQL per (currency, conversion date); only those groups are converted here, so the
    work is bounded by the number of distinct currencies and dates, not of opportunities."""
    groups = (
        qs.filter(amount__isnull=False)
        .annotate(on_date=_conversion_date_expr())
        .values("currency", "on_date")
        .annotate(total=Sum("amount"), n=Count("id"))
        .order_by()
    )
    total, count = Decimal(0), 0
    for row in groups:
        # Exact per group, rounded once on the total: crm.money's one rule, as in SQL.
        total += to_corporate_exact(
            organization=organization,
            amount=row["total"],
            currency=row["currency"],
            on_date=row["on_date"],
        )
        count += row["n"]
    return money(total), count


# --- Board ---------------------------------------------------------------------------------------


@dataclass
class BoardColumn:
    stage: LocalStage
    opportunities: list[Opportunity] = field(default_factory=list)
    count: int = 0
    # In the board company's currency at today's rates; None when a rate it needs is missing.
    total: Decimal | None = Decimal(0)
    currency: str = ""
    missing_rate: str = ""  # which rate is missing (the reader's language), if one is


@dataclass(frozen=True)
class BoardOutcome:
    """A closing drop target of the board: the process's first won or first lost stage."""

    kind: str  # "won" or "lost"
    stage: LocalStage


def board_companies(user: User) -> QuerySet[SalesCompany]:
    """The companies whose board the user may pick: in his scope and with a sales process (a
    company without one has no board to show)."""
    with_process = SalesProcess.objects.visible_to(user).values("sales_company_id")
    return visible_companies(user).filter(pk__in=with_process).order_by("code")


def board_columns(*, user: User, sales_company: SalesCompany | None = None) -> list[BoardColumn]:
    """The open stages of a company's process (default: the user's) with the visible open
    opportunities in each, and each column's total in the company's currency. A missing rate
    leaves that column's total unknown (``missing_rate`` says which), never the page broken."""
    company = sales_company or user.sales_company
    if company is None or company.organization_id != user.organization_id:
        return []
    stages = list(
        LocalStage.objects.visible_to(user)
        .filter(process__sales_company=company)
        .filter(global_stage__is_won=False, global_stage__is_lost=False)
        .select_related("global_stage")
        .order_by("order")
    )
    columns = {s.pk: BoardColumn(stage=s, currency=company.currency) for s in stages}
    visible = Opportunity.objects.visible_to(user).filter(local_stage_id__in=list(columns))
    for opp in visible.select_related(*_LIST_RELATED).order_by("expected_close_date", "id"):
        columns[opp.local_stage_id].opportunities.append(opp)
    # Totals in SQL per (stage, currency); converted once per currency via the corporate one.
    today = timezone.localdate()
    org = company.organization
    sums = (
        visible.filter(amount__isnull=False)
        .values("local_stage_id", "currency")
        .annotate(total=Sum("amount"), n=Count("id"))
        .order_by()
    )
    company_rate = None
    for row in sums:
        col = columns[row["local_stage_id"]]
        col.count += row["n"]
        if col.missing_rate:
            continue
        assert col.total is not None  # only None after a missing rate, skipped above
        if row["currency"] == company.currency:
            col.total += row["total"]
            continue
        try:
            if company_rate is None:
                company_rate = rate_on(organization=org, currency=company.currency, on_date=today)
            corporate = to_corporate_exact(
                organization=org, amount=row["total"], currency=row["currency"], on_date=today
            )
        except MissingExchangeRateError as exc:
            col.missing_rate = exc.user_message
            continue
        col.total += corporate / company_rate
    counts = (
        visible.filter(amount__isnull=True).values("local_stage_id").annotate(n=Count("id"))
    ).order_by()
    for count in counts:
        columns[count["local_stage_id"]].count += count["n"]
    for col in columns.values():
        col.total = None if col.missing_rate or col.total is None else money(col.total)
    return list(columns.values())


def board_outcomes(*, user: User, sales_company: SalesCompany) -> list[BoardOutcome]:
    """Where a card is dropped to close it: the first won and the first lost stage of the
    company's process (by order), won first; a process without one has no such target."""
    closing = (
        LocalStage.objects.visible_to(user)
        .filter(process__sales_company=sales_company)
        .filter(Q(global_stage__is_won=True) | Q(global_stage__is_lost=True))
        .select_related("global_stage")
        .order_by("order", "pk")
    )
    found: dict[str, LocalStage] = {}
    for stage in closing:
        found.setdefault("won" if stage.global_stage.is_won else "lost", stage)
    return [BoardOutcome(kind=k, stage=found[k]) for k in ("won", "lost") if k in found]


# --- Data quality --------------------------------------------------------------------------------

# The one rule of what is wrong with a record, read by the data-quality page, the dashboard's KPI
# and the export alike (reporting imports it: it is above opportunities).
STALE_AFTER_DAYS = 30
OPPORTUNITY_ISSUES: dict[str, str] = {
    "no_amount": "missing amount",
    "no_close_date": "missing close date",
    "no_next_step": "missing next step",
    "close_in_past": "close date in the past",
    "stale": "no activity in 30 days",
}
ACCOUNT_ISSUES: dict[str, str] = {
    "no_country": "missing country",
    "no_registration": "missing registration number",
}


def stale_since(as_of: dt.date) -> dt.datetime:
    """The start (UTC) of the day ``STALE_AFTER_DAYS`` before ``as_of``: an activity that
    happened since then keeps a deal fresh, and a deal created since then is not stale yet."""
    return dt.datetime.combine(as_of - dt.timedelta(days=STALE_AFTER_DAYS), dt.time.min, dt.UTC)


def opportunity_issues(as_of: dt.date) -> dict[str, Q]:
    """Each issue of an open opportunity as a filter (``stale`` needs ``has_recent_activity``,
    which ``data_quality_opportunities`` annotates). A deal younger than the window has had
    no chance to go stale."""
    return {
        "no_amount": Q(amount__isnull=True),
        "no_close_date": Q(expected_close_date__isnull=True),
        "no_next_step": Q(next_step=""),
        "close_in_past": Q(expected_close_date__lt=as_of),
        "stale": Q(has_recent_activity=False, created_at__lt=stale_since(as_of)),
    }


def account_issues() -> dict[str, Q]:
    return {"no_country": Q(country=""), "no_registration": Q(registration_number="")}


def any_issue(issues: dict[str, Q]) -> Q:
    out = Q()
    for q in issues.values():
        out |= q
    return out


class OpportunityQuality(TypedDict):
    """The annotations of ``data_quality_opportunities``: OPPORTUNITY_ISSUES' flags and more."""

    has_recent_activity: bool
    no_amount: bool
    no_close_date: bool
    no_next_step: bool
    close_in_past: bool
    stale: bool
    has_issue: bool


class AccountQuality(TypedDict):
    """The annotations of ``data_quality_accounts``: ACCOUNT_ISSUES' flags and ``has_issue``."""

    no_country: bool
    no_registration: bool
    has_issue: bool


def _flags(issues: dict[str, Q]) -> dict[str, ExpressionWrapper[Q]]:
    return {
        **{name: ExpressionWrapper(q, output_field=BooleanField()) for name, q in issues.items()},
        "has_issue": ExpressionWrapper(any_issue(issues), output_field=BooleanField()),
    }


def data_quality_opportunities(
    *, user: User, as_of: dt.date, within: Q | None = None
) -> QuerySet[WithAnnotations[Opportunity, OpportunityQuality]]:
    """The open opportunities the user may see (narrowed by ``within``), each annotated with
    one boolean per issue of ``OPPORTUNITY_ISSUES`` and ``has_issue``.

    Stale: nothing happened on the deal or on its account (``happened_at``, not when it was
    entered) since the start (UTC) of the day ``STALE_AFTER_DAYS`` before ``as_of``, up to the
    end of ``as_of``, and the deal is older than that — any activity counts, seen by the viewer
    or not; an open task has not happened. Two ``EXISTS`` (deal, account), each an index probe
    (``activity_org_opp_idx``, ``activity_org_acc_idx``) rather than one ``OR`` over both."""
    qs = Opportunity.objects.visible_to(user)
    if within is not None:
        qs = qs.filter(within)
    return with_quality_flags(qs, organization_id=user.organization_id, as_of=as_of)


def with_quality_flags(
    qs: QuerySet[Opportunity], *, organization_id: int, as_of: dt.date
) -> QuerySet[WithAnnotations[Opportunity, OpportunityQuality]]:
    """The open opportunities of ``qs`` annotated with the issue flags (the rule above, for
    callers that scope the deals themselves, e.g. the organization-wide deviation check)."""
    since = stale_since(as_of)
    until = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time.min, dt.UTC)
    happened = (
        Activity.objects.for_org(organization_id)
        .filter(happened_at__gte=since, happened_at__lt=until)
        .exclude(kind=ActivityKind.TASK, done_at__isnull=True)
    )
    on_deal = happened.filter(opportunity_id=OuterRef("pk"))
    on_account = happened.filter(account_id=OuterRef("account_id"))
    qs = qs.filter(global_stage__is_won=False, global_stage__is_lost=False)
    flagged = qs.annotate(
        has_recent_activity=ExpressionWrapper(
            Q(Exists(on_deal)) | Q(Exists(on_account)), output_field=BooleanField()
        )
    ).annotate(**_flags(opportunity_issues(as_of)))
    # annotate(**flags) names its fields at run time; OpportunityQuality names them for mypy.
    return cast("QuerySet[WithAnnotations[Opportunity, OpportunityQuality]]", flagged)


def data_quality_accounts(
    *, user: User, within: Q | None = None
) -> QuerySet[WithAnnotations[Account, AccountQuality]]:
    """The accounts the user may see (narrowed by ``within``), each annotated with one boolean
    per issue of ``ACCOUNT_ISSUES`` and ``has_issue``."""
    qs = Account.objects.visible_to(user)
    if within is not None:
        qs = qs.filter(within)
    # As above: AccountQuality names the flags annotate(**flags) adds.
    return cast(
        "QuerySet[WithAnnotations[Account, AccountQuality]]",
        qs.annotate(**_flags(account_issues())),
    )
