"""Kernel pages: the user's profile and notifications, error pages, and the global admin's
set-up of sales companies, users and exchange rates. Home and search, which join the apps, are
the shell's (meridian.views): the kernel imports no app built on it (ARCHITECTURE.md).

Views stay thin: forms validate, ``crm.services`` write, visibility-backed querysets read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from crm import services
from crm.decorators import admin_required
from crm.directory import email_in_use
from crm.forms import (
    ApiTokenForm,
    ExchangeRateForm,
    ProfileForm,
    SalesCompanyForm,
    UserForm,
    apply_validation_error,
)
from crm.http import AuthenticatedHttpRequest
from crm.models import ExchangeRate, SalesCompany, User
from crm.notifications import ALL, mark_read
from crm.selectors import (
    access_api_token_by_id,
    access_notification_by_id,
    access_sales_company_by_id,
    access_user_by_id,
    notification_list,
    own_api_tokens,
)
from crm.validators import validate_app_path

View = Callable[..., HttpResponse]

SETUP_PAGE_SIZE = 50
NOTIFICATION_PAGE_SIZE = 25


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(request, "404.html", status=404)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(request, "403.html", status=403)


# --- Profile -----------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    form = ProfileForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        form.save()
        # The middleware activated the old language for this request; the next one uses the new.
        messages.success(request, _("Your preferences are saved."))
        return redirect("profile")
    return _render_profile(request, form=form)


def _render_profile(
    request: AuthenticatedHttpRequest,
    *,
    form: Any = None,
    token_form: Any = None,
    new_key: str = "",
    status: int = 200,
) -> HttpResponse:
    user = request.user
    return render(
        request,
        "crm/profile.html",
        {
            "form": form or ProfileForm(user=user),
            "profile_user": user,
            "tokens": own_api_tokens(user=user),
            "token_form": token_form or ApiTokenForm(),
            "new_key": new_key,
        },
        status=status,
    )


@login_required
@require_http_methods(["POST"])
def profile_token_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Issue a named token and show its key on this one answer (no redirect: the key must not
    travel through the session or a message to be shown again)."""
    token_form = ApiTokenForm(request.POST)
    if not token_form.is_valid():
        return _render_profile(request, token_form=token_form, status=400)
    token, key = services.api_token_issue(user=request.user, name=token_form.cleaned_data["name"])
    messages.success(
        request,
        _("Token %(name)s is created. Copy its key now: it is not shown again.")
        % {"name": token.name},
    )
    response = _render_profile(request, new_key=key)
    # Never from a cache or the browser's history.
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def profile_token_revoke(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation, POST revokes. Only the user's own live tokens: anyone else's
    answers 404 like a missing one."""
    token = access_api_token_by_id(request.user, pk)
    if request.method == "POST":
        services.api_token_revoke(token=token, acting_user=request.user)
        messages.success(request, _("Token %(name)s is revoked.") % {"name": token.name})
        return redirect("profile")
    return render(request, "crm/token_revoke.html", {"token": token})


@login_required
@require_http_methods(["GET", "POST"])
def profile_password(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The user's own password. Saving it revokes the user's API tokens (crm/signals.py) and
    signs out other sessions; this one stays signed in."""
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        update_session_auth_hash(request, user)
        messages.success(
            request, _("Your password is changed. Your API tokens are revoked; create new ones.")
        )
        return redirect("profile")
    return render(request, "crm/password_change.html", {"form": form})


# --- Notifications ------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET"])
def notifications(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The user's own notifications, newest first, unread ones marked."""
    page = Paginator(notification_list(user=request.user), NOTIFICATION_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "crm/notifications.html", {"page": page})


@login_required
@require_http_methods(["POST"])
def notifications_read(request: AuthenticatedHttpRequest) -> HttpResponse:
    mark_read(user=request.user, ids=ALL)
    messages.success(request, _("All your notifications are marked as read."))
    return redirect("notifications")


@login_required
@require_http_methods(["POST"])
def notification_open(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Mark one of the user's notifications read and go where it points. Anyone else's is
    404 like a missing one (the answer tells nothing about whose it is)."""
    notification = access_notification_by_id(request.user, pk)
    mark_read(user=request.user, ids=[notification.pk])
    try:
        # Checked again on the way out: a row written around the service must not turn this
        # into an open redirect.
        validate_app_path(notification.url)
    except ValidationError:
        return redirect("notifications")
    return HttpResponseRedirect(notification.url)


# --- Set-up (global admin) ---------------------------------------------------------------------


@admin_required
def setup_index(request: AuthenticatedHttpRequest) -> HttpResponse:
    return render(request, "crm/setup/index.html")


@admin_required
def setup_companies(request: AuthenticatedHttpRequest) -> HttpResponse:
    companies = SalesCompany.objects.visible_to(request.user).select_related("region")
    return render(
        request,
        "crm/setup/companies.html",
        {"companies": companies.order_by("code")},
    )


@admin_required
@require_http_methods(["GET", "POST"])
def setup_company_edit(request: AuthenticatedHttpRequest, pk: int | None = None) -> HttpResponse:
    user = request.user
    company = access_sales_company_by_id(user, pk) if pk is not None else None
    initial = (
        {
            "code": company.code,
            "name": company.name,
            "region": company.region_id,
            "country": company.country,
            "currency": company.currency,
            "language": company.language,
            "timezone": company.timezone,
        }
        if company
        else {"timezone": "UTC", "language": "en"}
    )
    form = SalesCompanyForm(
        request.POST or None,
        initial=initial,
        organization_id=user.organization_id,
        editing=company is not None,
    )
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        code = data.pop("code")
        if (
            company is None
            and SalesCompany.objects.for_org(user.organization_id).filter(code=code).exists()
        ):
            # sales_company_ensure would update the existing one: creating must not overwrite.
            form.add_error("code", _("A sales company with this code exists already."))
        else:
            try:
                saved = services.sales_company_ensure(
                    organization=user.organization, code=code, acting_user=user, **data
                )
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                messages.success(request, _("%(name)s is saved.") % {"name": saved.name})
                return redirect("setup:companies")
    return render(request, "crm/setup/company_form.html", {"form": form, "company": company})


@admin_required
def setup_users(request: AuthenticatedHttpRequest) -> HttpResponse:
    users = (
        User.objects.visible_to(request.user)
        .select_related("sales_company", "region")
        .order_by("full_name", "pk")
    )
    page = Paginator(users, SETUP_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "crm/setup/users.html", {"page": page})


@admin_required
@require_http_methods(["GET", "POST"])
def setup_user_edit(request: AuthenticatedHttpRequest, pk: int | None = None) -> HttpResponse:
    acting: User = request.user
    person = access_user_by_id(acting, pk) if pk is not None else None
    initial = (
        {
            "email": person.email,
            "full_name": person.full_name,
            "role": person.role,
            "sales_company": person.sales_company_id,
            "region": person.region_id,
            "language": person.language,
            "timezone": person.timezone,
            "data_protection": person.data_protection,
        }
        if person
        else {}
    )
    form = UserForm(
        request.POST or None,
        initial=initial,
        organization_id=acting.organization_id,
        editing=person is not None,
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if person is None and email_in_use(data["email"].lower()):
            # Same answer whether the address is ours or another organization's: no hint.
            form.add_error("email", _("This e-mail address is already in use."))
        else:
            try:
                saved = _user_save(acting=acting, data=data, password=data.get("password") or "")
            except ValidationError as exc:
                apply_validation_error(form, exc)
            except PermissionDenied:
                form.add_error("email", _("This e-mail address is already in use."))
            else:
                messages.success(request, _("%(name)s is saved.") % {"name": saved.full_name})
                return redirect("setup:users")
    return render(request, "crm/setup/user_form.html", {"form": form, "person": person})


@transaction.atomic
def _user_save(*, acting: User, data: dict[str, Any], password: str) -> User:
    """user_ensure for role and placement, then the language and time zone preferences
    (which user_ensure does not take), in one transaction."""
    user = services.user_ensure(
        organization=acting.organization,
        email=data["email"],
        full_name=data["full_name"],
        role=data["role"],
        password=password,
        acting_user=acting,
        sales_company=data.get("sales_company"),
        region=data.get("region"),
    )
    user = services.user_set_preferences(
        user=user, language=data["language"], timezone=data["timezone"], acting_user=acting
    )
    return services.user_set_data_protection(
        user=user, enabled=bool(data.get("data_protection")), acting_user=acting
    )


@admin_required
@require_http_methods(["GET", "POST"])
def setup_rates(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    form = ExchangeRateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if form.cleaned_data["currency"] == user.organization.corporate_currency:
            form.add_error("currency", _("The corporate currency has no rate: it is 1 by design."))
        else:
            try:
                services.exchange_rate_set(
                    organization=user.organization, acting_user=user, **form.cleaned_data
                )
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                messages.success(request, _("The exchange rate is saved."))
                return redirect("setup:rates")
    rates = ExchangeRate.objects.visible_to(user)
    # The latest rate per currency in one query (PostgreSQL DISTINCT ON), then the history of
    # the chosen currency.
    latest = rates.order_by("currency", "-valid_from").distinct("currency")
    currency = request.GET.get("currency", "")
    history = rates.filter(currency=currency).order_by("-valid_from")[:60] if currency else []
    return render(
        request,
        "crm/setup/rates.html",
        {
            "form": form,
            "latest": latest,
            "currency": currency,
            "history": history,
            "corporate_currency": user.organization.corporate_currency,
        },
    )
