"""The demo organizations of ARCHITECTURE.md, as data. ``seed_demo`` turns it into rows."""

from __future__ import annotations

from decimal import Decimal
from typing import TypedDict

from crm.roles import Role

DEMO_PASSWORD = "demo1234"  # documented demo password, seeded only by seed_demo


class DemoOrganization(TypedDict):
    slug: str
    name: str
    corporate_currency: str
    fiscal_year_start_month: int
    regions: list[str]
    companies: dict[str, tuple[str, str, str, str, str, str]]
    users: dict[str, tuple[str, Role, str | None, str | None]]
    rates: dict[str, Decimal]


NORDVIK: DemoOrganization = {
    "slug": "nordvik",
    "name": "Nordvik Industries",
    "corporate_currency": "EUR",
    "fiscal_year_start_month": 1,
    "regions": ["Nordics", "DACH", "Western Europe", "Americas", "APAC"],
    # code: (name, region, country, currency, language, timezone)
    "companies": {
        "SE": ("Nordvik Sverige AB", "Nordics", "SE", "SEK", "sv", "Europe/Stockholm"),
        "DK": ("Nordvik Danmark A/S", "Nordics", "DK", "DKK", "da", "Europe/Copenhagen"),
        "NO": ("Nordvik Norge AS", "Nordics", "NO", "NOK", "nb", "Europe/Oslo"),
        "FI": ("Nordvik Suomi Oy", "Nordics", "FI", "EUR", "fi", "Europe/Helsinki"),
        "DE": ("Nordvik Deutschland GmbH", "DACH", "DE", "EUR", "de", "Europe/Berlin"),
        "UK": ("Nordvik UK Ltd", "Western Europe", "GB", "GBP", "en", "Europe/London"),
        "US": ("Nordvik Inc.", "Americas", "US", "USD", "en", "America/Chicago"),
        "CN": ("Nordvik (Shanghai) Co., Ltd.", "APAC", "CN", "CNY", "zh-hans", "Asia/Shanghai"),
    },
    # email: (full name, role, company code, region)
    "users": {
        "admin@nordvik.example": ("Astrid Admin", Role.GLOBAL_ADMIN, None, None),
        "director@nordvik.example": ("Dag Director", Role.GLOBAL_DIRECTOR, None, None),
        "nordics@nordvik.example": ("Nora Nordics", Role.REGIONAL_MANAGER, None, "Nordics"),
        "manager.se@nordvik.example": ("Sven Svensson", Role.COUNTRY_MANAGER, "SE", None),
        "manager.dk@nordvik.example": ("Mette Madsen", Role.COUNTRY_MANAGER, "DK", None),
        "manager.de@nordvik.example": ("Dieter Daum", Role.COUNTRY_MANAGER, "DE", None),
        "rep.se@nordvik.example": ("Sara Sandberg", Role.SALES_REP, "SE", None),
        "rep.dk@nordvik.example": ("Rasmus Dahl", Role.SALES_REP, "DK", None),
        "rep.de@nordvik.example": ("Greta Berger", Role.SALES_REP, "DE", None),
        "rep.us@nordvik.example": ("Uma Walker", Role.SALES_REP, "US", None),
        "marketing@nordvik.example": ("Maja Marketing", Role.MARKETING, None, None),
    },
    # Units of EUR per unit of the currency on 1 January of the first year; monthly rates drift
    # from there deterministically, so every run of seed_demo writes the same numbers.
    "rates": {
        "SEK": Decimal("0.0870"),
        "DKK": Decimal("0.1341"),
        "NOK": Decimal("0.0855"),
        "GBP": Decimal("1.1650"),
        "USD": Decimal("0.9150"),
        "CNY": Decimal("0.1270"),
    },
}

TELLUS: DemoOrganization = {
    "slug": "tellus",
    "name": "Tellus Group",
    "corporate_currency": "USD",
    "fiscal_year_start_month": 4,
    "regions": ["Europe"],
    "companies": {
        "SE": ("Tellus Nordic AB", "Europe", "SE", "SEK", "sv", "Europe/Stockholm"),
    },
    "users": {
        "admin@tellus.example": ("Tove Tellus", Role.GLOBAL_ADMIN, None, None),
        "rep@tellus.example": ("Ture Tellus", Role.SALES_REP, "SE", None),
    },
    "rates": {"SEK": Decimal("0.0950"), "EUR": Decimal("1.0900")},
}

ORGANIZATIONS = [NORDVIK, TELLUS]
