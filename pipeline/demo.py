"""Demo sales process, campaigns and leads for ``seed_demo``.

Through the services with ``acting_user=None`` (the system seeds). Idempotent: processes are
found by company, campaigns by name, leads by e-mail, members by (campaign, contact/lead).
Runs after ``accounts.demo`` (campaign members are its contacts) and before
``opportunities.demo`` (which converts some of these leads).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from accounts.models import Contact
from crm.models import Organization, SalesCompany, User
from pipeline.models import Campaign, CampaignMember, GlobalStage, Lead, LeadStatus, SalesProcess
from pipeline.services import (
    campaign_create,
    campaign_member_add,
    global_stages_ensure_default,
    lead_create,
    lead_disqualify,
    lead_qualify,
    lead_work,
    sales_process_create,
)

# Local names per global stage (same order): the variants the issue asks for.
LOCAL_NAMES = {
    "SE": ("Säljprocess", ["Kvalificera", "Utveckla", "Offerera", "Förhandla", "Vunnen",
                           "Förlorad"]),
    "DE": ("Vertriebsprozess", ["Qualifizieren", "Entwickeln", "Angebot", "Verhandlung",
                                "Gewonnen", "Verloren"]),
}  # fmt: skip
DEFAULT_PROCESS = ("Standard sales process", None)

# name: (kind, starts in days, length in days, currency, budget, company codes)
CAMPAIGNS = {
    "Elmia Subcontractor": ("trade_show", -40, 4, "SEK", Decimal("180000"), ["SE"]),
    "Hannover Messe": ("trade_show", -25, 5, "EUR", Decimal("45000"), ["DE"]),
    "Pump efficiency webinar": ("webinar", 14, 1, "EUR", Decimal("3000"), []),
    "Nordic customer newsletter": ("email", 5, 30, "EUR", Decimal("1500"), ["SE", "DK", "NO"]),
}
# campaign: contact e-mails (from accounts.demo)
CAMPAIGN_CONTACTS = {
    "Nordic customer newsletter": [
        "karin.lindqvist@volvera.example",  # in negotiation: do-not-market in the export
        "johan.berg@volvera.example",
        "mads.holm@volvera.example",
        "eva.strom@hansa-logistik.example",
        "aino.virtanen@kalevala.example",
    ],
    "Pump efficiency webinar": ["jens.hoffmann@hansa-logistik.example",
                                "li.wei@hansa-logistik.example"],
}  # fmt: skip
# e-mail: (company, contact, title, country, source, campaign, status, reg no, domain)
LEADS = [
    ("lars@gotaverkstader.example", "Göta Verkstäder", "Lars Nilsson", "Produktionschef", "SE",
     "Elmia Subcontractor", "qualified", "", "gotaverkstader.example"),
    ("petra@malarenergi.example", "Mälaren Energi AB", "Petra Holm", "Inköpare", "SE",
     "Elmia Subcontractor", "working", "", "malarenergi.example"),
    ("tobias@isarwerke.example", "Isar Werke GmbH", "Tobias Maier", "Technischer Leiter", "DE",
     "Hannover Messe", "qualified", "DE300555001", "isarwerke.example"),
    ("sabine@lahnchemie.example", "Lahn Chemie AG", "Sabine Roth", "Einkauf", "DE",
     "Hannover Messe", "new", "", ""),
    ("student@uni.example", "Uni project", "Kim Student", "", "DK", "", "disqualified", "", ""),
    ("hello@jutlandfoods.example", "Jutland Foods A/S", "Sofie Jensen", "COO", "DK",
     "Pump efficiency webinar", "new", "", "jutlandfoods.example"),
    ("ops@auroramining.example", "Aurora Mining Oy", "Mikko Laine", "Maintenance lead", "FI",
     "Pump efficiency webinar", "working", "", "auroramining.example"),
]  # fmt: skip


def seed_demo(org: Organization) -> None:
    stages = {gs.name: gs for gs in global_stages_ensure_default(organization=org)}
    _seed_processes(org, stages)
    if org.slug != "nordvik":
        return
    campaigns = _seed_campaigns(org)
    _seed_leads(org, campaigns)


def _seed_processes(org: Organization, stages: dict[str, GlobalStage]) -> None:
    has_process = set(SalesProcess.objects.for_org(org).values_list("sales_company_id", flat=True))
    ordered = sorted(stages.values(), key=lambda gs: gs.order)
    for company in SalesCompany.objects.for_org(org).order_by("code"):
        if company.pk in has_process:
            continue
        name, local = LOCAL_NAMES.get(company.country, DEFAULT_PROCESS)
        names = local or [gs.name for gs in ordered]
        sales_process_create(
            sales_company=company,
            name=name,
            stages=[(n, gs.order, gs) for n, gs in zip(names, ordered, strict=True)],
            acting_user=None,
        )


def _seed_campaigns(org: Organization) -> dict[str, Campaign]:
    today = timezone.localdate()
    owner = User.objects.for_org(org).get(email="marketing@nordvik.example")
    companies = {c.code: c for c in SalesCompany.objects.for_org(org)}
    out = {c.name: c for c in Campaign.objects.for_org(org).filter(name__in=list(CAMPAIGNS))}
    for name, (kind, start, length, currency, budget, codes) in CAMPAIGNS.items():
        if name in out:
            continue
        starts_on = today + dt.timedelta(days=start)
        out[name] = campaign_create(
            organization=org,
            acting_user=None,
            name=name,
            kind=kind,
            starts_on=starts_on,
            ends_on=starts_on + dt.timedelta(days=length),
            currency=currency,
            budget=budget,
            sales_companies=[companies[c] for c in codes],
            owner=owner,
        )
    contacts = {c.email: c for c in Contact.objects.for_org(org).filter(email__endswith=".example")}
    enrolled = set(
        CampaignMember.objects.for_org(org)
        .filter(contact__isnull=False)
        .values_list("campaign_id", "contact_id")
    )
    for campaign_name, emails in CAMPAIGN_CONTACTS.items():
        campaign = out[campaign_name]
        for email in emails:
            contact = contacts.get(email)
            if contact is not None and (campaign.pk, contact.pk) not in enrolled:
                campaign_member_add(campaign=campaign, acting_user=None, contact=contact)
    return out


def _seed_leads(org: Organization, campaigns: dict[str, Campaign]) -> None:
    known = set(Lead.objects.for_org(org).values_list("email", flat=True))
    marketing = User.objects.for_org(org).get(email="marketing@nordvik.example")
    for email, company, contact, title, country, campaign, status, reg, domain in LEADS:
        if email in known:
            continue
        lead = lead_create(
            organization=org,
            acting_user=None,
            company_name=company,
            contact_name=contact,
            contact_title=title,
            email=email,
            country=country,
            source=campaign or "web form",
            campaign=campaigns.get(campaign),
            registration_number=reg,
            domain=domain,
            owner=marketing,
        )
        if status in (LeadStatus.WORKING, LeadStatus.QUALIFIED):
            lead = lead_work(lead=lead, acting_user=None)
        if status == LeadStatus.QUALIFIED:
            lead_qualify(lead=lead, acting_user=None)
        if status == LeadStatus.DISQUALIFIED:
            lead_disqualify(lead=lead, acting_user=None, reason="Not a business (student project)")
