"""Retention of leads never converted: erased (``privacy.services.lead_erase``) once their last
change is older than the organization's ``lead_retention_months`` (off when empty)."""

from __future__ import annotations

import calendar
import datetime as dt

from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from crm.models import Organization
from crm.tenancy import org_scope
from leads.models import Lead, LeadStatus
from privacy.services import lead_erase

REASON = "Retention: not converted within %(months)s months of its last change"


def months_before(moment: dt.datetime, months: int) -> dt.datetime:
    """The same day and time ``months`` calendar months earlier (the 31st becomes the month's
    last day)."""
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def stale_leads(organization: Organization, now: dt.datetime | None = None) -> list[int]:
    months = organization.lead_retention_months
    if not months:
        return []
    cutoff = months_before(now or timezone.now(), months)
    return list(
        Lead.objects.for_org(organization.pk)
        .annotate(last_change=Coalesce("changed_at", "created_at"))
        .filter(erased_at__isnull=True, converted_at__isnull=True, last_change__lt=cutoff)
        .filter(~Q(status=LeadStatus.CONVERTED))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def erase_stale_leads(organization_id: int, now: dt.datetime | None = None) -> int:
    """Erase one organization's stale leads; idempotent (erased leads are not stale)."""
    with org_scope(organization_id):
        organization = Organization.objects.get(pk=organization_id)
        ids = stale_leads(organization, now)
        reason = REASON % {"months": organization.lead_retention_months}
        for lead in Lead.objects.for_org(organization_id).filter(pk__in=ids):
            lead_erase(lead=lead, acting_user=None, reason=reason)
        return len(ids)
