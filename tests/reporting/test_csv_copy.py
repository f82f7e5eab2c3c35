"""The CSV's big section written by PostgreSQL (COPY ... TO STDOUT) is byte for byte what the
Python writer (csv.writer over ``opportunity_rows``) writes for the same rows: formula escaping,
quoting, NULLs, decimals and their rounding, dates and the totals row included."""

from __future__ import annotations

import dataclasses
import datetime as dt
import zipfile
from decimal import Decimal as D
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from crm.money import MissingExchangeRateError
from opportunities.models import Opportunity
from reporting import exports
from reporting.kpis import Scope
from reporting.models import ExportFormat
from tests.opportunities.factories import OpportunityFactory
from tests.reporting.conftest import AS_OF, Dataset

pytestmark = pytest.mark.django_db

TRICKY = [
    "=SUM(A1)", "+1", "-x", "@x", "\tTab", "\rCR", 'say "hi"', '"', "semi;colon", "comma, too",
    "two\nlines", "crlf\r\nend", "Åsa Ödegård — Straße 中文 😀", " leading space", "trailing ",
    "'already quoted", "a=b", "100", "3,14",
]  # fmt: skip


def _tricky_rows(dataset: Dataset) -> None:
    w = dataset.world
    account = dataset.accounts["dk"]
    for i, text in enumerate(TRICKY):
        OpportunityFactory(account=account, owner=w.rep_dk, name=text, next_step=text,
                           currency="DKK", amount=D("1.00") * (i + 1))  # fmt: skip
    # Money ties at the cent, where money's half-even and SQL round()'s half-up differ:
    # 3.00 DKK x 0.135 = 0.405 -> 0.40 (half-up would give 0.41), 1.00 x 0.135 = 0.135 -> 0.14.
    for amount in ("3.00", "1.00", "0.01", "0.00", "-3.00", "12345678901234.99"):
        OpportunityFactory(account=account, owner=w.rep_dk, currency="DKK", amount=D(amount))
    # No amount, no close date, no next step: empty cells (NULL and "" alike).
    OpportunityFactory(account=account, owner=w.rep_dk, currency="DKK", amount=None,
                       expected_close_date=None, next_step="")  # fmt: skip
    # Created just after midnight in Stockholm: the UTC day is the day before.
    late = OpportunityFactory(account=account, owner=w.rep_dk, currency="DKK")
    Opportunity.objects.for_org(w.org).filter(pk=late.pk).update(
        created_at=dt.datetime(2026, 3, 1, 0, 30, tzinfo=ZoneInfo("Europe/Stockholm")),
        closed_at=dt.datetime(2026, 5, 10, 23, 59, tzinfo=ZoneInfo("America/New_York")),
    )
    # Names elsewhere in the row: the account and the owner.
    dataset.accounts["dk"].__class__.objects.for_org(w.org).filter(pk=account.pk).update(
        name="=cmd|' /C calc'!A0; \"Dansk\"\nVentil"
    )
    type(w.rep_dk).objects.for_org(w.org).filter(pk=w.rep_dk.pk).update(full_name="@Rep, DK")


def _write(path: Path, section: exports.Section) -> tuple[bytes, int]:
    written = exports.write_report(path=path, file_format=ExportFormat.CSV, sections=[section])
    with zipfile.ZipFile(path) as archive:
        (name,) = archive.namelist()
        return archive.read(name), written


@pytest.mark.parametrize("language", ["en", "sv"])
def test_copy_writes_the_bytes_the_python_writer_writes(
    dataset: Dataset, tmp_path: Path, language: str
) -> None:
    _tricky_rows(dataset)
    user = dataset.world.director
    with translation.override(language):
        section = exports._opportunities(user, Scope(), AS_OF)
        assert section.copy is not None
        python = dataclasses.replace(section, copy=None)
        copied, n_copied = _write(tmp_path / "copy.zip", section)
        expected, n_python = _write(
            tmp_path / "python.zip",
            dataclasses.replace(python, rows=exports.opportunity_rows(user, Scope(), AS_OF)),
        )
    assert n_copied == n_python == Opportunity.objects.for_org(dataset.world.org).count()
    assert copied.split(b"\r\n") == expected.split(b"\r\n")
    assert copied == expected
    # The file has what the test is about (not two equally empty files).
    text = copied.decode("utf-8-sig")
    assert text.startswith(str(section.columns[0].title))
    assert "'=SUM(A1)" in text and '"say ""hi"""' in text and "😀" in text
    assert "0.40" in text.replace(",", ".") and "0.41" not in text.replace(",", ".")
    assert text.endswith("\r\n") and "Total" in text.rsplit("\r\n", 2)[-2]
    assert (";" if language == "sv" else ",") + "2026-02-28" in text


def test_the_csv_export_reads_the_section_with_copy_not_python_rows(
    dataset: Dataset, tmp_path: Path, monkeypatch
) -> None:
    def no_python_rows(*args, **kwargs):
        raise AssertionError("the CSV must not read the opportunities row by row in Python")
        yield  # a generator, as opportunity_rows: it fails only if read

    monkeypatch.setattr(exports, "opportunity_rows", no_python_rows)
    user = dataset.world.director
    section = exports._opportunities(user, Scope(), AS_OF)
    progress: list[int] = []
    with CaptureQueriesContext(connection) as ctx:
        written = exports.write_report(
            path=tmp_path / "r.zip", file_format=ExportFormat.CSV, sections=[section],
            on_rows=progress.append,
        )  # fmt: skip
    assert written == Opportunity.objects.for_org(dataset.world.org).count()
    # One statement: the COPY (on the raw cursor, after one statement through Django's that
    # sets the organization for row-level security); no query per row or per chunk.
    assert len(ctx.captured_queries) == 1
    assert ctx.captured_queries[0]["sql"] == "SELECT 1"
    assert progress == [written]


def test_copy_sees_only_what_the_requester_may_see(dataset: Dataset, tmp_path: Path) -> None:
    w = dataset.world
    section = exports._opportunities(w.manager_se, Scope(sales_company_id=w.se.pk), AS_OF)
    data, written = _write(tmp_path / "se.zip", section)
    ids = {int(line.split(",")[0]) for line in data.decode("utf-8-sig").splitlines()[1:-1]}
    assert ids == {dataset.opps[k].pk for k in ("o1", "o4", "o5")}
    assert written == 3


def test_a_missing_rate_fails_the_copy_before_any_row_is_written(
    dataset: Dataset, tmp_path: Path
) -> None:
    w = dataset.world
    OpportunityFactory(account=dataset.accounts["dk"], owner=w.rep_dk, currency="NOK")
    section = exports._opportunities(w.director, Scope(), AS_OF)
    with pytest.raises(MissingExchangeRateError) as caught:
        exports.write_report(
            path=tmp_path / "r.zip", file_format=ExportFormat.CSV, sections=[section]
        )
    assert caught.value.currency == "NOK" and caught.value.on_date == AS_OF
