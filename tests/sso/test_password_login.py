"""Password sign-in switched off per organization: its people are sent to single sign-on, its
global admins keep their password (to repair the set-up), other organizations are untouched."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import translation
from django.utils.translation import gettext

from tests.conftest import World
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def sso_only(world: World) -> World:
    world.org.password_login = False
    world.org.save(update_fields=["password_login"])
    return world


def _login(client: Client, email: str, password: str = PASSWORD) -> object:
    return client.post("/login/", {"username": email, "password": password})


def test_a_right_password_of_an_sso_only_organization_is_refused_with_a_clear_message(
    client: Client, sso_only: World
) -> None:
    answer = _login(client, sso_only.rep_se.email)
    assert answer.status_code == 200  # the form again, with its error
    assert "_auth_user_id" not in client.session
    form = answer.context["form"]
    assert [e.code for e in form.non_field_errors().as_data()] == ["password_login_off"]
    with translation.override(answer.wsgi_request.LANGUAGE_CODE):
        expected = gettext(
            "%(organization)s signs in with single sign-on only: use “Sign in with your "
            "organization” below."
        ) % {"organization": "Nordvik"}
    html = answer.content.decode()
    assert expected in html
    # The page links to the organization's single sign-on page.
    assert f'href="/sso/{sso_only.org.slug}/"' in html


def test_a_wrong_password_says_nothing_about_single_sign_on(
    client: Client, sso_only: World
) -> None:
    answer = _login(client, sso_only.rep_se.email, "wrong-password")
    form = answer.context["form"]
    assert [e.code for e in form.non_field_errors().as_data()] == ["invalid_login"]
    assert f"/sso/{sso_only.org.slug}/" not in answer.content.decode()


def test_the_global_admin_of_an_sso_only_organization_still_signs_in_with_a_password(
    client: Client, sso_only: World
) -> None:
    answer = _login(client, sso_only.admin.email)
    assert answer.status_code == 302
    assert int(client.session["_auth_user_id"]) == sso_only.admin.pk


def test_another_organizations_people_still_sign_in_with_a_password(
    client: Client, sso_only: World
) -> None:
    answer = _login(client, sso_only.stranger.email)
    assert answer.status_code == 302
    assert int(client.session["_auth_user_id"]) == sso_only.stranger.pk


def test_the_api_token_exchange_is_refused_too(client: Client, sso_only: World) -> None:
    refused = client.post(
        "/api/v1/auth/token/",
        {"email": sso_only.rep_se.email, "password": PASSWORD},
        content_type="application/json",
    )
    assert refused.status_code == 400
    assert "token" not in refused.json()
    allowed = client.post(
        "/api/v1/auth/token/",
        {"email": sso_only.stranger.email, "password": PASSWORD},
        content_type="application/json",
    )
    assert allowed.status_code == 200
    assert allowed.json()["token"]


def test_switched_on_again_the_password_works(client: Client, sso_only: World) -> None:
    sso_only.org.password_login = True
    sso_only.org.save(update_fields=["password_login"])
    assert _login(client, sso_only.rep_se.email).status_code == 302
