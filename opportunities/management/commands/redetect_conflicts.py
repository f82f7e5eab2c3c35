"""Re-check every account group's conflict situations (after the migration to situations, or
after an organization changed its conflict rules). Nobody is notified: it only brings the
situations in step with the deals."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from crm.models import Organization
from crm.tenancy import org_scope
from opportunities.conflicts import redetect_group
from opportunities.models import Opportunity
from opportunities.selectors import open_q


class Command(BaseCommand):
    help = "Bring every group's conflict situations in step with its open deals."

    def handle(self, *args: Any, **options: Any) -> None:
        for org in Organization.objects.order_by("pk"):
            # Each organization in its own scope: detection never mixes tenants.
            with org_scope(org):
                groups = (
                    Opportunity.objects.for_org(org)
                    .filter(open_q())
                    .values_list("account_group_id", flat=True)
                    .distinct()
                    .order_by("account_group_id")
                )
                checked = news = 0
                for group_id in groups:
                    if group_id is None:  # kept by the database for every deal; never empty
                        continue
                    with transaction.atomic():
                        deals, found = redetect_group(org.pk, group_id)
                    checked, news = checked + deals, news + len(found)
            self.stdout.write(
                f"{org.name}: {checked} open deals re-checked, {news} situations new."
            )
