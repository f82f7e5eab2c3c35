"""Writes of the kernel. Keyword-only, typed, atomic; the caller passes the acting user."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction

from crm.models import ExchangeRate, Organization, Region, SalesCompany, User
from crm.roles import Role
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
        if User.objects.unscoped().filter(email=email).exists():
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
