"""Stored dashboard figures: the dashboard of a scope is computed once and read many times.

At a million opportunities the live dashboard is some twenty aggregates over the whole
organization (seconds); the stored figures are one row. How they stay current:

* every table the figures come from has a statement trigger (migration 0002) that marks the
  organization's stored figures ``stale`` inside the writing transaction, whatever code writes;
* a view of fresh figures reads the row (one query); a view of stale figures shows them at once,
  marked as being updated, and one refresh is queued (Celery; in-process where tasks run eagerly,
  so there the viewer gets the new figures); a view with no stored figures computes them live,
  shows and stores them;
* a refresh re-reads ``stale`` before it stores: a write during the computation keeps the row
  stale rather than storing figures that miss it; figures older than ``MAX_AGE`` are refreshed
  regardless (the safety net for the few milliseconds in which a trigger can skip a row another
  transaction holds);
* figures that need a missing exchange rate cannot be computed: the refresh stores which rate
  is missing (``MissingRate``) in place of the figures, so every view says so at once (one
  query) instead of recomputing and failing, and the task ends instead of failing and being
  queued again by the next view; adding the rate marks the row stale (the trigger on the rates
  table) and the next view computes the figures;
* ``manage.py refresh_dashboards`` computes every scope of every organization (after a bulk load,
  or nightly so that the first view of the day is fast);
* the row holds JSON with a format version (``FORMAT_VERSION``), not a pickle: a pickle names
  classes and their layout, so figures stored by one deploy could not be read (or were misread)
  by the next. Decimals, dates and the figures' dataclasses are tagged so they come back exactly;
  a row of another version, or one that cannot be read, counts as stale and is recomputed.

The figures of a scope are the same for every viewer whose role covers the scope (the director,
the regional manager of the region, the managers of the company): ``dashboard_scope`` refuses any
other scope, and within a covered scope the visibility policy lets a manager see every deal.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import importlib
import json
import threading
import time
from collections import OrderedDict
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from crm.models import Region, SalesCompany, User
from crm.money import MissingExchangeRateError
from crm.queue import enqueue
from crm.roles import ORG_WIDE_ROLES, Role
from reporting import selectors
from reporting.kpis import Scope
from reporting.models import DashboardFigures
from reporting.selectors import Dashboard, DashboardScope

MAX_AGE = dt.timedelta(minutes=15)
# A refresh that has not finished in this long is presumed lost (a killed worker) and retried.
REFRESH_TIMEOUT = dt.timedelta(minutes=5)


def scope_key(scope: Scope) -> str:
    if scope.user_id:
        return f"user:{scope.user_id}"
    if scope.sales_company_id:
        return f"company:{scope.sales_company_id}"
    if scope.region_id:
        return f"region:{scope.region_id}"
    return "organization"


def _covers(user: User, where: DashboardScope) -> bool:
    """Whether the user's role sees every deal of the scope (so the figures are not personal)."""
    if user.role in ORG_WIDE_ROLES:
        return True
    s = where.scope
    if s.user_id:
        return False
    if user.role == Role.REGIONAL_MANAGER:
        return where.region_id == user.region_id and where.region_id is not None
    if user.role == Role.COUNTRY_MANAGER:
        return s.sales_company_id is not None and s.sales_company_id == user.sales_company_id
    return False


@dataclasses.dataclass(frozen=True)
class Shown:
    """A dashboard as shown: its figures and how current they are."""

    dashboard: Dashboard
    computed_at: dt.datetime
    updating: bool  # stale figures shown while a refresh runs
    # Names these stored figures for the rendered-page cache; "" for figures computed for one
    # viewer, which are never cached.
    fragment_key: str = ""


@dataclasses.dataclass(frozen=True)
class MissingRate:
    """Stored in place of a scope's figures when a rate they need is missing."""

    currency: str
    on_date: dt.date

    def error(self, user: User) -> MissingExchangeRateError:
        return MissingExchangeRateError(
            currency=self.currency, on_date=self.on_date, organization=user.organization
        )


def _compute(user: User, where: DashboardScope, as_of: dt.date) -> Dashboard:
    return selectors.dashboard(user=user, scope=where, as_of=as_of)


def _with_viewer(d: Dashboard, user: User, where: DashboardScope) -> Dashboard:
    return dataclasses.replace(d, user=user, where=where)


# Bump when a stored dataclass changes shape: rows of any other version are recomputed.
# 2: no charts or translated labels stored (drawn per reader); 3: issue 19's figures (coaching,
# customer value, overlay and smarketing).
FORMAT_VERSION = 3
# The only modules whose dataclasses a stored row may name (never an arbitrary import path).
_FIGURE_MODULES = frozenset(
    {
        "reporting.coaching",
        "reporting.customer_value",
        "reporting.figures",
        "reporting.joint_goals",
        "reporting.kpis",
        "reporting.overlay",
        "reporting.periods",
        "reporting.selectors",
        "reporting.smarketing",
    }
)


class UnreadableFigures(ValueError):
    """A stored row of another format version, or not the JSON this module writes."""


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, SafeString):
        return {"$safe": str(value)}
    if isinstance(value, str):
        return value
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, dt.datetime):  # before date: a datetime is a date
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, tuple):
        return {"$tuple": [_encode(v) for v in value]}
    if isinstance(value, dict):  # keys may be ints (company ids): kept as pairs
        return {"$map": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        if cls.__module__ not in _FIGURE_MODULES:
            raise TypeError(f"{cls.__module__}.{cls.__qualname__} is not a stored figure")
        return {
            "$class": f"{cls.__module__}:{cls.__qualname__}",
            "fields": {
                f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init
            },
        }
    raise TypeError(f"{type(value).__name__} cannot be stored in the dashboard figures")


@functools.cache  # a handful of names; the import machinery per object was a third of decoding
def _figure_class(name: str) -> type:
    module, _, qualname = name.partition(":")
    if module not in _FIGURE_MODULES:
        raise UnreadableFigures(f"unknown class {name}")
    cls = getattr(importlib.import_module(module), qualname, None)
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise UnreadableFigures(f"unknown class {name}")
    return cls


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "$decimal" in value:
        return Decimal(value["$decimal"])
    if "$date" in value:
        return dt.date.fromisoformat(value["$date"])
    if "$datetime" in value:
        return dt.datetime.fromisoformat(value["$datetime"])
    if "$safe" in value:
        return mark_safe(value["$safe"])  # noqa: S308 - our own rendered charts, stored as is
    if "$tuple" in value:
        return tuple(_decode(v) for v in value["$tuple"])
    if "$map" in value:
        return {_decode(k): _decode(v) for k, v in value["$map"]}
    if "$class" in value:
        cls = _figure_class(value["$class"])
        return cls(**{k: _decode(v) for k, v in value["fields"].items()})
    raise UnreadableFigures(f"untagged object {sorted(value)}")


def dumps(figures: Dashboard | MissingRate) -> bytes:
    """The stored form of a dashboard (without its viewer) or of a missing rate."""
    if not isinstance(figures, MissingRate):
        figures = dataclasses.replace(figures, user=None)
    return json.dumps(
        {"version": FORMAT_VERSION, "figures": _encode(figures)}, separators=(",", ":")
    ).encode()


def loads(data: bytes | memoryview) -> Dashboard | MissingRate:
    """Read a stored row; ``UnreadableFigures`` for another version or anything unreadable."""
    try:
        stored = json.loads(bytes(data))
        if not isinstance(stored, dict) or stored.get("version") != FORMAT_VERSION:
            raise UnreadableFigures("another format version")
        return _decode(stored["figures"])
    except UnreadableFigures:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        # Not JSON (a pickle of an earlier deploy), or a class whose fields changed.
        raise UnreadableFigures(str(exc)) from exc


# Decoded figures per stored row and computation. A row's ``data`` only ever changes together
# with its ``computed_at`` (every store sets both), so the pair names one decoding, and the
# length guards against two stores within one microsecond. Decoding 12,000 tagged values back
# into dataclasses was three quarters of a cached dashboard view's CPU (the director's: 11 of
# 15 ms at 1M); the figures are frozen dataclasses that nothing mutates (``_with_viewer``
# replaces, it does not write), so one decoding is shared read-only by every request of the
# process. Bounded: an organization has one row per scope and day (the organization, its
# regions and companies), each a few hundred kilobytes once decoded.
_DECODED: OrderedDict[tuple[int, dt.datetime, int], Dashboard | MissingRate] = OrderedDict()
_DECODED_MAX = 32
_decoded_lock = threading.Lock()


def _loads_row(row: DashboardFigures) -> Dashboard | MissingRate:
    key = (row.pk, row.computed_at, len(row.data))
    with _decoded_lock:
        found = _DECODED.get(key)
        if found is not None:
            _DECODED.move_to_end(key)
            return found
    decoded = loads(row.data)  # outside the lock: other threads' hits do not wait on it
    with _decoded_lock:
        _DECODED[key] = decoded
        while len(_DECODED) > _DECODED_MAX:
            _DECODED.popitem(last=False)
    return decoded


def refresh(*, user: User, where: DashboardScope, as_of: dt.date) -> Dashboard:
    """Compute the figures live and store them unless a write made them stale meanwhile."""
    org_id = user.organization_id
    key = scope_key(where.scope)
    rows = DashboardFigures.objects.for_org(org_id).filter(scope_key=key, as_of=as_of)
    now = timezone.now()
    # Claim first: from here on the row exists and is not stale, so a write during the
    # computation marks it stale again and the store below leaves it alone.
    if not rows.update(stale=False, refreshing_since=now):
        try:
            with transaction.atomic():
                DashboardFigures.objects.create(
                    organization_id=org_id, scope_key=key, as_of=as_of, data=b"",
                    computed_at=now, refreshing_since=now,
                )  # fmt: skip
        except IntegrityError:  # another viewer's claim came first
            rows.update(stale=False, refreshing_since=now)
    started = time.perf_counter()
    try:
        d = _compute(user, where, as_of)
    except MissingExchangeRateError as exc:
        missing = MissingRate(currency=exc.currency, on_date=exc.on_date)
        rows.filter(stale=False).update(
            data=dumps(missing),
            computed_at=timezone.now(),
            seconds=time.perf_counter() - started,
            refreshing_since=None,
        )
        rows.update(refreshing_since=None)
        raise
    stored = rows.filter(stale=False).update(
        data=dumps(d),
        computed_at=timezone.now(),
        seconds=time.perf_counter() - started,
        refreshing_since=None,
    )
    if not stored:
        rows.update(refreshing_since=None)  # stale again: the next view queues another refresh
    return d


def _claim_refresh(row: DashboardFigures) -> bool:
    """One viewer queues the refresh; the others show the stale figures meanwhile."""
    now = timezone.now()
    return bool(
        DashboardFigures.objects.for_org(row.organization_id)
        .filter(pk=row.pk)
        .exclude(refreshing_since__gt=now - REFRESH_TIMEOUT)
        .update(refreshing_since=now)
    )


def show(*, user: User, where: DashboardScope, as_of: dt.date) -> Shown:
    """The dashboard for a view: stored figures when current, else see the module docstring.
    Raises ``MissingExchangeRateError`` when the figures need a rate that is missing."""
    if not _covers(user, where):
        return Shown(_compute(user, where, as_of), timezone.now(), updating=False)
    key = scope_key(where.scope)
    row = (
        DashboardFigures.objects.for_org(user.organization_id)
        .filter(scope_key=key, as_of=as_of)
        .first()
    )
    if row is None:
        return Shown(refresh(user=user, where=where, as_of=as_of), timezone.now(), updating=False)
    if not row.data:
        # The first computation of these figures is still running elsewhere: compute live.
        return Shown(_compute(user, where, as_of), timezone.now(), updating=False)
    fresh = not row.stale and row.computed_at >= timezone.now() - MAX_AGE
    if not fresh and _claim_refresh(row):
        enqueue(
            "reporting.tasks.refresh_dashboard",
            user.pk,
            user.organization_id,
            key,
            as_of.isoformat(),
        )
        row.refresh_from_db()
        fresh = not row.stale and row.computed_at >= timezone.now() - MAX_AGE
    try:
        d = _loads_row(row)
    except UnreadableFigures:
        # Stored by another deploy (or damaged): as good as stale, recompute them now.
        return Shown(refresh(user=user, where=where, as_of=as_of), timezone.now(), updating=False)
    if isinstance(d, MissingRate):
        raise d.error(user)
    fragment = f"{row.organization_id}:{key}:{as_of.isoformat()}:{row.computed_at.timestamp()}"
    return Shown(_with_viewer(d, user, where), row.computed_at, not fresh, fragment)


def rebuild(*, organization_id: int, as_of: dt.date) -> list[tuple[str, float]]:
    """Compute and store every dashboard of an organization: the whole organization, each
    region and each sales company. Returns (scope, seconds) per dashboard."""
    viewer = (
        User.objects.for_org(organization_id)
        .filter(is_active=True, role__in=ORG_WIDE_ROLES)
        .order_by("pk")
        .first()
    )
    if viewer is None:
        return []  # nobody sees the whole organization: views compute their own figures
    scopes = [selectors.dashboard_scope(user=viewer)]
    for pk in Region.objects.for_org(organization_id).order_by("pk").values_list("pk", flat=True):
        scopes.append(selectors.dashboard_scope(user=viewer, region_id=str(pk)))
    companies = SalesCompany.objects.for_org(organization_id).order_by("pk")
    for pk in companies.values_list("pk", flat=True):
        scopes.append(selectors.dashboard_scope(user=viewer, sales_company_id=str(pk)))
    done = []
    for where in scopes:
        started = time.perf_counter()
        # A missing rate is recorded with the scope's figures: its page names the rate.
        with contextlib.suppress(MissingExchangeRateError):
            refresh(user=viewer, where=where, as_of=as_of)
        done.append((scope_key(where.scope), time.perf_counter() - started))
    return done
