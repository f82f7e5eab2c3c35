"""Data for the page tests: a Swedish deal its owner may change, a Danish colleague on the
group's global account team who may only read it, and people who may not see it at all."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest

from accounts.models import Account, AccountTeamMember, TeamRole
from opportunities.models import Opportunity, Product
from tests.accounts.factories import make_account
from tests.conftest import World
from tests.factories import ExchangeRateFactory
from tests.opportunities.factories import OpportunityFactory, ProductFactory


@dataclass
class Deals:
    account: Account
    opportunity: Opportunity
    product: Product


@pytest.fixture
def deals(world: World) -> Deals:
    for currency, rate in (("SEK", "0.087"), ("DKK", "0.134")):
        ExchangeRateFactory(
            organization=world.org, currency=currency, rate=rate, valid_from=dt.date(2000, 1, 1)
        )
    account = make_account(organization=world.org, home_company=world.se, name="Volvera AB")
    AccountTeamMember.objects.for_org(world.org).create(
        organization=world.org,
        account=account,
        user=world.rep_dk,
        sales_company=world.dk,
        role=TeamRole.KEY_ACCOUNT_MANAGER,
    )
    opportunity = OpportunityFactory(
        account=account, owner=world.rep_se, name="Volvera pumps", amount=Decimal("125000")
    )
    return Deals(
        account=account,
        opportunity=opportunity,
        product=ProductFactory(organization=world.org, name="Pump NC-100"),
    )


def many_opportunities(world: World, n: int) -> None:
    """``n`` more Swedish opportunities of the Swedish rep, each on its own account."""
    for i in range(n):
        account = make_account(organization=world.org, home_company=world.se, name=f"Bulk {i} AB")
        OpportunityFactory(account=account, owner=world.rep_se, name=f"Bulk deal {i}")
