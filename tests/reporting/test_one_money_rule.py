"""One money rule: each deal converts exactly, the exact sum is rounded half-even to the cent.

Known answer: two won SEK deals of 10.25 at 0.10 are 1.025 EUR each. Rounded per deal (SQL's
half-away-from-zero ROUND, as the 360° once did) they would make 1.03 + 1.03 = 2.06; rounded per
country and then summed 1.02 + 1.02 = 2.04; the one rule gives half-even(2.050) = 2.05 on the
group total and half-even(1.025) = 1.02 on each country's figure.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts import services
from accounts.models import Account
from crm.models import SalesCompany
from crm.services import exchange_rate_set
from opportunities import customer
from reporting import kpis
from reporting.periods import Period
from tests.accounts.factories import make_account, make_opportunity
from tests.conftest import World
from tests.factories import as_user

pytestmark = pytest.mark.django_db

D = Decimal
TODAY = dt.date(2026, 6, 15)
YEAR = Period(kind="year", start=dt.date(2026, 1, 1), end=dt.date(2027, 1, 1), label="2026")


def _won_sek(
    world: World,
    amounts_by_company: list[tuple[SalesCompany, str]],
    closed_on: dt.date = dt.date(2026, 5, 5),
) -> Account:
    exchange_rate_set(
        organization=world.org,
        currency="SEK",
        rate=D("0.10"),
        valid_from=dt.date(closed_on.year, 1, 1),
        acting_user=None,
    )
    top = make_account(organization=world.org, home_company=world.se, name="Tie Group AB")
    services.account_plan_create(
        group=top,
        year=closed_on.year,
        revenue_target=D("100"),
        owner=world.rep_se,
        acting_user=None,
    )
    for i, (company, amount) in enumerate(amounts_by_company):
        sub = make_account(
            organization=world.org,
            home_company=company,
            parent=top,
            name=f"Tie Sub {i}",
            country=company.country,
        )
        make_opportunity(
            account=sub,
            company=company,
            owner=world.rep_se if company == world.se else world.rep_dk,
            amount=amount,
            currency="SEK",
            state="won",
            closed_on=closed_on,
        )
    return top


def test_the_360_and_the_dashboard_round_the_same_exact_total_half_even(world: World) -> None:
    top = _won_sek(world, [(world.se, "10.25"), (world.dk, "10.25")])
    view = customer.account_360(user=world.director, group=top, today=TODAY)
    dashboard = kpis.win_stats(user=world.director, period=YEAR)

    assert view.figures_by_country["SE"].won_amount == D("1.02")  # half-even of 1.025
    assert view.figures_by_country["DK"].won_amount == D("1.02")
    assert view.plan is not None
    assert view.plan.won_ytd == D("2.05")  # half-even of the exact 2.050, not 2.04 nor 2.06
    assert dashboard.won_amount == view.plan.won_ytd


def test_a_tie_on_the_exact_total_goes_to_the_even_cent_on_every_surface(world: World) -> None:
    # 1.025 + 1.000 = 2.025 exactly: half-even 2.02 (per-deal SQL ROUND said 1.03 + 1.00).
    top = _won_sek(world, [(world.se, "10.25"), (world.se, "10.00")])
    view = customer.account_360(user=world.director, group=top, today=TODAY)
    dashboard = kpis.win_stats(user=world.director, period=YEAR)
    assert view.plan is not None
    plan_page = customer.plan_progress(user=world.director, plan=view.plan.plan, today=TODAY)

    assert view.figures_by_country["SE"].won_amount == D("2.02")
    assert view.plan.won_ytd == D("2.02")
    assert plan_page.won_ytd == D("2.02")
    assert dashboard.won_amount == D("2.02")


def test_the_360_api_and_the_dashboard_give_the_same_cents(world: World) -> None:
    # The API's 360° is of today's year: the deals close today.
    today = timezone.localdate()
    top = _won_sek(world, [(world.se, "10.25"), (world.dk, "10.25")], closed_on=today)
    body = as_user(world.director).get(f"/api/v1/accounts/{top.pk}/360/").json()
    year = Period(
        kind="year",
        start=dt.date(today.year, 1, 1),
        end=dt.date(today.year + 1, 1, 1),
        label=str(today.year),
    )
    dashboard = kpis.win_stats(user=world.director, period=year)

    assert D(body["figures_by_country"]["SE"]["won_amount"]) == D("1.02")
    assert D(body["plan"]["won_ytd"]) == D("2.05") == dashboard.won_amount
