"""Opportunity tasks: ids in, organization explicit, one service each, idempotent."""

from __future__ import annotations

from functools import partial

from celery import shared_task
from django.db import transaction

from accounts.models import Account
from crm.mail import MAIL_TASK_OPTIONS
from crm.tenancy import org_scope
from opportunities import conflicts
from opportunities.notifications import conflicts_notify


@shared_task(**MAIL_TASK_OPTIONS)
def notify_new_conflicts(organization_id: int, conflict_ids: list[int]) -> int:
    """Mail the people concerned by newly found conflicts (queued after the save commits);
    a redelivered or retried task mails no one twice."""
    with org_scope(organization_id):
        return conflicts_notify(organization_id=organization_id, conflict_ids=conflict_ids)


@shared_task(acks_late=True)
def redetect_group(
    organization_id: int, group_id: int, account_ids: list[int] | None = None
) -> int:
    """Re-check a whole group (after an account joined, left or was merged into it) in one
    transaction, then tell every side of what is new once. Returns the number of deals checked.
    Idempotent: a situation is recorded once, a second run finds nothing new."""
    with org_scope(organization_id), transaction.atomic():
        checked, news = conflicts.redetect_group(
            organization_id, group_id, account_ids=account_ids or ()
        )
        conflicts.notify_on_commit(organization_id, news)
    return checked


@shared_task(acks_late=True)
def check_duplicates(organization_id: int, account_ids: list[int]) -> int:
    """The duplicates of the accounts an import put deals on (queued once its chunk has
    committed), a batch of accounts per transaction, each batch's news told once it commits.
    Returns the number of situations that are news. Idempotent: a second run finds nothing
    new (a retry after a failed batch redoes only what did not commit)."""
    with org_scope(organization_id):
        return len(conflicts.check_duplicates(organization_id, account_ids))


def on_account_regrouped(
    sender: object,
    account: Account,
    old_group_id: int | None = None,
    account_ids: list[int] | None = None,
    **kwargs: object,
) -> None:
    """Queue the re-check of the group the account joined and of the one it left, once the move
    has committed."""
    org_id, group_id = account.organization_id, account.group_id or account.pk
    moved = list(account_ids or [account.pk])
    groups = [group_id] + ([old_group_id] if old_group_id and old_group_id != group_id else [])
    for gid in groups:
        transaction.on_commit(partial(redetect_group.delay, org_id, gid, moved), robust=True)
