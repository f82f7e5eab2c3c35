"""Pages of coaching (``coaching:``): the list, the session form, its detail with the agreed
actions and the rep's acknowledgement, and the admin's set-up of topics and settings.

Thin views: forms validate, services write, selectors read through the visibility policy.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from coaching import selectors, services
from coaching.forms import (
    ActionForm,
    ActionFormSet,
    SessionFilterForm,
    SessionForm,
    SettingsForm,
    TopicForm,
)
from coaching.models import CoachingTopic
from crm.decorators import admin_required, allowed_by
from crm.forms import apply_validation_error
from crm.http import AuthenticatedHttpRequest
from crm.ids import parse_id
from crm.models import User
from crm.registry import access_by_id
from crm.roles import Role
from opportunities.selectors import access_opportunity_by_id
from pipeline.models import GlobalStage

PAGE_SIZE = 25


def _reads_coaching(user: User) -> bool:
    # Reps read their own sessions, managers their scope's; marketing has none.
    return user.is_active and (user.role == Role.SALES_REP or services.may_coach(user))


coaching_reader = allowed_by(_reads_coaching)
coach_only = allowed_by(services.may_coach, _("Only managers log coaching sessions."))


@coaching_reader
def session_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    form = SessionFilterForm(request.GET or None, user=user)
    filters: dict[str, Any] = {}
    if form.is_valid():
        data = form.cleaned_data
        company = data.get("company")
        filters = {
            "kind": data["kind"] or None,
            "rep": data.get("rep"),
            "sales_company_id": company.pk if company else None,
            "held_from": data["held_from"],
            "held_to": data["held_to"],
            "unacknowledged": data["unacknowledged"],
            "sort": data["sort"],
        }
    opportunity_id = parse_id(request.GET.get("opportunity"))
    sessions = selectors.session_list(user=user, opportunity_id=opportunity_id, **filters)
    page = Paginator(sessions, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "coaching/session_list.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "may_coach": services.may_coach(user),
            "is_rep": user.role == Role.SALES_REP,
        },
    )


def _initial(request: AuthenticatedHttpRequest) -> dict[str, Any]:
    """Prefill from a "Coach" link: ?rep= (a rep page) or ?opportunity= (a deal page)."""
    user = request.user
    initial: dict[str, Any] = {"kind": "coaching", "duration_minutes": 30}
    rep_id = parse_id(request.GET.get("rep"))
    if rep_id is not None and services.coachable_reps(user).filter(pk=rep_id).exists():
        initial["rep"] = rep_id
    opp_id = parse_id(request.GET.get("opportunity"))
    if opp_id is not None:
        opportunity = access_opportunity_by_id(user, opp_id)
        initial.update(rep=opportunity.owner_id, opportunity=opportunity.pk, kind="deal_review")
    return initial


def _actions(formset: Any) -> list[services.ActionInput]:
    return [
        services.ActionInput(text=f.cleaned_data["text"], due_on=f.cleaned_data["due_on"])
        for f in formset.forms
        if f.cleaned_data.get("text")
    ]


@coach_only
@require_http_methods(["GET", "POST"])
def session_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    form = SessionForm(request.POST or None, user=user, initial=_initial(request))
    formset = ActionFormSet(request.POST or None, prefix="actions")
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        data = form.cleaned_data
        try:
            session = services.coaching_session_create(
                acting_user=user, rep=data["rep"], kind=data["kind"], held_on=data["held_on"],
                duration_minutes=data["duration_minutes"], topics=list(data["topics"]),
                notes=data["notes"], opportunity=data["opportunity"], actions=_actions(formset),
            )  # fmt: skip
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, _("The session is saved; the rep is told."))
            return redirect("coaching:detail", pk=session.pk)
    return render(
        request, "coaching/session_form.html", {"form": form, "formset": formset, "session": None}
    )


@coach_only
def opportunity_options(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The opportunity field for the chosen rep (htmx swaps it when the rep changes)."""
    form = SessionForm(request.GET, user=request.user)
    return render(request, "coaching/_opportunity_field.html", {"field": form["opportunity"]})


@coaching_reader
def session_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    user = request.user
    session = selectors.access_session_by_id(user, pk)
    may_change = services.may_change_session(user, session)
    actions = [(a, services.may_mark_action(user, a)) for a in session.actions.all()]
    return render(
        request,
        "coaching/session_detail.html",
        {
            "session": session,
            "actions": actions,
            "may_change": may_change,
            "may_acknowledge": services.may_acknowledge(user, session),
            "action_form": ActionForm(prefix="new") if may_change else None,
        },
    )


@coach_only
@require_http_methods(["GET", "POST"])
def session_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    user = request.user
    session = selectors.access_session_by_id(user, pk)
    if not services.may_change_session(user, session):
        raise PermissionDenied(_("You may not change this session."))
    initial = {
        "rep": session.rep_id, "kind": session.kind, "held_on": session.held_on,
        "duration_minutes": session.duration_minutes, "opportunity": session.opportunity_id,
        "topics": [t.pk for t in session.topics.all()], "notes": session.notes,
    }  # fmt: skip
    form = SessionForm(request.POST or None, user=user, editing=True, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.coaching_session_update(
                session=session, acting_user=user, kind=data["kind"], held_on=data["held_on"],
                duration_minutes=data["duration_minutes"], topics=list(data["topics"]),
                notes=data["notes"], opportunity=data["opportunity"],
            )  # fmt: skip
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, _("The session is saved."))
            return redirect("coaching:detail", pk=session.pk)
    return render(
        request, "coaching/session_form.html", {"form": form, "formset": None, "session": session}
    )


@coaching_reader
@require_POST
def session_acknowledge(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    session = selectors.access_session_by_id(request.user, pk)
    services.coaching_session_acknowledge(session=session, acting_user=request.user)
    messages.success(request, _("Acknowledged: your manager sees that you have read it."))
    return redirect("coaching:detail", pk=session.pk)


@coach_only
@require_POST
def action_add(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    user = request.user
    session = selectors.access_session_by_id(user, pk)
    form = ActionForm(request.POST, prefix="new")
    if form.is_valid() and form.cleaned_data.get("text"):
        try:
            services.coaching_action_add(
                session=session,
                acting_user=user,
                action=services.ActionInput(
                    text=form.cleaned_data["text"], due_on=form.cleaned_data["due_on"]
                ),
            )
        except ValidationError as exc:
            messages.error(request, " ".join(str(m) for m in exc.messages))
        else:
            messages.success(request, _("The action is added."))
            return redirect("coaching:detail", pk=session.pk)
    else:
        if not form.errors:
            form.add_error("text", _("Say what is to be done."))
        may_change = services.may_change_session(user, session)
        actions = [(a, services.may_mark_action(user, a)) for a in session.actions.all()]
        return render(
            request,
            "coaching/session_detail.html",
            {"session": session, "actions": actions, "may_change": may_change,
             "may_acknowledge": services.may_acknowledge(user, session), "action_form": form},
            status=400,
        )  # fmt: skip
    return redirect("coaching:detail", pk=session.pk)


@coaching_reader
@require_POST
def action_mark(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    action = selectors.access_action_by_id(request.user, pk)
    done = request.POST.get("done", "1") == "1"
    services.coaching_action_mark(action=action, acting_user=request.user, done=done)
    messages.success(request, _("Marked done.") if done else _("Open again."))
    return redirect("coaching:detail", pk=action.session_id)


@admin_required
@require_http_methods(["GET", "POST"])
def setup_coaching(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The admin's topic list and the review rule."""
    user = request.user
    current = services.coaching_settings(user.organization_id)
    stages = GlobalStage.objects.visible_to(user).filter(is_won=False, is_lost=False)
    settings_form = SettingsForm(
        request.POST if request.POST.get("form") == "settings" else None,
        stages=stages,
        initial={
            "review_threshold": current.review_threshold,
            "proposal_stage": current.proposal_stage,
        },
    )
    topic_form = TopicForm(request.POST if request.POST.get("form") == "topic" else None)
    if request.method == "POST":
        try:
            if request.POST.get("form") == "settings" and settings_form.is_valid():
                services.coaching_settings_update(acting_user=user, **settings_form.cleaned_data)
                messages.success(request, _("The settings are saved."))
                return redirect("setup:coaching")
            if request.POST.get("form") == "topic" and topic_form.is_valid():
                services.coaching_topic_save(acting_user=user, name=topic_form.cleaned_data["name"])
                messages.success(request, _("The topic is added."))
                return redirect("setup:coaching")
            toggle = parse_id(request.POST.get("toggle"))
            if toggle is not None:
                topic = access_by_id(CoachingTopic.objects.visible_to(user), toggle)
                services.coaching_topic_save(
                    acting_user=user, name=topic.name, is_active=not topic.is_active, topic=topic
                )
                return redirect("setup:coaching")
        except ValidationError as exc:
            apply_validation_error(
                topic_form if request.POST.get("form") == "topic" else settings_form, exc
            )
    return render(
        request,
        "coaching/setup.html",
        {
            "settings_form": settings_form,
            "topic_form": topic_form,
            "topics": CoachingTopic.objects.visible_to(user).order_by("name"),
            "status": 400 if request.method == "POST" else 200,
        },
        status=400 if request.method == "POST" else 200,
    )
