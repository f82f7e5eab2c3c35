"""The home page per role (meridian.home): each block shows the user's own rows and only what
they may see, has an empty state, and the page runs a constant number of queries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountPlan, Activity, PlanAction
from meridian.home import home_for
from opportunities.conflicts import detect_for_opportunity
from opportunities.models import Opportunity
from tests.conftest import World
from tests.factories import ExchangeRateFactory
from tests.opportunities.factories import LeadFactory, OpportunityFactory, account_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _rates(world: World) -> None:
    for currency, rate in (("SEK", "0.087"), ("DKK", "0.134")):
        ExchangeRateFactory(
            organization=world.org, currency=currency, rate=rate, valid_from=dt.date(2000, 1, 1)
        )


def _activity(world: World, account: object, subject: str, due: dt.datetime, **kw: object) -> None:
    Activity.objects.create(
        organization=world.org,
        account=account,
        owner=kw.pop("owner", world.rep_se),
        sales_company=world.se,
        kind="task",
        subject=subject,
        due_at=due,
        **kw,
    )


def test_a_reps_home_lists_his_deals_closing_soonest_first(world: World) -> None:
    today = timezone.localdate()
    account = account_for(world.se, "Home Customer AB")
    later = OpportunityFactory(
        account=account,
        owner=world.rep_se,
        name="Later",
        expected_close_date=today + dt.timedelta(days=60),
    )
    sooner = OpportunityFactory(
        account=account,
        owner=world.rep_se,
        name="Sooner",
        expected_close_date=today + dt.timedelta(days=5),
    )
    OpportunityFactory(account=account, owner=world.rep_se, name="Won", stage="Won")
    OpportunityFactory(account=account_for(world.dk), owner=world.rep_dk, name="Danish")
    home = home_for(user=world.rep_se)
    assert [o.pk for o in home.deals] == [sooner.pk, later.pk]
    assert home.may_book and not home.shows_figures


def test_tasks_due_are_mine_due_this_week_or_overdue(world: World) -> None:
    now = timezone.now()
    account = account_for(world.se, "Tasks AB")
    _activity(world, account, "Overdue call", now - dt.timedelta(days=2))
    _activity(world, account, "Call tomorrow", now + dt.timedelta(days=1))
    _activity(world, account, "Call next month", now + dt.timedelta(days=30))
    _activity(world, account, "Done call", now, done_at=now)
    _activity(world, account, "Colleague's call", now, owner=world.manager_se)
    plan = AccountPlan.objects.create(
        organization=world.org, account=account, year=2026, revenue_target=1, owner=world.manager_se
    )
    for title, days in (("Plan step due", 3), ("Plan step later", 40)):
        PlanAction.objects.create(
            organization=world.org,
            plan=plan,
            title=title,
            owner=world.rep_se,
            due_date=timezone.localdate() + dt.timedelta(days=days),
        )
    home = home_for(user=world.rep_se)
    assert [a.subject for a in home.activities] == ["Overdue call", "Call tomorrow"]
    assert [a.title for a in home.actions] == ["Plan step due"]


def test_leads_assigned_to_me_that_are_still_open(world: World) -> None:
    mine = LeadFactory(
        organization=world.org,
        sales_company=world.se,
        owner=world.rep_se,
        company_name="My Lead AB",
    )
    LeadFactory(
        organization=world.org,
        sales_company=world.se,
        owner=world.rep_se,
        company_name="Closed Lead AB",
        status="disqualified",
    )
    LeadFactory(organization=world.org, sales_company=world.se, company_name="Unassigned AB")
    assert [lead.pk for lead in home_for(user=world.rep_se).leads] == [mine.pk]
    assert home_for(user=world.rep_dk).leads == []


def test_the_page_renders_each_block_and_its_empty_state(client: Client, world: World) -> None:
    client.force_login(world.rep_dk)
    html = client.get(reverse("home")).content.decode()
    for block in ("home-deals", "home-tasks", "home-conflicts", "home-leads", "new-opportunity"):
        assert f'data-testid="{block}"' in html, block
    assert 'data-testid="home-figures"' not in html
    assert html.count('class="empty"') >= 4
    account = account_for(world.dk, "Linked ApS")
    opp = OpportunityFactory(account=account, owner=world.rep_dk, name="Linked deal")
    lead = LeadFactory(organization=world.org, sales_company=world.dk, owner=world.rep_dk)
    html = client.get(reverse("home")).content.decode()
    assert reverse("opportunities:detail", args=[opp.pk]) in html
    assert f"/leads/{lead.pk}/" in html


def test_dates_and_money_in_the_users_locale(client: Client, world: World) -> None:
    world.rep_de.language = "de"
    world.rep_de.save()
    account = account_for(world.de, "Datum GmbH")
    OpportunityFactory(
        account=account,
        owner=world.rep_de,
        amount=Decimal("1234567.50"),
        expected_close_date=dt.date(2099, 3, 15),
    )
    client.force_login(world.rep_de)
    html = client.get(reverse("home")).content.decode()
    assert "15.03.2099" in html
    assert "1.234.567,50 EUR" in html


def test_managers_and_the_director_see_their_scopes_figures(client: Client, world: World) -> None:
    account = account_for(world.se, "Figures AB")
    OpportunityFactory(account=account, owner=world.rep_se, amount=Decimal("100000"))
    OpportunityFactory(account=account_for(world.dk), owner=world.rep_dk, amount=Decimal("5"))
    manager = home_for(user=world.manager_se)
    assert manager.shows_figures and manager.figures is not None
    names = {b.name for b in manager.figures.breakdown}
    assert world.rep_se.full_name in names and world.rep_dk.full_name not in names
    director = home_for(user=world.director)
    assert director.figures is not None and director.figures.where.level == "organization"
    assert director.figures.totals.count == 2
    rep = home_for(user=world.rep_se)
    assert not rep.shows_figures and rep.figures is None
    client.force_login(world.manager_se)
    html = client.get(reverse("home")).content.decode()
    assert 'data-testid="home-figures"' in html and 'data-testid="home-breakdown-row"' in html


def test_a_missing_rate_is_told_not_a_500(client: Client, world: World) -> None:
    account = account_for(world.se, "No Rate AB")
    OpportunityFactory(account=account, owner=world.rep_se, currency="NOK", amount=Decimal("9"))
    client.force_login(world.manager_se)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert "NOK" in response.content.decode()


def test_conflicts_a_seller_is_in_and_those_a_manager_resolves(world: World) -> None:
    top = account_for(world.se, "Konflikt AB")
    child = account_for(world.dk, "Konflikt ApS", parent=top)
    OpportunityFactory(account=top, owner=world.rep_se)
    OpportunityFactory(account=child, owner=world.rep_dk)
    for opp in Opportunity.objects.for_org(world.org):
        detect_for_opportunity(opportunity=opp, acting_user=None)
    assert len(home_for(user=world.rep_se).conflicts) == 1
    assert home_for(user=world.rep_de).conflicts == []
    assert len(home_for(user=world.manager_se).conflicts) == 1
    assert home_for(user=world.stranger).conflicts == []


@pytest.mark.parametrize("who", ["rep_se", "manager_se", "director", "marketing"])
def test_home_runs_constant_queries(
    client: Client, world: World, django_assert_max_num_queries: Callable, who: str
) -> None:
    now = timezone.now()

    def grow(n: int) -> None:
        for _ in range(n):
            account = account_for(world.se)
            OpportunityFactory(account=account, owner=world.rep_se)
            _activity(world, account, "Due", now)
            LeadFactory(organization=world.org, sales_company=world.se, owner=getattr(world, who))

    client.force_login(getattr(world, who))
    grow(2)
    client.get(reverse("home"))  # stores the dashboard figures once
    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse("home")).status_code == 200
    # Counted now: every request resets the connection's query log the context slices.
    budget = len(few.captured_queries)
    assert 0 < budget <= 30
    grow(12)
    client.get(reverse("home"))
    # Same budget with 7x the rows: nothing runs per row.
    with django_assert_max_num_queries(budget):
        assert client.get(reverse("home")).status_code == 200
