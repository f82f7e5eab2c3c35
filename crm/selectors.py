"""Reads of the kernel, always for an acting user."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from crm.models import ApiToken, Notification, Region, SalesCompany, User
from crm.registry import access_by_id
from crm.roles import COMPANY_ROLES
from crm.visibility import scoped_company_ids, visible_companies


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
    return User.objects.visible_to(user).filter(is_active=True)


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
        ApiToken.objects.visible_to(user)
        .filter(revoked_at__isnull=True)
        .order_by("-created_at", "-pk")
    )


def access_api_token_by_id(user: User, pk: object) -> ApiToken:
    """One of the user's own live tokens; anyone else's (or a revoked one) is 404 like a
    missing one."""
    return access_by_id(own_api_tokens(user=user), pk)


def access_user_by_id(user: User, pk: object) -> User:
    """A person of the user's organization (everyone there sees its people)."""
    return access_by_id(User.objects.visible_to(user).select_related("sales_company", "region"), pk)


def access_sales_company_by_id(user: User, pk: object) -> SalesCompany:
    """A sales company of the user's organization, by the organization's policy (every company
    is known to everyone in it; ``visible_companies`` is the narrower role scope)."""
    return access_by_id(SalesCompany.objects.visible_to(user).select_related("region"), pk)


def access_scoped_company_by_id(user: User, pk: object) -> SalesCompany:
    """A sales company in the user's role scope (its records, reports and exports); one outside
    it is 404 like a missing one."""
    return access_by_id(visible_companies(user).select_related("region"), pk)


def access_region_by_id(user: User, pk: object) -> Region:
    return access_by_id(Region.objects.visible_to(user), pk)


# --- In-app notifications (written by crm.notifications) ----------------------------------------


def notification_list(*, user: User) -> QuerySet[Notification]:
    """The user's own notifications, newest first (read ones too). Never anyone else's."""
    return Notification.objects.visible_to(user).order_by("-created_at", "-pk")


def unread_count(*, user: User) -> int:
    """How many of the user's notifications are unread: one query (the top bar's badge)."""
    return Notification.objects.visible_to(user).filter(read_at__isnull=True).count()


def access_notification_by_id(user: User, pk: object) -> Notification:
    """One of the user's own notifications; anyone else's is 404 like a missing one."""
    return access_by_id(notification_list(user=user), pk)
