"""Opportunity pages through Django's test client: the owner, a colleague who may only read,
strangers of another company and another organization; constant queries on the lists."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zoneinfo
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from crm.spreadsheet import csv_text as csv_cell
from opportunities.models import Opportunity, OpportunityLine, StageChange
from tests.conftest import World
from tests.opportunities.factories import OpportunityFactory, stage_for
from tests.pages.conftest import Deals, many_opportunities

pytestmark = pytest.mark.django_db


def _get(client: Client, user: object, url: str, **kw: object) -> object:
    client.force_login(user)
    return client.get(url, **kw)


# --- List ----------------------------------------------------------------------------------------


def test_list_shows_visible_opportunities_only(client: Client, world: World, deals: Deals) -> None:
    url = reverse("opportunities:list")
    assert "Volvera pumps" in _get(client, world.rep_se, url).content.decode()
    # The Danish key account manager sees the group's deals (read-only).
    assert "Volvera pumps" in _get(client, world.rep_dk, url).content.decode()
    assert "Volvera pumps" not in _get(client, world.rep_de, url).content.decode()
    assert "Volvera pumps" not in _get(client, world.stranger, url).content.decode()


def test_list_filters_search_sort_and_empty_state(
    client: Client, world: World, deals: Deals
) -> None:
    OpportunityFactory(
        account=deals.account, owner=world.rep_se, name="Älvsborg valves", amount=Decimal(5)
    )
    url = reverse("opportunities:list")
    html = _get(client, world.manager_se, url, data={"q": "älvs"}).content.decode()
    assert "Älvsborg valves" in html and "Volvera pumps" not in html
    response = _get(client, world.manager_se, url, data={"sort": "-amount"})
    names = [o.name for o in response.context["page"].object_list]
    assert names == ["Volvera pumps", "Älvsborg valves"]
    response = _get(
        client, world.manager_se, url, data={"owner": world.rep_se.pk, "company": world.se.pk}
    )
    assert response.context["page"].paginator.count == 2
    # Close quarter: both close 2026-06-30 (the factory's default).
    assert (
        _get(client, world.manager_se, url, data={"quarter": "2026Q2"})
        .context["page"]
        .paginator.count
        == 2
    )
    assert (
        _get(client, world.manager_se, url, data={"quarter": "2026Q3"})
        .context["page"]
        .paginator.count
        == 0
    )
    OpportunityLine.objects.for_org(world.org).create(
        organization=world.org,
        opportunity=deals.opportunity,
        product=deals.product,
        quantity=1,
        unit_price=10,
    )
    response = _get(client, world.manager_se, url, data={"product": deals.product.pk})
    assert [o.name for o in response.context["page"].object_list] == ["Volvera pumps"]
    stage = stage_for(world.se, "Negotiate").global_stage
    html = _get(client, world.manager_se, url, data={"stage": stage.pk}).content.decode()
    assert 'data-testid="empty"' in html


def test_list_ignores_another_companys_filter_values(
    client: Client, world: World, deals: Deals
) -> None:
    # A company outside the user's scope is not a valid choice: the list is not narrowed to it.
    response = _get(
        client, world.rep_de, reverse("opportunities:list"), data={"company": world.se.pk}
    )
    assert "Volvera pumps" not in response.content.decode()


@pytest.mark.parametrize("rows", [5, 40])
def test_list_runs_a_constant_number_of_queries(
    client: Client, world: World, deals: Deals, rows: int, django_assert_max_num_queries: object
) -> None:
    many_opportunities(world, rows)
    client.force_login(world.manager_se)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("opportunities:list"))
    assert len(response.context["page"].object_list) == rows + 1


def test_filters_cost_no_query_beyond_the_unfiltered_list(
    client: Client, world: World, deals: Deals
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.opportunities.factories import ProductFactory

    many_opportunities(world, 5)
    product = ProductFactory(organization=world.org)
    client.force_login(world.manager_se)
    url = reverse("opportunities:list")
    client.get(url)
    with CaptureQueriesContext(connection) as plain:
        client.get(url)
    filters = {
        "company": world.se.pk,
        "stage": stage_for(world.se, "Develop").global_stage_id,
        "owner": world.rep_se.pk,
        "product": product.pk,
    }
    with CaptureQueriesContext(connection) as filtered:
        response = client.get(url, filters)
    form = response.context["form"]
    # The values were used (the option lists' fields clean to ids: crm.forms.ListedRowChoiceField).
    assert form.is_valid() and form.cleaned_data["product"] == product.pk
    # Session, user, company (language), 4 option lists, count, page (none when nothing matches),
    # the top bar's unread notification count.
    assert len(filtered) <= len(plain) <= 10


def test_csv_streams_the_current_list_with_formulas_escaped(
    client: Client, world: World, deals: Deals
) -> None:
    OpportunityFactory(account=deals.account, owner=world.rep_se, name='=HYPERLINK("x")')
    # Issue 18: a streamed file is written in the reader's language (it was English for
    # everyone while the stream ran after the language middleware); English is asserted here.
    world.rep_se.language = "en"
    world.rep_se.save(update_fields=["language"])
    client.force_login(world.rep_se)
    response = client.get(reverse("opportunities:list"), {"format": "csv", "q": "HYPERLINK"})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0][:3] == ["ID", "Name", "Account"]
    assert len(rows) == 2 and rows[1][1] == '\'=HYPERLINK("x")'


@pytest.mark.parametrize(
    ("value", "expected"),
    [("=1+1", "'=1+1"), ("+46", "'+46"), ("-2", "'-2"), ("@SUM", "'@SUM"), ("\tx", "'\tx"),
     ("\rx", "'\rx"), ("Volvera", "Volvera"), (None, ""), (Decimal("5.00"), "5.00")],
)  # fmt: skip
def test_csv_cell_escapes_formula_starts(value: object, expected: str) -> None:
    assert csv_cell(value) == expected


# --- Detail --------------------------------------------------------------------------------------


def test_detail_owner_colleague_and_strangers(client: Client, world: World, deals: Deals) -> None:
    url = reverse("opportunities:detail", args=[deals.opportunity.pk])
    owner = _get(client, world.rep_se, url)
    assert owner.status_code == 200
    html = owner.content.decode()
    assert (
        "Volvera pumps" in html
        and reverse("opportunities:edit", args=[deals.opportunity.pk]) in html
    )
    reader = _get(client, world.rep_dk, url)
    assert reader.status_code == 200
    assert reverse("opportunities:edit", args=[deals.opportunity.pk]) not in reader.content.decode()
    assert _get(client, world.rep_de, url).status_code == 404
    assert _get(client, world.stranger, url).status_code == 404
    assert (
        _get(client, world.rep_se, reverse("opportunities:detail", args=[999999])).status_code
        == 404
    )


def test_detail_shows_history_lines_and_conflicts(
    client: Client, world: World, deals: Deals
) -> None:
    client.force_login(world.rep_se)
    OpportunityFactory(account=deals.account, owner=world.rep_dk, name="Danish rival")
    from opportunities.conflicts import detect_for_opportunity

    detect_for_opportunity(opportunity=deals.opportunity, acting_user=None)
    html = client.get(reverse("opportunities:detail", args=[deals.opportunity.pk])).content.decode()
    assert "Flera bolag bearbetar koncernen" in html  # sv: "Several companies work the group"
    # Need to know: the Swedish rep may not see the Danish deal, only its company and contact.
    assert "Danish rival" not in html and world.rep_dk.full_name in html


# --- Create / edit -------------------------------------------------------------------------------


def _form_data(deals: Deals, world: World, **extra: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "New pumps",
        "account": deals.account.pk,
        "sales_company": world.se.pk,
        "currency": "SEK",
        "amount": "5000",
        "expected_close_date": "2026-09-30",
        "next_step": "Call",
        "lines-TOTAL_FORMS": "2",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "20",
    }
    data.update(extra)
    return data


def test_create_form_has_sensible_defaults(client: Client, world: World, deals: Deals) -> None:
    response = _get(client, world.rep_se, reverse("opportunities:create"))
    assert response.status_code == 200
    form = response.context["form"]
    assert form.initial["sales_company"] == world.se.pk
    assert form.initial["currency"] == "SEK"
    assert form.initial["local_stage"] == stage_for(world.se, "Qualify").pk
    # The rep's own day (Europe/Stockholm), not the server's: after 23:00 UTC they differ.
    rep_today = timezone.localdate(timezone=zoneinfo.ZoneInfo(world.rep_se.effective_timezone))
    assert form.initial["expected_close_date"] == rep_today + dt.timedelta(days=90)
    html = response.content.decode()
    assert "autofocus" in html and "<script>" not in html and "onclick" not in html


def test_create_with_lines_saves_through_the_service(
    client: Client, world: World, deals: Deals
) -> None:
    client.force_login(world.rep_se)
    data = _form_data(
        deals, world, **{"lines-0-product": deals.product.pk, "lines-0-quantity": "2",
                         "lines-0-unit_price": "100", "lines-0-discount_percent": "0"}
    )  # fmt: skip
    response = client.post(reverse("opportunities:create"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    opp = Opportunity.objects.for_org(world.org).get(name="New pumps")
    assert opp.amount == Decimal("200.00") and opp.owner == world.rep_se
    assert opp.local_stage.process.sales_company == world.se
    assert StageChange.objects.for_org(world.org).filter(opportunity=opp).count() == 1


def test_create_refuses_invisible_account_and_other_company(
    client: Client, world: World, deals: Deals
) -> None:
    client.force_login(world.rep_de)
    response = client.post(reverse("opportunities:create"), _form_data(deals, world))
    assert response.status_code == 400
    assert "account" in response.context["form"].errors
    assert not Opportunity.objects.for_org(world.org).filter(name="New pumps").exists()
    client.force_login(world.stranger)
    response = client.post(reverse("opportunities:create"), _form_data(deals, world))
    assert response.status_code == 400
    assert not Opportunity.objects.for_org(world.org).filter(name="New pumps").exists()


def test_edit_owner_reader_and_strangers(client: Client, world: World, deals: Deals) -> None:
    url = reverse("opportunities:edit", args=[deals.opportunity.pk])
    assert _get(client, world.rep_se, url).status_code == 200
    assert _get(client, world.rep_dk, url).status_code == 403
    client.force_login(world.rep_dk)
    assert client.post(url, _form_data(deals, world, version=1)).status_code == 403
    assert _get(client, world.rep_de, url).status_code == 404
    assert _get(client, world.stranger, url).status_code == 404


def test_edit_saves_and_a_stale_edit_keeps_the_input(
    client: Client, world: World, deals: Deals
) -> None:
    opp = deals.opportunity
    url = reverse("opportunities:edit", args=[opp.pk])
    client.force_login(world.rep_se)
    response = client.post(url, _form_data(deals, world, name="Renamed", version=opp.version))
    assert response.status_code == 302
    opp.refresh_from_db()
    assert opp.name == "Renamed" and opp.version == 2
    # A second tab still holds version 1: refused, nothing overwritten, the input kept.
    response = client.post(url, _form_data(deals, world, name="Stale name", version=1))
    assert response.status_code == 409
    html = response.content.decode()
    assert "changed by someone else" in html and 'value="Stale name"' in html
    opp.refresh_from_db()
    assert opp.name == "Renamed"


def test_preview_shows_conflicts_and_agreement_without_saving(
    client: Client, world: World, deals: Deals
) -> None:
    from accounts.services import agreement_create

    agreement_create(
        group=deals.account,
        name="Volvera frame",
        valid_from=dt.date(2000, 1, 1),
        valid_to=dt.date(2100, 1, 1),
        covered_companies=[world.se, world.dk],
        incoterm="DAP",
        payment_terms="60 days net",
        tiers=[(Decimal(0), Decimal(2)), (Decimal(1000000), Decimal(5))],
        acting_user=None,
    )
    dk_account = __import__("tests.accounts.factories", fromlist=["x"]).make_account(
        organization=world.org, home_company=world.dk, name="Volvera DK", parent=deals.account
    )
    client.force_login(world.rep_dk)
    before = Opportunity.objects.for_org(world.org).count()
    response = client.get(
        reverse("opportunities:preview"),
        {"account": dk_account.pk, "sales_company": world.dk.pk},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Flera bolag bearbetar koncernen" in html  # sv: "Several companies work the group"
    assert "Volvera frame" in html and "2 % rabatt" in html  # sv: "2% discount"
    assert Opportunity.objects.for_org(world.org).count() == before
    # Someone who may not see the account gets an empty preview, not its agreement.
    client.force_login(world.rep_de)
    html = client.get(reverse("opportunities:preview"), {"account": dk_account.pk}).content.decode()
    assert "Volvera frame" not in html


@pytest.mark.parametrize(("discount", "breach"), [("1", True), ("1,5", True), ("2", False)])
def test_preview_warns_of_an_agreement_breach_like_the_save(
    client: Client, world: World, deals: Deals, discount: str, breach: bool
) -> None:
    """Preview = save (issue 17): a line discounted below the agreement's tier is an agreement
    conflict in the live preview too, before anything is saved (a decimal comma accepted)."""
    from accounts.services import agreement_create
    from opportunities.models import ConflictKind

    agreement_create(
        group=deals.account,
        name="Volvera frame",
        valid_from=dt.date(2000, 1, 1),
        valid_to=dt.date(2100, 1, 1),
        covered_companies=[world.se],
        incoterm="DAP",
        payment_terms="60 days net",
        tiers=[(Decimal(0), Decimal(2))],
        acting_user=None,
    )
    client.force_login(world.rep_se)
    response = client.get(
        reverse("opportunities:preview"),
        {
            "account": deals.account.pk,
            "sales_company": world.se.pk,
            "lines-TOTAL_FORMS": "1",
            "lines-INITIAL_FORMS": "0",
            "lines-0-product": deals.product.pk,
            "lines-0-quantity": "1",
            "lines-0-discount_percent": discount,
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    kinds = [w.conflict.kind for w in response.context["warnings"]]
    assert (ConflictKind.AGREEMENT in kinds) is breach


# --- Board and moves -----------------------------------------------------------------------------


def test_board_columns_totals_and_move(client: Client, world: World, deals: Deals) -> None:
    client.force_login(world.rep_se)
    response = client.get(reverse("opportunities:board"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "data-card" in html and "Volvera pumps" in html and "125" in html
    develop = stage_for(world.se, "Develop")
    move = reverse("opportunities:move", args=[deals.opportunity.pk])
    response = client.post(move, {"local_stage": develop.pk, "version": 1}, HTTP_HX_REQUEST="true")
    # The Swedish company's rep: "flyttad till" is "moved to".
    assert response.status_code == 200 and "flyttad till" in response.content.decode()
    deals.opportunity.refresh_from_db()
    assert deals.opportunity.local_stage == develop
    assert (
        StageChange.objects.for_org(world.org)
        .filter(opportunity=deals.opportunity, to_local_stage=develop)
        .exists()
    )


def test_stale_move_is_refused_and_the_board_refreshes(
    client: Client, world: World, deals: Deals
) -> None:
    client.force_login(world.rep_se)
    move = reverse("opportunities:move", args=[deals.opportunity.pk])
    develop, propose = stage_for(world.se, "Develop"), stage_for(world.se, "Propose")
    client.post(move, {"local_stage": develop.pk, "version": 1}, HTTP_HX_REQUEST="true")
    response = client.post(move, {"local_stage": propose.pk, "version": 1}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    # sv: "har ändrats av någon annan" is "was changed by someone else".
    assert "har ändrats av någon annan" in html and 'id="board"' in html
    deals.opportunity.refresh_from_db()
    assert deals.opportunity.local_stage == develop
    # Without htmx: a redirect back to the board with the message.
    response = client.post(move, {"local_stage": propose.pk, "version": 1}, follow=True)
    assert "har ändrats av någon annan" in response.content.decode()


def test_move_reader_gets_403_strangers_404(client: Client, world: World, deals: Deals) -> None:
    move = reverse("opportunities:move", args=[deals.opportunity.pk])
    develop = stage_for(world.se, "Develop")
    for user, status in ((world.rep_dk, 403), (world.rep_de, 404), (world.stranger, 404)):
        client.force_login(user)
        assert client.post(move, {"local_stage": develop.pk, "version": 1}).status_code == status
    deals.opportunity.refresh_from_db()
    assert deals.opportunity.version == 1


@pytest.mark.parametrize("rows", [5, 40])
def test_board_runs_a_constant_number_of_queries(
    client: Client, world: World, deals: Deals, rows: int, django_assert_max_num_queries: object
) -> None:
    many_opportunities(world, rows)
    client.force_login(world.rep_se)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("opportunities:board"))
    assert sum(len(c.opportunities) for c in response.context["columns"]) == rows + 1
