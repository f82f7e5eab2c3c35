"""factory_boy factories for the kernel. Every tenant row gets its organization explicitly."""

from __future__ import annotations

import datetime as dt

import factory
from django.contrib.auth.hashers import make_password
from rest_framework.test import APIClient

from crm.models import ExchangeRate, Organization, Region, SalesCompany, User
from crm.roles import Role

PASSWORD = "correct-horse-42"
# Hash once: the production hasher is slow on purpose, and a test world has a dozen users.
_PASSWORD_HASH = make_password(PASSWORD)


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Organization {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")
    corporate_currency = "EUR"


class RegionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Region

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Region {n}")


class SalesCompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SalesCompany

    organization = factory.SubFactory(OrganizationFactory)
    region = factory.SubFactory(RegionFactory, organization=factory.SelfAttribute("..organization"))
    name = factory.Sequence(lambda n: f"Sales company {n}")
    code = factory.Sequence(lambda n: f"C{n}")
    country = "SE"
    currency = "SEK"
    language = "sv"
    timezone = "Europe/Stockholm"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    organization = factory.SubFactory(OrganizationFactory)
    email = factory.Sequence(lambda n: f"user{n}@example.test")
    full_name = factory.Sequence(lambda n: f"User {n}")
    role = Role.SALES_REP
    sales_company = factory.Maybe(
        factory.LazyAttribute(lambda o: o.role in (Role.SALES_REP, Role.COUNTRY_MANAGER)),
        yes_declaration=factory.SubFactory(
            SalesCompanyFactory, organization=factory.SelfAttribute("..organization")
        ),
        no_declaration=None,
    )
    password = factory.LazyFunction(lambda: _PASSWORD_HASH)


class ExchangeRateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ExchangeRate

    organization = factory.SubFactory(OrganizationFactory)
    currency = "SEK"
    rate = "0.08700000"
    # Distinct days, not random ones: (organization, currency, valid_from) is unique, and two
    # random dates of one test sometimes collided.
    valid_from = factory.Sequence(lambda n: dt.date(2000, 1, 1) + dt.timedelta(days=n))


def as_user(user: object) -> APIClient:
    """An API client authenticated as ``user`` (no token, no session)."""
    client = APIClient()
    client.force_authenticate(user)
    return client


def users_today(user: User) -> dt.date:
    """Today as the user's pages see it: in the user's zone, which can be a day ahead of UTC."""
    from crm.middleware import user_zone

    return dt.datetime.now(user_zone(user.effective_timezone) or dt.UTC).date()
