"""The visibility policy: who sees which rows inside an organization.

This is the one module that answers "may this user see that row?" for pages, API, exports and
search alike. Each tenant model registers one policy: a function that narrows a queryset to the
rows a user may see, expressed as SQL (subqueries), never as Python filtering of lists. A model
without a policy is invisible: ``apply`` raises rather than fall open.

This module holds the registry, the role scope and the kernel's own policies; each app registers
the policies of its models in ``<app>/policies.py``, loaded by its ``AppConfig.ready``, so the
kernel names no model of the apps above it.

The role table (ARCHITECTURE.md):

* global_admin, global_director - everything in the organization;
* regional_manager - the sales companies of the region;
* country_manager, sales_rep - the own sales company (plus team groups and grants, per model);
* marketing - the own sales company, or the whole organization when attached to none.

Organization first, always: ``apply`` filters by the user's organization before any policy runs,
so a policy can only ever narrow inside the tenant.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, TypeVar

from django.apps import apps
from django.db.models import Model, Q, QuerySet

from crm.audit import register_history
from crm.db.compiled import CompiledQuery
from crm.models import SalesCompany, User
from crm.registry import Policy, access_by_id, apply, policy
from crm.roles import ORG_WIDE_ROLES, Role

M = TypeVar("M", bound=Model)

# The registry's names, importable from here as they always were.
__all__ = ["Policy", "access_by_id", "apply", "policy"]


def scoped_company_ids(user: User) -> QuerySet[Any] | list[int] | None:
    """The sales companies whose records the user's role covers; ``None`` means all of them.

    Returned as a values() subquery or a short list, so callers embed it in their own SQL.
    """
    if user.role in ORG_WIDE_ROLES:
        return None
    if user.role == Role.REGIONAL_MANAGER:
        if user.region_id is None:  # refused by User.clean: a regional manager has a region
            return []
        return (
            SalesCompany.objects.for_org(user.organization_id)
            .filter(region_id=user.region_id)
            .values("id")
        )
    if user.role == Role.MARKETING and not user.sales_company_id:
        return None
    return [user.sales_company_id] if user.sales_company_id else []


# What of a user the visibility policies read: the role and these four values. Every policy
# branches on the role and on whether the company and the region are set (``scoped_company_ids``)
# and puts the values themselves into its SQL as parameters, so one SQL text serves every user of
# one shape (``user_shape``): a compiled statement (``crm.db.compiled.CompiledQuery``) binds
# ``user_values`` in the places of a stand-in user's (``stand_in_user``).
USER_VALUES = ("organization_id", "user_id", "sales_company_id", "region_id")
UserShape = tuple[str, bool, bool]


def user_shape(user: User) -> UserShape | None:
    """The shape of the user's visibility SQL; ``None`` where no statement may be shared (an
    anonymous or inactive user sees nothing: ``apply`` answers ``none()``)."""
    if not user.is_authenticated or not user.is_active:
        return None
    return (user.role, bool(user.sales_company_id), user.region_id is not None)


def compiled_per_shape(
    cache: dict[UserShape, CompiledQuery],
    shape: UserShape,
    make: Callable[[UserShape], CompiledQuery],
) -> CompiledQuery:
    """The statement for users of ``shape`` in ``cache``, made (``make(shape)``) the first time
    a user of that shape asks. A handful of shapes exist (the roles), so the cache needs no
    bound. No lock: two threads racing on a new shape may both make one, and ``setdefault``
    keeps the first, so every caller runs the same statement (a spare is only a little work)."""
    found = cache.get(shape)
    if found is None:
        found = cache.setdefault(shape, make(shape))
    return found


def user_values(user: User) -> dict[str, Any]:
    """The values a statement of ``user_shape(user)`` binds (see ``stand_in_user``)."""
    return {
        "organization_id": user.organization_id,
        "user_id": user.pk,
        "sales_company_id": user.sales_company_id,
        "region_id": user.region_id,
    }


def stand_in_user(
    shape: UserShape,
    *,
    organization_id: int,
    user_id: int,
    sales_company_id: int | None,
    region_id: int | None,
) -> User:
    """An unsaved user of ``shape`` with the given values (a compiled statement's sentinels):
    the policies build the same SQL for it as for every real user of that shape. Only the
    values the shape says are set are set (the policies test them for truth)."""
    role, has_company, has_region = shape
    return User(
        pk=user_id,
        organization_id=organization_id,
        role=role,
        sales_company_id=sales_company_id if has_company else None,
        region_id=region_id if has_region else None,
        is_active=True,
    )


def covers_company(user: User, company_id: int | None) -> bool:
    """Whether the sales company is in the user's role scope (for "may change" checks)."""
    ids = scoped_company_ids(user)
    if ids is None:
        return True
    if isinstance(ids, list):
        return company_id in ids
    return ids.filter(id=company_id).exists()


def visible_companies(user: User) -> QuerySet[SalesCompany]:
    """The sales companies in the user's scope (their records, reports and exports)."""
    qs = SalesCompany.objects.for_org(user.organization_id)
    if not user.is_authenticated or not user.is_active:
        return qs.none()
    ids = scoped_company_ids(user)
    return qs if ids is None else qs.filter(id__in=ids)


def can_configure(user: User) -> bool:
    """Stages, processes, companies, users and rates: the global admin's."""
    return user.is_active and user.role == Role.GLOBAL_ADMIN


@policy("crm.ApiToken")
def _api_tokens(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    return qs.filter(user_id=user.pk)


def among(field: str, ids: QuerySet[Any] | list[int]) -> Q:
    """``field`` is one of ``ids``: a short list inline, a subquery as ``= ANY(ARRAY(…))`` so
    that it stays indexable inside the ORs of a policy (see crm.db.lookups)."""
    if isinstance(ids, list):
        return Q(**{f"{field}__in": ids})
    return Q(**{f"{field}__any_of": ids})


def nothing(qs: QuerySet[M]) -> QuerySet[M]:
    """No rows, still as one SQL statement (like every policy)."""
    return qs.filter(pk__isnull=True)


def everyone_in_the_organization(qs: QuerySet[M], user: User) -> QuerySet[M]:
    """The policy of shared reference data: every user of the organization sees all of it."""
    return qs


def granted_ids(grant_model: type[Model], user: User) -> QuerySet[Any]:
    """Objects shared with the user by a direct-FK guardian grant (view or change)."""
    # A grant model is a TenantModel (its default manager has for_org); the fields differ per
    # model, so its type here is any model's.
    grants: QuerySet[Any] = grant_model._default_manager.for_org(user.organization_id)  # type: ignore[attr-defined]
    return grants.filter(user_id=user.pk).values("content_object_id")


def grant_policy(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    """A grant is seen by its grantee and by whoever sees the shared object."""
    target = qs.model._meta.get_field("content_object").related_model.objects.visible_to(user)
    return qs.filter(Q(user_id=user.pk) | Q(content_object_id__in=target.values("id")))


def event_policy(parent: type[Model], field: str, *, marketing: bool = True) -> Policy:
    """The policy of an audit event table (django-pghistory): an event is seen by whoever sees
    the record it belongs to; events of deleted rows (a replaced line or split, a removed team
    member) hang off their parent, which still exists. ``marketing=False``: deal data, which
    marketing never reads, even where it sees the parent."""

    def narrow(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
        if scoped_company_ids(user) is None and user.role in ORG_WIDE_ROLES:
            return qs
        if user.role == Role.MARKETING and not marketing:
            return nothing(qs)
        parents = parent._default_manager.visible_to(user).values("id")  # type: ignore[attr-defined]
        return qs.filter(**{f"{field}__in": parents})

    return narrow


def audit_trail(
    record: type[Model], *events: tuple[str, str], deal_data: Collection[str] = ()
) -> None:
    """The History page of ``record``: these audit event tables of its app (model name, column
    pointing at the record), each registered with ``event_policy`` (seen as the record is;
    those named in ``deal_data`` never by marketing) and as a source of the record's trail."""
    sources = []
    for name, pointer in events:
        model = apps.get_model(record._meta.app_label, name)
        policy(model._meta.label)(event_policy(record, pointer, marketing=name not in deal_data))
        sources.append((model, pointer))
    register_history(record, *sources)


# The structure of the organization, its people and its rates are known to everyone in it:
# sellers need colleagues' names to share deals and see who to call about a conflict.
policy("crm.Region", "crm.SalesCompany", "crm.ExchangeRate", "crm.User", "crm.UserEvent")(
    everyone_in_the_organization
)


@policy("crm.Notification")
def _notifications(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    # Personal, like a token: every role (marketing too, the admin too) sees its own only.
    return qs.filter(recipient_id=user.pk)


# Search words are read only by crm.search as candidate ids, which the searched model's own
# policy then narrows; through the policy they are nobody's rows.
policy("crm.SearchWord")(lambda qs, user: nothing(qs))
