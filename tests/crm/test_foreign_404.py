"""A foreign object gives 404 from every service (ARCHITECTURE.md: objects of another
organization answer like missing ones; issue 16's "Done when").

Each service that is handed another object is called with one of another organization and,
where the acting user's role can miss one, with an invisible one of the same organization; both
must raise ``Http404``, never ``PermissionDenied`` or a ``ValidationError`` (which would tell the
caller that the object exists). The same call with a visible object of the actor's own company
must go through: so the 404 comes from visibility, not from a wrong argument.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.http import Http404

from accounts import services as accounts
from accounts.merge import account_merge
from accounts.models import AccountTeamMember, TeamRole
from accounts.sharing import object_share
from crm.models import SalesCompany, User
from crm.services import api_token_issue, api_token_revoke
from leads import services as leads
from leads.models import Campaign, Lead
from opportunities import services as opportunities
from opportunities.models import Conflict, ConflictKind, Opportunity, Resolution
from opportunities.resolution import conflict_resolve
from pipeline import services as pipeline
from reporting.models import PeriodKind, TargetKind
from reporting.services import export_request, target_set
from tests.accounts.factories import ActivityFactory, ContactFactory
from tests.conftest import World
from tests.opportunities.factories import (
    CampaignFactory,
    LeadFactory,
    OpportunityFactory,
    account_for,
    global_stages_for,
    make_situation,
    process_for,
    stage_for,
)

pytestmark = pytest.mark.django_db


def _seller(world: World, company: SalesCompany) -> User:
    """A rep of ``company``: the owner of the rows made there."""
    return {world.se.pk: world.rep_se, world.de.pk: world.rep_de}.get(company.pk, world.stranger)


def _opportunity(world: World, company: SalesCompany) -> Opportunity:
    return OpportunityFactory(account=account_for(company), owner=_seller(world, company))


def _deal_at_a_swedish_customer(world: World, company: SalesCompany) -> Opportunity:
    """A deal booked by ``company``; in the organization at a Swedish customer (whom the Swedish
    manager sees), so that only the deal itself can be out of sight."""
    account = account_for(world.se if company.organization_id == world.org.pk else company)
    return OpportunityFactory(account=account, owner=_seller(world, company))


def _member(world: World, company: SalesCompany) -> AccountTeamMember:
    group = account_for(company)
    return AccountTeamMember.objects.for_org(company.organization_id).create(
        organization_id=company.organization_id,
        account=group,
        user=_seller(world, company),
        sales_company=company,
        role=TeamRole.MEMBER,
    )


def _plan(world: World, company: SalesCompany) -> Any:
    return accounts.account_plan_create(
        group=account_for(company),
        year=2027,
        revenue_target=Decimal(100000),
        owner=_seller(world, company),
        acting_user=None,
    )


def _plan_action(world: World, company: SalesCompany) -> Any:
    plan = _plan(world, company)
    return accounts.plan_action_add(
        plan=plan, title="Kick-off", owner=_seller(world, company), acting_user=None
    )


def _lead(world: World, company: SalesCompany) -> Lead:
    return LeadFactory(organization=company.organization, sales_company=company)


def _campaign(world: World, company: SalesCompany) -> Campaign:
    return CampaignFactory(organization=company.organization)


def _conflict(world: World, company: SalesCompany) -> Conflict:
    """An open conflict of ``company``'s deal with another company; in Germany it is between
    DE and DK, which the Swedish manager is no party to."""
    opp = _opportunity(world, company)
    deals = [opp]
    if company.organization_id == world.org.pk:
        deals.append(OpportunityFactory(account=opp.account, owner=world.rep_dk))
    return make_situation(
        organization=company.organization_id,
        kind=ConflictKind.GROUP_OTHER_COMPANY,
        account=opp.account,
        deals=deals,
    )


def _company_without_process(world: World, company: SalesCompany) -> SalesCompany:
    return company


def _local_stage(world: World, company: SalesCompany) -> Any:
    return stage_for(company, "Develop")


def _global_stage(world: World, company: SalesCompany) -> Any:
    return global_stages_for(company.organization)["Develop"]


def _default_stages(org: Any) -> list[tuple[str, int, Any]]:
    return [(gs.name, gs.order, gs) for gs in global_stages_for(org).values()]


@dataclass(frozen=True)
class Case:
    """``call(world, actor, obj)`` with ``obj`` made by ``make(world, company)``; ``invisible``
    is False where the actor's role sees the whole organization (no same-organization row can
    be hidden from it)."""

    actor: str
    make: Callable[[World, SalesCompany], Any]
    call: Callable[[World, User, Any], Any]
    invisible: bool = True


CASES: dict[str, Case] = {
    # accounts
    "account_update": Case(
        "manager_se",
        lambda w, c: account_for(c),
        lambda w, u, a: accounts.account_update(account=a, acting_user=u, segment="B"),
    ),
    "account_set_parent (account)": Case(
        "manager_se",
        lambda w, c: account_for(c),
        lambda w, u, a: accounts.account_set_parent(
            account=a, parent=account_for(w.se), acting_user=u
        ),
    ),
    "account_set_parent (parent)": Case(
        "manager_se",
        lambda w, c: account_for(c),
        lambda w, u, a: accounts.account_set_parent(
            account=account_for(w.se), parent=a, acting_user=u
        ),
    ),
    "account_merge": Case(
        "manager_se",
        lambda w, c: account_for(c),
        lambda w, u, a: account_merge(keep=account_for(w.se), remove=a, acting_user=u),
        # A duplicate found by conflict detection may be out of sight (need-to-know): a
        # manager of either company merges it; seeing one of the two is what is required.
        invisible=False,
    ),
    "contact_create": Case(
        "manager_se",
        lambda w, c: account_for(c),
        lambda w, u, a: accounts.contact_create(account=a, full_name="Ann Berg", acting_user=u),
    ),
    "contact_update": Case(
        "manager_se",
        lambda w, c: ContactFactory(account=account_for(c)),
        lambda w, u, ct: accounts.contact_update(contact=ct, acting_user=u, title="CFO"),
    ),
    "activity_log": Case(
        "rep_se",
        lambda w, c: account_for(c),
        lambda w, u, a: accounts.activity_log(account=a, kind="call", subject="Hi", acting_user=u),
    ),
    "activity_log (opportunity)": Case(
        "manager_se",
        _deal_at_a_swedish_customer,
        lambda w, u, o: accounts.activity_log(
            account=o.account, kind="call", subject="Hi", opportunity=o, acting_user=u
        ),
    ),
    "activity_complete": Case(
        "manager_se",
        lambda w, c: ActivityFactory(account=account_for(c), owner=_seller(w, c)),
        lambda w, u, act: accounts.activity_complete(activity=act, acting_user=u),
    ),
    "team_member_add (group)": Case(
        "manager_se",
        lambda w, c: account_for(c),
        lambda w, u, g: accounts.team_member_add(
            group=g, user=w.rep_dk, role=TeamRole.MEMBER, acting_user=u
        ),
    ),
    "team_member_add (user)": Case(
        "manager_se",
        _seller,
        lambda w, u, person: accounts.team_member_add(
            group=account_for(w.se), user=person, role=TeamRole.MEMBER, acting_user=u
        ),
        invisible=False,  # everyone in the organization sees its people
    ),
    "team_member_remove": Case(
        "manager_se",
        _member,
        lambda w, u, m: accounts.team_member_remove(member=m, acting_user=u),
    ),
    "account_plan_create": Case(
        "manager_se",
        lambda w, c: account_for(c),
        lambda w, u, g: accounts.account_plan_create(
            group=g, year=2027, revenue_target=Decimal(1000), owner=u, acting_user=u
        ),
    ),
    "account_plan_update": Case(
        "manager_se",
        _plan,
        lambda w, u, p: accounts.account_plan_update(plan=p, acting_user=u, objectives="Grow"),
    ),
    "plan_action_add": Case(
        "manager_se",
        _plan,
        lambda w, u, p: accounts.plan_action_add(plan=p, title="Visit", owner=u, acting_user=u),
    ),
    "plan_action_update": Case(
        "manager_se",
        _plan_action,
        lambda w, u, a: accounts.plan_action_update(action=a, acting_user=u, title="Call"),
    ),
    "agreement_create": Case(
        "director",
        lambda w, c: account_for(c),
        lambda w, u, g: accounts.agreement_create(
            group=g,
            name="Frame",
            valid_from=dt.date(2026, 1, 1),
            valid_to=dt.date(2027, 12, 31),
            covered_companies=[w.se],
            incoterm="FCA",
            payment_terms="30 days",
            acting_user=u,
        ),
        invisible=False,
    ),
    "object_share (plan)": Case(
        "manager_se",
        _plan,
        lambda w, u, p: object_share(obj=p, grantee=w.rep_dk, permission="view", acting_user=u),
    ),
    "object_share (opportunity)": Case(
        "manager_se",
        _opportunity,
        lambda w, u, o: object_share(obj=o, grantee=w.rep_dk, permission="view", acting_user=u),
    ),
    "object_share (grantee)": Case(
        "manager_se",
        _seller,
        lambda w, u, person: object_share(
            obj=_plan(w, w.se), grantee=person, permission="view", acting_user=u
        ),
        invisible=False,  # everyone in the organization sees its people
    ),
    # opportunities
    "opportunity_create": Case(
        "rep_se",
        lambda w, c: account_for(c),
        lambda w, u, a: (
            process_for(w.se),
            opportunities.opportunity_create(account=a, name="Deal", acting_user=u),
        ),
    ),
    "opportunity_update": Case(
        "rep_se",
        _opportunity,
        lambda w, u, o: opportunities.opportunity_update(
            opportunity=o, acting_user=u, expected_version=o.version, name="Renamed"
        ),
    ),
    "opportunity_set_lines": Case(
        "rep_se",
        _opportunity,
        lambda w, u, o: opportunities.opportunity_set_lines(opportunity=o, lines=[], acting_user=u),
    ),
    "opportunity_move_stage": Case(
        "rep_se",
        _opportunity,
        lambda w, u, o: opportunities.opportunity_move_stage(
            opportunity=o, local_stage=stage_for(o.sales_company, "Develop"), acting_user=u
        ),
    ),
    "opportunity_set_splits": Case(
        "rep_se",
        _opportunity,
        lambda w, u, o: opportunities.opportunity_set_splits(
            opportunity=o, splits=[(o.owner, None, "revenue", Decimal(100))], acting_user=u
        ),
    ),
    "conflict_resolve": Case(
        "manager_se",
        _conflict,
        lambda w, u, cf: conflict_resolve(
            conflict_id=cf.pk, acting_user=u, resolution=Resolution.ACKNOWLEDGED
        ),
    ),
    "conflict_resolve (owner)": Case(
        "manager_se",
        _seller,
        lambda w, u, person: conflict_resolve(
            conflict_id=_conflict(w, w.se).pk,
            acting_user=u,
            resolution=Resolution.ASSIGN_OWNER,
            owner=person,
        ),
        invisible=False,  # everyone in the organization sees its people
    ),
    # leads and campaigns
    "lead_work": Case(
        "marketing_se", _lead, lambda w, u, ld: leads.lead_work(lead=ld, acting_user=u)
    ),
    "lead_qualify": Case(
        "marketing_se", _lead, lambda w, u, ld: leads.lead_qualify(lead=ld, acting_user=u)
    ),
    "lead_disqualify": Case(
        "marketing_se",
        _lead,
        lambda w, u, ld: leads.lead_disqualify(lead=ld, acting_user=u, reason="No budget"),
    ),
    "lead_assign": Case(
        "marketing_se",
        _lead,
        lambda w, u, ld: leads.lead_assign(lead=ld, owner=w.rep_se, acting_user=u),
    ),
    "lead_convert": Case(
        "manager_se",
        _lead,
        lambda w, u, ld: (
            process_for(w.se),
            leads.lead_convert(lead=ld, acting_user=u, create_account=True),
        ),
    ),
    "lead_convert (account)": Case(
        "manager_se",
        lambda w, c: account_for(c),
        lambda w, u, a: (
            process_for(w.se),
            leads.lead_convert(lead=_lead(w, w.se), account=a, acting_user=u),
        ),
    ),
    "campaign_member_add (contact)": Case(
        "marketing_se",
        lambda w, c: ContactFactory(account=account_for(c)),
        lambda w, u, ct: leads.campaign_member_add(
            campaign=_campaign(w, w.se), contact=ct, acting_user=u
        ),
    ),
    "campaign_member_add (lead)": Case(
        "marketing_se",
        _lead,
        lambda w, u, ld: leads.campaign_member_add(
            campaign=_campaign(w, w.se), lead=ld, acting_user=u
        ),
    ),
    "campaign_member_add (campaign)": Case(
        "marketing_se",
        _campaign,
        lambda w, u, cp: leads.campaign_member_add(campaign=cp, lead=_lead(w, w.se), acting_user=u),
        invisible=False,  # the campaign calendar is the whole organization's
    ),
    # reporting and the kernel
    "export_request": Case(
        "manager_se",
        lambda w, c: c,
        lambda w, u, c: export_request(acting_user=u, file_format="csv", sales_company=c),
        invisible=False,  # every company of the organization is known in it
    ),
    "target_set": Case(
        "director",
        lambda w, c: c,
        lambda w, u, c: target_set(
            organization=w.org,
            kind=TargetKind.REVENUE,
            period_kind=PeriodKind.QUARTER,
            period_start=dt.date(2026, 1, 1),
            value=Decimal(1000),
            sales_company=c,
            acting_user=u,
        ),
        invisible=False,
    ),
    "api_token_revoke": Case(
        "rep_se",
        lambda w, c: api_token_issue(user=_seller(w, c))[0],
        lambda w, u, t: api_token_revoke(token=t, acting_user=u),
    ),
    # the sales process (the admin's; everyone in the organization sees it)
    "global_stage_update": Case(
        "admin",
        _global_stage,
        lambda w, u, gs: pipeline.global_stage_update(stage=gs, acting_user=u, probability=30),
        invisible=False,
    ),
    "sales_process_create": Case(
        "admin",
        _company_without_process,
        lambda w, u, c: pipeline.sales_process_create(
            sales_company=c, name="Process", stages=_default_stages(c.organization), acting_user=u
        ),
        invisible=False,
    ),
    "local_stage_remap": Case(
        "admin",
        _local_stage,
        lambda w, u, st: opportunities.local_stage_remap(
            local_stage=st,
            global_stage=global_stages_for(st.organization)["Propose"],
            acting_user=u,
        ),
        invisible=False,
    ),
}


def _invisible_cases() -> list[str]:
    return [name for name, case in CASES.items() if case.invisible]


@pytest.mark.parametrize("name", list(CASES))
def test_another_organizations_object_is_404(world: World, name: str) -> None:
    case = CASES[name]
    obj = case.make(world, world.other_company)
    with pytest.raises(Http404):
        case.call(world, getattr(world, case.actor), obj)


@pytest.mark.parametrize("name", _invisible_cases())
def test_an_invisible_object_of_the_organization_is_404(world: World, name: str) -> None:
    case = CASES[name]
    actor = getattr(world, case.actor)
    obj = case.make(world, world.de)  # the actor works in Sweden and sees nothing German
    model = type(obj)
    assert not model._default_manager.visible_to(actor).filter(pk=obj.pk).exists()
    with pytest.raises(Http404):
        case.call(world, actor, obj)


@pytest.mark.parametrize("name", list(CASES))
def test_the_same_call_with_a_visible_object_goes_through(world: World, name: str) -> None:
    case = CASES[name]
    case.call(world, getattr(world, case.actor), case.make(world, world.se))
