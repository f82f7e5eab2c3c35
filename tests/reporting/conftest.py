"""A small hand-built reporting dataset whose every KPI is computed by hand in the tests.

Organization: corporate currency EUR, fiscal year = calendar year. Report date 2026-05-15, so
"this quarter" is Q2 2026 (Apr 1 - Jun 30) and "next quarter" Q3 2026.

Rates (EUR per unit):  SEK 0.09 from 2026-01-01, 0.08 from 2026-04-01
                       DKK 0.13 from 2026-01-01, 0.135 from 2026-05-01

deal company owner  stage      amount       dates                                  EUR
o1   SE rep_se       Won        100,000 SEK  created 02-01, closed 04-11 (0.08)     8,000.00
     revenue splits 60% rep_se (SE), 40% rep_dk (DK)
o2   DK rep_dk       Won        50,000 DKK   created 03-01, closed 05-10 (0.135)    6,750.00
     no revenue split (a 10% overlay to rep_se, which must not count)
o3   DE rep_de       Won        10,000 EUR   created 01-15, closed 03-20 (Q1)      10,000.00
o4   SE rep_se       Lost       30,000 SEK   closed 04-20                                  -
o5   SE rep_se       Negotiate  200,000 SEK  close 06-15, next step, activity 05-01 16,000.00
o6   DK rep_dk       Propose    40,000 DKK   close 08-01 (Q3), no next step        5,400.00
o7   DE rep_de       Qualify    no amount    no close date, no next step                   -
o8   DE rep_de       Negotiate  20,000 EUR   close 05-01 (past), activity done 05-10 20,000.00

Open deals convert at the report date's rate (SEK 0.08, DKK 0.135); closed deals at their
close date's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Account, Activity, ActivityKind
from crm.models import ExchangeRate, User
from opportunities.models import (
    ConflictKind,
    ConflictStatus,
    Opportunity,
    OpportunitySplit,
    SplitKind,
    StageChange,
)
from reporting.models import PeriodKind, Target, TargetKind
from tests.conftest import World
from tests.opportunities.factories import (
    OpportunityFactory,
    account_for,
    make_situation,
    stage_for,
)

AS_OF = dt.date(2026, 5, 15)
Q2 = dt.date(2026, 4, 1)
Q3 = dt.date(2026, 7, 1)


def at(day: str, hour: int = 12) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour)))


@dataclass
class Dataset:
    world: World
    accounts: dict[str, Account]
    opps: dict[str, Opportunity]


def _opp(
    world: World,
    account: Account,
    owner: User,
    stage: str,
    amount: str | None,
    currency: str,
    *,
    created: str,
    closed: str | None = None,
    close_date: str | None = None,
    next_step: str = "",
) -> Opportunity:
    opp = OpportunityFactory(
        account=account,
        owner=owner,
        stage=stage,
        amount=None if amount is None else Decimal(amount),
        currency=currency,
        expected_close_date=dt.date.fromisoformat(close_date) if close_date else None,
        next_step=next_step,
        default_split=False,
    )
    Opportunity.objects.for_org(world.org).filter(pk=opp.pk).update(
        created_at=at(created), closed_at=at(closed) if closed else None
    )
    opp.refresh_from_db()
    return opp


def _change(opp: Opportunity, stage: str, day: str) -> None:
    local = stage_for(opp.sales_company, stage)
    StageChange.objects.create(
        organization=opp.organization,
        opportunity=opp,
        to_local_stage=local,
        to_global_stage=local.global_stage,
        changed_at=at(day),
    )


def _target(world: World, kind: str, start: dt.date, value: str, **who: object) -> None:
    Target.objects.create(
        organization=world.org,
        period_kind=PeriodKind.QUARTER,
        period_start=start,
        kind=kind,
        value=Decimal(value),
        **who,
    )


@pytest.fixture
def dataset(world: World) -> Dataset:
    w = world
    for currency, rate, day in [
        ("SEK", "0.09", "2026-01-01"),
        ("SEK", "0.08", "2026-04-01"),
        ("DKK", "0.13", "2026-01-01"),
        ("DKK", "0.135", "2026-05-01"),
    ]:
        ExchangeRate.objects.create(
            organization=w.org,
            currency=currency,
            rate=Decimal(rate),
            valid_from=dt.date.fromisoformat(day),
        )
    acc = {
        "se": account_for(w.se, "Svea Pumps AB", registration_number="556123-4567"),
        "dk": account_for(w.dk, "Dansk Ventil A/S"),  # no registration number
        "de": account_for(w.de, "Rhein Armaturen GmbH", registration_number="HRB 1234", country=""),
    }
    for key, day in [("se", "2026-04-11"), ("dk", "2026-05-10"), ("de", "2026-03-20")]:
        Account.objects.for_org(w.org).filter(pk=acc[key].pk).update(first_won_at=at(day))

    o = {
        "o1": _opp(w, acc["se"], w.rep_se, "Won", "100000", "SEK", created="2026-02-01",
                   closed="2026-04-11"),
        "o2": _opp(w, acc["dk"], w.rep_dk, "Won", "50000", "DKK", created="2026-03-01",
                   closed="2026-05-10"),
        "o3": _opp(w, acc["de"], w.rep_de, "Won", "10000", "EUR", created="2026-01-15",
                   closed="2026-03-20"),
        "o4": _opp(w, acc["se"], w.rep_se, "Lost", "30000", "SEK", created="2026-02-10",
                   closed="2026-04-20"),
        "o5": _opp(w, acc["se"], w.rep_se, "Negotiate", "200000", "SEK", created="2026-03-10",
                   close_date="2026-06-15", next_step="Send contract"),
        "o6": _opp(w, acc["dk"], w.rep_dk, "Propose", "40000", "DKK", created="2026-03-15",
                   close_date="2026-08-01"),
        "o7": _opp(w, acc["de"], w.rep_de, "Qualify", None, "EUR", created="2026-04-01"),
        "o8": _opp(w, acc["de"], w.rep_de, "Negotiate", "20000", "EUR", created="2026-02-20",
                   close_date="2026-05-01", next_step="Call the buyer"),
    }  # fmt: skip
    split = OpportunitySplit.objects.create
    split(organization=w.org, opportunity=o["o1"], user=w.rep_se, sales_company=w.se,
          kind=SplitKind.REVENUE, percent=Decimal(60))  # fmt: skip
    split(organization=w.org, opportunity=o["o1"], user=w.rep_dk, sales_company=w.dk,
          kind=SplitKind.REVENUE, percent=Decimal(40))  # fmt: skip
    split(organization=w.org, opportunity=o["o2"], user=w.rep_se, sales_company=w.se,
          kind=SplitKind.OVERLAY, percent=Decimal(10))  # fmt: skip

    Activity.objects.create(
        organization=w.org, kind=ActivityKind.CALL, subject="Contract call", owner=w.rep_se,
        sales_company=w.se, account=acc["se"], opportunity=o["o5"], created_at=at("2026-05-01"),
        happened_at=at("2026-05-01"),
    )  # fmt: skip
    # Entered long ago, happened recently: when it happened counts, not when it was entered.
    Activity.objects.create(
        organization=w.org, kind=ActivityKind.MEETING, subject="Visit", owner=w.rep_de,
        sales_company=w.de, account=acc["de"], opportunity=o["o8"], created_at=at("2026-03-01"),
        done_at=at("2026-05-10"), happened_at=at("2026-05-10"),
    )  # fmt: skip
    # An old activity on o6 does not make it fresh.
    Activity.objects.create(
        organization=w.org, kind=ActivityKind.EMAIL, subject="Intro", owner=w.rep_dk,
        sales_company=w.dk, account=acc["dk"], opportunity=o["o6"], created_at=at("2026-03-20"),
        happened_at=at("2026-03-20"),
    )  # fmt: skip

    for key, stage, day in [
        ("o5", "Qualify", "2026-04-02"),
        ("o5", "Develop", "2026-04-10"),
        ("o5", "Negotiate", "2026-04-20"),
        ("o6", "Qualify", "2026-04-03"),
        ("o6", "Develop", "2026-04-12"),
        ("o6", "Propose", "2026-04-25"),
        ("o8", "Qualify", "2026-04-05"),
        ("o8", "Negotiate", "2026-04-25"),
        ("o4", "Qualify", "2026-04-06"),
        ("o4", "Lost", "2026-04-20"),
        ("o1", "Qualify", "2026-02-01"),  # before the period: not counted
        ("o1", "Negotiate", "2026-04-05"),
        ("o1", "Won", "2026-04-11"),
    ]:
        _change(o[key], stage, day)

    for company, value in [(w.se, "20000"), (w.dk, "10000"), (w.de, "15000")]:
        _target(w, TargetKind.REVENUE, Q2, value, sales_company=company)
    _target(w, TargetKind.REVENUE, Q3, "25000", sales_company=w.se)
    _target(w, TargetKind.REVENUE, Q2, "8000", user=w.rep_se)
    _target(w, TargetKind.REVENUE, Q2, "5000", user=w.rep_dk)
    _target(w, TargetKind.NEW_CUSTOMERS, Q2, "3", sales_company=w.se)
    _target(w, TargetKind.NEW_CUSTOMERS, Q2, "1", sales_company=w.dk)

    # A Swedish-Danish situation, a German possible duplicate, a resolved product situation.
    make_situation(organization=w.org, kind=ConflictKind.GROUP_OTHER_COMPANY, account=acc["se"],
                   deals=[o["o5"], o["o6"]])  # fmt: skip
    make_situation(organization=w.org, kind=ConflictKind.DUPLICATE_ACCOUNT, account=acc["de"],
                   accounts=[acc["de"]])  # fmt: skip
    make_situation(organization=w.org, kind=ConflictKind.SAME_PRODUCT, account=acc["se"],
                   sales_company=w.se, status=ConflictStatus.RESOLVED)  # fmt: skip
    return Dataset(world=w, accounts=acc, opps=o)
