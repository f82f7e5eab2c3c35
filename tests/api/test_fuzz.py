"""Schemathesis over our own OpenAPI schema, in-process: generated requests (valid and
malformed) against every operation as a signed-in rep, bounded in examples. No request may
answer 5xx, and documented responses must match the schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from crm.api_auth import api_token_create
from crm.wsgi import application
from tests.conftest import World
from tests.opportunities.factories import OpportunityFactory, process_for

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", application)

# Every schemathesis check that applies to a stateless, per-operation run, except
# negative_data_rejection: query strings are parsed leniently on purpose (a repeated or malformed
# page_size falls back to the default page, as DRF does) rather than refused.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.missing_required_header,
    checks.unsupported_method,
]


@pytest.fixture(autouse=True)
def _keep_test_connection() -> object:
    # The WSGI handler closes the database connection after each request; inside a test that
    # would close the test transaction's connection (Django's test client does the same).
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def token(world: World) -> str:
    from tests.accounts.factories import make_account

    process_for(world.se)
    account = make_account(organization=world.org, home_company=world.se)
    OpportunityFactory(account=account, owner=world.rep_se)
    return api_token_create(user=world.rep_se)


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
def test_api_never_fails_and_matches_its_schema(case: schemathesis.Case, token: str) -> None:
    case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=CHECKS)
