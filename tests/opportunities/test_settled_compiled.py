"""The group kinds' "decided before" read (``situations._settled_many``) on compiled statements:
the same answer as the ORM-built queries it replaced (kept here), and row-level security alone
keeps another organization's decided rows out (as the application role, wall one off)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import pytest
from django.utils import timezone

from crm.scope import org_scope
from opportunities.models import (
    DECIDED,
    Conflict,
    ConflictKind,
    ConflictParticipant,
    ConflictStatus,
    Resolution,
)
from opportunities.situations import Deal, Situation, _settled_many
from tests.accounts.factories import AccountFactory
from tests.conftest import World
from tests.crm.test_rls import as_app_role
from tests.opportunities.factories import OpportunityFactory

pytestmark = pytest.mark.django_db


def _settled_orm(
    organization_id: int, candidates: Sequence[tuple[int, Situation]]
) -> set[tuple[int, tuple[str, int | None]]]:
    """The replaced implementation, as it was."""
    if not candidates:
        return set()
    last = {
        (account_id, kind, product_id): pk
        for pk, account_id, kind, product_id in Conflict.objects.for_org(organization_id)
        .filter(
            account_id__any_of=sorted({group_id for group_id, _s in candidates}),
            kind__in=sorted({s.kind for _g, s in candidates}),
            status=ConflictStatus.RESOLVED,
            resolution__in=DECIDED,
        )
        .order_by("account_id", "kind", "product_id", "-resolved_at", "-pk")
        .distinct("account_id", "kind", "product_id")
        .values_list("pk", "account_id", "kind", "product_id")
    }
    wanted = {
        (group_id, s): last[(group_id, s.kind, s.product_id)]
        for group_id, s in candidates
        if (group_id, s.kind, s.product_id) in last
    }
    if not wanted:
        return set()
    decided_on: dict[int, set[int]] = defaultdict(set)
    for conflict_id, opportunity_id in (
        ConflictParticipant.objects.for_org(organization_id)
        .filter(conflict_id__any_of=sorted(set(wanted.values())), opportunity_id__isnull=False)
        .values_list("conflict_id", "opportunity_id")
    ):
        decided_on[conflict_id].add(opportunity_id)
    return {
        (group_id, s.key())
        for (group_id, s), last_id in wanted.items()
        if s.uncoordinated_ids() <= decided_on[last_id]
    }


def _decided(org: Any, group: Any, kind: str, deals: list[Any], *, product: Any = None,
             resolution: str = Resolution.ACKNOWLEDGED, days_ago: int = 1,
             status: str = ConflictStatus.RESOLVED) -> Conflict:  # fmt: skip
    company = deals[0].sales_company if deals else group.home_company
    conflict = Conflict.objects.create(
        organization=org, kind=kind, account=group, product=product, sales_company=company,
        status=status, resolution=resolution if status == ConflictStatus.RESOLVED else "",
        resolved_at=timezone.now() - dt.timedelta(days=days_ago),
    )  # fmt: skip
    for d in deals:
        ConflictParticipant.objects.create(
            organization=org, conflict=conflict, opportunity=d,
            sales_company=d.sales_company, seller=d.owner,
        )  # fmt: skip
    return conflict


def _deal(o: Any) -> Deal:
    return Deal(o.pk, o.account_id, o.sales_company_id, o.owner_id)


@pytest.fixture
def data(world: World) -> dict[str, Any]:
    from tests.opportunities.factories import ProductFactory

    org = world.org
    g1 = AccountFactory(organization=org, home_company=world.se, name="G1")
    g2 = AccountFactory(organization=org, home_company=world.dk, name="G2")
    pump = ProductFactory(organization=org)
    valve = ProductFactory(organization=org)
    se, dk, de = (
        OpportunityFactory(account=g1, owner=u) for u in (world.rep_se, world.rep_dk, world.rep_de)
    )
    x, y = (OpportunityFactory(account=g2, owner=u) for u in (world.rep_se, world.rep_dk))
    with org_scope(org.pk):
        # g1's group rule: decided twice; the later (on se and dk only) counts.
        _decided(org, g1, ConflictKind.GROUP_OTHER_COMPANY, [se, dk, de], days_ago=5)
        _decided(org, g1, ConflictKind.GROUP_OTHER_COMPANY, [se, dk], days_ago=1)
        # A resolution nobody decided, a later open row: neither counts.
        _decided(org, g1, ConflictKind.GROUP_OTHER_COMPANY, [se], days_ago=0,
                 resolution=Resolution.NO_LONGER_APPLIES)  # fmt: skip
        _decided(org, g1, ConflictKind.SAME_PRODUCT, [se, dk], product=pump)
        _decided(org, g1, ConflictKind.PRICE_GAP, [se, de], product=valve)
        _decided(org, g2, ConflictKind.GROUP_OTHER_COMPANY, [x, y], status=ConflictStatus.OPEN)
        _decided(org, g2, ConflictKind.SAME_PRODUCT, [x, y], product=pump)
        # Another organization's decided row.
    other_group = AccountFactory(
        organization=world.other_org, home_company=world.other_company, name="G1"
    )
    with org_scope(world.other_org.pk):
        _decided(world.other_org, other_group, ConflictKind.GROUP_OTHER_COMPANY, [])
    s = {k: _deal(v) for k, v in {"se": se, "dk": dk, "de": de, "x": x, "y": y}.items()}

    def sit(kind: str, product: Any, *members: tuple[str, bool]) -> Situation:
        return Situation(kind, product.pk if product else None,
                         tuple((s[n], coordinated) for n, coordinated in members))  # fmt: skip

    group, same, gap = (
        ConflictKind.GROUP_OTHER_COMPANY,
        ConflictKind.SAME_PRODUCT,
        ConflictKind.PRICE_GAP,
    )
    candidates = [
        (g1.pk, sit(group, None, ("se", False), ("dk", False))),  # decided (the later row)
        (g1.pk, sit(same, pump, ("se", False), ("dk", False), ("de", True))),  # de coordinated
        (g1.pk, sit(same, valve, ("se", False), ("dk", False))),  # nothing decided for valve
        (g1.pk, sit(gap, valve, ("se", False), ("de", False))),  # decided
        (g1.pk, sit(gap, pump, ("se", False), ("de", False))),  # not this product
        (g2.pk, sit(group, None, ("x", False), ("y", False))),  # open, not decided
        (g2.pk, sit(same, pump, ("x", False), ("y", False))),  # decided
        (other_group.pk, sit(group, None, ("x", False))),  # the other organization's
    ]
    return {"candidates": candidates, "groups": (g1, g2, other_group)}


def test_the_compiled_read_answers_as_the_orm_did(world: World, data: dict[str, Any]) -> None:
    candidates = data["candidates"]
    g1, g2, _other = data["groups"]
    with org_scope(world.org.pk):
        new = _settled_many(world.org.pk, candidates)
        assert new == _settled_orm(world.org.pk, candidates)
        assert new == {
            (g1.pk, (ConflictKind.GROUP_OTHER_COMPANY, None)),
            (g1.pk, (ConflictKind.SAME_PRODUCT, candidates[1][1].product_id)),
            (g1.pk, (ConflictKind.PRICE_GAP, candidates[3][1].product_id)),
            (g2.pk, (ConflictKind.SAME_PRODUCT, candidates[6][1].product_id)),
        }
        # Any subset of them, one at a time too.
        for one in candidates:
            assert _settled_many(world.org.pk, [one]) == _settled_orm(world.org.pk, [one])
        assert _settled_many(world.org.pk, []) == set()


def test_a_kind_outside_the_group_syncs_is_refused(world: World, data: dict[str, Any]) -> None:
    g1 = data["groups"][0]
    odd = Situation(ConflictKind.AGREEMENT, None, ())
    with org_scope(world.org.pk), pytest.raises(ValueError, match="group situations"):
        _settled_many(world.org.pk, [(g1.pk, odd)])


@pytest.mark.django_db(transaction=True)
def test_rls_alone_keeps_the_other_organization_out(world: World, data: dict[str, Any]) -> None:
    """As the application role with wall one's filter off, on one connection: each
    organization's decided rows only."""
    candidates = data["candidates"]
    other = data["groups"][2]
    theirs = [(other.pk, Situation(ConflictKind.GROUP_OTHER_COMPANY, None, ()))]
    with org_scope(world.org.pk):
        expected = _settled_orm(world.org.pk, candidates)
    with as_app_role(orm_filter=False):
        for _ in range(2):
            with org_scope(world.org.pk):
                assert _settled_many(world.org.pk, candidates) == expected
                assert _settled_many(world.org.pk, theirs) == set()
            with org_scope(world.other_org.pk):
                assert _settled_many(world.other_org.pk, theirs) == {
                    (other.pk, (ConflictKind.GROUP_OTHER_COMPANY, None))
                }
                assert _settled_many(world.other_org.pk, candidates[:1]) == set()
