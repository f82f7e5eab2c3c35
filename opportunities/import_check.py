"""The conflict check of an import's new deals: what a save's check (``conflicts.check_deal``)
does for each new deal, for a chunk of them at once.

A realistic file spreads over nearly as many account groups as it has deals, so "once per
group" still meant some ten queries per deal. Here every read is one query for the whole chunk
(the deals' facts, the groups' open deals and their lines, the covering agreements, the won
volume of those whose tier decides, the served accounts of deals delivered abroad, the open
price gaps and the quotes), the rules are the pure functions the save applies
(``situations.group_plan``, ``deal_syncs``, ``trade_rules.price_gap_plan``,
``deal_trade_syncs``), and the writes are a fixed number of statements
(``sync_situations_many``, ``sync_deal_situations``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial

from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from crm.models import Organization
from crm.queue import enqueue
from opportunities.conflicts import notify_on_commit
from opportunities.customer import Covering, agreement_volumes, covering_many
from opportunities.situations import (
    DealFacts,
    DealSync,
    GroupSync,
    Rules,
    deal_syncs,
    group_plan,
    load_deals_facts,
    load_groups_deals,
    load_groups_open,
    load_teams,
    needs_volume,
    sync_deal_situations,
    sync_situations_many,
)
from opportunities.trade_rules import (
    TradeRules,
    deal_trade_syncs,
    load_quotes_many,
    open_price_gaps_of_groups,
    parallel_import_wanted,
    price_gap_plan,
    served_accounts,
)


@dataclass
class ImportedGroups:
    """The account groups an import's new deals went to, gathered chunk by chunk for their
    group rules after the last chunk (``check_imported_groups``): each group's products (of
    the new deals' lines and their product situations), the products the new deals quote, and
    the company of the group's first new deal (named as opener of a situation it opens).

    Small whatever the file (a few ids per group), where keeping the groups' deals would have
    held every deal the import wrote."""

    products: dict[int, set[int]] = field(default_factory=dict)
    quoted: dict[int, set[int]] = field(default_factory=dict)
    opener: dict[int, int] = field(default_factory=dict)

    def add(self, group_id: int, deal: DealFacts) -> None:
        lines = {p for p, _discount in deal.lines}
        self.products.setdefault(group_id, set()).update(deal.situations.products | lines)
        self.quoted.setdefault(group_id, set()).update(lines)
        self.opener.setdefault(group_id, deal.opportunity.sales_company_id)

    def __len__(self) -> int:
        return len(self.opener)

    def batches(self, size: int) -> list[ImportedGroups]:
        ids = list(self.opener)
        return [
            ImportedGroups(
                products={g: self.products[g] for g in part},
                quoted={g: self.quoted[g] for g in part},
                opener={g: self.opener[g] for g in part},
            )
            for part in (ids[i : i + size] for i in range(0, len(ids), size))
        ]


@transaction.atomic
def check_imported(
    *,
    organization_id: int,
    opportunity_ids: Sequence[int],
    groups: ImportedGroups | None = None,
    facts: Sequence[DealFacts] | None = None,
) -> list[int]:
    """What ``check_deal(is_new=True)`` does for each of many new open deals: each new deal's
    own situations (agreement, the team's acknowledgement, parallel import, double agreement)
    and, per account group, its situations for the group rule and the new deals' products and
    the group's price gaps of the new deals' products and of every product an open gap names
    (the group re-check's trade rules). A fixed number of queries for any number of deals and
    groups.

    ``groups``: the deals' own situations are checked now, their groups are only gathered
    there, for ``check_imported_groups`` after the import's last chunk (an import of many
    chunks). Checked per chunk, each chunk re-read the open deals (with their lines) and the
    situations' participants of its groups, including every deal the earlier chunks of the
    same import had written into them: a cost growing with the square of the file. Without
    ``groups`` both happen now.

    The end state is the deals' one after another, with these differences: who is named as
    having opened a group situation (``opener_company_id``) is the company of the group's
    first new deal in the batch (with ``groups``, in the import), where one save after another
    names the company of the save that tipped it; and the accounts' duplicates are re-checked
    after the commit, by a task (``tasks.check_duplicates``), not inside the import. A deal
    does not change its account's duplicates (name, registration number, domain, country and
    group decide them), but a save re-checks them and so opens a pair found since the last
    check (at 1M, a 2,000-deal file opened some 450 such pairs): one indexed query per
    account, the import's largest cost after the rules were set-based. A dry run, rolled
    back, queues nothing.

    ``facts``: the deals' facts when the caller has them (``situations.new_deals_facts``: the
    importer holds the deals it has just written); else they are read by id.

    Returns the situations that are news and tells the people involved on commit."""
    if facts is None:
        facts = load_deals_facts(organization_id, opportunity_ids)
    if not facts:
        return []
    organization = facts[0].opportunity.organization
    rules = Rules.of(organization)
    trade = TradeRules.of(organization)
    today = timezone.localdate()
    order = {pk: i for i, pk in enumerate(opportunity_ids)}
    deferred = groups is not None
    if groups is None:
        groups = ImportedGroups()
    for deal in sorted(facts, key=lambda f: order.get(f.opportunity.pk, 0)):
        opportunity = deal.opportunity
        groups.add(opportunity.account_group_id or opportunity.account_id, deal)

    # The reads, one query each for the chunk.
    # The agreements covering a quote depend on its account and booking company only.
    quoted: dict[tuple[int, int], Account] = {
        (d.opportunity.account_id, d.opportunity.sales_company_id): d.opportunity.account
        for d in facts
        if d.lines
    }
    covering_of = covering_many(
        organization_id=organization_id,
        wanted=[(account, company) for (_a, company), account in quoted.items()],
        on_date=today,
    )

    def agreements(deal: DealFacts) -> list[Covering] | None:
        opportunity = deal.opportunity
        if not deal.lines:
            return None
        return covering_of[(opportunity.account_id, opportunity.sales_company_id)]

    applying: dict[int, Covering] = {}
    for deal in facts:
        found = agreements(deal)
        if found is not None and needs_volume(found, deal.lines):
            applying[found[0].agreement.pk] = found[0]
    volumes: dict[int, Decimal] = agreement_volumes(organization, applying.values(), today)
    served_of = served_accounts(
        organization_id,
        {w for d in facts if (w := parallel_import_wanted(d.opportunity, trade)) is not None},
    )

    # The rules per deal, in Python.
    per_deal: list[DealSync] = []
    for deal in sorted(facts, key=lambda f: order.get(f.opportunity.pk, 0)):
        covering_deal = agreements(deal)
        per_deal += deal_syncs(
            deal.opportunity,
            rules,
            is_new=True,
            lines=deal.lines,
            own=deal.situations.own,
            team=deal.team,
            agreements=covering_deal,
            volumes=volumes,
        )
        # The trade rules read plain agreements, and only where they can hold.
        per_deal += deal_trade_syncs(
            deal.opportunity,
            trade,
            deal.situations.own,
            [c.agreement for c in covering_deal]
            if covering_deal is not None and trade.double_agreement
            else None,
            served_of,
        )

    # The writes, a fixed number of statements for the chunk.
    news: list[int] = []
    if not deferred:
        news += _check_groups(organization_id, organization, groups)
    changes = sync_deal_situations(organization_id, per_deal)
    news += changes.news()
    notify_on_commit(organization_id, news)
    accounts = sorted({d.opportunity.account_id for d in facts})
    transaction.on_commit(
        partial(enqueue, "opportunities.tasks.check_duplicates", organization_id, accounts),
        robust=True,
    )
    return news


# Groups per pass of ``check_imported_groups``: each pass is a fixed number of queries. A
# pass holds its groups' open deals with their lines and situations: at 1,000 groups the pass
# was the 100,000-row dry run's memory peak (263 -> 327 MB at 1M); 250 keeps it a quarter.
GROUPS_BATCH = 250


@transaction.atomic
def check_imported_groups(*, organization_id: int, groups: ImportedGroups) -> list[int]:
    """The group rules of an import's groups (gathered by ``check_imported``), once each
    after its last chunk, ``GROUPS_BATCH`` groups per pass: their open deals as they are
    now (the imported ones with the others), their teams and open situations, quotes and
    price gaps. A group's situations only grow as deals join it, so the situations and
    participants are those of one save after another; a situation is opened or joined once,
    at the end, not as the chunks go. Syncing a group is bringing it in step with its deals:
    a group checked again (a chunk that went row by row) is harmless."""
    if not groups:
        return []
    organization = Organization.objects.get(pk=organization_id)
    news: list[int] = []
    for batch in groups.batches(GROUPS_BATCH):
        news += _check_groups(organization_id, organization, batch)
    notify_on_commit(organization_id, news)
    return news


def _check_groups(
    organization_id: int, organization: Organization, groups: ImportedGroups
) -> list[int]:
    """The group rules and the group's price gaps for ``groups``: one query per kind of fact,
    one statement per kind of write. Returns the news; telling is the caller's."""
    rules = Rules.of(organization)
    trade = TradeRules.of(organization)
    group_ids = list(groups.opener)
    group_deals = load_groups_deals(organization_id, groups.products)
    teams = load_teams(organization_id, group_ids)
    group_open = load_groups_open(organization_id, group_ids)
    open_gaps = open_price_gaps_of_groups(organization_id, group_ids)
    gap_products = {
        group_id: groups.quoted[group_id]
        | {c.product_id for c in open_gaps[group_id] if c.product_id is not None}
        for group_id in group_ids
    }
    gap_products = {group_id: ps for group_id, ps in gap_products.items() if ps}
    quotes_of = load_quotes_many(organization, gap_products) if trade.price_gap else {}
    group_syncs: list[GroupSync] = []
    for group_id in group_ids:
        wanted, open_rows = group_plan(
            group_deals[group_id],
            teams[group_id],
            rules,
            groups.products[group_id],
            group_open[group_id],
        )
        group_syncs.append(
            GroupSync(group_id, wanted, open_rows, opener_company_id=groups.opener[group_id])
        )
        if group_id in gap_products:
            group_syncs.append(
                price_gap_plan(group_id, quotes_of.get(group_id, []), open_gaps[group_id], trade)
            )
    return sync_situations_many(organization_id, group_syncs).news()
