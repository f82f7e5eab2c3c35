"""HTML built in Python for the hot fragments of the pages (list rows, option lists: issue 21).

Django's ``format_html`` / ``format_html_join`` pass every value through ``conditional_escape``
and ``escape``, whose ``keep_lazy`` wrapper checks each argument for a lazy string on every
call: a director's list page (600 options, 50 rows) made ~2,700 of those escapes and ~3,400
wrapper calls, most of its option and row rendering. These functions give the same output (the
same escaping: ``html.escape`` with quotes, a value with ``__html__`` taken as it is, a lazy
string translated first) in one pass.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any

from django.utils import dateformat, numberformat
from django.utils.formats import get_format
from django.utils.safestring import SafeString, mark_safe

_ONE = Decimal(1)
# Wide enough for any amount the application stores (floatformat sizes its own per value).
_WIDE = Context(prec=60)


def escape_value(value: Any) -> str:
    """``conditional_escape(value)``, as text: safe markup as it is, anything else escaped."""
    if hasattr(value, "__html__"):
        return str(value.__html__())
    return html.escape(str(value))


def format_html_rows(sep: str, format_string: str, rows: Iterable[tuple[Any, ...]]) -> SafeString:
    """``format_html_join(sep, format_string, rows)`` for positional rows: each value escaped
    (``escape_value``), the rows joined by ``sep`` (escaped too, as Django does)."""
    fmt = format_string.format
    joined = escape_value(sep).join(fmt(*[escape_value(v) for v in row]) for row in rows)
    return mark_safe(joined)  # noqa: S308 - every value escaped


class LocalFormats:
    """The active language's number and date formats, read once for a page of rows.

    ``floatformat`` and ``date`` look the formats up per value (language, format module,
    settings: ~40 µs a cell); a page of 50 rows with an amount and a date each paid that a
    hundred times. Same output as the filters for Decimal / int amounts and dates (tests
    compare them in several languages)."""

    def __init__(self) -> None:
        self._decimal_sep = get_format("DECIMAL_SEPARATOR")
        self._thousand_sep = get_format("THOUSAND_SEPARATOR")
        self._grouping = get_format("NUMBER_GROUPING")
        self._short_date = get_format("SHORT_DATE_FORMAT")

    def grouped(self, value: Decimal | int, places: int = 0) -> str:
        """``value|floatformat:"<places>g"``: rounded half-up, grouped by thousands."""
        d = value if isinstance(value, Decimal) else Decimal(value)
        rounded = d.quantize(_ONE.scaleb(-places), ROUND_HALF_UP, _WIDE)
        if not rounded:
            rounded = rounded.copy_abs()  # floatformat writes no sign on a zero
        return numberformat.format(
            format(rounded, "f"),
            self._decimal_sep,
            places,
            self._grouping,
            self._thousand_sep,
            force_grouping=True,
            use_l10n=True,
        )

    def short_date(self, day: dt.date | None) -> str:
        """``day|date:"SHORT_DATE_FORMAT"`` ("" for none, as the filter)."""
        return "" if day is None else dateformat.format(day, self._short_date)
