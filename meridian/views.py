"""The shell's pages that join the apps: home and the search across accounts, contacts,
opportunities and leads. The shell sits above every app, so it imports their models directly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Page
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts.models import Account, Contact
from crm.forms import SearchForm
from crm.http import AuthenticatedHttpRequest
from crm.models import SearchKind, User
from crm.pagination import CappedPaginator
from crm.roles import Role
from crm.search import query_words, ranked
from leads.models import Lead
from leads.services import LeadAction, may_lead
from meridian.home import home_for
from opportunities.models import Opportunity

SEARCH_PAGE_SIZE = 10


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


def search_querysets(*, user: User, term: str) -> dict[str, QuerySet[Any]]:
    """Accounts, contacts, opportunities and leads matching every word of ``term`` as a word
    prefix ("volv ab" finds "Volvera AB"), best match first, that ``user`` may see.

    Full-text search (``crm.search``): the 'simple' tsvector of each record, candidates from the
    word table's prefix ranges, ranked by ``ts_rank``. Each queryset is one SQL statement with the
    visibility policy inside it; nothing is filtered in Python. Accounts also match by their
    normal form ("acme" finds "Acmé"), which the account's vector holds. Leads are searched for
    those who work leads (marketing, managers) and, for a sales rep, only the leads assigned to
    him (need-to-know: a colleague's leads are not his).
    """
    words = query_words(term)
    if not words:
        return {}
    org = user.organization_id

    def find(qs: QuerySet[Any], kind: SearchKind, name: str) -> QuerySet[Any]:
        found: QuerySet[Any] = ranked(qs, kind=kind, organization_id=org, words=words, then=(name,))
        return found

    result = {
        "accounts": find(
            Account.objects.visible_to(user).select_related("home_company"),
            SearchKind.ACCOUNT,
            "name",
        ),
        "contacts": find(
            Contact.objects.visible_to(user).select_related("account"),
            SearchKind.CONTACT,
            "full_name",
        ),
        "opportunities": find(
            Opportunity.objects.visible_to(user).select_related(
                "account", "local_stage", "sales_company"
            ),
            SearchKind.OPPORTUNITY,
            "name",
        ),
    }
    if may_lead(user, LeadAction.VIEW):
        result["leads"] = find(
            Lead.objects.visible_to(user).select_related("sales_company"),
            SearchKind.LEAD,
            "company_name",
        )
    elif user.role == Role.SALES_REP:
        result["leads"] = find(
            Lead.objects.visible_to(user).filter(owner_id=user.pk).select_related("sales_company"),
            SearchKind.LEAD,
            "company_name",
        )
    return result


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
        for key, qs in search_querysets(user=request.user, term=term).items():
            title, url_name = titles[key]
            # Each section pages on its own parameter, so paging contacts keeps the account page.
            # The count stops at the cap ("more than 1,000"): a short word can match many rows.
            page = CappedPaginator(qs, SEARCH_PAGE_SIZE).get_page(request.GET.get(f"{key}_page"))
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
