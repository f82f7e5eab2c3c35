"""Wall two: PostgreSQL row-level security holds on its own.

The test suite normally connects as the owner (it creates the test database). These tests
connect as the application role, which owns nothing and is NOSUPERUSER NOBYPASSRLS, and switch
off wall one's SQL filter: whatever still keeps another organization's rows out is RLS.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from django.conf import settings
from django.db import connection, connections
from django.test import Client
from rest_framework.test import APIClient

from crm.api_urls import router
from crm.rls import RLS_EXEMPT, ensure_app_role, rls_tables, tenant_models
from tests.api.makers import MAKERS
from tests.conftest import World

pytestmark = pytest.mark.django_db(transaction=True)

ROUTES = [(prefix, viewset) for prefix, viewset, _basename in router.registry]


def _grant_app_role() -> str:
    from crm.rls import apply_row_level_security

    role = settings.DATABASE_APP_ROLE
    with connection.cursor() as cursor:
        ensure_app_role(cursor, role)
    apply_row_level_security()
    return role


@contextmanager
def as_app_role(*, orm_filter: bool) -> Iterator[None]:
    """Run the application as the application role, optionally without wall one's filter."""
    role = _grant_app_role()
    default = connections["default"]
    saved = dict(default.settings_dict)
    default.close()
    default.settings_dict.update(USER=role, PASSWORD="")
    old = getattr(settings, "MERIDIAN_ORM_TENANT_FILTER", True)
    settings.MERIDIAN_ORM_TENANT_FILTER = orm_filter
    try:
        with default.cursor() as cursor:
            cursor.execute(
                "SELECT current_user, usesuper FROM pg_user WHERE usename = current_user"
            )
            user, superuser = cursor.fetchone()
        assert (user, superuser) == (role, False)
        yield
    finally:
        settings.MERIDIAN_ORM_TENANT_FILTER = old
        default.close()
        default.settings_dict.clear()
        default.settings_dict.update(saved)


def test_every_tenant_table_has_forced_rls_and_the_policy() -> None:
    exempt = {m._meta.label for m in tenant_models()} - {
        m._meta.label for m in tenant_models() if m._meta.db_table in rls_tables()
    }
    assert exempt == set(RLS_EXEMPT)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, p.qual, p.with_check "
            "FROM pg_class c LEFT JOIN pg_policies p "
            "ON p.tablename = c.relname AND p.policyname = 'tenant_isolation' "
            "WHERE c.relname = ANY(%s)",
            [rls_tables()],
        )
        rows = {r[0]: r[1:] for r in cursor.fetchall()}
    assert set(rows) == set(rls_tables())
    for table, (enabled, forced, qual, check) in rows.items():
        assert enabled and forced, table
        assert qual and "current_setting('app.org_id'" in qual and " OR " not in qual, table
        assert check == qual, table


def test_raw_sql_as_the_app_role_sees_nothing_without_an_organization(world: World) -> None:
    role = _grant_app_role()
    s = connection.settings_dict
    with psycopg.connect(
        host=s["HOST"] or None, port=s["PORT"] or None, dbname=s["NAME"], user=role
    ) as conn:
        cur = conn.cursor()
        cur.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert cur.fetchone() == (False, False)
        cur.execute("SELECT count(*) FROM crm_salescompany")
        assert cur.fetchone() == (0,)
        cur.execute("SELECT set_config('app.org_id', %s, false)", [str(world.org.pk)])
        cur.execute("SELECT DISTINCT organization_id FROM crm_salescompany")
        assert cur.fetchall() == [(world.org.pk,)]
        # Writing a row of another organization is refused by the policy's WITH CHECK.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            cur.execute(
                "INSERT INTO crm_region (organization_id, name) VALUES (%s, 'Sneaky')",
                [world.other_org.pk],
            )
        conn.rollback()
        # Nor may the application role switch RLS off: it owns no table.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            cur.execute("ALTER TABLE crm_region DISABLE ROW LEVEL SECURITY")


@pytest.mark.parametrize(("prefix", "viewset"), ROUTES, ids=[p for p, _ in ROUTES])
def test_api_isolation_holds_with_rls_alone(prefix: str, viewset: type, world: World) -> None:
    made = MAKERS[viewset.model._meta.label](world)
    url = f"/api/v1/{prefix}/{made.obj.pk}/"
    with as_app_role(orm_filter=False):
        stranger = APIClient()
        stranger.force_authenticate(world.stranger)
        assert stranger.get(url).status_code == 404
        listed = stranger.get(f"/api/v1/{prefix}/", {"page_size": 200})
        assert listed.status_code == 200
        assert made.obj.pk not in {row["id"] for row in listed.json()["results"]}
        # The owner's side still works under RLS: the app is usable as the app role.
        insider = APIClient()
        insider.force_authenticate(world.director)
        assert insider.get(url).status_code == 200


def test_pages_hold_with_rls_alone(world: World) -> None:
    with as_app_role(orm_filter=False):
        client = Client()
        client.force_login(world.stranger)
        html = client.get("/").content.decode()
        assert "Tellus SE" in html and "Nordvik SE" not in html
        client.force_login(
            world.other_org_admin if hasattr(world, "other_org_admin") else world.admin
        )
        listing = client.get("/admin/crm/salescompany/")
        names = {c.name for c in listing.context["cl"].result_list}
        assert "Tellus SE" not in names and "Nordvik SE" in names
