"""A worker killed with SIGKILL in the middle of an export: the message is delivered again
(acks_late, reject on worker lost), the next worker writes the export once, and the requester
gets exactly one notification e-mail."""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path

import pytest
from celery import Celery
from openpyxl import load_workbook

from reporting.models import Export, ExportStatus
from tests.reporting.conftest import Dataset
from tests.workers import REDIS_URL, start_worker, stop_worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigkill_mid_export_completes_exactly_once(
    dataset: Dataset, tmp_path: Path, settings
) -> None:
    w = dataset.world
    media, mail, marker = tmp_path / "media", tmp_path / "mail", tmp_path / "started"
    settings.MEDIA_ROOT = media
    env = {
        "MEDIA_ROOT": str(media),
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail),
        "FAULT_MARKER": str(marker),
        # Hand a dead worker's message out again after 2 s instead of an hour.
        "CELERY_VISIBILITY_TIMEOUT": "2",
        # ... even if the killed worker died holding the restore lock.
        "CELERY_UNACKED_MUTEX_EXPIRE": "3",
        # ... and look for such messages every second rather than every ~100 s.
        "CELERY_UNACKED_RESTORE_INTERVAL": "1",
        "CELERY_UNACKED_RESTORE_THROTTLE": "1",
    }
    queue = f"test-{uuid.uuid4().hex[:8]}"
    export = Export.objects.create(
        organization=w.org, requested_by=w.regional, region=w.nordics, format="xlsx"
    )
    # Not the current app: shared tasks queued later in this process would go to its broker.
    client = Celery("test-client", broker=REDIS_URL, backend=REDIS_URL, set_as_current=False)
    client.send_task("reporting.tasks.generate_export", args=[export.pk, w.org.pk], queue=queue)

    first = start_worker(queue, app="tests.reporting.fault_worker", **env)
    try:
        _wait(marker.exists, 60, "the first worker to start the export")
        export.refresh_from_db()
        assert export.status == ExportStatus.RUNNING
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=20)
        assert first.returncode == -signal.SIGKILL
    finally:
        print(stop_worker(first))

    second = start_worker(queue, app="tests.reporting.fault_worker", **env)
    try:

        def done() -> bool:
            export.refresh_from_db()
            return export.status == ExportStatus.DONE

        _wait(done, 180, "the redelivered export to finish")
        time.sleep(3)  # room for a duplicate delivery to show itself, if there were one
    finally:
        print(stop_worker(second))

    export.refresh_from_db()
    assert (export.status, export.progress) == (ExportStatus.DONE, 100)
    workbook = load_workbook(media / export.file_path, read_only=True)
    rows = list(workbook["Opportunities"].values)
    assert export.row_count >= len(rows) - 1 > 0
    assert not list(media.rglob("*.part"))
    mails = list(mail.iterdir())
    assert len(mails) == 1, [m.read_text()[:200] for m in mails]
    assert w.regional.email in mails[0].read_text()
