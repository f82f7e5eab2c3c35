"""The conflict mail: who is told about new conflicts, in their own language, once each.

Run by ``opportunities.tasks.notify_new_conflicts`` after the save that found them commits.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.cache import cache
from django.core.mail import send_mass_mail
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from accounts.models import AccountTeamMember, TeamRole
from crm.mail import mail_subject
from crm.models import NotificationKind, SalesCompany, User
from crm.notifications import notify
from crm.roles import Role
from opportunities.models import Conflict, ConflictParticipant, ConflictStatus


def _companies(organization_id: int, conflicts: list[Conflict]) -> dict[int, set[int]]:
    """The companies on every side of each situation (its active participants), one query."""
    sides: dict[int, set[int]] = {c.pk: set() for c in conflicts}
    for conflict_id, company_id in (
        ConflictParticipant.objects.for_org(organization_id)
        .filter(conflict_id__in=list(sides), left_at__isnull=True)
        .values_list("conflict_id", "sales_company_id")
    ):
        sides[conflict_id].add(company_id)
    return sides


def people_to_notify(conflicts: Iterable[Conflict]) -> list[int]:
    """The country managers of every company in the situations and the groups' global account
    managers: every side, each person once."""
    conflicts = list(conflicts)
    if not conflicts:
        return []
    org_id = conflicts[0].organization_id
    company_ids = set().union(*_companies(org_id, conflicts).values())
    group_ids = {c.account.group_id or c.account_id for c in conflicts}
    managers = User.objects.for_org(org_id).filter(
        role=Role.COUNTRY_MANAGER, sales_company_id__in=company_ids, is_active=True
    )
    gams = AccountTeamMember.objects.for_org(org_id).filter(
        account_id__in=group_ids, role=TeamRole.GLOBAL_ACCOUNT_MANAGER
    )
    return sorted(
        set(managers.values_list("id", flat=True)) | set(gams.values_list("user_id", flat=True))
    )


def _notified_key(organization_id: int, conflict_id: int, companies: set[int]) -> str:
    # The companies are part of the key: a company joining a situation is news again.
    sides = "-".join(str(c) for c in sorted(companies))
    return f"conflict-notified:{organization_id}:{conflict_id}:{sides}"


def conflicts_notify(*, organization_id: int, conflict_ids: Iterable[int]) -> int:
    """Mail the country managers of the companies involved and the groups' global account
    managers about open situations not mailed yet (new, or joined by a company since); returns
    how many mails went out.

    Idempotent: a situation with its companies is marked as mailed (in the shared cache, for 30
    days) after its mail went out, so a redelivered task skips it; a worker dying between
    sending and marking may mail twice, never lose the mail. Need-to-know: the mail names
    companies and kinds, never amounts or deal details; the subject is sanitized (a name with
    a newline is a space).
    """
    open_conflicts = list(
        Conflict.objects.for_org(organization_id)
        .filter(pk__in=list(conflict_ids), status=ConflictStatus.OPEN)
        .select_related("account")
        .order_by("pk")
    )
    sides = _companies(organization_id, open_conflicts)
    keys = {c.pk: _notified_key(organization_id, c.pk, sides[c.pk]) for c in open_conflicts}
    # One cache round trip for all the marks, not one per conflict.
    mailed = cache.get_many(list(keys.values()))
    pending = [c for c in open_conflicts if keys[c.pk] not in mailed]
    if not pending:
        return 0
    user_ids = people_to_notify(pending)
    recipients = (
        User.objects.for_org(organization_id)
        .filter(id__in=user_ids, is_active=True)
        .select_related("sales_company")
        .order_by("id")
    )
    # Each recipient reads their own language (else their company's); the mail is composed once
    # per language, not once per recipient.
    by_language: dict[str, list[str]] = {}
    for recipient in recipients:
        by_language.setdefault(recipient.effective_language, []).append(recipient.email)
    company_names = SalesCompany.objects.for_org(organization_id).filter(
        pk__in=set().union(*(sides[c.pk] for c in pending))
    )
    companies = ", ".join(sorted(company_names.values_list("name", flat=True)))
    messages = []
    # One situation per kind is enough to name the kinds: ``get_kind_display`` rebuilds the
    # field's choices per call (make_hashable of flatchoices), and an import's commit mails
    # thousands of situations of a handful of kinds (7 s of a 20,000-row commit's CPU).
    one_per_kind = list({c.kind: c for c in pending}.values())
    for language, emails in sorted(by_language.items()):
        with translation.override(language):
            kinds = ", ".join(sorted({str(c.get_kind_display()) for c in one_per_kind}))
            subject = mail_subject(
                _("Meridian: conflict at %(account)s") % {"account": pending[0].account.name}
            )
            body = _(
                "%(kinds)s involving %(companies)s. Open the conflicts inbox to resolve it."
            ) % {"kinds": kinds, "companies": companies}
        messages += [(subject, body, None, [email]) for email in emails]
    sent = send_mass_mail(messages) if messages else 0
    # In the app too, after the mail went out (a failing mail server retries the task before
    # anything is shown twice): one notification per situation and person, each side's names.
    names = dict(company_names.values_list("pk", "name"))
    for conflict in pending:
        notify(
            organization_id=organization_id,
            user_ids=people_to_notify([conflict]),
            kind=NotificationKind.CONFLICT_NEW,
            params={
                "account": conflict.account.name,
                "companies": ", ".join(sorted(names[c] for c in sides[conflict.pk])),
            },
            url=reverse("opportunities:conflict", args=[conflict.pk]),
        )
    cache.set_many({keys[c.pk]: 1 for c in pending}, 30 * 24 * 3600)
    return sent
