"""Real Celery workers for tests: a subprocess against the real Redis and the test database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
BASE_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


def worker_number(worker: str | None = None) -> int:
    """0 for a serial run or xdist's gw0, N for gwN."""
    worker = worker if worker is not None else os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0


def redis_url_for(worker: str | None = None, base: str = BASE_REDIS_URL) -> str:
    """A Redis database of its own for each pytest-xdist worker: base's database, one lower per
    worker (gw0 14, gw1 13, ...). Queue names are already unique per test, but the Redis
    transport keeps its unacked-message bookkeeping (``unacked``, ``unacked_index``,
    ``unacked_mutex``) in keys shared by every consumer of a database: the fault test's 2-second
    visibility timeout would hand another worker's in-flight export out again."""
    parts = urlsplit(base)
    path = parts.path.strip("/")
    db = (int(path) if path.isdigit() else 0) - worker_number(worker)
    if db < 0:
        raise RuntimeError(
            f"No Redis database left for xdist worker {worker!r} below {base}: run fewer "
            "workers (PYTEST_WORKERS) or point TEST_REDIS_URL at a higher database."
        )
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


REDIS_URL = redis_url_for()


def app_role_for(base: str, worker: str | None = None) -> str:
    """The RLS application role for this pytest-xdist worker: ``base`` in a serial run, else
    ``base_gwN``. Roles are cluster-wide: workers sharing one would race to create it (two
    CREATE ROLEs after both saw it missing) and share whatever a test does to it."""
    worker = worker if worker is not None else os.environ.get("PYTEST_XDIST_WORKER", "")
    return f"{base}_{worker}" if worker else base


def database_url() -> str:
    """The URL of the test database this process uses, for the worker to share it."""
    s = connection.settings_dict
    auth = f"{s['USER']}:{s['PASSWORD']}@" if s["USER"] else ""
    host = s["HOST"] or "127.0.0.1"
    if host.startswith("/"):  # a socket directory (embedded server)
        return f"postgres://{auth}/{s['NAME']}?host={host}"
    return f"postgres://{auth}{host}:{s['PORT'] or 5432}/{s['NAME']}"


def start_worker(queue: str, *, app: str = "meridian", **env: str) -> subprocess.Popen[str]:
    full_env = {
        **os.environ,
        "DEBUG": "1",
        "REDIS_URL": REDIS_URL,
        "DATABASE_URL": database_url(),
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", app, "worker", "--pool=solo", "-Q", queue,
         "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=WARNING"],
        cwd=ROOT, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def stop_worker(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.terminate()
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out or ""
