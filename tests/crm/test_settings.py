from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from crm.env import env_bool, env_list, parse_database_url

ROOT = Path(__file__).resolve().parents[2]


def test_database_url_parsing() -> None:
    cfg = parse_database_url("postgres://app:s%40cret@db.internal:6543/meridian?sslmode=require")
    assert cfg["ENGINE"] == "django.db.backends.postgresql"
    assert (cfg["USER"], cfg["PASSWORD"], cfg["HOST"], cfg["PORT"], cfg["NAME"]) == (
        "app",
        "s@cret",
        "db.internal",
        "6543",
        "meridian",
    )
    assert cfg["OPTIONS"] == {"sslmode": "require"}
    socket = parse_database_url("postgresql://postgres:@/meridian?host=/tmp/pg")
    assert socket["HOST"] == "/tmp/pg" and socket["OPTIONS"] == {}


def test_only_postgres_is_accepted() -> None:
    with pytest.raises(ImproperlyConfigured, match="postgres"):
        parse_database_url("mysql://localhost/meridian")


def test_typed_helpers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_FLAG", "yes")
    monkeypatch.setenv("X_LIST", "a.example, b.example,")
    assert env_bool("X_FLAG") is True
    assert env_list("X_LIST") == ["a.example", "b.example"]
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG"):
        env_bool("X_FLAG")


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    dev_only = {"DEBUG", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    base = {k: v for k, v in os.environ.items() if k not in dev_only}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_variables() -> None:
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="crm.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key() -> None:
    result = _manage("check", DEBUG="0", ALLOWED_HOSTS="crm.example.com")
    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr
