"""Single sign-on: an organization's OpenID Connect provider and the identities it vouches for."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import SalesCompany, User
from crm.roles import Role
from crm.tenancy import TenantModel


class IdentityProvider(TenantModel):
    """One per organization. The organization of a sign-in is the one whose provider the
    sign-in started at (its slug in the URL), never one named by the provider's answer."""

    name = models.CharField(
        _("name shown on the button"), max_length=80, help_text=_("E.g. “Nordvik ID”.")
    )
    issuer = models.URLField(_("issuer"), max_length=300)
    client_id = models.CharField(_("client id"), max_length=200)
    # Fernet token (sso.crypto), never the secret itself; nothing renders it back.
    client_secret_encrypted = models.TextField(editable=False)
    scopes = models.CharField(_("scopes"), max_length=200, default="openid email profile")
    email_claim = models.CharField(_("e-mail claim"), max_length=60, default="email")
    name_claim = models.CharField(_("name claim"), max_length=60, default="name")
    groups_claim = models.CharField(_("groups claim"), max_length=60, default="groups")
    # [[group, role], ...] and [[group, company code], ...]: lists, not objects, because the
    # first matching line wins and jsonb does not keep the order of an object's keys.
    role_map = models.JSONField(_("groups to roles"), default=list, blank=True)
    company_map = models.JSONField(_("groups to sales companies"), default=list, blank=True)
    default_role = models.CharField(
        _("default role"), max_length=32, choices=Role.choices, default=Role.SALES_REP
    )
    default_company = models.ForeignKey(
        SalesCompany, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("default sales company"),
    )  # fmt: skip
    jit_create = models.BooleanField(
        _("create users at their first sign-in"), default=True,
        help_text=_("Off: only people who already have a user here may sign in."),
    )  # fmt: skip
    enabled = models.BooleanField(_("enabled"), default=True)
    # The provider's discovery document as fetched when the set-up was saved (endpoints, keys'
    # address); the keys themselves are fetched at sign-in, so a rotation needs no new save.
    metadata = models.JSONField(default=dict, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="identityprovider_one_per_org"),
        ]

    def __str__(self) -> str:
        return self.name


class SsoIdentity(TenantModel):
    """A provider's subject (``sub``) linked to one user: later sign-ins find the user by it,
    so a changed e-mail address at the provider does not make a second user."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "subject"], name="ssoidentity_org_subject_uniq"
            ),
        ]

    def __str__(self) -> str:
        return self.subject
