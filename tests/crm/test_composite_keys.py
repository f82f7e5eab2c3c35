"""Wall three: composite tenant keys. A row cannot reference another organization's row, whatever
the code does: the database refuses it.

The structural tests read ``pg_constraint`` directly and start from the database's own foreign
keys (not from the helper's list), so a relation the helper overlooks fails here. The behaviour
tests write raw SQL as the owner (RLS aside): only the composite keys stand in the way.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import IntegrityError, connection, transaction

from accounts.models import Contact
from crm.composite_keys import apply_composite_keys, expected_keys, missing_keys
from crm.rls import tenant_models
from tests.accounts.factories import make_account
from tests.conftest import World
from tests.opportunities.factories import OpportunityFactory, ProductFactory

pytestmark = pytest.mark.django_db

FK_SQL = """
SELECT r.relname, f.relname,
       ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i),
       ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i),
       c.condeferrable, c.condeferred, c.confmatchtype, c.contype
FROM pg_constraint c
JOIN pg_class r ON r.oid = c.conrelid
LEFT JOIN pg_class f ON f.oid = c.confrelid
WHERE c.contype IN ('f', 'u', 'p') AND r.relnamespace = current_schema()::regnamespace
"""


def _constraints() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(FK_SQL)
        return [
            (t, ft, tuple(cols), tuple(fcols or ()), d, dd, m, k)
            for t, ft, cols, fcols, d, dd, m, k in cursor.fetchall()
        ]


def _tenant_tables() -> dict[str, str]:
    return {m._meta.db_table: m._meta.pk.column for m in tenant_models()}


def test_every_tenant_table_has_the_unique_organization_key() -> None:
    tables = _tenant_tables()
    keys = {(t, cols) for t, _ft, cols, _f, _d, _dd, _m, k in _constraints() if k in "up"}
    missing = [t for t, pk in tables.items() if (t, ("organization_id", pk)) not in keys]
    assert missing == []
    assert len(tables) > 40  # the helper's model list is the whole schema, not a few tables


def test_every_foreign_key_between_tenant_tables_has_its_composite_twin() -> None:
    tables = _tenant_tables()
    constraints = _constraints()
    twins = {
        (t, cols[1], ft, fcols[1])
        for t, ft, cols, fcols, deferrable, deferred, match, kind in constraints
        if kind == "f"
        and len(cols) == 2
        and cols[0] == "organization_id"
        and fcols[0] == "organization_id"
        and deferrable
        and deferred
        and match == "s"
    }
    # Django's own single-column foreign keys between tenant tables, as the database has them.
    singles = [
        (t, cols[0], ft, fcols[0])
        for t, ft, cols, fcols, _d, _dd, _m, kind in constraints
        if kind == "f"
        and len(cols) == 1
        and t in tables
        and ft in tables
        and cols[0] != "organization_id"
    ]
    assert len(singles) > 60
    assert [fk for fk in singles if fk not in twins] == []
    # Wall three covers user references too (crm_user is a tenant table).
    assert ("opportunities_opportunity", "owner_id", "crm_user", "id") in twins
    assert missing_keys() == ([], [])


def test_event_tables_and_non_tenant_targets_get_no_twin() -> None:
    _keys, fks = expected_keys()
    targets = {fk.target_table for fk in fks}
    assert "crm_organization" not in targets and "auth_permission" not in targets
    assert "pghistory_context" not in targets
    # History outlives its rows: pghistory's foreign keys are not enforced at all.
    assert not [fk for fk in fks if fk.table.endswith("event")]


def test_the_sync_is_idempotent_and_repairs_a_dropped_twin() -> None:
    assert apply_composite_keys() == {"created": [], "dropped": []}
    with connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE accounts_contact DROP CONSTRAINT accounts_contact_account_id_tenant_fk"
        )
    assert missing_keys()[1] != []
    assert apply_composite_keys()["created"] == ["accounts_contact_account_id_tenant_fk"]
    assert missing_keys() == ([], [])


def _refused(statement: str, params: list[object]) -> None:
    """The statement runs (the check is deferred like Django's own) and the database refuses it
    once the constraints are checked."""
    with (
        pytest.raises(IntegrityError, match="tenant_fk"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement, params)
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


@pytest.fixture
def foreign(world: World) -> dict[str, object]:
    """Rows of the other organization, to point at."""
    account = make_account(organization=world.other_org, home_company=world.other_company)
    opportunity = OpportunityFactory(account=account, owner=world.stranger)
    return {"account": account, "opportunity": opportunity, "user": world.stranger}


Case = Callable[[World, dict[str, object]], tuple[str, list[object]]]


def _opportunity_account(w: World, f: dict[str, object]) -> tuple[str, list[object]]:
    mine = OpportunityFactory(account=make_account(organization=w.org, home_company=w.se))
    return "UPDATE opportunities_opportunity SET account_id = %s WHERE id = %s", [
        f["account"].pk,
        mine.pk,
    ]


def _line_opportunity(w: World, f: dict[str, object]) -> tuple[str, list[object]]:
    product = ProductFactory(organization=w.org)
    return (
        "INSERT INTO opportunities_opportunityline "
        "(organization_id, opportunity_id, product_id, quantity, unit_price, discount_percent) "
        "VALUES (%s, %s, %s, 1, 10, 0)",
        [w.org.pk, f["opportunity"].pk, product.pk],
    )


def _contact_account(w: World, f: dict[str, object]) -> tuple[str, list[object]]:
    contact = Contact.objects.create(
        organization=w.org,
        account=make_account(organization=w.org, home_company=w.se),
        full_name="Kim",
    )
    return "UPDATE accounts_contact SET account_id = %s WHERE id = %s", [
        f["account"].pk,
        contact.pk,
    ]


def _opportunity_owner(w: World, f: dict[str, object]) -> tuple[str, list[object]]:
    mine = OpportunityFactory(account=make_account(organization=w.org, home_company=w.se))
    return "UPDATE opportunities_opportunity SET owner_id = %s WHERE id = %s", [
        f["user"].pk,
        mine.pk,
    ]


def _user_company(w: World, f: dict[str, object]) -> tuple[str, list[object]]:
    return "UPDATE crm_user SET sales_company_id = %s WHERE id = %s", [
        w.other_company.pk,
        w.rep_se.pk,
    ]


def _row_moved_away(w: World, f: dict[str, object]) -> tuple[str, list[object]]:
    # Moving a referenced row to another organization strands its children: refused too.
    account = make_account(organization=w.org, home_company=w.se)
    Contact.objects.create(organization=w.org, account=account, full_name="Kim")
    return "UPDATE accounts_account SET organization_id = %s WHERE id = %s", [
        w.other_org.pk,
        account.pk,
    ]


CASES: dict[str, Case] = {
    "opportunity->account": _opportunity_account,
    "line->opportunity": _line_opportunity,
    "contact->account": _contact_account,
    "opportunity->user": _opportunity_owner,
    "user->sales company": _user_company,
    "account moved to another organization": _row_moved_away,
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_raw_sql_cannot_reference_another_organizations_row(
    case: Case, world: World, foreign: dict[str, object]
) -> None:
    statement, params = case(world, foreign)
    _refused(statement, params)


def test_same_organization_references_and_set_null_still_work(world: World) -> None:
    account = make_account(organization=world.org, home_company=world.se)
    opportunity = OpportunityFactory(account=account, owner=world.rep_se)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE opportunities_opportunity SET owner_id = %s WHERE id = %s",
            [world.rep_dk.pk, opportunity.pk],
        )
        # MATCH SIMPLE: a NULL reference is not checked, nullable relations stay nullable.
        cursor.execute("UPDATE crm_user SET region_id = NULL WHERE id = %s", [world.rep_se.pk])
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    opportunity.refresh_from_db()
    assert opportunity.owner_id == world.rep_dk.pk


def test_django_cascade_deletes_pass_the_composite_keys(world: World) -> None:
    from opportunities.models import Opportunity, OpportunityLine

    account = make_account(organization=world.org, home_company=world.se)
    opportunity = OpportunityFactory(account=account, owner=world.rep_se)
    OpportunityLine.objects.for_org(world.org).create(
        organization=world.org,
        opportunity=opportunity,
        product=ProductFactory(organization=world.org),
        quantity=1,
        unit_price=10,
    )
    with transaction.atomic():
        opportunity.delete()  # lines, splits, stage changes go first or after: deferred checks
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert not Opportunity.objects.for_org(world.org).filter(pk=opportunity.pk).exists()
