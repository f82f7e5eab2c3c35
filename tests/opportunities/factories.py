"""factory_boy factories for the pipeline and opportunities apps.

Every tenant row gets its organization explicitly, derived from the row it belongs to, so a
factory can never build a row that straddles two organizations. Opportunities sit in a stage of
their booking company's process; ``process_for`` builds the default one on demand so that a test
that does not care about stages gets a consistent one (global_stage == local_stage.global_stage).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import factory
from django.contrib.auth.models import Permission

from accounts.models import Account
from accounts.services import account_create
from crm.models import Organization, SalesCompany
from leads.models import Campaign, CampaignCompany, CampaignKind, CampaignMember, Lead
from opportunities.models import (
    Opportunity,
    OpportunityLine,
    OpportunitySplit,
    OpportunityUserObjectPermission,
    Product,
    SplitKind,
)
from pipeline.models import ForecastCategory, GlobalStage, LocalStage, SalesProcess
from pipeline.services import DEFAULT_GLOBAL_STAGES
from tests.factories import OrganizationFactory, SalesCompanyFactory, UserFactory


def global_stages_for(organization: Organization) -> dict[str, GlobalStage]:
    """The organization's default global stages by name, created if missing (no services, so
    that factories stay usable in tests of the services themselves)."""
    stages = {}
    for name, order, probability, category, won, lost in DEFAULT_GLOBAL_STAGES:
        stages[name], _ = GlobalStage.objects.for_org(organization).get_or_create(
            name=name,
            defaults={
                "organization": organization,
                "order": order,
                "probability": probability,
                "forecast_category": category,
                "is_won": won,
                "is_lost": lost,
                # As global_stages_ensure_default sets it.
                "suppresses_marketing": category == ForecastCategory.COMMIT,
            },
        )
    return stages


def process_for(company: SalesCompany) -> SalesProcess:
    """The company's process; a default one with one local stage per global stage if none."""
    process = (
        SalesProcess.objects.for_org(company.organization_id).filter(sales_company=company).first()
    )
    if process is not None:
        return process
    org = company.organization
    process = SalesProcess.objects.create(
        organization=org, sales_company=company, name=f"{company.code} process"
    )
    for gs in global_stages_for(org).values():
        LocalStage.objects.create(
            organization=org, process=process, name=gs.name, order=gs.order, global_stage=gs
        )
    return process


def account_for(company: SalesCompany, name: str = "", **fields: object) -> Account:
    """An account homed in ``company``, built by the accounts service (group and normal forms
    derived there, as in production)."""
    global _ACCOUNT_SEQ
    _ACCOUNT_SEQ += 1
    return account_create(
        organization=company.organization,
        name=name or f"Customer {_ACCOUNT_SEQ} AB",
        home_company=company,
        acting_user=None,
        country=fields.pop("country", company.country),
        **fields,
    )


_ACCOUNT_SEQ = 0


def stage_for(company: SalesCompany, global_name: str) -> LocalStage:
    """The first local stage of the company's process mapped to the global stage named so."""
    return (
        LocalStage.objects.for_org(company.organization_id)
        .filter(process=process_for(company), global_stage__name=global_name)
        .order_by("order")
        .first()
    )


class GlobalStageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GlobalStage

    organization = factory.SubFactory(OrganizationFactory)
    order = factory.Sequence(lambda n: 100 + n)
    name = factory.Sequence(lambda n: f"Global stage {n}")
    probability = 50
    forecast_category = ForecastCategory.PIPELINE


class SalesProcessFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SalesProcess

    sales_company = factory.SubFactory(SalesCompanyFactory)
    organization = factory.SelfAttribute("sales_company.organization")
    name = factory.LazyAttribute(lambda o: f"{o.sales_company.code} process")


class LocalStageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LocalStage

    process = factory.SubFactory(SalesProcessFactory)
    organization = factory.SelfAttribute("process.organization")
    name = factory.Sequence(lambda n: f"Local stage {n}")
    order = factory.Sequence(lambda n: 100 + n)
    global_stage = factory.SubFactory(
        GlobalStageFactory, organization=factory.SelfAttribute("..organization")
    )


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    organization = factory.SubFactory(OrganizationFactory)
    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"Product {n}")
    family = "Pumps"
    list_price = Decimal("1000.00")
    currency = "EUR"


class OpportunityFactory(factory.django.DjangoModelFactory):
    """An open opportunity in the first stage of its booking company's default process.

    Pass ``account=`` (tests.accounts.factories.AccountFactory builds one) and ``owner=``; the
    booking company defaults to the owner's, the currency to the company's. Pass
    ``stage="Negotiate"`` to start in another global stage."""

    class Meta:
        model = Opportunity
        exclude = ("stage",)
        skip_postgeneration_save = True  # the hook writes a split row, not the opportunity

    account = factory.SubFactory("tests.accounts.factories.AccountFactory")
    organization = factory.SelfAttribute("account.organization")
    owner = factory.SubFactory(
        UserFactory,
        organization=factory.SelfAttribute("..organization"),
        sales_company=factory.SelfAttribute("..account.home_company"),
    )
    sales_company = factory.LazyAttribute(lambda o: o.owner.sales_company)
    name = factory.Sequence(lambda n: f"Opportunity {n}")
    stage = "Qualify"
    local_stage = factory.LazyAttribute(lambda o: stage_for(o.sales_company, o.stage))
    global_stage = factory.LazyAttribute(lambda o: o.local_stage.global_stage)
    amount = Decimal("10000.00")
    currency = factory.LazyAttribute(lambda o: o.sales_company.currency)
    expected_close_date = factory.LazyFunction(lambda: dt.date(2026, 6, 30))

    @factory.post_generation
    def default_split(obj: Opportunity, create: bool, extracted: object, **kwargs: object) -> None:
        # Like opportunity_create: 100% revenue to the owner unless the test says otherwise.
        if create and extracted is not False:
            OpportunitySplit.objects.create(
                organization_id=obj.organization_id,
                opportunity=obj,
                user=obj.owner,
                sales_company=obj.sales_company,
                kind=SplitKind.REVENUE,
                percent=Decimal(100),
            )


class OpportunityLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OpportunityLine

    opportunity = factory.SubFactory(OpportunityFactory)
    organization = factory.SelfAttribute("opportunity.organization")
    product = factory.SubFactory(
        ProductFactory, organization=factory.SelfAttribute("..organization")
    )
    quantity = Decimal("1.00")
    unit_price = factory.LazyAttribute(lambda o: o.product.list_price)
    discount_percent = Decimal(0)


class OpportunitySplitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OpportunitySplit

    opportunity = factory.SubFactory(OpportunityFactory)
    organization = factory.SelfAttribute("opportunity.organization")
    user = factory.SubFactory(UserFactory, organization=factory.SelfAttribute("..organization"))
    sales_company = factory.LazyAttribute(lambda o: o.user.sales_company)
    kind = SplitKind.OVERLAY
    percent = Decimal(10)


class OpportunityGrantFactory(factory.django.DjangoModelFactory):
    """A guardian grant: ``permission`` is an auth.Permission (view/change_opportunity)."""

    class Meta:
        model = OpportunityUserObjectPermission

    content_object = factory.SubFactory(OpportunityFactory)
    organization = factory.SelfAttribute("content_object.organization")
    user = factory.SubFactory(UserFactory, organization=factory.SelfAttribute("..organization"))
    permission = factory.LazyFunction(
        lambda: Permission.objects.get(
            content_type__app_label="opportunities", codename="view_opportunity"
        )
    )


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Campaign {n}")
    kind = CampaignKind.WEBINAR
    starts_on = dt.date(2026, 3, 1)
    ends_on = factory.LazyAttribute(lambda o: o.starts_on + dt.timedelta(days=30))
    budget = Decimal("5000.00")
    currency = "EUR"
    owner = factory.SubFactory(
        UserFactory, organization=factory.SelfAttribute("..organization"), role="marketing"
    )


class CampaignCompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CampaignCompany

    campaign = factory.SubFactory(CampaignFactory)
    organization = factory.SelfAttribute("campaign.organization")
    sales_company = factory.SubFactory(
        SalesCompanyFactory, organization=factory.SelfAttribute("..organization")
    )


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    organization = factory.SubFactory(OrganizationFactory)
    source = "web form"
    company_name = factory.Sequence(lambda n: f"Lead Company {n} AB")
    contact_name = factory.Sequence(lambda n: f"Lead Contact {n}")
    email = factory.Sequence(lambda n: f"lead{n}@lead.example")
    country = "SE"
    sales_company = None


class CampaignMemberFactory(factory.django.DjangoModelFactory):
    """Pass ``contact=`` or ``lead=``; defaults to a new lead of the campaign's organization."""

    class Meta:
        model = CampaignMember

    campaign = factory.SubFactory(CampaignFactory)
    organization = factory.SelfAttribute("campaign.organization")
    contact = None
    lead = factory.Maybe(
        factory.SelfAttribute("contact"),
        yes_declaration=None,
        no_declaration=factory.SubFactory(
            LeadFactory, organization=factory.SelfAttribute("..organization")
        ),
    )


def make_situation(
    *,
    organization: Any,
    kind: str,
    account: Any,
    deals: Sequence[Any] = (),
    accounts: Sequence[Any] = (),
    **fields: Any,
) -> Any:
    """A conflict situation written directly (as detection would), with its deals (or, for a
    duplicate, its accounts) as participants."""
    from opportunities.models import Conflict, ConflictParticipant

    org_id = getattr(organization, "pk", organization)
    if "sales_company" not in fields:
        fields["sales_company"] = deals[0].sales_company if deals else accounts[0].home_company
    conflict = Conflict.objects.for_org(org_id).create(
        organization_id=org_id, kind=kind, account=account, **fields
    )
    for deal in deals:
        ConflictParticipant.objects.for_org(org_id).create(
            organization_id=org_id,
            conflict=conflict,
            opportunity=deal,
            sales_company_id=deal.sales_company_id,
            seller_id=deal.owner_id,
        )
    for side in accounts:
        ConflictParticipant.objects.for_org(org_id).create(
            organization_id=org_id,
            conflict=conflict,
            account=side,
            sales_company_id=side.home_company_id,
        )
    return conflict
