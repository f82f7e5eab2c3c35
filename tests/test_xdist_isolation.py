"""`make test` runs the suite on several pytest-xdist workers at once: what is shared between
processes (Redis databases, cluster-wide PostgreSQL roles) is named per worker, so two workers
never use the same one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from tests import workers

ROOT = Path(__file__).resolve().parents[1]

# Import tests.workers afresh as each worker would (the name comes from the environment that
# pytest-xdist sets before the worker imports anything), and report what it would use.
PROBE = """
import importlib, json, os, sys
import tests.workers as w
out = {}
for worker in sys.argv[1:]:
    os.environ["PYTEST_XDIST_WORKER"] = worker
    if not worker:
        del os.environ["PYTEST_XDIST_WORKER"]
    importlib.reload(w)
    out[worker] = w.REDIS_URL
print(json.dumps(out))
"""


def test_every_xdist_worker_has_a_redis_database_of_its_own() -> None:
    unset = {"PYTEST_XDIST_WORKER", "TEST_REDIS_URL"}
    env = {k: v for k, v in os.environ.items() if k not in unset}
    names = ["", "gw0", "gw1", "gw2", "gw7"]
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *names],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    urls = json.loads(done.stdout)
    # A serial run keeps the documented database; the workers each get another.
    assert urls[""] == urls["gw0"] == "redis://127.0.0.1:6379/14"
    assert len({urls[n] for n in names[1:]}) == len(names) - 1, urls
    assert urls["gw7"] == "redis://127.0.0.1:6379/7"


def test_this_process_uses_its_workers_redis_database_and_app_role() -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    n = int(worker[2:]) if worker else 0
    base_db = int(os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14").rsplit("/", 1)[1])
    assert workers.REDIS_URL.rsplit("/", 1)[1] == str(base_db - n)
    base_role = os.environ.get("DATABASE_APP_ROLE", "meridian_app")
    role = settings.DATABASE_APP_ROLE
    assert role == (f"{base_role}_{worker}" if worker else base_role)
