"""The ID token's checks, one by one, on real tokens of the loopback providers."""

from __future__ import annotations

import base64
import dataclasses
import json

import pytest

from sso import oidc
from tests.oidc_provider import CLIENT_SECRET, Idp

REDIRECT = "http://testserver/sso/callback/"
NONCE = "the-nonce-of-this-sign-in"


def config_for(idp: Idp, client_id: str = "meridian") -> oidc.ProviderConfig:
    return oidc.ProviderConfig(
        issuer=idp.issuer,
        client_id=client_id,
        client_secret=CLIENT_SECRET,
        scopes="openid email profile",
        metadata=oidc.discover(idp.issuer),
    )


def id_token_of(idp: Idp, sub: str = "tess") -> str:
    config = config_for(idp)
    url = oidc.authorization_url(
        config, redirect_uri=REDIRECT, state="st", nonce=NONCE, code_verifier="v" * 64
    )
    callback = idp.authorize(url, sub)
    code = callback.split("code=")[1].split("&")[0]
    return oidc.exchange_code(config, code=code, redirect_uri=REDIRECT, code_verifier="v" * 64)


def claims_of(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.fixture(autouse=True)
def _cache(db: None) -> None:  # the key set is cached in Django's cache (the database one)
    return None


def test_a_genuine_token_validates(idp_a: Idp) -> None:
    claims = oidc.validate_id_token(config_for(idp_a), id_token_of(idp_a), nonce=NONCE)
    assert (claims["iss"], claims["aud"], claims["sub"]) == (idp_a.issuer, ["meridian"], "tess")


def test_a_token_of_another_issuer_is_refused(idp_a: Idp, idp_b: Idp) -> None:
    # B's keys do not verify A's signature; with A's keys, the issuer is still not B's.
    with pytest.raises(oidc.OidcError, match="signature"):
        oidc.validate_id_token(config_for(idp_b), id_token_of(idp_a), nonce=NONCE)
    b_with_a_keys = dataclasses.replace(
        config_for(idp_b), metadata={**config_for(idp_b).metadata,
                                     "jwks_uri": config_for(idp_a).metadata["jwks_uri"]},
    )  # fmt: skip
    with pytest.raises(oidc.OidcError, match="another issuer"):
        oidc.validate_id_token(b_with_a_keys, id_token_of(idp_a), nonce=NONCE)


def test_a_token_for_another_client_is_refused(idp_a: Idp) -> None:
    with pytest.raises(oidc.OidcError, match="another client"):
        oidc.validate_id_token(
            config_for(idp_a, client_id="someone-else"), id_token_of(idp_a), nonce=NONCE
        )


def test_a_bad_signature_is_refused(idp_a: Idp) -> None:
    header, payload, signature = id_token_of(idp_a).split(".")
    # Same header and signature, claims changed (another subject): the signature no longer fits.
    claims = claims_of(f"{header}.{payload}.{signature}") | {"sub": "admin"}
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(oidc.OidcError, match="signature"):
        oidc.validate_id_token(config_for(idp_a), f"{header}.{forged}.{signature}", nonce=NONCE)
    # And an unsigned token ("alg": "none") is never accepted.
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    with pytest.raises(oidc.OidcError, match="signature"):
        oidc.validate_id_token(config_for(idp_a), f"{none_header}.{payload}.", nonce=NONCE)


def test_a_wrong_nonce_is_refused(idp_a: Idp) -> None:
    with pytest.raises(oidc.OidcError, match="nonce"):
        oidc.validate_id_token(config_for(idp_a), id_token_of(idp_a), nonce="another")


def test_an_expired_token_is_refused(idp_a: Idp) -> None:
    token = id_token_of(idp_a)
    exp = claims_of(token)["exp"]
    assert isinstance(exp, int)
    # Valid at its expiry, refused once the leeway (60 s) is over.
    oidc.validate_id_token(config_for(idp_a), token, nonce=NONCE, now=exp)
    with pytest.raises(oidc.OidcError, match="expired"):
        oidc.validate_id_token(config_for(idp_a), token, nonce=NONCE, now=exp + 61)


def test_discovery_refuses_what_is_not_the_issuers_document(idp_a: Idp) -> None:
    with pytest.raises(oidc.OidcError, match="names the issuer"):
        # The issuer must be written exactly as the provider names itself.
        oidc.discover(idp_a.issuer + "/")
    with pytest.raises(oidc.OidcError, match="cannot be reached"):
        oidc.discover("http://127.0.0.1:9/")
