"""Deviation alerts (issue 19): each week, per sales company, four measures computed in SQL,
compared with the company's own trend and with the organization's average; a company worse than
either by more than the organization's threshold gets a ``DeviationAlert``, and its director(s)
and country manager(s) are told in the app and by mail.

The measures, as of the run date ``as_of`` (stored per company and week, its Monday):

- ``coverage``: open pipeline expected to close in the current fiscal quarter (corporate
  currency at the rate of ``as_of``) as a percent of the company's revenue target for that
  quarter. No target (or a missing rate among its deals): no value.
- ``win_rate``: won / (won + lost) in percent, of the deals closed in the 90 days up to
  ``as_of`` (``as_of - 89`` to ``as_of``, by the close date). No closed deal: no value.
- ``stage_ageing``: median days the open deals have sat in their current global stage (since
  the last stage change into it, else since the deal was created), to ``as_of``.
- ``data_quality``: percent of open deals with at least one data-quality issue — the one rule of
  ``opportunities.selectors`` (``with_quality_flags``), not a copy.

References: the own trend is the mean of the company's stored values of the ``TREND_WEEKS``
weeks before this one (at least one needed); the organization's average is the mean of this
week's values of all its companies (each company counts once, whatever its size). Only a
deviation for the worse is an alert (coverage and win rate below, ageing and issue share above
the reference): a handful a person reads, not every wiggle. The own trend is checked first; a
company beyond both gets one alert (own trend), never two for the same measure and week.
A ``percent`` threshold is relative to the reference (no alert against a reference of 0), a
``points`` one is the measure's own unit (percentage points, days); the deviation must be
strictly greater than the threshold.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.core.mail import send_mass_mail
from django.db import transaction
from django.db.models import (
    Aggregate,
    Count,
    DateField,
    F,
    FloatField,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, TruncDate
from django.urls import reverse
from django.utils import formats, translation
from django.utils import timezone as dj_timezone
from django.utils.translation import gettext as _

from crm.mail import mail_subject
from crm.models import NotificationKind, Organization, SalesCompany, User
from crm.money import missing_rate, money, with_corporate_amount
from crm.notifications import notify
from crm.roles import Role
from opportunities.models import Opportunity, StageChange
from opportunities.selectors import with_quality_flags
from reporting.models import (
    AlertStatus,
    CompanyMeasure,
    Comparison,
    DeviationAlert,
    DeviationThreshold,
    Measure,
    PeriodKind,
    Target,
    TargetKind,
    ThresholdUnit,
)
from reporting.periods import fiscal_quarter

TREND_WEEKS = 4
WIN_RATE_DAYS = 90
HUNDREDTH = Decimal("0.01")
TENTH = Decimal("0.1")
# Where a higher value is better; for the others (ageing, issue share) lower is better.
HIGHER_IS_BETTER = frozenset({Measure.COVERAGE, Measure.WIN_RATE})


@dataclass(frozen=True)
class Rule:
    measure: str
    enabled: bool
    unit: str
    threshold: Decimal


DEFAULT_THRESHOLDS: dict[str, Rule] = {
    Measure.COVERAGE: Rule(Measure.COVERAGE, True, ThresholdUnit.PERCENT, Decimal(25)),
    Measure.WIN_RATE: Rule(Measure.WIN_RATE, True, ThresholdUnit.POINTS, Decimal(10)),
    Measure.STAGE_AGEING: Rule(Measure.STAGE_AGEING, True, ThresholdUnit.PERCENT, Decimal(50)),
    Measure.DATA_QUALITY: Rule(Measure.DATA_QUALITY, True, ThresholdUnit.POINTS, Decimal(10)),
}

NOTIFICATION_KINDS: dict[str, NotificationKind] = {
    Measure.COVERAGE: NotificationKind.DEVIATION_COVERAGE,
    Measure.WIN_RATE: NotificationKind.DEVIATION_WIN_RATE,
    Measure.STAGE_AGEING: NotificationKind.DEVIATION_STAGE_AGEING,
    Measure.DATA_QUALITY: NotificationKind.DEVIATION_DATA_QUALITY,
}


def week_of(day: dt.date) -> dt.date:
    """The Monday of ``day``'s week: the key of a week's measures and alerts."""
    return day - dt.timedelta(days=day.weekday())


def rules_for(organization_id: int) -> dict[str, Rule]:
    """The organization's rule per measure: its own rows over the defaults. One query."""
    rules = dict(DEFAULT_THRESHOLDS)
    for row in DeviationThreshold.objects.for_org(organization_id):
        rules[row.measure] = Rule(row.measure, row.enabled, row.unit, row.threshold)
    return rules


# --- The measures, in SQL ------------------------------------------------------------------


class Median(Aggregate):
    function = "PERCENTILE_CONT"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


class DaysBetween(Func):
    """``later - earlier`` of two dates in PostgreSQL: whole days, an integer."""

    template = "(%(expressions)s)"
    arg_joiner = " - "
    output_field = IntegerField()


def _rounded(value: Decimal | float | None, places: Decimal = TENTH) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value)).quantize(places, rounding=ROUND_HALF_EVEN)


def _percent(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    if not whole:
        return None
    return _rounded(Decimal(part) * 100 / Decimal(whole))


def _open(qs: QuerySet[Opportunity]) -> QuerySet[Opportunity]:
    return qs.filter(global_stage__is_won=False, global_stage__is_lost=False)


def coverage_by_company(organization: Organization, as_of: dt.date) -> dict[int, Decimal]:
    """Open pipeline of the fiscal quarter / the quarter's revenue target, in percent. Two
    queries; a company whose pipeline needs a missing rate has no value (the others do)."""
    quarter = fiscal_quarter(organization, as_of)
    deals = _open(Opportunity.objects.for_org(organization)).filter(
        expected_close_date__gte=quarter.start, expected_close_date__lt=quarter.end
    )
    priced = with_corporate_amount(deals, organization, rate_date=Value(as_of, DateField()))
    pipeline = {
        r["sales_company_id"]: r
        for r in priced.values("sales_company_id")
        .annotate(total=Sum("corporate_amount"), missing=missing_rate())
        .order_by()
    }
    targets = Target.objects.for_org(organization).filter(
        sales_company__isnull=False,
        kind=TargetKind.REVENUE,
        period_kind=PeriodKind.QUARTER,
        period_start=quarter.start,
        value__gt=0,
    )
    out: dict[int, Decimal] = {}
    for company_id, target in targets.values_list("sales_company_id", "value"):
        row = pipeline.get(company_id)
        if row is not None and row["missing"]:
            continue
        total = money(row["total"]) if row is not None else Decimal(0)
        value = _percent(total, target)
        if value is not None:
            out[company_id] = value
    return out


def win_rate_by_company(organization: Organization, as_of: dt.date) -> dict[int, Decimal]:
    """Won / closed in percent, deals closed in the 90 days up to ``as_of``. One query."""
    since = as_of - dt.timedelta(days=WIN_RATE_DAYS - 1)
    rows = (
        Opportunity.objects.for_org(organization)
        .filter(Q(global_stage__is_won=True) | Q(global_stage__is_lost=True))
        .annotate(closed_on=TruncDate("closed_at"))
        .filter(closed_on__gte=since, closed_on__lte=as_of)
        .values("sales_company_id")
        .annotate(
            won=Count("id", filter=Q(global_stage__is_won=True)),
            closed=Count("id"),
        )
        .order_by()
    )
    out: dict[int, Decimal] = {}
    for r in rows:
        value = _percent(r["won"], r["closed"])
        if value is not None:
            out[r["sales_company_id"]] = value
    return out


def stage_ageing_by_company(organization: Organization, as_of: dt.date) -> dict[int, Decimal]:
    """Median days open deals sit in their current global stage. One query."""
    entered = (
        StageChange.objects.for_org(organization)
        .filter(opportunity_id=OuterRef("pk"), to_global_stage_id=OuterRef("global_stage_id"))
        .order_by("-changed_at", "-id")
        .values("changed_at")[:1]
    )
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time.min, dt.UTC)
    rows = (
        _open(Opportunity.objects.for_org(organization))
        .filter(created_at__lt=end)
        .annotate(in_stage_since=Coalesce(Subquery(entered), F("created_at")))
        .annotate(days=DaysBetween(Value(as_of, DateField()), TruncDate("in_stage_since")))
        .values("sales_company_id")
        .annotate(median=Median("days"))
        .order_by()
    )
    return {
        r["sales_company_id"]: value for r in rows if (value := _rounded(r["median"])) is not None
    }


def data_quality_by_company(organization: Organization, as_of: dt.date) -> dict[int, Decimal]:
    """Percent of open deals with a data-quality issue (the data-quality page's rule). One
    query."""
    flagged = with_quality_flags(
        Opportunity.objects.for_org(organization), organization_id=organization.pk, as_of=as_of
    )
    rows = (
        flagged.values("sales_company_id")
        .annotate(n=Count("id"), with_issue=Count("id", filter=Q(has_issue=True)))
        .order_by()
    )
    out: dict[int, Decimal] = {}
    for r in rows:
        value = _percent(r["with_issue"], r["n"])
        if value is not None:
            out[r["sales_company_id"]] = value
    return out


MEASURES = {
    Measure.COVERAGE: coverage_by_company,
    Measure.WIN_RATE: win_rate_by_company,
    Measure.STAGE_AGEING: stage_ageing_by_company,
    Measure.DATA_QUALITY: data_quality_by_company,
}


def company_measures(
    *, organization: Organization, as_of: dt.date
) -> dict[tuple[int, str], Decimal]:
    """Every measure of every company that has one, keyed (company id, measure). Five
    queries, whatever the number of deals."""
    out: dict[tuple[int, str], Decimal] = {}
    for measure, compute in MEASURES.items():
        for company_id, value in compute(organization, as_of).items():
            out[(company_id, measure)] = value
    return out


# --- Comparing -----------------------------------------------------------------------------


def adverse_deviation(rule: Rule, value: Decimal, reference: Decimal) -> Decimal | None:
    """How much worse ``value`` is than ``reference``, in the rule's unit (None where a percent
    of the reference is undefined); negative when it is better."""
    worse = reference - value if rule.measure in HIGHER_IS_BETTER else value - reference
    if rule.unit == ThresholdUnit.POINTS:
        return worse
    if reference <= 0:
        return None
    return worse * 100 / reference


def is_deviation(rule: Rule, value: Decimal, reference: Decimal) -> bool:
    if not rule.enabled:
        return False
    worse = adverse_deviation(rule, value, reference)
    return worse is not None and worse > rule.threshold


@dataclass(frozen=True)
class Finding:
    sales_company_id: int
    measure: str
    comparison: str
    value: Decimal
    reference: Decimal


def _mean(values: Iterable[Decimal]) -> Decimal | None:
    values = list(values)
    if not values:
        return None
    return _rounded(sum(values, Decimal(0)) / len(values), HUNDREDTH)


def organization_averages(measures: Mapping[tuple[int, str], Decimal]) -> dict[str, Decimal]:
    by_measure: dict[str, list[Decimal]] = {}
    for (_company, measure), value in measures.items():
        by_measure.setdefault(measure, []).append(value)
    return {m: avg for m, values in by_measure.items() if (avg := _mean(values)) is not None}


def own_trends(organization_id: int, week: dt.date) -> dict[tuple[int, str], Decimal]:
    """Mean of each company's stored values of the ``TREND_WEEKS`` weeks before ``week``."""
    rows = CompanyMeasure.objects.for_org(organization_id).filter(
        week__gte=week - dt.timedelta(weeks=TREND_WEEKS), week__lt=week
    )
    values: dict[tuple[int, str], list[Decimal]] = {}
    for company_id, measure, value in rows.values_list("sales_company_id", "measure", "value"):
        values.setdefault((company_id, measure), []).append(value)
    return {key: avg for key, vals in values.items() if (avg := _mean(vals)) is not None}


def find_deviations(
    *,
    measures: Mapping[tuple[int, str], Decimal],
    trends: Mapping[tuple[int, str], Decimal],
    rules: Mapping[str, Rule],
) -> list[Finding]:
    """The deviations of this week's measures: own trend first, else the organization's
    average; at most one per company and measure."""
    averages = organization_averages(measures)
    found: list[Finding] = []
    for (company_id, measure), value in sorted(measures.items()):
        rule = rules[measure]
        for comparison, reference in (
            (Comparison.OWN_TREND, trends.get((company_id, measure))),
            (Comparison.ORG_AVERAGE, averages.get(measure)),
        ):
            if reference is not None and is_deviation(rule, value, reference):
                found.append(Finding(company_id, measure, comparison, value, reference))
                break
    return found


# --- The weekly run ------------------------------------------------------------------------


@transaction.atomic
def deviations_detect(*, organization: Organization, as_of: dt.date) -> list[DeviationAlert]:
    """Store this week's measures, raise the alerts they call for, and tell the director(s)
    and the company's country manager(s) about the new ones, in the app and by mail (in the
    same transaction: a failing mail server rolls it back and the task retries, so nothing is
    shown twice). Idempotent: a second run in the same week replaces the week's measures,
    finds the alerts already there and tells nobody again. Returns the new alerts."""
    measures = company_measures(organization=organization, as_of=as_of)
    return deviations_raise(organization=organization, week=week_of(as_of), measures=measures)


@transaction.atomic
def deviations_raise(
    *, organization: Organization, week: dt.date, measures: Mapping[tuple[int, str], Decimal]
) -> list[DeviationAlert]:
    """``deviations_detect`` from measures already computed (the demo seeds past weeks with
    it): store them as the week's, compare, raise and tell."""
    CompanyMeasure.objects.for_org(organization).filter(week=week).delete()
    CompanyMeasure.objects.bulk_create(
        CompanyMeasure(
            organization=organization, sales_company_id=company_id, week=week, measure=m, value=v
        )
        for (company_id, m), v in sorted(measures.items())
    )
    rules = rules_for(organization.pk)
    findings = find_deviations(
        measures=measures, trends=own_trends(organization.pk, week), rules=rules
    )
    new: list[DeviationAlert] = []
    for f in findings:
        rule = rules[f.measure]
        alert, created = DeviationAlert.objects.for_org(organization).get_or_create(
            organization=organization,
            sales_company_id=f.sales_company_id,
            measure=f.measure,
            week=week,
            defaults={
                "comparison": f.comparison,
                "value": f.value,
                "reference": f.reference,
                "unit": rule.unit,
                "threshold": rule.threshold,
            },
        )
        if created:
            new.append(alert)
    if new:
        _tell(organization, new)
    return new


def recipients_of(organization_id: int, company_id: int) -> QuerySet[User]:
    """The director(s) of the organization and the company's country manager(s)."""
    return (
        User.objects.for_org(organization_id)
        .filter(
            Q(role=Role.GLOBAL_DIRECTOR)
            | Q(role=Role.COUNTRY_MANAGER, sales_company_id=company_id),
            is_active=True,
        )
        .select_related("sales_company")
        .order_by("id")
    )


def list_url(alert: DeviationAlert) -> str:
    return f"{reverse('reporting:alerts')}?company={alert.sales_company_id}&measure={alert.measure}"


def drill_down_url(alert: DeviationAlert) -> str:
    """The page that explains the alert: the company dashboard for coverage, its closed or
    open deals for win rate and ageing, its data-quality page for data quality."""
    company = alert.sales_company_id
    if alert.measure == Measure.COVERAGE:
        return f"{reverse('reporting:dashboard')}?company={company}"
    if alert.measure == Measure.WIN_RATE:
        return f"{reverse('opportunities:list')}?company={company}&status=closed&sort=-close"
    if alert.measure == Measure.STAGE_AGEING:
        return f"{reverse('opportunities:list')}?company={company}&status=open&sort=stage"
    return f"{reverse('opportunities:data_quality')}?company={company}"


def format_value(measure: str, value: Decimal) -> str:
    """A measure's value in the active language ("12,5 %" in German, "8.0 days")."""
    # Rounded first: number_format cuts digits off (66.67 would read 66.6).
    number = formats.number_format(
        value.quantize(TENTH, rounding=ROUND_HALF_EVEN), decimal_pos=1, use_l10n=True
    )
    if measure == Measure.STAGE_AGEING:
        return _("%(number)s days") % {"number": number}
    # A no-break space: the sign stays with its number in a narrow table cell.
    return f"{number}\u00a0%"


def _params(alert: DeviationAlert, company: str) -> dict[str, str | int | float]:
    return {
        "company": company,
        "value": str(_rounded(alert.value)),
        "reference": str(_rounded(alert.reference)),
        "week": alert.week.isoformat(),
    }


def _mail(alerts: list[DeviationAlert], company: str) -> tuple[str, str]:
    """Subject and body for one company's new alerts, in the active language."""
    subject = mail_subject(_("Meridian: deviation alert for %(company)s") % {"company": company})
    lines = [
        _("Week of %(week)s: %(company)s deviates.")
        % {"week": formats.date_format(alerts[0].week, "SHORT_DATE_FORMAT"), "company": company},
        "",
    ]
    for alert in alerts:
        lines.append(
            _("%(measure)s: %(value)s against %(reference)s, %(comparison)s.")
            % {
                "measure": Measure(alert.measure).label,
                "value": format_value(alert.measure, alert.value),
                "reference": format_value(alert.measure, alert.reference),
                "comparison": Comparison(alert.comparison).label,
            }
        )
        lines.append(_("What explains it: %(url)s") % {"url": drill_down_url(alert)})
    every = _("All alerts: Reports > Alerts (%(url)s).") % {"url": reverse("reporting:alerts")}
    lines += ["", every]
    return subject, "\n".join(lines)


def _tell(organization: Organization, alerts: list[DeviationAlert]) -> None:
    names = dict(
        SalesCompany.objects.for_org(organization)
        .filter(pk__in={a.sales_company_id for a in alerts})
        .values_list("pk", "name")
    )
    by_company: dict[int, list[DeviationAlert]] = {}
    for alert in alerts:
        by_company.setdefault(alert.sales_company_id, []).append(alert)
    messages: list[tuple[str, str, None, list[str]]] = []
    for company_id, mine in sorted(by_company.items()):
        people = list(recipients_of(organization.pk, company_id))
        ids = [p.pk for p in people]
        for alert in mine:
            notify(
                organization_id=organization.pk,
                user_ids=ids,
                kind=NOTIFICATION_KINDS[alert.measure],
                params=_params(alert, names[company_id]),
                url=list_url(alert),
            )
        by_language: dict[str, list[str]] = {}
        for person in people:
            by_language.setdefault(person.effective_language, []).append(person.email)
        for language, emails in sorted(by_language.items()):
            with translation.override(language):
                subject, body = _mail(mine, names[company_id])
            messages += [(subject, body, None, [email]) for email in emails]
    if messages:
        send_mass_mail(messages)


# --- Writes from the pages and the API -----------------------------------------------------


@transaction.atomic
def deviation_alert_acknowledge(*, alert: DeviationAlert, acting_user: User) -> DeviationAlert:
    """Mark an alert the user sees as acknowledged (once; a second time changes nothing)."""
    if alert.status == AlertStatus.ACKNOWLEDGED:
        return alert
    alert.status = AlertStatus.ACKNOWLEDGED
    alert.acknowledged_at = dj_timezone.now()
    alert.acknowledged_by = acting_user
    alert.save(update_fields=["status", "acknowledged_at", "acknowledged_by"])
    return alert


@transaction.atomic
def deviation_thresholds_set(*, organization: Organization, rules: Iterable[Rule]) -> None:
    """Store the organization's rules (one row per measure, replaced)."""
    for rule in rules:
        DeviationThreshold.objects.for_org(organization).update_or_create(
            organization=organization,
            measure=rule.measure,
            defaults={"enabled": rule.enabled, "unit": rule.unit, "threshold": rule.threshold},
        )


def may_configure_deviations(user: User) -> bool:
    return user.is_active and user.role in (Role.GLOBAL_ADMIN, Role.GLOBAL_DIRECTOR)


def alert_measures_for_rows(rows: Iterable[Any]) -> None:
    """Attach the display strings a list row shows (value, reference, links) in place."""
    for alert in rows:
        alert.value_display = format_value(alert.measure, alert.value)
        alert.reference_display = format_value(alert.measure, alert.reference)
        alert.drill_down_url = drill_down_url(alert)
