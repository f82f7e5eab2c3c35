"""Sessions end after a configurable idle time, the CSRF cookie is HTTP-only as the README says,
and the API schema and docs need sign-in unless configured public (issue 15, hole 13)."""

from __future__ import annotations

import secrets
import time

import pytest
from django.test import Client

from crm.middleware import SessionIdleTimeoutMiddleware
from tests.conftest import World
from tests.crm.test_settings import _manage

pytestmark = pytest.mark.django_db

KEY = SessionIdleTimeoutMiddleware.KEY


def _set_last_activity(client: Client, seconds_ago: int) -> None:
    session = client.session
    session[KEY] = int(time.time()) - seconds_ago
    session.save()


def test_an_idle_session_is_signed_out(world: World, settings: object) -> None:
    settings.SESSION_IDLE_TIMEOUT_SECONDS = 3600
    client = Client()
    client.force_login(world.rep_se)
    assert client.get("/profile/").status_code == 200
    _set_last_activity(client, 3601)
    page = client.get("/profile/")
    assert page.status_code == 302 and page["Location"].startswith("/login/")
    assert "_auth_user_id" not in client.session
    # Signed out for good, not only for that request.
    assert client.get("/profile/").status_code == 302


def test_an_idle_session_is_refused_by_the_api(world: World, settings: object) -> None:
    settings.SESSION_IDLE_TIMEOUT_SECONDS = 3600
    client = Client()
    client.force_login(world.rep_se)
    assert client.get("/api/v1/regions/").status_code == 200
    _set_last_activity(client, 3601)
    assert client.get("/api/v1/regions/").status_code in (401, 403)


def test_activity_keeps_the_session_and_is_not_written_on_every_request(
    world: World, settings: object
) -> None:
    settings.SESSION_IDLE_TIMEOUT_SECONDS = 3600
    client = Client()
    client.force_login(world.rep_se)
    assert abs(client.session[KEY] - time.time()) < 5  # noted at sign-in
    _set_last_activity(client, 30)
    recent = client.session[KEY]
    client.get("/profile/")
    assert client.session[KEY] == recent  # less than a minute: not written again
    _set_last_activity(client, 3000)
    assert client.get("/profile/").status_code == 200  # 50 minutes idle: still signed in
    assert abs(client.session[KEY] - time.time()) < 5  # and the activity moved on


def test_a_fresh_sign_in_writes_no_session_on_its_first_request(
    world: World, django_assert_max_num_queries: object
) -> None:
    noted = Client()
    noted.force_login(world.rep_se)
    unnoted = Client()
    unnoted.force_login(world.rep_dk)
    session = unnoted.session
    del session[KEY]
    session.save()
    with django_assert_max_num_queries(100) as writes:
        unnoted.get("/profile/")
    # Noted at sign-in: its first request saves no session (list pages count their queries).
    with django_assert_max_num_queries(len(writes.captured_queries) - 1):
        noted.get("/profile/")


def test_anonymous_visitors_get_no_session(world: World) -> None:
    response = Client().get("/login/")
    assert response.status_code == 200
    assert "sessionid" not in response.cookies


def test_csrf_cookie_is_http_only(world: World) -> None:
    response = Client().get("/login/")
    assert response.cookies["csrftoken"]["httponly"] is True


@pytest.mark.parametrize("url", ["/api/v1/schema/", "/api/v1/docs/"])
def test_schema_and_docs_need_sign_in_unless_public(
    world: World, settings: object, url: str
) -> None:
    settings.API_DOCS_PUBLIC = False
    assert Client().get(url).status_code in (401, 403)
    signed_in = Client()
    signed_in.force_login(world.rep_se)
    assert signed_in.get(url).status_code == 200
    settings.API_DOCS_PUBLIC = True
    assert Client().get(url).status_code == 200


def test_production_defaults() -> None:
    result = _manage(
        "shell",
        "-v",
        "0",
        "-c",
        "from django.conf import settings as s; print(s.API_DOCS_PUBLIC, "
        "s.SESSION_IDLE_TIMEOUT_SECONDS, s.API_TOKEN_TTL_DAYS, s.CSRF_COOKIE_HTTPONLY)",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="crm.example.com",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "28800", "90", "True"]
