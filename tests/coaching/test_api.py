"""The coaching API's own rules (isolation and query counts are generated in tests/api)."""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework.test import APIClient

from coaching.models import CoachingAction, CoachingSession, CoachingTopic
from crm.models import Notification
from tests.conftest import World
from tests.opportunities.factories import OpportunityFactory, account_for

pytestmark = pytest.mark.django_db
URL = "/api/v1/coaching-sessions/"


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_manager_logs_a_deal_review_with_actions_and_the_rep_acknowledges(world: World) -> None:
    w = world
    deal = OpportunityFactory(account=account_for(w.se), owner=w.rep_se)
    topic = CoachingTopic.objects.create(organization=w.org, name="Closing")
    body = {
        "rep": w.rep_se.pk, "kind": "deal_review", "held_on": "2026-05-04",
        "duration_minutes": 40, "opportunity": deal.pk, "topics": [topic.pk],
        "new_actions": [{"text": "Send the revised offer", "due_on": "2026-05-11"}],
    }  # fmt: skip
    made = _client(w.manager_se).post(URL, body, format="json")
    assert made.status_code == 201, made.json()
    data = made.json()
    assert (data["manager"], data["sales_company"], data["topics"]) == (
        w.manager_se.pk, w.se.pk, [topic.pk],
    )  # fmt: skip
    assert [a["text"] for a in data["actions"]] == ["Send the revised offer"]
    assert Notification.objects.for_org(w.org).filter(recipient=w.rep_se).count() == 1
    # The rep sees it and acknowledges it; the manager may not acknowledge for him.
    rep = _client(w.rep_se)
    assert [s["id"] for s in rep.get(URL).json()["results"]] == [data["id"]]
    ack = f"{URL}{data['id']}/acknowledge/"
    assert _client(w.manager_se).post(ack).status_code == 403
    answer = rep.post(ack)
    assert answer.status_code == 200 and answer.json()["acknowledged_at"]
    # The rep marks his action done.
    action = CoachingAction.objects.for_org(w.org).get()
    done = rep.post(f"/api/v1/coaching-actions/{action.pk}/mark/", {"done": True}, format="json")
    assert done.status_code == 200 and done.json()["done_at"]


def test_bad_input_is_a_400_with_field_messages(world: World) -> None:
    w = world
    client = _client(w.manager_se)
    review = client.post(
        URL,
        {"rep": w.rep_se.pk, "kind": "deal_review", "held_on": "2026-05-04", "duration_minutes": 0},
        format="json",
    )
    assert review.status_code == 400
    assert set(review.json()) >= {"duration_minutes"}
    no_deal = client.post(
        URL,
        {"rep": w.rep_se.pk, "kind": "deal_review", "held_on": "2026-05-04", "duration_minutes": 5},
        format="json",
    )
    assert no_deal.status_code == 400 and "opportunity" in no_deal.json()
    future = client.post(
        URL,
        {"rep": w.rep_se.pk, "kind": "coaching", "held_on": "2099-01-01", "duration_minutes": 5},
        format="json",
    )
    assert future.status_code == 400 and "held_on" in future.json()


def test_a_rep_outside_the_scope_is_not_a_choice_and_reps_do_not_log(world: World) -> None:
    w = world
    # The German rep is in the organization's directory but not in the Swedish manager's scope.
    other = _client(w.manager_se).post(
        URL, {"rep": w.rep_de.pk, "kind": "coaching", "held_on": "2026-05-04",
              "duration_minutes": 5}, format="json",
    )  # fmt: skip
    assert other.status_code == 403
    # A rep may not log a session for a colleague he sees (his own company): 403.
    rep = _client(w.rep_dk).post(
        URL, {"rep": w.rep_dk.pk, "kind": "coaching", "held_on": "2026-05-04",
              "duration_minutes": 5}, format="json",
    )  # fmt: skip
    assert rep.status_code == 403
    assert CoachingSession.objects.for_org(w.org).count() == 0


def test_the_regional_manager_and_director_see_their_scope(world: World) -> None:
    w = world
    made = _client(w.manager_de).post(
        URL, {"rep": w.rep_de.pk, "kind": "coaching", "held_on": "2026-05-04",
              "duration_minutes": 5}, format="json",
    )  # fmt: skip
    pk = made.json()["id"]
    assert _client(w.director).get(f"{URL}{pk}/").status_code == 200
    assert _client(w.regional).get(f"{URL}{pk}/").status_code == 404  # Nordics, not DACH
    assert (
        _client(w.manager_se).patch(f"{URL}{pk}/", {"notes": "x"}, format="json").status_code == 404
    )
    edit = _client(w.director).patch(f"{URL}{pk}/", {"notes": "Good call"}, format="json")
    assert edit.status_code == 200 and edit.json()["notes"] == "Good call"
    assert dt.date.fromisoformat(edit.json()["held_on"]) == dt.date(2026, 5, 4)
