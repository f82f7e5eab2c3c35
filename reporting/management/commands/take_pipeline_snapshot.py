"""Take the pipeline snapshot now (the weekly beat task does the same for today)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from crm.models import Organization
from crm.tenancy import org_scope
from reporting.services import pipeline_snapshot_take


class Command(BaseCommand):
    help = "Store the open pipeline per sales company and global stage, for every organization."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--date",
            type=dt.date.fromisoformat,
            default=None,
            help="YYYY-MM-DD (default: today). A past date is rebuilt from the stage history.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        day: dt.date = options["date"] or timezone.localdate()
        for org in Organization.objects.order_by("pk"):
            # Each organization in its own scope: the snapshot never mixes tenants.
            with org_scope(org):
                rows = pipeline_snapshot_take(organization=org, on_date=day)
            self.stdout.write(f"{org.name}: {rows} snapshot rows for {day:%Y-%m-%d}.")
