"""Resolving conflicts: assign the owner, merge duplicate accounts, or keep both with a split.

The managers of the companies involved, the group's global account manager, and global sales
management may resolve; everyone else gets PermissionDenied. A conflict resolved by someone else
in the meantime is refused with a message naming who did it, never resolved twice.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import (
    Count,
    DateField,
    DecimalField,
    F,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.merge import account_merge
from accounts.models import Account, AccountTeamMember, TeamRole
from crm.events import emit
from crm.limits import MAX_RESOLUTION_NOTE_LENGTH, check_text
from crm.models import Organization, User
from crm.money import with_corporate_amount
from crm.registry import access_by_id
from crm.roles import MANAGER_ROLES, ORG_WIDE_ROLES
from crm.tenancy import require_same_org
from crm.visibility import visible_companies
from opportunities.models import (
    Conflict,
    ConflictKind,
    ConflictParticipant,
    ConflictStatus,
    Opportunity,
    OpportunitySplit,
    Resolution,
    SplitKind,
)
from opportunities.services import SplitSpec, opportunity_set_splits

INBOX_ORDERS = ("newest", "oldest", "value")


def conflict_inbox(
    *,
    user: User,
    status: str = ConflictStatus.OPEN,
    kind: str = "",
    company_id: int | None = None,
    mine: bool = False,
    group: str = "",
    age: str = "",
    order: str = "newest",
    by_group: bool = False,
) -> QuerySet[Conflict]:
    """The situations a user may see, with what the inbox shows, in one query: newest first,
    longest waiting first, or by the value at stake (the deals in it the user may see, in the
    corporate currency at today's rate), optionally grouped by account group."""
    qs = conflict_scope(
        user=user, status=status, kind=kind, company_id=company_id, mine=mine, group=group, age=age
    ).annotate(stake=_stake(user))
    orders = {
        "oldest": ("created_at", "id"),
        "value": (F("stake").desc(nulls_last=True), "-created_at", "-id"),
    }
    ordering: tuple[Any, ...] = orders.get(order, ("-created_at", "-id"))
    if by_group:
        ordering = ("account__group__name", "account__group_id", *ordering)
    return qs.select_related(
        "account__group",
        "other_account",
        "sales_company",
        "opportunity__owner",
        "product",
        "agreement",
        "resolved_by",
    ).order_by(*ordering)


def _stake(user: User) -> Subquery:
    """The value at stake in a situation as this user may know it: the amounts of its active
    deals the user may see, converted to the corporate currency (need-to-know: a hidden deal's
    amount is neither shown nor sorted by)."""
    org = user.organization  # read once per request (the view asks it too)
    deals = Opportunity.objects.visible_to(user).filter(
        conflict_participations__conflict=OuterRef("pk"),
        conflict_participations__left_at__isnull=True,
    )
    converted = with_corporate_amount(
        deals, org, rate_date=Value(timezone.localdate(), output_field=DateField())
    )
    total = (
        converted.order_by()
        .annotate(one=Value(1))
        .values("one")
        .annotate(total=Sum("corporate_amount"))
        .values("total")
    )
    return Subquery(total, output_field=DecimalField(max_digits=24, decimal_places=4))


def overdue_before(organization: Organization) -> Any:
    """Situations found before this moment are past the organization's target to resolve."""
    return timezone.now() - dt.timedelta(days=organization.conflict_target_days)


def conflict_scope(
    *,
    user: User,
    status: str = ConflictStatus.OPEN,
    kind: str = "",
    company_id: int | None = None,
    mine: bool = False,
    group: str = "",
    age: str = "",
) -> QuerySet[Conflict]:
    """The visible situations the inbox's filters select (no joins, no order): the rows and the
    counts per kind read the same set. ``company_id``: a company on any side; ``mine``: the
    user's deals; ``group``: the account group's name contains it; ``age``: "overdue" (older
    than the organization's target) or "within"."""
    qs = Conflict.objects.visible_to(user).filter(status=status)
    if kind:
        qs = qs.filter(kind=kind)
    sides = ConflictParticipant.objects.for_org(user.organization_id)
    if company_id is not None:
        qs = qs.filter(pk__in=sides.filter(sales_company_id=company_id).values("conflict_id"))
    if mine:
        qs = qs.filter(pk__in=sides.filter(seller_id=user.pk).values("conflict_id"))
    if group:
        qs = qs.filter(account__group__name__icontains=group)
    if age in ("overdue", "within"):
        limit = overdue_before(user.organization)
        qs = (
            qs.filter(created_at__lt=limit)
            if age == "overdue"
            else qs.filter(created_at__gte=limit)
        )
    return qs


def conflict_counts(
    *,
    user: User,
    status: str = ConflictStatus.OPEN,
    company_id: int | None = None,
    mine: bool = False,
    group: str = "",
    age: str = "",
) -> dict[str, int]:
    """How many situations of each kind the filters (all but the kind) select: one grouped
    query."""
    rows = (
        conflict_scope(
            user=user, status=status, company_id=company_id, mine=mine, group=group, age=age
        )
        .order_by()
        .values("kind")
        .annotate(n=Count("id"))
    )
    return {row["kind"]: row["n"] for row in rows}


def _group_id(conflict: Conflict) -> int:
    return conflict.account.group_id or conflict.account_id


def resolvable_ids(user: User, conflicts: list[Conflict]) -> set[int]:
    """Which of these situations the user may resolve: global sales management, the managers
    of a company on any side, or the group's global account manager. One rule for a whole page
    in at most three queries whatever their number; ``may_resolve`` is it for one."""
    mine = [c for c in conflicts if c.organization_id == user.organization_id]
    if not user.is_active or not mine:
        return set()
    if user.role in ORG_WIDE_ROLES:
        return {c.pk for c in mine}
    involved: set[int] = set()
    if user.role in MANAGER_ROLES:
        managed = visible_companies(user).values("id")
        involved = set(
            ConflictParticipant.objects.for_org(user.organization_id)
            .filter(conflict_id__in=[c.pk for c in mine], sales_company_id__in=managed)
            .values_list("conflict_id", flat=True)
        )
    others = {_group_id(c) for c in mine if c.pk not in involved}
    gam_of = (
        set(
            AccountTeamMember.objects.for_org(user.organization_id)
            .filter(account_id__in=others, user=user, role=TeamRole.GLOBAL_ACCOUNT_MANAGER)
            .values_list("account_id", flat=True)
        )
        if others
        else set()
    )
    return {c.pk for c in mine if c.pk in involved or _group_id(c) in gam_of}


def may_resolve(user: User, conflict: Conflict) -> bool:
    """Global sales management, the managers of a company on any side, or the group's global
    account manager; the batch form is ``resolvable_ids``."""
    return conflict.pk in resolvable_ids(user, [conflict])


def situation_deals(conflict: Conflict) -> list[Opportunity]:
    """The deals still in the situation (system read: the resolver's authority is checked)."""
    return list(
        Opportunity.objects.for_org(conflict.organization_id)
        .filter(
            conflict_participations__conflict=conflict,
            conflict_participations__left_at__isnull=True,
        )
        .select_related("owner", "sales_company", "account")
        .order_by("created_at", "pk")
    )


@transaction.atomic
def conflict_resolve(
    *,
    conflict_id: int,
    acting_user: User,
    resolution: str,
    owner: User | None = None,
    opportunity: Opportunity | None = None,
    other_opportunity: Opportunity | None = None,
    keep_account: Account | None = None,
    split_percent: Decimal | None = None,
    note: str = "",
) -> Conflict:
    """Resolve one open conflict.

    * ``assign_owner``: ``owner`` becomes the owner of ``opportunity`` (one of the situation's
      deals; the per-deal kinds' own deal, or the only one not booked by the owner's company,
      by default) and its booking company becomes the owner's; the revenue split goes 100% to
      the owner.
    * ``merge``: the duplicate account is merged into ``keep_account`` (default: the older one).
    * ``keep_both_split``: both deals stay; ``opportunity``'s revenue is split between its owner
      and ``other_opportunity``'s owner, ``split_percent`` (default 50) going to the other
      (default: the situation's two deals, oldest first).
    * ``acknowledged``: nothing to change.
    """
    conflict = access_by_id(Conflict.objects.visible_to(acting_user), conflict_id)
    # A new owner or a kept account of another organization is missing, like the conflict.
    require_same_org(conflict.organization_id, owner, keep_account, opportunity, other_opportunity)
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
        _assign_owner(conflict, owner, opportunity)
    elif resolution == Resolution.MERGE:
        _merge(conflict, keep_account, acting_user)
    elif resolution == Resolution.KEEP_BOTH_SPLIT:
        _keep_both(conflict, split_percent, opportunity, other_opportunity)
    elif resolution != Resolution.ACKNOWLEDGED:
        raise ValidationError({"resolution": _("Unknown resolution %(r)s.") % {"r": resolution}})

    conflict.status = ConflictStatus.RESOLVED
    conflict.resolution = resolution
    conflict.resolution_note = note
    conflict.resolved_by = acting_user
    conflict.resolved_at = timezone.now()
    conflict.save()
    emit(conflict.organization_id, "conflict.resolved", conflict)
    return conflict


def _deal_of(conflict: Conflict, chosen: Opportunity | None, deals: list[Opportunity]) -> Any:
    if chosen is not None and chosen.pk not in {d.pk for d in deals}:
        raise ValidationError({"opportunity": _("Choose one of the deals in this conflict.")})
    return chosen


def _assign_owner(conflict: Conflict, owner: User | None, chosen: Opportunity | None) -> None:
    deals = situation_deals(conflict)
    if not deals:
        raise ValidationError({"resolution": _("This conflict has no opportunity to assign.")})
    if owner is None:
        raise ValidationError({"owner": _("Choose who owns the deal.")})
    if not owner.sales_company_id:
        raise ValidationError({"owner": _("The owner must be a seller of this organization.")})
    opp = _deal_of(conflict, chosen, deals)
    if opp is None:
        elsewhere = [d for d in deals if d.sales_company_id != owner.sales_company_id]
        if len(deals) == 1 or len(elsewhere) == 1:
            opp = deals[0] if len(deals) == 1 else elsewhere[0]
        else:
            raise ValidationError({"opportunity": _("Choose the deal to assign.")})
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


def _keep_both(
    conflict: Conflict,
    percent: Decimal | None,
    chosen: Opportunity | None,
    chosen_other: Opportunity | None,
) -> None:
    deals = situation_deals(conflict)
    opp, other = _deal_of(conflict, chosen, deals), _deal_of(conflict, chosen_other, deals)
    if opp is None and other is None:
        if len(deals) != 2:
            raise ValidationError({"resolution": _("Choose the two deals to split between.")})
        opp, other = deals
    elif opp is None or other is None:
        given = opp or other
        rest = [d for d in deals if given is not None and d.pk != given.pk]
        if len(rest) != 1:
            raise ValidationError({"resolution": _("Choose the two deals to split between.")})
        opp, other = (opp, rest[0]) if opp is not None else (rest[0], other)
    assert opp is not None and other is not None
    if opp.pk == other.pk:
        raise ValidationError({"other_opportunity": _("Choose two different deals.")})
    percent = Decimal(50) if percent is None else Decimal(percent)
    if not Decimal(0) < percent < Decimal(100):
        raise ValidationError({"split_percent": _("The split must be between 0 and 100%.")})
    if other.owner_id == opp.owner_id:
        raise ValidationError({"resolution": _("Both deals have the same owner.")})
    _set_revenue_split(opp, [(opp.owner, Decimal(100) - percent), (other.owner, percent)])


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


def conflicts_acknowledge(
    *, conflict_ids: list[int], acting_user: User, note: str = ""
) -> tuple[list[Conflict], int]:
    """Acknowledge several open situations at once (the inbox's bulk action, confirmed before):
    those the user may resolve are resolved, each in its own transaction as if one by one; the
    others (resolved meanwhile, not theirs) are counted and left alone."""
    check_text("note", note, MAX_RESOLUTION_NOTE_LENGTH)
    done: list[Conflict] = []
    skipped = 0
    for conflict_id in conflict_ids:
        try:
            done.append(
                conflict_resolve(
                    conflict_id=conflict_id,
                    acting_user=acting_user,
                    resolution=Resolution.ACKNOWLEDGED,
                    note=note,
                )
            )
        except (ValidationError, PermissionDenied, Http404):
            skipped += 1
    return done, skipped
