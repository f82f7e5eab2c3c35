"""Who may export and erase personal data: the global admin and the users the admin gave the
data-protection capability, each within their own organization only."""

from __future__ import annotations

from django.http import Http404

from crm.models import User


def may_handle_personal_data(user: User | None) -> bool:
    return bool(user is not None and user.is_active and user.may_handle_personal_data)


def require_personal_data_right(user: User) -> None:
    """404, not 403: to everyone else these pages and endpoints do not exist."""
    if not may_handle_personal_data(user):
        raise Http404("No such page.")
