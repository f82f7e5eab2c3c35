"""The 360°'s figures per country as one compiled statement per shape of user
(``customer.figures_query``, issue 21): the same rows as the ORM path (the same builder run with
the real values), for every role, several currencies, dated rates, a missing rate, several
countries and time zones, and two organizations (another corporate currency) taking turns."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from crm.models import Organization, User
from crm.money import MissingExchangeRateError
from crm.scope import OrganizationScopeError, org_scope
from crm.services import exchange_rate_set
from crm.visibility import user_shape, user_values
from opportunities import customer
from tests.accounts.factories import make_account, make_opportunity
from tests.conftest import World
from tests.opportunities.test_customer import build_group, rates

pytestmark = pytest.mark.django_db

ROLES = ("admin", "director", "regional", "manager_se", "manager_de", "rep_se", "rep_dk")
ROLES += ("rep_de", "marketing", "marketing_se")
DAYS = (dt.date(2026, 6, 15), dt.date(2026, 3, 31), dt.date(2026, 12, 31), dt.date(2027, 1, 2))


def _orm(user: User, org: Organization, group: int, today: dt.date) -> list[tuple[Any, ...]]:
    shape = user_shape(user)
    assert shape is not None
    values = customer.figure_values(user, org, group, today)
    return list(customer.figures_query(shape)(**values))


@pytest.fixture
def two_groups(world: World) -> tuple[int, int]:
    """Nordvik's group (SEK, DKK, EUR, USD deals over four countries, a won deal closed
    late in the day) and a Tellus group (corporate currency USD: its USD deals convert at 1,
    its EUR deal at Tellus's own rate)."""
    rates(world)
    top = build_group(world, 8)
    late = make_account(organization=world.org, home_company=world.dk, parent=top, country="NO")
    won = make_opportunity(
        account=late, company=world.dk, owner=world.rep_dk, amount="70.5", currency="DKK",
        state="won", closed_on=dt.date(2026, 1, 1),
    )  # fmt: skip
    # 23:30 UTC on New Year's Eve: 2026 in Stockholm and Kolkata, 2025 in UTC and New York.
    type(won).objects.for_org(world.org).filter(pk=won.pk).update(
        closed_at=dt.datetime(2025, 12, 31, 23, 30, tzinfo=dt.UTC)
    )
    theirs = make_account(organization=world.other_org, home_company=world.other_company)
    for amount, currency in (("100", "USD"), ("200", "EUR"), (None, "EUR")):
        make_opportunity(
            account=theirs, company=world.other_company, owner=world.stranger,
            amount=amount, currency=currency,
        )  # fmt: skip
    exchange_rate_set(
        organization=world.other_org, currency="EUR", rate=Decimal("1.10"),
        valid_from=dt.date(2026, 1, 1), acting_user=None,
    )  # fmt: skip
    return top.pk, theirs.pk


@pytest.mark.parametrize("zone", ["UTC", "Europe/Stockholm", "America/New_York", "Asia/Kolkata"])
def test_the_compiled_figures_are_the_orm_paths(
    world: World, two_groups: tuple[int, int], zone: str
) -> None:
    ours, theirs = two_groups
    seen = 0
    with timezone.override(zone):
        for today in DAYS:
            for role in ROLES:
                user = getattr(world, role)
                got = customer._figure_rows(user, world.org, ours, today)
                assert got == _orm(user, world.org, ours, today), (role, today)
                seen += len(got)
                shape = user_shape(user)
                assert shape is not None
                orm = customer.accounts_per_country_query(shape)(**user_values(user), group_id=ours)
                assert customer._accounts_per_country(user, ours) == list(orm), role
            got = customer._figure_rows(world.stranger, world.other_org, theirs, today)
            assert got == _orm(world.stranger, world.other_org, theirs, today)
            # The other organization's group is nothing of Nordvik's director, and back.
            assert customer._figure_rows(world.director, world.org, theirs, today) == []
            assert customer._figure_rows(world.stranger, world.other_org, ours, today) == []
            assert customer._accounts_per_country(world.stranger, ours) == []
            assert customer._accounts_per_country(world.stranger, theirs) == [
                (world.other_company.country, 1)
            ]
    assert seen  # figures were compared, not only empty lists


def test_known_figures_and_a_missing_rate(world: World, two_groups: tuple[int, int]) -> None:
    ours, theirs = two_groups
    with timezone.override("UTC"):
        figures, won = customer._figures_by_country(world.director, world.org, ours, DAYS[0])
        assert set(figures) == {"SE", "DK", "DE", "US"}  # NO's won deal closed in 2025 (UTC)
        assert (figures["SE"].open_amount, figures["SE"].won_amount) == (Decimal(200), Decimal(400))
        assert won == Decimal("8520.00")
        # Tellus: USD at 1, EUR at its own 1.10; the deal without an amount counts, adds nothing.
        (row,) = customer._figure_rows(world.stranger, world.other_org, theirs, DAYS[0])
        assert row[1:6] == (3, Decimal("320.00"), 0, None, None)
        # Before any rate (2025): the figures say which rate is missing, as before.
        with pytest.raises(MissingExchangeRateError) as err:
            customer._figures_by_country(world.director, world.org, ours, dt.date(2025, 12, 1))
        assert err.value.on_date == dt.date(2025, 12, 1)


def test_one_statement_per_shape_and_the_scope_checked(
    world: World, two_groups: tuple[int, int]
) -> None:
    ours, _theirs = two_groups
    customer._figure_rows(world.rep_se, world.org, ours, DAYS[0])
    customer._figure_rows(world.rep_dk, world.org, ours, DAYS[0])
    customer._figure_rows(world.stranger, world.other_org, ours, DAYS[0])
    shape = user_shape(world.rep_se)
    assert shape == user_shape(world.rep_dk) == user_shape(world.stranger)
    statement = customer._FIGURES[shape].compiled()
    assert statement.slots["user_id"] and statement.slots["corporate_currency"]
    with org_scope(world.org), pytest.raises(OrganizationScopeError):
        customer._figure_rows(world.stranger, world.other_org, ours, DAYS[0])
