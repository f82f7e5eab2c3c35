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
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connections
from django.db.models import Model
from psycopg import sql

PROJECT_APPS = ("crm", "accounts", "pipeline", "opportunities", "reporting")
POLICY = "tenant_isolation"
POLICY_EXPR = "organization_id = NULLIF(current_setting('app.org_id', true), '')::bigint"

# Identity tables, looked up before any organization is known (sign-in by e-mail, API token by
# hash). They stay behind wall one only: every listing of them is org-scoped in the ORM.
RLS_EXEMPT = frozenset({"crm.User", "crm.ApiToken"})


def tenant_models() -> list[type[Model]]:
    return [
        m
        for m in apps.get_models(include_auto_created=True)
        if m._meta.app_label in PROJECT_APPS
        and m._meta.label != "crm.Organization"
        and not m._meta.proxy
        and m._meta.managed
    ]


def rls_tables() -> list[str]:
    return sorted(m._meta.db_table for m in tenant_models() if m._meta.label not in RLS_EXEMPT)


def app_role() -> str:
    return settings.DATABASE_APP_ROLE


def apply_row_level_security(using: str = "default") -> list[str]:
    """Enable, force and (re)create the tenant policy on every tenant table; grant the
    application role its rights. Idempotent. Returns the tables covered."""
    tables = rls_tables()
    with connections[using].cursor() as cursor:
        for table in tables:
            ident = sql.Identifier(table)
            cursor.execute(
                sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(ident).as_string()
            )
            cursor.execute(
                sql.SQL("ALTER TABLE {} FORCE ROW LEVEL SECURITY").format(ident).as_string()
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
        _grant_app_role(cursor)
    return tables


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
