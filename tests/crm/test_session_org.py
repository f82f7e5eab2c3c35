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
