"""The opaque token of a hidden match: the only way a user names a group they cannot see.

A need-to-know answer ("this customer exists, worked by <company>") must let the user ask to
join that group without handing them its account id, which they could change to probe other
groups. The token is signed (``django.core.signing``, the project's secret) over the
organization, the user it was shown to and the group, and expires: a tampered, foreign or stale
token is refused with a message that says which.
"""

from __future__ import annotations

from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _

SALT = "accounts.join-group"
# Long enough to read the answer, write a reason and send it; short enough that a token copied
# from an old page does not outlive a change of who may know.
MAX_AGE_SECONDS = 24 * 3600


class JoinTokenExpired(ValidationError):
    pass


def join_token(*, organization_id: int, user_id: int, group_id: int) -> str:
    return signing.dumps({"o": organization_id, "u": user_id, "g": group_id}, salt=SALT)


def group_id_from_token(token: str, *, organization_id: int, user_id: int) -> int:
    """The group id the token was made for. ``ValidationError`` for a token that is not one of
    ours (tampered, truncated) or expired; ``PermissionDenied`` for one made for another user
    or organization (it was copied)."""
    try:
        data = signing.loads(token or "", salt=SALT, max_age=MAX_AGE_SECONDS)
    except signing.SignatureExpired as exc:
        raise JoinTokenExpired(
            _("This join request link has expired. Check the customer again to get a new one."),
            code="expired",
        ) from exc
    except signing.BadSignature as exc:
        raise ValidationError(
            _("This join request link is not valid. Check the customer again."), code="invalid"
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("g"), int):
        raise ValidationError(
            _("This join request link is not valid. Check the customer again."), code="invalid"
        )
    if data.get("o") != organization_id or data.get("u") != user_id:
        raise PermissionDenied(
            _("This join request link was made for someone else. Check the customer yourself.")
        )
    return int(data["g"])
