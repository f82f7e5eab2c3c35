"""Visibility of coaching (registered by ``CoachingConfig.ready``): as for the rep's records.

A rep sees the sessions about himself; a manager those of the reps in his role scope (country
manager: his company; regional manager: his region's companies; director and admin: all).
Marketing sees none. The topic list and the settings are the organization's reference data.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from coaching.models import CoachingSession
from crm.models import User
from crm.roles import Role
from crm.visibility import (
    audit_trail,
    everyone_in_the_organization,
    nothing,
    policy,
    scoped_company_ids,
)


def may_see_coaching(user: User) -> bool:
    """Marketing has no coaching at all; every other role sees its own or its scope's."""
    return user.role != Role.MARKETING


@policy("coaching.CoachingSession")
def _sessions(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    if user.role == Role.SALES_REP:
        return qs.filter(rep_id=user.pk)
    if not may_see_coaching(user):
        return nothing(qs)
    company_ids = scoped_company_ids(user)
    if company_ids is None:
        return qs
    # A manager also keeps the sessions he held himself after a rep changed company.
    return qs.filter(Q(sales_company_id__in=company_ids) | Q(manager_id=user.pk))


def _of_visible_sessions(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    return qs.filter(session_id__in=CoachingSession.objects.visible_to(user).values("id"))


policy("coaching.CoachingAction", "coaching.SessionTopic")(_of_visible_sessions)
policy("coaching.CoachingTopic", "coaching.CoachingSettings")(everyone_in_the_organization)
# The session's History shows its own changes and its actions'.
audit_trail(
    CoachingSession,
    ("CoachingSessionEvent", "pgh_obj_id"),
    ("CoachingActionEvent", "session_id"),
)
