"""Generated from the API router: every endpoint keeps other organizations' rows (and rows the
role may not see) out of lists and answers 404 for them, for read and write alike; list
endpoints run a constant number of queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from meridian.api_urls import router
from tests.api.makers import MAKERS
from tests.conftest import World

pytestmark = pytest.mark.django_db

ROUTES = [(prefix, viewset) for prefix, viewset, _basename in router.registry]
# Endpoints whose role rule answers 403 to whole roles (the pages' rule): leads for sellers.
ROLE_GATED = {"leads"}


def test_every_endpoint_has_a_maker() -> None:
    missing = {v.model._meta.label for _p, v in ROUTES} - set(MAKERS)
    assert missing == set(), f"add makers in tests/api/makers.py for {missing}"


@pytest.mark.parametrize(("prefix", "viewset"), ROUTES, ids=[p for p, _ in ROUTES])
def test_outsiders_get_404_and_never_see_the_row(prefix: str, viewset: type, world: World) -> None:
    made = MAKERS[viewset.model._meta.label](world)
    url = f"/api/v1/{prefix}/{made.obj.pk}/"
    for name in ["stranger", *made.hidden_from]:
        client = APIClient()
        client.force_authenticate(getattr(world, name))
        if prefix in ROLE_GATED and client.get(f"/api/v1/{prefix}/").status_code == 403:
            # The role may not use the endpoint at all (as on the pages): refused before any
            # row is read, whatever the id, so the answer tells nothing about the row.
            for method in ("get", "put", "patch", "delete"):
                response = getattr(client, method)(url, {}, format="json")
                assert response.status_code in (403, 405), (name, method, response.status_code)
            continue
        assert client.get(url).status_code == 404, (name, url)
        listed = client.get(f"/api/v1/{prefix}/", {"page_size": 200})
        assert listed.status_code == 200
        assert made.obj.pk not in {row["id"] for row in listed.json()["results"]}, name
        for method in ("put", "patch", "delete"):
            response = getattr(client, method)(url, {}, format="json")
            # 404 where the method exists; 405 where the endpoint is read-only.
            assert response.status_code in (404, 405), (name, method, response.status_code)


@pytest.mark.parametrize(("prefix", "viewset"), ROUTES, ids=[p for p, _ in ROUTES])
def test_list_query_count_is_constant(prefix: str, viewset: type, world: World) -> None:
    client = APIClient()
    client.force_authenticate(world.director)
    maker = MAKERS[viewset.model._meta.label]

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"/api/v1/{prefix}/", {"page_size": 200}).status_code == 200
        return len(ctx.captured_queries)

    maker(world)
    few = queries()
    for _ in range(6):
        maker(world)
    assert queries() == few
