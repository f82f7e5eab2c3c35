"""Asking to join a group one cannot see (issue 17, "existence across visibility").

A seller told that the customer exists in another company's group (``selectors.HiddenMatch``)
asks to link their account into it, naming the group only by the match's signed token
(``accounts.tokens``). Who may decide is the group-link rule (``services.may_link_to_group``):
the group's global account manager, the managers of the account's home company, the director
and the admin. Approving links the account with ``account_set_parent`` in the same transaction,
which re-runs conflict detection for the group (``account_regrouped``).

Need-to-know in the mails: the group's side learns the account that asks to join (the requester
offers it), the account's side never the group's name - only the company that works it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Account, AccountTeamMember, GroupJoinRequest, JoinStatus, TeamRole
from accounts.services import account_set_parent, may_change_account, may_link_to_group
from accounts.tokens import group_id_from_token
from crm.limits import check_text
from crm.mail import mail_subject
from crm.models import NotificationKind, User
from crm.notifications import notify
from crm.queue import enqueue
from crm.registry import require_visible
from crm.roles import MANAGER_ROLES, ORG_WIDE_ROLES, Role
from crm.visibility import scoped_company_ids

JOIN_REQUESTS_PATH = "/accounts/join-requests/"
_IN_APP = {
    "created": NotificationKind.JOIN_REQUEST,
    "approved": NotificationKind.JOIN_REQUEST_APPROVED,
    "declined": NotificationKind.JOIN_REQUEST_DECLINED,
}


def group_for_token(*, token: str, acting_user: User) -> Account:
    """The group a hidden match's token names, for the user it was shown to. Refused with a
    clear message when tampered, expired or made for someone else (``accounts.tokens``); a group
    gone since is missing. Not filtered by visibility: the user cannot see it, by design."""
    group_id = group_id_from_token(
        token, organization_id=acting_user.organization_id, user_id=acting_user.pk
    )
    group = (
        Account.objects.for_org(acting_user.organization_id)
        .select_related("home_company")
        .filter(pk=group_id)
        .first()
    )
    if group is None:
        raise ValidationError(
            _("That group no longer exists. Check the customer again."), code="invalid"
        )
    return _top(group)


def _top(account: Account) -> Account:
    if account.group_id in (None, account.pk):
        return account
    return (
        Account.objects.for_org(account.organization_id)
        .select_related("home_company")
        .get(pk=account.group_id)
    )


def may_decide_join(user: User, join_request: GroupJoinRequest) -> bool:
    """Approve or decline: whoever may link the account into the group."""
    return may_link_to_group(user, join_request.account, join_request.group)


@transaction.atomic
def join_request_create(
    *, account: Account, group: Account, acting_user: User, reason: str = ""
) -> GroupJoinRequest:
    """Ask for ``account`` to join ``group`` (the caller resolved it from a hidden match's
    token with ``group_for_token``). The acting user must be allowed to change the account;
    the account must not be in a group yet; one pending request per account and group."""
    require_visible(acting_user, account)
    if group.organization_id != account.organization_id:
        raise ValidationError(_("That group no longer exists. Check the customer again."))
    if not may_change_account(acting_user, account):
        raise PermissionDenied(
            _(
                "You may not ask for this account to join a group: ask the account's creator "
                "or a manager of its home company."
            )
        )
    reason = (reason or "").strip()
    check_text("reason", reason)
    group = _top(group)
    if group.pk in (account.pk, account.group_id):
        raise ValidationError(_("This account is already in that group."))
    if account.parent_id is not None or (
        Account.objects.for_org(account.organization_id)
        .filter(group_id=account.group_id or account.pk)
        .exclude(pk=account.pk)
        .exists()
    ):
        raise ValidationError(
            _(
                "Only an account outside any group can ask to join one. Ask the managers of "
                "its current group to move it."
            )
        )
    join_request = GroupJoinRequest(
        organization_id=account.organization_id,
        account=account,
        group=group,
        requested_by=acting_user,
        reason=reason,
    )
    try:
        with transaction.atomic():
            join_request.save()
    except IntegrityError as exc:  # the partial unique constraint: one pending per pair
        raise ValidationError(
            _("A request for this account to join that group is already waiting for a decision."),
            code="duplicate",
        ) from exc
    _tell(join_request, "created", acting_user=acting_user)
    return join_request


def _decide(join_request: GroupJoinRequest, acting_user: User) -> GroupJoinRequest:
    require_visible(acting_user, join_request)
    locked = (
        GroupJoinRequest.objects.for_org(join_request.organization_id)
        .select_for_update()
        .select_related("account", "group", "group__home_company", "requested_by")
        .get(pk=join_request.pk)
    )
    if locked.status != JoinStatus.PENDING:
        raise ValidationError(
            _("This request was already decided (%(status)s).")
            % {"status": locked.get_status_display()}
        )
    if not may_decide_join(acting_user, locked):
        raise PermissionDenied(
            _(
                "Only the group's global account manager, a manager of the account's home "
                "company, the director or the admin may decide this request."
            )
        )
    return locked


@transaction.atomic
def join_request_approve(*, join_request: GroupJoinRequest, acting_user: User) -> GroupJoinRequest:
    """Link the account into the group and mark the request approved, all or nothing."""
    locked = _decide(join_request, acting_user)
    # The right was checked above on both sides (may_link_to_group); the approver need not see
    # the account (a GAM abroad) or the group (the account's manager), so the link is made as
    # the system, for the approval.
    account_set_parent(account=locked.account, parent=locked.group, acting_user=None)
    return _record_decision(locked, JoinStatus.APPROVED, "approved", acting_user)


@transaction.atomic
def join_request_decline(*, join_request: GroupJoinRequest, acting_user: User) -> GroupJoinRequest:
    locked = _decide(join_request, acting_user)
    return _record_decision(locked, JoinStatus.DECLINED, "declined", acting_user)


def _record_decision(
    locked: GroupJoinRequest, status: str, event: str, acting_user: User
) -> GroupJoinRequest:
    """Who decided what, and when; then everyone concerned is told."""
    locked.status = status
    locked.decided_by = acting_user
    locked.decided_at = timezone.now()
    locked.save(update_fields=["status", "decided_by", "decided_at"])
    _tell(locked, event, acting_user=acting_user)
    return locked


@transaction.atomic
def join_request_withdraw(*, join_request: GroupJoinRequest, acting_user: User) -> GroupJoinRequest:
    require_visible(acting_user, join_request)
    if join_request.requested_by_id != acting_user.pk:
        raise PermissionDenied(_("Only the person who asked may withdraw the request."))
    if join_request.status != JoinStatus.PENDING:
        raise ValidationError(_("This request was already decided."))
    join_request.status = JoinStatus.WITHDRAWN
    join_request.decided_by = acting_user
    join_request.decided_at = timezone.now()
    join_request.save(update_fields=["status", "decided_by", "decided_at"])
    return join_request


# --- Telling people ----------------------------------------------------------------------------


def join_recipients(join_request: GroupJoinRequest, event: str) -> list[int]:
    """Who hears of ``event``: on a new request the group's GAM and the country managers of the
    account's and of the group's home companies; on a decision the requester."""
    if event != "created":
        return [join_request.requested_by_id]
    org_id = join_request.organization_id
    companies = {join_request.account.home_company_id, join_request.group.home_company_id}
    managers = User.objects.for_org(org_id).filter(
        role=Role.COUNTRY_MANAGER, sales_company_id__in=companies, is_active=True
    )
    gams = AccountTeamMember.objects.for_org(org_id).filter(
        account_id=join_request.group_id, role=TeamRole.GLOBAL_ACCOUNT_MANAGER
    )
    return sorted(
        set(managers.values_list("id", flat=True)) | set(gams.values_list("user_id", flat=True))
    )


def _compose(join_request: GroupJoinRequest, event: str, acting_user: User) -> tuple[str, str]:
    """Subject and body in the active language. Names the account and the company working the
    group, never the group's own name or anything of its deals."""
    params = {
        "account": join_request.account.name,
        "company": join_request.group.home_company.name,
        "person": acting_user.full_name or acting_user.email,
        "path": JOIN_REQUESTS_PATH,
    }
    if event == "created":
        subject = _("Meridian: %(account)s asks to join a group") % params
        body = (
            _("%(person)s asks that the account %(account)s join the group worked by %(company)s.")
            % params
        )
        if join_request.reason:
            body += "\n\n" + _("Reason: %(reason)s") % {"reason": join_request.reason}
        body += "\n\n" + _("Approve or decline it under Join requests (%(path)s).") % params
    elif event == "approved":
        subject = _("Meridian: %(account)s joined the group") % params
        body = (
            _(
                "%(person)s approved your request: %(account)s is now in the group worked by "
                "%(company)s."
            )
            % params
        )
    else:
        subject = _("Meridian: request for %(account)s declined") % params
        body = (
            _(
                "%(person)s declined your request for %(account)s to join the group worked by "
                "%(company)s. Ask %(person)s why."
            )
            % params
        )
    return mail_subject(subject), body


def _tell(join_request: GroupJoinRequest, event: str, *, acting_user: User) -> None:
    """Everyone who must hear of ``event`` ("created", "approved", "declined"), in the app and
    by e-mail in their own language, once each, after the transaction commits. The one place
    that picks recipients and sends."""
    org_id = join_request.organization_id
    ids = [pk for pk in join_recipients(join_request, event) if pk != acting_user.pk]
    if not ids:
        return
    notify(
        organization_id=org_id,
        user_ids=ids,
        kind=_IN_APP[event],
        params={
            "user": acting_user.full_name or acting_user.email,
            "account": join_request.account.name,
            "company": join_request.group.home_company.name,
        },
        url=JOIN_REQUESTS_PATH,
    )
    recipients = (
        User.objects.for_org(org_id)
        .filter(Q(id__in=ids), is_active=True)
        .select_related("sales_company")
        .order_by("id")
    )
    by_language: dict[str, list[int]] = {}
    for recipient in recipients:
        by_language.setdefault(recipient.effective_language, []).append(recipient.pk)
    for language, user_ids in sorted(by_language.items()):
        with translation.override(language):
            subject, body = _compose(join_request, event, acting_user)
        transaction.on_commit(_sender(org_id, user_ids, subject, body), robust=True)


def _sender(org_id: int, user_ids: list[int], subject: str, body: str) -> Callable[[], None]:
    def send() -> None:
        enqueue("crm.tasks.send_notification", org_id, user_ids, subject, body)

    return send


# --- Reading them ------------------------------------------------------------------------------


def join_request_list(*, user: User) -> QuerySet[GroupJoinRequest]:
    """The requests the user may see, pending first, newest first."""
    pending_first = Case(
        When(status=JoinStatus.PENDING, then=Value(0)),
        default=Value(1),
        output_field=IntegerField(),
    )
    return (
        GroupJoinRequest.objects.visible_to(user)
        .select_related(
            "account", "account__home_company", "group", "group__home_company", "requested_by",
            "decided_by",
        )
        .order_by(pending_first, "-created_at", "-pk")
    )  # fmt: skip


def decidable_ids(user: User, requests: Iterable[GroupJoinRequest]) -> set[int]:
    """Which of ``requests`` the user may decide: ``may_decide_join`` for a whole page in at
    most two queries (the groups the user manages globally, the companies they manage)."""
    requests = [r for r in requests if r.status == JoinStatus.PENDING]
    if not requests or not user.is_active or user.role == Role.MARKETING:
        return set()
    if user.role in ORG_WIDE_ROLES:
        return {r.pk for r in requests}
    gam_of = set(
        AccountTeamMember.objects.for_org(user.organization_id)
        .filter(
            user_id=user.pk,
            role=TeamRole.GLOBAL_ACCOUNT_MANAGER,
            account_id__in={r.group_id for r in requests},
        )
        .values_list("account_id", flat=True)
    )
    companies: set[int] = set()
    if user.role in MANAGER_ROLES:
        scoped = scoped_company_ids(user)
        if isinstance(scoped, list):
            companies = set(scoped)
        elif scoped is not None:
            companies = set(scoped.values_list("id", flat=True))
    return {
        r.pk for r in requests if r.group_id in gam_of or r.account.home_company_id in companies
    }


def visible_group_ids(user: User, requests: Iterable[GroupJoinRequest]) -> set[int]:
    """The requests' groups the user may see (named there; the others by their company)."""
    ids = {r.group_id for r in requests}
    if not ids:
        return set()
    return set(Account.objects.visible_to(user).filter(pk__in=ids).values_list("pk", flat=True))
