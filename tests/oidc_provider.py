"""A real OpenID Connect provider on loopback (oidc-provider-mock: Flask + authlib, RSA-signed
ID tokens, discovery and JWKS), started in a thread; two of them, with their own keys, stand for
two organizations' identity providers. A pytest plugin (``pytest_plugins`` in tests/conftest.py),
so the SSO tests and the browser test share it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import oidc_provider_mock
import pytest
import requests
from django.test import Client

from crm.models import Organization, SalesCompany
from crm.roles import Role
from crm.scope import org_scope
from sso import crypto, oidc
from sso.models import IdentityProvider

CLIENT_SECRET = "s3cret-of-the-client"


@dataclass(frozen=True)
class Idp:
    issuer: str

    def set_user(self, sub: str, **claims: Any) -> None:
        answer = requests.put(f"{self.issuer}/users/{quote(sub, safe='')}", json=claims, timeout=5)
        assert answer.status_code == 204, answer.text

    def authorize(self, authorization_url: str, sub: str) -> str:
        """What a person does at the provider's page: sign in as ``sub``. Returns the URL the
        provider sends the browser back to (the callback, with code and state)."""
        answer = requests.post(
            authorization_url, data={"sub": sub}, allow_redirects=False, timeout=5
        )
        assert answer.status_code == 302, answer.text
        return answer.headers["Location"]


def _serve(**options: Any) -> Iterator[Idp]:
    with oidc_provider_mock.run_server_in_thread(**options) as server:
        yield Idp(issuer=f"http://localhost:{server.server_port}")


@pytest.fixture(scope="session")
def idp_a() -> Iterator[Idp]:
    yield from _serve(require_nonce=True)


@pytest.fixture(scope="session")
def idp_b() -> Iterator[Idp]:
    yield from _serve(require_nonce=True)


@pytest.fixture(scope="session")
def idp_expired() -> Iterator[Idp]:
    # Issues ID tokens that expired ten minutes before they were issued (beyond any leeway).
    yield from _serve(access_token_max_age=timedelta(minutes=-10))


def configure(
    org: Organization,
    idp: Idp,
    *,
    client_id: str = "meridian",
    default_company: SalesCompany | None = None,
    role_map: list[list[str]] | None = None,
    company_map: list[list[str]] | None = None,
    jit_create: bool = True,
    name: str = "Nordvik ID",
) -> IdentityProvider:
    """The organization's provider as the set-up page saves it (discovery fetched for real)."""
    with org_scope(org.pk):
        return IdentityProvider.objects.create(
            organization=org,
            name=name,
            issuer=idp.issuer,
            client_id=client_id,
            client_secret_encrypted=crypto.encrypt(CLIENT_SECRET),
            role_map=role_map or [],
            company_map=company_map or [],
            default_role=Role.SALES_REP,
            default_company=default_company,
            jit_create=jit_create,
            metadata=oidc.discover(idp.issuer),
        )


def start(client: Client, slug: str) -> str:
    """Click "Sign in with …": Meridian's redirect to the provider (its authorization URL)."""
    answer = client.get(f"/sso/{slug}/login/")
    assert answer.status_code == 302, answer.content
    return answer["Location"]


def callback_path(url: str) -> str:
    parts = urlsplit(url)
    assert parts.path == "/sso/callback/", url
    return f"{parts.path}?{parts.query}"


def sign_in(client: Client, slug: str, idp: Idp, sub: str) -> Any:
    """The whole round trip for ``client``: start, sign in at the provider, come back."""
    return client.get(callback_path(idp.authorize(start(client, slug), sub)))
