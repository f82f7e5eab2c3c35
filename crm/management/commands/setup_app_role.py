"""Create the application role (if missing) and grant it its rights, as the table owner.

The application then connects as that role: it owns no table and is NOSUPERUSER NOBYPASSRLS,
so row-level security applies to everything it does.
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection

from crm.rls import apply_row_level_security, ensure_app_role


class Command(BaseCommand):
    help = "Create the application database role and apply row-level security and grants."

    def handle(self, *args: Any, **options: Any) -> None:
        role = settings.DATABASE_APP_ROLE
        with connection.cursor() as cursor:
            ensure_app_role(cursor, role, os.environ.get("DATABASE_APP_PASSWORD", ""))
        tables = apply_row_level_security()
        self.stdout.write(f"Role {role} ready; row-level security on {len(tables)} tables.")
