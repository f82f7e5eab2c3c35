"""An atomic block whose savepoint is opened only when the block writes.

A nested ``transaction.atomic()`` sends ``SAVEPOINT`` on entry and ``RELEASE SAVEPOINT`` on
exit: two round trips, whatever the block does. The save's conflict check (``check_deal``)
runs nested in every service that saves a deal, and most of its runs only read (the findings
are known, nothing changes): for those the savepoint is pure cost (two of a re-check's eight
round trips).

``atomic_on_write`` is ``transaction.atomic`` with the savepoint deferred to the block's first
statement that may write. It enters Django's own ``Atomic`` without a savepoint (its slot in the
connection's savepoint stack is ``None``) and, just before a statement that is not a plain read
runs, opens the savepoint and puts it in that slot, so Django's exit logic is the one that
applies:

* the block wrote and raised: rolled back to the savepoint (its writes and the ``on_commit``
  callbacks registered after the savepoint are undone), the outer transaction goes on;
* the block only read and raised: nothing of it to undo; Django marks the outer transaction
  for rollback (as for ``atomic(savepoint=False)``), since a failed read leaves PostgreSQL's
  transaction aborted and there is no savepoint to return to;
* not nested (autocommit): an ordinary transaction (``BEGIN`` … ``COMMIT``), as before.

The savepoint costs no round trip of its own: ``SAVEPOINT s;`` goes in front of the write that
needs it (one simple-protocol message; not in pipeline mode, an ``executemany`` or on a named
cursor, where it is sent alone as before). On success it is not released (``RELEASE`` was a round
trip): the slot is emptied before Django's exit, and the subtransaction stays open until the
transaction ends, up to ``KEPT_SAVEPOINTS`` per transaction.

A plain read: a ``SELECT`` (or the ``EXECUTE`` of a compiled statement, ``crm.db.compiled``,
whose SQL is a ``SELECT``) without a row lock. Anything else — INSERT, UPDATE, DELETE, WITH,
a nested block's own SAVEPOINT, a ``SELECT … FOR UPDATE`` — opens the savepoint first.
"""

from __future__ import annotations

import _thread
import functools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from crm.db.compiled import pipeline_safe, statement_sql

_READ = re.compile(r"\s*SELECT\b", re.IGNORECASE)
_LOCK = re.compile(r"\bFOR\s+(UPDATE|NO\s+KEY\s+UPDATE|SHARE|KEY\s+SHARE)\b", re.IGNORECASE)


# By text: a save sends the same few statement texts (a compiled statement's EXECUTE is one text
# whatever its values), and searching a prepared statement's SQL for a lock was a few percent
# of a save's CPU. Bounded: the ORM's texts vary with the number of values.
@functools.lru_cache(maxsize=2048)
def is_plain_read(sql: str) -> bool:
    """Whether ``sql`` (as a cursor is given it) only reads and takes no row lock. An
    ``EXECUTE`` is judged by the SQL it was prepared from (``statement_sql``): a compiled
    read's is a SELECT, a prepared write's (``situations._open_situations``) is not; one whose
    SQL is unknown counts as a write."""
    statement = statement_sql(sql.strip())
    return bool(_READ.match(statement)) and not _LOCK.search(statement)


# How many savepoints a transaction may leave open without a RELEASE (``atomic_on_write``):
# each one it keeps is one more level of PostgreSQL's subtransaction stack, which some checks
# walk level by level (whether a row was written by this transaction). A loop of saves in one
# transaction releases them again past this many.
KEPT_SAVEPOINTS = 8


def _next_savepoint_id(connection: Any) -> str | None:
    """The id ``BaseDatabaseWrapper.savepoint`` would create (the same bookkeeping: the
    connection's counter, its thread check), without sending the SAVEPOINT: the caller sends it
    in front of the statement that needs it."""
    if not connection._savepoint_allowed():
        return None
    connection.savepoint_state += 1
    connection.validate_thread_sharing()
    tid = str(_thread.get_ident()).replace("-", "")
    return f"s{tid}_x{connection.savepoint_state}"


def _can_prefix(connection: Any, context: Any, many: bool) -> bool:
    """Whether a ``SAVEPOINT …;`` can go in front of this statement (one round trip): not in an
    ``executemany``, not in pipeline mode (whose protocol refuses two commands in one), not on a
    named cursor (psycopg wraps its statement in a DECLARE)."""
    if many:
        return False
    raw = connection.connection
    if raw is None or raw.pgconn.pipeline_status != psycopg.pq.PipelineStatus.OFF:
        return False
    return not getattr(getattr(context.get("cursor"), "cursor", None), "name", None)


@contextmanager
def atomic_on_write(using: str | None = None) -> Iterator[None]:
    alias = using or DEFAULT_DB_ALIAS
    connection = connections[alias]
    if not connection.in_atomic_block:
        # A transaction of its own: the reads and the writes see one snapshot, as before.
        with transaction.atomic(using=alias):
            yield
        return
    block = transaction.Atomic(alias, savepoint=False, durable=False)
    with block:
        slot = len(connection.savepoint_ids) - 1
        opened = False

        # A compiled statement's EXECUTE is a read: passed on as it is (pipelines keep it).
        @pipeline_safe
        def open_on_write(
            execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
        ) -> Any:
            nonlocal opened
            if opened or not (many or not is_plain_read(sql)):
                return execute(sql, params, many, context)
            # Set first: a SAVEPOINT sent on its own runs through this wrapper.
            opened = True
            if connection.needs_rollback:
                return execute(sql, params, many, context)
            if not _can_prefix(connection, context, many):
                sid = connection.savepoint()
                if sid is not None:
                    connection.savepoint_ids[slot] = sid
                return execute(sql, params, many, context)
            sid = _next_savepoint_id(connection)
            if sid is None:
                return execute(sql, params, many, context)
            # In the slot before it runs: if the write fails after the SAVEPOINT, Django's exit
            # rolls back to it; if the SAVEPOINT itself failed, that rollback fails and Django
            # marks the outer transaction for rollback instead.
            connection.savepoint_ids[slot] = sid
            result = execute(
                f"{connection.ops.savepoint_create_sql(sid)}; {sql}", params, many, context
            )
            # The caller reads the write's result, the last one (as django-pghistory does for
            # the set_config it puts in front).
            while result is not None and result.nextset():
                pass
            return result

        # Outermost, so it judges the statement as the application wrote it: django-pghistory's
        # wrapper (open on every POST) puts ``SELECT set_config(…);`` in front of each write,
        # which an inner wrapper would take for a read (and then open no savepoint at all).
        connection.execute_wrappers.insert(0, open_on_write)
        try:
            yield
        finally:
            connection.execute_wrappers.remove(open_on_write)
        sid = connection.savepoint_ids[slot]
        kept: list[str] | None = getattr(connection, "kept_savepoints", None)
        if (
            sid is not None
            and kept is not None
            and len(kept) < KEPT_SAVEPOINTS
            and not connection.needs_rollback
            and not connection.closed_in_transaction
        ):
            # Success: no RELEASE (a round trip). An unreleased savepoint's work is part of the
            # transaction's: committed with it, undone by its rollback or by a rollback to any
            # savepoint opened before it. Django forgets it (the slot is the block's, popped on
            # exit); the backend forgets the count at the transaction's end.
            kept.append(sid)
            # None, as Django's own Atomic puts there for no savepoint (the stubs say str).
            connection.savepoint_ids[slot] = None  # type: ignore[call-overload]
