"""PostgreSQL backend that carries the organization in scope to the database.

Wall two (row-level security) filters every tenant table on the session setting ``app.org_id``.
This backend keeps that setting equal to the organization in scope (``crm.tenancy``) before
every statement: when the scope changes it runs ``set_config('app.org_id', …)`` on the raw
cursor first; with no organization in scope the setting is empty and RLS returns no rows.

The value is cached per connection and forgotten whenever PostgreSQL could have reverted it (a
rollback or a savepoint rollback undoes ``set_config`` done inside the transaction), on connect
and on close. The extra statement runs on the raw cursor, so query-count tests see only the
application's own queries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.backends.postgresql import base

from crm.scope import current_org_id

_UNKNOWN = object()
SET_ORG_SQL = "SELECT set_config('app.org_id', %s, false)"


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._app_org: object = _UNKNOWN
        self.execute_wrappers.append(self._sync_org)

    def _sync_org(
        self,
        execute: Callable[..., Any],
        sql: str,
        params: Any,
        many: bool,
        context: dict[str, Any],
    ) -> Any:
        org_id = current_org_id()
        wanted = "" if org_id is None else str(org_id)
        if wanted != self._app_org:
            # The raw cursor: not through the wrappers again, not recorded as an app query.
            context["cursor"].cursor.execute(SET_ORG_SQL, [wanted])
            self._app_org = wanted
        return execute(sql, params, many, context)

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        self._app_org = _UNKNOWN
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
        super()._close()  # type: ignore[misc]
