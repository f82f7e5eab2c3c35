"""Contact pages: the list (search, filters, sort, archived ones apart), create, edit, archive
and restore (each confirmed), and merging two contacts of one account. The contact's own page,
which shows its deal roles, reads deals and lives above (``opportunities.contact_views``).
Thin: forms validate, services write and decide who may, selectors read."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from accounts import selectors, services
from accounts.forms import AccountSearchForm, ContactFilterForm, ContactForm, ContactMergeForm
from accounts.models import Contact
from crm.forms import apply_validation_error
from crm.http import AuthenticatedHttpRequest
from crm.ids import parse_id

PAGE_SIZE = 50
ACCOUNT_SUGGESTIONS = 10


@login_required
@require_GET
def contact_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    form = ContactFilterForm(request.GET or None, user=user)
    data: dict[str, Any] = form.cleaned_data if form.is_valid() else {}
    account = None
    if data.get("account"):
        # Named on the page as a chip; an invisible or foreign id is 404 like everywhere.
        account = selectors.access_account_by_id(user, data["account"])
    company = data.get("company")
    qs = selectors.contact_list(
        user=user,
        search=data.get("q") or "",
        account_id=account.pk if account else None,
        company_id=company.pk if company else None,
        archived=bool(data.get("archived")),
        sort=data.get("sort") or "name",
    )
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    without_account = params.copy()
    without_account.pop("account", None)
    return render(
        request,
        "accounts/contact_list.html",
        {
            "form": form,
            "page": page,
            "query": params.urlencode(),
            "account": account,
            "without_account": without_account.urlencode(),
            "archived": bool(data.get("archived")),
            "filtered": any(data.get(k) for k in ("q", "account", "company", "archived")),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def contact_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    """New contact at an account. Without ``?account=`` the page first finds the account (a
    prefix search over the visible ones, as on the account list)."""
    user = request.user
    pk = parse_id(request.GET.get("account"))
    if pk is None:
        search = AccountSearchForm(request.GET or None)
        q = search.cleaned_data.get("q", "") if search.is_valid() else ""
        found = list(selectors.account_list(user=user, search=q)[:ACCOUNT_SUGGESTIONS]) if q else []
        return render(
            request, "accounts/contact_pick_account.html", {"form": search, "found": found, "q": q}
        )
    account = selectors.access_account_by_id(user, pk)
    if not services.may_work_with_contacts(user, account):
        raise PermissionDenied(_("You may not add contacts here."))
    form = ContactForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            contact = services.contact_create(
                account=account, acting_user=user, **form.cleaned_data
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, _("The contact %(name)s is saved.") % {"name": contact})
            return redirect("accounts:contact", pk=contact.pk)
    return render(
        request,
        "accounts/contact_form.html",
        {"form": form, "account": account, "contact": None},
        status=400 if form.errors else 200,
    )


def _changeable(request: AuthenticatedHttpRequest, pk: int, message: str) -> Contact:
    contact = selectors.access_contact_by_id(request.user, pk)
    if not services.may_work_with_contacts(request.user, contact.account):
        raise PermissionDenied(message)
    return contact


@login_required
@require_http_methods(["GET", "POST"])
def contact_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    user = request.user
    contact = _changeable(request, pk, _("You may not change this contact."))
    initial = {name: getattr(contact, name) for name in ContactForm.FIELDS}
    form = ContactForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.contact_update(contact=contact, acting_user=user, **form.cleaned_data)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, _("The contact %(name)s is saved.") % {"name": contact})
            return redirect("accounts:contact", pk=contact.pk)
    return render(
        request,
        "accounts/contact_form.html",
        {"form": form, "account": contact.account, "contact": contact},
        status=400 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def contact_archive(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Archive (or, for an archived contact, restore) after a confirmation page."""
    user = request.user
    contact = _changeable(request, pk, _("You may not archive this contact."))
    restoring = contact.archived_at is not None
    if request.method == "POST":
        if restoring:
            services.contact_restore(contact=contact, acting_user=user)
            messages.success(request, _("The contact %(name)s is restored.") % {"name": contact})
        else:
            services.contact_archive(contact=contact, acting_user=user)
            messages.success(request, _("The contact %(name)s is archived.") % {"name": contact})
        return redirect("accounts:contact", pk=contact.pk)
    return render(
        request, "accounts/contact_archive.html", {"contact": contact, "restoring": restoring}
    )


def _shown(contact: Contact, name: str) -> str:
    """A field's value as the merge page shows it: choices by label, yes/no for a flag."""
    value = getattr(contact, name)
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if name == "language":
        return str(contact.get_language_display()) if value else ""
    return str(value)


@login_required
@require_http_methods(["GET", "POST"])
def contact_merge(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Merge another contact of the same account into this one: the page lists both sides'
    values, the user picks the surviving value per field and confirms."""
    user = request.user
    keep = _changeable(request, pk, _("You may not merge this contact."))
    candidates = list(
        Contact.objects.visible_to(user)
        .filter(account_id=keep.account_id)
        .exclude(pk=keep.pk)
        .order_by("full_name", "pk")[:50]
    )
    initial = {}
    chosen = parse_id(request.GET.get("other"))
    if chosen in {c.pk for c in candidates}:
        initial["other"] = chosen
    form = ContactMergeForm(request.POST or None, keep=keep, candidates=candidates, initial=initial)
    if request.method == "POST" and form.is_valid():
        remove = form.cleaned_data["other"]
        name = str(remove)
        try:
            services.contact_merge(
                keep=keep,
                remove=remove,
                acting_user=user,
                take_from_removed=form.take_from_removed(),
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(
                request,
                _("%(other)s is merged into %(name)s.") % {"other": name, "name": keep},
            )
            return redirect("accounts:contact", pk=keep.pk)
    return render(
        request,
        "accounts/contact_merge.html",
        {
            "keep": keep,
            "candidates": candidates,
            "form": form,
            "fields": [
                (form[f"take_{name}"], _shown(keep, name), [_shown(c, name) for c in candidates])
                for name in ContactForm.FIELDS
            ],
        },
        status=400 if form.errors else 200,
    )
