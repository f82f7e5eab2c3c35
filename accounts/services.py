"""Writes of the accounts app. Keyword-only, typed, atomic; the caller passes the acting user.

``acting_user=None`` means the system itself (seed, imports run by the platform), as in
``crm.services``. Who may change what follows the "may change" column of ARCHITECTURE.md,
read for customer data as:

* accounts - ``may_change_account``: the managers of the home company (country manager;
  regional manager: the region's companies), the group's global account manager for every
  account of the group, the director, and the global admin as steward of the organization's
  master data; a sales rep only their own customers (created by them, homed in their company),
  for plain field edits. Group (parent) changes need ``may_link_to_group``: the governing right
  on the account and on the new parent, never the rep's exception, because a group change
  exposes the account's deals to the group's team in other countries.
* contacts - whoever may change the account, and the reps of its home company.
  Marketing reads accounts and contacts only.
* activities - a user logs their own (managers may log for a user of their companies);
  completing is for the owner or a manager of the activity's company. Marketing does not.
* global account teams and account plans - global account management: the director, a manager
  of the group's home company, and the group's global account manager; a plan's owner and
  colleagues it was shared with for change may edit that plan and its actions.
* framework agreements - the director (the table's "agreements").

An object the acting user cannot see, another organization's included, answers ``Http404`` like
a missing one (``require_visible``, before any permission check); one they see but may not
change, ``PermissionDenied``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pghistory
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, ForeignKey, Model, OuterRef, UniqueConstraint
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.matching import DuplicateCandidate
from accounts.models import (
    Account,
    AccountPlan,
    AccountTeamMember,
    Activity,
    ActivityKind,
    AgreementCompany,
    Contact,
    DiscountTier,
    FrameworkAgreement,
    PlanAction,
    SegmentReason,
    TeamRole,
)
from accounts.normalize import normalize_domain, normalize_name, normalize_registration
from accounts.selectors import HiddenMatch, duplicate_candidates
from accounts.signals import account_regrouped
from crm.events import emit
from crm.limits import (
    MAX_COMPANIES_PER_LIST,
    MAX_TIERS_PER_AGREEMENT,
    check_count,
    check_legal_notes,
    check_text,
)
from crm.models import Organization, SalesCompany, User
from crm.registry import require_visible
from crm.roles import Role
from crm.tenancy import require_same_org
from crm.visibility import covers_company

# --- Permission checks -------------------------------------------------------------------------


def _same_org(acting_user: User, organization_id: int) -> None:
    """For a service handed an organization rather than an object (``account_create``; the
    others ask ``require_visible`` of their object): another one is missing, as everywhere."""
    if acting_user.organization_id != organization_id:
        raise Http404("No such organization.")
    if not acting_user.is_active:
        raise PermissionDenied("Not allowed.")


def _is_team_role(user: User, group_id: int, roles: Iterable[str]) -> bool:
    return (
        AccountTeamMember.objects.for_org(user.organization_id)
        .filter(account_id=group_id, user_id=user.pk, role__in=list(roles))
        .exists()
    )


def may_govern_account(user: User, account: Account, *, gam_of: int | None = None) -> bool:
    """The "may change" rule of a customer record, without the owning rep's exception: the
    managers of its home company (country manager; regional manager of its region), the global
    account manager of its group (of group ``gam_of`` if given), the director and the admin."""
    if user.organization_id != account.organization_id or not user.is_active:
        return False
    if user.role in (Role.GLOBAL_ADMIN, Role.GLOBAL_DIRECTOR):
        return True
    if user.role in (Role.COUNTRY_MANAGER, Role.REGIONAL_MANAGER) and covers_company(
        user, account.home_company_id
    ):
        return True
    if user.role == Role.MARKETING:
        return False
    group_id = gam_of or account.group_id or account.pk
    return _is_team_role(user, group_id, [TeamRole.GLOBAL_ACCOUNT_MANAGER])


def owns_account(user: User, account: Account) -> bool:
    """A rep's own customer: one they created, homed in their company. Accounts have no owner
    field; the creator is who brought the customer in (a colleague's customer is not theirs)."""
    return (
        user.role == Role.SALES_REP
        and user.is_active
        and account.created_by_id == user.pk
        and covers_company(user, account.home_company_id)
    )


def may_change_account(user: User, account: Account) -> bool:
    """Plain field edits of an account (name, numbers, segment...): the governing roles, and
    the owning rep for their own customer."""
    if user.organization_id != account.organization_id or not user.is_active:
        return False
    return may_govern_account(user, account) or owns_account(user, account)


def may_link_to_group(user: User, account: Account, parent: Account | None) -> bool:
    """Who may link an account into a group (or out of one), which exposes its deals to the
    group's team in other countries: the director and the admin; the managers of the account's
    home company (they answer for its customers); and the global account manager of the group
    it joins (the team works the whole group). Leaving a group needs the governing right on the
    account. A rep or marketing never regroups."""
    if parent is None:
        return may_govern_account(user, account)
    if user.organization_id != parent.organization_id:
        return False
    # The account's governing roles, with the joined group's GAM in place of its current one.
    return may_govern_account(user, account, gam_of=parent.group_id or parent.pk)


def may_work_with_contacts(user: User, account: Account) -> bool:
    """Contacts of a customer: whoever may change the account, and the reps of its home company
    (sellers add the people they meet at their company's customers)."""
    if user.organization_id != account.organization_id or not user.is_active:
        return False
    return may_change_account(user, account) or (
        user.role == Role.SALES_REP and covers_company(user, account.home_company_id)
    )


def may_manage_group(user: User, group: Account) -> bool:
    """Team and plan of a global account: director, home-company manager, or the GAM."""
    if user.organization_id != group.organization_id or not user.is_active:
        return False
    if user.role == Role.GLOBAL_DIRECTOR:
        return True
    if user.role in (Role.COUNTRY_MANAGER, Role.REGIONAL_MANAGER) and covers_company(
        user, group.home_company_id
    ):
        return True
    if user.role == Role.MARKETING:
        return False
    return _is_team_role(user, group.pk, [TeamRole.GLOBAL_ACCOUNT_MANAGER])


def may_change_plan(user: User, plan: AccountPlan) -> bool:
    if user.organization_id != plan.organization_id or not user.is_active:
        return False
    if plan.owner_id == user.pk or may_manage_group(user, plan.account):
        return True
    return has_grant(user, plan, "change")


def has_grant(user: User, obj: Any, permission: str) -> bool:
    """Whether ``obj`` (an account plan or an opportunity) is shared with ``user`` for
    ``permission`` ("view" or "change") through its direct-FK guardian grant table."""
    grants = obj._meta.get_field("grants").related_model
    shared: bool = (
        grants.objects.for_org(obj.organization_id)
        .filter(
            content_object_id=obj.pk,
            user_id=user.pk,
            permission__codename=f"{permission}_{obj._meta.model_name}",
        )
        .exists()
    )
    return shared


def may_log_activities(user: User) -> bool:
    """Sales activities are the sellers' and managers': marketing works leads, not customers'
    meetings. The one copy of the rule: the service, the 360° form and the pages ask it."""
    return user.role != Role.MARKETING


def _require(allowed: bool, message: str) -> None:
    if not allowed:
        raise PermissionDenied(message)


def _top(account: Account) -> Account:
    """The group's top account (the account itself for a top account)."""
    if account.group_id in (None, account.pk):
        return account
    return Account.objects.for_org(account.organization_id).get(pk=account.group_id)


def _full_clean(obj: Any, exclude: Sequence[str] = ()) -> None:
    obj.full_clean(exclude=list(exclude))


# --- Accounts ----------------------------------------------------------------------------------


def _check_parent(account: Account, parent: Account | None) -> None:
    if parent is None:
        return
    if account.pk and (parent.pk == account.pk or _is_descendant(parent, account)):
        raise ValidationError({"parent": "An account cannot be placed under its own subsidiary."})


def _is_descendant(candidate: Account, ancestor: Account) -> bool:
    # Within one group every account shares group_id, so the walk is short and bounded.
    seen: set[int] = set()
    node: Account | None = candidate
    while node is not None and node.pk not in seen:
        if node.pk == ancestor.pk:
            return True
        seen.add(node.pk)
        node = node.parent
    return False


def _apply_account_fields(account: Account, fields: dict[str, Any]) -> None:
    allowed = {
        "name",
        "country",
        "home_company",
        "registration_number",
        "domain",
        "industry",
        "segment",
        "lifecycle",
        "potential",
        "potential_source",
    }
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, "This field cannot be set here."))
    for name, value in fields.items():
        setattr(account, name, value)
    account.name = (account.name or "").strip()
    account.normalized_name = normalize_name(account.name)
    account.registration_number = (account.registration_number or "").strip()
    account.registration_key = normalize_registration(account.registration_number)
    account.domain = normalize_domain(account.domain)
    account.country = (account.country or "").upper()


def _apply_segment_choice(
    account: Account, before: str, *, by_rules: bool, acting_user: User | None
) -> None:
    """A person choosing another segment fixes it by hand (the nightly rules keep it, the
    History records who and why); ``by_rules`` hands it back to the rules, which assign it on
    their next run. A form or a full PUT repeating the current segment changes nothing."""
    if by_rules:
        account.segment_override = ""
        account.segment_override_by = None
        account.segment_override_at = None
        account.segment_reason = SegmentReason.RULE
        return
    if account.segment != before:
        account.segment_override = account.segment
        account.segment_override_by = acting_user
        account.segment_override_at = timezone.now()
        account.segment_reason = SegmentReason.MANUAL


class DuplicateAccountError(ValidationError):
    """The account being created looks like accounts that exist (``accounts.matching``).

    ``candidates`` are the look-alikes the acting user may see, best first: the only ones a
    page or the API may name. ``hidden_matches`` tell the others at need-to-know level, one per
    group (the company that works it and whom to ask, ``selectors.HiddenMatch``): they block
    all the same (a silent duplicate of a customer another country owns is what the check is
    for). ``hidden`` is how many such groups there are."""

    def __init__(self, candidates: list[DuplicateCandidate], hidden_matches: list[HiddenMatch]):
        self.candidates = candidates
        self.hidden_matches = hidden_matches
        super().__init__(
            "This account looks like one that exists. Pick it, or confirm that a new account "
            "should be created.",
            code="duplicate_account",
        )

    @property
    def hidden(self) -> int:
        return len(self.hidden_matches)


@transaction.atomic
def account_create(
    *,
    organization: Organization,
    name: str,
    home_company: SalesCompany,
    acting_user: User | None,
    parent: Account | None = None,
    allow_duplicate: bool = False,
    **fields: Any,
) -> Account:
    """Create an account; normal forms and the group are derived here, never by the caller.

    A person (``acting_user``) creating an account that looks like an existing one is refused
    with ``DuplicateAccountError`` unless ``allow_duplicate`` confirms it is a new customer.
    Code acting for nobody (seeds, imports, tests' factories) is trusted to know."""
    # Another organization's company or parent, or a parent the user cannot see, is missing.
    require_same_org(organization.pk, home_company, parent)
    if acting_user is not None:
        _same_org(acting_user, organization.pk)
        if parent is not None:
            require_visible(acting_user, parent)
    if acting_user is not None and not allow_duplicate:
        shown, hidden_matches = duplicate_candidates(
            user=acting_user,
            name=name,
            country=fields.get("country", ""),
            registration_number=fields.get("registration_number", ""),
            domain=fields.get("domain", ""),
            group=parent,
        )
        if shown or hidden_matches:
            raise DuplicateAccountError(shown, hidden_matches)
    account = Account(organization=organization, home_company=home_company, created_by=acting_user)
    _apply_account_fields(account, {"name": name, **fields})
    _check_parent(account, parent)
    account.parent = parent
    account.group = _top(parent) if parent is not None else None
    if acting_user is not None:
        # After the group is known: a group's GAM may add a subsidiary in any country.
        _require(may_change_account(acting_user, account), "You may not create this account.")
        if parent is not None:
            _require(
                may_link_to_group(acting_user, account, parent),
                "You may not link accounts to the parent's group.",
            )
    _full_clean(account, exclude=["group"])
    account.save()
    if account.group_id is None:
        account.group = account
        account.save(update_fields=["group"])
    emit(account.organization_id, "account.created", account)
    return account


@transaction.atomic
def account_update(*, account: Account, acting_user: User | None, **fields: Any) -> Account:
    """Change an account's own fields; ``parent`` goes through ``account_set_parent``."""
    require_visible(acting_user, account)
    require_same_org(account.organization_id, fields.get("home_company"))
    if acting_user is not None:
        _require(may_change_account(acting_user, account), "You may not change this account.")
    by_rules = bool(fields.pop("segment_by_rules", False))
    segment_before = account.segment
    _apply_account_fields(account, fields)
    _apply_segment_choice(account, segment_before, by_rules=by_rules, acting_user=acting_user)
    if acting_user is not None and "home_company" in fields:
        # Moving a customer to a company you do not manage would be a hand-over you cannot make.
        _require(may_change_account(acting_user, account), "You may not move this account there.")
    _full_clean(account)
    account.save()
    return account


@transaction.atomic
def account_edit(
    *, account: Account, parent: Account | None, acting_user: User | None, **fields: Any
) -> Account:
    """An edit of the account's fields and its group, all or nothing (the edit page and the
    API). Only a real group change asks the group-link rule: a form or a full PUT repeats the
    current parent."""
    if (parent.pk if parent else None) != account.parent_id:
        account = account_set_parent(account=account, parent=parent, acting_user=acting_user)
    return account_update(account=account, acting_user=acting_user, **fields)


@transaction.atomic
def account_set_parent(
    *, account: Account, parent: Account | None, acting_user: User | None
) -> Account:
    """Move an account (with its whole subtree) under ``parent``, or make it a group top."""
    require_same_org(account.organization_id, parent)
    require_visible(acting_user, account)
    if parent is not None:
        require_visible(acting_user, parent)
    if acting_user is not None:
        _require(
            may_link_to_group(acting_user, account, parent),
            "You may not change this account's group: the managers of its home company, the "
            "group's global account manager, the director and the admin may.",
        )
    # Lock the rows of the affected groups so that two concurrent moves cannot form a cycle.
    groups = [g for g in (account.group_id, parent.group_id if parent else None) if g]
    list(
        Account.objects.for_org(account.organization_id)
        .select_for_update()
        .filter(group_id__in=groups)
        .values_list("pk", flat=True)
    )
    account.refresh_from_db()
    if parent is not None:
        parent.refresh_from_db()
    _check_parent(account, parent)
    old_group_id = account.group_id or account.pk
    new_group_id = (parent.group_id or parent.pk) if parent is not None else account.pk
    subtree = _subtree_ids(account)
    account.parent = parent
    account.save(update_fields=["parent"])
    Account.objects.for_org(account.organization_id).filter(pk__in=subtree).update(
        group_id=new_group_id
    )
    account.refresh_from_db()
    # The layers above re-check what the new grouping means (cross-country conflicts).
    account_regrouped.send(
        sender=Account,
        account=account,
        old_group_id=old_group_id,
        account_ids=subtree,
        acting_user=acting_user,
    )
    return account


def _subtree_ids(account: Account) -> list[int]:
    """The account and everything below it: one query over its (indexed) current group."""
    rows = list(
        Account.objects.for_org(account.organization_id)
        .filter(group_id=account.group_id or account.pk)
        .values_list("pk", "parent_id")
    )
    children: dict[int, list[int]] = {}
    for pk, parent_id in rows:
        children.setdefault(parent_id, []).append(pk)
    out, stack = [], [account.pk]
    while stack:
        pk = stack.pop()
        out.append(pk)
        stack.extend(children.get(pk, []))
    return out


# --- Contacts ----------------------------------------------------------------------------------


_CONTACT_FIELDS = {"full_name", "title", "email", "phone", "language", "marketing_consent"}


def _set_fields(obj: Any, fields: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, "This field cannot be set here."))
    for name, value in fields.items():
        setattr(obj, name, value)


@transaction.atomic
def contact_create(
    *, account: Account, full_name: str, acting_user: User | None, **fields: Any
) -> Contact:
    require_visible(acting_user, account)
    if acting_user is not None:
        _require(may_work_with_contacts(acting_user, account), "You may not add contacts here.")
    contact = Contact(organization_id=account.organization_id, account=account)
    _set_fields(contact, {"full_name": full_name, **fields}, _CONTACT_FIELDS)
    contact.email = (contact.email or "").strip().lower()
    _full_clean(contact)
    contact.save()
    return contact


@transaction.atomic
def contact_update(*, contact: Contact, acting_user: User | None, **fields: Any) -> Contact:
    require_visible(acting_user, contact)
    if acting_user is not None:
        _require(
            may_work_with_contacts(acting_user, contact.account),
            "You may not change this contact.",
        )
    if contact.erased_at is not None:
        # GDPR erasure is final: no form or API call types the person back in by mistake.
        raise ValidationError(_("This person's data was erased; the contact cannot be changed."))
    _set_fields(contact, fields, _CONTACT_FIELDS)
    contact.email = (contact.email or "").strip().lower()
    _full_clean(contact)
    contact.save()
    return contact


def _require_contacts_right(acting_user: User | None, contact: Contact, message: str) -> None:
    require_visible(acting_user, contact)
    if acting_user is not None:
        _require(may_work_with_contacts(acting_user, contact.account), message)


@transaction.atomic
def contact_archive(*, contact: Contact, acting_user: User | None) -> Contact:
    """Take a contact out of the lists and pickers (left the company, a duplicate nobody
    merged). Its activities and deal roles stay, and ``contact_restore`` brings it back."""
    _require_contacts_right(acting_user, contact, "You may not archive this contact.")
    if contact.archived_at is None:
        contact.archived_at = timezone.now()
        contact.save(update_fields=["archived_at"])
    return contact


@transaction.atomic
def contact_restore(*, contact: Contact, acting_user: User | None) -> Contact:
    _require_contacts_right(acting_user, contact, "You may not restore this contact.")
    if contact.archived_at is not None:
        contact.archived_at = None
        contact.save(update_fields=["archived_at"])
    return contact


# The fields a merge chooses between: each survives from one of the two contacts.
MERGE_FIELDS = ("full_name", "title", "email", "phone", "language", "marketing_consent")


def _move_references(
    model: type[Model], field: str, org_id: int, keep: Model, remove: Model
) -> None:
    """Point ``model``'s rows at ``keep`` instead of ``remove``. A row whose unique key would
    then repeat one of ``keep``'s (the same role on the same deal) is the same fact twice:
    it goes, the kept contact's row stays."""
    rows = model._base_manager.filter(organization_id=org_id)
    for constraint in model._meta.constraints:
        if not isinstance(constraint, UniqueConstraint) or field not in constraint.fields:
            continue
        others = [f for f in constraint.fields if f not in (field, "organization")]
        clash = rows.filter(**{field: keep}, **{f: OuterRef(f) for f in others})
        if constraint.condition is not None:
            clash = clash.filter(constraint.condition)
        rows.filter(**{field: remove}).filter(Exists(clash)).delete()
    rows.filter(**{field: remove}).update(**{field: keep})


@transaction.atomic
def contact_merge(
    *,
    keep: Contact,
    remove: Contact,
    acting_user: User | None,
    take_from_removed: Iterable[str] = (),
) -> Contact:
    """Merge two contacts of the same account: ``keep`` survives with its values, except the
    fields named in ``take_from_removed``, which it takes from ``remove``; everything that
    points at ``remove`` (activities, deal roles, whatever a later app adds) moves to ``keep``,
    then ``remove`` is deleted. The history records a "merge" entry on the kept contact (with
    the removed one's id in its context) besides the update and the delete."""
    if keep.pk == remove.pk:
        raise ValidationError({"remove": _("A contact cannot be merged with itself.")})
    for contact in (keep, remove):
        _require_contacts_right(acting_user, contact, "You may not merge these contacts.")
    if keep.account_id != remove.account_id:
        raise ValidationError({"remove": _("Only contacts of the same account can be merged.")})
    chosen = set(take_from_removed)
    unknown = chosen - set(MERGE_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, "This field cannot be merged."))
    org_id = keep.organization_id
    # Lock both rows: a concurrent edit must not write to the contact being removed.
    list(Contact.objects.for_org(org_id).select_for_update().filter(pk__in=[keep.pk, remove.pk]))
    for name in chosen:
        setattr(keep, name, getattr(remove, name))
    # The survivor stays live if either was (merging into an archived duplicate keeps the person).
    if remove.archived_at is None:
        keep.archived_at = None
    with pghistory.context(merged_contact=remove.pk, merged_into=keep.pk):
        for rel in Contact._meta.related_objects:
            # History stays with the record it describes (pghistory's ``pgh_obj``).
            if rel.field.name == "pgh_obj" or not isinstance(rel.field, ForeignKey):
                continue
            if rel.related_model is not Contact:
                _move_references(rel.related_model, rel.field.name, org_id, keep, remove)
        remove.delete()
        _full_clean(keep)
        keep.save()
        pghistory.create_event(keep, label="merge")
    return keep


# --- Activities --------------------------------------------------------------------------------


# A logged activity "happened"; a few minutes ahead is the clocks of phone and server.
_FUTURE_TOLERANCE = dt.timedelta(minutes=5)


@transaction.atomic
def activity_log(
    *,
    account: Account,
    kind: str,
    subject: str,
    acting_user: User | None,
    owner: User | None = None,
    sales_company: SalesCompany | None = None,
    contact: Contact | None = None,
    opportunity: Any | None = None,
    notes: str = "",
    outcome: str = "",
    due_at: dt.datetime | None = None,
    done_at: dt.datetime | None = None,
    happened_at: dt.datetime | None = None,
    duration_minutes: int | None = None,
) -> Activity:
    """Log a call, meeting, e-mail, event or task on an account the owner works with.

    The owner defaults to the acting user and the sales company to the owner's own.
    ``happened_at`` defaults to when it was done, an open task's due time, else now; anything
    but a task must have happened already (a plan is a task).
    """
    owner = owner or acting_user
    if owner is None:
        raise ValidationError({"owner": "An activity needs an owner."})
    check_text("notes", notes)
    # What the activity points at: another organization's or out of the user's sight is missing.
    require_same_org(account.organization_id, owner, sales_company, contact, opportunity)
    for target in (account, contact, opportunity):
        if target is not None:
            require_visible(acting_user, target)
    if acting_user is not None:
        _require(may_log_activities(acting_user), "Marketing does not log sales activities.")
        if owner.pk != acting_user.pk:
            _require(
                acting_user.role in (Role.COUNTRY_MANAGER, Role.REGIONAL_MANAGER)
                and covers_company(acting_user, owner.sales_company_id),
                "You may log activities only for yourself or your companies' people.",
            )
    company = sales_company or owner.sales_company
    now = timezone.now()
    if happened_at is None:
        happened_at = done_at or (due_at if kind == ActivityKind.TASK else None) or now
    errors: dict[str, str] = {}
    if company is None:
        errors["sales_company"] = "Choose the sales company the activity belongs to."
    if contact is not None and contact.account.group_id != account.group_id:
        errors["contact"] = "The contact works for another account group."
    if opportunity is not None and opportunity.account.group_id != account.group_id:
        errors["opportunity"] = "The opportunity is not on this account's group."
    if kind not in ActivityKind.values:
        errors["kind"] = "Unknown kind of activity."
    elif kind != ActivityKind.TASK and happened_at > now + _FUTURE_TOLERANCE:
        errors["happened_at"] = str(
            _("An activity that has not happened yet is a task: log it as a task with a due date.")
        )
    if errors:
        raise ValidationError(errors)
    activity = Activity(
        organization_id=account.organization_id,
        account=account,
        kind=kind,
        subject=subject,
        notes=notes,
        outcome=outcome,
        owner=owner,
        sales_company=company,
        contact=contact,
        opportunity=opportunity,
        due_at=due_at,
        done_at=done_at,
        happened_at=happened_at,
        duration_minutes=duration_minutes,
    )
    _full_clean(activity)
    activity.save()
    return activity


@transaction.atomic
def activity_complete(
    *, activity: Activity, acting_user: User | None, done_at: dt.datetime | None = None
) -> Activity:
    require_visible(acting_user, activity)
    if acting_user is not None:
        _require(
            activity.owner_id == acting_user.pk
            or (
                acting_user.role in (Role.COUNTRY_MANAGER, Role.REGIONAL_MANAGER)
                and covers_company(acting_user, activity.sales_company_id)
            ),
            "Only the owner or their manager may complete this activity.",
        )
    if activity.done_at is None:  # completing twice keeps the first completion time
        activity.done_at = done_at or timezone.now()
        fields = ["done_at"]
        if activity.kind == ActivityKind.TASK:
            # A task happens when it is done, not when it was planned.
            activity.happened_at = activity.done_at
            fields.append("happened_at")
        activity.save(update_fields=fields)
    return activity


# --- Global account teams ----------------------------------------------------------------------


@transaction.atomic
def team_member_add(
    *,
    group: Account,
    user: User,
    role: str,
    acting_user: User | None,
    sales_company: SalesCompany | None = None,
) -> AccountTeamMember:
    """Put ``user`` on the group's global account team (the row is the visibility grant)."""
    require_same_org(group.organization_id, user, sales_company)
    require_visible(acting_user, group)
    if acting_user is not None:
        _require(may_manage_group(acting_user, group), "You may not manage this account team.")
    company = sales_company or user.sales_company
    errors: dict[str, str] = {}
    if group.parent_id is not None:
        errors["group"] = "Teams belong to the group's top account."
    if not user.is_active:
        errors["user"] = "The user is inactive."
    if role not in TeamRole.values:
        errors["role"] = "Unknown team role."
    if company is None:
        errors["sales_company"] = "Choose the sales company the member represents."
    if errors:
        raise ValidationError(errors)
    team = AccountTeamMember.objects.for_org(group.organization_id).select_for_update()
    existing = team.filter(account=group)
    if existing.filter(user=user).exists():
        raise ValidationError({"user": "Already on the team."})
    if role == TeamRole.GLOBAL_ACCOUNT_MANAGER and existing.filter(role=role).exists():
        raise ValidationError({"role": "The group already has a global account manager."})
    if (
        role == TeamRole.KEY_ACCOUNT_MANAGER
        and existing.filter(role=role, sales_company=company).exists()
    ):
        raise ValidationError(
            {"role": "This sales company already has a key account manager on the team."}
        )
    member = AccountTeamMember(
        organization_id=group.organization_id,
        account=group,
        user=user,
        role=role,
        sales_company=company,
    )
    _full_clean(member)
    member.save()
    return member


@transaction.atomic
def team_member_remove(*, member: AccountTeamMember, acting_user: User | None) -> None:
    """Take ``member`` off the team; their view of the group goes with the row, at once."""
    require_visible(acting_user, member)
    if acting_user is not None:
        _require(
            may_manage_group(acting_user, member.account), "You may not manage this account team."
        )
    member.delete()


# --- Account plans -----------------------------------------------------------------------------


@transaction.atomic
def account_plan_create(
    *,
    group: Account,
    year: int,
    revenue_target: Decimal,
    owner: User,
    acting_user: User | None,
    objectives: str = "",
    status: str = "draft",
) -> AccountPlan:
    require_same_org(group.organization_id, owner)
    require_visible(acting_user, group)
    if acting_user is not None:
        _require(may_manage_group(acting_user, group), "You may not plan this account.")
    if group.parent_id is not None:
        raise ValidationError({"account": "Plans belong to the group's top account."})
    check_text("objectives", objectives)
    plan = AccountPlan(
        organization_id=group.organization_id,
        account=group,
        year=year,
        revenue_target=revenue_target,
        owner=owner,
        objectives=objectives,
        status=status,
    )
    _full_clean(plan)
    plan.save()
    return plan


@transaction.atomic
def account_plan_update(
    *, plan: AccountPlan, acting_user: User | None, **fields: Any
) -> AccountPlan:
    require_same_org(plan.organization_id, fields.get("owner"))
    require_visible(acting_user, plan)
    if acting_user is not None:
        _require(may_change_plan(acting_user, plan), "You may not change this plan.")
    _set_fields(plan, fields, {"objectives", "revenue_target", "status", "owner"})
    check_text("objectives", plan.objectives)
    _full_clean(plan)
    plan.save()
    return plan


@transaction.atomic
def plan_action_add(
    *,
    plan: AccountPlan,
    title: str,
    owner: User,
    acting_user: User | None,
    due_date: dt.date | None = None,
) -> PlanAction:
    require_same_org(plan.organization_id, owner)
    require_visible(acting_user, plan)
    if acting_user is not None:
        _require(may_change_plan(acting_user, plan), "You may not change this plan.")
    action = PlanAction(
        organization_id=plan.organization_id, plan=plan, title=title, owner=owner, due_date=due_date
    )
    _full_clean(action)
    action.save()
    return action


@transaction.atomic
def plan_action_update(
    *, action: PlanAction, acting_user: User | None, **fields: Any
) -> PlanAction:
    require_same_org(action.organization_id, fields.get("owner"))
    require_visible(acting_user, action)
    if acting_user is not None:
        _require(
            action.owner_id == acting_user.pk or may_change_plan(acting_user, action.plan),
            "You may not change this action.",
        )
    _set_fields(action, fields, {"title", "owner", "due_date", "status"})
    _full_clean(action)
    action.save()
    return action


# --- Framework agreements ----------------------------------------------------------------------


def _validate_tiers(tiers: Sequence[tuple[Decimal, Decimal]]) -> list[tuple[Decimal, Decimal]]:
    """Thresholds unique and ascending; each higher threshold gives a strictly higher discount."""
    clean = [(Decimal(t), Decimal(d)) for t, d in tiers]
    messages = []
    for (t1, d1), (t2, d2) in pairwise(clean):
        if t2 <= t1:
            messages.append(f"Threshold {t2} must be above {t1}: unique and ascending.")
        elif d2 <= d1:
            messages.append(f"Discount {d2}% at {t2} must be above {d1}% at {t1}.")
    for t, d in clean:
        if t < 0:
            messages.append(f"Threshold {t} cannot be negative.")
        if not Decimal(0) <= d <= Decimal(100):
            messages.append(f"Discount {d}% must be between 0 and 100.")
    if messages:
        raise ValidationError({"tiers": messages})
    return clean


@transaction.atomic
def agreement_create(
    *,
    group: Account,
    name: str,
    valid_from: dt.date,
    valid_to: dt.date,
    covered_companies: Sequence[SalesCompany],
    incoterm: str,
    payment_terms: str,
    acting_user: User | None,
    tiers: Sequence[tuple[Decimal, Decimal]] = (),
    legal_notes: dict[str, str] | None = None,
) -> FrameworkAgreement:
    """A group's framework agreement; ``tiers`` are (threshold, discount percent) pairs in the
    order given, which must already be ascending."""
    require_visible(acting_user, group)
    if acting_user is not None:
        _require(acting_user.role == Role.GLOBAL_DIRECTOR, "Agreements are the sales director's.")
    check_count("covered_companies", covered_companies, MAX_COMPANIES_PER_LIST)
    require_same_org(group.organization_id, *covered_companies)
    errors: dict[str, Any] = {}
    if group.parent_id is not None:
        errors["account"] = "Agreements belong to the group's top account."
    if not covered_companies:
        errors["covered_companies"] = "Cover at least one sales company."
    if valid_to < valid_from:
        errors["valid_to"] = "The agreement must end after it starts."
    if errors:
        raise ValidationError(errors)
    check_count("tiers", tiers, MAX_TIERS_PER_AGREEMENT)
    check_legal_notes("legal_notes", legal_notes)
    clean_tiers = _validate_tiers(tiers)
    agreement = FrameworkAgreement(
        organization_id=group.organization_id,
        account=group,
        name=name,
        valid_from=valid_from,
        valid_to=valid_to,
        incoterm=incoterm,
        payment_terms=payment_terms,
        legal_notes=legal_notes or {},
    )
    _full_clean(agreement)
    agreement.save()
    AgreementCompany.objects.bulk_create(
        AgreementCompany(
            organization_id=group.organization_id, agreement=agreement, sales_company=c
        )
        for c in {c.pk: c for c in covered_companies}.values()
    )
    DiscountTier.objects.bulk_create(
        DiscountTier(
            organization_id=group.organization_id,
            agreement=agreement,
            threshold=t,
            discount_percent=d,
        )
        for t, d in clean_tiers
    )
    return agreement
