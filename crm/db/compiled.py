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
(``orm_tenant_filter_on``), which one test switches off, and per current time zone: a date of a
timestamp (``TruncDate``, ``__date``) binds the zone active when the queryset is compiled (the
user's, in a request) as a constant parameter, so a query built under one zone must never run
under another.

Named values are integers or text by default; ``dates`` names values that are dates (a date
field's lookup binds a date: its sentinel is a date of the year 1), ``datetimes`` aware
datetimes (a timestamp's lookup, e.g. a cursor's position: a sentinel of the year 1 in UTC,
bound as ``timestamptz``), ``arrays`` names lists of
integers bound as one parameter (``field__any_of=[…]``: ``= ANY(%s)``, one SQL text whatever
the list's length; an ``__in`` would give one placeholder per element and could not be reused).

Each row comes back as the queryset's ``values_list`` would give it: the fields' database
converters (JSON, decimals, arrays of JSON) are applied, with the connection the run uses.
``count=True``: the statement counts the queryset's rows instead (``SELECT COUNT(*) FROM (…)``,
as ``QuerySet.count()`` counts a sliced queryset); ``rows`` answers ``[(n,)]``.

The statement runs **prepared** (``PREPARE`` once per connection, then ``EXECUTE``; see
``crm.db.base``): PostgreSQL parses and rewrites it once per connection and, after its first
five runs, plans it once when its generic plan is as cheap as the custom ones (the deal's
facts: 2 ms of planning under row-level security). The parameters' types are declared as
psycopg's server-side binding would send them, but every integer slot as ``bigint`` and every
array slot as ``bigint[]``: one prepared statement per SQL text, whatever the values' sizes
(psycopg would pick int2, int4 or int8 by value). Text is ``unknown``: PostgreSQL infers it from
where it is used, as it does for a text literal. Row-level security holds under a plan made
once: its policy reads the organization's setting when the plan runs, not when it is made.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import threading
import weakref
from collections.abc import Callable, Collection, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from django.db import connections
from django.db.models import QuerySet
from django.db.models.query import get_related_populators
from django.utils import timezone
from psycopg import abc as psycopg_abc
from psycopg.adapt import PyFormat, Transformer

from crm.scope import OrganizationScopeError, current_org_id, org_scope, orm_tenant_filter_on

# Negative and far out of any id's range: a sentinel cannot collide with a real parameter.
_SENTINEL_BASE = -7_340_000_001
# No real date of the application is in the year 1.
_DATE_SENTINEL_BASE = dt.date(1, 1, 1)
_DATETIME_SENTINEL_BASE = dt.datetime(1, 1, 2, tzinfo=dt.UTC)
# Django's placeholders and its escaped percent sign (the only two it writes).
_PLACEHOLDER = re.compile(r"%(.)", re.DOTALL)
_EXECUTE = re.compile(r"EXECUTE (cq_[0-9a-f]{24})\b")
# Every compiled statement's name -> its SQL as Django wrote it (for ``statement_sql``).
_STATEMENTS: dict[str, str] = {}


def statement_sql(logged: str) -> str:
    """The SQL a logged statement runs: for an ``EXECUTE`` of a compiled statement the SQL it
    was prepared from (with its ``%s`` placeholders), else ``logged`` itself. For tests and
    debugging that look into a request's statements (``connection.queries``)."""
    found = _EXECUTE.match(logged)
    return _STATEMENTS.get(found.group(1), logged) if found else logged


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    slots: dict[str, tuple[int, ...]]
    # The psycopg type a slot's value is bound as (Django's backend binds a BigIntegerField's
    # value as ``Int8``): the runs bind theirs the same.
    wrappers: dict[int, type]
    expressions: tuple[Any, ...]
    using: str
    # The statement's name on a connection, its PREPARE and the EXECUTE that runs it.
    name: str
    prepare_sql: str
    execute_sql: str
    # The EXECUTE's arguments in order: each a slot's name and the position (in ``params``)
    # whose wrapper it is bound with.
    arguments: tuple[tuple[str, int], ...] = ()
    # How ``objects`` builds a model queryset's instances from a row (the compiler's select,
    # ``klass_info`` and annotation columns, as Django's ``ModelIterable`` reads them); ``None``
    # for a values queryset.
    select: tuple[Any, ...] = ()
    klass_info: dict[str, Any] | None = None
    annotation_col_map: dict[str, int] | None = None
    # Each column's converters, found once per connection (a quarter of a run's CPU otherwise).
    converters: weakref.WeakKeyDictionary[Any, list[tuple[int, list[Any], Any]]] = field(
        default_factory=weakref.WeakKeyDictionary, compare=False
    )


def _param_type(value: Any, transformer: psycopg_abc.Transformer) -> str:
    """The type a constant parameter is declared as: the one psycopg's server-side binding
    would send (``unknown`` for text and NULL: PostgreSQL infers it from the context)."""
    if value is None:
        return "unknown"
    oid = transformer.get_dumper(value, PyFormat.TEXT).oid
    info = psycopg.postgres.types.get(oid) if oid else None
    if info is None:
        return "unknown"
    return f"{info.regtype}[]" if oid == info.array_oid else info.regtype


def _prepared_form(
    sql: str, types: list[str], parts: list[str] | None = None
) -> tuple[str, str, str]:
    """(name, PREPARE, EXECUTE) of ``sql`` with Django's ``%s`` placeholders as ``$n``
    (``types``: the arguments' types). ``parts``: what each placeholder becomes instead, in
    order (an argument's ``$n`` or a constant's literal); by default the n-th is ``$n``."""
    if parts is None:
        parts = [f"${n}" for n in range(1, len(types) + 1)]
    found = iter(parts)

    def number(match: re.Match[str]) -> str:
        if match.group(1) == "%":
            return "%"
        if match.group(1) != "s":
            raise ValueError(f"Unexpected placeholder %{match.group(1)} in {sql[:200]!r}.")
        return next(found)

    body = _PLACEHOLDER.sub(number, sql)
    if next(found, None) is not None:
        raise ValueError("Fewer placeholders than parameters.")
    signature = f"({', '.join(types)})" if types else ""
    # The name from the text: the same statement in two processes (or built twice) is one.
    digest = hashlib.sha1(f"{signature} {body}".encode(), usedforsecurity=False)
    name = f"cq_{digest.hexdigest()[:24]}"
    arguments = f"({', '.join(['%s'] * len(types))})" if types else ""
    return name, f"PREPARE {name}{signature} AS {body}", f"EXECUTE {name}{arguments}"


def prepared_statement(sql: str, types: list[str]) -> tuple[str, str, str]:
    """(name, PREPARE, EXECUTE) of a statement written by hand with Django's ``%s``
    placeholders and its parameters' types, for ``DatabaseWrapper.execute_prepared``: a hot
    write the ORM cannot express as one statement (``situations._open_situations``). Its SQL is
    registered for ``statement_sql``, so ``atomic_on_write`` sees what it runs."""
    name, prepare_sql, execute_sql = _prepared_form(sql, types)
    _STATEMENTS[name] = sql
    return name, prepare_sql, execute_sql


class CompiledQuery:
    def __init__(
        self,
        build: Callable[..., QuerySet[Any, Any]],
        *names: str,
        scope: str | None = None,
        dates: Collection[str] = (),
        arrays: Collection[str] = (),
        datetimes: Collection[str] = (),
        count: bool = False,
    ) -> None:
        if scope is not None and scope not in names:
            raise ValueError(f"scope {scope!r} must be one of the names.")
        kinds = (set(dates), set(arrays), set(datetimes))
        typed = set().union(*kinds)
        if not typed <= set(names) or sum(map(len, kinds)) != len(typed) or (scope in typed):
            raise ValueError("dates, datetimes and arrays must be distinct names, not the scope.")
        self._build = build
        self._names = names
        self._scope = scope
        self._dates = frozenset(dates)
        self._arrays = frozenset(arrays)
        self._datetimes = frozenset(datetimes)
        self._count = count
        self._compiled: dict[tuple[bool, str], _Compiled] = {}
        self._lock = threading.Lock()

    def _sentinel(self, index: int, name: str) -> Any:
        if name in self._dates:
            return _DATE_SENTINEL_BASE + dt.timedelta(days=index)
        if name in self._datetimes:
            return _DATETIME_SENTINEL_BASE + dt.timedelta(days=index)
        if name in self._arrays:
            return [_SENTINEL_BASE - index]
        return _SENTINEL_BASE - index

    def _compile(self) -> _Compiled:
        sentinels = {name: self._sentinel(i, name) for i, name in enumerate(self._names)}
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
        by_date: dict[dt.date, str] = {}
        by_datetime: dict[dt.datetime, str] = {}
        by_array: dict[int, str] = {}
        for name, value in sentinels.items():
            if name in self._dates:
                by_date[value] = name
            elif name in self._datetimes:
                by_datetime[value] = name
            elif name in self._arrays:
                by_array[value[0]] = name
            else:
                by_value[value] = by_value[str(value)] = name
        wrappers: dict[int, type] = {}
        for index, param in enumerate(params):
            # Exact types: a datetime is a date, a bool an int; neither is a sentinel. (An
            # integer may come wrapped in psycopg's Int4/Int8: an int subclass, kept.)
            if type(param) is str and param in by_value:
                slots[by_value[param]].append(index)
            elif isinstance(param, int) and type(param) is not bool and int(param) in by_value:
                slots[by_value[int(param)]].append(index)
                if type(param) is not int:
                    wrappers[index] = type(param)
            elif type(param) is dt.date and param in by_date:
                slots[by_date[param]].append(index)
            elif type(param) is dt.datetime and param in by_datetime:
                slots[by_datetime[param]].append(index)
            elif (
                type(param) in (list, tuple)
                and len(param) == 1
                and type(param[0]) is int
                and param[0] in by_array
            ):
                slots[by_array[param[0]]].append(index)
        for name, value in sentinels.items():
            # A value inlined into the text, or bound only as part of another parameter (a
            # LIKE pattern), could not be replaced: refuse. (A value may have no slot at all:
            # the organization when wall one's filter is off.)
            mark = str(value[0] if name in self._arrays else value)
            taken = set(slots[name])
            if mark in sql or any(mark in str(p) for i, p in enumerate(params) if i not in taken):
                raise ValueError(f"{name!r} is not a bound parameter of the query.")
        expressions = tuple(col for col, _sql, _alias in compiler.select[: compiler.col_count])
        if self._count:
            # As Django counts a sliced queryset: the rows in a subquery, counted around it.
            sql, expressions = f"SELECT COUNT(*) FROM ({sql}) subquery", ()  # noqa: S608
        connection = connections[qs.db]
        connection.ensure_connection()
        transformer = Transformer(connection.connection.adapters)
        types = [_param_type(p, transformer) for p in params]
        for name, positions in slots.items():
            for index in positions:
                if name in self._arrays:
                    types[index] = "bigint[]"
                elif name in self._dates:
                    types[index] = "date"
                elif name in self._datetimes:
                    types[index] = "timestamptz"
                elif type(params[index]) is not str:
                    types[index] = "bigint"
        # Only the values a run binds are arguments of the prepared statement: a constant of
        # the query (a status, a flag, a list of kinds) is written into the PREPARE as the
        # literal client-side binding sent on every run, cast to the type it was declared as;
        # a slot's value is one argument however many times the SQL uses it (unless its type
        # is inferred from each use: text). psycopg formats every argument of every EXECUTE
        # in Python (a tenth of a first save's CPU), and past 50 of them it parses the
        # statement text again each time.
        slot_of = {index: name for name, positions in slots.items() for index in positions}
        parts: list[str] = []
        arg_types: list[str] = []
        arguments: list[tuple[str, int]] = []
        numbered: dict[object, int] = {}
        for index, param in enumerate(params):
            declared = types[index]
            slot = slot_of.get(index)
            if slot is None:
                literal = transformer.as_literal(param).decode()
                parts.append(literal if declared == "unknown" else f"({literal})::{declared}")
                continue
            key: object = slot if declared != "unknown" else (slot, index)
            if key not in numbered:
                arguments.append((slot, index))
                arg_types.append(declared)
                numbered[key] = len(arguments)
            parts.append(f"${numbered[key]}")
        statement, prepare_sql, execute_sql = _prepared_form(sql, arg_types, parts)
        _STATEMENTS[statement] = sql
        return _Compiled(
            sql=sql,
            params=tuple(params),
            slots={name: tuple(found) for name, found in slots.items()},
            wrappers=wrappers,
            expressions=expressions,
            using=qs.db,
            name=statement,
            prepare_sql=prepare_sql,
            execute_sql=execute_sql,
            arguments=tuple(arguments),
            select=tuple(compiler.select),
            klass_info=None if self._count else compiler.klass_info,
            annotation_col_map=None if self._count else compiler.annotation_col_map,
        )

    def compiled(self) -> _Compiled:
        variant = (orm_tenant_filter_on(), timezone.get_current_timezone_name())
        found = self._compiled.get(variant)
        if found is None:
            with self._lock:
                found = self._compiled.get(variant)
                if found is None:
                    found = self._compiled[variant] = self._compile()
        return found

    def _bind(self, values: dict[str, Any]) -> tuple[_Compiled, list[Any]]:
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
        checked: dict[str, Any] = {}
        for name in compiled.slots:
            value = values[name]
            if name in self._arrays:
                value = list(value)
            elif name in self._dates and type(value) is not dt.date:
                raise TypeError(f"{name!r} must be a date, got {value!r}.")
            elif name in self._datetimes and (
                type(value) is not dt.datetime or value.utcoffset() is None
            ):
                raise TypeError(f"{name!r} must be an aware datetime, got {value!r}.")
            checked[name] = value
        params = []
        for name, index in compiled.arguments:
            value = checked[name]
            wrap = compiled.wrappers.get(index)
            params.append(value if wrap is None or value is None else wrap(value))
        return compiled, params

    def _key(self, compiled: _Compiled, values: dict[str, Any]) -> tuple[Any, ...]:
        """What identifies a run: this query in the current variant with these values."""
        bound = tuple(
            sorted(
                (name, tuple(value) if name in self._arrays else value)
                for name, value in values.items()
            )
        )
        return (id(self), id(compiled), bound)

    def rows(self, **values: Any) -> list[tuple[Any, ...]]:
        compiled, params = self._bind(values)
        ahead: dict[tuple[Any, ...], list[tuple[Any, ...]]] | None = getattr(_ahead, "runs", None)
        if ahead:
            found = ahead.pop(self._key(compiled, values), None)
            if found is not None:
                return found
        connection = connections[compiled.using]
        with connection.cursor() as cursor:
            _execute(connection, cursor, compiled, params)
            fetched = cursor.fetchall()
        return _convert(compiled, connection, fetched)

    def objects(self, **values: Any) -> list[Any]:
        """The model instances iterating ``build``'s queryset would give (for a model
        queryset, not a values one): each row's instance by ``Model.from_db``, its
        ``select_related`` instances populated and its annotations set as Django's
        ``ModelIterable`` does. The rows come from ``rows`` (so ``read_ahead`` serves them)."""
        rows = self.rows(**values)
        compiled = self.compiled()
        klass_info = compiled.klass_info
        if klass_info is None:
            raise TypeError("objects() needs a model queryset (not values, not a count).")
        select = compiled.select
        fields = klass_info["select_fields"]
        start, end = fields[0], fields[-1] + 1
        init_list = [column[0].target.attname for column in select[start:end]]
        populators = get_related_populators(klass_info, list(select), compiled.using)  # type: ignore[call-arg]
        model = klass_info["model"]
        annotations = list((compiled.annotation_col_map or {}).items())
        found = []
        for row in rows:
            obj = model.from_db(compiled.using, init_list, row[start:end])
            for populator in populators:
                populator.populate(row, obj)
            for name, position in annotations:
                setattr(obj, name, row[position])
            found.append(obj)
        return found


def cached_statement(
    cache: dict[Any, CompiledQuery],
    lock: threading.Lock,
    key: Hashable,
    limit: int,
    make: Callable[[], CompiledQuery],
) -> CompiledQuery | None:
    """The statement ``cache`` holds for ``key``, made (``make()``) by the first caller and kept
    while the cache holds fewer than ``limit``; past it None (the caller's ORM path). One copy
    of the bounded per-shape cache of the hot lists and the 360°: their keys are shapes of user
    and request (role, ordering, page, sort...), not values, so a well-behaved process stays far
    under the bound, and a flood of odd requests cannot grow it without limit. Looked up
    without the lock (a dict read is atomic), made under it so every caller of a key runs the
    same statement."""
    found = cache.get(key)
    if found is not None:
        return found
    with lock:
        found = cache.get(key)
        if found is None and len(cache) < limit:
            found = cache[key] = make()
    return found


def _execute(connection: Any, cursor: Any, compiled: _Compiled, params: list[Any]) -> None:
    connection.execute_prepared(
        cursor, compiled.name, compiled.prepare_sql, compiled.execute_sql, params
    )


def _convert(compiled: _Compiled, connection: Any, fetched: list[Any]) -> list[tuple[Any, ...]]:
    """The fetched rows as the queryset's ``values_list`` would give them."""
    converters = compiled.converters.get(connection)
    if converters is None:
        # Per connection object (each thread has its own): the functions are its backend's.
        found = [
            (i, connection.ops.get_db_converters(e) + e.get_db_converters(connection), e)
            for i, e in enumerate(compiled.expressions)
        ]
        converters = compiled.converters[connection] = [
            (i, funcs, e) for i, funcs, e in found if funcs
        ]
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


def pipeline_safe(wrapper: Callable[..., Any]) -> Callable[..., Any]:
    """Mark an execute wrapper as one that passes a compiled statement's ``EXECUTE`` through
    unchanged (it may run statements of its own on the raw cursor): ``read_ahead`` keeps it
    in its pipeline. Any other wrapper makes it run the statements one by one."""
    wrapper.pipeline_safe = True  # type: ignore[attr-defined]
    return wrapper


def _history_labeller() -> Any:
    """django-pghistory's execute wrapper (installed while a history context is open, e.g. on
    every POST by its middleware): it prefixes each statement that is not a SELECT with a
    ``set_config`` of the context, which makes two commands of an ``EXECUTE``. The context is
    for the triggers of writes; a compiled statement is a SELECT (which pghistory itself leaves
    alone), so ``read_ahead`` leaves the wrapper out of its reads."""
    try:
        from pghistory import runtime
    except ImportError:  # pragma: no cover - pghistory is installed
        return None
    return getattr(runtime, "_inject_history_context", None)


def _pipeline_wrappers(wrappers: list[Any]) -> list[Any] | None:
    """The execute wrappers a pipelined read runs through, or None when one of them may not
    be pipelined."""
    labeller = _history_labeller()
    kept = []
    for wrapper in wrappers:
        if labeller is not None and wrapper == labeller:
            continue
        if not getattr(wrapper, "pipeline_safe", False):
            return None
        kept.append(wrapper)
    return kept


# The rows ``read_ahead`` fetched and no ``rows`` call has taken yet, per thread (each thread
# has its own connection).
_ahead = threading.local()


@contextmanager
def read_ahead(
    runs: Sequence[tuple[CompiledQuery, dict[str, Any]]],
) -> Iterator[dict[tuple[Any, ...], list[tuple[Any, ...]]]]:
    """Run the compiled statements ``runs`` names (each a query and its values) in **one round
    trip** (psycopg's pipeline mode: every ``EXECUTE`` is sent, then the results are read), and
    let the block's ``rows`` calls with the same query and values take those rows instead of
    running the statement again (each run once: a second call reads anew). A call with other
    values, or after the block, runs its statement as always, so a wrong guess costs a round
    trip, never a wrong answer. For reads that do not depend on one another and whose rows the
    block does not change before it asks for them (the statements run when the block starts).
    The organization is set and each statement counted as for ``rows`` (the same cursor
    wrappers; django-pghistory's labeller of writes left out, see ``_history_labeller``). An
    execute wrapper not marked ``pipeline_safe`` may rewrite a statement: the runs are then sent
    one by one (the same rows, more round trips)."""
    bound = [(query, values, *query._bind(values)) for query, values in runs]
    usings = {compiled.using for _query, _values, compiled, _params in bound}
    if len(usings) > 1:
        raise ValueError("read_ahead runs statements of one database.")
    fetched: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
    if bound:
        connection = connections[usings.pop()]
        connection.ensure_connection()
        wrappers = _pipeline_wrappers(connection.execute_wrappers)
        saved = list(connection.execute_wrappers)
        cursors: list[Any] = []
        results: list[Any] = []
        try:
            if wrappers is None:
                # A wrapper that may rewrite a statement into several (which the pipeline's
                # protocol refuses): one by one, as ``rows`` would.
                for _query, _values, compiled, params in bound:
                    with connection.cursor() as cursor:
                        _execute(connection, cursor, compiled, params)
                        results.append(cursor.fetchall())
            else:
                connection.execute_wrappers[:] = wrappers
                with connection.wrap_database_errors, connection.connection.pipeline():
                    for _query, _values, compiled, params in bound:
                        cursor = connection.cursor()
                        cursors.append(cursor)
                        _execute(connection, cursor, compiled, params)
                    results = [cursor.fetchall() for cursor in cursors]
        finally:
            connection.execute_wrappers[:] = saved
            for cursor in cursors:
                cursor.close()
        for (query, values, compiled, _params), result in zip(bound, results, strict=True):
            fetched[query._key(compiled, values)] = _convert(compiled, connection, result)
    outer = getattr(_ahead, "runs", None)
    _ahead.runs = {**(outer or {}), **fetched}
    try:
        # The runs not taken yet (a test's way to see that a block asked for every one).
        yield _ahead.runs
    finally:
        _ahead.runs = outer
