"""Compute and store the dashboards of every organization (reporting.figures): after a bulk
load, or nightly so that the first view of the day does not pay for the computation."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from crm.models import Organization
from crm.tenancy import org_scope
from reporting import figures


class Command(BaseCommand):
    help = "Compute the stored dashboard figures of every organization, region and company."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--date", type=dt.date.fromisoformat, default=None, help="YYYY-MM-DD (default: today)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        day: dt.date = options["date"] or timezone.localdate()
        for org in Organization.objects.order_by("pk"):
            with org_scope(org):
                done = figures.rebuild(organization_id=org.pk, as_of=day)
            total = sum(seconds for _, seconds in done)
            self.stdout.write(
                f"{org.name}: {len(done)} dashboards for {day:%Y-%m-%d} in {total:.1f} s."
            )
