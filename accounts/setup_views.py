"""Set-up pages of customer governance: framework agreements and global account teams
(in the ``setup:`` namespace with the kernel's and the sales process's set-up pages).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from accounts import segments, selectors
from accounts import services as account_services
from accounts.forms import AgreementForm, SegmentRuleForm, TeamMemberForm
from accounts.models import Account, AccountTeamMember, FrameworkAgreement, SegmentRule
from accounts.normalize import normalize_name
from crm.decorators import admin_required, roles_required
from crm.forms import apply_validation_error
from crm.http import AuthenticatedHttpRequest
from crm.registry import access_by_id
from crm.roles import Role

PAGE_SIZE = 25


# Agreements are the director's and teams are managed by the director (accounts.services); the
# global admin sees both in the set-up, read-only.
AGREEMENT_ROLES = frozenset({Role.GLOBAL_ADMIN, Role.GLOBAL_DIRECTOR})


@roles_required(AGREEMENT_ROLES)
@require_http_methods(["GET", "POST"])
def setup_agreements(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
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
        FrameworkAgreement.objects.visible_to(user)
        .select_related("account")
        .prefetch_related("tiers", "covered_companies")
        .order_by("-valid_from", "pk")
    )
    page = Paginator(agreements, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "accounts/setup/agreements.html",
        {"page": page, "form": form, "may_create": may_create},
    )


@roles_required(AGREEMENT_ROLES)
def setup_teams(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    term = request.GET.get("q", "").strip()
    groups = Account.objects.visible_to(user).filter(parent__isnull=True)
    if term:
        groups = groups.filter(normalized_name__startswith=normalize_name(term))
    else:
        # Without a search, the groups that have a team: those are the global accounts.
        groups = groups.filter(team__isnull=False)
    listed = (
        groups.select_related("home_company")
        .annotate(member_count=Count("team", distinct=True))
        .order_by("name", "pk")
    )
    page = Paginator(listed, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "accounts/setup/teams.html", {"page": page, "term": term})


@roles_required(AGREEMENT_ROLES)
@require_http_methods(["GET", "POST"])
def setup_team(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    user = request.user
    group = selectors.access_group_by_id(user, pk)
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
        AccountTeamMember.objects.visible_to(user)
        .filter(account=group)
        .select_related("user", "sales_company")
        .order_by("role", "user__full_name")
    )
    return render(
        request,
        "accounts/setup/team.html",
        {"group": group, "members": members, "form": form, "may_manage": may_manage},
    )


@roles_required(AGREEMENT_ROLES)
@require_http_methods(["GET", "POST"])
def setup_team_member_remove(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST removes (and with the row, the member's visibility)."""
    user = request.user
    member = selectors.access_team_member_by_id(user, pk)
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
    return render(request, "accounts/setup/team_member_remove.html", {"member": member})


@admin_required
@require_http_methods(["GET", "POST"])
def setup_segment_rules(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The organization's segment rules: the first an account meets gives its segment."""
    user = request.user
    form = SegmentRuleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            segments.segment_rule_create(acting_user=user, **form.cleaned_data)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, _("The segment rule is saved."))
            return redirect("setup:segment_rules")
    return render(
        request,
        "accounts/setup/segment_rules.html",
        {"rules": segments.segment_rules(user=user), "form": form},
        status=400 if form.errors else 200,
    )


@admin_required
@require_http_methods(["POST"])
def setup_segment_rule_delete(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    rule: SegmentRule = access_by_id(SegmentRule.objects.visible_to(request.user), pk)
    segments.segment_rule_delete(rule=rule, acting_user=request.user)
    messages.success(request, _("The segment rule is removed."))
    return redirect("setup:segment_rules")
