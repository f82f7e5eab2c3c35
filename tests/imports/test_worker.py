"""An import run end to end by a real Celery worker (real Redis, the test database): the dry
run, then the commit, each sent to the worker as the pages queue them."""

from __future__ import annotations

import pytest
from celery import Celery

from accounts.models import Account
from imports import services
from imports.models import ImportKind, ImportStatus
from tests.conftest import World
from tests.imports.helpers import upload
from tests.workers import REDIS_URL

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_worker_runs_the_dry_run_and_the_commit(
    world: World, worker_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = world.manager_se
    text = "Namn;Land\n" + "".join(f"Worker {i} AB;SE\n" for i in range(150)) + "Bad;Atlantis\n"
    job = upload(user, ImportKind.ACCOUNTS, text)
    # The request only records the job's new state; this test hands the task to the worker.
    monkeypatch.setattr(services, "_queue", lambda job, commit: None)
    client = Celery("test-client", broker=REDIS_URL, backend=REDIS_URL, set_as_current=False)
    task = "imports.tasks.run_import"

    services.import_request_dry_run(job=job, user=user)
    result = client.send_task(task, args=[job.pk, world.org.pk, False], queue=worker_queue)
    assert result.get(timeout=120) == ImportStatus.READY
    job.refresh_from_db()
    assert (job.created_count, job.error_count, job.rows_done) == (150, 1, 151)
    assert not Account.objects.for_org(world.org).exists()

    services.import_request_commit(job=job, user=user)
    result = client.send_task(task, args=[job.pk, world.org.pk, True], queue=worker_queue)
    assert result.get(timeout=120) == ImportStatus.DONE
    assert Account.objects.for_org(world.org).count() == 150
    # acks_late may deliver it twice: the second run finds the job done and writes nothing.
    again = client.send_task(task, args=[job.pk, world.org.pk, True], queue=worker_queue)
    assert again.get(timeout=120) == ImportStatus.DONE
    assert Account.objects.for_org(world.org).count() == 150
