"""HTML built in Python for the hot fragments of the pages (list rows, option lists: issue 21).

Django's ``format_html`` / ``format_html_join`` pass every value through ``conditional_escape``
and ``escape``, whose ``keep_lazy`` wrapper checks each argument for a lazy string on every
call: a list page's 600 options and 50 rows made ~70,000 of those checks, a fifth of the page's
CPU. These functions give the same output (the same escaping: ``html.escape`` with quotes, a
value with ``__html__`` taken as it is, a lazy string translated first) in one pass.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

from django.utils.safestring import SafeString, mark_safe


def escape_value(value: Any) -> str:
    """``conditional_escape(value)``, as text: safe markup as it is, anything else escaped."""
    if hasattr(value, "__html__"):
        return str(value.__html__())
    return html.escape(str(value))


def format_html_rows(sep: str, format_string: str, rows: Iterable[tuple[Any, ...]]) -> SafeString:
    """``format_html_join(sep, format_string, rows)`` for positional rows: each value escaped
    (``escape_value``), the rows joined by ``sep`` (escaped too, as Django does)."""
    fmt = format_string.format
    joined = escape_value(sep).join(fmt(*[escape_value(v) for v in row]) for row in rows)
    return mark_safe(joined)  # noqa: S308 - every value escaped
