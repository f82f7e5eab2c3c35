"""Known answers for customer value and segments (reporting/customer_value.py).

Report date 2026-05-15; "the last 12 months" are 2025-05-16 .. 2026-05-15.
Rates (EUR per unit): SEK 0.09 from 2025-01-01, 0.08 from 2026-04-01;
                      DKK 0.13 from 2025-01-01, 0.135 from 2026-05-01. No NOK rate.

Group "Volta" = top Volta Holding AB (SE) + subsidiary Volta Danmark A/S (DK):

deal account  stage      amount       closed        rate    EUR        12 months?
w1   top      Won        100,000 SEK  2025-05-15    0.09    9,000.00   no (a year ago to the day)
w2   top      Won         50,000 SEK  2025-05-16    0.09    4,500.00   yes (first day)
w3   top      Won         10,000 SEK  2026-04-01    0.08      800.00   yes
l1   top      Lost        30,000 SEK  2026-02-01    -          -
o1   top      Negotiate  200,000 SEK  open          0.08   16,000.00 x 75% = 12,000.00
w4   sub      Won        100,000 DKK  2026-05-15    0.135  13,500.00   yes (last day)
w5   sub      Won         10,000 DKK  2025-06-01    0.13    1,300.00   yes
w6   sub      Won         10,000 DKK  2026-05-16    -          -       after the report date
o2   sub      Propose     40,000 DKK  open          0.135   5,400.00 x 50% =  2,700.00

top: won 14,300.00, weighted 12,000.00, lifetime 26,300.00, 12 months 5,300.00, wins
     2025-05-15 .. 2026-04-01, 3 won / 1 lost.
sub: won 14,800.00, weighted 2,700.00, lifetime 17,500.00, 12 months 14,800.00, wins
     2025-06-01 .. 2026-05-15.
group: won 29,100.00, weighted 14,700.00, lifetime 43,800.00, 12 months 20,100.00.
Lone GmbH (DE): no deals, lifetime 0.00. Fjord (SE): a NOK deal won, no rate: unknown.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from accounts.models import Account, AccountValue, Segment, SegmentRule
from accounts.services import account_update
from accounts.value import account_figures, group_figures
from crm.audit import history_for
from crm.money import money
from reporting import customer_value as cv
from reporting.kpis import Scope
from tests.conftest import World
from tests.reporting.conftest import _opp
from tests.reporting.value_fixtures import AS_OF, build_accounts

pytestmark = pytest.mark.django_db


@pytest.fixture
def accounts(world: World) -> dict[str, Account]:
    return build_accounts(world)


def _value(world: World, account: Account) -> AccountValue:
    return AccountValue.objects.for_org(world.org).get(account=account)


def _refresh(world: World) -> cv.RefreshResult:
    return cv.refresh_account_values(organization=world.org, as_of=AS_OF)


def test_twelve_month_window_edges() -> None:
    assert cv.window_start(AS_OF) == dt.date(2025, 5, 16)
    assert cv.window_start(dt.date(2028, 2, 29)) == dt.date(2027, 3, 1)


def test_lifetime_value_at_the_won_dates_rates_plus_weighted_pipeline(
    world: World, accounts: dict[str, Account]
) -> None:
    result = _refresh(world)
    assert result.accounts == 4
    top = account_figures(_value(world, accounts["top"]))
    assert top is not None
    assert (top.won_revenue, top.weighted_pipeline, top.lifetime_value, top.revenue_12m) == (
        D("14300.00"),
        D("12000.00"),
        D("26300.00"),
        D("5300.00"),
    )
    assert (top.first_win_at.date(), top.last_win_at.date()) == (  # type: ignore[union-attr]
        dt.date(2025, 5, 15),
        dt.date(2026, 4, 1),
    )
    v = _value(world, accounts["top"])
    assert (v.won_count, v.lost_count, v.missing_rate) == (3, 1, "")
    assert money(v.open_pipeline) == D("16000.00")

    sub = account_figures(_value(world, accounts["sub"]))
    assert sub is not None
    # The deal won after the report date is not won revenue "to date".
    assert (sub.won_revenue, sub.weighted_pipeline, sub.lifetime_value, sub.revenue_12m) == (
        D("14800.00"),
        D("2700.00"),
        D("17500.00"),
        D("14800.00"),
    )
    assert (sub.first_win_at.date(), sub.last_win_at.date()) == (  # type: ignore[union-attr]
        dt.date(2025, 6, 1),
        dt.date(2026, 5, 15),
    )

    # The group, the same on every member.
    for key in ("top", "sub"):
        g = group_figures(_value(world, accounts[key]))
        assert g is not None
        assert (g.won_revenue, g.weighted_pipeline, g.lifetime_value, g.revenue_12m) == (
            D("29100.00"),
            D("14700.00"),
            D("43800.00"),
            D("20100.00"),
        )
        assert (g.first_win_at.date(), g.last_win_at.date()) == (  # type: ignore[union-attr]
            dt.date(2025, 5, 15),
            dt.date(2026, 5, 15),
        )
    lone = account_figures(_value(world, accounts["lone"]))
    assert lone is not None
    assert (lone.lifetime_value, lone.first_win_at) == (D("0.00"), None)


def test_a_missing_rate_is_named_never_one(world: World, accounts: dict[str, Account]) -> None:
    _refresh(world)
    v = _value(world, accounts["fjord"])
    assert v.missing_rate == "NOK 2026-03-01"
    assert (v.won_revenue, v.lifetime_value, v.group_lifetime_value) == (None, None, None)
    assert v.won_count == 1


def test_refresh_is_idempotent_and_updates(world: World, accounts: dict[str, Account]) -> None:
    _refresh(world)
    _opp(world, accounts["lone"], world.rep_de, "Won", "500", "EUR", created="2026-01-01",
         closed="2026-05-01")  # fmt: skip
    _refresh(world)
    assert AccountValue.objects.for_org(world.org).count() == 4
    assert money(_value(world, accounts["lone"]).lifetime_value) == D("500.00")


def _rules(world: World) -> None:
    for order, segment, lv, pot in [
        (1, Segment.A, "26300", None),  # the top's value exactly: A
        (2, Segment.B, None, "100000"),
        (3, Segment.B, "17500.01", None),  # a cent above the sub's value: not B
    ]:
        SegmentRule.objects.create(
            organization=world.org,
            order=order,
            segment=segment,
            min_lifetime_value=None if lv is None else D(lv),
            min_potential=None if pot is None else D(pot),
        )


def _segments(world: World) -> dict[str, tuple[str, str]]:
    return {a.name: (a.segment, a.segment_reason) for a in Account.objects.for_org(world.org).all()}


def test_segments_at_the_threshold_edges(world: World, accounts: dict[str, Account]) -> None:
    _rules(world)
    Account.objects.for_org(world.org).filter(pk=accounts["lone"].pk).update(
        potential=D("100000"), segment=Segment.A
    )
    Account.objects.for_org(world.org).filter(pk=accounts["sub"].pk).update(segment=Segment.B)
    Account.objects.for_org(world.org).filter(pk=accounts["fjord"].pk).update(segment=Segment.B)
    result = _refresh(world)
    assert _segments(world) == {
        "Volta Holding AB": ("A", "rule"),  # 26,300 >= 26,300
        "Volta Danmark A/S": ("C", "rule"),  # 17,500 < 17,500.01, no potential
        "Lone GmbH": ("B", "rule"),  # potential 100,000 >= 100,000
        "Fjord Handel AB": ("B", ""),  # value unknown (no NOK rate): kept
    }
    # Top C -> A, sub B -> C, lone A -> B; Fjord untouched.
    assert result.segments_changed == 3


def test_manual_override_is_kept_by_the_nightly_task(
    world: World, accounts: dict[str, Account]
) -> None:
    _rules(world)
    sub = Account.objects.for_org(world.org).get(pk=accounts["sub"].pk)
    account_update(account=sub, acting_user=world.director, segment=Segment.A)
    sub.refresh_from_db()
    assert (sub.segment_override, sub.segment_override_by, sub.segment_reason) == (
        "A",
        world.director,
        "manual",
    )
    assert sub.segment_override_at is not None
    _refresh(world)
    assert _segments(world)["Volta Danmark A/S"] == ("A", "manual")
    # Handed back to the rules: the next run assigns it.
    account_update(account=sub, acting_user=world.director, segment_by_rules=True)
    _refresh(world)
    assert _segments(world)["Volta Danmark A/S"] == ("C", "rule")


def test_history_records_each_segment_change_with_its_reason(
    world: World, accounts: dict[str, Account]
) -> None:

    _rules(world)
    _refresh(world)
    sub = Account.objects.for_org(world.org).get(pk=accounts["top"].pk)
    account_update(account=sub, acting_user=world.director, segment=Segment.B)
    entries = history_for(user=world.director, obj=sub)
    changes = [e.changes for e in entries if "segment" in e.changes and e.label == "update"]
    assert [(c["segment"][1], c["segment_reason"][1]) for c in changes] == [
        ("A", "rule"),
        ("B", "manual"),
    ]


def test_segment_report_per_segment_and_country(world: World, accounts: dict[str, Account]) -> None:
    _rules(world)
    _refresh(world)
    report = cv.segment_report(user=world.director)
    rows = {(r.segment, r.country): r for r in report.rows}
    a_se = rows[("A", "SE")]
    # Volta Holding: 26,300 lifetime, 16,000 open, 3 won of 4 closed = 75 %.
    assert (a_se.accounts, a_se.lifetime_value, a_se.open_pipeline, a_se.win_rate) == (
        1,
        D("26300.00"),
        D("16000.00"),
        D("75.0"),
    )
    c_dk = rows[("C", "DK")]
    assert (c_dk.accounts, c_dk.lifetime_value, c_dk.open_pipeline, c_dk.win_rate) == (
        1,
        D("17500.00"),
        D("5400.00"),
        D("100.0"),
    )
    # Fjord (C, SE): its value is unknown, counted and named, not summed as 0 silently.
    c_se = rows[("C", "SE")]
    assert (c_se.accounts, c_se.unknown, c_se.lifetime_value) == (1, 1, D("0.00"))
    assert report.missing_rates == ["NOK 2026-03-01"]
    totals = {t.segment: t for t in report.totals}
    assert (totals["C"].accounts, totals["C"].lifetime_value) == (3, D("17500.00"))
    assert report.as_of == AS_OF


def test_segment_report_is_what_the_user_sees(world: World, accounts: dict[str, Account]) -> None:
    _rules(world)
    _refresh(world)
    # The SE rep sees the SE accounts only (the DK subsidiary is not his).
    rep = cv.segment_report(user=world.rep_se)
    assert sorted((r.segment, r.country, r.accounts) for r in rep.rows) == [
        ("A", "SE", 1),
        ("C", "SE", 1),
    ]
    # Scope narrows further: the director asking for DK.
    dk = cv.segment_report(user=world.director, scope=Scope(sales_company_id=world.dk.pk))
    assert [(r.segment, r.country) for r in dk.rows] == [("C", "DK")]
    # Another organization: nothing.
    assert cv.segment_report(user=world.stranger).rows == []
