"""Responses are gzip-compressed for clients that accept it: whole HTML and JSON bodies only
(crm.compression); streamed exports and bodies of other types pass as they are."""

from __future__ import annotations

import gzip
import json

from django.test import Client

from tests.accounts.factories import make_account
from tests.conftest import World
from tests.opportunities.factories import OpportunityFactory

GZIP = {"HTTP_ACCEPT_ENCODING": "gzip, deflate, br"}


def _client(world: World) -> Client:
    account = make_account(organization=world.org, home_company=world.se, name="Volvera AB")
    OpportunityFactory(account=account, owner=world.rep_se, name="Volvera fleet renewal")
    client = Client()
    client.force_login(world.rep_se)
    return client


def test_a_page_is_compressed_when_accepted_and_plain_otherwise(world: World) -> None:
    client = _client(world)
    plain = client.get("/opportunities/")
    assert plain.status_code == 200
    assert not plain.has_header("Content-Encoding")
    packed = client.get("/opportunities/", **GZIP)
    assert packed.status_code == 200
    assert packed["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed["Vary"]
    html = gzip.decompress(packed.content).decode()
    assert "Volvera fleet renewal" in html
    assert len(packed.content) < len(html.encode()) / 2


def test_an_api_answer_is_compressed_and_decodes_to_the_same_json(world: World) -> None:
    client = _client(world)
    plain = client.get("/api/v1/opportunities/")
    packed = client.get("/api/v1/opportunities/", **GZIP)
    assert packed["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(packed.content)) == plain.json()


def test_a_streamed_export_is_not_compressed(world: World) -> None:
    client = _client(world)
    response = client.get("/opportunities/?format=csv", **GZIP)
    assert response.status_code == 200
    assert response.streaming
    assert not response.has_header("Content-Encoding")
    assert "Volvera fleet renewal" in b"".join(response.streaming_content).decode("utf-8-sig")
