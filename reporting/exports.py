"""The regional report as a file: sections of rows, written as XLSX (one sheet per section:
number formats, an autofilter, a totals row) or as a zip of CSV files (one table per file,
``;`` and decimal commas where the language writes numbers so), headers in the requester's
language.

Rows are generators over ``.iterator(chunk_size=...)`` querysets and the XLSX writer is
XlsxWriter in constant-memory mode (measured on the 100k bench: 1.8x faster than openpyxl's
write-only mode, half the CPU, README "Exports at disk speed"), so memory stays flat whatever
the number of opportunities: at no point is a whole section held in Python. In the CSV, the
opportunities (the big section) are written by PostgreSQL itself: ``COPY (SELECT ...) TO
STDOUT`` over the same queryset, its cells escaped and formatted in the SELECT exactly as
``CsvFormat.cell`` does (``crm.spreadsheet.sql_*``; tested byte for byte).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import xlsxwriter
from django.db import connection
from django.db.models import QuerySet
from django.utils.text import slugify
from django.utils.translation import gettext as _

from crm.models import User
from crm.money import MissingExchangeRateError, money, with_corporate_amount
from crm.spreadsheet import (
    CsvFormat,
    escape_cell,
    sql_date,
    sql_number,
    sql_round_half_even,
    sql_text,
)
from crm.visibility import visible_companies
from pipeline.models import ForecastCategory
from reporting import kpis, overlay, smarketing
from reporting.coaching import coaching_figures
from reporting.kpis import Scope
from reporting.models import ExportFormat
from reporting.periods import Period, fiscal_quarter, fiscal_year

CHUNK_SIZE = 2000

Row = list[Any]


class Kind(StrEnum):
    """What a column holds, for its number format and whether it has a total."""

    TEXT = "text"
    ID = "id"  # a record id: a plain number, never summed or grouped
    INT = "int"
    MONEY = "money"  # two decimals
    PERCENT = "percent"  # 0..100 in the data; a percent cell in XLSX
    DAYS = "days"  # a duration in days, one decimal
    DATE = "date"


@dataclass(frozen=True)
class Column:
    title: str
    kind: Kind = Kind.TEXT
    width: int = 14
    total: bool = False  # summed in the section's totals row


@dataclass(frozen=True)
class CopySelect:
    """A section's rows as one SELECT that PostgreSQL turns into CSV itself (``COPY (...) TO
    STDOUT``): the ORM's SELECT of the raw values (the same queryset the Python rows read, so
    the same organization scope and visibility), and per CSV column a SQL expression over its
    columns ``c0``, ``c1``, ... that gives the cell ``CsvFormat.cell`` would write."""

    sql: str
    params: tuple[Any, ...]
    width: int  # columns of the SELECT: c0 .. c<width - 1>
    cells: list[tuple[str, list[Any]]]  # (expression, its params) per CSV column
    totals: dict[int, str]  # column index -> the per-row value summed in the totals row
    # A row that cannot be written (e.g. an amount without a rate): its condition, text
    # expressions naming it, and a function making the error from their values.
    failure: tuple[str, list[str], Callable[[list[str]], Exception]] | None = None

    @classmethod
    def of(
        cls,
        qs: QuerySet[Any],
        fields: Sequence[str],
        *,
        cells: list[tuple[str, list[Any]]],
        totals: dict[int, str],
        failure: tuple[str, list[str], Callable[[list[str]], Exception]] | None = None,
    ) -> CopySelect:
        """From a ``values_list(*fields)`` queryset: ``c<i>`` is ``fields[i]``. Its SQL and
        parameters come from the compiler (``sql_with_params``) and are bound by psycopg, never
        pasted into the text."""
        # Django 5.2 selects a values_list's columns in the order of its fields (and names
        # them in query.selected); anything else would shift every c<i>.
        if tuple(qs.query.selected or ()) != tuple(fields):
            raise ValueError("The queryset must select exactly `fields`, in that order.")
        sql, params = qs.query.sql_with_params()
        return cls(sql, tuple(params), len(fields), cells, totals, failure)

    def copy_statement(self, fmt: CsvFormat) -> tuple[str, tuple[Any, ...]]:
        """``COPY (SELECT ...) TO STDOUT`` as CSV with the format's delimiter, rows in the order
        of ``c0`` (the id, as the Python rows). One statement, so one snapshot: each row starts
        with ``prefix_width`` fields that are not cells (``CsvZipWriter.copy_rows`` cuts them
        off): the running sum of each totals column (the last row's is the total) and, if the
        section can fail, the failure's values when the row fails, else nothing."""
        if fmt.delimiter not in (",", ";"):
            raise ValueError(f"Unexpected CSV delimiter {fmt.delimiter!r}")
        running = "OVER (ORDER BY sub.c0 ROWS UNBOUNDED PRECEDING)"
        prefix = [f"coalesce(sum({e}) {running}, 0)::text" for e in self.totals.values()]
        if self.failure is not None:
            condition, names, _raise = self.failure
            # The failure's values joined by a space: numbers, dates, codes (no delimiter).
            prefix.append(f"CASE WHEN {condition} THEN concat_ws(' ', {', '.join(names)}) END")
        select = ", ".join([*prefix, *(expression for expression, _ in self.cells)])
        params = tuple(p for _, cell_params in self.cells for p in cell_params)
        names_ = ", ".join(f"c{i}" for i in range(self.width))
        # The text is code's (the compiler's SQL, the cell expressions, a checked delimiter);
        # every value is a bound parameter.
        statement = (
            f"COPY (SELECT {select} FROM ({self.sql}) AS sub({names_}) "  # noqa: S608
            f"ORDER BY sub.c0) TO STDOUT WITH (FORMAT csv, DELIMITER '{fmt.delimiter}')"
        )
        return statement, params + self.params

    @property
    def prefix_width(self) -> int:
        return len(self.totals) + (self.failure is not None)


@dataclass
class Section:
    title: str
    columns: list[Column]
    rows: Iterable[Row]
    # The CSV writer asks PostgreSQL for these rows when it can (CsvZipWriter.copy_rows).
    copy: Callable[[CsvFormat], CopySelect] | None = None

    @property
    def header(self) -> list[str]:
        return [c.title for c in self.columns]

    @property
    def has_totals(self) -> bool:
        return any(c.total for c in self.columns)


# --- Sections ------------------------------------------------------------------------------
# Built while the file is written, inside the requester's language (services.export_generate),
# so titles and headers are gettext at that moment.


def _pipeline(user: User, scope: Scope, as_of: dt.date) -> Section:
    rows = kpis.pipeline_by_stage(user=user, scope=scope, as_of=as_of)
    labels = dict(ForecastCategory.choices)
    return Section(
        _("Pipeline"),
        [
            Column(_("Global stage"), width=24),
            Column(_("Forecast category"), width=18),
            Column(_("Probability %"), Kind.PERCENT),
            Column(_("Opportunities"), Kind.INT, total=True),
            Column(_("Amount"), Kind.MONEY, 16, total=True),
            Column(_("Weighted amount"), Kind.MONEY, 18, total=True),
        ],
        [
            [
                r.stage,
                str(labels.get(r.forecast_category, r.forecast_category)),
                r.probability,
                r.count,
                r.amount,
                r.weighted,
            ]
            for r in rows
        ],
    )


def _forecast(user: User, scope: Scope, as_of: dt.date) -> Section:
    rows = kpis.forecast(user=user, scope=scope, as_of=as_of)
    return Section(
        _("Forecast"),
        [
            Column(_("Quarter"), width=18),
            Column(_("Starts"), Kind.DATE, 12),
            Column(_("Won"), Kind.MONEY, 16, total=True),
            Column(_("Commit"), Kind.MONEY, 16, total=True),
            Column(_("Best case"), Kind.MONEY, 16, total=True),
            Column(_("Pipeline"), Kind.MONEY, 16, total=True),
            Column(_("Revenue target"), Kind.MONEY, 16, total=True),
            Column(_("Attainment %"), Kind.PERCENT),
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
    )


def _won(user: User, scope: Scope, as_of: dt.date) -> Section:
    year = fiscal_year(user.organization, as_of)
    stats = kpis.win_stats_by(user=user, scope=scope, period=year, group="company")
    names = dict(visible_companies(user).values_list("id", "name"))
    return Section(
        _("Won %(year)s") % {"year": year.label},
        [
            Column(_("Sales company"), width=30),
            Column(_("Won"), Kind.INT, 10, total=True),
            Column(_("Lost"), Kind.INT, 10, total=True),
            Column(_("Win rate %"), Kind.PERCENT, 12),
            Column(_("Won amount"), Kind.MONEY, 16, total=True),
            Column(_("Average deal"), Kind.MONEY, 16),
            Column(_("Sales cycle (days)"), Kind.INT, 18),
        ],
        [
            [names.get(k, k), s.won, s.lost, s.win_rate, s.won_amount, s.average_deal, s.cycle_days]
            for k, s in sorted(stats.items(), key=lambda kv: str(names.get(kv[0], "")))
        ],
    )


Attainment = Callable[[Period], list[kpis.AttainmentRow]]


def attainment_once(user: User, scope: Scope) -> Attainment:
    """``kpis.target_attainment`` per period, read once per report: the targets and the overlay
    sections show the same revenue figures (four aggregates over the won deals per period,
    1.4-1.7 s each at 1M)."""
    read: dict[tuple[str, dt.date], list[kpis.AttainmentRow]] = {}

    def attainment(period: Period) -> list[kpis.AttainmentRow]:
        key = (period.kind, period.start)
        if key not in read:
            read[key] = kpis.target_attainment(user=user, scope=scope, period=period)
        return read[key]

    return attainment


def _targets(
    user: User, scope: Scope, as_of: dt.date, attainment: Attainment | None = None
) -> Section:
    attainment = attainment or attainment_once(user, scope)
    org = user.organization
    rows: list[Row] = []
    parties = {"company": _("Company"), "user": _("Person")}
    for period in (fiscal_quarter(org, as_of), fiscal_year(org, as_of)):
        for r in attainment(period):
            party = str(parties.get(r.party, r.party))
            rows.append([period.label, party, r.name, r.target, r.actual, r.attainment])
    # No totals: quarters and years, companies and the people in them, would add up twice.
    return Section(
        _("Targets"),
        [
            Column(_("Period"), width=18),
            Column(_("For"), width=10),
            Column(_("Name"), width=30),
            Column(_("Revenue target"), Kind.MONEY, 16),
            Column(_("Credited won"), Kind.MONEY, 16),
            Column(_("Attainment %"), Kind.PERCENT),
        ],
        rows,
    )


def _coaching(user: User, scope: Scope, as_of: dt.date) -> Section:
    """Coaching, deal reviews and customer time (reporting.coaching), per company and manager."""
    c = coaching_figures(
        user=user, scope=scope, period=fiscal_quarter(user.organization, as_of), as_of=as_of
    )
    hours = {t.key: t.hours_per_rep_week for t in c.customer_time}
    parties = {"company": _("Company"), "manager": _("Manager"), "total": _("All companies")}
    rows: list[Row] = []
    for r in [*c.companies, *c.managers, c.total]:
        customer_hours = (
            c.customer_time_total.hours_per_rep_week
            if r.party == "total" and c.customer_time_total
            else hours.get(r.key)
            if r.party == "company"
            else None
        )
        rows.append([
            str(parties[r.party]), r.name, r.reps, r.sessions, r.reviews,
            r.sessions_per_rep_month, r.big_deals, r.big_deals_reviewed, r.reviewed_percent,
            r.actions_due, r.actions_on_time, r.on_time_percent, r.actions_overdue,
            r.reviewed_win_rate, r.unreviewed_win_rate, customer_hours,
        ])  # fmt: skip
    # No totals row: the total is a row of its own (managers' rows overlap the companies').
    return Section(
        _("Coaching"),
        [
            Column(_("For"), width=10),
            Column(_("Name"), width=30),
            Column(_("Reps"), Kind.INT),
            Column(_("Sessions"), Kind.INT),
            Column(_("Deal reviews"), Kind.INT),
            Column(_("Sessions per rep and month"), Kind.TEXT),
            Column(_("Big deals"), Kind.INT),
            Column(_("Reviewed before proposal"), Kind.INT),
            Column(_("Reviewed %"), Kind.PERCENT),
            Column(_("Actions due"), Kind.INT),
            Column(_("Done on time"), Kind.INT),
            Column(_("On time %"), Kind.PERCENT),
            Column(_("Overdue"), Kind.INT),
            Column(_("Win rate reviewed %"), Kind.PERCENT),
            Column(_("Win rate not reviewed %"), Kind.PERCENT),
            Column(_("Customer hours per rep and week"), Kind.TEXT, 18),
        ],
        rows,
    )


def _overlay(
    user: User, scope: Scope, as_of: dt.date, attainment: Attainment | None = None
) -> Section:
    """Overlay credit beside revenue attainment, per company and person (reporting.overlay)."""
    attainment = attainment or attainment_once(user, scope)
    org = user.organization
    rows: list[Row] = []
    parties = {"company": _("Company"), "user": _("Person")}
    for period in (fiscal_quarter(org, as_of), fiscal_year(org, as_of)):
        revenue = attainment(period)
        result = overlay.overlay_attainment(user=user, scope=scope, period=period, revenue=revenue)
        for r in result.rows:
            rows.append(
                [
                    period.label, str(parties.get(r.party, r.party)), r.name, r.revenue_target,
                    r.revenue_actual, r.revenue_attainment, r.target, r.actual, r.attainment,
                ]
            )  # fmt: skip
    return Section(
        _("Overlay credit"),
        [
            Column(_("Period"), width=18),
            Column(_("For"), width=10),
            Column(_("Name"), width=30),
            Column(_("Revenue target"), Kind.MONEY, 16),
            Column(_("Credited won"), Kind.MONEY, 16),
            Column(_("Revenue attainment %"), Kind.PERCENT),
            Column(_("Overlay target"), Kind.MONEY, 16),
            Column(_("Overlay credit"), Kind.MONEY, 16),
            Column(_("Overlay attainment %"), Kind.PERCENT),
        ],
        rows,
    )


def _smarketing(user: User, scope: Scope, as_of: dt.date) -> Section:
    """The smarketing KPIs of the quarter per company and campaign (reporting.smarketing)."""
    period = fiscal_quarter(user.organization, as_of)
    s = smarketing.smarketing(user=user, scope=scope, period=period, as_of=as_of)
    company, campaign, total = _("Sales company"), _("Campaign"), _("Total")
    funnels = [
        (total, s.total),
        *[(company, f) for f in s.by_company],
        *[(campaign, f) for f in s.by_campaign],
    ]
    events: dict[int | None, smarketing.EventsRow] = {
        r.key: r for r in s.events if r.party == "company"
    }
    rows: list[Row] = []
    for what, f in funnels:
        ev = events.get(f.key) if what == company else None
        attended: int | None = None
        target: Decimal | None = None
        if what == total:
            attended, target = s.events_attended, s.events_target
        elif ev is not None:
            attended, target = ev.attended, ev.target
        rows.append(
            [
                period.label, what, f.name or str(total), f.created, f.qualified, f.converted,
                f.conversion_rate, f.qualified_in_period, f.new_customer_target,
                f.hand_over_median_days, f.hand_over_avg_days, f.conversion_median_days,
                f.conversion_avg_days, f.sourced_open_count, f.sourced_pipeline,
                f.sourced_won_count, f.sourced_won, attended, target,
            ]
        )  # fmt: skip
    return Section(
        _("Sales and marketing"),
        [
            Column(_("Period"), width=18),
            Column(_("For"), width=14),
            Column(_("Name"), width=30),
            Column(_("Leads created"), Kind.INT),
            Column(_("Qualified"), Kind.INT),
            Column(_("Converted"), Kind.INT),
            Column(_("Conversion %"), Kind.PERCENT),
            Column(_("Qualified leads (period)"), Kind.INT),
            Column(_("New-customer target"), Kind.INT),
            Column(_("Days to hand-over (median)"), Kind.DAYS),
            Column(_("Days to hand-over (average)"), Kind.DAYS),
            Column(_("Days to conversion (median)"), Kind.DAYS),
            Column(_("Days to conversion (average)"), Kind.DAYS),
            Column(_("Sourced open deals"), Kind.INT),
            Column(_("Sourced pipeline"), Kind.MONEY, 16),
            Column(_("Sourced won deals"), Kind.INT),
            Column(_("Sourced won"), Kind.MONEY, 16),
            Column(_("Events attended"), Kind.INT),
            Column(_("Events target"), Kind.INT),
        ],
        rows,
    )


def _data_quality(user: User, scope: Scope, as_of: dt.date) -> Section:
    def rows() -> Iterator[Row]:
        opportunity, account = _("Opportunity"), _("Account")
        opps = kpis.data_quality_opportunities(user, scope, as_of)
        issues = list(kpis.OPPORTUNITY_ISSUES)
        for r in (
            opps.filter(has_issue=True)
            .values("id", "name", "sales_company__code", "owner__full_name", *issues)
            .order_by("id")
            .iterator(chunk_size=CHUNK_SIZE)
        ):
            yield [
                opportunity,
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
                account,
                r["id"],
                r["name"],
                r["home_company__code"],
                "",
                ", ".join(kpis.issue_labels(r)),
            ]

    return Section(
        _("Data quality"),
        [
            Column(_("Record"), width=12),
            Column(_("ID"), Kind.ID, 10),
            Column(_("Name"), width=40),
            Column(_("Company"), width=10),
            Column(_("Owner"), width=24),
            Column(_("To fix"), width=50),
        ],
        rows(),
    )


def opportunity_columns(corporate_currency: str) -> list[Column]:
    return [
        Column(_("ID"), Kind.ID, 10),
        Column(_("Name"), width=40),
        Column(_("Account"), width=30),
        Column(_("Company"), width=10),
        Column(_("Owner"), width=24),
        Column(_("Global stage"), width=16),
        Column(_("Forecast category"), width=16),
        # In the deal's own currency: amounts of several currencies have no sum.
        Column(_("Amount"), Kind.MONEY, 16),
        Column(_("Currency"), width=10),
        Column(_("Amount (%(cc)s)") % {"cc": corporate_currency}, Kind.MONEY, 16, total=True),
        Column(_("Expected close"), Kind.DATE, 14),
        Column(_("Next step"), width=30),
        Column(_("Created"), Kind.DATE, 12),
        Column(_("Closed"), Kind.DATE, 12),
    ]


OPPORTUNITY_FIELDS = (
    "id", "name", "account__name", "sales_company__code", "owner__full_name",
    "global_stage__name", "global_stage__forecast_category", "amount", "currency",
    "corporate_amount", "expected_close_date", "next_step", "created_at", "closed_at",
    "rate_date",
)  # fmt: skip
# Not the ``rate`` itself: an amount without a rate is an amount whose corporate amount is NULL,
# and selecting the rate beside the corporate amount made PostgreSQL look it up twice per row
# (two correlated subqueries: ~9 s of the 1M-row CSV).


def _opportunity_values(user: User, scope: Scope, as_of: dt.date) -> QuerySet[Any]:
    """The opportunities in scope the user may see, as ``OPPORTUNITY_FIELDS`` tuples by id,
    with the amount in the corporate currency (at the close date's rate once closed, else at
    ``as_of``). The one queryset of the section: the Python rows and the COPY read it."""
    qs = with_corporate_amount(
        kpis.visible_opportunities(user, scope),
        user.organization,
        rate_date=kpis.rate_date_expression(as_of),
    )
    return qs.values_list(*OPPORTUNITY_FIELDS).order_by("id")


def opportunity_rows(user: User, scope: Scope, as_of: dt.date) -> Iterator[Row]:
    """Every opportunity in scope the user may see, streamed in chunks."""
    org = user.organization
    # Translated once: a lazy label's str() is a gettext look-up, 4 % of a big XLSX per row.
    labels = {value: str(label) for value, label in ForecastCategory.choices}
    for r in _opportunity_values(user, scope, as_of).iterator(chunk_size=CHUNK_SIZE):
        if r[7] is not None and r[9] is None:
            raise MissingExchangeRateError(currency=r[8], on_date=r[14], organization=org)
        corporate = money(r[9]) if r[9] is not None else None
        category = labels.get(r[6], r[6])
        yield [*r[:6], category, r[7], r[8], corporate, r[10], r[11], _date(r[12]), _date(r[13])]


def opportunity_copy(user: User, scope: Scope, as_of: dt.date) -> Callable[[CsvFormat], CopySelect]:
    """``opportunity_rows`` as cells PostgreSQL writes (the same queryset, the same cells)."""
    org = user.organization

    def build(fmt: CsvFormat) -> CopySelect:
        # The labels are escaped here as cell() escapes them; an unknown value in SQL.
        labels = [(value, escape_cell(str(label))) for value, label in ForecastCategory.choices]
        whens = " ".join("WHEN %s THEN %s" for _ in labels)
        category = f"NULLIF(CASE c6 {whens} ELSE {sql_text('c6')} END, '')"
        corporate = sql_round_half_even("c9")
        cells: list[tuple[str, list[Any]]] = [
            (sql_number("c0", fmt), []),
            *[(sql_text(f"c{i}"), []) for i in range(1, 6)],
            (category, [v for pair in labels for v in pair]),
            (sql_number("c7", fmt, places=2), []),
            (sql_text("c8"), []),
            (sql_number(corporate, fmt, places=2), []),
            (sql_date("c10"), []),
            (sql_text("c11"), []),
            (sql_date("c12", utc_day=True), []),
            (sql_date("c13", utc_day=True), []),
        ]

        def missing(values: list[str]) -> Exception:
            currency, day = values
            return MissingExchangeRateError(
                currency=currency, on_date=dt.date.fromisoformat(day), organization=org
            )

        return CopySelect.of(
            _opportunity_values(user, scope, as_of),
            OPPORTUNITY_FIELDS,
            cells=cells,
            totals={9: corporate},
            failure=("c7 IS NOT NULL AND c9 IS NULL", ["c8", sql_date("c14")], missing),
        )

    return build


def _date(value: dt.datetime | None) -> dt.date | None:
    # Spreadsheets have no time zones; the day (UTC) is what a report reader needs.
    return value.astimezone(dt.UTC).date() if value else None


def _opportunities(user: User, scope: Scope, as_of: dt.date) -> Section:
    cc = user.organization.corporate_currency
    return Section(
        _("Opportunities"),
        opportunity_columns(cc),
        opportunity_rows(user, scope, as_of),
        copy=opportunity_copy(user, scope, as_of),
    )


SECTIONS: list[Callable[[User, Scope, dt.date], Section]] = [
    _pipeline,
    _forecast,
    _won,
    _targets,
    _overlay,
    _smarketing,
    _data_quality,
    _opportunities,
    _coaching,
]


def report_sections(*, user: User, scope: Scope, as_of: dt.date) -> Iterator[Section]:
    """The sections of the regional report, built one at a time (lazily)."""
    attainment = attainment_once(user, scope)
    for build in SECTIONS:
        if build in (_targets, _overlay):
            yield build(user, scope, as_of, attainment)
        else:
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
    def end_section(self) -> None: ...
    def close(self) -> None: ...


class _Totals:
    """Running sums of a section's total columns: nothing is kept but one number per column."""

    def __init__(self, section: Section) -> None:
        self.columns = [i for i, c in enumerate(section.columns) if c.total]
        self.sums: dict[int, Decimal] = dict.fromkeys(self.columns, Decimal(0))
        self.width = len(section.columns)

    def add(self, values: Row) -> None:
        for i in self.columns:
            value = values[i]
            if value is not None:
                self.sums[i] += Decimal(value)

    def row(self) -> Row:
        out: Row = [None] * self.width
        out[0] = _("Total")
        for i, value in self.sums.items():
            out[i] = value
        return out


NUMBER_FORMATS = {
    Kind.INT: "#,##0",
    Kind.ID: "0",
    Kind.MONEY: "#,##0.00",
    Kind.DAYS: "0.0",
    Kind.PERCENT: "0.0%",
    Kind.DATE: "yyyy-mm-dd",
}


class XlsxStreamWriter:
    """XlsxWriter in constant-memory mode: each row is written to the sheet's temporary file
    when the next one starts, so memory stays flat. Formats (number formats, the header's
    style, the totals row's bold) are made once per section and column, and each column has
    its cell writer chosen once, so a row costs one typed ``write_*`` call per cell."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # strings_to_numbers/formulas off: text stays text (it is escaped besides).
        self.book = xlsxwriter.Workbook(
            str(path),
            {"constant_memory": True, "strings_to_numbers": False, "strings_to_formulas": False,
             "strings_to_urls": False, "remove_timezone": True},
        )  # fmt: skip
        self.header_format = self.book.add_format({
            "bold": True, "font_color": "#FFFFFF", "bg_color": "#1F5FBF", "pattern": 1,
            "valign": "vcenter", "text_wrap": True,
        })  # fmt: skip
        self.formats = {
            k: self.book.add_format({"num_format": f}) for k, f in NUMBER_FORMATS.items()
        }
        self.bold = {
            k: self.book.add_format({"num_format": f, "bold": True})
            for k, f in NUMBER_FORMATS.items()
        }
        self.bold_text = self.book.add_format({"bold": True})
        self.date_format = self.formats[Kind.DATE]
        self.sheet: Any = None
        self.section_: Section | None = None
        self.writers: list[Callable[[int, Any], None]] = []
        self.totals: _Totals | None = None
        self.rows = 0

    def section(self, section: Section) -> None:
        # Sheet titles: at most 31 characters, unique.
        self.sheet = self.book.add_worksheet(section.title[:31])
        self.section_ = section
        self.sheet.freeze_panes(1, 0)
        for i, column in enumerate(section.columns):
            self.sheet.set_column(i, i, column.width)
            self.sheet.write_string(0, i, escape_cell(column.title), self.header_format)
        self.writers = [
            self._cell_writer(i, c.kind, self.formats.get(c.kind))
            for i, c in enumerate(section.columns)
        ]
        self.totals = _Totals(section) if section.has_totals else None
        self.rows = 0

    def _cell_writer(self, col: int, kind: Kind, fmt: Any) -> Callable[[int, Any], None]:
        sheet, date_format = self.sheet, self.date_format
        percent = kind == Kind.PERCENT

        def write(row: int, value: Any) -> None:
            if value is None:
                if fmt is not None:  # an empty cell keeps its column's format
                    sheet.write_blank(row, col, None, fmt)
            elif isinstance(value, str):
                sheet.write_string(row, col, _xlsx_text(value), fmt)
            elif isinstance(value, Decimal | int | float) and not isinstance(value, bool):
                number = Decimal(value) / 100 if percent else value
                sheet.write_number(row, col, float(number), fmt)
            elif isinstance(value, dt.date):
                # write_datetime takes dates too; a date needs a date format to show as one.
                sheet.write_datetime(row, col, value, fmt or date_format)
            else:
                sheet.write_string(row, col, _xlsx_text(str(value)), fmt)

        return write

    def row(self, values: Row) -> None:
        if self.totals is not None:
            self.totals.add(values)
        self.rows += 1
        for write, value in zip(self.writers, values, strict=True):
            write(self.rows, value)

    def end_section(self) -> None:
        assert self.section_ is not None
        # The filter covers the header and the rows; the totals row stays below, unfiltered.
        self.sheet.autofilter(0, 0, self.rows, len(self.section_.columns) - 1)
        if self.totals is not None:
            bold = [
                self._cell_writer(i, c.kind, self.bold.get(c.kind, self.bold_text))
                for i, c in enumerate(self.section_.columns)
            ]
            for write, value in zip(bold, self.totals.row(), strict=True):
                write(self.rows + 1, value)

    def close(self) -> None:
        self.book.close()


def _xlsx_text(value: str) -> str:
    """Escaped text; a carriage return as the line break XML makes of it (XlsxWriter would
    write it as ``_x000D_``, which some readers show as such)."""
    text = escape_cell(value)
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


class CsvZipWriter:
    """One CSV file per section (a table per file, as spreadsheets and tools read CSV), in one
    zip, each written straight into its zip entry. ``;``-separated with decimal commas where
    the language writes numbers so (de, da, sv), else ``,`` and points; dates ISO."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED)
        self.format = CsvFormat.for_language()
        self.file: io.TextIOWrapper | None = None
        self.writer: Any = None
        self.count = 0
        self.totals: _Totals | None = None
        self.kinds: list[Kind] = []

    def section(self, section: Section) -> None:
        self.count += 1
        name = f"{self.count:02d}-{slugify(section.title) or 'table'}.csv"
        # utf-8-sig: Excel opens it with the right encoding; other tools ignore the BOM.
        self.file = io.TextIOWrapper(
            self.zip.open(name, "w", force_zip64=True), encoding="utf-8-sig", newline=""
        )
        self.writer = csv.writer(self.file, delimiter=self.format.delimiter)
        self.writer.writerow([escape_cell(h) for h in section.header])
        self.kinds = [c.kind for c in section.columns]
        self.totals = _Totals(section) if section.has_totals else None

    def row(self, values: Row) -> None:
        if self.totals is not None:
            self.totals.add(values)
        self._write(values)

    def _write(self, values: Row) -> None:
        self.writer.writerow(
            [
                self.format.cell(v, places=2 if kind == Kind.MONEY else None)
                for v, kind in zip(values, self.kinds, strict=True)
            ]
        )

    def copy_rows(self, select: CopySelect, written: int, on_rows: Callable[[int], None]) -> int:
        """The section's rows written by PostgreSQL (``COPY ... TO STDOUT``, CSV) straight
        into the zip entry: no Python value per cell. Each row's leading non-cell fields
        (``CopySelect.copy_statement``) give the totals row and stop the file at a row that
        cannot be written (the caller discards the partial file). Returns ``written`` plus
        the rows copied; ``on_rows`` is called once at the end: the connection is busy with
        the COPY until then (no progress update can run on it)."""
        assert self.file is not None
        self.file.flush()  # the header (and the BOM) before the bytes
        out = self.file.buffer
        delimiter = self.format.delimiter.encode()
        skip = select.prefix_width
        has_failure = select.failure is not None
        statement, params = select.copy_statement(self.format)
        batch: list[bytes] = []
        last: list[bytes] = []
        with connection.cursor() as cursor:
            # COPY is on the raw psycopg cursor, which Django's execute wrapper does not see:
            # one statement through it first sets the organization for row-level security.
            cursor.execute("SELECT 1")
            with cursor.cursor.copy(statement, params) as copy:
                # libpq hands over one row per read, ending with \n where csv.writer ends
                # rows with \r\n; the prefix fields are never quoted (numbers, codes).
                for data in copy:
                    fields = bytes(data).split(delimiter, skip)
                    if has_failure and fields[skip - 1]:
                        assert select.failure is not None
                        raise select.failure[2](fields[skip - 1].decode().split(" "))
                    batch.append(fields[skip][:-1])
                    last = fields
                    if len(batch) == CHUNK_SIZE:
                        out.write(b"\r\n".join(batch) + b"\r\n")
                        batch.clear()
                    written += 1
                if batch:
                    out.write(b"\r\n".join(batch) + b"\r\n")
        if self.totals is not None and last:
            for i, value in zip(select.totals, last, strict=False):
                self.totals.sums[i] = Decimal(value.decode())
        on_rows(written)
        return written

    def end_section(self) -> None:
        if self.totals is not None:
            self._write(self.totals.row())
        assert self.file is not None
        self.file.close()
        self.file = None

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        self.zip.close()


def file_extension(file_format: str) -> str:
    """XLSX is one workbook; the CSV report is a zip of one CSV per table."""
    return "xlsx" if file_format == ExportFormat.XLSX else "zip"


def write_report(
    *,
    path: Path,
    file_format: str,
    sections: Iterable[Section],
    on_rows: Callable[[int], None] = lambda n: None,
) -> int:
    """Write the sections to ``path``; calls ``on_rows(total so far)`` every chunk. Returns
    the number of data rows written (totals rows not counted)."""
    writer: _Writer = (
        XlsxStreamWriter(path) if file_format == ExportFormat.XLSX else CsvZipWriter(path)
    )
    written = 0
    try:
        for section in sections:
            writer.section(section)
            if section.copy is not None and isinstance(writer, CsvZipWriter):
                select = section.copy(writer.format)
                written = writer.copy_rows(select, written, on_rows)
            else:
                for values in section.rows:
                    writer.row(values)
                    written += 1
                    if written % CHUNK_SIZE == 0:
                        on_rows(written)
            writer.end_section()
    finally:
        writer.close()
    return written
