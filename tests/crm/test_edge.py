"""Bad input refused at the edge with a clear 400 (issue 15, hole 9): NUL characters in the
path, query string, form bodies and JSON; JSON nested deeper than the limit; unknown ``ordering``
values on every list endpoint of the router."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from crm.parsers import MAX_JSON_DEPTH, json_too_deep
from meridian.api_urls import router
from tests.api.makers import MAKERS
from tests.conftest import World

pytestmark = pytest.mark.django_db

ROUTES = [(prefix, viewset) for prefix, viewset, _basename in router.registry]


def _page_client(user: object) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def _api_client(user: object) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(user)
    return client


# --- NUL -----------------------------------------------------------------------------------------


def test_nul_in_a_page_query_string_is_a_400(world: World) -> None:
    response = _page_client(world.admin).get("/setup/rates/?currency=%00")
    assert response.status_code == 400
    assert "NUL" in response.content.decode()


def test_nul_in_an_api_query_string_is_a_json_400(world: World) -> None:
    response = _api_client(world.rep_se).get("/api/v1/accounts/duplicates/?domain=%00")
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]


def test_nul_in_a_query_parameter_name_and_in_the_path(world: World) -> None:
    client = _page_client(world.rep_se)
    assert client.get("/opportunities/?a%00b=1").status_code == 400
    assert client.get("/opportunities/%00/").status_code == 400


def test_nul_in_a_form_body_is_a_400_naming_the_field(world: World) -> None:
    response = _page_client(world.admin).post(
        "/setup/rates/", {"currency": "SEK\x00", "rate": "0.1", "valid_from": "2024-01-01"}
    )
    assert response.status_code == 400
    assert "currency" in response.content.decode()


def test_nul_in_json_is_a_400_with_the_fields_path(world: World) -> None:
    client = _api_client(world.rep_se)
    body = json.dumps({"name": "Acme", "lines": [{"note": "ok"}, {"note": "bad\u0000"}]})
    response = client.post("/api/v1/accounts/", body, content_type="application/json")
    assert response.status_code == 400
    assert "lines[1].note" in response.json()["detail"]


def test_nul_in_agreement_legal_notes_is_a_400(world: World) -> None:
    made = MAKERS["accounts.FrameworkAgreement"](world)
    body = {
        "account": made.obj.account_id,
        "name": "Frame",
        "valid_from": "2024-01-01",
        "covered_companies": [],
        "legal_notes": {"DE": "German law\u0000"},
        "tiers": [],
    }
    response = _api_client(world.director).post(
        "/api/v1/agreements/", json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 400
    assert "legal_notes.DE" in response.json()["detail"]


def test_an_ordinary_json_body_still_parses(world: World) -> None:
    response = _api_client(world.rep_se).post("/api/v1/accounts/", {"name": ""}, format="json")
    assert response.status_code == 400
    assert "name" in response.json()  # a field message: the body was read


# --- Deep JSON -----------------------------------------------------------------------------------


def test_deep_json_is_a_400_before_sign_in(db: None) -> None:
    body = "[" * 100_000 + "]" * 100_000
    response = APIClient(raise_request_exception=False).post(
        "/api/v1/auth/token/", body, content_type="application/json"
    )
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


def test_deep_json_is_a_400_on_a_signed_in_endpoint(world: World) -> None:
    body = '{"name": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}"
    response = _api_client(world.rep_se).post(
        "/api/v1/accounts/", body, content_type="application/json"
    )
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


@pytest.mark.parametrize(
    ("text", "deep"),
    [
        ("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH, False),
        ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), True),
        ('{"a": "' + "[" * 1000 + '"}', False),  # brackets inside a string do not count
        ('["\\"' + "[" * 1000 + '"]', False),  # nor after an escaped quote
        ('["\\\\", ' + "[" * 40 + "]" * 40 + "]", True),  # an escaped backslash ends nothing
        ('"' + '\\"' * 10_000, False),  # unterminated: the decoder says so, in linear time
        ("", False),
    ],
)
def test_json_too_deep(text: str, deep: bool) -> None:
    assert json_too_deep(text) is deep


# --- Unknown ordering ----------------------------------------------------------------------------


@pytest.mark.parametrize(("prefix", "viewset"), ROUTES, ids=[p for p, _ in ROUTES])
def test_unknown_ordering_is_never_a_server_error(prefix: str, viewset: type, world: World) -> None:
    MAKERS[viewset.model._meta.label](world)
    client = _api_client(world.director)
    for value in ("foo", "-__x", "conflict__id", "id,foo", "\u00b2", "-", ","):
        response = client.get(f"/api/v1/{prefix}/", {"ordering": value})
        assert response.status_code in (200, 400), (prefix, value, response.status_code)


def test_conflicts_order_by_their_whitelist(world: World) -> None:
    client = _api_client(world.director)
    assert client.get("/api/v1/conflicts/", {"ordering": "-created_at"}).status_code == 200
    assert client.get("/api/v1/conflicts/", {"ordering": "foo"}).status_code == 200
