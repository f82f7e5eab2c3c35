"""Run the weekly deviation check now (the beat task ``detect_all_deviations`` does the same
every Monday): store each company's measures for the week and raise the alerts they call for."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from crm.models import Organization
from crm.tenancy import org_scope
from reporting.deviations import deviations_detect, week_of


class Command(BaseCommand):
    help = "Compute the weekly measures per sales company and raise deviation alerts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--date", type=dt.date.fromisoformat, default=None, help="YYYY-MM-DD (default: today)"
        )
        parser.add_argument("--organization", type=int, default=None, help="organization id")

    def handle(self, *args: Any, **options: Any) -> None:
        day: dt.date = options["date"] or timezone.localdate()
        orgs = Organization.objects.order_by("pk")
        if options["organization"] is not None:
            orgs = orgs.filter(pk=options["organization"])
        for org in orgs:
            with org_scope(org):
                new = deviations_detect(organization=org, as_of=day)
            self.stdout.write(
                f"{org.name}: {len(new)} new deviation alerts for the week of {week_of(day)}."
            )
