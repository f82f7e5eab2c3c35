"""CPU per request of the hot pages (issue 21), in process, against a benchmark database.

For each scenario: one warm-up request, then ``--repeat`` requests through Django's test Client
as a signed-in user of the benchmark, each timed as wall time and as process CPU time
(``time.process_time``: this process's Python and driver work, not PostgreSQL's), the SQL time
from the queries' own timing, and optionally a cProfile of one request (top functions by
cumulative and by own time).

Usage (the application role's URL, as the served workers use)::

    DEBUG=1 DATABASE_URL=postgres://meridian_app@127.0.0.1:5432/meridian_bench_h4 \\
        .venv/bin/python scripts/profile_requests.py [--repeat 10] [--profile] [--only NAME,...]

Not part of the bench (bench/ is measured by ``make bench``): a developer's tool to see where
one request's milliseconds go before and after a change.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meridian.settings")
    import django

    django.setup()


def _info() -> dict[str, Any]:
    """The bench's users and groups, read as the owner (bench_info is not the app role's)."""
    from bench.dbs import read_info

    return read_info(_owner_url())


def _owner_url() -> str:
    from bench.dbs import with_name

    return os.environ.get("BENCH_OWNER_URL") or with_name(
        "postgres://postgres@127.0.0.1:5432/postgres",
        os.environ["DATABASE_URL"].rsplit("/", 1)[1],
    )


def _first_word(account_id: int) -> str:
    """The search word the bench's search scenarios use: an account name's first four letters."""
    import psycopg

    with psycopg.connect(_owner_url()) as owner:
        row = owner.execute("SELECT name FROM accounts_account WHERE id = %s", [account_id])
        (name,) = row.fetchone() or ("",)
    return name.split()[0].lower()[:4] if name else "a"


def _list_paths(info: dict[str, Any]) -> tuple[str, str, str, str]:
    """The bench's filtered (country manager, Negotiate, 200 rows) and deep (director, half-way
    through the list; rep, 1,000 rows into it; by cursor) API list paths, and the director's
    filtered one (DE, Propose), as bench/run.py builds them."""
    import psycopg

    from bench import floors
    from bench.run import cursor_for

    org = info["organization_id"]
    with psycopg.connect(_owner_url()) as owner:
        (negotiate,) = owner.execute(
            "SELECT id FROM pipeline_globalstage WHERE organization_id = %s AND name = %s",
            [org, "Negotiate"],
        ).fetchone() or (0,)
        (propose,) = owner.execute(
            "SELECT id FROM pipeline_globalstage WHERE organization_id = %s AND name = %s",
            [org, "Propose"],
        ).fetchone() or (0,)
        (de,) = owner.execute(
            "SELECT id FROM crm_salescompany WHERE organization_id = %s AND code = 'DE'", [org]
        ).fetchone() or (0,)
        row = owner.execute(
            "SELECT created_at FROM opportunities_opportunity WHERE organization_id = %s"
            " ORDER BY created_at DESC, id DESC OFFSET (SELECT count(*) / 2 FROM"
            " opportunities_opportunity WHERE organization_id = %s) LIMIT 1",
            [org, org],
        ).fetchone()
        (rep_id,) = owner.execute(
            "SELECT id FROM crm_user WHERE email = %s",
            [info["users"]["sales_rep"]],
        ).fetchone()
        statement = floors.opportunity_page("sales_rep")[0].replace(
            "LIMIT %(limit)s", "OFFSET %(depth)s LIMIT 1"
        )
        rep_row = owner.execute(
            statement,
            {"org": org, "user": rep_id, "companies": [], "limit": 50, "depth": 1000},
        ).fetchone()
    api = "/api/v1/opportunities/"
    deep = f"{api}?cursor={cursor_for(str(row[0]))}" if row else api
    deep_rep = f"{api}?cursor={cursor_for(str(rep_row[17]))}" if rep_row else api
    filtered = f"{api}?global_stage={negotiate}&page_size=200"
    return filtered, deep, deep_rep, f"{api}?sales_company={de}&global_stage={propose}"


def scenarios(info: dict[str, Any]) -> list[tuple[str, str, str]]:
    users, big = info["users"], info["big_groups"][0]
    filtered, deep, deep_rep, filtered_director = _list_paths(info)
    return [
        ("page_list_director", users["director"], "/opportunities/"),
        ("page_list_rep", users["sales_rep"], "/opportunities/"),
        ("page_360_director", users["director"], f"/accounts/{big}/"),
        ("api_360_country", users["country_manager"], f"/api/v1/accounts/{big}/360/"),
        ("api_360_director", users["director"], f"/api/v1/accounts/{big}/360/"),
        ("api_list_rep", users["sales_rep"], "/api/v1/opportunities/"),
        ("api_list_director", users["director"], "/api/v1/opportunities/"),
        ("api_list_filtered_country", users["country_manager"], filtered),
        ("api_list_filtered_director", users["director"], filtered_director),
        ("api_list_deep_director", users["director"], deep),
        ("api_list_deep_rep", users["sales_rep"], deep_rep),
        ("page_dashboard_director", users["director"], "/reports/"),
        ("page_search_director", users["director"], f"/search/?q={_first_word(big)}"),
        ("page_search_deal_director", users["director"], "/search/?q=deal+1428"),
        ("page_dashboard_country", users["country_manager"], "/reports/"),
        # The fixed overhead of a request: a signed-in API call that reads next to nothing
        # (the organization's regions), so what is left is the middleware stack, the session's
        # user, DRF's authentication, permissions, negotiation and rendering.
        ("api_trivial_director", users["director"], "/api/v1/regions/"),
        ("api_trivial_rep", users["sales_rep"], "/api/v1/regions/"),
    ]


def _client(email: str, *, token: bool) -> Any:
    """A test client signed in as ``email``: a session, or (``token``) an API token issued to
    the user as ``POST /api/v1/auth/token/`` issues one, sent in every request's header."""
    from django.test import Client

    from bench.inproc import _user_by_email
    from crm.services import api_token_issue

    user = _user_by_email(email)
    if not token:
        client = Client()
        client.force_login(user)
        return client
    _token, key = api_token_issue(user=user, name="profile_requests")
    return Client(HTTP_AUTHORIZATION=f"Token {key}")


# Where a request's own time went, by layer: the first pattern that a function's file matches
# names its layer. The project's apps are their own layers (the top folder of the file), the
# standard library's modules too (`stdlib: re`); C functions (builtins, C extensions' methods)
# count in the layer of the Python function that called them, so that `str.join` inside a
# template engine counts as the template engine's.
_LAYERS: tuple[tuple[str, str], ...] = (
    ("/psycopg", "driver (psycopg)"),
    ("/django/db/", "Django ORM"),
    ("/django/template/", "Django templates"),
    ("/jinja2/", "Jinja2 templates"),
    ("/rest_framework/", "DRF"),
    ("/django/test/", "Django test client (not served)"),
    ("/django/forms/", "Django forms"),
    ("/django/utils/", "Django utils (formats, translation, html)"),
    ("/django/contrib/", "Django contrib (auth, sessions, messages)"),
    ("/django/", "Django (handler, middleware, urls, http)"),
    ("/site-packages/", "other packages"),
)


def layer_of(filename: str, root: str) -> str:
    """The layer a profiled function's file belongs to (see ``_LAYERS``)."""
    if filename.startswith(root) and "/site-packages/" not in filename:
        rest = filename[len(root) :].lstrip("/")
        return f"ours: {rest.split('/', 1)[0]}"
    for pattern, layer in _LAYERS:
        if pattern in filename:
            return layer
    if "/python3." in filename:
        module = filename.rsplit("/python3.", 1)[1].split("/", 1)[-1]
        return f"stdlib: {module.split('/', 1)[0].removesuffix('.py')}"
    return "C (called from C)"


def breakdown(profiler: cProfile.Profile, runs: int) -> list[tuple[str, float, float]]:
    """(layer, ms per request, share) of the profiled requests' own time, largest first."""
    root = str(Path(__file__).resolve().parent.parent)
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]  # not in the stubs
    totals: dict[str, float] = {}

    def add(layer: str, seconds: float) -> None:
        totals[layer] = totals.get(layer, 0.0) + seconds

    for (filename, _line, _func), (_cc, _nc, tottime, _ct, callers) in stats.items():
        if filename != "~":
            add(layer_of(filename, root), tottime)
            continue
        # A C function: its own time split over its Python callers by what each call cost.
        python_callers = {k: v for k, v in callers.items() if k[0] != "~"}
        by_caller = sum(v[2] for v in python_callers.values())
        if not by_caller:
            add("C (called from C)", tottime)
            continue
        for caller, (_c, _n, caller_tt, _t) in python_callers.items():
            add(layer_of(caller[0], root), tottime * caller_tt / by_caller)
    whole = sum(totals.values()) or 1.0
    return sorted(
        ((layer, t * 1000 / runs, t / whole) for layer, t in totals.items()),
        key=lambda row: -row[1],
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--profile", action="store_true", help="cProfile one request each")
    parser.add_argument("--top", type=int, default=18)
    parser.add_argument(
        "--cpu-timer",
        action="store_true",
        help="profile with time.process_time (CPU, not the wall time spent waiting on SQL)",
    )
    parser.add_argument("--profile-runs", type=int, default=1, help="requests under the profile")
    parser.add_argument("--only", default="")
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="with --profile: the profiled requests' own time by layer instead of the top lists",
    )
    parser.add_argument("--dump", default="", help="write each response body to DIR/NAME.html")
    parser.add_argument("--sql", type=int, default=0, help="print each query, cut at N chars")
    parser.add_argument(
        "--token",
        action="store_true",
        help="API scenarios signed in by an API token (as make bench serves them), not a session",
    )
    args = parser.parse_args()
    _setup()

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    info = _info()
    wanted = {n for n in args.only.split(",") if n}
    clients: dict[str, Client] = {}
    for name, email, path in scenarios(info):
        if wanted and name not in wanted:
            continue
        api = path.startswith("/api/")
        key = f"{email} token" if args.token and api else email
        if key not in clients:
            clients[key] = _client(email, token=args.token and api)
        client = clients[key]
        first = client.get(path)
        walls, cpus, sqls, nq = [], [], [], 0
        for _ in range(args.repeat):
            with CaptureQueriesContext(connection) as ctx:
                w0, c0 = time.perf_counter(), time.process_time()
                response = client.get(path)
                cpus.append((time.process_time() - c0) * 1000)
                walls.append((time.perf_counter() - w0) * 1000)
            sqls.append(sum(float(q["time"]) for q in ctx.captured_queries) * 1000)
            nq = len(ctx.captured_queries)
        if args.dump:
            Path(args.dump, f"{name}.html").write_bytes(response.content)
        if args.sql:
            for q in ctx.captured_queries:
                print(f"  [{q['time']}] {q['sql'][: args.sql]}")
        print(
            f"{name:22} {first.status_code} {len(response.content):>8} B  q={nq:<3}"
            f" wall {statistics.median(walls):7.1f}  cpu {statistics.median(cpus):7.1f}"
            f"  sql {statistics.median(sqls):6.1f} ms (median of {args.repeat})"
        )
        if args.profile:
            profiler = cProfile.Profile(time.process_time) if args.cpu_timer else cProfile.Profile()
            profiler.enable()
            for _ in range(args.profile_runs):
                client.get(path)
            profiler.disable()
            if args.breakdown:
                print(f"  -- own time by layer (ms per request, {args.profile_runs} profiled)")
                for layer, ms, share in breakdown(profiler, args.profile_runs):
                    if share >= 0.005:
                        print(f"  {layer:38} {ms:7.2f}  {share:6.1%}")
                continue
            for key in ("cumulative", "tottime"):
                out = io.StringIO()
                # Cumulative: the project's own functions (the framework's wrappers hide them).
                stats = pstats.Stats(profiler, stream=out).sort_stats(key)
                if key == "cumulative":
                    stats.print_stats(r"^(?!.*site-packages)(?!.*python3\.\d+/)", args.top)
                else:
                    stats.print_stats(args.top)
                lines = out.getvalue().splitlines()
                start = next(i for i, line in enumerate(lines) if "ncalls" in line)
                print(f"  -- by {key}")
                for line in lines[start : start + args.top + 1]:
                    print("  " + line[:160])


if __name__ == "__main__":
    main()
