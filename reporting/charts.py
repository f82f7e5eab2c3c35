"""Server-rendered SVG charts (pygal), inlined in the page: no JavaScript, no CDN.

Every chart on a page also has a table with the same numbers (the accessible fallback), so
the charts are decoration for sighted readers and carry ``role="img"`` with a label.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

import pygal
from django.utils.formats import number_format
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from pygal.style import Style

STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="#1d2733",
    foreground_strong="#1d2733",
    foreground_subtle="#5b6775",
    colors=("#1f5fbf", "#2e9e6b", "#f0b400", "#b42318", "#7a4fbf", "#5b6775"),
    font_family="system-ui, sans-serif",
    label_font_size=12,
    major_label_font_size=12,
    legend_font_size=12,
    title_font_size=14,
)
# pygal embeds a <script> with its tooltip configuration; the pages run no script at all.
_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)
Number = Decimal | int | float | None


def _config(**extra: object) -> dict[str, object]:
    return {
        "style": STYLE,
        "js": [],
        "disable_xml_declaration": True,
        "width": 640,
        "height": 320,
        "legend_at_bottom": True,
        "print_values": False,
        "no_data_text": _("No data"),
        **extra,
    }


def _render(chart: pygal.graph.graph.Graph, label: str) -> SafeString:
    svg = _SCRIPT.sub("", chart.render(is_unicode=True))
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{escape(label)}" ', 1)
    return mark_safe(svg)  # noqa: S308 - pygal escapes the labels and values it draws


def _number(value: float | None, decimals: int) -> str:
    """A value or axis label in the reader's number format (grouping, decimal comma)."""
    if value is None:
        return ""
    return number_format(round(value, decimals), decimal_pos=decimals, force_grouping=True)


def _f(value: Number) -> float | None:
    return None if value is None else float(value)


def bar(
    title: str,
    labels: Sequence[str],
    series: dict[str, Sequence[Number]],
    *,
    horizontal: bool = False,
    decimals: int = 0,
) -> SafeString:
    cls = pygal.HorizontalBar if horizontal else pygal.Bar
    chart = cls(
        **_config(
            title=title,
            show_legend=len(series) > 1,
            x_label_rotation=0 if horizontal else 20,
            value_formatter=lambda v: _number(v, decimals),
        )
    )
    chart.x_labels = list(labels)
    for name, values in series.items():
        chart.add(name, [_f(v) for v in values])
    return _render(chart, title)


def line(title: str, labels: Sequence[str], series: dict[str, Sequence[Number]]) -> SafeString:
    chart = pygal.StackedLine(
        **_config(
            title=title,
            fill=True,
            show_dots=False,
            x_label_rotation=30,
            show_minor_x_labels=False,
            x_labels_major_every=max(1, len(labels) // 8),
            value_formatter=lambda v: _number(v, 0),
        )
    )
    chart.x_labels = list(labels)
    for name, values in series.items():
        chart.add(name, [_f(v) for v in values])
    return _render(chart, title)


def pie(title: str, slices: dict[str, int]) -> SafeString:
    chart = pygal.Pie(**_config(title=title, inner_radius=0.45))
    for name, value in slices.items():
        chart.add(name, value)
    return _render(chart, title)
