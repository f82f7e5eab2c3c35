"""One maker per API model: builds a row of the test world's first organization (Nordvik) and
names the users who must not see it. The isolation tests are generated from the router, and fail
for an endpoint whose model has no maker here, so a new endpoint is covered by construction."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import Model

from accounts.models import (
    AccountPlan,
    AccountTeamMember,
    Activity,
    Contact,
    FrameworkAgreement,
    GroupJoinRequest,
    PlanAction,
    SegmentRule,
    TeamRole,
)
from coaching.models import CoachingAction, CoachingSession, CoachingTopic
from coaching.services import ActionInput, coaching_session_create
from crm.models import Notification, NotificationKind
from crm.notifications import notify
from imports.models import ImportJob
from leads.models import MarketingPause
from opportunities.conflicts import detect_for_opportunity
from opportunities.models import BuyingRole, OpportunityContactRole
from reporting.models import (
    Comparison,
    DeviationAlert,
    Measure,
    PeriodKind,
    Target,
    TargetKind,
    ThresholdUnit,
)
from tests.accounts.factories import make_account
from tests.conftest import World
from tests.factories import ExchangeRateFactory, RegionFactory, SalesCompanyFactory, UserFactory
from tests.opportunities.factories import (
    CampaignFactory,
    GlobalStageFactory,
    LeadFactory,
    OpportunityFactory,
    ProductFactory,
    process_for,
)

_seq = itertools.count(1)


@dataclass
class Made:
    obj: Model
    # World attribute names of users of the same organization who must get 404 too.
    hidden_from: list[str] = field(default_factory=list)


# Swedish records: Danish and German sellers and the German manager must not see them.
NOT_SWEDEN = ["rep_dk", "rep_de", "manager_de"]
# Deal data (activities, plans, agreements, opportunities, conflicts) is not marketing's either.
NOT_SWEDEN_NOR_MARKETING = [*NOT_SWEDEN, "marketing", "marketing_se"]


def _se_account(w: World) -> Model:
    return make_account(organization=w.org, home_company=w.se)


def _conflict(w: World) -> Made:
    top = make_account(organization=w.org, home_company=w.se)
    child = make_account(organization=w.org, home_company=w.dk, parent=top)
    OpportunityFactory(account=top, owner=w.rep_se)
    mine = OpportunityFactory(account=child, owner=w.rep_dk)
    (conflict,) = detect_for_opportunity(opportunity=mine, acting_user=None)
    return Made(conflict, ["rep_de", "manager_de", "marketing", "marketing_se"])


def _process(w: World) -> Made:
    company = SalesCompanyFactory(organization=w.org, region=w.nordics)
    return Made(process_for(company))


def _notification(w: World) -> Made:
    # The director's own: personal, so everyone else (the admin, who sees the whole organization,
    # too) must get 404; the director is the insider of the generated tests.
    notify(
        organization_id=w.org.pk,
        user_ids=[w.director.pk],
        kind=NotificationKind.REGROUPED,
        params={"account": "Hansa DK", "group": "Hansa Logistik"},
        url="/accounts/",
    )
    row = Notification.objects.for_org(w.org).filter(recipient=w.director).order_by("-pk")[0]
    others = [name for name in w.users() if name not in ("director", "stranger")]
    return Made(row, others)


def _contact_role(w: World) -> Made:
    account = _se_account(w)
    contact = Contact.objects.create(organization=w.org, account=account, full_name="Kim")
    deal = OpportunityFactory(account=account, owner=w.rep_se)
    role = OpportunityContactRole.objects.create(
        organization=w.org, opportunity=deal, contact=contact, role=BuyingRole.DECISION_MAKER
    )
    # Seen as its deal is: deal data, not marketing's.
    return Made(role, NOT_SWEDEN_NOR_MARKETING)


def _marketing_pause(w: World) -> Made:
    # Seen by whoever sees the Swedish account it is set on (marketing reads accounts).
    pause = MarketingPause.objects.create(
        organization=w.org, account=_se_account(w), reason="Complaint", until=dt.date(2030, 1, 1)
    )
    return Made(pause, NOT_SWEDEN)


def _coaching_session(w: World, *, action: bool = False) -> CoachingSession:
    # The Swedish manager coaches the Swedish rep: hidden from other companies and marketing.
    return coaching_session_create(
        acting_user=w.manager_se, rep=w.rep_se, kind="coaching", held_on=dt.date(2026, 5, 4),
        duration_minutes=30,
        actions=[ActionInput(text="Call back", due_on=dt.date(2026, 6, 1))] if action else [],
    )  # fmt: skip


MAKERS: dict[str, Callable[[World], Made]] = {
    "leads.MarketingPause": _marketing_pause,
    "crm.Notification": _notification,
    "crm.Region": lambda w: Made(RegionFactory(organization=w.org)),
    "crm.SalesCompany": lambda w: Made(SalesCompanyFactory(organization=w.org, region=w.nordics)),
    "crm.User": lambda w: Made(UserFactory(organization=w.org, sales_company=w.se)),
    "crm.ExchangeRate": lambda w: Made(
        ExchangeRateFactory(
            organization=w.org, valid_from=dt.date(2020, 1, 1) + dt.timedelta(days=next(_seq))
        )
    ),
    "accounts.Account": lambda w: Made(_se_account(w), NOT_SWEDEN),
    "accounts.Contact": lambda w: Made(
        Contact.objects.create(organization=w.org, account=_se_account(w), full_name="Kim"),
        NOT_SWEDEN,
    ),
    "accounts.Activity": lambda w: Made(
        Activity.objects.create(
            organization=w.org,
            account=_se_account(w),
            owner=w.rep_se,
            sales_company=w.se,
            kind="call",
            subject="Intro call",
        ),
        NOT_SWEDEN_NOR_MARKETING,
    ),
    "accounts.AccountTeamMember": lambda w: Made(
        AccountTeamMember.objects.create(
            organization=w.org,
            account=_se_account(w),
            user=w.manager_se,
            sales_company=w.se,
            role=TeamRole.MEMBER,
        ),
        NOT_SWEDEN,
    ),
    "accounts.AccountPlan": lambda w: Made(
        AccountPlan.objects.create(
            organization=w.org,
            account=_se_account(w),
            year=2026,
            revenue_target=1000,
            owner=w.rep_se,
        ),
        NOT_SWEDEN_NOR_MARKETING,
    ),
    "accounts.PlanAction": lambda w: Made(
        PlanAction.objects.create(
            organization=w.org,
            plan=AccountPlan.objects.create(
                organization=w.org,
                account=_se_account(w),
                year=2026,
                revenue_target=1000,
                owner=w.rep_se,
            ),
            title="Visit the plant",
            owner=w.rep_se,
        ),
        NOT_SWEDEN_NOR_MARKETING,
    ),
    "reporting.Target": lambda w: Made(
        Target.objects.create(
            organization=w.org,
            user=w.rep_se,
            period_kind=PeriodKind.QUARTER,
            period_start=dt.date(2026, 1, 1) + dt.timedelta(days=next(_seq)),
            kind=TargetKind.REVENUE,
            value=1000,
        ),
        NOT_SWEDEN_NOR_MARKETING,
    ),
    # A Swedish alert: managers of other companies, sellers and marketing see no alerts.
    "reporting.DeviationAlert": lambda w: Made(
        DeviationAlert.objects.create(
            organization=w.org,
            sales_company=w.se,
            measure=Measure.WIN_RATE,
            week=dt.date(2026, 1, 5) + dt.timedelta(weeks=next(_seq)),
            comparison=Comparison.ORG_AVERAGE,
            value=40,
            reference=60,
            unit=ThresholdUnit.POINTS,
            threshold=10,
        ),
        [*NOT_SWEDEN_NOR_MARKETING, "rep_se"],
    ),
    "accounts.FrameworkAgreement": lambda w: Made(
        FrameworkAgreement.objects.create(
            organization=w.org,
            account=_se_account(w),
            name="Frame",
            valid_from=dt.date(2026, 1, 1),
            valid_to=dt.date(2026, 12, 31),
            incoterm="DAP",
            payment_terms="30 days",
        ),
        NOT_SWEDEN_NOR_MARKETING,
    ),
    "accounts.GroupJoinRequest": lambda w: Made(
        GroupJoinRequest.objects.create(
            organization=w.org,
            account=_se_account(w),
            group=_se_account(w),
            requested_by=w.rep_se,
        ),
        [*NOT_SWEDEN, "marketing", "marketing_se"],
    ),
    "pipeline.GlobalStage": lambda w: Made(GlobalStageFactory(organization=w.org)),
    "accounts.SegmentRule": lambda w: Made(
        SegmentRule.objects.create(organization=w.org, segment="A", order=1)
    ),
    "pipeline.SalesProcess": _process,
    "leads.Lead": lambda w: Made(LeadFactory(organization=w.org, sales_company=w.se), NOT_SWEDEN),
    "leads.Campaign": lambda w: Made(CampaignFactory(organization=w.org, owner=w.marketing)),
    "opportunities.Product": lambda w: Made(ProductFactory(organization=w.org)),
    "opportunities.Opportunity": lambda w: Made(
        OpportunityFactory(account=_se_account(w), owner=w.rep_se),
        [*NOT_SWEDEN, "marketing", "marketing_se"],
    ),
    "opportunities.Conflict": _conflict,
    "opportunities.OpportunityContactRole": _contact_role,
    "coaching.CoachingSession": lambda w: Made(_coaching_session(w), NOT_SWEDEN_NOR_MARKETING),
    "coaching.CoachingAction": lambda w: Made(
        CoachingAction.objects.for_org(w.org).get(session=_coaching_session(w, action=True)),
        NOT_SWEDEN_NOR_MARKETING,
    ),
    # A user's imports are his alone: everyone else of the organization gets 404 too.
    "imports.ImportJob": lambda w: Made(
        ImportJob.objects.create(
            organization=w.org,
            created_by=w.director,
            kind="accounts",
            file_name="a.csv",
            content=b"Name\nA\n",
            headers=["Name"],
        ),
        [n for n in w.users() if n not in ("director", "stranger")],
    ),
    "coaching.CoachingTopic": lambda w: Made(
        CoachingTopic.objects.create(organization=w.org, name=f"Topic {next(_seq)}")
    ),
}
