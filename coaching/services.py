"""Writes of coaching: sessions and deal reviews, their agreed actions, acknowledgement by the
rep, and the organization's topic list and settings.

Who may do what (asked by pages, API and services alike):

* a manager (country or regional manager, the director, the admin) logs sessions for the sales
  reps in his role scope and edits them (so does the manager who held one);
* the rep acknowledges a session about himself and marks his own actions done;
* the admin configures the topics and the settings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from coaching.models import (
    MAX_SESSION_MINUTES,
    CoachingAction,
    CoachingSession,
    CoachingSettings,
    CoachingTopic,
    SessionKind,
    SessionTopic,
)
from coaching.selectors import default_proposal_stage
from crm.limits import MAX_NAME_LENGTH, check_text
from crm.models import NotificationKind, User
from crm.notifications import notify
from crm.registry import require_visible
from crm.roles import MANAGER_ROLES, ORG_WIDE_ROLES, Role
from crm.visibility import can_configure, covers_company, scoped_company_ids
from opportunities.models import Opportunity
from pipeline.models import GlobalStage

MAX_ACTIONS_PER_SESSION = 20
MAX_TOPICS_PER_SESSION = 20
COACHING_ROLES = MANAGER_ROLES | ORG_WIDE_ROLES


def may_coach(user: User) -> bool:
    """Whether the user's role logs coaching at all (the pages' and API's role rule)."""
    return user.is_active and user.role in COACHING_ROLES


def may_coach_rep(user: User, rep: User) -> bool:
    """A manager coaches the sales reps of the companies in his role scope, never himself."""
    return (
        may_coach(user)
        and rep.organization_id == user.organization_id
        and rep.pk != user.pk
        and rep.is_active
        and rep.role == Role.SALES_REP
        and rep.sales_company_id is not None
        and covers_company(user, rep.sales_company_id)
    )


def may_change_session(user: User, session: CoachingSession) -> bool:
    return may_coach(user) and (
        session.manager_id == user.pk or covers_company(user, session.sales_company_id)
    )


def may_acknowledge(user: User, session: CoachingSession) -> bool:
    return session.rep_id == user.pk and session.acknowledged_at is None


def may_mark_action(user: User, action: CoachingAction) -> bool:
    return action.owner_id == user.pk or may_change_session(user, action.session)


def coachable_reps(user: User) -> QuerySet[User]:
    """The reps the user may log sessions for (the form's choices), one query."""
    reps = User.objects.visible_to(user).filter(is_active=True, role=Role.SALES_REP)
    if not may_coach(user):
        return reps.none()
    company_ids = scoped_company_ids(user)
    if company_ids is not None:
        reps = reps.filter(sales_company_id__in=company_ids)
    return reps.exclude(pk=user.pk).select_related("sales_company").order_by("full_name")


# --- Settings ------------------------------------------------------------------------------


def coaching_settings(organization_id: int) -> CoachingSettings:
    """The organization's settings, made with the defaults on first read."""
    found = CoachingSettings.objects.for_org(organization_id).select_related("proposal_stage")
    row = found.first()
    if row is not None:
        return row
    with transaction.atomic():
        row, _created = CoachingSettings.objects.for_org(organization_id).get_or_create(
            organization_id=organization_id,
            defaults={"proposal_stage": default_proposal_stage(organization_id)},
        )
    return row


@transaction.atomic
def coaching_settings_update(
    *,
    acting_user: User,
    review_threshold: Decimal,
    proposal_stage: GlobalStage | None,
) -> CoachingSettings:
    if not can_configure(acting_user):
        raise PermissionDenied(_("Only the global admin configures the organization."))
    if review_threshold is None or review_threshold < 0:
        raise ValidationError({"review_threshold": _("Enter an amount of zero or more.")})
    if proposal_stage is not None:
        require_visible(acting_user, proposal_stage)
        if proposal_stage.is_won or proposal_stage.is_lost:
            raise ValidationError({"proposal_stage": _("Choose an open stage.")})
    row = coaching_settings(acting_user.organization_id)
    row.review_threshold = review_threshold
    row.proposal_stage = proposal_stage
    row.save(update_fields=["review_threshold", "proposal_stage"])
    return row


@transaction.atomic
def coaching_topic_save(
    *, acting_user: User, name: str, is_active: bool = True, topic: CoachingTopic | None = None
) -> CoachingTopic:
    if not can_configure(acting_user):
        raise PermissionDenied(_("Only the global admin configures the organization."))
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("Enter a name.")})
    check_text("name", name, 100)
    same = CoachingTopic.objects.for_org(acting_user.organization_id).filter(name__iexact=name)
    if topic is not None:
        require_visible(acting_user, topic)
        same = same.exclude(pk=topic.pk)
    if same.exists():
        raise ValidationError({"name": _("A topic of this name exists.")})
    if topic is None:
        topic = CoachingTopic(organization_id=acting_user.organization_id)
    topic.name, topic.is_active = name, is_active
    topic.save()
    return topic


# --- Sessions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionInput:
    text: str
    due_on: dt.date
    owner: User | None = None  # the rep when not given


def _clean_session(
    *,
    acting_user: User,
    rep: User,
    kind: str,
    held_on: dt.date | None,
    duration_minutes: int | None,
    topics: Sequence[CoachingTopic],
    notes: str,
    opportunity: Opportunity | None,
) -> None:
    errors: dict[str, str] = {}
    if kind not in SessionKind.values:
        errors["kind"] = _("Choose a kind.")
    if held_on is None:
        errors["held_on"] = _("Enter the date.")
    elif held_on > timezone.localdate() + dt.timedelta(days=1):
        errors["held_on"] = _("A session is logged once it was held: the date is in the future.")
    if duration_minutes is None or not 1 <= duration_minutes <= MAX_SESSION_MINUTES:
        errors["duration_minutes"] = _("Enter minutes between 1 and %(max)d.") % {
            "max": MAX_SESSION_MINUTES
        }
    if kind == SessionKind.DEAL_REVIEW and opportunity is None:
        errors["opportunity"] = _("A deal review is about one opportunity: choose it.")
    if len(topics) > MAX_TOPICS_PER_SESSION:
        errors["topics"] = _("At most %(max)d topics.") % {"max": MAX_TOPICS_PER_SESSION}
    if errors:
        raise ValidationError(errors)
    check_text("notes", notes)
    for topic in topics:
        require_visible(acting_user, topic)
    if opportunity is not None:
        require_visible(acting_user, opportunity)


def _check_actions(actions: Sequence[ActionInput]) -> None:
    if len(actions) > MAX_ACTIONS_PER_SESSION:
        raise ValidationError(
            {"actions": _("At most %(max)d actions.") % {"max": MAX_ACTIONS_PER_SESSION}}
        )
    for action in actions:
        if not action.text.strip():
            raise ValidationError({"actions": _("Every action needs a text.")})
        check_text("actions", action.text, MAX_NAME_LENGTH)
        if action.due_on is None:
            raise ValidationError({"actions": _("Every action needs a due date.")})


def _set_topics(session: CoachingSession, topics: Iterable[CoachingTopic]) -> None:
    SessionTopic.objects.for_org(session.organization_id).filter(session=session).delete()
    SessionTopic.objects.bulk_create(
        SessionTopic(organization_id=session.organization_id, session=session, topic=t)
        for t in {t.pk: t for t in topics}.values()
    )


def _add_actions(
    session: CoachingSession, acting_user: User, actions: Sequence[ActionInput]
) -> list[CoachingAction]:
    made = []
    for a in actions:
        owner = a.owner or session.rep
        if owner.pk not in (session.rep_id, session.manager_id, acting_user.pk):
            raise ValidationError({"owner": _("An action is the rep's or the manager's.")})
        made.append(
            CoachingAction.objects.create(
                organization_id=session.organization_id,
                session=session,
                text=a.text.strip(),
                owner=owner,
                due_on=a.due_on,
            )
        )
    return made


@transaction.atomic
def coaching_session_create(
    *,
    acting_user: User,
    rep: User,
    kind: str,
    held_on: dt.date,
    duration_minutes: int,
    topics: Sequence[CoachingTopic] = (),
    notes: str = "",
    opportunity: Opportunity | None = None,
    actions: Sequence[ActionInput] = (),
) -> CoachingSession:
    """Log a session with a rep (or a review of one of his deals) and tell the rep."""
    require_visible(acting_user, rep)
    if not may_coach_rep(acting_user, rep):
        raise PermissionDenied(_("You do not coach this sales rep."))
    _clean_session(
        acting_user=acting_user, rep=rep, kind=kind, held_on=held_on,
        duration_minutes=duration_minutes, topics=topics, notes=notes, opportunity=opportunity,
    )  # fmt: skip
    _check_actions(actions)
    company = rep.sales_company
    assert company is not None  # may_coach_rep: a rep of a company in the manager's scope
    session = CoachingSession.objects.create(
        organization_id=acting_user.organization_id,
        manager=acting_user,
        rep=rep,
        sales_company=company,
        kind=kind,
        held_on=held_on,
        duration_minutes=duration_minutes,
        notes=notes,
        opportunity=opportunity if kind == SessionKind.DEAL_REVIEW or opportunity else None,
    )
    _set_topics(session, topics)
    _add_actions(session, acting_user, actions)
    notify(
        organization_id=session.organization_id,
        user_ids=[rep.pk],
        kind=NotificationKind.COACHING_LOGGED,
        params={"manager": acting_user.full_name},
        url=f"/coaching/{session.pk}/",
    )
    return session


@transaction.atomic
def coaching_session_update(
    *,
    session: CoachingSession,
    acting_user: User,
    kind: str,
    held_on: dt.date,
    duration_minutes: int,
    topics: Sequence[CoachingTopic] = (),
    notes: str = "",
    opportunity: Opportunity | None = None,
) -> CoachingSession:
    """Change a session; the rep and the manager stay (a new rep is a new session)."""
    require_visible(acting_user, session)
    if not may_change_session(acting_user, session):
        raise PermissionDenied(_("You may not change this session."))
    _clean_session(
        acting_user=acting_user, rep=session.rep, kind=kind, held_on=held_on,
        duration_minutes=duration_minutes, topics=topics, notes=notes, opportunity=opportunity,
    )  # fmt: skip
    session.kind, session.held_on, session.duration_minutes = kind, held_on, duration_minutes
    session.notes, session.opportunity = notes, opportunity
    session.save()
    _set_topics(session, topics)
    return session


@transaction.atomic
def coaching_session_acknowledge(*, session: CoachingSession, acting_user: User) -> CoachingSession:
    require_visible(acting_user, session)
    if session.rep_id != acting_user.pk:
        raise PermissionDenied(_("Only the coached rep acknowledges a session."))
    if session.acknowledged_at is None:
        session.acknowledged_at = timezone.now()
        session.save(update_fields=["acknowledged_at"])
    return session


@transaction.atomic
def coaching_action_add(
    *, session: CoachingSession, acting_user: User, action: ActionInput
) -> CoachingAction:
    require_visible(acting_user, session)
    if not may_change_session(acting_user, session):
        raise PermissionDenied(_("You may not change this session."))
    existing = CoachingAction.objects.for_org(session.organization_id).filter(session=session)
    if existing.count() >= MAX_ACTIONS_PER_SESSION:
        raise ValidationError(
            {"actions": _("At most %(max)d actions.") % {"max": MAX_ACTIONS_PER_SESSION}}
        )
    _check_actions([action])
    (made,) = _add_actions(session, acting_user, [action])
    return made


@transaction.atomic
def coaching_action_mark(
    *, action: CoachingAction, acting_user: User, done: bool = True
) -> CoachingAction:
    """Mark an action done (now) or open again: its owner, or who may change the session."""
    require_visible(acting_user, action)
    if not may_mark_action(acting_user, action):
        raise PermissionDenied(_("You may not change this action."))
    action.done_at = (action.done_at or timezone.now()) if done else None
    action.save(update_fields=["done_at"])
    return action
