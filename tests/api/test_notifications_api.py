"""/api/v1/notifications/: the user's own notifications (list, detail) and marking them read.
The generated tests (test_isolation.py, test_rls.py, test_fuzz.py) cover every other user and
organization and the list's query count through the maker in makers.py."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from crm.models import Notification, NotificationKind
from crm.notifications import notify
from crm.selectors import notification_list, unread_count
from crm.services import api_token_issue
from tests.conftest import World

pytestmark = pytest.mark.django_db

URL = "/api/v1/notifications/"
READ = "/api/v1/notifications/read/"
PARAMS = {"account": "Hansa Logistik", "companies": "Nordvik SE, Nordvik DE"}


def _notify(world: World, *users, times: int = 1) -> None:
    for _ in range(times):
        notify(
            organization_id=world.org.pk,
            user_ids=[u.pk for u in users],
            kind=NotificationKind.CONFLICT_NEW,
            params=PARAMS,
            url="/opportunities/conflicts/",
        )


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _ids(user) -> list[int]:
    return [n.pk for n in notification_list(user=user)]


def test_the_list_is_the_users_own_newest_first_and_paginated(world: World) -> None:
    _notify(world, world.rep_se, world.rep_dk, times=3)
    body = _client(world.rep_se).get(URL, {"page_size": 2}).json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]
    first = body["results"][0]
    assert first["id"] == _ids(world.rep_se)[0]
    assert first["kind"] == "conflict_new" and first["params"] == PARAMS
    assert first["url"] == "/opportunities/conflicts/"
    assert first["read_at"] is None and first["is_read"] is False
    # In the company's language (the test world's companies speak Swedish).
    assert first["message"].startswith("Ny konflikt hos Hansa Logistik")
    assert {r["id"] for r in body["results"]} <= set(_ids(world.rep_se))


def test_the_message_is_in_the_users_language_with_a_token_too(world: World) -> None:
    world.rep_se.language = "de"
    world.rep_se.save(update_fields=["language"])
    _notify(world, world.rep_se)
    _row, key = api_token_issue(user=world.rep_se)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    (row,) = client.get(URL).json()["results"]
    assert row["message"].startswith("Neuer Konflikt bei Hansa Logistik")


def test_mark_some_read_ignoring_ids_that_are_not_the_users(world: World) -> None:
    _notify(world, world.rep_se, world.rep_dk, times=2)
    mine, theirs = _ids(world.rep_se), _ids(world.rep_dk)
    response = _client(world.rep_se).post(
        READ, {"ids": [mine[0], theirs[0], 99999999]}, format="json"
    )
    assert response.status_code == 200
    assert response.json() == {"marked": 1, "unread": 1}
    assert unread_count(user=world.rep_dk) == 2
    detail = _client(world.rep_se).get(f"{URL}{mine[0]}/").json()
    assert detail["is_read"] is True and detail["read_at"]


def test_mark_all_read(world: World) -> None:
    _notify(world, world.rep_se, world.rep_dk, times=3)
    response = _client(world.rep_se).post(READ, {"all": True}, format="json")
    assert response.json() == {"marked": 3, "unread": 0}
    assert unread_count(user=world.rep_dk) == 3


def test_another_organizations_user_marks_nothing(world: World) -> None:
    _notify(world, world.rep_se)
    stranger = _client(world.stranger)
    assert stranger.post(READ, {"ids": _ids(world.rep_se)}, format="json").json()["marked"] == 0
    assert stranger.post(READ, {"all": True}, format="json").json()["marked"] == 0
    assert stranger.get(f"{URL}{_ids(world.rep_se)[0]}/").status_code == 404
    assert unread_count(user=world.rep_se) == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "non_field_errors"),
        ({"all": False}, "non_field_errors"),
        ({"all": True, "ids": [1]}, "non_field_errors"),
        ({"ids": ["x"]}, "ids"),
        ({"ids": [0]}, "ids"),
        ({"ids": [2**63]}, "ids"),
        ({"ids": "1"}, "ids"),
        ({"ids": list(range(1, 1002))}, "ids"),
    ],
)
def test_bad_read_requests_are_400_with_field_messages(
    world: World, payload: dict, field: str
) -> None:
    _notify(world, world.rep_se)
    response = _client(world.rep_se).post(READ, payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert unread_count(user=world.rep_se) == 1


def test_read_is_a_post_and_needs_sign_in(world: World) -> None:
    assert _client(world.rep_se).get(READ).status_code == 405
    # JSON only (a form would send every id as a field of its own): a form body is not read.
    _notify(world, world.rep_se)
    form = _client(world.rep_se).post(READ, {"all": "true"}, format="multipart")
    assert form.status_code in (400, 415) and unread_count(user=world.rep_se) == 1
    assert APIClient().post(READ, {"all": True}, format="json").status_code in (401, 403)
    assert APIClient().get(URL).status_code in (401, 403)


def test_the_list_has_no_writes(world: World) -> None:
    _notify(world, world.rep_se)
    pk = _ids(world.rep_se)[0]
    client = _client(world.rep_se)
    assert client.post(URL, {"kind": "conflict_new"}, format="json").status_code == 405
    for method in ("put", "patch", "delete"):
        assert getattr(client, method)(f"{URL}{pk}/", {}, format="json").status_code == 405
    assert Notification.objects.for_org(world.org).count() == 1
