"""The migration from pairwise conflict rows to situations (opportunities 0007-0009) keeps every
resolution and folds the open pairs of one situation into one row with all their deals."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management.sql import emit_post_migrate_signal
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from crm.tenancy import org_scope
from opportunities.models import Conflict, ConflictParticipant, ConflictStatus
from tests.accounts.factories import make_account
from tests.conftest import World
from tests.opportunities.factories import OpportunityFactory

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("opportunities", "0006_conflict_deal_closed")]
AFTER = [("opportunities", "0009_conflict_drop_pairs")]


def _migrate(targets: list[tuple[str, str]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _latest() -> list[tuple[str, str]]:
    """Every app's newest migration: the schema the other tests (and post_migrate) expect."""
    loader = MigrationExecutor(connection).loader
    loader.build_graph()
    return loader.graph.leaf_nodes()


def _pair(cursor: Any, org_id: int, a: Any, b: Any, **row: Any) -> int:
    fields = {
        "organization_id": org_id,
        "kind": "group_other_company",
        "status": "open",
        "opportunity_id": a.pk,
        "other_opportunity_id": b.pk,
        "account_id": a.account_id,
        "sales_company_id": a.sales_company_id,
        "other_sales_company_id": b.sales_company_id,
        "detail": "",
        "resolution": "",
        "resolution_note": "",
        **row,
    }
    columns = ", ".join(fields)
    marks = ", ".join(["%s"] * len(fields))
    cursor.execute(
        f"INSERT INTO opportunities_conflict ({columns}, created_at) "
        f"VALUES ({marks}, now()) RETURNING id",
        list(fields.values()),
    )
    return int(cursor.fetchone()[0])


def test_pairs_become_situations_and_keep_their_resolutions(world: World) -> None:
    top = make_account(organization=world.org, home_company=world.se, name="Volvera AB")
    dk = make_account(organization=world.org, home_company=world.dk, name="Volvera A/S", parent=top)
    de = make_account(
        organization=world.org, home_company=world.de, name="Volvera GmbH", parent=top
    )
    se_deal = OpportunityFactory(account=top, owner=world.rep_se)
    dk_deal = OpportunityFactory(account=dk, owner=world.rep_dk)
    de_deal = OpportunityFactory(account=de, owner=world.rep_de)
    _migrate(BEFORE)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('app.org_id', %s, false)", [str(world.org.pk)])
            first = _pair(cursor, world.org.pk, dk_deal, se_deal)
            second = _pair(cursor, world.org.pk, de_deal, se_deal)
            decided = _pair(
                cursor,
                world.org.pk,
                de_deal,
                dk_deal,
                status="resolved",
                resolution="acknowledged",
                resolution_note="Talked it through",
            )
        _migrate(AFTER)
    finally:
        _migrate(AFTER)
        # Back to the newest schema: later migrations (tables of their own) are there again.
        _migrate(_latest())
        # The participants' table was re-created: its policy and tenant keys come back the way
        # every migrate puts them (post_migrate).
        emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    with org_scope(world.org):
        rows = {c.pk: c for c in Conflict.objects.for_org(world.org)}
        deals = {
            pk: set(
                ConflictParticipant.objects.for_org(world.org)
                .filter(conflict_id=pk)
                .values_list("opportunity_id", flat=True)
            )
            for pk in rows
        }
    # The two open pairs at the group are one situation at its top, with all three deals ...
    assert rows[first].status == ConflictStatus.OPEN and rows[first].account_id == top.pk
    assert deals[first] == {se_deal.pk, dk_deal.pk, de_deal.pk}
    # ... the other open pair went into it, saying so ...
    assert (rows[second].status, rows[second].resolution) == ("resolved", "merged")
    assert rows[second].resolution_note == f"Merged into situation #{first}"
    # ... and a decision stays as it was, with the deals it was about.
    assert (rows[decided].resolution, rows[decided].resolution_note) == (
        "acknowledged",
        "Talked it through",
    )
    assert deals[decided] == {de_deal.pk, dk_deal.pk}
