"""Secrets at rest (identity providers' client secrets, webhook signing secrets): Fernet
(AES-128-CBC + HMAC-SHA256) under a key that is never in the database, so a copy of the
database alone does not reveal them.

The key material is ``settings.SECRETS_ENCRYPTION_KEY`` when set, else ``SECRET_KEY`` (so
rotating it means entering the secrets again). In development, where ``SECRET_KEY`` is random
per process, the settings default the former to a fixed development key, so that a restart or
a worker process reads what another process stored.
Each use derives its own key (``purpose``): one secret's token never decrypts as another's.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class SecretUnreadable(Exception):
    """The stored secret was encrypted under another key (the key material changed)."""


def _fernet(purpose: str) -> Fernet:
    material = settings.SECRETS_ENCRYPTION_KEY or settings.SECRET_KEY
    # A purpose-bound derivation: the same SECRET_KEY signs sessions, never encrypts with them.
    digest = hashlib.sha256(f"meridian.{purpose}:".encode() + material.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(secret: str, *, purpose: str) -> str:
    return _fernet(purpose).encrypt(secret.encode()).decode()


def decrypt(token: str, *, purpose: str) -> str:
    try:
        return _fernet(purpose).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("The stored secret cannot be read: enter it again.") from exc
