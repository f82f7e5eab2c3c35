"""A hot query's SQL built by the ORM once per process and run again with other values.

For the few statements a request runs on every save or page whose *building* costs more than
running them: Django resolves and compiles a queryset with four JSON-array subqueries in about
as much CPU as PostgreSQL needs to answer it from an index. The queryset stays the definition
(the org-scoped manager, the filters, one copy of each rule); only the resulting SQL and its
parameters are kept. ``build`` is called once with a sentinel for each named value; the
parameters equal to a sentinel are the slots each run fills in. The values are bound as
parameters, never formatted into the text, and row-level security applies as to any statement
(the backend sets the organization before it runs). ``scope``: the value that names the
organization; ``build`` runs with its sentinel in scope (the tenant managers check that the
organization asked for is the one in scope). The SQL is kept per state of wall one's ORM filter
(``orm_tenant_filter_on``), which one test switches off.

Each row comes back as the queryset's ``values_list`` would give it: the fields' database
converters (JSON, decimals, arrays of JSON) are applied, with the connection the run uses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.models import QuerySet

from crm.scope import OrganizationScopeError, current_org_id, org_scope, orm_tenant_filter_on

# Negative and far out of any id's range: a sentinel cannot collide with a real parameter.
_SENTINEL_BASE = -7_340_000_001


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    slots: dict[str, tuple[int, ...]]
    expressions: tuple[Any, ...]
    using: str


class CompiledQuery:
    def __init__(
        self, build: Callable[..., QuerySet[Any, Any]], *names: str, scope: str | None = None
    ) -> None:
        if scope is not None and scope not in names:
            raise ValueError(f"scope {scope!r} must be one of the names.")
        self._build = build
        self._names = names
        self._scope = scope
        self._compiled: dict[bool, _Compiled] = {}
        self._lock = threading.Lock()

    def _compile(self) -> _Compiled:
        sentinels = {name: _SENTINEL_BASE - i for i, name in enumerate(self._names)}
        if self._scope is None:
            qs = self._build(**sentinels)
        else:
            with org_scope(sentinels[self._scope]):
                qs = self._build(**sentinels)
        compiler = qs.query.get_compiler(using=qs.db)
        sql, params = compiler.as_sql()
        slots: dict[str, list[int]] = {name: [] for name in self._names}
        # A text field's lookup binds the sentinel as text: a slot too. Each run binds the
        # value as given (the caller passes what the field holds).
        by_value: dict[object, str] = {}
        for name, value in sentinels.items():
            by_value[value] = by_value[str(value)] = name
        for index, param in enumerate(params):
            if type(param) in (int, str) and param in by_value:
                slots[by_value[param]].append(index)
        for name, value in sentinels.items():
            # A value inlined into the text, or bound only as part of another parameter (a
            # LIKE pattern), could not be replaced: refuse. (A value may have no slot at all:
            # the organization when wall one's filter is off.)
            mark = str(value)
            taken = set(slots[name])
            if mark in sql or any(mark in str(p) for i, p in enumerate(params) if i not in taken):
                raise ValueError(f"{name!r} is not a bound parameter of the query.")
        expressions = tuple(col for col, _sql, _alias in compiler.select[: compiler.col_count])
        return _Compiled(
            sql=sql,
            params=tuple(params),
            slots={name: tuple(found) for name, found in slots.items()},
            expressions=expressions,
            using=qs.db,
        )

    def compiled(self) -> _Compiled:
        variant = orm_tenant_filter_on()
        found = self._compiled.get(variant)
        if found is None:
            with self._lock:
                found = self._compiled.get(variant)
                if found is None:
                    found = self._compiled[variant] = self._compile()
        return found

    def rows(self, **values: Any) -> list[tuple[Any, ...]]:
        compiled = self.compiled()
        if set(values) != set(self._names):
            raise TypeError(f"Expected the values {sorted(self._names)}, got {sorted(values)}.")
        if self._scope is not None:
            # As the tenant managers: another organization than the one in scope is a bug.
            scoped = current_org_id()
            if scoped is not None and scoped != values[self._scope]:
                raise OrganizationScopeError(
                    f"Organization {values[self._scope]} asked for while {scoped} is in scope."
                )
        params = list(compiled.params)
        for name, positions in compiled.slots.items():
            for index in positions:
                params[index] = values[name]
        connection = connections[compiled.using]
        converters = [
            (i, connection.ops.get_db_converters(e) + e.get_db_converters(connection), e)
            for i, e in enumerate(compiled.expressions)
        ]
        converters = [(i, funcs, e) for i, funcs, e in converters if funcs]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            fetched = cursor.fetchall()
        if not converters:
            return [tuple(row) for row in fetched]
        out = []
        for row in fetched:
            row = list(row)
            for i, funcs, expression in converters:
                value = row[i]
                for func in funcs:
                    value = func(value, expression, connection)
                row[i] = value
            out.append(tuple(row))
        return out
