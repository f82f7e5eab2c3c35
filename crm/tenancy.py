"""The tenancy kernel: the abstract tenant model and its fail-closed, org-scoped manager.

Wall one of two (the second is PostgreSQL row-level security). Every tenant-owned model
inherits ``TenantModel``; its default manager refuses to build a query unless an organization is
in scope. Scope comes from, in order of preference:

* ``Model.objects.for_org(org)`` - explicit, for services, tasks and commands;
* ``with org_scope(org):`` - set per request by ``OrganizationScopeMiddleware`` from the
  authenticated user, so related managers (``account.contacts.all()``) and Django's own
  uniqueness validation keep working inside a request;
* ``Model.objects.unscoped()`` - the one explicit, greppable exit for code that really spans
  organizations (migrations of data, the benchmark generator).

Building a queryset without scope is allowed (Django builds form fields at import time);
running it is not: see ``_OrganizationScopeGuard``. Django internals that must not be scoped
(foreign-key access, deletion cascades, ``refresh_from_db``) use ``_base_manager``, which stays
a plain manager on purpose.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from django.db import models
from django.db.models import BooleanField, Expression, F

from crm.registry import apply
from crm.scope import (
    OrganizationScopeError,
    current_org_id,
    enter_org_scope,
    exit_org_scope,
    org_id_of,
    org_scope,
    orm_tenant_filter_on,
)

# The kernel's public names, importable from crm.tenancy as before the split.
__all__ = [
    "OrganizationScopeError",
    "TenantManager",
    "TenantModel",
    "TenantQuerySet",
    "current_org_id",
    "enter_org_scope",
    "exit_org_scope",
    "org_id_of",
    "org_scope",
    "orm_tenant_filter_on",
    "require_same_org",
]

if TYPE_CHECKING:
    from crm.models import Organization, User

_M = TypeVar("_M", bound=models.Model)


class TenantQuerySet(models.QuerySet[_M]):
    def visible_to(self, user: User) -> Self:
        """The rows ``user`` may see, as one SQL query (see ``crm.visibility``)."""
        return apply(self, user)


class _OrganizationScopeGuard(Expression):
    """``organization_id = <org in scope>``, decided when the SQL is compiled.

    The default manager of a tenant model adds this guard when it is asked for a queryset with no
    organization in scope. Building such a queryset is harmless (Django builds form fields and
    filter sets at import time); compiling it to SQL - select, count, exists, update, delete or
    as a subquery of another query - takes the organization in scope at that moment, and raises
    if there is none. So nothing reaches the database unscoped.
    """

    conditional = True
    output_field = BooleanField()

    def __init__(self, column: Any, label: str) -> None:
        super().__init__(output_field=BooleanField())
        self.column = column
        self.label = label

    def get_source_expressions(self) -> list[Any]:
        return [self.column]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        (self.column,) = exprs

    # Params as a list, as Django 5.2 composes them (``lhs_params + rhs_params``); the stubs
    # follow Django 6's tuples.
    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        org_id = current_org_id()
        if org_id is None:
            raise OrganizationScopeError(
                f"{self.label} was queried with no organization in scope. "
                "Use .for_org(org), `with org_scope(org)`, or, deliberately, .unscoped()."
            )
        if not orm_tenant_filter_on():
            return "TRUE", []
        column_sql, params = compiler.compile(self.column)
        return f"{column_sql} = %s", [*params, org_id]


_TenantManagerBase = models.Manager.from_queryset(TenantQuerySet)


class TenantManager(_TenantManagerBase[_M]):
    """Fail-closed manager: no organization in scope, no query reaches the database."""

    def _all_rows(self) -> TenantQuerySet[_M]:
        # from_queryset makes TenantQuerySet the manager's queryset class; the stubs' Manager
        # still types super().get_queryset() as a plain QuerySet.
        return cast("TenantQuerySet[_M]", super().get_queryset())

    def get_queryset(self) -> TenantQuerySet[_M]:
        qs = self._all_rows()
        org_id = current_org_id()
        if org_id is None:
            return qs.filter(_OrganizationScopeGuard(F("organization_id"), self.model._meta.label))
        return qs.filter(organization_id=org_id) if orm_tenant_filter_on() else qs

    def for_org(self, org: Organization | int) -> TenantQuerySet[_M]:
        org_id = org_id_of(org)
        scoped = current_org_id()
        if scoped is not None and scoped != org_id:
            raise OrganizationScopeError(
                f"{self.model._meta.label}: organization {org_id} asked for while "
                f"organization {scoped} is in scope."
            )
        qs = self._all_rows()
        return qs.filter(organization_id=org_id) if orm_tenant_filter_on() else qs

    def unscoped(self) -> TenantQuerySet[_M]:
        return self._all_rows()

    def visible_to(self, user: User) -> TenantQuerySet[_M]:
        """The one idiom for tenant reads on behalf of a user: the rows ``user`` may see, scoped
        by the user's own organization (whatever is in scope), then by the model's policy, as one
        SQL query. Anonymous or inactive users see nothing."""
        scoped = current_org_id()
        user_org = getattr(user, "organization_id", None)
        if scoped is not None and user_org is not None and scoped != user_org:
            raise OrganizationScopeError(
                f"{self.model._meta.label}: a user of organization {user_org} read while "
                f"organization {scoped} is in scope."
            )
        # Not the guarded default queryset: ``apply`` puts the user's organization first.
        return apply(self._all_rows(), user)


class TenantModel(models.Model):
    """Base of every tenant-owned table: ``organization_id`` NOT NULL, fail-closed manager."""

    organization = models.ForeignKey(
        "crm.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )

    objects = TenantManager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        scoped = current_org_id()
        if scoped is not None and self.organization_id != scoped:
            raise OrganizationScopeError(
                f"Refusing to write a {self._meta.label} of organization "
                f"{self.organization_id} while organization {scoped} is in scope."
            )
        super().save(*args, **kwargs)

    def _own_scope(self) -> AbstractContextManager[object]:
        # Validation of a row runs in that row's organization: Django's uniqueness checks query
        # the default manager, which would otherwise have no scope outside a request.
        if current_org_id() is None and self.organization_id:
            return org_scope(self.organization_id)
        return nullcontext()

    def validate_unique(self, exclude: Collection[str] | None = None) -> None:
        with self._own_scope():
            super().validate_unique(exclude=exclude)

    def validate_constraints(self, exclude: Collection[str] | None = None) -> None:
        with self._own_scope():
            super().validate_constraints(exclude=exclude)


def require_same_org(organization_id: int, *objs: object) -> None:
    """Refuse references to another organization's rows. They answer like missing ones (404):
    the caller learns nothing about what exists elsewhere."""
    from django.http import Http404

    for obj in objs:
        if obj is not None and getattr(obj, "organization_id", organization_id) != organization_id:
            raise Http404("No such record.")
