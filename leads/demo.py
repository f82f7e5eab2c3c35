"""Demo campaigns, leads and conversions for ``seed_demo``.

Through the services with ``acting_user=None`` (the system seeds). Idempotent: campaigns by
name, leads by e-mail, members by (campaign, contact/lead), conversions by lead status.
Campaigns and leads run after ``accounts.demo`` (members are its contacts); conversions after
``opportunities.demo`` (they create deals).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Q
from django.utils import timezone

from accounts.models import Contact
from crm.models import Organization, SalesCompany, User
from leads.models import Campaign, CampaignMember, Lead, LeadStatus
from leads.services import (
    campaign_create,
    campaign_member_add,
    lead_convert,
    lead_create,
    lead_disqualify,
    lead_qualify,
    lead_work,
)
from opportunities.demo import _stage, backdate, demo_user
from opportunities.services import opportunity_move_stage

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
    # Signed up for the newsletter from a Volvera address: the group is in negotiation, so the
    # lead is flagged at entry and in the export (issue 18).
    ("ola.nordmann@volvera.example", "Volvera Norge AS", "Ola Nordmann", "Innkjøper", "NO",
     "Nordic customer newsletter", "new", "", ""),
]  # fmt: skip


def seed_demo(org: Organization) -> None:
    """Campaigns, their members and the leads (Nordvik only), before the deals."""
    if org.slug == "nordvik":
        _seed_leads(org, _seed_campaigns(org))


def seed_conversions(org: Organization) -> None:
    """The hand-overs to sales, after the deals (``seed_demo`` orders the apps)."""
    if org.slug == "nordvik":
        _seed_conversions(org)


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


def _seed_conversions(org: Organization) -> None:
    """Hand two qualified leads over to sales. Göta Verkstäder is already a customer under a
    slightly different name; marketing confirmed a new account, so a duplicate-account
    conflict appears for the managers to merge."""
    qualified = Lead.objects.for_org(org).filter(
        Q(email="lars@gotaverkstader.example") | Q(email="tobias@isarwerke.example"),
        status=LeadStatus.QUALIFIED,
    )
    owners = {"SE": demo_user(org, "rep.se"), "DE": demo_user(org, "rep.de")}
    for lead in qualified:
        conversion = lead_convert(
            lead=lead,
            acting_user=None,
            create_account=True,
            owner=owners[lead.country],
            opportunity_name=f"{lead.company_name} - first order",
            amount=Decimal("48000") if lead.country == "DE" else Decimal("350000"),
            expected_close_date=timezone.localdate() + dt.timedelta(days=70),
        )
        closed = None
        if lead.country == "DE":
            # Won since: the campaign-sourced won revenue of the smarketing figures.
            won = _stage(conversion.opportunity.sales_company, "Won")
            opportunity_move_stage(
                opportunity=conversion.opportunity, local_stage=won, acting_user=None
            )
            closed = 3
        backdate(conversion.opportunity, age=10, closed_days_ago=closed)
        _backdate_lead(org, conversion.lead, LEAD_DAYS[lead.country])


# Days before now that each converted demo lead was created, qualified, handed over and
# converted, for the smarketing figures' times (issue 19).
LEAD_DAYS = {"SE": (24, 20, 16, 10), "DE": (16, 14, 13, 10)}


def _backdate_lead(org: Organization, lead: Lead, days: tuple[int, int, int, int]) -> None:
    """Spread a demo lead's life over ``days``, kept inside this fiscal quarter (the figures
    are the quarter's, whatever day the demo is seeded on) and never after now."""
    now = timezone.now()
    month = org.fiscal_year_start_month
    today = timezone.localdate()
    months = (today.month - month) % 3
    year, start_month = today.year, today.month - months
    if start_month < 1:
        year, start_month = year - 1, start_month + 12
    first = timezone.make_aware(dt.datetime(year, start_month, 1, 9))
    created, qualified, handed, converted = (
        min(now, max(first, now - dt.timedelta(days=d))) for d in days
    )
    Lead.objects.for_org(org).filter(pk=lead.pk).update(
        created_at=created, qualified_at=qualified, handed_over_at=handed, converted_at=converted
    )
