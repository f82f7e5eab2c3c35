"""Puts the authenticated user's organization in scope for the whole request."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from crm.tenancy import org_scope


class OrganizationScopeMiddleware:
    """The organization always comes from the authenticated user, never from the client."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated and user.is_active:
            with org_scope(user.organization_id):
                return self.get_response(request)
        return self.get_response(request)
