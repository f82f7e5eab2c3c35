"""Demo data of webhooks: Nordvik's ERP endpoint (switched off: there is no receiver on the
demo machine) with a short delivery log, so the set-up page and its log have something to show."""

from __future__ import annotations

import datetime as dt
import uuid

from django.utils import timezone

from crm.models import Organization, SalesCompany
from crm.vault import encrypt
from webhooks.models import (
    SECRET_PURPOSE,
    DeliveryStatus,
    Scope,
    WebhookDelivery,
    WebhookEndpoint,
)
from webhooks.services import new_secret

NAME = "Nordvik ERP (SE)"


def seed_demo(org: Organization) -> None:
    if org.slug != "nordvik":
        return
    company = SalesCompany.objects.for_org(org).filter(code="SE").first()
    if company is None or WebhookEndpoint.objects.for_org(org).filter(name=NAME).exists():
        return
    now = timezone.now().replace(microsecond=0)
    endpoint = WebhookEndpoint.objects.create(
        organization=org,
        name=NAME,
        url="https://erp.nordvik.example/meridian/events",
        secret_encrypted=encrypt(new_secret(), purpose=SECRET_PURPOSE),
        event_types=["opportunity.created", "opportunity.won", "opportunity.lost"],
        scope=Scope.COMPANY,
        sales_company=company,
        is_active=False,
        consecutive_failures=0,
        disabled_at=now,
        disabled_reason="Demo: no receiver on this machine",
    )
    for ago, status, code, excerpt in (
        (3, DeliveryStatus.SUCCEEDED, 200, '{"ok": true}'),
        (2, DeliveryStatus.FAILED, 503, "Service Unavailable"),
    ):
        event_id = uuid.uuid4()
        when = now - dt.timedelta(days=ago)
        WebhookDelivery.objects.create(
            organization=org,
            endpoint=endpoint,
            event_id=event_id,
            event_type="opportunity.won",
            payload={"id": str(event_id), "type": "opportunity.won", "organization_id": org.pk},
            status=status,
            attempts=1 if code == 200 else 6,
            response_code=code,
            response_excerpt=excerpt,
            duration_ms=120,
            created_at=when,
            finished_at=when,
        )
