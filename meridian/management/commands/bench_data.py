"""``manage.py bench_data --scale 1m|100k|10k``: (re)create the benchmark database and fill it.

The database (default ``meridian_bench`` on the server of ``DATABASE_URL``) is dropped and
created again, migrated as the owner (which also applies row-level security and grants the
application role), then filled by ``bench.generator`` with COPY. Last, the nightly customer
value refresh runs on it (``refresh_account_values``, timed), as after any night in production.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from bench import dbs
from bench.generator import SCALES


class Command(BaseCommand):
    help = "Create and fill the benchmark database (1,000,000 opportunities at --scale 1m)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--scale", choices=sorted(SCALES), default="1m")
        parser.add_argument(
            "--database-url",
            default="",
            help="Owner URL of the benchmark database (default: meridian_bench on the server "
            "of DATABASE_URL). Its name must start with 'meridian_bench': it is dropped first.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        url = options["database_url"] or dbs.bench_url()
        try:
            info = dbs.build(url, SCALES[options["scale"]])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        rows = sum(info["rows"].values())
        self.stdout.write(f"Loaded {rows:,} rows into {dbs.name_of(url)} in {info['seconds']} s.")
        # In a process of its own: this one's Django database is not the benchmark's.
        root = Path(__file__).resolve().parents[3]
        refreshed = subprocess.run(
            [sys.executable, "manage.py", "refresh_account_values"],
            cwd=root,
            env={**os.environ, "DATABASE_URL": url, "DATABASE_OWNER_URL": url},
            capture_output=True,
            text=True,
            check=False,
        )
        if refreshed.returncode != 0:
            raise CommandError(f"refresh_account_values failed: {refreshed.stderr[-2000:]}")
        self.stdout.write(f"Customer values (the nightly task): {refreshed.stdout.strip()}")
