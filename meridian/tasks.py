"""My tasks: the user's open activities and account-plan actions (accounts) and the open leads
handed to the user (leads). The shell's page, as it joins two apps that do not import each
other upward."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import F
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.models import ActionStatus, Activity, PlanAction
from crm.http import AuthenticatedHttpRequest
from leads.selectors import assigned_open_leads

PAGE_SIZE = 50
LEADS_SHOWN = 25


@login_required
@require_GET
def my_tasks(request: AuthenticatedHttpRequest) -> HttpResponse:
    """My open activities (soonest due first, overdue marked), my open account-plan actions and
    the open leads assigned to me (a seller's hand-over: convert them into deals)."""
    user = request.user
    tasks = (
        Activity.objects.visible_to(user)
        .filter(owner=user, done_at__isnull=True)
        .select_related("account", "opportunity")
        .order_by(F("due_at").asc(nulls_last=True), "pk")
    )
    actions = (
        PlanAction.objects.visible_to(user)
        .filter(owner=user, status=ActionStatus.OPEN)
        .select_related("plan__account")
        .order_by(F("due_date").asc(nulls_last=True), "pk")
    )[:PAGE_SIZE]
    return render(
        request,
        "accounts/tasks.html",
        {
            "page": Paginator(tasks, PAGE_SIZE).get_page(request.GET.get("page")),
            "actions": actions,
            "leads": assigned_open_leads(user=user)[:LEADS_SHOWN],
            "now": timezone.now(),
            "today": timezone.localdate(),
        },
    )
