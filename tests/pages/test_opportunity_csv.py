"""The opportunity list's CSV export in the reader's notation (issue 18): ``;`` and decimal
commas where the language writes numbers so (the reports' rule), amounts with two decimals,
dates ISO, formula cells escaped, only the rows the reader sees."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from crm.models import User
from crm.spreadsheet import CsvFormat
from tests.conftest import World
from tests.opportunities.factories import OpportunityFactory
from tests.pages.conftest import Deals, many_opportunities

pytestmark = pytest.mark.django_db


def _export(
    client: Client, user: User, language: str, **params: str
) -> tuple[str, list[list[str]]]:
    user.language = language
    user.save(update_fields=["language"])
    client.force_login(user)
    response = client.get(reverse("opportunities:list"), {"format": "csv", **params})
    assert response.status_code == 200 and response.streaming
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")  # Excel reads it as UTF-8
    text = body.removeprefix("\ufeff")
    delimiter = ";" if language == "de" else ","
    return text, list(csv.reader(io.StringIO(text), delimiter=delimiter))


@pytest.fixture
def priced(world: World, deals: Deals) -> None:
    OpportunityFactory(
        account=deals.account,
        owner=world.rep_se,
        name='=HYPERLINK("x") Kühlung',
        amount=Decimal("1234567.5"),
        currency="SEK",
        expected_close_date=dt.date(2027, 3, 15),
        next_step="+46 call back",
    )


def test_english_is_comma_separated_with_decimal_points(
    client: Client, world: World, priced: None
) -> None:
    _text, rows = _export(client, world.rep_se, "en", q="HYPERLINK")
    assert rows[0] == [
        "ID", "Name", "Account", "Company", "Owner", "Stage", "Global stage", "Amount",
        "Currency", "Expected close", "Next step",
    ]  # fmt: skip
    assert len(rows) == 2
    row = rows[1]
    assert row[1] == '\'=HYPERLINK("x") Kühlung'  # a formula stays text
    assert row[7] == "1234567.50" and row[8] == "SEK"
    assert row[9] == "2027-03-15"
    assert row[10] == "'+46 call back"


def test_german_is_semicolon_separated_with_decimal_commas(
    client: Client, world: World, priced: None
) -> None:
    text, rows = _export(client, world.rep_se, "de", q="HYPERLINK")
    # The header is in German and the separator is ";" (a "," would split every decimal).
    assert rows[0][0] == "ID" and len(rows[0]) == 11
    assert rows[0][1] != "Name" or rows[0][7] != "Amount"
    assert text.splitlines()[0].count(";") == 10
    row = rows[1]
    assert row[7] == "1234567,50"
    assert row[9] == "2027-03-15"
    assert row[1] == '\'=HYPERLINK("x") Kühlung' and row[10] == "'+46 call back"


def test_export_has_only_visible_rows(client: Client, world: World, priced: None) -> None:
    # The German rep neither sees the Swedish deals nor gets them in the file.
    _text, rows = _export(client, world.rep_de, "de", q="HYPERLINK")
    assert len(rows) == 1
    _text, rows = _export(client, world.stranger, "en", q="HYPERLINK")
    assert len(rows) == 1


def test_export_queries_are_constant(
    client: Client, world: World, deals: Deals, django_assert_max_num_queries: object
) -> None:
    many_opportunities(world, 3)
    world.rep_se.language = "de"
    world.rep_se.save(update_fields=["language"])
    client.force_login(world.rep_se)
    url = reverse("opportunities:list")

    def count() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url, {"format": "csv"})
            lines = b"".join(response.streaming_content).decode().splitlines()
        assert len(lines) > 1
        return len(ctx.captured_queries)

    few = count()
    many_opportunities(world, 12)
    assert count() == few


@pytest.mark.parametrize(
    ("language", "value", "places", "expected"),
    [("en", Decimal("-5"), 2, "-5.00"), ("de", Decimal("-5"), 2, "-5,00"),
     ("da", Decimal("0.125"), None, "0,125"), ("sv", 7, None, "7"), ("en", None, None, ""),
     ("de", "=1+1", None, "'=1+1"), ("de", dt.date(2027, 1, 2), None, "2027-01-02")],
)  # fmt: skip
def test_csv_format_cells(language: str, value: object, places: int | None, expected: str) -> None:
    assert CsvFormat.for_language(language).cell(value, places=places) == expected
