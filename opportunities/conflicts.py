"""Cross-country conflict detection, need-to-know disclosure and rules of engagement.

Detection runs on every opportunity create, on account or product changes and on lead
conversion. Each finding is a ``Conflict`` row (one open row per finding, enforced by a partial
unique constraint), so the managers' inbox, the director's KPIs and the seller's warning all read
the same data. The queries here are indexed lookups by the account's group: a handful of queries
per save, whatever the size of the organization.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.matching import find_duplicate_candidates, reason_text
from accounts.models import Account, AccountTeamMember, TeamRole
from crm.models import RulesOfEngagement, SalesCompany, User
from crm.queue import enqueue
from crm.roles import Role
from opportunities.customer import AgreementTerms, agreement_for_account
from opportunities.models import (
    Conflict,
    ConflictKind,
    ConflictStatus,
    Opportunity,
    OpportunityLine,
    Resolution,
)


@dataclass(frozen=True)
class Finding:
    kind: str
    other_opportunity: Opportunity | None = None
    other_account: Account | None = None
    agreement_id: int | None = None
    detail: str = ""

    def key(self) -> tuple[Any, ...]:
        return (
            self.kind,
            self.other_opportunity.pk if self.other_opportunity else None,
            self.other_account.pk if self.other_account else None,
            self.agreement_id,
        )


def _open_opportunities_in_group(opportunity: Opportunity, *, lean: bool = False) -> Any:
    """The other open deals of the opportunity's group. ``lean``: only the ids the rules
    compare (detection on save, where a big group's hundreds of full rows with their company,
    owner and account cost more than all of detection's SQL); else ready for warnings."""
    qs = (
        Opportunity.objects.for_org(opportunity.organization_id)
        .filter(
            account__group_id=opportunity.account.group_id or opportunity.account_id,
            global_stage__is_won=False,
            global_stage__is_lost=False,
        )
        .exclude(pk=opportunity.pk)
    )
    if lean:
        return qs.only("id", "organization_id", "sales_company_id", "owner_id")
    return qs.select_related("sales_company", "owner", "account")


def find_group_conflicts(opportunity: Opportunity) -> list[Finding]:
    """(a) open opportunities at the same group booked by another sales company, and
    (b) the same product at the same group worked by another seller."""
    others = list(_open_opportunities_in_group(opportunity, lean=True).order_by("pk"))
    findings = [
        Finding(ConflictKind.GROUP_OTHER_COMPANY, other_opportunity=other)
        for other in others
        if other.sales_company_id != opportunity.sales_company_id
    ]
    products = set(
        OpportunityLine.objects.for_org(opportunity.organization_id)
        .filter(opportunity=opportunity)
        .values_list("product_id", flat=True)
    )
    if products:
        other_ids = [o.pk for o in others if o.owner_id != opportunity.owner_id]
        same_product = set(
            OpportunityLine.objects.for_org(opportunity.organization_id)
            .filter(opportunity_id__in=other_ids, product_id__in=products)
            .values_list("opportunity_id", flat=True)
        )
        findings += [
            Finding(ConflictKind.SAME_PRODUCT, other_opportunity=other)
            for other in others
            if other.pk in same_product
        ]
    return findings


def find_agreement_conflicts(opportunity: Opportunity) -> list[Finding]:
    """(c) an active framework agreement covers the account and a line is discounted below the
    agreement's current tier: the customer is being quoted worse than it is entitled to."""
    lines = OpportunityLine.objects.for_org(opportunity.organization_id).filter(
        opportunity=opportunity
    )
    lowest = lines.aggregate(lowest=Min("discount_percent"))["lowest"]
    if lowest is None:
        return []  # no product lines, no discount to compare: skip the agreement's volume sum
    terms = agreement_for_account(
        account=opportunity.account,
        on_date=timezone.localdate(),
        booking_company=opportunity.sales_company,
    )
    breach = agreement_breach(terms, lowest)
    return [] if breach is None else [breach]


def agreement_breach(
    terms: AgreementTerms | None, lowest_discount: Decimal | None
) -> Finding | None:
    """The agreement rule itself, for the save and the live preview alike: a line discounted
    below the current tier of the agreement that covers the account and the booking company."""
    if terms is None or terms.current_tier is None or lowest_discount is None:
        return None
    entitled: Decimal = terms.current_tier.discount_percent
    if lowest_discount >= entitled:
        return None
    return Finding(
        ConflictKind.AGREEMENT,
        agreement_id=terms.agreement.pk,
        detail=_("%(agreement)s entitles this customer to %(pct)s%% discount; a line is below it.")
        % {"agreement": terms.agreement.name, "pct": entitled},
    )


def find_duplicate_account_conflicts(account: Account) -> list[Finding]:
    """(d) the account looks like a duplicate of another (same registration number or domain, or
    the same normalized name in the same country)."""
    candidates = find_duplicate_candidates(
        organization=account.organization,
        name=account.name,
        country=account.country,
        registration_number=account.registration_number,
        domain=account.domain,
        exclude_id=account.pk,
    )
    # Members of the same group are subsidiaries, not duplicates.
    return [
        Finding(
            ConflictKind.DUPLICATE_ACCOUNT,
            other_account=c.account,
            detail=", ".join(str(r) for r in c.reasons),
        )
        for c in candidates
        if c.account.group_id != account.group_id or account.group_id is None
    ]


@transaction.atomic
def detect_for_opportunity(
    *, opportunity: Opportunity, acting_user: User | None, notify: bool = True
) -> list[Conflict]:
    """Record every conflict the opportunity is in now; close findings that no longer apply.

    Returns the open conflicts of the opportunity. New ones notify the country managers of the
    companies involved and the group's global account manager, once the transaction commits,
    unless ``notify`` is off (a group re-check tells every side once, itself).
    """
    opportunity = (
        Opportunity.objects.for_org(opportunity.organization_id)
        .select_related("account", "sales_company", "global_stage", "organization")
        .get(pk=opportunity.pk)
    )
    findings: list[Finding] = []
    if not (opportunity.global_stage.is_won or opportunity.global_stage.is_lost):
        findings += find_group_conflicts(opportunity)
        findings += find_agreement_conflicts(opportunity)
    findings += find_duplicate_account_conflicts(opportunity.account)

    existing = {
        (c.kind, c.other_opportunity_id, c.other_account_id, c.agreement_id): c
        for c in Conflict.objects.for_org(opportunity.organization_id).filter(
            Q(opportunity=opportunity) | Q(account=opportunity.account, opportunity__isnull=True),
            status=ConflictStatus.OPEN,
        )
    }
    # Findings already reported from the other side, in one query: a duplicate pair from the
    # other account's, a pair of deals from the other deal's (a group re-check runs detection for
    # every deal of the group). Either is the same finding: one open conflict per pair and kind.
    reported_from_the_other_side = (
        Conflict.objects.for_org(opportunity.organization_id)
        .filter(status=ConflictStatus.OPEN)
        .filter(
            Q(kind=ConflictKind.DUPLICATE_ACCOUNT, other_account=opportunity.account)
            | (Q(other_opportunity=opportunity) & ~Q(kind=ConflictKind.DUPLICATE_ACCOUNT))
        )
        .values_list("kind", "account_id", "opportunity_id")
    )
    mirrored: set[int] = set()
    mirrored_pairs: set[tuple[str, int]] = set()
    for kind, account_id, other_deal_id in reported_from_the_other_side:
        if kind == ConflictKind.DUPLICATE_ACCOUNT:
            mirrored.add(account_id)
        elif other_deal_id is not None:
            mirrored_pairs.add((kind, other_deal_id))
    findings = [f for f in findings if not (f.other_account and f.other_account.pk in mirrored)]
    found_keys = {f.key() for f in findings}
    created: list[Conflict] = []
    for finding in findings:
        if finding.key() in existing:
            continue
        if finding.other_opportunity and (finding.kind, finding.other_opportunity.pk) in (
            mirrored_pairs
        ):
            continue  # the other deal's row says it; this deal's own row, if any, stays open
        # A duplicate account is a finding about the account, whichever deal revealed it.
        account_level = finding.kind == ConflictKind.DUPLICATE_ACCOUNT
        conflict = Conflict(
            organization_id=opportunity.organization_id,
            kind=finding.kind,
            opportunity=None if account_level else opportunity,
            account=opportunity.account,
            sales_company=opportunity.sales_company,
            other_opportunity=finding.other_opportunity,
            other_account=finding.other_account,
            other_sales_company_id=(
                finding.other_opportunity.sales_company_id if finding.other_opportunity else None
            )
            or (finding.other_account.home_company_id if finding.other_account else None),
            agreement_id=finding.agreement_id,
            detail=finding.detail,
        )
        conflict.save()
        existing[finding.key()] = conflict
        created.append(conflict)
    now = timezone.now()
    for key, conflict in list(existing.items()):
        if key not in found_keys and conflict.opportunity_id == opportunity.pk:
            conflict.status = ConflictStatus.RESOLVED
            conflict.resolution = Resolution.ACKNOWLEDGED
            conflict.resolution_note = _("No longer applies after a change to the opportunity.")
            conflict.resolved_at = now
            conflict.save(update_fields=["status", "resolution", "resolution_note", "resolved_at"])
            del existing[key]
    if created and notify:
        _notify_on_commit(opportunity, created)
    return list(existing.values())


def _notify_on_commit(opportunity: Opportunity, conflicts: list[Conflict]) -> None:
    """Queue the mail about new conflicts once the save has committed. ``robust``: a broker
    that is down (or, with eager tasks, a mail that fails) is logged and never fails the
    request, which is complete by then; the task retries a failing mail server itself."""
    org_id = opportunity.organization_id
    ids = sorted(c.pk for c in conflicts)
    transaction.on_commit(
        lambda: enqueue("opportunities.tasks.notify_new_conflicts", org_id, ids), robust=True
    )


@dataclass(frozen=True)
class ConflictWarning:
    """What a seller is told about one conflict: full details only where they may see them."""

    conflict: Conflict
    kind_label: str
    other_company: SalesCompany | None
    contact_person: User | None
    other_opportunity: Opportunity | None  # None when the user may not see it
    detail: str


def conflict_warnings(*, user: User, conflicts: Iterable[Conflict]) -> list[ConflictWarning]:
    """Turn conflicts into warnings with need-to-know disclosure: another company's deal that
    the user may not see is named only by its sales company and a person to call."""
    conflicts = list(conflicts)
    other_ids = [c.other_opportunity_id for c in conflicts if c.other_opportunity_id]
    visible = {
        o.pk: o
        for o in Opportunity.objects.visible_to(user)
        .filter(pk__in=other_ids)
        .select_related("owner", "account", "sales_company", "local_stage", "global_stage")
    }
    owners = dict(
        Opportunity.objects.for_org(user.organization_id)
        .filter(pk__in=other_ids)
        .values_list("pk", "owner_id")
    )
    company_ids = {c.other_sales_company_id for c in conflicts if c.other_sales_company_id}
    managers = {
        u.sales_company_id: u
        for u in User.objects.for_org(user.organization_id)
        .filter(role=Role.COUNTRY_MANAGER, sales_company_id__in=company_ids, is_active=True)
        .order_by("-id")
    }
    people = User.objects.for_org(user.organization_id).in_bulk(
        [owner for owner in owners.values() if owner]
    )
    warnings = []
    for c in conflicts:
        other_id = c.other_opportunity_id
        owner_id = owners.get(other_id) if other_id is not None else None
        contact = people.get(owner_id) if owner_id else managers.get(c.other_sales_company_id)
        warnings.append(
            ConflictWarning(
                conflict=c,
                kind_label=str(c.get_kind_display()),
                other_company=c.other_sales_company,
                contact_person=contact,
                other_opportunity=visible.get(other_id) if other_id is not None else None,
                detail=reason_text(c.detail)
                if c.kind == ConflictKind.DUPLICATE_ACCOUNT
                else c.detail,
            )
        )
    return warnings


def rightful_company(conflict: Conflict) -> SalesCompany:
    """The sales company the organization's rules of engagement give the deal to."""
    rule = conflict.organization.rules_of_engagement
    account = conflict.account
    top = account.group or account
    if rule == RulesOfEngagement.GLOBAL_TEAM_OWNS:
        gam = (
            AccountTeamMember.objects.for_org(conflict.organization_id)
            .filter(account_id=top.pk, role=TeamRole.GLOBAL_ACCOUNT_MANAGER)
            .select_related("sales_company")
            .first()
        )
        if gam is not None:
            return gam.sales_company
        return top.home_company
    if rule == RulesOfEngagement.HOME_COMPANY_OWNS:
        return account.home_company
    # First registered owns: the earliest opportunity of the two.
    pair = [o for o in (conflict.opportunity, conflict.other_opportunity) if o is not None]
    first = min(pair, key=lambda o: (o.created_at, o.pk))
    return first.sales_company


def preview_for(
    *,
    user: User,
    account: Account,
    sales_company: SalesCompany,
    product_ids: Iterable[int] = (),
    owner: User | None = None,
    opportunity_id: int | None = None,
    terms: AgreementTerms | None = None,
    lowest_discount: Decimal | None = None,
) -> list[ConflictWarning]:
    """The conflicts an opportunity would be in, read-only, for the form before saving.

    The same rules as ``find_group_conflicts``, ``find_agreement_conflicts`` (given the
    agreement ``terms`` the page already read and the lowest discount typed) and
    ``find_duplicate_account_conflicts`` applied to the values being typed (nothing is written,
    nobody is notified), turned into warnings with the same need-to-know disclosure as the saved
    ones. ``opportunity_id`` leaves the deal
    being edited out of its own findings.

    No oracle: the preview answers any input the user types, so for deals the user may not see
    it reports only what does not depend on that input — that another company works the group,
    and whom to call (the account-level situation). The same-product rule is applied only to
    deals the user may see: for a hidden deal the answer is the same whichever products are
    typed, so trying product after product reveals nothing of its lines."""
    owner = owner or user
    draft = Opportunity(
        organization_id=account.organization_id,
        pk=opportunity_id,
        account=account,
        sales_company=sales_company,
        owner=owner,
    )
    others = list(_open_opportunities_in_group(draft).order_by("pk"))
    unsaved: list[Conflict] = []

    def finding(kind: str, **fields: Any) -> Conflict:
        # Unsaved rows: conflict_warnings only reads them, so the disclosure rules stay one.
        return Conflict(
            organization_id=account.organization_id,
            kind=kind,
            account=account,
            sales_company=sales_company,
            **fields,
        )

    for other in others:
        if other.sales_company_id != sales_company.pk:
            unsaved.append(
                finding(
                    ConflictKind.GROUP_OTHER_COMPANY,
                    other_opportunity=other,
                    other_sales_company=other.sales_company,
                )
            )
    products = set(product_ids)
    if products:
        candidates = [o.pk for o in others if o.owner_id != owner.pk]
        other_ids = list(
            Opportunity.objects.visible_to(user)
            .filter(pk__in=candidates)
            .values_list("pk", flat=True)
        )
        same_product = set(
            OpportunityLine.objects.for_org(account.organization_id)
            .filter(opportunity_id__in=other_ids, product_id__in=products)
            .values_list("opportunity_id", flat=True)
        )
        unsaved += [
            finding(
                ConflictKind.SAME_PRODUCT,
                other_opportunity=other,
                other_sales_company=other.sales_company,
            )
            for other in others
            if other.pk in same_product
        ]
    for dup in find_duplicate_account_conflicts(account):
        unsaved.append(
            finding(
                ConflictKind.DUPLICATE_ACCOUNT,
                other_account=dup.other_account,
                other_sales_company=dup.other_account.home_company if dup.other_account else None,
                detail=dup.detail,
            )
        )
    breach = agreement_breach(terms, lowest_discount)
    if breach is not None:
        unsaved.append(
            finding(ConflictKind.AGREEMENT, agreement_id=breach.agreement_id, detail=breach.detail)
        )
    return conflict_warnings(user=user, conflicts=unsaved)
