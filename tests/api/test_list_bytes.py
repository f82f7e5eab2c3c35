"""The opportunity list's lean path (``OpportunityViewSet.list``: ``.values()`` rows written by
``opportunity_rows``, issue 21) answers the same bytes as the serializer over model instances:
every page of a cursor walk forwards and back, with null amounts and dates, non-ASCII and
JSON-escaped text, ties of ``created_at`` (offset cursors), other orderings and filters, in
several time zones and languages, for the director, a country manager and a rep (the rep's
ranked visibility)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation
from rest_framework import mixins, serializers
from rest_framework.test import APIClient, APIRequestFactory, force_authenticate

from crm.models import User
from opportunities.api import OpportunitySerializer, OpportunityViewSet
from opportunities.models import Opportunity
from tests.api.cursor_walk import following
from tests.conftest import World
from tests.opportunities.factories import OpportunityFactory, account_for, stage_for

pytestmark = pytest.mark.django_db

PATH = "/api/v1/opportunities/"


class _GenericSerializer(OpportunitySerializer):
    # DRF's own field walk, not the hand-written to_representation.
    def to_representation(self, instance: Any) -> Any:
        return serializers.ModelSerializer.to_representation(self, instance)


class _InstancesViewSet(OpportunityViewSet):
    """The list as it was: model instances (select_related) through the serializer."""

    list = mixins.ListModelMixin.list  # type: ignore[assignment]


class _GenericViewSet(_InstancesViewSet):
    serializer_class = _GenericSerializer


VIEWS = {
    "lean": OpportunityViewSet.as_view({"get": "list"}),
    "instances": _InstancesViewSet.as_view({"get": "list"}),
    "generic": _GenericViewSet.as_view({"get": "list"}),
}


@pytest.fixture
def deals(world: World) -> list[Opportunity]:
    se, dk = world.se, world.dk
    nordic = account_for(se, name='Smörgås & "Söner" AB \\ 株式会社')
    danish = account_for(dk, name="Ærø Æbler ApS")
    same_moment = dt.datetime(2026, 3, 29, 0, 30, tzinfo=dt.UTC)  # a DST night in Europe
    made = [
        OpportunityFactory(
            account=nordic, owner=world.rep_se, name="Pumps\u2028line\u2029para\ttab\x01"
        ),
        OpportunityFactory(account=nordic, owner=world.rep_se, amount=None),
        OpportunityFactory(
            account=nordic, owner=world.rep_se, amount=Decimal("0.40"), expected_close_date=None
        ),
        OpportunityFactory(
            account=nordic, owner=world.rep_se, amount=Decimal("12345678901234.56"),
            next_step="Ring Åsa 📞", delivery_country="NO",
        ),
        OpportunityFactory(
            account=danish, owner=world.rep_dk, stage="Lost", lost_reason="Pris <for> høj",
            closed_at=dt.datetime(2026, 10, 25, 0, 59, 59, 999999, tzinfo=dt.UTC),
        ),
        OpportunityFactory(
            account=danish, owner=world.rep_dk, stage="Won", amount=Decimal("0.00"),
            closed_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        ),
    ]  # fmt: skip
    # Ties of the cursor's position (created_at): offset cursors across pages.
    for i in range(5):
        made.append(
            OpportunityFactory(
                account=nordic if i % 2 else danish,
                owner=world.rep_se if i % 2 else world.rep_dk,
                name=f"Tie {i} — ½",
                amount=Decimal(f"{i}999.99"),
            )
        )
    for i, opp in enumerate(made):
        created = (
            same_moment
            if opp.name.startswith("Tie")
            else same_moment - dt.timedelta(days=40 * i, microseconds=0 if i % 2 else 123456)
        )
        Opportunity.objects.for_org(world.org.pk).filter(pk=opp.pk).update(created_at=created)
    # On the rep's list through a split only (another source of the rep's visibility).
    shared = OpportunityFactory(account=danish, owner=world.rep_dk, name="Split to SE rep")
    shared.splits.create(
        organization_id=world.org.pk, user=world.rep_se, sales_company=se, percent=Decimal(10)
    )
    return made


def _get(view: str, user: User, url: str) -> tuple[int, bytes, int]:
    request = APIRequestFactory().get(url)
    force_authenticate(request, user=user)
    with CaptureQueriesContext(connection) as ctx:
        response = VIEWS[view](request)
        response.render()
    return response.status_code, response.content, len(ctx.captured_queries)


def _walk(user: User, query: str) -> list[bytes]:
    """Every page forwards by ``next``, then back by ``previous``, through each path; the
    answers (and their query counts) must be the same in all three."""
    pages: list[bytes] = []
    url = f"{PATH}?{query}"
    backwards = False
    for _ in range(40):
        answers = {view: _get(view, user, url) for view in VIEWS}
        for view, answer in answers.items():
            assert answer == answers["lean"], (view, url)
        status, body, _queries = answers["lean"]
        if status != 200:
            # DRF's cursor cannot point at a NULL of the ordering ("p=None" reads as a bad
            # date): the same 400 through every path, where the walk ends.
            assert status == 400 and "ordering=" in url, (url, body)
            break
        pages.append(body)
        following_url, backwards = following(body, backwards)
        if following_url is None:
            break
        url = following_url
    return pages


ZONES = [
    ("UTC", "en"),
    ("Europe/Stockholm", "sv"),
    ("America/New_York", "de"),
    ("Asia/Kolkata", "en"),
]


@pytest.mark.parametrize("who", ["director", "manager_se", "rep_se"])
def test_every_page_is_the_serializers_bytes(
    world: World, deals: list[Opportunity], who: str
) -> None:
    user = getattr(world, who)
    qualify = stage_for(world.se, "Qualify").global_stage_id
    for zone, language in ZONES:
        with timezone.override(zone), translation.override(language):
            pages = _walk(user, "page_size=2")
            assert len(pages) > 3  # the walk crossed the ties and came back
    with timezone.override("Asia/Kolkata"), translation.override("sv"):
        for query in (
            "",
            "page_size=200",
            "ordering=amount&page_size=3",
            "ordering=-expected_close_date&page_size=4",
            "ordering=name&page_size=5",
            f"global_stage={qualify}&page_size=3",
            f"sales_company={world.se.pk}&owner={world.rep_se.pk}",
        ):
            _walk(user, query)
    if who == "director":
        # The escapes DRF's renderer makes (U+2028/9 for JavaScript) and the raw UTF-8 it keeps.
        joined = b"".join(pages).decode()
        assert "\\u2028" in joined and "\\u2029" in joined and "\\t" in joined
        assert "\\u0001" in joined and "株式会社" in joined and "📞" in joined
        assert '"closed_at":"2026-10-25T06:29:59.999999+05:30"' in joined
        assert '"amount":"12345678901234.56"' in joined and '"amount":null' in joined


def test_values_and_instances_agree_on_bad_input(world: World, deals: list[Opportunity]) -> None:
    # A filter value of no row, a bad cursor: the same answer through both paths.
    client = APIClient()
    client.force_authenticate(world.director)
    for query in ("owner=999999", "global_stage=999999", "cursor=bad"):
        lean = client.get(f"{PATH}?{query}")
        assert lean.status_code in (400, 404), query
        request = APIRequestFactory().get(f"{PATH}?{query}")
        force_authenticate(request, user=world.director)
        old = VIEWS["instances"](request)
        old.render()
        assert (lean.status_code, lean.content) == (old.status_code, old.content), query


def test_the_list_runs_a_constant_number_of_queries(
    world: World, deals: list[Opportunity], django_assert_num_queries: Any
) -> None:
    client = APIClient()
    client.force_authenticate(world.rep_se)
    # Token-less force_authenticate: the list's own query only (the user is given), for 3 rows
    # and for every row.
    with django_assert_num_queries(1):
        assert len(client.get(PATH, {"page_size": 3}).json()["results"]) == 3
    with django_assert_num_queries(1):
        assert len(client.get(PATH, {"page_size": 200}).json()["results"]) > 3
    client.force_authenticate(world.director)
    with django_assert_num_queries(1):
        assert len(client.get(PATH, {"page_size": 200}).json()["results"]) == len(deals) + 1
    # One filter: one look-up of the filter's row (django-filter's check of the id) more.
    with django_assert_num_queries(2):
        client.get(PATH, {"owner": world.rep_se.pk})
