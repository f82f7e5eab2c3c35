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
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.test import Client
from rest_framework.test import APIClient

from crm.directory import hash_token
from crm.rls import (
    LOOKUP_FUNCTIONS,
    RLS_NOT_FORCED,
    ensure_app_role,
    forced_rls_tables,
    rls_tables,
    tenant_models,
)
from crm.roles import Role
from crm.services import api_token_issue
from meridian.api_urls import router
from tests.api.makers import MAKERS
from tests.api.test_isolation import ROLE_GATED
from tests.conftest import World
from tests.factories import PASSWORD, UserFactory

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


def test_every_tenant_table_has_rls_and_the_policy() -> None:
    # Every tenant table, identity tables included; all forced but the identity tables, whose
    # look-up functions run as the owner (crm.rls).
    assert set(rls_tables()) == {m._meta.db_table for m in tenant_models()}
    not_forced = {m._meta.label for m in tenant_models()} - {
        m._meta.label for m in tenant_models() if m._meta.db_table in forced_rls_tables()
    }
    assert not_forced == set(RLS_NOT_FORCED) == {"crm.User", "crm.ApiToken"}
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
        assert enabled, table
        assert forced == (table in forced_rls_tables()), table
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
    outsider = world.stranger
    if prefix in ROLE_GATED:
        # Sellers may not use the endpoint at all (403 before any row is read): the stranger
        # here is the other organization's manager, who may, so RLS is what stops them.
        outsider = UserFactory(
            organization=world.other_org,
            role=Role.COUNTRY_MANAGER,
            sales_company=world.other_company,
        )
    with as_app_role(orm_filter=False):
        stranger = APIClient()
        stranger.force_authenticate(outsider)
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


def test_the_compiled_list_page_holds_with_rls_alone(world: World) -> None:
    """The list page's rows and count are compiled statements (opportunities.list_query),
    prepared once per connection and shared by every rep: without wall one's filter their SQL
    names no organization, and RLS alone keeps each organization's deals to its own users,
    taking turns on one connection."""
    from opportunities.models import Opportunity
    from tests.opportunities.factories import OpportunityFactory, account_for

    ours = {OpportunityFactory(account=account_for(world.se), owner=world.rep_se).pk for _ in "ab"}
    theirs = {
        OpportunityFactory(account=account_for(world.other_company), owner=world.stranger).pk
        for _ in "abc"
    }
    assert Opportunity.objects.unscoped().count() == 5
    with as_app_role(orm_filter=False):
        client = Client()
        for user, expected in [(world.rep_se, ours), (world.stranger, theirs)] * 2:
            client.force_login(user)
            page = client.get("/opportunities/", {"status": "all"}).context["page"]
            assert {row.id for row in page.object_list} == expected
            assert page.paginator.count == len(expected)


def _app_connection() -> psycopg.Connection:
    role = _grant_app_role()
    s = connection.settings_dict
    return psycopg.connect(
        host=s["HOST"] or None, port=s["PORT"] or None, dbname=s["NAME"], user=role
    )


def test_the_app_role_reads_no_other_organizations_users_or_tokens(world: World) -> None:
    _mine_row, mine = api_token_issue(user=world.rep_se)
    _their_row, theirs = api_token_issue(user=world.stranger)
    with _app_connection() as conn:
        cur = conn.cursor()
        # No organization set: no user and no token at all.
        for table in ("crm_user", "crm_apitoken"):
            cur.execute(f"SELECT count(*) FROM {table}")
            assert cur.fetchone() == (0,), table
        cur.execute("SELECT id FROM crm_user WHERE email = %s", [world.rep_se.email])
        assert cur.fetchall() == []
        # Organization A set: A's rows only, however the query asks.
        cur.execute("SELECT set_config('app.org_id', %s, false)", [str(world.org.pk)])
        cur.execute("SELECT DISTINCT organization_id FROM crm_user")
        assert cur.fetchall() == [(world.org.pk,)]
        cur.execute("SELECT id FROM crm_user WHERE email = %s", [world.stranger.email])
        assert cur.fetchall() == []
        cur.execute("SELECT DISTINCT organization_id FROM crm_apitoken")
        assert cur.fetchall() == [(world.org.pk,)]
        cur.execute("SELECT count(*) FROM crm_apitoken WHERE key_hash = %s", [hash_token(theirs)])
        assert cur.fetchone() == (0,)
        cur.execute("SELECT count(*) FROM crm_apitoken WHERE key_hash = %s", [hash_token(mine)])
        assert cur.fetchone() == (1,)
        # Nor can it move a user of its own organization into another one.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            cur.execute(
                "UPDATE crm_user SET organization_id = %s WHERE id = %s",
                [world.other_org.pk, world.rep_se.pk],
            )
        conn.rollback()
        # The look-up functions tell the organization and nothing else.
        cur.execute("SELECT set_config('app.org_id', '', false)")
        cur.execute("SELECT meridian_user_org_by_email(%s)", [world.stranger.email])
        assert cur.fetchone() == (world.other_org.pk,)
        cur.execute("SELECT meridian_user_org_by_id(%s)", [world.rep_se.pk])
        assert cur.fetchone() == (world.org.pk,)
        cur.execute("SELECT meridian_token_org(%s)", [hash_token(theirs)])
        assert cur.fetchone() == (world.other_org.pk,)
        cur.execute("SELECT meridian_user_org_by_email('nobody@example.test')")
        assert cur.fetchone() == (None,)


def test_lookup_functions_are_narrow_definers(world: World) -> None:
    role = _grant_app_role()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.proname, p.prosecdef, p.provolatile, p.proconfig, "
            "pg_get_function_result(p.oid), "
            "has_function_privilege(%s, p.oid, 'EXECUTE'), "
            "coalesce(array_to_string(p.proacl, ','), '') "
            "FROM pg_proc p WHERE p.proname = ANY(%s)",
            [role, list(LOOKUP_FUNCTIONS)],
        )
        rows = {r[0]: r[1:] for r in cursor.fetchall()}
    assert set(rows) == set(LOOKUP_FUNCTIONS)
    for name, (definer, volatility, config, result, app_may, acl) in rows.items():
        assert definer and volatility == "s" and result == "bigint", name
        assert config == ["search_path=pg_catalog, pg_temp"], name
        assert app_may, name
        # Revoked from PUBLIC: no "=X/owner" entry (PUBLIC's grants have an empty grantee).
        assert not any(entry.startswith("=") for entry in acl.split(",") if entry), name


def test_sign_in_page_token_and_session_work_as_the_app_role(world: World) -> None:
    with as_app_role(orm_filter=False):
        client = Client()
        response = client.post("/login/", {"username": world.rep_se.email, "password": PASSWORD})
        assert response.status_code == 302, response.content[:500]
        # The session's user is loaded through the id look-up, then in its organization.
        home = client.get("/")
        assert home.status_code == 200
        assert home.context["user"].pk == world.rep_se.pk
        html = home.content.decode()
        assert "Nordvik SE" in html and "Tellus SE" not in html
        wrong = Client().post("/login/", {"username": world.rep_se.email, "password": "nope"})
        assert wrong.status_code == 200 and not wrong.context["user"].is_authenticated
        unknown = Client().post("/login/", {"username": "nobody@example.test", "password": "x"})
        assert unknown.status_code == 200

        api = APIClient()
        minted = api.post(
            "/api/v1/auth/token/",
            {"email": world.stranger.email, "password": PASSWORD},
            format="json",
        )
        assert minted.status_code == 200, minted.content
        api.credentials(HTTP_AUTHORIZATION=f"Token {minted.json()['token']}")
        listed = api.get("/api/v1/sales-companies/")
        assert listed.status_code == 200
        assert {row["name"] for row in listed.json()["results"]} == {"Tellus SE"}
        assert (
            APIClient(HTTP_AUTHORIZATION="Token not-a-token")
            .get("/api/v1/sales-companies/")
            .status_code
            == 401
        )
    world.stranger.refresh_from_db()
    assert world.stranger.last_login is None  # the token endpoint does not "log in"
    world.rep_se.refresh_from_db()
    assert world.rep_se.last_login is not None  # written in the user's own organization


def test_an_address_of_another_organization_is_refused_as_the_app_role(world: World) -> None:
    from django.core.exceptions import PermissionDenied

    from crm.services import user_ensure
    from crm.tenancy import org_scope

    with as_app_role(orm_filter=False), org_scope(world.org):
        with pytest.raises(PermissionDenied, match="another organization"):
            user_ensure(
                organization=world.org,
                email=world.stranger.email,
                full_name="Copycat",
                role="sales_rep",
                password="x-long-enough-1",
                acting_user=world.admin,
                sales_company=world.se,
            )
        clash = type(world.admin)(
            organization=world.org, email=world.stranger.email, full_name="Copycat"
        )
        with pytest.raises(ValidationError) as error:
            clash.validate_unique()
        assert "email" in error.value.message_dict


def test_lookups_answer_none_for_bad_input(world: World) -> None:
    from crm.directory import org_of_email, org_of_user_id
    from crm.identity import OrgModelBackend, token_for_key_hash

    assert org_of_email("rep\x00@example.test") is None
    assert org_of_user_id("²") is None and org_of_user_id("99999999999999999999") is None
    assert org_of_user_id(str(world.rep_se.pk)) == world.org.pk
    assert token_for_key_hash("0" * 64) is None
    backend = OrgModelBackend()
    assert backend.get_user("not-an-id") is None
    assert backend.get_user(world.stranger.pk) == world.stranger
    assert backend.authenticate(None, username=world.stranger.email, password=PASSWORD) == (
        world.stranger
    )


def test_the_360_api_works_as_the_app_role(world: World) -> None:
    """The 360° is an APIView beside the router (opportunities.customer_api): it must put the
    user's organization in scope like the viewsets, or RLS hides every row (the bench saw 404)."""
    from tests.accounts.factories import make_account

    top = make_account(organization=world.org, home_company=world.se, name="Scoped Group AB")
    with as_app_role(orm_filter=False):
        insider = APIClient()
        insider.force_authenticate(world.director)
        answer = insider.get(f"/api/v1/accounts/{top.pk}/360/")
        assert answer.status_code == 200, answer.content
        assert answer.json()["group"]["name"] == "Scoped Group AB"
        outsider = APIClient()
        outsider.force_authenticate(world.stranger)
        assert outsider.get(f"/api/v1/accounts/{top.pk}/360/").status_code == 404
