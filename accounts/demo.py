"""Demo customers for ``seed_demo``: international groups, teams, a plan, an agreement.

Everything goes through the services (``acting_user=None``: the system seeds). Idempotent: rows
are found again by natural keys (registration number, e-mail, subject, name, year), so a second
run changes nothing. Opportunities are seeded by the pipeline's demo, which runs after this one.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.utils import timezone

from accounts import join, services
from accounts.models import (
    Account,
    AccountPlan,
    AccountTeamMember,
    Activity,
    Contact,
    FrameworkAgreement,
    GroupJoinRequest,
    PlanAction,
    TeamRole,
)
from accounts.normalize import normalize_registration
from crm.models import Organization, SalesCompany, User

# registration number: (name, home company code, country, parent registration, fields)
NORDVIK_ACCOUNTS: list[tuple[str, str, str, str, str | None, dict[str, Any]]] = [
    ("SE5560001001", "Volvera Group AB", "SE", "SE", None,
     {"domain": "volvera.example", "industry": "Automotive", "segment": "A",
      "lifecycle": "customer"}),
    ("DK30001002", "Volvera Danmark A/S", "DK", "DK", "SE5560001001",
     {"domain": "volvera.example", "industry": "Automotive", "lifecycle": "customer"}),
    ("DE300011003", "Volvera Deutschland GmbH", "DE", "DE", "SE5560001001",
     {"industry": "Automotive", "lifecycle": "customer"}),
    ("US-EIN-10-1004", "Volvera North America Inc.", "US", "US", "SE5560001001",
     {"industry": "Automotive", "lifecycle": "prospect"}),
    ("DE300022001", "Hansa Logistik GmbH", "DE", "DE", None,
     {"domain": "hansa-logistik.example", "industry": "Logistics", "segment": "A",
      "lifecycle": "customer"}),
    ("SE5560022002", "Hansa Logistik Sverige AB", "SE", "SE", "DE300022001",
     {"industry": "Logistics", "lifecycle": "customer"}),
    ("GB12022003", "Hansa Logistics UK Ltd", "UK", "GB", "DE300022001",
     {"industry": "Logistics"}),
    ("CN91022004", "Hansa Logistics (Shanghai) Co., Ltd.", "CN", "CN", "DE300022001",
     {"industry": "Logistics"}),
    ("FI2233001", "Kalevala Paper Oyj", "FI", "FI", None,
     {"domain": "kalevala.example", "industry": "Pulp & paper", "segment": "B"}),
    ("NO9100002", "Fjordkraft Marine AS", "NO", "NO", "FI2233001",
     {"industry": "Marine"}),
    ("DK30003003", "Kalevala Danmark ApS", "DK", "DK", "FI2233001", {}),
    # Single-country customers of each company.
    ("SE5560100001", "Göta Verkstäder AB", "SE", "SE", None, {"segment": "B"}),
    ("SE5560100002", "Norrland Trä AB", "SE", "SE", None, {}),
    ("DK30100001", "Øresund Fødevarer A/S", "DK", "DK", None, {"segment": "B"}),
    ("DE300100001", "Bayerische Pumpen AG", "DE", "DE", None, {"segment": "B"}),
    ("DE300100002", "Rheinland Stahl GmbH", "DE", "DE", None, {}),
    ("US-EIN-20-0001", "Prairie Tools LLC", "US", "US", None, {}),
    ("GB12100001", "Thames Engineering plc", "UK", "GB", None, {}),
    ("NO9100101", "Bergen Akva AS", "NO", "NO", None, {}),
]  # fmt: skip

# group registration: [(user e-mail, team role, company code)]
NORDVIK_TEAMS = {
    "SE5560001001": [
        ("rep.se@nordvik.example", TeamRole.GLOBAL_ACCOUNT_MANAGER, "SE"),
        ("rep.dk@nordvik.example", TeamRole.KEY_ACCOUNT_MANAGER, "DK"),
        ("rep.de@nordvik.example", TeamRole.KEY_ACCOUNT_MANAGER, "DE"),
        ("rep.us@nordvik.example", TeamRole.KEY_ACCOUNT_MANAGER, "US"),
    ],
    "DE300022001": [
        ("rep.de@nordvik.example", TeamRole.GLOBAL_ACCOUNT_MANAGER, "DE"),
        ("rep.se@nordvik.example", TeamRole.KEY_ACCOUNT_MANAGER, "SE"),
        ("manager.de@nordvik.example", TeamRole.MEMBER, "DE"),
    ],
}

# account registration: [(name, title, e-mail, language, consent)]
NORDVIK_CONTACTS = {
    "SE5560001001": [
        ("Karin Lindqvist", "Chief Procurement Officer", "karin.lindqvist@volvera.example",
         "sv", True),
        ("Johan Berg", "Category Manager", "johan.berg@volvera.example", "sv", False),
    ],
    "DK30001002": [("Mads Holm", "Indkøbschef", "mads.holm@volvera.example", "da", True)],
    "DE300011003": [
        ("Katrin Vogel", "Leiterin Einkauf", "katrin.vogel@volvera.example", "de", False),
    ],
    "US-EIN-10-1004": [("Mike Turner", "Plant Manager", "mike.turner@volvera.example", "en", True)],
    "DE300022001": [
        ("Jens Hoffmann", "Head of Fleet", "jens.hoffmann@hansa-logistik.example", "de", True),
    ],
    "SE5560022002": [
        ("Eva Ström", "Terminal Manager", "eva.strom@hansa-logistik.example", "sv", False),
    ],
    "CN91022004": [("Li Wei", "Operations Director", "li.wei@hansa-logistik.example", "en", False)],
    "FI2233001": [("Aino Virtanen", "Purchasing Director", "aino.virtanen@kalevala.example",
                   "fi", True)],
}  # fmt: skip

# account registration: [(kind, subject, owner e-mail, days ago (done) or None (open task))]
# Per account: (kind, subject, owner's e-mail, days ago or None for an open task).
NORDVIK_ACTIVITIES: dict[str, list[tuple[str, str, str, int | None]]] = {
    "SE5560001001": [
        ("meeting", "Annual business review in Gothenburg", "rep.se@nordvik.example", 20),
        ("call", "Global frame agreement renewal kick-off", "rep.se@nordvik.example", 6),
    ],
    "DK30001002": [("call", "Follow-up on Aarhus plant retrofit", "rep.dk@nordvik.example", 3)],
    "DE300011003": [
        ("meeting", "Werksbesuch Stuttgart", "rep.de@nordvik.example", 2),
        ("task", "Send German terms annex", "rep.de@nordvik.example", None),
    ],
    "US-EIN-10-1004": [("event", "Met at ProMat Chicago", "rep.us@nordvik.example", 12)],
    "DE300022001": [("meeting", "Fleet renewal workshop Hamburg", "rep.de@nordvik.example", 9)],
    "SE5560022002": [("call", "Göteborg terminal expansion", "rep.se@nordvik.example", 1)],
    "DK30100001": [("email", "Quote sent for cold-chain pumps", "rep.dk@nordvik.example", 4)],
}


def _company(org: Organization, code: str) -> SalesCompany:
    return SalesCompany.objects.for_org(org).get(code=code)


def _user(org: Organization, email: str) -> User:
    return User.objects.for_org(org).get(email=email)


def _ensure_account(
    org: Organization,
    reg: str,
    name: str,
    company: str,
    country: str,
    parent: Account | None,
    fields: dict[str, Any],
) -> Account:
    existing = (
        Account.objects.for_org(org).filter(registration_key=normalize_registration(reg)).first()
    )
    if existing is not None:
        return existing
    return services.account_create(
        organization=org,
        name=name,
        home_company=_company(org, company),
        parent=parent,
        registration_number=reg,
        country=country,
        acting_user=None,
        **fields,
    )


def seed_demo(org: Organization) -> None:
    """Demo customers for Nordvik (the full picture) and Tellus (a few, for isolation)."""
    if org.slug == "nordvik":
        _seed_nordvik(org)
    elif org.slug == "tellus":
        for reg, name in [
            ("SE5569990001", "Volvera Group AB"),
            ("SE5569990002", "Skåne Mejeri AB"),
        ]:
            # The same customer name as at Nordvik, on purpose: tenants never see each other.
            _ensure_account(org, reg, name, "SE", "SE", None, {"lifecycle": "customer"})


def _seed_nordvik(org: Organization) -> None:
    today = timezone.localdate()
    accounts: dict[str, Account] = {}
    for reg, name, company, country, parent_reg, fields in NORDVIK_ACCOUNTS:
        parent = accounts[parent_reg] if parent_reg else None
        accounts[reg] = _ensure_account(org, reg, name, company, country, parent, fields)

    for group_reg, members in NORDVIK_TEAMS.items():
        group = accounts[group_reg]
        on_team = set(
            AccountTeamMember.objects.for_org(org)
            .filter(account=group)
            .values_list("user__email", flat=True)
        )
        for email, role, company in members:
            if email not in on_team:
                services.team_member_add(
                    group=group,
                    user=_user(org, email),
                    role=role,
                    sales_company=_company(org, company),
                    acting_user=None,
                )

    for reg, contacts in NORDVIK_CONTACTS.items():
        known = set(
            Contact.objects.for_org(org)
            .filter(account=accounts[reg])
            .values_list("email", flat=True)
        )
        for full_name, title, email, language, consent in contacts:
            if email not in known:
                services.contact_create(
                    account=accounts[reg],
                    full_name=full_name,
                    title=title,
                    email=email,
                    language=language,
                    marketing_consent=consent,
                    acting_user=None,
                )

    for reg, activities in NORDVIK_ACTIVITIES.items():
        known = set(
            Activity.objects.for_org(org)
            .filter(account=accounts[reg])
            .values_list("subject", flat=True)
        )
        for kind, subject, email, days_ago in activities:
            if subject in known:
                continue
            when = timezone.now() - dt.timedelta(days=days_ago if days_ago is not None else 0)
            services.activity_log(
                account=accounts[reg],
                kind=kind,
                subject=subject,
                owner=_user(org, email),
                due_at=when if days_ago is not None else when + dt.timedelta(days=7),
                done_at=when if days_ago is not None else None,
                acting_user=None,
            )

    volvera = accounts["SE5560001001"]
    plan = AccountPlan.objects.for_org(org).filter(account=volvera, year=today.year).first()
    if plan is None:
        plan = services.account_plan_create(
            group=volvera,
            year=today.year,
            revenue_target=Decimal("2500000.00"),
            owner=_user(org, "rep.se@nordvik.example"),
            objectives=(
                "Become preferred supplier in all four countries; win the US plant retrofit; "
                "move Volvera Danmark to the framework agreement's second tier."
            ),
            status="active",
            acting_user=None,
        )
    actions = [
        ("Executive sponsor meeting in Gothenburg", "rep.se@nordvik.example", -30, "done"),
        ("Map US buying centre", "rep.us@nordvik.example", -10, "open"),  # overdue
        ("Joint value workshop with Volvera Deutschland", "rep.de@nordvik.example", 21, "open"),
        ("Renewal proposal for the framework agreement", "rep.se@nordvik.example", 45, "open"),
    ]
    known = set(PlanAction.objects.for_org(org).filter(plan=plan).values_list("title", flat=True))
    for title, email, due_in, status in actions:
        if title in known:
            continue
        action = services.plan_action_add(
            plan=plan,
            title=title,
            owner=_user(org, email),
            due_date=today + dt.timedelta(days=due_in),
            acting_user=None,
        )
        if status != "open":
            services.plan_action_update(action=action, status=status, acting_user=None)

    name = "Volvera Global Framework Agreement"
    if not FrameworkAgreement.objects.for_org(org).filter(account=volvera, name=name).exists():
        services.agreement_create(
            group=volvera,
            name=name,
            valid_from=dt.date(today.year, 1, 1),
            valid_to=dt.date(today.year + 1, 12, 31),
            covered_companies=[_company(org, code) for code in ("SE", "DK", "DE", "US")],
            incoterm="DAP",
            payment_terms="60 days net",
            legal_notes={
                "DE": "German law applies to deliveries in Germany.",
                "US": "Deliveries to the US under the US annex (UCC).",
            },
            tiers=[
                (Decimal("0.00"), Decimal("2.00")),
                (Decimal("250000.00"), Decimal("4.00")),
                (Decimal("1000000.00"), Decimal("6.50")),
            ],
            acting_user=None,
        )
    # A second agreement covering Volvera in Denmark (through a trade association), older than
    # the framework agreement, which therefore applies: the Danish quote's double agreement.
    name = "Nordic Process Industry Association terms"
    if not FrameworkAgreement.objects.for_org(org).filter(account=volvera, name=name).exists():
        services.agreement_create(
            group=volvera,
            name=name,
            valid_from=dt.date(today.year - 1, 1, 1),
            valid_to=dt.date(today.year + 1, 12, 31),
            covered_companies=[_company(org, "DK")],
            incoterm="FCA",
            payment_terms="30 days net",
            tiers=[(Decimal("0.00"), Decimal("3.00"))],
            acting_user=None,
        )
    _seed_join_request(org, accounts["DE300022001"])


JOINING_NAME = "Hansa Logistics America Inc."


def _seed_join_request(org: Organization, hansa: Account) -> None:
    """The US rep's customer that turned out to be part of the Hansa group, which the US company
    cannot see: she asked to join it; its GAM (rep.de) decides it under Join requests. Pending,
    so the demo shows a request as it arrives. Its own web domain (the US branch's), so that it
    is not one more "this customer exists" for the Danish rep's walk-through of the same case."""
    rep_us = _user(org, "rep.us@nordvik.example")
    account = Account.objects.for_org(org).filter(name=JOINING_NAME).first()
    if account is None:
        account = services.account_create(
            organization=org,
            name=JOINING_NAME,
            home_company=_company(org, "US"),
            country="US",
            domain="hansa-logistics-us.example",
            industry="Logistics",
            acting_user=rep_us,
            allow_duplicate=True,  # she confirmed it is a new account of hers
        )
    if not GroupJoinRequest.objects.for_org(org).filter(account=account).exists():
        join.join_request_create(
            account=account,
            group=hansa,
            acting_user=rep_us,
            reason="Same fleet programme as Hansa Hamburg (their buyer told us); we serve the US "
            "terminal.",
        )
