"""The profile's API tokens (list, create with the key shown once, revoke after confirmation)
and the password change page (issue 15, hole 5)."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from crm.models import ApiToken
from crm.services import api_token_issue
from tests.conftest import World
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a much longer passphrase 2026"


def signed_in(user: object) -> Client:
    client = Client()
    client.force_login(user)
    return client


def works(key: str) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/v1/regions/").status_code == 200


def test_profile_lists_own_tokens_only(world: World) -> None:
    api_token_issue(user=world.rep_se, name="Nightly export")
    api_token_issue(user=world.rep_dk, name="Colleague script")
    api_token_issue(user=world.stranger, name="Stranger script")
    response = signed_in(world.rep_se).get("/profile/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Nightly export" in page
    assert "Colleague script" not in page and "Stranger script" not in page
    assert "/profile/password/" in page


def test_create_token_shows_the_key_once(world: World) -> None:
    client = signed_in(world.rep_se)
    response = client.post("/profile/tokens/", {"name": "CRM sync"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    token = ApiToken.objects.unscoped().get(user=world.rep_se)
    assert token.name == "CRM sync"
    key = response.context["new_key"]
    assert key and key in response.content.decode() and works(key)
    again = client.get("/profile/")
    assert key not in again.content.decode() and "CRM sync" in again.content.decode()


def test_create_token_needs_a_name(world: World) -> None:
    response = signed_in(world.rep_se).post("/profile/tokens/", {"name": ""})
    assert response.status_code == 400
    assert not ApiToken.objects.unscoped().filter(user=world.rep_se).exists()


def test_create_token_needs_csrf(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.rep_se)
    assert client.post("/profile/tokens/", {"name": "x"}).status_code == 403
    assert not ApiToken.objects.unscoped().filter(user=world.rep_se).exists()


def test_revoke_asks_for_confirmation_then_revokes(world: World) -> None:
    token, key = api_token_issue(user=world.rep_se, name="Old laptop")
    client = signed_in(world.rep_se)
    confirm = client.get(f"/profile/tokens/{token.pk}/revoke/")
    assert confirm.status_code == 200
    assert "Old laptop" in confirm.content.decode()
    assert works(key)  # asking is not revoking
    done = client.post(f"/profile/tokens/{token.pk}/revoke/")
    assert done.status_code == 302 and done["Location"] == "/profile/"
    assert not works(key)
    assert list(client.get("/profile/").context["tokens"]) == []


def test_another_users_token_is_404(world: World) -> None:
    colleague, colleague_key = api_token_issue(user=world.rep_dk)
    stranger, stranger_key = api_token_issue(user=world.stranger)
    client = signed_in(world.rep_se)
    for token in (colleague, stranger):
        assert client.get(f"/profile/tokens/{token.pk}/revoke/").status_code == 404
        assert client.post(f"/profile/tokens/{token.pk}/revoke/").status_code == 404
    assert client.post("/profile/tokens/99999999999999999999/revoke/").status_code == 404
    assert works(colleague_key) and works(stranger_key)


def test_password_change_page_keeps_the_session_and_revokes_tokens(world: World) -> None:
    _token, key = api_token_issue(user=world.rep_se)
    client = Client()
    assert client.post("/login/", {"username": world.rep_se.email, "password": PASSWORD})
    other_session = Client()
    other_session.post("/login/", {"username": world.rep_se.email, "password": PASSWORD})
    assert client.get("/profile/password/").status_code == 200
    response = client.post(
        "/profile/password/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302 and response["Location"] == "/profile/"
    assert not works(key)
    # This session stays signed in; the other one is signed out.
    assert client.get("/profile/").status_code == 200
    assert other_session.get("/profile/").status_code == 302
    world.rep_se.refresh_from_db()
    assert world.rep_se.check_password(NEW_PASSWORD)


def test_password_change_refuses_a_wrong_old_password_or_a_weak_one(world: World) -> None:
    _token, key = api_token_issue(user=world.rep_se)
    client = signed_in(world.rep_se)
    wrong = client.post(
        "/profile/password/",
        {"old_password": "nope", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    weak = client.post(
        "/profile/password/",
        {"old_password": PASSWORD, "new_password1": "short", "new_password2": "short"},
    )
    for response in (wrong, weak):
        assert response.status_code == 200 and response.context["form"].errors
    assert works(key)
    world.rep_se.refresh_from_db()
    assert world.rep_se.check_password(PASSWORD)


def test_admin_deactivating_a_user_on_the_setup_page_revokes(world: World) -> None:
    _token, key = api_token_issue(user=world.rep_se)
    admin = signed_in(world.admin)
    response = admin.post(
        f"/admin/crm/user/{world.rep_se.pk}/change/",
        {
            "email": world.rep_se.email,
            "full_name": world.rep_se.full_name,
            "role": world.rep_se.role,
            "sales_company": world.rep_se.sales_company_id,
            "language": "",
            "timezone": "",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            # is_active left out: unchecked
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    world.rep_se.refresh_from_db()
    assert not world.rep_se.is_active
    assert not works(key)


def test_profile_security_parts_are_translated(world: World) -> None:
    world.rep_de.language = "de"
    world.rep_de.save(update_fields=["language"])
    page = signed_in(world.rep_de).get("/profile/").content.decode()
    assert "API-Tokens" in page and "Token erstellen" in page and "Passwort ändern" in page
