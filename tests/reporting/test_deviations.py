"""Deviation alerts: known answers for each measure (the hand-built dataset of conftest.py,
report date 2026-05-15, a Friday: the week of Monday 2026-05-11), the thresholds just under and
just over, own trend against the organization's average, the run twice, who is told and how.

Measures by hand (Q2 2026 = Apr 1 - Jun 30; the 90 days are Feb 15 - May 15):

SE coverage: o5 16,000 / target 20,000 = 80.0; win rate: o1 won, o4 lost = 50.0; ageing: o5 in
   Negotiate since 04-20 = 25.0 days; data quality: o5 clean = 0.0.
DK coverage: nothing in Q2 / 10,000 = 0.0; win rate: o2 won = 100.0; ageing: o6 in Propose
   since 04-25 = 20.0; data quality: o6 has no next step = 100.0.
DE coverage: o8 20,000 / 15,000 = 133.3; win rate: o3 won 03-20 = 100.0; ageing: o7 created
   04-01 (44 days), o8 since 04-25 (20): median 32.0; data quality: o7 no amount, o8 close
   date past = 100.0.

Organization averages (each company once): coverage 213.3 / 3 = 71.10, win rate 250 / 3 = 83.33,
ageing 77 / 3 = 25.67, data quality 200 / 3 = 66.67.
With the default thresholds (coverage 25 % below, win rate 10 points below, ageing 50 % above,
data quality 10 points above) and no trend yet: DK coverage (100 % below), SE win rate (33.33
points below), DK and DE data quality (33.33 points above); DE's ageing is 24.7 % above: none.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import translation
from django.utils.translation import gettext

from crm.models import Notification, NotificationKind
from crm.roles import Role
from reporting import deviations, kpis
from reporting.deviations import Rule, adverse_deviation, is_deviation
from reporting.models import (
    CompanyMeasure,
    Comparison,
    DeviationAlert,
    DeviationThreshold,
    Measure,
    ThresholdUnit,
)
from reporting.tasks import detect_deviations
from tests.factories import UserFactory
from tests.reporting.conftest import AS_OF, Dataset

pytestmark = pytest.mark.django_db

WEEK = dt.date(2026, 5, 11)
D = Decimal


def _detect(dataset: Dataset, as_of: dt.date = AS_OF) -> list[DeviationAlert]:
    return deviations.deviations_detect(organization=dataset.world.org, as_of=as_of)


def _by_key(dataset: Dataset) -> dict[tuple[str, str], DeviationAlert]:
    w = dataset.world
    codes = {w.se.pk: "SE", w.dk.pk: "DK", w.de.pk: "DE"}
    return {
        (codes[a.sales_company_id], a.measure): a
        for a in DeviationAlert.objects.for_org(w.org).filter(week=WEEK)
    }


# --- Each measure, known answers ------------------------------------------------------------


def test_each_measure_of_each_company(dataset: Dataset) -> None:
    w = dataset.world
    got = deviations.company_measures(organization=w.org, as_of=AS_OF)
    se, dk, de = w.se.pk, w.dk.pk, w.de.pk
    assert got == {
        (se, Measure.COVERAGE): D("80.0"),
        (dk, Measure.COVERAGE): D("0.0"),
        (de, Measure.COVERAGE): D("133.3"),
        (se, Measure.WIN_RATE): D("50.0"),
        (dk, Measure.WIN_RATE): D("100.0"),
        (de, Measure.WIN_RATE): D("100.0"),
        (se, Measure.STAGE_AGEING): D("25.0"),
        (dk, Measure.STAGE_AGEING): D("20.0"),
        (de, Measure.STAGE_AGEING): D("32.0"),
        (se, Measure.DATA_QUALITY): D("0.0"),
        (dk, Measure.DATA_QUALITY): D("100.0"),
        (de, Measure.DATA_QUALITY): D("100.0"),
    }


def test_win_rate_window_is_the_90_days_up_to_the_report_date(dataset: Dataset) -> None:
    """On 2026-06-18 the window starts 03-21: o3 (won 03-20) is out, DE has no value; o1 and
    o4 (April) still count for SE."""
    w = dataset.world
    got = deviations.win_rate_by_company(w.org, dt.date(2026, 6, 18))
    assert got == {w.se.pk: D("50.0"), w.dk.pk: D("100.0")}
    # One day earlier o3 is the window's first day.
    assert deviations.win_rate_by_company(w.org, dt.date(2026, 6, 17))[w.de.pk] == D("100.0")


def test_coverage_needs_a_target(dataset: Dataset) -> None:
    """Q3 (report date 2026-07-15): only SE has a target (25,000); DK's o6 (5,400 EUR at the
    0.135 rate) is in Q3 but DK has no target, so no value."""
    w = dataset.world
    got = deviations.coverage_by_company(w.org, dt.date(2026, 7, 15))
    assert got == {w.se.pk: D("0.0")}


def test_data_quality_is_the_data_quality_pages_rule(dataset: Dataset) -> None:
    """One rule: the share per company equals the page's counts (kpis.data_quality)."""
    w = dataset.world
    page = kpis.data_quality(user=w.director, as_of=AS_OF)
    mine = deviations.data_quality_by_company(w.org, AS_OF)
    for company_id, (_name, counts) in page.by_company.items():
        if counts.opportunities:
            expected = D(counts.opportunities_with_issues * 100) / counts.opportunities
            assert mine[company_id] == expected.quantize(D("0.1"))


# --- Thresholds --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "value", "reference", "alert"),
    [
        # Points, higher is better: 10 points below is not beyond 10; 10.01 is.
        (Rule(Measure.WIN_RATE, True, ThresholdUnit.POINTS, D(10)), D("40.00"), D(50), False),
        (Rule(Measure.WIN_RATE, True, ThresholdUnit.POINTS, D(10)), D("39.99"), D(50), True),
        # Better than the reference is never an alert, however far.
        (Rule(Measure.WIN_RATE, True, ThresholdUnit.POINTS, D(10)), D("90"), D(50), False),
        # Percent of the reference, higher is better: 25 % below 200 is 150.
        (Rule(Measure.COVERAGE, True, ThresholdUnit.PERCENT, D(25)), D("150.00"), D(200), False),
        (Rule(Measure.COVERAGE, True, ThresholdUnit.PERCENT, D(25)), D("149.99"), D(200), True),
        # Lower is better (ageing in days): 50 % above 20 days is 30.
        (Rule(Measure.STAGE_AGEING, True, ThresholdUnit.PERCENT, D(50)), D("30.00"), D(20), False),
        (Rule(Measure.STAGE_AGEING, True, ThresholdUnit.PERCENT, D(50)), D("30.01"), D(20), True),
        (Rule(Measure.STAGE_AGEING, True, ThresholdUnit.POINTS, D(5)), D("25.01"), D(20), True),
        (Rule(Measure.STAGE_AGEING, True, ThresholdUnit.POINTS, D(5)), D("10"), D(20), False),
        # Points of the issue share.
        (Rule(Measure.DATA_QUALITY, True, ThresholdUnit.POINTS, D(10)), D("30.0"), D(20), False),
        (Rule(Measure.DATA_QUALITY, True, ThresholdUnit.POINTS, D(10)), D("30.1"), D(20), True),
        # Off: never.
        (Rule(Measure.DATA_QUALITY, False, ThresholdUnit.POINTS, D(10)), D("99"), D(0), False),
        # A percent of a reference of 0 is undefined: no alert.
        (Rule(Measure.DATA_QUALITY, True, ThresholdUnit.PERCENT, D(10)), D("50"), D(0), False),
    ],
)
def test_threshold_just_under_and_just_over(
    rule: Rule, value: Decimal, reference: Decimal, alert: bool
) -> None:
    assert is_deviation(rule, value, reference) is alert


def test_adverse_deviation_in_the_rules_unit() -> None:
    coverage = Rule(Measure.COVERAGE, True, ThresholdUnit.PERCENT, D(25))
    assert adverse_deviation(coverage, D(150), D(200)) == D(25)
    ageing = Rule(Measure.STAGE_AGEING, True, ThresholdUnit.POINTS, D(5))
    assert adverse_deviation(ageing, D(26), D(20)) == D(6)


# --- The weekly run --------------------------------------------------------------------------


def test_alerts_against_the_organization_average(dataset: Dataset) -> None:
    new = _detect(dataset)
    got = _by_key(dataset)
    assert set(got) == {
        ("DK", Measure.COVERAGE),
        ("SE", Measure.WIN_RATE),
        ("DK", Measure.DATA_QUALITY),
        ("DE", Measure.DATA_QUALITY),
    }
    assert len(new) == 4
    assert all(a.comparison == Comparison.ORG_AVERAGE for a in got.values())
    assert (got["DK", Measure.COVERAGE].value, got["DK", Measure.COVERAGE].reference) == (
        D("0.00"),
        D("71.10"),
    )
    assert got["SE", Measure.WIN_RATE].reference == D("83.33")
    assert got["DE", Measure.DATA_QUALITY].reference == D("66.67")
    # The week's measures are stored: 12 rows, next week's trend.
    assert CompanyMeasure.objects.for_org(dataset.world.org).filter(week=WEEK).count() == 12


def _history(dataset: Dataset, company: Any, measure: str, values: dict[int, str]) -> None:
    for weeks_before, value in values.items():
        CompanyMeasure.objects.create(
            organization=dataset.world.org,
            sales_company=company,
            measure=measure,
            week=WEEK - dt.timedelta(weeks=weeks_before),
            value=D(value),
        )


def test_own_trend_comes_first_and_is_the_four_weeks_before(dataset: Dataset) -> None:
    """DE's ageing (32 days) is only 24.7 % above the organization's average, but its own
    trend of the four weeks before is (10 + 14) / 2 = 12 days: 166.7 % above. A value five
    weeks back (1 day) is not in the trend. SE's win rate was 50 and 60: trend 55, only 5
    points above this week's 50, so its alert stays the organization's average (83.33)."""
    w = dataset.world
    _history(dataset, w.de, Measure.STAGE_AGEING, {1: "10", 3: "14", 5: "1"})
    _history(dataset, w.se, Measure.WIN_RATE, {1: "50", 2: "60"})
    _detect(dataset)
    got = _by_key(dataset)
    ageing = got["DE", Measure.STAGE_AGEING]
    assert (ageing.comparison, ageing.value, ageing.reference) == (
        Comparison.OWN_TREND,
        D("32.00"),
        D("12.00"),
    )
    win = got["SE", Measure.WIN_RATE]
    assert (win.comparison, win.reference) == (Comparison.ORG_AVERAGE, D("83.33"))


def test_own_trend_beyond_the_threshold_wins_over_the_average(dataset: Dataset) -> None:
    """SE's win rate was 70 the weeks before: 20 points below its own trend, and also below
    the average; one alert, against its own trend."""
    w = dataset.world
    _history(dataset, w.se, Measure.WIN_RATE, {1: "70", 2: "70"})
    _detect(dataset)
    win = _by_key(dataset)["SE", Measure.WIN_RATE]
    assert (win.comparison, win.reference) == (Comparison.OWN_TREND, D("70.00"))
    assert DeviationAlert.objects.for_org(w.org).filter(measure=Measure.WIN_RATE).count() == 1


def test_the_organizations_thresholds_apply(dataset: Dataset) -> None:
    """Data quality off, win rate 34 points (SE is 33.33 below): only DK's coverage is left."""
    w = dataset.world
    deviations.deviation_thresholds_set(
        organization=w.org,
        rules=[
            Rule(Measure.DATA_QUALITY, False, ThresholdUnit.POINTS, D(10)),
            Rule(Measure.WIN_RATE, True, ThresholdUnit.POINTS, D(34)),
        ],
    )
    _detect(dataset)
    assert set(_by_key(dataset)) == {("DK", Measure.COVERAGE)}
    # At 33.33 points SE's 33.33 is not beyond it; at 33.32 it is.
    DeviationThreshold.objects.for_org(w.org).filter(measure=Measure.WIN_RATE).update(
        threshold=D("33.32")
    )
    _detect(dataset)
    assert ("SE", Measure.WIN_RATE) in _by_key(dataset)


def test_the_task_run_twice_raises_and_tells_once(dataset: Dataset, mailoutbox: list[Any]) -> None:
    w = dataset.world
    call_command("detect_deviations", "--date", AS_OF.isoformat())
    alerts = DeviationAlert.objects.for_org(w.org).count()
    notifications = Notification.objects.for_org(w.org).count()
    mails = len(mailoutbox)
    # One mail per company to the director (3), the SE and DE managers theirs (DK has none).
    assert (alerts, mails) == (4, 5)
    call_command("detect_deviations", "--date", AS_OF.isoformat())
    assert detect_deviations(w.org.pk, AS_OF.isoformat()) == 0
    assert DeviationAlert.objects.for_org(w.org).count() == alerts
    assert Notification.objects.for_org(w.org).count() == notifications
    assert len(mailoutbox) == mails


def test_who_is_told(dataset: Dataset, mailoutbox: list[Any]) -> None:
    """The director (all four alerts) and each company's country manager (his own); not the
    regional manager, the reps or another company's manager."""
    w = dataset.world
    _detect(dataset)
    told = {
        (n.recipient_id, n.kind)
        for n in Notification.objects.for_org(w.org).filter(kind__startswith="deviation_")
    }
    assert told == {
        (w.director.pk, NotificationKind.DEVIATION_COVERAGE),
        (w.director.pk, NotificationKind.DEVIATION_WIN_RATE),
        (w.director.pk, NotificationKind.DEVIATION_DATA_QUALITY),
        (w.manager_se.pk, NotificationKind.DEVIATION_WIN_RATE),
        (w.manager_de.pk, NotificationKind.DEVIATION_DATA_QUALITY),
    }
    assert Notification.objects.for_org(w.org).filter(recipient=w.director).count() == 4
    mailed = sorted(m.to[0] for m in mailoutbox)
    assert mailed == sorted([w.director.email] * 3 + [w.manager_se.email, w.manager_de.email])


def test_the_notification_reads_in_the_readers_language(dataset: Dataset) -> None:
    w = dataset.world
    _detect(dataset)
    n = Notification.objects.for_org(w.org).get(
        recipient=w.manager_se, kind=NotificationKind.DEVIATION_WIN_RATE
    )
    assert n.params == {
        "company": w.se.name,
        "value": "50.0",
        "reference": "83.3",
        "week": "2026-05-11",
    }
    with translation.override("de"):
        # The numbers and the week as a German reader writes them (crm.models._localized).
        german = {**n.params, "value": "50,0", "reference": "83,3", "week": "11.05.2026"}
        expected = gettext(str(NotificationKind.DEVIATION_WIN_RATE.label)) % german
        assert n.message == expected
    assert n.url == f"/reports/alerts/?company={w.se.pk}&measure=win_rate"


def test_the_mail_in_german(dataset: Dataset, mailoutbox: list[Any]) -> None:
    """The German manager's mail: German subject and sentences (the catalogue's), numbers
    with a decimal comma, the week in the German date format, the drill-down's path."""
    w = dataset.world
    w.manager_de.language = "de"
    w.manager_de.save(update_fields=["language"])
    _detect(dataset)
    mail = next(m for m in mailoutbox if m.to == [w.manager_de.email])
    with translation.override("de"):
        subject = gettext("Meridian: deviation alert for %(company)s") % {"company": w.de.name}
        intro = gettext("Week of %(week)s: %(company)s deviates.") % {
            "week": "11.05.2026",
            "company": w.de.name,
        }
        label = str(Measure.DATA_QUALITY.label)
        comparison = str(Comparison.ORG_AVERAGE.label)
    assert mail.subject == subject
    assert intro in mail.body
    assert f"{label}: 100,0\u00a0%" in mail.body
    assert "66,7\u00a0%" in mail.body and comparison in mail.body
    assert f"/opportunities/data-quality/?company={w.de.pk}" in mail.body
    # The director (no language, no company) reads English.
    english = [m for m in mailoutbox if m.to == [w.director.email]]
    assert all(m.subject.startswith("Meridian: deviation alert for ") for m in english)
    assert any("100.0\u00a0%" in m.body for m in english)


def test_an_inactive_director_is_not_told(dataset: Dataset) -> None:
    w = dataset.world
    w.director.is_active = False
    w.director.save(update_fields=["is_active"])
    second = UserFactory(organization=w.org, role=Role.GLOBAL_DIRECTOR)
    _detect(dataset)
    assert not Notification.objects.for_org(w.org).filter(recipient=w.director).exists()
    assert Notification.objects.for_org(w.org).filter(recipient=second).count() == 4
