"""``crm.db.transactions.atomic_on_write``: a nested block that only reads sends no savepoint;
one that writes opens it just before its first write and keeps ``transaction.atomic``'s
guarantees (its writes and its later ``on_commit`` callbacks undone when it raises, the outer
transaction going on); not nested, it is a transaction of its own."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.models import Account
from crm.db.transactions import KEPT_SAVEPOINTS, atomic_on_write, is_plain_read
from crm.scope import org_scope
from opportunities.situations import _DEAL_QUERY, _OPEN_STATEMENT
from tests.accounts.factories import AccountFactory
from tests.conftest import World

pytestmark = pytest.mark.django_db


class Boom(Exception):
    pass


def _name(world: World, pk: int) -> str:
    return Account.objects.for_org(world.org.pk).get(pk=pk).name


def _rename(world: World, pk: int, name: str) -> None:
    Account.objects.for_org(world.org.pk).filter(pk=pk).update(name=name)


def _sql(ctx: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries]


@pytest.mark.parametrize(
    ("sql", "read"),
    [
        ('SELECT "a"."id" FROM "a"', True),
        ("  select 1", True),
        # A statement this process never prepared: its SQL is unknown, so it may write.
        ("EXECUTE cq_0123456789abcdef01234567(%s)", False),
        ('SELECT "a"."id" FROM "a" FOR UPDATE', False),
        ('SELECT "a"."id" FROM "a" FOR NO KEY UPDATE OF "a"', False),
        ('SELECT "a"."id" FROM "a" FOR SHARE', False),
        ('INSERT INTO "a" ("id") VALUES (1)', False),
        ('UPDATE "a" SET "x" = 1', False),
        ('DELETE FROM "a"', False),
        ("WITH x AS (DELETE FROM a RETURNING id) SELECT * FROM x", False),
        ('SAVEPOINT "s1"', False),
        ("SELECTED", False),
    ],
)
def test_what_counts_as_a_plain_read(sql: str, read: bool) -> None:
    assert is_plain_read(sql) is read


def test_an_execute_is_judged_by_the_sql_it_was_prepared_from(world: World) -> None:
    """A compiled read's EXECUTE is a read; the prepared write of the situations is not."""
    with org_scope(world.org):
        read = _DEAL_QUERY.compiled().execute_sql
    assert read.startswith("EXECUTE cq_") and is_plain_read(read)
    write = _OPEN_STATEMENT[2]
    assert write.startswith("EXECUTE cq_") and not is_plain_read(write)


def test_a_block_that_only_reads_sends_no_savepoint(world: World) -> None:
    account = AccountFactory(organization=world.org, home_company=world.se)
    with org_scope(world.org.pk), transaction.atomic():
        with CaptureQueriesContext(connection) as ctx, atomic_on_write():
            assert _name(world, account.pk) == account.name
        assert len(ctx.captured_queries) == 1
        assert not any("SAVEPOINT" in sql for sql in _sql(ctx))
        # The outer transaction goes on as before.
        _rename(world, account.pk, "After")
        assert _name(world, account.pk) == "After"


def test_a_block_that_writes_opens_the_savepoint_just_before_the_write(world: World) -> None:
    account = AccountFactory(organization=world.org, home_company=world.se)
    with org_scope(world.org.pk), transaction.atomic():
        with CaptureQueriesContext(connection) as ctx, atomic_on_write():
            _name(world, account.pk)
            _rename(world, account.pk, "Inside")
            _name(world, account.pk)
        run = _sql(ctx)
        # One round trip for the savepoint and the write; no RELEASE.
        assert run[0].startswith("SELECT")
        assert re.match(r'SAVEPOINT "\w+"; UPDATE', run[1])
        assert run[2].startswith("SELECT")
        assert len(run) == 3
        assert _name(world, account.pk) == "Inside"
        assert connection.kept_savepoints == [run[1].split('"')[1]]
    assert connection.kept_savepoints == []


def test_a_kept_savepoint_is_undone_by_an_outer_rollback(world: World) -> None:
    """Not released, its work is the enclosing block's: a rollback to a savepoint opened before
    it undoes it, and Django's savepoint stack stays as it was."""
    account = AccountFactory(organization=world.org, home_company=world.se)
    with org_scope(world.org.pk), transaction.atomic():
        depth = len(connection.savepoint_ids)
        with pytest.raises(Boom), transaction.atomic():
            with atomic_on_write():
                _rename(world, account.pk, "Kept")
            assert len(connection.savepoint_ids) == depth + 1
            assert _name(world, account.pk) == "Kept"
            raise Boom
        assert len(connection.savepoint_ids) == depth
        assert not connection.needs_rollback
        assert _name(world, account.pk) == account.name
        # A later block's savepoint works inside the kept one's.
        with atomic_on_write():
            _rename(world, account.pk, "Again")
        with pytest.raises(Boom), atomic_on_write():
            _rename(world, account.pk, "Undone")
            raise Boom
        assert _name(world, account.pk) == "Again"


def test_past_a_few_kept_savepoints_they_are_released(world: World) -> None:
    account = AccountFactory(organization=world.org, home_company=world.se)
    with org_scope(world.org.pk), transaction.atomic():
        with CaptureQueriesContext(connection) as ctx:
            for i in range(KEPT_SAVEPOINTS + 2):
                with atomic_on_write():
                    _rename(world, account.pk, f"N{i}")
        releases = [sql for sql in _sql(ctx) if sql.startswith("RELEASE SAVEPOINT")]
        assert len(releases) == 2
        assert len(connection.kept_savepoints) == KEPT_SAVEPOINTS
        assert _name(world, account.pk) == f"N{KEPT_SAVEPOINTS + 1}"


def test_a_block_that_wrote_and_raised_is_undone_and_the_outer_transaction_goes_on(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    account = AccountFactory(organization=world.org, home_company=world.se)
    told: list[str] = []
    with (
        django_capture_on_commit_callbacks(execute=True),
        org_scope(world.org.pk),
        transaction.atomic(),
    ):
        transaction.on_commit(lambda: told.append("outer"))
        with pytest.raises(Boom), atomic_on_write():
            _rename(world, account.pk, "Undone")
            transaction.on_commit(lambda: told.append("inner"))
            raise Boom
        assert _name(world, account.pk) == account.name
        assert not connection.needs_rollback
        _rename(world, account.pk, "Outer")
    assert _name(world, account.pk) == "Outer"
    assert told == ["outer"]


def test_a_block_that_only_read_and_raised_marks_the_outer_transaction(world: World) -> None:
    """Without a savepoint there is nothing to return to (a failed read aborts PostgreSQL's
    transaction): as ``atomic(savepoint=False)``, the outer transaction must roll back."""
    account = AccountFactory(organization=world.org, home_company=world.se)
    with org_scope(world.org.pk), transaction.atomic():
        with pytest.raises(Boom), atomic_on_write():
            _name(world, account.pk)
            raise Boom
        assert connection.needs_rollback
        transaction.set_rollback(False)


def test_a_nested_block_inside_opens_the_outer_savepoint_first(world: World) -> None:
    """A nested atomic's own SAVEPOINT counts as a write: the lazy savepoint comes first, so
    the inner block's rollback leaves the lazy block's earlier writes, and the lazy block's
    rollback undoes everything."""
    account = AccountFactory(organization=world.org, home_company=world.se)
    with org_scope(world.org.pk), transaction.atomic():
        with CaptureQueriesContext(connection) as ctx, atomic_on_write():
            with pytest.raises(Boom), transaction.atomic():
                _rename(world, account.pk, "Inner")
                raise Boom
            assert _name(world, account.pk) == account.name
            _rename(world, account.pk, "Lazy")
        # The lazy savepoint in front of the inner block's own, in one round trip.
        savepoints = re.findall(r'SAVEPOINT "(\w+)"', " ".join(_sql(ctx)))
        assert len(savepoints) == 4 and len(set(savepoints)) == 2
        assert _sql(ctx)[0].startswith(f'SAVEPOINT "{savepoints[0]}"; SAVEPOINT')
        assert _name(world, account.pk) == "Lazy"
        with pytest.raises(Boom), atomic_on_write():
            with transaction.atomic():
                _rename(world, account.pk, "Both")
            raise Boom
        assert _name(world, account.pk) == "Lazy"


@pytest.mark.django_db(transaction=True)
def test_not_nested_it_is_a_transaction(world: World) -> None:
    account = AccountFactory(organization=world.org, home_company=world.se)
    with org_scope(world.org.pk):
        assert not connection.in_atomic_block
        with pytest.raises(Boom), atomic_on_write():
            assert connection.in_atomic_block
            _rename(world, account.pk, "Undone")
            raise Boom
        assert _name(world, account.pk) == account.name
        with atomic_on_write():
            _rename(world, account.pk, "Kept")
        assert not connection.in_atomic_block
        assert _name(world, account.pk) == "Kept"


def test_under_a_history_context_a_write_still_opens_the_savepoint(world: World) -> None:
    """django-pghistory's wrapper (open on every POST) runs before this one and prefixes each
    write with ``SELECT set_config(…);``: the statement this wrapper judges starts with SELECT
    but writes."""
    import pghistory

    account = AccountFactory(organization=world.org, home_company=world.se)
    with org_scope(world.org.pk), transaction.atomic(), pghistory.context(test="x"):
        with pytest.raises(Boom), atomic_on_write():
            _rename(world, account.pk, "Undone")
            raise Boom
        assert not connection.needs_rollback
        assert _name(world, account.pk) == account.name
        with CaptureQueriesContext(connection) as ctx, atomic_on_write():
            _rename(world, account.pk, "Kept")
        (write,) = _sql(ctx)
        assert re.match(r"SELECT set_config\('pghistory.context_id'.*; SAVEPOINT .*; UPDATE", write)
        assert _name(world, account.pk) == "Kept"
