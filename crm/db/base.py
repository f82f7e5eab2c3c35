"""PostgreSQL backend that carries the organization in scope to the database.

Wall two (row-level security) filters every tenant table on the session setting ``app.org_id``.
This backend keeps that setting equal to the organization in scope (``crm.tenancy``) before
every statement: when the scope changes it runs ``set_config('app.org_id', …)`` on the raw
cursor first; with no organization in scope the setting is empty and RLS returns no rows.

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


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._app_org: object = _UNKNOWN
        # The names of the statements prepared on the current connection.
        self._prepared: set[str] = set()
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
        self.sync_org(context["cursor"])
        return execute(sql, params, many, context)

    def sync_org(self, cursor: Any) -> None:
        """Set the organization in scope on the connection if it is not set yet (``cursor``: a
        cursor of this connection). ``read_ahead`` calls it before a pipeline, so that each of
        the pipeline's cursors runs exactly one command."""
        org_id = current_org_id()
        wanted = "" if org_id is None else str(org_id)
        if wanted != self._app_org:
            # The raw cursor: not through the wrappers again, not recorded as an app query.
            cursor.cursor.execute(SET_ORG_SQL, [wanted])
            self._app_org = wanted

    def execute_prepared(
        self, cursor: Any, name: str, prepare_sql: str, execute_sql: str, params: Sequence[Any]
    ) -> None:
        """Run ``execute_sql`` (``EXECUTE name(…)``) with ``params`` on ``cursor`` (a cursor of
        this connection), preparing ``name`` with ``prepare_sql`` first if this connection has
        not yet. A failed PREPARE is not remembered (the next run tries again)."""
        self.prepare(cursor, name, prepare_sql)
        cursor.execute(execute_sql, params)

    def prepare(self, cursor: Any, name: str, prepare_sql: str) -> None:
        """``PREPARE`` the statement ``name`` unless this connection has (``read_ahead`` calls
        it before a pipeline: in a pipeline, a cursor that ran a ``PREPARE`` before its
        ``EXECUTE`` may be read at the ``PREPARE``'s result)."""
        if name not in self._prepared:
            with self.wrap_database_errors:
                # Raw: the text is the statement itself, without parameters to bind.
                cursor.cursor.execute(prepare_sql)
            self._prepared.add(name)

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        self._app_org = _UNKNOWN
        self._prepared = set()
        return super().get_new_connection(conn_params)

    # After, not before: the rollback itself may undo a set_config made inside the transaction.
    # (_rollback, _savepoint_rollback and _close are BaseDatabaseWrapper's private hooks, which
    # the stubs leave out.)
    def _rollback(self) -> None:
        try:
            super()._rollback()  # type: ignore[misc]
        finally:
            self._app_org = _UNKNOWN

    def _savepoint_rollback(self, sid: str) -> None:
        try:
            super()._savepoint_rollback(sid)  # type: ignore[misc]
        finally:
            self._app_org = _UNKNOWN

    def _close(self) -> None:
        self._app_org = _UNKNOWN
        self._prepared = set()
        super()._close()  # type: ignore[misc]
