"""Known answers: every KPI of the dataset in conftest.py, computed by hand in the comments."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from crm.models import ExchangeRate
from crm.money import MissingExchangeRateError
from reporting import kpis
from reporting.kpis import Scope
from reporting.periods import fiscal_quarter, fiscal_year
from tests.opportunities.factories import OpportunityFactory
from tests.reporting.conftest import AS_OF, Q2, Q3, Dataset, at

pytestmark = pytest.mark.django_db


def _q2(ds: Dataset) -> kpis.Period:
    return fiscal_quarter(ds.world.org, AS_OF)


def test_fiscal_periods_follow_the_fiscal_start_month(dataset: Dataset) -> None:
    org = dataset.world.org
    assert (_q2(dataset).start, _q2(dataset).end) == (Q2, Q3)
    org.fiscal_year_start_month = 4  # April: 2026-05-15 is in Q1 of FY2026/27
    q = fiscal_quarter(org, AS_OF)
    assert (q.start, q.end, q.label) == (dt.date(2026, 4, 1), dt.date(2026, 7, 1), "Q1 FY2026/27")
    y = fiscal_year(org, dt.date(2026, 2, 1))
    assert (y.start, y.end) == (dt.date(2025, 4, 1), dt.date(2026, 4, 1))


def test_pipeline_by_stage_and_weighted_pipeline(dataset: Dataset) -> None:
    rows = kpis.pipeline_by_stage(user=dataset.world.director, as_of=AS_OF)
    # Open deals: o7 Qualify (no amount), o6 Propose 40,000 DKK x 0.135 = 5,400.00 (x 50%),
    # o5 Negotiate 200,000 SEK x 0.08 = 16,000.00 + o8 20,000 EUR = 36,000.00 (x 75%).
    assert [(r.stage, r.count, r.amount, r.weighted) for r in rows] == [
        ("Qualify", 1, D("0.00"), D("0.00")),
        ("Propose", 1, D("5400.00"), D("2700.00")),
        ("Negotiate", 2, D("36000.00"), D("27000.00")),
    ]
    totals = kpis.weighted_pipeline(rows)
    # 5,400 + 36,000 = 41,400; 2,700 + 27,000 = 29,700.
    assert (totals.count, totals.amount, totals.weighted) == (4, D("41400.00"), D("29700.00"))


def test_pipeline_is_intersected_with_what_the_user_sees(dataset: Dataset) -> None:
    w = dataset.world
    # The Nordics manager sees SE and DK: o6 (5,400) and o5 (16,000).
    rows = kpis.pipeline_by_stage(user=w.regional, as_of=AS_OF)
    assert [(r.stage, r.amount) for r in rows] == [
        ("Propose", D("5400.00")),
        ("Negotiate", D("16000.00")),
    ]
    # Asking for DACH does not widen what the Nordics manager sees: nothing.
    assert (
        kpis.pipeline_by_stage(user=w.regional, scope=Scope(region_id=w.dach.pk), as_of=AS_OF) == []
    )
    # The SE manager: o5 only; a rep scope narrows the director's view to that rep.
    assert [r.amount for r in kpis.pipeline_by_stage(user=w.manager_se, as_of=AS_OF)] == [
        D("16000.00")
    ]
    rep = kpis.pipeline_by_stage(user=w.director, scope=Scope(user_id=w.rep_de.pk), as_of=AS_OF)
    assert [(r.stage, r.count, r.amount) for r in rep] == [
        ("Qualify", 1, D("0.00")),
        ("Negotiate", 1, D("20000.00")),
    ]
    # The other organization sees none of it.
    assert kpis.pipeline_by_stage(user=w.stranger, as_of=AS_OF) == []


def test_pipeline_by_region_company_and_owner(dataset: Dataset) -> None:
    w = dataset.world
    by_region = kpis.pipeline_by(user=w.director, as_of=AS_OF, group="region")
    # DACH: o7 + o8 = 20,000 (weighted 15,000); Nordics: o5 + o6 = 21,400 (12,000 + 2,700).
    assert [(r.name, r.count, r.amount, r.weighted) for r in by_region] == [
        ("DACH", 2, D("20000.00"), D("15000.00")),
        ("Nordics", 2, D("21400.00"), D("14700.00")),
    ]
    by_owner = kpis.pipeline_by(
        user=w.director, scope=Scope(sales_company_id=w.dk.pk), as_of=AS_OF, group="owner"
    )
    assert [(r.key, r.amount) for r in by_owner] == [(w.rep_dk.pk, D("5400.00"))]


def test_forecast_this_and_next_quarter_against_revenue_targets(dataset: Dataset) -> None:
    this, nxt = kpis.forecast(user=dataset.world.director, as_of=AS_OF)
    # Q2: won o1 8,000 (SEK 0.08 on 04-11) + o2 6,750 (DKK 0.135 on 05-10) = 14,750;
    # commit o5 16,000 + o8 20,000 = 36,000 (by expected close in Q2). Target SE+DK+DE
    # 20,000 + 10,000 + 15,000 = 45,000; attainment 14,750 / 45,000 = 32.78% -> 32.8.
    assert this.period.start == Q2
    assert this.by_category == {"closed": D("14750.00"), "commit": D("36000.00")}
    assert (this.won, this.commit, this.best_case) == (D("14750.00"), D("50750.00"), D("50750.00"))
    assert this.target == D("45000.00")
    assert this.attainment == D("32.8")
    # Q3: o6 best case 5,400 (close 08-01); target SE 25,000.
    assert nxt.period.start == Q3
    assert nxt.by_category == {"best_case": D("5400.00")}
    assert (nxt.commit, nxt.best_case, nxt.target) == (D("0"), D("5400.00"), D("25000.00"))


def test_forecast_per_region(dataset: Dataset) -> None:
    w = dataset.world
    rows = {r.key: r for r in kpis.forecast_by(user=w.director, as_of=AS_OF, group="region")}
    # Nordics: won 8,000 + 6,750; commit adds o5 16,000; target SE 20,000 + DK 10,000.
    nordics = rows[w.nordics.pk]
    assert (nordics.won, nordics.commit, nordics.target) == (
        D("14750.00"),
        D("30750.00"),
        D("30000.00"),
    )
    # DACH: nothing won in Q2 (o3 closed in Q1); commit o8 20,000; target DE 15,000.
    dach = rows[w.dach.pk]
    assert (dach.won, dach.commit, dach.target) == (D("0"), D("20000.00"), D("15000.00"))


def test_win_rate_deal_size_and_sales_cycle(dataset: Dataset) -> None:
    w = dataset.world
    q2 = kpis.win_stats(user=w.director, period=_q2(dataset))
    # Closed in Q2: o1 and o2 won, o4 lost -> 2 / 3 = 66.7%. Won 8,000 + 6,750 = 14,750,
    # average 7,375. Cycle: o1 02-01 -> 04-11 = 28 + 31 + 10 = 69 days; o2 03-01 -> 05-10 =
    # 31 + 30 + 9 = 70 days; average 69.5.
    assert (q2.won, q2.lost, q2.win_rate) == (2, 1, D("66.7"))
    assert (q2.won_amount, q2.average_deal, q2.cycle_days) == (
        D("14750.00"),
        D("7375.00"),
        D("69.5"),
    )
    year = kpis.win_stats(user=w.director, period=fiscal_year(w.org, AS_OF))
    # FY2026 adds o3 (10,000 EUR, 01-15 -> 03-20 = 16 + 28 + 20 = 64 days): 3 won, 1 lost =
    # 75%; 24,750 / 3 = 8,250; (69 + 70 + 64) / 3 = 67.67 -> 67.7.
    assert (year.won, year.lost, year.win_rate) == (3, 1, D("75.0"))
    assert (year.won_amount, year.average_deal, year.cycle_days) == (
        D("24750.00"),
        D("8250.00"),
        D("67.7"),
    )
    by_company = kpis.win_stats_by(user=w.director, period=_q2(dataset), group="company")
    # SE: o1 won, o4 lost -> 50%; DK: o2 won -> 100%.
    assert by_company[w.se.pk].win_rate == D("50.0")
    assert by_company[w.dk.pk].win_rate == D("100.0")


def test_stage_to_stage_conversion(dataset: Dataset) -> None:
    rows = kpis.stage_conversion(user=dataset.world.director, period=_q2(dataset))
    # Entered in Q2 (lost moves ignored): Qualify o5 o6 o8 o4 (4), of which o5, o6 and o8
    # moved on (75%); Develop o5 o6 (2), both moved on (100%); Propose o6 (1), no further (0%);
    # Negotiate o5 o1 o8 (3), only o1 won afterwards (33.3%); Won o1 (1): the end.
    assert [(r.stage, r.entered, r.advanced, r.converted_percent) for r in rows] == [
        ("Qualify", 4, 3, D("75.0")),
        ("Develop", 2, 2, D("100.0")),
        ("Propose", 1, 0, D("0.0")),
        ("Negotiate", 3, 1, D("33.3")),
        ("Won", 1, 0, None),
    ]


def test_new_customers_against_target(dataset: Dataset) -> None:
    w = dataset.world
    nc = kpis.new_customers(user=w.director, period=_q2(dataset))
    # First won in Q2: Svea (04-11) and Dansk Ventil (05-10); Rhein was Q1. Target 3 + 1 = 4.
    assert (nc.won, nc.target, nc.attainment) == (2, D("4.00"), D("50.0"))
    se = kpis.new_customers(
        user=w.director, scope=Scope(sales_company_id=w.se.pk), period=_q2(dataset)
    )
    assert (se.won, se.target, se.attainment) == (1, D("3.00"), D("33.3"))


def test_target_attainment_with_split_credit(dataset: Dataset) -> None:
    w = dataset.world
    rows = kpis.target_attainment(user=w.director, period=_q2(dataset))
    got = {(r.party, r.name): (r.target, r.actual, r.attainment) for r in rows}
    # o1 8,000 split 60/40: SE & rep_se 4,800, DK & rep_dk 3,200. o2 6,750 has no revenue
    # split (the 10% overlay does not count): 100% to rep_dk and DK. o3 closed in Q1.
    assert got == {
        ("company", w.se.name): (D("20000.00"), D("4800.00"), D("24.0")),
        ("company", w.dk.name): (D("10000.00"), D("9950.00"), D("99.5")),
        ("company", w.de.name): (D("15000.00"), D("0.00"), D("0.0")),
        ("user", w.rep_se.full_name): (D("8000.00"), D("4800.00"), D("60.0")),
        ("user", w.rep_dk.full_name): (D("5000.00"), D("9950.00"), D("199.0")),
    }
    credit = kpis.revenue_credit(
        user=w.director, scope=Scope(user_id=w.rep_se.pk), period=_q2(dataset), party="user"
    )
    assert credit == {w.rep_se.pk: (w.rep_se.full_name, D("4800.00"))}


def test_open_conflicts_by_kind(dataset: Dataset) -> None:
    w = dataset.world
    # The resolved same-product conflict does not count.
    assert kpis.open_conflicts_by_kind(user=w.director) == {
        "duplicate_account": 1,
        "group_other_company": 1,
    }
    assert kpis.open_conflicts_by_kind(user=w.manager_de) == {"duplicate_account": 1}
    assert kpis.open_conflicts_by_kind(user=w.director, scope=Scope(sales_company_id=w.dk.pk)) == {
        "group_other_company": 1
    }


def test_data_quality_score_and_records_to_fix(dataset: Dataset) -> None:
    w, o = dataset.world, dataset.opps
    dq = kpis.data_quality(user=w.director, as_of=AS_OF)
    # Open: o5 clean; o6 no next step + stale (its activity is from 03-20, > 30 days);
    # o7 no amount, no close date, no next step, but not stale: o8's visit on the same account
    # (05-10) counts for it too; o8 close date 05-01 < 05-15.
    # Accounts: Dansk Ventil has no registration number, Rhein no country.
    t = dq.total
    assert (t.opportunities, t.opportunities_with_issues, t.accounts, t.accounts_with_issues) == (
        4,
        3,
        3,
        2,
    )
    assert t.issues == {
        "no_amount": 1,
        "no_close_date": 1,
        "no_next_step": 2,
        "close_in_past": 1,
        "stale": 1,
        "no_country": 1,
        "no_registration": 1,
    }
    # Score: records without any issue, (4 + 3) - (3 + 2) = 2 of 7 = 28.6%.
    assert t.score == D("28.6")
    assert t.share("no_next_step") == D("50.0")  # 2 of 4 open deals
    assert t.share("no_country") == D("33.3")  # 1 of 3 accounts
    scores = {name: c.score for name, c in dq.by_company.values()}
    assert scores == {w.se.name: D("100.0"), w.dk.name: D("0.0"), w.de.name: D("0.0")}
    # Records to fix, by expected close date (none last): o8, o6, o7.
    assert [r["id"] for r in dq.opportunities_to_fix] == [o["o8"].pk, o["o6"].pk, o["o7"].pk]
    assert kpis.issue_labels(dq.opportunities_to_fix[1]) == [
        "missing next step",
        "no activity in 30 days",
    ]
    assert {r["name"] for r in dq.accounts_to_fix} == {"Dansk Ventil A/S", "Rhein Armaturen GmbH"}


def test_missing_rate_is_an_error_naming_currency_and_date(dataset: Dataset) -> None:
    w = dataset.world
    OpportunityFactory(
        account=dataset.accounts["se"], owner=w.rep_se, amount=D("1000"), currency="NOK"
    )
    with pytest.raises(MissingExchangeRateError) as err:
        kpis.pipeline_by_stage(user=w.director, as_of=AS_OF)
    assert (err.value.currency, err.value.on_date) == ("NOK", AS_OF)
    assert "NOK" in str(err.value) and "2026-05-15" in str(err.value)


def test_missing_rate_on_a_close_date_before_the_first_rate(dataset: Dataset) -> None:
    w = dataset.world
    # Only 2026 SEK rates exist: a deal won on 2025-12-01 cannot be converted, never at 1.0.
    opp = OpportunityFactory(
        account=dataset.accounts["se"], owner=w.rep_se, stage="Won", amount=D("5000")
    )
    type(opp).objects.for_org(w.org).filter(pk=opp.pk).update(closed_at=at("2025-12-01"))
    with pytest.raises(MissingExchangeRateError) as err:
        kpis.win_stats(user=w.director, period=fiscal_year(w.org, dt.date(2025, 6, 1)))
    assert (err.value.currency, err.value.on_date) == ("SEK", dt.date(2025, 12, 1))
    with pytest.raises(MissingExchangeRateError):
        kpis.target_attainment(user=w.director, period=fiscal_year(w.org, dt.date(2025, 6, 1)))
    # With the rate added, the same deal converts (5,000 x 0.1 = 500).
    ExchangeRate.objects.create(
        organization=w.org, currency="SEK", rate=D("0.1"), valid_from=dt.date(2025, 1, 1)
    )
    stats = kpis.win_stats(user=w.director, period=fiscal_year(w.org, dt.date(2025, 6, 1)))
    assert stats.won_amount == D("500.00")


def test_each_kpi_is_a_fixed_number_of_queries(dataset: Dataset, django_assert_num_queries) -> None:
    w = dataset.world
    _ = w.director.organization  # the organization is read once per request anyway
    period = _q2(dataset)
    for call, n in [
        (lambda: kpis.pipeline_by_stage(user=w.director, as_of=AS_OF), 1),
        (lambda: kpis.forecast(user=w.director, as_of=AS_OF), 2),
        (lambda: kpis.win_stats(user=w.director, period=period), 1),
        (lambda: kpis.stage_conversion(user=w.director, period=period), 1),
        (lambda: kpis.target_attainment(user=w.director, period=period), 5),
        (lambda: kpis.data_quality(user=w.director, as_of=AS_OF), 4),
    ]:
        with django_assert_num_queries(n):
            call()
