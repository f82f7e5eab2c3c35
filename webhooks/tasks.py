"""Celery tasks of webhooks: ids in, one service call."""

from __future__ import annotations

from celery import shared_task

from webhooks import services


@shared_task(name="webhooks.tasks.deliver")
def deliver(delivery_id: int, organization_id: int) -> str:
    return services.delivery_attempt(delivery_id=delivery_id, organization_id=organization_id)
