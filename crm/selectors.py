"""Reads of the kernel, always for an acting user."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet
from django.http import Http404

from crm.models import ApiToken, SalesCompany, User
from crm.roles import COMPANY_ROLES
from crm.visibility import apply, scoped_company_ids, visible_companies


@dataclass(frozen=True)
class HomeSummary:
    user: User
    companies: list[SalesCompany]
    colleagues: int
    sees_whole_organization: bool
    # The roles of one company also see the groups their (company's) global account team works
    # on (ARCHITECTURE.md's visibility table); the page says so instead of naming the roles.
    sees_team_groups: bool


def colleagues_visible_to(user: User) -> QuerySet[User]:
    return apply(User.objects.unscoped(), user).filter(is_active=True)


def home_summary(*, user: User) -> HomeSummary:
    """Who the user is and the scope the visibility policy gives them."""
    return HomeSummary(
        user=user,
        companies=list(visible_companies(user).select_related("region").order_by("name")),
        colleagues=colleagues_visible_to(user).count(),
        sees_whole_organization=scoped_company_ids(user) is None,
        sees_team_groups=user.role in COMPANY_ROLES,
    )


def own_api_tokens(*, user: User) -> QuerySet[ApiToken]:
    """The user's own tokens that were not revoked, newest first (expired ones stay listed,
    marked by their date, until revoked). Never anyone else's: tokens are personal."""
    return (
        ApiToken.objects.for_org(user.organization_id)
        .filter(user=user, revoked_at__isnull=True)
        .order_by("-created_at", "-pk")
    )


def own_api_token_or_404(*, user: User, pk: int) -> ApiToken:
    """One of the user's own live tokens; anyone else's (or a revoked one) is 404 like a
    missing one."""
    token = own_api_tokens(user=user).filter(pk=pk).first()
    if token is None:
        raise Http404("No such token.")
    return token
