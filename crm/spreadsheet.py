"""Cells that are safe in a spreadsheet, for every CSV and XLSX the application writes.

A spreadsheet evaluates a cell that starts with one of these as a formula (or DDE): a quote is
prefixed so that a customer named "=HYPERLINK(...)" stays text (OWASP "CSV injection").
"""

from __future__ import annotations

from typing import Any

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
