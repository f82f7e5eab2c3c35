"""Account pages: the list with search, a task's "done" (the 360° and its "log an activity"
read deals: ``opportunities.customer_views``), and the htmx helpers of the opportunity form
(account autocomplete, duplicate check and the inline new account). Thin: forms validate,
services write, selectors read."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import selectors, services
from accounts.forms import (
    AccountEditForm,
    AccountPlanForm,
    AccountSearchForm,
    InlineAccountForm,
    PlanActionForm,
)
from accounts.matching import DuplicateCandidate
from accounts.selectors import HiddenMatch
from accounts.value import may_see_customer_value
from crm.forms import apply_validation_error
from crm.http import AuthenticatedHttpRequest
from crm.models import User

PAGE_SIZE = 50
SUGGESTIONS = 10


# --- List and 360° -------------------------------------------------------------------------------


@login_required
@require_GET
def account_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = AccountSearchForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    qs = selectors.account_list(
        user=request.user,
        search=data.get("q", ""),
        segment=data.get("segment", ""),
        sort=data.get("sort") or "name",
    )
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        "accounts/list.html",
        {
            "form": form,
            "page": page,
            "query": params.urlencode(),
            "corporate_currency": request.user.organization.corporate_currency,
            "show_value": may_see_customer_value(request.user),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def account_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Edit an account and its group. The services decide, as for the API: an invisible account
    is 404, a visible one the user may not change 403 (a parent change needs the group-link
    rule on both sides, ``services.may_link_to_group``)."""
    user = request.user
    account = selectors.access_account_by_id(user, pk)
    if not services.may_change_account(user, account):
        raise PermissionDenied(_("You may not change this account."))
    form = AccountEditForm(request.POST or None, user=user, account=account)
    if request.method == "POST" and form.is_valid():
        fields = dict(form.cleaned_data)
        parent = fields.pop("parent")
        try:
            services.account_edit(account=account, parent=parent, acting_user=user, **fields)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, _("The account %(name)s is saved.") % {"name": account.name})
            return redirect("accounts:detail", pk=account.pk)
    return render(
        request,
        "accounts/edit.html",
        {"account": account, "form": form},
        status=400 if form.errors else 200,
    )


# --- My tasks (the page is the shell's, meridian/tasks.py: it lists leads too) ----------------


@login_required
@require_POST
def activity_done(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    activity = selectors.access_activity_by_id(request.user, pk)
    services.activity_complete(activity=activity, acting_user=request.user)
    if request.htmx:
        return render(request, "accounts/_task_done.html", {"task": activity})
    messages.success(request, _("“%(subject)s” done.") % {"subject": activity.subject})
    return redirect("accounts:tasks")


# --- htmx helpers of the opportunity form --------------------------------------------------------


@login_required
@require_GET
def account_search(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Autocomplete over the accounts the user may see: radio choices named ``account``."""
    term = (request.GET.get("account_search") or request.GET.get("q") or "").strip()[:100]
    found = (
        list(selectors.account_list(user=request.user, search=term)[:SUGGESTIONS]) if term else []
    )
    return render(
        request,
        "accounts/_account_choices.html",
        {"accounts": found, "term": term, "chosen": request.GET.get("account")},
    )


def _candidates(
    user: User, form: InlineAccountForm
) -> tuple[list[DuplicateCandidate], list[HiddenMatch]]:
    """The look-alikes shown while typing: those the user may see, and need-to-know answers
    for the others (the create itself is refused by the service)."""
    fields = form.service_fields()
    return selectors.duplicate_candidates(
        user=user,
        name=fields["name"],
        country=fields["country"],
        registration_number=fields["registration_number"],
        domain=fields["domain"],
        group=form.cleaned_data.get("new_parent"),
    )


@login_required
@require_GET
def account_duplicates(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Existing accounts the one being typed may duplicate (shown while typing)."""
    form = InlineAccountForm(request.GET, user=request.user)
    candidates, hidden = _candidates(request.user, form) if form.is_valid() else ([], [])
    return render(
        request,
        "accounts/_duplicates.html",
        {"candidates": candidates, "hidden_matches": hidden},
    )


@login_required
@require_http_methods(["POST"])
def account_inline_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Create the account typed in the opportunity form unless it looks like an existing one;
    then it is offered as the chosen account."""
    user = request.user
    form = InlineAccountForm(request.POST, user=user)
    context: dict[str, Any] = {"accounts": [], "inline_form": form}
    if form.is_valid():
        home = form.cleaned_data.get("new_home_company") or user.sales_company
        if home is None:
            form.add_error("new_home_company", _("Choose the account's home company."))
        else:
            try:
                account = services.account_create(
                    organization=user.organization,
                    home_company=home,
                    parent=form.cleaned_data.get("new_parent"),
                    acting_user=user,
                    allow_duplicate=bool(form.cleaned_data.get("new_ignore_duplicates")),
                    **form.service_fields(),
                )
            except services.DuplicateAccountError as exc:
                # The look-alikes the user may see, to pick from; the warning says why.
                context.update(
                    accounts=[c.account for c in exc.candidates],
                    candidates=exc.candidates,
                    hidden_matches=exc.hidden_matches,
                    duplicate_warning=True,
                )
                return render(request, "accounts/_account_choices.html", context)
            except (ValidationError, PermissionDenied) as exc:
                form.add_error(None, exc.messages if isinstance(exc, ValidationError) else str(exc))
            else:
                context.update(accounts=[account], chosen=str(account.pk), created=account)
                response = render(request, "accounts/_account_choices.html", context)
                # The conflict and agreement preview listens for this to refresh itself.
                response["HX-Trigger"] = "accountChosen"
                return response
    return render(request, "accounts/_account_choices.html", context)


# --- Account plans -------------------------------------------------------------------------------


def _plan_fields(form: AccountPlanForm) -> dict[str, Any]:
    data = form.cleaned_data
    return {
        "revenue_target": data["revenue_target"],
        "status": data["status"],
        "owner": data["owner"],
        "objectives": data.get("objectives") or "",
    }


@login_required
@require_http_methods(["GET", "POST"])
def plan_create(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """A new plan of the account's group (plans hang at the group's top), from the 360°."""
    user = request.user
    account = selectors.access_account_by_id(user, pk)
    group = selectors.access_account_by_id(user, account.group_id or account.pk)
    if not services.may_manage_group(user, group):
        raise PermissionDenied(_("You may not plan this account."))
    initial = {"year": timezone.localdate().year, "owner": user.pk, "status": "active"}
    form = AccountPlanForm(request.POST or None, user=user, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            plan = services.account_plan_create(
                group=group, year=form.cleaned_data["year"], acting_user=user, **_plan_fields(form)
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, _("The account plan is saved."))
            return redirect("accounts:plan", pk=plan.pk)
    return render(
        request,
        "accounts/plan_form.html",
        {"group": group, "form": form},
        status=400 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def plan_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """A plan with its actions: edit the plan and add actions (who may change it), see them
    (whoever may see it). POST ``plan`` saves the plan, POST ``action`` adds an action."""
    user = request.user
    plan = selectors.access_plan_by_id(user, pk)
    may_change = services.may_change_plan(user, plan)
    plan_initial = {
        "year": plan.year,
        "revenue_target": plan.revenue_target,
        "status": plan.status,
        "owner": plan.owner_id,
        "objectives": plan.objectives,
    }
    plan_form = AccountPlanForm(user=user, editing=True, initial=plan_initial)
    action_form = PlanActionForm(user=user, initial={"owner": user.pk}, prefix="action")
    if request.method == "POST":
        if not may_change:
            raise PermissionDenied(_("You may not change this plan."))
        if "action" in request.POST:
            action_form = PlanActionForm(request.POST, user=user, prefix="action")
            if action_form.is_valid():
                data = action_form.cleaned_data
                try:
                    services.plan_action_add(
                        plan=plan, title=data["title"], owner=data["owner"],
                        due_date=data.get("due_date"), acting_user=user,
                    )  # fmt: skip
                except ValidationError as exc:
                    apply_validation_error(action_form, exc)
                else:
                    messages.success(request, _("Action added."))
                    return redirect("accounts:plan", pk=plan.pk)
        else:
            plan_form = AccountPlanForm(request.POST, user=user, editing=True, initial=plan_initial)
            if plan_form.is_valid():
                try:
                    services.account_plan_update(
                        plan=plan, acting_user=user, **_plan_fields(plan_form)
                    )
                except ValidationError as exc:
                    apply_validation_error(plan_form, exc)
                else:
                    messages.success(request, _("The account plan is saved."))
                    return redirect("accounts:plan", pk=plan.pk)
    bad = bool(plan_form.errors or action_form.errors)
    return render(
        request,
        "accounts/plan_detail.html",
        {
            "plan": plan,
            "actions": selectors.plan_actions(user=user, plan=plan),
            "may_change": may_change,
            "plan_form": plan_form,
            "action_form": action_form,
            "today": timezone.localdate(),
        },
        status=400 if bad else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def plan_action_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Edit one action: its title, owner, due date and whether it is done (its owner, or whoever
    may change the plan; the service decides)."""
    user = request.user
    action = selectors.access_plan_action_by_id(user, pk)
    initial = {
        "title": action.title,
        "owner": action.owner_id,
        "due_date": action.due_date,
        "status": action.status,
    }
    form = PlanActionForm(request.POST or None, user=user, editing=True, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.plan_action_update(
                action=action, acting_user=user, title=data["title"], owner=data["owner"],
                due_date=data.get("due_date"), status=data["status"],
            )  # fmt: skip
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, _("“%(title)s” is saved.") % {"title": action.title})
            return redirect("accounts:plan", pk=action.plan_id)
    return render(
        request,
        "accounts/plan_action_form.html",
        {"action": action, "form": form},
        status=400 if form.errors else 200,
    )
