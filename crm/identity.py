"""Finding a user or a token before any organization is known, under row-level security.

``crm_user`` and ``crm_apitoken`` are under RLS like every tenant table (``crm.rls``): with no
organization in scope the application role reads none of their rows. Sign-in, the session's
user and API tokens therefore ask one of three ``SECURITY DEFINER`` functions for the
organization only, put it in scope and then read the row the normal way, through the policy.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.contrib import auth
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import HttpRequest

from crm.scope import current_org_id, org_scope

# The session remembers the signed-in user's organization (written at sign-in by our code into
# the server-side session, which the client cannot edit), so loading the session's user needs no
# look-up function call: one round trip less on every request.
SESSION_ORG_KEY = "_meridian_org_id"


def hash_token(key: str) -> str:
    """What is stored of an API token's key, and looked up by: its SHA-256."""
    return hashlib.sha256(key.encode()).hexdigest()


def _org_of(function: str, value: object) -> int | None:
    with connection.cursor() as cursor:
        # The function names are the constants below, never input.
        cursor.execute(f"SELECT {function}(%s)", [value])
        row = cursor.fetchone()
    return None if row is None or row[0] is None else int(row[0])


def org_of_email(email: str) -> int | None:
    """The organization of the user signing in with ``email`` (exact, as stored), if any."""
    if "\x00" in email:  # PostgreSQL text cannot hold NUL; no stored address has one
        return None
    return _org_of("meridian_user_org_by_email", email)


def _user_pk(user_id: object) -> int | None:
    from crm.models import User

    try:
        pk = User._meta.pk.to_python(user_id)
    except ValidationError:
        return None
    if pk is None or not -(2**63) <= pk < 2**63:
        return None
    return pk


def org_of_user_id(user_id: object) -> int | None:
    pk = _user_pk(user_id)
    return None if pk is None else _org_of("meridian_user_org_by_id", pk)


def org_of_token_hash(key_hash: str) -> int | None:
    return _org_of("meridian_token_org", key_hash)


def email_in_use(email: str) -> bool:
    """Whether any organization has a user with ``email``: addresses are unique across tenants,
    and RLS hides the other organizations' users from a plain query."""
    return org_of_email(email) is not None


class OrgModelBackend(ModelBackend):
    """Django's ModelBackend, run inside the organization the user belongs to."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        from crm.models import User

        if username is None:
            username = kwargs.get(User.USERNAME_FIELD)
        if username is None or password is None:
            return None
        org_id = org_of_email(username)
        if org_id is None:
            # As ModelBackend does for an unknown user: hash once, so timing tells nothing.
            User().set_password(password)
            return None
        with org_scope(org_id):
            return super().authenticate(request, username=username, password=password, **kwargs)

    def get_user(self, user_id: Any) -> Any:
        # Inside a scope (the session's organization, see SessionOrgAuthenticationMiddleware)
        # the lookup is narrowed to it by both walls: a wrong hint finds no user, never another
        # organization's.
        scoped = current_org_id()
        if scoped is not None:
            from crm.models import User

            pk = _user_pk(user_id)
            user = None if pk is None else User.objects.for_org(scoped).filter(pk=pk).first()
            return user if user is not None and self.user_can_authenticate(user) else None
        org_id = org_of_user_id(user_id)
        if org_id is None:
            return None
        with org_scope(org_id):
            return super().get_user(user_id)


def token_for_key_hash(key_hash: str) -> Any:
    """The API token with this hash, its user and organization loaded, or None."""
    from crm.models import ApiToken

    org_id = org_of_token_hash(key_hash)
    if org_id is None:
        return None
    with org_scope(org_id):
        return (
            ApiToken.objects.for_org(org_id)
            .select_related("user", "user__organization")
            .filter(key_hash=key_hash)
            .first()
        )


def remember_session_org(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    """``user_logged_in``: keep the user's organization in the session."""
    if hasattr(request, "session"):
        request.session[SESSION_ORG_KEY] = user.organization_id


def _session_user(request: HttpRequest) -> Any:
    if not hasattr(request, "_cached_user"):
        org_id = request.session.get(SESSION_ORG_KEY)
        if isinstance(org_id, int):
            with org_scope(org_id):
                request._cached_user = auth.get_user(request)  # type: ignore[attr-defined]
        else:  # a session from before the hint: the look-up function finds the organization
            request._cached_user = auth.get_user(request)  # type: ignore[attr-defined]
    return request._cached_user  # type: ignore[attr-defined]


class SessionOrgAuthenticationMiddleware(AuthenticationMiddleware):
    """Django's AuthenticationMiddleware, loading the session's user inside the organization
    the session was signed in to."""

    def process_request(self, request: HttpRequest) -> None:
        from django.utils.functional import SimpleLazyObject

        super().process_request(request)
        request.user = SimpleLazyObject(lambda: _session_user(request))
