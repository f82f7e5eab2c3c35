"""Visibility policies of leads and campaigns (registered in ``crm.visibility`` by
``LeadsConfig.ready``). The role table is in ARCHITECTURE.md."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from accounts.models import Contact
from crm.models import User
from crm.roles import Role
from crm.visibility import everyone_in_the_organization, policy, scoped_company_ids
from leads.models import Lead


@policy("leads.Lead")
def _leads(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    if user.role == Role.SALES_REP:
        # A seller sees the leads handed over to him, not his company's lead inbox (its
        # contact data is marketing's until a lead becomes his deal).
        return qs.filter(owner_id=user.pk)
    company_ids = scoped_company_ids(user)
    if company_ids is None:
        return qs
    return qs.filter(Q(sales_company_id__in=company_ids) | Q(owner_id=user.pk))


@policy("leads.CampaignMember")
def _campaign_members(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    if scoped_company_ids(user) is None:
        return qs
    contacts = Contact.objects.visible_to(user).values("id")
    leads = Lead.objects.visible_to(user).values("id")
    return qs.filter(Q(contact_id__in=contacts) | Q(lead_id__in=leads))


# The campaign calendar is shared by the whole organization.
policy("leads.Campaign", "leads.CampaignCompany")(everyone_in_the_organization)
