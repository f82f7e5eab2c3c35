"""Secrets at rest (``crm.vault``): encrypted per purpose, readable after a restart in
development, unreadable (a clear error, not garbage) under another key."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.test import override_settings

from crm import vault


def test_a_secret_round_trips_and_is_not_in_its_token() -> None:
    token = vault.encrypt("whsec_abc123", purpose="webhooks.signing-secret")
    assert "abc123" not in token
    assert vault.decrypt(token, purpose="webhooks.signing-secret") == "whsec_abc123"


def test_one_purposes_token_never_decrypts_as_anothers() -> None:
    token = vault.encrypt("s3cret", purpose="sso.client-secret")
    with pytest.raises(vault.SecretUnreadable):
        vault.decrypt(token, purpose="webhooks.signing-secret")


def test_development_processes_share_a_key_whatever_their_random_secret_key() -> None:
    """Two development processes (server and worker) without SECRET_KEY get different random
    SECRET_KEYs but the same encryption key; with SECRET_KEY given, none is defaulted."""
    code = "from django.conf import settings; print(settings.SECRETS_ENCRYPTION_KEY)"

    def key(**env: str) -> str:
        base = {
            k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "SECRETS_ENCRYPTION_KEY")
        }
        result = subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {code}"],
            env={**base, "DJANGO_SETTINGS_MODULE": "meridian.settings", **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    first, second = key(DEBUG="1"), key(DEBUG="1")
    assert first and first == second
    assert key(DEBUG="1", SECRET_KEY="given") == ""


@override_settings(SECRETS_ENCRYPTION_KEY="", DEBUG=False)
def test_in_production_the_key_comes_from_secret_key_or_the_setting() -> None:
    with override_settings(SECRET_KEY="key-one"):
        token = vault.encrypt("s3cret", purpose="p")
    with override_settings(SECRET_KEY="key-two"), pytest.raises(vault.SecretUnreadable):
        vault.decrypt(token, purpose="p")
    with override_settings(SECRETS_ENCRYPTION_KEY="dedicated", SECRET_KEY="key-one"):
        dedicated = vault.encrypt("s3cret", purpose="p")
    with override_settings(SECRETS_ENCRYPTION_KEY="dedicated", SECRET_KEY="key-two"):
        assert vault.decrypt(dedicated, purpose="p") == "s3cret"
