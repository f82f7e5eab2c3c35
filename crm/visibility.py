"""The visibility policy: who sees which rows inside an organization.

This is the one module that answers "may this user see that row?" for pages, API, exports and
search alike. Each tenant model registers one policy: a function that narrows a queryset to the
rows a user may see, expressed as SQL (subqueries), never as Python filtering of lists. A model
without a policy is invisible: ``apply`` raises rather than fall open.

The role table (ARCHITECTURE.md):

* global_admin, global_director - everything in the organization;
* regional_manager - the sales companies of the region;
* country_manager, sales_rep - the own sales company (plus team groups and grants, per model);
* marketing - the own sales company, or the whole organization when attached to none.

Organization first, always: ``apply`` filters by the user's organization before any policy runs,
so a policy can only ever narrow inside the tenant.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model, QuerySet
from django.http import Http404

from crm.roles import ORG_WIDE_ROLES, Role

if TYPE_CHECKING:
    from crm.models import SalesCompany, User

M = TypeVar("M", bound=Model)
Policy = Callable[[QuerySet[Any], "User"], QuerySet[Any]]

_POLICIES: dict[str, Policy] = {}


def policy(*labels: str) -> Callable[[Policy], Policy]:
    """Register ``fn`` as the visibility policy of the models named by ``app_label.Model``."""

    def register(fn: Policy) -> Policy:
        for label in labels:
            if label in _POLICIES:
                raise ImproperlyConfigured(f"Two visibility policies for {label}.")
            _POLICIES[label] = fn
        return fn

    return register


def apply(qs: QuerySet[M], user: User) -> QuerySet[M]:
    """Narrow ``qs`` to the rows ``user`` may see."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return qs.none()
    label = qs.model._meta.label
    try:
        fn = _POLICIES[label]
    except KeyError:
        raise ImproperlyConfigured(f"{label} has no visibility policy.") from None
    return fn(qs.filter(organization_id=user.organization_id), user)


def get_visible_or_404(qs: QuerySet[M], user: User, **lookup: Any) -> M:
    """Fetch one row the user may see; missing, foreign and invisible rows all answer 404."""
    obj = apply(qs, user).filter(**lookup).first()
    if obj is None:
        raise Http404(f"No {qs.model._meta.verbose_name} matches the given query.")
    return obj


def scoped_company_ids(user: User) -> QuerySet[Any] | list[int] | None:
    """The sales companies whose records the user's role covers; ``None`` means all of them.

    Returned as a values() subquery or a short list, so callers embed it in their own SQL.
    """
    from crm.models import SalesCompany

    if user.role in ORG_WIDE_ROLES:
        return None
    if user.role == Role.REGIONAL_MANAGER:
        return (
            SalesCompany.objects.for_org(user.organization_id)
            .filter(region_id=user.region_id)
            .values("id")
        )
    if user.role == Role.MARKETING and not user.sales_company_id:
        return None
    return [user.sales_company_id] if user.sales_company_id else []


def visible_companies(user: User) -> QuerySet[SalesCompany]:
    """The sales companies in the user's scope (their records, reports and exports)."""
    from crm.models import SalesCompany

    qs = SalesCompany.objects.for_org(user.organization_id)
    if not user.is_authenticated or not user.is_active:
        return qs.none()
    ids = scoped_company_ids(user)
    return qs if ids is None else qs.filter(id__in=ids)


def can_configure(user: User) -> bool:
    """Stages, processes, companies, users and rates: the global admin's."""
    return user.is_active and user.role == Role.GLOBAL_ADMIN


@policy("crm.Region", "crm.SalesCompany", "crm.ExchangeRate", "crm.User")
def _organization_reference_data(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    # The structure of the organization, its people and its rates are known to everyone in it:
    # sellers need colleagues' names to share deals and see who to call about a conflict.
    return qs
