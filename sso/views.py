"""Single sign-on pages: the organization's sign-in page, the redirect to its provider, the
callback, and the global admin's set-up."""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from crm.forms import apply_validation_error
from crm.http import AuthenticatedHttpRequest
from sso import oidc, selectors, services
from sso.crypto import SecretUnreadable
from sso.forms import IdentityProviderForm

logger = logging.getLogger(__name__)

# The session's pending sign-ins, by state: {state: {org, nonce, verifier, next, at}}.
FLOWS_KEY = "sso_flows"
FLOW_MAX_AGE_SECONDS = 600
MAX_PENDING_FLOWS = 5
BACKEND = "crm.identity.OrgModelBackend"


def _safe_next(request: HttpRequest, value: str | None) -> str:
    if value and url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return reverse("home")


@require_GET
def sso_start(request: HttpRequest) -> HttpResponse:
    """The sign-in page's "organization" field: on to that organization's sign-in page."""
    slug = slugify(request.GET.get("organization", ""))
    if not slug:
        messages.error(request, _("Enter your organization's short name."))
        return redirect("login")
    return redirect("sso:organization", slug=slug)


@require_GET
def sso_organization(request: HttpRequest, slug: str) -> HttpResponse:
    provider = selectors.enabled_provider_by_slug(slug)
    return render(
        request,
        "sso/organization.html",
        {"provider": provider, "next": _safe_next(request, request.GET.get("next"))},
    )


def _failed(request: HttpRequest, message: str, *, status: int = 400) -> HttpResponse:
    return render(request, "sso/failed.html", {"message": message}, status=status)


@require_GET
def sso_login(request: HttpRequest, slug: str) -> HttpResponse:
    provider = selectors.enabled_provider_by_slug(slug)
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    now = int(time.time())
    flows: dict[str, Any] = {
        key: flow
        for key, flow in request.session.get(FLOWS_KEY, {}).items()
        if now - flow["at"] < FLOW_MAX_AGE_SECONDS
    }
    flows[state] = {
        "org": provider.organization_id,
        "nonce": nonce,
        "verifier": verifier,
        "next": _safe_next(request, request.GET.get("next")),
        "at": now,
    }
    # A few tabs may sign in at once; more pending sign-ins than that are abandoned ones.
    request.session[FLOWS_KEY] = dict(
        sorted(flows.items(), key=lambda kv: kv[1]["at"])[-MAX_PENDING_FLOWS:]
    )
    try:
        url = oidc.authorization_url(
            services.provider_config(provider),
            redirect_uri=request.build_absolute_uri(reverse("sso:callback")),
            state=state,
            nonce=nonce,
            code_verifier=verifier,
        )
    except SecretUnreadable:
        logger.error("SSO of organization %s: the client secret cannot be decrypted", slug)
        return _failed(
            request, _("Single sign-on is not set up correctly: ask your administrator.")
        )
    return redirect(url)


@require_GET
def sso_callback(request: HttpRequest) -> HttpResponse:
    # The pending sign-in is taken out of the session whatever happens next: one use only.
    flows: dict[str, Any] = request.session.get(FLOWS_KEY, {})
    state = request.GET.get("state", "")
    flow = flows.pop(state, None) if state else None
    request.session[FLOWS_KEY] = flows
    if flow is None or int(time.time()) - flow["at"] >= FLOW_MAX_AGE_SECONDS:
        logger.warning("SSO callback refused: unknown or expired state")
        return _failed(request, _("This sign-in was not started here or has expired: try again."))
    if "error" in request.GET or not request.GET.get("code"):
        return _failed(request, _("Your identity provider did not sign you in."))
    provider = selectors.enabled_provider_of_org(flow["org"])
    if provider is None:
        return _failed(request, _("Single sign-on is switched off for your organization."))
    try:
        config = services.provider_config(provider)
        id_token = oidc.exchange_code(
            config,
            code=request.GET["code"],
            redirect_uri=request.build_absolute_uri(reverse("sso:callback")),
            code_verifier=flow["verifier"],
        )
        claims = oidc.validate_id_token(config, id_token, nonce=flow["nonce"])
        user = services.sso_user_for_claims(provider=provider, claims=claims)
    except (oidc.OidcError, SecretUnreadable) as exc:
        logger.warning("SSO of organization %s refused: %s", flow["org"], exc)
        return _failed(request, _("The sign-in could not be verified: try again."))
    except services.SignInRefused as exc:
        return _failed(request, str(exc), status=403)
    auth_login(request, user, backend=BACKEND)
    return redirect(flow["next"])


@login_required
@require_http_methods(["GET", "POST"])
def setup_sso(request: AuthenticatedHttpRequest) -> HttpResponse:
    provider = selectors.identity_provider_for_admin(request.user)  # 404 for all but the admin
    org = request.user.organization
    form = IdentityProviderForm(
        request.POST or None,
        instance=provider,
        organization_id=org.pk,
        password_login=org.password_login,
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.identity_provider_save(
                organization=org,
                acting_user=request.user,
                client_secret=form.cleaned_data["client_secret"],
                password_login=form.cleaned_data["password_login"],
                **form.service_fields(),
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, _("Single sign-on is saved."))
            return redirect("setup:sso")
    return render(
        request,
        "sso/setup.html",
        {
            "form": form,
            "provider": provider,
            "organization": org,
            "callback_url": request.build_absolute_uri(reverse("sso:callback")),
        },
    )
