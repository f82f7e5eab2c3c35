"""Cells that are safe in a spreadsheet, for every CSV and XLSX the application writes.

A spreadsheet evaluates a cell that starts with one of these as a formula (or DDE): a quote is
prefixed so that a customer named "=HYPERLINK(...)" stays text (OWASP "CSV injection").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils import formats, translation
from django.utils.text import slugify

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: Any) -> Any:
    """Text that would run as a formula gets a leading quote; numbers and dates stay typed."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_text(value: Any) -> str:
    """One CSV cell: empty for None, else the escaped text."""
    return "" if value is None else escape_cell(str(value))


class Echo:
    """A file-like object whose write returns the line, for streaming csv.writer output."""

    def write(self, value: str) -> str:
        return value


def csv_delimiter(language: str | None = None) -> str:
    """``;`` where numbers are written with a decimal comma (de, da, sv...): a spreadsheet
    there splits ``,``-separated files at every decimal. The active language by default."""
    language = language or translation.get_language() or "en"
    return ";" if formats.get_format("DECIMAL_SEPARATOR", language) == "," else ","


@dataclass(frozen=True)
class CsvFormat:
    """How a CSV for the active language writes its cells: the delimiter of ``csv_delimiter``
    and the decimal separator that goes with it (a ``;`` file has decimal commas), dates ISO
    (every spreadsheet reads them), text escaped. The one place the export rule lives: the
    report zip and the list exports format with it."""

    delimiter: str
    decimal: str

    @classmethod
    def for_language(cls, language: str | None = None) -> CsvFormat:
        delimiter = csv_delimiter(language)
        return cls(delimiter=delimiter, decimal="," if delimiter == ";" else ".")

    def number(self, value: Decimal | float | int, *, places: int | None = None) -> str:
        """A number as the reader's spreadsheet parses it: no grouping, the decimal separator
        of the language; ``places`` fixes the decimals (money: 2)."""
        if isinstance(value, int):  # bool too: a count, never a decimal
            return str(int(value))
        text = f"{value:.{places}f}" if places is not None else str(value)
        return text.replace(".", self.decimal)

    def cell(self, value: Any, *, places: int | None = None) -> str:
        """One cell: empty for None, numbers in the reader's notation (a negative number is a
        number, not a formula, so it is not quoted), dates ISO, text escaped."""
        if value is None:
            return ""
        if isinstance(value, Decimal | float | int) and not isinstance(value, bool):
            return self.number(value, places=places)
        if isinstance(value, dt.datetime | dt.date):
            return value.isoformat()
        return str(escape_cell(str(value)))


def export_filename(*parts: object, date: dt.date, extension: str) -> str:
    """A descriptive, portable file name: ``campaign-elmia-2026-2026-12-03.csv``. Each part is
    slugified (ASCII, no quotes or slashes: safe in a Content-Disposition header)."""
    words = [slugify(str(p))[:40] for p in parts if p not in (None, "")]
    stem = "-".join(w for w in words if w) or "export"
    return f"{stem}-{date.isoformat()}.{extension}"


# --- The same rules in SQL, for files PostgreSQL writes itself (COPY ... TO STDOUT) ---------------
# Each function takes a SQL expression and returns one whose text is the CSV cell that
# ``CsvFormat.cell`` writes for the value; NULL where the cell is empty, because COPY writes a
# NULL as nothing but an empty string as "" (csv.writer writes both as nothing).

_SQL_FORMULA_PREFIXES = ", ".join(
    "E'\\t'" if p == "\t" else "E'\\r'" if p == "\r" else f"'{p}'" for p in FORMULA_PREFIXES
)


def sql_text(expression: str) -> str:
    """``csv_text`` in SQL: text that would run as a formula gets a leading quote."""
    return (
        f"NULLIF(CASE WHEN left({expression}, 1) IN ({_SQL_FORMULA_PREFIXES}) "
        f"THEN '''' || {expression} ELSE {expression} END, '')"
    )


def sql_round_half_even(expression: str, places: int = 2) -> str:
    """``crm.money.money`` in SQL: round() in PostgreSQL rounds half away from zero, money
    rounds half to even (banker's rounding), so a tie at the last place goes to the even
    neighbour."""
    scaled = f"(({expression}) * 1e{places})"
    return (
        f"round((CASE WHEN abs({scaled} - trunc({scaled})) = 0.5 AND mod(round({scaled}), 2) <> 0 "
        f"THEN round({scaled}) - sign({scaled}) ELSE round({scaled}) END) / 1e{places}, {places})"
    )


def sql_date(expression: str, *, utc_day: bool = False) -> str:
    """An ISO date (``date.isoformat``); ``utc_day``: the UTC day of a timestamp."""
    day = f"(({expression}) AT TIME ZONE 'UTC')::date" if utc_day else expression
    return f"to_char({day}, 'YYYY-MM-DD')"


def sql_number(expression: str, fmt: CsvFormat, *, places: int | None = None) -> str:
    """``CsvFormat.number`` in SQL: no grouping, the language's decimal separator; ``places``
    fixes the decimals of a value that already has at most that many (money is rounded by
    ``sql_round_half_even`` first, as ``money`` does in Python)."""
    text = f"round({expression}, {places})::text" if places is not None else f"({expression})::text"
    return text if fmt.decimal == "." else f"replace({text}, '.', '{fmt.decimal}')"
