"""Writes of webhooks: endpoints (create, update, rotate the secret, delete), one delivery
attempt with its retry or give-up, manual redelivery and the test ping."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import secrets
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.models import User
from crm.notifications import notify
from crm.roles import Role
from webhooks.events import envelope
from webhooks.models import (
    SUBSCRIBABLE,
    DeliveryStatus,
    EventType,
    Scope,
    WebhookDelivery,
    WebhookEndpoint,
)
from webhooks.queue import queue_attempt, queue_delivery

EXCERPT = 500
USER_AGENT = "Meridian-Webhooks/1"


def retry_schedule() -> list[int]:
    return list(settings.WEBHOOK_RETRY_SCHEDULE)


def may_manage_webhooks(user: User) -> bool:
    return user.is_active and user.role == Role.GLOBAL_ADMIN


def _require_admin(user: User, organization_id: int) -> None:
    if not may_manage_webhooks(user) or user.organization_id != organization_id:
        raise PermissionDenied(_("Only the global admin manages webhooks."))


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Meridian-Signature value: HMAC-SHA256 of ``<timestamp>.<body>``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def validate_url(url: str) -> None:
    """https outside DEBUG, and then no loopback or private address (no requests into our own
    network on a customer's behalf); WEBHOOK_ALLOW_INSECURE (DEBUG: development, tests) allows
    http and loopback."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        raise ValidationError({"url": _("Enter a full URL.")})
    if settings.WEBHOOK_ALLOW_INSECURE and parts.scheme in {"http", "https"}:
        return
    if parts.scheme != "https":
        raise ValidationError({"url": _("The URL must start with https://.")})
    if host == "localhost" or host.endswith(".localhost"):
        raise ValidationError({"url": _("The URL may not point to this server.")})
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return
    if address.is_loopback or address.is_private or address.is_link_local:
        raise ValidationError({"url": _("The URL may not point to a private network.")})


def _check_scope(organization_id: int, fields: dict[str, Any]) -> None:
    scope = fields.get("scope") or Scope.ORGANIZATION
    region, company = fields.get("region"), fields.get("sales_company")
    if scope == Scope.REGION and region is None:
        raise ValidationError({"region": _("Choose the region.")})
    if scope == Scope.COMPANY and company is None:
        raise ValidationError({"sales_company": _("Choose the sales company.")})
    for obj in (region, company):
        if obj is not None and obj.organization_id != organization_id:
            raise ValidationError(_("Choose a region or company of your organization."))
    if scope != Scope.REGION:
        fields["region"] = None
    if scope != Scope.COMPANY:
        fields["sales_company"] = None
    events = fields.get("event_types") or []
    allowed = {value for value, _label in SUBSCRIBABLE}
    if not events or not set(events) <= allowed:
        raise ValidationError({"event_types": _("Choose at least one event.")})


_FIELDS = {"name", "url", "event_types", "scope", "region", "sales_company", "is_active"}


@transaction.atomic
def endpoint_create(*, acting_user: User, **fields: Any) -> WebhookEndpoint:
    """A new endpoint with a generated secret (the caller shows it this once)."""
    org_id = acting_user.organization_id
    _require_admin(acting_user, org_id)
    unknown = set(fields) - _FIELDS
    if unknown:
        raise ValueError(f"Not endpoint fields: {sorted(unknown)}")
    validate_url(fields.get("url", ""))
    _check_scope(org_id, fields)
    endpoint = WebhookEndpoint(organization_id=org_id, **fields)
    endpoint.secret = new_secret()
    endpoint.full_clean()
    endpoint.save()
    return endpoint


@transaction.atomic
def endpoint_update(
    *, endpoint: WebhookEndpoint, acting_user: User, **fields: Any
) -> WebhookEndpoint:
    _require_admin(acting_user, endpoint.organization_id)
    unknown = set(fields) - _FIELDS
    if unknown:
        raise ValueError(f"Not endpoint fields: {sorted(unknown)}")
    merged = {f: getattr(endpoint, f) for f in _FIELDS} | fields
    validate_url(merged["url"])
    _check_scope(endpoint.organization_id, merged)
    was_active = endpoint.is_active
    for name, value in merged.items():
        setattr(endpoint, name, value)
    if endpoint.is_active and not was_active:
        # Switched on again by a person: a fresh count, the old reason gone.
        endpoint.consecutive_failures = 0
        endpoint.disabled_at = None
        endpoint.disabled_reason = ""
    endpoint.full_clean()
    endpoint.save()
    return endpoint


@transaction.atomic
def endpoint_rotate_secret(*, endpoint: WebhookEndpoint, acting_user: User) -> str:
    _require_admin(acting_user, endpoint.organization_id)
    endpoint.secret = new_secret()
    endpoint.save(update_fields=["secret_encrypted"])
    return endpoint.secret


@transaction.atomic
def endpoint_delete(*, endpoint: WebhookEndpoint, acting_user: User) -> None:
    _require_admin(acting_user, endpoint.organization_id)
    endpoint.delete()


@transaction.atomic
def delivery_redeliver(*, delivery: WebhookDelivery, acting_user: User) -> WebhookDelivery:
    """The same event (same event id and payload) sent again as a new delivery."""
    _require_admin(acting_user, delivery.organization_id)
    again = WebhookDelivery.objects.create(
        organization_id=delivery.organization_id,
        endpoint_id=delivery.endpoint_id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        payload=delivery.payload,
        redelivery_of=delivery,
    )
    queue_delivery(again)
    return again


@transaction.atomic
def endpoint_ping(*, endpoint: WebhookEndpoint, acting_user: User) -> WebhookDelivery:
    _require_admin(acting_user, endpoint.organization_id)
    event_id = uuid.uuid4()
    delivery = WebhookDelivery.objects.create(
        organization_id=endpoint.organization_id,
        endpoint=endpoint,
        event_id=event_id,
        event_type=EventType.PING,
        payload=envelope(
            event_id=event_id,
            event_type=EventType.PING,
            organization_id=endpoint.organization_id,
            data={"endpoint_id": endpoint.pk},
        ),
    )
    queue_delivery(delivery)
    return delivery


# --- Sending -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    code: int | None
    excerpt: str
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.code is not None and 200 <= self.code < 300


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect is the receiver's answer (a 3xx, a failure), never a second request elsewhere.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def post(url: str, body: bytes, headers: dict[str, str]) -> Response:
    started = time.monotonic()
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    code: int | None = None
    excerpt = error = ""
    try:
        with _OPENER.open(request, timeout=settings.WEBHOOK_TIMEOUT) as answer:
            code = answer.status
            excerpt = answer.read(EXCERPT).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        code = exc.code
        excerpt = exc.read(EXCERPT).decode("utf-8", "replace")
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        error = str(getattr(exc, "reason", exc))[:300] or type(exc).__name__
    duration = int((time.monotonic() - started) * 1000)
    return Response(code=code, excerpt=excerpt, error=error, duration_ms=duration)


def headers_for(delivery: WebhookDelivery, secret: str, body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Meridian-Event": delivery.event_type,
        "X-Meridian-Delivery": str(delivery.delivery_id),
        "X-Meridian-Timestamp": timestamp,
        "X-Meridian-Signature": sign(secret, timestamp, body),
    }


def _disable(endpoint: WebhookEndpoint) -> None:
    endpoint.is_active = False
    endpoint.disabled_at = timezone.now()
    endpoint.disabled_reason = f"{endpoint.consecutive_failures} consecutive failed deliveries"
    admins = User.objects.for_org(endpoint.organization_id).filter(
        role=Role.GLOBAL_ADMIN, is_active=True
    )
    notify(
        organization_id=endpoint.organization_id,
        user_ids=admins.values_list("pk", flat=True),
        kind="webhook_disabled",
        params={"name": endpoint.name, "count": endpoint.consecutive_failures},
        url=reverse("setup:webhook_deliveries", args=[endpoint.pk]),
    )


def delivery_attempt(*, delivery_id: int, organization_id: int) -> str:
    """One attempt at one delivery: sent, retried after a back-off, or given up. Idempotent: a
    finished delivery is left alone (acks_late may run a task twice)."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.for_org(organization_id)
            .select_for_update()
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:
            return "missing"
        if delivery.status in {
            DeliveryStatus.SUCCEEDED,
            DeliveryStatus.FAILED,
            DeliveryStatus.SKIPPED,
        }:
            return str(delivery.status)
        endpoint = WebhookEndpoint.objects.for_org(organization_id).get(pk=delivery.endpoint_id)
        if not endpoint.is_active and delivery.event_type != EventType.PING:
            delivery.status = DeliveryStatus.SKIPPED
            delivery.finished_at = timezone.now()
            delivery.save(update_fields=["status", "finished_at"])
            return str(delivery.status)
        url, secret = endpoint.url, endpoint.secret
    # Outside the transaction: no row lock held for the receiver's up to 10 seconds.
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    answer = post(url, body, headers_for(delivery, secret, body))
    with transaction.atomic():
        endpoint = (
            WebhookEndpoint.objects.for_org(organization_id)
            .select_for_update()
            .get(pk=delivery.endpoint_id)
        )
        delivery.attempts += 1
        delivery.response_code = answer.code
        delivery.response_excerpt = answer.excerpt[:EXCERPT]
        delivery.error = answer.error[:300]
        delivery.duration_ms = answer.duration_ms
        schedule = retry_schedule()
        retry_in: int | None = None
        now = timezone.now()
        if answer.ok:
            delivery.status = DeliveryStatus.SUCCEEDED
            delivery.finished_at = now
            delivery.next_attempt_at = None
            endpoint.consecutive_failures = 0
        elif delivery.attempts <= len(schedule) and delivery.event_type != EventType.PING:
            retry_in = schedule[delivery.attempts - 1]
            delivery.status = DeliveryStatus.RETRYING
            delivery.next_attempt_at = now + dt.timedelta(seconds=retry_in)
        else:
            delivery.status = DeliveryStatus.FAILED
            delivery.finished_at = now
            delivery.next_attempt_at = None
            if delivery.event_type != EventType.PING:
                endpoint.consecutive_failures += 1
                if (
                    endpoint.is_active
                    and endpoint.consecutive_failures >= settings.WEBHOOK_DISABLE_AFTER
                ):
                    _disable(endpoint)
        delivery.attempt_log = [
            *delivery.attempt_log,
            {
                "at": now.isoformat(),
                "code": answer.code,
                "error": answer.error[:100],
                "duration_ms": answer.duration_ms,
                "retry_in": retry_in,
            },
        ]
        delivery.save()
        endpoint.save(
            update_fields=["consecutive_failures", "is_active", "disabled_at", "disabled_reason"]
        )
        if retry_in is not None:
            queue_attempt(delivery.pk, organization_id, countdown=retry_in)
    return str(delivery.status)
