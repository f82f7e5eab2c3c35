"""User signals: a password change or a deactivation revokes the user's API tokens, whatever
path saved the user (the password page, the admin's set-password form, set-up, services)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.hashers import is_password_usable

from crm.models import User
from crm.services import user_revoke_tokens

_WATCHED = frozenset({"password", "is_active"})


def remember_credential_change(sender: type[User], instance: User, **kwargs: Any) -> None:
    """pre_save: compare with the stored row (one query, only when a watched field is saved)."""
    instance._revoke_api_tokens = False  # type: ignore[attr-defined]
    update_fields = kwargs.get("update_fields")
    if instance.pk is None or kwargs.get("raw"):
        return
    if update_fields is not None and not (_WATCHED & set(update_fields)):
        return  # e.g. last_login at sign-in, language and time zone
    stored = (
        User.objects.for_org(instance.organization_id)
        .filter(pk=instance.pk)
        .values("password", "is_active")
        .first()
    )
    if stored is None:
        return
    deactivated = stored["is_active"] and not instance.is_active
    # check_password re-hashes a correct password with a newer hasher and saves it with
    # _password reset to None: the same password, so not a change. set_password keeps the raw
    # password in _password until the save; set_unusable_password leaves an unusable hash.
    password_changed = stored["password"] != instance.password and (
        instance._password is not None  # type: ignore[attr-defined]  # AbstractBaseUser's, not in the stubs
        or not is_password_usable(instance.password)
        or update_fields is None
    )
    instance._revoke_api_tokens = deactivated or password_changed  # type: ignore[attr-defined]


def revoke_tokens_after_credential_change(
    sender: type[User], instance: User, created: bool, **kwargs: Any
) -> None:
    if getattr(instance, "_revoke_api_tokens", False):
        instance._revoke_api_tokens = False  # type: ignore[attr-defined]
        user_revoke_tokens(user=instance)
