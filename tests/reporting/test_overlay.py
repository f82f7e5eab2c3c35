"""Overlay credit: known answers on the reporting dataset (tests/reporting/conftest.py).

Added to the dataset:
  o1 (SE, won 2026-04-11, 100,000 SEK at 0.08 = 8,000.00 EUR): 25% overlay to rep_de (DE)
                                                                  -> 2,000.00
  o2 (DK, won 2026-05-10, 50,000 DKK at 0.135 = 6,750.00 EUR):  10% overlay to rep_se (SE),
                                                                  from the dataset -> 675.00
  o3 (DE, won 2026-03-20, Q1): 50% overlay to rep_dk              -> not in Q2
Overlay targets Q2: rep_se 1,000 -> 67.5 %; company DE 4,000 -> 50.0 %.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from crm.models import ExchangeRate
from crm.money import MissingExchangeRateError
from opportunities.models import Opportunity, OpportunitySplit, SplitKind
from opportunities.services import opportunity_set_splits
from reporting import figures, kpis, selectors
from reporting.kpis import Scope
from reporting.models import TargetKind
from reporting.overlay import overlay_attainment, overlay_credit
from reporting.periods import fiscal_quarter
from tests.reporting.conftest import AS_OF, Q2, Dataset, _target

pytestmark = pytest.mark.django_db


@pytest.fixture
def overlay(dataset: Dataset) -> Dataset:
    w, o = dataset.world, dataset.opps
    split = OpportunitySplit.objects.create
    split(organization=w.org, opportunity=o["o1"], user=w.rep_de, sales_company=w.de,
          kind=SplitKind.OVERLAY, percent=Decimal(25))  # fmt: skip
    split(organization=w.org, opportunity=o["o3"], user=w.rep_dk, sales_company=w.dk,
          kind=SplitKind.OVERLAY, percent=Decimal(50))  # fmt: skip
    _target(dataset.world, TargetKind.OVERLAY, Q2, "1000", user=w.rep_se)
    _target(dataset.world, TargetKind.OVERLAY, Q2, "4000", sales_company=w.de)
    return dataset


def _q2(dataset: Dataset):
    return fiscal_quarter(dataset.world.org, AS_OF)


def test_overlay_credit_per_person_and_company(overlay: Dataset) -> None:
    w = overlay.world
    q2 = _q2(overlay)
    people = overlay_credit(user=w.director, period=q2, party="user")
    assert people == {
        w.rep_se.pk: (w.rep_se.full_name, Decimal("675.00")),
        w.rep_de.pk: (w.rep_de.full_name, Decimal("2000.00")),
    }
    companies = overlay_credit(user=w.director, period=q2, party="company")
    assert {k: v for k, (_n, v) in companies.items()} == {
        w.se.pk: Decimal("675.00"),
        w.de.pk: Decimal("2000.00"),
    }


def test_overlay_attainment_beside_revenue_and_revenue_unchanged(overlay: Dataset) -> None:
    w = overlay.world
    q2 = _q2(overlay)
    revenue = kpis.target_attainment(user=w.director, period=q2)
    rev = {(r.party, r.key): r for r in revenue}
    # Overlay splits never count as revenue: rep_se keeps 60% of o1 (4,800), not + 675.
    assert rev[("user", w.rep_se.pk)].actual == Decimal("4800.00")
    assert ("user", w.rep_de.pk) not in rev  # his only Q2 credit is an overlay
    result = overlay_attainment(user=w.director, period=q2, revenue=revenue)
    rows = {(r.party, r.key): r for r in result.rows}
    se_rep = rows[("user", w.rep_se.pk)]
    assert (se_rep.target, se_rep.actual, se_rep.attainment) == (
        Decimal("1000.00"),
        Decimal("675.00"),
        Decimal("67.5"),
    )
    assert (se_rep.revenue_target, se_rep.revenue_actual, se_rep.revenue_attainment) == (
        Decimal("8000.00"),
        Decimal("4800.00"),
        Decimal("60.0"),
    )
    de = rows[("company", w.de.pk)]
    assert (de.target, de.actual, de.attainment) == (
        Decimal("4000.00"),
        Decimal("2000.00"),
        Decimal("50.0"),
    )
    assert de.revenue_target == Decimal("15000.00")
    # rep_dk's overlay is on a Q1 deal: no row (no Q2 credit, no overlay target).
    assert ("user", w.rep_dk.pk) not in rows
    assert result.total_credit == Decimal("2675.00")
    # Companies only above a company's dashboard.
    assert {r.party for r in result.shown("organization")} == {"company"}
    assert {r.party for r in result.shown("company")} == {"company", "user"}


def test_overlay_follows_the_scope_and_visibility(overlay: Dataset) -> None:
    w = overlay.world
    q2 = _q2(overlay)
    se = overlay_attainment(user=w.director, scope=Scope(sales_company_id=w.se.pk), period=q2)
    assert {(r.party, r.key): r.actual for r in se.rows} == {
        ("company", w.se.pk): Decimal("675.00"),
        ("user", w.rep_se.pk): Decimal("675.00"),
    }
    # The German manager sees his company's deals only, not the Swedish o1 nor the Danish o2.
    de_view = overlay_attainment(user=w.manager_de, period=q2)
    assert {(r.party, r.key): r.actual for r in de_view.rows} == {
        ("company", w.de.pk): Decimal("0"),
    }
    other = overlay_attainment(user=w.stranger, period=fiscal_quarter(w.other_org, AS_OF))
    assert other.rows == []


def test_a_missing_rate_on_the_close_date_is_an_error(overlay: Dataset) -> None:
    w = overlay.world
    ExchangeRate.objects.for_org(w.org).filter(currency="DKK").delete()
    with pytest.raises(MissingExchangeRateError):
        overlay_credit(user=w.director, period=_q2(overlay), party="user")


def test_revenue_splits_sum_to_100_and_overlays_do_not_count(overlay: Dataset) -> None:
    w, opp = overlay.world, overlay.opps["o5"]
    ok = opportunity_set_splits(
        opportunity=opp,
        splits=[
            (w.rep_se, w.se, SplitKind.REVENUE, Decimal(70)),
            (w.rep_dk, w.dk, SplitKind.REVENUE, Decimal(30)),
            (w.rep_de, w.de, SplitKind.OVERLAY, Decimal(40)),
        ],
        acting_user=w.director,
    )
    assert len(ok) == 3
    opp = Opportunity.objects.for_org(w.org).get(pk=opp.pk)
    with pytest.raises(ValidationError, match="exactly 100%"):
        opportunity_set_splits(
            opportunity=opp,
            splits=[
                (w.rep_se, w.se, SplitKind.REVENUE, Decimal(70)),
                (w.rep_de, w.de, SplitKind.OVERLAY, Decimal(30)),
            ],
            acting_user=w.director,
        )


def test_overlay_is_stored_with_the_dashboard_and_read_back(overlay: Dataset) -> None:
    w = overlay.world
    where = selectors.dashboard_scope(user=w.director)
    d = selectors.dashboard(user=w.director, scope=where, as_of=AS_OF)
    back = figures.loads(figures.dumps(d))
    assert isinstance(back, selectors.Dashboard)
    assert back.joint_goals.overlay == d.joint_goals.overlay
    assert back.joint_goals.smarketing == d.joint_goals.smarketing
    assert back.joint_goals.overlay.total_credit == Decimal("2675.00")


def test_the_report_reads_the_revenue_attainment_once_for_targets_and_overlay(
    overlay: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The export's targets and overlay sections show the same revenue figures: read once per
    period (quarter and year), and each section's rows are those it builds on its own."""
    from reporting import exports

    w = overlay.world
    alone = {
        build.__name__: list(build(w.director, Scope(), AS_OF).rows)
        for build in (exports._targets, exports._overlay)
    }
    calls = []
    real = kpis.target_attainment

    def counted(**kwargs):  # type: ignore[no-untyped-def]
        calls.append(kwargs["period"])
        return real(**kwargs)

    monkeypatch.setattr(kpis, "target_attainment", counted)
    shared = {
        section.title: list(section.rows)
        for section in exports.report_sections(user=w.director, scope=Scope(), as_of=AS_OF)
        if section.title in ("Targets", "Overlay credit")
    }
    # Once for the quarter, once for the year (it was once per period and section: four).
    assert len(calls) == 2 and len({(p.kind, p.start) for p in calls}) == 2
    assert shared == {"Targets": alone["_targets"], "Overlay credit": alone["_overlay"]}
    assert any(row[4] for row in shared["Targets"])  # the figures are there, not empty
