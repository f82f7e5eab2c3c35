"""The listener of ``crm.events.emit``: after the change committed, one ``WebhookDelivery``
per active endpoint that subscribes to the event and whose scope covers the object, each
queued for the worker."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from crm.scope import org_scope
from webhooks import payloads
from webhooks.models import EventType, WebhookDelivery, WebhookEndpoint
from webhooks.queue import queue_delivery

logger = logging.getLogger(__name__)


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


def _endpoints(organization_id: int, event_type: str) -> list[WebhookEndpoint]:
    if event_type not in EventType.values:
        raise ValueError(f"Unknown webhook event type {event_type!r}.")
    return list(
        WebhookEndpoint.objects.for_org(organization_id).filter(
            is_active=True, event_types__contains=[event_type]
        )
    )


def _deliveries(
    organization_id: int,
    event_type: str,
    obj: Any,
    extra: dict[str, Any] | None,
    endpoints: list[WebhookEndpoint],
    regions: dict[int, int | None],
) -> list[WebhookDelivery]:
    concerned = payloads.companies_of(obj)
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


def record_event(
    organization_id: int, event_type: str, obj: Any, extra: dict[str, Any] | None = None
) -> list[WebhookDelivery]:
    """The deliveries of one event (none when no endpoint listens: one query)."""
    return record_events(organization_id, event_type, [obj], extra)


def record_events(
    organization_id: int,
    event_type: str,
    objs: Sequence[Any],
    extra: dict[str, Any] | None = None,
    *,
    robust: bool = False,
) -> list[WebhookDelivery]:
    """The deliveries of one event type about each of ``objs``, as ``record_event`` for each
    in turn, with the endpoints and the companies' regions read once for all of them (an
    import's chunk of new deals: one query when no endpoint listens). ``robust``: one
    object's failure is logged and the others still go out (as ``emit``'s one callback per
    object did)."""
    with org_scope(organization_id):
        endpoints = _endpoints(organization_id, event_type)
        if not endpoints or not objs:
            return []
        regions = payloads.company_regions(organization_id)
        made: list[WebhookDelivery] = []
        for obj in objs:
            try:
                made += _deliveries(organization_id, event_type, obj, extra, endpoints, regions)
            except Exception:
                if not robust:
                    raise
                logger.exception("Recording %s for %r failed.", event_type, obj)
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


def on_domain_events(
    sender: Any,
    *,
    organization_id: int,
    event_type: str,
    objs: Sequence[Any],
    extra: dict[str, Any],
    **kwargs: Any,
) -> None:
    record_events(organization_id, event_type, objs, extra, robust=True)
