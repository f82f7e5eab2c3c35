"""Recompute every account's stored customer value and segment now (the nightly beat task
does the same): after a bulk load, a change of rates or of the segment rules."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from crm.models import Organization
from reporting.customer_value import refresh_account_values


class Command(BaseCommand):
    help = "Compute the stored lifetime values and assign segments of every organization."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--date", type=dt.date.fromisoformat, default=None, help="YYYY-MM-DD (default: today)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        day: dt.date = options["date"] or timezone.localdate()
        for org in Organization.objects.order_by("pk"):
            started = time.monotonic()
            result = refresh_account_values(organization=org, as_of=day)
            self.stdout.write(
                f"{org.name}: {result.accounts} accounts, {result.segments_changed} segments "
                f"changed, in {time.monotonic() - started:.1f} s."
            )
