"""The dashboard's joint goals: overlay credit (``reporting.overlay``) and the smarketing KPIs
(``reporting.smarketing``), kept together as one stored figure of the dashboard."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from crm.models import User
from reporting import kpis
from reporting.kpis import Scope
from reporting.overlay import OverlayAttainment, OverlayRow, overlay_attainment
from reporting.periods import Period
from reporting.smarketing import EventsRow, Smarketing, smarketing


@dataclass
class JointGoals:
    level: str  # the dashboard's: organization, region or company
    overlay: OverlayAttainment
    smarketing: Smarketing

    @property
    def overlay_shown(self) -> list[OverlayRow]:
        return self.overlay.shown(self.level)

    @property
    def events_shown(self) -> list[EventsRow]:
        return self.smarketing.events_shown(self.level)


def joint_goals(
    *,
    user: User,
    scope: Scope,
    level: str,
    period: Period,
    as_of: dt.date,
    revenue: list[kpis.AttainmentRow],
) -> JointGoals:
    return JointGoals(
        level=level,
        overlay=overlay_attainment(user=user, scope=scope, period=period, revenue=revenue),
        smarketing=smarketing(user=user, scope=scope, period=period, as_of=as_of),
    )
