"""Need-to-know answers for look-alikes the user may not see (issue 17, "existence across
visibility"): the company that works the group and whom to ask, in words, on every path that
creates an account - and never the hidden account's name, its deals, amounts or stages."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import selectors, services
from accounts.models import AccountTeamMember
from leads.services import lead_convert
from tests.accounts.factories import make_account
from tests.accounts.hansa import DOMAIN, NEW_NAME, assert_no_secret, english, make_hansa
from tests.conftest import World
from tests.factories import as_user
from tests.opportunities.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_rep_dk_is_told_who_works_the_hidden_group_and_nothing_else(world: World) -> None:
    hansa = make_hansa(world)
    shown, hidden = selectors.duplicate_candidates(
        user=world.rep_dk, name=NEW_NAME, country="DK", domain=DOMAIN
    )
    assert shown == []
    (match,) = hidden
    assert match.company == world.de.name
    assert (match.contact_name, match.contact_email) == (hansa.gam.full_name, hansa.gam.email)
    assert match.reason_text == "same web domain"
    assert match.message == (
        f"This customer exists — worked by {world.de.name}, contact {hansa.gam.full_name}."
    )
    assert match.token
    assert_no_secret(repr(match))


def test_without_a_gam_the_contact_is_a_country_manager_of_the_owning_company(
    world: World,
) -> None:
    hansa = make_hansa(world)
    AccountTeamMember.objects.for_org(world.org).filter(account=hansa.top).delete()
    _shown, (match,) = selectors.duplicate_candidates(
        user=world.rep_dk, name=NEW_NAME, domain=DOMAIN
    )
    assert (match.company, match.contact_email) == (world.de.name, world.manager_de.email)


def test_one_answer_per_group_and_none_for_a_group_the_user_sees(world: World) -> None:
    hansa = make_hansa(world)
    # Two hidden accounts of the same group match: one answer for the group.
    make_account(
        organization=world.org, home_company=world.de, name="Hansa Logistik Berlin GmbH",
        country="DE", parent=hansa.top, domain=DOMAIN,
    )  # fmt: skip
    _shown, hidden = selectors.duplicate_candidates(user=world.rep_dk, name="X", domain=DOMAIN)
    assert len(hidden) == 1
    # rep.se sees the Swedish subsidiary, so the group leads there, unnamed nowhere.
    shown, hidden = selectors.duplicate_candidates(
        user=world.rep_se, name="Hansa Logistik Sverige AB", country="SE", domain=DOMAIN
    )
    assert [c.account for c in shown] == [hansa.se] and hidden == []


def test_queries_stay_constant_whatever_the_number_of_hidden_groups(world: World) -> None:
    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            selectors.duplicate_candidates(user=world.rep_dk, name="Borg Shipping", country="DE")
        return len(ctx.captured_queries)

    make_account(organization=world.org, home_company=world.de, name="Borg Shipping", country="DE")
    few = count()
    for _ in range(5):
        make_account(
            organization=world.org, home_company=world.de, name="Borg Shipping", country="DE"
        )
    assert count() == few <= 5


def test_the_service_refuses_with_the_need_to_know_answers(world: World) -> None:
    make_hansa(world)
    with pytest.raises(services.DuplicateAccountError) as exc:
        services.account_create(
            organization=world.org, name=NEW_NAME, home_company=world.dk, country="DK",
            domain=DOMAIN, acting_user=world.rep_dk,
        )  # fmt: skip
    assert exc.value.candidates == [] and exc.value.hidden == 1
    assert exc.value.hidden_matches[0].company == world.de.name


def test_inline_create_page_tells_company_and_contact_while_typing_and_on_create(
    client: Client, world: World
) -> None:
    hansa = make_hansa(world)
    english(world.rep_dk)
    client.force_login(world.rep_dk)
    form = {"new_name": NEW_NAME, "new_country": "DK", "new_domain": DOMAIN}
    typing = client.get(reverse("accounts:duplicates"), form, HTTP_HX_REQUEST="true")
    html = typing.content.decode()
    assert typing.status_code == 200
    assert f"This customer exists — worked by {world.de.name}, contact {hansa.gam.full_name}." in (
        html
    )
    assert hansa.gam.email in html and "same web domain" in html
    assert_no_secret(html)
    created = client.post(reverse("accounts:inline_create"), form, HTTP_HX_REQUEST="true")
    html = created.content.decode()
    assert created.context["duplicate_warning"] is True
    assert "This customer exists — worked by" in html and hansa.gam.email in html
    assert_no_secret(html)


def test_the_api_duplicates_endpoint_and_create_answer_tell_the_same(world: World) -> None:
    hansa = make_hansa(world)
    api = as_user(world.rep_dk)
    listed = api.get(
        "/api/v1/accounts/duplicates/", {"name": NEW_NAME, "country": "DK", "domain": DOMAIN}
    )
    assert listed.status_code == 200
    body = listed.json()
    assert body["duplicates"] == []
    (match,) = body["hidden_matches"]
    assert set(match) == {"message", "company", "contact_name", "contact_email", "reason", "token"}
    assert match["company"] == world.de.name and match["contact_email"] == hansa.gam.email
    assert_no_secret(listed.content.decode())
    refused = api.post(
        "/api/v1/accounts/",
        {"name": NEW_NAME, "home_company": world.dk.pk, "country": "DK", "domain": DOMAIN},
        format="json",
    )
    assert refused.status_code == 400
    assert refused.json()["hidden_matches"][0]["contact_name"] == hansa.gam.full_name
    assert_no_secret(refused.content.decode())


def test_lead_conversion_tells_company_and_contact(world: World) -> None:
    hansa = make_hansa(world)
    lead = LeadFactory(
        organization=world.org, sales_company=world.dk, company_name=NEW_NAME, country="DK",
        domain=DOMAIN,
    )  # fmt: skip
    with pytest.raises(services.DuplicateAccountError) as exc:
        lead_convert(lead=lead, acting_user=hansa.manager_dk, owner=world.rep_dk)
    assert exc.value.hidden_matches[0].contact_email == hansa.gam.email
    english(hansa.manager_dk)
    client = Client()
    client.force_login(hansa.manager_dk)
    page = client.post(
        reverse("leads:lead_convert", args=[lead.pk]),
        {"account": "", "owner": world.rep_dk.pk, "opportunity_name": "First order"},
    )
    html = page.content.decode()
    assert page.status_code == 200
    assert f"worked by {world.de.name}, contact {hansa.gam.full_name}" in html
    assert_no_secret(html)
    api = as_user(hansa.manager_dk)
    answer = api.post(f"/api/v1/leads/{lead.pk}/convert/", {"owner": world.rep_dk.pk})
    assert answer.status_code == 400
    assert answer.json()["hidden_matches"][0]["company"] == world.de.name
    assert_no_secret(answer.content.decode())
