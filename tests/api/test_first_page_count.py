"""crm.drf.MeridianPagination: the first page counts its own rows when the list fits on it.
The answers equal DRF's stock page-number pagination on the same rows, for every page and size
around the edge; a short first page runs one statement (no COUNT), a full one two."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from crm.drf import MeridianPagination
from crm.models import Region
from crm.scope import org_scope
from tests.factories import RegionFactory

pytestmark = pytest.mark.django_db


class StockPagination(PageNumberPagination):
    page_size = MeridianPagination.page_size
    page_size_query_param = MeridianPagination.page_size_query_param
    max_page_size = MeridianPagination.max_page_size


def _answer(pagination_class: type, org_id: int, query: dict[str, str]) -> tuple[object, int]:
    request = Request(APIRequestFactory().get("/api/v1/regions/", query))
    pagination = pagination_class()
    with org_scope(org_id), CaptureQueriesContext(connection) as queries:
        qs = Region.objects.for_org(org_id).order_by("name", "pk")
        try:
            rows = pagination.paginate_queryset(qs, request)
        except NotFound as exc:
            return ("404", str(exc.detail)), len(queries)
        data = [(r.pk, r.name) for r in rows]
        response = pagination.get_paginated_response(data)
        controls = getattr(pagination, "display_page_controls", False)
    return (response.data, controls), len(queries)


QUERIES = [
    {},
    {"page": "1"},
    {"page": ""},
    {"page": "2"},
    {"page": "last"},
    {"page": "0"},
    {"page": "x"},
    {"page": "01"},
    {"page_size": "3"},
    {"page_size": "3", "page": "2"},
    {"page_size": "4"},
    {"page_size": "5"},
    {"page_size": "0"},
    {"page_size": "999"},
    {"page_size": "x"},
]


@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 50, 51])
def test_every_page_equals_drf_stock(world, n: int) -> None:
    org_id = world.org.pk
    existing = Region.objects.for_org(org_id).count()
    with org_scope(org_id):
        RegionFactory.create_batch(max(0, n - existing), organization=world.org)
        total = Region.objects.for_org(org_id).count()
    with org_scope(world.other_org.pk):
        # Another organization's regions are never counted or listed.
        RegionFactory.create_batch(3, organization=world.other_org)
    assert total == max(n, existing)
    for query in QUERIES:
        ours, our_queries = _answer(MeridianPagination, org_id, query)
        stock, stock_queries = _answer(StockPagination, org_id, query)
        assert ours == stock, query
        if query.get("page", "1") in ("1", "") and query.get("page_size") != "0":
            size = (
                min(int(query.get("page_size", "50")), 200)
                if query.get("page_size", "50").isdigit()
                else 50
            )
            # A list that fits on the first page needs no COUNT; a longer one counts.
            assert our_queries == (1 if total <= size else 2), (query, total)
            assert stock_queries == 2
        if ours[0] != "404":
            assert ours[0]["count"] == total


def test_a_short_list_through_the_api_is_one_statement_less(client, world) -> None:
    client.force_login(world.rep_se)
    client.get("/api/v1/regions/")  # warm: the session's own statements settle
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/regions/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == len(body["results"]) == Region.objects.for_org(world.org).count()
    assert not any(
        "COUNT(*)" in q["sql"] and "crm_region" in q["sql"] for q in queries.captured_queries
    )
