"""PostgreSQL backend that carries the organization in scope to the database.

Wall two (row-level security) filters every tenant table on the session setting ``app.org_id``.
This backend keeps that setting equal to the organization in scope (``crm.tenancy``) before
every statement: when the scope changes it runs ``set_config('app.org_id', …)`` on a raw
cursor of its own first; with no organization in scope the setting is empty and RLS returns no rows.

The value is cached per connection and forgotten whenever PostgreSQL could have reverted it (a
rollback or a savepoint rollback undoes ``set_config`` done inside the transaction), on connect
and on close. The extra statement runs on the raw cursor, so query-count tests see only the
application's own queries.

``execute_prepared`` runs a statement PostgreSQL keeps prepared on this connection (the hot
compiled queries, ``crm.db.compiled``): the first run on a connection sends ``PREPARE`` on the
raw cursor (once per connection, like ``set_config``: not an application query), every run an
``EXECUTE`` through the wrappers, so the organization is set and the statement counted as any.
SQL-level ``PREPARE`` rather than psycopg's protocol-level preparing: psycopg forgets (and
deallocates) every prepared statement on each rollback, savepoint rollbacks included, and
Django's cursor binds on the client, which cannot prepare. PostgreSQL keeps a prepared statement
through a rollback; it lives until the connection closes (or a ``DISCARD ALL``, which nothing
here sends: a pooler that resets sessions would need this switched off).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db.backends.postgresql import base

from crm.db.compiled import pipeline_safe
from crm.scope import current_org_id

_UNKNOWN = object()
SET_ORG_SQL = "SELECT set_config('app.org_id', %s, false)"


def _savepoint_number(sid: str) -> int | None:
    _prefix, sep, number = sid.rpartition("_x")
    return int(number) if sep and number.isdigit() else None


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._app_org: object = _UNKNOWN
        # The names of the statements prepared on the current connection.
        self._prepared: set[str] = set()
        # True while a statement that sets the organization itself runs (``execute_setting_org``).
        self._org_set_by_statement = False
        # The savepoints ``crm.db.transactions.atomic_on_write`` left open in the current
        # transaction (it releases past a few): forgotten when the transaction ends, or when a
        # savepoint opened before them is released or rolled back to (which ends them too).
        self.kept_savepoints: list[str] = []
        self.execute_wrappers.append(self._sync_org)

    # It sets the organization on the raw cursor and passes the statement on unchanged.
    @pipeline_safe
    def _sync_org(
        self,
        execute: Callable[..., Any],
        sql: str,
        params: Any,
        many: bool,
        context: dict[str, Any],
    ) -> Any:
        if self._org_set_by_statement:
            return execute(sql, params, many, context)
        org_id = current_org_id()
        wanted = "" if org_id is None else str(org_id)
        if wanted != self._app_org:
            # Not through the wrappers again, not recorded as an app query.
            self._side_statement(SET_ORG_SQL, [wanted])
            self._app_org = wanted
        return execute(sql, params, many, context)

    def execute_prepared(
        self, cursor: Any, name: str, prepare_sql: str, execute_sql: str, params: Sequence[Any]
    ) -> None:
        """Run ``execute_sql`` (``EXECUTE name(…)``) with ``params`` on ``cursor`` (a cursor of
        this connection), preparing ``name`` with ``prepare_sql`` first if this connection has
        not yet. A failed PREPARE is not remembered (the next run tries again)."""
        if name not in self._prepared:
            with self.wrap_database_errors:
                # The text is the statement itself, without parameters to bind.
                self._side_statement(prepare_sql)
            self._prepared.add(name)
        cursor.execute(execute_sql, params)

    def execute_setting_org(
        self, name: str, prepare_sql: str, execute_sql: str, params: Sequence[Any]
    ) -> str:
        """Run a prepared statement that sets ``app.org_id`` itself and answers the value it
        set (its one row's one column), e.g. the organization a look-up function found; return
        that value. The organization in scope is not synchronised first: the statement must
        read no tenant table, only ``SECURITY DEFINER`` functions, which do not depend on the
        setting. The setting is remembered as set, so the next statement inside that
        organization's scope needs no ``set_config`` of its own. Counted as an application
        query (it goes through the wrappers). If it fails, the setting is forgotten (the next
        statement sets it again)."""
        try:
            with self.cursor() as cursor:
                self._org_set_by_statement = True
                try:
                    self.execute_prepared(cursor, name, prepare_sql, execute_sql, params)
                finally:
                    self._org_set_by_statement = False
                (value,) = cursor.fetchone()
        except BaseException:
            self._app_org = _UNKNOWN
            raise
        self._app_org = value
        return str(value)

    def _side_statement(self, sql: str, params: Sequence[Any] | None = None) -> None:
        """Run ``sql`` on a raw cursor of its own, never on the cursor of the statement it
        prepares for. In pipeline mode (``crm.db.compiled.read_ahead``) a cursor that sends two
        statements holds whichever result psycopg has read last, and its ``fetchall`` waits
        only while it holds none: had the ``PREPARE`` or ``set_config`` result arrived before
        the caller fetched, the caller would get "the last operation didn't produce records"
        (``PREPARE``) or, worse, ``set_config``'s one row as its answer. A cursor of its own
        keeps each result with its statement; closing it is safe before its result arrives (the
        pipeline still checks the result for errors)."""
        with self.connection.cursor() as raw:
            raw.execute(sql, params)

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        self._app_org = _UNKNOWN
        self._prepared = set()
        return super().get_new_connection(conn_params)

    # After, not before: the rollback itself may undo a set_config made inside the transaction.
    # (_rollback, _savepoint_rollback and _close are BaseDatabaseWrapper's private hooks, which
    # the stubs leave out.)
    def _commit(self) -> None:
        try:
            super()._commit()  # type: ignore[misc]
        finally:
            self.kept_savepoints = []

    def _rollback(self) -> None:
        try:
            super()._rollback()  # type: ignore[misc]
        finally:
            self._app_org = _UNKNOWN
            self.kept_savepoints = []

    def _savepoint_rollback(self, sid: str) -> None:
        try:
            super()._savepoint_rollback(sid)  # type: ignore[misc]
        finally:
            self._app_org = _UNKNOWN
            self._forget_kept_after(sid)

    def _savepoint_commit(self, sid: str) -> None:
        super()._savepoint_commit(sid)  # type: ignore[misc]
        self._forget_kept_after(sid)

    def _forget_kept_after(self, sid: str) -> None:
        # Django numbers its savepoints in order (``s<thread>_x<n>``): the kept ones opened
        # after ``sid`` are inside it.
        n = _savepoint_number(sid)
        if self.kept_savepoints and n is not None:
            self.kept_savepoints = [
                k for k in self.kept_savepoints if (_savepoint_number(k) or 0) < n
            ]

    def _close(self) -> None:
        self._app_org = _UNKNOWN
        self.kept_savepoints = []
        self._prepared = set()
        super()._close()  # type: ignore[misc]
