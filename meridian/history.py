"""The History tab of opportunity and account pages: the audit trail of the record and its
parts, read through the visibility policy (crm.audit.history_for)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Model
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse

from accounts.models import Account
from crm.audit import history_for
from crm.http import AuthenticatedHttpRequest
from crm.models import User
from crm.registry import access_by_id, visible_rows
from opportunities.models import Opportunity


def render_history(
    request: AuthenticatedHttpRequest, model: type[Model], pk: int, back_url: str
) -> HttpResponse:
    obj = access_by_id(visible_rows(model, request.user), pk)
    entries = history_for(user=request.user, obj=obj)
    people = User.objects.visible_to(request.user).in_bulk(
        {e.user_id for e in entries if e.user_id}
    )
    rows = [(e, people.get(e.user_id)) for e in reversed(entries)]
    return render(request, "crm/history.html", {"obj": obj, "rows": rows, "back_url": back_url})


@login_required
def opportunity_history(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return render_history(request, Opportunity, pk, reverse("opportunities:detail", args=[pk]))


@login_required
def account_history(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return render_history(request, Account, pk, reverse("accounts:detail", args=[pk]))
