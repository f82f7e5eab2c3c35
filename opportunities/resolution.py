"""Resolving conflicts: assign the owner, merge duplicate accounts, or keep both with a split.

The managers of the companies involved, the group's global account manager, and global sales
management may resolve; everyone else gets PermissionDenied. A conflict resolved by someone else
in the meantime is refused with a message naming who did it, never resolved twice.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.merge import account_merge
from accounts.models import Account, AccountTeamMember, TeamRole
from crm.limits import MAX_RESOLUTION_NOTE_LENGTH, check_text
from crm.models import User
from crm.registry import access_by_id
from crm.roles import MANAGER_ROLES, ORG_WIDE_ROLES
from crm.tenancy import require_same_org
from crm.visibility import visible_companies
from opportunities.models import (
    Conflict,
    ConflictKind,
    ConflictStatus,
    Opportunity,
    OpportunitySplit,
    Resolution,
    SplitKind,
)
from opportunities.services import SplitSpec, opportunity_set_splits


def conflict_inbox(
    *,
    user: User,
    status: str = ConflictStatus.OPEN,
    kind: str = "",
    company_id: int | None = None,
    mine: bool = False,
    oldest_first: bool = False,
) -> QuerySet[Conflict]:
    """The conflicts a user may see, with what the inbox shows in one query: newest first (or
    oldest first, the longest waiting), narrowed by kind, by a company on either side, or to
    the user's own deals on either side."""
    qs = conflict_scope(user=user, status=status, kind=kind, company_id=company_id, mine=mine)
    order = ("created_at", "id") if oldest_first else ("-created_at", "-id")
    return qs.select_related(
        "account",
        "other_account",
        "sales_company",
        "other_sales_company",
        "opportunity__owner",
        "other_opportunity__owner",
        "resolved_by",
    ).order_by(*order)


def conflict_scope(
    *,
    user: User,
    status: str = ConflictStatus.OPEN,
    kind: str = "",
    company_id: int | None = None,
    mine: bool = False,
) -> QuerySet[Conflict]:
    """The visible conflicts the inbox's filters select (no joins, no order): the rows and the
    counts per kind read the same set."""
    qs = Conflict.objects.visible_to(user).filter(status=status)
    if kind:
        qs = qs.filter(kind=kind)
    if company_id is not None:
        qs = qs.filter(Q(sales_company_id=company_id) | Q(other_sales_company_id=company_id))
    if mine:
        qs = qs.filter(Q(opportunity__owner=user) | Q(other_opportunity__owner=user))
    return qs


def conflict_counts(
    *,
    user: User,
    status: str = ConflictStatus.OPEN,
    company_id: int | None = None,
    mine: bool = False,
) -> dict[str, int]:
    """How many conflicts of each kind the filters (all but the kind) select: one grouped query."""
    rows = (
        conflict_scope(user=user, status=status, company_id=company_id, mine=mine)
        .order_by()
        .values("kind")
        .annotate(n=Count("id"))
    )
    return {row["kind"]: row["n"] for row in rows}


def _group_id(conflict: Conflict) -> int:
    return conflict.account.group_id or conflict.account_id


def resolvable_ids(user: User, conflicts: list[Conflict]) -> set[int]:
    """Which of these conflicts the user may resolve: global sales management, the managers of
    either company involved, or the group's global account manager. One rule for a whole page
    in at most two queries whatever their number; ``may_resolve`` is it for one conflict."""
    mine = [c for c in conflicts if c.organization_id == user.organization_id]
    if not user.is_active or not mine:
        return set()
    if user.role in ORG_WIDE_ROLES:
        return {c.pk for c in mine}
    managed: set[int] = set()
    if user.role in MANAGER_ROLES:
        managed = set(visible_companies(user).values_list("id", flat=True))

    def involves_managed(c: Conflict) -> bool:
        return c.sales_company_id in managed or c.other_sales_company_id in managed

    others = {_group_id(c) for c in mine if not involves_managed(c)}
    gam_of = (
        set(
            AccountTeamMember.objects.for_org(user.organization_id)
            .filter(account_id__in=others, user=user, role=TeamRole.GLOBAL_ACCOUNT_MANAGER)
            .values_list("account_id", flat=True)
        )
        if others
        else set()
    )
    return {c.pk for c in mine if involves_managed(c) or _group_id(c) in gam_of}


def may_resolve(user: User, conflict: Conflict) -> bool:
    """Global sales management, the managers of either company involved, or the group's
    global account manager; the batch form is ``resolvable_ids``."""
    return conflict.pk in resolvable_ids(user, [conflict])


@transaction.atomic
def conflict_resolve(
    *,
    conflict_id: int,
    acting_user: User,
    resolution: str,
    owner: User | None = None,
    keep_account: Account | None = None,
    split_percent: Decimal | None = None,
    note: str = "",
) -> Conflict:
    """Resolve one open conflict.

    * ``assign_owner``: ``owner`` becomes the owner of the conflicting opportunity and its booking
      company becomes the owner's; the revenue split goes 100% to the owner.
    * ``merge``: the duplicate account is merged into ``keep_account`` (default: the older one).
    * ``keep_both_split``: both deals stay; the opportunity's revenue is split between its owner
      and the other deal's owner, ``split_percent`` (default 50) going to the other.
    * ``acknowledged``: nothing to change.
    """
    conflict = access_by_id(Conflict.objects.visible_to(acting_user), conflict_id)
    # A new owner or a kept account of another organization is missing, like the conflict.
    require_same_org(conflict.organization_id, owner, keep_account)
    conflict = (
        Conflict.objects.for_org(conflict.organization_id).select_for_update().get(pk=conflict.pk)
    )
    if conflict.status != ConflictStatus.OPEN:
        who = conflict.resolved_by.full_name if conflict.resolved_by else _("the system")
        raise ValidationError(
            _("This conflict was already resolved by %(who)s.") % {"who": who}, code="stale"
        )
    if not may_resolve(acting_user, conflict):
        raise PermissionDenied(_("Only the managers involved may resolve this conflict."))
    check_text("note", note, MAX_RESOLUTION_NOTE_LENGTH)

    if resolution == Resolution.ASSIGN_OWNER:
        _assign_owner(conflict, owner)
    elif resolution == Resolution.MERGE:
        _merge(conflict, keep_account, acting_user)
    elif resolution == Resolution.KEEP_BOTH_SPLIT:
        _keep_both(conflict, split_percent)
    elif resolution != Resolution.ACKNOWLEDGED:
        raise ValidationError({"resolution": _("Unknown resolution %(r)s.") % {"r": resolution}})

    conflict.status = ConflictStatus.RESOLVED
    conflict.resolution = resolution
    conflict.resolution_note = note
    conflict.resolved_by = acting_user
    conflict.resolved_at = timezone.now()
    conflict.save()
    return conflict


def _assign_owner(conflict: Conflict, owner: User | None) -> None:
    if conflict.opportunity_id is None:
        raise ValidationError({"resolution": _("This conflict has no opportunity to assign.")})
    if owner is None:
        raise ValidationError({"owner": _("Choose who owns the deal.")})
    if not owner.sales_company_id:
        raise ValidationError({"owner": _("The owner must be a seller of this organization.")})
    opp = Opportunity.objects.for_org(conflict.organization_id).get(pk=conflict.opportunity_id)
    # No version bump here: replacing the splits below bumps it, once for the whole change.
    Opportunity.objects.for_org(conflict.organization_id).filter(pk=opp.pk).update(
        owner=owner, sales_company_id=owner.sales_company_id
    )
    _set_revenue_split(opp, [(owner, Decimal(100))])


def _merge(conflict: Conflict, keep: Account | None, acting_user: User) -> None:
    if conflict.kind != ConflictKind.DUPLICATE_ACCOUNT or conflict.other_account_id is None:
        raise ValidationError({"resolution": _("Only duplicate accounts can be merged.")})
    other = conflict.other_account
    assert other is not None  # other_account_id is set
    pair = {conflict.account_id: conflict.account, conflict.other_account_id: other}
    if keep is None:
        keep = min(pair.values(), key=lambda a: (a.created_at, a.pk))
    if keep.pk not in pair:
        raise ValidationError({"keep_account": _("Keep one of the two accounts in conflict.")})
    remove = next(a for pk, a in pair.items() if pk != keep.pk)
    # The conflict row points at the account that disappears; save it against the kept one.
    conflict.account_id, conflict.other_account_id = keep.pk, None
    Conflict.objects.for_org(conflict.organization_id).filter(pk=conflict.pk).update(
        account_id=keep.pk, other_account_id=None
    )
    account_merge(keep=keep, remove=remove, acting_user=acting_user)


def _keep_both(conflict: Conflict, percent: Decimal | None) -> None:
    if conflict.opportunity_id is None or conflict.other_opportunity_id is None:
        raise ValidationError({"resolution": _("A split needs two opportunities.")})
    percent = Decimal(50) if percent is None else Decimal(percent)
    if not Decimal(0) < percent < Decimal(100):
        raise ValidationError({"split_percent": _("The split must be between 0 and 100%.")})
    opp, other = conflict.opportunity, conflict.other_opportunity
    assert opp is not None and other is not None  # both ids are set
    other_owner = other.owner
    if other_owner.pk == opp.owner_id:
        raise ValidationError({"resolution": _("Both deals have the same owner.")})
    _set_revenue_split(opp, [(opp.owner, Decimal(100) - percent), (other_owner, percent)])


def _set_revenue_split(opp: Opportunity, shares: list[tuple[User, Decimal]]) -> None:
    # The resolver's authority was checked above; the split rules are the opportunity service's.
    overlays: list[SplitSpec] = [
        (s.user, s.sales_company, s.kind, s.percent)
        for s in OpportunitySplit.objects.for_org(opp.organization_id)
        .filter(opportunity=opp, kind=SplitKind.OVERLAY)
        .select_related("user", "sales_company")
    ]
    revenue: list[SplitSpec] = [
        (user, user.sales_company, SplitKind.REVENUE, pct) for user, pct in shares
    ]
    opportunity_set_splits(opportunity=opp, splits=revenue + overlays, acting_user=None)
