"""The visibility registry: one policy per tenant model, and ``apply``, which narrows a queryset
to the rows a user may see (the organization first, then the model's policy).

Below the models in the kernel (it imports none), so that ``TenantQuerySet.visible_to`` can ask
it; ``crm.visibility`` holds the role scope and the kernel's policies, and each app registers its
own policies in ``<app>/policies.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model, QuerySet
from django.http import Http404

from crm.ids import parse_id
from crm.rls import RLS_NOT_FORCED
from crm.scope import orm_tenant_filter_on

if TYPE_CHECKING:
    from crm.models import User

M = TypeVar("M", bound=Model)
QS = TypeVar("QS", bound=QuerySet[Any])
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


def apply(qs: QS, user: User) -> QS:
    """Narrow ``qs`` to the rows ``user`` may see."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return qs.none()
    label = qs.model._meta.label
    try:
        fn = _POLICIES[label]
    except KeyError:
        raise ImproperlyConfigured(f"{label} has no visibility policy.") from None
    # Identity tables' RLS is not forced (the owner reads them whole, see crm.rls): wall one
    # always stays on for them.
    if orm_tenant_filter_on() or label in RLS_NOT_FORCED:
        qs = qs.filter(organization_id=user.organization_id)
    # A policy narrows with filter()/none(), which keep the queryset's class and model.
    return cast("QS", fn(qs, user))


def access_by_id(visible: QuerySet[M], pk: object) -> M:
    """The row ``pk`` of ``visible`` (a ``Model.objects.visible_to(user)`` queryset). Missing,
    foreign, invisible and malformed ids raise the same ``Http404``, in pages, API and services
    alike: the answer never tells whether a row exists that the user may not see. Each app wraps
    it once per entity as ``access_<entity>_by_id(user, pk)``, with the joins its callers need."""
    ident = parse_id(pk)
    obj = None if ident is None else visible.filter(pk=ident).first()
    if obj is None:
        raise Http404(f"No {visible.model._meta.verbose_name} matches the given query.")
    return obj


def visible_rows(model: type[Model], user: User) -> QuerySet[Any]:
    """``model.objects.visible_to(user)`` for a model known only at run time (API viewsets,
    references by id): the default manager of every model with a policy has ``visible_to``
    (TenantManager, UserManager), which the type of a manager of any model cannot say."""
    rows: QuerySet[Any] = model._default_manager.visible_to(user)  # type: ignore[attr-defined]
    return rows


def require_visible(user: User | None, obj: Model) -> None:
    """Raise ``access_by_id``'s ``Http404`` unless ``user`` may see ``obj``: services that are
    handed an object check it first, so a foreign or invisible one answers like a missing one
    (and only a visible one can be refused with ``PermissionDenied``). ``None`` is the system
    itself (seed_demo, tasks), which acts on the whole organization."""
    if user is None:
        return
    if (
        obj.pk is None
        or getattr(obj, "organization_id", None) != user.organization_id
        or not visible_rows(type(obj), user).filter(pk=obj.pk).exists()
    ):
        raise Http404(f"No {obj._meta.verbose_name} matches the given query.")
