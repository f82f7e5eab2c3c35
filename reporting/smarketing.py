"""Smarketing: the joint goals of sales and marketing, per sales company and per campaign.

Definitions (for one fiscal period P, the figures of what the viewer may see):

* **Leads created** — leads created in P (the period's cohort).
* **Qualified** — of that cohort, the leads marketing qualified (``qualified_at``) or that were
  converted (a lead sales took over counts as qualified, whatever route it took).
* **Converted** — of that cohort, the leads converted into an opportunity (by the report date).
* **Conversion rate** — converted / created of the cohort (lead-to-opportunity); the
  **qualified conversion rate** is converted / qualified of the same cohort. A cohort rate never
  exceeds 100 %, unlike "converted in P / created in P", which mixes two populations.
* **Qualified leads of the period** — leads qualified in P (``qualified_at`` in P), whenever
  created: marketing's inflow, shown beside the new-customer targets of P.
* **Time to hand-over / to conversion** — for leads handed over (first assigned to a seller, or
  converted without an assignment: ``handed_over_at``) or converted in P after a qualification:
  days from ``qualified_at`` to the hand-over or to the conversion, average and median.
* **Campaign-sourced pipeline / won** — opportunities whose source lead came from a campaign
  (``source_lead.campaign``), booked in scope: open ones at the report date's rate, won ones
  closed in P at their close date's rate.
* **Events attended** — activities of kind "event" that happened in P up to the report date, by
  the sellers of the scope (their company is the activity's), against the "events attended"
  targets: a company's own target, else the sum of its people's.

Leads are placed by their sales company (the one their country routes to), deals by their
booking company, events by the activity's company. Every list is a fixed number of queries
(six for a dashboard, four for a campaign), whatever the number of leads or deals.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.db.models import (
    Aggregate,
    Avg,
    Count,
    DecimalField,
    F,
    Func,
    Q,
    QuerySet,
    Sum,
)
from django.utils import timezone

from accounts.models import Activity, ActivityKind
from crm.models import User
from crm.money import missing_rate, money, raise_if_missing, with_corporate_amount
from leads.models import Lead
from reporting import kpis
from reporting.kpis import ORGANIZATION, Scope
from reporting.models import Target, TargetKind
from reporting.periods import Period

ONE_DECIMAL = Decimal("0.1")
SECONDS_PER_DAY = Decimal(86400)


class Median(Aggregate):
    """PostgreSQL's continuous median (an ordered-set aggregate; FILTER works with it)."""

    function = "percentile_cont"
    name = "Median"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = DecimalField()


def _seconds_between(later: str, earlier: str) -> Func:
    return Func(
        F(later) - F(earlier),
        template="EXTRACT(EPOCH FROM %(expressions)s)",
        output_field=DecimalField(),
    )


def _days(seconds: Decimal | float | None) -> Decimal | None:
    if seconds is None:
        return None
    return (Decimal(seconds) / SECONDS_PER_DAY).quantize(ONE_DECIMAL, rounding=ROUND_HALF_EVEN)


@dataclass
class Funnel:
    """The smarketing figures of one sales company, one campaign, or the whole scope."""

    key: int | None
    name: str
    created: int = 0
    qualified: int = 0
    converted: int = 0
    qualified_in_period: int = 0
    handed_over: int = 0
    hand_over_avg_days: Decimal | None = None
    hand_over_median_days: Decimal | None = None
    conversions_timed: int = 0
    conversion_avg_days: Decimal | None = None
    conversion_median_days: Decimal | None = None
    sourced_open_count: int = 0
    sourced_pipeline: Decimal = Decimal(0)
    sourced_won_count: int = 0
    sourced_won: Decimal = Decimal(0)
    new_customer_target: Decimal | None = None

    @property
    def conversion_rate(self) -> Decimal | None:
        return kpis.percent(self.converted, self.created)

    @property
    def qualified_conversion_rate(self) -> Decimal | None:
        return kpis.percent(self.converted, self.qualified)


@dataclass(frozen=True)
class EventsRow:
    party: str  # "company" or "user"
    key: int
    name: str
    attended: int
    target: Decimal | None

    @property
    def attainment(self) -> Decimal | None:
        return kpis.percent(self.attended, self.target) if self.target else None


@dataclass
class Smarketing:
    period: Period
    total: Funnel
    by_company: list[Funnel] = field(default_factory=list)
    by_campaign: list[Funnel] = field(default_factory=list)
    events: list[EventsRow] = field(default_factory=list)
    events_attended: int = 0
    events_target: Decimal | None = None

    @property
    def events_attainment(self) -> Decimal | None:
        if not self.events_target:
            return None
        return kpis.percent(self.events_attended, self.events_target)

    def events_shown(self, level: str) -> list[EventsRow]:
        """Companies always; people on a company's dashboard only (as the attainment table)."""
        if level == "company":
            return self.events
        return [r for r in self.events if r.party == "company"]


# --- Leads ---------------------------------------------------------------------------------


def _midnight(day: dt.date) -> dt.datetime:
    """The day's first instant in the current time zone (what ``__date`` compares in)."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _in(period: Period, name: str) -> Q:
    return Q(**{f"{name}__date__gte": period.start, f"{name}__date__lt": period.end})


def scoped_leads(user: User, scope: Scope, campaign_id: int | None = None) -> QuerySet[Lead]:
    qs = Lead.objects.visible_to(user).filter(scope.q(owner_field="owner_id"))
    if campaign_id is not None:
        qs = qs.filter(campaign_id=campaign_id)
    return qs


def _lead_aggregates(period: Period) -> dict[str, Any]:
    cohort = _in(period, "created_at")
    qualified = Q(qualified_at__isnull=False) | Q(converted_at__isnull=False)
    timed_hand_over = (
        _in(period, "handed_over_at")
        & Q(qualified_at__isnull=False)
        & Q(handed_over_at__gte=F("qualified_at"))
    )
    timed_conversion = (
        _in(period, "converted_at")
        & Q(qualified_at__isnull=False)
        & Q(converted_at__gte=F("qualified_at"))
    )
    hand_over = _seconds_between("handed_over_at", "qualified_at")
    conversion = _seconds_between("converted_at", "qualified_at")
    return {
        "created": Count("id", filter=cohort),
        "qualified": Count("id", filter=cohort & qualified),
        "converted": Count("id", filter=cohort & Q(converted_at__isnull=False)),
        "qualified_in_period": Count("id", filter=_in(period, "qualified_at")),
        "handed_over": Count("id", filter=timed_hand_over),
        "hand_over_avg": Avg(hand_over, filter=timed_hand_over),
        "hand_over_median": Median(hand_over, filter=timed_hand_over),
        "conversions_timed": Count("id", filter=timed_conversion),
        "conversion_avg": Avg(conversion, filter=timed_conversion),
        "conversion_median": Median(conversion, filter=timed_conversion),
    }


def _touching(period: Period) -> Q:
    """Leads any figure of the period reads: a narrower scan than every lead of the scope."""
    return (
        _in(period, "created_at")
        | _in(period, "qualified_at")
        | _in(period, "handed_over_at")
        | _in(period, "converted_at")
    )


def _fill_leads(f: Funnel, r: Mapping[str, Any]) -> None:
    f.created, f.qualified, f.converted = r["created"], r["qualified"], r["converted"]
    f.qualified_in_period = r["qualified_in_period"]
    f.handed_over = r["handed_over"]
    f.hand_over_avg_days = _days(r["hand_over_avg"])
    f.hand_over_median_days = _days(r["hand_over_median"])
    f.conversions_timed = r["conversions_timed"]
    f.conversion_avg_days = _days(r["conversion_avg"])
    f.conversion_median_days = _days(r["conversion_median"])


def _lead_rows(
    user: User, scope: Scope, period: Period, by: tuple[str, str] | None, campaign_id: int | None
) -> list[Mapping[str, Any]]:
    qs = scoped_leads(user, scope, campaign_id).filter(_touching(period))
    if by is None:
        return [qs.aggregate(**_lead_aggregates(period))]
    return list(qs.values(*by).annotate(**_lead_aggregates(period)).order_by())


# --- Campaign-sourced deals ----------------------------------------------------------------


def _sourced_rows(
    user: User, scope: Scope, period: Period, as_of: dt.date, campaign_id: int | None
) -> list[Mapping[str, Any]]:
    """Open and won (in ``period``) deals from campaign leads, per booking company and
    campaign: one query; totals are added up from the exact (unrounded) sums."""
    org = user.organization
    is_open = Q(global_stage__is_won=False, global_stage__is_lost=False)
    won = Q(global_stage__is_won=True) & _in(period, "closed_at")
    qs = kpis.visible_opportunities(user, scope).filter(
        is_open | won, source_lead__campaign__isnull=False
    )
    if campaign_id is not None:
        qs = qs.filter(source_lead__campaign_id=campaign_id)
    priced = with_corporate_amount(qs, org, rate_date=kpis.rate_date_expression(as_of))
    rows: list[Mapping[str, Any]] = list(
        priced.values(
            "sales_company_id",
            "sales_company__name",
            "source_lead__campaign_id",
            "source_lead__campaign__name",
        )
        .annotate(
            open_count=Count("id", filter=is_open),
            open_amount=Sum("corporate_amount", filter=is_open),
            won_count=Count("id", filter=won),
            won_amount=Sum("corporate_amount", filter=won),
            missing=missing_rate(),
        )
        .order_by()
    )
    raise_if_missing(org, [r["missing"] for r in rows])
    return rows


def _add_sourced(
    funnels: dict[int | None, Funnel], key: int | None, name: str, r: Mapping[str, Any]
) -> None:
    f = funnels.setdefault(key, Funnel(key, name))
    f.sourced_open_count += r["open_count"]
    f.sourced_pipeline += r["open_amount"] or Decimal(0)
    f.sourced_won_count += r["won_count"]
    f.sourced_won += r["won_amount"] or Decimal(0)


def _round_money(funnels: list[Funnel]) -> None:
    for f in funnels:
        f.sourced_pipeline, f.sourced_won = money(f.sourced_pipeline), money(f.sourced_won)


# --- Events --------------------------------------------------------------------------------


def _events(
    user: User, scope: Scope, period: Period, as_of: dt.date
) -> tuple[list[EventsRow], int, Decimal | None]:
    """Events attended per company and per seller against the events targets. Two queries."""
    until = min(period.end, as_of + dt.timedelta(days=1))
    rows = list(
        Activity.objects.visible_to(user)
        .filter(
            scope.q(),
            kind=ActivityKind.EVENT,
            # Instants, not ``__date``: the partial index on events' happened_at serves them.
            happened_at__gte=_midnight(period.start),
            happened_at__lt=_midnight(until),
        )
        .values("sales_company_id", "sales_company__name", "owner_id", "owner__full_name")
        .annotate(n=Count("id"))
        .order_by()
    )
    targets = list(
        Target.objects.visible_to(user)
        .filter(
            Q(sales_company__isnull=False, **kpis._company_scope(scope))
            | Q(user__isnull=False, **kpis._user_scope(scope)),
            kind=TargetKind.EVENTS_ATTENDED,
            period_kind=period.kind,
            period_start=period.start,
        )
        .values(
            "sales_company_id",
            "sales_company__name",
            "user_id",
            "user__full_name",
            "user__sales_company_id",
            "user__sales_company__name",
            "value",
        )
    )
    company_names: dict[int, str] = {}
    company_count: dict[int, int] = {}
    people: dict[int, tuple[str, int]] = {}
    for r in rows:
        company_names[r["sales_company_id"]] = r["sales_company__name"]
        company_count[r["sales_company_id"]] = company_count.get(r["sales_company_id"], 0) + r["n"]
        name, before = people.get(r["owner_id"], (r["owner__full_name"], 0))
        people[r["owner_id"]] = (name, before + r["n"])
    company_target: dict[int, Decimal] = {}
    people_target: dict[int, Decimal] = {}  # per company: the sum of its people's targets
    person_target: dict[int, tuple[str, Decimal]] = {}
    for t in targets:
        if t["sales_company_id"]:
            company_target[t["sales_company_id"]] = t["value"]
            company_names.setdefault(t["sales_company_id"], t["sales_company__name"])
        else:
            person_target[t["user_id"]] = (t["user__full_name"], t["value"])
            co = t["user__sales_company_id"]
            if co is not None:
                people_target[co] = people_target.get(co, Decimal(0)) + t["value"]
                company_names.setdefault(co, t["user__sales_company__name"])
    out: list[EventsRow] = []
    for key in sorted(company_names, key=lambda k: company_names[k]):
        target = company_target.get(key, people_target.get(key))
        out.append(EventsRow("company", key, company_names[key], company_count.get(key, 0), target))
    for key in sorted(set(people) | set(person_target)):
        name = people[key][0] if key in people else person_target[key][0]
        target = person_target[key][1] if key in person_target else None
        out.append(EventsRow("user", key, name, people.get(key, ("", 0))[1], target))
    attended = sum(company_count.values())
    company_rows = [r for r in out if r.party == "company"]
    with_target = [r.target for r in company_rows if r.target is not None]
    if scope.user_id:
        person = person_target.get(scope.user_id)
        total_target = person[1] if person else None
    else:
        total_target = sum(with_target, Decimal(0)) if with_target else None
    return out, attended, total_target


# --- Assembled -----------------------------------------------------------------------------


def smarketing(
    *, user: User, scope: Scope = ORGANIZATION, period: Period, as_of: dt.date
) -> Smarketing:
    """The dashboard's smarketing figures for ``scope`` and ``period``. Seven queries."""
    total = Funnel(None, "")
    _fill_leads(total, _lead_rows(user, scope, period, None, None)[0])
    companies: dict[int | None, Funnel] = {}
    for r in _lead_rows(user, scope, period, ("sales_company_id", "sales_company__name"), None):
        if r["sales_company_id"] is None:
            continue  # leads no company works (an unrouted country): in the total only
        f = companies.setdefault(r["sales_company_id"], Funnel(r["sales_company_id"], ""))
        f.name = r["sales_company__name"]
        _fill_leads(f, r)
    campaigns: dict[int | None, Funnel] = {}
    for r in _lead_rows(user, scope, period, ("campaign_id", "campaign__name"), None):
        if r["campaign_id"] is None:
            continue
        f = campaigns.setdefault(r["campaign_id"], Funnel(r["campaign_id"], r["campaign__name"]))
        _fill_leads(f, r)
    for r in _sourced_rows(user, scope, period, as_of, None):
        _add_sourced(companies, r["sales_company_id"], r["sales_company__name"], r)
        _add_sourced(campaigns, r["source_lead__campaign_id"], r["source_lead__campaign__name"], r)
        _add_sourced({None: total}, None, "", r)
    new_customer_targets = kpis.target_sums(
        user=user, scope=scope, kind=TargetKind.NEW_CUSTOMERS, periods=[period], group="company"
    )
    for (_start, key), value in new_customer_targets.items():
        if key is not None and key in companies:
            companies[key].new_customer_target = value
    if new_customer_targets and not scope.user_id:
        total.new_customer_target = sum(new_customer_targets.values(), Decimal(0))
    events, attended, events_target = _events(user, scope, period, as_of)
    by_company = sorted(companies.values(), key=lambda f: f.name)
    by_campaign = sorted(campaigns.values(), key=lambda f: f.name)
    _round_money([total, *by_company, *by_campaign])
    return Smarketing(
        period=period,
        total=total,
        by_company=by_company,
        by_campaign=by_campaign,
        events=events,
        events_attended=attended,
        events_target=events_target,
    )


@dataclass
class CampaignFigures:
    """One campaign's own figures: its leads and the deals they became, per company."""

    period: Period | None  # None: the campaign's whole life
    total: Funnel
    by_company: list[Funnel]


ALL_TIME = Period("year", dt.date(1900, 1, 1), dt.date(9999, 1, 1), "")


def campaign_figures(
    *, user: User, campaign_id: int, as_of: dt.date, period: Period | None = None
) -> CampaignFigures:
    """A campaign's funnel and sourced deals (won at any time unless ``period``), in total and
    per sales company, of what the user may see. Three queries."""
    p = period or ALL_TIME
    total = Funnel(campaign_id, "")
    _fill_leads(total, _lead_rows(user, ORGANIZATION, p, None, campaign_id)[0])
    companies: dict[int | None, Funnel] = {}
    by = ("sales_company_id", "sales_company__name")
    for r in _lead_rows(user, ORGANIZATION, p, by, campaign_id):
        if r["sales_company_id"] is None:
            continue
        f = companies.setdefault(r["sales_company_id"], Funnel(r["sales_company_id"], ""))
        f.name = r["sales_company__name"]
        _fill_leads(f, r)
    for r in _sourced_rows(user, ORGANIZATION, p, as_of, campaign_id):
        _add_sourced(companies, r["sales_company_id"], r["sales_company__name"], r)
        _add_sourced({None: total}, None, "", r)
    by_company = sorted(companies.values(), key=lambda f: f.name)
    _round_money([total, *by_company])
    return CampaignFigures(period=period, total=total, by_company=by_company)
