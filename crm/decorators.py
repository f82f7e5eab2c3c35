"""View decorators of the role rules: signed in, and a rule about the user holds, else 403."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.utils.translation import gettext as _

from crm.http import AuthenticatedHttpRequest
from crm.models import User

View = Callable[..., HttpResponse]


def allowed_by(rule: Callable[[User], bool]) -> Callable[[View], View]:
    """Signed in, and ``rule(user)`` holds; else 403."""

    def decorator(view: View) -> View:
        @wraps(view)
        @login_required
        def wrapped(request: AuthenticatedHttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not rule(request.user):
                raise PermissionDenied(_("Your role does not allow this page."))
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def roles_required(roles: frozenset[str]) -> Callable[[View], View]:
    return allowed_by(lambda user: user.role in roles)
