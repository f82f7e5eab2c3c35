"""Writes of the sales process, leads and campaigns. Keyword-only, typed, atomic.

``acting_user=None`` means the system itself (seed_demo, data migrations); every other caller
passes the user on whose behalf the write happens, and the service checks the role table.

Lead *conversion* creates an opportunity, so it lives in ``opportunities.services`` (imports flow
``pipeline`` <- ``opportunities``, never the other way round).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.utils.translation import gettext

from accounts.models import Contact
from crm.limits import MAX_COMPANIES_PER_LIST, check_count
from crm.models import Organization, SalesCompany, User
from crm.roles import ORG_WIDE_ROLES, Role
from crm.tenancy import require_same_org
from crm.visibility import apply, can_configure, scoped_company_ids
from pipeline.models import (
    Campaign,
    CampaignCompany,
    CampaignKind,
    CampaignMember,
    ForecastCategory,
    GlobalStage,
    Lead,
    LeadStatus,
    LocalStage,
    SalesProcess,
)

# (name, order, probability %, forecast category, won, lost): the default global process.
DEFAULT_GLOBAL_STAGES: list[tuple[str, int, int, str, bool, bool]] = [
    ("Qualify", 10, 10, ForecastCategory.PIPELINE, False, False),
    ("Develop", 20, 25, ForecastCategory.PIPELINE, False, False),
    ("Propose", 30, 50, ForecastCategory.BEST_CASE, False, False),
    ("Negotiate", 40, 75, ForecastCategory.COMMIT, False, False),
    ("Won", 50, 100, ForecastCategory.CLOSED, True, False),
    ("Lost", 60, 0, ForecastCategory.CLOSED, False, True),
]

StageSpec = tuple[str, int, GlobalStage]


def _require_configure(acting_user: User | None, organization_id: int) -> None:
    if acting_user is None:
        return
    if acting_user.organization_id != organization_id or not can_configure(acting_user):
        raise PermissionDenied("Only the organization's global admin may configure the process.")


# --- Stages and processes ----------------------------------------------------------------------


@transaction.atomic
def global_stages_ensure_default(
    *, organization: Organization, acting_user: User | None = None
) -> list[GlobalStage]:
    """Create the default global stages that are missing (by name); existing ones are kept."""
    _require_configure(acting_user, organization.pk)
    existing = {gs.name: gs for gs in GlobalStage.objects.for_org(organization)}
    for name, order, probability, category, won, lost in DEFAULT_GLOBAL_STAGES:
        if name in existing:
            continue
        stage = GlobalStage(
            organization=organization,
            name=name,
            order=order,
            probability=probability,
            forecast_category=category,
            is_won=won,
            is_lost=lost,
        )
        stage.full_clean()
        stage.save()
        existing[name] = stage
    return sorted(existing.values(), key=lambda gs: gs.order)


# What the set-up may change on a global stage. Order is left out because every local process is
# validated against the global order (_validate_mapping), and won/lost because flipping them would
# win, lose or reopen deals without a stage change (the same rule as local_stage_remap).
GLOBAL_STAGE_EDITABLE = frozenset({"name", "probability", "forecast_category"})


@transaction.atomic
def global_stage_update(
    *, stage: GlobalStage, acting_user: User | None, **fields: Any
) -> GlobalStage:
    """Rename a global stage or change its probability and forecast category.

    Keeps what the reports assume: a won stage is closed at 100 %, a lost one closed at 0 %
    (the forecast counts the closed category as won), and an open stage is never closed."""
    unknown = set(fields) - GLOBAL_STAGE_EDITABLE
    if unknown:
        raise TypeError(f"global_stage_update() cannot change {', '.join(sorted(unknown))}.")
    org_id = stage.organization_id
    _require_configure(acting_user, org_id)
    # Locked so that two admins editing the same stage cannot mix their changes.
    stage = GlobalStage.objects.for_org(org_id).select_for_update().get(pk=stage.pk)
    for field, value in fields.items():
        setattr(stage, field, value.strip() if isinstance(value, str) else value)
    errors: dict[str, list[str]] = {}
    closed = stage.forecast_category == ForecastCategory.CLOSED
    if stage.is_won or stage.is_lost:
        if not closed:
            errors["forecast_category"] = [
                gettext("A won or lost stage belongs to the closed forecast category.")
            ]
        if stage.is_won and stage.probability != 100:
            errors["probability"] = [gettext("A won stage has a probability of 100 %.")]
        if stage.is_lost and stage.probability != 0:
            errors["probability"] = [gettext("A lost stage has a probability of 0 %.")]
    elif closed:
        errors["forecast_category"] = [
            gettext("An open stage cannot be in the closed forecast category.")
        ]
    taken = (
        GlobalStage.objects.for_org(org_id).filter(name=stage.name).exclude(pk=stage.pk).exists()
    )
    if taken:
        errors["name"] = [gettext("Another global stage has this name.")]
    try:
        # The constraints' own check would report the name on no field; the one above says
        # where. Order and outcome do not change here, and the database keeps all three anyway.
        stage.full_clean(validate_constraints=False)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    stage.save(update_fields=sorted(fields))
    return stage


def _validate_mapping(stages: Sequence[tuple[str, int, GlobalStage]]) -> None:
    """The rules a process must keep after every change (create and re-map)."""
    errors: list[str] = []
    if not stages:
        raise ValidationError("A sales process needs at least one stage.")
    orders = [order for _, order, _ in stages]
    if len(set(orders)) != len(orders):
        errors.append("Two local stages have the same order.")
    names = [name.strip().casefold() for name, _, _ in stages]
    if len(set(names)) != len(names) or not all(names):
        errors.append("Local stage names must be present and unique within the process.")
    if not any(gs.is_won for _, _, gs in stages):
        errors.append("No local stage is mapped to a won global stage.")
    if not any(gs.is_lost for _, _, gs in stages):
        errors.append("No local stage is mapped to a lost global stage.")
    # A local process may refine the global one but never reorder it: otherwise the global
    # funnel (conversion rates, time in stage) would count deals going backwards.
    ordered = sorted(stages, key=lambda s: s[1])
    for (prev_name, _, prev_gs), (name, _, gs) in itertools.pairwise(ordered):
        if gs.order < prev_gs.order:
            errors.append(
                f"'{name}' (-> {gs.name}) comes after '{prev_name}' (-> {prev_gs.name}), "
                "but its global stage comes earlier."
            )
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def sales_process_create(
    *,
    sales_company: SalesCompany,
    name: str,
    stages: Sequence[StageSpec],
    acting_user: User | None,
) -> SalesProcess:
    """The company's one process, with its local stages mapped onto global stages."""
    org_id = sales_company.organization_id
    _require_configure(acting_user, org_id)
    require_same_org(org_id, *(gs for _, _, gs in stages))
    if SalesProcess.objects.for_org(org_id).filter(sales_company=sales_company).exists():
        raise ValidationError(f"{sales_company} already has a sales process.")
    _validate_mapping(stages)
    process = SalesProcess(organization_id=org_id, sales_company=sales_company, name=name)
    process.full_clean()
    process.save()
    LocalStage.objects.bulk_create(
        LocalStage(
            organization_id=org_id,
            process=process,
            name=local_name.strip(),
            order=order,
            global_stage=gs,
        )
        for local_name, order, gs in stages
    )
    return process


@transaction.atomic
def local_stage_remap(
    *, local_stage: LocalStage, global_stage: GlobalStage, acting_user: User | None
) -> int:
    """Map ``local_stage`` onto another global stage and re-map its opportunities with it.

    Returns the number of opportunities re-mapped. Both writes share one transaction, and the
    local stage row stays locked until commit, so a concurrent stage move (which locks the
    same row, see ``opportunity_move_stage``) reads either the old mapping before or the new
    one after - never a mix."""
    from opportunities.models import Opportunity  # the model only: no upward service import

    org_id = local_stage.organization_id
    _require_configure(acting_user, org_id)
    require_same_org(org_id, global_stage)
    local_stage = LocalStage.objects.for_org(org_id).select_for_update().get(pk=local_stage.pk)
    old = local_stage.global_stage
    if old.pk == global_stage.pk:
        return 0
    siblings = list(
        LocalStage.objects.for_org(org_id)
        .filter(process_id=local_stage.process_id)
        .select_related("global_stage")
    )
    _validate_mapping(
        [
            (s.name, s.order, global_stage if s.pk == local_stage.pk else s.global_stage)
            for s in siblings
        ]
    )
    opportunities = Opportunity.objects.for_org(org_id).filter(local_stage=local_stage)
    if (old.is_won, old.is_lost) != (global_stage.is_won, global_stage.is_lost) and (
        opportunities.exists()
    ):
        # Re-mapping would win, lose or reopen deals without a stage change, a closing date
        # or a lost reason; those moves are the sellers' (opportunity_move_stage).
        raise ValidationError(
            f"'{local_stage.name}' holds opportunities; it cannot be re-mapped between open, "
            "won and lost. Move the opportunities first."
        )
    local_stage.global_stage = global_stage
    local_stage.save(update_fields=["global_stage"])
    # One UPDATE for every opportunity in the stage, whatever their number.
    return opportunities.update(global_stage=global_stage)


# --- Leads ---------------------------------------------------------------------------------------


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


# Lead management is marketing's, with the managers who own the hand-over. Sellers work their
# leads as opportunities once converted: a lead assigned to a rep names who gets the deal, it
# does not open lead management (or the leads' contact data) to them.
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


def may_lead(user: User | None, action: LeadAction, lead: Lead | None = None) -> bool:
    """The one lead permission, for pages, API and services alike.

    Without ``lead`` it answers for the role (may this user use the list, the form, the
    button at all); with ``lead`` for that lead: working and converting it need the lead's
    company in the user's scope (or the user as its owner)."""
    if user is None:
        return True
    if not user.is_active or user.role not in LEAD_ROLES:
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
        return
    assert acting_user is not None
    if not apply(Lead.objects.unscoped(), acting_user).filter(pk=lead.pk).exists():
        raise Http404("No such lead.")
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
    )
    lead.full_clean()
    lead.save()
    if campaign is not None:
        CampaignMember.objects.create(organization=organization, campaign=campaign, lead=lead)
    return lead


def _lead_set_status(lead: Lead, status: str, *, allowed_from: Iterable[str], **extra: str) -> Lead:
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
        lead, LeadStatus.QUALIFIED, allowed_from=[LeadStatus.NEW, LeadStatus.WORKING]
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


@transaction.atomic
def lead_assign(*, lead: Lead, owner: User, acting_user: User | None) -> Lead:
    require_lead(acting_user, lead, LeadAction.WORK)
    require_same_org(lead.organization_id, owner)
    Lead.objects.for_org(lead.organization_id).filter(pk=lead.pk).update(owner=owner)
    lead.refresh_from_db()
    return lead


# --- Campaigns -----------------------------------------------------------------------------------


def may_run_campaigns(user: User | None, organization_id: int) -> bool:
    if user is None:
        return True
    return (
        user.is_active
        and user.organization_id == organization_id
        and user.role
        in (
            Role.GLOBAL_ADMIN,
            Role.GLOBAL_DIRECTOR,
            Role.MARKETING,
            Role.COUNTRY_MANAGER,
            Role.REGIONAL_MANAGER,
        )
    )


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
    if not may_run_campaigns(acting_user, org_id):
        raise PermissionDenied("Only marketing and managers manage campaign members.")
    if (contact is None) == (lead is None):
        raise ValidationError("A campaign member is either a contact or a lead.")
    require_same_org(org_id, contact, lead)
    if acting_user is not None:
        # Nobody enrols people they cannot see.
        target = contact or lead
        model = Contact if contact is not None else Lead
        if not apply(model.objects.unscoped(), acting_user).filter(pk=target.pk).exists():
            raise Http404("No such contact or lead.")
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


def first_local_stage(*, sales_company: SalesCompany) -> LocalStage:
    """Where new opportunities of the company start: the lowest order of its process."""
    stage = (
        LocalStage.objects.for_org(sales_company.organization_id)
        .filter(process__sales_company=sales_company)
        .select_related("global_stage")
        .order_by("order")
        .first()
    )
    if stage is None:
        raise ValidationError(f"{sales_company} has no sales process yet; ask the global admin.")
    return stage
