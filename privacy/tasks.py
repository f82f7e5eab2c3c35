"""Privacy tasks: the organization explicit, one service each, idempotent."""

from __future__ import annotations

from celery import shared_task

from crm.models import Organization
from privacy.retention import erase_stale_leads


@shared_task(acks_late=True)
def erase_stale_leads_of(organization_id: int) -> int:
    return erase_stale_leads(organization_id)


@shared_task(acks_late=True)
def erase_stale_leads_all() -> int:
    """Daily (beat): one task per organization whose retention is on."""
    ids = list(
        Organization.objects.filter(lead_retention_months__isnull=False)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for org_id in ids:
        erase_stale_leads_of.delay(org_id)
    return len(ids)
