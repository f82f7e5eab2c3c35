"""Writes of single sign-on: the global admin's set-up, and the user a verified ID token signs
in as (found by its subject or e-mail in the provider's organization, or created there)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.directory import org_of_email
from crm.models import Organization, SalesCompany, User
from crm.roles import COMPANY_ROLES, Role
from crm.scope import org_scope
from crm.visibility import can_configure
from sso import crypto, oidc
from sso.models import IdentityProvider, SsoIdentity


class SignInRefused(Exception):
    """A verified ID token that still may not sign anyone in; the message is for the person."""


def may_manage_sso(user: User) -> bool:
    return can_configure(user)


def _require_admin(acting_user: User, organization: Organization) -> None:
    if acting_user.organization_id != organization.pk or not may_manage_sso(acting_user):
        raise PermissionDenied("Only the organization's global admin may set up single sign-on.")


def validate_issuer(issuer: str) -> None:
    # https protects the discovery document and the keys; plain http only on this machine
    # (a provider on loopback, as the test suite starts) or in development.
    if not issuer.startswith("https://") and not (settings.DEBUG or oidc.is_loopback(issuer)):
        raise ValidationError({"issuer": _("The issuer must be an https:// address.")})


def provider_config(provider: IdentityProvider) -> oidc.ProviderConfig:
    return oidc.ProviderConfig(
        issuer=provider.issuer,
        client_id=provider.client_id,
        client_secret=crypto.decrypt(provider.client_secret_encrypted),
        scopes=provider.scopes,
        metadata=provider.metadata,
    )


def identity_provider_save(
    *,
    organization: Organization,
    acting_user: User,
    client_secret: str,
    password_login: bool,
    **fields: Any,
) -> IdentityProvider:
    """Create or change the organization's provider. The discovery document is fetched now, so
    an unreachable or wrong issuer is an error on the form, not at the next person's sign-in.
    An empty ``client_secret`` keeps the stored one."""
    _require_admin(acting_user, organization)
    validate_issuer(fields["issuer"])
    provider = IdentityProvider.objects.for_org(organization).first() or IdentityProvider(
        organization=organization
    )
    if not client_secret and not provider.client_secret_encrypted:
        raise ValidationError({"client_secret": _("Enter the client secret.")})
    company = fields.get("default_company")
    if company is not None and company.organization_id != organization.pk:
        raise ValidationError({"default_company": _("Choose a sales company of yours.")})
    if not password_login and not fields.get("enabled"):
        raise ValidationError(
            {"password_login": _("Password sign-in can be switched off only with SSO enabled.")}
        )
    try:
        metadata = oidc.discover(fields["issuer"])
    except oidc.OidcError as exc:
        raise ValidationError(
            {"issuer": _("The issuer's discovery document could not be used: %(reason)s")
             % {"reason": exc}}
        ) from exc  # fmt: skip
    for name, value in fields.items():
        setattr(provider, name, value)
    if client_secret:
        provider.client_secret_encrypted = crypto.encrypt(client_secret)
    provider.metadata = metadata
    provider.updated_at = timezone.now()
    provider.full_clean(exclude=["client_secret_encrypted"])
    # The network is asked above, outside the transaction; the two writes go together.
    with transaction.atomic():
        provider.save()
        if organization.password_login != password_login:
            organization.password_login = password_login
            organization.save(update_fields=["password_login"])
    return provider


def _first_match(pairs: Sequence[Sequence[str]], groups: set[str]) -> str | None:
    for pair in pairs:
        if len(pair) == 2 and pair[0] in groups:
            return pair[1]
    return None


def _groups(claims: dict[str, Any], claim: str) -> set[str]:
    value = claims.get(claim) if claim else None
    if isinstance(value, str):
        return {value}
    if isinstance(value, list):
        return {str(v) for v in value}
    return set()


def mapped_placement(
    provider: IdentityProvider, claims: dict[str, Any]
) -> tuple[Role, SalesCompany | None]:
    """The role and company the claims map to: the first matching line of each map, else the
    provider's defaults."""
    groups = _groups(claims, provider.groups_claim)
    role_name = _first_match(provider.role_map, groups)
    role = Role(role_name) if role_name in Role.values else Role(provider.default_role)
    code = _first_match(provider.company_map, groups)
    company = (
        SalesCompany.objects.for_org(provider.organization_id).filter(code=code).first()
        if code is not None
        else None
    ) or provider.default_company
    return role, company


def _create_user(
    provider: IdentityProvider, *, email: str, full_name: str, claims: dict[str, Any]
) -> User:
    role, company = mapped_placement(provider, claims)
    if role in COMPANY_ROLES and company is None:
        raise SignInRefused(_("Your groups map to no sales company: ask your administrator."))
    region = company.region if role == Role.REGIONAL_MANAGER and company is not None else None
    if role == Role.REGIONAL_MANAGER and region is None:
        raise SignInRefused(_("Your groups map to no region: ask your administrator."))
    # No usable password: this person signs in through the provider.
    return User.objects.create_user(
        email,
        None,
        organization_id=provider.organization_id,
        full_name=full_name[:200],
        role=role,
        sales_company=company,
        region=region,
        is_staff=role == Role.GLOBAL_ADMIN,
    )


def sso_user_for_claims(*, provider: IdentityProvider, claims: dict[str, Any]) -> User:
    """The user of the provider's organization that verified ``claims`` sign in as.

    Found by the subject first, then by e-mail *within the organization*; created just in time
    when the provider allows it. An address that belongs to another organization never signs
    anyone in: the organization is the provider's, whatever the token says."""
    org_id = provider.organization_id
    subject = str(claims["sub"])
    raw_email = claims.get(provider.email_claim)
    if not isinstance(raw_email, str) or "@" not in raw_email:
        raise SignInRefused(_("Your identity provider sent no e-mail address."))
    if claims.get("email_verified") is False:
        raise SignInRefused(_("Your identity provider has not verified your e-mail address."))
    email = raw_email.strip().lower()
    raw_name = claims.get(provider.name_claim)
    full_name = raw_name.strip() if isinstance(raw_name, str) and raw_name.strip() else email
    with org_scope(org_id), transaction.atomic():
        identity = (
            SsoIdentity.objects.for_org(org_id)
            .select_related("user")
            .filter(subject=subject)
            .first()
        )
        if identity is not None:
            user = identity.user
        else:
            found = User.objects.for_org(org_id).filter(email=email).first()
            if found is None:
                if org_of_email(email) is not None:  # another organization's address
                    raise SignInRefused(_("You have no user here: ask your administrator."))
                if not provider.jit_create:
                    raise SignInRefused(_("You have no user here: ask your administrator."))
                found = _create_user(provider, email=email, full_name=full_name, claims=claims)
            user = found
            identity = SsoIdentity(organization_id=org_id, user=user, subject=subject)
        if not user.is_active:
            raise SignInRefused(_("Your user is deactivated: ask your administrator."))
        identity.last_login_at = timezone.now()
        identity.save()
    return user
