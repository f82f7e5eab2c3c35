"""The rows of a group's account list (the 360°'s top accounts and its "show all" page),
rendered in Python from ``.values_list`` rows (issue 21).

A group of 200 accounts through a template loop built a model instance, a ``{% url %}`` and a
dozen variable look-ups per account; here a row is a named tuple of what it shows and one
``format_html``, the account link reversed once per page (a stand-in id replaced per row, as
``opportunities.rows`` does for the deal list) and the labels translated once per page.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from accounts.models import Segment, TeamRole
from crm.markup import LocalFormats, format_html_rows

_SENTINEL = 987654321


def _grouped(local: LocalFormats, value: Any, places: int = 0) -> SafeString | str:
    """``value|floatformat:"<places>g"`` (markup, as the filter's; "" for none)."""
    return "" if value is None else mark_safe(local.grouped(value, places))  # noqa: S308


_ROW = (
    '\n<tr data-testid="group-account">'
    '<th scope="row"><a href="{}">{}</a></th>'
    "<td>{}</td><td>{}</td><td>{}</td>{}</tr>"
)


def account_link_parts() -> tuple[str, str]:
    """``accounts:detail``'s path around the id, reversed once for a page of rows."""
    head, _sep, tail = reverse("accounts:detail", args=[_SENTINEL]).partition(str(_SENTINEL))
    return head, tail


def account_rows_html(rows: list[Any], *, with_value: bool) -> SafeString:
    """``<tr>``s of ``customer.SubsidiaryPage.rows``: name (linked), country, home company,
    segment and, for the roles that see customer value, the stored lifetime value."""
    head, tail = account_link_parts()
    local = LocalFormats()
    # One translation per label and page, not one lazy string per row.
    segments = {str(value): str(label) for value, label in Segment.choices}
    unknown = gettext("unknown")

    def value_cell(r: Any) -> SafeString | str:
        if not with_value:
            return ""
        if r.value__as_of is None:
            shown = "—"
        elif r.value__missing_rate:
            shown = unknown
        else:
            shown = _grouped(local, r.value__lifetime_value, 2)
        return format_html('<td class="num">{}</td>', shown)

    return format_html_rows(
        "",
        _ROW,
        (
            (
                f"{head}{r.id}{tail}",
                r.name,
                r.country or "—",
                r.home_company__code,
                segments.get(r.segment, r.segment) or "—",
                value_cell(r),
            )
            for r in rows
        ),
    )


_COUNTRY_ROW = (
    '<tr><th scope="row">{}</th><td class="num"><a href="{}">{}</a></td>'
    '<td class="num">{}</td><td class="num">{}</td>'
    '<td class="num">{}</td><td class="num">{}</td></tr>'
)


def country_rows_html(rows: list[tuple[str, int, Any]], accounts_url: str) -> SafeString:
    """The 360°'s figures per country (``(country, accounts, CountryFigures | None)``, summed
    by PostgreSQL), each country's count linking to the group's accounts of that country."""
    local = LocalFormats()

    def cells(country: str, count: int, f: Any) -> tuple[Any, ...]:
        return (
            country or "—",
            f"{accounts_url}?{urlencode({'country': country})}",
            count,
            f.open_count if f else 0,
            _grouped(local, f.open_amount if f else 0),
            f.won_count if f else 0,
            _grouped(local, f.won_amount if f else 0),
        )

    return format_html_rows("", _COUNTRY_ROW, (cells(*row) for row in rows))


def team_html(team: list[Any]) -> SafeString:
    """The global account team's ``<li>``s, the role labels translated once."""
    roles = {str(value): str(label) for value, label in TeamRole.choices}
    return format_html_rows(
        "",
        "<li>{} · {} · {}</li>",
        ((m.user.full_name, roles.get(m.role, m.role), m.sales_company.code) for m in team),
    )
