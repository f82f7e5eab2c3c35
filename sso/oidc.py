"""The OpenID Connect relying party, per organization: discovery, the authorization request,
the code exchange and the ID token's validation.

authlib speaks the protocol (authorization URL with PKCE, the token request with the client's
authentication); joserfc (authlib's JOSE library) checks the ID token's signature against the
issuer's published keys. What is checked, and against what, is written out here so that it can
be read in one place: the token must come from *this organization's* issuer, for *its* client
id, with the nonce of *this* browser's sign-in.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

import requests
from authlib.integrations.requests_client import OAuth2Session
from django.conf import settings
from django.core.cache import cache
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

# Asymmetric algorithms only: "none" and the HMAC family (keyed with the client secret, which
# this side shares with the provider) are never accepted for an ID token.
ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"]
_JWKS_CACHE_SECONDS = 600
_REQUIRED_METADATA = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")


class OidcError(Exception):
    """A sign-in or a discovery that must be refused; the message is for the log and the
    administrator, never a token's content."""


@dataclass(frozen=True)
class ProviderConfig:
    issuer: str
    client_id: str
    client_secret: str
    scopes: str
    metadata: dict[str, Any]


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _get_json(url: str) -> dict[str, Any]:
    try:
        response = requests.get(
            url, timeout=settings.SSO_HTTP_TIMEOUT_SECONDS, allow_redirects=False
        )
    except requests.RequestException as exc:
        raise OidcError(f"{url} cannot be reached ({type(exc).__name__}).") from exc
    if response.status_code != 200:
        raise OidcError(f"{url} answered HTTP {response.status_code}.")
    try:
        data = response.json()
    except ValueError as exc:
        raise OidcError(f"{url} did not answer JSON.") from exc
    if not isinstance(data, dict):
        raise OidcError(f"{url} did not answer a JSON object.")
    return data


def discover(issuer: str) -> dict[str, Any]:
    """The issuer's discovery document, checked to be the issuer's own (its ``issuer`` is the
    configured one exactly, as OpenID Connect Discovery 1.0 section 4.3 requires)."""
    metadata = _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
    missing = [key for key in _REQUIRED_METADATA if not isinstance(metadata.get(key), str)]
    if missing:
        raise OidcError(f"The discovery document lacks {', '.join(missing)}.")
    if metadata["issuer"] != issuer:
        raise OidcError(
            f"The discovery document names the issuer {metadata['issuer']!r}, not {issuer!r}."
        )
    return {
        key: metadata[key]
        for key in (*_REQUIRED_METADATA, "token_endpoint_auth_methods_supported")
        if key in metadata
    }


def _session(config: ProviderConfig, redirect_uri: str) -> OAuth2Session:
    methods = config.metadata.get("token_endpoint_auth_methods_supported") or []
    # client_secret_basic is the default of the specification; post only if that is all it has.
    method = "client_secret_post" if methods == ["client_secret_post"] else "client_secret_basic"
    return OAuth2Session(
        client_id=config.client_id,
        client_secret=config.client_secret,
        token_endpoint_auth_method=method,
        scope=config.scopes,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        default_timeout=settings.SSO_HTTP_TIMEOUT_SECONDS,
    )


def authorization_url(
    config: ProviderConfig, *, redirect_uri: str, state: str, nonce: str, code_verifier: str
) -> str:
    url, _state = _session(config, redirect_uri).create_authorization_url(
        config.metadata["authorization_endpoint"],
        state=state,
        nonce=nonce,
        code_verifier=code_verifier,
    )
    return cast(str, url)


def exchange_code(
    config: ProviderConfig, *, code: str, redirect_uri: str, code_verifier: str
) -> str:
    """The ID token the provider issues for ``code`` (at this organization's token endpoint,
    with this organization's client credentials)."""
    try:
        token = _session(config, redirect_uri).fetch_token(
            config.metadata["token_endpoint"],
            grant_type="authorization_code",
            code=code,
            code_verifier=code_verifier,
        )
    except Exception as exc:  # authlib raises its OAuthError, requests its own: all refuse
        raise OidcError(f"The token endpoint refused the code ({type(exc).__name__}).") from exc
    id_token = token.get("id_token") if isinstance(token, dict) else None
    if not isinstance(id_token, str):
        raise OidcError("The token endpoint answered no ID token.")
    return id_token


def _keys(jwks_uri: str, *, refresh: bool = False) -> KeySet:
    cache_key = f"sso:jwks:{jwks_uri}"
    data: dict[str, Any] | None = None if refresh else cache.get(cache_key)
    if data is None:
        data = _get_json(jwks_uri)
        cache.set(cache_key, data, _JWKS_CACHE_SECONDS)
    try:
        # A JSON object from the network; joserfc checks its shape and refuses a bad one.
        return KeySet.import_key_set(cast(Any, data))
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise OidcError("The issuer's key set cannot be read.") from exc


def _decode(id_token: str, jwks_uri: str) -> jwt.Token:
    last: Exception | None = None
    # A key the cached set does not know may be a rotation: fetch the keys once more.
    for refresh in (False, True):
        try:
            return jwt.decode(id_token, _keys(jwks_uri, refresh=refresh), ID_TOKEN_ALGORITHMS)
        except (JoseError, ValueError) as exc:
            last = exc
    raise OidcError(f"The ID token's signature does not verify ({type(last).__name__}).")


def validate_id_token(
    config: ProviderConfig, id_token: str, *, nonce: str, now: int | None = None
) -> dict[str, Any]:
    """The ID token's claims, after OpenID Connect Core 1.0 section 3.1.3.7: signature by the
    issuer's keys, ``iss`` the organization's issuer, ``aud`` its client id (and ``azp`` when
    there are several audiences), ``exp`` / ``iat`` in time, ``nonce`` this sign-in's."""
    token = _decode(id_token, config.metadata["jwks_uri"])
    claims = dict(token.claims)
    registry = jwt.JWTClaimsRegistry(
        now=now if now is not None else int(time.time()),
        leeway=settings.SSO_CLOCK_LEEWAY_SECONDS,
        exp={"essential": True},
        iat={"essential": True},
        sub={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise OidcError(f"The ID token's claims are refused ({exc.error}).") from exc
    if claims.get("iss") != config.issuer:
        raise OidcError("The ID token was issued by another issuer.")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if config.client_id not in audiences:
        raise OidcError("The ID token is for another client.")
    if len(audiences) > 1 and claims.get("azp") != config.client_id:
        raise OidcError("The ID token's authorized party is another client.")
    token_nonce = claims.get("nonce")
    if not isinstance(token_nonce, str) or not hmac.compare_digest(token_nonce, nonce):
        raise OidcError("The ID token's nonce is not this sign-in's.")
    return claims
