"""The 360° page of an account group: accounts by country, open and won business, the team, the
plan, agreements and conflicts (``accounts:detail``; routed by the shell into the accounts
namespace, because it reads deals, which sit above accounts).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts import join, selectors, services
from accounts.forms import ActivityLogForm
from accounts.models import Account, Contact, JoinStatus
from accounts.value import joined_value, may_see_customer_value, value_rows
from crm.forms import apply_validation_error
from crm.http import AuthenticatedHttpRequest
from crm.models import User
from crm.money import MissingExchangeRateError
from opportunities import customer, group_rows
from opportunities.conflicts import conflict_warnings
from opportunities.models import Opportunity
from opportunities.selectors import open_q
from opportunities.situations import team_deals

# The deals offered by the 360°'s log form: a group's open deals the user sees, by name. A
# closed deal's activity is logged on its own page.
LOG_DEALS = 200


def _group_open_deals(user: User, group_id: int) -> list[Opportunity]:
    return list(
        Opportunity.objects.visible_to(user)
        .filter(open_q(), account__group_id=group_id)
        .select_related("account")
        .order_by("name", "pk")[:LOG_DEALS]
    )


def _activity_form(
    user: User,
    accounts: list[Account],
    contacts: list[Contact],
    group_id: int,
    data: Any = None,
    account: Account | None = None,
) -> ActivityLogForm:
    """The deal page's log form, asking at which account of the group and on which deal."""
    return ActivityLogForm(
        data,
        contacts=contacts,
        accounts=accounts,
        opportunities=_group_open_deals(user, group_id),
        initial={"account": account.pk} if account is not None and data is None else {},
    )


# The first screen of the 360°: the group, its figures per country, its most valuable accounts
# and the team. Everything below the fold is an htmx fragment of its own (below), read when
# it scrolls into view: a group of 200 companies no longer renders its timeline, log form,
# contacts, agreements and conflicts on every visit.
PAGE_SECTIONS = frozenset({"accounts", "figures", "team"})


def _fragment_urls(account: Account, activities: str | None) -> dict[str, str]:
    pk = account.pk
    timeline = reverse("accounts:360_activities", args=[pk])
    if activities:
        # The timeline's pager links reload the page with ?activities=N: hand it on.
        timeline += "?" + urlencode({"activities": activities})
    return {
        "activities_url": timeline,
        "situations_url": reverse("accounts:360_situations", args=[pk]),
        "plan_url": reverse("accounts:360_plan", args=[pk]),
        "contacts_url": reverse("accounts:360_contacts", args=[pk]),
        "accounts_url": reverse("accounts:group_accounts", args=[pk]),
    }


def _country_rows(view: customer.Account360) -> list[tuple[str, int, Any]]:
    # Figures are keyed by the accounts' country; a country without deals has none.
    return [
        (country, count, view.figures_by_country.get(country))
        for country, count in view.accounts_per_country.items()
    ]


@login_required
@require_GET
def account_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The 360° page of the account's whole group (the selector narrows it to what the user
    may see): its first screen; the sections below it are fragments loaded on demand."""
    user = request.user
    try:
        # The account asked for, its group and its visibility in one query (404 as before).
        view = customer.account_360(user=user, group=pk, sections=PAGE_SECTIONS)
    except MissingExchangeRateError as exc:
        # Figures without a rate would be wrong; say which rate is missing instead.
        context_error = {
            "account": selectors.access_account_by_id(user, pk),
            "rate_error": str(exc),
        }
        return render(request, "accounts/detail.html", context_error)
    account = view.requested
    assert account is not None  # account_360 names the account asked for, or raises 404
    assert view.subsidiaries is not None  # "accounts" was asked for
    context: dict[str, Any] = {"account": account}
    # Customer value (stored nightly, joined by account_360): of the account asked for, and of
    # the group only when the user sees its top in full (a need-to-know top shows no value).
    shown = may_see_customer_value(user)
    context["value"] = joined_value(account) if shown else None
    context["group_value"] = joined_value(view.group) if shown and view.group_visible else None
    context["value_rows"] = value_rows(context["value"], context["group_value"])
    shown_value = context["value"] or context["group_value"]
    context["value_as_of"] = shown_value.as_of if shown_value else None
    urls = _fragment_urls(account, request.GET.get("activities"))
    country_rows = _country_rows(view)
    context.update(
        view=view,
        country_rows=country_rows,
        country_table=group_rows.country_rows_html(country_rows, urls["accounts_url"]),
        team_items=group_rows.team_html(view.team),
        top_accounts=group_rows.account_rows_html(
            view.subsidiaries.rows, with_value=view.subsidiaries.with_value
        ),
        corporate_currency=view.group.organization.corporate_currency,
        may_change=services.may_change_account(user, account),
        **urls,
    )
    context.update(_join_context(user, account, may_change=context["may_change"]))
    return render(request, "accounts/detail.html", context)


@login_required
@require_GET
def account_activities(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The 360°'s timeline across countries and its log form (an htmx fragment; the same
    visibility and 404s as the page, through ``account_360``)."""
    user = request.user
    view = customer.account_360(
        user=user,
        group=pk,
        sections=frozenset({"timeline"}),
        activity_page=request.GET.get("activities"),
    )
    account = view.requested
    assert account is not None
    form = None
    if services.may_log_activities(user):
        group_id = view.group.pk
        accounts = list(
            Account.objects.visible_to(user).filter(group_id=group_id).order_by("country", "name")
        )
        contacts = selectors.contacts_of_group(user, group_id)
        form = _activity_form(user, accounts, contacts, group_id, account=account)
    return render(
        request,
        "accounts/_activities.html",
        {"account": account, "timeline": view.timeline, "activity_form": form},
    )


@login_required
@require_GET
def account_situations(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The 360°'s open conflicts and team deals (an htmx fragment)."""
    user = request.user
    view = customer.account_360(user=user, group=pk, sections=frozenset({"conflicts"}))
    account = view.requested
    assert account is not None
    return render(
        request,
        "accounts/_360_situations.html",
        {
            "conflict_warnings": conflict_warnings(
                user=user, conflicts=view.open_conflicts, focus_account_id=account.pk
            ),
            "team_deals": team_deals(user=user, group=view.group),
        },
    )


@login_required
@require_GET
def account_plan(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The 360°'s account plan and framework agreements with the terms that apply (an htmx
    fragment; a missing rate is said in place, as the page says it)."""
    user = request.user
    context: dict[str, Any]
    try:
        view = customer.account_360(user=user, group=pk, sections=frozenset({"plan", "agreements"}))
        terms = customer.agreement_terms_in_360(
            view, on_date=timezone.localdate(), booking_company=user.sales_company
        )
    except MissingExchangeRateError as exc:
        selectors.access_account_by_id(user, pk)  # 404 before saying anything of the group
        return render(request, "accounts/_360_plan.html", {"rate_error": str(exc)})
    context = {
        "view": view,
        "terms": terms,
        "corporate_currency": view.group.organization.corporate_currency,
        "may_plan": services.may_manage_group(user, view.group),
    }
    return render(request, "accounts/_360_plan.html", context)


@login_required
@require_GET
def account_contacts(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The 360°'s contacts of the group's accounts the user sees (an htmx fragment)."""
    user = request.user
    view = customer.account_360(user=user, group=pk, sections=frozenset())
    account = view.requested
    assert account is not None
    contacts = selectors.contacts_of_group(user, view.group.pk)
    return render(
        request,
        "accounts/_360_contacts.html",
        {
            "account": account,
            "contacts_by_account": _contacts_by_account(contacts),
            "may_add_contacts": services.may_work_with_contacts(user, account),
        },
    )


@login_required
@require_GET
def group_accounts(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Every account of the group the user sees ("show all" of the 360°): paged, sortable
    (name, country, and value for the roles that see customer value), by country if asked."""
    user = request.user
    view = customer.account_360(
        user=user,
        group=pk,
        sections=frozenset({"accounts"}),
        subsidiaries_page=request.GET.get("page"),
        subsidiaries_per_page=customer.SUBSIDIARY_PAGE_SIZE,
        subsidiaries_sort=request.GET.get("sort") or "value",
        subsidiaries_country=request.GET.get("country") or None,
    )
    page = view.subsidiaries
    assert page is not None and view.requested is not None

    def query(**changes: str | int) -> str:
        params: dict[str, str | int] = {
            "sort": page.sort,
            "country": page.country or "",
            "page": page.number,
        }
        params.update(changes)
        return "?" + urlencode({k: v for k, v in params.items() if v != ""})

    sorts = [("value", _("Value"))] if page.with_value else []
    sorts += [("name", _("Name")), ("country", _("Country"))]
    return render(
        request,
        "accounts/group_accounts.html",
        {
            "account": view.requested,
            "view": view,
            "page": page,
            "rows": group_rows.account_rows_html(page.rows, with_value=page.with_value),
            "sorts": [(key, label, query(sort=key, page=1)) for key, label in sorts],
            "countries": [
                (country, count, query(country=country, page=1))
                for country, count in view.accounts_per_country.items()
            ],
            "all_countries_url": query(country="", page=1),
            "previous_url": query(page=page.number - 1) if page.has_previous else "",
            "next_url": query(page=page.number + 1) if page.has_next else "",
        },
    )


def _contacts_by_account(contacts: list[Contact]) -> list[tuple[Account, list[Any]]]:
    """The live contacts of the group's accounts the user sees, per account."""
    by_account: dict[int, tuple[Account, list[Any]]] = {}
    for contact in contacts:
        by_account.setdefault(contact.account_id, (contact.account, []))[1].append(contact)
    return list(by_account.values())


@login_required
@require_POST
def activity_create(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Log an activity from the 360° page (the deal page's form, with the account and a deal
    of the group to choose); htmx gets the refreshed timeline and a fresh form back."""
    user = request.user
    account = selectors.access_account_by_id(user, pk)
    if not services.may_log_activities(user):
        raise PermissionDenied(_("Marketing does not log sales activities."))
    group_id = account.group_id or account.pk
    accounts = list(
        Account.objects.visible_to(user).filter(group_id=group_id).order_by("country", "name")
    )
    contacts = selectors.contacts_of_group(user, group_id)
    form = _activity_form(user, accounts, contacts, group_id, data=request.POST)
    notice = ""
    if form.is_valid():
        try:
            services.activity_log(acting_user=user, **form.service_fields())
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            if not request.htmx:
                messages.success(request, _("Activity logged."))
                return redirect(reverse("accounts:detail", args=[account.pk]) + "#activities")
            notice = _("Activity logged.")
            form = _activity_form(
                user, accounts, contacts, group_id, account=form.cleaned_data["account"]
            )
    return render(
        request,
        "accounts/_activities.html",
        {
            "account": account,
            "timeline": selectors.activity_timeline(user=user, group_id=group_id),
            "activity_form": form,
            "notice": notice,
        },
        # htmx swaps only a 200 in: a refused form is shown in place with its errors.
        status=200 if request.htmx or not form.errors else 400,
    )


def _join_context(user: Any, account: Account, *, may_change: bool) -> dict[str, Any]:
    """For an account outside any group that the user may change: the need-to-know answers
    of look-alikes they cannot see (to ask to join one) and the requests already waiting."""
    if not may_change or account.parent_id is not None:
        return {}
    org_accounts = Account.objects.for_org(account.organization_id)
    if org_accounts.filter(group_id=account.pk).exclude(pk=account.pk).exists():
        return {}  # a group of its own
    _shown, hidden = selectors.duplicate_candidates(
        user=user,
        name=account.name,
        country=account.country,
        registration_number=account.registration_number,
        domain=account.domain,
        exclude_id=account.pk,
    )
    pending = list(
        join.join_request_list(user=user).filter(account_id=account.pk, status=JoinStatus.PENDING)
    )
    return {
        "hidden_matches": hidden,
        "pending_joins": pending,
        "join_url": reverse("accounts:join_request_create", args=[account.pk]),
    }
