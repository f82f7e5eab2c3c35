"""Identity providers' client secrets at rest (``crm.vault``, purpose ``sso.client-secret``)."""

from __future__ import annotations

from crm import vault
from crm.vault import SecretUnreadable

PURPOSE = "sso.client-secret"

__all__ = ["SecretUnreadable", "decrypt", "encrypt"]


def encrypt(secret: str) -> str:
    return vault.encrypt(secret, purpose=PURPOSE)


def decrypt(token: str) -> str:
    return vault.decrypt(token, purpose=PURPOSE)
