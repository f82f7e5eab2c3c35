"""A contact's page (``accounts:contact``; routed by the shell into the accounts namespace like
the 360°, because it reads the deals the contact has a buying-centre role on)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts import selectors as account_selectors
from accounts import services as account_services
from crm.http import AuthenticatedHttpRequest
from opportunities.models import OpportunityContactRole


@login_required
@require_GET
def contact_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    user = request.user
    contact = account_selectors.access_contact_by_id(user, pk)
    roles = list(
        OpportunityContactRole.objects.visible_to(user)
        .filter(contact=contact)
        .select_related("opportunity", "opportunity__local_stage")
        .order_by("-opportunity__created_at", "role")
    )
    return render(
        request,
        "accounts/contact_detail.html",
        {
            "contact": contact,
            "roles": roles,
            "timeline": account_selectors.activity_timeline(
                user=user, contact_id=contact.pk, page=request.GET.get("activities")
            ),
            "may_change": account_services.may_work_with_contacts(user, contact.account),
        },
    )
