"""Sign-in throttling, password strength, security headers and the CSP."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client
from rest_framework.test import APIClient

from tests.conftest import World
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I)


def test_repeated_wrong_passwords_lock_the_account_from_that_address(world: World) -> None:
    client = Client()
    for _ in range(5):
        response = client.post("/login/", {"username": world.rep_se.email, "password": "wrong"})
        assert response.status_code in (200, 429)
    locked = client.post("/login/", {"username": world.rep_se.email, "password": PASSWORD})
    assert locked.status_code == 429
    assert "Too many sign-in attempts" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    # Another account is not affected.
    other = Client().post("/login/", {"username": world.rep_dk.email, "password": PASSWORD})
    assert other.status_code == 302


def test_token_endpoint_is_throttled_too(world: World) -> None:
    client = APIClient()
    for _ in range(5):
        client.post(
            "/api/v1/auth/token/", {"email": world.rep_se.email, "password": "x"}, format="json"
        )
    response = client.post(
        "/api/v1/auth/token/", {"email": world.rep_se.email, "password": PASSWORD}, format="json"
    )
    assert response.status_code in (403, 429)
    # Every page names the CSRF parameter htmx must not send; no token is in the answer.
    body = response.content.decode().replace('hx-params="not csrfmiddlewaretoken"', "")
    assert "token" not in body


def test_weak_passwords_are_refused(world: World) -> None:
    for weak in ("demo", "password1234", "12345678901234", world.rep_se.email):
        with pytest.raises(ValidationError):
            validate_password(weak, user=world.rep_se)
    validate_password("correct horse battery staple 42", user=world.rep_se)


def test_pages_carry_a_csp_without_inline_scripts(client: Client, world: World) -> None:
    for url, user in (("/login/", None), ("/", world.rep_se), ("/api/v1/docs/", world.rep_se)):
        if user:
            client.force_login(user)
        response = client.get(url)
        assert response.status_code == 200, url
        policy = response["Content-Security-Policy"]
        script_src = re.search(r"script-src ([^;]+)", policy).group(1)
        assert script_src.strip() == "'self'", policy
        assert "frame-ancestors 'none'" in policy
        assert not INLINE_SCRIPT.search(response.content.decode()), url
        assert "cdn" not in response.content.decode().lower(), url
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
