"""In-process measurements, run as a subprocess against the benchmark database as the
application role (row-level security on), printing one JSON object on stdout.

* ``queries``: SQL statements per request of every scenario, counted with Django's
  ``CaptureQueriesContext`` around one ``django.test.Client`` request (after a warm-up request),
  so the number includes the session and user look-ups that every real request makes. The
  ``set_config('app.org_id', …)`` of the RLS backend runs on the raw cursor and is not counted.
* ``services``: the conflict check on save, duplicate-account candidates and list serialization.
* ``export``: one report file (XLSX or CSV) in this process, for its time and peak RSS.
* CPU per request (in ``queries``): ``time.process_time()`` around each of 20 sequential
  requests of the scenario (after the warm-up), the median in ms.
* ``profile``: one scenario's requests under cProfile, the top 30 functions by cumulative time
  written to a text file (``make bench BENCH_ARGS="--profile <scenario>"``).

Usage: ``python -m bench.inproc queries|services|export|profile`` with ``BENCH_SPEC`` (JSON) in the
environment; ``DATABASE_URL`` is the application role's URL.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import threading
import time
from typing import Any


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meridian.settings")
    import django

    django.setup()


def _user_by_email(email: str) -> Any:
    """The user signing in with ``email``: crm_user is under row-level security, so its
    organization comes from the look-up function first (as at sign-in)."""
    from crm.directory import org_of_email
    from crm.models import User
    from crm.tenancy import org_scope

    org_id = org_of_email(email)
    if org_id is None:
        raise LookupError(f"No user {email} in the benchmark database.")
    with org_scope(org_id):
        return User.objects.for_org(org_id).select_related("organization").get(email=email)


def _ms(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
    return {
        "p50": round(statistics.median(samples), 2),
        "p95": round(samples[min(len(samples) - 1, int(len(samples) * 0.95))], 2),
        "max": round(samples[-1], 2),
        "n": len(samples),
    }


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def queries(spec: dict[str, Any]) -> dict[str, Any]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    out: dict[str, Any] = {}
    clients: dict[str, Client] = {}
    for scenario in spec["scenarios"]:
        email = scenario["email"]
        if email not in clients:
            client = Client()
            client.force_login(_user_by_email(email))
            clients[email] = client
        client = clients[email]
        client.get(scenario["path"])  # warm-up: caches, prepared state
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(scenario["path"])
        # Read before the next requests: each one's request_started signal clears the log.
        captured = [q["sql"][:2000] for q in ctx.captured_queries]
        cpu, wall = _cpu_per_request(client, scenario["path"], int(spec.get("cpu_runs", 20)))
        out[scenario["name"]] = {
            "status": response.status_code,
            "queries": len(captured),
            "sql": captured,
            "cpu_ms": round(statistics.median(cpu), 2),
            "cpu_ms_min": round(min(cpu), 2),
            "wall_ms": round(statistics.median(wall), 2),
            "cpu_runs": len(cpu),
        }
    return out


def _cpu_per_request(client: Any, path: str, runs: int) -> tuple[list[float], list[float]]:
    """CPU ms (``time.process_time``: this process, user + system) and wall ms of each of
    ``runs`` sequential requests, after the warm-up already made. Only this thread works, so
    the process's CPU is the request's: Django, the application, psycopg; not PostgreSQL's,
    which is the difference to the wall time (with the network round trips)."""
    cpu, wall = [], []
    for _ in range(runs):
        started_cpu, started = time.process_time(), time.perf_counter()
        client.get(path)
        cpu.append((time.process_time() - started_cpu) * 1000)
        wall.append((time.perf_counter() - started) * 1000)
    return cpu, wall


def profile(spec: dict[str, Any]) -> dict[str, Any]:
    """One scenario's request under cProfile (after a warm-up), ``runs`` times; the top
    functions by cumulative time written to ``out`` as text."""
    import cProfile
    import io
    import pstats

    from django.test import Client

    client = Client()
    client.force_login(_user_by_email(spec["email"]))
    client.get(spec["path"])  # warm-up: imports, template loading, caches
    profiler = cProfile.Profile()
    runs = int(spec.get("runs", 20))
    cpu_started = time.process_time()
    profiler.enable()
    for _ in range(runs):
        client.get(spec["path"])
    profiler.disable()
    cpu_ms = (time.process_time() - cpu_started) * 1000 / runs
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.strip_dirs().sort_stats("cumulative").print_stats(int(spec.get("top", 30)))
    # The cumulative view is led by the middleware's nesting; where the time itself is spent:
    text.write("\n# The same profile by own time (tottime)\n")
    stats.sort_stats("tottime").print_stats(int(spec.get("top", 30)))
    header = (
        f"# {spec['name']}: GET {spec['path']} as {spec['email']}, {runs} requests after a "
        f"warm-up, under cProfile ({cpu_ms:.1f} ms CPU per request with the profiler's own "
        "overhead; without it see cpu_ms in the report). Times below are totals of the "
        f"{runs} requests.\n\n"
    )
    with open(spec["out"], "w") as f:
        f.write(header + text.getvalue())
    return {"out": spec["out"], "cpu_ms_profiled": round(cpu_ms, 2)}


def services(spec: dict[str, Any]) -> dict[str, Any]:
    from django.db import transaction

    from accounts.matching import find_duplicate_candidates
    from accounts.models import Account
    from crm.models import User
    from crm.tenancy import org_scope
    from opportunities.api import OpportunitySerializer
    from opportunities.selectors import opportunity_list

    org_id = spec["organization_id"]
    out: dict[str, Any] = {}
    with org_scope(org_id):
        out["conflict_check"] = conflict_check(spec)

        # Duplicate candidates for names that exist (as a seller re-entering a customer would).
        accounts = list(
            Account.objects.for_org(org_id)
            .order_by("id")
            .values("name", "country", "registration_number", "domain")[1000:1040]
        )
        timings, hits = [], []
        for a in accounts:
            started = time.perf_counter()
            candidates = find_duplicate_candidates(
                organization=org_id,
                name=a["name"],
                country=a["country"],
                registration_number=a["registration_number"],
                domain=a["domain"],
            )
            timings.append((time.perf_counter() - started) * 1000)
            hits.append(len(candidates))
        out["duplicates"] = {**_ms(timings), "candidates_avg": round(sum(hits) / len(hits), 1)}

        # The hidden-duplicate check a rep meets creating an account (issue 17): the same names
        # matched across the whole organization, the invisible ones told at need-to-know level.
        from accounts.selectors import duplicate_candidates

        rep = User.objects.unscoped().get(email=spec["rep"]) if spec.get("rep") else None
        if rep is not None:
            timings, hidden, waits, pg_cpu = [], [], [], []
            clocks = _sched_clocks()
            for a in accounts:
                sched0 = clocks() if clocks else None
                started = time.perf_counter()
                _shown, matches = duplicate_candidates(
                    user=rep,
                    name=a["name"],
                    country=a["country"],
                    registration_number=a["registration_number"],
                    domain=a["domain"],
                )
                timings.append((time.perf_counter() - started) * 1000)
                hidden.append(len(matches))
                if clocks and sched0:
                    sched1 = clocks()
                    waits.append((sched1[1] - sched0[1]) / 1e6)
                    pg_cpu.append((sched1[0] - sched0[0]) / 1e6)
            out["hidden_duplicates"] = {
                **_ms(timings),
                "hidden_matches_avg": round(sum(hidden) / len(hidden), 1),
            }
            if waits:
                # As for the conflict check: the PostgreSQL CPU, and the wall time without
                # the waits for a core of this process and the backend.
                out["hidden_duplicates"]["pg_cpu_ms"] = _ms(pg_cpu)
                out["hidden_duplicates"]["unqueued_ms"] = _ms(
                    [t - w for t, w in zip(timings, waits, strict=True)]
                )

        # Re-running a 200-subsidiary group after a link, as the task does (rolled back).
        from opportunities.conflicts import redetect_group

        regroup = []
        for group_id in spec["big_groups"][:3]:
            with transaction.atomic():
                started = time.perf_counter()
                checked, _news = redetect_group(org_id, group_id)
                regroup.append(
                    {"deals": checked, "ms": round((time.perf_counter() - started) * 1000, 1)}
                )
                transaction.set_rollback(True)
        out["regroup_redetect"] = regroup

        # Serialization of a 200-row page: objects already fetched, then serializer + JSON.
        from rest_framework.renderers import JSONRenderer

        # The bench's own user, found by e-mail before any organization is known (sign-in's way).
        director = User.objects.unscoped().get(email=spec["director"])
        rows = list(opportunity_list(user=director)[:200])
        per_row, per_row_json = [], []
        for _ in range(15):
            started = time.perf_counter()
            data = OpportunitySerializer(rows, many=True).data
            mid = time.perf_counter()
            JSONRenderer().render(data)
            end = time.perf_counter()
            per_row.append((mid - started) * 1e6 / len(rows))
            per_row_json.append((end - started) * 1e6 / len(rows))
        out["serialization"] = {
            "us_per_row": round(statistics.median(per_row[3:]), 2),
            "us_per_row_with_json": round(statistics.median(per_row_json[3:]), 2),
            "rows": len(rows),
        }
    return out


def _sched_clocks() -> Any:
    """A function giving (the database backend's CPU ns, the ns this process and the backend
    waited for a core, the CPU ns of both) from the kernel's ``schedstat`` of both, or None
    when the backend's ``/proc`` cannot be read (another host). On a machine shared with other
    work the wall time of a check is mostly waiting for a core; wall minus the waits is what
    the code costs (the "unqueued" figure), the CPU of both its floor."""
    from pathlib import Path

    from django.db import connection

    with connection.cursor() as cursor:
        cursor.cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.cursor.fetchone()
    paths = (f"/proc/{backend}/schedstat", f"/proc/self/task/{threading.get_native_id()}/schedstat")

    def read() -> tuple[int, int, int]:
        (pg_cpu, pg_wait, _n), (my_cpu, my_wait, _m) = (
            tuple(int(v) for v in Path(path).read_text().split()) for path in paths
        )
        return pg_cpu, pg_wait + my_wait, pg_cpu + my_cpu

    try:
        read()
    except OSError:
        return None
    return read


def conflict_check(spec: dict[str, Any]) -> dict[str, Any]:
    """The conflict check on save (``check_deal``) on open deals of the big groups (the worst
    case: hundreds of deals of the same group in other companies), each in a transaction rolled
    back after: ``deals`` of them (half with lines, which the group's framework agreement
    covers, half without), ``rounds`` times, the first round dropped (it builds the process's
    compiled SQL and warms the caches). "first": the first save of a deal there, which records
    every finding; "resave": the steady state, findings known (a change of lines or stage).
    Wall ms and this process's CPU ms (``process_time``: Django, the application, psycopg; not
    PostgreSQL's), overall and for the deals under an agreement and the others."""
    from django.db import connection, transaction
    from django.utils import timezone

    from crm.db.compiled import pipeline_safe
    from crm.tenancy import org_scope
    from opportunities.conflicts import check_deal
    from opportunities.customer import covering_agreements
    from opportunities.models import Opportunity
    from opportunities.situations import open_situations_of

    org_id = spec["organization_id"]
    wanted = int(spec.get("deals", 30))
    rounds = int(spec.get("rounds", 3))
    clocks = _sched_clocks()
    with org_scope(org_id):
        open_deals = (
            Opportunity.objects.for_org(org_id)
            .filter(account__group_id__in=spec["big_groups"], global_stage__is_won=False)
            .filter(global_stage__is_lost=False)
            .select_related("account")
            .order_by("id")
        )
        with_lines = list(open_deals.filter(lines__isnull=False).distinct()[: wanted // 2])
        without = list(open_deals.filter(lines__isnull=True)[: wanted - len(with_lines)])
        opps = sorted(with_lines + without, key=lambda o: o.pk)
        today = timezone.localdate()
        under = {
            o.pk
            for o in with_lines
            if covering_agreements(
                account=o.account, on_date=today, booking_company_id=o.sales_company_id
            )
        }
        kinds = ("first", "resave", "first_cpu", "resave_cpu")
        if clocks:
            kinds += tuple(f"{n}_{k}" for n in ("first", "resave") for k in ("pg", "wait", "busy"))
        samples: dict[str, dict[str, list[float]]] = {
            part: {kind: [] for kind in kinds} for part in ("all", "agreement", "other")
        }
        found = []
        # Statements per check, as the application sends them through the connection's execute
        # wrappers (one per EXECUTE of a read ahead, SAVEPOINT and RELEASE included; the
        # backend's own PREPARE and set_config on side cursors not).
        sent = [0]

        @pipeline_safe
        def counting(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            sent[0] += 1
            return execute(sql, params, many, context)

        statements: dict[str, list[int]] = {"first": [], "resave": []}
        for round_no in range(rounds):
            for opp in opps:
                with transaction.atomic(), connection.execute_wrapper(counting):
                    sent[0] = 0
                    sched0 = clocks() if clocks else None
                    cpu0, wall0 = time.process_time(), time.perf_counter()
                    check_deal(opportunity=opp)
                    cpu1, wall1 = time.process_time(), time.perf_counter()
                    sched1 = clocks() if clocks else None
                    first_sent, sent[0] = sent[0], 0
                    # The re-check of a change of lines or stage (the account's duplicates stay).
                    cpu1b, wall1b = time.process_time(), time.perf_counter()
                    check_deal(opportunity=opp, accounts=False)
                    cpu2, wall2 = time.process_time(), time.perf_counter()
                    if round_no > 0 or rounds == 1:
                        statements["first"].append(first_sent)
                        statements["resave"].append(sent[0])
                    sched2 = clocks() if clocks else None
                    if round_no == 0:
                        found.append(len(open_situations_of(opp)))
                    transaction.set_rollback(True)
                if round_no == 0 and rounds > 1:
                    continue
                part = "agreement" if opp.pk in under else "other"
                for key in ("all", part):
                    samples[key]["first"].append((wall1 - wall0) * 1000)
                    samples[key]["resave"].append((wall2 - wall1b) * 1000)
                    samples[key]["first_cpu"].append((cpu1 - cpu0) * 1000)
                    samples[key]["resave_cpu"].append((cpu2 - cpu1b) * 1000)
                    if sched0 and sched1 and sched2:
                        for name, (a, b) in (
                            ("first", (sched0, sched1)),
                            ("resave", (sched1, sched2)),
                        ):
                            samples[key][f"{name}_pg"].append((b[0] - a[0]) / 1e6)
                            samples[key][f"{name}_wait"].append((b[1] - a[1]) / 1e6)
                            samples[key][f"{name}_busy"].append((b[2] - a[2]) / 1e6)

    def summary(part: dict[str, list[float]]) -> dict[str, Any]:
        if not part["resave"]:
            return {}
        out = {
            **_ms(part["resave"]),
            "first_detection": _ms(part["first"]),
            "cpu_ms": _ms(part["resave_cpu"]),
            "first_cpu_ms": _ms(part["first_cpu"]),
        }
        if part.get("resave_pg"):
            for name, wall in (("resave", "resave"), ("first", "first")):
                prefix = "" if name == "resave" else "first_"
                out[f"{prefix}pg_cpu_ms"] = _ms(part[f"{name}_pg"])
                out[f"{prefix}wait_ms"] = _ms(part[f"{name}_wait"])
                out[f"{prefix}both_cpu_ms"] = _ms(part[f"{name}_busy"])
                out[f"{prefix}unqueued_ms"] = _ms(
                    [w - q for w, q in zip(part[wall], part[f"{name}_wait"], strict=True)]
                )
        return out

    return {
        **summary(samples["all"]),
        "deals": len(opps),
        "deals_under_agreement": len(under),
        "rounds_kept": max(rounds - 1, 1),
        "under_agreement": summary(samples["agreement"]),
        "other": summary(samples["other"]),
        "conflicts_found": found[:5],
        "statements_per_check": {
            name: {"p50": statistics.median(counts), "max": max(counts)}
            for name, counts in statements.items()
            if counts
        },
    }


def export(spec: dict[str, Any]) -> dict[str, Any]:
    from pathlib import Path

    from django.conf import settings

    from crm.tenancy import org_scope
    from reporting.models import Export
    from reporting.services import export_generate

    user = _user_by_email(spec["email"])
    samples: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append(_rss_mb())
            stop.wait(0.2)

    with org_scope(user.organization_id):
        export_row = Export.objects.create(
            organization_id=user.organization_id,
            requested_by=user,
            region_id=spec.get("region_id"),
            sales_company_id=spec.get("sales_company_id"),
            format=spec["format"],
        )
        baseline = _rss_mb()
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.perf_counter()
        done = export_generate(export=export_row)
        seconds = time.perf_counter() - started
        stop.set()
        sampler.join()
        path = Path(settings.MEDIA_ROOT) / done.file_path if done.file_path else None
        size = path.stat().st_size if path and path.exists() else 0
        if path:
            path.unlink(missing_ok=True)
        rows, status, error = done.row_count, done.status, done.error
        Export.objects.for_org(user.organization_id).filter(pk=export_row.pk).delete()
    # RSS over the run in ten slices: flat memory shows as a flat line.
    step = max(1, len(samples) // 10)
    return {
        "status": status,
        "error": error,
        "rows": rows,
        "seconds": round(seconds, 2),
        "rss_baseline_mb": round(baseline, 1),
        "rss_peak_mb": round(max([*samples, _peak_rss_mb()]), 1),
        "rss_profile_mb": [round(s) for s in samples[::step]],
        "bytes": size,
    }


def main() -> None:
    _setup()
    what = sys.argv[1]
    spec = json.loads(os.environ["BENCH_SPEC"])
    result = {
        "queries": queries,
        "services": services,
        "conflict_check": conflict_check,
        "export": export,
        "profile": profile,
    }[what](spec)
    json.dump(result, sys.stdout, default=str)


if __name__ == "__main__":
    main()
