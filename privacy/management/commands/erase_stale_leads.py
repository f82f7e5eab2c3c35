"""Run the lead retention now, for every organization whose retention is on (or one)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from crm.models import Organization
from privacy.retention import erase_stale_leads


class Command(BaseCommand):
    help = "Erase leads never converted whose last change is older than the retention setting."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--organization", type=int, help="Only this organization's id.")

    def handle(self, *args: Any, **options: Any) -> None:
        orgs = Organization.objects.filter(lead_retention_months__isnull=False).order_by("pk")
        if options.get("organization"):
            orgs = orgs.filter(pk=options["organization"])
        total = 0
        for org_id in orgs.values_list("pk", flat=True):
            erased = erase_stale_leads(org_id)
            total += erased
            self.stdout.write(f"organization {org_id}: {erased} lead(s) erased")
        self.stdout.write(f"{total} lead(s) erased")
