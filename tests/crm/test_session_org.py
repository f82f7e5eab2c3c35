"""The session's user is loaded inside the organization remembered at sign-in."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

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
