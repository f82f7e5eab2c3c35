"""Reporting tasks: ids in, organization explicit, one service each, idempotent."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.utils import timezone

from crm.mail import MAIL_TASK_OPTIONS
from crm.models import Organization, User
from crm.money import MissingExchangeRateError
from crm.tenancy import org_scope
from reporting import customer_value, deviations, figures, selectors, services
from reporting.models import Export


@shared_task(acks_late=True)
def generate_export(export_id: int, organization_id: int) -> str:
    """Write one export's file; a redelivered task finds it done and does nothing."""
    with org_scope(organization_id):
        export = Export.objects.for_org(organization_id).filter(pk=export_id).first()
        if export is None:
            return "missing"
        return services.export_generate(export=export).status


@shared_task(acks_late=True)
def take_pipeline_snapshot(organization_id: int, on_date: str | None = None) -> int:
    """One organization's snapshot for ``on_date`` (ISO date; today by default)."""
    day = dt.date.fromisoformat(on_date) if on_date else timezone.localdate()
    with org_scope(organization_id):
        org = Organization.objects.get(pk=organization_id)
        return services.pipeline_snapshot_take(organization=org, on_date=day)


@shared_task(acks_late=True)
def take_pipeline_snapshots() -> int:
    """Weekly (beat): queue one snapshot task per organization, all for the same day."""
    today = timezone.localdate().isoformat()
    ids = list(Organization.objects.order_by("pk").values_list("pk", flat=True))
    for org_id in ids:
        take_pipeline_snapshot.delay(org_id, today)
    return len(ids)


@shared_task(acks_late=True)
def purge_expired_exports() -> int:
    return services.exports_purge_expired()


@shared_task(acks_late=True)
def refresh_dashboard(user_id: int, organization_id: int, scope_key: str, as_of: str) -> str:
    """Recompute one dashboard's stored figures (queued by the first view of stale ones); the
    user is one whose role covers the scope, so the figures are everyone's who may see them."""
    kind, _, pk = scope_key.partition(":")
    with org_scope(organization_id):
        user = User.objects.for_org(organization_id).filter(pk=user_id, is_active=True).first()
        if user is None:
            return "no user"
        where = selectors.dashboard_scope(
            user=user,
            region_id=pk if kind == "region" else None,
            sales_company_id=pk if kind == "company" else None,
        )
        try:
            figures.refresh(user=user, where=where, as_of=dt.date.fromisoformat(as_of))
        except MissingExchangeRateError as exc:
            # Recorded with the figures for the page to show; failing the task would only have
            # the next view queue it again.
            return f"missing rate: {exc}"
    return scope_key


@shared_task(acks_late=True)
def refresh_account_values(organization_id: int, on_date: str | None = None) -> int:
    """One organization's stored customer values and segments (idempotent)."""
    day = dt.date.fromisoformat(on_date) if on_date else timezone.localdate()
    with org_scope(organization_id):
        org = Organization.objects.get(pk=organization_id)
        return customer_value.refresh_account_values(organization=org, as_of=day).accounts


@shared_task(acks_late=True)
def refresh_all_account_values() -> int:
    """Nightly (beat): one refresh task per organization, all for the same day."""
    today = timezone.localdate().isoformat()
    ids = list(Organization.objects.order_by("pk").values_list("pk", flat=True))
    for org_id in ids:
        refresh_account_values.delay(org_id, today)
    return len(ids)


@shared_task(**MAIL_TASK_OPTIONS)
def detect_deviations(organization_id: int, on_date: str | None = None) -> int:
    """One organization's weekly deviation check for ``on_date`` (ISO; today by default);
    returns how many new alerts it raised. Run twice, the second finds nothing new."""
    day = dt.date.fromisoformat(on_date) if on_date else timezone.localdate()
    with org_scope(organization_id):
        org = Organization.objects.filter(pk=organization_id).first()
        if org is None:
            return 0
        return len(deviations.deviations_detect(organization=org, as_of=day))


@shared_task(acks_late=True)
def detect_all_deviations() -> int:
    """Weekly (beat, after the snapshot): queue one deviation check per organization."""
    today = timezone.localdate().isoformat()
    ids = list(Organization.objects.order_by("pk").values_list("pk", flat=True))
    for org_id in ids:
        detect_deviations.delay(org_id, today)
    return len(ids)
