"""A webhook delivered end to end: an event in this process, the delivery task run by a real
Celery worker (real Redis, the test database), a real HTTP receiver on loopback."""

from __future__ import annotations

import json
import time

import pytest
from celery import Celery

from tests.conftest import World
from tests.opportunities.factories import account_for, process_for
from tests.webhooks.receiver import Receiver, verify
from tests.workers import REDIS_URL
from webhooks.models import DeliveryStatus, WebhookDelivery
from webhooks.services import endpoint_create

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_worker_delivers_a_signed_event_and_a_second_run_sends_nothing(
    world: World, worker_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = Receiver(codes=[200]).start()
    try:
        process_for(world.se)
        endpoint = endpoint_create(
            acting_user=world.admin, name="ERP", url=receiver.url,
            event_types=["account.created"],
        )  # fmt: skip
        # Recorded by the event without queueing (this process would run the task eagerly);
        # the worker gets it from Redis.
        monkeypatch.setattr("webhooks.events.queue_delivery", lambda delivery: None)
        account = account_for(world.se, "Volvo AB")
        delivery = WebhookDelivery.objects.for_org(world.org).get()
        assert delivery.status == DeliveryStatus.PENDING
        client = Celery("test-client", broker=REDIS_URL, backend=REDIS_URL, set_as_current=False)
        task = "webhooks.tasks.deliver"
        result = client.send_task(task, args=[delivery.pk, world.org.pk], queue=worker_queue)
        assert result.get(timeout=120) == DeliveryStatus.SUCCEEDED
        for _ in range(50):
            if receiver.received:
                break
            time.sleep(0.1)
        (got,) = receiver.received
        assert verify(endpoint.secret, got)
        assert json.loads(got.body)["data"]["account"]["id"] == account.pk
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts, delivery.response_code) == (
            DeliveryStatus.SUCCEEDED, 1, 200,
        )  # fmt: skip
        assert delivery.duration_ms is not None
        # acks_late may run it twice: the second run finds it done and sends nothing.
        again = client.send_task(task, args=[delivery.pk, world.org.pk], queue=worker_queue)
        assert again.get(timeout=120) == DeliveryStatus.SUCCEEDED
        assert len(receiver.received) == 1
        # Another organization's id finds no such delivery.
        wrong = client.send_task(task, args=[delivery.pk, world.other_org.pk], queue=worker_queue)
        assert wrong.get(timeout=120) == "missing"
        assert WebhookDelivery.objects.for_org(world.org).count() == 1
    finally:
        receiver.stop()
