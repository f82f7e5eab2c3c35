"""The shell's pages that join the apps: home and the search across accounts, contacts,
opportunities and leads (its querysets and statements: ``meridian.search``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Page
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from crm.forms import SearchForm
from crm.http import AuthenticatedHttpRequest
from crm.search import query_words
from meridian.home import home_for
from meridian.search import search_pages


@login_required
def home(request: AuthenticatedHttpRequest) -> HttpResponse:
    home = home_for(user=request.user)
    return render(request, "crm/home.html", {"summary": home.summary, "home": home})


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
            "leads": (_("Leads"), "leads:lead_detail"),
        }
        # Each section pages on its own parameter, so paging contacts keeps the account page.
        # The count stops at the cap ("more than 1,000"): a short word can match many rows.
        numbers = {key: request.GET.get(f"{key}_page") for key in titles}
        for key, page in search_pages(user=request.user, term=term, numbers=numbers).items():
            title, url_name = titles[key]
            url = _detail_url_maker(url_name)
            rows = [(row, url(row.account_id if key == "contacts" else row.pk)) for row in page]
            others = request.GET.copy()
            others.pop(f"{key}_page", None)
            sections.append(SearchSection(key, title, page, rows, others.urlencode()))
    too_short = bool(term) and not query_words(term)
    return render(
        request,
        "crm/search.html",
        {"form": form, "term": term, "sections": sections, "too_short": too_short},
    )
