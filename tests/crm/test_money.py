from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from crm.money import MissingExchangeRateError, rate_on, to_corporate
from tests.conftest import World
from tests.factories import ExchangeRateFactory

pytestmark = pytest.mark.django_db


def test_conversion_uses_the_rate_valid_on_the_date(world: World) -> None:
    ExchangeRateFactory(
        organization=world.org, currency="SEK", rate="0.08", valid_from=dt.date(2026, 1, 1)
    )
    ExchangeRateFactory(
        organization=world.org, currency="SEK", rate="0.09", valid_from=dt.date(2026, 6, 1)
    )
    # A rate of another organization must never be used.
    ExchangeRateFactory(
        organization=world.other_org, currency="SEK", rate="5", valid_from=dt.date(2026, 5, 1)
    )

    def eur(day: dt.date) -> Decimal:
        return to_corporate(
            organization=world.org, amount=Decimal("1000.00"), currency="SEK", on_date=day
        )

    assert eur(dt.date(2026, 5, 31)) == Decimal("80.00")
    assert eur(dt.date(2026, 6, 1)) == Decimal("90.00")
    assert eur(dt.date(2027, 1, 1)) == Decimal("90.00")


def test_corporate_currency_converts_at_one(world: World) -> None:
    assert rate_on(organization=world.org, currency="EUR", on_date=dt.date(2020, 1, 1)) == 1


def test_missing_rate_is_an_error_naming_currency_and_date(world: World) -> None:
    ExchangeRateFactory(
        organization=world.org, currency="SEK", rate="0.08", valid_from=dt.date(2026, 1, 1)
    )
    with pytest.raises(MissingExchangeRateError, match=r"SEK->EUR valid on 2025-12-31") as err:
        to_corporate(
            organization=world.org, amount=Decimal(1), currency="SEK", on_date=dt.date(2025, 12, 31)
        )
    assert err.value.currency == "SEK"
    with pytest.raises(MissingExchangeRateError, match="GBP"):
        rate_on(organization=world.org, currency="GBP", on_date=dt.date(2026, 6, 1))
