"""Fiscal periods: years and quarters that start in the organization's fiscal start month."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from crm.models import Organization
from reporting.models import PeriodKind


@dataclass(frozen=True)
class Period:
    kind: str
    start: dt.date
    end: dt.date  # exclusive: the first day of the next period
    label: str

    def contains(self, day: dt.date) -> bool:
        return self.start <= day < self.end


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + (day.month - 1) + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _fy_label(start: dt.date) -> str:
    # A fiscal year starting in January is the calendar year; otherwise it spans two.
    if start.month == 1:
        return f"FY{start.year}"
    return f"FY{start.year}/{(start.year + 1) % 100:02d}"


def fiscal_year(organization: Organization, day: dt.date) -> Period:
    first = organization.fiscal_year_start_month
    start_year = day.year if day.month >= first else day.year - 1
    start = dt.date(start_year, first, 1)
    return Period(PeriodKind.YEAR, start, _add_months(start, 12), _fy_label(start))


def fiscal_quarter(organization: Organization, day: dt.date) -> Period:
    year = fiscal_year(organization, day)
    offset = (day.year * 12 + day.month) - (year.start.year * 12 + year.start.month)
    number = offset // 3 + 1
    start = _add_months(year.start, (number - 1) * 3)
    return Period(PeriodKind.QUARTER, start, _add_months(start, 3), f"Q{number} {year.label}")


def next_quarter(organization: Organization, quarter: Period) -> Period:
    return fiscal_quarter(organization, quarter.end)


def quarters_of_year(organization: Organization, year: Period) -> list[Period]:
    return [fiscal_quarter(organization, _add_months(year.start, 3 * i)) for i in range(4)]
