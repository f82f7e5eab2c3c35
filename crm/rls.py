"""Row-level security, the second tenancy wall.

Every tenant table gets ``ENABLE`` and ``FORCE ROW LEVEL SECURITY`` and one policy::

    organization_id = NULLIF(current_setting('app.org_id', true), '')::bigint

No organization set -> no rows (and no writes). No ``OR`` in the policy: it would defeat the
index on ``organization_id``. The application connects as a role that owns no table and is
``NOSUPERUSER NOBYPASSRLS``; migrations run as the owner. ``crm.db`` keeps ``app.org_id`` equal
to the organization in scope.

The policies are (re)applied after every ``migrate`` (``post_migrate``), so a table added by any
later migration is covered without anyone remembering to; ``tests/crm/test_rls.py`` fails if a
tenant table lacks them.

Identity tables (``crm_user``, ``crm_apitoken``) carry the same policy, but ENABLE without FORCE.
They are read before any organization is known: sign-in by e-mail, the session's user by id, an
API token by its hash. Those reads go through three narrow ``SECURITY DEFINER`` functions that
return only the organization id (``meridian_user_org_by_email``, ``meridian_user_org_by_id``,
``meridian_token_org``); the application then puts that organization in scope and reads the row
normally, under the policy. A definer function runs as the tables' owner, and FORCE would bind
the owner too, so the function would see no row (no organization is set yet); a policy admitting
the owner instead would put an ``OR`` (or a second, per-role policy) on the hottest table of
sign-in for nothing. So these two tables are not forced: the owner (migrations, ``seed_demo``,
``createsuperuser``) reads them whole, the application role never. The functions pin
``search_path`` (``pg_catalog, pg_temp``, tables schema-qualified), EXECUTE is revoked from
PUBLIC and granted to the application role only.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connections
from django.db.models import Model
from psycopg import sql

POLICY = "tenant_isolation"
POLICY_EXPR = "organization_id = NULLIF(current_setting('app.org_id', true), '')::bigint"

# Identity tables, looked up before any organization is known (sign-in by e-mail, API token by
# hash): under the policy, not forced (see above); the look-ups go through LOOKUP_FUNCTIONS.
RLS_NOT_FORCED = frozenset({"crm.User", "crm.ApiToken"})

# name -> (argument, table label, column): ``SELECT organization_id FROM table WHERE column = $1``.
LOOKUP_FUNCTIONS = {
    "meridian_user_org_by_email": ("email text", "crm.User", "email"),
    "meridian_user_org_by_id": ("user_id bigint", "crm.User", "id"),
    "meridian_token_org": ("key_hash text", "crm.ApiToken", "key_hash"),
}


def _owned_by_organization(model: type[Model]) -> bool:
    field = next((f for f in model._meta.concrete_fields if f.name == "organization"), None)
    return field is not None and field.is_relation and field.related_model is _organization()


def _organization() -> type[Model]:
    return apps.get_model("crm", "Organization")


def tenant_models() -> list[type[Model]]:
    """Every table owned by an organization, whatever app defines it: the kernel names no app
    above it (tests/crm/test_tenancy.py checks that each project model is one or says why not)."""
    return [
        m
        for m in apps.get_models(include_auto_created=True)
        if _owned_by_organization(m) and not m._meta.proxy and m._meta.managed
    ]


def rls_tables() -> list[str]:
    return sorted(m._meta.db_table for m in tenant_models())


def forced_rls_tables() -> list[str]:
    return sorted(m._meta.db_table for m in tenant_models() if m._meta.label not in RLS_NOT_FORCED)


def app_role() -> str:
    return settings.DATABASE_APP_ROLE


def apply_row_level_security(using: str = "default") -> list[str]:
    """Enable, force and (re)create the tenant policy on every tenant table; grant the
    application role its rights. Idempotent. Returns the tables covered."""
    tables = rls_tables()
    forced = set(forced_rls_tables())
    with connections[using].cursor() as cursor:
        for table in tables:
            ident = sql.Identifier(table)
            cursor.execute(
                sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(ident).as_string()
            )
            force = "FORCE" if table in forced else "NO FORCE"
            cursor.execute(
                sql.SQL("ALTER TABLE {} {} ROW LEVEL SECURITY")
                .format(ident, sql.SQL(force))
                .as_string()
            )
            cursor.execute(
                sql.SQL("DROP POLICY IF EXISTS {} ON {}")
                .format(sql.Identifier(POLICY), ident)
                .as_string()
            )
            cursor.execute(
                sql.SQL("CREATE POLICY {} ON {} USING ({}) WITH CHECK ({})")
                .format(sql.Identifier(POLICY), ident, sql.SQL(POLICY_EXPR), sql.SQL(POLICY_EXPR))
                .as_string()
            )
        _create_lookup_functions(cursor)
        _grant_app_role(cursor)
    return tables


def _create_lookup_functions(cursor: Any) -> None:
    cursor.execute("SELECT current_schema()")
    (schema,) = cursor.fetchone()
    for name, (argument, label, column) in LOOKUP_FUNCTIONS.items():
        table = apps.get_model(label)._meta.db_table
        # STABLE and one indexed equality: the planner inlines nothing across the definer
        # boundary, and the caller learns an organization id or NULL, nothing else.
        cursor.execute(
            sql.SQL(
                "CREATE OR REPLACE FUNCTION {name}({argument}) RETURNS bigint "
                "LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp "
                "AS $$ SELECT organization_id FROM {schema}.{table} WHERE {column} = $1 $$"
            )
            .format(
                name=sql.Identifier(name),
                argument=sql.SQL(argument),
                schema=sql.Identifier(schema),
                table=sql.Identifier(table),
                column=sql.Identifier(column),
            )
            .as_string()
        )
        signature = sql.SQL("{}({})").format(sql.Identifier(name), sql.SQL(argument.split()[1]))
        cursor.execute(
            sql.SQL("REVOKE ALL ON FUNCTION {} FROM PUBLIC").format(signature).as_string()
        )


def _role_exists(cursor: Any, role: str) -> bool:
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
    return cursor.fetchone() is not None


def _grant_app_role(cursor: Any) -> None:
    role = app_role()
    if not role or not _role_exists(cursor, role):
        return
    ident = sql.Identifier(role)
    for statement in (
        "GRANT USAGE ON SCHEMA public TO {}",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}",
        "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {}",
    ):
        cursor.execute(sql.SQL(statement).format(ident).as_string())
    for name, (argument, _label, _column) in LOOKUP_FUNCTIONS.items():
        cursor.execute(
            sql.SQL("GRANT EXECUTE ON FUNCTION {}({}) TO {}")
            .format(sql.Identifier(name), sql.SQL(argument.split()[1]), ident)
            .as_string()
        )


def ensure_app_role(cursor: Any, role: str, password: str = "") -> None:
    """Create the application role if missing: it may log in, and nothing more."""
    if _role_exists(cursor, role):
        return
    statement = "CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
    query = sql.SQL(statement).format(sql.Identifier(role))
    if password:
        query = query + sql.SQL(" PASSWORD {}").format(sql.Literal(password))
    cursor.execute(query.as_string())


def on_post_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    # Once per migrate run (the signal fires per app); crm is always installed.
    if getattr(sender, "label", None) == "crm":
        apply_row_level_security(using)
