"""Reads of leads and campaigns, through the visibility policy; do-not-market flags from
``leads.suppression`` (group-wide negotiation, paused marketing).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, TypedDict

from django.db.models import (
    Exists,
    OuterRef,
    Q,
    QuerySet,
)

from accounts.models import Contact
from crm.models import Organization, SalesCompany, User
from crm.registry import access_by_id
from crm.visibility import scoped_company_ids
from leads import suppression
from leads.models import Campaign, CampaignCompany, CampaignMember, Lead, LeadStatus

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class _Suppression(TypedDict):
    do_not_market: bool
    negotiating_companies: str | None
    pause_reason: str | None
    pause_until: dt.date | None


def lead_list(
    *,
    user: User,
    status: str | None = None,
    sales_company: SalesCompany | int | None = None,
    owner: User | int | None = None,
    campaign: Campaign | int | None = None,
    search: str = "",
) -> QuerySet[Lead]:
    qs = Lead.objects.visible_to(user).select_related("sales_company", "owner", "campaign")
    if status:
        qs = qs.filter(status=status)
    if sales_company is not None:
        qs = qs.filter(sales_company=sales_company)
    if owner is not None:
        qs = qs.filter(owner=owner)
    if campaign is not None:
        qs = qs.filter(campaign=campaign)
    if search.strip():
        term = search.strip()
        qs = qs.filter(
            Q(company_name__icontains=term)
            | Q(contact_name__icontains=term)
            | Q(email__icontains=term)
        )
    return qs.order_by("-created_at", "-id")


def assigned_open_leads(*, user: User) -> QuerySet[Lead]:
    """The open leads assigned to the user (new, working or qualified), oldest first: a
    seller's hand-overs still to convert."""
    return (
        Lead.objects.visible_to(user)
        .filter(owner_id=user.pk)
        .exclude(status__in=[LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED])
        .select_related("sales_company", "campaign")
        .order_by("created_at", "id")
    )


def access_lead_by_id(user: User, pk: object) -> Lead:
    return access_by_id(
        Lead.objects.visible_to(user).select_related("sales_company", "owner", "campaign"), pk
    )


def campaign_list(
    *, user: User, active_on: dt.date | None = None, mine_only: bool = False
) -> QuerySet[Campaign]:
    """The organization's campaign calendar; ``mine_only`` keeps those for the user's companies
    (a campaign for no company in particular is everyone's)."""
    qs = Campaign.objects.visible_to(user).select_related("owner")
    if active_on is not None:
        qs = qs.filter(starts_on__lte=active_on, ends_on__gte=active_on)
    if mine_only:
        ids = scoped_company_ids(user)
        if ids is not None:
            links = CampaignCompany.objects.for_org(user.organization_id).filter(
                campaign_id=OuterRef("pk")
            )
            qs = qs.filter(~Exists(links) | Exists(links.filter(sales_company_id__in=ids)))
    return qs.order_by("-starts_on", "id")


def access_campaign_by_id(user: User, pk: object) -> Campaign:
    return access_by_id(Campaign.objects.visible_to(user).select_related("owner"), pk)


def negotiating_account_ids(organization: Organization | int) -> QuerySet[Any]:
    """Accounts with an open deal of their own in a stage that suppresses marketing."""
    return suppression.suppressing_deals(organization).values("account_id")


def suppressed_contact_ids(organization: Organization | int) -> QuerySet[Any]:
    """Contacts flagged "do not market": their account's group is in negotiation with any
    company, or marketing to the account or its group is paused (``leads.suppression``). A
    subquery, so it lifts by itself as soon as the deal closes or moves back, or the pause
    ends."""
    return (
        Contact.objects.for_org(organization)
        .filter(suppression.suppressed_account_q(organization, "account__"))
        .values("id")
    )


MEMBER_ACCOUNT_PATHS = ("contact__account", "lead__matched_account")

# A lead, or a contact that is not archived: who counts as a campaign's member.
LIVE_MEMBER = Q(contact__isnull=True) | Q(contact__archived_at__isnull=True)


def campaign_member_list(
    *, campaign: Campaign, user: User
) -> QuerySet[WithAnnotations[CampaignMember, _Suppression]]:
    """The members of the campaign the user may see, each with ``do_not_market`` and what
    ``suppression.suppression_reason`` reads (the negotiating companies, the pause).

    An archived contact is no member (``LIVE_MEMBER``): the person left the customer or is a
    duplicate, so the list, both exports and the counts leave the row out. The row itself is
    kept, not deleted on archiving: it records that the person was invited or attended, and a
    contact restored by mistake comes back with it."""
    org_id = campaign.organization_id
    members = (
        CampaignMember.objects.visible_to(user)
        .filter(campaign=campaign)
        .filter(LIVE_MEMBER)
        .select_related("contact", "contact__account", "lead")
        .order_by("id")
    )
    return suppression.annotate_suppression(members, org_id, MEMBER_ACCOUNT_PATHS)


def campaign_member_export(
    *, campaign: Campaign, user: User, include_suppressed: bool = False
) -> QuerySet[WithAnnotations[CampaignMember, _Suppression]]:
    """What may be mailed: the visible members with an e-mail address, contacts only with their
    marketing consent; the do-not-market ones left out, or with ``include_suppressed`` kept
    and flagged (the CSV export: marketing sees who is held back and why).

    A lead has no consent flag: it is someone who asked us to get in touch (an inquiry, a fair
    visit), so an e-mail address is enough; once converted, the contact's consent governs. A
    member without an e-mail address cannot be mailed and is left out (``email > ''`` also
    refuses NULL)."""
    rows = campaign_member_list(campaign=campaign, user=user).filter(
        Q(contact__isnull=False, contact__marketing_consent=True, contact__email__gt="")
        | Q(contact__isnull=True, lead__email__gt="")
    )
    if include_suppressed:
        # Those that may be mailed first, so a mailing can take the top of the file.
        return rows.order_by("do_not_market", "id")
    return rows.filter(do_not_market=False)
