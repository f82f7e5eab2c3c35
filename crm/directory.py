"""The cross-organization directory: which organization owns an e-mail address, a user id or an
API token. The identity tables are under row-level security, so these answers come from
SECURITY DEFINER functions (crm/rls.py) that return an organization id and nothing else.

No model imports: ``crm.models`` asks it (e-mail uniqueness across tenants) while it is loading.
"""

from __future__ import annotations

import hashlib

from django.core.exceptions import ValidationError
from django.db import connection, models

# What a user id is (users have a big-integer key): to_python refuses what is not one.
_USER_PK = models.BigIntegerField()


def hash_token(key: str) -> str:
    """What is stored of an API token's key, and looked up by: its SHA-256."""
    return hashlib.sha256(key.encode()).hexdigest()


def _org_of(function: str, value: str | int) -> int | None:
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


def user_pk(user_id: object) -> int | None:
    try:
        pk: int | None = _USER_PK.to_python(user_id)
    except ValidationError:
        return None
    if pk is None or not -(2**63) <= pk < 2**63:
        return None
    return pk


def org_of_user_id(user_id: object) -> int | None:
    pk = user_pk(user_id)
    return None if pk is None else _org_of("meridian_user_org_by_id", pk)


# The token's organization found and put into ``app.org_id`` in one statement (the empty
# setting when no token has the hash: row-level security then shows no row). Prepared once per
# connection.
_SET_TOKEN_ORG = "meridian_set_token_org"
_SET_TOKEN_ORG_PREPARE = (
    f"PREPARE {_SET_TOKEN_ORG}(text) AS SELECT set_config('app.org_id', "
    "COALESCE(meridian_token_org($1)::text, ''), false)"
)
_SET_TOKEN_ORG_EXECUTE = f"EXECUTE {_SET_TOKEN_ORG}(%s)"


def set_org_of_token_hash(key_hash: str) -> int | None:
    """The organization of the API token with ``key_hash`` (None if there is none), set as the
    connection's ``app.org_id`` in the same round trip. Asking the look-up function as
    ``org_of_email`` does and then the backend's own ``set_config`` were three round trips:
    the empty setting put first for the look-up (no organization in scope), the look-up, the
    setting of the organization found. The look-up function is ``SECURITY DEFINER`` and reads as the
    table's owner, whatever organization the connection had set from its previous request, so
    that first one is not needed; the caller puts the organization in scope before reading
    anything under it (``crm.identity.token_for_key_hash``)."""
    value = connection.execute_setting_org(  # type: ignore[attr-defined]
        _SET_TOKEN_ORG, _SET_TOKEN_ORG_PREPARE, _SET_TOKEN_ORG_EXECUTE, [key_hash]
    )
    return int(value) if value else None


def email_in_use(email: str) -> bool:
    """Whether any organization has a user with ``email``: addresses are unique across tenants,
    and RLS hides the other organizations' users from a plain query."""
    return org_of_email(email) is not None
