"""Request types for code behind sign-in: pages under ``login_required`` (or the role
decorators of ``crm.decorators``) and API views under DRF's ``IsAuthenticated`` (the default
permission). Their ``user`` is one of ours, never ``AnonymousUser``; Django and DRF build the
requests, these classes only say so to the type checker (views annotate their ``request``)."""

from __future__ import annotations

from typing import cast

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails
from rest_framework.request import Request

from crm.models import User


class AuthenticatedHttpRequest(HttpRequest):
    user: User
    htmx: HtmxDetails  # set on every request by django-htmx's middleware


class AuthenticatedRequest(Request):
    user: User


def signed_in_user(request: HttpRequest) -> User:
    """The user of a request behind sign-in, where a framework hook fixes the parameter as any
    request: a ModelAdmin's methods (the admin site lets only active staff in), a DRF
    permission's ``has_permission`` once ``IsAuthenticated`` has said yes."""
    return cast(User, request.user)
