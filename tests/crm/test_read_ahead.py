"""``crm.db.compiled.read_ahead``: compiled statements sent together in one round trip
(psycopg's pipeline mode), each run then taken once by the block's ``rows`` call with the same
query and values; anything else runs as always. Row-level security holds (as the application
role with wall one's filter off, two organizations)."""

from __future__ import annotations

from typing import Any

import pghistory
import psycopg
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Account
from crm.db.compiled import CompiledQuery, read_ahead
from crm.scope import OrganizationScopeError, org_scope
from tests.accounts.factories import AccountFactory
from tests.conftest import World
from tests.crm.test_prepared_statements import accounts_among, accounts_named
from tests.crm.test_rls import as_app_role


def _queries() -> tuple[CompiledQuery, CompiledQuery]:
    named = CompiledQuery(accounts_named, "organization_id", "name", scope="organization_id")
    among = CompiledQuery(
        accounts_among, "organization_id", "ids", scope="organization_id", arrays=("ids",)
    )
    return named, among


@pytest.mark.django_db
def test_the_runs_are_sent_at_the_start_and_each_taken_once(world: World) -> None:
    named, among = _queries()
    accounts = [
        AccountFactory(organization=world.org, home_company=world.se, name=n)
        for n in ("Alfa", "Bravo", "Alfa")
    ]
    ids = [a.pk for a in accounts]
    org = world.org.pk
    with org_scope(world.org):
        expected_named = named.rows(organization_id=org, name="Alfa")
        expected_among = among.rows(organization_id=org, ids=ids[1:])
        assert len(expected_named) == 2 and len(expected_among) == 2
        with (
            transaction.atomic(),
            CaptureQueriesContext(connection) as ctx,
            read_ahead(
                [
                    (named, {"organization_id": org, "name": "Alfa"}),
                    (among, {"organization_id": org, "ids": ids[1:]}),
                ]
            ) as left,
        ):
            sent = len(ctx.captured_queries)
            assert len(left) == 2
            # The same rows as the statements run one by one (JSON converted too).
            assert among.rows(organization_id=org, ids=ids[1:]) == expected_among
            assert named.rows(organization_id=org, name="Alfa") == expected_named
            assert len(ctx.captured_queries) == sent and not left
            # Taken once: the same call again reads anew; other values too.
            assert named.rows(organization_id=org, name="Alfa") == expected_named
            assert named.rows(organization_id=org, name="Bravo") == [
                (accounts[1].pk, org, {"name": "Bravo", "country": accounts[1].country})
            ]
            assert len(ctx.captured_queries) == sent + 2
    assert sent == 2
    assert all(q["sql"].startswith("EXECUTE cq_") for q in ctx.captured_queries)


@pytest.mark.django_db
def test_nothing_is_served_after_the_block_or_under_another_zone(world: World) -> None:
    named, _among = _queries()
    AccountFactory(organization=world.org, home_company=world.se, name="Alfa")
    org = world.org.pk
    with org_scope(world.org), CaptureQueriesContext(connection) as ctx:
        with (
            read_ahead([(named, {"organization_id": org, "name": "Alfa"})]),
            timezone.override("Pacific/Kiritimati"),
        ):
            # The SQL is kept per zone: another zone's statement is another run.
            named.rows(organization_id=org, name="Alfa")
        named.rows(organization_id=org, name="Alfa")
    assert len(ctx.captured_queries) == 3


@pytest.mark.django_db
def test_another_organization_than_the_one_in_scope_is_refused_before_sending(
    world: World,
) -> None:
    named, _among = _queries()
    with (
        org_scope(world.org),
        CaptureQueriesContext(connection) as ctx,
        pytest.raises(OrganizationScopeError),
        read_ahead([(named, {"organization_id": world.other_org.pk, "name": "Alfa"})]),
    ):
        pass
    assert ctx.captured_queries == []


@pytest.mark.django_db(transaction=True)
def test_rls_keeps_the_organizations_apart_in_a_pipeline(world: World) -> None:
    named, _among = _queries()
    mine = AccountFactory(organization=world.org, home_company=world.se, name="Zulu")
    theirs = AccountFactory(
        organization=world.other_org, home_company=world.other_company, name="Zulu"
    )
    with as_app_role(orm_filter=False):
        for _ in range(2):
            for org, account in ((world.org, mine), (world.other_org, theirs)):
                values = {"organization_id": org.pk, "name": "Zulu"}
                with org_scope(org), read_ahead([(named, values)]) as left:
                    rows = named.rows(**values)
                    assert not left
                assert [(pk, org_id) for pk, org_id, _facts in rows] == [(account.pk, org.pk)]
        # No organization in scope: RLS returns nothing.
        values = {"organization_id": world.org.pk, "name": "Zulu"}
        with read_ahead([(named, values)]):
            assert named.rows(**values) == []


@pytest.fixture
def pipelines(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the pipelines psycopg opens."""
    opened: list[int] = []
    real = psycopg.Connection.pipeline

    def counting(self: Any) -> Any:
        opened.append(1)
        return real(self)

    monkeypatch.setattr(psycopg.Connection, "pipeline", counting)
    return opened


@pytest.mark.django_db
def test_under_a_history_context_the_reads_are_still_one_pipeline(
    world: World, pipelines: list[int]
) -> None:
    """django-pghistory (its middleware opens a context on every POST) prefixes statements
    with a ``set_config``: two commands, which a pipeline refuses. A compiled statement is a
    SELECT: read ahead without the prefix, and writes after it still carry the context."""
    named, among = _queries()
    account = AccountFactory(organization=world.org, home_company=world.se, name="Alfa")
    org = world.org.pk
    runs = [
        (named, {"organization_id": org, "name": "Alfa"}),
        (among, {"organization_id": org, "ids": [account.pk]}),
    ]
    with (
        org_scope(world.org),
        transaction.atomic(),
        pghistory.context(note="read ahead"),
        CaptureQueriesContext(connection) as ctx,
    ):
        with read_ahead(runs) as left:
            assert among.rows(organization_id=org, ids=[account.pk]) == [(account.pk,)]
            assert len(named.rows(organization_id=org, name="Alfa")) == 1 and not left
        Account.objects.for_org(org).filter(pk=account.pk).update(name="Alfa 2")
    assert pipelines == [1]
    assert [q["sql"].startswith("EXECUTE cq_") for q in ctx.captured_queries[:2]] == [True, True]
    assert "pghistory.context_id" in ctx.captured_queries[2]["sql"]


@pytest.mark.django_db
def test_an_unknown_wrapper_makes_the_runs_go_one_by_one(
    world: World, pipelines: list[int]
) -> None:
    named, among = _queries()
    account = AccountFactory(organization=world.org, home_company=world.se, name="Alfa")
    org = world.org.pk
    seen: list[str] = []

    def rewriting(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    runs = [
        (named, {"organization_id": org, "name": "Alfa"}),
        (among, {"organization_id": org, "ids": [account.pk]}),
    ]
    with org_scope(world.org), connection.execute_wrapper(rewriting), read_ahead(runs) as left:
        assert among.rows(organization_id=org, ids=[account.pk]) == [(account.pk,)]
        assert len(named.rows(organization_id=org, name="Alfa")) == 1 and not left
    assert pipelines == []
    assert len(seen) == 2


@pytest.mark.django_db
def test_the_prepare_and_set_config_go_on_cursors_of_their_own(world: World, monkeypatch) -> None:
    """In a pipeline a cursor holds whichever of its results psycopg read last, and ``fetchall``
    waits only while it holds none: a ``PREPARE`` or ``set_config`` sent on the reading
    statement's own cursor, answered before that statement, was taken for its answer (an
    intermittent "the last operation didn't produce records (command status: PREPARE)", or
    ``set_config``'s row as the rows). Each side statement must have a cursor of its own."""
    from crm.db import base

    named, _among = _queries()
    AccountFactory(organization=world.org, home_company=world.se, name="Alfa")
    org = world.org.pk
    with org_scope(world.org):
        expected = named.rows(organization_id=org, name="Alfa")
    # As on a new connection: nothing prepared, the organization not yet set.
    with connection.connection.cursor() as raw:
        raw.execute("DEALLOCATE ALL")
    connection._prepared.clear()
    connection._app_org = base._UNKNOWN
    cursor_class = type(connection.connection.cursor())
    real_execute = cursor_class.execute
    # The cursors themselves, not their ids: a closed cursor's id may be a later cursor's.
    sent: list[tuple[Any, str]] = []

    def execute(self: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
        sent.append((self, str(query)[:40]))
        return real_execute(self, query, params, **kwargs)

    monkeypatch.setattr(cursor_class, "execute", execute)
    with (
        org_scope(world.org),
        transaction.atomic(),
        read_ahead([(named, {"organization_id": org, "name": "Alfa"})]),
    ):
        assert named.rows(organization_id=org, name="Alfa") == expected
    kinds = [text.split()[0] for _cursor, text in sent]
    assert kinds.count("PREPARE") == 1 and kinds.count("EXECUTE") == 1
    assert any("set_config" in text for _cursor, text in sent)
    reader = next(cursor for cursor, text in sent if text.startswith("EXECUTE"))
    assert [text for cursor, text in sent if cursor is reader] == [
        text for _c, text in sent if text.startswith("EXECUTE")
    ]
