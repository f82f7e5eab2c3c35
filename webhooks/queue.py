"""Queueing a delivery attempt, now or after a back-off (by task name: the task module imports
the services, not the other way round)."""

from __future__ import annotations

from importlib import import_module

from celery import current_app
from django.db import transaction

from webhooks.models import WebhookDelivery

TASK = "webhooks.tasks.deliver"


def queue_attempt(delivery_id: int, organization_id: int, countdown: int = 0) -> None:
    if TASK not in current_app.tasks:
        import_module("webhooks.tasks")
    task = current_app.tasks[TASK]
    transaction.on_commit(
        lambda: task.apply_async(args=[delivery_id, organization_id], countdown=countdown or None)
    )


def queue_delivery(delivery: WebhookDelivery) -> None:
    queue_attempt(delivery.pk, delivery.organization_id)
