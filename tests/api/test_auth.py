from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from crm.models import ApiToken
from tests.conftest import World
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_token_round_trip(world: World) -> None:
    client = APIClient()
    response = client.post(
        "/api/v1/auth/token/", {"email": world.rep_se.email, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    token = response.json()["token"]
    # Only a hash is stored.
    assert not ApiToken.objects.unscoped().filter(key_hash=token).exists()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    me = client.get("/api/v1/users/", {"email": world.rep_se.email})
    assert me.status_code == 200
    ids = {row["id"] for row in me.json()["results"]}
    assert world.rep_se.pk in ids and world.stranger.pk not in ids


def test_wrong_password_is_400_with_a_message(world: World) -> None:
    response = APIClient().post(
        "/api/v1/auth/token/", {"email": world.rep_se.email, "password": "nope"}, format="json"
    )
    assert response.status_code == 400
    assert "do not match" in response.json()["non_field_errors"][0]


def test_malformed_token_requests_are_400(world: World) -> None:
    response = APIClient().post("/api/v1/auth/token/", {"email": "not-an-email"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"email", "password"}


def test_bad_and_missing_tokens_are_rejected(world: World) -> None:
    client = APIClient()
    assert client.get("/api/v1/regions/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert client.get("/api/v1/regions/").status_code == 401


def test_token_of_inactive_user_stops_working(world: World) -> None:
    from crm.services import api_token_issue

    _token, key = api_token_issue(user=world.rep_se)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/regions/").status_code == 200
    world.rep_se.is_active = False
    world.rep_se.save()
    assert client.get("/api/v1/regions/").status_code == 401


def test_only_the_global_admin_records_rates(world: World) -> None:
    payload = {"currency": "SEK", "rate": "0.09000000", "valid_from": "2026-03-01"}
    client = APIClient()
    client.force_authenticate(world.rep_se)
    assert client.post("/api/v1/exchange-rates/", payload, format="json").status_code == 403
    client.force_authenticate(world.admin)
    created = client.post("/api/v1/exchange-rates/", payload, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["rate"] == "0.09000000"
    bad = client.post(
        "/api/v1/exchange-rates/", {**payload, "currency": "XYZ", "rate": "-1"}, format="json"
    )
    assert bad.status_code == 400
    assert {"currency", "rate"} <= set(bad.json())


def test_schema_describes_the_endpoints(world: World) -> None:
    client = APIClient()
    client.force_authenticate(world.rep_se)
    schema = client.get("/api/v1/schema/", {"format": "json"})
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/auth/token/" in paths and "/api/v1/exchange-rates/{id}/" in paths


def test_a_token_request_answers_in_the_users_zone_and_language_as_a_session_does(
    world: World,
) -> None:
    """UserLocaleMiddleware runs before DRF authenticates a token, so the user's zone and
    language are put in place by the API views themselves: the same call signed by a token and
    by a session gives the same datetimes and the same messages."""
    from crm.services import api_token_issue
    from tests.accounts.factories import make_account
    from tests.opportunities.factories import OpportunityFactory

    user = world.rep_se
    user.timezone, user.language = "America/New_York", "de"
    user.save(update_fields=["timezone", "language"])
    account = make_account(organization=world.org, home_company=world.se, name="Zone AB")
    deal = OpportunityFactory(account=account, owner=user)
    _token, key = api_token_issue(user=user)
    token, session = APIClient(), APIClient()
    token.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    session.force_login(user)
    url = f"/api/v1/opportunities/{deal.pk}/"
    by_token, by_session = token.get(url), session.get(url)
    assert by_token.status_code == by_session.status_code == 200
    assert by_token.json() == by_session.json()
    assert by_token.json()["created_at"].endswith(("-05:00", "-04:00"))  # New York, not UTC
    assert by_token.headers["Content-Language"] == "de"
    # A message in the user's language; and the next request of the thread is not left in it.
    bad_token = token.patch(url, {"amount": "lots"}, format="json")
    bad_session = session.patch(url, {"amount": "lots"}, format="json")
    assert bad_token.status_code == bad_session.status_code == 400
    assert bad_token.json() == bad_session.json()
    from django.utils import timezone, translation

    assert timezone.get_current_timezone_name() == "UTC"
    assert translation.get_language() != "de"


def test_a_404_reads_in_the_users_language_and_the_same_for_missing_and_foreign_rows(
    world: World,
) -> None:
    """DRF would pass the Http404's English text through ("No opportunity matches the given
    query."): the answer is its translated "Not found.", and a row of another organization
    answers exactly like an id that does not exist."""
    from crm.services import api_token_issue
    from tests.accounts.factories import make_account
    from tests.opportunities.factories import OpportunityFactory

    foreign = OpportunityFactory(
        account=make_account(
            organization=world.other_org, home_company=world.other_company, name="Tellus AB"
        ),
        owner=world.stranger,
    )
    invisible = OpportunityFactory(
        account=make_account(organization=world.org, home_company=world.dk, name="Fjord ApS"),
        owner=world.rep_dk,
    )
    user = world.rep_se
    client = APIClient()
    for language, detail in (
        ("en", "Not found."),
        ("de", "Nicht gefunden."),
        ("da", "Ikke fundet."),
    ):
        user.language = language
        user.save(update_fields=["language"])
        _token, key = api_token_issue(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        answers = [
            client.get(f"/api/v1/opportunities/{pk}/")
            for pk in (999999999, foreign.pk, invisible.pk)
        ]
        assert [a.status_code for a in answers] == [404, 404, 404]
        assert [a.json() for a in answers] == [{"detail": detail}] * 3
