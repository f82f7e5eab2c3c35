"""Real Celery workers for tests: a subprocess against the real Redis and the test database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


def database_url() -> str:
    """The URL of the test database this process uses, for the worker to share it."""
    s = connection.settings_dict
    auth = f"{s['USER']}:{s['PASSWORD']}@" if s["USER"] else ""
    host = s["HOST"] or "127.0.0.1"
    if host.startswith("/"):  # a socket directory (embedded server)
        return f"postgres://{auth}/{s['NAME']}?host={host}"
    return f"postgres://{auth}{host}:{s['PORT'] or 5432}/{s['NAME']}"


def start_worker(queue: str, *, app: str = "crm", **env: str) -> subprocess.Popen[str]:
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
