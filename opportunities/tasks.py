"""Opportunity tasks: ids in, organization explicit, one service each, idempotent."""

from __future__ import annotations

from celery import shared_task

from crm.mail import MAIL_TASK_OPTIONS
from crm.tenancy import org_scope
from opportunities.notifications import conflicts_notify


@shared_task(**MAIL_TASK_OPTIONS)
def notify_new_conflicts(organization_id: int, conflict_ids: list[int]) -> int:
    """Mail the people concerned by newly found conflicts (queued after the save commits);
    a redelivered or retried task mails no one twice."""
    with org_scope(organization_id):
        return conflicts_notify(organization_id=organization_id, conflict_ids=conflict_ids)
