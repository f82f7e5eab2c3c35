"""Cross-country conflicts as sellers and managers meet them: detection on save and after a
regrouping, the warnings with need-to-know disclosure, their texts, the live preview and the
rules of engagement's suggestion.

The rules themselves and the bookkeeping of situations are ``opportunities.situations``; this
module decides when they run and what a reader is told.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from accounts.matching import reason_text
from accounts.models import Account, AccountTeamMember, TeamRole
from crm.db.compiled import read_ahead
from crm.db.transactions import atomic_on_write
from crm.models import Organization, RulesOfEngagement, SalesCompany, User
from crm.queue import enqueue
from crm.roles import Role
from opportunities.customer import AgreementTerms, covering, covering_read
from opportunities.models import (
    Conflict,
    ConflictKind,
    ConflictParticipant,
    Opportunity,
)
from opportunities.selectors import open_q
from opportunities.situations import (
    Changes,
    Deal,
    DealFacts,
    Rules,
    Situation,
    agreement_breach,
    close_deal_situations,
    deals_read,
    duplicate_pairs,
    duplicates_reads,
    group_situations,
    load_deal,
    load_deals,
    load_team,
    open_situations_of,
    sync_deal,
    sync_duplicates,
    sync_duplicates_many,
    sync_group,
)
from opportunities.trade_rules import (
    TRADE_KINDS,
    check_trade,
    preview_trade,
    recheck_group,
    trade_reads,
    trade_text,
)

# --- Detection ---------------------------------------------------------------------------------


# The savepoint only when something is written: a re-check whose findings are known only reads.
@atomic_on_write()
def check_deal(
    *,
    opportunity: Opportunity,
    notify: bool = True,
    is_new: bool = False,
    accounts: bool = True,
) -> list[int]:
    """Bring every situation the deal is or should be in up to date (what a save runs); returns
    the situations that are news.

    The deal's group is re-checked for the group rule and the products the deal has (or had, in
    a product situation it is still in); a group it left by an account move is re-checked
    whole. A won or lost deal leaves its situations. ``accounts`` off: the account's duplicates
    are not re-checked (a change of lines or stage cannot change them). Situations that opened,
    or that a company new to them joined, tell the people involved once the transaction
    commits (unless ``notify`` is off: a group re-check tells every side once, itself).
    """
    facts = load_deal(opportunity.organization_id, opportunity.pk)
    news = _detect(facts, is_new=is_new, accounts=accounts).news()
    if notify:
        notify_on_commit(opportunity.organization_id, news)
    return news


@transaction.atomic
def detect_for_opportunity(
    *,
    opportunity: Opportunity,
    acting_user: User | None = None,
    notify: bool = True,
    is_new: bool = False,
    accounts: bool = True,
) -> list[Conflict]:
    """``check_deal``, then the deal's open situations (for readers of the answer: the save
    itself does not read them back)."""
    check_deal(opportunity=opportunity, notify=notify, is_new=is_new, accounts=accounts)
    return open_situations_of(opportunity)


def _detect(facts: DealFacts, *, is_new: bool = False, accounts: bool = True) -> Changes:
    opportunity = facts.opportunity
    rules = Rules.of(opportunity.organization)
    org_id = opportunity.organization_id
    group_id = opportunity.account_group_id or opportunity.account_id
    closed = opportunity.global_stage.is_won or opportunity.global_stage.is_lost
    situations = facts.situations
    products = situations.products
    changes = Changes()
    lines = [] if closed else facts.lines
    products |= {product_id for product_id, _discount in lines}
    on_date = timezone.localdate()
    # Reads that depend on the deal's facts but not on one another, sent in one round trip
    # (``read_ahead``): the group's deals; with lines the covering agreements, and (open) the
    # open price gaps and the quotes; on a first save the account's duplicate candidates and
    # duplicate situations. Nothing written below before they are asked for changes them: the
    # saves write situations of the group, deal and trade kinds; the price gaps only after
    # reading them; the duplicate kind only in ``sync_duplicates``, after its reads. (The won
    # volume needs the covering agreement: read after.)
    reads = [deals_read(org_id, group_id, products)]
    if lines:
        reads.append(
            covering_read(
                account=opportunity.account,
                on_date=on_date,
                booking_company_id=opportunity.sales_company_id,
            )
        )
    if not closed:
        reads += trade_reads(opportunity, situations=situations, lines=lines, closed=closed)
    if accounts:
        reads += duplicates_reads(opportunity.account)
    with read_ahead(reads if len(reads) > 1 else []):
        changes += _detect_read(
            facts, rules, lines=lines, closed=closed, on_date=on_date, is_new=is_new
        )
        if accounts:
            # About the account, not the deal: when a deal is created on it or moved to it (or
            # the group re-check runs), not on every change of lines or stage.
            changes += sync_duplicates(opportunity.account)
    return changes


def _detect_read(
    facts: DealFacts,
    rules: Rules,
    *,
    lines: list[tuple[int, Decimal]],
    closed: bool,
    on_date: dt.date,
    is_new: bool,
) -> Changes:
    """``_detect``'s group, deal and trade rules (the reads its caller may have read ahead)."""
    opportunity = facts.opportunity
    org_id = opportunity.organization_id
    group_id = opportunity.account_group_id or opportunity.account_id
    situations = facts.situations
    products = situations.products | {product_id for product_id, _discount in lines}
    changes = Changes()
    changes += sync_group(
        org_id,
        group_id,
        rules,
        products=products,
        opener_company_id=opportunity.sales_company_id,
        deal_closed=closed,
        team=facts.team,
        group_open=facts.group_open,
    )
    for other_group in sorted(situations.elsewhere):
        changes += sync_group(org_id, other_group, rules)
    # The agreements covering a quote, read once for the agreement rule and the trade rules.
    agreements = None
    if lines:
        agreements = covering(
            account=opportunity.account,
            on_date=on_date,
            booking_company_id=opportunity.sales_company_id,
        )
    if closed:
        close_deal_situations(opportunity)
    else:
        changes += sync_deal(
            opportunity,
            rules,
            is_new=is_new,
            lines=lines,
            own=situations.own,
            team=facts.team,
            agreements=agreements,
        )
    # Parallel import, double agreements, price gaps: inform, never block (trade_rules).
    changes += check_trade(
        opportunity,
        situations=situations,
        lines=lines,
        closed=closed,
        agreements=None if agreements is None else [c.agreement for c in agreements],
    )
    return changes


def redetect_group(
    organization_id: int, group_id: int, *, account_ids: Iterable[int] = ()
) -> tuple[int, list[int]]:
    """Re-check a whole group after an account joined, left or merged into it: the group's
    situations (every product), each open deal's own ones (a group's agreement now covers it)
    and the duplicates of the moved accounts. Returns the deals checked and the situations that
    are news, which the caller tells every side of once."""
    deal_ids = list(
        Opportunity.objects.for_org(organization_id)
        .filter(open_q(), account_group_id=group_id)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    # Each deal's facts as a save reads them (one query each): a re-check is a background task.
    deals = [load_deal(organization_id, pk) for pk in deal_ids]
    org = (
        deals[0].opportunity.organization if deals else Organization.objects.get(pk=organization_id)
    )
    rules = Rules.of(org)
    changes = sync_group(organization_id, group_id, rules)
    for facts in deals:
        changes += sync_deal(
            facts.opportunity,
            rules,
            lines=facts.lines,
            own=facts.situations.own,
            team=facts.team,
        )
    changes += recheck_group(org, group_id, deals)
    for account in Account.objects.for_org(organization_id).filter(pk__in=list(account_ids)):
        changes += sync_duplicates(account)
    return len(deals), changes.news()


# Accounts checked per statement and per transaction by ``check_duplicates``: the candidates'
# statement of 2,000 accounts takes about 0.1 s at 1M, and a batch holds its new situations'
# locks only that long.
DUPLICATES_BATCH = 2000


def check_duplicates(
    organization_id: int, account_ids: Iterable[int], *, batch_size: int = DUPLICATES_BATCH
) -> list[int]:
    """The accounts' duplicate situations in step (what a save of a deal on each runs, one
    after the other in id order): after an import, outside its transaction
    (``tasks.check_duplicates``). A batch of accounts at a time
    (``situations.sync_duplicates_many``), each in its own transaction, whose new situations
    are told once it commits. Returns the situations that are news. Idempotent: a run again (a
    redelivered task, or one that stopped after some batches) finds nothing new where it
    already ran."""
    ids = sorted(set(account_ids))
    news: list[int] = []
    for start in range(0, len(ids), batch_size):
        with transaction.atomic():
            accounts = Account.objects.for_org(organization_id).filter(
                pk__any_of=ids[start : start + batch_size]
            )
            found = sync_duplicates_many(organization_id, list(accounts)).news()
            notify_on_commit(organization_id, found)
        news += found
    return news


def notify_on_commit(organization_id: int, conflict_ids: list[int]) -> None:
    """Queue the message about new situations once the save has committed. ``robust``: a
    broker that is down (or, with eager tasks, a mail that fails) is logged and never fails the
    request, which is complete by then; the task retries a failing mail server itself."""
    if not conflict_ids:
        return
    ids = sorted(conflict_ids)
    transaction.on_commit(
        lambda: enqueue("opportunities.tasks.notify_new_conflicts", organization_id, ids),
        robust=True,
    )


# --- What a reader is told ---------------------------------------------------------------------


def _percent(value: Any) -> str:
    try:
        return number_format(Decimal(str(value)), use_l10n=True, force_grouping=False)
    except (InvalidOperation, TypeError, ValueError):
        return str(value)


def _names(values: Iterable[str]) -> str:
    return ", ".join(sorted(set(values)))


def conflict_text(conflict: Conflict, participants: list[ParticipantView]) -> str:
    """The situation in the reader's language (active translation), from its kind and
    parameters: nothing of it is stored as text."""
    active = [p for p in participants if p.left_at is None] or participants
    outside = [p for p in active if not p.coordinated]
    if conflict.kind == ConflictKind.GROUP_OTHER_COMPANY:
        companies = _names(p.company.name for p in outside)
        if any(p.coordinated for p in active):
            return _("%(companies)s work this group outside its global account team.") % {
                "companies": companies
            }
        return _("%(companies)s work this group at the same time.") % {
            "companies": _names(p.company.name for p in active)
        }
    if conflict.kind == ConflictKind.SAME_PRODUCT:
        return _("%(sellers)s offer %(product)s to this group without a split.") % {
            "sellers": _names(p.contact.full_name for p in active if p.contact),
            "product": conflict.product.name if conflict.product else "",
        }
    if conflict.kind == ConflictKind.AGREEMENT:
        return _(
            "%(agreement)s entitles this customer to %(pct)s%% discount; a line is below it."
        ) % {
            "agreement": conflict.agreement.name if conflict.agreement else "",
            "pct": _percent(conflict.params.get("percent", "")),
        }
    if conflict.kind == ConflictKind.DUPLICATE_ACCOUNT:
        return _("Possibly the same customer: %(reasons)s.") % {
            "reasons": reason_text(conflict.params.get("reasons", []))
        }
    if conflict.kind in TRADE_KINDS:
        return trade_text(conflict, participants)
    return _("A new deal at a group with a global account team: its manager acknowledges it.")


@dataclass(frozen=True)
class ParticipantView:
    """One side of a situation as this reader may see it: always the company and a person to
    call; the deal (or account) itself only when the reader may see it."""

    participant: ConflictParticipant
    company: SalesCompany
    contact: User | None
    opportunity: Opportunity | None  # None when the reader may not see it
    account: Account | None  # a duplicate's account, None when the reader may not see it
    coordinated: bool
    is_focus: bool

    @property
    def left_at(self) -> Any:
        return self.participant.left_at


@dataclass(frozen=True)
class ConflictWarning:
    """What a reader is told about one situation: full details only where they may see them.
    ``other_*`` are the first other side from the focus (the deal or account on screen)."""

    conflict: Conflict
    kind_label: str
    text: str
    participants: list[ParticipantView]
    other_company: SalesCompany | None
    contact_person: User | None
    other_opportunity: Opportunity | None

    @property
    def active(self) -> list[ParticipantView]:
        return [p for p in self.participants if p.left_at is None]

    @property
    def companies(self) -> str:
        return _names(p.company.code for p in self.active)

    @property
    def age_days(self) -> int:
        """Days open (until resolved, for a resolved one): the inbox's SLA column."""
        end = self.conflict.resolved_at or timezone.now()
        return max((end - self.conflict.created_at).days, 0) if self.conflict.created_at else 0


def conflict_warnings(
    *,
    user: User,
    conflicts: Iterable[Conflict],
    focus_opportunity_id: int | None = None,
    focus_account_id: int | None = None,
    drafts: dict[int, list[ConflictParticipant]] | None = None,
) -> list[ConflictWarning]:
    """Turn situations into warnings with need-to-know disclosure: another company's deal the
    reader may not see is named only by its sales company and a person to call (its seller,
    else the company's country manager). A fixed number of queries for any number of rows.
    ``drafts``: participants of unsaved situations (the preview), by the situation's index."""
    conflicts = list(conflicts)
    org_id = user.organization_id
    saved = [c.pk for c in conflicts if c.pk]
    rows: dict[int, list[ConflictParticipant]] = {}
    for p in (
        ConflictParticipant.objects.for_org(org_id)
        .filter(conflict_id__in=saved)
        .select_related("sales_company", "seller")
        .order_by("joined_at", "pk")
    ):
        rows.setdefault(p.conflict_id, []).append(p)
    per_conflict = [
        rows.get(c.pk, []) if c.pk else (drafts or {}).get(i, []) for i, c in enumerate(conflicts)
    ]
    everyone = [p for ps in per_conflict for p in ps]
    opp_ids = {p.opportunity_id for p in everyone if p.opportunity_id}
    account_ids = {p.account_id for p in everyone if p.account_id}
    visible = {
        o.pk: o
        for o in Opportunity.objects.visible_to(user)
        .filter(pk__in=opp_ids)
        .select_related("owner", "account", "sales_company", "local_stage", "global_stage")
    }
    visible_accounts = Account.objects.visible_to(user).in_bulk(account_ids) if account_ids else {}
    no_seller = {p.sales_company_id for p in everyone if p.seller_id is None}
    managers = (
        {
            u.sales_company_id: u
            for u in User.objects.for_org(org_id)
            .filter(role=Role.COUNTRY_MANAGER, sales_company_id__in=no_seller, is_active=True)
            .order_by("-id")
        }
        if no_seller
        else {}
    )
    warnings = []
    for conflict, participants in zip(conflicts, per_conflict, strict=True):
        views = [
            ParticipantView(
                participant=p,
                company=p.sales_company,
                contact=p.seller if p.seller_id else managers.get(p.sales_company_id),
                opportunity=visible.get(p.opportunity_id) if p.opportunity_id else None,
                account=visible_accounts.get(p.account_id) if p.account_id else None,
                coordinated=p.coordinated,
                # The deal being typed in the preview has no id yet: it is the focus.
                is_focus=(p.opportunity_id is None and p.account_id is None)
                or (p.opportunity_id is not None and p.opportunity_id == focus_opportunity_id)
                or (p.account_id is not None and p.account_id == focus_account_id),
            )
            for p in participants
        ]
        # The first other side: not the focus, still in it, preferably not the reader's own
        # deal and outside the team (what the reader has to talk about).
        others = sorted(
            (v for v in views if not v.is_focus and v.left_at is None),
            key=lambda v: (v.participant.seller_id == user.pk, v.coordinated),
        )
        other = others[0] if others else None
        warnings.append(
            ConflictWarning(
                conflict=conflict,
                kind_label=str(conflict.get_kind_display()),
                text=conflict_text(conflict, views),
                participants=views,
                other_company=other.company if other else None,
                contact_person=other.contact if other else None,
                other_opportunity=other.opportunity if other else None,
            )
        )
    return warnings


# --- Rules of engagement -----------------------------------------------------------------------


def rightful_company(conflict: Conflict, deals: list[Opportunity] | None = None) -> SalesCompany:
    """The sales company the organization's rules of engagement give the situation's deals to:
    the global account team's (its manager's company, else the group's home company), the
    account's home company, or the company that registered the first deal."""
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
        return gam.sales_company if gam is not None else top.home_company
    if rule == RulesOfEngagement.HOME_COMPANY_OWNS or not deals:
        # The deals' customer's home company when they are all at one account, else the group's.
        at = {d.account_id: d.account for d in deals or []}
        return next(iter(at.values())).home_company if len(at) == 1 else account.home_company
    first = min(deals, key=lambda o: (o.created_at, o.pk))
    return first.sales_company


# --- The live preview --------------------------------------------------------------------------


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
    delivery_country: str | None = None,
    quotes: Sequence[tuple[int, Decimal]] = (),
) -> list[ConflictWarning]:
    """The situations an opportunity would be in, read-only, for the form before saving.

    The save's rules (``situations.group_situations``, the agreement rule given the ``terms``
    the page already read and the lowest discount typed, the duplicate pairs) applied to the
    values being typed: nothing is written, nobody is notified; the warnings carry the same
    need-to-know disclosure as the saved ones. ``opportunity_id`` puts the deal being edited in
    as typed rather than as saved.

    No oracle: the preview answers any input the user types, so for deals the user may not see
    it reports only what does not depend on that input — that another company works the group,
    and whom to call. The product rule reads the lines of deals the user may see only: for a
    hidden deal the answer is the same whichever products are typed, so trying product after
    product reveals nothing of its lines."""
    owner = owner or user
    org_id = account.organization_id
    group_id = account.group_id or account.pk
    products = set(product_ids)
    rules = Rules.of(user.organization)
    draft = Deal(
        id=opportunity_id,
        account_id=account.pk,
        company_id=sales_company.pk,
        owner_id=owner.pk,
        products=frozenset(products),
    )
    others = load_deals(
        org_id,
        group_id,
        products=products,
        exclude_id=opportunity_id,
        visible=Opportunity.objects.visible_to(user),
    )
    team = load_team(org_id, group_id)
    found = group_situations([*others, draft], team, rules, products)
    unsaved: list[Conflict] = []
    drafts: dict[int, list[ConflictParticipant]] = {}
    companies = SalesCompany.objects.for_org(org_id).in_bulk(
        {d.company_id for s in found.values() for d, _ in s.members}
    )
    sellers = User.objects.for_org(org_id).in_bulk(
        {d.owner_id for s in found.values() for d, _ in s.members}
    )
    for situation in found.values():
        if draft not in (d for d, _ in situation.members):
            continue  # the group's own business, not this deal's
        drafts[len(unsaved)] = _draft_members(situation, companies, sellers, org_id)
        unsaved.append(
            Conflict(
                organization_id=org_id,
                kind=situation.kind,
                account=account.group or account,
                product_id=situation.product_id,
                sales_company=sales_company,
            )
        )
    breach = agreement_breach(terms, lowest_discount)
    if breach is not None:
        drafts[len(unsaved)] = []
        unsaved.append(
            Conflict(
                organization_id=org_id,
                kind=ConflictKind.AGREEMENT,
                account=account,
                agreement_id=breach[0],
                sales_company=sales_company,
                params={"percent": breach[1]},
            )
        )
    for finding in preview_trade(
        user=user,
        account=account,
        sales_company=sales_company,
        owner_id=owner.pk,
        delivery_country=delivery_country,
        quotes=quotes,
        opportunity_id=opportunity_id,
    ):
        drafts[len(unsaved)] = finding.participants
        unsaved.append(finding.conflict)
    pairs = duplicate_pairs(account)
    homes = dict(
        Account.objects.for_org(org_id)
        .filter(pk__in={a for pair in pairs for a in pair})
        .values_list("pk", "home_company")
    )
    home_companies = SalesCompany.objects.for_org(org_id).in_bulk(set(homes.values()))
    for (low, high), reasons in pairs.items():
        drafts[len(unsaved)] = [
            ConflictParticipant(
                organization_id=org_id,
                account_id=a,
                sales_company=home_companies[homes[a]],
            )
            for a in (low, high)
        ]
        unsaved.append(
            Conflict(
                organization_id=org_id,
                kind=ConflictKind.DUPLICATE_ACCOUNT,
                account_id=low,
                other_account_id=high,
                sales_company=sales_company,
                params={"reasons": reasons},
            )
        )
    return conflict_warnings(
        user=user,
        conflicts=unsaved,
        focus_opportunity_id=opportunity_id,
        focus_account_id=account.pk,
        drafts=drafts,
    )


def _draft_members(
    situation: Situation,
    companies: dict[int, SalesCompany],
    sellers: dict[int, User],
    org_id: int,
) -> list[ConflictParticipant]:
    return [
        ConflictParticipant(
            organization_id=org_id,
            opportunity_id=d.id,
            sales_company=companies[d.company_id],
            seller=sellers.get(d.owner_id),
            coordinated=coordinated,
        )
        for d, coordinated in situation.members
    ]
