"""One maker per API model: builds a row of the test world's first organization (Nordvik) and
names the users who must not see it. The isolation tests are generated from the router, and fail
for an endpoint whose model has no maker here, so a new endpoint is covered by construction."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import Model

from tests.conftest import World
from tests.factories import ExchangeRateFactory, RegionFactory, SalesCompanyFactory, UserFactory

_seq = itertools.count(1)


@dataclass
class Made:
    obj: Model
    # World attribute names of users of the same organization who must get 404 too.
    hidden_from: list[str] = field(default_factory=list)


MAKERS: dict[str, Callable[[World], Made]] = {
    "crm.Region": lambda w: Made(RegionFactory(organization=w.org)),
    "crm.SalesCompany": lambda w: Made(SalesCompanyFactory(organization=w.org, region=w.nordics)),
    "crm.User": lambda w: Made(UserFactory(organization=w.org, sales_company=w.se)),
    "crm.ExchangeRate": lambda w: Made(
        ExchangeRateFactory(
            organization=w.org, valid_from=dt.date(2020, 1, 1) + dt.timedelta(days=next(_seq))
        )
    ),
}
