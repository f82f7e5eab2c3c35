"""Pages of lead management (leads inbox, campaigns) and of the process set-up (global stages,
local processes and their mapping, framework agreements, global account teams).

Thin views: forms validate, services write (``pipeline.services``, ``accounts.services``, and for
conversion ``opportunities.services``), selectors and visibility-backed querysets read. Lists run
a constant number of queries whatever their length (select_related / prefetch, paginated).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any

from django.apps import apps
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, Q
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts import services as account_services
from accounts.models import Account, AccountTeamMember, Contact, FrameworkAgreement
from accounts.normalize import normalize_name
from crm.ids import parse_id
from crm.models import User
from crm.roles import Role
from crm.spreadsheet import Echo, csv_text
from crm.views import admin_required, apply_validation_error
from crm.visibility import apply, get_visible_or_404
from pipeline import selectors, services
from pipeline.forms import (
    AgreementForm,
    AssignForm,
    CampaignForm,
    ConvertForm,
    DisqualifyForm,
    GlobalStageForm,
    LeadFilterForm,
    LeadForm,
    LocalStageRowFormSet,
    MemberAddForm,
    MemberSearchForm,
    ProcessForm,
    RemapForm,
    TeamMemberForm,
)
from pipeline.models import GlobalStage, Lead, LeadStatus, LocalStage, SalesProcess

View = Callable[..., HttpResponse]

PAGE_SIZE = 25
MEMBER_CANDIDATES = 20

# The lead rule is the services' (the API asks the same): lead pages for marketing and the
# managers who own the hand-over, conversion for those who may book the opportunity.
LEAD_ROLES = services.LEAD_ROLES
# Agreements are the director's and teams are managed by the director (accounts.services); the
# global admin sees both in the set-up, read-only.
AGREEMENT_ROLES = frozenset({Role.GLOBAL_ADMIN, Role.GLOBAL_DIRECTOR})


def allowed_by(rule: Callable[[User], bool]) -> Callable[[View], View]:
    """Signed in, and ``rule(user)`` holds; else 403."""

    def decorator(view: View) -> View:
        @wraps(view)
        @login_required
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not rule(request.user):
                raise PermissionDenied(_("Your role does not allow this page."))
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def roles_required(roles: frozenset[str]) -> Callable[[View], View]:
    return allowed_by(lambda user: user.role in roles)


def lead_access(action: services.LeadAction) -> Callable[[View], View]:
    """The role half of ``services.may_lead`` (the API's ``MayLead``); each view checks the lead
    itself through the services."""
    return allowed_by(lambda user: services.may_lead(user, action))


def _error_text(exc: ValidationError) -> str:
    return " ".join(str(m) for m in exc.messages)


# --- Leads -------------------------------------------------------------------------------------


@lead_access(services.LeadAction.VIEW)
def lead_list(request: HttpRequest) -> HttpResponse:
    user: User = request.user
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
        "pipeline/lead_list.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "may_convert": services.may_lead(user, services.LeadAction.CONVERT),
        },
    )


@lead_access(services.LeadAction.CREATE)
@require_http_methods(["GET", "POST"])
def lead_create(request: HttpRequest) -> HttpResponse:
    user: User = request.user
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
            return redirect("pipeline:lead_detail", pk=lead.pk)
    return render(request, "pipeline/lead_form.html", {"form": form})


@lead_access(services.LeadAction.VIEW)
def lead_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user: User = request.user
    lead = selectors.lead_get(user=user, pk=pk)
    return render(
        request,
        "pipeline/lead_detail.html",
        {
            "lead": lead,
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
def lead_qualify(request: HttpRequest, pk: int) -> HttpResponse:
    lead = selectors.lead_get(user=request.user, pk=pk)
    try:
        services.lead_qualify(lead=lead, acting_user=request.user)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, _("%(lead)s is qualified.") % {"lead": lead})
    return redirect("pipeline:lead_detail", pk=lead.pk)


@lead_access(services.LeadAction.WORK)
@require_http_methods(["GET", "POST"])
def lead_disqualify(request: HttpRequest, pk: int) -> HttpResponse:
    lead = selectors.lead_get(user=request.user, pk=pk)
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
            return redirect("pipeline:lead_detail", pk=lead.pk)
    return render(request, "pipeline/lead_disqualify.html", {"lead": lead, "form": form})


@lead_access(services.LeadAction.WORK)
@require_http_methods(["GET", "POST"])
def lead_assign(request: HttpRequest, pk: int) -> HttpResponse:
    lead = selectors.lead_get(user=request.user, pk=pk)
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
        return redirect("pipeline:lead_detail", pk=lead.pk)
    return render(request, "pipeline/lead_assign.html", {"lead": lead, "form": form})


@lead_access(services.LeadAction.CONVERT)
@require_http_methods(["GET", "POST"])
def lead_convert(request: HttpRequest, pk: int) -> HttpResponse:
    """Account (matched or new), contact and opportunity in one transaction. When the company
    looks like existing accounts, nothing is written: the candidates are shown, and the user
    picks one or confirms a new customer, and posts again."""
    from opportunities.services import DuplicateAccountsError
    from opportunities.services import lead_convert as convert

    user: User = request.user
    lead = selectors.lead_get(user=user, pk=pk)
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
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        choice = data.pop("account").strip()
        account: Account | None = None
        if (account_id := parse_id(choice)) is not None:
            account = apply(Account.objects.unscoped(), user).filter(pk=account_id).first()
            if account is None:
                form.add_error(None, _("Choose one of the accounts listed."))
        if not form.errors:
            try:
                result = convert(
                    lead=lead,
                    acting_user=user,
                    account=account,
                    create_account=choice == "new",
                    **data,
                )
            except DuplicateAccountsError as exc:
                candidates = exc.candidates
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
                return redirect("pipeline:lead_detail", pk=lead.pk)
    return render(
        request,
        "pipeline/lead_convert.html",
        {"lead": lead, "form": form, "candidates": candidates},
    )


# --- Campaigns ---------------------------------------------------------------------------------


@roles_required(LEAD_ROLES)
def campaign_list(request: HttpRequest) -> HttpResponse:
    campaigns = selectors.campaign_list(user=request.user).annotate(
        member_count=Count("members", distinct=True)
    )
    page = Paginator(campaigns, PAGE_SIZE).get_page(request.GET.get("page"))
    may_create = services.may_run_campaigns(request.user, request.user.organization_id)
    return render(request, "pipeline/campaign_list.html", {"page": page, "may_create": may_create})


@roles_required(LEAD_ROLES)
@require_http_methods(["GET", "POST"])
def campaign_create(request: HttpRequest) -> HttpResponse:
    user: User = request.user
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
            return redirect("pipeline:campaign_detail", pk=campaign.pk)
    return render(request, "pipeline/campaign_form.html", {"form": form})


@roles_required(LEAD_ROLES)
@require_http_methods(["GET", "POST"])
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    from opportunities.selectors import campaign_member_list

    user: User = request.user
    campaign = selectors.campaign_get(user=user, pk=pk)
    if request.method == "POST":
        add = MemberAddForm(request.POST)
        if add.is_valid():
            _member_add(request, campaign, add.cleaned_data)
        else:
            messages.error(request, _("Choose one contact or one lead."))
        return redirect(f"{reverse('pipeline:campaign_detail', args=[campaign.pk])}")
    members = campaign_member_list(campaign=campaign, user=user)
    page = Paginator(members, PAGE_SIZE).get_page(request.GET.get("page"))
    search = MemberSearchForm(request.GET or None)
    contacts: list[Contact] = []
    leads: list[Lead] = []
    if search.is_valid() and search.cleaned_data["q"].strip():
        contacts, leads = _member_candidates(user, search.cleaned_data["q"].strip())
    return render(
        request,
        "pipeline/campaign_detail.html",
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
        apply(Contact.objects.unscoped(), user)
        .filter(contact_q)
        .select_related("account")
        .order_by("full_name", "pk")[:MEMBER_CANDIDATES]
    )
    leads = list(
        apply(Lead.objects.unscoped(), user)
        .filter(Q(company_name__istartswith=term) | Q(contact_name__istartswith=term))
        .order_by("company_name", "pk")[:MEMBER_CANDIDATES]
    )
    return contacts, leads


def _member_add(request: HttpRequest, campaign: Any, data: dict[str, Any]) -> None:
    user: User = request.user
    # Visible or 404: nobody enrols people they cannot see.
    if data.get("contact"):
        target: Any = get_visible_or_404(Contact.objects.unscoped(), user, pk=data["contact"])
        kwargs = {"contact": target}
    else:
        target = get_visible_or_404(Lead.objects.unscoped(), user, pk=data["lead"])
        kwargs = {"lead": target}
    try:
        services.campaign_member_add(campaign=campaign, acting_user=user, **kwargs)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, _("%(who)s is a member now.") % {"who": target})


@roles_required(LEAD_ROLES)
def campaign_export(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """The members that may be mailed: contacts without marketing consent or an e-mail
    address, and suppressed (do-not-market) ones, are left out."""
    from opportunities.selectors import campaign_member_export

    campaign = selectors.campaign_get(user=request.user, pk=pk)
    rows = campaign_member_export(campaign=campaign, user=request.user)
    writer = csv.writer(Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(["type", "name", "title", "email", "company", "country", "attended"])
        for m in rows.iterator(chunk_size=2000):
            if m.contact_id:
                c = m.contact
                cells = [
                    "contact",
                    c.full_name,
                    c.title,
                    c.email,
                    c.account.name,
                    c.account.country,
                ]
            else:
                lead = m.lead
                cells = [
                    "lead",
                    lead.contact_name,
                    lead.contact_title,
                    lead.email,
                    lead.company_name,
                    lead.country,
                ]
            yield writer.writerow([csv_text(v) for v in [*cells, "yes" if m.attended else "no"]])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    filename = f"campaign-{campaign.pk}-{slugify(campaign.name)[:40]}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- Set-up: stages and processes (global admin) -----------------------------------------------


@admin_required
def setup_stages(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        services.global_stages_ensure_default(
            organization=request.user.organization, acting_user=request.user
        )
        messages.success(request, _("The default global stages are in place."))
        return redirect("setup:stages")
    stages = selectors.global_stage_list(organization=request.user.organization_id).annotate(
        local_count=Count("local_stages")
    )
    return render(request, "pipeline/setup/stages.html", {"stages": stages})


@admin_required
@require_http_methods(["GET", "POST"])
def setup_stage_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user: User = request.user
    stage = get_visible_or_404(GlobalStage.objects.unscoped(), user, pk=pk)
    form = GlobalStageForm(
        request.POST or None,
        initial={
            "name": stage.name,
            "probability": stage.probability,
            "forecast_category": stage.forecast_category,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.global_stage_update(stage=stage, acting_user=user, **form.cleaned_data)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, _("%(name)s is saved.") % {"name": saved.name})
            return redirect("setup:stages")
    return render(request, "pipeline/setup/stage_form.html", {"stage": stage, "form": form})


@admin_required
def setup_processes(request: HttpRequest) -> HttpResponse:
    org_id = request.user.organization_id
    processes = (
        SalesProcess.objects.for_org(org_id)
        .select_related("sales_company")
        .prefetch_related(
            Prefetch(
                "stages",
                queryset=LocalStage.objects.for_org(org_id)
                .select_related("global_stage")
                .order_by("order"),
            )
        )
        .order_by("sales_company__code")
    )
    without = (
        apply(apps.get_model("crm.SalesCompany").objects.unscoped(), request.user)
        .filter(processes__isnull=True)
        .order_by("code")
    )
    return render(
        request,
        "pipeline/setup/processes.html",
        {"processes": processes, "without_process": without},
    )


@admin_required
@require_http_methods(["GET", "POST"])
def setup_process_create(request: HttpRequest) -> HttpResponse:
    """A process for a company without one, pre-filled with one local stage per global stage
    (named and ordered as the global one), which the admin renames, drops or refines."""
    user: User = request.user
    org_id = user.organization_id
    company = None
    requested = parse_id(request.GET.get("company", ""))
    if requested is not None:
        # Another organization's company is missing here, as everywhere.
        company = get_visible_or_404(
            apps.get_model("crm.SalesCompany").objects.unscoped(), user, pk=requested
        )
    global_stages = list(selectors.global_stage_list(organization=org_id))
    form = ProcessForm(
        request.POST or None,
        user=user,
        initial={"sales_company": company.pk, "name": company.name} if company else {},
    )
    rows = LocalStageRowFormSet(
        request.POST or None,
        initial=[
            {"name": gs.name, "order": gs.order, "global_stage": gs.pk} for gs in global_stages
        ],
        form_kwargs={"organization_id": org_id},
        prefix="stages",
    )
    # Both validated (no short-circuit), so one post shows the errors of the process and rows.
    valid = [form.is_valid(), rows.is_valid()] if request.method == "POST" else [False]
    if all(valid):
        stages = [spec for row in rows for spec in [row.stage()] if spec is not None]
        try:
            process = services.sales_process_create(
                sales_company=form.cleaned_data["sales_company"],
                name=form.cleaned_data["name"],
                stages=stages,
                acting_user=user,
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(
                request,
                _("%(company)s has the sales process %(name)s now.")
                % {"company": process.sales_company.name, "name": process.name},
            )
            return redirect("setup:processes")
    return render(
        request,
        "pipeline/setup/process_form.html",
        {"form": form, "rows": rows, "has_global_stages": bool(global_stages)},
    )


@admin_required
@require_http_methods(["GET", "POST"])
def setup_stage_remap(request: HttpRequest, pk: int) -> HttpResponse:
    """Two steps: choose the global stage, then confirm seeing how many deals move with it."""
    user: User = request.user
    stage = get_visible_or_404(
        LocalStage.objects.unscoped().select_related("global_stage", "process__sales_company"),
        user,
        pk=pk,
    )
    form = RemapForm(
        request.POST or None,
        organization_id=user.organization_id,
        initial={"global_stage": stage.global_stage_id},
    )
    # The model only (no upward service import), as local_stage_remap itself does.
    opportunity_model = apps.get_model("opportunities.Opportunity")
    affected = opportunity_model.objects.for_org(user.organization_id).filter(local_stage=stage)
    context: dict[str, Any] = {"stage": stage, "form": form, "confirming": False}
    if request.method == "POST" and form.is_valid():
        target = form.cleaned_data["global_stage"]
        if target.pk == stage.global_stage_id:
            form.add_error("global_stage", _("The stage is mapped there already."))
        elif not form.cleaned_data["confirmed"]:
            context.update(confirming=True, target=target, affected=affected.count())
        else:
            try:
                moved = services.local_stage_remap(
                    local_stage=stage, global_stage=target, acting_user=user
                )
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                messages.success(
                    request,
                    _("%(stage)s now maps to %(target)s; %(n)s opportunities moved with it.")
                    % {"stage": stage.name, "target": target.name, "n": moved},
                )
                return redirect("setup:processes")
    return render(request, "pipeline/setup/remap.html", context)


# --- Set-up: framework agreements and global account teams -------------------------------------


@roles_required(AGREEMENT_ROLES)
@require_http_methods(["GET", "POST"])
def setup_agreements(request: HttpRequest) -> HttpResponse:
    user: User = request.user
    may_create = user.role == Role.GLOBAL_DIRECTOR
    form = AgreementForm(request.POST or None, user=user) if may_create else None
    if request.method == "POST":
        if form is None:
            raise PermissionDenied(_("Agreements are the sales director's."))
        if form.is_valid():
            data = dict(form.cleaned_data)
            try:
                agreement = account_services.agreement_create(acting_user=user, **data)
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                messages.success(request, _("%(name)s is saved.") % {"name": agreement.name})
                return redirect("setup:agreements")
    agreements = (
        apply(FrameworkAgreement.objects.unscoped(), user)
        .select_related("account")
        .prefetch_related("tiers", "covered_companies")
        .order_by("-valid_from", "pk")
    )
    page = Paginator(agreements, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "pipeline/setup/agreements.html",
        {"page": page, "form": form, "may_create": may_create},
    )


@roles_required(AGREEMENT_ROLES)
def setup_teams(request: HttpRequest) -> HttpResponse:
    user: User = request.user
    term = request.GET.get("q", "").strip()
    groups = apply(Account.objects.unscoped(), user).filter(parent__isnull=True)
    if term:
        groups = groups.filter(normalized_name__startswith=normalize_name(term))
    else:
        # Without a search, the groups that have a team: those are the global accounts.
        groups = groups.filter(team__isnull=False)
    groups = (
        groups.select_related("home_company")
        .annotate(member_count=Count("team", distinct=True))
        .order_by("name", "pk")
    )
    page = Paginator(groups, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "pipeline/setup/teams.html", {"page": page, "term": term})


@roles_required(AGREEMENT_ROLES)
@require_http_methods(["GET", "POST"])
def setup_team(request: HttpRequest, pk: int) -> HttpResponse:
    user: User = request.user
    group = get_visible_or_404(
        Account.objects.unscoped().select_related("home_company"), user, pk=pk, parent__isnull=True
    )
    may_manage = account_services.may_manage_group(user, group)
    form = TeamMemberForm(request.POST or None, user=user) if may_manage else None
    if request.method == "POST":
        if form is None:
            raise PermissionDenied(_("You may not manage this account team."))
        if form.is_valid():
            try:
                member = account_services.team_member_add(
                    group=group, acting_user=user, **form.cleaned_data
                )
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                messages.success(
                    request,
                    _("%(who)s is on the team of %(group)s.")
                    % {"who": member.user.full_name, "group": group.name},
                )
                return redirect("setup:team", pk=group.pk)
    members = (
        apply(AccountTeamMember.objects.unscoped(), user)
        .filter(account=group)
        .select_related("user", "sales_company")
        .order_by("role", "user__full_name")
    )
    return render(
        request,
        "pipeline/setup/team.html",
        {"group": group, "members": members, "form": form, "may_manage": may_manage},
    )


@roles_required(AGREEMENT_ROLES)
@require_http_methods(["GET", "POST"])
def setup_team_member_remove(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST removes (and with the row, the member's visibility)."""
    user: User = request.user
    member = get_visible_or_404(
        AccountTeamMember.objects.unscoped().select_related("account", "user", "sales_company"),
        user,
        pk=pk,
    )
    if not account_services.may_manage_group(user, member.account):
        raise PermissionDenied(_("You may not manage this account team."))
    if request.method == "POST":
        group_pk = member.account_id
        account_services.team_member_remove(member=member, acting_user=user)
        messages.success(
            request,
            _("%(who)s is off the team of %(group)s.")
            % {"who": member.user.full_name, "group": member.account.name},
        )
        return redirect("setup:team", pk=group_pk)
    return render(request, "pipeline/setup/team_member_remove.html", {"member": member})
