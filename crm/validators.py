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


def validate_app_path(value: str) -> None:
    """A link inside the app: a path starting with one ``/``. Not ``//host`` (a
    protocol-relative URL, another site), no backslash (browsers read ``/\\host`` as ``//host``)
    and no control character or whitespace (``/\\t/host`` is ``//host`` once a browser drops the
    tab): a stored link must never send its reader off the site."""
    text = str(value)
    if (
        not text.startswith("/")
        or text.startswith("//")
        or "\\" in text
        or any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf") for ch in text)
    ):
        raise ValidationError(
            _("The link must be a path inside Meridian, starting with a single /."),
            code="not_an_app_path",
        )
