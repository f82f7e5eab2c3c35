"""Stored dashboard figures: same numbers as the live path, made stale by any write (triggers),
refreshed once, never stored over a write they missed, never shown across organizations."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import pickle
from decimal import Decimal as D

import pytest
from django.core.management import call_command
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString

from crm.roles import Role
from opportunities.models import Opportunity
from reporting import figures, selectors
from reporting.models import DashboardFigures
from tests.factories import UserFactory
from tests.reporting.conftest import Dataset

pytestmark = pytest.mark.django_db
URL = reverse("reporting:dashboard")


def _view(client, user, query: str = ""):
    client.force_login(user)
    response = client.get(URL + query)
    assert response.status_code == 200
    return response.context["shown"]


def _rows(org, key: str = "organization"):
    return DashboardFigures.objects.for_org(org).filter(scope_key=key)


def _bump_open_amount(opp: Opportunity, by: str) -> None:
    Opportunity.objects.for_org(opp.organization_id).filter(pk=opp.pk).update(
        amount=F("amount") + D(by)
    )


def _open_opportunity(dataset: Dataset) -> Opportunity:
    return next(
        o
        for o in dataset.opps.values()
        if not o.global_stage.is_won
        and not o.global_stage.is_lost
        and o.currency == "EUR"
        and o.amount is not None
    )


def test_stored_figures_are_the_live_figures(client, dataset: Dataset):
    w = dataset.world
    first = _view(client, w.director)
    assert _rows(w.org).count() == 1 and not _rows(w.org).get().stale
    stored = _view(client, w.director).dashboard
    where = selectors.dashboard_scope(user=w.director)
    live = selectors.dashboard(user=w.director, scope=where, as_of=timezone.localdate())
    assert stored.totals == live.totals == first.dashboard.totals
    assert stored.stages == live.stages
    assert [(b.name, b.pipeline, b.won, b.target) for b in stored.breakdown] == [
        (b.name, b.pipeline, b.won, b.target) for b in live.breakdown
    ]
    assert stored.win == live.win and stored.quality.total == live.quality.total
    assert stored.user == w.director  # the viewer is set on read, not stored


def test_a_fresh_view_reads_one_row(client, dataset: Dataset, django_assert_max_num_queries):
    w = dataset.world
    _view(client, w.director)
    # Session, user, organization, the stored row and the top bar's unread notification count:
    # none of the aggregates.
    with django_assert_max_num_queries(5):
        response = client.get(URL)
    assert not response.context["shown"].updating


def test_any_write_marks_the_figures_stale_and_the_next_view_shows_it(client, dataset: Dataset):
    w = dataset.world
    before = _view(client, w.director).dashboard.totals
    opp = _open_opportunity(dataset)
    _bump_open_amount(opp, "1000")  # a bulk UPDATE, no service, no signal: the trigger sees it
    assert _rows(w.org).get().stale
    after = _view(client, w.director)  # tasks run in-process here: the refresh is done
    assert not after.updating and not _rows(w.org).get().stale
    assert after.dashboard.totals.amount == before.amount + D("1000")


def test_stale_figures_are_shown_at_once_while_a_refresh_runs(
    client, dataset: Dataset, django_assert_max_num_queries
):
    w = dataset.world
    before = _view(client, w.director).dashboard.totals
    _bump_open_amount(_open_opportunity(dataset), "500")
    # Another viewer's refresh is under way (not timed out): this view does not start one.
    _rows(w.org).update(refreshing_since=timezone.now())
    # The five of a fresh view (the top bar's unread count among them) and the refused claim.
    with django_assert_max_num_queries(6):
        shown = client.get(URL).context["shown"]
    assert shown.updating and shown.dashboard.totals == before


def test_a_write_during_the_refresh_keeps_the_figures_stale(dataset: Dataset, monkeypatch):
    w = dataset.world
    where = selectors.dashboard_scope(user=w.director)
    today = timezone.localdate()
    figures.refresh(user=w.director, where=where, as_of=today)
    stored = bytes(_rows(w.org).get().data)
    compute = figures._compute

    def compute_then_someone_writes(*args, **kwargs):
        result = compute(*args, **kwargs)
        _bump_open_amount(_open_opportunity(dataset), "1")
        return result

    monkeypatch.setattr(figures, "_compute", compute_then_someone_writes)
    figures.refresh(user=w.director, where=where, as_of=today)
    row = _rows(w.org).get()
    assert row.stale and row.refreshing_since is None  # the next view refreshes again
    assert bytes(row.data) == stored  # the figures that missed the write were not stored


def test_old_figures_are_refreshed_even_without_a_write(client, dataset: Dataset):
    w = dataset.world
    _view(client, w.director)
    _rows(w.org).update(computed_at=timezone.now() - figures.MAX_AGE - dt.timedelta(minutes=1))
    shown = _view(client, w.director)
    assert not shown.updating
    assert _rows(w.org).get().computed_at > timezone.now() - dt.timedelta(minutes=1)


def test_figures_are_per_scope_and_per_organization(client, dataset: Dataset):
    w = dataset.world
    org_wide = _view(client, w.director).dashboard.totals
    se = _view(client, w.manager_se).dashboard.totals
    assert _rows(w.org, f"company:{w.se.pk}").count() == 1
    assert se.amount < org_wide.amount  # the company's own figures, not the organization's
    tellus_director = UserFactory(organization=w.other_org, role=Role.GLOBAL_DIRECTOR)
    tellus = _view(client, tellus_director).dashboard
    assert tellus.totals.count == 0 and tellus.user == tellus_director
    assert _rows(w.other_org).count() == 1 and _rows(w.org).count() == 1


def test_the_command_computes_every_scope(dataset: Dataset):
    w = dataset.world
    call_command("refresh_dashboards")
    keys = set(DashboardFigures.objects.for_org(w.org).values_list("scope_key", flat=True))
    assert keys == {
        "organization",
        f"region:{w.nordics.pk}",
        f"region:{w.dach.pk}",
        f"company:{w.se.pk}",
        f"company:{w.dk.pk}",
        f"company:{w.de.pk}",
    }
    # Tellus has no director in this world: its views compute their own figures.
    assert not DashboardFigures.objects.for_org(w.other_org).exists()


def test_the_rendered_figures_are_cached_per_stored_figures_and_language(client, dataset: Dataset):
    import re

    from django.core.cache import cache
    from django.core.cache.utils import make_template_fragment_key

    w = dataset.world

    def kpis(html: str) -> str:
        return re.search(r'data-testid="kpis".*?</ul>', html, re.S).group(0)

    client.force_login(w.director)
    assert client.get(URL).context["shown"].fragment_key == ""  # computed by this view
    first = client.get(URL)  # the stored figures, rendered and cached
    shown = first.context["shown"]
    lang = first.context["LANGUAGE_CODE"]
    key = make_template_fragment_key("dashboard_body", [shown.fragment_key, lang])
    assert shown.fragment_key and cache.get(key) is not None
    assert kpis(client.get(URL).content.decode()) == kpis(first.content.decode())
    # New figures are a new fragment: the page never shows the figures of before a write.
    _bump_open_amount(_open_opportunity(dataset), "1000")
    after = client.get(URL)
    assert after.context["shown"].fragment_key != shown.fragment_key
    assert kpis(after.content.decode()) != kpis(first.content.decode())
    # Another language renders its own (numbers and words are formatted per language).
    w.director.language = "de" if lang != "de" else "sv"
    w.director.save(update_fields=["language"])
    relabelled = client.get(URL)
    assert relabelled.context["LANGUAGE_CODE"] == w.director.language
    other = make_template_fragment_key(
        "dashboard_body", [relabelled.context["shown"].fragment_key, w.director.language]
    )
    assert cache.get(other) is not None and other != key


def test_stored_figures_are_decoded_once_per_computation(client, dataset: Dataset, monkeypatch):
    w = dataset.world
    decoded: list[int] = []
    real_loads = figures.loads

    def counting_loads(data):
        decoded.append(len(data))
        return real_loads(data)

    monkeypatch.setattr(figures, "loads", counting_loads)
    _view(client, w.director)  # computed live and stored: nothing to decode
    first = _view(client, w.director)
    again = _view(client, w.director)
    # Another scope (the SE company): its own row, computed by its first view, then decoded.
    _view(client, w.manager_se)
    _view(client, w.manager_se)
    assert len(decoded) == 2
    # The same decoding serves every view of the same computation; each view has its own viewer.
    assert again.dashboard.totals is first.dashboard.totals
    assert first.dashboard.user == w.director
    # A write makes new figures, decoded anew: never the figures of before it.
    _bump_open_amount(_open_opportunity(dataset), "1000")
    _view(client, w.director)  # refreshed in-process by this view
    after = _view(client, w.director)
    assert after.dashboard.totals.amount == first.dashboard.totals.amount + D("1000")
    assert len(decoded) == 3


def test_figures_computed_for_one_viewer_are_not_cached(client, dataset: Dataset):
    w = dataset.world
    # A country manager's own company is stored figures, shared; a person's scope never is.
    client.force_login(w.manager_se)
    client.get(URL)
    assert client.get(URL).context["shown"].fragment_key
    shown = figures.show(
        user=w.rep_se,
        where=selectors.DashboardScope(selectors.Scope(user_id=w.rep_se.pk), "company", "me", None),
        as_of=timezone.localdate(),
    )
    assert shown.fragment_key == ""


# --- Stored as versioned JSON ------------------------------------------------------------------


def test_the_stored_figures_are_versioned_json_and_round_trip_exactly(client, dataset: Dataset):
    w = dataset.world
    _view(client, w.director)
    raw = bytes(_rows(w.org).get().data)
    stored = json.loads(raw)  # JSON, not a pickle
    assert stored["version"] == figures.FORMAT_VERSION
    where = selectors.dashboard_scope(user=w.director)
    live = selectors.dashboard(user=w.director, scope=where, as_of=timezone.localdate())
    back = figures.loads(figures.dumps(live))
    # Every figure comes back equal and of the same type: Decimals keep their exponent
    # (D("1.50") is not D("1.5") on a page), dates stay dates, int keys stay ints.
    assert back == dataclasses.replace(live, user=None)
    assert repr(back.totals) == repr(live.totals) and repr(back.trend) == repr(live.trend)
    assert back.quarter.start == live.quarter.start and type(back.as_of) is dt.date
    assert repr(back.quality.by_company) == repr(live.quality.by_company)
    assert repr(back.quality.opportunities_to_fix) == repr(live.quality.opportunities_to_fix)
    assert all(isinstance(c, SafeString) for c in back.charts.values())


def test_known_values_round_trip_exactly() -> None:
    missing = figures.MissingRate(currency="SEK", on_date=dt.date(2026, 2, 28))
    assert figures.loads(figures.dumps(missing)) == missing
    value = {1: (D("0.10"), dt.date(2026, 12, 31)), "x": [D("-1234567890.125"), None, 3]}
    assert figures._decode(json.loads(json.dumps(figures._encode(value)))) == value
    assert repr(figures._decode(json.loads(json.dumps(figures._encode(value))))) == repr(value)


@pytest.mark.parametrize(
    "data",
    [
        pickle.dumps({"an": "earlier deploy"}),
        json.dumps({"version": figures.FORMAT_VERSION + 1, "figures": {}}).encode(),
        json.dumps(
            {"version": figures.FORMAT_VERSION, "figures": {"$class": "os:system"}}
        ).encode(),
        b"{not json",
    ],
    ids=["pickle", "other-version", "foreign-class", "garbage"],
)
def test_a_row_of_another_version_or_unreadable_is_recomputed_not_a_500(
    client, dataset: Dataset, data: bytes
):
    w = dataset.world
    good = _view(client, w.director)
    _rows(w.org).update(data=data, stale=False, computed_at=timezone.now())
    shown = _view(client, w.director)  # asserts 200
    assert shown.dashboard.totals == good.dashboard.totals
    assert json.loads(bytes(_rows(w.org).get().data))["version"] == figures.FORMAT_VERSION
