"""Kernel tasks. Tasks take ids, carry the organization explicitly and run in its scope."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.core.mail import send_mass_mail

from crm.mail import MAIL_TASK_OPTIONS, mail_subject
from crm.models import User
from crm.notifications import notify
from crm.tenancy import org_scope


@shared_task(**MAIL_TASK_OPTIONS)
def send_notification(organization_id: int, user_ids: list[int], subject: str, body: str) -> int:
    """E-mail the given active users of the organization; returns how many mails went out.

    Users of another organization are ignored, whatever ids the caller passes. The subject is
    sanitized here too (``crm.mail.mail_subject``), whoever composed it.
    """
    subject = mail_subject(subject)
    with org_scope(organization_id):
        emails = list(
            User.objects.for_org(organization_id)
            .filter(id__in=user_ids, is_active=True)
            .order_by("id")
            .values_list("email", flat=True)
        )
        return send_mass_mail([(subject, body, None, [email]) for email in emails])


@shared_task(acks_late=True)
def notify_in_app(
    organization_id: int, user_ids: list[int], kind: str, params: dict[str, Any], url: str
) -> int:
    """``crm.notifications.notify`` after commit, for callers that queue their notifications
    (``crm.queue.enqueue("crm.tasks.notify_in_app", org_id, user_ids, kind, params, url)``)
    beside the mail of ``send_notification``. Returns how many notifications were made. Not
    retried: a redelivery after a worker died mid-way could show a notification twice, never
    lose one."""
    with org_scope(organization_id):
        return notify(
            organization_id=organization_id, user_ids=user_ids, kind=kind, params=params, url=url
        )
