"""The dashboard's and the campaign figures' deal counts use the language's plural forms:
Danish "1 handel" / "3 handler", German "1 Deal" / "3 Deals" (was "1 handler": one word, any n)."""

from __future__ import annotations

import pytest
from django.template.loader import render_to_string
from django.utils import translation


@pytest.mark.parametrize(
    ("language", "one", "many"),
    [("da", "1 handel", "3 handler"), ("de", "1 Deal", "3 Deals"), ("en", "1 deal", "3 deals")],
)
def test_dashboard_deal_counts_are_plural_aware(language: str, one: str, many: str) -> None:
    d = {
        "totals": {"amount": 100, "count": 1},
        "win": {"won_amount": 50, "won": 3},
        "attainment_people_elsewhere": 0,
        "overdue_conflicts": 0,
        "joint_goals": {"smarketing": {"total": {"sourced_open_count": 0, "sourced_won_count": 0}}},
    }
    with translation.override(language):
        html = render_to_string("reporting/_dashboard_body.html", {"d": d})
    assert f'<span class="muted">{one}</span>' in html
    assert f'<span class="muted">{many}</span>' in html


@pytest.mark.parametrize("template", ["_campaign_figures.html", "_joint_goals.html"])
def test_campaign_deal_counts_are_plural_aware(template: str) -> None:
    total = {"sourced_open_count": 1, "sourced_won_count": 2}
    with translation.override("da"):
        context = {"c": {"total": total}, "d": {"joint_goals": {"smarketing": {"total": total}}}}
        html = render_to_string(f"reporting/{template}", context)
    assert "1 handel" in html
    assert "2 handler" in html
