"""The compiled queries run as statements PostgreSQL keeps prepared per connection
(``crm.db.compiled``, ``crm.db.base.DatabaseWrapper.execute_prepared``): row-level security
still keeps another organization's rows out once a plan is made (two organizations alternating
in one process, on one plan), one statement serves every value, the statement outlives a
rollback and is prepared again on a new connection, and a run is one application query."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import QuerySet
from django.db.models.functions import JSONObject
from django.test.utils import CaptureQueriesContext

from accounts.models import Account
from crm.db.compiled import CompiledQuery, statement_sql
from crm.scope import org_scope
from tests.accounts.factories import AccountFactory
from tests.conftest import World
from tests.crm.test_rls import as_app_role


def accounts_named(organization_id: int, name: Any) -> QuerySet[Account, Any]:
    return (
        Account.objects.for_org(organization_id)
        .filter(name=name)
        .order_by("pk")
        .annotate(facts=JSONObject(name="name", country="country"))
        .values_list("pk", "organization_id", "facts")
    )


def accounts_among(organization_id: int, ids: list[int]) -> QuerySet[Account, Any]:
    return (
        Account.objects.for_org(organization_id)
        .filter(pk__any_of=ids)
        .order_by("pk")
        .values_list("pk", flat=False)
    )


def prepared(name: str) -> list[tuple[Any, ...]]:
    """This connection's prepared statement ``name``: (generic plans, custom plans)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = %s",
            [name],
        )
        return cursor.fetchall()


@pytest.mark.django_db(transaction=True)
def test_rls_alone_keeps_the_organizations_apart_on_one_prepared_plan(world: World) -> None:
    """As the application role with wall one's filter off, so RLS is all that filters; the
    plan made once (forced generic) runs for both organizations in turn."""
    query = CompiledQuery(accounts_named, "organization_id", "name", scope="organization_id")
    mine = AccountFactory(organization=world.org, home_company=world.se, name="Zulu")
    theirs = AccountFactory(
        organization=world.other_org, home_company=world.other_company, name="Zulu"
    )
    with as_app_role(orm_filter=False):
        with connection.cursor() as cursor:
            cursor.execute("SET plan_cache_mode = force_generic_plan")
        for _ in range(4):
            for org, account in ((world.org, mine), (world.other_org, theirs)):
                with org_scope(org):
                    rows = query.rows(organization_id=org.pk, name="Zulu")
                assert [(pk, org_id) for pk, org_id, _facts in rows] == [(account.pk, org.pk)]
                assert rows[0][2] == {"name": "Zulu", "country": account.country}
        compiled = query.compiled()
        # Wall one is off: the text names no organization, one statement serves both.
        assert compiled.slots["organization_id"] == ()
        ((generic, custom),) = prepared(compiled.name)
        assert generic == 8 and custom == 0
        # No organization in scope: RLS returns nothing, through the same plan.
        assert query.rows(organization_id=world.org.pk, name="Zulu") == []


@pytest.mark.django_db
def test_one_statement_for_every_value_and_one_query_per_run(world: World) -> None:
    query = CompiledQuery(
        accounts_among, "organization_id", "ids", scope="organization_id", arrays=("ids",)
    )
    accounts = [AccountFactory(organization=world.org, home_company=world.se) for _ in range(3)]
    ids = [a.pk for a in accounts]
    with org_scope(world.org):
        with CaptureQueriesContext(connection) as ctx:
            # The first run on this connection prepares it: not an application query.
            assert query.rows(organization_id=world.org.pk, ids=ids) == [(pk,) for pk in ids]
        assert len(ctx.captured_queries) == 1
        (logged,) = ctx.captured_queries
        assert logged["sql"].startswith(f"EXECUTE {query.compiled().name}(")
        assert statement_sql(logged["sql"]) == query.compiled().sql
        # Values psycopg would bind as int2, int4 or int8, lists of any length: one statement.
        for values in ([ids[0]], [], [2**40, ids[1]], [70_000, *ids]):
            found = query.rows(organization_id=world.org.pk, ids=values)
            assert found == [(pk,) for pk in ids if pk in values]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'cq_%%'")
        ((count,),) = cursor.fetchall()
    assert len(prepared(query.compiled().name)) == 1
    assert count >= 1


@pytest.mark.django_db(transaction=True)
def test_the_statement_outlives_a_rollback_and_is_prepared_again_after_a_reconnect(
    world: World,
) -> None:
    query = CompiledQuery(accounts_named, "organization_id", "name", scope="organization_id")
    account = AccountFactory(organization=world.org, home_company=world.se, name="Yankee")
    with org_scope(world.org):
        with transaction.atomic():
            assert [r[0] for r in query.rows(organization_id=world.org.pk, name="Yankee")] == [
                account.pk
            ]
            transaction.set_rollback(True)
        name = query.compiled().name
        # PostgreSQL keeps it through the rollback (psycopg's own preparing would not).
        assert prepared(name) == [(0, 1)]
        assert [r[0] for r in query.rows(organization_id=world.org.pk, name="Yankee")] == [
            account.pk
        ]
        assert prepared(name) == [(0, 2)]
        connection.close()
        # A new connection knows no statement: it is prepared again on the first run.
        assert prepared(name) == []
        assert [r[0] for r in query.rows(organization_id=world.org.pk, name="Yankee")] == [
            account.pk
        ]
        assert prepared(name) == [(0, 1)]
