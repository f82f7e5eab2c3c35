"""Streamed responses keep the request's organization, language and time zone (issue 18).

``/campaigns/<id>/members.csv`` answered only its header row: the server consumes a
``StreamingHttpResponse`` after the middleware has left the organization scope, and row-level
security answers no rows to a statement without an organization. These tests consume the
stream the way a server does, after the response has left the middleware, as the application
role (RLS on), so they fail without the middleware's streaming wrapper.
"""

from __future__ import annotations

import csv
import io

import pytest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.test import Client
from django.urls import reverse
from django.utils import translation

from accounts.services import contact_create
from crm.middleware import OrganizationScopeMiddleware, UserLocaleMiddleware
from crm.scope import current_org_id
from tests.conftest import World
from tests.crm.test_rls import as_app_role
from tests.opportunities.factories import (
    CampaignFactory,
    CampaignMemberFactory,
    account_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_campaign_members_csv_streams_its_rows_under_row_level_security(world: World) -> None:
    campaign = CampaignFactory(organization=world.org, owner=world.marketing, name="Elmia")
    for i in range(3):
        contact = contact_create(
            account=account_for(world.se, f"Stream {i} AB"),
            full_name=f"Streamed Person {i}",
            email=f"p{i}@stream{i}.example",
            marketing_consent=True,
            acting_user=None,
        )
        CampaignMemberFactory(campaign=campaign, contact=contact)
    client = Client()
    client.force_login(world.marketing)
    with as_app_role(orm_filter=True):
        response = client.get(reverse("leads:campaign_export", args=[campaign.pk]))
        assert response.status_code == 200
        body = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    names = sorted(r[1] for r in rows[1:])
    assert names == ["Streamed Person 0", "Streamed Person 1", "Streamed Person 2"]


def test_streamed_chunks_run_in_the_users_scope_and_language(world: World) -> None:
    """The wrapper itself: each chunk sees the organization and the language; between chunks
    (and after the stream) the server's own context is back."""
    world.rep_se.language = "de"
    world.rep_se.save(update_fields=["language"])
    seen: list[tuple[int | None, str | None]] = []

    def chunks() -> object:
        for _ in range(2):
            seen.append((current_org_id(), translation.get_language()))
            yield b"x"

    def view(request: HttpRequest) -> HttpResponse:
        return StreamingHttpResponse(chunks())

    request = HttpRequest()
    request.user = world.rep_se
    stack = OrganizationScopeMiddleware(UserLocaleMiddleware(view))
    with translation.override("en"):
        response = stack(request)
        assert current_org_id() is None
        iterator = iter(response)  # type: ignore[call-overload]
        assert next(iterator) == b"x"
        assert (current_org_id(), translation.get_language()) == (None, "en")
        assert list(iterator) == [b"x"]
    assert seen == [(world.org.pk, "de"), (world.org.pk, "de")]
