"""``make bench``: serve the benchmark database with gunicorn as in production, drive it with a
bounded load from this process, time the raw SQL floors in the same run, and report.

* The server: gunicorn (2 workers x 4 threads: the machine has 2 cores), ``DEBUG=0``, a fresh
  ``SECRET_KEY``, ``ALLOWED_HOSTS=127.0.0.1``, connected as the application role (row-level
  security on), on a free loopback port. Stopped at the end whatever happens.
* The load: N users (default 20), each a thread with a keep-alive session that sends a request,
  waits for the answer, then "reads" for a think time of 0.5-1.5x ``--think`` (default 1 s)
  before the next, for a fixed time per scenario (default 20 s); loopback only. ``--think 0``
  sends back-to-back: a saturation test (latency = users / throughput), not 20 people.
  API scenarios use tokens from ``POST /api/v1/auth/token/``, pages a session from ``/login/``.
* Queries per request: counted in-process (``bench.inproc queries``), one request per scenario.
* Worker RSS: ``/proc`` of the gunicorn workers (psutil), sampled during each scenario.
* CPU per request, served: user + system CPU seconds of the gunicorn workers (psutil, all
  threads) sampled right before a scenario's first request and after its last answer, divided
  by the requests answered. Before the sample, ``--warmup-rounds`` (default 1) rounds of one
  request per user, all at once, not counted (``warm_up``): the figure is a warm worker's
  (until 2026-12-07 it included the fresh workers' imports and first PREPAREs). In-process:
  ``time.process_time()`` around 20 sequential requests through Django's test client after a
  warm-up, the median (``bench.inproc``). CPU ms are the
  robust figure on a shared machine; wall-clock latencies also measure the neighbours.
* ``--profile <scenario>``: that scenario in-process under cProfile, the top 30 cumulative
  functions in ``<out>/profile-<scenario>.txt`` (no load run).
* Floors: ``bench.floors`` statements as the application role, right after each scenario.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import platform
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import timeit
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psutil
import psycopg
import requests

from bench import floors, report
from bench.dbs import app_url, read_info

ROOT = Path(__file__).resolve().parent.parent


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


@dataclass
class Scenario:
    name: str
    role: str
    path: str
    kind: str  # api | page
    goal: str
    floor: list[str] = field(default_factory=list)
    floor_params: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)


def python_loop_us() -> float:
    timer = timeit.Timer("sum(range(100))")
    return round(min(timer.repeat(repeat=5, number=100_000)) / 100_000 * 1e6, 3)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def cursor_for(position: str) -> str:
    """A DRF CursorPagination cursor pointing at ``position`` (what its next links encode)."""
    return base64.b64encode(urlencode({"p": position}).encode("ascii")).decode("ascii")


# --- The server ---------------------------------------------------------------------------------


class Server:
    def __init__(
        self,
        database_url: str,
        workers: int,
        threads: int,
        redis_url: str,
        worker_class: str = "gthread",
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "0",
            "DATABASE_URL": database_url,
            # Production has Redis: sessions are read from it (cached_db). Tasks stay in-process
            # (no worker in the bench; nothing it drives queues one).
            "REDIS_URL": redis_url,
            "CELERY_TASK_ALWAYS_EAGER": "1",
            "DJANGO_SETTINGS_MODULE": "meridian.settings",
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            # The token endpoint's anonymous throttle would refuse the sign-ins of a run.
            "API_ANON_THROTTLE": "1000/minute",
        }
        self.workers, self.threads, self.worker_class = workers, threads, worker_class
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=self.env,
            check=True,
        )
        gunicorn = Path(sys.executable).with_name("gunicorn")
        # Production's configuration file, with the bench's port, size and worker class on top
        # (gunicorn's command line wins over the file). An ASGI worker serves the ASGI app.
        asgi = "uvicorn" in self.worker_class.lower()
        self.proc = subprocess.Popen(
            [str(gunicorn), "--config", str(ROOT / "gunicorn.conf.py"),
             "meridian.asgi:application" if asgi else "meridian.wsgi:application",
             "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(self.workers), "--threads", str(self.threads),
             "--worker-class", self.worker_class, "--log-level", "warning"],
            cwd=ROOT, env=self.env, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.base}/login/", timeout=5).status_code == 200:
                    log(f"gunicorn up on {self.base} (pid {self.proc.pid})")
                    return
            # Not listening yet, or a worker still importing on a busy machine: ask again.
            except (requests.ConnectionError, requests.Timeout):
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("gunicorn exited at start-up")
            time.sleep(0.3)
        raise RuntimeError("gunicorn did not answer within 60 s")

    def worker_rss_mb(self) -> list[float]:
        if self.proc is None:
            return []
        try:
            children = psutil.Process(self.proc.pid).children()
            return [c.memory_info().rss / 2**20 for c in children]
        except psutil.Error:
            return []

    def worker_cpu_seconds(self) -> dict[int, float]:
        """User + system CPU seconds of each gunicorn worker so far (all its threads), by pid."""
        if self.proc is None:
            return {}
        out: dict[int, float] = {}
        try:
            children = psutil.Process(self.proc.pid).children()
        except psutil.Error:
            return {}
        for child in children:
            try:
                times = child.cpu_times()
            except psutil.Error:  # a worker restarting: not in both samples, left out
                continue
            out[child.pid] = times.user + times.system
        return out

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc = None


def redis_up(url: str) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except Exception:  # any failure means "not available"
        return False


def api_token(base: str, email: str, password: str) -> str:
    r = requests.post(
        f"{base}/api/v1/auth/token/", json={"email": email, "password": password}, timeout=30
    )
    r.raise_for_status()
    return r.json()["token"]


def session_cookie(base: str, email: str, password: str) -> str:
    # Cookies are Secure in production; over loopback HTTP they are carried by hand.
    first = requests.get(f"{base}/login/", timeout=30)
    csrf = first.cookies["csrftoken"]
    r = requests.post(
        f"{base}/login/",
        data={"username": email, "password": password, "csrfmiddlewaretoken": csrf},
        headers={"Cookie": f"csrftoken={csrf}", "Referer": f"{base}/login/"},
        allow_redirects=False,
        timeout=30,
    )
    if "sessionid" not in r.cookies:
        raise RuntimeError(f"Sign-in of {email} failed ({r.status_code})")
    return f"sessionid={r.cookies['sessionid']}; csrftoken={csrf}"


# --- The load -----------------------------------------------------------------------------------


def warm_up(url: str, headers: dict[str, str], users: int, rounds: int) -> int:
    """``rounds`` rounds of one request per user, all users at once (no think time), before a
    scenario's CPU sample: a fresh worker's first requests of a scenario import code, compile
    the ORM's statements once per process and prepare them once per connection (each of a
    worker's threads has its own), which a production worker does once in thousands of
    requests but a 15 s scenario of ~150 requests per worker would count in its mean. Sent at
    once so that the requests spread over the workers' threads. Returns the requests answered
    (any status: an error shows in the scenario's own figures)."""
    answered = 0
    lock = threading.Lock()

    def one() -> None:
        nonlocal answered
        try:
            requests.get(url, headers=headers, timeout=120).content  # noqa: B018
        except requests.RequestException:
            return
        with lock:
            answered += 1

    for _round in range(rounds):
        threads = [threading.Thread(target=one, daemon=True) for _ in range(users)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return answered


def drive(
    server: Server,
    url: str,
    headers: dict[str, str],
    users: int,
    seconds: float,
    think: float,
    warmup_rounds: int = 0,
) -> dict[str, Any]:
    """Load ``url`` for ``seconds`` with ``users`` users; the workers' CPU is sampled after
    ``warmup_rounds`` rounds of ``warm_up`` (not counted in any figure)."""
    warmed = warm_up(url, headers, users, warmup_rounds) if warmup_rounds else 0
    latencies: list[float] = []
    errors: dict[str, int] = {}
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    rss: list[list[float]] = []

    def user(seed: int) -> None:
        session = requests.Session()
        mine: list[float] = []
        pace = random.Random(seed)
        # Users do not start in lock-step: each first waits part of a think time.
        time.sleep(pace.uniform(0, think))
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            try:
                r = session.get(url, headers=headers, timeout=60)
                body = r.content
                elapsed = (time.perf_counter() - started) * 1000
                if r.status_code != 200 or not body:
                    with lock:
                        errors[str(r.status_code)] = errors.get(str(r.status_code), 0) + 1
                    continue
                mine.append(elapsed)
            except requests.RequestException as exc:
                with lock:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            if think:
                # A person reads the page before the next click: 0.5x to 1.5x the think time.
                time.sleep(pace.uniform(0.5 * think, 1.5 * think))
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=user, args=(i,), daemon=True) for i in range(users)]
    # Worker CPU before the first request and after the last answer: between the two the
    # workers did nothing but this scenario's requests (their idle CPU is near zero).
    cpu_before = server.worker_cpu_seconds()
    started = time.monotonic()
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        rss.append(server.worker_rss_mb())
        time.sleep(0.5)
    wall = time.monotonic() - started
    cpu_after = server.worker_cpu_seconds()
    peak = max((max(s) for s in rss if s), default=0.0)
    # Every answered request cost worker CPU, errors (4xx/5xx answers) too.
    answered = len(latencies) + sum(n for k, n in errors.items() if k.isdigit())
    same = cpu_before.keys() & cpu_after.keys()
    cpu_seconds = sum(cpu_after[pid] - cpu_before[pid] for pid in same)
    return {
        "cpu_ms_per_request": round(cpu_seconds * 1000 / answered, 2) if answered else None,
        "warmup_requests": warmed,
        "worker_cpu_s": round(cpu_seconds, 2),
        # False if a worker was replaced during the scenario (its CPU is then missing).
        "cpu_workers_stable": set(cpu_before) == set(cpu_after),
        "requests": len(latencies),
        "errors": errors,
        "rps": round(len(latencies) / wall, 1),
        "p50": round(percentile(latencies, 0.50), 1),
        "p95": round(percentile(latencies, 0.95), 1),
        "p99": round(percentile(latencies, 0.99), 1),
        "mean": round(statistics.fmean(latencies), 1) if latencies else 0.0,
        "worker_rss_mb": round(peak, 1),
    }


# --- Scenarios ----------------------------------------------------------------------------------


def build_scenarios(owner: psycopg.Connection[Any], info: dict[str, Any]) -> list[Scenario]:
    org = info["organization_id"]
    users = {
        role: owner.execute(
            "SELECT id, role, sales_company_id, region_id FROM crm_user WHERE email = %s",
            [email],
        ).fetchone()
        for role, email in info["users"].items()
    }
    stages = dict(
        owner.execute(
            "SELECT name, id FROM pipeline_globalstage WHERE organization_id = %s", [org]
        ).fetchall()
    )
    region_companies = [
        r[0]
        for r in owner.execute(
            "SELECT id FROM crm_salescompany WHERE region_id = %s", [users["regional_manager"][3]]
        ).fetchall()
    ]
    se = users["country_manager"][2]
    de = owner.execute(
        "SELECT id FROM crm_salescompany WHERE organization_id = %s AND code = 'DE'", [org]
    ).fetchone()[0]
    rep_id = users["sales_rep"][0]
    big = info["big_groups"][0]
    total = owner.execute(
        "SELECT count(*) FROM opportunities_opportunity WHERE organization_id = %s", [org]
    ).fetchone()[0]

    def params(role: str, **extra: Any) -> dict[str, Any]:
        companies = {"regional_manager": region_companies, "country_manager": [se]}.get(role, [])
        user_id = users[role][0]
        return {"org": org, "user": user_id, "companies": companies, "limit": 50, **extra}

    # A deep position: half-way through the director's list; 1,000 rows into the rep's.
    def position(role: str, depth: int) -> tuple[dt.datetime, int]:
        statement = floors.opportunity_page(users[role][1])[0].replace(
            "LIMIT %(limit)s", "OFFSET %(depth)s LIMIT 1"
        )
        row = owner.execute(statement, params(role, depth=depth)).fetchone()
        # At a small scale a rep may see fewer rows than the depth: as deep as the list goes.
        while row is None and depth > 0:
            depth //= 2
            row = owner.execute(statement, params(role, depth=depth)).fetchone()
        if row is None:
            raise RuntimeError(f"The {role}'s list is empty: no deep position.")
        return row[17], row[0]

    deep_director, deep_rep = position("director", total // 2), position("sales_rep", 1000)

    # Search (crm.search): the first word of the big group's name, as a 4-letter prefix (its
    # 200 subsidiaries and every account sharing the word); the same for an account of the
    # rep's company; and "deal <digits>" (every deal is "Deal <id> <family>": one word that
    # matches all 1M, one that narrows to ~100).
    def first_word(account_id: int) -> str:
        (name,) = owner.execute(
            "SELECT name FROM accounts_account WHERE id = %s", [account_id]
        ).fetchone()
        return name.split()[0].lower()[:4]

    rep_company = users["sales_rep"][2]
    (rep_account,) = owner.execute(
        "SELECT id FROM accounts_account WHERE organization_id = %s AND home_company_id = %s"
        " ORDER BY id LIMIT 1",
        [org, rep_company],
    ).fetchone()
    group_word, rep_word = first_word(big), first_word(rep_account)
    deal_number = str(total // 7)[:4]
    search_goal = "<= 12 queries, p95 <= 50 ms"

    def search_params(word: str) -> dict[str, Any]:
        return {"word": word, "after": word[:-1] + chr(ord(word[-1]) + 1),
                "tsquery": f"'{word}':*"}  # fmt: skip

    api = "/api/v1/opportunities/"
    list_goal = "<= 8 queries, p95 <= 60 ms"
    out = [
        Scenario("api_list_director", "director", api, "api", list_goal,
                 floors.opportunity_page("global_director"), params("director")),
        Scenario("api_list_regional", "regional_manager", api, "api", list_goal,
                 floors.opportunity_page("regional_manager"), params("regional_manager")),
        Scenario("api_list_country", "country_manager", api, "api", list_goal,
                 floors.opportunity_page("country_manager"), params("country_manager")),
        Scenario("api_list_rep", "sales_rep", api, "api", list_goal,
                 floors.opportunity_page("sales_rep"), params("sales_rep")),
        Scenario("api_list_filtered_director", "director",
                 f"{api}?sales_company={de}&global_stage={stages['Propose']}", "api", list_goal,
                 floors.opportunity_page("global_director", filters=(
                     f"AND o.sales_company_id = {de} AND o.global_stage_id = {stages['Propose']}")),
                 params("director")),
        Scenario("api_list_filtered_country", "country_manager",
                 f"{api}?global_stage={stages['Negotiate']}&page_size=200", "api", list_goal,
                 floors.opportunity_page("country_manager",
                                         filters=f"AND o.global_stage_id = {stages['Negotiate']}"),
                 params("country_manager", limit=200)),
        Scenario("api_list_deep_director", "director", f"{api}?DEEP={total // 2}", "api",
                 list_goal, floors.opportunity_page("global_director", keyset=True),
                 params("director", after_at=deep_director[0], after_id=deep_director[1])),
        Scenario("api_list_deep_rep", "sales_rep", f"{api}?DEEP=1000", "api", list_goal,
                 floors.opportunity_page("sales_rep", keyset=True),
                 params("sales_rep", after_at=deep_rep[0], after_id=deep_rep[1])),
        Scenario("page_list_director", "director", "/opportunities/", "page", list_goal,
                 floors.opportunity_page("global_director"), params("director")),
        Scenario("page_list_rep", "sales_rep", "/opportunities/", "page", list_goal,
                 floors.opportunity_page("sales_rep"), params("sales_rep")),
        Scenario("api_360_director", "director", f"/api/v1/accounts/{big}/360/", "api",
                 "<= 12 queries, p95 <= 100 ms", floors.account_360(),
                 params("director", group=big)),
        Scenario("api_360_country", "country_manager", f"/api/v1/accounts/{big}/360/", "api",
                 "<= 12 queries, p95 <= 100 ms", floors.account_360(),
                 params("country_manager", group=big)),
        Scenario("page_account_360", "director", f"/accounts/{big}/", "page",
                 "<= 12 queries, p95 <= 100 ms", floors.account_360(),
                 params("director", group=big)),
        Scenario("dashboard_director", "director", "/reports/", "page",
                 "p95 <= 150 ms, <= 2x floor", floors.dashboard("organization"),
                 params("director", scope_key="organization")),
        Scenario("dashboard_country", "country_manager", "/reports/", "page",
                 "p95 <= 1.5x director's", floors.dashboard("company"),
                 params("country_manager", scope_key=f"company:{se}")),
        Scenario("dashboard_regional", "regional_manager", "/reports/", "page",
                 "(for reference)", floors.dashboard("company"),
                 params("regional_manager",
                        scope_key=f"region:{users['regional_manager'][3]}")),
        Scenario("page_search_director", "director", f"/search/?q={group_word}", "page",
                 search_goal, floors.search("global_director"),
                 params("director", **search_params(group_word))),
        Scenario("page_search_rep", "sales_rep", f"/search/?q={rep_word}", "page",
                 search_goal, floors.search("sales_rep"),
                 params("sales_rep", companies=[rep_company], **search_params(rep_word))),
        Scenario("page_search_deal_director", "director", f"/search/?q=deal+{deal_number}",
                 "page", search_goal, floors.search("global_director"),
                 params("director", **search_params(deal_number))),
    ]  # fmt: skip
    for s in out:
        s.result["rep_id"] = rep_id
    return out


def resolve_deep(s: Scenario, base: str, headers: dict[str, str]) -> str:
    """Deep pages the way the API offers them: a cursor if it paginates by cursor, else the
    page number at the same depth."""
    if "DEEP=" not in s.path:
        return s.path
    depth = int(s.path.split("DEEP=")[1])
    first = requests.get(f"{base}{s.path.split('?')[0]}", headers=headers, timeout=60).json()
    if "cursor=" in (first.get("next") or ""):
        after_at = s.floor_params["after_at"]
        return f"{s.path.split('?')[0]}?cursor={cursor_for(str(after_at))}"
    return f"{s.path.split('?')[0]}?page={depth // 50 + 1}"


def inproc(
    what: str, app_database_url: str, spec: dict[str, Any], media: Path, redis_url: str = ""
) -> Any:
    env = {
        **os.environ,
        "DATABASE_URL": app_database_url,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,testserver",
        "SECURE_SSL_REDIRECT": "0",
        "REDIS_URL": redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "1",
        "MEDIA_ROOT": str(media),
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "BENCH_SPEC": json.dumps(spec, default=str),
    }
    r = subprocess.run(
        [sys.executable, "-m", "bench.inproc", what],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if r.returncode != 0:
        raise RuntimeError(f"bench.inproc {what} failed:\n{r.stderr[-4000:]}")
    return json.loads(r.stdout)


def explain_slowest(
    conn: psycopg.Connection[Any], org: int, statements: list[str]
) -> dict[str, Any] | None:
    """The slowest statement of a request, with its EXPLAIN (ANALYZE, BUFFERS)."""
    conn.execute("SELECT set_config('app.org_id', %s, false)", [str(org)])
    slowest: tuple[float, str] | None = None
    for statement in statements:
        if not statement.lstrip().upper().startswith("SELECT"):
            continue
        started = time.perf_counter()
        try:
            conn.execute(statement.replace("%", "%%")).fetchall()
        except psycopg.Error:
            conn.rollback()
            continue
        elapsed = (time.perf_counter() - started) * 1000
        if slowest is None or elapsed > slowest[0]:
            slowest = (elapsed, statement)
    if slowest is None:
        return None
    plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + slowest[1].replace("%", "%%")).fetchall()
    conn.rollback()
    return {"ms": round(slowest[0], 2), "sql": slowest[1], "plan": "\n".join(r[0] for r in plan)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True, help="owner URL of the bench database")
    parser.add_argument("--seconds", type=float, default=20.0, help="load per scenario")
    parser.add_argument("--users", type=int, default=20, help="concurrent users")
    parser.add_argument(
        "--think",
        type=float,
        default=1.0,
        help="mean seconds a user waits between answer and next request (0: back-to-back, "
        "a saturation test rather than users)",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument(
        "--worker-class",
        default="gthread",
        help="gunicorn worker class: gthread (production's), sync, or "
        "uvicorn.workers.UvicornWorker (ASGI; needs uvicorn installed)",
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--skip-exports", action="store_true")
    parser.add_argument(
        "--before",
        default="",
        help="a previous run's latest.json: the report puts its figures beside this run's "
        "(copy it away first: this run overwrites <out>/latest.json)",
    )
    parser.add_argument("--floor-runs", type=int, default=15)
    parser.add_argument(
        "--warmup-rounds",
        type=int,
        default=1,
        help="rounds of one request per user (at once) before each scenario's load and CPU "
        "sample, not counted (0: the fresh workers' first requests count)",
    )
    parser.add_argument(
        "--cpu-runs", type=int, default=20, help="sequential requests per scenario in-process"
    )
    parser.add_argument(
        "--profile",
        default="",
        help="comma-separated scenario names: run each in-process under cProfile, write the "
        "top 30 cumulative functions to <out>/profile-<scenario>.txt, and stop (no load)",
    )
    args = parser.parse_args()

    owner_url = args.database_url
    app = app_url(owner_url)
    info = read_info(owner_url)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    media = out_dir / "media.tmp"
    with psycopg.connect(owner_url, autocommit=True) as owner:
        scenarios = build_scenarios(owner, info)
        counts = dict(
            owner.execute(
                "SELECT relname, n_live_tup FROM pg_stat_user_tables WHERE relname = ANY(%s)",
                [["opportunities_opportunity", "accounts_account", "accounts_activity",
                  "opportunities_stagechange", "crm_user"]],
            ).fetchall()
        )  # fmt: skip
        regional_region = owner.execute(
            "SELECT region_id FROM crm_user WHERE email = %s", [info["users"]["regional_manager"]]
        ).fetchone()[0]
    if args.only or args.profile:
        wanted = set((args.profile or args.only).split(","))
        scenarios = [s for s in scenarios if s.name in wanted]

    redis_url = args.redis_url if redis_up(args.redis_url) else ""
    if not redis_url:
        log(f"no Redis at {args.redis_url}: sessions from the database (one query more per page)")
    results: dict[str, Any] = {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "scale": info["scale"],
        "rows": counts,
        "machine": {
            "cpus": os.cpu_count(),
            "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(),
            "platform": platform.platform(),
            # The same machine type runs at different speeds from day to day (shared hosts):
            # a fixed pure-Python loop, best of five, so that runs can be compared.
            "python_loop_us": python_loop_us(),
        },
        "load": {"users": args.users, "seconds_per_scenario": args.seconds,
                 "redis": bool(redis_url),
                 "think_seconds": args.think,
                 "warmup_rounds": args.warmup_rounds,
                 "gunicorn": f"{args.workers} workers x {args.threads} threads "
                             f"({args.worker_class})"},
        "scenarios": {},
    }  # fmt: skip
    server = Server(app, args.workers, args.threads, redis_url, args.worker_class)
    try:
        server.start()
        password = info["password"]
        auth: dict[tuple[str, str], dict[str, str]] = {}
        for s in scenarios:
            key = (s.role, s.kind)
            if key not in auth:
                email = info["users"][s.role]
                if s.kind == "api":
                    auth[key] = {
                        "Authorization": f"Token {api_token(server.base, email, password)}"
                    }
                else:
                    auth[key] = {"Cookie": session_cookie(server.base, email, password)}
        present = []
        for s in scenarios:
            s.path = resolve_deep(s, server.base, auth[(s.role, s.kind)])
            status = requests.get(
                f"{server.base}{s.path}", headers=auth[(s.role, s.kind)], timeout=120
            ).status_code
            if status == 404 and s.kind == "page":
                log(f"{s.name}: {s.path} does not exist (yet); skipped")
                results["scenarios"][s.name] = {"path": s.path, "absent": True, "goal": s.goal}
                continue
            present.append(s)
        if args.profile:
            for s in present:
                target = out_dir / f"profile-{s.name}.txt"
                spec_p = {"name": s.name, "email": info["users"][s.role], "path": s.path,
                          "out": str(target), "runs": args.cpu_runs}  # fmt: skip
                done = inproc("profile", app, spec_p, media, redis_url)
                log(f"{s.name}: {done['cpu_ms_profiled']} ms CPU per request profiled -> {target}")
            return
        log("counting queries and CPU per request (in-process)")
        spec = {"scenarios": [{"name": s.name, "email": info["users"][s.role], "path": s.path}
                              for s in present], "cpu_runs": args.cpu_runs}  # fmt: skip
        counted = inproc("queries", app, spec, media, redis_url)
        with psycopg.connect(app) as floor_conn:
            for s in present:
                log(f"{s.name}: {args.users} users x {args.seconds:g} s on {s.path}")
                load = drive(server, f"{server.base}{s.path}", auth[(s.role, s.kind)],
                             args.users, args.seconds, args.think,
                             args.warmup_rounds)  # fmt: skip
                floor = floors.time_floor(floor_conn, s.floor, s.floor_params, args.floor_runs)
                if s.name.startswith("dashboard"):
                    # What a refresh of these figures costs, for context (3 runs: seconds each).
                    live = floors.dashboard_live(
                        "organization" if s.role == "director" else "company"
                    )
                    s.result["floor_live_ms"] = floors.time_floor(
                        floor_conn, live, s.floor_params, 3
                    )["p50"]
                q = counted.get(s.name, {})
                plan = explain_slowest(floor_conn, info["organization_id"], q.get("sql", []))
                results["scenarios"][s.name] = {
                    "path": s.path,
                    "role": s.role,
                    "kind": s.kind,
                    "goal": s.goal,
                    **load,
                    "queries": q.get("queries"),
                    "status_inproc": q.get("status"),
                    "cpu_ms_inproc": q.get("cpu_ms"),
                    "cpu_ms_inproc_min": q.get("cpu_ms_min"),
                    "wall_ms_inproc": q.get("wall_ms"),
                    "cpu_budget_ms": report.cpu_budget(s.name),
                    "floor_ms": floor["p50"],
                    "floor_min_ms": floor["min"],
                    "p50_over_floor": round(load["p50"] / floor["p50"], 1)
                    if floor["p50"]
                    else None,
                    "slowest_statement": plan,
                    **{k: v for k, v in s.result.items() if k != "rep_id"},
                }
                log(f"  p50 {load['p50']} ms, p95 {load['p95']} ms, {q.get('queries')} queries, "
                    f"floor {floor['p50']} ms, CPU {load['cpu_ms_per_request']} ms/request "
                    f"served, {q.get('cpu_ms')} in-process, errors {load['errors']}")  # fmt: skip
        with psycopg.connect(owner_url, autocommit=True) as owner:
            # How long computing each stored dashboard took (its refresh after a change).
            results["dashboard_refresh_seconds"] = {
                key: round(seconds, 2)
                for key, seconds in owner.execute(
                    "SELECT scope_key, seconds FROM reporting_dashboardfigures "
                    "WHERE organization_id = %s AND data <> ''::bytea ORDER BY scope_key",
                    [info["organization_id"]],
                ).fetchall()
            }
    finally:
        server.stop()

    log("in-process: conflict check, duplicates, serialization")
    results["services"] = inproc(
        "services",
        app,
        {"organization_id": info["organization_id"], "big_groups": info["big_groups"],
         "director": info["users"]["director"], "rep": info["users"]["sales_rep"]},
        media,
    )  # fmt: skip
    if not args.skip_exports:
        log("in-process: regional XLSX export")
        results["export_xlsx"] = inproc(
            "export", app,
            {"email": info["users"]["regional_manager"], "region_id": regional_region,
             "format": "xlsx"},
            media,
        )  # fmt: skip
        log("in-process: CSV of the whole organization")
        results["export_csv"] = inproc(
            "export", app, {"email": info["users"]["director"], "format": "csv"}, media
        )
    results["goals"] = report.goals(results)
    if args.before:
        results["before"] = report.summary(json.loads(Path(args.before).read_text()))
    (out_dir / "latest.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (out_dir / "report.md").write_text(report.markdown(results))
    print(report.table(results))


if __name__ == "__main__":
    main()
