"""CPU per request of the served workers, one scenario at a time, with a sampling profile.

``make bench`` divides the workers' CPU over a scenario by its requests; this tool looks into
that figure: gunicorn as ``make bench`` starts it (production's ``gunicorn.conf.py``, 2 x 4
gthread, the application role under row-level security, Redis sessions), one scenario of
``bench.run`` driven for several rounds on the same server, each round's worker CPU per
request, and optionally ``py-spy`` attached to every worker during one round (its samples of
the busy threads, folded by where they are: gunicorn, middleware, authentication, the view,
psycopg, compression ...).

The first round is what a scenario of ``make bench`` measures when it is the first to reach
new code in a fresh worker (imports, the ORM's statements compiled once per process and
prepared once per connection: each of the 2 x 4 threads has its own connection); the later
rounds are the steady state. Usage::

    python -m bench.served --database-url postgres://postgres@127.0.0.1:5432/meridian_bench_1m \\
        --only api_list_rep --users 20 --think 1 --seconds 10 --rounds 3 [--py-spy DIR]
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import psycopg

from bench.dbs import app_url, read_info
from bench.run import (
    Server,
    api_token,
    build_scenarios,
    drive,
    log,
    redis_up,
    resolve_deep,
    session_cookie,
)

# Where a sample is, by the first of these (frame substrings, innermost wins) found in its
# stack, read from the leaf outwards. Order matters: the specific before the general.
_BUCKETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("psycopg (send, wait, fetch, adapt)", ("psycopg/", "psycopg_c", "psycopg_binary")),
    ("ORM compile (as_sql, resolve, clone)", ("django/db/models/sql/", "django/db/models/")),
    ("gzip", ("gzip.py", "zlib", "compression.py")),
    ("JSON rendering", ("rest_framework/renderers.py", "json/encoder.py")),
    ("token authentication", ("api_auth.py",)),
    ("session and user", ("crm/identity.py", "sessions/", "django/contrib/auth/")),
    (
        "the view (rows, filters, pagination)",
        (
            "opportunities/api.py",
            "crm/drf.py",
            "crm/api_filters.py",
            "rest_framework/pagination.py",
            "django_filters/",
            "rest_framework/filters.py",
        ),
    ),
    ("DRF dispatch (negotiation, permissions, throttles)", ("rest_framework/",)),
    (
        "middleware and Django's handler",
        (
            "django/",
            "csp/",
            "axes/",
            "pghistory/",
            "crm/middleware.py",
            "django_htmx/",
            "crm/tenancy.py",
        ),
    ),
    ("gunicorn (HTTP parsing, WSGI, socket writes)", ("gunicorn/",)),
    ("threads, selectors, futures", ("threading.py", "selectors.py", "concurrent/futures/")),
)


def bucket_of(stack: list[str]) -> str:
    for name, marks in _BUCKETS:
        for frame in reversed(stack):
            if any(mark in frame for mark in marks):
                return name
    return "other"


def fold(raw: Path) -> dict[str, Any]:
    """py-spy's raw (collapsed) samples: the share of each bucket, the top leaf functions."""
    buckets: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text:
            continue
        count = int(count_text)
        # py-spy's frames: "function (file:line)"; the thread name comes first.
        stack = stack_text.split(";")
        total += count
        buckets[bucket_of(stack)] += count
        leaves[re.sub(r":\d+\)$", ")", stack[-1])] += count
        for frame in {re.sub(r":\d+\)$", ")", f) for f in stack}:
            inclusive[frame] += count
    share = {k: round(100 * v / total, 1) for k, v in buckets.most_common()} if total else {}
    return {
        "samples": total,
        "share_percent": share,
        "top_leaves": [(f, round(100 * n / total, 1)) for f, n in leaves.most_common(25)],
        "top_inclusive": [(f, round(100 * n / total, 1)) for f, n in inclusive.most_common(60)],
    }


def _spy(pid: int, seconds: float, out: Path, rate: int) -> subprocess.Popen[bytes]:
    spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen(
        [str(spy), "record", "--pid", str(pid), "--duration", str(int(seconds)),
         "--rate", str(rate), "--format", "raw", "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True, help="owner URL of the bench database")
    parser.add_argument("--only", required=True, help="comma-separated scenario names")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--think", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--warmup-rounds",
        type=int,
        default=0,
        help="make bench's warm-up (bench.run.warm_up) before round 1; 0: round 1 is cold",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--py-spy", default="", help="DIR: profile the last round's workers")
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--json", default="", help="write the figures to this file")
    args = parser.parse_args()

    info = read_info(args.database_url)
    with psycopg.connect(args.database_url, autocommit=True) as owner:
        wanted = set(args.only.split(","))
        scenarios = [s for s in build_scenarios(owner, info) if s.name in wanted]
    redis_url = args.redis_url if redis_up(args.redis_url) else ""
    server = Server(app_url(args.database_url), args.workers, args.threads, redis_url)
    results: dict[str, Any] = {"redis": bool(redis_url), "users": args.users,
                               "think": args.think, "seconds": args.seconds}  # fmt: skip
    try:
        server.start()
        for s in scenarios:
            email = info["users"][s.role]
            if s.kind == "api":
                token = api_token(server.base, email, info["password"])
                headers = {"Authorization": f"Token {token}"}
            else:
                headers = {"Cookie": session_cookie(server.base, email, info["password"])}
            s.path = resolve_deep(s, server.base, headers)
            rounds = []
            for number in range(1, args.rounds + 1):
                spies: list[tuple[Path, subprocess.Popen[bytes]]] = []
                if args.py_spy and number == args.rounds:
                    out = Path(args.py_spy)
                    out.mkdir(parents=True, exist_ok=True)
                    assert server.proc is not None
                    for child in psutil.Process(server.proc.pid).children():
                        raw = out / f"{s.name}-{child.pid}.txt"
                        spies.append((raw, _spy(child.pid, args.seconds, raw, args.rate)))
                load = drive(server, f"{server.base}{s.path}", headers, args.users,
                             args.seconds, args.think,
                             args.warmup_rounds if number == 1 else 0)  # fmt: skip
                for _raw, proc in spies:
                    proc.wait(timeout=60)
                kept = ("cpu_ms_per_request", "requests", "rps", "p50", "p95", "errors",
                        "cpu_workers_stable")  # fmt: skip
                figures = {k: load[k] for k in kept}
                if spies:
                    folded = [fold(raw) for raw, _proc in spies if raw.exists()]
                    figures["py_spy"] = _merge(folded)
                rounds.append(figures)
                log(f"{s.name} round {number}: {figures['cpu_ms_per_request']} ms CPU/request, "
                    f"{figures['requests']} requests, p50 {figures['p50']} ms")  # fmt: skip
            results[s.name] = {"path": s.path, "rounds": rounds}
    finally:
        server.stop()
    text = json.dumps(results, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n")
    print(text)


def _merge(folded: list[dict[str, Any]]) -> dict[str, Any]:
    """The workers' profiles as one (weighted by their samples)."""
    total = sum(f["samples"] for f in folded)
    if not total:
        return {"samples": 0}
    share: collections.Counter[str] = collections.Counter()
    for f in folded:
        for k, v in f["share_percent"].items():
            share[k] += v * f["samples"] / total
    biggest = max(folded, key=lambda f: f["samples"])
    return {
        "samples": total,
        "share_percent": {k: round(v, 1) for k, v in share.most_common()},
        # The busiest worker's functions (the other's are alike: the same requests).
        "top_leaves": biggest["top_leaves"],
        "top_inclusive": biggest["top_inclusive"],
    }


if __name__ == "__main__":
    main()
