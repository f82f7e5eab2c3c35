"""The customer-value dataset of test_customer_value.py (its docstring computes every number),
shared with the page and API tests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

from accounts.models import Account
from crm.models import ExchangeRate
from tests.conftest import World
from tests.opportunities.factories import account_for
from tests.reporting.conftest import _opp

AS_OF = dt.date(2026, 5, 15)


def build_accounts(world: World) -> dict[str, Account]:
    w = world
    for currency, rate, day in [
        ("SEK", "0.09", "2025-01-01"),
        ("SEK", "0.08", "2026-04-01"),
        ("DKK", "0.13", "2025-01-01"),
        ("DKK", "0.135", "2026-05-01"),
    ]:
        ExchangeRate.objects.create(
            organization=w.org,
            currency=currency,
            rate=D(rate),
            valid_from=dt.date.fromisoformat(day),
        )
    top = account_for(w.se, "Volta Holding AB")
    sub = account_for(w.dk, "Volta Danmark A/S", parent=top)
    lone = account_for(w.de, "Lone GmbH")
    fjord = account_for(w.se, "Fjord Handel AB")
    _opp(w, top, w.rep_se, "Won", "100000", "SEK", created="2025-01-10", closed="2025-05-15")
    _opp(w, top, w.rep_se, "Won", "50000", "SEK", created="2025-01-10", closed="2025-05-16")
    _opp(w, top, w.rep_se, "Won", "10000", "SEK", created="2026-01-10", closed="2026-04-01")
    _opp(w, top, w.rep_se, "Lost", "30000", "SEK", created="2026-01-10", closed="2026-02-01")
    _opp(w, top, w.rep_se, "Negotiate", "200000", "SEK", created="2026-03-01")
    _opp(w, sub, w.rep_dk, "Won", "100000", "DKK", created="2026-01-10", closed="2026-05-15")
    _opp(w, sub, w.rep_dk, "Won", "10000", "DKK", created="2025-01-10", closed="2025-06-01")
    _opp(w, sub, w.rep_dk, "Won", "10000", "DKK", created="2026-01-10", closed="2026-05-16")
    _opp(w, sub, w.rep_dk, "Propose", "40000", "DKK", created="2026-03-01")
    _opp(w, fjord, w.rep_se, "Won", "1000", "NOK", created="2026-01-10", closed="2026-03-01")
    return {"top": top, "sub": sub, "lone": lone, "fjord": fjord}
