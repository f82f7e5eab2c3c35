"""Cells that are safe in a spreadsheet, for every CSV and XLSX the application writes.

A spreadsheet evaluates a cell that starts with one of these as a formula (or DDE): a quote is
prefixed so that a customer named "=HYPERLINK(...)" stays text (OWASP "CSV injection").
"""

from __future__ import annotations

import datetime as dt
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


def export_filename(*parts: object, date: dt.date, extension: str) -> str:
    """A descriptive, portable file name: ``campaign-elmia-2026-2026-12-03.csv``. Each part is
    slugified (ASCII, no quotes or slashes: safe in a Content-Disposition header)."""
    words = [slugify(str(p))[:40] for p in parts if p not in (None, "")]
    stem = "-".join(w for w in words if w) or "export"
    return f"{stem}-{date.isoformat()}.{extension}"
