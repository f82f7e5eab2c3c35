"""The session's user is loaded inside the organization remembered at sign-in."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.db.compiled import statement_sql
from crm.identity import SESSION_ORG_KEY


def test_sign_in_remembers_the_organization_and_skips_the_lookup_function(client, world):
    client.force_login(world.rep_se)
    assert client.session[SESSION_ORG_KEY] == world.org.pk
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("home"))
    assert response.status_code == 200
    assert response.wsgi_request.user == world.rep_se
    assert not any("meridian_user_org_by_id" in q["sql"] for q in queries.captured_queries)


def test_a_wrong_organization_in_the_session_finds_no_user(client, world):
    client.force_login(world.rep_se)
    session = client.session
    session[SESSION_ORG_KEY] = world.other_org.pk
    session.save()
    response = client.get(reverse("home"))
    assert response.status_code == 302  # signed out: to the sign-in page
    assert not response.wsgi_request.user.is_authenticated


def test_a_session_without_the_hint_still_finds_its_user(client, world):
    client.force_login(world.rep_se)
    session = client.session
    del session[SESSION_ORG_KEY]
    session.save()
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert response.wsgi_request.user == world.rep_se


def _company_queries(queries: CaptureQueriesContext) -> list[str]:
    # The user's company fetched on its own (the foreign key's look-up: by id, LIMIT 21), not
    # joined into the user's query; the page's own lists of companies do not count.
    own = 'SELECT "crm_salescompany"'
    return [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith(own) and q["sql"].endswith("LIMIT 21")
    ]


def test_the_session_user_brings_its_sales_company_for_language_and_zone(client, world):
    type(world.se).objects.for_org(world.org).filter(pk=world.se.pk).update(
        language="sv", timezone="Europe/Stockholm"
    )
    client.force_login(world.rep_se)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("home"))
    assert response.status_code == 200
    # The language and zone come from the company joined into the user's query.
    assert response["Content-Language"] == "sv"
    assert _company_queries(queries) == []
    user = response.wsgi_request.user
    assert user.sales_company.pk == world.se.pk and user.effective_timezone == "Europe/Stockholm"


def test_two_users_of_two_organizations_on_one_client_get_their_own_company(client, world):
    """The joined company is the request's user's, never a previous request's: two users of two
    organizations take turns on one client (one thread, one connection)."""
    from tests.factories import UserFactory

    type(world.se).objects.for_org(world.org).filter(pk=world.se.pk).update(language="sv")
    other_company = world.other_company
    type(other_company).objects.for_org(world.other_org).filter(pk=other_company.pk).update(
        language="de", timezone="Europe/Berlin"
    )
    other = UserFactory(organization=world.other_org, sales_company=other_company)
    for user, language, company, org in [
        (world.rep_se, "sv", world.se, world.org),
        (other, "de", other_company, world.other_org),
        (world.rep_se, "sv", world.se, world.org),
        (other, "de", other_company, world.other_org),
    ]:
        client.force_login(user)
        response = client.get("/api/v1/users/")
        assert response.status_code == 200
        assert response["Content-Language"] == language
        loaded = response.wsgi_request.user
        assert loaded.pk == user.pk and loaded.organization_id == org.pk
        assert loaded.sales_company.pk == company.pk
        assert loaded.sales_company.organization_id == org.pk
        # The list is the user's organization's only.
        ids = {row["id"] for row in response.json()["results"]}
        assert user.pk in ids
        assert ids.isdisjoint(
            type(user)
            .objects.for_org(world.other_org if org == world.org else world.org)
            .values_list("pk", flat=True)
        )


# The session's user through the compiled statement (crm.identity.load_session_user) against
# the ORM path it replaced (select_related of the company), field by field.


def _fields(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def _orm_user(user_pk: int, org_id: int):
    from crm.models import User
    from crm.scope import org_scope

    with org_scope(org_id):
        return (
            User.objects.for_org(org_id).select_related("sales_company").filter(pk=user_pk).first()
        )


def _assert_same_user(loaded, expected) -> None:
    assert type(loaded) is type(expected)
    assert _fields(loaded) == _fields(expected)
    assert loaded._state.adding is False and loaded._state.db == expected._state.db
    # The company is cached as select_related leaves it (None when the user has none).
    cache = type(loaded)._meta.get_field("sales_company")
    assert cache.is_cached(loaded)
    if expected.sales_company is None:
        assert loaded.sales_company is None
    else:
        assert _fields(loaded.sales_company) == _fields(expected.sales_company)
        assert loaded.sales_company._state.adding is False


@pytest.mark.parametrize("who", ["rep_se", "director", "other_rep"])
def test_the_compiled_session_user_equals_the_orm_path(world, django_assert_num_queries, who):
    from crm.identity import load_session_user
    from crm.scope import org_scope
    from tests.factories import UserFactory

    if who == "other_rep":
        user = UserFactory(organization=world.other_org, sales_company=world.other_company)
    else:
        user = getattr(world, who)
    org_id = user.organization_id
    expected = _orm_user(user.pk, org_id)
    with org_scope(org_id), django_assert_num_queries(1):
        loaded = load_session_user(org_id, user.pk)
        # The company is loaded: reading it asks nothing more.
        company = loaded.sales_company
    assert (company is None) == (who == "director")
    _assert_same_user(loaded, expected)


def test_the_compiled_session_user_never_crosses_organizations(world):
    """Another organization's id finds no user; asking outside the scope is refused as the
    tenant managers refuse it."""
    from crm.identity import load_session_user
    from crm.scope import OrganizationScopeError, org_scope

    with org_scope(world.other_org.pk):
        assert load_session_user(world.other_org.pk, world.rep_se.pk) is None
        with pytest.raises(OrganizationScopeError):
            load_session_user(world.org.pk, world.rep_se.pk)
    with org_scope(world.org.pk):
        assert load_session_user(world.org.pk, 2**62) is None


def test_the_scoped_and_unscoped_branches_load_the_same_user(world):
    from crm.identity import OrgModelBackend
    from crm.scope import org_scope

    backend = OrgModelBackend()
    expected = _orm_user(world.rep_se.pk, world.org.pk)
    with org_scope(world.org.pk):
        scoped = backend.get_user(world.rep_se.pk)
    unscoped = backend.get_user(str(world.rep_se.pk))  # the session keeps the id as text
    _assert_same_user(scoped, expected)
    _assert_same_user(unscoped, expected)
    # Ids no user has, or that are no id at all, find nobody on either branch.
    for bad in ["x", "", None, 2**63, -1, "1e3"]:
        assert backend.get_user(bad) is None
        with org_scope(world.org.pk):
            assert backend.get_user(bad) is None


def test_a_deactivated_user_is_signed_out_on_the_next_request(client, world):
    client.force_login(world.rep_se)
    assert client.get(reverse("home")).status_code == 200
    assert client.get("/api/v1/regions/").status_code == 200
    type(world.rep_se).objects.for_org(world.org).filter(pk=world.rep_se.pk).update(is_active=False)
    from crm.identity import OrgModelBackend
    from crm.scope import org_scope

    with org_scope(world.org.pk):
        assert OrgModelBackend().get_user(world.rep_se.pk) is None
    response = client.get(reverse("home"))
    assert response.status_code == 302 and not response.wsgi_request.user.is_authenticated
    assert client.get("/api/v1/regions/").status_code in (401, 403)


def test_an_idle_session_is_signed_out_with_the_compiled_user(client, world, settings):
    import time

    from crm.middleware import SessionIdleTimeoutMiddleware

    settings.SESSION_IDLE_TIMEOUT_SECONDS = 3600
    client.force_login(world.rep_se)
    assert client.get("/api/v1/regions/").status_code == 200
    session = client.session
    session[SessionIdleTimeoutMiddleware.KEY] = int(time.time()) - 3601
    session.save()
    response = client.get(reverse("home"))
    assert response.status_code == 302 and not response.wsgi_request.user.is_authenticated
    assert "_auth_user_id" not in client.session


def test_the_session_user_is_one_statement_in_every_zone(client, world, settings):
    """The compiled statement is kept per current time zone (crm.db.compiled): a request of a
    user in another zone than the previous one's still loads its own user in one statement."""
    type(world.rep_se).objects.for_org(world.org).filter(pk=world.rep_se.pk).update(
        timezone="Asia/Kolkata", language="de"
    )
    for user, zone in [
        (world.rep_se, "Asia/Kolkata"),
        (world.director, None),
        (world.rep_se, "Asia/Kolkata"),
    ]:
        client.force_login(user)
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/api/v1/regions/")
        assert response.status_code == 200
        loaded = response.wsgi_request.user
        assert loaded.pk == user.pk
        if zone is not None:
            assert loaded.effective_timezone == zone and response["Content-Language"] == "de"
        user_statements = [
            q["sql"] for q in queries.captured_queries if "crm_user" in statement_sql(q["sql"])
        ]
        assert len(user_statements) == 1, user_statements
