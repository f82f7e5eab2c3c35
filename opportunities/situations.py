"""Conflict situations: what is a conflict under the organization's rules of engagement, and
keeping the open situations in step with the deals.

A situation is one open ``Conflict`` per key, with its deals (or, for a duplicate, its two
accounts) as ``ConflictParticipant`` rows beneath it:

* several companies working an account group — key (kind, group top);
* the same product at a group worked by sellers who do not credit each other — (kind, group
  top, product);
* a deal quoted below its framework agreement, a new team deal the global account manager
  acknowledges — (kind, the deal);
* a possible duplicate account — (kind, the pair of accounts, lower id first).

The group rules are pure functions of a group's facts (``group_situations``): the save, the
group re-check after a link, the won/lost move and the live preview all apply the same ones. A
new deal joins the open situation of its key instead of adding a row; a situation whose rule no
longer holds (one party left, a deal won or lost) closes itself. A situation a person decided
stays decided for the same deals: it reopens only when a deal that was not in it makes it one.

Every query is an indexed lookup by the group (the deals' own copy of their account's group,
the conflicts' anchor account): a handful per save whatever the size of the organization.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from django.contrib.postgres.aggregates import ArrayAgg
from django.contrib.postgres.expressions import ArraySubquery
from django.contrib.postgres.fields import ArrayField
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import (
    BigIntegerField,
    Case,
    DecimalField,
    ForeignKey,
    Model,
    OuterRef,
    Q,
    QuerySet,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Cast, JSONObject
from django.db.models.lookups import IsNull
from django.utils import timezone

from accounts.matching import (
    duplicate_candidate_keys,
    duplicate_candidates_many,
    duplicate_candidates_read,
    match_values,
)
from accounts.models import Account, AccountTeamMember, TeamRole
from crm.db.compiled import CompiledQuery, prepared_statement
from crm.events import emit, emit_many
from crm.models import Organization
from opportunities.customer import (
    AgreementTerms,
    Covering,
    agreement_terms,
    covering,
)
from opportunities.models import (
    DECIDED,
    SITUATION_KINDS,
    Conflict,
    ConflictKind,
    ConflictParticipant,
    ConflictStatus,
    Opportunity,
    OpportunityLine,
    Resolution,
)
from opportunities.selectors import open_q

# --- The rules ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rules:
    """Which findings are conflicts at all, per organization (crm.Organization's settings)."""

    other_company: bool = True
    team_coordinates: bool = True
    same_product: bool = True
    team_ack: bool = False

    @classmethod
    def of(cls, org: Organization) -> Rules:
        return cls(
            other_company=org.conflict_other_company,
            team_coordinates=org.conflict_team_coordinates,
            same_product=org.conflict_same_product,
            team_ack=org.conflict_team_ack,
        )


@dataclass(frozen=True)
class Deal:
    """What the rules read of one open deal. ``id`` None: the deal being typed (preview)."""

    id: int | None
    account_id: int
    company_id: int
    owner_id: int
    credited: frozenset[int] = frozenset()  # the owner and everyone holding a split
    products: frozenset[int] = frozenset()

    def credits(self, user_id: int) -> bool:
        return user_id == self.owner_id or user_id in self.credited


@dataclass(frozen=True)
class Team:
    """The group's global account team: its members and the companies they come from."""

    user_ids: frozenset[int] = frozenset()
    company_ids: frozenset[int] = frozenset()
    gam_id: int | None = None

    def coordinates(self, deal: Deal, rules: Rules) -> bool:
        """Team work, not a conflict: a deal by a member, or by a company the team covers."""
        return (
            rules.team_coordinates
            and bool(self.user_ids)
            and (deal.owner_id in self.user_ids or deal.company_id in self.company_ids)
        )

    def coordinated_q(self, rules: Rules) -> Q:
        """``coordinates`` as a filter on opportunities (the 360°'s team deals)."""
        if not (rules.team_coordinates and self.user_ids):
            return Q(pk__in=[])
        return Q(owner_id__in=list(self.user_ids)) | Q(sales_company_id__in=list(self.company_ids))


@dataclass(frozen=True)
class Situation:
    kind: str
    product_id: int | None
    members: tuple[tuple[Deal, bool], ...]  # (deal, coordinated)

    def key(self) -> tuple[str, int | None]:
        return (self.kind, self.product_id)

    def uncoordinated_ids(self) -> frozenset[int]:
        return frozenset(d.id for d, coordinated in self.members if not coordinated and d.id)


TEAM = -1  # the team as one party of a group situation (company ids are positive)


def group_situation(deals: Iterable[Deal], team: Team, rules: Rules) -> Situation | None:
    """Several parties working the group: each company outside the team is one, the team
    (everything it coordinates) another. At least one deal must be outside the team: team
    members working the group together are coordinated work."""
    if not rules.other_company:
        return None
    members = tuple((d, team.coordinates(d, rules)) for d in deals)
    parties = {TEAM if coordinated else d.company_id for d, coordinated in members}
    if len(parties) < 2 or all(coordinated for _, coordinated in members):
        return None
    return Situation(ConflictKind.GROUP_OTHER_COMPANY, None, members)


def product_situation(
    product_id: int, deals: Iterable[Deal], team: Team, rules: Rules
) -> Situation | None:
    """The same product at the group worked by two sellers neither of whom credits the other
    (owner or split), at least one of them outside the team (team members quoting the same
    product are coordinated work): the deals in such a pair are the situation."""
    if not rules.same_product:
        return None
    with_product = [(d, team.coordinates(d, rules)) for d in deals if product_id in d.products]
    by_owner: dict[int, list[tuple[Deal, bool]]] = defaultdict(list)
    for d, coordinated in with_product:
        by_owner[d.owner_id].append((d, coordinated))
    members = tuple(
        (d, coordinated)
        for d, coordinated in with_product
        if any(
            not d.credits(owner)
            and any(
                not e.credits(d.owner_id) and not (coordinated and theirs_coordinated)
                for e, theirs_coordinated in theirs
            )
            for owner, theirs in by_owner.items()
        )
    )
    return Situation(ConflictKind.SAME_PRODUCT, product_id, members) if members else None


def group_situations(
    deals: list[Deal], team: Team, rules: Rules, products: Collection[int] | None = None
) -> dict[tuple[str, int | None], Situation]:
    """Every situation of a group by key; ``products`` narrows the product rule to those."""
    found = {}
    group = group_situation(deals, team, rules)
    if group is not None:
        found[group.key()] = group
    wanted = set().union(*(d.products for d in deals)) if products is None else set(products)
    for product_id in sorted(wanted):
        situation = product_situation(product_id, deals, team, rules)
        if situation is not None:
            found[situation.key()] = situation
    return found


def agreement_breach(terms: AgreementTerms | None, lowest_discount: Any) -> tuple[int, str] | None:
    """The agreement rule, for the save and the live preview alike: a line discounted below the
    current tier of the agreement covering the account and the booking company. Returns the
    agreement and the discount it entitles to (the parameters of the text)."""
    if terms is None or terms.current_tier is None or lowest_discount is None:
        return None
    entitled = terms.current_tier.discount_percent
    if lowest_discount >= entitled:
        return None
    return terms.agreement.pk, str(entitled)


# --- A group's facts ---------------------------------------------------------------------------


def load_team(organization_id: int, group_id: int) -> Team:
    return _team(
        AccountTeamMember.objects.for_org(organization_id)
        .filter(account_id=group_id)
        .values_list("user_id", "sales_company_id", "role")
    )


def load_teams(organization_id: int, group_ids: Collection[int]) -> dict[int, Team]:
    """``load_team`` for many groups in one query (an import's groups after its last chunk)."""
    rows: dict[int, list[Any]] = {group_id: [] for group_id in group_ids}
    if group_ids:
        for group_id, *row in (
            AccountTeamMember.objects.for_org(organization_id)
            .filter(account_id__any_of=sorted(group_ids))
            .values_list("account_id", "user_id", "sales_company_id", "role")
        ):
            rows[group_id].append(row)
    return {group_id: _team(members) for group_id, members in rows.items()}


def load_groups_open(organization_id: int, group_ids: Collection[int]) -> dict[int, list[Conflict]]:
    """Each group's open situations (group and product rules), in one query, shaped as a
    deal's facts give them (``facts_group_open``): what ``group_plan`` compares with."""
    found: dict[int, list[Conflict]] = {group_id: [] for group_id in group_ids}
    if not group_ids:
        return found
    for pk, kind, product_id, group_id in (
        Conflict.objects.for_org(organization_id)
        .filter(
            account_id__any_of=sorted(group_ids),
            kind__in=SITUATION_KINDS,
            status=ConflictStatus.OPEN,
        )
        .order_by("pk")
        .values_list("id", "kind", "product_id", "account_id")
    ):
        found[group_id].append(
            _stored(
                Conflict(
                    pk=pk,
                    organization_id=organization_id,
                    kind=kind,
                    status=ConflictStatus.OPEN,
                    account_id=group_id,
                    product_id=product_id,
                )
            )
        )
    return found


def _team(rows: Iterable[Any]) -> Team:
    """A team from its members' (user, company, role) rows."""
    rows = list(rows)
    return Team(
        user_ids=frozenset(r[0] for r in rows),
        company_ids=frozenset(r[1] for r in rows),
        gam_id=next((r[0] for r in rows if r[2] == TeamRole.GLOBAL_ACCOUNT_MANAGER), None),
    )


def _deals_query(
    organization_id: int,
    group_id: int,
    products: list[int] | None,
    *,
    exclude_id: int | None = None,
    visible: Any = None,
) -> QuerySet[Any, Any]:
    """``load_deals``' one statement: the group's open deals, each with the products of its
    lines (of ``products`` when given: an empty list reads no lines) and the users of its
    splits."""
    return _open_deals_query(
        organization_id,
        Q(account_group_id=group_id),
        products,
        exclude_id=exclude_id,
        visible=visible,
    )


def _open_deals_query(
    organization_id: int,
    where: Q,
    products: list[int] | None,
    *,
    exclude_id: int | None = None,
    visible: Any = None,
    extra: Sequence[str] = (),
) -> QuerySet[Any, Any]:
    """The open deals ``where`` selects as ``_deals_query`` reads them; ``extra``: columns
    after the deal's four (before the two arrays)."""
    qs = Opportunity.objects.for_org(organization_id).filter(open_q(), where)
    if exclude_id is not None:
        qs = qs.exclude(pk=exclude_id)
    rows = qs.values_list("id", "account_id", "sales_company_id", "owner_id", *extra).order_by("pk")
    if products is not None and not products:
        return rows.annotate(
            product_ids=Value([], output_field=ArrayField(BigIntegerField())),
            split_users=Value([], output_field=ArrayField(BigIntegerField())),
        )
    line_q = Q(lines__isnull=False)
    if visible is not None:
        line_q &= Q(pk__in=visible.values("pk"))
    if products is not None:
        line_q &= Q(lines__product_id__any_of=products)
    return rows.annotate(
        product_ids=ArrayAgg("lines__product_id", filter=line_q, distinct=True, default=[]),
        split_users=ArrayAgg(
            "splits__user_id", filter=Q(splits__isnull=False), distinct=True, default=[]
        ),
    )


# The two shapes a save reads (its products, or none), built once per process: a save ran the
# ORM's build of this aggregate every time.
_DEALS_OF_PRODUCTS = CompiledQuery(
    _deals_query,
    "organization_id",
    "group_id",
    "products",
    scope="organization_id",
    arrays=("products",),
)
_DEALS_BARE = CompiledQuery(
    lambda organization_id, group_id: _deals_query(organization_id, group_id, []),
    "organization_id",
    "group_id",
    scope="organization_id",
)


def deals_read(
    organization_id: int, group_id: int, products: Collection[int]
) -> tuple[CompiledQuery, dict[str, Any]]:
    """The statement (and its values) ``load_deals(products=…)`` of a save runs: for the save
    to read it ahead with others (``crm.db.compiled.read_ahead``)."""
    if products:
        return _DEALS_OF_PRODUCTS, {
            "organization_id": organization_id,
            "group_id": group_id,
            "products": sorted(products),
        }
    return _DEALS_BARE, {"organization_id": organization_id, "group_id": group_id}


def load_deals(
    organization_id: int,
    group_id: int,
    *,
    products: Collection[int] | None = None,
    exclude_id: int | None = None,
    visible: Any = None,
) -> list[Deal]:
    """The group's open deals with what the rules compare: lines (of ``products`` only, when
    given) and who is credited on them. ``visible``: a queryset of the deals whose lines may be
    read (the preview's no-oracle rule); the others carry no products. One query: the lines and
    splits are aggregated per deal in SQL (a save pays for one round trip and one query build,
    which at a few hundred deals costs more than the rows)."""
    rows: Iterable[Any]
    if products is None or exclude_id is not None or visible is not None:
        # The group re-check and the preview: built for the call.
        rows = _deals_query(
            organization_id,
            group_id,
            None if products is None else sorted(products),
            exclude_id=exclude_id,
            visible=visible,
        )
    else:
        query, values = deals_read(organization_id, group_id, products)
        rows = query.rows(**values)
    return [
        _deal(opp_id, account_id, company_id, owner_id, product_ids, split_users)
        for opp_id, account_id, company_id, owner_id, product_ids, split_users in rows
    ]


def _deal(
    opp_id: int,
    account_id: int,
    company_id: int,
    owner_id: int,
    product_ids: Iterable[int],
    split_users: Iterable[int],
) -> Deal:
    products = frozenset(product_ids)
    return Deal(
        id=opp_id,
        account_id=account_id,
        company_id=company_id,
        owner_id=owner_id,
        # Credit only matters where products meet (the same-product rule).
        credited=frozenset(split_users) if products else frozenset(),
        products=products,
    )


def load_groups_deals(
    organization_id: int, products_of: Mapping[int, Collection[int]]
) -> dict[int, list[Deal]]:
    """``load_deals(products=…)`` for many groups in one query (an import checks a chunk's
    groups together): each group's open deals with their lines of that group's products only.
    The lines are read for all the groups' products at once and narrowed here, which gives
    each group what its own query would."""
    if not products_of:
        return {}
    every = sorted(set().union(*products_of.values()))
    rows = _open_deals_query(
        organization_id,
        Q(account_group_id__any_of=sorted(products_of)),
        every,
        extra=("account_group_id",),
    )
    found: dict[int, list[Deal]] = {group_id: [] for group_id in products_of}
    for opp_id, account_id, company_id, owner_id, group_id, product_ids, split_users in rows:
        wanted = products_of[group_id]
        found[group_id].append(
            _deal(
                opp_id,
                account_id,
                company_id,
                owner_id,
                [p for p in product_ids if p in wanted],
                split_users,
            )
        )
    return found


# --- Keeping the rows in step ------------------------------------------------------------------


@dataclass
class Changes:
    """What a sync did: situations opened, and situations a new company joined (both are news
    for the people involved)."""

    opened: list[int] = field(default_factory=list)
    joined: list[int] = field(default_factory=list)

    def news(self) -> list[int]:
        return sorted(set(self.opened) | set(self.joined))

    def __iadd__(self, other: Changes) -> Changes:
        self.opened += other.opened
        self.joined += other.joined
        return self


_PARTICIPANT_FIELDS = [f.attname for f in ConflictParticipant._meta.concrete_fields]

# A save in a group with open situations reads their participants: built once per process.
_PARTICIPANTS = CompiledQuery(
    lambda organization_id, conflict_ids: (
        ConflictParticipant.objects.for_org(organization_id)
        .filter(conflict_id__any_of=conflict_ids)
        .order_by("joined_at", "pk")
        .values_list(*_PARTICIPANT_FIELDS)
    ),
    "organization_id",
    "conflict_ids",
    scope="organization_id",
    arrays=("conflict_ids",),
)


def _participants(
    organization_id: int, conflict_ids: Iterable[int]
) -> dict[int, dict[int | None, ConflictParticipant]]:
    """Each situation's participant rows by deal, in one query."""
    found: dict[int, dict[int | None, ConflictParticipant]] = defaultdict(dict)
    rows = _PARTICIPANTS.rows(organization_id=organization_id, conflict_ids=sorted(conflict_ids))
    for row in rows:
        p = ConflictParticipant.from_db(DEFAULT_DB_ALIAS, _PARTICIPANT_FIELDS, row)
        found[p.conflict_id][p.opportunity_id] = p
    return found


# The kinds ``sync_situations_many`` keeps in step (the group rules' and the price gaps): its
# "decided before" read asks for all of them, one SQL text whatever the batch holds.
_GROUP_SYNC_KINDS = (*SITUATION_KINDS, ConflictKind.PRICE_GAP)

# The last decided row per (group, kind, product) of some groups, and the deals of some
# conflicts: built once per process (the ORM built both on every price gap or group situation
# opened, more Python than PostgreSQL's work).
_LAST_DECIDED = CompiledQuery(
    lambda organization_id, group_ids: (
        Conflict.objects.for_org(organization_id)
        .filter(
            account_id__any_of=group_ids,
            kind__in=_GROUP_SYNC_KINDS,
            status=ConflictStatus.RESOLVED,
            resolution__in=DECIDED,
        )
        .order_by("account_id", "kind", "product_id", "-resolved_at", "-pk")
        .distinct("account_id", "kind", "product_id")
        .values_list("pk", "account_id", "kind", "product_id")
    ),
    "organization_id",
    "group_ids",
    scope="organization_id",
    arrays=("group_ids",),
)
_DECIDED_DEALS = CompiledQuery(
    lambda organization_id, conflict_ids: (
        ConflictParticipant.objects.for_org(organization_id)
        .filter(conflict_id__any_of=conflict_ids, opportunity_id__isnull=False)
        .values_list("conflict_id", "opportunity_id")
    ),
    "organization_id",
    "conflict_ids",
    scope="organization_id",
    arrays=("conflict_ids",),
)


def _settled_many(
    organization_id: int, candidates: Sequence[tuple[int, Situation]]
) -> set[tuple[int, tuple[str, int | None]]]:
    """The (group, key) of the ``candidates`` a person decided already for these deals: the
    last decided row of the key holds every deal outside the team that makes it one now. Two
    compiled queries for any number of candidates: the last decided row per key (``DISTINCT
    ON``), then their deals."""
    if not candidates:
        return set()
    outside = {s.kind for _g, s in candidates} - set(_GROUP_SYNC_KINDS)
    if outside:
        raise ValueError(f"Not a kind of group situations: {sorted(outside)}.")
    last: dict[tuple[int, str, int | None], int] = {
        (account_id, kind, product_id): pk
        for pk, account_id, kind, product_id in _LAST_DECIDED.rows(
            organization_id=organization_id,
            group_ids=sorted({group_id for group_id, _s in candidates}),
        )
    }
    wanted = {
        (group_id, s): last[(group_id, s.kind, s.product_id)]
        for group_id, s in candidates
        if (group_id, s.kind, s.product_id) in last
    }
    if not wanted:
        return set()
    decided_on: dict[int, set[int]] = defaultdict(set)
    for conflict_id, opportunity_id in _DECIDED_DEALS.rows(
        organization_id=organization_id, conflict_ids=sorted(set(wanted.values()))
    ):
        decided_on[conflict_id].add(opportunity_id)
    return {
        (group_id, s.key())
        for (group_id, s), last_id in wanted.items()
        if s.uncoordinated_ids() <= decided_on[last_id]
    }


def _close(conflicts: Iterable[Conflict], resolution: str, now: Any) -> None:
    conflicts = list(conflicts)
    ids = [c.pk for c in conflicts]
    if ids:
        Conflict.objects.for_org(conflicts[0].organization_id).filter(
            pk__in=ids, status=ConflictStatus.OPEN
        ).update(
            status=ConflictStatus.RESOLVED,
            resolution=resolution,
            resolved_at=now,
            resolved_by=None,
        )
        for conflict in conflicts:
            emit(conflict.organization_id, "conflict.resolved", conflict)


def _participant(conflict: Conflict, deal: Deal, coordinated: bool, now: Any) -> Any:
    return ConflictParticipant(
        organization_id=conflict.organization_id,
        conflict=conflict,
        opportunity_id=deal.id,
        sales_company_id=deal.company_id,
        seller_id=deal.owner_id,
        coordinated=coordinated,
        joined_at=now,
    )


def group_plan(
    deals: list[Deal],
    team: Team,
    rules: Rules,
    products: Collection[int] | None,
    group_open: Iterable[Conflict],
) -> tuple[dict[tuple[str, int | None], Situation], dict[tuple[str, int | None], Conflict]]:
    """The group rules applied to a group's open deals (pure): the situations wanted, and the
    open rows they are compared with (``products``: the group rule and these products' rows
    only; None: all)."""
    wanted = group_situations(deals, team, rules, products)
    open_rows = {
        (c.kind, c.product_id): c
        for c in group_open
        if products is None
        or c.kind == ConflictKind.GROUP_OTHER_COMPANY
        or c.product_id in products
    }
    return wanted, open_rows


def sync_group(
    organization_id: int,
    group_id: int,
    rules: Rules,
    *,
    products: Collection[int] | None = None,
    opener_company_id: int | None = None,
    deal_closed: bool = False,
    team: Team | None = None,
    group_open: Iterable[Conflict] | None = None,
) -> Changes:
    """Bring the group's open situations in step with its open deals. ``products``: only the
    group rule and these products' situations (a save touches no other); None: all of them.
    ``deal_closed``: a deal was won or lost, which is why a situation that ends now ends.
    ``team``, ``group_open``: the group's team and open situations, when the caller read them
    already (``load_deal``)."""
    deals = load_deals(organization_id, group_id, products=products)
    if team is None:
        team = load_team(organization_id, group_id)
    if group_open is None:
        group_open = Conflict.objects.for_org(organization_id).filter(
            account_id=group_id, kind__in=SITUATION_KINDS, status=ConflictStatus.OPEN
        )
    wanted, open_rows = group_plan(deals, team, rules, products, group_open)
    return sync_situations(
        organization_id,
        group_id,
        wanted,
        open_rows,
        deal_closed=deal_closed,
        opener_company_id=opener_company_id,
    )


# --- Opening situations in one statement -------------------------------------------------------
#
# A first detection opened its situations with up to three statements (the per-deal kinds'
# "decided before" read, the INSERT of the conflicts and the INSERT of their participants), each
# built by the ORM on every save: more Python than PostgreSQL's work. One data-modifying CTE
# does all three, prepared once per connection (``DatabaseWrapper.execute_prepared``): the
# inputs are two JSON arrays (one SQL text whatever the number of rows), the decided rows are
# left out in SQL, and the participants join the conflicts the INSERT returns by their key,
# which is unique among open rows (``conflict_one_open_per_situation``), so a batch cannot hold
# it twice. Row-level security applies as to any INSERT: the backend sets the organization
# before the statement, and every row also names it.

_CONFLICT_TABLE = Conflict._meta.db_table
_PARTICIPANT_TABLE = ConflictParticipant._meta.db_table


def _literal(value: str) -> str:
    """A constant of the code (a status or resolution) as an SQL literal."""
    if not value.replace("_", "").isalnum():
        raise ValueError(f"Not a plain constant: {value!r}.")
    return f"'{value}'"


_KEY = ("kind", "account_id", "opportunity_id", "product_id", "other_account_id", "agreement_id")
_OPEN_SQL = f"""
WITH v AS MATERIALIZED (
    SELECT * FROM jsonb_to_recordset(%s::jsonb) AS v(
        ord int, kind text, account_id bigint, opportunity_id bigint, product_id bigint,
        other_account_id bigint, agreement_id bigint, sales_company_id bigint, params jsonb,
        check_decided boolean)
    WHERE NOT (v.check_decided AND EXISTS (
        SELECT 1 FROM "{_CONFLICT_TABLE}" d
        WHERE d.organization_id = %s AND d.opportunity_id = v.opportunity_id
          AND d.kind = v.kind AND d.status = {_literal(ConflictStatus.RESOLVED)}
          AND d.resolution IN ({", ".join(_literal(r) for r in DECIDED)})
          AND d.other_account_id IS NOT DISTINCT FROM v.other_account_id
          AND d.agreement_id IS NOT DISTINCT FROM v.agreement_id))
), new AS (
    INSERT INTO "{_CONFLICT_TABLE}" (
        organization_id, kind, status, account_id, opportunity_id, product_id,
        other_account_id, agreement_id, sales_company_id, params, resolution,
        resolution_note, resolved_by_id, resolved_at, created_at)
    SELECT %s, kind, {_literal(ConflictStatus.OPEN)}, account_id, opportunity_id, product_id,
        other_account_id, agreement_id, sales_company_id, params, '', '', NULL, NULL, %s
    FROM v ORDER BY ord
    RETURNING {", ".join(("id", *_KEY))}
), opened AS (
    SELECT new.id, v.ord FROM new JOIN v ON {
    " AND ".join(f"new.{c} IS NOT DISTINCT FROM v.{c}" for c in _KEY)
}
), members AS (
    INSERT INTO "{_PARTICIPANT_TABLE}" (
        organization_id, conflict_id, opportunity_id, account_id, sales_company_id, seller_id,
        coordinated, joined_at, left_at)
    SELECT %s, COALESCE(opened.id, p.conflict_id), p.opportunity_id, p.account_id,
        p.sales_company_id, p.seller_id, p.coordinated, %s, NULL
    FROM jsonb_to_recordset(%s::jsonb) AS p(
        ord int, conflict_ord int, conflict_id bigint, opportunity_id bigint, account_id bigint,
        sales_company_id bigint, seller_id bigint, coordinated boolean)
    LEFT JOIN opened ON opened.ord = p.conflict_ord
    WHERE p.conflict_ord IS NULL OR opened.id IS NOT NULL
    ORDER BY p.ord
)
SELECT id FROM opened ORDER BY ord
"""  # noqa: S608 - table names from the models, constants of the code; values are parameters
_OPEN_STATEMENT = prepared_statement(
    _OPEN_SQL, ["jsonb", "bigint", "bigint", "timestamptz", "bigint", "timestamptz", "jsonb"]
)


@dataclass
class _Opening:
    """The rows ``_open_situations`` writes: the conflicts to open (each a dict of ``_OPEN_SQL``'s
    ``v`` columns but ``ord``) and the participants (of a new conflict by its position in
    ``conflicts``, or of an open one by id)."""

    conflicts: list[dict[str, Any]] = field(default_factory=list)
    participants: list[dict[str, Any]] = field(default_factory=list)

    def conflict(self, **values: Any) -> int:
        self.conflicts.append({"ord": len(self.conflicts), **values})
        return len(self.conflicts) - 1

    def participant(
        self,
        *,
        conflict_ord: int | None = None,
        conflict_id: int | None = None,
        opportunity_id: int | None = None,
        account_id: int | None = None,
        sales_company_id: int,
        seller_id: int | None = None,
        coordinated: bool = False,
    ) -> None:
        self.participants.append(
            {
                "ord": len(self.participants),
                "conflict_ord": conflict_ord,
                "conflict_id": conflict_id,
                "opportunity_id": opportunity_id,
                "account_id": account_id,
                "sales_company_id": sales_company_id,
                "seller_id": seller_id,
                "coordinated": coordinated,
            }
        )


def _open_situations(organization_id: int, opening: _Opening, now: Any) -> list[int]:
    """Write ``opening`` in one statement; returns the ids of the conflicts opened, in their
    order (a per-deal conflict whose key a person decided before is left out, with its
    participants: ``check_decided``)."""
    if not opening.conflicts and not opening.participants:
        return []
    name, prepare_sql, execute_sql = _OPEN_STATEMENT
    params = [
        json.dumps(opening.conflicts),
        organization_id,
        organization_id,
        now,
        organization_id,
        now,
        json.dumps(opening.participants),
    ]
    # The project's backend (crm.db.base), which prepares a statement once per connection.
    connection: Any = connections[DEFAULT_DB_ALIAS]
    with connection.cursor() as cursor:
        connection.execute_prepared(cursor, name, prepare_sql, execute_sql, params)
        return [pk for (pk,) in cursor.fetchall()]


@dataclass(frozen=True)
class GroupSync:
    """One group's situations of some keys to bring in step (``sync_situations``' arguments)."""

    group_id: int
    wanted: Mapping[tuple[str, int | None], Situation]
    open_rows: Mapping[tuple[str, int | None], Conflict]
    deal_closed: bool = False
    opener_company_id: int | None = None
    params: dict[str, Any] | None = None


def sync_situations(
    organization_id: int,
    group_id: int,
    wanted: Mapping[tuple[str, int | None], Situation],
    open_rows: Mapping[tuple[str, int | None], Conflict],
    *,
    deal_closed: bool = False,
    opener_company_id: int | None = None,
    params: dict[str, Any] | None = None,
) -> Changes:
    """The one rule for a group's situations (the group rules' and the trade rules' price
    gaps): an open row whose key is no longer wanted closes; a wanted key without an open row
    opens one (unless a person decided it for the same deals); an open one gets its members and
    ``params`` in step. ``opener_company_id``: the company whose save opened it, else the first
    company outside the team."""
    return sync_situations_many(
        organization_id,
        [
            GroupSync(
                group_id,
                wanted,
                open_rows,
                deal_closed=deal_closed,
                opener_company_id=opener_company_id,
                params=params,
            )
        ],
    )


def sync_situations_many(organization_id: int, items: Sequence[GroupSync]) -> Changes:
    """``sync_situations`` for many groups (or keys) at once, in a fixed number of statements
    whatever their number: one UPDATE per kind of ending, one read of the kept rows'
    participants, two of the decided ones (``_settled_many``), one statement writing the new
    rows and every new participant (``_open_situations``) and one UPDATE of the changed ones."""
    now = timezone.now()
    changes = Changes()
    for deal_closed in (False, True):
        _close(
            [
                c
                for item in items
                if item.deal_closed is deal_closed
                for key, c in item.open_rows.items()
                if key not in item.wanted
            ],
            Resolution.DEAL_CLOSED if deal_closed else Resolution.NO_LONGER_APPLIES,
            now,
        )
    kept = [c.pk for item in items for key, c in item.open_rows.items() if key in item.wanted]
    current = _participants(organization_id, kept) if kept else {}
    settled = _settled_many(
        organization_id,
        [
            (item.group_id, situation)
            for item in items
            for key, situation in item.wanted.items()
            if key not in item.open_rows
        ],
    )
    new_rows: list[ConflictParticipant] = []
    changed: list[ConflictParticipant] = []
    new_params: list[Conflict] = []
    opening: list[tuple[Conflict, Situation]] = []
    for item in items:
        for key, situation in item.wanted.items():
            conflict = item.open_rows.get(key)
            if conflict is None:
                if (item.group_id, key) in settled:
                    continue
                opener = item.opener_company_id or next(
                    d.company_id for d, coordinated in situation.members if not coordinated
                )
                conflict = Conflict(
                    organization_id=organization_id,
                    kind=situation.kind,
                    account_id=item.group_id,
                    product_id=situation.product_id,
                    sales_company_id=opener,
                    params=item.params or {},
                )
                opening.append((conflict, situation))
                continue
            if item.params is not None and conflict.params != item.params:
                conflict.params = item.params
                new_params.append(conflict)
            changes.joined += _sync_members(
                conflict, situation, current.get(conflict.pk, {}), now, new_rows, changed
            )
    if new_params:
        Conflict.objects.for_org(organization_id).bulk_update(new_params, ["params"])
    if changed:
        ConflictParticipant.objects.for_org(organization_id).bulk_update(
            changed, ["left_at", "coordinated", "sales_company_id", "seller_id"]
        )
    # The new conflicts and every new participant (of these and of the kept situations) in one
    # statement; the decided keys were left out above (``settled``).
    rows = _Opening()
    for p in new_rows:
        rows.participant(
            conflict_id=p.conflict_id,
            opportunity_id=p.opportunity_id,
            sales_company_id=p.sales_company_id,
            seller_id=p.seller_id,
            coordinated=p.coordinated,
        )
    for conflict, situation in opening:
        at = rows.conflict(
            kind=conflict.kind,
            account_id=conflict.account_id,
            opportunity_id=None,
            product_id=conflict.product_id,
            other_account_id=None,
            agreement_id=None,
            sales_company_id=conflict.sales_company_id,
            params=conflict.params,
            check_decided=False,
        )
        for d, coordinated in situation.members:
            rows.participant(
                conflict_ord=at,
                opportunity_id=d.id,
                sales_company_id=d.company_id,
                seller_id=d.owner_id,
                coordinated=coordinated,
            )
    opened = _open_situations(organization_id, rows, now)
    if opening:
        changes.opened += opened
        # By id (read again after the commit, as the payload does anyway): a callback holding
        # each conflict held its deal, and an import's chunks open thousands.
        emit_many(organization_id, "conflict.opened", Conflict, opened)
    return changes


def _sync_members(
    conflict: Conflict,
    situation: Situation,
    rows: dict[int | None, ConflictParticipant],
    now: Any,
    new_rows: list[ConflictParticipant],
    changed: list[ConflictParticipant],
) -> list[int]:
    """Deals that joined get a row (a returning one its row back), deals that left are marked
    so, a changed team flag is updated (the rows are added to ``new_rows`` and ``changed``,
    written by the caller). Returns the conflict when a company new to it joined."""
    members = {d.id: (d, coordinated) for d, coordinated in situation.members}
    companies_before = {p.sales_company_id for p in rows.values() if p.left_at is None}
    for opp_id, p in rows.items():
        member = members.get(opp_id)
        if member is None:
            if p.left_at is None:
                p.left_at = now
                changed.append(p)
            continue
        deal, coordinated = member
        fresh = (None, coordinated, deal.company_id, deal.owner_id)
        if (p.left_at, p.coordinated, p.sales_company_id, p.seller_id) != fresh:
            p.left_at, p.coordinated, p.sales_company_id, p.seller_id = fresh
            changed.append(p)
    new_rows += [
        _participant(conflict, deal, coordinated, now)
        for opp_id, (deal, coordinated) in members.items()
        if opp_id not in rows
    ]
    companies_now = {d.company_id for d, _ in situation.members}
    return [conflict.pk] if companies_now - companies_before else []


@dataclass(frozen=True)
class DealSync:
    """One per-deal situation to bring in step (``_sync_one``'s arguments)."""

    kind: str
    opportunity: Opportunity
    open_row: Conflict | None
    holds: bool
    agreement_id: int | None = None
    other_account_id: int | None = None
    params: dict[str, Any] | None = None
    side: tuple[int | None, int] | None = None


def _sync_one(
    organization_id: int,
    *,
    kind: str,
    opportunity: Opportunity,
    open_row: Conflict | None,
    holds: bool,
    agreement_id: int | None = None,
    other_account_id: int | None = None,
    params: dict[str, Any] | None = None,
    side: tuple[int | None, int] | None = None,
) -> Changes:
    """A per-deal situation (agreement, acknowledgement, the trade rules' parallel import and
    double agreement): open it, update it or end it. Its key beyond the kind and the deal is
    (``other_account_id``, ``agreement_id``); ``side``: the (account, company) of another party
    that joins it as a participant (the trade rules' other country)."""
    return sync_deal_situations(
        organization_id,
        [
            DealSync(
                kind,
                opportunity,
                open_row,
                holds,
                agreement_id=agreement_id,
                other_account_id=other_account_id,
                params=params,
                side=side,
            )
        ],
    )


def sync_deal_situations(organization_id: int, items: Sequence[DealSync]) -> Changes:
    """``_sync_one`` for many per-deal situations at once, in a fixed number of statements: one
    UPDATE of the ended rows, one of changed parameters, and one statement that leaves out the
    keys a person decided before and writes the new rows with their participants
    (``_open_situations``)."""
    changes = Changes()
    now = timezone.now()
    ending: list[Conflict] = []
    new_params: list[Conflict] = []
    opening: list[DealSync] = []
    for item in items:
        open_row = item.open_row
        key = (item.other_account_id, item.agreement_id)
        if open_row is not None and (
            not item.holds or (open_row.other_account_id, open_row.agreement_id) != key
        ):
            ending.append(open_row)
            open_row = None
        if not item.holds:
            continue
        if open_row is not None:
            if open_row.params != (item.params or {}):
                open_row.params = item.params or {}
                new_params.append(open_row)
            continue
        opening.append(item)
    _close(ending, Resolution.NO_LONGER_APPLIES, now)
    if new_params:
        Conflict.objects.for_org(organization_id).bulk_update(new_params, ["params"])
    if not opening:
        return changes
    # One statement: the decided keys left out, the conflicts and their participants written.
    rows = _Opening()
    for item in opening:
        opportunity = item.opportunity
        at = rows.conflict(
            kind=item.kind,
            account_id=opportunity.account_id,
            opportunity_id=opportunity.pk,
            product_id=None,
            other_account_id=item.other_account_id,
            agreement_id=item.agreement_id,
            sales_company_id=opportunity.sales_company_id,
            params=item.params or {},
            check_decided=True,
        )
        rows.participant(
            conflict_ord=at,
            opportunity_id=opportunity.pk,
            sales_company_id=opportunity.sales_company_id,
            seller_id=opportunity.owner_id,
        )
        if item.side is not None and item.side[1] != opportunity.sales_company_id:
            rows.participant(
                conflict_ord=at, account_id=item.side[0], sales_company_id=item.side[1]
            )
    opened = _open_situations(organization_id, rows, now)
    changes.opened += opened
    emit_many(organization_id, "conflict.opened", Conflict, opened)
    return changes


def sync_deal(
    opportunity: Opportunity,
    rules: Rules,
    *,
    lines: list[tuple[int, Decimal]],
    own: dict[str, Conflict],
    is_new: bool = False,
    team: Team | None = None,
    agreements: Sequence[Covering] | None = None,
) -> Changes:
    """The deal's own situations: below its agreement, and (new deals in a teamed group, when
    the organization asks for it) the global account manager's acknowledgement. ``lines``,
    ``own`` and ``team`` as ``load_deal`` reads them; ``agreements`` (``covering``: the
    agreements with their tiers and companies) when the caller read them already."""
    return sync_deal_situations(
        opportunity.organization_id,
        deal_syncs(
            opportunity,
            rules,
            lines=lines,
            own=own,
            is_new=is_new,
            team=team,
            agreements=agreements,
        ),
    )


def needs_volume(agreements: Sequence[Covering], lines: Sequence[tuple[int, Decimal]]) -> bool:
    """The won volume (one aggregate over the group's won deals, the costly read) decides the
    agreement's tier; it matters only when some tier of the agreement that applies entitles to
    more than the lowest line has."""
    lowest = min((discount for _product, discount in lines), default=None)
    return (
        lowest is not None
        and bool(agreements)
        and any(t.discount_percent > lowest for t in agreements[0].tiers)
    )


def deal_syncs(
    opportunity: Opportunity,
    rules: Rules,
    *,
    lines: Sequence[tuple[int, Decimal]],
    own: Mapping[str, Conflict],
    is_new: bool = False,
    team: Team | None = None,
    agreements: Sequence[Covering] | None = None,
    volumes: Mapping[int, Decimal] | None = None,
) -> list[DealSync]:
    """``sync_deal``'s rules for one deal, as the per-deal situations to bring in step.
    ``volumes``: the won volume of each agreement (by id) whose tier decides, when the caller
    read them already (``customer.agreement_volumes``)."""
    org_id = opportunity.organization_id
    lowest = min((discount for _product, discount in lines), default=None)
    breach = None
    if lowest is not None:  # no lines, no discount to compare: skip the agreement's volume sum
        today = timezone.localdate()
        if agreements is None:
            agreements = covering(
                account=opportunity.account,
                on_date=today,
                booking_company_id=opportunity.sales_company_id,
            )
        if needs_volume(agreements, lines):
            applies = agreements[0]
            terms = agreement_terms(
                applies.agreement,
                today,
                tiers=applies.tiers,
                covered=applies.covered_company_ids,
                organization=opportunity.organization,
                volume=None if volumes is None else volumes[applies.agreement.pk],
            )
            breach = agreement_breach(terms, lowest)
    syncs = [
        DealSync(
            ConflictKind.AGREEMENT,
            opportunity,
            own.get(ConflictKind.AGREEMENT),
            breach is not None,
            agreement_id=breach[0] if breach else None,
            params={"percent": breach[1]} if breach else None,
        )
    ]
    if is_new and rules.team_ack:
        if team is None:
            team = load_team(org_id, opportunity.account_group_id or opportunity.account_id)
        needs_ack = bool(team.user_ids) and opportunity.owner_id != team.gam_id
        syncs.append(
            DealSync(
                ConflictKind.TEAM_ACK,
                opportunity,
                own.get(ConflictKind.TEAM_ACK),
                needs_ack,
            )
        )
    return syncs


def close_deal_situations(opportunity: Opportunity) -> None:
    """A won or lost deal: its own situations end (the group ones are re-checked without it)."""
    _close(
        Conflict.objects.for_org(opportunity.organization_id).filter(
            opportunity=opportunity, status=ConflictStatus.OPEN
        ),
        Resolution.DEAL_CLOSED,
        timezone.now(),
    )


def _candidates_of(account: Account) -> dict[str, Any]:
    """What ``find_duplicate_candidates`` is asked about an account: the others like it."""
    return {
        "organization": account.organization_id,
        **_keys_of(account),
        "exclude_id": account.pk,
    }


def _keys_of(account: Account) -> dict[str, Any]:
    """The account's fields that are matched on (``accounts.matching.match_values``)."""
    return {
        "name": account.name,
        "country": account.country,
        "registration_number": account.registration_number,
        "domain": account.domain,
    }


def duplicates_reads(account: Account) -> list[tuple[CompiledQuery, dict[str, Any]]]:
    """The statements (and values) ``sync_duplicates`` reads with: the account's duplicate
    candidates and its duplicate situations. They depend on the account alone: for a save to
    read them ahead (``crm.db.compiled.read_ahead``)."""
    candidates = duplicate_candidates_read(**_candidates_of(account))
    rows = (_DUPLICATE_ROWS, {"organization_id": account.organization_id, "account_id": account.pk})
    return [candidates, rows] if candidates is not None else [rows]


Pair = tuple[int, int]


def duplicate_pairs(account: Account) -> dict[Pair, list[str]]:
    """The account's possible duplicates as pairs (lower id first) with the reasons' codes."""
    return _pairs(account, duplicate_candidate_keys(**_candidates_of(account)))


def _pairs(
    account: Account, candidates: Iterable[tuple[int, int | None, list[str]]]
) -> dict[Pair, list[str]]:
    """The candidates (id, group, reasons) as pairs, best first. Members of the same group are
    subsidiaries, not duplicates."""
    return {
        (min(account.pk, pk), max(account.pk, pk)): [str(r) for r in reasons]
        for pk, group_id, reasons in candidates
        if group_id != account.group_id or account.group_id is None
    }


_CONFLICT_FIELDS = [f.attname for f in Conflict._meta.concrete_fields]


def _duplicate_situations(organization_id: int) -> QuerySet[Conflict, Any]:
    """The duplicate situations that are open or were decided (the others are history)."""
    return (
        Conflict.objects.for_org(organization_id)
        .filter(kind=ConflictKind.DUPLICATE_ACCOUNT)
        .filter(Q(status=ConflictStatus.OPEN) | Q(resolution__in=DECIDED))
    )


def _duplicate_rows(organization_id: int, account_id: int) -> QuerySet[Conflict, Any]:
    """The account's duplicate situations that are open or were decided."""
    return (
        _duplicate_situations(organization_id)
        .filter(Q(account_id=account_id) | Q(other_account_id=account_id))
        .values_list(*_CONFLICT_FIELDS)
    )


# Read on every first save of a deal (its account's duplicates): built once per process.
_DUPLICATE_ROWS = CompiledQuery(
    _duplicate_rows, "organization_id", "account_id", scope="organization_id"
)


def _pair_of(conflict: Conflict) -> Pair:
    return (conflict.account_id, conflict.other_account_id or 0)


@dataclass
class _DuplicateStep:
    """What one account's duplicates check changes: situations that end, pairs that open, and
    kept situations whose reasons changed."""

    close: list[Conflict]
    open: list[Pair]
    relabel: list[tuple[Conflict, list[str]]]


def _duplicate_step(
    found: dict[Pair, list[str]], open_rows: dict[Pair, Conflict], decided: Collection[Pair]
) -> _DuplicateStep:
    """The rule of one account's check (pure): one situation per pair, whichever account
    revealed it; a pair someone decided (merged, or not a duplicate) is not reopened; an open
    pair no longer found ends. The reasons of kept pairs are brought up to date only when no
    pair opens (as they always were)."""
    new_pairs = [p for p in found if p not in open_rows and p not in decided]
    relabel = []
    if not new_pairs:
        relabel = [
            (c, found[pair])
            for pair, c in open_rows.items()
            if pair in found and c.params.get("reasons") != found[pair]
        ]
    close = [c for pair, c in open_rows.items() if pair not in found]
    return _DuplicateStep(close, new_pairs, relabel)


def sync_duplicates(account: Account) -> Changes:
    """The account's duplicate situations in step (``_duplicate_step``); what a save runs."""
    org_id = account.organization_id
    found = duplicate_pairs(account)
    open_rows: dict[Pair, Conflict] = {}
    decided: set[Pair] = set()
    for row in _DUPLICATE_ROWS.rows(organization_id=org_id, account_id=account.pk):
        c = Conflict.from_db(DEFAULT_DB_ALIAS, _CONFLICT_FIELDS, row)
        if c.status == ConflictStatus.OPEN:
            open_rows[_pair_of(c)] = c
        else:
            decided.add(_pair_of(c))
    step = _duplicate_step(found, open_rows, decided)
    now = timezone.now()
    _close(step.close, Resolution.NO_LONGER_APPLIES, now)
    changes = Changes()
    if not step.open:
        for c, reasons in step.relabel:
            c.params = {"reasons": reasons}
            c.save(update_fields=["params"])
        return changes
    homes = dict(
        Account.objects.for_org(org_id)
        .filter(pk__in={a for p in step.open for a in p})
        .values_list("pk", "home_company_id")
    )
    participants = []
    for low, high in step.open:
        conflict = Conflict.objects.create(
            organization_id=org_id,
            kind=ConflictKind.DUPLICATE_ACCOUNT,
            account_id=low,
            other_account_id=high,
            sales_company_id=account.home_company_id,
            params={"reasons": found[(low, high)]},
        )
        changes.opened.append(conflict.pk)
        emit(org_id, "conflict.opened", conflict)
        participants += _duplicate_participants(conflict, homes, now)
    ConflictParticipant.objects.bulk_create(participants)
    return changes


def _duplicate_participants(
    conflict: Conflict, homes: Mapping[int, int], now: Any
) -> list[ConflictParticipant]:
    """The two accounts of a duplicate situation, each with its home company."""
    return [
        ConflictParticipant(
            organization_id=conflict.organization_id,
            conflict=conflict,
            account_id=a,
            sales_company_id=homes[a],
            joined_at=now,
        )
        for a in (conflict.account_id, conflict.other_account_id)
        if a is not None
    ]


def sync_duplicates_many(organization_id: int, accounts: Sequence[Account]) -> Changes:
    """``sync_duplicates`` for each account, one after the other in id order, with the same
    result, in a fixed number of statements whatever their number: the candidates of all
    (``duplicate_candidates_many``), their duplicate situations, then one UPDATE of the
    situations that end, one of the reasons that changed, one INSERT of the new situations and
    one of their participants.

    One account's check can change what the next one finds (a pair the first opened is kept,
    relabelled or ended by the second, whose ten best candidates may not include the first),
    so the checks run in memory over the situations as they stand after the previous ones
    (``_duplicate_step``, the same rule as a save's); only the end state is written. A
    situation that opened and ended inside the batch is written ended."""
    accounts = sorted(accounts, key=lambda a: a.pk)
    if not accounts:
        return Changes()
    found_of = duplicate_candidates_many(
        organization_id=organization_id,
        inputs=[(a.pk, match_values(**_keys_of(a))) for a in accounts],
    )
    ids = [a.pk for a in accounts]
    open_by_pair: dict[Pair, Conflict] = {}
    decided: set[Pair] = set()
    pairs_of: dict[int, set[Pair]] = defaultdict(set)
    for row in (
        _duplicate_situations(organization_id)
        .filter(Q(account_id__any_of=ids) | Q(other_account_id__any_of=ids))
        .values_list(*_CONFLICT_FIELDS)
    ):
        c = Conflict.from_db(DEFAULT_DB_ALIAS, _CONFLICT_FIELDS, row)
        if c.status == ConflictStatus.OPEN:
            open_by_pair[_pair_of(c)] = c
            pairs_of[c.account_id].add(_pair_of(c))
            pairs_of[c.other_account_id or 0].add(_pair_of(c))
        else:
            decided.add(_pair_of(c))
    homes = {a.pk: a.home_company_id for a in accounts}
    homes.update((c.account_id, c.home_company_id) for cs in found_of.values() for c in cs)
    now = timezone.now()
    created: list[Conflict] = []
    ended: list[Conflict] = []
    relabelled: dict[int, Conflict] = {}
    for account in accounts:
        found = _pairs(
            account, ((c.account_id, c.group_id, c.reasons) for c in found_of.get(account.pk, []))
        )
        mine = {p: open_by_pair[p] for p in pairs_of[account.pk] if p in open_by_pair}
        step = _duplicate_step(found, mine, decided)
        for c in step.close:
            del open_by_pair[_pair_of(c)]
            ended.append(c)
        for c, reasons in step.relabel:
            c.params = {"reasons": reasons}
            if c.pk is not None:
                relabelled[c.pk] = c
        for low, high in step.open:
            c = Conflict(
                organization_id=organization_id,
                kind=ConflictKind.DUPLICATE_ACCOUNT,
                account_id=low,
                other_account_id=high,
                sales_company_id=account.home_company_id,
                params={"reasons": found[(low, high)]},
            )
            created.append(c)
            open_by_pair[(low, high)] = c
            pairs_of[low].add((low, high))
            pairs_of[high].add((low, high))
    for c in ended:
        if c.pk is None:  # opened and ended in this batch: written ended
            c.status, c.resolution, c.resolved_at = (
                ConflictStatus.RESOLVED,
                Resolution.NO_LONGER_APPLIES,
                now,
            )
    if relabelled:
        Conflict.objects.for_org(organization_id).bulk_update(relabelled.values(), ["params"])
    _close_many(
        organization_id,
        [c.pk for c in ended if c.pk is not None],
        Resolution.NO_LONGER_APPLIES,
        now,
    )
    changes = Changes()
    if created:
        Conflict.objects.bulk_create(created)
        ConflictParticipant.objects.bulk_create(
            [p for c in created for p in _duplicate_participants(c, homes, now)]
        )
        changes.opened = [c.pk for c in created]
        # By id, read again after the commit (as the payload does anyway), one callback.
        emit_many(organization_id, "conflict.opened", Conflict, changes.opened)
        emit_many(
            organization_id,
            "conflict.resolved",
            Conflict,
            [c.pk for c in created if c.status == ConflictStatus.RESOLVED],
        )
    return changes


def _close_many(organization_id: int, ids: list[int], resolution: str, now: Any) -> None:
    """``_close`` by id, announced by id (``emit_many``)."""
    if not ids:
        return
    Conflict.objects.for_org(organization_id).filter(pk__in=ids, status=ConflictStatus.OPEN).update(
        status=ConflictStatus.RESOLVED, resolution=resolution, resolved_at=now, resolved_by=None
    )
    emit_many(organization_id, "conflict.resolved", Conflict, ids)


def situations_of(opportunity: Opportunity) -> Q:
    """The open situations the deal is in now, and its account's duplicates, as a filter on
    conflicts (joins the participants: use ``.distinct()``)."""
    return Q(
        Q(participants__opportunity=opportunity, participants__left_at__isnull=True)
        | Q(kind=ConflictKind.DUPLICATE_ACCOUNT, participants__account_id=opportunity.account_id),
        status=ConflictStatus.OPEN,
    )


def open_situations_of(opportunity: Opportunity) -> list[Conflict]:
    """``situations_of`` read for the system (detection's answer), one query."""
    return list(
        Conflict.objects.for_org(opportunity.organization_id)
        .filter(situations_of(opportunity))
        .distinct()
        .order_by("pk")
    )


@dataclass
class DealSituations:
    """Where the deal is an active participant now: the other groups with an open situation it
    is in (its account moved away from them), the products of its product situations in its own
    group (a save re-checks those even when the deal no longer has the product), and its own
    open situations (agreement, acknowledgement) by kind."""

    elsewhere: set[int] = field(default_factory=set)
    products: set[int] = field(default_factory=set)
    own: dict[str, Conflict] = field(default_factory=dict)
    # Per-group situations of other kinds it is in (the trade rules' price gaps).
    others: list[Conflict] = field(default_factory=list)

    def place(self, conflict: Conflict, *, group_id: int, opportunity_id: int) -> None:
        """Sort in one open situation the deal is an active participant of."""
        if conflict.kind not in SITUATION_KINDS:
            if conflict.opportunity_id == opportunity_id:
                self.own[conflict.kind] = conflict
            else:
                self.others.append(conflict)
        elif conflict.account_id != group_id:
            self.elsewhere.add(conflict.account_id)
        elif conflict.product_id is not None:
            self.products.add(conflict.product_id)


@dataclass
class DealFacts:
    """What a save's check reads of the deal itself: the deal (with its account, company,
    stage and organization), its lines, the situations it is in and its group's team."""

    opportunity: Opportunity
    lines: list[tuple[int, Decimal]]
    situations: DealSituations
    team: Team
    group_open: list[Conflict]  # the group's open situations (group and product rules)


# The deal and what ``select_related`` would give it, as columns of one row.
_DEAL_RELATED = ("account", "sales_company", "global_stage", "organization")
_FACTS = ("facts_lines", "facts_mine", "facts_team", "facts_group_open")


def _loaded_fields(model: type[Model]) -> list[str]:
    """A model's columns as a loaded instance needs them (a generated search vector is left
    deferred: nothing on the save path reads it)."""
    return [f.attname for f in model._meta.concrete_fields if not getattr(f, "generated", False)]


def _deal_layout() -> list[tuple[str | None, type[Model], list[str]]]:
    layout: list[tuple[str | None, type[Model], list[str]]] = [
        (None, Opportunity, _loaded_fields(Opportunity))
    ]
    for name in _DEAL_RELATED:
        related = Opportunity._meta.get_field(name).related_model
        assert isinstance(related, type)
        layout.append((name, related, _loaded_fields(related)))
    return layout


def _deal_query(organization_id: int, pk: int) -> QuerySet[Opportunity, Any]:
    """``load_deal``'s one query: lines, situations and team as JSON arrays of subqueries
    beside the deal's row and its related rows."""
    return _facts_query(organization_id, {"pk": pk})


def _facts_query(organization_id: int, where: dict[str, Any]) -> QuerySet[Opportunity, Any]:
    """The deals ``where`` selects with their facts (``_deal_query``'s columns)."""
    lines = (
        OpportunityLine.objects.for_org(organization_id)
        .filter(opportunity_id=OuterRef("pk"))
        .order_by("pk")
        # The discount as text: JSON numbers come back as floats.
        .values(row=JSONObject(p="product_id", d=Cast("discount_percent", TextField())))
    )
    mine = (
        ConflictParticipant.objects.for_org(organization_id)
        .filter(
            opportunity_id=OuterRef("pk"),
            left_at__isnull=True,
            conflict__status=ConflictStatus.OPEN,
        )
        .values(
            row=JSONObject(
                id="conflict_id",
                kind="conflict__kind",
                account="conflict__account_id",
                product="conflict__product_id",
                opportunity="conflict__opportunity_id",
                other_account="conflict__other_account_id",
                agreement="conflict__agreement_id",
                company="conflict__sales_company_id",
                params="conflict__params",
            )
        )
    )
    # CASE, not COALESCE: under row-level security PostgreSQL uses a condition for an index
    # only when it cannot leak, and it counts COALESCE as leaky (CASE and IS NULL are not).
    group = Case(
        When(IsNull(OuterRef("account_group_id"), False), then=OuterRef("account_group_id")),
        default=OuterRef("account_id"),
        output_field=BigIntegerField(),
    )
    team = (
        AccountTeamMember.objects.for_org(organization_id)
        .filter(account_id=group)
        .values(row=JSONObject(u="user_id", c="sales_company_id", r="role"))
    )
    group_open = (
        Conflict.objects.for_org(organization_id)
        .filter(account_id=group, kind__in=SITUATION_KINDS, status=ConflictStatus.OPEN)
        .order_by("pk")
        .values(row=JSONObject(id="id", kind="kind", product="product_id"))
    )
    columns = [
        f"{prefix}__{name}" if prefix else name
        for prefix, _model, names in _deal_layout()
        for name in names
    ]
    return (
        Opportunity.objects.for_org(organization_id)
        .filter(**where)
        .annotate(
            facts_lines=ArraySubquery(lines),
            facts_mine=ArraySubquery(mine),
            facts_team=ArraySubquery(team),
            facts_group_open=ArraySubquery(group_open),
        )
        .values_list(*columns, *_FACTS)
    )


# Built by the ORM once per process: building it cost as much CPU as a save's SQL takes.
_DEAL_QUERY = CompiledQuery(_deal_query, "organization_id", "pk", scope="organization_id")


def _deal_from_row(row: Sequence[Any]) -> tuple[Opportunity, Sequence[Any]]:
    """The deal with its related instances cached (as ``select_related`` leaves them), and the
    row's remaining columns (the facts)."""
    position = 0
    opportunity: Opportunity | None = None
    for prefix, model, names in _deal_layout():
        values = row[position : position + len(names)]
        position += len(names)
        instance = model.from_db(DEFAULT_DB_ALIAS, names, values)
        if prefix is None:
            assert isinstance(instance, Opportunity)
            opportunity = instance
        else:
            assert opportunity is not None
            relation = Opportunity._meta.get_field(prefix)
            assert isinstance(relation, ForeignKey)
            relation.set_cached_value(opportunity, instance)
    assert opportunity is not None
    return opportunity, row[position:]


def load_deal(organization_id: int, pk: int) -> DealFacts:
    """``DealFacts`` in one query (``_deal_query``). A save runs this on every change; four
    round trips and four query builds were most of its cost, then the one query's build."""
    found_rows = _DEAL_QUERY.rows(organization_id=organization_id, pk=pk)
    if not found_rows:
        raise Opportunity.DoesNotExist(f"No opportunity {pk} in organization {organization_id}.")
    return _facts_from_row(organization_id, found_rows[0])


def load_deals_facts(organization_id: int, pks: Collection[int]) -> list[DealFacts]:
    """``load_deal`` for many deals in one query (by id): an import checks a chunk of new
    deals with it. Missing ids are left out."""
    if not pks:
        return []
    rows = _facts_query(organization_id, {"pk__in": sorted(pks)}).order_by("pk")
    return [_facts_from_row(organization_id, row) for row in rows]


def new_deals_facts(
    organization: Organization,
    deals: Sequence[tuple[Opportunity, Sequence[OpportunityLine]]],
) -> list[DealFacts]:
    """``load_deals_facts`` for deals this transaction has just inserted (an import's chunk,
    after ``opportunity_persist``), from the instances their caller built and wrote, in id
    order. Rebuilding the deal, account, company, stage and organization from a row was
    0.25-0.5 ms of Python per deal (README, issue 20); here only what the instances cannot
    know is read, in three queries for any number of deals: the group the database's trigger
    gave each deal (``account_group_id``), the groups' teams and open situations.

    The instances must hold their account, booking company and global stage (as
    ``opportunity_build`` leaves them); their organization is set to ``organization``. Their
    decimals are brought to the scale the columns store (an amount "1200.5" reads back as
    1200.50), so the facts are what the database would give. A deal inserted in this
    transaction is no participant of any situation yet: its own situations are empty."""
    if not deals:
        return []
    org_id = organization.pk
    ordered = sorted(deals, key=lambda deal: deal[0].pk)
    group_of = dict(
        Opportunity.objects.for_org(org_id)
        .filter(pk__any_of=[o.pk for o, _lines in ordered])
        .values_list("pk", "account_group_id")
    )
    group_ids = {group_of[o.pk] or o.account_id for o, _lines in ordered if o.pk in group_of}
    teams = load_teams(org_id, group_ids)
    group_open = load_groups_open(org_id, group_ids)
    relations = {name: Opportunity._meta.get_field(name) for name in _DEAL_RELATED}
    facts = []
    for opportunity, lines in ordered:
        if opportunity.pk not in group_of:
            continue  # as load_deals_facts: a missing id is left out
        for name, relation in relations.items():
            assert isinstance(relation, ForeignKey)
            if name == "organization":
                relation.set_cached_value(opportunity, organization)
            else:
                # An uncached relation would be read once per deal by the rules.
                assert relation.is_cached(opportunity), name
        opportunity.account_group_id = group_of[opportunity.pk]
        _as_stored(opportunity)
        group_id = opportunity.account_group_id or opportunity.account_id
        facts.append(
            DealFacts(
                opportunity=opportunity,
                lines=[
                    (line.product_id, _as_stored(line).discount_percent)
                    for line in sorted(lines, key=lambda line: line.pk)
                ],
                situations=DealSituations(),
                team=teams[group_id],
                group_open=group_open[group_id],
            )
        )
    return facts


_ModelT = TypeVar("_ModelT", bound=Model)


def _as_stored(instance: _ModelT) -> _ModelT:
    """The instance's decimals at their columns' scale, as a row read back gives them (its
    ``full_clean`` allowed no more places than the column has: nothing is rounded)."""
    for f in instance._meta.concrete_fields:
        if isinstance(f, DecimalField):
            value = getattr(instance, f.attname)
            if value is not None:
                exponent = Decimal(1).scaleb(-f.decimal_places)
                setattr(instance, f.attname, Decimal(value).quantize(exponent))
    return instance


def _facts_from_row(organization_id: int, found_row: Sequence[Any]) -> DealFacts:
    opportunity, facts = _deal_from_row(found_row)
    facts_lines, facts_mine, facts_team, facts_group_open = facts
    group_id = opportunity.account_group_id or opportunity.account_id
    found = DealSituations()
    for row in facts_mine:
        conflict = _stored(
            Conflict(
                pk=row["id"],
                organization_id=organization_id,
                kind=row["kind"],
                status=ConflictStatus.OPEN,
                account_id=row["account"],
                product_id=row["product"],
                opportunity_id=row["opportunity"],
                other_account_id=row["other_account"],
                agreement_id=row["agreement"],
                sales_company_id=row["company"],
                params=row["params"] or {},
            )
        )
        found.place(conflict, group_id=group_id, opportunity_id=opportunity.pk)
    return DealFacts(
        opportunity=opportunity,
        lines=[(r["p"], Decimal(r["d"])) for r in facts_lines],
        situations=found,
        team=_team((r["u"], r["c"], r["r"]) for r in facts_team),
        group_open=[
            _stored(
                Conflict(
                    pk=r["id"],
                    organization_id=organization_id,
                    kind=r["kind"],
                    status=ConflictStatus.OPEN,
                    account_id=group_id,
                    product_id=r["product"],
                )
            )
            for r in facts_group_open
        ],
    )


def _stored(conflict: Conflict) -> Conflict:
    """A row built from what a query returned: saving it updates it."""
    conflict._state.adding = False
    return conflict


TEAM_DEALS_SHOWN = 20


def team_deals(*, user: Any, group: Account) -> list[Opportunity]:
    """The group's open deals the team coordinates (the 360°'s "team deals", no conflict), as
    far as the user may see them: the newest few, with what the list shows."""
    rules = Rules.of(group.organization)
    team = load_team(group.organization_id, group.pk)
    if not team.user_ids or not rules.team_coordinates:
        return []
    return list(
        Opportunity.objects.visible_to(user)
        .filter(open_q(), team.coordinated_q(rules), account_group_id=group.pk)
        .select_related("owner", "sales_company", "account", "local_stage")
        .order_by("-created_at", "-pk")[:TEAM_DEALS_SHOWN]
    )
