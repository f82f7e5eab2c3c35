"""Writes of the kernel. Keyword-only, typed, atomic; the caller passes the acting user."""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone as dj_timezone

from crm.directory import email_in_use, hash_token
from crm.models import ApiToken, ExchangeRate, Organization, Region, SalesCompany, User
from crm.registry import require_visible
from crm.roles import Role
from crm.scope import org_scope
from crm.tenancy import require_same_org
from crm.visibility import can_configure


def _require_admin(acting_user: User | None, organization: Organization) -> None:
    # acting_user None means the system itself (seed, migrations of data).
    if acting_user is None:
        return
    if acting_user.organization_id != organization.pk or not can_configure(acting_user):
        raise PermissionDenied("Only the organization's global admin may change its set-up.")


@transaction.atomic
def exchange_rate_set(
    *,
    organization: Organization,
    currency: str,
    rate: Decimal,
    valid_from: dt.date,
    acting_user: User | None,
) -> ExchangeRate:
    """Create or correct the rate of ``currency`` valid from ``valid_from``."""
    _require_admin(acting_user, organization)
    obj = (
        ExchangeRate.objects.for_org(organization)
        .filter(currency=currency, valid_from=valid_from)
        .first()
    ) or ExchangeRate(organization=organization, currency=currency, valid_from=valid_from)
    obj.rate = rate
    obj.full_clean()
    obj.save()
    return obj


@transaction.atomic
def region_ensure(*, organization: Organization, name: str, acting_user: User | None) -> Region:
    _require_admin(acting_user, organization)
    region, _ = Region.objects.for_org(organization).get_or_create(
        name=name, defaults={"organization": organization}
    )
    return region


@transaction.atomic
def sales_company_ensure(
    *, organization: Organization, code: str, acting_user: User | None, **fields: Any
) -> SalesCompany:
    """Create the company with ``code`` or bring its fields up to date."""
    _require_admin(acting_user, organization)
    company = SalesCompany.objects.for_org(organization).filter(code=code).first()
    if company is None:
        company = SalesCompany(organization=organization, code=code)
    for name, value in fields.items():
        setattr(company, name, value)
    company.full_clean()
    company.save()
    return company


@transaction.atomic
def user_ensure(
    *,
    organization: Organization,
    email: str,
    full_name: str,
    role: Role,
    password: str,
    acting_user: User | None,
    sales_company: SalesCompany | None = None,
    region: Region | None = None,
) -> User:
    """Create the user or bring role and placement up to date; an existing password is kept."""
    _require_admin(acting_user, organization)
    email = email.lower()
    user = User.objects.for_org(organization).filter(email=email).first()
    if user is None:
        if email_in_use(email):  # any organization's: RLS hides the others from a query
            raise PermissionDenied(f"{email} belongs to another organization.")
        return User.objects.create_user(
            email,
            password,
            organization=organization,
            full_name=full_name,
            role=role,
            sales_company=sales_company,
            region=region,
            is_staff=role == Role.GLOBAL_ADMIN,
        )
    changed = (
        user.full_name != full_name
        or user.role != role
        or user.sales_company_id != (sales_company.pk if sales_company else None)
        or user.region_id != (region.pk if region else None)
    )
    if changed:
        user.full_name, user.role = full_name, role
        user.sales_company, user.region = sales_company, region
        user.is_staff = role == Role.GLOBAL_ADMIN
        user.full_clean(exclude=["password"])
        user.save()
    return user


@transaction.atomic
def user_set_preferences(*, user: User, language: str, timezone: str, acting_user: User) -> User:
    """A user's own language and time zone (blank: as the sales company). The user themself or
    their organization's global admin may set them."""
    if acting_user.pk != user.pk:
        _require_admin(acting_user, user.organization)
    if (user.language, user.timezone) == (language, timezone):
        return user
    user.language, user.timezone = language, timezone
    user.full_clean(exclude=["password"])
    user.save(update_fields=["language", "timezone"])
    return user


@transaction.atomic
def user_set_data_protection(*, user: User, enabled: bool, acting_user: User) -> User:
    """The data-protection capability (GDPR export and erasure), given by the global admin: a
    flag beside the role, so the role keeps deciding what the user sees otherwise."""
    _require_admin(acting_user, user.organization)
    if user.data_protection != enabled:
        user.data_protection = enabled
        user.save(update_fields=["data_protection"])
    return user


@transaction.atomic
def organization_set_lead_retention(
    *, organization: Organization, months: int | None, acting_user: User
) -> Organization:
    """Months after their last change that leads never converted are erased (None: off)."""
    if not (acting_user.role == Role.GLOBAL_ADMIN or acting_user.data_protection):
        raise PermissionDenied("Only the admin or the data-protection officer sets retention.")
    require_same_org(organization.pk, acting_user)
    organization.lead_retention_months = months
    organization.full_clean()
    organization.save(update_fields=["lead_retention_months"])
    return organization


# --- API tokens ---------------------------------------------------------------------------------


@transaction.atomic
def api_token_issue(*, user: User, name: str = "API") -> tuple[ApiToken, str]:
    """A new token for ``user``, expiring after API_TOKEN_TTL_DAYS; the plain key is returned
    once, only its hash is stored."""
    key = secrets.token_urlsafe(32)
    # In the user's scope: the token endpoint runs before any organization is (row-level
    # security on identity tables needs app.org_id for the insert).
    with org_scope(user.organization_id):
        token = ApiToken.objects.create(
            organization_id=user.organization_id,
            user=user,
            key_hash=hash_token(key),
            name=name.strip() or "API",
        )
    return token, key


@transaction.atomic
def api_token_revoke(*, token: ApiToken, acting_user: User) -> ApiToken:
    """Revoke one token. Only its owner may: a token is a personal credential (an admin who
    wants someone's tokens gone deactivates or resets the password of that user)."""
    # A token is visible to its owner only: anyone else's is missing (404), not refused.
    require_visible(acting_user, token)
    if token.revoked_at is None:
        token.revoked_at = dj_timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


@transaction.atomic
def user_revoke_tokens(*, user: User) -> int:
    """Revoke every live token of ``user`` (password changed, user deactivated); returns how
    many. Called by the User signals (crm/signals.py), so every path that saves a user is
    covered: the password page, the admin's set-password form, set-up pages, services."""
    # The user's own organization: saves of users happen in commands and the seed too.
    with org_scope(user.organization_id):
        return ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(
            revoked_at=dj_timezone.now()
        )
