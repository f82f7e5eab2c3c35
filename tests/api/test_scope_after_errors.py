"""An API request that fails with an unexpected error must not leave its organization in
scope: DRF skips ``finalize_response`` when it re-raises, and a scope left behind would be the
next request's on the same thread (found by the fuzz run: after one 500 every later request of
the run saw the first one's organization)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from crm.api import RegionViewSet
from crm.scope import current_org_id
from tests.conftest import World


@pytest.mark.django_db
def test_a_server_error_leaves_no_organization_in_scope(world: World, monkeypatch) -> None:
    def broken(self, request, *args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(RegionViewSet, "list", broken)
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(world.rep_se)
    assert current_org_id() is None
    assert client.get("/api/v1/regions/").status_code == 500
    assert current_org_id() is None
