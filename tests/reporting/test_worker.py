"""An export through a real Celery worker, a real Redis broker and the real test database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery
from openpyxl import load_workbook

from reporting.models import Export, ExportStatus
from tests.reporting.conftest import Dataset
from tests.workers import REDIS_URL, start_worker, stop_worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def media(settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def export_worker(media: Path) -> Iterator[str]:
    queue = f"test-{uuid.uuid4().hex[:8]}"
    # The worker writes where this test reads.
    proc = start_worker(queue, MEDIA_ROOT=str(media))
    yield queue
    print(stop_worker(proc))


def test_a_worker_writes_the_export_and_a_redelivery_does_nothing(
    dataset: Dataset, export_worker: str, media: Path
) -> None:
    w = dataset.world
    # Created directly: in this process tasks would run eagerly; the worker must do it.
    export = Export.objects.create(
        organization=w.org, requested_by=w.regional, region=w.nordics, format="xlsx"
    )
    # Not the current app: shared tasks queued later in this process would go to its broker.
    client = Celery("test-client", broker=REDIS_URL, backend=REDIS_URL, set_as_current=False)
    task = "reporting.tasks.generate_export"
    result = client.send_task(task, args=[export.pk, w.org.pk], queue=export_worker)
    assert result.get(timeout=120) == ExportStatus.DONE
    export.refresh_from_db()
    assert (export.status, export.progress) == (ExportStatus.DONE, 100)
    rows = list(load_workbook(media / export.file_path, read_only=True)["Opportunities"].values)
    # Header, the rows, the totals row (issue 18).
    assert rows[-1][0] == "Total"
    expected = {dataset.opps[k].pk for k in ("o1", "o2", "o4", "o5", "o6")}
    assert {r[0] for r in rows[1:-1]} == expected
    finished = export.finished_at
    # acks_late may deliver a task twice: the second run finds it done and leaves it alone.
    again = client.send_task(task, args=[export.pk, w.org.pk], queue=export_worker)
    assert again.get(timeout=120) == ExportStatus.DONE
    export.refresh_from_db()
    assert export.finished_at == finished
    # The wrong organization id finds nothing (the task looks the export up in that tenant).
    wrong = client.send_task(task, args=[export.pk, w.other_org.pk], queue=export_worker)
    assert wrong.get(timeout=120) == "missing"
