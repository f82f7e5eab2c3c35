"""The API token's look-up (crm.identity.token_for_key_hash): one statement that finds and sets
the token's organization, then the token, its user and organization as one compiled, prepared
statement. Against the ORM path it replaced, field by field; never across organizations, with
and without wall one's filter; two round trips whatever the connection had set before."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from crm.directory import hash_token
from crm.models import ApiToken
from tests.conftest import World
from tests.crm.test_rls import as_app_role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _fields(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def _orm_token(key_hash: str):
    """The previous path: the look-up function, then the ORM's select_related."""
    from crm.directory import _org_of
    from crm.scope import org_scope

    org_id = _org_of("meridian_token_org", key_hash)
    if org_id is None:
        return None
    with org_scope(org_id):
        return (
            ApiToken.objects.for_org(org_id)
            .select_related("user", "user__organization")
            .filter(key_hash=key_hash)
            .first()
        )


def _assert_same_token(loaded, expected) -> None:
    assert type(loaded) is type(expected)
    assert _fields(loaded) == _fields(expected)
    assert loaded._state.adding is False and loaded._state.db == expected._state.db
    user_field = ApiToken._meta.get_field("user")
    assert user_field.is_cached(loaded)
    user, expected_user = loaded.user, expected.user
    assert type(user) is type(expected_user) and _fields(user) == _fields(expected_user)
    assert user._state.adding is False
    org_field = type(user)._meta.get_field("organization")
    assert org_field.is_cached(user)
    assert _fields(user.organization) == _fields(expected_user.organization)
    assert user.organization._state.adding is False


def _issue(user, **changes):
    from crm.scope import org_scope
    from crm.services import api_token_issue

    token, key = api_token_issue(user=user)
    if changes:
        with org_scope(user.organization_id):
            ApiToken.objects.for_org(user.organization_id).filter(pk=token.pk).update(**changes)
    return key


@pytest.mark.parametrize(
    "who, changes",
    [
        ("rep_se", {}),
        ("director", {"last_used_at": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)}),
        ("other_rep", {}),
        ("rep_se", {"revoked_at": dt.datetime(2026, 1, 2, tzinfo=dt.UTC)}),
        ("rep_se", {"expires_at": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)}),
        ("inactive", {}),
    ],
)
def test_the_compiled_token_equals_the_orm_path(world: World, who: str, changes: dict) -> None:
    from crm.identity import token_for_key_hash

    if who == "other_rep":
        user = UserFactory(organization=world.other_org, sales_company=world.other_company)
    elif who == "inactive":
        user = UserFactory(organization=world.org, is_active=False)
    else:
        user = getattr(world, who)
    key_hash = hash_token(_issue(user, **changes))
    expected = _orm_token(key_hash)
    assert expected is not None and expected.user_id == user.pk
    with CaptureQueriesContext(connection) as queries:
        loaded = token_for_key_hash(key_hash)
        # The user and its organization come with it: reading them asks nothing more.
        assert loaded.user.organization.pk == user.organization_id
    assert len(queries.captured_queries) == 2
    _assert_same_token(loaded, expected)


def test_an_unknown_hash_finds_nothing_and_clears_the_setting(world: World) -> None:
    from crm.identity import token_for_key_hash
    from crm.scope import org_scope

    key_hash = hash_token(_issue(world.rep_se))
    assert token_for_key_hash(key_hash) is not None
    # The connection holds the organization now; an unknown hash empties it again.
    for unknown in ["0" * 64, hash_token("no such key"), ""]:
        assert token_for_key_hash(unknown) is None
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('app.org_id', true)")
            assert cursor.fetchone() == ("",)
    # The next statement inside a scope sets the organization again, as always.
    with org_scope(world.org.pk):
        assert ApiToken.objects.for_org(world.org.pk).filter(key_hash=key_hash).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("orm_filter", [True, False])
def test_tokens_of_two_organizations_on_one_connection(world: World, orm_filter: bool) -> None:
    """Tokens of two organizations take turns on one connection, as the application role (row
    level security; wall one's filter on and off): each finds its own user, never the other's,
    whatever the connection had set by the previous look-up."""
    from crm.identity import _TOKEN, token_for_key_hash
    from crm.scope import org_scope

    other = UserFactory(organization=world.other_org, sales_company=world.other_company)
    mine, theirs = hash_token(_issue(world.rep_se)), hash_token(_issue(other))
    with as_app_role(orm_filter=orm_filter):
        for key_hash, user in [(mine, world.rep_se), (theirs, other)] * 2:
            token = token_for_key_hash(key_hash)
            assert token.user.pk == user.pk
            assert token.organization_id == token.user.organization_id == user.organization_id
            assert token.user.organization.pk == user.organization_id
        # The compiled statement asked with the other organization's hash finds nothing.
        for key_hash, org in [(mine, world.other_org), (theirs, world.org)]:
            with org_scope(org.pk):
                assert _TOKEN.objects(organization_id=org.pk, key_hash=key_hash) == []


def test_no_set_config_round_trip_around_the_look_up(world: World) -> None:
    """Whatever organization the connection had set, a token's look-up is two statements and
    no ``set_config`` of the backend's own: the first statement sets the organization found."""
    from crm.identity import token_for_key_hash
    from crm.scope import org_scope

    other = UserFactory(organization=world.other_org, sales_company=world.other_company)
    mine, theirs = hash_token(_issue(world.rep_se)), hash_token(_issue(other))
    token_for_key_hash(mine)  # prepared on this connection
    token_for_key_hash(theirs)
    for key_hash, before in [(mine, world.other_org), (theirs, world.other_org), (mine, None)]:
        if before is None:
            token_for_key_hash("0" * 64)  # the empty setting
        else:
            with org_scope(before.pk):
                ApiToken.objects.for_org(before.pk).exists()
        side = mock.patch.object(connection, "_side_statement", wraps=connection._side_statement)
        with side as spied, CaptureQueriesContext(connection) as queries:
            token = token_for_key_hash(key_hash)
        assert token.key_hash == key_hash
        assert spied.call_count == 0
        assert len(queries.captured_queries) == 2


def test_a_failed_look_up_forgets_the_setting(world: World) -> None:
    """If the statement that sets the organization fails, the backend does not trust what it
    had set: the next statement in a scope sets it again."""
    from crm.db import base
    from crm.identity import token_for_key_hash
    from crm.scope import org_scope

    key_hash = hash_token(_issue(world.rep_se))
    with org_scope(world.org.pk):
        ApiToken.objects.for_org(world.org.pk).exists()
    with (
        mock.patch.object(connection, "execute_prepared", side_effect=RuntimeError("network")),
        pytest.raises(RuntimeError),
    ):
        token_for_key_hash(key_hash)
    assert connection._app_org is base._UNKNOWN
    assert connection._org_set_by_statement is False
    # The next look-up works as ever.
    assert token_for_key_hash(key_hash).user.pk == world.rep_se.pk


def test_a_token_signed_call_finds_and_sets_its_organization_in_one_statement(world: World) -> None:
    """A served API call asks the look-up function only through the statement that also sets
    the organization (first), never on its own."""
    key = _issue(world.rep_se, last_used_at=timezone.now())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/regions/")
    assert response.status_code == 200
    sqls = [q["sql"] for q in queries.captured_queries]
    assert "meridian_set_token_org" in sqls[0]
    assert not any("meridian_token_org" in sql and "set_config" not in sql for sql in sqls)


def test_the_look_up_works_inside_a_history_context(world: World) -> None:
    """django-pghistory's labeller prefixes a statement that is not a SELECT (an ``EXECUTE``)
    with its own ``set_config``s on a write request: the look-up still reads its own answer."""
    import pghistory

    from crm.identity import token_for_key_hash

    key_hash = hash_token(_issue(world.rep_se))
    with pghistory.context(source="test"):
        for _ in range(2):
            token = token_for_key_hash(key_hash)
            assert token.user.pk == world.rep_se.pk
            assert token.organization_id == world.org.pk
        assert token_for_key_hash("0" * 64) is None
