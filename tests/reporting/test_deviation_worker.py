"""The weekly deviation check through a real Celery worker, a real Redis broker and the real
test database: the alerts, the notifications and the mails (written to files by the worker),
and a second delivery that adds nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery

from crm.models import Notification
from reporting.models import DeviationAlert
from tests.reporting.conftest import AS_OF, Dataset
from tests.workers import REDIS_URL, start_worker, stop_worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def mail_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def deviation_worker(mail_dir: Path) -> Iterator[str]:
    queue = f"test-{uuid.uuid4().hex[:8]}"
    proc = start_worker(
        queue,
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(mail_dir),
    )
    yield queue
    print(stop_worker(proc))


def test_a_worker_raises_the_alerts_once(
    dataset: Dataset, deviation_worker: str, mail_dir: Path
) -> None:
    w = dataset.world
    client = Celery("test-client", broker=REDIS_URL, backend=REDIS_URL, set_as_current=False)
    task = "reporting.tasks.detect_deviations"
    result = client.send_task(task, args=[w.org.pk, AS_OF.isoformat()], queue=deviation_worker)
    assert result.get(timeout=120) == 4
    alerts = DeviationAlert.objects.for_org(w.org)
    assert {(a.sales_company_id, a.measure) for a in alerts} == {
        (w.dk.pk, "coverage"),
        (w.se.pk, "win_rate"),
        (w.dk.pk, "data_quality"),
        (w.de.pk, "data_quality"),
    }
    notifications = Notification.objects.for_org(w.org).count()
    assert notifications == 6  # the director 4, the SE and DE managers 1 each
    mails = "".join(p.read_text() for p in mail_dir.iterdir())
    assert mails.count("\nTo: ") == 5  # one mail each, in its reader's language
    # acks_late may deliver twice: the second run finds the week's alerts and tells nobody.
    again = client.send_task(task, args=[w.org.pk, AS_OF.isoformat()], queue=deviation_worker)
    assert again.get(timeout=120) == 0
    assert alerts.count() == 4
    assert Notification.objects.for_org(w.org).count() == notifications
    assert "".join(p.read_text() for p in mail_dir.iterdir()) == mails
    # Another organization's id finds none of these companies.
    other = client.send_task(task, args=[w.other_org.pk, AS_OF.isoformat()], queue=deviation_worker)
    assert other.get(timeout=120) == 0
