"""The Hansa case of issue 17 on the test world: a group worked by Sweden and Germany, which a
Danish rep cannot see, with deals whose details must never reach her."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from accounts.models import Account, AccountTeamMember, TeamRole
from crm.models import User
from crm.roles import Role
from opportunities.models import Opportunity
from tests.accounts.factories import make_account
from tests.conftest import World
from tests.factories import UserFactory
from tests.opportunities.factories import OpportunityFactory

DOMAIN = "hansa-logistik.example"
NEW_NAME = "Hansa Logistik Danmark ApS"
# What rep.dk must never read: account names of the group, deal names, amounts, stages, notes.
SECRETS = [
    "Hansa Logistik GmbH",
    "Hansa Logistik Sverige AB",
    "Secret fleet deal",
    "Secret terminal deal",
    "987654",
    "987,654",
    "987\u202f654",
    "987 654",
    "123456",
    "123,456",
    "Negotiate",
    "Propose",
]


@dataclass
class Hansa:
    top: Account
    se: Account
    gam: User
    manager_dk: User
    deals: list[Opportunity]


def make_hansa(world: World) -> Hansa:
    top = make_account(
        organization=world.org, home_company=world.de, name="Hansa Logistik GmbH",
        country="DE", domain=DOMAIN, registration_number="DE300022001",
    )  # fmt: skip
    se = make_account(
        organization=world.org, home_company=world.se, name="Hansa Logistik Sverige AB",
        country="SE", parent=top,
    )  # fmt: skip
    AccountTeamMember.objects.create(
        organization=world.org, account=top, user=world.rep_de, sales_company=world.de,
        role=TeamRole.GLOBAL_ACCOUNT_MANAGER,
    )  # fmt: skip
    deals = [
        OpportunityFactory(
            account=top, owner=world.rep_de, name="Secret fleet deal",
            amount=Decimal("987654.00"), stage="Negotiate",
        ),
        OpportunityFactory(
            account=se, owner=world.rep_se, name="Secret terminal deal",
            amount=Decimal("123456.00"), stage="Propose",
        ),
    ]  # fmt: skip
    manager_dk = UserFactory(
        organization=world.org, role=Role.COUNTRY_MANAGER, sales_company=world.dk,
        full_name="Dorte Dansk",
    )  # fmt: skip
    return Hansa(top=top, se=se, gam=world.rep_de, manager_dk=manager_dk, deals=deals)


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, secret


def english(*users: User) -> None:
    """These tests read the English strings (translations are tested where they are made)."""
    for user in users:
        user.language = "en"
        user.save(update_fields=["language"])
