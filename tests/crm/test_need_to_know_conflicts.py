"""Need-to-know for cross-country conflicts, generated like the API isolation tests: for every
role, every page, endpoint and mail that tells about a situation must not reveal the name,
amount, stage or notes of a deal the reader may not see; a reader who may see it finds it (so
the markers would be caught if they leaked)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from crm.models import ExchangeRate
from opportunities.conflicts import detect_for_opportunity
from opportunities.models import Conflict, ConflictKind, Opportunity
from opportunities.trade_rules import TRADE_KINDS
from pipeline.models import LocalStage
from tests.accounts.factories import make_account
from tests.conftest import World
from tests.factories import as_user
from tests.opportunities.factories import (
    OpportunityFactory,
    OpportunityLineFactory,
    ProductFactory,
)

pytestmark = pytest.mark.django_db

NAME, NOTE, STAGE = "HIDDEN-DEAL-7Q", "HIDDEN-NOTE-7Q", "HIDDEN-STAGE-7Q"
AMOUNTS = ("987654", "987.654", "987,654", "987 654", "987\xa0654")


def _markers(text: str) -> list[str]:
    return [m for m in (NAME, NOTE, STAGE, *AMOUNTS) if m in text]


@pytest.fixture
def situation(world: World, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any) -> Any:
    top = make_account(organization=world.org, home_company=world.se, name="Orbis AB")
    dk = make_account(organization=world.org, home_company=world.dk, name="Orbis ApS", parent=top)
    de = make_account(organization=world.org, home_company=world.de, name="Orbis GmbH", parent=top)
    hidden = OpportunityFactory(
        account=de,
        owner=world.rep_de,
        name=NAME,
        next_step=NOTE,
        amount=Decimal("987654.32"),
        currency="EUR",
        # The trade rules (issue 19): delivered to Denmark, where the group has an account
        # served by DK (a parallel import), and a line priced far from the Danish deal's.
        delivery_country="DK",
    )
    ExchangeRate.objects.create(
        organization=world.org, currency="DKK", rate="0.13400000", valid_from=dt.date(2000, 1, 1)
    )
    product = ProductFactory(organization=world.org, name="Orbis drive")
    OpportunityLineFactory(opportunity=hidden, product=product, unit_price=Decimal("987654.32"))
    LocalStage.objects.for_org(world.org).filter(pk=hidden.local_stage_id).update(name=STAGE)
    own = {
        "rep_se": OpportunityFactory(account=top, owner=world.rep_se, name="Orbis SE deal"),
        "rep_dk": OpportunityFactory(account=dk, owner=world.rep_dk, name="Orbis DK deal"),
    }
    OpportunityLineFactory(opportunity=own["rep_dk"], product=product, unit_price=Decimal(1000))
    with django_capture_on_commit_callbacks(execute=True):
        for deal in (hidden, *own.values()):
            detect_for_opportunity(opportunity=deal, acting_user=None)
    conflicts = list(Conflict.objects.for_org(world.org).values_list("pk", flat=True))
    assert conflicts, "the deals make a situation"
    trade = set(
        Conflict.objects.for_org(world.org)
        .filter(kind__in=TRADE_KINDS)
        .values_list("kind", flat=True)
    )
    assert trade == {ConflictKind.PARALLEL_IMPORT, ConflictKind.PRICE_GAP}, trade
    return {
        "top": top,
        "dk": dk,
        "hidden": hidden,
        "own": own,
        "conflicts": conflicts,
        "product": product,
    }


def _text(response: Any) -> str:
    if getattr(response, "streaming", False):  # the CSV export
        return b"".join(response.streaming_content).decode()
    return str(response.content.decode())


def _answers(world: World, user: Any, situation: Any) -> dict[str, str]:
    """Everything the user can ask about the situation, by what they asked."""
    client = Client()
    client.force_login(user)
    api = as_user(user)
    urls = [
        "/opportunities/conflicts/",
        "/opportunities/conflicts/?order=value&by_group=on",
        f"/accounts/{situation['top'].pk}/",
        f"/accounts/{situation['dk'].pk}/",
        f"/opportunities/preview/?account={situation['dk'].pk}&sales_company={world.dk.pk}",
        # The trade rules' preview: typed delivery country and a line of the hidden deal's
        # product (its price is compared with visible deals only).
        f"/opportunities/preview/?account={situation['dk'].pk}&sales_company={world.dk.pk}"
        f"&currency=DKK&delivery_country=DE&lines-TOTAL_FORMS=1&lines-INITIAL_FORMS=0"
        f"&lines-0-product={situation['product'].pk}&lines-0-quantity=1&lines-0-unit_price=5",
        "/opportunities/conflicts/?kind=parallel_import",
        "/opportunities/conflicts/?kind=price_gap",
        "/opportunities/?format=csv",
        *(f"/opportunities/conflicts/{pk}/" for pk in situation["conflicts"]),
        *(f"/opportunities/{deal.pk}/" for deal in situation["own"].values()),
    ]
    answers = {url: _text(client.get(url)) for url in urls}
    api_urls = [
        "/api/v1/conflicts/",
        f"/api/v1/accounts/{situation['top'].pk}/360/",
        f"/api/v1/accounts/{situation['dk'].pk}/360/",
        *(f"/api/v1/conflicts/{pk}/" for pk in situation["conflicts"]),
    ]
    answers |= {url: api.get(url).content.decode() for url in api_urls}
    return answers


@pytest.mark.parametrize(
    "role",
    [
        "rep_se",
        "rep_dk",
        "manager_se",
        "regional",
        "marketing",
        "marketing_se",
        "director",
        "admin",
        "stranger",
    ],
)
def test_no_answer_reveals_a_deal_the_reader_may_not_see(
    world: World, situation: Any, mailoutbox: list[Any], role: str
) -> None:
    user = getattr(world, role)
    hidden = situation["hidden"]
    sees = Opportunity.objects.visible_to(user).filter(pk=hidden.pk).exists()
    answers = _answers(world, user, situation)
    leaks = {url: found for url, text in answers.items() if (found := _markers(text))}
    if sees:
        # The markers are findable: the reader who may see the deal finds them somewhere.
        assert leaks, f"{role} sees the deal, so its details show somewhere"
    else:
        assert leaks == {}, f"{role} learned of a hidden deal through {sorted(leaks)}"


def test_the_conflict_mail_names_companies_never_deal_details(
    world: World, situation: Any, mailoutbox: list[Any]
) -> None:
    assert mailoutbox, "the situation was mailed"
    for message in mailoutbox:
        assert _markers(f"{message.subject}\n{message.body}") == []
