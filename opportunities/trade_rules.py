"""Trade rules: parallel import, double agreements and price gaps between countries.

Three findings that **inform and never block** (passive sales may be legal): each is a situation
like the conflicts of ``opportunities.situations`` (one open row per key, participants beneath
it, won and lost deals leave), tells every company in it at need-to-know level, and is rendered
in the reader's language from its kind and parameters (``trade_text``).

* parallel import — (kind, the deal, the served account): a deal delivered to a country other
  than the booking company's while the customer's group has an account served by a sales
  company of that country. Participants: the deal and that account (its home company).
* double agreement — (kind, the deal, the agreement that applies): the deal's customer covered
  by two or more active framework agreements at once. ``covering_agreement`` picks the newest;
  this says so, and names the others. Participants: the deal and its account (home company).
* price gap — (kind, group top, product): the same product quoted to the group by companies of
  two countries at net unit prices (after discount, in the corporate currency at each deal's
  date) more than the organization's percentage apart. Participants: the deals in such a pair.

Cost on save (``check_trade``, hooked into ``conflicts._detect``): it reuses what the save read
(the deal, its lines, its open situations) and adds an indexed query only where the rule can
hold — the served account when the delivery country differs, the covering agreements and the
group's quotes of the deal's products when the deal has lines.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import Account, FrameworkAgreement
from crm.db.compiled import CompiledQuery
from crm.models import Organization, SalesCompany, User
from crm.money import MissingExchangeRateError, corporate_rate
from opportunities import pricing
from opportunities.customer import covering_agreements
from opportunities.models import (
    Conflict,
    ConflictKind,
    ConflictParticipant,
    ConflictStatus,
    Opportunity,
    OpportunityLine,
    Product,
)
from opportunities.selectors import open_q
from opportunities.situations import (
    Changes,
    Deal,
    DealFacts,
    DealSituations,
    DealSync,
    GroupSync,
    Situation,
    sync_deal_situations,
    sync_situations_many,
)

TRADE_KINDS = (
    ConflictKind.PARALLEL_IMPORT,
    ConflictKind.DOUBLE_AGREEMENT,
    ConflictKind.PRICE_GAP,
)
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class TradeRules:
    """Which trade rules apply, per organization (crm.Organization's ``trade_*`` settings)."""

    parallel_import: bool = True
    double_agreement: bool = True
    price_gap: bool = True
    gap_percent: Decimal = Decimal(15)

    @classmethod
    def of(cls, org: Organization) -> TradeRules:
        return cls(
            parallel_import=org.trade_parallel_import,
            double_agreement=org.trade_double_agreement,
            price_gap=org.trade_price_gap,
            gap_percent=Decimal(org.trade_price_gap_percent),
        )


# --- The rules, pure ---------------------------------------------------------------------------


def delivered_abroad(booking_country: str, delivery_country: str | None) -> bool:
    """The parallel-import rule's precondition (no query without it): an empty delivery
    country is the booking company's own."""
    return bool(delivery_country) and delivery_country != booking_country


@dataclass(frozen=True)
class Quote:
    """One deal's offer of one product: the lowest net unit price among its lines of it, in
    the corporate currency at the deal's date. ``deal.id`` None: the deal being typed."""

    deal: Deal
    country: str
    product_id: int
    net: Decimal


def _apart(low: Decimal, high: Decimal, percent: Decimal) -> bool:
    """More than ``percent`` apart, measured on the lower price (a free line against a priced
    one is always apart)."""
    return high > low * (HUNDRED + percent) / HUNDRED


def price_gaps(quotes: Iterable[Quote], percent: Decimal) -> dict[int, list[Quote]]:
    """Per product, the quotes that are more than ``percent`` apart from a quote of another
    country: those deals are the situation. One pass per country, not per pair."""
    by_product: dict[int, list[Quote]] = defaultdict(list)
    for q in quotes:
        by_product[q.product_id].append(q)
    found: dict[int, list[Quote]] = {}
    for product_id, offers in by_product.items():
        lows: dict[str, Decimal] = {}
        highs: dict[str, Decimal] = {}
        for q in offers:
            lows[q.country] = min(lows.get(q.country, q.net), q.net)
            highs[q.country] = max(highs.get(q.country, q.net), q.net)
        if len(lows) < 2:
            continue
        members = []
        for q in offers:
            others_low = min(v for c, v in lows.items() if c != q.country)
            others_high = max(v for c, v in highs.items() if c != q.country)
            if _apart(others_low, q.net, percent) or _apart(q.net, others_high, percent):
                members.append(q)
        if members:
            found[product_id] = members
    return found


# --- What a save reads -------------------------------------------------------------------------


def served_account(
    organization_id: int, group_id: int, country: str, booking_company_id: int
) -> tuple[int, int] | None:
    """The group's account (and its home company) served by a company of ``country``: one
    indexed lookup by the group."""
    return (
        Account.objects.for_org(organization_id)
        .filter(group_id=group_id, home_company__country=country)
        .exclude(home_company_id=booking_company_id)
        .order_by("pk")
        .values_list("pk", "home_company_id")
        .first()
    )


def _quotes_query(
    organization_id: int,
    corporate_currency: Any,
    group_id: int,
    products: list[int],
    *,
    exclude_id: int | None = None,
    visible: Any = None,
) -> QuerySet[Any, Any]:
    """``load_quotes``'s one statement: the lines of ``products`` on the group's open deals (by
    the deals' copy of their group) with the booking country and the rate at the deal's date."""
    return _lines_quoted(
        organization_id,
        corporate_currency,
        Q(account_group_id=group_id),
        products,
        exclude_id=exclude_id,
        visible=visible,
    )


def _lines_quoted(
    organization_id: int,
    corporate_currency: Any,
    where: Q,
    products: list[int],
    *,
    exclude_id: int | None = None,
    visible: Any = None,
    extra: Sequence[str] = (),
) -> QuerySet[Any, Any]:
    """The lines of ``products`` on the open deals ``where`` selects (a condition on the deal)
    as ``_quotes_query`` reads them; ``extra``: columns after its nine.

    The open deals are found first, from the group index alone (``opportunity_id =
    ANY(ARRAY(…))``: an InitPlan over ``opp_org_group_created_idx``, which includes the stage),
    and only the quoting lines' deals are then read from the table. Joined the other way,
    PostgreSQL read every deal of the group from the heap to find the open ones (1,069 buffers
    and 1.2-1.7 ms for a 1,057-deal group at 1M; 237 buffers and 0.4 ms this way)."""
    deals = Opportunity.objects.for_org(organization_id).filter(open_q(), where).values("pk")
    qs = OpportunityLine.objects.for_org(organization_id).filter(
        opportunity_id__any_of=deals, product_id__any_of=products
    )
    if exclude_id is not None:
        qs = qs.exclude(opportunity_id=exclude_id)
    if visible is not None:
        qs = qs.filter(opportunity_id__in=visible.values("pk"))
    return (
        # Ordered: the first deal of a new gap names the company that opened it.
        qs.order_by("opportunity_id", "pk")
        .annotate(rate_date=TruncDate("opportunity__created_at"))
        .annotate(rate=corporate_rate(organization_id, corporate_currency, prefix="opportunity__"))
        .values_list(
            "opportunity_id",
            "opportunity__account_id",
            "opportunity__sales_company_id",
            "opportunity__owner_id",
            "opportunity__sales_company__country",
            "product_id",
            "unit_price",
            "discount_percent",
            "rate",
            *extra,
        )
    )


# The save's quotes (every save with lines), built once per process: building the rate's
# subquery cost more CPU than reading the group's lines. The corporate currency is a named value:
# organizations of one process differ in it.
_QUOTES = CompiledQuery(
    _quotes_query,
    "organization_id",
    "corporate_currency",
    "group_id",
    "products",
    scope="organization_id",
    arrays=("products",),
)


def load_quotes(
    organization: Organization,
    group_id: int,
    products: Collection[int],
    *,
    exclude_id: int | None = None,
    visible: Any = None,
) -> list[Quote]:
    """The group's open deals' offers of ``products`` in the corporate currency at each deal's
    date (the date its list prices were converted at). One query: the lines of the group's deals
    (by the deals' copy of their group) with the booking country and the dated rate. A line
    without a rate cannot be compared and is left out (a save never fails for it).
    ``visible``: only these deals (the preview's no-oracle rule)."""
    if not products:
        return []
    values: dict[str, Any] = {
        "organization_id": organization.pk,
        "corporate_currency": organization.corporate_currency,
        "group_id": group_id,
        "products": sorted(products),
    }
    rows: Iterable[Any]
    if exclude_id is None and visible is None:
        query, values = quotes_read(organization, group_id, products)
        rows = query.rows(**values)
    else:  # the preview: the same statement narrowed, built for the reader
        rows = _quotes_query(**values, exclude_id=exclude_id, visible=visible)
    return _best_quotes(rows)


def quotes_read(
    organization: Organization, group_id: int, products: Collection[int]
) -> tuple[CompiledQuery, dict[str, Any]]:
    """The statement (and its values) a save's ``load_quotes`` runs (``products`` not empty):
    for the save to read it ahead with others (``crm.db.compiled.read_ahead``)."""
    return _QUOTES, {
        "organization_id": organization.pk,
        "corporate_currency": organization.corporate_currency,
        "group_id": group_id,
        "products": sorted(products),
    }


def _best_quotes(rows: Iterable[Sequence[Any]]) -> list[Quote]:
    """Each deal's quote of each product: its lowest net line, in the rows' order."""
    best: dict[tuple[int, int], Quote] = {}
    for opp_id, account_id, company_id, owner_id, country, product_id, price, disc, rate in rows:
        if rate is None:
            continue
        net = price * (HUNDRED - disc) / HUNDRED * rate
        key = (opp_id, product_id)
        if key not in best or net < best[key].net:
            deal = Deal(id=opp_id, account_id=account_id, company_id=company_id, owner_id=owner_id)
            best[key] = Quote(deal=deal, country=country, product_id=product_id, net=net)
    return list(best.values())


def load_quotes_many(
    organization: Organization, products_of: Mapping[int, Collection[int]]
) -> dict[int, list[Quote]]:
    """``load_quotes`` for many groups in one query (an import checks a chunk's groups
    together): the lines of all the groups' products, each group given those of its own."""
    found: dict[int, list[Quote]] = {group_id: [] for group_id in products_of}
    every = sorted(set().union(*products_of.values())) if products_of else []
    if not every:
        return found
    rows: dict[int, list[Sequence[Any]]] = defaultdict(list)
    for *row, group_id in _lines_quoted(
        organization.pk,
        organization.corporate_currency,
        Q(account_group_id__any_of=sorted(products_of)),
        every,
        extra=("opportunity__account_group_id",),
    ):
        if row[5] in products_of[group_id]:  # the product
            rows[group_id].append(row)
    for group_id, group_rows in rows.items():
        found[group_id] = _best_quotes(group_rows)
    return found


_CONFLICT_FIELDS = [f.attname for f in Conflict._meta.concrete_fields]


def _open_gaps_query(
    organization_id: int, group_id: int, products: list[int]
) -> QuerySet[Any, Any]:
    return (
        Conflict.objects.for_org(organization_id)
        .filter(
            account_id=group_id,
            kind=ConflictKind.PRICE_GAP,
            status=ConflictStatus.OPEN,
            product_id__any_of=products,
        )
        .order_by("pk")
        .values_list(*_CONFLICT_FIELDS)
    )


# Read with the quotes on every save with lines: built once per process as well.
_OPEN_GAPS = CompiledQuery(
    _open_gaps_query,
    "organization_id",
    "group_id",
    "products",
    scope="organization_id",
    arrays=("products",),
)


def open_price_gaps(
    organization_id: int, group_id: int, products: Collection[int]
) -> list[Conflict]:
    """The group's open price-gap situations of ``products``."""
    query, values = open_gaps_read(organization_id, group_id, products)
    return [
        Conflict.from_db(DEFAULT_DB_ALIAS, _CONFLICT_FIELDS, row) for row in query.rows(**values)
    ]


def open_gaps_read(
    organization_id: int, group_id: int, products: Collection[int]
) -> tuple[CompiledQuery, dict[str, Any]]:
    """The statement (and its values) ``open_price_gaps`` runs: for a save to read it ahead."""
    return _OPEN_GAPS, {
        "organization_id": organization_id,
        "group_id": group_id,
        "products": sorted(products),
    }


def open_price_gaps_of_groups(
    organization_id: int, group_ids: Collection[int]
) -> dict[int, list[Conflict]]:
    """Every open price-gap situation of each of the groups, in one query."""
    found: dict[int, list[Conflict]] = {group_id: [] for group_id in group_ids}
    if not group_ids:
        return found
    for row in (
        Conflict.objects.for_org(organization_id)
        .filter(
            account_id__any_of=sorted(group_ids),
            kind=ConflictKind.PRICE_GAP,
            status=ConflictStatus.OPEN,
            product__isnull=False,
        )
        .order_by("pk")
        .values_list(*_CONFLICT_FIELDS)
    ):
        conflict = Conflict.from_db(DEFAULT_DB_ALIAS, _CONFLICT_FIELDS, row)
        found[conflict.account_id].append(conflict)
    return found


def served_accounts(
    organization_id: int, wanted: Collection[tuple[int, str, int]]
) -> dict[tuple[int, str, int], tuple[int, int] | None]:
    """``served_account`` for many (group, country, booking company) in one query: the
    groups' accounts served by companies of the countries, the first (by id) of each group and
    country whose home company is not the booking one."""
    if not wanted:
        return {}
    rows: dict[tuple[int, str], list[tuple[int, int]]] = defaultdict(list)
    for pk, company_id, group_id, country in (
        Account.objects.for_org(organization_id)
        .filter(
            group_id__any_of=sorted({w[0] for w in wanted}),
            home_company__country__in=sorted({w[1] for w in wanted}),
        )
        .order_by("pk")
        .values_list("pk", "home_company_id", "group_id", "home_company__country")
    ):
        rows[(group_id, country)].append((pk, company_id))
    return {
        (group_id, country, booking): next(
            (row for row in rows[(group_id, country)] if row[1] != booking), None
        )
        for group_id, country, booking in wanted
    }


# --- Keeping the rows in step ------------------------------------------------------------------


@dataclass(frozen=True)
class DealFinding:
    """A per-deal finding: its key beyond the deal, the other side, and the text's parameters."""

    other_account_id: int | None
    agreement_id: int | None
    side_account_id: int | None  # the account whose home company is the other side
    side_company_id: int | None
    params: dict[str, Any]


def _deal_finding_sync(
    opportunity: Opportunity, kind: str, open_row: Conflict | None, finding: DealFinding | None
) -> DealSync:
    """A per-deal trade finding, kept in step by the per-deal rows' one rule (``_sync_one``)."""
    side = None
    if finding is not None and finding.side_company_id is not None:
        side = (finding.side_account_id, finding.side_company_id)
    return DealSync(
        kind,
        opportunity,
        open_row,
        finding is not None,
        agreement_id=finding.agreement_id if finding else None,
        other_account_id=finding.other_account_id if finding else None,
        params=finding.params if finding else None,
        side=side,
    )


def parallel_import_wanted(
    opportunity: Opportunity, trade: TradeRules
) -> tuple[int, str, int] | None:
    """The (group, delivery country, booking company) whose served account the rule reads, or
    None when it cannot hold (no query)."""
    country = opportunity.delivery_country
    if not trade.parallel_import or not delivered_abroad(
        opportunity.sales_company.country, country
    ):
        return None
    assert country is not None  # delivered_abroad
    group_id = opportunity.account_group_id or opportunity.account_id
    return (group_id, country, opportunity.sales_company_id)


def parallel_import_finding(
    opportunity: Opportunity,
    trade: TradeRules,
    served_of: Mapping[tuple[int, str, int], tuple[int, int] | None] | None = None,
) -> DealFinding | None:
    """``served_of``: ``served_accounts``' answer, when the caller read it already."""
    wanted = parallel_import_wanted(opportunity, trade)
    if wanted is None:
        return None
    group_id, country, booking = wanted
    served = (
        served_account(opportunity.organization_id, group_id, country, booking)
        if served_of is None
        else served_of[wanted]
    )
    if served is None:
        return None
    account_id, company_id = served
    return DealFinding(
        other_account_id=account_id,
        agreement_id=None,
        side_account_id=account_id,
        side_company_id=company_id,
        params={"country": country},
    )


def double_agreement_finding(
    agreements: Sequence[FrameworkAgreement], account: Account
) -> DealFinding | None:
    if len(agreements) < 2:
        return None
    applies, *others = agreements
    return DealFinding(
        other_account_id=None,
        agreement_id=applies.pk,
        side_account_id=account.pk,
        side_company_id=account.home_company_id,
        params={"applies": applies.name, "others": [a.name for a in others]},
    )


def sync_price_gaps(
    organization: Organization,
    group_id: int,
    products: Collection[int],
    trade: TradeRules,
    *,
    deal_closed: bool = False,
) -> Changes:
    """The group's price-gap situations of ``products`` in step with its open deals' quotes."""
    quotes = load_quotes(organization, group_id, products) if trade.price_gap else []
    plan = price_gap_plan(
        group_id,
        quotes,
        open_price_gaps(organization.pk, group_id, products),
        trade,
        deal_closed=deal_closed,
    )
    return sync_situations_many(organization.pk, [plan])


def price_gap_plan(
    group_id: int,
    quotes: Iterable[Quote],
    open_gaps: Iterable[Conflict],
    trade: TradeRules,
    *,
    deal_closed: bool = False,
) -> GroupSync:
    """The price-gap rule applied to a group's quotes (pure): the situations wanted against
    the open rows of the products compared."""
    wanted: dict[tuple[str, int | None], Situation] = {
        (ConflictKind.PRICE_GAP, product_id): Situation(
            ConflictKind.PRICE_GAP, product_id, tuple((q.deal, False) for q in members)
        )
        for product_id, members in price_gaps(quotes, trade.gap_percent).items()
    }
    return GroupSync(
        group_id,
        wanted,
        {(c.kind, c.product_id): c for c in open_gaps},
        deal_closed=deal_closed,
        params={"percent": str(trade.gap_percent.normalize())},
    )


def _sync_deal_trade(
    opportunity: Opportunity,
    trade: TradeRules,
    own: Mapping[str, Conflict],
    agreements: Sequence[FrameworkAgreement] | None,
) -> Changes:
    """An open deal's own trade situations: parallel import, and double agreement when it has
    lines (only a quote is priced under an agreement: ``agreements`` None means no lines)."""
    return sync_deal_situations(
        opportunity.organization_id, deal_trade_syncs(opportunity, trade, own, agreements)
    )


def deal_trade_syncs(
    opportunity: Opportunity,
    trade: TradeRules,
    own: Mapping[str, Conflict],
    agreements: Sequence[FrameworkAgreement] | None,
    served_of: Mapping[tuple[int, str, int], tuple[int, int] | None] | None = None,
) -> list[DealSync]:
    """``_sync_deal_trade``'s rules for one deal as the per-deal situations to bring in step;
    ``served_of`` as ``parallel_import_finding`` takes it."""
    syncs = [
        _deal_finding_sync(
            opportunity,
            ConflictKind.PARALLEL_IMPORT,
            own.get(ConflictKind.PARALLEL_IMPORT),
            parallel_import_finding(opportunity, trade, served_of),
        )
    ]
    double = None
    if agreements is not None and trade.double_agreement:
        double = double_agreement_finding(agreements, opportunity.account)
    open_double = own.get(ConflictKind.DOUBLE_AGREEMENT)
    if double is not None or open_double is not None:
        syncs.append(
            _deal_finding_sync(opportunity, ConflictKind.DOUBLE_AGREEMENT, open_double, double)
        )
    return syncs


def check_trade(
    opportunity: Opportunity,
    *,
    situations: DealSituations,
    lines: Sequence[tuple[int, Decimal]],
    closed: bool,
    agreements: Sequence[FrameworkAgreement] | None = None,
) -> Changes:
    """The save's hook (``conflicts._detect``): the deal's trade situations in step. A closed
    deal's own rows are ended by ``close_deal_situations``; here it leaves its price gaps.
    ``agreements``: those covering the deal when it has lines (read once by the caller)."""
    trade = TradeRules.of(opportunity.organization)
    group_id = opportunity.account_group_id or opportunity.account_id
    changes = Changes()
    if not closed:
        if lines and agreements is None:
            agreements = covering_agreements(
                account=opportunity.account,
                on_date=timezone.localdate(),
                booking_company_id=opportunity.sales_company_id,
            )
        changes += _sync_deal_trade(
            opportunity, trade, situations.own, agreements if lines else None
        )
    products = _gap_products(situations, lines, closed)
    if products:
        changes += sync_price_gaps(
            opportunity.organization, group_id, products, trade, deal_closed=closed
        )
    return changes


def _gap_products(
    situations: DealSituations, lines: Sequence[tuple[int, Decimal]], closed: bool
) -> set[int]:
    """The products whose price gaps a save re-checks: those of the price gaps the deal's
    group has open that the deal is in, and (open) the products of its lines."""
    products = {
        c.product_id
        for c in situations.others
        if c.kind == ConflictKind.PRICE_GAP and c.product_id is not None
    }
    if not closed:
        products |= {product_id for product_id, _discount in lines}
    return products


def trade_reads(
    opportunity: Opportunity,
    *,
    situations: DealSituations,
    lines: Sequence[tuple[int, Decimal]],
    closed: bool,
) -> list[tuple[CompiledQuery, dict[str, Any]]]:
    """The statements (and values) ``check_trade`` will run for its price gaps, whose results
    do not depend on the save's other reads or writes (its quotes, its open price gaps): for
    the save to read them ahead (``crm.db.compiled.read_ahead``)."""
    products = _gap_products(situations, lines, closed)
    if not products:
        return []
    group_id = opportunity.account_group_id or opportunity.account_id
    reads = [open_gaps_read(opportunity.organization_id, group_id, products)]
    if TradeRules.of(opportunity.organization).price_gap:
        reads.append(quotes_read(opportunity.organization, group_id, products))
    return reads


def recheck_group(
    organization: Organization,
    group_id: int,
    deals: Sequence[DealFacts],
    agreements_of: Mapping[int, Sequence[FrameworkAgreement]] | None = None,
) -> Changes:
    """The group re-check's trade rules (an account joined, left or merged into the group):
    each open deal's parallel import and double agreement, and the price gaps of every product
    the group's open deals quote or an open gap names. ``deals``: the open deals' facts
    (``load_deal``); ``agreements_of``: the agreements covering each deal with lines, by deal
    id, when the caller read them already (``covering_agreements``)."""
    trade = TradeRules.of(organization)
    today = timezone.localdate()
    changes = Changes()
    products: set[int] = set()
    for facts in deals:
        deal = facts.opportunity
        agreements = None
        if facts.lines and trade.double_agreement:
            known = agreements_of.get(deal.pk) if agreements_of is not None else None
            agreements = (
                known
                if known is not None
                else covering_agreements(
                    account=deal.account, on_date=today, booking_company_id=deal.sales_company_id
                )
            )
        changes += _sync_deal_trade(deal, trade, facts.situations.own, agreements)
        products |= {product_id for product_id, _discount in facts.lines}
    products |= set(
        Conflict.objects.for_org(organization.pk)
        .filter(
            account_id=group_id,
            kind=ConflictKind.PRICE_GAP,
            status=ConflictStatus.OPEN,
            product__isnull=False,
        )
        .values_list("product_id", flat=True)
    )
    if products:
        changes += sync_price_gaps(organization, group_id, products, trade)
    return changes


# --- The live preview --------------------------------------------------------------------------


def typed_quotes(
    *,
    organization: Organization,
    currency: str,
    lines: Iterable[tuple[Product, Decimal | None, Decimal]],
    on_date: dt.date,
) -> list[tuple[int, Decimal]]:
    """The typed lines as (product, net unit price in the corporate currency): an empty price
    is the product's (price book or converted list price), as the save would set it. A line
    that cannot be priced or converted is left out, like the save's comparison does."""
    lines = list(lines)
    if not lines:
        return []
    book = pricing.price_book(
        organization_id=organization.pk, product_ids=[line[0].pk for line in lines]
    )
    rates = pricing.rates_on(organization=organization, on_date=on_date)
    if currency not in rates:
        return []
    found = []
    for product, price, discount in lines:
        if price is None:
            try:
                price = pricing.price_in(
                    product=product,
                    currency=currency,
                    on_date=on_date,
                    organization=organization,
                    book=book,
                ).amount
            except MissingExchangeRateError:
                continue
        found.append((product.pk, price * (HUNDRED - discount) / HUNDRED * rates[currency]))
    return found


@dataclass(frozen=True)
class PreviewFinding:
    """An unsaved trade situation for the preview: the conflict and its draft participants."""

    conflict: Conflict
    participants: list[ConflictParticipant]


def preview_trade(
    *,
    user: Any,
    account: Account,
    sales_company: Any,
    owner_id: int,
    delivery_country: str | None,
    quotes: Sequence[tuple[int, Decimal]],
    opportunity_id: int | None = None,
) -> list[PreviewFinding]:
    """The save's trade rules on the values typed. ``quotes``: (product, net unit price in the
    corporate currency) of the lines typed. No oracle: the price rule compares with deals the
    user may see only, so typing price after price reveals nothing of a hidden deal's lines;
    the other two rules do not depend on other deals at all."""
    org = user.organization
    trade = TradeRules.of(org)
    org_id = account.organization_id
    group_id = account.group_id or account.pk
    found: list[PreviewFinding] = []
    deal_row = ConflictParticipant(
        organization_id=org_id, opportunity_id=opportunity_id, sales_company=sales_company
    )
    if trade.parallel_import and delivered_abroad(sales_company.country, delivery_country):
        assert delivery_country is not None
        served = served_account(org_id, group_id, delivery_country, sales_company.pk)
        if served is not None:
            side = ConflictParticipant(
                organization_id=org_id, account_id=served[0], sales_company_id=served[1]
            )
            found.append(
                PreviewFinding(
                    Conflict(
                        organization_id=org_id,
                        kind=ConflictKind.PARALLEL_IMPORT,
                        account=account,
                        other_account_id=served[0],
                        sales_company=sales_company,
                        params={"country": delivery_country},
                    ),
                    [deal_row, side],
                )
            )
    if trade.double_agreement and quotes:
        agreements = covering_agreements(
            account=account, on_date=timezone.localdate(), booking_company_id=sales_company.pk
        )
        finding = double_agreement_finding(agreements, account)
        if finding is not None:
            rows = [deal_row]
            if account.home_company_id != sales_company.pk:
                rows.append(
                    ConflictParticipant(
                        organization_id=org_id,
                        account_id=account.pk,
                        sales_company_id=account.home_company_id,
                    )
                )
            found.append(
                PreviewFinding(
                    Conflict(
                        organization_id=org_id,
                        kind=ConflictKind.DOUBLE_AGREEMENT,
                        account=account,
                        agreement_id=finding.agreement_id,
                        sales_company=sales_company,
                        params=finding.params,
                    ),
                    rows,
                )
            )
    if trade.price_gap and quotes:
        draft = Deal(id=None, account_id=account.pk, company_id=sales_company.pk, owner_id=owner_id)
        typed: dict[int, Quote] = {}
        for product_id, net in quotes:
            if product_id not in typed or net < typed[product_id].net:
                typed[product_id] = Quote(draft, sales_company.country, product_id, net)
        others = load_quotes(
            org,
            group_id,
            set(typed),
            exclude_id=opportunity_id,
            visible=Opportunity.objects.visible_to(user),
        )
        gaps = price_gaps([*others, *typed.values()], trade.gap_percent)
        for product_id, members in sorted(gaps.items()):
            if not any(q.deal is draft for q in members):
                continue  # the group's own business, not this deal's
            rows = [deal_row] + [
                ConflictParticipant(
                    organization_id=org_id,
                    opportunity_id=q.deal.id,
                    sales_company_id=q.deal.company_id,
                    seller_id=q.deal.owner_id,
                )
                for q in members
                if q.deal is not draft
            ]
            found.append(
                PreviewFinding(
                    Conflict(
                        organization_id=org_id,
                        kind=ConflictKind.PRICE_GAP,
                        account=account.group or account,
                        product_id=product_id,
                        sales_company=sales_company,
                        params={"percent": str(trade.gap_percent.normalize())},
                    ),
                    rows,
                )
            )
    _resolve(org_id, found)
    return found


def _resolve(org_id: int, found: list[PreviewFinding]) -> None:
    """The drafts' companies and sellers in two queries (the warnings read them as objects)."""
    rows = [p for f in found for p in f.participants]
    companies = SalesCompany.objects.for_org(org_id).in_bulk({p.sales_company_id for p in rows})
    sellers = User.objects.for_org(org_id).in_bulk({p.seller_id for p in rows if p.seller_id})
    for p in rows:
        p.sales_company = companies[p.sales_company_id]
        if p.seller_id:
            p.seller = sellers[p.seller_id]


# --- What a reader is told ---------------------------------------------------------------------


def _names(values: Iterable[str]) -> str:
    return ", ".join(sorted(set(values)))


def trade_text(conflict: Conflict, participants: Sequence[Any]) -> str:
    """The trade situation in the reader's language from its kind and parameters. Companies,
    countries, agreement and product names only: never a price, amount or deal detail."""
    active = [p for p in participants if p.left_at is None] or list(participants)
    params = conflict.params or {}
    if conflict.kind == ConflictKind.PARALLEL_IMPORT:
        booking = _names(p.company.name for p in active if p.participant.account_id is None)
        served = _names(p.company.name for p in active if p.participant.account_id is not None)
        return _(
            "Booked by %(booking)s for delivery to %(country)s, where %(served)s serves this "
            "customer group: a possible parallel import."
        ) % {"booking": booking, "country": params.get("country", ""), "served": served}
    if conflict.kind == ConflictKind.DOUBLE_AGREEMENT:
        others = [str(n) for n in params.get("others", [])]
        return ngettext(
            "%(applies)s applies to this quote; %(others)s also covers this customer.",
            "%(applies)s applies to this quote; %(others)s also cover this customer.",
            len(others),
        ) % {"applies": params.get("applies", ""), "others": ", ".join(others)}
    return _(
        "%(product)s is quoted to this group by %(companies)s at net prices more than "
        "%(pct)s%% apart."
    ) % {
        "product": conflict.product.name if conflict.product_id and conflict.product else "",
        "companies": _names(p.company.name for p in active),
        "pct": _percent(params.get("percent", "")),
    }


def _percent(value: Any) -> str:
    try:
        return number_format(Decimal(str(value)), use_l10n=True, force_grouping=False)
    except ArithmeticError:
        return str(value)
