"""A real Celery worker, a real Redis broker and the real test database: one round trip."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from celery import Celery
from django.db import connection

from tests.conftest import World

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _database_url() -> str:
    s = connection.settings_dict
    auth = f"{s['USER']}:{s['PASSWORD']}@" if s["USER"] else ""
    host = s["HOST"] or "127.0.0.1"
    if host.startswith("/"):  # a socket directory (embedded server)
        return f"postgres://{auth}/{s['NAME']}?host={host}"
    return f"postgres://{auth}{host}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def worker_queue() -> str:
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DEBUG": "1",
        "REDIS_URL": REDIS_URL,
        "DATABASE_URL": _database_url(),
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "crm",
            "worker",
            "--pool=solo",
            "-Q",
            queue,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield queue
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    print(out)


def test_worker_runs_a_task_against_the_database_and_returns_its_result(
    world: World, worker_queue: str
) -> None:
    client = Celery("test-client", broker=REDIS_URL, backend=REDIS_URL)
    ids = [world.rep_se.pk, world.manager_se.pk, world.stranger.pk]  # stranger: other org
    result = client.send_task(
        "crm.tasks.send_notification",
        args=[world.org.pk, ids, "Conflict found", "Someone else works this group."],
        queue=worker_queue,
    )
    # Only the two users of the organization named in the task get mail.
    assert result.get(timeout=60) == 2
