"""The hot serializers build their output by hand (bench/: the 360° and list rows); they must
say exactly what DRF's generic field walk says, nulls and time zones included."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework import serializers

from accounts.api import AccountSerializer
from accounts.models import Account
from opportunities.api import OpportunitySerializer
from tests.accounts.factories import AccountFactory
from tests.opportunities.factories import OpportunityFactory

pytestmark = pytest.mark.django_db


def _generic(serializer: serializers.ModelSerializer, obj: object) -> dict:
    return dict(serializers.ModelSerializer.to_representation(serializer, obj))


@pytest.mark.parametrize("zone", ["UTC", "Europe/Stockholm", "America/New_York"])
def test_account_rows_match_the_generic_output(world, zone: str) -> None:  # type: ignore[no-untyped-def]
    top = AccountFactory(organization=world.org, home_company=world.se, country="SE")
    full = AccountFactory(
        organization=world.org, home_company=world.dk, country="DK", parent=top,
        registration_number="DK-123", domain="example.dk", industry="Steel",
    )  # fmt: skip
    # Set by the first won deal in real life; written directly here.
    Account.objects.for_org(world.org.pk).filter(pk=full.pk).update(
        first_won_at=dt.datetime(2026, 3, 31, 23, 30, tzinfo=dt.UTC)
    )
    full.refresh_from_db()
    with timezone.override(zone):
        for account in (top, full):
            s = AccountSerializer()
            assert s.to_representation(account) == _generic(s, account)


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin"])
def test_opportunity_rows_match_the_generic_output(world, zone: str) -> None:  # type: ignore[no-untyped-def]
    account = AccountFactory(organization=world.org, home_company=world.se, country="SE")
    filled = OpportunityFactory(account=account, owner=world.rep_se, amount=Decimal("1234.50"))
    empty = OpportunityFactory(
        account=account, owner=world.rep_se, amount=None, expected_close_date=None,
        closed_at=dt.datetime(2026, 1, 1, 0, 15, tzinfo=dt.UTC),
    )  # fmt: skip
    with timezone.override(zone):
        for opp in (filled, empty):
            s = OpportunitySerializer()
            assert s.to_representation(opp) == _generic(s, opp)
