"""Reads of a customer's business, which need its opportunities: the 360° of an account group,
account plan progress, and framework agreement terms (won volume, tier position).

Above ``accounts`` in the layers (they read accounts and deals together). Money is converted in
SQL by the kernel's one conversion (``crm.money.with_corporate_amount``), with the rate valid on
the relevant date (a won deal: the day it closed; open pipeline: the day asked about): exact per
deal, each total rounded half-even to the cent. A missing rate raises
``MissingExchangeRateError`` naming the currency and date; it never counts as 1.0.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import defaultdict, namedtuple
from collections.abc import Callable, Collection, Hashable
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING, Any, TypedDict

from django.contrib.postgres.aggregates import JSONBAgg
from django.contrib.postgres.expressions import ArraySubquery
from django.db import DEFAULT_DB_ALIAS
from django.db.models import (
    Case,
    Count,
    DateField,
    DateTimeField,
    DurationField,
    Exists,
    Expression,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    TextField,
    Value,
    When,
    prefetch_related_objects,
)
from django.db.models.functions import Cast, JSONObject, TruncDate
from django.http import Http404
from django.utils import timezone

from accounts.models import (
    Account,
    AccountPlan,
    AccountTeamMember,
    ActionStatus,
    Activity,
    AgreementCompany,
    Contact,
    DiscountTier,
    FrameworkAgreement,
)
from accounts.selectors import (
    TimelinePage,
    timeline_number,
    timeline_page,
    timeline_queryset,
)
from accounts.value import may_see_customer_value
from crm.db.compiled import CompiledQuery, cached_statement, read_ahead
from crm.ids import MAX_ID, parse_id
from crm.models import Organization, SalesCompany, User
from crm.money import missing_rate, money, raise_if_missing, with_corporate_amount
from crm.registry import access_by_id
from crm.tenancy import TenantQuerySet
from crm.visibility import (
    USER_VALUES,
    UserShape,
    compiled_per_shape,
    stand_in_user,
    user_shape,
    user_values,
)
from opportunities.models import Conflict, ConflictStatus, Opportunity

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

ZERO = Decimal("0.00")


def _won_date() -> Expression:
    return TruncDate("closed_at")


def _opportunities(organization: Organization) -> TenantQuerySet[Opportunity]:
    return Opportunity.objects.for_org(organization)


def _won_corporate_sum(
    qs: QuerySet[Any], *, organization_id: int, corporate_currency: Any
) -> QuerySet[Any, Any]:
    """The won deals' exact sum in the corporate currency, each at the rate of its closing day,
    and the first missing rate (``missing_rate``), as one row (total, missing). A queryset, not
    ``aggregate()``: an aggregate over a constant has no GROUP BY and always gives one row, and
    a queryset can be compiled once (``crm.db.compiled``)."""
    converted = with_corporate_amount(
        qs.filter(global_stage__is_won=True),
        None,
        rate_date=_won_date(),
        organization_id=organization_id,
        corporate_currency=corporate_currency,
    )
    return (
        converted.order_by()
        .annotate(_all=Value(1, output_field=IntegerField()))
        .values("_all")
        .annotate(total=Sum("corporate_amount"), missing=missing_rate())
        .values_list("total", "missing")
    )


def _won_money(organization: Organization, row: tuple[Any, Any]) -> Decimal:
    """The total of a ``_won_corporate_sum`` row, rounded once (``crm.money``'s one rule); a
    missing rate raises, naming it."""
    total, missing = row
    raise_if_missing(organization, [missing])
    return money(total)


def _won_corporate_total(qs: QuerySet[Any], organization: Organization) -> Decimal:
    """Sum of won amounts in the corporate currency, each at the rate of its closing day,
    exact per deal and rounded half-even once on the total (``crm.money``'s one rule)."""
    (row,) = _won_corporate_sum(
        qs, organization_id=organization.pk, corporate_currency=organization.corporate_currency
    )
    return _won_money(organization, row)


@dataclass(frozen=True)
class PlanProgress:
    plan: AccountPlan
    target: Decimal
    won_ytd: Decimal
    open_actions: int
    overdue_actions: int

    @property
    def percent(self) -> Decimal:
        if not self.target:
            return Decimal(0)
        return (self.won_ytd * 100 / self.target).quantize(Decimal("0.1"))


class _ActionCounts(TypedDict):
    open_actions: int
    overdue_actions: int


def _plans_with_counts(
    user: User, today: dt.date
) -> QuerySet[WithAnnotations[AccountPlan, _ActionCounts]]:
    return (
        AccountPlan.objects.visible_to(user)
        .select_related("owner")
        .annotate(
            open_actions=Count("actions", filter=Q(actions__status=ActionStatus.OPEN)),
            overdue_actions=Count(
                "actions",
                filter=Q(actions__status=ActionStatus.OPEN, actions__due_date__lt=today),
            ),
        )
    )


def _won_ytd(
    *, user: User, organization: Organization, group_id: int, year: int, today: dt.date
) -> Decimal:
    start = dt.date(year, 1, 1)
    end = min(today, dt.date(year, 12, 31))
    qs = (
        _opportunities(organization)
        .visible_to(user)
        .filter(account__group_id=group_id, closed_at__date__gte=start, closed_at__date__lte=end)
    )
    return _won_corporate_total(qs, organization)


def plan_progress(*, user: User, plan: AccountPlan, today: dt.date | None = None) -> PlanProgress:
    """Won revenue of the group year-to-date (the plan's year, in the corporate currency, of
    the opportunities the user may see) against the target, and open and overdue actions."""
    today = today or timezone.localdate()
    row: WithAnnotations[AccountPlan, _ActionCounts] = access_by_id(
        _plans_with_counts(user, today), plan.pk
    )
    return PlanProgress(
        plan=row,
        target=row.revenue_target,
        won_ytd=_won_ytd(
            user=user,
            organization=Organization.objects.get(pk=row.organization_id),
            group_id=row.account_id,
            year=row.year,
            today=today,
        ),
        open_actions=row.open_actions,
        overdue_actions=row.overdue_actions,
    )


@dataclass(frozen=True)
class AgreementTerms:
    agreement: FrameworkAgreement
    covered_company_ids: frozenset[int]
    tiers: list[DiscountTier]
    won_volume: Decimal
    current_tier: DiscountTier | None
    next_tier: DiscountTier | None

    @property
    def discount_percent(self) -> Decimal:
        return self.current_tier.discount_percent if self.current_tier else Decimal(0)

    @property
    def gap_to_next(self) -> Decimal | None:
        """Volume still to win for the next tier; ``None`` at the top tier."""
        return self.next_tier.threshold - self.won_volume if self.next_tier else None


def tier_position(
    tiers: list[DiscountTier], volume: Decimal
) -> tuple[DiscountTier | None, DiscountTier | None]:
    """(current, next): the highest tier whose threshold the volume has reached, and the first
    one above. Tiers are ordered by threshold. A threshold reached exactly counts as reached."""
    current = next_tier = None
    for tier in tiers:
        if tier.threshold <= volume:
            current = tier
        else:
            next_tier = tier
            break
    return current, next_tier


# Wider than the distance between any two zones' midnights (UTC-12 to UTC+14: 26 hours).
_ZONE_MARGIN_DAYS = 2
_ONE_DAY = Value(dt.timedelta(days=1), output_field=DurationField())


def _volume_query(
    organization_id: int,
    corporate_currency: Any,
    group_id: int,
    agreement_id: int,
    valid_from: dt.date,
    end: dt.date,
) -> QuerySet[Any, Any]:
    """``agreement_volume``'s one statement: the group's won deals booked by a covered company
    and closed inside the window, summed at closing-day rates.

    The group is the deals' own copy of it (``account_group_id``, kept by the database), and the
    closing time is also bounded by a range two days wider than the window on each side: the
    closing *date* is taken in the user's zone, which no index can hold, and the range (wider
    than any zone's offset) lets ``opp_org_group_closed_idx`` read only the window's deals, from
    the index alone. The date conditions still decide. (Through the accounts it walked all of a
    200-subsidiary group's thousand deals: 1.2-2.1 ms at 1M; 0.2-0.9 ms now.)"""
    covered = (
        AgreementCompany.objects.for_org(organization_id)
        .filter(agreement_id=agreement_id)
        .values("sales_company_id")
    )
    margin = Value(dt.timedelta(days=_ZONE_MARGIN_DAYS), output_field=DurationField())
    qs = Opportunity.objects.for_org(organization_id).filter(
        account_group_id=group_id,
        sales_company_id__in=covered,
        closed_at__date__gte=valid_from,
        closed_at__date__lte=end,
        closed_at__gte=Cast(Value(valid_from, DateField()), DateTimeField()) - margin,
        closed_at__lt=Cast(Value(end, DateField()), DateTimeField()) + margin + _ONE_DAY,
    )
    return _won_corporate_sum(
        qs, organization_id=organization_id, corporate_currency=corporate_currency
    )


# Built once per process (a save under an agreement runs it): building the conversion's
# subqueries cost more CPU than PostgreSQL needs for the sum. The corporate currency is a named
# value: organizations of one process differ in it.
_VOLUME = CompiledQuery(
    _volume_query,
    "organization_id",
    "corporate_currency",
    "group_id",
    "agreement_id",
    "valid_from",
    "end",
    scope="organization_id",
    dates=("valid_from", "end"),
)


def agreement_volume(
    *,
    agreement: FrameworkAgreement,
    up_to: dt.date | None = None,
    organization: Organization | None = None,
) -> Decimal:
    """Won volume under the agreement: won opportunities on any account of the group, booked by
    a covered company, closed inside the validity window (and not after ``up_to``), in the
    corporate currency at each deal's closing-day rate. One SQL aggregate."""
    if organization is None:
        organization = Organization.objects.get(pk=agreement.organization_id)
    end = min(agreement.valid_to, up_to) if up_to else agreement.valid_to
    (row,) = _VOLUME.rows(
        organization_id=organization.pk,
        corporate_currency=organization.corporate_currency,
        group_id=agreement.account_id,
        agreement_id=agreement.pk,
        valid_from=agreement.valid_from,
        end=end,
    )
    return _won_money(organization, row)


def agreement_for_account(
    *,
    account: Account,
    on_date: dt.date,
    booking_company: SalesCompany | None = None,
    organization: Organization | None = None,
) -> AgreementTerms | None:
    """Which agreement applies to this account on ``on_date``, and on what terms.

    An agreement of the account's group, valid on the date, covering the account's home
    company or the company booking the deal. For the opportunity form and the conflict checks
    (system reads: the terms apply whoever looks). The most recently started one wins if two
    overlap.
    """
    agreement = covering_agreement(
        account=account, on_date=on_date, booking_company=booking_company
    )
    if agreement is None:
        return None
    return agreement_terms(agreement, on_date, organization=organization)


@dataclass(frozen=True)
class Covering:
    """An agreement covering a customer, with its tiers (by threshold) and covered companies:
    what the save's agreement rule reads of it."""

    agreement: FrameworkAgreement
    tiers: list[DiscountTier]
    covered_company_ids: frozenset[int]


_AGREEMENT_FIELDS = [f.attname for f in FrameworkAgreement._meta.concrete_fields]
_TIER_FIELDS = ["id", "organization_id", "agreement_id", "threshold", "discount_percent"]


def _covering_query(
    organization_id: int, group_id: int, on_date: dt.date, company_ids: list[int]
) -> QuerySet[Any, Any]:
    """``covering``'s one statement: the group's agreements valid on the date that cover one of
    ``company_ids``, newest first, each with its tiers and covered companies as arrays."""
    return _agreements_covering(organization_id, Q(account_id=group_id), on_date, company_ids)


def _agreements_covering(
    organization_id: int, where: Q, on_date: dt.date, company_ids: list[int]
) -> QuerySet[Any, Any]:
    """The agreements ``where`` selects as ``_covering_query`` reads them."""
    tiers = (
        DiscountTier.objects.for_org(organization_id)
        .filter(agreement_id=OuterRef("pk"))
        .order_by("threshold", "pk")
        # Decimals as text: JSON numbers come back as floats.
        .values(
            row=JSONObject(
                id="id",
                threshold=Cast("threshold", TextField()),
                discount=Cast("discount_percent", TextField()),
            )
        )
    )
    companies = AgreementCompany.objects.for_org(organization_id).filter(
        agreement_id=OuterRef("pk")
    )
    return (
        FrameworkAgreement.objects.for_org(organization_id)
        .filter(
            Exists(companies.filter(sales_company_id__any_of=company_ids)),
            where,
            valid_from__lte=on_date,
            valid_to__gte=on_date,
        )
        .order_by("-valid_from", "-pk")
        .annotate(
            covering_tiers=ArraySubquery(tiers),
            covering_companies=ArraySubquery(
                companies.order_by("sales_company_id").values("sales_company_id")
            ),
        )
        .values_list(*_AGREEMENT_FIELDS, "covering_tiers", "covering_companies")
    )


# Built once per process: a save with lines reads it (the agreement rule and the trade rules'
# double agreement), and its build cost more CPU than its three small index reads.
_COVERING = CompiledQuery(
    _covering_query,
    "organization_id",
    "group_id",
    "on_date",
    "company_ids",
    scope="organization_id",
    dates=("on_date",),
    arrays=("company_ids",),
)


def _covering_from_row(row: tuple[Any, ...]) -> Covering:
    *fields, tiers, companies = row
    agreement = FrameworkAgreement.from_db(DEFAULT_DB_ALIAS, _AGREEMENT_FIELDS, fields)
    return Covering(
        agreement=agreement,
        tiers=[
            DiscountTier.from_db(
                DEFAULT_DB_ALIAS,
                _TIER_FIELDS,
                (
                    t["id"],
                    agreement.organization_id,
                    agreement.pk,
                    Decimal(t["threshold"]),
                    Decimal(t["discount"]),
                ),
            )
            for t in tiers
        ],
        covered_company_ids=frozenset(companies),
    )


def covering(
    *, account: Account, on_date: dt.date, booking_company_id: int | None = None
) -> list[Covering]:
    """Every agreement covering the account on ``on_date``, newest first, with its tiers and
    covered companies (one query): of its group, valid on the date, covering its home company
    or the booking company. The first is the one that applies; a second means two agreements
    cover the customer (the trade rules' double agreement)."""
    query, values = covering_read(
        account=account, on_date=on_date, booking_company_id=booking_company_id
    )
    return [_covering_from_row(row) for row in query.rows(**values)]


def covering_read(
    *, account: Account, on_date: dt.date, booking_company_id: int | None = None
) -> tuple[CompiledQuery, dict[str, Any]]:
    """The statement (and its values) ``covering`` runs: for a save to read it ahead with
    others (``crm.db.compiled.read_ahead``)."""
    company_ids = {account.home_company_id}
    if booking_company_id is not None:
        company_ids.add(booking_company_id)
    return _COVERING, {
        "organization_id": account.organization_id,
        "group_id": account.group_id or account.pk,
        "on_date": on_date,
        "company_ids": sorted(company_ids),
    }


def covering_many(
    *, organization_id: int, wanted: Collection[tuple[Account, int]], on_date: dt.date
) -> dict[tuple[int, int], list[Covering]]:
    """``covering`` for many (account, booking company) pairs in one query (an import checks a
    chunk's deals together): the agreements of all their groups valid on the date that cover
    any of their companies; each pair gets those of its group that cover its account's home
    company or its booking company, newest first, as its own ``covering`` would."""
    if not wanted:
        return {}
    groups = sorted({account.group_id or account.pk for account, _c in wanted})
    companies = sorted({c for account, b in wanted for c in (account.home_company_id, b)})
    by_group: dict[int, list[Covering]] = defaultdict(list)
    for row in _agreements_covering(
        organization_id, Q(account_id__any_of=groups), on_date, companies
    ):
        found = _covering_from_row(row)
        by_group[found.agreement.account_id].append(found)
    return {
        (account.pk, booking): [
            c
            for c in by_group[account.group_id or account.pk]
            if c.covered_company_ids & {account.home_company_id, booking}
        ]
        for account, booking in wanted
    }


def agreement_volumes(
    organization: Organization, agreements: Collection[Covering], up_to: dt.date
) -> dict[int, Decimal]:
    """``agreement_volume(up_to=…)`` for many agreements in one query: the won deals of all
    their groups booked by a covered company, summed in SQL per (group, company, closing day)
    at closing-day rates (exact), then per agreement over its companies and window here
    (exact as well: the context has the digits), rounded once (``money``)."""
    if not agreements:
        return {}
    windows = {
        c.agreement.pk: (
            c.agreement.account_id,
            c.covered_company_ids,
            c.agreement.valid_from,
            min(c.agreement.valid_to, up_to),
        )
        for c in agreements
    }
    # As ``_volume_query``: the deals' own copy of the group and a closing-time range two days
    # wider than the window let ``opp_org_group_closed_idx`` read only the groups' deals of the
    # window (through the accounts, PostgreSQL walked every won deal of the window and joined
    # each to its account: 1.5-1.8 s per import chunk of 1,000 deals at 1M).
    first, last = min(w[2] for w in windows.values()), max(w[3] for w in windows.values())
    margin = dt.timedelta(days=_ZONE_MARGIN_DAYS)
    qs = Opportunity.objects.for_org(organization).filter(
        account_group_id__any_of=sorted({w[0] for w in windows.values()}),
        sales_company_id__any_of=sorted(set().union(*(w[1] for w in windows.values()))),
        closed_at__date__gte=first,
        closed_at__date__lte=last,
        closed_at__gte=dt.datetime.combine(first, dt.time(), dt.UTC) - margin,
        closed_at__lt=dt.datetime.combine(last, dt.time(), dt.UTC) + margin + dt.timedelta(days=1),
        global_stage__is_won=True,
    )
    by_group: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for group, *row in (
        with_corporate_amount(qs, organization, rate_date=_won_date())
        .order_by()
        .values("account__group_id", "sales_company_id", "rate_date")
        .annotate(total=Sum("corporate_amount"), missing=missing_rate())
        .values_list("account__group_id", "sales_company_id", "rate_date", "total", "missing")
    ):
        by_group[group].append(tuple(row))
    found = {}
    for pk, (group_id, covered, valid_from, end) in windows.items():
        mine = [
            (total, missing)
            for company, day, total, missing in by_group[group_id]
            if company in covered and valid_from <= day <= end
        ]
        with localcontext() as exact:
            exact.prec = 200
            totals = [total for total, _m in mine if total is not None]
            total = sum(totals, Decimal(0)) if totals else None
        missed = [m for _t, m in mine if m]
        found[pk] = _won_money(organization, (total, min(missed) if missed else None))
    return found


def covering_agreements(
    *, account: Account, on_date: dt.date, booking_company_id: int | None = None
) -> list[FrameworkAgreement]:
    """``covering``'s agreements alone (one query)."""
    return [
        c.agreement
        for c in covering(account=account, on_date=on_date, booking_company_id=booking_company_id)
    ]


def covering_agreement(
    *, account: Account, on_date: dt.date, booking_company: SalesCompany | None = None
) -> FrameworkAgreement | None:
    """``agreement_for_account``'s choice of agreement alone (one query), for a caller that may
    not need the terms."""
    found = covering_agreements(
        account=account,
        on_date=on_date,
        booking_company_id=booking_company.pk if booking_company is not None else None,
    )
    return found[0] if found else None


def agreement_tiers(agreement: FrameworkAgreement) -> list[DiscountTier]:
    return list(DiscountTier.objects.for_org(agreement.organization_id).filter(agreement=agreement))


def agreement_terms(
    agreement: FrameworkAgreement,
    on_date: dt.date,
    *,
    tiers: list[DiscountTier] | None = None,
    covered: frozenset[int] | None = None,
    organization: Organization | None = None,
    volume: Decimal | None = None,
) -> AgreementTerms:
    """The agreement's terms on ``on_date``: its tiers, covered companies and won volume (each
    read unless given: ``volume`` as ``agreement_volume`` or ``agreement_volumes`` gives it)."""
    if tiers is None:
        tiers = agreement_tiers(agreement)
    if covered is None:
        covered = frozenset(
            AgreementCompany.objects.for_org(agreement.organization_id)
            .filter(agreement=agreement)
            .values_list("sales_company_id", flat=True)
        )
    if volume is None:
        volume = agreement_volume(agreement=agreement, up_to=on_date, organization=organization)
    current, next_tier = tier_position(tiers, volume)
    return AgreementTerms(
        agreement=agreement,
        covered_company_ids=covered,
        tiers=tiers,
        won_volume=volume,
        current_tier=current,
        next_tier=next_tier,
    )


def agreement_terms_in_360(
    view: Account360, *, on_date: dt.date, booking_company: SalesCompany | None = None
) -> AgreementTerms | None:
    """``agreement_for_account`` for the account of a 360° view, chosen by the same rule among
    the agreements the view already holds (tiers and companies prefetched): one query, the won
    volume, instead of six. The view shows every agreement of the group once its top is
    visible, so the choice is the same as the system read's."""
    account = view.requested or view.group
    company_ids = {account.home_company_id}
    if booking_company is not None:
        company_ids.add(booking_company.pk)
    covering = [
        (agreement, frozenset(c.pk for c in agreement.covered_companies.all()))
        for agreement in view.agreements
        if agreement.valid_from <= on_date <= agreement.valid_to
    ]
    covering = [(a, covered) for a, covered in covering if covered & company_ids]
    if not covering:
        return None
    agreement, covered = max(covering, key=lambda pair: (pair[0].valid_from, pair[0].pk))
    return agreement_terms(
        agreement,
        on_date,
        tiers=list(agreement.tiers.all()),
        covered=covered,
        organization=view.group.organization,
    )


@dataclass
class CountryFigures:
    country: str
    open_count: int = 0
    open_amount: Decimal = ZERO
    won_count: int = 0
    won_amount: Decimal = ZERO


# The first screen of the 360° lists this many of the group's accounts (the most valuable
# first); "show all" pages through the rest at SUBSIDIARY_PAGE_SIZE.
TOP_SUBSIDIARIES = 15
SUBSIDIARY_PAGE_SIZE = 50
API_SUBSIDIARY_PAGE_SIZE = 20
MAX_SUBSIDIARY_PAGE = 1000

# What a listed account shows (the page's rows and the API's representation), read as plain
# values: no model instances for a group of 200.
SUBSIDIARY_FIELDS = (
    "id",
    "name",
    "country",
    "home_company_id",
    "home_company__code",
    "parent_id",
    "group_id",
    "registration_number",
    "domain",
    "industry",
    "segment",
    "lifecycle",
    "first_won_at",
    "created_at",
    "potential",
    "potential_source",
    "segment_override",
    "segment_reason",
)
# The stored customer value rides along for the roles that may see it (a LEFT JOIN: an account
# before its first nightly refresh has none, ``value__as_of`` is then NULL).
VALUE_FIELDS = (
    "as_of",
    "lifetime_value",
    "won_revenue",
    "weighted_pipeline",
    "revenue_12m",
    "first_win_at",
    "last_win_at",
    "missing_rate",
    "group_lifetime_value",
    "group_won_revenue",
    "group_weighted_pipeline",
    "group_revenue_12m",
    "group_first_win_at",
    "group_last_win_at",
    "group_missing_rate",
)

# Sorts of the group's account list. "value" (the stored lifetime value) only for the roles
# that see customer value: for anyone else the order itself would tell which account is worth
# more (need-to-know), so they get the name order.
SUBSIDIARY_SORTS: dict[str, tuple[Any, ...]] = {
    "value": (F("value__lifetime_value").desc(nulls_last=True), "name", "pk"),
    "name": ("name", "pk"),
    "-name": ("-name", "-pk"),
    "country": ("country", "name", "pk"),
}


@dataclass(frozen=True)
class SubsidiaryPage:
    """One page of the group's accounts the user sees (``rows``: named tuples of
    ``SUBSIDIARY_FIELDS``, plus ``value__*`` when ``with_value``)."""

    rows: list[Any]
    number: int
    per_page: int
    count: int
    sort: str
    country: str | None
    with_value: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number * self.per_page < self.count

    @property
    def pages(self) -> int:
        return max(1, -(-self.count // self.per_page))

    def by_country(self) -> dict[str, list[Any]]:
        grouped: dict[str, list[Any]] = defaultdict(list)
        for row in self.rows:
            grouped[row.country].append(row)
        return dict(grouped)


# The parts of a 360° a reader may ask for: the page's first screen reads the first three, each
# htmx fragment one of the others, the API all of them.
SECTIONS = frozenset({"accounts", "figures", "team", "timeline", "plan", "agreements", "conflicts"})


@dataclass
class Account360:
    group: Account
    figures_by_country: dict[str, CountryFigures]
    team: list[Any]  # instances, or ``TEAM_FIELDS`` rows when ``lean``
    plan: PlanProgress | None
    agreements: list[FrameworkAgreement]
    open_conflicts: list[Any] = field(default_factory=list)
    requested: Account | None = None  # the account asked for (the top or a subsidiary)
    # False when the user sees accounts of the group but not its top: the top is then shown at
    # need-to-know level only (its name and home company), never a 404 for a visible account.
    group_visible: bool = True
    timeline: TimelinePage | None = None  # the page of the group's timeline shown
    # Per country, how many of the group's accounts the user sees (one grouped query).
    accounts_per_country: dict[str, int] = field(default_factory=dict)
    subsidiaries: SubsidiaryPage | None = None  # one page of them, values rows
    # ``account_360(lean=True)``: the timeline's items and the team are values rows, and the
    # agreements come without their prefetches: their tiers (threshold, discount) and covered
    # companies' ids are here, by agreement id.
    lean: bool = False
    agreement_tiers: dict[int, list[tuple[Decimal, Decimal]]] = field(default_factory=dict)
    agreement_companies: dict[int, list[int]] = field(default_factory=dict)

    @property
    def latest_activities(self) -> list[Activity]:
        return self.timeline.items if self.timeline is not None else []

    @property
    def account_count(self) -> int:
        return sum(self.accounts_per_country.values())

    @property
    def subsidiaries_by_country(self) -> dict[str, list[Any]]:
        """The listed page's accounts by country (the top among them when visible)."""
        return self.subsidiaries.by_country() if self.subsidiaries is not None else {}


# A contact as the 360° API lists it, aggregated in PostgreSQL (jsonb: the keys come back in
# PostgreSQL's order, so the API puts them in its own).
CONTACT_FIELDS = ("id", "full_name", "title", "email", "phone", "archived_at")


def _contacts_of_account(user: User) -> Subquery[Any]:
    """The contacts ``user`` may see of the outer account, ordered as the API lists them
    (name, then id), as one jsonb array (NULL when there are none)."""
    return Subquery(
        Contact.objects.visible_to(user)
        .filter(account_id=OuterRef("pk"))
        .order_by()
        .values("account_id")
        .annotate(
            rows=JSONBAgg(
                JSONObject(**{name: name for name in CONTACT_FIELDS}),
                order_by=("full_name", "pk"),
            )
        )
        .values("rows")[:1]
    )


# The 360°'s reads are compiled once per process, shape of user (``crm.visibility.user_shape``)
# and shape of the read (sort, filter, page: the offset is in the SQL text), and each request
# binds its values: building these ORM statements (the visibility policies' joins and
# subqueries, the timeline's five joined models) cost more CPU than the 360° spent on anything
# else. Each statement is prepared on the connections that run it: a bound on how many one
# process keeps; past it, the ORM path (the same queryset, built per request).
MAX_STATEMENTS = 512
_STATEMENTS: dict[Hashable, CompiledQuery] = {}
_STATEMENTS_LOCK = threading.Lock()


@dataclass(frozen=True)
class _Read:
    """One statement of a 360° for one user: its compiled query and values, or (an inactive
    user, past ``MAX_STATEMENTS``) ``query`` None and the ORM's queryset ``orm()``."""

    query: CompiledQuery | None
    values: dict[str, Any]
    orm: Callable[[], QuerySet[Any, Any]]

    def objects(self) -> list[Any]:
        return self.query.objects(**self.values) if self.query is not None else list(self.orm())

    def rows(self) -> list[Any]:
        return self.query.rows(**self.values) if self.query is not None else list(self.orm())


def _beyond_bigint(value: Any) -> bool:
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and not -MAX_ID - 1 <= value <= MAX_ID
    )


def _read(
    builder: Callable[..., QuerySet[Any, Any]],
    user: User,
    static: dict[str, Hashable],
    named: dict[str, Any],
    *,
    dates: Collection[str] = (),
) -> _Read:
    """``builder(user, **static, **named)`` as a compiled statement: built once per shape of
    user and ``static`` (what changes its SQL text) with a stand-in user and sentinels, the
    user's values and ``named`` bound on every run."""

    def orm() -> QuerySet[Any, Any]:
        return builder(user, **static, **named)

    shape = user_shape(user)
    if shape is None:  # an inactive user: the ORM's none()
        return _Read(None, {}, orm)
    if any(_beyond_bigint(value) for value in named.values()):
        # An id from the path beyond a bigint (/accounts/99999999999999999999/…): the ORM
        # answers "no rows" for it, a bound bigint parameter would be an error (a 500).
        return _Read(None, {}, orm)
    key = (builder.__qualname__, shape, tuple(sorted(static.items())))

    def build(**values: Any) -> QuerySet[Any, Any]:
        stand_in = stand_in_user(shape, **{name: values[name] for name in USER_VALUES})
        return builder(stand_in, **static, **{name: values[name] for name in named})

    query = cached_statement(
        _STATEMENTS,
        _STATEMENTS_LOCK,
        key,
        MAX_STATEMENTS,
        lambda: CompiledQuery(build, *USER_VALUES, *named, scope="organization_id", dates=dates),
    )
    if query is None:
        return _Read(None, {}, orm)
    return _Read(query, {**user_values(user), **named}, orm)


def _pair_query(
    user: User, *, known_group: bool, requested_pk: int, group_id: int | None
) -> QuerySet[Account]:
    """The top of the group and the account asked for (the top is in its own group), among
    the accounts ``user`` sees; ``known_group``: the caller knows the group (``group_id``),
    else it is found in the same statement."""
    group_of: Value | Subquery[Any]
    if known_group:
        group_of = Value(group_id)
    else:
        # Only the pk of the account asked for: its group is found in the same query, and the
        # account itself must be among the visible ones (no separate look-up, same 404s).
        # (A plain subquery, no COALESCE: every account has its group, a top is its own, and
        # only a bare parameter lets the planner use the group index under row-level security.)
        group_of = Subquery(
            Account.objects.for_org(user.organization_id)
            .filter(pk=requested_pk)
            .order_by()
            .values("group_id")[:1]
        )
    # The stored customer value rides along (no query of its own) for the roles that may see
    # it; a need-to-know top is fetched apart without it.
    related: tuple[str, ...] = ("home_company", "organization")
    if may_see_customer_value(user):
        related += ("value",)
    return (
        Account.objects.visible_to(user)
        .filter(group_id=group_of)
        .filter(Q(pk=requested_pk) | Q(pk=F("group_id")))
        .select_related(*related)
    )


def _subsidiary_fields(with_value: bool, with_contacts: bool) -> tuple[str, ...]:
    return (
        SUBSIDIARY_FIELDS
        + (tuple(f"value__{name}" for name in VALUE_FIELDS) if with_value else ())
        + (("listed_contacts",) if with_contacts else ())
    )


# The page's rows as ``values_list(*fields, named=True)`` gives them, one class per field list.
_ROW_CLASSES: dict[tuple[str, ...], Any] = {}


def _row_class(fields: tuple[str, ...]) -> Any:
    found = _ROW_CLASSES.get(fields)
    if found is None:
        found = _ROW_CLASSES.setdefault(fields, namedtuple("Row", fields))
    return found


def _named(fields: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[Any]:
    row = _row_class(fields)
    return [row._make(values) for values in rows]


def _subsidiaries_query(
    user: User,
    *,
    sort: str,
    by_country: bool,
    with_contacts: bool,
    start: int,
    size: int,
    group_id: int,
    country: str | None,
) -> QuerySet[Any, Any]:
    """One page of the group's accounts ``user`` sees (``_subsidiary_fields``), in the sort's
    order, of one country when ``by_country``."""
    qs: QuerySet[Any] = Account.objects.visible_to(user).filter(group_id=group_id)
    if by_country:
        qs = qs.filter(country=country)
    if with_contacts:
        # Each listed account's contacts ride along in the page's query (the API's
        # ``contacts_by_account``): a correlated subquery per row of the page, through the
        # contacts' own visibility, instead of a round trip of its own.
        qs = qs.annotate(listed_contacts=_contacts_of_account(user))
    fields = _subsidiary_fields(may_see_customer_value(user), with_contacts)
    return qs.order_by(*SUBSIDIARY_SORTS[sort]).values_list(*fields)[start : start + size]


def _subsidiary_sort(user: User, sort: str) -> str:
    if sort not in SUBSIDIARY_SORTS or (sort == "value" and not may_see_customer_value(user)):
        return "value" if may_see_customer_value(user) else "name"
    return sort


def _subsidiaries_read(
    user: User,
    *,
    group_id: int,
    sort: str,
    country: str | None,
    number: int,
    per_page: int,
    with_contacts: bool,
) -> _Read:
    return _read(
        _subsidiaries_query,
        user,
        {
            "sort": sort,
            "by_country": country is not None,
            "with_contacts": with_contacts,
            "start": (number - 1) * per_page,
            "size": per_page,
        },
        {"group_id": group_id, "country": country},
    )


def _subsidiary_page(
    *,
    user: User,
    group_id: int,
    per_country: dict[str, int],
    page: object,
    per_page: int,
    sort: str,
    country: str | None,
    with_contacts: bool = False,
) -> SubsidiaryPage:
    with_value = may_see_customer_value(user)
    sort = _subsidiary_sort(user, sort)
    if country is not None and country not in per_country:
        country = None  # an unknown country filter lists the whole group, as no filter
    count = per_country[country] if country is not None else sum(per_country.values())
    pages = max(1, -(-count // per_page))
    number = min(parse_id(page) or 1, pages, MAX_SUBSIDIARY_PAGE)
    rows = []
    if count:
        row = _row_class(_subsidiary_fields(with_value, with_contacts))
        read = _subsidiaries_read(
            user,
            group_id=group_id,
            sort=sort,
            country=country,
            number=number,
            per_page=per_page,
            with_contacts=with_contacts,
        )
        rows = [row._make(values) for values in read.rows()]
    return SubsidiaryPage(
        rows=rows,
        number=number,
        per_page=per_page,
        count=count,
        sort=sort,
        country=country,
        with_value=with_value,
    )


def _timeline_query(user: User, *, start: int, size: int, group_id: int) -> QuerySet[Activity]:
    return timeline_queryset(user=user, group_id=group_id)[start : start + size]


def _team_query(user: User, *, group_id: int) -> QuerySet[AccountTeamMember]:
    return (
        AccountTeamMember.objects.visible_to(user)
        .filter(account_id=group_id)
        .select_related("user", "sales_company")
        .order_by("role", "sales_company__code", "user__full_name")
    )


# ``account_360(lean=True)``: the timeline's page and the team as plain values, what the API
# writes out (``ActivitySerializer``'s and ``TeamMemberSerializer``'s fields): a model instance
# and its five ``select_related`` instances per activity cost more CPU than the API spent
# writing the whole answer.
TIMELINE_FIELDS = (
    "id",
    "kind",
    "subject",
    "notes",
    "outcome",
    "happened_at",
    "duration_minutes",
    "due_at",
    "done_at",
    "owner_id",
    "sales_company_id",
    "account_id",
    "contact_id",
    "opportunity_id",
    "created_at",
)
TEAM_FIELDS = ("id", "account_id", "user_id", "sales_company_id", "role", "added_at")


def _timeline_values_query(
    user: User, *, start: int, size: int, group_id: int
) -> QuerySet[Any, Any]:
    # The same rows in the same order as ``_timeline_query`` (values drop its select_related).
    rows = timeline_queryset(user=user, group_id=group_id).values_list(*TIMELINE_FIELDS)
    return rows[start : start + size]


def _team_values_query(user: User, *, group_id: int) -> QuerySet[Any, Any]:
    return _team_query(user, group_id=group_id).values_list(*TEAM_FIELDS)


def _plan_query(
    user: User, *, group_id: int, year: int, today: dt.date
) -> QuerySet[WithAnnotations[AccountPlan, _ActionCounts]]:
    qs = _plans_with_counts(user, today).filter(account_id=group_id, year=year)
    # As ``first()``: the model's order, else the pk's.
    return (qs if qs.ordered else qs.order_by("pk"))[:1]


def _agreements_query(user: User, *, group_id: int) -> QuerySet[FrameworkAgreement]:
    return FrameworkAgreement.objects.visible_to(user).filter(account_id=group_id)


def _tier_values_query(user: User, *, group_id: int) -> QuerySet[Any, Any]:
    """The tiers of the group's agreements (``lean``: instead of the agreements' prefetch),
    each agreement's in the model's order; the caller keeps those of the agreements ``user``
    sees (the agreements' statement is their visibility)."""
    return (
        DiscountTier.objects.for_org(user.organization_id)
        .filter(agreement__account_id=group_id)
        .order_by("threshold", "pk")
        .values_list("agreement_id", "threshold", "discount_percent")
    )


def _covered_values_query(user: User, *, group_id: int) -> QuerySet[Any, Any]:
    """The sales companies the group's agreements cover, by agreement, in the companies'
    order (``SalesCompany``'s: by name), as the agreements' prefetch lists them."""
    return (
        AgreementCompany.objects.for_org(user.organization_id)
        .filter(agreement__account_id=group_id)
        .order_by("sales_company__name", "sales_company_id")
        .values_list("agreement_id", "sales_company_id")
    )


def _conflicts_query(user: User, *, group_id: int) -> QuerySet[Conflict]:
    return (
        Conflict.objects.visible_to(user)
        .filter(account__group_id=group_id, status=ConflictStatus.OPEN)
        .select_related("sales_company", "account", "product", "agreement")
        .order_by("-created_at")
    )


def account_360(
    *,
    user: User,
    group: Account | int,
    today: dt.date | None = None,
    activity_limit: int = 20,
    activity_page: object = 1,
    sections: frozenset[str] = SECTIONS,
    subsidiaries_page: object = 1,
    subsidiaries_per_page: int = TOP_SUBSIDIARIES,
    subsidiaries_sort: str = "value",
    subsidiaries_country: str | None = None,
    subsidiaries_with_contacts: bool = False,
    lean: bool = False,
) -> Account360:
    """One group seen whole: its accounts by country (a count per country and one page of
    them), open and won business per country, what just happened in every country, the team,
    this year's plan, agreements and open conflicts, each narrowed to what ``user`` may see. A
    constant number of queries whatever the size.

    ``sections`` names the parts read (``SECTIONS``); the group, the account asked for and
    their visibility are always read first, so a part asked for alone (an htmx fragment of the
    page) has the same 404s as the page. The parts' statements are then sent together, in one
    round trip (``read_ahead``).

    Won amounts per country are the group's won deals of the current year at their closing-day
    rates; open amounts are at today's rates.

    ``lean``: the timeline's items and the team are values rows (named tuples of
    ``TIMELINE_FIELDS`` / ``TEAM_FIELDS``), not model instances: for a reader that writes their
    own fields out (the API), not one that renders their related objects (the page).
    """
    today = today or timezone.localdate()
    known = isinstance(group, Account)
    requested_pk = group.pk if isinstance(group, Account) else int(group)
    # One query for the top and the account asked for: the top is visible exactly when it is
    # among the visible accounts of the group, else 404 as before. The group's other accounts
    # are counted and paged in SQL below, not fetched.
    pair = _read(
        _pair_query,
        user,
        {"known_group": known},
        {
            "requested_pk": requested_pk,
            "group_id": (group.group_id or group.pk) if isinstance(group, Account) else None,
        },
    ).objects()
    top = next((a for a in pair if a.pk == a.group_id), None)
    requested = next((a for a in pair if a.pk == requested_pk), None)
    if requested is None:
        raise Http404("No account matches the given query.")
    group_visible = top is not None
    if top is None:
        # A subsidiary the user sees in a group whose top they do not: the top at need-to-know
        # level (the page and the API show its name and home company only).
        top = (
            Account.objects.for_org(user.organization_id)
            .select_related("home_company", "organization")
            .get(pk=requested.group_id or requested.pk)
        )
    organization = top.organization

    reads: dict[str, _Read] = {}
    if "accounts" in sections:
        # The page asked for, before the counts say whether it exists (it nearly always does;
        # a page past the end is read again as the last one).
        reads["accounts"] = _subsidiaries_read(
            user,
            group_id=top.pk,
            sort=_subsidiary_sort(user, subsidiaries_sort),
            country=subsidiaries_country,
            number=min(parse_id(subsidiaries_page) or 1, MAX_SUBSIDIARY_PAGE),
            per_page=subsidiaries_per_page,
            with_contacts=subsidiaries_with_contacts,
        )
    activity_number = timeline_number(activity_page)
    if "timeline" in sections:
        # The group's timeline: newest first by when it happened, one page and one more row.
        reads["timeline"] = _read(
            _timeline_values_query if lean else _timeline_query,
            user,
            {"start": (activity_number - 1) * activity_limit, "size": activity_limit + 1},
            {"group_id": top.pk},
        )
    if "team" in sections:
        reads["team"] = _read(
            _team_values_query if lean else _team_query, user, {}, {"group_id": top.pk}
        )
    if "plan" in sections:
        # The year in the text: a small integer field's lookup refuses a sentinel out of its
        # range (Django answers "no rows" for it), and a statement per year is no growth.
        reads["plan"] = _read(
            _plan_query,
            user,
            {"year": today.year},
            {"group_id": top.pk, "today": today},
            dates=("today",),
        )
    if "agreements" in sections:
        reads["agreements"] = _read(_agreements_query, user, {}, {"group_id": top.pk})
        if lean:
            # The agreements' tiers and companies in the same round trip as the rest, not by
            # two prefetches the ORM builds per request after the agreements are read.
            reads["tiers"] = _read(_tier_values_query, user, {}, {"group_id": top.pk})
            reads["covered"] = _read(_covered_values_query, user, {}, {"group_id": top.pk})
    if "conflicts" in sections:
        reads["conflicts"] = _read(_conflicts_query, user, {}, {"group_id": top.pk})

    with read_ahead([(r.query, r.values) for r in reads.values() if r.query is not None]):
        per_country: dict[str, int] = {}
        subsidiaries = None
        if "accounts" in sections:
            # How many accounts per country, grouped by PostgreSQL (one row per country).
            per_country = dict(_accounts_per_country(user, top.pk))
            subsidiaries = _subsidiary_page(
                user=user,
                group_id=top.pk,
                per_country=per_country,
                page=subsidiaries_page,
                per_page=subsidiaries_per_page,
                sort=subsidiaries_sort,
                country=subsidiaries_country,
                with_contacts=subsidiaries_with_contacts,
            )

        figures: dict[str, CountryFigures] = {}
        won_this_year: Decimal | None = None
        if "figures" in sections:
            figures, won_this_year = _figures_by_country(user, organization, top.pk, today)

        timeline = None
        if "timeline" in sections:
            activities = (
                _named(TIMELINE_FIELDS, reads["timeline"].rows())
                if lean
                else reads["timeline"].objects()
            )
            timeline = timeline_page(activities, activity_number, activity_limit)
        team: list[Any] = []
        if "team" in sections:
            team = _named(TEAM_FIELDS, reads["team"].rows()) if lean else reads["team"].objects()
        plan = None
        if "plan" in sections:
            plan_row = next(iter(reads["plan"].objects()), None)
            if plan_row is not None:
                if won_this_year is None:
                    won_this_year = _won_ytd(
                        user=user,
                        organization=organization,
                        group_id=top.pk,
                        year=today.year,
                        today=today,
                    )
                plan = PlanProgress(
                    plan=plan_row,
                    target=plan_row.revenue_target,
                    # This year's won business is already summed when the figures were read
                    # (same deals, same closing-day rates, one rounding of the exact total).
                    won_ytd=won_this_year,
                    open_actions=plan_row.open_actions,
                    overdue_actions=plan_row.overdue_actions,
                )
        agreements = []
        tiers: dict[int, list[tuple[Decimal, Decimal]]] = {}
        covered: dict[int, list[int]] = {}
        if "agreements" in sections and lean:
            agreements = reads["agreements"].objects()
            tiers = {a.pk: [] for a in agreements}
            covered = {a.pk: [] for a in agreements}
            for agreement_id, threshold, percent in reads["tiers"].rows():
                if agreement_id in tiers:
                    tiers[agreement_id].append((threshold, percent))
            for agreement_id, company_id in reads["covered"].rows():
                if agreement_id in covered:
                    covered[agreement_id].append(company_id)
        elif "agreements" in sections:
            agreements = reads["agreements"].objects()
            # Related managers are fail-closed outside a request: give them the organization.
            prefetch_related_objects(
                agreements,
                Prefetch("tiers", queryset=DiscountTier.objects.for_org(organization)),
                Prefetch("covered_companies", queryset=SalesCompany.objects.for_org(organization)),
            )
        conflicts = reads["conflicts"].objects() if "conflicts" in sections else []
    return Account360(
        group=top,
        figures_by_country=figures,
        timeline=timeline,
        team=team,
        plan=plan,
        agreements=agreements,
        open_conflicts=conflicts,
        requested=requested,
        group_visible=group_visible,
        accounts_per_country=per_country,
        subsidiaries=subsidiaries,
        lean=lean,
        agreement_tiers=tiers,
        agreement_companies=covered,
    )


def figures_query(shape: UserShape) -> Callable[..., QuerySet[Any, Any]]:
    """The 360°'s figures per account country for users of ``shape``: open deals (at the rate
    of ``today``) and won this year (at each closing day's rate), one grouped statement with
    the currency conversion's subqueries. The definition ``_FIGURES`` compiles once per shape
    (the user's and the group's values bound); called with real values it is the ORM path."""

    def build(
        *,
        organization_id: int,
        user_id: int,
        sales_company_id: int | None,
        region_id: int | None,
        corporate_currency: str,
        group_id: int,
        today: dt.date,
        year_start: dt.date,
    ) -> QuerySet[Any, Any]:
        user = stand_in_user(
            shape,
            organization_id=organization_id,
            user_id=user_id,
            sales_company_id=sales_company_id,
            region_id=region_id,
        )
        base = (
            Opportunity.objects.visible_to(user)
            .filter(account__group_id=group_id)
            .filter(
                Q(global_stage__is_won=False, global_stage__is_lost=False)
                | Q(global_stage__is_won=True, closed_at__date__gte=year_start)
            )
        )
        rate_date = Case(
            When(global_stage__is_won=True, then=_won_date()),
            default=Value(today),
            output_field=DateField(),
        )
        qs = with_corporate_amount(
            base,
            None,
            rate_date=rate_date,
            organization_id=organization_id,
            corporate_currency=corporate_currency,
        )
        return (
            qs.values("account__country")
            .annotate(
                open_count=Count("id", filter=Q(global_stage__is_won=False)),
                open_amount=Sum("corporate_amount", filter=Q(global_stage__is_won=False)),
                won_count=Count("id", filter=Q(global_stage__is_won=True)),
                won_amount=Sum("corporate_amount", filter=Q(global_stage__is_won=True)),
                missing=missing_rate(),
            )
            .order_by("account__country")
            .values_list(*_FIGURE_COLUMNS)
        )

    return build


_FIGURE_COLUMNS = (
    "account__country",
    "open_count",
    "open_amount",
    "won_count",
    "won_amount",
    "missing",
)
_FIGURE_VALUES = (*USER_VALUES, "corporate_currency", "group_id", "today", "year_start")
# One compiled statement per shape of user (crm.visibility.user_shape): a handful of roles.
_FIGURES: dict[UserShape, CompiledQuery] = {}


def figure_values(
    user: User, organization: Organization, group_id: int, today: dt.date
) -> dict[str, Any]:
    """What ``figures_query`` binds for this user, group and day."""
    return {
        **user_values(user),
        "corporate_currency": organization.corporate_currency,
        "group_id": group_id,
        "today": today,
        "year_start": dt.date(today.year, 1, 1),
    }


def _figure_rows(
    user: User, organization: Organization, group_id: int, today: dt.date
) -> list[tuple[Any, ...]]:
    shape = user_shape(user)
    values = figure_values(user, organization, group_id, today)
    if shape is None:  # an inactive user sees no deals: the ORM's none()
        return []
    return compiled_per_shape(_FIGURES, shape, _figures_statement).rows(**values)


def _figures_statement(shape: UserShape) -> CompiledQuery:
    return CompiledQuery(
        figures_query(shape),
        *_FIGURE_VALUES,
        scope="organization_id",
        dates=("today", "year_start"),
    )


def accounts_per_country_query(shape: UserShape) -> Callable[..., QuerySet[Any, Any]]:
    """The group's visible accounts counted per country (one row per country, grouped by
    PostgreSQL) for users of ``shape``; compiled once per shape, the values bound."""

    def build(
        *,
        organization_id: int,
        user_id: int,
        sales_company_id: int | None,
        region_id: int | None,
        group_id: int,
    ) -> QuerySet[Any, Any]:
        user = stand_in_user(
            shape,
            organization_id=organization_id,
            user_id=user_id,
            sales_company_id=sales_company_id,
            region_id=region_id,
        )
        return (
            Account.objects.visible_to(user)
            .filter(group_id=group_id)
            .values("country")
            .annotate(n=Count("id"))
            .order_by("country")
            .values_list("country", "n")
        )

    return build


_PER_COUNTRY: dict[UserShape, CompiledQuery] = {}


def _accounts_per_country(user: User, group_id: int) -> list[tuple[Any, ...]]:
    shape = user_shape(user)
    if shape is None:  # an inactive user sees no accounts: the ORM's none()
        return []
    compiled = compiled_per_shape(_PER_COUNTRY, shape, _per_country_statement)
    return compiled.rows(**user_values(user), group_id=group_id)


def _per_country_statement(shape: UserShape) -> CompiledQuery:
    return CompiledQuery(
        accounts_per_country_query(shape), *USER_VALUES, "group_id", scope="organization_id"
    )


def _figures_by_country(
    user: User, organization: Organization, group_id: int, today: dt.date
) -> tuple[dict[str, CountryFigures], Decimal]:
    """Open (at today's rate) and won this year (at closing-day rates) per account country:
    one grouped query, compiled once per shape of user (``figures_query``)."""
    rows = [
        dict(zip(_FIGURE_COLUMNS, row, strict=True))
        for row in _figure_rows(user, organization, group_id, today)
    ]
    raise_if_missing(organization, (row["missing"] for row in rows))
    # Each country's figure is its exact sum rounded half-even; the group's won total is the
    # exact sum of all of them rounded once, so it equals the dashboard's for the same deals.
    figures = {
        row["account__country"]: CountryFigures(
            country=row["account__country"],
            open_count=row["open_count"],
            open_amount=money(row["open_amount"]),
            won_count=row["won_count"],
            won_amount=money(row["won_amount"]),
        )
        for row in rows
    }
    won_total = money(sum((row["won_amount"] or ZERO for row in rows), ZERO))
    return figures, won_total
