"""Sharing one object with a named colleague: sparse, explicit django-guardian grants.

Generic over every model with a direct-FK grant model (``<Model>UserObjectPermission`` with
``content_object`` and ``related_name="grants"``): AccountPlan now, Opportunity by the same
mechanism. The grant rows carry the organization, so the tenant wall and the visibility policy
(which reads them through a subquery) cover them like any other row. The role table stays the
engine of visibility; a grant only adds the one object.
"""

from __future__ import annotations

from typing import Any, Literal

from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Model

from accounts.models import AccountPlan
from accounts.services import may_manage_group
from crm.models import User
from crm.registry import require_visible
from crm.roles import MANAGER_ROLES, Role
from crm.tenancy import TenantModel, require_same_org
from crm.visibility import covers_company

SharePermission = Literal["view", "change"]


def _grant_model(obj: Model) -> Any:
    # The model's own grant class (AccountPlanUserObjectPermission, ...), known at run time.
    try:
        return obj._meta.get_field("grants").related_model
    except Exception as exc:  # FieldDoesNotExist: the model is not shareable
        raise TypeError(f"{obj._meta.label} has no direct-FK grant model.") from exc


def _permission(obj: Model, permission: str) -> Permission:
    if permission not in ("view", "change"):
        raise ValidationError({"permission": "Share for view or change."})
    return Permission.objects.get(
        content_type=ContentType.objects.get_for_model(type(obj)),
        codename=f"{permission}_{obj._meta.model_name}",
    )


def _owning_company_id(obj: Any) -> int | None:
    # An opportunity is its booking company's; a plan belongs to its group's home company.
    if getattr(obj, "sales_company_id", None):
        return obj.sales_company_id
    account = getattr(obj, "account", None)
    return account.home_company_id if account is not None else None


def _may_share(obj: Any, user: User) -> bool:
    """The owner, or a manager who may change the object (not a colleague it was shared with:
    a grant is not a licence to pass the object on)."""
    if user.organization_id != obj.organization_id or not user.is_active:
        return False
    if getattr(obj, "owner_id", None) == user.pk:
        return True
    if isinstance(obj, AccountPlan):
        manager = user.role == Role.GLOBAL_DIRECTOR or user.role in MANAGER_ROLES
        return manager and may_manage_group(user, obj.account)
    if user.role == Role.GLOBAL_DIRECTOR:
        return True
    return user.role in MANAGER_ROLES and covers_company(user, _owning_company_id(obj))


def _check(obj: Any, grantee: User, acting_user: User | None) -> None:
    # Never across the tenant wall, whoever asks (the system included): another organization's
    # colleague, like an object the user cannot see, is missing.
    require_same_org(obj.organization_id, grantee)
    require_visible(acting_user, obj)
    if acting_user is not None and not _may_share(obj, acting_user):
        raise PermissionDenied("Only the owner or a manager may share this.")
    if not grantee.is_active:
        raise ValidationError({"grantee": "The colleague's account is inactive."})


@transaction.atomic
def object_share(
    *, obj: TenantModel, grantee: User, permission: SharePermission, acting_user: User | None
) -> Model:
    """Grant ``grantee`` view or change on ``obj``; sharing twice is harmless. Returns the grant."""
    _check(obj, grantee, acting_user)
    grant_model = _grant_model(obj)
    grant, _ = grant_model.objects.for_org(obj.organization_id).get_or_create(
        user=grantee,
        permission=_permission(obj, permission),
        content_object=obj,
        defaults={"organization_id": obj.organization_id},
    )
    return grant


@transaction.atomic
def object_unshare(
    *,
    obj: TenantModel,
    grantee: User,
    acting_user: User | None,
    permission: SharePermission | None = None,
) -> int:
    """Revoke the grant (one permission, or all of them); the object disappears from the
    grantee's lists at once unless the role table shows it anyway. Returns rows removed."""
    _check(obj, grantee, acting_user)
    grants = (
        _grant_model(obj)
        .objects.for_org(obj.organization_id)
        .filter(user=grantee, content_object=obj)
    )
    if permission is not None:
        grants = grants.filter(permission=_permission(obj, permission))
    deleted, _ = grants.delete()
    return deleted
