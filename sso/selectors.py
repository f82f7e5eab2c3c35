"""Reads of single sign-on. The set-up is the global admin's (anyone else: 404); the sign-in
page finds a provider by the organization's slug, enabled providers only."""

from __future__ import annotations

from django.http import Http404

from crm.models import Organization, User
from crm.scope import org_scope
from sso.models import IdentityProvider
from sso.services import may_manage_sso


def identity_provider_for_admin(user: User) -> IdentityProvider | None:
    if not may_manage_sso(user):
        raise Http404("No such page.")
    return (
        IdentityProvider.objects.for_org(user.organization_id)
        .select_related("default_company")
        .first()
    )


def enabled_provider_by_slug(slug: str) -> IdentityProvider:
    """The enabled provider of the organization ``slug``; 404 for an unknown slug and for an
    organization without single sign-on alike."""
    org = Organization.objects.filter(slug=slug).first()
    if org is None:
        raise Http404("No such page.")
    with org_scope(org.pk):
        provider = (
            IdentityProvider.objects.for_org(org)
            .select_related("organization")
            .filter(enabled=True)
            .first()
        )
    if provider is None:
        raise Http404("No such page.")
    return provider


def enabled_provider_of_org(org_id: int) -> IdentityProvider | None:
    with org_scope(org_id):
        return (
            IdentityProvider.objects.for_org(org_id)
            .select_related("organization")
            .filter(enabled=True)
            .first()
        )
