"""ISO codes used for validation: currencies, countries, languages we support in the UI."""

from __future__ import annotations

import unicodedata
import zoneinfo

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# ISO 4217 codes a global sales organisation is likely to book in. Extend as companies are added.
CURRENCIES = frozenset(
    "AUD BRL CAD CHF CNY CZK DKK EUR GBP HKD HUF INR JPY KRW "
    "MXN NOK NZD PLN SEK SGD USD ZAR".split()
)


def validate_currency(value: str) -> None:
    if value not in CURRENCIES:
        raise ValidationError(
            _("%(value)s is not a supported ISO 4217 currency code."), params={"value": value}
        )


def validate_country(value: str) -> None:
    if len(value) != 2 or not value.isalpha() or not value.isupper():
        raise ValidationError(
            _("%(value)s is not an ISO 3166 alpha-2 country code (two capital letters)."),
            params={"value": value},
        )


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("%(value)s is not a known time zone."), params={"value": value})


def validate_no_control_characters(value: str) -> None:
    """Names are one line of text: no newline, tab, NUL or other control character (a newline
    in a name once stopped every mail quoting it, and NUL cannot be stored at all)."""
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in str(value)):
        raise ValidationError(
            _("Names cannot contain line breaks, tabs or other control characters."),
            code="control_characters",
        )
