"""Report exports: XLSX/CSV round trips, formula escaping, requester-only downloads, expiry."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from decimal import Decimal as D
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext
from openpyxl import load_workbook

from crm.spreadsheet import escape_cell
from opportunities.models import Opportunity
from reporting import kpis, services
from reporting.kpis import Scope
from reporting.models import Export, ExportFormat, ExportStatus
from tests.conftest import World
from tests.opportunities.factories import OpportunityFactory
from tests.reporting.conftest import AS_OF, Dataset

pytestmark = pytest.mark.django_db

EVIL = ['=HYPERLINK("http://evil.test","x")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tTab",
        "\rCR"]  # fmt: skip


@pytest.fixture(autouse=True)
def media(settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def _export(user, file_format: str = ExportFormat.XLSX, **scope) -> Export:
    # In these tests the on-commit task never runs (the test transaction is rolled back): the
    # service is called directly with a fixed report date, for known answers.
    export = services.export_request(acting_user=user, file_format=file_format, **scope)
    return services.export_generate(export=export, as_of=AS_OF)


def _sheet_with_totals(path: Path, title: str) -> list[tuple]:
    book = load_workbook(path, read_only=True)
    return [tuple(r) for r in book[title].iter_rows(values_only=True)]


def _sheet(path: Path, title: str) -> list[tuple]:
    """The header and the data rows (a section's totals row, if any, left off)."""
    rows = _sheet_with_totals(path, title)
    return rows[:-1] if len(rows) > 1 and rows[-1][0] == "Total" else rows


def _csv_tables(path: Path) -> dict[str, list[list[str]]]:
    """The zip's CSV files by name, each parsed with the separator it was written with."""
    tables = {}
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            text = archive.read(name).decode("utf-8-sig")
            delimiter = ";" if text.split("\n", 1)[0].count(";") else ","
            tables[name] = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    return tables


def _d(value: object) -> D | None:
    return None if value is None else D(str(value)).quantize(D("0.01"))


def test_escape_cell_prefixes_formula_starters_only() -> None:
    for value in EVIL:
        assert escape_cell(value) == "'" + value
    assert escape_cell("Svea Pumps AB") == "Svea Pumps AB"
    assert escape_cell(-5) == -5  # numbers stay numbers
    assert escape_cell(None) is None


def test_xlsx_round_trips_against_the_selectors(dataset: Dataset, media: Path) -> None:
    w = dataset.world
    export = _export(w.director)
    assert (export.status, export.progress) == (ExportStatus.DONE, 100)
    assert export.file_path == f"exports/{w.org.pk}/{export.uuid}.xlsx"
    assert export.expires_at - export.finished_at == dt.timedelta(days=7)
    path = media / export.file_path
    book = load_workbook(path, read_only=True)
    assert book.sheetnames == [
        "Pipeline", "Forecast", "Won FY2026", "Targets", "Overlay credit", "Sales and marketing",
        "Data quality", "Opportunities", "Coaching",
    ]  # fmt: skip
    coaching = _sheet(path, "Coaching")
    # The dataset has no coaching: every company's row and the total say 0 sessions.
    assert list(coaching[0][:4]) == ["For", "Name", "Reps", "Sessions"]
    assert coaching[-1][0] == "All companies" and coaching[-1][3] == 0

    pipeline = _sheet(path, "Pipeline")
    assert pipeline[0][0] == "Global stage"
    expected = kpis.pipeline_by_stage(user=w.director, as_of=AS_OF)
    assert [(r[0], r[3], _d(r[4]), _d(r[5])) for r in pipeline[1:]] == [
        (s.stage, s.count, s.amount, s.weighted) for s in expected
    ]
    forecast = _sheet(path, "Forecast")
    assert [(r[0], _d(r[2]), _d(r[3]), _d(r[6])) for r in forecast[1:]] == [
        ("Q2 FY2026", D("14750.00"), D("50750.00"), D("45000.00")),
        ("Q3 FY2026", D("0.00"), D("0.00"), D("25000.00")),
    ]
    won = {r[0]: (r[1], r[2], _d(r[4])) for r in _sheet(path, "Won FY2026")[1:]}
    assert won[w.de.name] == (1, 0, D("10000.00"))
    assert won[w.se.name] == (1, 1, D("8000.00"))
    targets = {(r[0], r[2]): (_d(r[3]), _d(r[4])) for r in _sheet(path, "Targets")[1:]}
    assert targets[("Q2 FY2026", w.dk.name)] == (D("10000.00"), D("9950.00"))
    assert targets[("Q2 FY2026", w.rep_se.full_name)] == (D("8000.00"), D("4800.00"))
    quality = _sheet(path, "Data quality")
    assert {(r[0], r[1]) for r in quality[1:]} == {
        ("Opportunity", dataset.opps["o6"].pk),
        ("Opportunity", dataset.opps["o7"].pk),
        ("Opportunity", dataset.opps["o8"].pk),
        ("Account", dataset.accounts["dk"].pk),
        ("Account", dataset.accounts["de"].pk),
    }
    opps = _sheet(path, "Opportunities")
    assert opps[0][9] == "Amount (EUR)"
    by_id = {r[0]: r for r in opps[1:]}
    assert set(by_id) == {o.pk for o in dataset.opps.values()}
    # o1 closed on 04-11: 100,000 SEK at 0.08; o6 open: 40,000 DKK at the report date's 0.135.
    assert _d(by_id[dataset.opps["o1"].pk][9]) == D("8000.00")
    assert _d(by_id[dataset.opps["o6"].pk][9]) == D("5400.00")
    assert by_id[dataset.opps["o7"].pk][7] is None
    assert export.row_count == sum(
        len(_sheet(path, t)) - 1 for t in load_workbook(path, read_only=True).sheetnames
    )


def test_csv_round_trips(dataset: Dataset, media: Path) -> None:
    w = dataset.world
    w.manager_se.language = "en"
    w.manager_se.save(update_fields=["language"])
    export = _export(w.manager_se, ExportFormat.CSV, sales_company=w.se)
    assert export.status == ExportStatus.DONE
    # Issue 18: one table per file, in a zip.
    assert export.file_path == f"exports/{w.org.pk}/{export.uuid}.zip"
    tables = _csv_tables(media / export.file_path)
    assert list(tables) == [
        "01-pipeline.csv", "02-forecast.csv", "03-won-fy2026.csv", "04-targets.csv",
        "05-overlay-credit.csv", "06-sales-and-marketing.csv", "07-data-quality.csv",
        "08-opportunities.csv", "09-coaching.csv",
    ]  # fmt: skip
    pipeline = tables["01-pipeline.csv"]
    assert pipeline[0][0] == "Global stage"
    # The SE manager's report: SE only (o5 16,000 in Negotiate; o1, o4, o5 in the list), and
    # the totals row.
    assert pipeline[1:] == [
        ["Negotiate", "Commit", "75", "1", "16000.00", "12000.00"],
        ["Total", "", "", "1", "16000.00", "12000.00"],
    ]
    opportunities = tables["08-opportunities.csv"]
    listed = {int(r[0]) for r in opportunities[1:-1]}
    assert listed == {dataset.opps[k].pk for k in ("o1", "o4", "o5")}
    assert opportunities[-1][0] == "Total"


@pytest.mark.parametrize("language", ["de", "da", "sv"])
def test_csv_uses_semicolons_and_decimal_commas_where_the_language_does(
    dataset: Dataset, media: Path, language: str
) -> None:
    w = dataset.world
    w.manager_se.language = language
    w.manager_se.save(update_fields=["language"])
    export = _export(w.manager_se, ExportFormat.CSV, sales_company=w.se)
    with zipfile.ZipFile(media / export.file_path) as archive:
        first = archive.namelist()[0]
        text = archive.read(first).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert len(rows[0]) == 6 and len(rows[1]) == 6
    assert rows[1][3:] == ["1", "16000,00", "12000,00"]


def test_xlsx_has_number_formats_an_autofilter_and_a_totals_row(
    dataset: Dataset, media: Path
) -> None:
    w = dataset.world
    export = _export(w.director)
    book = load_workbook(media / export.file_path)  # not read-only: styles and the filter
    pipeline = book["Pipeline"]
    last = pipeline.max_row
    assert pipeline.auto_filter.ref == f"A1:F{last - 1}"
    assert pipeline.cell(2, 5).number_format == "#,##0.00"  # money: two decimals
    assert pipeline.cell(2, 3).number_format == "0.0%"  # probability as a percent
    stages = kpis.pipeline_by_stage(user=w.director, as_of=AS_OF)
    assert D(str(pipeline.cell(2, 3).value)) == D(stages[0].probability) / 100
    total = [c.value for c in pipeline[last]]
    assert total[0] == "Total" and total[1] is None and total[2] is None
    assert total[3] == sum(s.count for s in stages)
    assert _d(total[4]) == sum(s.amount for s in stages)
    assert pipeline.cell(last, 1).font.b
    opportunities = book["Opportunities"]
    assert opportunities.cell(2, 11).number_format == "yyyy-mm-dd"
    # Amounts in several currencies have no total; the corporate amount has.
    totals = [c.value for c in opportunities[opportunities.max_row]]
    assert totals[7] is None and totals[9] is not None
    # Targets mix quarters and years: no totals row.
    assert book["Targets"].cell(book["Targets"].max_row, 1).value != "Total"


def _german(text: str) -> str:
    with translation.override("de"):
        return gettext(text)


def test_xlsx_headers_and_titles_are_in_the_requesters_language(
    dataset: Dataset, media: Path
) -> None:
    w = dataset.world
    w.director.language = "de"
    w.director.save(update_fields=["language"])
    export = _export(w.director)
    book = load_workbook(media / export.file_path, read_only=True)
    assert book.sheetnames[0] == _german("Pipeline")
    header = next(book[book.sheetnames[0]].iter_rows(values_only=True))
    assert header[0] == _german("Global stage") and header[4] == _german("Amount")
    # The catalogue already has these two (so the test proves the switch, not a fallback).
    assert _german("Amount") != "Amount"


def test_the_download_has_a_descriptive_name(client, dataset: Dataset, media: Path) -> None:
    w = dataset.world
    export = _export(w.regional, ExportFormat.CSV, region=w.nordics)
    client.force_login(w.regional)
    response = client.get(reverse("reporting:export_download", args=[export.uuid]))
    assert response.status_code == 200
    made = timezone.localdate(export.created_at).isoformat()
    assert response["Content-Disposition"] == (
        f'attachment; filename="report-nordics-fy2026-{made}.zip"'
    )


def test_cells_starting_with_formula_characters_are_escaped(dataset: Dataset, media: Path) -> None:
    w = dataset.world
    for value in EVIL:
        OpportunityFactory(
            account=dataset.accounts["de"], owner=w.rep_de, name=value, next_step=value,
            currency="EUR",
        )  # fmt: skip
    xlsx = _export(w.director)
    names = {r[1] for r in _sheet(media / xlsx.file_path, "Opportunities")[1:]}
    steps = {r[11] for r in _sheet(media / xlsx.file_path, "Opportunities")[1:]}
    for value in EVIL:
        # XML stores a lone CR as a line break: the escaping quote is what matters.
        escaped = ("'" + value).replace("\r", "\n")
        assert escaped in names and escaped in steps
        assert value.replace("\r", "\n") not in names
    csv_export = _export(w.director, ExportFormat.CSV)
    tables = _csv_tables(media / csv_export.file_path)
    cells = {c for rows in tables.values() for row in rows for c in row}
    for value in EVIL:
        assert "'" + value in cells
        assert value not in cells
    with zipfile.ZipFile(media / csv_export.file_path) as archive:
        text = "".join(archive.read(n).decode("utf-8-sig") for n in archive.namelist())
    assert "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text


def test_only_the_requester_downloads(client, dataset: Dataset) -> None:
    w = dataset.world
    export = _export(w.manager_se, sales_company=w.se)
    url = reverse("reporting:export_download", args=[export.uuid])
    client.force_login(w.manager_se)
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert b"".join(response.streaming_content)[:2] == b"PK"  # a zip: the XLSX
    # Everyone else, the same organization's director included, gets 404 on every page of it.
    for other in (w.director, w.admin, w.regional, w.rep_se, w.stranger):
        client.force_login(other)
        for name in ("export_download", "export_status", "export_detail"):
            assert client.get(reverse(f"reporting:{name}", args=[export.uuid])).status_code == 404


def test_an_expired_export_is_404_and_its_file_is_purged(client, dataset: Dataset, media) -> None:
    w = dataset.world
    export = _export(w.director)
    Export.objects.for_org(w.org).filter(pk=export.pk).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    client.force_login(w.director)
    url = reverse("reporting:export_download", args=[export.uuid])
    assert client.get(url).status_code == 404
    assert (media / export.file_path).exists()
    assert services.exports_purge_expired() == 1
    assert not (media / export.file_path).exists()
    assert services.exports_purge_expired() == 0


def test_generating_a_done_export_again_does_nothing(dataset: Dataset, media: Path) -> None:
    w = dataset.world
    export = _export(w.director)
    (media / export.file_path).unlink()
    again = services.export_generate(export=export, as_of=AS_OF)
    assert (again.status, again.finished_at) == (ExportStatus.DONE, export.finished_at)
    assert not (media / export.file_path).exists()  # not rewritten


def test_a_missing_rate_fails_the_export_with_its_name(dataset: Dataset) -> None:
    w = dataset.world
    OpportunityFactory(account=dataset.accounts["se"], owner=w.rep_se, currency="NOK")
    export = _export(w.director)
    assert export.status == ExportStatus.FAILED
    assert "NOK" in export.error and "2026-05-15" in export.error
    assert export.file_path == ""


def test_who_may_request_which_report(dataset: Dataset) -> None:
    w = dataset.world
    for user, scope in [
        (w.rep_se, {"sales_company": w.se}),
        (w.marketing, {}),
        (w.manager_se, {"sales_company": w.dk}),
        (w.manager_se, {}),
        (w.regional, {"region": w.dach}),
        (w.regional, {"sales_company": w.de}),
    ]:
        with pytest.raises(PermissionDenied):
            services.export_request(acting_user=user, file_format="xlsx", **scope)
    with pytest.raises(Http404):  # another organization's company does not exist for them
        services.export_request(acting_user=w.stranger, file_format="xlsx", sales_company=w.se)
    for user, scope in [
        (w.manager_se, {"sales_company": w.se}),
        (w.regional, {"region": w.nordics}),
        (w.regional, {"sales_company": w.dk}),
        (w.director, {}),
        (w.director, {"region": w.dach}),
    ]:
        assert services.export_request(acting_user=user, file_format="csv", **scope).pk


def test_the_regional_report_holds_only_the_region(dataset: Dataset, media: Path) -> None:
    w = dataset.world
    export = _export(w.regional, region=w.nordics)
    listed = {r[0] for r in _sheet(media / export.file_path, "Opportunities")[1:]}
    assert listed == {dataset.opps[k].pk for k in ("o1", "o2", "o4", "o5", "o6")}
    stages = kpis.pipeline_by_stage(
        user=w.regional, scope=Scope(region_id=w.nordics.pk), as_of=AS_OF
    )
    assert len(_sheet(media / export.file_path, "Pipeline")) - 1 == len(stages)


def test_export_page_queues_then_polls_then_offers_the_download(
    client, dataset: Dataset, django_capture_on_commit_callbacks
) -> None:
    w = dataset.world
    client.force_login(w.manager_se)
    page = client.get(reverse("reporting:exports"))
    assert page.status_code == 200
    assert f'value="company:{w.se.pk}"' in page.content.decode()
    assert f'value="company:{w.dk.pk}"' not in page.content.decode()
    # Queued, not yet run: the status fragment polls every 2 seconds.
    response = client.post(
        reverse("reporting:exports"), {"scope": f"company:{w.se.pk}", "format": "csv"}
    )
    export = Export.objects.for_org(w.org).get(requested_by=w.manager_se)
    assert response.status_code == 302 and str(export.uuid) in response["Location"]
    status_url = reverse("reporting:export_status", args=[export.uuid])
    fragment = client.get(status_url).content.decode()
    assert f'hx-get="{status_url}"' in fragment and 'hx-trigger="every 2s"' in fragment
    # The task, as the worker would run it (eager here): done, no more polling, a link.
    services.export_generate(export=export)
    fragment = client.get(status_url).content.decode()
    assert "hx-trigger" not in fragment
    assert reverse("reporting:export_download", args=[export.uuid]) in fragment
    # Through the page with on-commit callbacks executed, the eager task runs by itself.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("reporting:exports"), {"scope": f"company:{w.se.pk}", "format": "xlsx"})
    latest = Export.objects.for_org(w.org).filter(format="xlsx").get()
    assert latest.status == ExportStatus.DONE
    # Another company's scope is refused (404: not in the user's scope).
    refused = client.post(
        reverse("reporting:exports"), {"scope": f"company:{w.dk.pk}", "format": "csv"}
    )
    assert refused.status_code == 404


def test_reps_cannot_open_the_export_page(client, world: World) -> None:
    client.force_login(world.rep_se)
    assert client.get(reverse("reporting:exports")).status_code == 403


def test_opportunity_rows_stream_from_an_iterator(dataset: Dataset, monkeypatch) -> None:
    # Memory stays flat: the list is read with .iterator(chunk_size=...), never as a list.
    from django.db.models.query import QuerySet

    from reporting import exports

    seen: list[int] = []
    original = QuerySet.iterator

    def spy(self, chunk_size=None):
        seen.append(chunk_size)
        return original(self, chunk_size=chunk_size)

    monkeypatch.setattr(QuerySet, "iterator", spy)
    rows = exports.opportunity_rows(dataset.world.director, Scope(), AS_OF)
    assert len(list(rows)) == Opportunity.objects.for_org(dataset.world.org).count()
    assert seen == [exports.CHUNK_SIZE]


def test_export_times_are_shown_in_the_readers_time_zone_and_say_which(
    client, dataset: Dataset
) -> None:
    from crm.models import User

    w = dataset.world
    export = _export(w.manager_se, sales_company=w.se)
    User.objects.for_org(w.org).filter(pk=w.manager_se.pk).update(
        timezone="America/New_York", language="de"
    )
    client.force_login(w.manager_se)
    html = client.get(reverse("reporting:export_detail", args=[export.uuid])).content.decode()
    local = export.created_at.astimezone(ZoneInfo("America/New_York"))
    assert "(America/New_York)" in html and "(UTC)" not in html
    # New York is never at UTC's hour: the time shown is the reader's own, in her format.
    assert local.strftime("%d.%m.%Y %H:%M") in html
