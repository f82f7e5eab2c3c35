"""Opportunity tasks: ids in, organization explicit, one service each, idempotent."""

from __future__ import annotations

from smtplib import SMTPException

from celery import shared_task

from crm.tenancy import org_scope


@shared_task(
    acks_late=True,
    # A mail server that is down or slow is retried with growing pauses (1 s, 2 s, ... 10 min).
    autoretry_for=(SMTPException, ConnectionError, TimeoutError),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=6,
)
def notify_new_conflicts(organization_id: int, conflict_ids: list[int]) -> int:
    """Mail the people concerned by newly found conflicts (queued after the save commits);
    a redelivered or retried task mails no one twice."""
    from opportunities.conflicts import conflicts_notify

    with org_scope(organization_id):
        return conflicts_notify(organization_id=organization_id, conflict_ids=conflict_ids)
