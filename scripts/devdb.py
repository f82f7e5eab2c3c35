"""Print a database URL for development, finding or making a PostgreSQL database.

The owner URL (migrations, seeding; default) is, in order:

1. ``DATABASE_OWNER_URL`` or ``DATABASE_URL`` if set;
2. else database ``meridian`` on a local PostgreSQL at 127.0.0.1:5432, created if missing;
3. else an embedded PostgreSQL (the ``pgserver`` dev dependency) with its data in ``.pgdata``.

With ``--app`` it prints the URL the application serves with: ``DATABASE_URL`` if set, else the
owner URL with the application role (``meridian_app``: owns no table, NOSUPERUSER NOBYPASSRLS,
so row-level security applies), created if the owner may create roles.

Only the URL goes to stdout, so the Makefile can capture it; progress goes to stderr.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import psycopg
from psycopg import sql

DB_NAME = os.environ.get("MERIDIAN_DB_NAME", "meridian")
ROOT = Path(__file__).resolve().parent.parent


def log(message: str) -> None:
    print(f"devdb: {message}", file=sys.stderr)


def local_server() -> str | None:
    # The OS user first (peer-like trust set-ups), then the conventional superuser.
    for user in (None, "postgres"):
        params = {"host": "127.0.0.1", "port": 5432, "dbname": "postgres", "connect_timeout": 3}
        if user:
            params["user"] = user
        try:
            with psycopg.connect(**params, autocommit=True) as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]
                ).fetchone()
                if not exists:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))
                    log(f"created database {DB_NAME} on 127.0.0.1:5432")
                who = f"{user}@" if user else ""
                return f"postgres://{who}127.0.0.1:5432/{DB_NAME}"
        except psycopg.OperationalError:
            continue
    return None


def embedded_server() -> str:
    import pgserver  # dev dependency; only needed when no server answers

    log("no PostgreSQL on 127.0.0.1:5432; starting an embedded one in .pgdata")
    server = pgserver.get_server(ROOT / ".pgdata", cleanup_mode=None)
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))
    return server.get_uri(DB_NAME)


def app_url(owner_url: str) -> str:
    """The owner URL with the application role as user, the role created if missing."""
    from urllib.parse import urlsplit, urlunsplit

    role = os.environ.get("DATABASE_APP_ROLE", "meridian_app")
    try:
        with psycopg.connect(owner_url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
            if not exists:
                conn.execute(
                    sql.SQL(
                        "CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
                    ).format(sql.Identifier(role))
                )
                log(f"created the application role {role}")
    except psycopg.Error as exc:
        log(f"cannot create role {role} ({exc}); serving as the owner, without RLS enforcement")
        return owner_url
    parts = urlsplit(owner_url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, f"{role}@{host}{port}", parts.path, parts.query, ""))


def main() -> None:
    owner = (
        os.environ.get("DATABASE_OWNER_URL")
        or os.environ.get("DATABASE_URL")
        or local_server()
        or embedded_server()
    )
    if "--app" in sys.argv:
        print(os.environ.get("DATABASE_URL") or app_url(owner))
    else:
        print(owner)


if __name__ == "__main__":
    main()
