"""API token authentication. Kept apart from the viewset machinery: DRF imports its
authentication classes while its own views module is still loading."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from crm.directory import hash_token
from crm.identity import token_for_key_hash
from crm.models import ApiToken, User
from crm.scope import org_scope


class HashedTokenAuthentication(BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Invalid token header.")
        try:
            key = parts[1].decode()
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed("Invalid token header.") from exc
        # The organization is what the token tells us: found by crm.identity's look-up function
        # (RLS hides every token until its organization is in scope).
        token = token_for_key_hash(hash_token(key))
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("Invalid or inactive token."))
        now = timezone.now()
        # Rows are kept after revocation and expiry; the owner learns which of the two it was.
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed(
                _("This token has been revoked; request a new one at /api/v1/auth/token/.")
            )
        if token.is_expired:
            raise exceptions.AuthenticationFailed(
                _("This token has expired; request a new one at /api/v1/auth/token/.")
            )
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 300:
            with org_scope(token.organization_id):
                ApiToken.objects.for_org(token.organization_id).filter(pk=token.pk).update(
                    last_used_at=now
                )
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """Describes ``Authorization: Token <key>`` in the OpenAPI schema."""

    target_class = "crm.api_auth.HashedTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'Token from POST /api/v1/auth/token/, sent as "Token <key>".',
        }
