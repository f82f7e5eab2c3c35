"""A list's id filters answer the same for another organization's record as for one that does
not exist: a 400 "not one of the available choices", never an empty 200 that would tell the
id is taken (users are the related model whose manager is not org-scoped: crm.api_filters)."""

from __future__ import annotations

import pytest

from tests.conftest import World
from tests.factories import as_user

UNKNOWN = 999_999_999


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/v1/opportunities/", "owner"),
        ("/api/v1/opportunities/", "sales_company"),
        ("/api/v1/targets/", "user"),
        ("/api/v1/users/", "sales_company"),
    ],
)
def test_another_organizations_id_is_answered_as_an_unknown_one(
    world: World, path: str, name: str
) -> None:
    theirs = world.stranger.pk if name in ("owner", "user") else world.other_company.pk
    client = as_user(world.director)
    foreign = client.get(path, {name: theirs})
    unknown = client.get(path, {name: UNKNOWN})
    assert unknown.status_code == 400
    assert foreign.status_code == 400
    assert foreign.json() == unknown.json()


def test_an_own_organizations_user_still_filters(world: World) -> None:
    response = as_user(world.director).get("/api/v1/opportunities/", {"owner": world.rep_se.pk})
    assert response.status_code == 200
