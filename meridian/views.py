"""The shell's pages that join the apps: home and the search across accounts, contacts and
opportunities. The shell sits above every app, so it imports their models directly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.db.models import Q, QuerySet
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts.models import Account, Contact
from accounts.normalize import normalize_name
from crm.forms import SearchForm
from crm.http import AuthenticatedHttpRequest
from crm.models import User
from crm.selectors import home_summary
from opportunities.models import Opportunity

SEARCH_PAGE_SIZE = 10


@login_required
def home(request: AuthenticatedHttpRequest) -> HttpResponse:
    return render(request, "crm/home.html", {"summary": home_summary(user=request.user)})


# --- Search ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchSection:
    key: str
    title: str
    page: Page[Any]
    rows: list[tuple[Any, str | None]]  # (row, link to its page or None)
    query: str  # the other parameters, kept by this section's pager


def _detail_url_maker(url_name: str) -> Callable[[int], str | None]:
    """Links to the rows' detail pages; a URL name that does not resolve raises."""
    return lambda pk: reverse(url_name, args=[pk])


def search_querysets(*, user: User, term: str) -> dict[str, QuerySet[Any]]:
    """Accounts, contacts and opportunities matching ``term`` that ``user`` may see.

    Names are matched by prefix on the normalized name, which the ``account_org_norm_idx``
    pattern index serves ("acme" finds "ACME AB" and "Acmé Nordic"). Each queryset is one SQL
    statement with the visibility policy inside it; nothing is filtered in Python.
    """
    norm = normalize_name(term)
    if not norm:
        return {}
    accounts = (
        Account.objects.visible_to(user)
        .filter(normalized_name__startswith=norm)
        .select_related("home_company")
        .order_by("name", "pk")
    )
    contacts = (
        Contact.objects.visible_to(user)
        .filter(
            Q(full_name__istartswith=term)
            | Q(email__istartswith=term)
            | Q(account__normalized_name__startswith=norm)
        )
        .select_related("account")
        .order_by("full_name", "pk")
    )
    opportunities = (
        Opportunity.objects.visible_to(user)
        .filter(Q(name__istartswith=term) | Q(account__normalized_name__startswith=norm))
        .select_related("account", "local_stage", "sales_company")
        .order_by("-created_at", "-pk")
    )
    return {"accounts": accounts, "contacts": contacts, "opportunities": opportunities}


@login_required
def search(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = SearchForm(request.GET or None)
    term = form.cleaned_data["q"].strip() if form.is_valid() else ""
    sections: list[SearchSection] = []
    if term:
        titles = {
            "accounts": (_("Accounts"), "accounts:detail"),
            "contacts": (_("Contacts"), "accounts:detail"),
            "opportunities": (_("Opportunities"), "opportunities:detail"),
        }
        for key, qs in search_querysets(user=request.user, term=term).items():
            title, url_name = titles[key]
            # Each section pages on its own parameter, so paging contacts keeps the account page.
            page = Paginator(qs, SEARCH_PAGE_SIZE).get_page(request.GET.get(f"{key}_page"))
            url = _detail_url_maker(url_name)
            rows = [(row, url(row.account_id if key == "contacts" else row.pk)) for row in page]
            others = request.GET.copy()
            others.pop(f"{key}_page", None)
            sections.append(SearchSection(key, title, page, rows, others.urlencode()))
    return render(request, "crm/search.html", {"form": form, "term": term, "sections": sections})
