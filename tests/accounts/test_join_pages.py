"""The join-request pages and API: ask from a hidden match (inline create, account page, API),
decide on the "Join requests" page with a confirmation step, and outsiders get 404."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts import selectors, services
from accounts.models import Account, GroupJoinRequest, JoinStatus
from accounts.tokens import join_token
from meridian.navigation import navigation_for
from tests.accounts.hansa import (
    DOMAIN,
    NEW_NAME,
    Hansa,
    assert_no_secret,
    english,
    make_hansa,
)
from tests.conftest import World
from tests.factories import as_user

pytestmark = pytest.mark.django_db

INLINE = {"new_name": NEW_NAME, "new_country": "DK", "new_domain": DOMAIN}


@pytest.fixture
def hansa(world: World) -> Hansa:
    made = make_hansa(world)
    english(world.rep_dk, made.gam, made.manager_dk, world.manager_de)
    return made


def _client(user: object) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _token(user: object) -> str:
    _shown, (match,) = selectors.duplicate_candidates(user=user, name=NEW_NAME, domain=DOMAIN)
    return match.token


def _danish(world: World) -> Account:
    return services.account_create(
        organization=world.org, name=NEW_NAME, home_company=world.dk, country="DK",
        domain=DOMAIN, acting_user=world.rep_dk, allow_duplicate=True,
    )  # fmt: skip


def test_inline_create_offers_to_join_and_creates_the_account_with_the_request(
    world: World, hansa: Hansa
) -> None:
    client = _client(world.rep_dk)
    refused = client.post(reverse("accounts:inline_create"), INLINE, HTTP_HX_REQUEST="true")
    html = refused.content.decode()
    assert "Ask to join this group" in html and 'name="join_token"' in html
    assert_no_secret(html)
    asked = client.post(
        reverse("accounts:join_inline"),
        {**INLINE, "join_token": f"1:{_token(world.rep_dk)}", "join_reason_1": "Same buyer"},
        HTTP_HX_REQUEST="true",
    )
    html = asked.content.decode()
    assert asked["HX-Trigger"] == "accountChosen"
    assert f"Account “{NEW_NAME}” created and chosen." in html
    assert f"Your request to join the group worked by {world.de.name} is sent." in html
    assert_no_secret(html)
    request = GroupJoinRequest.objects.for_org(world.org).get()
    assert (request.account.name, request.group, request.reason) == (
        NEW_NAME, hansa.top, "Same buyer",
    )  # fmt: skip


def test_a_bad_token_inline_creates_nothing_and_says_why(world: World, hansa: Hansa) -> None:
    client = _client(world.rep_dk)
    asked = client.post(
        reverse("accounts:join_inline"),
        {**INLINE, "join_token": "1:forged"},
        HTTP_HX_REQUEST="true",
    )
    assert "This join request link is not valid" in asked.content.decode()
    assert not Account.objects.for_org(world.org).filter(name=NEW_NAME).exists()


def test_the_account_page_offers_to_join_and_refuses_bad_tokens_clearly(
    world: World, hansa: Hansa
) -> None:
    danish = _danish(world)
    client = _client(world.rep_dk)
    page = client.get(reverse("accounts:detail", args=[danish.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert f"This customer exists — worked by {world.de.name}, contact {hansa.gam.full_name}." in (
        html
    )
    assert "Ask to join this group" in html
    assert_no_secret(html)
    url = reverse("accounts:join_request_create", args=[danish.pk])
    forged = client.post(url, {"token": _token(world.rep_dk)[:-2] + "xx"})
    assert forged.status_code == 400 and "not valid" in forged.content.decode()
    theirs = join_token(organization_id=world.org.pk, user_id=world.rep_se.pk, group_id=1)
    copied = client.post(url, {"token": theirs})
    assert copied.status_code == 403 and "made for someone else" in copied.content.decode()
    asked = client.post(url, {"token": _token(world.rep_dk), "reason": "Same buyer"})
    assert asked.status_code == 302
    again = client.post(url, {"token": _token(world.rep_dk)})
    assert again.status_code == 400 and "already waiting" in again.content.decode()
    page = client.get(reverse("accounts:detail", args=[danish.pk]))
    assert "is waiting for a decision" in page.content.decode()
    # Another organization's user: the account is missing.
    assert _client(world.stranger).post(url, {"token": "x"}).status_code == 404


def test_gam_approves_on_the_join_requests_page_after_confirming(
    world: World, hansa: Hansa, django_assert_max_num_queries
) -> None:
    danish = _danish(world)
    _client(world.rep_dk).post(
        reverse("accounts:join_request_create", args=[danish.pk]), {"token": _token(world.rep_dk)}
    )
    request = GroupJoinRequest.objects.for_org(world.org).get()
    gam = _client(hansa.gam)
    page = gam.get(reverse("accounts:join_requests"))
    html = page.content.decode()
    assert NEW_NAME in html and "Approve" in html
    approve = reverse("accounts:join_request_decide", args=[request.pk, "approve"])
    confirm = gam.post(approve)
    assert confirm.status_code == 200 and 'name="confirm"' in confirm.content.decode()
    danish.refresh_from_db()
    assert danish.parent_id is None  # nothing happens before the confirmation
    done = gam.post(approve, {"confirm": "1"})
    assert done.status_code == 302
    danish.refresh_from_db()
    request.refresh_from_db()
    assert danish.group_id == hansa.top.pk and request.status == JoinStatus.APPROVED
    again = gam.post(approve, {"confirm": "1"})
    assert again.status_code == 400 and "already decided" in again.content.decode()


def test_deciding_is_refused_clearly_or_missing_for_others(world: World, hansa: Hansa) -> None:
    danish = _danish(world)
    _client(world.rep_dk).post(
        reverse("accounts:join_request_create", args=[danish.pk]), {"token": _token(world.rep_dk)}
    )
    request = GroupJoinRequest.objects.for_org(world.org).get()
    approve = reverse("accounts:join_request_decide", args=[request.pk, "approve"])
    # The group's home-company manager sees it, but may not link the Danish account.
    page = _client(world.manager_de).get(reverse("accounts:join_requests"))
    assert NEW_NAME in page.content.decode() and approve not in page.content.decode()
    refused = _client(world.manager_de).post(approve, {"confirm": "1"})
    assert refused.status_code == 403 and "global account manager" in refused.content.decode()
    for outsider in (world.rep_se, world.stranger):
        assert _client(outsider).post(approve, {"confirm": "1"}).status_code == 404
        listed = _client(outsider).get(reverse("accounts:join_requests"))
        assert NEW_NAME not in listed.content.decode()
    assert _client(world.rep_dk).post(approve.replace("approve", "frobnicate")).status_code == 404
    request.refresh_from_db()
    assert request.status == JoinStatus.PENDING


def test_the_list_page_runs_a_constant_number_of_queries(
    world: World, hansa: Hansa, django_assert_max_num_queries
) -> None:
    from tests.accounts.factories import make_account

    def ask(n: int) -> None:
        for i in range(n):
            account = make_account(
                organization=world.org, home_company=world.dk, name=f"Hansa DK {n}-{i}"
            )
            GroupJoinRequest.objects.create(
                organization=world.org, account=account, group=hansa.top,
                requested_by=world.rep_dk,
            )  # fmt: skip

    client = _client(hansa.manager_dk)
    ask(1)
    with django_assert_max_num_queries(20) as few:
        client.get(reverse("accounts:join_requests"))
    ask(8)
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(reverse("accounts:join_requests"))
    assert page.content.decode().count("Approve<span") == 9


def test_managers_and_the_director_have_the_page_in_their_menu(world: World) -> None:
    for user in (world.manager_se, world.regional, world.director):
        assert "accounts:join_requests" in {link.name for link in navigation_for(user)}


# --- API -----------------------------------------------------------------------------------------


def test_api_ask_list_and_decide(world: World, hansa: Hansa) -> None:
    danish = _danish(world)
    rep = as_user(world.rep_dk)
    token = rep.get("/api/v1/accounts/duplicates/", {"name": NEW_NAME, "domain": DOMAIN}).json()[
        "hidden_matches"
    ][0]["token"]
    bad = rep.post("/api/v1/join-requests/", {"account": danish.pk, "token": token + "x"})
    assert bad.status_code == 400 and "not valid" in str(bad.json())
    created = rep.post(
        "/api/v1/join-requests/", {"account": danish.pk, "token": token, "reason": "Same buyer"}
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["status"] == "pending" and body["group_company"] == world.de.name
    assert "group" not in body
    assert_no_secret(created.content.decode())
    twice = rep.post("/api/v1/join-requests/", {"account": danish.pk, "token": token})
    assert twice.status_code == 400 and "already waiting" in str(twice.json())
    pk = body["id"]
    # Someone else's token: 403 with the reason.
    other = as_user(hansa.manager_dk)
    copied = other.post("/api/v1/join-requests/", {"account": danish.pk, "token": token})
    assert copied.status_code == 403 and "made for someone else" in str(copied.json())
    # The rep may not approve her own request; the group's home manager neither.
    for user in (world.rep_dk, world.manager_de):
        refused = as_user(user).post(f"/api/v1/join-requests/{pk}/approve/")
        assert refused.status_code == 403 and "global account manager" in str(refused.json())
    assert as_user(world.rep_se).post(f"/api/v1/join-requests/{pk}/approve/").status_code == 404
    assert as_user(world.stranger).get(f"/api/v1/join-requests/{pk}/").status_code == 404
    listed = as_user(hansa.gam).get("/api/v1/join-requests/", {"status": "pending"})
    assert [r["id"] for r in listed.json()["results"]] == [pk]
    approved = as_user(hansa.manager_dk).post(f"/api/v1/join-requests/{pk}/approve/")
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    danish.refresh_from_db()
    assert danish.group_id == hansa.top.pk
