"""Visibility policies of leads and campaigns (registered in ``crm.visibility`` by
``LeadsConfig.ready``). The role table is in ARCHITECTURE.md."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db.models import Q, QuerySet

from accounts.models import Account, Contact
from crm.audit import register_history
from crm.models import User
from crm.roles import Role
from crm.visibility import event_policy, everyone_in_the_organization, policy, scoped_company_ids
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


@policy("leads.MarketingPause")
def _marketing_pauses(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    """Seen by whoever sees the account it was set on."""
    return qs.filter(account_id__in=Account.objects.visible_to(user).values("id"))


# A pause is part of its account's History (who paused, why, until when, who ended it).
policy("leads.MarketingPauseEvent")(event_policy(Account, "account_id"))
register_history(Account, (apps.get_model("leads", "MarketingPauseEvent"), "account_id"))
