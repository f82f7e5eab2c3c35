"""The listener of ``crm.events.emit``: after the change committed, one ``WebhookDelivery``
per active endpoint that subscribes to the event and whose scope covers the object, each
queued for the worker."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from crm.scope import org_scope
from webhooks import payloads
from webhooks.models import EventType, WebhookDelivery, WebhookEndpoint
from webhooks.queue import queue_delivery


def envelope(
    *, event_id: uuid.UUID, event_type: str, organization_id: int, data: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": str(event_id),
        "type": event_type,
        "occurred_at": timezone.now().isoformat(),
        "organization_id": organization_id,
        "data": data,
    }


def record_event(
    organization_id: int, event_type: str, obj: Any, extra: dict[str, Any] | None = None
) -> list[WebhookDelivery]:
    """The deliveries of one event (none when no endpoint listens: one query)."""
    if event_type not in EventType.values:
        raise ValueError(f"Unknown webhook event type {event_type!r}.")
    with org_scope(organization_id):
        endpoints = list(
            WebhookEndpoint.objects.for_org(organization_id).filter(
                is_active=True, event_types__contains=[event_type]
            )
        )
        if not endpoints:
            return []
        concerned = payloads.companies_of(obj)
        regions = payloads.company_regions(organization_id)
        event_id = uuid.uuid4()
        made: list[WebhookDelivery] = []
        with transaction.atomic():
            for endpoint in endpoints:
                companies = payloads.visible_companies(endpoint, regions)
                if companies is not None and not (concerned & set(companies)):
                    continue  # outside the scope: not sent at all
                data = payloads.object_payload(obj, companies, dict(extra or {}))
                made.append(
                    WebhookDelivery.objects.create(
                        organization_id=organization_id,
                        endpoint=endpoint,
                        event_id=event_id,
                        event_type=event_type,
                        payload=envelope(
                            event_id=event_id,
                            event_type=event_type,
                            organization_id=organization_id,
                            data=data,
                        ),
                    )
                )
            for delivery in made:
                queue_delivery(delivery)
    return made


def on_domain_event(
    sender: Any,
    *,
    organization_id: int,
    event_type: str,
    obj: Any,
    extra: dict[str, Any],
    **kwargs: Any,
) -> None:
    record_event(organization_id, event_type, obj, extra)
