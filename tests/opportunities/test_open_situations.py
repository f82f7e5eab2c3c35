"""Opening situations in one prepared statement (``situations._open_situations``): the same rows
as the ORM's two ``bulk_create``s and the "decided before" read it replaced, and row-level
security on its INSERTs (two organizations on one connection, one prepared plan)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.db.compiled import statement_sql
from crm.scope import org_scope
from opportunities.models import (
    Conflict,
    ConflictKind,
    ConflictParticipant,
    ConflictStatus,
    Resolution,
)
from opportunities.situations import (
    Deal,
    DealSync,
    Situation,
    _open_situations,
    _Opening,
    sync_deal_situations,
    sync_situations,
)
from tests.accounts.factories import AccountFactory
from tests.conftest import World
from tests.crm.test_rls import as_app_role
from tests.opportunities.factories import OpportunityFactory

pytestmark = pytest.mark.django_db


def _marks(org_id: int) -> tuple[int, int]:
    """The last conflict and participant ids so far: what a run writes comes after them."""
    last = Conflict.objects.for_org(org_id).order_by("-pk").values_list("pk", flat=True)
    parts = ConflictParticipant.objects.for_org(org_id).order_by("-pk").values_list("pk", flat=True)
    return (last[0] if last else 0), (parts[0] if parts else 0)


def _rows(org_id: int, marks: tuple[int, int]) -> tuple[list[Any], list[Any]]:
    """The conflicts and participants written after ``marks``: every column but ids and
    timestamps, a new participant's conflict by its position among the new conflicts."""
    conflicts = list(
        Conflict.objects.for_org(org_id)
        .filter(pk__gt=marks[0])
        .order_by("pk")
        .values_list(
            "pk", "kind", "status", "account_id", "opportunity_id", "product_id",
            "other_account_id", "agreement_id", "sales_company_id", "params", "resolution",
            "resolution_note", "resolved_by_id", "resolved_at",
        )
    )  # fmt: skip
    position = {row[0]: f"new {i}" for i, row in enumerate(conflicts)}
    participants = [
        (position.get(conflict_id, conflict_id), *rest)
        for conflict_id, *rest in ConflictParticipant.objects.for_org(org_id)
        .filter(pk__gt=marks[1])
        .order_by("pk")
        .values_list(
            "conflict_id", "opportunity_id", "account_id", "sales_company_id", "seller_id",
            "coordinated", "left_at",
        )
    ]  # fmt: skip
    return [row[1:] for row in conflicts], participants


def _old_deal_path(org_id: int, items: list[DealSync]) -> list[int]:
    """What ``sync_deal_situations`` wrote before (its decided read and two bulk_creates)."""
    now = timezone.now()
    decided = set(
        Conflict.objects.for_org(org_id)
        .filter(
            opportunity_id__in=[i.opportunity.pk for i in items],
            status=ConflictStatus.RESOLVED,
            resolution__in=[Resolution.ASSIGN_OWNER, Resolution.MERGE,
                            Resolution.KEEP_BOTH_SPLIT, Resolution.ACKNOWLEDGED],
        )
        .values_list("kind", "opportunity_id", "other_account_id", "agreement_id")
    )  # fmt: skip
    items = [
        i
        for i in items
        if (i.kind, i.opportunity.pk, i.other_account_id, i.agreement_id) not in decided
    ]
    conflicts = Conflict.objects.bulk_create(
        [
            Conflict(
                organization_id=org_id,
                kind=i.kind,
                account_id=i.opportunity.account_id,
                opportunity=i.opportunity,
                other_account_id=i.other_account_id,
                agreement_id=i.agreement_id,
                sales_company_id=i.opportunity.sales_company_id,
                params=i.params or {},
            )
            for i in items
        ]
    )
    rows = []
    for i, c in zip(items, conflicts, strict=True):
        rows.append(
            ConflictParticipant(
                organization_id=org_id,
                conflict=c,
                opportunity=i.opportunity,
                sales_company_id=i.opportunity.sales_company_id,
                seller_id=i.opportunity.owner_id,
                joined_at=now,
            )
        )
        if i.side is not None and i.side[1] != i.opportunity.sales_company_id:
            rows.append(
                ConflictParticipant(
                    organization_id=org_id,
                    conflict=c,
                    account_id=i.side[0],
                    sales_company_id=i.side[1],
                    joined_at=now,
                )
            )
    ConflictParticipant.objects.bulk_create(rows)
    return [c.pk for c in conflicts]


def test_the_per_deal_situations_are_the_rows_the_orm_wrote(world: World) -> None:
    top = AccountFactory(organization=world.org, home_company=world.se, name="Volvera AB")
    other = AccountFactory(organization=world.org, home_company=world.de, name="Volvera GmbH")
    se = OpportunityFactory(account=top, owner=world.rep_se)
    dk = OpportunityFactory(account=top, owner=world.rep_dk)
    de = OpportunityFactory(account=other, owner=world.rep_de)
    org_id = world.org.pk
    with org_scope(org_id):
        # A person decided this key before: it stays decided (no row, no participant).
        Conflict.objects.create(
            organization_id=org_id,
            kind=ConflictKind.PARALLEL_IMPORT,
            account=top,
            opportunity=dk,
            sales_company=world.dk,
            status=ConflictStatus.RESOLVED,
            resolution=Resolution.ACKNOWLEDGED,
        )
        marks = _marks(org_id)
        items = [
            DealSync(ConflictKind.AGREEMENT, se, None, True, params={"percent": "12.5"}),
            DealSync(
                ConflictKind.PARALLEL_IMPORT, se, None, True, other_account_id=other.pk,
                side=(other.pk, world.de.pk),
            ),
            DealSync(ConflictKind.PARALLEL_IMPORT, dk, None, True, side=(None, world.se.pk)),
            # The other side in the same company: no second participant.
            DealSync(ConflictKind.TEAM_ACK, de, None, True, side=(other.pk, world.de.pk)),
        ]  # fmt: skip
        found = {}
        for name in ("new", "old"):
            with transaction.atomic():
                if name == "new":
                    changes = sync_deal_situations(org_id, items)
                    opened = changes.opened
                else:
                    opened = _old_deal_path(org_id, items)
                found[name] = (_rows(org_id, marks), len(opened))
                assert opened == sorted(opened)
                transaction.set_rollback(True)
    (conflicts, participants), opened = found["new"]
    assert found["new"] == found["old"]
    assert opened == 3 and len(conflicts) == 3 and len(participants) == 4
    assert conflicts[0][-5] == {"percent": "12.5"}


def test_a_group_situation_and_a_joining_deal_are_the_rows_the_orm_wrote(world: World) -> None:
    top = AccountFactory(organization=world.org, home_company=world.se, name="Volvera AB")
    se = OpportunityFactory(account=top, owner=world.rep_se)
    dk = OpportunityFactory(account=top, owner=world.rep_dk)
    de = OpportunityFactory(account=top, owner=world.rep_de)
    org_id = world.org.pk

    def deal(o: Any) -> Deal:
        return Deal(o.pk, o.account_id, o.sales_company_id, o.owner_id)

    with org_scope(org_id):
        kept = Conflict.objects.create(
            organization_id=org_id,
            kind=ConflictKind.SAME_PRODUCT,
            account=top,
            sales_company=world.se,
        )
        ConflictParticipant.objects.create(
            organization_id=org_id,
            conflict=kept,
            opportunity=se,
            sales_company=world.se,
            seller=world.rep_se,
        )
        marks = _marks(org_id)
        situation = Situation(
            ConflictKind.GROUP_OTHER_COMPANY, None, ((deal(se), True), (deal(dk), False))
        )
        product = Situation(ConflictKind.SAME_PRODUCT, None, ((deal(se), False), (deal(de), False)))
        wanted = {situation.key(): situation, ("same_product", None): product}
        open_rows = {("same_product", None): kept}
        found = {}
        for name in ("new", "old"):
            with transaction.atomic():
                if name == "new":
                    opened = sync_situations(org_id, top.pk, wanted, open_rows).opened
                else:
                    now = timezone.now()
                    (c,) = Conflict.objects.bulk_create(
                        [
                            Conflict(
                                organization_id=org_id,
                                kind=situation.kind,
                                account_id=top.pk,
                                sales_company_id=world.dk.pk,
                                params={},
                            )
                        ]
                    )
                    ConflictParticipant.objects.bulk_create(
                        [
                            ConflictParticipant(
                                organization_id=org_id, conflict=kept, opportunity_id=de.pk,
                                sales_company_id=de.sales_company_id, seller_id=de.owner_id,
                                joined_at=now,
                            ),
                            *(
                                ConflictParticipant(
                                    organization_id=org_id, conflict=c, opportunity_id=d.id,
                                    sales_company_id=d.company_id, seller_id=d.owner_id,
                                    coordinated=coordinated, joined_at=now,
                                )
                                for d, coordinated in situation.members
                            ),
                        ]
                    )  # fmt: skip
                    opened = [c.pk]
                found[name] = (_rows(org_id, marks), len(opened))
                transaction.set_rollback(True)
    assert found["new"] == found["old"]
    (conflicts, participants), opened = found["new"]
    assert opened == 1 and len(conflicts) == 1
    assert [p[0] for p in participants] == [kept.pk, "new 0", "new 0"]


def test_the_write_is_one_statement_and_opens_the_savepoint(world: World) -> None:
    top = AccountFactory(organization=world.org, home_company=world.se, name="Volvera AB")
    se = OpportunityFactory(account=top, owner=world.rep_se)
    with org_scope(world.org.pk), transaction.atomic(), CaptureQueriesContext(connection) as run:
        sync_deal_situations(world.org.pk, [DealSync(ConflictKind.AGREEMENT, se, None, True)])
    assert [statement_sql(q["sql"]).split()[0] for q in run.captured_queries] == ["WITH"]


@pytest.mark.django_db(transaction=True)
def test_rls_keeps_the_writes_in_the_organization_in_scope(world: World) -> None:
    """As the application role with wall one's filter off: the prepared INSERTs alternate
    between two organizations on one connection; a row naming another organization than the
    one in scope is refused by the policy's WITH CHECK."""
    mine = AccountFactory(organization=world.org, home_company=world.se, name="Zulu")
    theirs = AccountFactory(
        organization=world.other_org, home_company=world.other_company, name="Zulu"
    )

    def opening(account: Any, company_id: int) -> _Opening:
        rows = _Opening()
        at = rows.conflict(
            kind=ConflictKind.DUPLICATE_ACCOUNT, account_id=account.pk, opportunity_id=None,
            product_id=None, other_account_id=None, agreement_id=None,
            sales_company_id=company_id, params={}, check_decided=False,
        )  # fmt: skip
        rows.participant(conflict_ord=at, account_id=account.pk, sales_company_id=company_id)
        return rows

    sides = ((world.org, mine, world.se.pk), (world.other_org, theirs, world.other_company.pk))
    with as_app_role(orm_filter=False):
        for _ in range(3):
            for org, account, company_id in sides:
                with org_scope(org), transaction.atomic():
                    (pk,) = _open_situations(org.pk, opening(account, company_id), timezone.now())
                    assert list(
                        Conflict.objects.values_list("organization_id", flat=True).filter(pk=pk)
                    ) == [org.pk]
                    assert ConflictParticipant.objects.filter(conflict_id=pk).count() == 1
                    transaction.set_rollback(True)
        with (
            org_scope(world.org),
            pytest.raises(DatabaseError, match="row-level security"),
            transaction.atomic(),
        ):
            _open_situations(
                world.other_org.pk, opening(theirs, world.other_company.pk), timezone.now()
            )
