"""Composite tenant keys, the third tenancy wall: a row cannot reference another organization's row.

Every tenant table (``crm.rls.tenant_models()``) gets ``UNIQUE (organization_id, <pk>)``, and
every foreign key between tenant tables gets a composite twin::

    FOREIGN KEY (organization_id, x_id) REFERENCES x (organization_id, id)
        MATCH SIMPLE DEFERRABLE INITIALLY DEFERRED

Django's own single-column foreign key stays (Django's schema editor manages it); the twin adds
the organization. ``MATCH SIMPLE`` leaves a NULL ``x_id`` unchecked, so nullable relations stay
nullable and ``SET_NULL`` works. Deferred like Django's own constraints, so the order in which
Django's deletion collector deletes rows (cascades, an organization's whole tree) does not
matter: the check runs at commit.

Both are generated from the model graph and synced after every ``migrate`` (``post_migrate``,
like the RLS policies): a foreign key added by any later migration gets its twin without anyone
remembering to write one, and a stale twin (a relation removed, re-pointed or made
``db_constraint=False``) is dropped. ``tests/crm/test_composite_keys.py`` reads ``pg_constraint``
and fails if a database foreign key between tenant tables lacks its twin.

Left out on purpose:

* foreign keys to ``crm_organization`` (that *is* the organization column) and to tables without
  ``organization_id`` (``auth_permission``, ``pghistory_context``);
* foreign keys with ``db_constraint=False``: the pghistory event tables. An event outlives its
  row (it records the deletion) and keeps snapshots of ids that may since have been deleted, so
  no foreign key of theirs is enforced; their ``organization_id`` is copied from the row by the
  trigger that writes them. The event tables still get the unique key, like every tenant table.

There are no auto-created many-to-many tables among the tenant tables: they would lack
``organization_id`` and the RLS policy could not be created on them. A tenant many-to-many uses
an explicit ``through`` model that inherits ``TenantModel``.

A migration that re-points a tenant foreign key at another model keeps enforcing the old twin
until the sync after it; drop it first in that migration (``RunSQL``) if the data would break it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.models import Field, ForeignKey
from psycopg import sql

from crm.rls import tenant_models

ORG_COLUMN = "organization_id"
KEY_SUFFIX = "_tenant_key"
FK_SUFFIX = "_tenant_fk"
_MAX_NAME = 63  # PostgreSQL's identifier limit


@dataclass(frozen=True, order=True)
class TenantKey:
    table: str
    column: str  # (organization_id, column) is unique

    @property
    def name(self) -> str:
        return _name(f"{self.table}_{self.column}", KEY_SUFFIX)


@dataclass(frozen=True, order=True)
class TenantForeignKey:
    table: str
    column: str
    target_table: str
    target_column: str

    @property
    def name(self) -> str:
        return _name(f"{self.table}_{self.column}", FK_SUFFIX)

    @property
    def key(self) -> TenantKey:
        return TenantKey(self.target_table, self.target_column)


def _name(base: str, suffix: str) -> str:
    name = base + suffix
    if len(name) <= _MAX_NAME:
        return name
    digest = hashlib.sha256(base.encode()).hexdigest()[:8]
    return f"{base[: _MAX_NAME - len(suffix) - 9]}_{digest}{suffix}"


def _column(field: Field[Any, Any]) -> str:
    # Only fields without a column of their own (many-to-many, generic relations) have None.
    assert field.column is not None, field
    return field.column


def expected_keys() -> tuple[list[TenantKey], list[TenantForeignKey]]:
    """What the model graph asks for: the unique keys and the composite foreign keys."""
    models = tenant_models()
    tenant_tables = {m._meta.db_table for m in models}
    keys = {TenantKey(m._meta.db_table, _column(m._meta.pk)) for m in models}
    fks: set[TenantForeignKey] = set()
    for model in models:
        for field in model._meta.concrete_fields:
            # The concrete many-to-one and one-to-one relations (OneToOneField is a ForeignKey).
            if not isinstance(field, ForeignKey):
                continue
            # db_constraint is set by ForeignKey.__init__ but missing from the stubs' class.
            if not field.db_constraint or field.column == ORG_COLUMN:  # type: ignore[attr-defined]
                continue
            target = field.related_model._meta.db_table
            if target not in tenant_tables:
                continue
            fk = TenantForeignKey(
                model._meta.db_table, _column(field), target, _column(field.target_field)
            )
            fks.add(fk)
            keys.add(fk.key)  # a to_field target needs its own (organization_id, x) key
    return sorted(keys), sorted(fks)


# Every unique / primary key / foreign key constraint of the current schema, with its columns in
# order, so that the sync compares structure (a renamed table or column keeps its constraint).
_CONSTRAINTS_SQL = """
SELECT c.conname, c.contype, r.relname,
       ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i),
       f.relname,
       ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i),
       c.condeferrable, c.condeferred
FROM pg_constraint c
JOIN pg_class r ON r.oid = c.conrelid
JOIN pg_namespace n ON n.oid = r.relnamespace
LEFT JOIN pg_class f ON f.oid = c.confrelid
WHERE n.nspname = current_schema() AND c.contype IN ('p', 'u', 'f')
"""


@dataclass(frozen=True)
class DbConstraint:
    name: str
    kind: str  # p, u, f
    table: str
    columns: tuple[str, ...]
    target_table: str | None
    target_columns: tuple[str, ...]
    deferrable: bool
    deferred: bool


def db_constraints(cursor: Any) -> list[DbConstraint]:
    cursor.execute(_CONSTRAINTS_SQL)
    return [
        DbConstraint(n, k, t, tuple(cols), ft, tuple(fcols or ()), d, dd)
        for n, k, t, cols, ft, fcols, d, dd in cursor.fetchall()
    ]


def _present(
    constraints: list[DbConstraint],
) -> tuple[set[TenantKey], set[TenantForeignKey]]:
    keys = {
        TenantKey(c.table, c.columns[1])
        for c in constraints
        if c.kind in ("u", "p") and len(c.columns) == 2 and c.columns[0] == ORG_COLUMN
    }
    fks = {
        TenantForeignKey(c.table, c.columns[1], c.target_table or "", c.target_columns[1])
        for c in constraints
        if c.kind == "f"
        and len(c.columns) == 2
        and c.columns[0] == ORG_COLUMN
        and c.target_columns[:1] == (ORG_COLUMN,)
        and c.deferrable
        and c.deferred
    }
    return keys, fks


def missing_keys(using: str = "default") -> tuple[list[TenantKey], list[TenantForeignKey]]:
    keys, fks = expected_keys()
    with connections[using].cursor() as cursor:
        have_keys, have_fks = _present(db_constraints(cursor))
    return [k for k in keys if k not in have_keys], [f for f in fks if f not in have_fks]


def apply_composite_keys(using: str = "default") -> dict[str, list[str]]:
    """Create the missing unique keys and composite foreign keys, drop stale ones of ours.
    Idempotent; returns the names created and dropped."""
    keys, fks = expected_keys()
    wanted_fks = set(fks)
    wanted_keys = set(keys)
    created: list[str] = []
    dropped: list[str] = []
    with connections[using].cursor() as cursor:
        constraints = db_constraints(cursor)
        have_keys, have_fks = _present(constraints)
        # Stale twins first (a key may only be dropped once nothing references it).
        for c in constraints:
            if c.kind == "f" and c.name.endswith(FK_SUFFIX):
                fk = TenantForeignKey(
                    c.table, c.columns[-1], c.target_table or "", c.target_columns[-1]
                )
                if fk not in wanted_fks or not (c.deferrable and c.deferred):
                    _drop(cursor, c.table, c.name)
                    dropped.append(c.name)
                    have_fks.discard(fk)
        for c in constraints:
            if (
                c.kind == "u"
                and c.name.endswith(KEY_SUFFIX)
                and TenantKey(c.table, c.columns[-1]) not in wanted_keys
            ):
                _drop(cursor, c.table, c.name)
                dropped.append(c.name)
        for key in keys:
            if key not in have_keys:
                cursor.execute(
                    sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} UNIQUE ({}, {})")
                    .format(
                        sql.Identifier(key.table),
                        sql.Identifier(key.name),
                        sql.Identifier(ORG_COLUMN),
                        sql.Identifier(key.column),
                    )
                    .as_string()
                )
                created.append(key.name)
        for fk in fks:
            if fk not in have_fks:
                cursor.execute(
                    sql.SQL(
                        "ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}, {}) "
                        "REFERENCES {} ({}, {}) MATCH SIMPLE DEFERRABLE INITIALLY DEFERRED"
                    )
                    .format(
                        sql.Identifier(fk.table),
                        sql.Identifier(fk.name),
                        sql.Identifier(ORG_COLUMN),
                        sql.Identifier(fk.column),
                        sql.Identifier(fk.target_table),
                        sql.Identifier(ORG_COLUMN),
                        sql.Identifier(fk.target_column),
                    )
                    .as_string()
                )
                created.append(fk.name)
    return {"created": created, "dropped": dropped}


def _drop(cursor: Any, table: str, name: str) -> None:
    cursor.execute(
        sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}")
        .format(sql.Identifier(table), sql.Identifier(name))
        .as_string()
    )


def on_post_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    # Once per migrate run (the signal fires per app); crm is always installed.
    if getattr(sender, "label", None) == "crm":
        apply_composite_keys(using)
