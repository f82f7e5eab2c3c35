"""Property tests (Hypothesis) of the money conversion and the split rules."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.models import ExchangeRate
from crm.money import MissingExchangeRateError, to_corporate
from opportunities.models import OpportunitySplit
from opportunities.services import opportunity_set_splits
from tests.accounts.factories import make_account
from tests.conftest import World
from tests.opportunities.factories import OpportunityFactory

pytestmark = pytest.mark.django_db
FIRST_RATE = dt.date(2026, 1, 1)
RATE = Decimal("0.08700000")

amounts = st.decimals(min_value=0, max_value=Decimal("1e12"), places=2, allow_nan=False)
days = st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2027, 12, 31))
percents = st.decimals(min_value=-10, max_value=110, places=2, allow_nan=False)
db_settings = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@db_settings
@given(amount=amounts, day=days)
def test_conversion_is_the_dated_rate_or_an_explicit_error(
    world: World, amount: Decimal, day: dt.date
) -> None:
    # Examples share the test's transaction: create the one rate once.
    ExchangeRate.objects.for_org(world.org).get_or_create(
        currency="SEK", valid_from=FIRST_RATE, defaults={"organization": world.org, "rate": RATE}
    )
    if day < FIRST_RATE:
        with pytest.raises(MissingExchangeRateError, match="SEK"):
            to_corporate(organization=world.org, amount=amount, currency="SEK", on_date=day)
        return
    converted = to_corporate(organization=world.org, amount=amount, currency="SEK", on_date=day)
    assert converted == (amount * RATE).quantize(Decimal("0.01"))
    assert converted >= 0 and converted.as_tuple().exponent == -2
    # The corporate currency converts at exactly one.
    same = to_corporate(organization=world.org, amount=amount, currency="EUR", on_date=day)
    assert same == amount


@db_settings
@given(revenue=st.lists(percents, min_size=1, max_size=3), overlay=st.lists(percents, max_size=2))
def test_splits_are_accepted_exactly_when_the_rules_hold(
    world: World, revenue: list[Decimal], overlay: list[Decimal]
) -> None:
    opp = OpportunityFactory(
        account=make_account(organization=world.org, home_company=world.se), owner=world.rep_se
    )
    people = [world.rep_se, world.manager_se, world.rep_dk]
    splits = [(people[i], None, "revenue", p) for i, p in enumerate(revenue)]
    splits += [(people[i], None, "overlay", p) for i, p in enumerate(overlay)]
    each_ok = all(Decimal(0) < p <= 100 for _, _, _, p in splits)
    valid = each_ok and sum(revenue) == 100
    before = list(
        OpportunitySplit.objects.for_org(world.org)
        .filter(opportunity=opp)
        .values_list("user_id", "kind", "percent")
    )
    if valid:
        opportunity_set_splits(opportunity=opp, splits=splits, acting_user=world.rep_se)
        saved = OpportunitySplit.objects.for_org(world.org).filter(opportunity=opp)
        assert sum(s.percent for s in saved if s.kind == "revenue") == 100
        assert saved.count() == len(splits)
    else:
        with pytest.raises(ValidationError):
            opportunity_set_splits(opportunity=opp, splits=splits, acting_user=world.rep_se)
        after = list(
            OpportunitySplit.objects.for_org(world.org)
            .filter(opportunity=opp)
            .values_list("user_id", "kind", "percent")
        )
        assert after == before  # a refused edit changes nothing
