"""The opportunity list's rows, rendered in Python from ``.values()`` (issue 21).

The template loop built six model instances per row (the deal and five joined rows) and ran two
``{% url %}`` resolutions, two filters and a dozen variable look-ups per row through the template
engine; here a row is a named tuple of the eleven values it shows and one format string, with
the two URLs reversed once per page, the values escaped in one pass and the amounts and dates
formatted with the language's formats read once per page (``crm.markup``). The markup is the
template's, byte for byte (tests compare them).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from crm.markup import LocalFormats, escape_value, format_html_rows

# What a row shows, read as plain values (no model instances).
ROW_FIELDS = (
    "id",
    "name",
    "account_id",
    "account__name",
    "sales_company__code",
    "owner__full_name",
    "local_stage__name",
    "global_stage__name",
    "amount",
    "currency",
    "expected_close_date",
)

_ROW = (
    "\n    <tr>\n"
    '      <th scope="row"><a href="{}">{}</a></th>\n'
    '      <td><a href="{}">{}</a></td>\n'
    "      <td>{}</td><td>{}</td>\n"
    '      <td>{} <span class="muted">({})</span></td>\n'
    '      <td class="num">{}</td>\n'
    "      <td>{}</td>\n"
    "    </tr>"
)
# A stand-in id, reversed once: every row's link is the same path with its own id.
_SENTINEL = 987654321


def row_values(page_rows: QuerySet[Any]) -> list[Any]:
    """The rows of one page (a sliced queryset of the list) as named tuples of what they show
    (``row.name``, ``row.account__name``: no model instances)."""
    return list(page_rows.values_list(*ROW_FIELDS, named=True))


def _link(name: str) -> tuple[str, str]:
    head, _sep, tail = reverse(name, args=[_SENTINEL]).partition(str(_SENTINEL))
    return head, tail


def rows_html(rows: list[Any]) -> SafeString:
    deal_head, deal_tail = _link("opportunities:detail")
    account_head, account_tail = _link("accounts:detail")

    local = LocalFormats()

    def amount(r: Any) -> SafeString | str:
        if r.amount is None:
            return "—"
        # As floatformat: the number is markup as it is, the currency is escaped.
        return mark_safe(f"{local.grouped(r.amount)} {escape_value(r.currency)}")  # noqa: S308

    def cells(r: Any) -> tuple[Any, ...]:
        return (
            f"{deal_head}{r.id}{deal_tail}",
            r.name,
            f"{account_head}{r.account_id}{account_tail}",
            r.account__name,
            r.sales_company__code,
            r.owner__full_name,
            r.local_stage__name,
            r.global_stage__name,
            amount(r),
            local.short_date(r.expected_close_date) or "—",
        )

    return format_html_rows("", _ROW, (cells(r) for r in rows))
