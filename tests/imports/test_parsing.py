"""The engine's reading of files and cells: delimiters, encodings, XLSX, numbers, dates,
countries, formulas, the row limit and the header suggestions in four languages."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from decimal import Decimal

import pytest
from openpyxl import Workbook

from imports import mapping as m
from imports.models import ImportKind
from imports.parsing import FileError, _lines, read_table


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_each_delimiter_is_sniffed(delimiter: str) -> None:
    text = delimiter.join(["Name", "Country", "Amount"]) + "\n"
    text += delimiter.join(["Acme AB", "SE", '"1,5"' if delimiter != "," else "1.5"]) + "\n"
    table = read_table(text.encode(), "a.csv")
    assert table.headers == ["Name", "Country", "Amount"]
    assert table.rows[0][:2] == ["Acme AB", "SE"]
    assert table.numbers == [2]


@pytest.mark.parametrize(
    "text",
    [
        "a;b\nc;d\n",
        "a;b\r\nc;d\r\n",
        "a;b\rc;d\r",  # old Mac line ends
        "a;b\nc;d",  # no line end at the end
        'a;b\n"two\nlines";"cr\rand crlf\r\n"\r\ne;f\n',  # line ends inside quotes
        "a;\u2028b\x0c;c\x1c\n\n\nd;e\r\r\n",  # what str.splitlines would split on
        "",
        "\n",
    ],
)
def test_csv_lines_are_the_stringio_lines(text: str) -> None:
    """The CSV reader's lines are read as ``io.StringIO(text, newline="")`` gives them (what it
    read before), so every file gives the same rows."""
    assert list(_lines(text)) == list(io.StringIO(text, newline=""))
    assert list(csv.reader(_lines(text), delimiter=";")) == list(
        csv.reader(io.StringIO(text, newline=""), delimiter=";")
    )


def test_repeated_cells_are_one_string_and_rows_unchanged() -> None:
    text = "Name;Company\n" + "".join(f"Firm {i};SE01\n" for i in range(3))
    table = read_table(text.encode(), "a.csv")
    assert table.rows == [["Firm 0", "SE01"], ["Firm 1", "SE01"], ["Firm 2", "SE01"]]
    assert table.rows[0][1] is table.rows[2][1]


def test_utf8_bom_and_windows_1252_are_read() -> None:
    with_bom = "\ufeffNamn;Land\nÅkesson AB;Sverige\n".encode()
    table = read_table(with_bom, "a.csv")
    assert table.headers == ["Namn", "Land"]
    assert table.rows == [["Åkesson AB", "Sverige"]]
    cp1252 = "Name;Land\nMüller GmbH;Deutschland\n".encode("cp1252")
    assert read_table(cp1252, "a.csv").rows == [["Müller GmbH", "Deutschland"]]


def _xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    book.create_sheet("Second").append(["ignored"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_first_sheet_typed_cells_and_formulas_stay_text() -> None:
    data = _xlsx(
        [
            ["Name", "Amount", "Close", "Note"],
            ['=HYPERLINK("http://x")', 1234.5, dt.datetime(2027, 3, 15), "=1+1"],
            ["Beta", 10, dt.date(2027, 1, 2), None],
        ]
    )
    table = read_table(data, "f.xlsx")
    assert table.headers == ["Name", "Amount", "Close", "Note"]
    # Formulas are read as their text, never evaluated (=1+1 is not 2).
    assert table.rows[0] == ['=HYPERLINK("http://x")', "1234.5", "2027-03-15", "=1+1"]
    assert table.rows[1] == ["Beta", "10", "2027-01-02", ""]


def test_more_than_the_row_limit_is_refused_early() -> None:
    # 100,000 rows is the real limit; a lower one proves the check stops while reading.
    data = ("Name\n" + "x\n" * 2_000_000).encode()
    started = time.monotonic()
    with pytest.raises(FileError, match="more than 1,000 data rows"):
        read_table(data, "big.csv", max_rows=1000)
    assert time.monotonic() - started < 1.0  # it did not read 2 million rows


def test_the_real_limit_message() -> None:
    data = ("Name\n" + "x\n" * 100_001).encode()
    with pytest.raises(FileError, match="100,000"):
        read_table(data, "big.csv")
    assert len(read_table(("Name\n" + "x\n" * 100_000).encode(), "ok.csv").rows) == 100_000


def test_no_header_is_an_error() -> None:
    with pytest.raises(FileError):
        read_table(b"\n\n", "empty.csv")
    with pytest.raises(FileError):
        read_table(b"PK\x03\x04garbage", "broken.xlsx")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1234.5", Decimal("1234.5")),
        ("1234,5", Decimal("1234.5")),
        ("1 234,50", Decimal("1234.50")),
        ("1.234,50", Decimal("1234.50")),
        ("1,234.50", Decimal("1234.50")),
        ("-12", Decimal("-12")),
        ("", None),
    ],
)
def test_decimals_with_comma_or_point(text: str, value: Decimal | None) -> None:
    assert m.parse_decimal(text) == value


def test_a_word_is_not_a_number() -> None:
    with pytest.raises(m.CellError):
        m.parse_decimal("=1+1")


@pytest.mark.parametrize("text", ["2027-03-15", "15.03.2027", "15-03-2027", "15/03/2027",
                                  "2027-03-15T10:00:00"])  # fmt: skip
def test_dates_iso_and_day_first(text: str) -> None:
    assert m.parse_date(text) == dt.date(2027, 3, 15)


def test_a_bad_date_says_how_to_write_it() -> None:
    with pytest.raises(m.CellError, match="2027-03-15"):
        m.parse_date("31.02.2027")


@pytest.mark.parametrize(
    ("text", "code"),
    [("se", "SE"), ("Sverige", "SE"), ("Danmark", "DK"), ("Deutschland", "DE"),
     ("Tyskland", "DE"), ("Germany", "DE"), ("Schweiz", "CH"), ("Atlantis", None)],
)  # fmt: skip
def test_countries_by_code_or_name(text: str, code: str | None) -> None:
    assert m.parse_country(text) == code


@pytest.mark.parametrize(
    "headers",
    [
        ["Name", "Country", "Registration number", "Domain"],
        ["Namn", "Land", "Organisationsnummer", "Hemsida"],
        ["Navn", "Land", "CVR", "Hjemmeside"],
        ["Navn", "Land", "CVR-nummer", "Domæne"],
        ["Namn", "Land", "Organisationsnummer", "Domän"],
        ["Name", "Land", "Handelsregisternummer", "Webseite"],
    ],
)
def test_account_headers_suggest_fields_in_four_languages(headers: list[str]) -> None:
    assert m.suggest_mapping(ImportKind.ACCOUNTS, headers) == {
        "0": "name",
        "1": "country",
        "2": "registration_number",
        "3": "domain",
    }


@pytest.mark.parametrize(
    "headers",
    [
        ["Opportunity", "Stage", "Amount", "Currency"],
        ["Affär", "Steg", "Belopp", "Valuta"],
        ["Salgsmulighed", "Fase", "Beløb", "Valuta"],
        ["Verkaufschance", "Phase", "Betrag", "Währung"],
    ],
)
def test_opportunity_headers_in_four_languages(headers: list[str]) -> None:
    assert m.suggest_mapping(ImportKind.OPPORTUNITIES, headers) == {
        "0": "name",
        "1": "stage",
        "2": "amount",
        "3": "currency",
    }


def test_a_template_maps_by_header() -> None:
    template = {"Kundnamn": "name", "Landskod": "country"}
    assert m.mapping_from_template(["x", "landskod", "Kundnamn"], template) == {
        "1": "country",
        "2": "name",
    }
