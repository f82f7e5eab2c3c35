"""GDPR per person (a contact or a lead): export everything held on them, and erase it.

Erasure anonymizes in place: ids, counts, dates, amounts and the shape of the history stay, so
every aggregate (activities per account, campaign attendance, pipeline) adds up as before; the
personal values go, from the record, the free text of its activities and its history. The
search words follow by themselves: ``crm.search``'s trigger rewrites a record's words whenever
its generated ``search`` column changes.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, F, Model, Value, When
from django.db.models.functions import Replace
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Activity, Contact
from crm.models import User
from crm.registry import access_by_id
from crm.roles import ORG_WIDE_ROLES
from leads.models import CampaignMember, Lead
from leads.suppression import lead_suppression
from opportunities.models import Opportunity, OpportunityContactRole
from privacy.access import require_personal_data_right
from privacy.models import PersonalDataAction, PersonalDataActionKind, SubjectKind

# What an erased person is called from now on (a fixed English string in the data: it is a
# value, not a sentence; pages show it as it is).
ERASED_NAME = "Erased person"
# What replaces a personal value in the history.
PLACEHOLDER = "[erased]"
MAX_REASON = 500

CONTACT_FIELDS = ("full_name", "title", "email", "phone", "language", "marketing_consent")
LEAD_FIELDS = (
    "company_name",
    "contact_name",
    "contact_title",
    "email",
    "phone",
    "country",
    "source",
    "status",
    "registration_number",
    "domain",
)
# Personal columns of the contact's audit events (crm.audit / pghistory).
CONTACT_HISTORY_FIELDS = ("full_name", "title", "email", "phone")


def _value(value: Any) -> Any:
    """JSON-ready: dates in ISO 8601, decimals as strings (no float rounding)."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _fields(obj: Model, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: _value(getattr(obj, name)) for name in names}


def _actions(org_id: int, kind: str, pk: int) -> list[dict[str, Any]]:
    rows = (
        PersonalDataAction.objects.for_org(org_id)
        .filter(subject_kind=kind, subject_id=pk)
        .select_related("acting_user")
        .order_by("at", "id")
    )
    return [
        {
            "action": row.kind,
            "at": _value(row.at),
            "by": row.acting_user.full_name if row.acting_user else None,
            "reason": row.reason,
        }
        for row in rows
    ]


def _record_action(
    *, org_id: int, kind: str, subject_kind: str, pk: int, user: User | None, **extra: Any
) -> None:
    PersonalDataAction.objects.create(
        organization_id=org_id,
        kind=kind,
        subject_kind=subject_kind,
        subject_id=pk,
        acting_user=user,
        **extra,
    )


def access_contact(user: User, pk: object) -> Contact:
    """The contact ``pk`` of the user's organization for the data-protection officer (who sees
    the whole organization for this purpose), 404 for anyone else, another organization's and
    missing ids alike."""
    require_personal_data_right(user)
    return access_by_id(Contact.objects.for_org(user.organization_id).select_related("account"), pk)


def access_lead(user: User, pk: object) -> Lead:
    require_personal_data_right(user)
    return access_by_id(
        Lead.objects.for_org(user.organization_id).select_related("campaign", "sales_company"),
        pk,
    )


def _deal_names(user: User, ids: set[int]) -> dict[int, str]:
    """Deal names as far as the exporting user may see them: the data-protection officer and the
    org-wide roles see the organization; others through the deal visibility policy."""
    if not ids:
        return {}
    if user.data_protection or user.role in ORG_WIDE_ROLES:
        deals = Opportunity.objects.for_org(user.organization_id)
    else:
        deals = Opportunity.objects.visible_to(user)
    return dict(deals.filter(pk__in=sorted(ids)).values_list("pk", "name"))


def _contact_history(contact: Contact) -> list[dict[str, Any]]:
    events = apps.get_model("accounts", "ContactEvent")
    rows = (
        events.objects.for_org(contact.organization_id)
        .filter(pgh_obj_id=contact.pk)
        .select_related("pgh_context")
        .order_by("pgh_id")
    )
    history = []
    for row in rows:
        metadata = row.pgh_context.metadata if row.pgh_context_id else {}
        history.append(
            {
                "at": _value(row.pgh_created_at),
                "event": row.pgh_label,
                "user_id": metadata.get("user"),
                "values": {name: _value(getattr(row, name)) for name in CONTACT_FIELDS},
            }
        )
    return history


def contact_export(*, contact: Contact, acting_user: User) -> dict[str, Any]:
    """Everything held on the contact, as a JSON-ready dict; the export itself is recorded."""
    require_personal_data_right(acting_user)
    org_id = contact.organization_id
    activities = (
        Activity.objects.for_org(org_id)
        .filter(contact_id=contact.pk)
        .select_related("owner")
        .order_by("happened_at", "id")
    )
    roles = list(
        OpportunityContactRole.objects.for_org(org_id)
        .filter(contact_id=contact.pk)
        .order_by("opportunity_id", "role")
    )
    names = _deal_names(acting_user, {r.opportunity_id for r in roles})
    members = (
        CampaignMember.objects.for_org(org_id)
        .filter(contact_id=contact.pk)
        .select_related("campaign")
        .order_by("added_at", "id")
    )
    data = {
        "kind": SubjectKind.CONTACT.value,
        "id": contact.pk,
        "exported_at": _value(timezone.now()),
        "record": {
            **_fields(contact, CONTACT_FIELDS),
            "archived_at": _value(contact.archived_at),
            "erased_at": _value(contact.erased_at),
            "created_at": _value(contact.created_at),
            "account": {"id": contact.account_id, "name": contact.account.name},
        },
        "activities": [
            {
                "id": a.pk,
                "kind": a.kind,
                "subject": a.subject,
                "notes": a.notes,
                "outcome": a.outcome,
                "happened_at": _value(a.happened_at),
                "owner": a.owner.full_name,
            }
            for a in activities
        ],
        "deal_roles": [
            {
                "opportunity_id": r.opportunity_id,
                # None: a deal the exporting user may not see (need-to-know).
                "opportunity": names.get(r.opportunity_id),
                "role": r.role,
                "added_at": _value(r.added_at),
            }
            for r in roles
        ],
        "campaign_memberships": [
            {"campaign": m.campaign.name, "attended": m.attended, "added_at": _value(m.added_at)}
            for m in members
        ],
        "consent": {"marketing_consent": contact.marketing_consent},
        # Notifications and mails store names of accounts and deals, never of contacts.
        "notifications": [],
        "history": _contact_history(contact),
        "privacy_actions": _actions(org_id, SubjectKind.CONTACT, contact.pk),
    }
    _record_action(
        org_id=org_id,
        kind=PersonalDataActionKind.EXPORT,
        subject_kind=SubjectKind.CONTACT,
        pk=contact.pk,
        user=acting_user,
        account_id=contact.account_id,
    )
    return data


def lead_export(*, lead: Lead, acting_user: User) -> dict[str, Any]:
    require_personal_data_right(acting_user)
    org_id = lead.organization_id
    members = (
        CampaignMember.objects.for_org(org_id)
        .filter(lead_id=lead.pk)
        .select_related("campaign")
        .order_by("added_at", "id")
    )
    suppression = lead_suppression(lead)
    data = {
        "kind": SubjectKind.LEAD.value,
        "id": lead.pk,
        "exported_at": _value(timezone.now()),
        "record": {
            **_fields(lead, LEAD_FIELDS),
            "campaign": lead.campaign.name if lead.campaign else None,
            "sales_company": lead.sales_company.name if lead.sales_company else None,
            "created_at": _value(lead.created_at),
            "changed_at": _value(lead.changed_at),
            "converted_at": _value(lead.converted_at),
            "erased_at": _value(lead.erased_at),
        },
        "activities": [],
        "deal_roles": [],
        "campaign_memberships": [
            {"campaign": m.campaign.name, "attended": m.attended, "added_at": _value(m.added_at)}
            for m in members
        ],
        "consent": {
            "do_not_market": suppression.do_not_market,
            "suppression_reason": suppression.reason,
        },
        "notifications": [],
        # Leads have no audit trail of their own; the privacy actions are their history.
        "history": [],
        "privacy_actions": _actions(org_id, SubjectKind.LEAD, lead.pk),
    }
    _record_action(
        org_id=org_id,
        kind=PersonalDataActionKind.EXPORT,
        subject_kind=SubjectKind.LEAD,
        pk=lead.pk,
        user=acting_user,
    )
    return data


def _clean_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Say why the person's data is erased.")})
    return reason[:MAX_REASON]


def _blank_unless_empty(name: str) -> Case:
    return Case(When(**{name: ""}, then=Value("")), default=Value(PLACEHOLDER))


@transaction.atomic
def contact_erase(*, contact: Contact, acting_user: User, reason: str) -> Contact:
    """Anonymize the contact in place (see the module's docstring)."""
    require_personal_data_right(acting_user)
    return _contact_erase(contact=contact, acting_user=acting_user, reason=_clean_reason(reason))


def _contact_erase(*, contact: Contact, acting_user: User | None, reason: str) -> Contact:
    org_id = contact.organization_id
    old_name = contact.full_name
    # The history first: the erasure's own update event then carries the erased values only.
    events = apps.get_model("accounts", "ContactEvent")
    events.objects.for_org(org_id).filter(pgh_obj_id=contact.pk).update(
        full_name=PLACEHOLDER, **{n: _blank_unless_empty(n) for n in ("title", "email", "phone")}
    )
    activities = Activity.objects.for_org(org_id).filter(contact_id=contact.pk)
    activities.update(notes="", outcome="")
    if old_name:
        # A subject often names the person ("Call with Anna Berg"): the name goes, the rest stays.
        activities.filter(subject__contains=old_name).update(
            subject=Replace(F("subject"), Value(old_name), Value(ERASED_NAME))
        )
    Contact.objects.for_org(org_id).filter(pk=contact.pk).update(
        full_name=ERASED_NAME,
        title="",
        email="",
        phone="",
        language="",
        marketing_consent=False,
        erased_at=timezone.now(),
    )
    _record_action(
        org_id=org_id,
        kind=PersonalDataActionKind.ERASE,
        subject_kind=SubjectKind.CONTACT,
        pk=contact.pk,
        user=acting_user,
        account_id=contact.account_id,
        reason=reason,
    )
    contact.refresh_from_db()
    return contact


@transaction.atomic
def lead_erase(*, lead: Lead, acting_user: User | None, reason: str) -> Lead:
    """Anonymize the lead in place. ``acting_user`` None: the retention task (organization
    setting), which has no user but records its reason."""
    if acting_user is not None:
        require_personal_data_right(acting_user)
    reason = _clean_reason(reason)
    Lead.objects.for_org(lead.organization_id).filter(pk=lead.pk).update(
        contact_name=ERASED_NAME,
        contact_title="",
        email="",
        phone="",
        erased_at=timezone.now(),
    )
    _record_action(
        org_id=lead.organization_id,
        kind=PersonalDataActionKind.ERASE,
        subject_kind=SubjectKind.LEAD,
        pk=lead.pk,
        user=acting_user,
        reason=reason,
    )
    lead.refresh_from_db()
    return lead


def erasure_effects(kind: str) -> list[str]:
    """What the confirmation page says will happen."""
    common = [
        _("The name becomes “%(name)s”; e-mail, phone and title are blanked.")
        % {"name": ERASED_NAME},
        _("Ids, dates, counts and amounts stay, so reports still add up."),
        _("Search no longer finds the person by the old name or e-mail."),
        _("The erasure is recorded with your name and the reason. It cannot be undone."),
    ]
    if kind == SubjectKind.CONTACT:
        common[1:1] = [
            _("Notes and outcomes of the activities with the person are blanked."),
            _("The personal values in the contact's history are replaced by “%(p)s”.")
            % {"p": PLACEHOLDER},
        ]
    return common
