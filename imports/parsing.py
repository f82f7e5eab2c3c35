"""Reading an uploaded CSV or XLSX file into a header and rows of text.

Every cell comes out as text exactly as written: nothing is evaluated. An XLSX formula cell is
read as its formula text (``=SUM(A1:A3)``, openpyxl without ``data_only``), never as a value a
spreadsheet computed, so a "formula" in a file stays a plain string wherever it lands.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _

MAX_ROWS = 100_000
MAX_FILE_BYTES = 50 * 1024 * 1024
DELIMITERS = (",", ";", "\t", "|")


class FileError(ValueError):
    """The file cannot be imported at all (format, encoding, size, no header)."""


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[str]]  # data rows, each as long as the header
    # Each row's number as a spreadsheet shows it (the header is row 1 when it is the first).
    numbers: list[int]


def decode(data: bytes) -> str:
    """UTF-8 with or without BOM; anything that is not UTF-8 is read as Windows-1252 (what
    Excel on Windows writes as "CSV"), whose every byte but five decodes."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise FileError(_("The file is neither UTF-8 nor Windows-1252 text.")) from exc


def sniff_delimiter(text: str) -> str:
    """The delimiter of the header line: the candidate found most often outside quotes.
    (``csv.Sniffer`` guesses wrong on short files with decimal commas.)"""
    first = text.split("\n", 1)[0]
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in first:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _too_many(max_rows: int) -> FileError:
    return FileError(
        _("The file has more than %(max)s data rows; split it into files of at most %(max)s.")
        % {"max": f"{max_rows:,}"}
    )


# Where ``io.StringIO(text, newline="")`` ends a line: \r\n, \r or \n, each kept.
_LINE_END = re.compile(r"\r\n|\r|\n")


def _lines(text: str) -> Iterator[str]:
    """The text's lines as ``io.StringIO(text, newline="")`` gives them, one at a time: a
    StringIO of a 100,000-row file keeps a second copy of it, four bytes per character."""
    start = 0
    for end in _LINE_END.finditer(text):
        yield text[start : end.end()]
        start = end.end()
    if start < len(text):
        yield text[start:]


def _csv_rows(data: bytes) -> Iterator[list[str]]:
    text = decode(data)
    reader = csv.reader(_lines(text), delimiter=sniff_delimiter(text))
    for row in reader:
        yield [cell.replace("\x00", "") for cell in row]


def cell_text(value: Any) -> str:
    """An XLSX cell as text: numbers without float noise, dates as ISO, text as written."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return str(Decimal(repr(value)))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value).replace("\x00", "")


def _xlsx_rows(data: bytes) -> Iterator[list[str]]:
    from openpyxl import load_workbook

    try:
        # read_only streams the sheet; data_only=False keeps formulas as their text.
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise FileError(_("The file is not a readable XLSX workbook.")) from exc
    try:
        sheet = workbook.worksheets[0]
        for row in sheet.iter_rows(values_only=True):
            yield [cell_text(v) for v in row]
    finally:
        workbook.close()


def is_xlsx(file_name: str, data: bytes) -> bool:
    return file_name.lower().endswith((".xlsx", ".xlsm")) or data.startswith(b"PK\x03\x04")


def read_table(
    data: bytes, file_name: str, *, max_rows: int = MAX_ROWS, head: int | None = None
) -> Table:
    """The file's first sheet (XLSX) or its rows (CSV); blank rows are left out. Reading stops
    at row ``max_rows + 1``: a file too large is refused without reading it all; ``head``
    reads only that many data rows (a preview)."""
    if len(data) > MAX_FILE_BYTES:
        raise FileError(_("The file is larger than 50 MB."))
    rows_iter = _xlsx_rows(data) if is_xlsx(file_name, data) else _csv_rows(data)
    headers: list[str] | None = None
    rows: list[list[str]] = []
    numbers: list[int] = []
    # One string per distinct cell text: a file's companies, stages, owners, currencies and
    # products repeat on every row (a third less memory for a 100,000-row file).
    texts: dict[str, str] = {}
    try:
        for number, raw in enumerate(rows_iter, start=1):
            if not any(c.strip() for c in raw):
                continue
            if headers is None:
                headers = [c.strip() for c in raw]
                continue
            if head is not None and len(rows) >= head:
                break  # a preview of the first rows only
            if len(rows) >= max_rows:
                raise _too_many(max_rows)
            cells = [texts.setdefault(c, c) for c in raw[: len(headers)]]
            rows.append(cells + [""] * (len(headers) - len(cells)))
            numbers.append(number)
    except csv.Error as exc:
        raise FileError(_("The CSV file cannot be read: %(error)s") % {"error": exc}) from exc
    if not headers or not any(headers):
        raise FileError(_("The file has no header row."))
    # Trailing empty header cells (a spreadsheet's formatted but empty columns) are dropped.
    while headers and not headers[-1]:
        headers.pop()
        rows = [r[: len(headers)] for r in rows]
    return Table(headers=headers, rows=rows, numbers=numbers)
