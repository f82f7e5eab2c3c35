"""The benchmark database: its URL, creating and migrating it, and the application role's URL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from bench.generator import Scale, generate, log

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_NAME = "meridian_bench"


def name_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def with_name(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def bench_url(name: str = DEFAULT_NAME) -> str:
    """The owner URL of the benchmark database: the server of DATABASE_OWNER_URL or
    DATABASE_URL, else the local server as the postgres superuser."""
    base = (
        os.environ.get("BENCH_DATABASE_URL")
        or os.environ.get("DATABASE_OWNER_URL")
        or os.environ.get("DATABASE_URL")
        or "postgres://postgres@127.0.0.1:5432/postgres"
    )
    if os.environ.get("BENCH_DATABASE_URL"):
        return base
    return with_name(base, name)


def app_url(owner_url: str) -> str:
    """The same database as the application role (RLS applies to it)."""
    role = os.environ.get("DATABASE_APP_ROLE", "meridian_app")
    parts = urlsplit(owner_url)
    host = parts.hostname or "127.0.0.1"
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, f"{role}@{host}{port}", parts.path, parts.query, ""))


def recreate(url: str) -> None:
    name = name_of(url)
    if not name.startswith(DEFAULT_NAME):
        raise ValueError(f"Refusing to drop {name!r}: benchmark databases are meridian_bench*.")
    with psycopg.connect(with_name(url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        role = os.environ.get("DATABASE_APP_ROLE", "meridian_app")
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
        if not exists:
            conn.execute(
                sql.SQL(
                    "CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
                ).format(sql.Identifier(role))
            )
    log(f"created database {name}")


def migrate(url: str) -> None:
    """``manage.py migrate`` as the owner; its post-migrate hook applies row-level security and
    grants the application role (crm.rls)."""
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "1"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    log("migrated")


def password_hash(password: str) -> str:
    # One hash for every generated user: hashing 500 times would cost minutes of PBKDF2.
    from django.contrib.auth.hashers import make_password

    return make_password(password)


def build(url: str, scale: Scale) -> dict[str, Any]:
    from bench.generator import PASSWORD

    recreate(url)
    migrate(url)
    return generate(url, scale, password_hash=password_hash(PASSWORD))


def read_info(url: str) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT value FROM bench_info WHERE key = 'info'").fetchone()
    if row is None:
        raise RuntimeError("No bench_info: run `make bench-data` first.")
    return row[0]
