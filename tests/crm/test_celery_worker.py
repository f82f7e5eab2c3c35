"""A real Celery worker, a real Redis broker and the real test database: one round trip."""

from __future__ import annotations

import pytest
from celery import Celery

from tests.conftest import World
from tests.workers import REDIS_URL

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_worker_runs_a_task_against_the_database_and_returns_its_result(
    world: World, worker_queue: str
) -> None:
    # Not the current app: shared tasks queued later in this process would go to its broker.
    client = Celery("test-client", broker=REDIS_URL, backend=REDIS_URL, set_as_current=False)
    ids = [world.rep_se.pk, world.manager_se.pk, world.stranger.pk]  # stranger: other org
    result = client.send_task(
        "crm.tasks.send_notification",
        args=[world.org.pk, ids, "Conflict found", "Someone else works this group."],
        queue=worker_queue,
    )
    # Only the two users of the organization named in the task get mail.
    assert result.get(timeout=60) == 2
