"""Pages of lead management: the leads inbox, the hand-over to sales, campaigns and members.

Thin views: forms validate, services write (``leads.services``), selectors and visibility-backed
querysets read. Lists run a constant number of queries whatever their length.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import Account, Contact
from accounts.normalize import normalize_name
from accounts.selectors import access_account_by_id, access_contact_by_id
from accounts.services import DuplicateAccountError
from crm.decorators import View, allowed_by, roles_required
from crm.forms import apply_validation_error
from crm.http import AuthenticatedHttpRequest
from crm.ids import parse_id
from crm.models import User
from crm.registry import access_by_id
from crm.spreadsheet import Echo, csv_delimiter, csv_text, export_filename
from leads import selectors, services
from leads.forms import (
    AssignForm,
    CampaignForm,
    ConvertForm,
    DisqualifyForm,
    LeadFilterForm,
    LeadForm,
    MarketingPauseForm,
    MemberAddForm,
    MemberSearchForm,
)
from leads.models import Lead, LeadStatus, MarketingPause
from leads.suppression import (
    account_suppression,
    active_pauses,
    lead_suppression,
    suppression_reason,
)

PAGE_SIZE = 25


MEMBER_CANDIDATES = 20


# The lead rule is the services' (the API asks the same): lead pages for marketing and the
# managers who own the hand-over, conversion for those who may book the opportunity; sellers
# read and convert the leads assigned to them. Campaigns are lead management's only.
LEAD_ROLES = services.LEAD_ROLES


def lead_access(action: services.LeadAction) -> Callable[[View], View]:
    """The role half of ``services.may_lead`` (the API's ``MayLead``); each view checks the lead
    itself through the services."""
    return allowed_by(lambda user: services.may_lead(user, action))


def _error_text(exc: ValidationError) -> str:
    return " ".join(str(m) for m in exc.messages)


@lead_access(services.LeadAction.VIEW)
def lead_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    form = LeadFilterForm(request.GET or None, user=user)
    filters: dict[str, Any] = {}
    if form.is_valid():
        data = form.cleaned_data
        filters = {
            "status": data["status"] or None,
            "sales_company": data["company"],
            "campaign": data["campaign"],
            "search": data["q"] or "",
        }
    leads = selectors.lead_list(user=user, **filters)
    page = Paginator(leads, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "leads/lead_list.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "may_convert": services.may_lead(user, services.LeadAction.CONVERT),
            "may_create": services.may_lead(user, services.LeadAction.CREATE),
        },
    )


@lead_access(services.LeadAction.CREATE)
@require_http_methods(["GET", "POST"])
def lead_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    form = LeadForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        try:
            lead = services.lead_create(
                organization=user.organization, acting_user=user, **form.cleaned_data
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            if lead.sales_company_id is None:
                messages.warning(
                    request,
                    _("No sales company works leads from %(country)s yet; the lead is unrouted.")
                    % {"country": lead.country},
                )
            messages.success(request, _("The lead %(lead)s is saved.") % {"lead": lead})
            held = lead_suppression(lead)
            if held.do_not_market:
                messages.warning(
                    request,
                    _("Do not market: %(reason)s. The lead stays in campaigns, flagged.")
                    % {"reason": held.reason},
                )
            return redirect("leads:lead_detail", pk=lead.pk)
    return render(request, "leads/lead_form.html", {"form": form})


@lead_access(services.LeadAction.VIEW)
def lead_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    user = request.user
    lead = selectors.access_lead_by_id(user, pk)
    return render(
        request,
        "leads/lead_detail.html",
        {
            "lead": lead,
            "suppression": lead_suppression(lead),
            "may_work": services.may_work_lead(user, lead),
            "may_convert": services.may_lead(user, services.LeadAction.CONVERT, lead),
            "is_open": lead.status not in (LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED),
            "opportunity_url": _url_or_none("opportunities:detail", lead.converted_opportunity_id),
            "account_url": _url_or_none("accounts:detail", lead.converted_account_id),
        },
    )


def _url_or_none(name: str, pk: int | None) -> str | None:
    """A link to the converted record, if any; a URL name that does not resolve raises."""
    if pk is None:
        return None
    return reverse(name, args=[pk])


@lead_access(services.LeadAction.WORK)
@require_POST
def lead_qualify(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    lead = selectors.access_lead_by_id(request.user, pk)
    try:
        services.lead_qualify(lead=lead, acting_user=request.user)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, _("%(lead)s is qualified.") % {"lead": lead})
    return redirect("leads:lead_detail", pk=lead.pk)


@lead_access(services.LeadAction.WORK)
@require_http_methods(["GET", "POST"])
def lead_disqualify(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    lead = selectors.access_lead_by_id(request.user, pk)
    form = DisqualifyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.lead_disqualify(
                lead=lead, acting_user=request.user, reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, _("%(lead)s is disqualified.") % {"lead": lead})
            return redirect("leads:lead_detail", pk=lead.pk)
    return render(request, "leads/lead_disqualify.html", {"lead": lead, "form": form})


@lead_access(services.LeadAction.WORK)
@require_http_methods(["GET", "POST"])
def lead_assign(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    lead = selectors.access_lead_by_id(request.user, pk)
    form = AssignForm(
        request.POST or None,
        user=request.user,
        company_id=lead.sales_company_id,
        initial={"owner": lead.owner_id},
    )
    if request.method == "POST" and form.is_valid():
        services.lead_assign(lead=lead, owner=form.cleaned_data["owner"], acting_user=request.user)
        messages.success(
            request,
            _("%(lead)s is assigned to %(owner)s.")
            % {"lead": lead, "owner": form.cleaned_data["owner"].full_name},
        )
        return redirect("leads:lead_detail", pk=lead.pk)
    return render(request, "leads/lead_assign.html", {"lead": lead, "form": form})


@lead_access(services.LeadAction.CONVERT)
@require_http_methods(["GET", "POST"])
def lead_convert(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Account (matched or new), contact and opportunity in one transaction. When the company
    looks like existing accounts, nothing is written: the candidates are shown, and the user
    picks one or confirms a new customer, and posts again."""
    user = request.user
    lead = selectors.access_lead_by_id(user, pk)
    if not services.may_lead(user, services.LeadAction.CONVERT, lead):
        raise PermissionDenied(_("You may not hand this lead over."))
    form = ConvertForm(
        request.POST or None,
        user=user,
        company_id=lead.sales_company_id,
        initial={
            "owner": lead.owner_id,
            "opportunity_name": f"{lead.company_name} - {lead.source}",
        },
    )
    candidates: list[Any] = []
    hidden_matches: list[Any] = []
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        choice = data.pop("account").strip()
        account: Account | None = None
        if (account_id := parse_id(choice)) is not None:
            account = Account.objects.visible_to(user).filter(pk=account_id).first()
            if account is None:
                form.add_error(None, _("Choose one of the accounts listed."))
        if not form.errors:
            try:
                result = services.lead_convert(
                    lead=lead,
                    acting_user=user,
                    account=account,
                    create_account=choice == "new",
                    **data,
                )
            except DuplicateAccountError as exc:
                candidates, hidden_matches = exc.candidates, exc.hidden_matches
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                messages.success(
                    request,
                    _("%(lead)s is converted: opportunity %(opp)s at %(account)s.")
                    % {
                        "lead": lead.company_name,
                        "opp": result.opportunity.name,
                        "account": result.account.name,
                    },
                )
                return redirect("leads:lead_detail", pk=lead.pk)
    return render(
        request,
        "leads/lead_convert.html",
        {
            "lead": lead,
            "form": form,
            "candidates": candidates,
            # Need-to-know: who works each look-alike the user may not see, and whom to ask.
            "hidden_matches": hidden_matches,
            "hidden": len(hidden_matches),
        },
    )


@roles_required(LEAD_ROLES)
def campaign_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    campaigns = selectors.campaign_list(user=request.user).annotate(
        # Archived contacts are no members (``selectors.LIVE_MEMBER``).
        member_count=Count(
            "members",
            filter=Q(members__contact__isnull=True) | Q(members__contact__archived_at__isnull=True),
            distinct=True,
        )
    )
    page = Paginator(campaigns, PAGE_SIZE).get_page(request.GET.get("page"))
    may_create = services.may_run_campaigns(request.user, request.user.organization_id)
    return render(request, "leads/campaign_list.html", {"page": page, "may_create": may_create})


@roles_required(LEAD_ROLES)
@require_http_methods(["GET", "POST"])
def campaign_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    if not services.may_run_campaigns(user, user.organization_id):
        raise PermissionDenied(_("Your role does not allow this page."))
    own = user.sales_company
    form = CampaignForm(
        request.POST or None,
        user=user,
        initial={
            "currency": own.currency if own else user.organization.corporate_currency,
            "sales_companies": [own.pk] if own else [],
        },
    )
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        data["sales_companies"] = list(data["sales_companies"])
        try:
            campaign = services.campaign_create(
                organization=user.organization, acting_user=user, **data
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, _("The campaign %(name)s is saved.") % {"name": campaign})
            return redirect("leads:campaign_detail", pk=campaign.pk)
    return render(request, "leads/campaign_form.html", {"form": form})


@roles_required(LEAD_ROLES)
@require_http_methods(["GET", "POST"])
def campaign_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    user = request.user
    campaign = selectors.access_campaign_by_id(user, pk)
    if request.method == "POST":
        add = MemberAddForm(request.POST)
        if add.is_valid():
            _member_add(request, campaign, add.cleaned_data)
        else:
            messages.error(request, _("Choose one contact or one lead."))
        return redirect(f"{reverse('leads:campaign_detail', args=[campaign.pk])}")
    members = selectors.campaign_member_list(campaign=campaign, user=user)
    page = Paginator(members, PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = list(page.object_list)
    for member in page.object_list:
        member.suppression_reason = suppression_reason(member)  # type: ignore[attr-defined]
    search = MemberSearchForm(request.GET or None)
    contacts: list[Contact] = []
    leads: list[Lead] = []
    if search.is_valid() and search.cleaned_data["q"].strip():
        contacts, leads = _member_candidates(user, search.cleaned_data["q"].strip())
    return render(
        request,
        "leads/campaign_detail.html",
        {
            "campaign": campaign,
            "page": page,
            "search": search,
            "contacts": contacts,
            "leads": leads,
            "companies": list(campaign.sales_companies.all()),
        },
    )


def _member_candidates(user: User, term: str) -> tuple[list[Contact], list[Lead]]:
    """Visible contacts (by name, e-mail or their account's normalized name prefix) and leads."""
    norm = normalize_name(term)
    contact_q = Q(full_name__istartswith=term) | Q(email__istartswith=term)
    if norm:
        contact_q |= Q(account__normalized_name__startswith=norm)
    contacts = list(
        Contact.objects.visible_to(user)
        .filter(contact_q, archived_at__isnull=True)
        .select_related("account")
        .order_by("full_name", "pk")[:MEMBER_CANDIDATES]
    )
    leads = list(
        Lead.objects.visible_to(user)
        .filter(Q(company_name__istartswith=term) | Q(contact_name__istartswith=term))
        .order_by("company_name", "pk")[:MEMBER_CANDIDATES]
    )
    return contacts, leads


def _member_add(request: AuthenticatedHttpRequest, campaign: Any, data: dict[str, Any]) -> None:
    user = request.user
    # Visible or 404: nobody enrols people they cannot see.
    if data.get("contact"):
        target: Any = access_contact_by_id(user, data["contact"])
        kwargs = {"contact": target}
    else:
        target = selectors.access_lead_by_id(user, data["lead"])
        kwargs = {"lead": target}
    try:
        services.campaign_member_add(campaign=campaign, acting_user=user, **kwargs)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, _("%(who)s is a member now.") % {"who": target})


@roles_required(LEAD_ROLES)
def campaign_export(request: AuthenticatedHttpRequest, pk: int) -> StreamingHttpResponse:
    """The members that may be mailed, and those held back, flagged: contacts without
    marketing consent or an e-mail address are left out; do-not-market ones (their group in
    negotiation, their marketing paused) are listed last with "do not market" and the reason,
    so marketing sees who is held back and why. ``;``-separated where the decimal separator is
    a comma (de, da, sv), as spreadsheets there expect."""
    campaign = selectors.access_campaign_by_id(request.user, pk)
    rows = selectors.campaign_member_export(
        campaign=campaign, user=request.user, include_suppressed=True
    )
    writer = csv.writer(Echo(), delimiter=csv_delimiter())
    header = [
        _("Type"), _("Name"), _("Title"), _("E-mail"), _("Company"), _("Country"),
        _("Attended"), _("Do not market"), _("Reason"),
    ]  # fmt: skip

    def lines() -> Iterator[str]:
        # The BOM: Excel reads the file as UTF-8 (ä, ø, ß) instead of the local code page.
        yield "\ufeff" + writer.writerow([csv_text(h) for h in header])
        for m in rows.iterator(chunk_size=2000):
            c = m.contact
            if c is not None:
                cells = [
                    _("Contact"),
                    c.full_name,
                    c.title,
                    c.email,
                    c.account.name,
                    c.account.country,
                ]
            else:
                lead = m.lead
                assert lead is not None  # a member is a contact or a lead (a check constraint)
                cells = [
                    _("Lead"),
                    lead.contact_name,
                    lead.contact_title,
                    lead.email,
                    lead.company_name,
                    lead.country,
                ]
            flags = [
                _("yes") if m.attended else _("no"),
                _("yes") if m.do_not_market else _("no"),
                suppression_reason(m),
            ]
            yield writer.writerow([csv_text(v) for v in [*cells, *flags]])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    filename = export_filename(
        "campaign", campaign.name, date=timezone.localdate(), extension="csv"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- Marketing on the account page ---------------------------------------------------------


def _marketing_context(
    request: AuthenticatedHttpRequest, account: Account, form: MarketingPauseForm | None = None
) -> dict[str, Any]:
    user = request.user
    group_id = account.group_id or account.pk
    pauses = (
        active_pauses(account.organization_id)
        .filter(Q(account_id=account.pk) | Q(group_id=group_id))
        .select_related("account", "created_by")
        .order_by("until", "id")
    )
    return {
        "account": account,
        "suppression": account_suppression(account),
        "pauses": list(pauses),
        "may_pause": services.may_pause_marketing(user, account),
        "form": form or MarketingPauseForm(),
    }


@login_required
def account_marketing(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The account's marketing status (do not market, and why) and its pauses; the 360° page
    loads it as a fragment (the account pages are below leads and cannot ask for it)."""
    account = access_account_by_id(request.user, pk)
    context = _marketing_context(request, account)
    template = "leads/_account_marketing.html" if request.htmx else "leads/account_marketing.html"
    return render(request, template, context)


@login_required
@require_POST
def account_marketing_pause(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    user = request.user
    account = access_account_by_id(user, pk)
    if not services.may_pause_marketing(user, account):
        raise PermissionDenied(_("You may not pause marketing to this account."))
    form = MarketingPauseForm(request.POST)
    if form.is_valid():
        try:
            services.marketing_pause_create(
                account=account,
                acting_user=user,
                reason=form.cleaned_data["reason"],
                until=form.cleaned_data["until"],
                whole_group=form.cleaned_data["whole_group"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, _("Marketing to %(name)s is paused.") % {"name": account})
            return redirect("accounts:detail", pk=account.pk)
    context = _marketing_context(request, account, form)
    return render(request, "leads/account_marketing.html", context, status=400)


@login_required
@require_POST
def account_marketing_end(request: AuthenticatedHttpRequest, pk: int, pause: int) -> HttpResponse:
    user = request.user
    account = access_account_by_id(user, pk)
    if not services.may_pause_marketing(user, account):
        raise PermissionDenied(_("You may not change marketing pauses of this account."))
    group_id = account.group_id or account.pk
    found = access_by_id(
        MarketingPause.objects.visible_to(user).filter(
            Q(account_id=account.pk) | Q(group_id=group_id)
        ),
        pause,
    )
    services.marketing_pause_end(pause=found, acting_user=user)
    messages.success(request, _("The marketing pause is ended."))
    return redirect("accounts:detail", pk=account.pk)
