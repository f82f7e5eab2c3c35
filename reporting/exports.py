"""The regional report as a file: sections of rows, written as XLSX (one sheet per section) or
CSV (sections one after the other).

Rows are generators over ``.iterator(chunk_size=...)`` querysets and the XLSX writer is
openpyxl's write-only mode, so memory stays flat whatever the number of opportunities: at no
point is a whole section held in Python.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from crm.models import User
from crm.money import MissingExchangeRateError, money, with_corporate_amount
from crm.spreadsheet import escape_cell
from crm.visibility import visible_companies
from reporting import kpis
from reporting.kpis import Scope
from reporting.models import ExportFormat
from reporting.periods import fiscal_quarter, fiscal_year

CHUNK_SIZE = 2000

Row = list[Any]


@dataclass
class Section:
    title: str
    header: list[str]
    rows: Iterable[Row]
    widths: list[int] | None = None


# --- Sections ------------------------------------------------------------------------------


def _pipeline(user: User, scope: Scope, as_of: dt.date) -> Section:
    rows = kpis.pipeline_by_stage(user=user, scope=scope, as_of=as_of)
    return Section(
        "Pipeline",
        [
            "Global stage",
            "Forecast category",
            "Probability %",
            "Opportunities",
            "Amount",
            "Weighted amount",
        ],
        [
            [r.stage, r.forecast_category, r.probability, r.count, r.amount, r.weighted]
            for r in rows
        ],
        [24, 18, 14, 14, 16, 18],
    )


def _forecast(user: User, scope: Scope, as_of: dt.date) -> Section:
    rows = kpis.forecast(user=user, scope=scope, as_of=as_of)
    return Section(
        "Forecast",
        [
            "Quarter",
            "Starts",
            "Won",
            "Commit",
            "Best case",
            "Pipeline",
            "Revenue target",
            "Attainment %",
        ],
        [
            [
                q.period.label,
                q.period.start,
                q.won,
                q.commit,
                q.best_case,
                q.pipeline,
                q.target,
                q.attainment,
            ]
            for q in rows
        ],
        [18, 12, 16, 16, 16, 16, 16, 14],
    )


def _won(user: User, scope: Scope, as_of: dt.date) -> Section:
    year = fiscal_year(user.organization, as_of)
    stats = kpis.win_stats_by(user=user, scope=scope, period=year, group="company")
    names = dict(visible_companies(user).values_list("id", "name"))
    return Section(
        f"Won {year.label}",
        [
            "Sales company",
            "Won",
            "Lost",
            "Win rate %",
            "Won amount",
            "Average deal",
            "Sales cycle (days)",
        ],
        [
            [names.get(k, k), s.won, s.lost, s.win_rate, s.won_amount, s.average_deal, s.cycle_days]
            for k, s in sorted(stats.items(), key=lambda kv: str(names.get(kv[0], "")))
        ],
        [30, 10, 10, 12, 16, 16, 18],
    )


def _targets(user: User, scope: Scope, as_of: dt.date) -> Section:
    org = user.organization
    rows: list[Row] = []
    for period in (fiscal_quarter(org, as_of), fiscal_year(org, as_of)):
        for r in kpis.target_attainment(user=user, scope=scope, period=period):
            rows.append([period.label, r.party, r.name, r.target, r.actual, r.attainment])
    return Section(
        "Targets",
        ["Period", "For", "Name", "Revenue target", "Credited won", "Attainment %"],
        rows,
        [18, 10, 30, 16, 16, 14],
    )


def _data_quality(user: User, scope: Scope, as_of: dt.date) -> Section:
    def rows() -> Iterator[Row]:
        opps = kpis.data_quality_opportunities(user, scope, as_of)
        issues = list(kpis.OPPORTUNITY_ISSUES)
        for r in (
            opps.filter(has_issue=True)
            .values("id", "name", "sales_company__code", "owner__full_name", *issues)
            .order_by("id")
            .iterator(chunk_size=CHUNK_SIZE)
        ):
            yield [
                "opportunity",
                r["id"],
                r["name"],
                r["sales_company__code"],
                r["owner__full_name"],
                ", ".join(kpis.issue_labels(r)),
            ]
        accs = kpis.data_quality_accounts(user, scope)
        acc_issues = list(kpis.ACCOUNT_ISSUES)
        for r in (
            accs.filter(has_issue=True)
            .values("id", "name", "home_company__code", *acc_issues)
            .order_by("id")
            .iterator(chunk_size=CHUNK_SIZE)
        ):
            yield [
                "account",
                r["id"],
                r["name"],
                r["home_company__code"],
                "",
                ", ".join(kpis.issue_labels(r)),
            ]

    return Section(
        "Data quality",
        ["Record", "ID", "Name", "Company", "Owner", "To fix"],
        rows(),
        [12, 10, 40, 10, 24, 50],
    )


OPPORTUNITY_COLUMNS = [
    "ID",
    "Name",
    "Account",
    "Company",
    "Owner",
    "Global stage",
    "Forecast category",
    "Amount",
    "Currency",
    "Amount ({cc})",
    "Expected close",
    "Next step",
    "Created",
    "Closed",
]


def opportunity_rows(user: User, scope: Scope, as_of: dt.date) -> Iterator[Row]:
    """Every opportunity in scope the user may see, with its amount in the corporate currency
    (at the close date's rate once closed, else at ``as_of``), streamed in chunks."""
    org = user.organization
    qs = with_corporate_amount(
        kpis.visible_opportunities(user, scope), org, rate_date=kpis.rate_date_expression(as_of)
    )
    fields = (
        "id", "name", "account__name", "sales_company__code", "owner__full_name",
        "global_stage__name", "global_stage__forecast_category", "amount", "currency",
        "corporate_amount", "expected_close_date", "next_step", "created_at", "closed_at",
        "rate", "rate_date",
    )  # fmt: skip
    for r in qs.values_list(*fields).order_by("id").iterator(chunk_size=CHUNK_SIZE):
        if r[7] is not None and r[14] is None:
            raise MissingExchangeRateError(currency=r[8], on_date=r[15], organization=org)
        corporate = money(r[9]) if r[9] is not None else None
        yield [*r[:9], corporate, r[10], r[11], _date(r[12]), _date(r[13])]


def _date(value: dt.datetime | None) -> dt.date | None:
    # Spreadsheets have no time zones; the day (UTC) is what a report reader needs.
    return value.astimezone(dt.UTC).date() if value else None


def _opportunities(user: User, scope: Scope, as_of: dt.date) -> Section:
    cc = user.organization.corporate_currency
    return Section(
        "Opportunities",
        [c.format(cc=cc) for c in OPPORTUNITY_COLUMNS],
        opportunity_rows(user, scope, as_of),
        [10, 40, 30, 10, 24, 16, 16, 16, 10, 16, 14, 30, 12, 12],
    )


SECTIONS: list[Callable[[User, Scope, dt.date], Section]] = [
    _pipeline,
    _forecast,
    _won,
    _targets,
    _data_quality,
    _opportunities,
]


def report_sections(*, user: User, scope: Scope, as_of: dt.date) -> Iterator[Section]:
    """The sections of the regional report, built one at a time (lazily)."""
    for build in SECTIONS:
        yield build(user, scope, as_of)


def count_streamed_rows(*, user: User, scope: Scope, as_of: dt.date) -> int:
    """How many rows the streamed sections will write, for the progress bar (two counts)."""
    opps = kpis.visible_opportunities(user, scope).count()
    dq = kpis.data_quality_opportunities(user, scope, as_of).filter(has_issue=True).count()
    return opps + dq


# --- Writers -------------------------------------------------------------------------------


class _Writer(Protocol):
    def section(self, section: Section) -> None: ...
    def row(self, values: Row) -> None: ...
    def close(self) -> None: ...


HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="1F5FBF")


class XlsxWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.book = Workbook(write_only=True)
        self.sheet: Any = None

    def section(self, section: Section) -> None:
        # Sheet titles: at most 31 characters, unique.
        self.sheet = self.book.create_sheet(section.title[:31])
        self.sheet.freeze_panes = "A2"
        for i, width in enumerate(section.widths or [], start=1):
            self.sheet.column_dimensions[get_column_letter(i)].width = width
        header = []
        for title in section.header:
            cell = WriteOnlyCell(self.sheet, value=escape_cell(title))
            cell.font = HEADER_FONT
            cell.fill = HEADER_FILL
            cell.alignment = Alignment(vertical="center")
            header.append(cell)
        self.sheet.append(header)

    def row(self, values: Row) -> None:
        self.sheet.append([_xlsx_value(v) for v in values])

    def close(self) -> None:
        self.book.save(self.path)


def _xlsx_value(value: Any) -> Any:
    if isinstance(value, str):
        return escape_cell(value)
    if isinstance(value, Decimal | int | float | dt.date) or value is None:
        return value
    return escape_cell(str(value))


class CsvWriter:
    """Sections one after the other: a title row, a header row, the rows, a blank row."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # utf-8-sig: Excel opens it with the right encoding; other tools ignore the BOM.
        self.file = path.open("w", newline="", encoding="utf-8-sig")
        self.writer = csv.writer(self.file)
        self.first = True

    def section(self, section: Section) -> None:
        if not self.first:
            self.writer.writerow([])
        self.first = False
        self.writer.writerow([escape_cell(section.title)])
        self.writer.writerow([escape_cell(h) for h in section.header])

    def row(self, values: Row) -> None:
        self.writer.writerow(["" if v is None else escape_cell(_csv_value(v)) for v in values])

    def close(self) -> None:
        self.file.close()


def _csv_value(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    return value if isinstance(value, str) else str(value)


def write_report(
    *,
    path: Path,
    file_format: str,
    sections: Iterable[Section],
    on_rows: Callable[[int], None] = lambda n: None,
) -> int:
    """Write the sections to ``path``; calls ``on_rows(total so far)`` every chunk. Returns
    the number of data rows written."""
    writer: _Writer = XlsxWriter(path) if file_format == ExportFormat.XLSX else CsvWriter(path)
    written = 0
    try:
        for section in sections:
            writer.section(section)
            for values in section.rows:
                writer.row(values)
                written += 1
                if written % CHUNK_SIZE == 0:
                    on_rows(written)
    finally:
        writer.close()
    return written
