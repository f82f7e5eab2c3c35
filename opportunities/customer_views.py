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
from opportunities import customer
from opportunities.conflicts import conflict_warnings
from opportunities.models import Opportunity
from opportunities.selectors import open_q
from opportunities.situations import team_deals


def _group_accounts(view: Any) -> list[Account]:
    return [a for accounts in view.subsidiaries_by_country.values() for a in accounts]


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


@login_required
@require_GET
def account_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The 360° page of the account's whole group (the selector narrows it to what the user
    may see)."""
    user = request.user
    try:
        # The account asked for, its group and its visibility in one query (404 as before).
        view = customer.account_360(
            user=user, group=pk, activity_page=request.GET.get("activities")
        )
        terms = customer.agreement_terms_in_360(
            view, on_date=timezone.localdate(), booking_company=user.sales_company
        )
    except MissingExchangeRateError as exc:
        # Figures without a rate would be wrong; say which rate is missing instead.
        context_error = {
            "account": selectors.access_account_by_id(user, pk),
            "rate_error": str(exc),
        }
        return render(request, "accounts/detail.html", context_error)
    account = view.requested
    assert account is not None  # account_360 names the account asked for, or raises 404
    context: dict[str, Any] = {"account": account}
    # Customer value (stored nightly, joined by account_360): of the account asked for, and of
    # the group only when the user sees its top in full (a need-to-know top shows no value).
    shown = may_see_customer_value(user)
    context["value"] = joined_value(account) if shown else None
    context["group_value"] = joined_value(view.group) if shown and view.group_visible else None
    context["value_rows"] = value_rows(context["value"], context["group_value"])
    shown_value = context["value"] or context["group_value"]
    context["value_as_of"] = shown_value.as_of if shown_value else None
    accounts = _group_accounts(view)
    # One read of the group's contacts for the contacts panel and the log form's "with".
    contacts = selectors.contacts_of_group(user, view.group.pk)
    context.update(
        view=view,
        terms=terms,
        # Figures are keyed by the accounts' country; a country without deals has none.
        country_rows=[
            (country, group, view.figures_by_country.get(country))
            for country, group in view.subsidiaries_by_country.items()
        ],
        corporate_currency=view.group.organization.corporate_currency,
        activity_form=_activity_form(user, accounts, contacts, view.group.pk, account=account)
        if services.may_log_activities(user)
        else None,
        may_change=services.may_change_account(user, account),
        may_plan=services.may_manage_group(user, view.group),
        conflict_warnings=conflict_warnings(
            user=user, conflicts=view.open_conflicts, focus_account_id=account.pk
        ),
        team_deals=team_deals(user=user, group=view.group),
        contacts_by_account=_contacts_by_account(contacts),
        may_add_contacts=services.may_work_with_contacts(user, account),
    )
    context.update(_join_context(user, account, may_change=context["may_change"]))
    return render(request, "accounts/detail.html", context)


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
