"""API tokens have a name, an expiry, a list and a revocation (issue 15, hole 5); a password
change or a deactivation revokes them, on every path that saves a user."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from crm.models import ApiToken
from crm.services import api_token_issue
from tests.conftest import World
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a much longer passphrase 2026"


def token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def works(key: str) -> bool:
    return token_client(key).get("/api/v1/regions/").status_code == 200


def live_tokens(user: object) -> int:
    return ApiToken.objects.unscoped().filter(user=user, revoked_at__isnull=True).count()


# --- Issue, expiry -------------------------------------------------------------------------------


def test_sign_in_issues_a_named_expiring_token(world: World, settings: object) -> None:
    settings.API_TOKEN_TTL_DAYS = 30
    response = APIClient().post(
        "/api/v1/auth/token/",
        {"email": world.rep_se.email, "password": PASSWORD, "name": "Nightly export"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["name"] == "Nightly export" and body["token"] and body["id"]
    token = ApiToken.objects.unscoped().get(pk=body["id"])
    expected = timezone.now() + dt.timedelta(days=30)
    assert abs((token.expires_at - expected).total_seconds()) < 60
    assert body["expires_at"].startswith(token.expires_at.date().isoformat())
    assert works(body["token"])


def test_default_lifetime_is_ninety_days(world: World) -> None:
    token, _key = api_token_issue(user=world.rep_se)
    assert 89 < (token.expires_at - timezone.now()).total_seconds() / 86400 <= 90


def test_expired_token_fails_with_a_clear_message(world: World) -> None:
    token, key = api_token_issue(user=world.rep_se, name="old")
    assert works(key)
    ApiToken.objects.unscoped().filter(pk=token.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    response = token_client(key).get("/api/v1/regions/")
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


# --- Revoke --------------------------------------------------------------------------------------


def test_delete_token_revokes_the_token_of_the_request(world: World) -> None:
    _token, key = api_token_issue(user=world.rep_se)
    _other, other_key = api_token_issue(user=world.rep_se)
    client = token_client(key)
    assert client.delete("/api/v1/auth/token/").status_code == 204
    response = client.get("/api/v1/regions/")
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]
    # The user's other token is untouched.
    assert works(other_key)


def test_delete_token_needs_a_token(world: World) -> None:
    assert APIClient().delete("/api/v1/auth/token/").status_code == 401
    session = APIClient()
    session.force_login(world.rep_se)
    assert session.delete("/api/v1/auth/token/").status_code in (401, 403)


def test_list_shows_own_live_tokens_without_keys(world: World) -> None:
    mine, key = api_token_issue(user=world.rep_se, name="mine")
    revoked, _ = api_token_issue(user=world.rep_se, name="gone")
    ApiToken.objects.unscoped().filter(pk=revoked.pk).update(revoked_at=timezone.now())
    _colleague, _ = api_token_issue(user=world.rep_dk, name="colleague")
    _stranger, _ = api_token_issue(user=world.stranger, name="stranger")
    response = token_client(key).get("/api/v1/auth/tokens/")
    assert response.status_code == 200
    rows = response.json()
    assert [row["id"] for row in rows] == [mine.pk]
    assert set(rows[0]) == {"id", "name", "created_at", "last_used_at", "expires_at"}
    assert rows[0]["last_used_at"] is not None  # this very request used it
    assert key not in response.content.decode() and mine.key_hash not in response.content.decode()


def test_revoke_by_id_only_own_tokens(world: World) -> None:
    _mine, key = api_token_issue(user=world.rep_se, name="mine")
    second, second_key = api_token_issue(user=world.rep_se, name="second")
    colleague, colleague_key = api_token_issue(user=world.rep_dk, name="colleague")
    stranger, stranger_key = api_token_issue(user=world.stranger, name="stranger")
    client = token_client(key)
    for foreign in (colleague, stranger):
        response = client.delete(f"/api/v1/auth/tokens/{foreign.pk}/")
        assert response.status_code == 404
    assert works(colleague_key) and works(stranger_key)
    assert client.delete(f"/api/v1/auth/tokens/{second.pk}/").status_code == 204
    assert not works(second_key)
    # Revoked is gone: a second revoke is a 404, not a success.
    assert client.delete(f"/api/v1/auth/tokens/{second.pk}/").status_code == 404
    assert client.delete("/api/v1/auth/tokens/99999999999999999999/").status_code == 404
    assert works(key)


def test_session_users_list_and_revoke_their_tokens(world: World) -> None:
    mine, key = api_token_issue(user=world.rep_se)
    client = APIClient()
    client.force_login(world.rep_se)
    assert [row["id"] for row in client.get("/api/v1/auth/tokens/").json()] == [mine.pk]
    assert client.delete(f"/api/v1/auth/tokens/{mine.pk}/").status_code == 204
    assert not works(key)


# --- Password change and deactivation revoke -----------------------------------------------------


def test_password_change_through_set_password_revokes(world: World) -> None:
    _token, key = api_token_issue(user=world.rep_se)
    _other, other_key = api_token_issue(user=world.rep_dk)
    world.rep_se.set_password(NEW_PASSWORD)
    world.rep_se.save()
    assert not works(key)
    assert live_tokens(world.rep_se) == 0
    assert works(other_key)


def test_admin_set_password_form_revokes(world: World) -> None:
    _token, key = api_token_issue(user=world.rep_se)
    form = AdminPasswordChangeForm(
        world.rep_se, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert form.is_valid(), form.errors
    form.save()
    assert not works(key)


def test_unusable_password_revokes(world: World) -> None:
    _token, key = api_token_issue(user=world.rep_se)
    world.rep_se.set_unusable_password()
    world.rep_se.save(update_fields=["password"])
    assert not works(key)


def test_deactivation_revokes_and_reactivation_does_not_revive(world: World) -> None:
    _token, key = api_token_issue(user=world.rep_se)
    world.rep_se.is_active = False
    world.rep_se.save()
    assert live_tokens(world.rep_se) == 0
    world.rep_se.is_active = True
    world.rep_se.save()
    assert not works(key)


def test_other_saves_and_sign_in_keep_tokens(world: World) -> None:
    _token, key = api_token_issue(user=world.rep_se)
    world.rep_se.full_name = "Renamed"
    world.rep_se.save()
    world.rep_se.save(update_fields=["last_login"])
    signed_in = Client().post("/login/", {"username": world.rep_se.email, "password": PASSWORD})
    assert signed_in.status_code == 302
    assert works(key)


def test_password_rehash_at_sign_in_is_not_a_change(world: World) -> None:
    """check_password re-hashes with a newer hasher and saves: the same password."""
    _token, key = api_token_issue(user=world.rep_se)
    stored_before = world.rep_se.password
    # What Django's check_password setter does.
    world.rep_se.set_password(PASSWORD)
    world.rep_se._password = None
    world.rep_se.save(update_fields=["password"])
    assert world.rep_se.password != stored_before
    assert works(key)
