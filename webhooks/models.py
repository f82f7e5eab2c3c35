"""Outbound webhooks: an organization's endpoints and the log of what was sent to them."""

from __future__ import annotations

import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm import vault
from crm.models import Region, SalesCompany
from crm.tenancy import TenantModel


class EventType(models.TextChoices):
    OPPORTUNITY_CREATED = "opportunity.created", _("Opportunity created")
    OPPORTUNITY_STAGE_CHANGED = "opportunity.stage_changed", _("Opportunity stage changed")
    OPPORTUNITY_WON = "opportunity.won", _("Opportunity won")
    OPPORTUNITY_LOST = "opportunity.lost", _("Opportunity lost")
    ACCOUNT_CREATED = "account.created", _("Account created")
    ACCOUNT_MERGED = "account.merged", _("Account merged")
    CONFLICT_OPENED = "conflict.opened", _("Conflict opened")
    CONFLICT_RESOLVED = "conflict.resolved", _("Conflict resolved")
    IMPORT_FINISHED = "import.finished", _("Import finished")
    # Sent only by "Send a test ping", never subscribed to.
    PING = "ping", _("Test ping")


SUBSCRIBABLE = [c for c in EventType.choices if c[0] != EventType.PING]


SECRET_PURPOSE = "webhooks.signing-secret"


class Scope(models.TextChoices):
    ORGANIZATION = "organization", _("The whole organization")
    REGION = "region", _("A region")
    COMPANY = "company", _("A sales company")


class WebhookEndpoint(TenantModel):
    name = models.CharField(_("name"), max_length=100)
    url = models.URLField(_("URL"), max_length=500)
    # The signing secret, encrypted at rest (crm.vault; the worker decrypts it to sign).
    # Shown once at creation and rotation; read and set through ``secret``.
    secret_encrypted = models.TextField(editable=False)
    event_types = ArrayField(
        models.CharField(max_length=40, choices=SUBSCRIBABLE), verbose_name=_("events")
    )
    scope = models.CharField(
        _("scope"), max_length=12, choices=Scope.choices, default=Scope.ORGANIZATION
    )
    region = models.ForeignKey(
        Region, on_delete=models.CASCADE, null=True, blank=True, related_name="+",
        verbose_name=_("region"),
    )  # fmt: skip
    sales_company = models.ForeignKey(
        SalesCompany, on_delete=models.CASCADE, null=True, blank=True, related_name="+",
        verbose_name=_("sales company"),
    )  # fmt: skip
    is_active = models.BooleanField(_("active"), default=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["organization", "is_active"], name="webhook_org_active")]
        constraints = [
            models.CheckConstraint(
                condition=(Q(scope="organization") & Q(region__isnull=True)
                           & Q(sales_company__isnull=True))
                | (Q(scope="region") & Q(region__isnull=False) & Q(sales_company__isnull=True))
                | (Q(scope="company") & Q(region__isnull=True) & Q(sales_company__isnull=False)),
                name="webhook_scope_target",
            ),
        ]  # fmt: skip

    def __str__(self) -> str:
        return self.name

    @property
    def secret(self) -> str:
        return vault.decrypt(self.secret_encrypted, purpose=SECRET_PURPOSE)

    @secret.setter
    def secret(self, value: str) -> None:
        self.secret_encrypted = vault.encrypt(value, purpose=SECRET_PURPOSE)


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RETRYING = "retrying", _("Retrying")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped (endpoint disabled)")


class WebhookDelivery(TenantModel):
    """One event for one endpoint, with every attempt to send it (``attempt_log``)."""

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    # The event's id: the same for a redelivery, so a receiver can drop what it already has.
    event_id = models.UUIDField(default=uuid.uuid4)
    # The X-Meridian-Delivery header: one per delivery row.
    delivery_id = models.UUIDField(default=uuid.uuid4, unique=True)
    event_type = models.CharField(_("event"), max_length=40, choices=EventType.choices)
    payload = models.JSONField()
    status = models.CharField(
        _("status"), max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    response_code = models.PositiveIntegerField(_("response code"), null=True, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)
    error = models.CharField(max_length=300, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # [{"at", "code", "error", "duration_ms", "retry_in"}] per attempt.
    attempt_log = models.JSONField(default=list, blank=True)
    redelivery_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["organization", "endpoint", "-created_at"], name="webhookdelivery_log"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} to {self.endpoint_id}"
