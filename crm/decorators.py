"""View decorators of the role rules: signed in, and a rule about the user holds, else 403."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBase
from django.utils.translation import gettext as _

from crm.http import AuthenticatedHttpRequest
from crm.models import User
from crm.visibility import can_configure

View = Callable[..., HttpResponseBase]


def allowed_by(rule: Callable[[User], bool], refusal: str = "") -> Callable[[View], View]:
    """Signed in, and ``rule(user)`` holds; else 403 (with ``refusal`` as the page's reason)."""

    def decorator(view: View) -> View:
        @wraps(view)
        @login_required
        def wrapped(
            request: AuthenticatedHttpRequest, *args: Any, **kwargs: Any
        ) -> HttpResponseBase:
            if not rule(request.user):
                raise PermissionDenied(refusal or _("Your role does not allow this page."))
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def roles_required(roles: frozenset[str]) -> Callable[[View], View]:
    return allowed_by(lambda user: user.role in roles)


def admin_required(view: View) -> View:
    """Set-up pages are the global admin's; everyone else gets 403 (they exist, but not for you)."""
    return allowed_by(can_configure, _("Only the global admin configures the organization."))(view)
