"""``QuerySet.bulk_create`` for new rows of a plain model, with the statement and each column's
preparation worked out once per model instead of once per value.

Django's bulk insert asks each field of each row for its value (``pre_save``), prepares it
(``get_db_prep_save``: ``to_python``, the backend's adaptation) and checks it for expressions,
then transposes the rows into one array per column for PostgreSQL's ``UNNEST``. For the
import's 1,000-deal chunks that was 1.2 million calls per 20,000 rows (8 % of a commit's CPU).
Here the column list, the SQL text and, per column, the Python types whose values Django's
preparation returns unchanged are found once per model (``compiled_insert``); a value of such a
type goes into its column's array as it is, any other value (a naive datetime, a float for a
decimal, an expression) through the field's own ``get_db_prep_save``, so the database receives
what ``bulk_create`` sends (tested row by row and in the history). The statement is
``bulk_create``'s own: ``INSERT … SELECT * FROM UNNEST((%s)::type[], …) RETURNING id``,
through Django's cursor, so the organization is set for row-level security, pghistory's
context is attached, and the query is counted as any.

For rows without a primary key, no ``pre_save`` of its own (``auto_now`` fields and the
like go through Django), no ``get_placeholder`` field, no generated column written: a model
outside that is refused when compiled (use ``bulk_create``). The instances get their ids and
are marked saved, as after ``bulk_create``.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, TypeVar

from django.db import connections, models
from django.db.models import Field, Model

from crm.scope import OrganizationScopeError, current_org_id

_M = TypeVar("_M", bound=Model)


def _is_aware(value: Any) -> bool:
    return value.tzinfo is not None


def _is_finite(value: Any) -> bool:
    return bool(value.is_finite())


def _always(value: Any) -> bool:
    return True


# Internal type -> (exact Python type, condition) whose value ``get_db_prep_save`` returns
# equal on PostgreSQL: CharField.to_python keeps a str, IntegerField's int(int), a Decimal is
# Decimal(Decimal) unless not finite (refused there), a date stays a date (not a datetime: that
# is truncated), an aware datetime stays (a naive one is warned about and made aware). Integer
# fields are wrapped in psycopg's Int4/Int8 by Django, which the array's cast makes moot.
_UNCHANGED: dict[str, tuple[type, Callable[[Any], bool]]] = {
    "CharField": (str, _always),
    "TextField": (str, _always),
    "SlugField": (str, _always),
    "EmailField": (str, _always),
    "BooleanField": (bool, _always),
    "IntegerField": (int, _always),
    "BigIntegerField": (int, _always),
    "SmallIntegerField": (int, _always),
    "PositiveIntegerField": (int, _always),
    "PositiveBigIntegerField": (int, _always),
    "PositiveSmallIntegerField": (int, _always),
    "AutoField": (int, _always),
    "BigAutoField": (int, _always),
    "SmallAutoField": (int, _always),
    "DecimalField": (Decimal, _is_finite),
    "DateField": (dt.date, _always),
    "DateTimeField": (dt.datetime, _is_aware),
}


@dataclass(frozen=True)
class _Column:
    field: Field[Any, Any]
    attname: str
    # The exact type (and condition) of values written as they are; None: always prepared.
    unchanged: type | None
    condition: Callable[[Any], bool]


@dataclass(frozen=True)
class CompiledInsert(Generic[_M]):
    model: type[_M]
    columns: tuple[_Column, ...]
    sql: str

    def insert(self, objs: Sequence[_M], using: str = "default") -> list[_M]:
        """Write ``objs`` (new, unsaved) in one statement; each gets its id."""
        objs = list(objs)
        if not objs:
            return objs
        org_id = current_org_id()
        connection = connections[using]
        for obj in objs:
            if obj.pk is not None:
                raise ValueError("compiled_insert writes new rows only.")
            # As bulk_create: a relation assigned before its target was saved takes its id now
            # (and an unsaved target is refused).
            obj._prepare_related_fields_for_save(operation_name="bulk_create")  # type: ignore[attr-defined]
            organization_id = getattr(obj, "organization_id", None)
            if org_id is not None and organization_id != org_id:
                raise OrganizationScopeError(
                    f"Refusing to write a {self.model._meta.label} of organization "
                    f"{organization_id} while organization {org_id} is in scope."
                )
        arrays = []
        for column in self.columns:
            values = [getattr(obj, column.attname) for obj in objs]
            unchanged, condition, field = column.unchanged, column.condition, column.field
            arrays.append(
                [
                    value
                    if value is None or (type(value) is unchanged and condition(value))
                    else field.get_db_prep_save(value, connection)
                    for value in values
                ]
            )
        with connection.cursor() as cursor:
            cursor.execute(self.sql, arrays)
            ids = [row[0] for row in cursor.fetchall()]
        if len(ids) != len(objs):  # pragma: no cover - PostgreSQL returns a row per row
            raise RuntimeError("The insert returned fewer ids than rows.")
        for obj, pk in zip(objs, ids, strict=True):
            obj.pk = pk
            obj._state.adding = False
            obj._state.db = using
        return objs


@functools.cache
def compiled_insert(model: type[_M], using: str = "default") -> CompiledInsert[_M]:
    """The insert of new ``model`` rows, worked out once per process (see the module)."""
    connection = connections[using]
    opts = model._meta
    columns = []
    for field in opts.concrete_fields:
        if field.generated:
            continue
        if field.primary_key:
            if not isinstance(field, models.AutoField | models.BigAutoField):
                raise TypeError(f"{opts.label}: only an auto-incremented key is supported.")
            continue
        overridden = type(field).pre_save is not Field.pre_save and not (
            isinstance(field, models.DateField) and not field.auto_now and not field.auto_now_add
        )
        target = field.target_field if field.is_relation else field  # type: ignore[attr-defined]
        internal = target.get_internal_type()
        if overridden or hasattr(field, "get_placeholder") or internal not in connection.data_types:
            raise TypeError(f"{opts.label}.{field.name}: use bulk_create for this model.")
        unchanged, condition = _UNCHANGED.get(internal, (None, _always))
        columns.append(_Column(field, field.attname, unchanged, condition))
    quote = connection.ops.quote_name
    table = quote(opts.db_table)
    names = ", ".join(quote(str(c.field.column)) for c in columns)
    # As bulk_create: the types without their modifiers (varchar[], not varchar(50)[]).
    casts = ", ".join(f"(%s)::{str(c.field.db_type(connection)).split('(')[0]}[]" for c in columns)
    # Names and types from the model's metadata, quoted; the values are parameters.
    sql = (
        f"INSERT INTO {table} ({names}) SELECT * FROM UNNEST({casts}) "  # noqa: S608
        f"RETURNING {table}.{quote(str(opts.pk.column))}"
    )
    return CompiledInsert(model, tuple(columns), sql)
