"""Sign-in through an organization's OpenID Connect provider, against real providers on
loopback: just-in-time users, and the walls between organizations."""

from __future__ import annotations

import pytest
from django.test import Client

from crm.models import Organization, User
from crm.roles import Role
from crm.scope import org_scope
from sso.models import SsoIdentity
from tests.conftest import World
from tests.oidc_provider import Idp, callback_path, configure, sign_in, start

pytestmark = pytest.mark.django_db


def signed_in_user_id(client: Client) -> int | None:
    value = client.session.get("_auth_user_id")
    return None if value is None else int(value)


def users_with(email: str) -> list[User]:
    # Every organization's, under row-level security: ask each one in its own scope.
    return [u for org_id in Organization.objects.values_list("pk", flat=True)
            for u in _scoped_users(org_id, email)]  # fmt: skip


def _scoped_users(org_id: int, email: str) -> list[User]:
    with org_scope(org_id):
        return list(User.objects.for_org(org_id).filter(email=email))


def test_first_sign_in_creates_the_user_with_the_mapped_role_and_company(
    world: World, idp_a: Idp
) -> None:
    configure(
        world.org, idp_a, default_company=world.se,
        role_map=[["crm-managers", Role.COUNTRY_MANAGER], ["crm-users", Role.SALES_REP]],
        company_map=[["denmark", "DK"]],
    )  # fmt: skip
    idp_a.set_user("alva-1", email="Alva.Berg@nordvik.example", name="Alva Berg",
                   groups=["crm-managers", "denmark"])  # fmt: skip
    client = Client()
    answer = sign_in(client, world.org.slug, idp_a, "alva-1")
    assert answer.status_code == 302
    assert answer["Location"] == "/"
    with org_scope(world.org.pk):
        user = User.objects.for_org(world.org).get(email="alva.berg@nordvik.example")
        assert SsoIdentity.objects.for_org(world.org).get(subject="alva-1").user_id == user.pk
    assert (user.full_name, user.role, user.sales_company_id) == (
        "Alva Berg", Role.COUNTRY_MANAGER, world.dk.pk,
    )  # fmt: skip
    assert not user.has_usable_password()
    assert signed_in_user_id(client) == user.pk
    home = client.get("/")
    assert home.status_code == 200
    assert "Alva Berg" in home.content.decode()


def test_defaults_apply_without_matching_groups_and_the_subject_finds_the_user_again(
    world: World, idp_a: Idp
) -> None:
    configure(world.org, idp_a, default_company=world.de, role_map=[["admins", "global_admin"]])
    idp_a.set_user("bo-1", email="bo@nordvik.example", name="Bo", groups=["other"])
    assert sign_in(Client(), world.org.slug, idp_a, "bo-1").status_code == 302
    # The provider changes the address: the subject still finds the same user.
    idp_a.set_user("bo-1", email="bo.renamed@nordvik.example", name="Bo")
    client = Client()
    assert sign_in(client, world.org.slug, idp_a, "bo-1").status_code == 302
    with org_scope(world.org.pk):
        users = list(User.objects.for_org(world.org).filter(email__startswith="bo"))
    assert [(u.email, u.role, u.sales_company_id) for u in users] == [
        ("bo@nordvik.example", Role.SALES_REP, world.de.pk)
    ]
    assert signed_in_user_id(client) == users[0].pk


def test_an_existing_user_of_the_organization_is_signed_in_not_duplicated(
    world: World, idp_a: Idp
) -> None:
    configure(world.org, idp_a, jit_create=False)
    idp_a.set_user("rep-se", email=world.rep_se.email.upper(), name="Someone else")
    client = Client()
    assert sign_in(client, world.org.slug, idp_a, "rep-se").status_code == 302
    assert signed_in_user_id(client) == world.rep_se.pk
    assert len(users_with(world.rep_se.email)) == 1


def test_without_jit_an_unknown_person_is_refused(world: World, idp_a: Idp) -> None:
    configure(world.org, idp_a, jit_create=False)
    idp_a.set_user("nobody", email="nobody@nordvik.example")
    client = Client()
    answer = sign_in(client, world.org.slug, idp_a, "nobody")
    assert answer.status_code == 403
    assert signed_in_user_id(client) is None
    assert users_with("nobody@nordvik.example") == []


def test_an_address_of_another_organization_never_signs_in_as_its_user(
    world: World, idp_a: Idp
) -> None:
    # Nordvik's provider vouches for the address of Tellus's user.
    configure(world.org, idp_a, default_company=world.se)
    idp_a.set_user("impostor", email=world.stranger.email, name="Impostor")
    client = Client()
    answer = sign_in(client, world.org.slug, idp_a, "impostor")
    assert answer.status_code == 403
    assert signed_in_user_id(client) is None
    # Not signed in as Tellus's user, and no second user with the address in Nordvik.
    assert [u.organization_id for u in users_with(world.stranger.email)] == [world.other_org.pk]


def test_a_callback_of_organization_a_replayed_into_organization_bs_flow_is_refused(
    world: World, idp_a: Idp, idp_b: Idp, caplog: pytest.LogCaptureFixture
) -> None:
    configure(world.org, idp_a, default_company=world.se)
    configure(world.other_org, idp_b, default_company=world.other_company, name="Tellus ID")
    idp_a.set_user("eve", email="eve@nordvik.example")
    # A's provider answers a sign-in that started at A (in the attacker's browser).
    a_callback = idp_a.authorize(start(Client(), world.org.slug), "eve")
    a_code = a_callback.split("code=")[1].split("&")[0]
    # The victim's browser has started B's sign-in; A's code arrives with B's state.
    victim = Client()
    b_authorize = start(victim, world.other_org.slug)
    b_state = b_authorize.split("state=")[1].split("&")[0]
    answer = victim.get(f"/sso/callback/?code={a_code}&state={b_state}")
    assert answer.status_code == 400
    # B's token endpoint (with B's client) does not know A's code.
    assert "token endpoint refused the code" in caplog.text
    assert signed_in_user_id(victim) is None
    # And A's whole callback (its own state) in B's browser: a state this browser never made.
    victim2 = Client()
    start(victim2, world.other_org.slug)
    assert victim2.get(callback_path(a_callback)).status_code == 400
    assert signed_in_user_id(victim2) is None
    assert users_with("eve@nordvik.example") == []


def test_state_mismatch_missing_state_and_reuse_are_refused(world: World, idp_a: Idp) -> None:
    configure(world.org, idp_a, default_company=world.se)
    idp_a.set_user("sam", email="sam@nordvik.example")
    client = Client()
    callback = callback_path(idp_a.authorize(start(client, world.org.slug), "sam"))
    code = callback.split("code=")[1].split("&")[0]
    assert client.get(f"/sso/callback/?code={code}&state=not-mine").status_code == 400
    assert client.get(f"/sso/callback/?code={code}").status_code == 400
    assert signed_in_user_id(client) is None
    # The real state once: signed in; the same callback again (after signing out): refused.
    assert client.get(callback).status_code == 302
    assert signed_in_user_id(client) is not None
    client.post("/logout/")
    assert client.get(callback).status_code == 400
    assert signed_in_user_id(client) is None


def test_a_nonce_that_is_not_this_sign_ins_is_refused(
    world: World, idp_a: Idp, caplog: pytest.LogCaptureFixture
) -> None:
    configure(world.org, idp_a, default_company=world.se)
    idp_a.set_user("nina", email="nina@nordvik.example")
    client = Client()
    authorize = start(client, world.org.slug)
    # The provider puts the authorization request's nonce in the token; this browser's pending
    # sign-in remembers another one (as if the token had been minted for someone else's request).
    session = client.session
    flows = session["sso_flows"]
    for flow in flows.values():
        flow["nonce"] = "another-nonce"
    session["sso_flows"] = flows
    session.save()
    answer = client.get(callback_path(idp_a.authorize(authorize, "nina")))
    assert answer.status_code == 400
    assert "nonce is not this sign-in's" in caplog.text
    assert signed_in_user_id(client) is None
    assert users_with("nina@nordvik.example") == []


def test_an_expired_id_token_is_refused(
    world: World, idp_expired: Idp, caplog: pytest.LogCaptureFixture
) -> None:
    configure(world.org, idp_expired, default_company=world.se)
    idp_expired.set_user("old", email="old@nordvik.example")
    client = Client()
    answer = sign_in(client, world.org.slug, idp_expired, "old")
    assert answer.status_code == 400
    assert "claims are refused (expired_token)" in caplog.text
    assert signed_in_user_id(client) is None


def test_the_provider_denying_is_a_clear_refusal(world: World, idp_a: Idp) -> None:
    configure(world.org, idp_a, default_company=world.se)
    client = Client()
    answer = client.get(
        "/sso/callback/?error=access_denied&state="
        + start(client, world.org.slug).split("state=")[1].split("&")[0]
    )
    assert answer.status_code == 400
    assert signed_in_user_id(client) is None


def test_unknown_organization_and_one_without_sso_answer_404(world: World, idp_a: Idp) -> None:
    client = Client()
    assert client.get("/sso/no-such-org/").status_code == 404
    assert client.get(f"/sso/{world.org.slug}/").status_code == 404
    assert client.get(f"/sso/{world.org.slug}/login/").status_code == 404
    provider = configure(world.org, idp_a)
    assert client.get(f"/sso/{world.org.slug}/").status_code == 200
    provider.enabled = False
    with org_scope(world.org.pk):
        provider.save()
    assert client.get(f"/sso/{world.org.slug}/login/").status_code == 404


def test_next_stays_on_this_site(world: World, idp_a: Idp) -> None:
    configure(world.org, idp_a, default_company=world.se)
    idp_a.set_user("nils", email="nils@nordvik.example")
    for target, landing in [("https://evil.example/", "/"), ("/opportunities/", "/opportunities/")]:
        client = Client()
        authorize = client.get(f"/sso/{world.org.slug}/login/", {"next": target})["Location"]
        answer = client.get(callback_path(idp_a.authorize(authorize, "nils")))
        assert answer.status_code == 302
        assert answer["Location"] == landing


def test_a_deactivated_user_is_refused(world: World, idp_a: Idp) -> None:
    configure(world.org, idp_a)
    world.rep_dk.is_active = False
    with org_scope(world.org.pk):
        world.rep_dk.save()
    idp_a.set_user("dk", email=world.rep_dk.email)
    client = Client()
    assert sign_in(client, world.org.slug, idp_a, "dk").status_code == 403
    assert signed_in_user_id(client) is None


def test_the_sign_in_pages_short_name_field_leads_to_the_organizations_page(
    client: Client, world: World
) -> None:
    answer = client.get("/sso/", {"organization": " Nordvik-Test "})
    assert answer.status_code == 302
    assert answer["Location"] == f"/sso/{world.org.slug}/"
    assert client.get("/sso/", {"organization": ""})["Location"] == "/login/"
