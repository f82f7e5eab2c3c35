"""Reporting demo data: targets for every company and rep, ~6 months of weekly snapshots, and
five weeks of company measures with last week's deviation alerts.

Idempotent: targets are set (create or replace) and a snapshot re-taken for the same day
replaces that day. The snapshots are rebuilt from the demo opportunities and their stage
history (see ``pipeline_snapshot_take``), so the trend shows what the seeded deals did.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

from django.utils import timezone

from accounts.models import Account, Activity, ActivityKind, Segment, SegmentRule
from accounts.services import account_update, activity_log
from crm.models import Organization, SalesCompany, User
from crm.money import MissingExchangeRateError
from crm.roles import Role
from opportunities.models import Opportunity, OpportunitySplit, SplitKind
from opportunities.services import opportunity_set_splits
from reporting.customer_value import refresh_account_values
from reporting.deviations import deviations_raise, week_of
from reporting.models import CompanyMeasure, Measure, PeriodKind, TargetKind
from reporting.periods import fiscal_quarter, fiscal_year, quarters_of_year
from reporting.services import pipeline_snapshot_take, target_set

logger = logging.getLogger(__name__)

SNAPSHOT_WEEKS = 26
# Yearly targets in the corporate currency; a company's grows with its position in the list so
# that the dashboard's bars differ (deterministic: the same on every run).
COMPANY_REVENUE = Decimal(400_000)
COMPANY_STEP = Decimal(150_000)
REP_REVENUE = Decimal(250_000)
REP_OVERLAY = Decimal(120_000)
COMPANY_OVERLAY = Decimal(160_000)

# Overlay credit (issue 19): a specialist from another company on two won deals, beside the
# revenue owner: deal name -> (overlay holder's e-mail, percent).
OVERLAYS = {
    "Volvera Danmark spare parts": ("rep.se@nordvik.example", Decimal(15)),
    "Bayerische Pumpen Ersatzteile": ("rep.se@nordvik.example", Decimal(20)),
    "Göta Verkstäder pumps": ("rep.de@nordvik.example", Decimal(10)),
}
# Trade fairs attended by sellers (activities of kind event): (account registration number,
# subject, seller, days ago); kept inside this fiscal quarter (see _in_quarter).
EVENTS = [
    ("SE5560001001", "Elmia Subcontractor: Volvera stand visit", "rep.se@nordvik.example", 38),
    ("SE5560100001", "Elmia Subcontractor: Göta Verkstäder demo", "rep.se@nordvik.example", 37),
    ("DE300100001", "Hannover Messe: Bayerische Pumpen dinner", "rep.de@nordvik.example", 22),
    ("DK30100001", "Foodtech Herning: Øresund booth talk", "rep.dk@nordvik.example", 9),
]


def _targets(
    org: Organization,
    *,
    kind: str,
    yearly: Decimal,
    sales_company: SalesCompany | None = None,
    user: User | None = None,
) -> None:
    year = fiscal_year(org, timezone.localdate())
    target_set(
        organization=org, kind=kind, period_kind=PeriodKind.YEAR, period_start=year.start,
        value=yearly, acting_user=None, sales_company=sales_company, user=user,
    )  # fmt: skip
    for quarter in quarters_of_year(org, year):
        target_set(
            organization=org, kind=kind, period_kind=PeriodKind.QUARTER,
            period_start=quarter.start, value=(yearly / 4).quantize(Decimal("0.01")),
            acting_user=None, sales_company=sales_company, user=user,
        )  # fmt: skip


# Customer value (issue 19): market potentials typed on a few Nordvik accounts (by registration
# number) and a rule set, so that the nightly assignment gives A, B and C accounts.
DEMO_POTENTIALS = {
    "SE5560001001": ("8000000", "Global account plan 2026"),
    "DE300022001": ("6000000", "Trade fair estimate"),
    "FI2233001": ("2000000", "Industry association figures"),
    "SE5560100001": ("1500000", "Key account manager's estimate"),
    "DK30100001": ("1200000", "Key account manager's estimate"),
}
# (order, segment, minimum lifetime value, minimum potential) in EUR.
DEMO_RULES = [
    (10, Segment.A, "1000000", None),
    (20, Segment.A, None, "5000000"),
    (30, Segment.B, "150000", None),
    (40, Segment.B, None, "1000000"),
]


def _customer_value(org: Organization) -> None:
    accounts = Account.objects.for_org(org).filter(registration_number__in=DEMO_POTENTIALS)
    for account in accounts:
        amount, source = DEMO_POTENTIALS[account.registration_number]
        if account.potential != Decimal(amount):
            account_update(
                account=account,
                acting_user=None,
                potential=Decimal(amount),
                potential_source=source,
            )
    if accounts and not SegmentRule.objects.for_org(org).exists():
        for order, segment, min_value, min_potential in DEMO_RULES:
            SegmentRule.objects.create(
                organization=org,
                order=order,
                segment=segment,
                min_lifetime_value=Decimal(min_value) if min_value else None,
                min_potential=Decimal(min_potential) if min_potential else None,
            )
    # What the nightly task does; the first run assigns the segments from the rules.
    refresh_account_values(organization=org)


def seed_demo(org: Organization) -> None:
    companies = SalesCompany.objects.for_org(org).order_by("code")
    for i, company in enumerate(companies):
        revenue = COMPANY_REVENUE + COMPANY_STEP * (i % 4)
        _targets(org, kind=TargetKind.REVENUE, yearly=revenue, sales_company=company)
        _targets(org, kind=TargetKind.NEW_CUSTOMERS, yearly=Decimal(8), sales_company=company)
        _targets(org, kind=TargetKind.PIPELINE_GENERATED, yearly=revenue * 3, sales_company=company)
        _targets(org, kind=TargetKind.OVERLAY, yearly=COMPANY_OVERLAY, sales_company=company)
    reps = User.objects.for_org(org).filter(role=Role.SALES_REP, is_active=True).order_by("pk")
    for rep in reps:
        _targets(org, kind=TargetKind.REVENUE, yearly=REP_REVENUE, user=rep)
        _targets(org, kind=TargetKind.PIPELINE_GENERATED, yearly=REP_REVENUE * 3, user=rep)
        _targets(org, kind=TargetKind.EVENTS_ATTENDED, yearly=Decimal(6), user=rep)
        _targets(org, kind=TargetKind.OVERLAY, yearly=REP_OVERLAY, user=rep)
    if org.slug == "nordvik":
        _seed_overlays(org)
        _seed_events(org)
    today = timezone.localdate()
    monday = today - dt.timedelta(days=today.weekday())
    for week in range(SNAPSHOT_WEEKS, -1, -1):
        day = monday - dt.timedelta(weeks=week)
        try:
            pipeline_snapshot_take(organization=org, on_date=day)
        except MissingExchangeRateError as exc:
            # A demo without rates that far back simply has a shorter trend.
            logger.info("No demo snapshot for %s: %s", day, exc)
    _customer_value(org)


def _seed_overlays(org: Organization) -> None:
    """Add an overlay split beside each listed deal's revenue splits (once)."""
    deals = Opportunity.objects.for_org(org).filter(name__in=list(OVERLAYS))
    for deal in deals:
        splits = list(OpportunitySplit.objects.for_org(org).filter(opportunity=deal))
        if any(s.kind == SplitKind.OVERLAY for s in splits):
            continue
        email, percent = OVERLAYS[deal.name]
        holder = User.objects.for_org(org).get(email=email)
        opportunity_set_splits(
            opportunity=deal,
            splits=[
                *[(s.user, s.sales_company, s.kind, s.percent) for s in splits],
                (holder, holder.sales_company, SplitKind.OVERLAY, percent),
            ],
            acting_user=None,
        )


def _in_quarter(org: Organization, days_ago: int) -> dt.datetime:
    """``days_ago`` before now, but not before this fiscal quarter began: the demo's figures
    are the quarter's, whatever day it is seeded on."""
    now = timezone.now()
    start = fiscal_quarter(org, timezone.localdate()).start
    first = timezone.make_aware(dt.datetime.combine(start, dt.time(9)))
    return min(now, max(first, now - dt.timedelta(days=days_ago)))


def _seed_events(org: Organization) -> None:
    known = set(
        Activity.objects.for_org(org)
        .filter(kind=ActivityKind.EVENT)
        .values_list("subject", flat=True)
    )
    accounts = {a.registration_number: a for a in Account.objects.for_org(org)}
    for reg, subject, email, days_ago in EVENTS:
        if subject in known or reg not in accounts:
            continue
        when = _in_quarter(org, days_ago)
        activity_log(
            account=accounts[reg],
            kind=ActivityKind.EVENT,
            subject=subject,
            owner=User.objects.for_org(org).get(email=email),
            happened_at=when,
            done_at=when,
            duration_minutes=180,
            acting_user=None,
        )


# Deviation alerts: five weeks of measures per company (a steady trend with small wiggles), and
# last week three companies off course — Sweden's win rate fell below its own trend, Denmark's
# data quality slipped against its own, the US's coverage is far below the organization's
# average. Raised through the weekly run's own code (``deviations_raise``), so the director and
# the Swedish and Danish managers have them in the bell and by mail. Designed figures, not the
# demo deals' (the few seeded deals would make every company an outlier): this week's live
# check runs on Monday (beat) or with ``manage.py detect_deviations``.
DEVIATION_WEEKS = 5
DEMO_MEASURES: dict[str, dict[str, tuple[int, int]]] = {
    # code: measure -> (the weeks before, last week)
    "SE": {"coverage": (260, 260), "win_rate": (36, 20), "stage_ageing": (18, 18),
           "data_quality": (12, 12)},
    "DK": {"coverage": (240, 240), "win_rate": (34, 34), "stage_ageing": (16, 16),
           "data_quality": (14, 38)},
    "NO": {"coverage": (220, 220), "win_rate": (30, 30), "stage_ageing": (21, 21),
           "data_quality": (15, 15)},
    "FI": {"coverage": (250, 250), "win_rate": (33, 33), "stage_ageing": (19, 19),
           "data_quality": (11, 11)},
    "DE": {"coverage": (280, 280), "win_rate": (38, 38), "stage_ageing": (15, 15),
           "data_quality": (9, 9)},
    "UK": {"coverage": (230, 230), "win_rate": (31, 31), "stage_ageing": (22, 22),
           "data_quality": (16, 16)},
    "US": {"coverage": (155, 150), "win_rate": (29, 29), "stage_ageing": (24, 24),
           "data_quality": (13, 13)},
    "CN": {"coverage": (270, 270), "win_rate": (27, 27), "stage_ageing": (20, 20),
           "data_quality": (14, 14)},
}  # fmt: skip
WIGGLE = [0, 1, -1, 0]  # points (coverage x5) around the trend, week by week


def seed_deviations(org: Organization) -> None:
    companies = dict(SalesCompany.objects.for_org(org).values_list("code", "pk"))
    last_week = week_of(timezone.localdate()) - dt.timedelta(weeks=1)
    for weeks_back in range(DEVIATION_WEEKS - 1, 0, -1):
        week = last_week - dt.timedelta(weeks=weeks_back)
        wiggle = WIGGLE[weeks_back % len(WIGGLE)]
        for code, measures in DEMO_MEASURES.items():
            if code not in companies:
                continue
            for measure, (before, _last) in measures.items():
                step = wiggle * 5 if measure == Measure.COVERAGE else wiggle
                CompanyMeasure.objects.for_org(org).update_or_create(
                    organization=org,
                    sales_company_id=companies[code],
                    measure=measure,
                    week=week,
                    defaults={"value": Decimal(before + step)},
                )
    last = {
        (companies[code], measure): Decimal(value)
        for code, measures in DEMO_MEASURES.items()
        if code in companies
        for measure, (_before, value) in measures.items()
    }
    deviations_raise(organization=org, week=last_week, measures=last)
