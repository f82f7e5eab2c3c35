"""Client secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) under a key from settings.

The key is ``settings.SSO_SECRET_KEY`` when set, else derived from ``SECRET_KEY``; either way
it is never in the database, so a copy of the database alone does not reveal the secrets.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class SecretUnreadable(Exception):
    """The stored secret was encrypted under another key (SECRET_KEY or SSO_SECRET_KEY changed)."""


def _fernet() -> Fernet:
    material = settings.SSO_SECRET_KEY or settings.SECRET_KEY
    # A purpose-bound derivation: the same SECRET_KEY signs sessions, never encrypts with them.
    digest = hashlib.sha256(b"meridian.sso.client-secret:" + material.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("The client secret cannot be read: enter it again.") from exc
