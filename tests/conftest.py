"""Shared fixtures: a small two-organization world with one user per role."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.conf import settings

from crm.models import Organization, Region, SalesCompany, User
from crm.roles import Role
from tests.factories import (
    OrganizationFactory,
    RegionFactory,
    SalesCompanyFactory,
    UserFactory,
)
from tests.workers import app_role_for, start_worker, stop_worker

pytest_plugins = ["tests.oidc_provider"]


def pytest_configure(config: pytest.Config) -> None:
    # Under pytest-xdist each worker gets its own test database from pytest-django; the
    # cluster-wide application role (tests/crm/test_rls.py) is made per worker here, before the
    # test database is migrated (whose post-migrate hook grants that role).
    settings.DATABASE_APP_ROLE = app_role_for(settings.DATABASE_APP_ROLE)


@dataclass
class World:
    org: Organization
    other_org: Organization
    nordics: Region
    dach: Region
    se: SalesCompany
    dk: SalesCompany
    de: SalesCompany
    other_company: SalesCompany
    admin: User
    director: User
    regional: User
    manager_se: User
    manager_de: User
    rep_se: User
    rep_dk: User
    rep_de: User
    marketing: User
    marketing_se: User
    stranger: User

    def users(self) -> dict[str, User]:
        return {name: value for name, value in vars(self).items() if isinstance(value, User)}


@pytest.fixture
def world(db: None) -> World:
    org = OrganizationFactory(name="Nordvik", slug="nordvik-test")
    other = OrganizationFactory(name="Tellus", slug="tellus-test", corporate_currency="USD")
    nordics = RegionFactory(organization=org, name="Nordics")
    dach = RegionFactory(organization=org, name="DACH")
    se = SalesCompanyFactory(organization=org, region=nordics, code="SE", name="Nordvik SE")
    dk = SalesCompanyFactory(
        organization=org, region=nordics, code="DK", country="DK", currency="DKK"
    )
    de = SalesCompanyFactory(organization=org, region=dach, code="DE", country="DE", currency="EUR")
    other_company = SalesCompanyFactory(organization=other, code="SE", name="Tellus SE")

    def user(role: Role, **kw: object) -> User:
        return UserFactory(organization=kw.pop("organization", org), role=role, **kw)

    return World(
        org=org,
        other_org=other,
        nordics=nordics,
        dach=dach,
        se=se,
        dk=dk,
        de=de,
        other_company=other_company,
        admin=user(Role.GLOBAL_ADMIN, is_staff=True),
        director=user(Role.GLOBAL_DIRECTOR),
        regional=user(Role.REGIONAL_MANAGER, region=nordics),
        manager_se=user(Role.COUNTRY_MANAGER, sales_company=se),
        manager_de=user(Role.COUNTRY_MANAGER, sales_company=de),
        rep_se=user(Role.SALES_REP, sales_company=se),
        rep_dk=user(Role.SALES_REP, sales_company=dk),
        rep_de=user(Role.SALES_REP, sales_company=de),
        marketing=user(Role.MARKETING),
        marketing_se=user(Role.MARKETING, sales_company=se),
        stranger=user(Role.SALES_REP, organization=other, sales_company=other_company),
    )


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Each test starts with an empty cache: it holds per-process state (rate-limit counters,
    "conflict mailed" marks, rendered dashboard parts) that must not leak from one test to the
    next, whichever order pytest-xdist gives them."""
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    backend = caches["default"]
    # Only the per-process cache: a shared Redis (REDIS_URL set) belongs to every worker.
    if isinstance(backend, LocMemCache):
        backend.clear()


@pytest.fixture
def worker_queue() -> Iterator[str]:
    """A real Celery worker (real Redis, this worker's test database) on a queue of its own."""
    queue = f"test-{uuid.uuid4().hex[:8]}"
    proc = start_worker(queue)
    yield queue
    print(stop_worker(proc))
