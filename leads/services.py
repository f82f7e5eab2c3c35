"""Writes of leads and campaigns, and the hand-over (conversion). Keyword-only, typed, atomic.

``acting_user=None`` means the system itself (seed_demo); every other caller passes the user on
whose behalf the write happens, and the service checks the lead rule (``may_lead``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import Account, Contact
from accounts.services import account_create, contact_create, may_change_account
from crm.limits import MAX_COMPANIES_PER_LIST, check_count
from crm.models import Organization, SalesCompany, User
from crm.registry import require_visible
from crm.roles import ORG_WIDE_ROLES, Role
from crm.tenancy import require_same_org
from crm.visibility import scoped_company_ids
from leads.models import (
    Campaign,
    CampaignCompany,
    CampaignKind,
    CampaignMember,
    Lead,
    LeadStatus,
    MarketingPause,
)
from leads.suppression import match_account_for_lead
from opportunities.models import (
    Opportunity,
)
from opportunities.services import opportunity_create
from pipeline.models import LocalStage


def route_lead_company(*, organization: Organization | int, country: str) -> SalesCompany | None:
    """The sales company that works leads from ``country`` (None: no company there)."""
    org_id = organization if isinstance(organization, int) else organization.pk
    return (
        SalesCompany.objects.for_org(org_id).filter(country=country.upper()).order_by("id").first()
    )


class LeadAction(StrEnum):
    """What a user does with leads; pages and API ask ``may_lead`` the same question."""

    VIEW = "view"  # list and read (which leads: the visibility policy)
    CREATE = "create"
    WORK = "work"  # work, qualify, disqualify, assign
    CONVERT = "convert"  # the hand-over to sales: account, contact and opportunity


# Lead management is marketing's, with the managers who own the hand-over.
LEAD_ROLES = frozenset(
    {
        Role.MARKETING,
        Role.COUNTRY_MANAGER,
        Role.REGIONAL_MANAGER,
        Role.GLOBAL_DIRECTOR,
        Role.GLOBAL_ADMIN,
    }
)


# Conversion books an opportunity, which marketing may not (opportunity_create's rule).
CONVERT_ROLES = LEAD_ROLES - {Role.MARKETING}

# A seller receives the hand-over: he reads the leads assigned to him and converts them into his
# deals (the visibility policy shows him those only). Creating, working, assigning and
# disqualifying leads stay lead management's.
SELLER_LEAD_ACTIONS = frozenset({LeadAction.VIEW, LeadAction.CONVERT})


def may_lead(user: User | None, action: LeadAction, lead: Lead | None = None) -> bool:
    """The one lead permission, for pages, API and services alike.

    Without ``lead`` it answers for the role (may this user use the list, the form, the
    button at all); with ``lead`` for that lead: working and converting it need the lead's
    company in the user's scope (or the user as its owner); a seller only his own leads."""
    if user is None:
        return True
    if not user.is_active:
        return False
    if user.role == Role.SALES_REP:
        if action not in SELLER_LEAD_ACTIONS:
            return False
        return lead is None or (
            lead.organization_id == user.organization_id and lead.owner_id == user.pk
        )
    if user.role not in LEAD_ROLES:
        return False
    if action == LeadAction.CONVERT and user.role not in CONVERT_ROLES:
        return False
    if lead is None or action in (LeadAction.VIEW, LeadAction.CREATE):
        return lead is None or user.organization_id == lead.organization_id
    if user.organization_id != lead.organization_id:
        return False
    if user.role in ORG_WIDE_ROLES or lead.owner_id == user.pk:
        return True
    company_ids = scoped_company_ids(user)
    if company_ids is None:
        return True
    if lead.sales_company_id is None:
        return False
    if isinstance(company_ids, list):
        return lead.sales_company_id in company_ids
    return company_ids.filter(id=lead.sales_company_id).exists()


def may_work_lead(user: User | None, lead: Lead) -> bool:
    """Marketing and managers of the lead's company (or global ones), and its owner."""
    return may_lead(user, LeadAction.WORK, lead)


def require_lead(acting_user: User | None, lead: Lead, action: LeadAction) -> None:
    """Refuse like the rest of the API: 404 if the user may not even see the lead, else 403."""
    if may_lead(acting_user, action, lead):
        if lead.erased_at is not None:
            # GDPR erasure is final: the lead is not worked, converted or reassigned any more.
            raise ValidationError(gettext("This person's data was erased; the lead is closed."))
        return
    require_visible(acting_user, lead)
    raise PermissionDenied("You may not change this lead.")


@transaction.atomic
def lead_create(
    *,
    organization: Organization,
    acting_user: User | None,
    company_name: str,
    contact_name: str,
    country: str,
    source: str,
    email: str = "",
    phone: str = "",
    contact_title: str = "",
    registration_number: str = "",
    domain: str = "",
    campaign: Campaign | None = None,
    owner: User | None = None,
) -> Lead:
    """A new lead, routed by country to that country's sales company (if there is one)."""
    if acting_user is not None and acting_user.organization_id != organization.pk:
        raise PermissionDenied("You may only create leads in your own organization.")
    if not may_lead(acting_user, LeadAction.CREATE):
        raise PermissionDenied("Leads are marketing's and the managers'.")
    require_same_org(organization.pk, campaign, owner)
    lead = Lead(
        organization=organization,
        source=source,
        campaign=campaign,
        company_name=company_name.strip(),
        registration_number=registration_number.strip(),
        domain=domain.strip().lower(),
        contact_name=contact_name.strip(),
        contact_title=contact_title,
        email=email.strip().lower(),
        phone=phone,
        country=country.upper(),
        sales_company=route_lead_company(organization=organization, country=country),
        owner=owner,
        # At entry: the existing customer this company is, whose group decides whether the
        # lead is "do not market" (leads.suppression), now and at every export.
        matched_account=match_account_for_lead(
            organization=organization,
            company_name=company_name,
            registration_number=registration_number,
            domain=domain,
            email=email,
        ),
    )
    lead.full_clean()
    lead.save()
    if campaign is not None:
        CampaignMember.objects.create(organization=organization, campaign=campaign, lead=lead)
    return lead


def _lead_set_status(
    lead: Lead, status: str, *, allowed_from: Iterable[str], **extra: object
) -> Lead:
    # Conditional UPDATE: two people working the same lead cannot both move it.
    updated = (
        Lead.objects.for_org(lead.organization_id)
        .filter(pk=lead.pk, status__in=list(allowed_from))
        .update(status=status, **extra)
    )
    if not updated:
        current = Lead.objects.for_org(lead.organization_id).get(pk=lead.pk)
        raise ValidationError(
            f"The lead is {current.get_status_display().lower()}; it cannot become {status}."
        )
    lead.refresh_from_db()
    return lead


@transaction.atomic
def lead_work(*, lead: Lead, acting_user: User | None) -> Lead:
    require_lead(acting_user, lead, LeadAction.WORK)
    return _lead_set_status(lead, LeadStatus.WORKING, allowed_from=[LeadStatus.NEW])


@transaction.atomic
def lead_qualify(*, lead: Lead, acting_user: User | None) -> Lead:
    require_lead(acting_user, lead, LeadAction.WORK)
    return _lead_set_status(
        lead,
        LeadStatus.QUALIFIED,
        allowed_from=[LeadStatus.NEW, LeadStatus.WORKING],
        qualified_at=timezone.now(),
    )


@transaction.atomic
def lead_disqualify(*, lead: Lead, acting_user: User | None, reason: str) -> Lead:
    require_lead(acting_user, lead, LeadAction.WORK)
    if not reason.strip():
        raise ValidationError({"disqualified_reason": "Say why the lead is disqualified."})
    return _lead_set_status(
        lead,
        LeadStatus.DISQUALIFIED,
        allowed_from=[LeadStatus.NEW, LeadStatus.WORKING, LeadStatus.QUALIFIED],
        disqualified_reason=reason.strip()[:200],
    )


# Those a lead is handed over to (sales), as opposed to marketing passing it around.
SELLER_ROLES = frozenset({Role.SALES_REP, Role.COUNTRY_MANAGER})


@transaction.atomic
def lead_assign(*, lead: Lead, owner: User, acting_user: User | None) -> Lead:
    require_lead(acting_user, lead, LeadAction.WORK)
    require_same_org(lead.organization_id, owner)
    leads = Lead.objects.for_org(lead.organization_id).filter(pk=lead.pk)
    leads.update(owner=owner)
    if owner.role in SELLER_ROLES:
        # The first assignment to a seller is the hand-over (smarketing's time to hand-over);
        # passing it on to a colleague later does not restart the clock.
        leads.filter(handed_over_at__isnull=True).update(handed_over_at=timezone.now())
    lead.refresh_from_db()
    return lead


def may_run_campaigns(user: User | None, organization_id: int) -> bool:
    """Campaigns are run by those who manage leads (``LEAD_ROLES``)."""
    if user is None:
        return True
    return user.is_active and user.organization_id == organization_id and user.role in LEAD_ROLES


@transaction.atomic
def campaign_create(
    *,
    organization: Organization,
    acting_user: User | None,
    name: str,
    kind: CampaignKind | str,
    starts_on: dt.date,
    ends_on: dt.date,
    currency: str,
    budget: Decimal = Decimal(0),
    sales_companies: Sequence[SalesCompany] = (),
    owner: User | None = None,
) -> Campaign:
    """A campaign for some sales companies; company-bound marketing only for its own scope."""
    if not may_run_campaigns(acting_user, organization.pk):
        raise PermissionDenied("Only marketing and managers run campaigns.")
    owner = owner or acting_user
    if owner is None:
        raise ValidationError({"owner": "A campaign needs an owner."})
    check_count("sales_companies", sales_companies, MAX_COMPANIES_PER_LIST)
    require_same_org(organization.pk, owner, *sales_companies)
    if acting_user is not None:
        scope = scoped_company_ids(acting_user)
        if scope is not None:
            allowed = (
                set(scope) if isinstance(scope, list) else set(scope.values_list("id", flat=True))
            )
            outside = [c.code for c in sales_companies if c.pk not in allowed]
            if outside or not sales_companies:
                raise PermissionDenied(
                    "A campaign of yours must be for your own sales companies"
                    + (f" (not {', '.join(outside)})." if outside else ".")
                )
    campaign = Campaign(
        organization=organization,
        name=name.strip(),
        kind=kind,
        starts_on=starts_on,
        ends_on=ends_on,
        currency=currency,
        budget=budget,
        owner=owner,
    )
    campaign.full_clean()
    campaign.save()
    CampaignCompany.objects.bulk_create(
        CampaignCompany(organization=organization, campaign=campaign, sales_company=c)
        for c in {c.pk: c for c in sales_companies}.values()
    )
    return campaign


@transaction.atomic
def campaign_member_add(
    *,
    campaign: Campaign,
    acting_user: User | None,
    contact: Contact | None = None,
    lead: Lead | None = None,
    attended: bool = False,
) -> CampaignMember:
    """Add a contact or a lead to the campaign; adding the same one twice is a no-op."""
    org_id = campaign.organization_id
    if (contact is None) == (lead is None):
        raise ValidationError("A campaign member is either a contact or a lead.")
    require_same_org(org_id, contact, lead)
    # Nobody enrols people they cannot see, nor learns by the answer that they exist.
    require_visible(acting_user, campaign)
    person = contact or lead
    assert person is not None  # exactly one of them, checked above
    require_visible(acting_user, person)
    if person.erased_at is not None:
        # An erased person (GDPR) is nobody's audience any more.
        raise ValidationError(
            gettext("This person's data was erased; they cannot join a campaign.")
        )
    if not may_run_campaigns(acting_user, org_id):
        raise PermissionDenied("Only marketing and managers manage campaign members.")
    if contact is not None and contact.archived_at is not None:
        # An archived contact counts as no member anywhere (``selectors.LIVE_MEMBER``).
        raise ValidationError(
            {"contact": gettext("This contact is archived: restore it to invite it to a campaign.")}
        )
    member, created = CampaignMember.objects.for_org(org_id).get_or_create(
        campaign=campaign,
        contact=contact,
        lead=lead,
        defaults={"organization_id": org_id, "attended": attended},
    )
    if not created and attended and not member.attended:
        CampaignMember.objects.for_org(org_id).filter(pk=member.pk).update(attended=True)
        member.attended = True
    return member


@dataclass(frozen=True)
class LeadConversion:
    lead: Lead
    account: Account
    contact: Contact
    opportunity: Opportunity
    account_created: bool


@transaction.atomic
def lead_convert(
    *,
    lead: Lead,
    acting_user: User | None,
    account: Account | None = None,
    create_account: bool = False,
    opportunity_name: str = "",
    owner: User | None = None,
    amount: Decimal | None = None,
    expected_close_date: Any = None,
    local_stage: LocalStage | None = None,
) -> LeadConversion:
    """Turn a lead into account (created or matched), contact and opportunity, all or nothing.

    Without ``account`` a new account is created by ``account_create``, whose duplicate guard
    refuses a company that looks like existing accounts (``DuplicateAccountError``, naming only
    those the user may see) unless ``create_account=True`` confirms it is a new customer."""
    org_id = lead.organization_id
    # Conversion is the hand-over to sales: the lead rule (the pages' and the API's) decides who
    # may hand over, and the opportunity's own rule (opportunity_create) whether they may book.
    require_lead(acting_user, lead, LeadAction.CONVERT)
    # Lock the lead: two people converting it at once must not create two customers.
    lead = Lead.objects.for_org(org_id).select_for_update().get(pk=lead.pk)
    if lead.status in (LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED):
        raise ValidationError(f"The lead is {lead.get_status_display().lower()} already.")
    company = lead.sales_company or (owner.sales_company if owner else None)
    if company is None:
        raise ValidationError(
            {"sales_company": f"No sales company works leads from {lead.country}."}
        )
    created = False
    if account is None:
        account = account_create(
            organization=lead.organization,
            name=lead.company_name,
            home_company=company,
            acting_user=acting_user,
            allow_duplicate=create_account,
            country=lead.country,
            registration_number=lead.registration_number,
            domain=lead.domain,
        )
        created = True
    else:
        require_same_org(org_id, account)
        require_visible(acting_user, account)
    contact = contact_create(
        account=account,
        acting_user=acting_user,
        full_name=lead.contact_name,
        title=lead.contact_title,
        email=lead.email,
        phone=lead.phone,
    )
    opportunity = opportunity_create(
        acting_user=acting_user,
        account=account,
        name=opportunity_name or f"{lead.company_name} - {lead.source}",
        sales_company=company,
        owner=owner or lead.owner or acting_user,
        amount=amount,
        expected_close_date=expected_close_date,
        local_stage=local_stage,
        campaign=lead.campaign,
        source_lead=lead,
    )
    now = timezone.now()
    Lead.objects.for_org(org_id).filter(pk=lead.pk).update(
        status=LeadStatus.CONVERTED,
        converted_account=account,
        converted_contact=contact,
        converted_opportunity=opportunity,
        converted_at=now,
        # Converted without an assignment first: the conversion is the hand-over.
        handed_over_at=Coalesce(F("handed_over_at"), Value(now)),
    )
    lead.refresh_from_db()
    return LeadConversion(
        lead=lead,
        account=account,
        contact=contact,
        opportunity=opportunity,
        account_created=created,
    )


# --- Pausing marketing ---------------------------------------------------------------------

# How far ahead a pause may hold: a pause is for a delicate moment, not a permanent opt-out
# (that is the contact's marketing consent).
MAX_PAUSE_DAYS = 366
PAUSE_REASON_MAX = 200


def may_pause_marketing(user: User | None, account: Account) -> bool:
    """Marketing and the managers who run campaigns, and whoever may change the account (its
    rep, its managers, the group's GAM): the seller knows when a customer must be left alone."""
    if user is None:
        return True
    if not user.is_active or user.organization_id != account.organization_id:
        return False
    return user.role in LEAD_ROLES or may_change_account(user, account)


@transaction.atomic
def marketing_pause_create(
    *,
    account: Account,
    acting_user: User | None,
    reason: str,
    until: dt.date,
    whole_group: bool = False,
    today: dt.date | None = None,
) -> MarketingPause:
    """Pause marketing to ``account`` (or its whole group) until ``until``, inclusive."""
    require_visible(acting_user, account)
    if not may_pause_marketing(acting_user, account):
        raise PermissionDenied("You may not pause marketing to this account.")
    today = today or timezone.localdate()
    errors: dict[str, list[str]] = {}
    reason = reason.strip()
    if not reason:
        errors["reason"] = [gettext("Say why marketing is paused.")]
    elif len(reason) > PAUSE_REASON_MAX:
        errors["reason"] = [
            gettext("At most %(n)d characters.") % {"n": PAUSE_REASON_MAX},
        ]
    if until < today:
        errors["until"] = [gettext("The end date cannot be in the past.")]
    elif until > today + dt.timedelta(days=MAX_PAUSE_DAYS):
        errors["until"] = [
            gettext("A pause holds at most %(days)d days.") % {"days": MAX_PAUSE_DAYS}
        ]
    if errors:
        raise ValidationError(errors)
    return MarketingPause.objects.create(
        organization_id=account.organization_id,
        account=account,
        group_id=(account.group_id or account.pk) if whole_group else None,
        reason=reason,
        until=until,
        created_by=acting_user,
    )


@transaction.atomic
def marketing_pause_end(*, pause: MarketingPause, acting_user: User | None) -> MarketingPause:
    """End a pause before its date (kept, with who ended it, for the History)."""
    org_id = pause.organization_id
    account = Account.objects.for_org(org_id).get(pk=pause.account_id)
    require_visible(acting_user, account)
    if not may_pause_marketing(acting_user, account):
        raise PermissionDenied("You may not change marketing pauses of this account.")
    MarketingPause.objects.for_org(org_id).filter(pk=pause.pk, ended_at__isnull=True).update(
        ended_at=timezone.now(), ended_by=acting_user
    )
    pause.refresh_from_db()
    return pause
