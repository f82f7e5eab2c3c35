"""Prices in the deal's currency: the price book first, the same-currency list price, else the
list price converted at the rate of the deal's date (recorded on the line); a missing rate is
an error naming it. Known answers, computed by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils import timezone

from accounts.models import Account
from crm.money import MissingExchangeRateError
from opportunities import pricing
from opportunities.models import OpportunityLine, Product, ProductPrice
from opportunities.services import (
    opportunity_create,
    opportunity_set_lines,
    product_price_set,
)
from tests.conftest import World
from tests.factories import ExchangeRateFactory
from tests.opportunities.factories import ProductFactory, account_for, process_for

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 3, 1)


@pytest.fixture
def rates(world: World) -> None:
    # EUR is the corporate currency: 1 SEK = 0.0870 EUR, 1 USD = 0.9150 EUR (and a later SEK
    # rate, to show that the deal's date picks the rate).
    ExchangeRateFactory(organization=world.org, currency="SEK", rate="0.087", valid_from=DAY)
    ExchangeRateFactory(
        organization=world.org, currency="SEK", rate="0.1", valid_from=DAY + dt.timedelta(days=30)
    )
    ExchangeRateFactory(organization=world.org, currency="USD", rate="0.915", valid_from=DAY)


@pytest.fixture
def account(world: World) -> Account:
    process_for(world.se)
    return account_for(world.se, "Volvera AB")


def _eur(world: World, price: str = "1200.00") -> Product:
    return ProductFactory(organization=world.org, currency="EUR", list_price=Decimal(price))


def test_the_price_book_wins_then_the_list_price_then_the_conversion(
    world: World, rates: None
) -> None:
    product = _eur(world)
    on = DAY + dt.timedelta(days=1)
    same = pricing.price_in(product=product, currency="EUR", on_date=on, organization=world.org)
    assert (same.amount, same.converted) == (Decimal("1200.00"), False)
    converted = pricing.price_in(
        product=product, currency="SEK", on_date=on, organization=world.org
    )
    # 1 EUR = 1 / 0.087 SEK = 11.49425287 SEK (8 places); 1200 x that = 13793.103444 -> .10
    assert converted.rate == Decimal("11.49425287")
    assert converted.amount == Decimal("13793.10")
    assert (converted.from_currency, converted.from_price, converted.rate_date) == (
        "EUR",
        Decimal("1200.00"),
        on,
    )
    # A month later the SEK rate is 0.1: 12000 SEK.
    later = pricing.price_in(
        product=product, currency="SEK", on_date=DAY + dt.timedelta(days=40), organization=world.org
    )
    assert later.amount == Decimal("12000.00")
    product_price_set(product=product, currency="SEK", price=Decimal("12900"), acting_user=None)
    booked = pricing.price_in(product=product, currency="SEK", on_date=on, organization=world.org)
    assert (booked.amount, booked.converted) == (Decimal("12900.00"), False)


def test_two_foreign_currencies_convert_through_the_corporate_rates(
    world: World, rates: None
) -> None:
    usd = ProductFactory(organization=world.org, currency="USD", list_price=Decimal("540.00"))
    price = pricing.price_in(product=usd, currency="SEK", on_date=DAY, organization=world.org)
    # 0.915 / 0.087 = 10.51724138 SEK per USD; 540 x that = 5679.3103452 -> 5679.31
    assert (price.rate, price.amount) == (Decimal("10.51724138"), Decimal("5679.31"))


def test_a_missing_rate_names_the_currency_never_one(world: World, rates: None) -> None:
    gbp = ProductFactory(organization=world.org, currency="GBP", list_price=Decimal("10"))
    with pytest.raises(MissingExchangeRateError, match="GBP"):
        pricing.price_in(product=gbp, currency="SEK", on_date=DAY, organization=world.org)
    # Before the first SEK rate there is none either.
    with pytest.raises(MissingExchangeRateError, match="SEK"):
        pricing.price_in(
            product=_eur(world),
            currency="SEK",
            on_date=DAY - dt.timedelta(days=1),
            organization=world.org,
        )


def test_a_line_without_a_price_is_converted_and_says_so_and_an_edit_keeps_it(
    world: World, rates: None, account: Account
) -> None:
    product = _eur(world)
    opp = opportunity_create(
        acting_user=world.rep_se,
        account=account,
        name="Pumps",
        currency="SEK",
        lines=[{"product": product, "quantity": Decimal(2)}],
    )
    (line,) = OpportunityLine.objects.for_org(world.org).filter(opportunity=opp)
    rate = pricing.cross_rate(
        organization=world.org,
        from_currency="EUR",
        to_currency="SEK",
        on_date=timezone.localdate(opp.created_at),
    )
    assert line.unit_price == (Decimal("1200.00") * rate).quantize(Decimal("0.01"))
    assert (line.converted_from_currency, line.converted_from_price) == ("EUR", Decimal("1200"))
    assert (line.conversion_rate, line.conversion_date) == (rate, timezone.localdate())
    assert opp.amount == line.total
    # The edit form sends the saved price back, typed: still the converted price, still said.
    opportunity_set_lines(
        opportunity=opp,
        acting_user=world.rep_se,
        lines=[{"product": product, "quantity": Decimal(3), "unit_price": line.unit_price}],
        expected_version=opp.version,
    )
    (kept,) = OpportunityLine.objects.for_org(world.org).filter(opportunity=opp)
    assert (kept.quantity, kept.converted_from_currency, kept.conversion_rate) == (
        Decimal(3),
        "EUR",
        rate,
    )
    # Another typed price is the seller's own: no longer a conversion.
    opportunity_set_lines(
        opportunity=opp,
        acting_user=world.rep_se,
        lines=[{"product": product, "quantity": Decimal(3), "unit_price": Decimal("9999")}],
        expected_version=opp.version,
    )
    (typed,) = OpportunityLine.objects.for_org(world.org).filter(opportunity=opp)
    assert (typed.unit_price, typed.converted_from_currency, typed.conversion_rate) == (
        Decimal("9999.00"),
        "",
        None,
    )


def test_a_line_that_cannot_be_converted_is_refused_naming_the_line_and_rate(
    world: World, account: Account
) -> None:
    ExchangeRateFactory(organization=world.org, currency="SEK", rate="0.087", valid_from=DAY)
    gbp = ProductFactory(organization=world.org, currency="GBP", list_price=Decimal("10"))
    with pytest.raises(ValidationError) as caught:
        opportunity_create(
            acting_user=world.rep_se,
            account=account,
            name="Pumps",
            currency="SEK",
            lines=[
                {"product": _eur(world), "quantity": Decimal(1)},
                {"product": gbp, "quantity": Decimal(1)},
            ],
        )
    (message,) = caught.value.messages
    assert message.startswith("Line 2:") and "GBP" in message


def test_price_book_entries_are_the_admins_and_never_another_organizations(
    world: World,
) -> None:
    product = _eur(world)
    row = product_price_set(
        product=product, currency="sek", price=Decimal("12900"), acting_user=world.admin
    )
    assert row is not None and (row.currency, row.price) == ("SEK", Decimal("12900"))
    # Set again: the one entry changes; None removes it.
    product_price_set(
        product=product, currency="SEK", price=Decimal("13000"), acting_user=world.admin
    )
    assert list(ProductPrice.objects.for_org(world.org).values_list("price", flat=True)) == [
        Decimal("13000.00")
    ]
    with pytest.raises(ValidationError):
        product_price_set(
            product=product, currency="EUR", price=Decimal(1), acting_user=world.admin
        )
    with pytest.raises(PermissionDenied):
        product_price_set(
            product=product, currency="DKK", price=Decimal(1), acting_user=world.manager_se
        )
    with pytest.raises(Http404):
        product_price_set(
            product=product, currency="DKK", price=Decimal(1), acting_user=world.stranger
        )
    product_price_set(product=product, currency="SEK", price=None, acting_user=world.admin)
    assert not ProductPrice.objects.for_org(world.org).exists()


def test_has_rate_knows_the_corporate_currency_and_rated_ones(world: World, rates: None) -> None:
    assert pricing.has_rate(organization=world.org, currency="EUR")
    assert pricing.has_rate(organization=world.org, currency="SEK")
    assert not pricing.has_rate(organization=world.org, currency="NOK")
    # Another organization's rates are not this one's.
    ExchangeRateFactory(organization=world.other_org, currency="NOK", rate="0.08", valid_from=DAY)
    assert not pricing.has_rate(organization=world.org, currency="NOK")
