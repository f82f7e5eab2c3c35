"""The global admin's single sign-on set-up: only theirs, the secret never shown back, the
issuer's discovery checked on save."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import translation
from django.utils.translation import gettext

from crm.models import Organization
from crm.roles import Role
from crm.scope import org_scope
from sso import crypto
from sso.models import IdentityProvider
from tests.conftest import World
from tests.oidc_provider import CLIENT_SECRET, Idp, configure

pytestmark = pytest.mark.django_db
URL = "/setup/sso/"


def form_data(idp: Idp, **over: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "Nordvik ID",
        "issuer": idp.issuer,
        "client_id": "meridian",
        "client_secret": CLIENT_SECRET,
        "scopes": "openid email profile",
        "email_claim": "email",
        "name_claim": "name",
        "groups_claim": "groups",
        "role_map_text": "crm-managers = country_manager\ncrm-admins = global_admin",
        "company_map_text": "denmark = DK",
        "default_role": Role.SALES_REP,
        "default_company": "",
        "jit_create": "on",
        "enabled": "on",
        "password_login": "on",
    }
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


def provider_of(org: Organization) -> IdentityProvider | None:
    with org_scope(org.pk):
        return IdentityProvider.objects.for_org(org).first()


def test_anonymous_is_sent_to_sign_in(client: Client, world: World) -> None:
    answer = client.get(URL)
    assert answer.status_code == 302
    assert answer["Location"].startswith("/login/")


@pytest.mark.parametrize("who", ["director", "manager_se", "rep_se", "marketing"])
def test_anyone_but_the_global_admin_gets_404(client: Client, world: World, who: str) -> None:
    client.force_login(getattr(world, who))
    assert client.get(URL).status_code == 404
    assert client.post(URL, {"name": "x"}).status_code == 404


def test_the_admin_saves_the_provider_with_an_encrypted_secret_never_shown_back(
    client: Client, world: World, idp_a: Idp
) -> None:
    client.force_login(world.admin)
    answer = client.post(URL, form_data(idp_a, password_login=None))
    assert answer.status_code == 302, answer.context["form"].errors
    provider = provider_of(world.org)
    assert provider is not None
    assert CLIENT_SECRET not in provider.client_secret_encrypted
    assert crypto.decrypt(provider.client_secret_encrypted) == CLIENT_SECRET
    assert provider.role_map == [
        ["crm-managers", "country_manager"],
        ["crm-admins", "global_admin"],
    ]
    assert provider.company_map == [["denmark", "DK"]]
    assert provider.metadata["jwks_uri"].startswith(idp_a.issuer)
    world.org.refresh_from_db()
    assert world.org.password_login is False
    page = client.get(URL).content.decode()
    assert idp_a.issuer in page
    assert CLIENT_SECRET not in page
    assert provider.client_secret_encrypted not in page
    # An empty secret field keeps the stored secret.
    stored = provider.client_secret_encrypted
    assert client.post(URL, form_data(idp_a, client_secret="", name="Renamed")).status_code == 302
    provider = provider_of(world.org)
    assert provider is not None
    assert (provider.name, provider.client_secret_encrypted) == ("Renamed", stored)


def test_another_organizations_admin_sees_and_changes_only_their_own(
    client: Client, world: World, idp_a: Idp, idp_b: Idp
) -> None:
    configure(world.org, idp_a)
    tellus_admin = world.stranger
    tellus_admin.role = Role.GLOBAL_ADMIN
    tellus_admin.sales_company = None
    with org_scope(world.other_org.pk):
        tellus_admin.save()
    client.force_login(tellus_admin)
    page = client.get(URL).content.decode()
    assert idp_a.issuer not in page
    assert client.post(URL, form_data(idp_b, company_map_text="")).status_code == 302
    nordvik, tellus = provider_of(world.org), provider_of(world.other_org)
    assert nordvik is not None and tellus is not None
    assert (nordvik.issuer, tellus.issuer) == (idp_a.issuer, idp_b.issuer)


def test_bad_input_is_explained_on_the_form_and_nothing_is_saved(
    client: Client, world: World, idp_a: Idp
) -> None:
    client.force_login(world.admin)
    cases = {
        "issuer": form_data(idp_a, issuer="http://127.0.0.1:9/"),  # nothing listens there
        "client_secret": form_data(idp_a, client_secret=""),  # a new provider needs one
        "role_map_text": form_data(idp_a, role_map_text="admins = emperor"),
        "company_map_text": form_data(idp_a, company_map_text="tellus = XX"),
        "password_login": form_data(idp_a, enabled=None, password_login=None),
    }
    for field, data in cases.items():
        answer = client.post(URL, data)
        assert answer.status_code == 200, field
        assert field in answer.context["form"].errors, (field, answer.context["form"].errors)
    assert provider_of(world.org) is None
    world.org.refresh_from_db()
    assert world.org.password_login is True


def test_a_plain_http_issuer_elsewhere_than_loopback_is_refused(
    client: Client, world: World, idp_a: Idp
) -> None:
    client.force_login(world.admin)
    answer = client.post(URL, form_data(idp_a, issuer="http://idp.nordvik.example"))
    with translation.override(answer.wsgi_request.LANGUAGE_CODE):
        expected = gettext("The issuer must be an https:// address.")
    assert answer.context["form"].errors["issuer"] == [expected]
    assert provider_of(world.org) is None
