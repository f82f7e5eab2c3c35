"""The report's before-and-after table (``bench.run --before``): a later run shows an earlier
run's figures beside its own, scenario by scenario, from the earlier run's JSON."""

from __future__ import annotations

from typing import Any

from bench import report


def _run(generated: str, p95: float, cpu: float | None, csv_seconds: float) -> dict[str, Any]:
    scenario = {"p50": p95 / 2, "p95": p95, "queries": 3, "cpu_ms_per_request": cpu,
                "cpu_ms_inproc": 4.5, "role": "director", "errors": {}, "p99": p95, "rps": 17.0,
                "floor_ms": 2.0, "p50_over_floor": 1.0, "worker_rss_mb": 120.0}  # fmt: skip
    return {
        "generated_at": generated,
        "load": {"users": 20, "seconds_per_scenario": 15},
        "machine": {"python_loop_us": 0.65},
        "scenarios": {"api_list_director": scenario, "page_list_rep": {"absent": True}},
        "services": {"conflict_check": {"p50": 9.0, "p95": p95 / 10}, "note": "text"},
        "export_csv": {"rows": 1_000_000, "seconds": csv_seconds},
    }


def test_the_comparison_shows_each_figure_before_and_after() -> None:
    before = report.summary(_run("2026-12-03T16:13", 41.8, 16.77, 65.8))
    after = _run("2026-12-06T02:40", 30.0, None, 25.0)
    after["before"] = before
    text = report.comparison(after)
    assert "Before: the run of 2026-12-03T16:13 (20 users, 15 s per scenario" in text
    assert (
        "| api_list_director | 20.9 → 15.0 | 41.8 → 30.0 | 3 → 3 | 16.77 → — | 4.5 → 4.5 |" in text
    )
    assert "| conflict_check | 9.0 → 9.0 | 4.18 → 3.0 |" in text
    assert "| export_csv | 1000000 → 1000000 | 65.8 → 25.0 | 6.6 → 2.5 |" in text
    # A scenario the earlier run did not have yet is not in the comparison; nor is a note.
    assert "page_list_rep" not in text and "note" not in text


def test_a_scenario_new_since_the_earlier_run_shows_a_dash() -> None:
    before = report.summary(_run("a", 10.0, 1.0, 1.0))
    after = _run("b", 12.0, 2.0, 1.0)
    after["scenarios"]["api_trivial"] = dict(after["scenarios"]["api_list_director"])
    after["before"] = before
    assert "| api_trivial | — → 6.0 | — → 12.0 | — → 3 | — → 2.0 | — → 4.5 |" in report.comparison(
        after
    )


def test_the_markdown_has_the_comparison_only_with_an_earlier_run() -> None:
    run = _run("b", 12.0, 2.0, 1.0)
    machine = {"cpus": 2, "ram_gb": 23.5, "python": "3.11", "platform": "x"}
    load = {"users": 20, "seconds_per_scenario": 15, "gunicorn": "2 x 4"}
    run |= {"rows": {}, "scale": "10k", "machine": machine, "load": load}
    assert "## Before and after" not in report.markdown(run)
    run["before"] = report.summary(run)
    assert "## Before and after" in report.markdown(run)


def test_the_conflict_goals_are_issue_17s() -> None:
    services = {
        "conflict_check": {"p50": 4.0, "p95": 9.0, "first_detection": {"p50": 8.0, "p95": 12.5},
                           "under_agreement": {"p50": 6.0, "p95": 11.0,
                                               "first_detection": {"p50": 9.0, "p95": 14.0}}},
        "hidden_duplicates": {"p50": 3.0, "p95": 21.0},
        "regroup_redetect": [{"deals": 1000, "ms": 900.0}, {"deals": 1200, "ms": 1500.0}],
    }  # fmt: skip
    verdicts = {g["goal"]: (g["met"], g["measured"]) for g in report.goals(
        {"scenarios": {}, "services": services})}  # fmt: skip
    assert verdicts["conflict check on save, re-check: p95 <= 10 ms"] == (
        True,
        "p50 4.0 ms, p95 9.0 ms (under an agreement: p50 6.0 ms, p95 11.0 ms)",
    )
    assert verdicts["conflict check on save, first detection: p95 <= 10 ms"] == (
        False,
        "p50 8.0 ms, p95 12.5 ms (under an agreement: p50 9.0 ms, p95 14.0 ms)",
    )
    assert verdicts["hidden-duplicate check at 200k accounts: <= 20 ms"][0] is False
    assert verdicts["re-running a 200-subsidiary group after a link: <= 2 s"] == (
        True,
        "slowest 1500.0 ms for 1200 deals",
    )
