"""Reporting reads for the pages: the dashboard of a scope, export choices and history.

The KPI numbers come from ``reporting.kpis`` (SQL aggregates); this module picks the scope a
user may look at, assembles the KPIs for one page and draws the charts. A fixed number of
queries per page, whatever the number of opportunities, companies or people.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db.models import F, QuerySet
from django.http import Http404
from django.utils.formats import date_format
from django.utils.functional import cached_property
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from crm.ids import parse_id
from crm.models import Region, User
from crm.registry import access_by_id
from crm.roles import ORG_WIDE_ROLES, Role
from crm.visibility import visible_companies
from opportunities.models import ConflictKind
from pipeline.models import ForecastCategory
from reporting import charts, customer_value, kpis
from reporting.coaching import CoachingFigures, coaching_figures
from reporting.joint_goals import JointGoals
from reporting.joint_goals import joint_goals as compute_joint_goals
from reporting.kpis import Scope
from reporting.models import Export, Target
from reporting.periods import Period, fiscal_quarter, fiscal_year

TREND_WEEKS = 26

LEVEL_GROUP = {"organization": "region", "region": "company", "company": "owner"}
GROUP_LABEL = {
    "region": _lazy("Region"),
    "company": _lazy("Sales company"),
    "owner": _lazy("Sales rep"),
}


@dataclass(frozen=True)
class DashboardScope:
    scope: Scope
    level: str  # organization, region or company
    name: str
    region_id: int | None = None  # for the way back up


def may_see_organization_dashboard(user: User) -> bool:
    return user.role in ORG_WIDE_ROLES


def may_see_region_dashboard(user: User, region_id: int | None) -> bool:
    return may_see_organization_dashboard(user) or (
        region_id is not None and user.role == Role.REGIONAL_MANAGER and user.region_id == region_id
    )


def dashboard_scope(
    *, user: User, region_id: str | None = None, sales_company_id: str | None = None
) -> DashboardScope:
    """The part of the organization the dashboard shows: what was asked for, if the user's
    role covers it (404 otherwise), else the user's own scope."""
    company_pk, region_pk = parse_id(sales_company_id), parse_id(region_id)
    if company_pk is None and region_pk is None:
        if user.role == Role.REGIONAL_MANAGER:
            region_pk = user.region_id
        elif user.role not in ORG_WIDE_ROLES:
            company_pk = user.sales_company_id
    if company_pk is not None:
        company = visible_companies(user).select_related("region").filter(pk=company_pk).first()
        if company is None:
            raise Http404("No such sales company in your scope.")
        return DashboardScope(
            Scope(sales_company_id=company.pk), "company", company.name, company.region_id
        )
    if region_pk is not None:
        covered = may_see_region_dashboard(user, region_pk)
        region = Region.objects.visible_to(user).filter(pk=region_pk).first()
        if region is None or not covered:
            raise Http404("No such region in your scope.")
        return DashboardScope(Scope(region_id=region.pk), "region", region.name, region.pk)
    return DashboardScope(Scope(), "organization", user.organization.name)


@dataclass
class BreakdownRow:
    key: int
    name: str
    link: str
    pipeline: Decimal = Decimal(0)
    weighted: Decimal = Decimal(0)
    open_count: int = 0
    won: Decimal = Decimal(0)
    commit: Decimal = Decimal(0)
    target: Decimal | None = None
    win_rate: Decimal | None = None

    @property
    def attainment(self) -> Decimal | None:
        return kpis.percent(self.won, self.target) if self.target else None


@dataclass
class Dashboard:
    user: User | None  # the viewer; None in the stored form (reporting.figures.dumps)
    where: DashboardScope
    as_of: dt.date
    quarter: Period
    year: Period
    currency: str
    group: str
    stages: list[kpis.StageRow]
    totals: kpis.PipelineTotals
    breakdown: list[BreakdownRow]
    forecast: list[kpis.ForecastQuarter]
    win: kpis.WinStats
    conversion: list[kpis.ConversionRow]
    new_customers: kpis.NewCustomers
    attainment: list[kpis.AttainmentRow]
    conflicts: list[tuple[str, int]]  # (kind, open): labels are the reader's (conflict_rows)
    overdue_conflicts: int
    conflict_target_days: int
    quality: kpis.DataQuality
    trend: list[tuple[dt.date, dict[str, Decimal]]]
    accuracy: kpis.ForecastAccuracy | None
    opportunities_link: str
    coaching: CoachingFigures  # coaching, deal reviews and customer time (issue 19)
    joint_goals: JointGoals  # overlay credit and smarketing (reporting.joint_goals)
    # Customer value per segment (issue 19), from the nightly stored values.
    segments: customer_value.SegmentReport | None = None
    # Stored figures are shared by readers of every language: what is text is made from keys
    # when the page reads it, in the reader's language (the page fragment is cached per
    # language), never stored translated.

    @property
    def group_label(self) -> str:
        return str(GROUP_LABEL[self.group])

    @property
    def conflict_rows(self) -> list[tuple[str, int]]:
        labels = dict(ConflictKind.choices)
        return [(str(labels.get(kind, kind)), n) for kind, n in self.conflicts]

    @property
    def quality_issues(self) -> list[tuple[str, int, Decimal | None]]:
        t = self.quality.total
        return [
            (str(label), t.issues.get(key, 0), t.share(key))
            for key, label in {**kpis.OPPORTUNITY_ISSUES, **kpis.ACCOUNT_ISSUES}.items()
        ]

    @property
    def to_fix(self) -> list[tuple[str, dict[str, Any], str]]:
        """Records to fix as (kind, row, issues in words): deals first, then accounts."""
        return [
            (kind, r, ", ".join(str(label) for label in kpis.issue_labels(r)))
            for kind, rows in (
                ("opportunity", self.quality.opportunities_to_fix),
                ("account", self.quality.accounts_to_fix),
            )
            for r in rows
        ]

    @cached_property
    def charts(self) -> dict[str, SafeString]:
        # Drawn when the page reads them (inside its cached fragment), not stored.
        return _charts(self)

    @property
    def attainment_shown(self) -> list[kpis.AttainmentRow]:
        """Companies always, people on a company's dashboard only: above a company they are
        hundreds of rows (500 at the benchmark's scale, most of the page's rendering time), a
        list for the export rather than a dashboard table."""
        if self.where.level == "company":
            return self.attainment
        return [r for r in self.attainment if r.party == "company"]

    @property
    def attainment_people_elsewhere(self) -> int:
        """People whose attainment the table leaves to their company's dashboard."""
        return len(self.attainment) - len(self.attainment_shown)


def _breakdown(
    user: User, where: DashboardScope, as_of: dt.date, quarter: Period, group: str
) -> list[BreakdownRow]:
    scope = where.scope
    if group == "region":
        names = dict(
            Region.objects.visible_to(user)
            .filter(pk__in=visible_companies(user).values("region_id"))
            .values_list("pk", "name")
        )
    elif group == "company":
        companies = visible_companies(user)
        if scope.region_id:
            companies = companies.filter(region_id=scope.region_id)
        names = dict(companies.values_list("pk", "name"))
    else:
        # The company's sellers, so that a rep with an empty pipeline still shows.
        names = dict(
            User.objects.visible_to(user)
            .filter(
                sales_company_id=scope.sales_company_id,
                role__in=[Role.SALES_REP, Role.COUNTRY_MANAGER],
            )
            .values_list("pk", "full_name")
        )
    rows: dict[int, BreakdownRow] = {}

    def row(key: int, name: str | None = None) -> BreakdownRow:
        if key not in rows:
            label = names.get(key) or name or str(key)
            link = {
                "region": f"?region={key}",
                "company": f"?company={key}",
                "owner": f"/opportunities/?owner={key}",
            }[group]
            rows[key] = BreakdownRow(key, label, link)
        return rows[key]

    for key, name in names.items():
        row(key, name)
    for r in kpis.pipeline_by(user=user, scope=scope, as_of=as_of, group=group):
        b = row(r.key, r.name)
        b.pipeline, b.weighted, b.open_count = r.amount, r.weighted, r.count
    for f in kpis.forecast_by(user=user, scope=scope, as_of=as_of, group=group):
        if f.key is None:
            continue
        b = row(f.key)
        b.won, b.commit, b.target = f.won, f.commit, f.target
    for key, stats in kpis.win_stats_by(
        user=user, scope=scope, period=quarter, group=group
    ).items():
        row(key).win_rate = stats.win_rate
    return sorted(rows.values(), key=lambda b: b.name)


def dashboard(*, user: User, scope: DashboardScope, as_of: dt.date) -> Dashboard:
    org = user.organization
    quarter, year = fiscal_quarter(org, as_of), fiscal_year(org, as_of)
    s = scope.scope
    group = LEVEL_GROUP[scope.level]
    stages = kpis.pipeline_by_stage(user=user, scope=s, as_of=as_of)
    trend = kpis.pipeline_trend(user=user, scope=s, since=as_of - dt.timedelta(weeks=TREND_WEEKS))
    # Accuracy of the first snapshot of this quarter: what was committed at its start.
    first_of_quarter = next((day for day, _ in trend if day >= quarter.start), None)
    conflicts = kpis.open_conflicts_by_kind(user=user, scope=s)
    opp_link = "/opportunities/"
    if s.sales_company_id:
        opp_link += f"?company={s.sales_company_id}"
    elif s.region_id:
        opp_link += f"?region={s.region_id}"
    attainment = kpis.target_attainment(user=user, scope=s, period=quarter)
    d = Dashboard(
        user=user,
        where=scope,
        as_of=as_of,
        quarter=quarter,
        year=year,
        currency=org.corporate_currency,
        group=group,
        stages=stages,
        totals=kpis.weighted_pipeline(stages),
        breakdown=_breakdown(user, scope, as_of, quarter, group),
        forecast=kpis.forecast(user=user, scope=s, as_of=as_of),
        win=kpis.win_stats(user=user, scope=s, period=quarter),
        conversion=kpis.stage_conversion(user=user, scope=s, period=quarter),
        new_customers=kpis.new_customers(user=user, scope=s, period=quarter),
        attainment=attainment,
        conflicts=list(conflicts.items()),
        overdue_conflicts=kpis.overdue_conflicts(user=user, scope=s),
        conflict_target_days=org.conflict_target_days,
        quality=kpis.data_quality(user=user, scope=s, as_of=as_of, limit=25),
        trend=trend,
        accuracy=kpis.forecast_accuracy(user=user, scope=s, taken_on=first_of_quarter)
        if first_of_quarter
        else None,
        opportunities_link=opp_link,
        coaching=coaching_figures(user=user, scope=s, period=quarter, as_of=as_of),
        # Customer values sum every company's deals (accounts.value.may_see_customer_value): only
        # the organization's figures, whose readers all see every deal, carry them.
        segments=customer_value.segment_report(user=user, scope=s)
        if scope.level == "organization"
        else None,
        joint_goals=compute_joint_goals(
            user=user,
            scope=s,
            level=scope.level,
            period=quarter,
            as_of=as_of,
            revenue=attainment,
        ),
    )
    return d


def _charts(d: Dashboard) -> dict[str, SafeString]:
    """The dashboard's charts in the reader's language and number format."""
    cc = d.currency
    names = [b.name for b in d.breakdown]
    by = {"group": d.group_label, "currency": cc, "quarter": d.quarter.label}
    category_labels = dict(ForecastCategory.choices)
    trend_categories = [c for c in ForecastCategory.values if any(c in cats for _, cats in d.trend)]
    conflict_rows = d.conflict_rows
    return {
        "stages": charts.bar(
            _("Open pipeline by stage (%(currency)s)") % by,
            [r.stage for r in d.stages],
            {
                _("Amount"): [r.amount for r in d.stages],
                _("Weighted"): [r.weighted for r in d.stages],
            },
        ),
        "breakdown": charts.bar(
            _("Open pipeline by %(group)s (%(currency)s)") % by,
            names,
            {_("Amount"): [b.pipeline for b in d.breakdown]},
            horizontal=True,
        ),
        "forecast": charts.bar(
            _("%(quarter)s: forecast vs target by %(group)s (%(currency)s)") % by,
            names,
            {
                _("Won"): [b.won for b in d.breakdown],
                _("Commit (incl. won)"): [b.commit for b in d.breakdown],
                _("Target"): [b.target for b in d.breakdown],
            },
        ),
        "trend": charts.line(
            _("Open pipeline, weekly snapshots (%(currency)s)") % by,
            [date_format(day, "SHORT_DATE_FORMAT") for day, _cats in d.trend],
            {
                str(category_labels[c]): [cats.get(c, Decimal(0)) for _day, cats in d.trend]
                for c in trend_categories
            },
        ),
        "win_rate": charts.bar(
            _("%(quarter)s: win rate by %(group)s (%%)") % by,
            names,
            {_("Win rate %"): [b.win_rate for b in d.breakdown]},
            decimals=1,
        ),
        "quality": charts.bar(
            _("Data quality score by sales company (%)"),
            [name for name, _score in d.quality.by_company.values()],
            {_("Score %"): [c.score for _name, c in d.quality.by_company.values()]},
            horizontal=True,
            decimals=1,
        ),
        "conflicts": charts.pie(_("Open conflicts by kind"), dict(conflict_rows)),
    }


# --- Exports -------------------------------------------------------------------------------


def export_scopes(*, user: User) -> list[tuple[str, str]]:
    """The reports the user may request, as (form value, label); their own scope first."""
    companies = list(visible_companies(user).select_related("region").order_by("name"))
    if user.role in ORG_WIDE_ROLES:
        regions = sorted({(c.region_id, c.region.name) for c in companies}, key=lambda r: r[1])
        return [
            ("organization", f"{user.organization.name} (whole organization)"),
            *[(f"region:{pk}", f"Region {name}") for pk, name in regions],
            *[(f"company:{c.pk}", c.name) for c in companies],
        ]
    out: list[tuple[str, str]] = []
    region = user.region if user.role == Role.REGIONAL_MANAGER else None
    if region is not None:
        out.append((f"region:{region.pk}", f"Region {region.name}"))
    return out + [(f"company:{c.pk}", c.name) for c in companies]


def recent_exports(*, user: User, limit: int = 20) -> QuerySet[Export]:
    qs = Export.objects.visible_to(user)
    return qs.select_related("region", "sales_company").order_by("-created_at")[:limit]


def access_export_by_uuid(user: User, uuid: UUID) -> Export:
    """An export the user may see (the policy: its requester's only), by the id its links
    carry; anyone else's is 404 like a missing one, as ``access_by_id`` answers."""
    export = (
        Export.objects.visible_to(user)
        .select_related("region", "sales_company")
        .filter(uuid=uuid)
        .first()
    )
    if export is None:
        raise Http404("No export matches the given query.")
    return export


def target_list(*, user: User, period_starts: list[dt.date]) -> QuerySet[Target]:
    """The targets the user may see that start on these days (the page's periods), companies
    first, then people by name."""
    return (
        Target.objects.visible_to(user)
        .filter(period_start__in=period_starts)
        .select_related("sales_company", "user__sales_company")
        .order_by(
            "period_start",
            "period_kind",
            F("sales_company__code").asc(nulls_last=True),
            "user__full_name",
            "kind",
            "pk",
        )
    )


def access_target_by_id(user: User, pk: object) -> Target:
    return access_by_id(
        Target.objects.visible_to(user).select_related("sales_company", "user__sales_company"), pk
    )
