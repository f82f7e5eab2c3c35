"""Pages of group join requests: ask from a hidden match (in the opportunity form's inline
account create, or on the account's page), and the "Join requests" page where the group's GAM
and the managers decide, each decision confirmed on a second step (as the merge is)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts import join, selectors, services
from accounts.forms import InlineAccountForm
from crm.http import AuthenticatedHttpRequest
from crm.registry import access_by_id

PAGE_SIZE = 50
DECISIONS = {"approve", "decline", "withdraw"}


def _message(exc: ValidationError | PermissionDenied) -> str:
    return " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)


@login_required
@require_POST
def join_inline(request: AuthenticatedHttpRequest) -> HttpResponse:
    """From the inline account create: create the typed account and ask for it to join the
    hidden group, all or nothing. The button's value is "<n>:<token>"; ``join_reason_<n>`` is
    the reason typed next to it."""
    user = request.user
    form = InlineAccountForm(request.POST, user=user)
    number, _sep, token = (request.POST.get("join_token") or "").partition(":")
    reason = request.POST.get(f"join_reason_{number}", "") if number.isdigit() else ""
    context: dict[str, Any] = {"accounts": [], "inline_form": form}
    if not form.is_valid():
        return render(request, "accounts/_account_choices.html", context)
    home = form.cleaned_data.get("new_home_company") or user.sales_company
    try:
        group = join.group_for_token(token=token, acting_user=user)
        if home is None:
            raise ValidationError(_("Choose the account's home company."))
        with transaction.atomic():
            # Not a duplicate by mistake: the user chose to join the group it looks like.
            account = services.account_create(
                organization=user.organization,
                home_company=home,
                acting_user=user,
                allow_duplicate=True,
                **form.service_fields(),
            )
            join.join_request_create(account=account, group=group, acting_user=user, reason=reason)
    except (ValidationError, PermissionDenied) as exc:
        context["join_error"] = _message(exc)
        return render(request, "accounts/_account_choices.html", context)
    context.update(
        accounts=[account],
        chosen=str(account.pk),
        created=account,
        join_request=True,
        join_request_company=group.home_company.name,
    )
    response = render(request, "accounts/_account_choices.html", context)
    response["HX-Trigger"] = "accountChosen"
    return response


@login_required
@require_POST
def join_request_create(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """From the account's page: ask for this (ungrouped) account to join a hidden group."""
    user = request.user
    account = selectors.access_account_by_id(user, pk)
    try:
        group = join.group_for_token(token=request.POST.get("token", ""), acting_user=user)
        join.join_request_create(
            account=account, group=group, acting_user=user, reason=request.POST.get("reason", "")
        )
    except ValidationError as exc:
        return _refused(request, _message(exc), account_pk=account.pk, status=400)
    except PermissionDenied as exc:
        return _refused(request, _message(exc), account_pk=account.pk, status=403)
    messages.success(
        request,
        _("Your request to join the group worked by %(company)s is sent.")
        % {"company": group.home_company.name},
    )
    return redirect("accounts:detail", pk=account.pk)


def _refused(
    request: AuthenticatedHttpRequest, message: str, *, status: int, account_pk: int | None = None
) -> HttpResponse:
    return render(
        request,
        "accounts/join_refused.html",
        {"message": message, "account_pk": account_pk},
        status=status,
    )


@login_required
@require_GET
def join_requests(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The requests the user may see, pending first; approve/decline where they may decide."""
    user = request.user
    page = Paginator(join.join_request_list(user=user), PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    decidable = join.decidable_ids(user, rows)
    visible_groups = join.visible_group_ids(user, rows)
    return render(
        request,
        "accounts/join_requests.html",
        {
            "page": page,
            "rows": [
                (r, r.pk in decidable, r.group_id in visible_groups, r.requested_by_id == user.pk)
                for r in rows
            ],
        },
    )


@login_required
@require_POST
def join_request_decide(request: AuthenticatedHttpRequest, pk: int, decision: str) -> HttpResponse:
    """Approve, decline or withdraw; the first POST shows what will happen and asks to confirm
    (a second POST with ``confirm``), so one stray click links no account."""
    if decision not in DECISIONS:
        raise Http404("No such decision.")
    user = request.user
    join_request = access_by_id(
        join.join_request_list(user=user).order_by(), pk
    )  # 404: missing, foreign, invisible alike
    if not request.POST.get("confirm"):
        return render(
            request,
            "accounts/join_confirm.html",
            {
                "r": join_request,
                "decision": decision,
                "group_visible": bool(join.visible_group_ids(user, [join_request])),
            },
        )
    service = {
        "approve": join.join_request_approve,
        "decline": join.join_request_decline,
        "withdraw": join.join_request_withdraw,
    }[decision]
    try:
        service(join_request=join_request, acting_user=user)
    except ValidationError as exc:
        return _refused(request, _message(exc), status=400)
    except PermissionDenied as exc:
        return _refused(request, _message(exc), status=403)
    done = {
        "approve": _("Approved: %(account)s is now in the group."),
        "decline": _("Declined: %(account)s stays outside the group."),
        "withdraw": _("Withdrawn: the request for %(account)s is no longer waiting."),
    }[decision]
    messages.success(request, done % {"account": join_request.account.name})
    return redirect("accounts:join_requests")
