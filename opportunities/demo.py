"""Demo products, opportunities with stage history and splits, and lead conversions.

Through the services with ``acting_user=None`` (the system seeds), so conflicts appear by
themselves through ``detect_for_opportunity``. Idempotent: products by SKU, opportunities by
name, conversions by lead status. After the services have run, the timestamps of the seeded
history are spread over the past weeks (a demo needs cycle times; the services stamp "now").
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db.models import F
from django.db.models.functions import Least
from django.utils import timezone

from accounts.models import Account, Contact
from accounts.normalize import normalize_registration
from crm.models import Organization, SalesCompany, User
from opportunities.models import (
    BuyingRole,
    Conflict,
    ConflictParticipant,
    Opportunity,
    Product,
    StageChange,
)
from opportunities.services import (
    LineInput,
    contact_role_add,
    opportunity_create,
    opportunity_move_stage,
    opportunity_set_splits,
    product_price_set,
)
from pipeline.models import LocalStage

# sku: (name, family, list price, currency)
PRODUCTS = {
    "PMP-100": ("Centrifugal pump NC-100", "Pumps", "4200.00", "EUR"),
    "PMP-250": ("Centrifugal pump NC-250", "Pumps", "9800.00", "EUR"),
    "PMP-SE-40": ("Dränkbar pump D-40", "Pumps", "38500.00", "SEK"),
    "VLV-50": ("Butterfly valve BV-50", "Valves", "620.00", "EUR"),
    "VLV-US-2": ("Gate valve 2in", "Valves", "540.00", "USD"),
    "DRV-15": ("Variable speed drive 15 kW", "Drives", "2900.00", "EUR"),
    "DRV-75": ("Variable speed drive 75 kW", "Drives", "11800.00", "EUR"),
    "DRV-US-40": ("VFD 40 hp", "Drives", "7400.00", "USD"),
    "SRV-YR": ("Service agreement, per site and year", "Service", "95000.00", "SEK"),
    "SRV-US-YR": ("Field service plan, yearly", "Service", "12000.00", "USD"),
    "SPR-KIT": ("Spare parts kit", "Spare parts", "1450.00", "EUR"),
}

# Price book entries (sku, currency, price): the Swedish and Danish companies' own prices of a
# few EUR products. Other foreign-currency products are quoted at the converted list price.
PRICE_BOOK = [
    ("DRV-15", "SEK", "33500.00"),
    ("PMP-100", "DKK", "31300.00"),
]

OPEN_PATH = ["Qualify", "Develop", "Propose", "Negotiate"]

# name: (account reg, company, owner e-mail, global stage path, currency, lines or amount,
#        created days ago, expected close in days, extra)
# lines: [(sku, quantity, unit price in the deal currency, discount %)]
OPPORTUNITIES: list[tuple[str, str, str, str, list[str], str, Any, int, int, dict[str, Any]]] = [
    ("Volvera Göteborg line upgrade", "SE5560001001", "SE", "rep.se", OPEN_PATH, "SEK",
     [("PMP-SE-40", 12, "38500", "4"), ("DRV-75", 6, "129000", "4")], 75, 30, {}),
    ("Volvera Aarhus retrofit", "DK30001002", "DK", "rep.dk", OPEN_PATH[:3], "DKK",
     [("DRV-75", 4, "88000", "2")], 50, 60, {}),
    ("Volvera Stuttgart drives", "DE300011003", "DE", "rep.de", OPEN_PATH[:2], "EUR",
     [("DRV-75", 8, "11800", "0"), ("SPR-KIT", 8, "1450", "0")], 30, 90, {}),
    ("Volvera US plant retrofit", "US-EIN-10-1004", "US", "rep.us", OPEN_PATH[:1], "USD",
     [("DRV-US-40", 20, "7400", "3"), ("SRV-US-YR", 3, "12000", "0")], 12, 150,
     {"splits": [("rep.us", "revenue", "70"), ("rep.se", "revenue", "30"),
                 ("rep.de", "overlay", "10")]}),
    ("Volvera service agreement", "SE5560001001", "SE", "rep.se", [*OPEN_PATH, "Won"], "SEK",
     [("SRV-YR", 4, "95000", "2")], 160, -40, {}),
    ("Volvera Danmark spare parts", "DK30001002", "DK", "rep.dk", ["Qualify", "Develop", "Won"],
     "DKK", [("SPR-KIT", 120, "10800", "2")], 90, -20, {}),
    ("Hansa fleet pumps", "DE300022001", "DE", "rep.de", OPEN_PATH, "EUR",
     [("PMP-250", 14, "9800", "5"), ("VLV-50", 40, "620", "5")], 65, 25,
     {"splits": [("rep.de", "revenue", "60"), ("rep.se", "revenue", "40")]}),
    ("Hansa Göteborg terminal", "SE5560022002", "SE", "rep.se", OPEN_PATH[:2], "SEK",
     [("PMP-250", 3, "112000", "0")], 20, 75, {}),
    ("Hansa UK depot valves", "GB12022003", "UK", "rep.de", OPEN_PATH[:3], "GBP",
     "86000", 35, 45, {}),
    ("Hansa Shanghai warehouse", "CN91022004", "CN", "rep.de", ["Qualify", "Develop", "Lost"],
     "CNY", "1250000", 120, -30, {"lost_reason": "Local competitor 30% cheaper"}),
    ("Kalevala mill drives", "FI2233001", "FI", "manager.se", OPEN_PATH[:3], "EUR",
     [("DRV-75", 10, "11500", "3")], 45, 50, {}),
    # Denmark works the Finnish group too, with the same drives: a group and a product conflict;
    # and it ships them to Finland, where FI serves the group: a possible parallel import.
    ("Kalevala Danmark drive upgrade", "DK30003003", "DK", "rep.dk", OPEN_PATH[:2], "DKK",
     [("DRV-75", 3, "88000", "0")], 18, 70, {"delivery": "FI"}),
    # Finland at Volvera, outside its global account team: the cross-team conflict (the team's
    # own deals there are coordinated work, shown as team deals).
    ("Volvera Finland mill service", "SE5560001001", "FI", "manager.se", OPEN_PATH[:2], "EUR",
     "48000", 10, 60, {}),
    ("Fjordkraft vessel pumps", "NO9100002", "NO", "rep.dk", [*OPEN_PATH, "Lost"], "NOK",
     "2400000", 140, -10, {"lost_reason": "Project postponed to next year"}),
    ("Göta Verkstäder pumps", "SE5560100001", "SE", "rep.se", ["Qualify", "Propose", "Won"],
     "SEK", [("PMP-SE-40", 6, "38500", "0")], 80, -35, {}),
    ("Norrland Trä sawmill", "SE5560100002", "SE", "rep.se", OPEN_PATH[:3], "SEK",
     "740000", 25, 40, {}),
    ("Øresund cold-chain pumps", "DK30100001", "DK", "rep.dk", OPEN_PATH, "DKK",
     [("PMP-100", 8, "31300", "0")], 55, 20, {}),
    ("Bayerische Pumpen Ersatzteile", "DE300100001", "DE", "rep.de", [*OPEN_PATH, "Won"], "EUR",
     [("SPR-KIT", 60, "1450", "8")], 100, -12, {}),
    ("Rheinland Stahl Antriebe", "DE300100002", "DE", "rep.de", ["Qualify", "Lost"], "EUR",
     "58000", 70, -45, {"lost_reason": "No budget this year"}),
    ("Prairie Tools valves", "US-EIN-20-0001", "US", "rep.us", OPEN_PATH[:2], "USD",
     [("VLV-US-2", 150, "540", "5")], 15, 80, {}),
    ("Thames Engineering service", "GB12100001", "UK", "rep.de", OPEN_PATH[:3], "GBP",
     "64000", 40, 55, {}),
    ("Bergen Akva pumps", "NO9100101", "NO", "rep.dk", OPEN_PATH[:1], "NOK", "380000", 5, 120,
     {}),
]  # fmt: skip

TELLUS_OPPORTUNITIES = [
    ("Volvera Group pumps", "SE5569990001", ["Qualify", "Develop", "Propose"], "450000", 30, 45),
    ("Skåne Mejeri service", "SE5569990002", ["Qualify", "Won"], "120000", 60, -15),
]


def seed_demo(org: Organization) -> None:
    """Products and deals, after the sales process and the leads (``seed_demo`` orders the apps)."""
    if org.slug == "nordvik":
        # The trade rules' price gap at 5 % (default 15 %): the 75 kW drive is quoted to
        # Volvera (SE, DK, DE) and to Kalevala (FI, DK) some 7 % apart, one situation each.
        Organization.objects.filter(pk=org.pk).update(trade_price_gap_percent=Decimal(5))
        _seed_products(org)
        for spec in OPPORTUNITIES:
            _seed_opportunity(org, *spec)
        _backdate_situations(org)
        _seed_buying_centres(org)
    elif org.slug == "tellus":
        rep = User.objects.for_org(org).get(email="rep@tellus.example")
        company = rep.sales_company
        assert company is not None  # a sales rep belongs to a company
        for name, reg, path, amount, age, close_in in TELLUS_OPPORTUNITIES:
            _ensure(
                org,
                name=name,
                account=_account(org, reg),
                company=company,
                owner=rep,
                path=path,
                currency="SEK",
                amount=Decimal(amount),
                lines=[],
                age=age,
                close_in=close_in,
                extra={},
            )


# Buying centres: (deal, contact's e-mail, role).
BUYING_CENTRES = [
    ("Volvera Göteborg line upgrade", "karin.lindqvist@volvera.example", BuyingRole.DECISION_MAKER),
    ("Volvera Göteborg line upgrade", "johan.berg@volvera.example", BuyingRole.INFLUENCER),
    ("Volvera Aarhus retrofit", "mads.holm@volvera.example", BuyingRole.ECONOMIC_BUYER),
]


def _seed_buying_centres(org: Organization) -> None:
    for deal, email, role in BUYING_CENTRES:
        contact_role_add(
            opportunity=Opportunity.objects.for_org(org).get(name=deal),
            contact=Contact.objects.for_org(org).get(email=email),
            role=role,
            acting_user=None,
        )


def _seed_products(org: Organization) -> None:
    # Configuration data of the catalog: no service of its own yet, created idempotently here.
    known = set(Product.objects.for_org(org).values_list("sku", flat=True))
    for sku, (name, family, price, currency) in PRODUCTS.items():
        if sku not in known:
            product = Product(
                organization=org,
                sku=sku,
                name=name,
                family=family,
                list_price=Decimal(price),
                currency=currency,
            )
            product.full_clean()
            product.save()
    products = {p.sku: p for p in Product.objects.for_org(org)}
    for sku, currency, price in PRICE_BOOK:
        product_price_set(
            product=products[sku], currency=currency, price=Decimal(price), acting_user=None
        )


def _account(org: Organization, reg: str) -> Account:
    return Account.objects.for_org(org).get(registration_key=normalize_registration(reg))


def demo_user(org: Organization, short: str) -> User:
    return User.objects.for_org(org).get(email=f"{short}@nordvik.example")


def _seed_opportunity(
    org: Organization,
    name: str,
    reg: str,
    company_code: str,
    owner: str,
    path: list[str],
    currency: str,
    lines_or_amount: Any,
    age: int,
    close_in: int,
    extra: dict[str, Any],
) -> None:
    products = {p.sku: p for p in Product.objects.for_org(org)}
    lines, amount = [], None
    if isinstance(lines_or_amount, str):
        amount = Decimal(lines_or_amount)
    else:
        lines = [
            LineInput(
                product=products[sku],
                quantity=Decimal(qty),
                unit_price=Decimal(price),
                discount_percent=Decimal(discount),
            )
            for sku, qty, price, discount in lines_or_amount
        ]
    _ensure(
        org,
        name=name,
        account=_account(org, reg),
        company=SalesCompany.objects.for_org(org).get(code=company_code),
        owner=demo_user(org, owner),
        path=path,
        currency=currency,
        amount=amount,
        lines=lines,
        age=age,
        close_in=close_in,
        extra=extra,
    )


def _stage(company: SalesCompany, global_name: str) -> LocalStage:
    stage = (
        LocalStage.objects.for_org(company.organization_id)
        .filter(process__sales_company=company, global_stage__name=global_name)
        .order_by("order")
        .first()
    )
    if stage is None:  # the demo's processes map every global stage
        raise LookupError(f"{company.code} has no local stage for {global_name}.")
    return stage


def _ensure(
    org: Organization,
    *,
    name: str,
    account: Account,
    company: SalesCompany,
    owner: User,
    path: list[str],
    currency: str,
    amount: Decimal | None,
    lines: list[LineInput],
    age: int,
    close_in: int,
    extra: dict[str, Any],
) -> None:
    if Opportunity.objects.for_org(org).filter(name=name).exists():
        return
    today = timezone.localdate()
    opp = opportunity_create(
        acting_user=None,
        account=account,
        name=name,
        sales_company=company,
        owner=owner,
        local_stage=_stage(company, path[0]),
        amount=amount,
        currency=currency,
        lines=lines,
        expected_close_date=today + dt.timedelta(days=close_in),
        next_step="" if close_in < 0 else "Follow up on the offer",
        delivery_country=extra.get("delivery"),
    )
    if extra.get("splits"):
        opportunity_set_splits(
            opportunity=opp,
            splits=[
                (demo_user(org, short), None, kind, Decimal(pct))
                for short, kind, pct in extra["splits"]
            ],
            acting_user=None,
        )
    for step in path[1:]:
        opp = opportunity_move_stage(
            opportunity=opp,
            local_stage=_stage(company, step),
            acting_user=None,
            lost_reason=extra.get("lost_reason", ""),
        )
    backdate(opp, age=age, closed_days_ago=-close_in if close_in < 0 else None)


def _backdate_situations(org: Organization) -> None:
    """Situations arose when the deal that made them one was created, not when the demo ran:
    each participant joined with its deal, and a situation dates from its second deal (so the
    inbox's ages and the target are worth looking at). Idempotent."""
    created_at = dict(Opportunity.objects.for_org(org).values_list("pk", "created_at"))
    for p in ConflictParticipant.objects.for_org(org).filter(opportunity__isnull=False):
        if p.opportunity_id is not None:
            ConflictParticipant.objects.for_org(org).filter(pk=p.pk).update(
                joined_at=created_at[p.opportunity_id]
            )
    for conflict in Conflict.objects.for_org(org):
        joined = sorted(
            ConflictParticipant.objects.for_org(org)
            .filter(conflict=conflict)
            .values_list("joined_at", flat=True)
        )
        if joined:
            arose = joined[1] if len(joined) > 1 else joined[0]
            Conflict.objects.for_org(org).filter(pk=conflict.pk).update(created_at=arose)


def backdate(opp: Opportunity, *, age: int, closed_days_ago: int | None) -> None:
    """Spread the history the services just wrote over ``age`` days, ending at the close."""
    now = timezone.now()
    created = now - dt.timedelta(days=age)
    end = now - dt.timedelta(days=closed_days_ago or 1)
    changes = list(
        StageChange.objects.for_org(opp.organization_id)
        .filter(opportunity=opp)
        .order_by("changed_at", "id")
        .values_list("pk", flat=True)
    )
    step = (end - created) / max(len(changes) - 1, 1)
    for i, pk in enumerate(changes):
        StageChange.objects.for_org(opp.organization_id).filter(pk=pk).update(
            changed_at=created + step * i
        )
    fields: dict[str, Any] = {"created_at": created}
    if closed_days_ago is not None:
        fields["closed_at"] = end
        fields["expected_close_date"] = timezone.localdate(end)
    Opportunity.objects.for_org(opp.organization_id).filter(pk=opp.pk).update(**fields)
    if closed_days_ago is not None and opp.global_stage.is_won:
        Account.objects.for_org(opp.organization_id).filter(pk=opp.account_id).update(
            first_won_at=Least(F("first_won_at"), end)
        )
