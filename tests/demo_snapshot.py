"""The demo organizations for tests: ``seed_demo`` once per test process, a cheap restore after.

``seed_demo`` takes seconds, and the tests that use it are live-server (transactional) tests, so
every one of them starts from a flushed database. ``load_demo`` seeds the first time in a process
(one pytest-xdist worker, one test database) and snapshots the result in memory: every table
with rows (``COPY … TO STDOUT``, binary), every sequence, the per-process cache and the mails the
seeding sent. Later calls put exactly that back instead of seeding again.

The restore runs as the tests' database role, the owner, which must be a superuser (so are the
set-ups the tests run on: the test databases and the per-worker application roles are created by
it): only a superuser may set ``session_replication_role = replica`` (no foreign-key, audit or
figures-stale triggers fire while the rows go back: they were all checked and fired when the
demo was seeded), and ``COPY … FROM`` refuses a table under row-level security, which FORCE
applies to any other owner.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from io import StringIO
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core import mail
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.mail import EmailMessage
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone
from psycopg import sql

from crm.models import Organization

# Migrate's record of the schema, which a flush leaves alone: not part of the data.
KEPT_TABLES = frozenset({"django_migrations"})


@dataclasses.dataclass(frozen=True)
class Snapshot:
    tables: tuple[str, ...]  # every table of the schema but KEPT_TABLES
    rows: dict[str, bytes]  # table -> its rows as binary COPY data (tables with rows only)
    sequences: tuple[tuple[str, int, bool], ...]  # (name, last value, is_called) for setval
    cache: tuple[dict[str, Any], dict[str, float | None]]  # LocMemCache's entries and expiry times
    mails: tuple[EmailMessage, ...]


# Per process, so per xdist worker and its own test database. Keyed by database and day: the
# demo's dates are relative to today, so a run that crosses midnight seeds a new day afresh.
_snapshots: dict[tuple[str, dt.date], Snapshot] = {}


def load_demo() -> None:
    """Make the (empty, freshly flushed) test database hold exactly what ``seed_demo`` makes."""
    # The restore replaces every table: whatever a test made before this would be lost, and a
    # snapshot of a database that held more than the demo would hand that to every later test.
    if Organization.objects.exists():
        raise RuntimeError("load_demo() needs an empty database: call it first in the test.")
    key = (connection.settings_dict["NAME"], timezone.localdate())
    if key in _snapshots:
        restore(_snapshots[key])
        return
    outbox_before = len(getattr(mail, "outbox", []))
    call_command("seed_demo", stdout=StringIO())
    _snapshots[key] = take(mails=tuple(getattr(mail, "outbox", [])[outbox_before:]))


def _require_superuser(cursor: Any) -> None:
    cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    if not cursor.fetchone()[0]:
        raise RuntimeError(
            "The demo snapshot needs the tests' database role to be a superuser "
            "(session_replication_role, COPY into tables under forced row-level security)."
        )


def _locmem() -> LocMemCache | None:
    # Only the per-process cache: a shared Redis (REDIS_URL set) keeps what the seeding wrote.
    backend = caches["default"]
    return backend if isinstance(backend, LocMemCache) else None


def take(*, mails: tuple[EmailMessage, ...] = ()) -> Snapshot:
    """Snapshot the database (and the per-process cache) as it is now."""
    with connection.cursor() as cursor:
        _require_superuser(cursor)
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace "
            "AND relkind = 'r' ORDER BY relname"
        )
        tables = tuple(name for (name,) in cursor.fetchall() if name not in KEPT_TABLES)
        rows = {}
        for table in tables:
            statement = sql.SQL("COPY {} TO STDOUT (FORMAT BINARY)").format(sql.Identifier(table))
            with cursor.copy(statement) as copy_out:
                data = b"".join(bytes(block) for block in copy_out)
            if cursor.rowcount:
                rows[table] = data
        cursor.execute(
            "SELECT format('%I.%I', schemaname, sequencename), "
            "COALESCE(last_value, start_value), last_value IS NOT NULL "
            "FROM pg_sequences WHERE schemaname = current_schema() ORDER BY 1"
        )
        sequences = tuple(cursor.fetchall())
    backend = _locmem()
    # LocMemCache has no public way to list its entries; its two dicts are the whole state.
    cache = (dict(backend._cache), dict(backend._expire_info)) if backend else ({}, {})
    return Snapshot(tables=tables, rows=rows, sequences=sequences, cache=cache, mails=mails)


def restore(snapshot: Snapshot) -> None:
    """Replace the database's rows and sequences (and the per-process cache) by the snapshot's."""
    with transaction.atomic(), connection.cursor() as cursor:
        _require_superuser(cursor)
        cursor.execute("SET LOCAL session_replication_role = replica")
        # Also what the flush's post-migrate hooks put back (content types, permissions: with
        # new ids, as the flush keeps the sequences): the snapshot has the seeded ones.
        truncate = sql.SQL("TRUNCATE {}").format(
            sql.SQL(", ").join(map(sql.Identifier, snapshot.tables))
        )
        cursor.execute(truncate.as_string())
        for table, data in snapshot.rows.items():
            statement = sql.SQL("COPY {} FROM STDIN (FORMAT BINARY)").format(sql.Identifier(table))
            with cursor.copy(statement) as copy_in:
                copy_in.write(data)
        names, values, called = zip(*snapshot.sequences, strict=True)
        cursor.execute(
            "SELECT setval(name::regclass, value, called) "
            "FROM unnest(%s::text[], %s::bigint[], %s::bool[]) AS s(name, value, called)",
            [list(names), list(values), list(called)],
        )
        # Back to normal for the rest of the transaction (a caller's outer atomic block).
        cursor.execute("SET LOCAL session_replication_role = origin")
    # The process caches content types by id, and the restored ones have the seeded ids.
    ContentType.objects.clear_cache()
    backend = _locmem()
    if backend:
        entries, expiry = snapshot.cache
        backend._cache.update(entries)
        backend._expire_info.update(expiry)
    if hasattr(mail, "outbox"):
        mail.outbox.extend(copy.deepcopy(list(snapshot.mails)))
