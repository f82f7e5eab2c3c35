"""Smarketing KPIs: known answers, computed by hand, on top of the reporting dataset
(tests/reporting/conftest.py: rates, new-customer targets SE 3 and DK 1 for Q2 2026).

Campaigns C1 (Elmia), C2 (Messe). Leads (company, campaign, created, qualified, handed over,
converted; days from qualification to hand-over / to conversion):
  L1 SE C1 04-02  q 04-04  h 04-06 (2)  c 04-10 (6)  -> oA open 100,000 SEK at 0.08 = 8,000
  L2 SE C1 04-03  q 04-05  h 04-09 (4)  c 04-15 (10) -> oB won 05-01, 50,000 SEK = 4,000
  L3 SE C1 04-20  q 04-21
  L4 SE -  04-25
  L5 DK C2 05-01  q 05-02  h 05-03 (1)  c 05-11 (9)  -> oC open 40,000 DKK at 0.135 = 5,400
  L6 DK C2 03-10  q 04-01  h 04-08 (7)  c 04-12 (11) -> oD lost (created in Q1: not in the cohort)
  L7 DE C2 04-10  disqualified
  oE SE: campaign C1 on the deal but no source lead, 1,000 EUR open: not campaign-sourced.

Q2 totals: created 6 (L1-5, L7), qualified 4, converted 3 -> 50.0 %, of qualified 75.0 %;
qualified in Q2 5 (L1, L2, L3, L5, L6); hand-over 2, 4, 1, 7 -> avg 3.5, median 3.0;
conversion 6, 10, 9, 11 -> avg 9.0, median 9.5; sourced pipeline 13,400.00 (2), won 4,000.00 (1).
SE: 4 created, 3 qualified, 2 converted (50.0 %), hand-over 3.0/3.0, conversion 8.0/8.0.
DK: 1 / 1 / 1 (100.0 %), qualified in Q2 2, hand-over median 4.0, conversion 10.0.
C1: 3 / 3 / 2 (66.7 %), pipeline 8,000.00, won 4,000.00; C2: 2 / 1 / 1 (50.0 %), 5,400.00.

Events (kind event, happened in Q2 up to 05-15): rep_se 04-15 and 05-05, rep_dk 05-01; not
counted: rep_de 03-30 (Q1), rep_se 05-20 (after the report date), a meeting. Targets Q2: rep_se
3, company DK 2 -> SE 2/3 = 66.7 % (its people's target), DK 1/2 = 50.0 %, total 3/5 = 60.0 %.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Activity, ActivityKind
from leads.models import Campaign, Lead, LeadStatus
from leads.services import lead_assign, lead_convert, lead_qualify
from opportunities.models import Opportunity
from reporting import figures, selectors
from reporting.kpis import Scope
from reporting.models import TargetKind
from reporting.periods import fiscal_quarter
from reporting.smarketing import campaign_figures, smarketing
from tests.opportunities.factories import CampaignFactory, LeadFactory, process_for
from tests.reporting.conftest import AS_OF, Q2, Dataset, _opp, _target, at

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def marketing(dataset: Dataset) -> dict[str, object]:
    w, acc = dataset.world, dataset.accounts
    c1 = CampaignFactory(organization=w.org, owner=w.marketing, name="Elmia")
    c2 = CampaignFactory(organization=w.org, owner=w.marketing, name="Messe")
    companies = {"SE": w.se, "DK": w.dk, "DE": w.de}

    def lead(
        country: str,
        campaign: Campaign | None,
        created: str,
        qualified: str | None = None,
        handed: str | None = None,
        converted: str | None = None,
        status: str = LeadStatus.NEW,
    ) -> Lead:
        obj = LeadFactory(
            organization=w.org, country=country, sales_company=companies[country],
            campaign=campaign, status=status,
        )  # fmt: skip
        Lead.objects.for_org(w.org).filter(pk=obj.pk).update(
            created_at=at(created),
            qualified_at=at(qualified) if qualified else None,
            handed_over_at=at(handed) if handed else None,
            converted_at=at(converted) if converted else None,
        )
        return obj

    leads = {
        "L1": lead("SE", c1, "2026-04-02", "2026-04-04", "2026-04-06", "2026-04-10",
                   LeadStatus.CONVERTED),
        "L2": lead("SE", c1, "2026-04-03", "2026-04-05", "2026-04-09", "2026-04-15",
                   LeadStatus.CONVERTED),
        "L3": lead("SE", c1, "2026-04-20", "2026-04-21", status=LeadStatus.QUALIFIED),
        "L4": lead("SE", None, "2026-04-25"),
        "L5": lead("DK", c2, "2026-05-01", "2026-05-02", "2026-05-03", "2026-05-11",
                   LeadStatus.CONVERTED),
        "L6": lead("DK", c2, "2026-03-10", "2026-04-01", "2026-04-08", "2026-04-12",
                   LeadStatus.CONVERTED),
        "L7": lead("DE", c2, "2026-04-10", status=LeadStatus.DISQUALIFIED),
    }  # fmt: skip
    deals = {
        "oA": _opp(w, acc["se"], w.rep_se, "Negotiate", "100000", "SEK", created="2026-04-10",
                   close_date="2026-06-30"),
        "oB": _opp(w, acc["se"], w.rep_se, "Won", "50000", "SEK", created="2026-04-15",
                   closed="2026-05-01"),
        "oC": _opp(w, acc["dk"], w.rep_dk, "Propose", "40000", "DKK", created="2026-05-11",
                   close_date="2026-06-30"),
        "oD": _opp(w, acc["dk"], w.rep_dk, "Lost", "10000", "DKK", created="2026-04-12",
                   closed="2026-04-30"),
        "oE": _opp(w, acc["se"], w.rep_se, "Develop", "1000", "EUR", created="2026-04-12",
                   close_date="2026-06-30"),
    }  # fmt: skip
    for deal, key in [("oA", "L1"), ("oB", "L2"), ("oC", "L5"), ("oD", "L6")]:
        lead_obj = leads[key]
        Opportunity.objects.for_org(w.org).filter(pk=deals[deal].pk).update(
            source_lead=lead_obj, campaign=lead_obj.campaign
        )
    Opportunity.objects.for_org(w.org).filter(pk=deals["oE"].pk).update(campaign=c1)

    def event(owner, company, day: str, kind: str = ActivityKind.EVENT) -> None:
        Activity.objects.create(
            organization=w.org, kind=kind, subject="Fair", owner=owner, sales_company=company,
            account=acc[company.code.lower()], happened_at=at(day), created_at=at(day),
        )  # fmt: skip

    event(w.rep_se, w.se, "2026-04-15")
    event(w.rep_se, w.se, "2026-05-05")
    event(w.rep_dk, w.dk, "2026-05-01")
    event(w.rep_de, w.de, "2026-03-30")
    event(w.rep_se, w.se, "2026-05-20")
    event(w.rep_se, w.se, "2026-05-06", kind=ActivityKind.MEETING)
    _target(w, TargetKind.EVENTS_ATTENDED, Q2, "3", user=w.rep_se)
    _target(w, TargetKind.EVENTS_ATTENDED, Q2, "2", sales_company=w.dk)
    return {"c1": c1, "c2": c2, "leads": leads, "deals": deals, "world": w}


def _q2(w):
    return fiscal_quarter(w.org, AS_OF)


def test_the_organizations_funnel_times_and_sourced_deals(marketing: dict) -> None:
    w = marketing["world"]
    s = smarketing(user=w.director, period=_q2(w), as_of=AS_OF)
    t = s.total
    assert (t.created, t.qualified, t.converted) == (6, 4, 3)
    assert (t.conversion_rate, t.qualified_conversion_rate) == (D("50.0"), D("75.0"))
    assert t.qualified_in_period == 5
    assert (t.handed_over, t.hand_over_avg_days, t.hand_over_median_days) == (
        4,
        D("3.5"),
        D("3.0"),
    )
    assert (t.conversions_timed, t.conversion_avg_days, t.conversion_median_days) == (
        4,
        D("9.0"),
        D("9.5"),
    )
    assert (t.sourced_open_count, t.sourced_pipeline) == (2, D("13400.00"))
    assert (t.sourced_won_count, t.sourced_won) == (1, D("4000.00"))
    assert t.new_customer_target == D("4")


def test_per_company_and_per_campaign(marketing: dict) -> None:
    w = marketing["world"]
    s = smarketing(user=w.director, period=_q2(w), as_of=AS_OF)
    co = {f.key: f for f in s.by_company}
    se, dk, de = co[w.se.pk], co[w.dk.pk], co[w.de.pk]
    assert (se.created, se.qualified, se.converted, se.conversion_rate) == (4, 3, 2, D("50.0"))
    assert (se.hand_over_median_days, se.hand_over_avg_days) == (D("3.0"), D("3.0"))
    assert (se.conversion_median_days, se.conversion_avg_days) == (D("8.0"), D("8.0"))
    assert (se.sourced_pipeline, se.sourced_won) == (D("8000.00"), D("4000.00"))
    assert se.new_customer_target == D("3")
    assert (dk.created, dk.qualified, dk.converted, dk.conversion_rate) == (1, 1, 1, D("100.0"))
    assert dk.qualified_in_period == 2
    assert (dk.hand_over_median_days, dk.conversion_median_days) == (D("4.0"), D("10.0"))
    assert (dk.sourced_pipeline, dk.sourced_won) == (D("5400.00"), D("0.00"))
    assert (de.created, de.qualified, de.converted, de.conversion_rate) == (1, 0, 0, D("0.0"))
    assert de.hand_over_median_days is None
    camp = {f.key: f for f in s.by_campaign}
    c1, c2 = camp[marketing["c1"].pk], camp[marketing["c2"].pk]
    assert (c1.name, c1.created, c1.qualified, c1.converted, c1.conversion_rate) == (
        "Elmia", 3, 3, 2, D("66.7"),
    )  # fmt: skip
    assert (c1.sourced_pipeline, c1.sourced_won, c1.sourced_open_count) == (
        D("8000.00"), D("4000.00"), 1,
    )  # fmt: skip
    assert (c2.created, c2.qualified, c2.converted, c2.conversion_rate) == (2, 1, 1, D("50.0"))
    assert (c2.qualified_in_period, c2.hand_over_avg_days, c2.conversion_avg_days) == (
        2, D("4.0"), D("10.0"),
    )  # fmt: skip
    assert c2.sourced_pipeline == D("5400.00")


def test_events_attended_against_targets(marketing: dict) -> None:
    w = marketing["world"]
    s = smarketing(user=w.director, period=_q2(w), as_of=AS_OF)
    rows = {(r.party, r.key): (r.attended, r.target, r.attainment) for r in s.events}
    assert rows == {
        ("company", w.se.pk): (2, D("3.00"), D("66.7")),
        ("company", w.dk.pk): (1, D("2.00"), D("50.0")),
        ("user", w.rep_se.pk): (2, D("3.00"), D("66.7")),
        ("user", w.rep_dk.pk): (1, None, None),
    }
    assert (s.events_attended, s.events_target, s.events_attainment) == (3, D("5.00"), D("60.0"))
    assert {r.party for r in s.events_shown("organization")} == {"company"}


def test_a_managers_figures_are_his_scope_only(marketing: dict) -> None:
    w = marketing["world"]
    mine = smarketing(
        user=w.manager_se, scope=Scope(sales_company_id=w.se.pk), period=_q2(w), as_of=AS_OF
    )
    assert (mine.total.created, mine.total.converted) == (4, 2)
    assert mine.total.sourced_pipeline == D("8000.00")
    assert mine.events_attended == 2
    # Asking for the whole organization, he still sees only what his role shows him.
    org = smarketing(user=w.manager_se, period=_q2(w), as_of=AS_OF)
    assert org.total.created == 4
    assert [f.key for f in org.by_company] == [w.se.pk]
    assert {f.key for f in org.by_campaign} == {marketing["c1"].pk}
    stranger = smarketing(user=w.stranger, period=_q2(w), as_of=AS_OF)
    assert (stranger.total.created, stranger.by_company, stranger.events) == (0, [], [])


def test_campaign_figures(marketing: dict) -> None:
    w = marketing["world"]
    c2 = campaign_figures(user=w.director, campaign_id=marketing["c2"].pk, as_of=AS_OF)
    # Whole life: L5, L6 and L7; L6's lost deal adds nothing.
    assert (c2.total.created, c2.total.qualified, c2.total.converted) == (3, 2, 2)
    assert c2.total.conversion_rate == D("66.7")
    assert (c2.total.hand_over_median_days, c2.total.conversion_median_days) == (
        D("4.0"),
        D("10.0"),
    )
    assert (c2.total.sourced_pipeline, c2.total.sourced_won) == (D("5400.00"), D("0.00"))
    assert {f.key: f.created for f in c2.by_company} == {w.de.pk: 1, w.dk.pk: 2}
    se_view = campaign_figures(user=w.manager_se, campaign_id=marketing["c2"].pk, as_of=AS_OF)
    assert (se_view.total.created, se_view.by_company) == (0, [])


def test_qualify_assign_and_convert_record_the_times(world) -> None:
    process_for(world.se)
    campaign = CampaignFactory(organization=world.org, owner=world.marketing)
    lead = LeadFactory(organization=world.org, sales_company=world.se, campaign=campaign)
    before = timezone.now()
    lead = lead_qualify(lead=lead, acting_user=world.marketing)
    assert lead.qualified_at is not None and lead.qualified_at >= before
    # Marketing passing the lead to a colleague is no hand-over; a seller is.
    lead = lead_assign(lead=lead, owner=world.marketing_se, acting_user=world.marketing)
    assert lead.handed_over_at is None
    lead = lead_assign(lead=lead, owner=world.rep_se, acting_user=world.marketing)
    handed = lead.handed_over_at
    assert handed is not None
    lead = lead_assign(lead=lead, owner=world.manager_se, acting_user=world.marketing)
    assert lead.handed_over_at == handed  # the first hand-over counts
    conversion = lead_convert(lead=lead, acting_user=world.manager_se, create_account=True)
    assert conversion.lead.converted_at is not None
    assert conversion.lead.handed_over_at == handed
    # Converted without an assignment: the conversion is the hand-over.
    other = LeadFactory(organization=world.org, sales_company=world.se, country="SE")
    converted = lead_convert(
        lead=other, acting_user=world.manager_se, create_account=True, owner=world.rep_se
    ).lead
    assert converted.handed_over_at == converted.converted_at


def test_smarketing_is_stored_with_the_dashboard(marketing: dict) -> None:
    w = marketing["world"]
    where = selectors.dashboard_scope(user=w.director)
    d = selectors.dashboard(user=w.director, scope=where, as_of=AS_OF)
    back = figures.loads(figures.dumps(d))
    assert isinstance(back, selectors.Dashboard)
    assert back.joint_goals.smarketing.total.sourced_pipeline == D("13400.00")
    assert back.joint_goals.smarketing.total.hand_over_median_days == D("3.0")


def test_period_boundaries(marketing: dict) -> None:
    """Q3 has nothing but the still-open sourced deals (open pipeline is as of the report date)."""
    w = marketing["world"]
    q3 = fiscal_quarter(w.org, dt.date(2026, 7, 1))
    s = smarketing(user=w.director, period=q3, as_of=AS_OF)
    assert (s.total.created, s.total.qualified_in_period, s.total.handed_over) == (0, 0, 0)
    assert (s.total.sourced_pipeline, s.total.sourced_won) == (D("13400.00"), D("0.00"))
    assert s.events_attended == 0


def test_the_export_has_the_smarketing_and_overlay_sheets(marketing: dict, settings, tmp_path):
    from openpyxl import load_workbook

    from reporting import services

    settings.MEDIA_ROOT = tmp_path
    w = marketing["world"]
    export = services.export_request(acting_user=w.director, file_format="xlsx")
    export = services.export_generate(export=export, as_of=AS_OF)
    book = load_workbook(tmp_path / export.file_path, read_only=True)
    rows = [tuple(r) for r in book["Sales and marketing"].iter_rows(values_only=True)]
    assert rows[0][:7] == (
        "Period", "For", "Name", "Leads created", "Qualified", "Converted", "Conversion %",
    )  # fmt: skip
    by_name = {r[2]: r for r in rows[1:]}
    total = by_name["Total"]
    # Percent cells hold fractions in XLSX (50.0 % is 0.5).
    assert total[3:9] == (6, 4, 3, 0.5, 5, 4)
    assert total[9:13] == (3.0, 3.5, 9.5, 9.0)
    assert (total[14], total[16], total[17], total[18]) == (13400.0, 4000.0, 3, 5.0)
    assert by_name["Elmia"][3:6] == (3, 3, 2)
    assert by_name[w.se.name][17:19] == (2, 3.0)
    overlay = [tuple(r) for r in book["Overlay credit"].iter_rows(values_only=True)]
    assert overlay[0][6:9] == ("Overlay target", "Overlay credit", "Overlay attainment %")
    # The dataset's 10 % overlay on o2 (6,750 EUR) for rep_se, in Q2 and in the year, beside
    # his revenue credit: 60 % of o1 (4,800) + oB unsplit (4,000).
    se_rep = [r for r in overlay[1:] if r[2] == w.rep_se.full_name]
    assert [(r[0], r[4], r[7]) for r in se_rep] == [
        ("Q2 FY2026", 8800, 675),
        ("FY2026", 8800, 675),
    ]
