"""What a product costs in a deal's currency: the price book entry for that currency, else the
list price when it is in that currency, else the list price converted at the dated rate.

Why a price book *and* a conversion: a local company that sells a product often sets its own
price in its currency (rounded, market-adjusted), and that price must win; but a rep quoting
an EUR-priced product in SEK for the first time must not be stopped until someone keeps a
book. The converted price is said to be one ("converted from EUR 1,200.00 at 11.4943 on
2026-12-03") on the form and on the saved line, so nobody mistakes it for a set price.

Rates in ``crm.ExchangeRate`` are to the corporate currency; the cross rate of two currencies
is the quotient of their rates on the same day, rounded to 8 places (the stored rate's
precision), and the price is the list price times that stored rate, rounded half-even to the
cent: whoever reads the line can redo the sum.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from django.db.models import Q
from django.utils.translation import gettext as _

from crm.models import ExchangeRate, Organization
from crm.money import MissingExchangeRateError, money, rate_on
from opportunities.models import Product, ProductPrice

RATE_PLACES = Decimal("0.00000001")


@dataclass(frozen=True)
class Price:
    amount: Decimal
    # Set when ``amount`` was converted from the list price.
    from_currency: str = ""
    from_price: Decimal | None = None
    rate: Decimal | None = None
    rate_date: dt.date | None = None

    @property
    def converted(self) -> bool:
        return bool(self.from_currency)


def cross_rate(
    *,
    organization: Organization,
    from_currency: str,
    to_currency: str,
    on_date: dt.date,
    rates: Mapping[str, Decimal] | None = None,
) -> Decimal:
    """Units of ``to_currency`` per unit of ``from_currency`` on ``on_date`` (8 places).
    Raises ``MissingExchangeRateError`` naming the rate that is missing. ``rates``: every
    currency's rate on ``on_date`` read already (``rates_on``), else a query per currency."""
    if from_currency == to_currency:
        return Decimal(1)

    def rate(currency: str) -> Decimal:
        if rates is None:
            return rate_on(organization=organization, currency=currency, on_date=on_date)
        if currency not in rates:
            raise MissingExchangeRateError(
                currency=currency, on_date=on_date, organization=organization
            )
        return rates[currency]

    source = rate(from_currency)
    target = rate(to_currency)
    return (source / target).quantize(RATE_PLACES, rounding=ROUND_HALF_EVEN)


def price_in(
    *,
    product: Product,
    currency: str,
    on_date: dt.date,
    organization: Organization,
    book: dict[tuple[int, str], Decimal] | None = None,
    rates: Mapping[str, Decimal] | None = None,
) -> Price:
    """The product's unit price in ``currency`` on ``on_date`` (see the module's docstring).
    ``book``: the price book entries already read (``price_book``), else one query."""
    if book is None:
        book = price_book(organization_id=product.organization_id, product_ids=[product.pk])
    listed = book.get((product.pk, currency))
    if listed is not None:
        return Price(amount=listed)
    if product.currency == currency:
        return Price(amount=product.list_price)
    rate = cross_rate(
        organization=organization,
        from_currency=product.currency,
        to_currency=currency,
        on_date=on_date,
        rates=rates,
    )
    return Price(
        amount=money(product.list_price * rate),
        from_currency=product.currency,
        from_price=product.list_price,
        rate=rate,
        rate_date=on_date,
    )


def price_book(
    *, organization_id: int, product_ids: Iterable[int] | None = None
) -> dict[tuple[int, str], Decimal]:
    """(product id, currency) -> price, for the given products (all of them if None)."""
    qs = ProductPrice.objects.for_org(organization_id)
    if product_ids is not None:
        qs = qs.filter(product_id__in=list(product_ids))
    return {
        (pid, cur): price for pid, cur, price in qs.values_list("product_id", "currency", "price")
    }


def rates_on(*, organization: Organization, on_date: dt.date) -> dict[str, Decimal]:
    """Every currency's rate to the corporate currency valid on ``on_date`` (the corporate
    currency at 1), in one query: what the form's script converts with."""
    rows = (
        ExchangeRate.objects.for_org(organization)
        .filter(valid_from__lte=on_date)
        .order_by("currency", "-valid_from")
        .distinct("currency")
        .values_list("currency", "rate")
    )
    return {**dict(rows), organization.corporate_currency: Decimal(1)}


def has_rate(*, organization: Organization, currency: str) -> bool:
    """Whether deals in ``currency`` can be converted at all: the corporate currency, or a
    currency with at least one rate. A deal in any other currency makes every report that
    converts it fail, so the deal form and the API refuse it."""
    if currency == organization.corporate_currency:
        return True
    return ExchangeRate.objects.for_org(organization).filter(Q(currency=currency)).exists()


def no_rate_message(currency: str) -> str:
    """The deal form's and the API's refusal of a currency nobody can convert."""
    return _(
        "Your organization has no exchange rate for %(currency)s, so deals in it cannot be "
        "reported: choose another currency or ask your admin to add the rate under Set-up > "
        "Exchange rates."
    ) % {"currency": currency}
