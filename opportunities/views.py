"""Opportunity pages: list (+CSV), detail, create/edit with a live conflict preview, the pipeline
board, and the managers' conflicts inbox, team overview and data-quality list.

Thin on purpose: forms validate, ``opportunities.services`` write, selectors read, and every
object comes through the visibility policy (invisible == missing == 404).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Page
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format, get_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.forms import ActivityLogForm
from accounts.models import Account, Activity, Contact
from crm.forms import apply_validation_error
from crm.http import AuthenticatedHttpRequest
from crm.ids import parse_id
from crm.limits import MAX_LINES_PER_OPPORTUNITY
from crm.models import Organization, SalesCompany, User
from crm.money import MissingExchangeRateError, money, to_corporate_exact
from crm.pagination import CappedPaginator
from crm.ratelimit import over_limit
from crm.registry import access_by_id
from crm.roles import Role
from crm.spreadsheet import CsvFormat, Echo
from crm.tenancy import org_scope
from crm.visibility import scoped_company_ids, visible_companies
from opportunities import pricing, selectors, services
from opportunities.conflicts import conflict_warnings, preview_for, rightful_company
from opportunities.customer import agreement_for_account
from opportunities.errors import StaleVersionError
from opportunities.forms import (
    PAGE_SIZE,
    BulkAcknowledgeForm,
    ConflictFilterForm,
    ContactRoleForm,
    LineFormSet,
    MoveForm,
    OpportunityFilterForm,
    OpportunityForm,
    ResolveForm,
    line_initial,
)
from opportunities.list_query import list_page
from opportunities.models import (
    Conflict,
    ConflictKind,
    ConflictStatus,
    Opportunity,
    OpportunityContactRole,
    OpportunityLine,
    OpportunitySplit,
    Resolution,
)
from opportunities.resolution import (
    conflict_counts,
    conflict_inbox,
    conflict_resolve,
    conflicts_acknowledge,
    may_resolve,
    overdue_before,
    resolvable_ids,
    situation_deals,
)
from opportunities.rows import rows_html
from opportunities.situations import situations_of
from opportunities.trade_rules import typed_quotes

# --- Helpers -------------------------------------------------------------------------------------


def _page(request: HttpRequest, qs: Any, param: str = "page", size: int = PAGE_SIZE) -> Page:
    return CappedPaginator(qs, size).get_page(request.GET.get(param))


def _query_without(request: HttpRequest, *names: str) -> str:
    """The current query string minus some parameters (pagination links keep the filters)."""
    params = request.GET.copy()
    for name in names:
        params.pop(name, None)
    return params.urlencode()


def _require_manager(user: User) -> None:
    if not services.may_see_team(user):
        raise PermissionDenied(_("This page is for country, regional and global managers."))


# --- CSV -----------------------------------------------------------------------------------------


def _csv_rows(qs: Any, organization_id: int) -> Iterator[str]:
    """The list as the reader's spreadsheet opens it: ``;`` and decimal commas where the
    language writes numbers so (the reports' rule, ``crm.spreadsheet.CsvFormat``), amounts with
    two decimals, dates ISO, text escaped. Runs while the response streams, inside the reader's
    language (``crm.middleware.keep_context_while_streaming``)."""
    fmt = CsvFormat.for_language()
    writer = csv.writer(Echo(), delimiter=fmt.delimiter)
    # The BOM: Excel reads the file as UTF-8 (ä, ø, ß) instead of the local code page.
    yield "\ufeff" + writer.writerow(
        [
            fmt.cell(h)
            for h in (
                _("ID"), _("Name"), _("Account"), _("Company"), _("Owner"), _("Stage"),
                _("Global stage"), _("Amount"), _("Currency"), _("Expected close"),
                _("Next step"),
            )
        ]
    )  # fmt: skip
    # The response streams after the view returned, outside the request's organization scope:
    # the rows are read inside their own scope (and row-level security sees the same org).
    with org_scope(organization_id):
        for o in qs.iterator(chunk_size=500):
            yield writer.writerow(
                [
                    fmt.cell(o.pk), fmt.cell(o.name), fmt.cell(o.account.name),
                    fmt.cell(o.sales_company.code), fmt.cell(o.owner.full_name),
                    fmt.cell(o.local_stage.name), fmt.cell(o.global_stage.name),
                    fmt.cell(o.amount, places=2), fmt.cell(o.currency),
                    fmt.cell(o.expected_close_date), fmt.cell(o.next_step),
                ]
            )  # fmt: skip


# --- List, detail --------------------------------------------------------------------------------


@login_required
@require_GET
def opportunity_list(request: AuthenticatedHttpRequest) -> HttpResponseBase:
    form = OpportunityFilterForm(request.GET or None, user=request.user)
    if request.GET.get("format") == "csv":
        stamp = timezone.localdate().isoformat()
        response = StreamingHttpResponse(
            _csv_rows(form.opportunities(), request.user.organization_id),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="opportunities-{stamp}.csv"'
        return response
    # The page's rows and capped count as compiled statements (opportunities.list_query), the
    # rows as plain values rendered in Python (opportunities.rows).
    page = list_page(request.user, form.list_filters(), request.GET.get("page"), PAGE_SIZE)
    return render(
        request,
        "opportunities/list.html",
        {
            "form": form,
            "page": page,
            "rows": rows_html(list(page.object_list)),
            "query": _query_without(request, "page", "format"),
            "csv_query": _query_without(request, "page", "format"),
        },
    )


def _conflicts_of(user: User, opportunity: Opportunity) -> list[Any]:
    """The open situations the deal is in, and its account's possible duplicates."""
    rows = (
        Conflict.objects.visible_to(user)
        .filter(situations_of(opportunity))
        .distinct()
        .select_related("account", "product", "agreement", "sales_company")
        .order_by("-created_at")
    )
    return conflict_warnings(
        user=user,
        conflicts=rows,
        focus_opportunity_id=opportunity.pk,
        focus_account_id=opportunity.account_id,
    )


@login_required
@require_GET
def opportunity_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    opp = selectors.access_opportunity_by_id(request.user, pk)
    return _render_detail(request, opp)


def _deal_contacts(user: User, opp: Opportunity) -> list[Contact]:
    """The live contacts of the deal's account group the user sees: the buying-centre and
    "with" pickers."""
    return account_selectors.contacts_of_group(user, opp.account.group_id or opp.account_id)


def _render_detail(
    request: AuthenticatedHttpRequest,
    opp: Opportunity,
    *,
    activity_form: ActivityLogForm | None = None,
    role_form: ContactRoleForm | None = None,
    status: int = 200,
) -> HttpResponse:
    """The deal's page; a refused form of it (logging, buying centre) is shown again here with
    its errors beside the fields."""
    user = request.user
    org_id = opp.organization_id
    lines = list(
        OpportunityLine.objects.for_org(org_id)
        .filter(opportunity=opp)
        .select_related("product")
        .order_by("pk")
    )
    splits = (
        OpportunitySplit.objects.for_org(org_id)
        .filter(opportunity=opp)
        .select_related("user", "sales_company")
        .order_by("kind", "-percent")
    )
    contact_roles = list(
        OpportunityContactRole.objects.visible_to(user)
        .filter(opportunity=opp)
        .select_related("contact", "contact__account")
        .order_by("role", "contact__full_name", "pk")
    )
    may_change = services.may_change_opportunity(user, opp)
    may_log = account_services.may_log_activities(user)
    contacts = _deal_contacts(user, opp) if may_change or may_log else []
    if may_log and activity_form is None:
        activity_form = ActivityLogForm(contacts=contacts)
    if may_change and role_form is None:
        role_form = ContactRoleForm(contacts=contacts, prefix="role")
    return render(
        request,
        "opportunities/detail.html",
        {
            "opp": opp,
            "lines": lines,
            "splits": splits,
            "history": selectors.stage_history(user=user, opportunity=opp),
            "timeline": account_selectors.activity_timeline(
                user=user, opportunity_id=opp.pk, page=request.GET.get("activities")
            ),
            "contact_roles": contact_roles,
            "activity_form": activity_form if may_log else None,
            "role_form": role_form if may_change else None,
            "warnings": _conflicts_of(user, opp),
            "may_change": may_change,
            "move_form": MoveForm(
                opportunity=opp, initial={"local_stage": opp.local_stage_id, "version": opp.version}
            )
            if may_change
            else None,
        },
        status=status,
    )


@login_required
@require_POST
def opportunity_log_activity(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The deal page's one-step log: on the deal's account, by the current user."""
    user = request.user
    opp = selectors.access_opportunity_by_id(user, pk)
    if not account_services.may_log_activities(user):
        raise PermissionDenied(_("Marketing does not log sales activities."))
    contacts = _deal_contacts(user, opp)
    form = ActivityLogForm(request.POST, contacts=contacts)
    if form.is_valid():
        try:
            account_services.activity_log(
                account=opp.account, opportunity=opp, acting_user=user, **form.service_fields()
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, _("Activity logged."))
            return redirect(reverse("opportunities:detail", args=[opp.pk]) + "#activities")
    # Shown again on the deal's page, with the errors beside the fields.
    return _render_detail(request, opp, activity_form=form, status=400)


@login_required
@require_POST
def opportunity_add_contact_role(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    user = request.user
    opp = selectors.access_opportunity_by_id(user, pk)
    if not services.may_change_opportunity(user, opp):
        raise PermissionDenied(_("You may not change this opportunity."))
    contacts = _deal_contacts(user, opp)
    form = ContactRoleForm(request.POST, contacts=contacts, prefix="role")
    if form.is_valid():
        try:
            services.contact_role_add(
                opportunity=opp,
                contact=form.cleaned_data["contact"],
                role=form.cleaned_data["role"],
                acting_user=user,
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, _("Buying-centre role added."))
            return redirect(reverse("opportunities:detail", args=[opp.pk]) + "#buying-centre")
    return _render_detail(request, opp, role_form=form, status=400)


@login_required
@require_POST
def opportunity_remove_contact_role(
    request: AuthenticatedHttpRequest, pk: int, role_pk: int
) -> HttpResponse:
    user = request.user
    opp = selectors.access_opportunity_by_id(user, pk)
    role = access_by_id(
        OpportunityContactRole.objects.visible_to(user)
        .filter(opportunity=opp)
        .select_related("opportunity"),
        role_pk,
    )
    services.contact_role_remove(role=role, acting_user=user)
    messages.success(request, _("Buying-centre role removed."))
    return redirect(reverse("opportunities:detail", args=[opp.pk]) + "#buying-centre")


# --- Create / edit -------------------------------------------------------------------------------


def _formset(request: AuthenticatedHttpRequest, initial: list[dict[str, Any]] | None = None) -> Any:
    org_id = request.user.organization_id
    if request.method == "POST":
        return LineFormSet(request.POST, prefix="lines", organization_id=org_id)
    return LineFormSet(initial=initial or None, prefix="lines", organization_id=org_id)


def _chosen_account(user: User, value: Any) -> Account | None:
    pk = parse_id(value)
    if pk is None:
        return None
    return Account.objects.visible_to(user).filter(pk=pk).first()


def _render_form(
    request: AuthenticatedHttpRequest,
    form: OpportunityForm,
    formset: Any,
    opp: Opportunity | None,
    status: int = 200,
) -> HttpResponse:
    instance = form.instance
    account = instance.account if opp is not None and instance is not None else None
    if form.is_bound:
        account = _chosen_account(request.user, form.data.get("account")) or account
    elif form.initial.get("account"):
        account = _chosen_account(request.user, form.initial["account"])
    return render(
        request,
        "opportunities/form.html",
        {
            "form": form,
            "formset": formset,
            "opp": opp,
            "chosen_accounts": [account] if account else [],
            "chosen_id": str(account.pk) if account else "",
            "quote": _quote_data(request.user, formset, opp),
        },
        status=status,
    )


def _status(form: OpportunityForm, formset: Any) -> int:
    """400 when the input was refused, the deal's fields or any line (an error on line 2 alone
    is a refusal too, not a page that looks fine)."""
    if not form.is_bound:
        return 200
    return 400 if form.errors or formset.total_error_count() else 200


def _quote_data(user: User, formset: Any, opp: Opportunity | None) -> str:
    """What the form's script prices lines with, as the save would (``opportunities.pricing``):
    each product's list price and price book, every currency's rate on the deal's date, and
    the texts it shows, in the user's language. JSON for a data- attribute (no inline script).
    The save computes again; this only shows the figures before it."""
    on_date = timezone.localdate(opp.created_at) if opp is not None else timezone.localdate()
    products = formset.products
    book = pricing.price_book(organization_id=user.organization_id, product_ids=list(products))
    prices: dict[int, dict[str, Any]] = {
        p.pk: {"price": str(p.list_price), "currency": p.currency, "book": {}}
        for p in products.values()
    }
    for (product_id, currency), price in book.items():
        prices[product_id]["book"][currency] = str(price)
    rates = pricing.rates_on(organization=user.organization, on_date=on_date)
    return json.dumps(
        {
            "products": prices,
            "rates": {currency: str(rate) for currency, rate in rates.items()},
            "date": date_format(on_date, "SHORT_DATE_FORMAT"),
            "decimal": get_format("DECIMAL_SEPARATOR"),
            "max": MAX_LINES_PER_OPPORTUNITY,
            "text": {
                # Placeholders filled in by the script.
                "converted": _("converted from %(currency)s %(price)s at %(rate)s (%(date)s)"),
                "book": _("price book"),
                "list": _("list price"),
                "no_rate": _("no exchange rate for %(currency)s: type a unit price"),
                "unknown": _("type a unit price"),
            },
        }
    )


@login_required
@require_http_methods(["GET", "POST"])
def opportunity_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    if not services.may_book_opportunities(user):
        raise PermissionDenied(_("Marketing hands leads over; sellers log opportunities."))
    initial = OpportunityForm.initial_for(user)
    if request.method == "GET" and (account_id := parse_id(request.GET.get("account"))):
        initial["account"] = account_id
    form = OpportunityForm(request.POST or None, user=user, initial=initial)
    formset = _formset(request)
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        data = form.cleaned_data
        lines = formset.lines()
        try:
            opp = services.opportunity_create(
                acting_user=user,
                account=data["account"],
                name=data["name"],
                sales_company=data["sales_company"],
                local_stage=data.get("local_stage"),
                amount=None if lines else data.get("amount"),
                currency=data["currency"],
                expected_close_date=data.get("expected_close_date"),
                next_step=data.get("next_step") or "",
                lines=lines,
                delivery_country=data.get("delivery_country") or data["sales_company"].country,
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, _("Opportunity “%(name)s” saved.") % {"name": opp.name})
            return redirect("opportunities:detail", pk=opp.pk)
    return _render_form(request, form, formset, None, status=_status(form, formset))


@login_required
@require_http_methods(["GET", "POST"])
def opportunity_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    user = request.user
    opp = selectors.access_opportunity_by_id(user, pk)
    if not services.may_change_opportunity(user, opp):
        raise PermissionDenied(_("You may not change this opportunity."))
    form = OpportunityForm(
        request.POST or None,
        user=user,
        instance=opp,
        initial=OpportunityForm.initial_for(user, opp),
    )
    had_lines = line_initial(opp)
    formset = _formset(request, had_lines)
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        data = form.cleaned_data
        lines = formset.lines()
        fields: dict[str, Any] = {
            "name": data["name"],
            "account": data["account"],
            "expected_close_date": data.get("expected_close_date"),
            "next_step": data.get("next_step") or "",
            "delivery_country": data.get("delivery_country"),
        }
        if not lines:
            # Without lines the amount is typed; with lines it is their total (the service's).
            fields.update(amount=data.get("amount"), currency=data["currency"])
        try:
            # One transaction: a stale version refuses the lines and the fields together.
            with transaction.atomic():
                version = data["version"]
                if lines or had_lines:
                    services.opportunity_set_lines(
                        opportunity=opp, lines=lines, acting_user=user, expected_version=version
                    )
                    version = opp.version
                services.opportunity_update(
                    opportunity=opp, acting_user=user, expected_version=version, **fields
                )
        except StaleVersionError as exc:
            form.add_error(None, str(exc))
            return _render_form(request, form, formset, opp, status=409)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, _("Opportunity “%(name)s” saved.") % {"name": opp.name})
            return redirect("opportunities:detail", pk=opp.pk)
    return _render_form(request, form, formset, opp, status=_status(form, formset))


def _typed_country(value: str | None, company: SalesCompany) -> str | None:
    """The delivery country typed, if it is a country code (else the booking company's)."""
    country = (value or "").strip().upper()
    return country if len(country) == 2 and country.isalpha() else company.country


@login_required
@require_GET
def opportunity_preview(request: AuthenticatedHttpRequest) -> HttpResponse:
    """What saving would find, shown while the form is filled in (htmx, nothing is written):
    conflicts with need-to-know disclosure, and the framework agreement's terms and tier.

    Rate-limited per user (PREVIEW_RATE_PER_MINUTE, default 60): the answers are computed from
    deals the user may not see, so they must not be harvested by trying input after input."""
    user = request.user
    limit = getattr(settings, "PREVIEW_RATE_PER_MINUTE", 60)
    if over_limit(key=f"opportunity-preview:{user.pk}", limit=limit):
        return HttpResponse(
            _("Too many previews in a minute; wait a moment and try again."),
            status=429,
            content_type="text/plain; charset=utf-8",
        )
    account = _chosen_account(user, request.GET.get("account"))
    context: dict[str, Any] = {"account": account, "warnings": [], "terms": None}
    if account is not None:
        company_id = parse_id(request.GET.get("sales_company") or user.sales_company_id)
        opp_id = parse_id(request.GET.get("opportunity"))
        opp = selectors.access_opportunity_by_id(user, opp_id) if opp_id is not None else None
        company = (
            opp.sales_company
            if opp is not None
            else visible_companies(user).filter(pk=company_id).first()
            if company_id is not None
            else None
        )
        try:
            context["terms"] = agreement_for_account(
                account=account, on_date=timezone.localdate(), booking_company=company
            )
        except MissingExchangeRateError as exc:
            context["terms_error"] = exc.user_message
        if context["terms"] is not None and company is not None:
            # The agreement's note for the country the deal is booked in (its contract law,
            # annex, ...): the seller reads it before quoting.
            notes = context["terms"].agreement.legal_notes or {}
            context["legal_note"] = notes.get(company.country, "")
            context["booking_company"] = company
        if company is not None:
            formset = LineFormSet(request.GET, prefix="lines", organization_id=user.organization_id)
            # The save's rules, the agreement's included (with the terms read just above).
            context["warnings"] = preview_for(
                user=user,
                account=account,
                sales_company=company,
                product_ids=formset.product_ids(),
                owner=opp.owner if opp is not None else user,
                opportunity_id=opp.pk if opp is not None else None,
                terms=context["terms"],
                lowest_discount=formset.lowest_discount(),
                delivery_country=_typed_country(request.GET.get("delivery_country"), company),
                quotes=typed_quotes(
                    organization=user.organization,
                    currency=(request.GET.get("currency") or company.currency).upper()[:3],
                    lines=formset.typed_lines(),
                    on_date=timezone.localdate(),
                ),
            )
    return render(request, "opportunities/_preview.html", context)


# --- Board ---------------------------------------------------------------------------------------


def _board_company(
    request: AuthenticatedHttpRequest, companies: list[SalesCompany]
) -> SalesCompany | None:
    """The company asked for (if in scope), else the user's own, else the first one with a
    process: the director (no company of his own) sees a board at once and picks another."""
    wanted = parse_id(request.GET.get("company") or request.POST.get("company"))
    if wanted is not None:
        return visible_companies(request.user).filter(pk=wanted).first()
    own = request.user.sales_company
    if own is not None:
        return own
    return companies[0] if companies else None


def _board_context(
    request: AuthenticatedHttpRequest,
    company: SalesCompany | None,
    companies: list[SalesCompany] | None = None,
) -> dict[str, Any]:
    user = request.user
    columns = selectors.board_columns(user=user, sales_company=company) if company else []
    outcomes = (
        selectors.board_outcomes(user=user, sales_company=company) if columns and company else []
    )
    return {
        "company": company,
        "columns": columns,
        "outcomes": outcomes,
        # Which rates are missing, once each (a column's total is unknown without its rate).
        "missing_rates": list(dict.fromkeys(c.missing_rate for c in columns if c.missing_rate)),
        "companies": companies if companies is not None else [],
    }


@login_required
@require_GET
def board(request: AuthenticatedHttpRequest) -> HttpResponse:
    companies = list(selectors.board_companies(request.user))
    company = _board_company(request, companies)
    context = _board_context(request, company, companies)
    if company is None:
        messages.info(request, _("Choose a sales company to see its board."))
    return render(request, "opportunities/board.html", context)


@login_required
@require_POST
def opportunity_move(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """A stage move from the board (drag and drop or the keyboard's select) or the detail page.

    The move carries the version the page showed; if the deal changed since, nothing is moved
    and the refreshed board says so (the card snaps back to where it really is)."""
    user = request.user
    opp = selectors.access_opportunity_by_id(user, pk)
    form = MoveForm(request.POST, opportunity=opp)
    ok = False
    if not form.is_valid():
        message = " ".join(str(e) for errors in form.errors.values() for e in errors)
    else:
        try:
            opp = services.opportunity_move_stage(
                opportunity=opp,
                local_stage=form.cleaned_data["local_stage"],
                expected_version=form.cleaned_data["version"],
                lost_reason=form.cleaned_data.get("lost_reason") or "",
                acting_user=user,
            )
        except StaleVersionError:
            message = _(
                "“%(name)s” was changed by someone else in the meantime; nothing was moved. "
                "The board shows where it is now."
            ) % {"name": opp.name}
        except ValidationError as exc:
            # The service's rule, told in the reader's language (the board's dialog says it too).
            lost = "lost_reason" in getattr(exc, "error_dict", {})
            message = _("Say why the opportunity was lost.") if lost else " ".join(exc.messages)
        except PermissionDenied as exc:
            if not request.htmx:
                raise
            message = str(exc) or _("You may not move this opportunity.")
        else:
            ok = True
            message = _("“%(name)s” moved to %(stage)s.") % {
                "name": opp.name,
                "stage": form.cleaned_data["local_stage"].name,
            }
    if request.htmx:
        context = _board_context(request, opp.sales_company)
        context.update(board_message=message, board_ok=ok)
        # 200 either way: htmx swaps only successful responses, and the refreshed board is the
        # answer to a stale move too.
        return render(request, "opportunities/_board.html", context)
    (messages.success if ok else messages.error)(request, message)
    target = request.POST.get("next")
    if target == "detail":
        return redirect("opportunities:detail", pk=opp.pk)
    return redirect(f"{reverse('opportunities:board')}?company={opp.sales_company_id}")


# --- Conflicts inbox -----------------------------------------------------------------------------


@login_required
@require_GET
def conflict_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    form = ConflictFilterForm(request.GET or None, user=user)
    filters = form.filters()
    page = _page(request, conflict_inbox(user=user, **filters))
    rows = list(page.object_list)
    counts = conflict_counts(
        user=user,
        **{k: v for k, v in filters.items() if k not in ("kind", "order", "by_group")},
    )
    organization = user.organization
    overdue = overdue_before(organization)
    return render(
        request,
        "opportunities/conflicts.html",
        {
            "page": page,
            "form": form,
            "warnings": conflict_warnings(user=user, conflicts=rows),
            "resolvable": resolvable_ids(user, rows),
            "overdue_ids": {c.pk for c in rows if c.created_at < overdue},
            "target_days": organization.conflict_target_days,
            "by_group": filters["by_group"],
            "status": filters["status"],
            "statuses": ConflictStatus.choices,
            # Counts per kind under the other filters, in the kinds' own order.
            "kind_counts": [(k, label, counts.get(k, 0)) for k, label in ConflictKind.choices],
            "kind": filters["kind"],
            "query": _query_without(request, "page"),
            "currency": organization.corporate_currency,
        },
    )


@login_required
@require_http_methods(["POST"])
def conflict_bulk_acknowledge(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Acknowledge the situations ticked in the inbox: the first POST shows what would be
    acknowledged and asks to confirm; the confirmed POST resolves those the user may."""
    user = request.user
    form = BulkAcknowledgeForm(request.POST, user=user)
    if not form.is_valid():
        messages.error(request, " ".join(form.problems()))
        return redirect(f"{reverse('opportunities:conflicts')}?{request.POST.get('query', '')}")
    chosen = form.cleaned_data["conflicts"]
    if not form.cleaned_data.get("confirm"):
        return render(
            request,
            "opportunities/conflicts_confirm.html",
            {
                "form": form,
                "warnings": conflict_warnings(user=user, conflicts=chosen),
                "query": request.POST.get("query", ""),
            },
        )
    done, skipped = conflicts_acknowledge(
        conflict_ids=[c.pk for c in chosen], acting_user=user, note=form.cleaned_data["note"]
    )
    messages.success(
        request,
        ngettext("%(n)d conflict acknowledged.", "%(n)d conflicts acknowledged.", len(done))
        % {"n": len(done)},
    )
    if skipped:
        messages.warning(
            request,
            ngettext(
                "%(n)d was left alone: resolved meanwhile or not yours to resolve.",
                "%(n)d were left alone: resolved meanwhile or not yours to resolve.",
                skipped,
            )
            % {"n": skipped},
        )
    return redirect(f"{reverse('opportunities:conflicts')}?{request.POST.get('query', '')}")


@login_required
@require_http_methods(["GET", "POST"])
def conflict_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """One situation with its sides, the rules-of-engagement suggestion and the resolve
    actions. A merge is destructive: it is confirmed on a second step before anything is
    written."""
    user = request.user
    conflict = selectors.access_conflict_by_id(user, pk)
    (warning,) = conflict_warnings(user=user, conflicts=[conflict])
    allowed = conflict.status == ConflictStatus.OPEN and may_resolve(user, conflict)
    deals = situation_deals(conflict) if conflict.kind != ConflictKind.DUPLICATE_ACCOUNT else []
    suggested = rightful_company(conflict, deals) if deals else None
    suggested_owner = _suggested_owner(conflict, suggested, deals)
    form = ResolveForm(
        request.POST or None,
        user=user,
        conflict=conflict,
        deals=deals,
        initial={
            "owner": suggested_owner.pk if suggested_owner else None,
            "split_percent": Decimal(50),
            "keep_account": conflict.account_id,
        },
    )
    confirming = False
    if request.method == "POST":
        if not allowed:
            raise PermissionDenied(_("Only the managers involved may resolve this conflict."))
        if form.is_valid():
            data = form.cleaned_data
            if data["resolution"] == Resolution.MERGE and not data.get("confirm"):
                confirming = True
            else:
                try:
                    conflict_resolve(
                        conflict_id=conflict.pk,
                        acting_user=user,
                        resolution=data["resolution"],
                        owner=data.get("owner"),
                        opportunity=data.get("opportunity"),
                        other_opportunity=data.get("other_opportunity"),
                        keep_account=data.get("keep_account"),
                        split_percent=data.get("split_percent"),
                        note=data.get("note") or "",
                    )
                except ValidationError as exc:
                    apply_validation_error(form, exc)
                else:
                    messages.success(request, _("Conflict resolved."))
                    return redirect("opportunities:conflicts")
    return render(
        request,
        "opportunities/conflict_detail.html",
        {
            "conflict": conflict,
            "w": warning,
            "form": form,
            "allowed": allowed,
            "suggested": suggested,
            "suggested_owner": suggested_owner,
            "confirming": confirming,
            "resolutions": Resolution,
            "is_duplicate": conflict.kind == ConflictKind.DUPLICATE_ACCOUNT,
            "has_deals": bool(deals),
            "may_split": len(deals) >= 2,
            "overdue": conflict.status == ConflictStatus.OPEN
            and conflict.created_at < overdue_before(conflict.organization),
        },
        status=400 if form.errors else 200,
    )


def _suggested_owner(
    conflict: Conflict, company: SalesCompany | None, deals: list[Opportunity]
) -> User | None:
    """The seller of the deal booked by the rightful company, else its country manager."""
    if company is None:
        return None
    for opp in deals:
        if opp.sales_company_id == company.pk:
            return opp.owner
    return (
        User.objects.for_org(conflict.organization_id)
        .filter(sales_company=company, is_active=True, role=Role.COUNTRY_MANAGER)
        .first()
    )


# --- Team overview and data quality --------------------------------------------------------------


def _manager_companies(request: AuthenticatedHttpRequest) -> tuple[Any, SalesCompany | None]:
    companies = visible_companies(request.user).order_by("code")
    wanted = parse_id(request.GET.get("company"))
    chosen = companies.filter(pk=wanted).first() if wanted is not None else None
    return companies, chosen


@login_required
@require_GET
def team_overview(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The people of the manager's companies: open pipeline (count, amount in the corporate
    currency at today's rates) and overdue tasks. Three aggregates plus one rate per currency."""
    user = request.user
    _require_manager(user)
    companies, chosen = _manager_companies(request)
    scope = [chosen.pk] if chosen else companies.values("id")
    people = (
        User.objects.visible_to(user)
        .filter(is_active=True, sales_company_id__in=scope)
        .select_related("sales_company")
        .order_by("sales_company__code", "full_name")
    )
    page = _page(request, people)
    ids = [p.pk for p in page.object_list]
    org = Organization.objects.get(pk=user.organization_id)
    today = timezone.localdate()
    pipeline = (
        Opportunity.objects.visible_to(user)
        .filter(owner_id__in=ids, global_stage__is_won=False, global_stage__is_lost=False)
        .values("owner_id", "currency")
        .annotate(n=Count("id"), total=Sum("amount"))
        .order_by()
    )
    figures: dict[int, dict[str, Any]] = {
        pk: {"count": 0, "amount": Decimal(0), "overdue": 0} for pk in ids
    }
    missing_rate = ""
    for row in pipeline:
        f = figures[row["owner_id"]]
        f["count"] += row["n"]
        if row["total"] is None:
            continue
        try:
            f["amount"] += to_corporate_exact(
                organization=org, amount=row["total"], currency=row["currency"], on_date=today
            )
        except MissingExchangeRateError as exc:
            missing_rate = str(exc)
    for f in figures.values():
        f["amount"] = money(f["amount"])
    overdue = (
        Activity.objects.visible_to(user)
        .filter(owner_id__in=ids, done_at__isnull=True, due_at__lt=timezone.now())
        .values("owner_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    for late in overdue:
        figures[late["owner_id"]]["overdue"] = late["n"]
    rows = [(p, figures[p.pk]) for p in page.object_list]
    return render(
        request,
        "opportunities/team.html",
        {
            "page": page,
            "rows": rows,
            "companies": companies,
            "chosen": chosen,
            "currency": org.corporate_currency,
            "missing_rate": missing_rate,
        },
    )


@login_required
@require_GET
def data_quality(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Records to fix, by the one data-quality rule (``selectors.data_quality_*``, which the
    dashboard and the export count too): two paginated lists."""
    user = request.user
    _require_manager(user)
    companies, chosen = _manager_companies(request)
    today = timezone.localdate()
    ids = scoped_company_ids(user) if chosen is None else [chosen.pk]
    opps = (
        selectors.data_quality_opportunities(
            user=user, as_of=today, within=None if ids is None else Q(sales_company_id__in=ids)
        )
        .filter(has_issue=True)
        .select_related("account", "owner", "sales_company", "local_stage")
        .order_by("sales_company__code", "expected_close_date", "pk")
    )
    accounts = (
        selectors.data_quality_accounts(
            user=user, within=None if ids is None else Q(home_company_id__in=ids)
        )
        .filter(has_issue=True)
        .select_related("home_company")
        .order_by("name", "pk")
    )
    return render(
        request,
        "opportunities/data_quality.html",
        {
            "opps": _page(request, opps),
            "accounts": _page(request, accounts, param="apage"),
            "today": today,
            "companies": companies,
            "chosen": chosen,
            "stale_days": selectors.STALE_AFTER_DAYS,
            "query": _query_without(request, "page"),
            "aquery": _query_without(request, "apage"),
        },
    )
