"""In-app notifications, the writes: tell users something (``notify``) and mark what they read
(``mark_read``). The reads are in ``crm.selectors`` (``unread_count``, ``notification_list``,
``access_notification_by_id``); the kinds and their sentences in ``crm.models.NotificationKind``.

Any app may call ``notify`` (it is the kernel's), in the transaction of the change it reports
(the rows then appear with the change, or not at all), or after commit through the task
``crm.tasks.notify_in_app`` (``crm.queue.enqueue("crm.tasks.notify_in_app", ...)``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

from django.db import transaction
from django.utils import timezone as dj_timezone
from django.utils import translation

from crm.ids import parse_id
from crm.models import Notification, NotificationKind, User
from crm.scope import OrganizationScopeError, current_org_id, org_scope
from crm.validators import validate_app_path

# Names and numbers: what a sentence's placeholders take. A text in one language would show in
# that language to every reader.
ParamValue = str | int | float
ALL: Literal["all"] = "all"


def _checked_params(kind: NotificationKind, params: Mapping[str, ParamValue]) -> dict[str, object]:
    clean: dict[str, object] = {}
    for key, value in params.items():
        if not isinstance(key, str) or isinstance(value, bool):
            raise ValueError(f"Notification params are names and numbers: {key!r}={value!r}.")
        if not isinstance(value, str | int | float):
            raise ValueError(f"Notification params are names and numbers: {key!r}={value!r}.")
        clean[key] = value
    # The sentence as written (no translation active) must find every placeholder: a caller's
    # missing or misspelt param fails here, at the call, not as an ellipsis on the page.
    with translation.override(None):
        try:
            str(kind.label) % clean
        except KeyError as missing:
            raise ValueError(
                f"Notification kind {kind.value!r} needs the param {missing.args[0]!r}."
            ) from None
    return clean


@transaction.atomic
def notify(
    *,
    organization_id: int,
    user_ids: Iterable[int],
    kind: str,
    params: Mapping[str, ParamValue],
    url: str,
) -> int:
    """One unread notification of ``kind`` for each active user of the organization among
    ``user_ids`` (each once, however often listed); returns how many were made.

    Users of another organization and inactive ones are skipped, whatever ids the caller
    passes. ``url`` is a path inside the app (``/opportunities/conflicts/7/``, never another
    site). Raises ``ValueError`` for an unknown kind or params that do not fill its sentence,
    ``ValidationError`` for a ``url`` outside the app: both are the calling code's mistakes."""
    notification_kind = NotificationKind(kind)
    clean_params = _checked_params(notification_kind, params)
    validate_app_path(url)
    scoped = current_org_id()
    if scoped is not None and scoped != organization_id:
        raise OrganizationScopeError(
            f"Notifications of organization {organization_id} asked for while organization "
            f"{scoped} is in scope."
        )
    wanted = {ident for ident in map(parse_id, user_ids) if ident is not None}
    if not wanted:
        return 0
    with org_scope(organization_id):
        recipients = (
            User.objects.for_org(organization_id)
            .filter(id__in=sorted(wanted), is_active=True)
            .order_by("id")
            .values_list("id", flat=True)
        )
        now = dj_timezone.now()
        rows = Notification.objects.bulk_create(
            [
                Notification(
                    organization_id=organization_id,
                    recipient_id=recipient_id,
                    kind=notification_kind.value,
                    params=clean_params,
                    url=url,
                    created_at=now,
                )
                for recipient_id in recipients
            ]
        )
    return len(rows)


@transaction.atomic
def mark_read(*, user: User, ids: Iterable[object] | Literal["all"]) -> int:
    """Mark the user's own unread notifications ``ids`` (or ``ALL`` of them) read; returns how
    many changed. Ids that are not the user's (another user's, another organization's,
    missing, malformed) are ignored: they are not in the user's rows to begin with."""
    with org_scope(user.organization_id):
        unread = Notification.objects.visible_to(user).filter(read_at__isnull=True)
        if ids != ALL:
            wanted = {ident for ident in map(parse_id, ids) if ident is not None}
            if not wanted:
                return 0
            unread = unread.filter(pk__in=sorted(wanted))
        return unread.update(read_at=dj_timezone.now())
