"""Money in the corporate currency, converted with the rate valid on the relevant date.

A missing rate is an error that names the currency and date: a wrong 1.0 in a global
pipeline report is worse than no number.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal

from django.utils.translation import gettext

from crm.models import ExchangeRate, Organization

CENT = Decimal("0.01")


class MissingExchangeRateError(LookupError):
    def __init__(self, *, currency: str, on_date: dt.date, organization: Organization) -> None:
        self.currency = currency
        self.on_date = on_date
        self.corporate_currency = organization.corporate_currency
        super().__init__(
            f"No exchange rate {currency}->{organization.corporate_currency} valid on "
            f"{on_date:%Y-%m-%d} in {organization.name}: add one from that date or earlier."
        )

    @property
    def user_message(self) -> str:
        """What a page, the API or an export says, in the reader's language: which rate is
        missing and who can add it (the figures cannot be shown without it)."""
        return gettext(
            "No %(corporate)s rate for %(currency)s on %(date)s: ask your admin to add it under "
            "Set-up > Exchange rates."
        ) % {
            "corporate": self.corporate_currency,
            "currency": self.currency,
            "date": f"{self.on_date:%Y-%m-%d}",
        }


def rate_on(*, organization: Organization, currency: str, on_date: dt.date) -> Decimal:
    """Units of the corporate currency per unit of ``currency`` on ``on_date``."""
    if currency == organization.corporate_currency:
        return Decimal(1)
    rate = (
        ExchangeRate.objects.for_org(organization)
        .filter(currency=currency, valid_from__lte=on_date)
        .order_by("-valid_from")
        .values_list("rate", flat=True)
        .first()
    )
    if rate is None:
        raise MissingExchangeRateError(
            currency=currency, on_date=on_date, organization=organization
        )
    return rate


def to_corporate(
    *, organization: Organization, amount: Decimal, currency: str, on_date: dt.date
) -> Decimal:
    rate = rate_on(organization=organization, currency=currency, on_date=on_date)
    return (amount * rate).quantize(CENT, rounding=ROUND_HALF_EVEN)
