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

A plain read: a ``SELECT`` (or the ``EXECUTE`` of a compiled statement, ``crm.db.compiled``,
whose SQL is a ``SELECT``) without a row lock. Anything else — INSERT, UPDATE, DELETE, WITH,
a nested block's own SAVEPOINT, a ``SELECT … FOR UPDATE`` — opens the savepoint first.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

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
            if not opened and (many or not is_plain_read(sql)):
                # Set first: the SAVEPOINT itself runs through this wrapper.
                opened = True
                sid = None if connection.needs_rollback else connection.savepoint()
                if sid is not None:
                    connection.savepoint_ids[slot] = sid
            return execute(sql, params, many, context)

        with connection.execute_wrapper(open_on_write):
            yield
