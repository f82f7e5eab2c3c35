"""The organization in scope: a context variable, and nothing else.

Kept free of model imports so that the database backend (crm.db) can read it while Django is
still loading models.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from crm.models import Organization


class OrganizationScopeError(RuntimeError):
    """A tenant table was queried with no organization in scope (or with the wrong one)."""


_current_org_id: ContextVar[int | None] = ContextVar("meridian_current_org_id", default=None)


def org_id_of(org: Organization | int) -> int:
    org_id = org if isinstance(org, int) else org.pk
    if not org_id:
        raise OrganizationScopeError("An organization scope needs a saved organization.")
    return int(org_id)


def current_org_id() -> int | None:
    return _current_org_id.get()


def enter_org_scope(org: Organization | int) -> Token[int | None]:
    """Open a scope that outlives one block (e.g. from DRF's ``initial`` to its
    ``finalize_response``); close it with ``exit_org_scope``. Prefer ``org_scope``."""
    return _current_org_id.set(org_id_of(org))


def exit_org_scope(token: Token[int | None]) -> None:
    _current_org_id.reset(token)


@contextmanager
def org_scope(org: Organization | int) -> Iterator[int]:
    """Put one organization in scope for the tenant managers inside the block."""
    token = _current_org_id.set(org_id_of(org))
    try:
        yield _current_org_id.get()  # type: ignore[misc]
    finally:
        _current_org_id.reset(token)


def orm_tenant_filter_on() -> bool:
    """Wall one's SQL filter. Off only in the test that proves wall two (RLS) holds alone."""
    return getattr(settings, "MERIDIAN_ORM_TENANT_FILTER", True)
