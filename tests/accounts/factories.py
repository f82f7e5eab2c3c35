"""factory_boy factories for accounts, plus the few opportunity rows the accounts reads need.

Accounts made here go through ``account_create`` so that ``normalized_name``, ``registration_key``
and ``group`` are exactly what production derives.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import factory
from django.utils import timezone

from accounts import services
from accounts.models import Account, Activity, ActivityKind, Contact
from crm.models import Organization, SalesCompany, User
from opportunities.models import Opportunity
from pipeline.models import ForecastCategory, GlobalStage, LocalStage, SalesProcess


def make_account(
    *,
    organization: Organization,
    home_company: SalesCompany,
    name: str = "",
    parent: Account | None = None,
    **fields: Any,
) -> Account:
    make_account.n += 1  # type: ignore[attr-defined]
    return services.account_create(
        organization=organization,
        name=name or f"Customer {make_account.n} AB",  # type: ignore[attr-defined]
        home_company=home_company,
        parent=parent,
        acting_user=None,
        country=fields.pop("country", home_company.country),
        **fields,
    )


make_account.n = 0  # type: ignore[attr-defined]


class AccountFactory(factory.django.DjangoModelFactory):
    """For tests that need many accounts fast; the service sets what the model cannot."""

    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Account {n}")
    country = "SE"

    @classmethod
    def _create(cls, model_class: type[Account], *args: Any, **kwargs: Any) -> Account:
        return make_account(**kwargs)


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    organization = factory.SelfAttribute("account.organization")
    full_name = factory.Sequence(lambda n: f"Contact {n}")
    email = factory.Sequence(lambda n: f"contact{n}@customer.test")


class ActivityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Activity

    organization = factory.SelfAttribute("account.organization")
    kind = ActivityKind.CALL
    subject = factory.Sequence(lambda n: f"Call {n}")
    sales_company = factory.SelfAttribute("owner.sales_company")


def stages(organization: Organization, company: SalesCompany) -> dict[str, LocalStage]:
    """An open, a won and a lost stage for ``company`` (created once per organization)."""
    spec = {
        "open": (1, "Qualify", 20, ForecastCategory.PIPELINE, False, False),
        "won": (8, "Won", 100, ForecastCategory.CLOSED, True, False),
        "lost": (9, "Lost", 0, ForecastCategory.CLOSED, False, True),
    }
    process, _ = SalesProcess.objects.for_org(organization).get_or_create(
        sales_company=company, defaults={"organization": organization, "name": company.code}
    )
    out = {}
    for key, (order, name, prob, cat, won, lost) in spec.items():
        gstage, _ = GlobalStage.objects.for_org(organization).get_or_create(
            order=order,
            defaults={
                "organization": organization,
                "name": name,
                "probability": prob,
                "forecast_category": cat,
                "is_won": won,
                "is_lost": lost,
            },
        )
        out[key], _ = LocalStage.objects.for_org(organization).get_or_create(
            process=process,
            order=order,
            defaults={"organization": organization, "name": name, "global_stage": gstage},
        )
    return out


def make_opportunity(
    *,
    account: Account,
    company: SalesCompany,
    owner: User,
    amount: str | Decimal | None,
    currency: str = "EUR",
    state: str = "open",
    closed_on: dt.date | None = None,
) -> Opportunity:
    stage = stages(account.organization, company)[state]
    closed_at = None
    if closed_on is not None:
        closed_at = timezone.make_aware(dt.datetime.combine(closed_on, dt.time(12)))
    return Opportunity.objects.create(
        organization=account.organization,
        account=account,
        sales_company=company,
        owner=owner,
        name=f"Deal {account.name} {amount}",
        local_stage=stage,
        global_stage=stage.global_stage,
        amount=None if amount is None else Decimal(amount),
        currency=currency,
        closed_at=closed_at,
    )
