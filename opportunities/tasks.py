"""Opportunity tasks: ids in, organization explicit, one service each, idempotent."""

from __future__ import annotations

from celery import shared_task
from django.db import transaction

from accounts.models import Account
from crm.mail import MAIL_TASK_OPTIONS
from crm.tenancy import org_scope
from opportunities.conflicts import detect_for_opportunity
from opportunities.models import Opportunity
from opportunities.notifications import conflicts_notify
from opportunities.selectors import open_q


@shared_task(**MAIL_TASK_OPTIONS)
def notify_new_conflicts(organization_id: int, conflict_ids: list[int]) -> int:
    """Mail the people concerned by newly found conflicts (queued after the save commits);
    a redelivered or retried task mails no one twice."""
    with org_scope(organization_id):
        return conflicts_notify(organization_id=organization_id, conflict_ids=conflict_ids)


@shared_task(acks_late=True)
def redetect_group(organization_id: int, group_id: int) -> int:
    """Re-run conflict detection for every open deal of a group (after an account joined or left
    it); new conflicts mail every side once, through detection's own notification. Returns the
    number of deals checked. Idempotent: detection records each finding once."""
    with org_scope(organization_id):
        deals = list(
            Opportunity.objects.for_org(organization_id)
            # The deal's own copy of its account's group (kept by the database): no join.
            .filter(open_q(), account_group_id=group_id)
            .order_by("pk")
        )
        for deal in deals:
            with transaction.atomic():
                detect_for_opportunity(opportunity=deal, acting_user=None)
    return len(deals)


def on_account_regrouped(sender: object, account: Account, **kwargs: object) -> None:
    """Queue the group's re-check once the move has committed: the account's new group, and its
    old one is re-checked by the deals that stay there on their next save (their findings with
    the moved account's deals no longer match and are closed then)."""
    org_id, group_id = account.organization_id, account.group_id or account.pk
    transaction.on_commit(lambda: redetect_group.delay(org_id, group_id), robust=True)
