"""Build the demo organizations. Idempotent: a second run changes nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import demo as accounts_demo
from coaching import demo as coaching_demo
from crm import demo, services
from crm.models import Organization, User
from crm.tenancy import org_scope
from leads import demo as leads_demo
from opportunities import demo as opportunities_demo
from pipeline import demo as pipeline_demo
from privacy import demo as privacy_demo
from reporting import demo as reporting_demo
from webhooks import demo as webhooks_demo

RATES_FROM = dt.date(2025, 1, 1)
RATE_MONTHS = 30  # through mid-2027: every demo date has a rate


def _monthly_rates(base: Decimal) -> list[tuple[dt.date, Decimal]]:
    # A gentle, deterministic drift (+-2%) so conversions depend visibly on the date.
    drift = [0, 4, 7, 9, 10, 9, 7, 4, 0, -4, -7, -9, -10, -9, -7, -4]
    out = []
    for i in range(RATE_MONTHS):
        year, month = RATES_FROM.year + (i // 12), i % 12 + 1
        factor = Decimal(1) + Decimal(drift[i % len(drift)]) / Decimal(500)
        out.append((dt.date(year, month, 1), (base * factor).quantize(Decimal("0.00000001"))))
    return out


class Command(BaseCommand):
    help = "Create or update the Nordvik Industries and Tellus Group demo organizations."

    def handle(self, *args: Any, **options: Any) -> None:
        for spec in demo.ORGANIZATIONS:
            org = self._seed_organization(spec)
            self.stdout.write(f"Seeded {org.name}.")
        self._print_logins()

    @transaction.atomic
    def _seed_organization(self, spec: demo.DemoOrganization) -> Organization:
        org, _ = Organization.objects.get_or_create(
            slug=spec["slug"],
            defaults={
                "name": spec["name"],
                "corporate_currency": spec["corporate_currency"],
                "fiscal_year_start_month": spec["fiscal_year_start_month"],
            },
        )
        with org_scope(org):
            regions = {
                name: services.region_ensure(organization=org, name=name, acting_user=None)
                for name in spec["regions"]
            }
            companies = {}
            for code, (name, region, country, currency, language, tz) in spec["companies"].items():
                companies[code] = services.sales_company_ensure(
                    organization=org,
                    code=code,
                    acting_user=None,
                    name=name,
                    region=regions[region],
                    country=country,
                    currency=currency,
                    language=language,
                    timezone=tz,
                )
            for email, (full_name, role, company, user_region) in spec["users"].items():
                services.user_ensure(
                    organization=org,
                    email=email,
                    full_name=full_name,
                    role=role,
                    password=demo.DEMO_PASSWORD,
                    sales_company=companies[company] if company else None,
                    region=regions[user_region] if user_region else None,
                    acting_user=None,
                )
            for currency, base in spec["rates"].items():
                for valid_from, rate in _monthly_rates(base):
                    services.exchange_rate_set(
                        organization=org,
                        currency=currency,
                        rate=rate,
                        valid_from=valid_from,
                        acting_user=None,
                    )
            self._seed_domain(org)
        return org

    def _seed_domain(self, org: Organization) -> None:
        """Later apps add their demo data here (accounts, pipeline, reporting)."""
        accounts_demo.seed_demo(org)
        pipeline_demo.seed_demo(org)  # global stages and local processes
        leads_demo.seed_demo(org)  # campaigns (members are accounts' contacts) and leads
        opportunities_demo.seed_demo(org)  # products and deals
        leads_demo.seed_conversions(org)  # hand-overs to sales: they create deals
        coaching_demo.seed_demo(org)  # coaching sessions, deal reviews, actions; after the deals
        reporting_demo.seed_demo(org)  # targets and weekly snapshots, after the deals
        if org.slug == "nordvik":
            reporting_demo.seed_deviations(org)  # measures and last week's deviation alerts
        privacy_demo.seed_demo(org)  # the data-protection officer
        webhooks_demo.seed_demo(org)  # last: the deals above are not sent anywhere

    def _print_logins(self) -> None:
        self.stdout.write(f"\nDemo logins (password: {demo.DEMO_PASSWORD}):")
        for spec in demo.ORGANIZATIONS:
            for email in spec["users"]:
                user = User.objects.get(email=email)
                company = user.sales_company
                place = company.code if company is not None else ""
                self.stdout.write(
                    f"  {email:<30} {spec['name']:<20} {user.get_role_display()} {place}"
                )
