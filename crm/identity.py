"""Finding a user or a token before any organization is known, under row-level security.

``crm_user`` and ``crm_apitoken`` are under RLS like every tenant table (``crm.rls``): with no
organization in scope the application role reads none of their rows. Sign-in, the session's
user and API tokens therefore ask one of three ``SECURITY DEFINER`` functions for the
organization only, put it in scope and then read the row the normal way, through the policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from django.contrib import auth
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.db import DEFAULT_DB_ALIAS
from django.db.models import QuerySet
from django.http import HttpRequest

from crm.db.compiled import CompiledQuery
from crm.directory import org_of_email, org_of_user_id, set_org_of_token_hash, user_pk
from crm.models import ApiToken, SalesCompany, User
from crm.scope import current_org_id, org_scope

# The session remembers the signed-in user's organization (written at sign-in by our code into
# the server-side session, which the client cannot edit), so loading the session's user needs no
# look-up function call: one round trip less on every request.
SESSION_ORG_KEY = "_meridian_org_id"
# Set on the request by the backend when a right password was refused because the user's
# organization has password sign-in switched off (the sign-in form explains it).
PASSWORD_LOGIN_OFF_ATTR = "meridian_password_login_off"


@cache
def _user_layout() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The attribute names of the user's and of its company's columns, in the statement's
    order: every concrete field, as ``select_related("sales_company")`` loads them."""
    return (
        tuple(f.attname for f in User._meta.concrete_fields),
        tuple(f.attname for f in SalesCompany._meta.concrete_fields),
    )


def _session_user_query(organization_id: int, pk: int) -> QuerySet[Any, Any]:
    user_fields, company_fields = _user_layout()
    # The sales company rides along: every signed-in request reads it for the user's language
    # and time zone (UserLocaleMiddleware), a query of its own otherwise. A nullable foreign
    # key: a LEFT JOIN, under the same organization's row-level security as the user's row.
    return (
        User.objects.for_org(organization_id)
        .filter(pk=pk)
        .values_list(*user_fields, *(f"sales_company__{name}" for name in company_fields))
    )


# Built by the ORM once per process: compiling the user's SELECT with its joined company and
# building the instance through the queryset were a third of a signed-in API call's CPU.
_SESSION_USER = CompiledQuery(_session_user_query, "organization_id", "pk", scope="organization_id")


def _user_from_row(row: Sequence[Any]) -> User:
    """The user with its company cached (``None`` when it has none), as ``select_related``
    leaves them: reading ``user.sales_company`` asks nothing more."""
    user_fields, company_fields = _user_layout()
    user = User.from_db(DEFAULT_DB_ALIAS, user_fields, row[: len(user_fields)])
    company_values = row[len(user_fields) :]
    company = (
        None
        if company_values[0] is None  # the company's primary key: no company
        else SalesCompany.from_db(DEFAULT_DB_ALIAS, company_fields, company_values)
    )
    User._meta.get_field("sales_company").set_cached_value(user, company)
    return user


def load_session_user(organization_id: int, pk: int) -> User | None:
    """The user ``pk`` of the organization, its sales company joined, or None. One compiled,
    prepared statement; the organization must be the one in scope (if any)."""
    rows = _SESSION_USER.rows(organization_id=organization_id, pk=pk)
    return _user_from_row(rows[0]) if rows else None


class OrgModelBackend(ModelBackend):
    """Django's ModelBackend, run inside the organization the user belongs to."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
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
            user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None and not user.may_sign_in_with_password:
            # The password was right but the organization signs in through its identity
            # provider. Only now (never for a wrong password, which would tell whether an
            # address exists) the sign-in form may say so.
            if request is not None:
                setattr(request, PASSWORD_LOGIN_OFF_ATTR, user.organization)
            return None
        return user

    def get_user(self, user_id: Any) -> Any:
        # Inside a scope (the session's organization, see SessionOrgAuthenticationMiddleware)
        # the lookup is narrowed to it by both walls: a wrong hint finds no user, never another
        # organization's.
        pk = user_pk(user_id)
        if pk is None:
            return None
        scoped = current_org_id()
        if scoped is not None:
            user = load_session_user(scoped, pk)
        else:
            # A session from before the organization hint: the look-up function finds it.
            org_id = org_of_user_id(pk)
            if org_id is None:
                return None
            with org_scope(org_id):
                user = load_session_user(org_id, pk)
        return user if user is not None and self.user_can_authenticate(user) else None


def _token_query(organization_id: int, key_hash: str) -> QuerySet[Any, Any]:
    # As ``.first()`` would ask it (the hash is unique: one row at most).
    return (
        ApiToken.objects.for_org(organization_id)
        .select_related("user", "user__organization")
        .filter(key_hash=key_hash)
        .order_by("pk")[:1]
    )


# Built by the ORM once per process, as the session's user: the token's SELECT with its user
# and organization joined, compiled anew on every token-signed API call, was a fifth to a third
# of a served API worker's samples.
_TOKEN = CompiledQuery(_token_query, "organization_id", "key_hash", scope="organization_id")


def token_for_key_hash(key_hash: str) -> Any:
    """The API token with this hash, its user and the user's organization loaded (as
    ``select_related`` leaves them), or None. Two round trips: the organization found and set
    as the connection's (``set_org_of_token_hash``), then the token read under it, through
    row-level security and the organization's filter, as one compiled, prepared statement."""
    org_id = set_org_of_token_hash(key_hash)
    if org_id is None:
        return None
    with org_scope(org_id):
        found = _TOKEN.objects(organization_id=org_id, key_hash=key_hash)
    return found[0] if found else None


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
        # A lazy stand-in for the user, as Django's own middleware sets (the stubs want the user).
        request.user = SimpleLazyObject(lambda: _session_user(request))  # type: ignore[assignment]
