"""The whole benchmark pipeline at --scale 10k: generate into a throwaway database, serve it
with gunicorn, drive it briefly, and check that the report is complete and sane.

Correctness of the bench only: no timing assertions (timings on a shared 2-core machine say
nothing in a test); the numbers must merely exist and be consistent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from bench.dbs import bench_url, with_name

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = {
    "api_list_director", "api_list_regional", "api_list_country", "api_list_rep",
    "api_list_filtered_director", "api_list_filtered_country", "api_list_deep_director",
    "api_list_deep_rep", "page_list_director", "page_list_rep", "api_360_director",
    "api_360_country", "page_account_360", "dashboard_director", "dashboard_country",
    "dashboard_regional", "page_search_director", "page_search_rep", "page_search_deal_director",
}  # fmt: skip


@pytest.fixture
def bench_db() -> Iterator[str]:
    url = bench_url(f"meridian_bench_smoke_{os.getpid()}")
    yield url
    with psycopg.connect(with_name(url, "postgres"), autocommit=True) as conn:
        name = url.rsplit("/", 1)[1]
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


def test_bench_pipeline_at_10k(bench_db: str, tmp_path: Path) -> None:
    made = run("manage.py", "bench_data", "--scale", "10k", "--database-url", bench_db)
    assert made.returncode == 0, made.stderr[-3000:]
    assert "Loaded" in made.stdout
    with psycopg.connect(bench_db) as conn:
        # The load switches triggers off, so it writes the database-kept copies itself.
        (wrong,) = conn.execute(
            "SELECT count(*) FROM opportunities_opportunity o JOIN accounts_account a"
            " ON a.id = o.account_id WHERE o.account_group_id IS DISTINCT FROM a.group_id"
        ).fetchone()
        assert wrong == 0

    ran = run(
        "-m", "bench.run", "--database-url", bench_db, "--seconds", "0.5", "--users", "3",
        "--floor-runs", "3", "--out", str(tmp_path),
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-3000:]
    result = json.loads((tmp_path / "latest.json").read_text())

    assert result["scale"] == "10k"
    assert result["rows"]["opportunities_opportunity"] >= 10_000
    assert set(result["scenarios"]) == SCENARIOS
    for name, s in result["scenarios"].items():
        if s.get("absent"):
            assert s["path"].startswith(("/opportunities/", "/accounts/")), name
            continue
        assert s["requests"] > 0, name
        assert s["errors"] == {}, (name, s["errors"])
        assert s["status_inproc"] == 200, name
        assert 0 < s["queries"] < 100, name
        assert 0 < s["p50"] <= s["p95"] <= s["p99"], name
        assert s["floor_ms"] > 0 and s["worker_rss_mb"] > 0, name
        # CPU per request, served (worker CPU / requests answered) and in-process (median).
        # The served figure comes from /proc in clock ticks (10 ms): the few requests of a
        # 0.5 s scenario at 10k can all fit in one tick, so it is measured (a number, not
        # None) but may be 0; the sum over all scenarios below cannot be.
        assert s["cpu_ms_per_request"] is not None and s["cpu_ms_per_request"] >= 0, name
        assert s["cpu_ms_inproc"] > 0, name
        assert s["cpu_ms_inproc_min"] <= s["cpu_ms_inproc"], name
        expected_budget = 5.0 if name.startswith("api_list") else (
            15.0 if name.startswith("page_list") or "360" in name else None)  # fmt: skip
        assert s["cpu_budget_ms"] == expected_budget, name
    assert result["scenarios"]["api_list_director"].get("absent") is None
    served = [s["worker_cpu_s"] for s in result["scenarios"].values() if not s.get("absent")]
    assert sum(served) > 0

    services = result["services"]
    assert services["conflict_check"]["n"] > 0
    assert services["duplicates"]["candidates_avg"] >= 1  # each name finds at least itself
    assert services["serialization"]["rows"] == 200
    for key in ("export_xlsx", "export_csv"):
        export = result[key]
        assert export["status"] == "done", export
        assert export["rows"] > 0 and export["bytes"] > 0
    # The CSV is the director's whole organization: every opportunity (plus other sections).
    assert result["export_csv"]["rows"] >= result["rows"]["opportunities_opportunity"] - 5_000

    goals = {g["goal"] for g in result["goals"]}
    assert any(g.startswith("dashboard_director") for g in goals)
    assert len(result["goals"]) >= 12
    assert any(g["goal"] == "api_list_director: <= 5 ms CPU per request" for g in result["goals"])
    report = (tmp_path / "report.md").read_text()
    assert "| api_list_director |" in report and "EXPLAIN" in report
    assert "CPU ms/req served" in report and "<= 15 ms" in report

    profiled = run(
        "-m", "bench.run", "--database-url", bench_db, "--profile", "api_list_director",
        "--cpu-runs", "3", "--out", str(tmp_path / "profile"),
    )  # fmt: skip
    assert profiled.returncode == 0, profiled.stderr[-3000:]
    text = (tmp_path / "profile" / "profile-api_list_director.txt").read_text()
    assert "cumulative" in text and "ncalls" in text and "3 requests" in text
    # The top 30 functions: their rows under the header, not the whole profile.
    rows = text.split("ncalls", 1)[1].split("# The same profile", 1)[0].strip().splitlines()
    assert 10 <= len(rows) <= 31
    assert "by own time (tottime)" in text
