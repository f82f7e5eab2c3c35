"""Outbound webhooks: signed deliveries to a real receiver on loopback, retries with back-off,
auto-disable, scope filtering, and the admin-only pages and API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Account
from crm.models import Notification
from opportunities.models import Opportunity
from opportunities.services import opportunity_create, opportunity_move_stage
from tests.conftest import World
from tests.factories import ExchangeRateFactory, OrganizationFactory, UserFactory, as_user
from tests.opportunities.factories import account_for, process_for, stage_for
from tests.webhooks.receiver import Receiver, verify
from webhooks.models import DeliveryStatus, Scope, WebhookDelivery, WebhookEndpoint
from webhooks.services import endpoint_create

pytestmark = pytest.mark.django_db

ALL_EVENTS = [
    "opportunity.created", "opportunity.stage_changed", "opportunity.won", "opportunity.lost",
    "account.created", "account.merged", "conflict.opened", "conflict.resolved",
]  # fmt: skip


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def processes(world: World) -> None:
    for company in (world.se, world.dk, world.de):
        process_for(company)


def _endpoint(world: World, url: str, **kw) -> WebhookEndpoint:
    return endpoint_create(
        acting_user=kw.pop("acting_user", world.admin),
        name=kw.pop("name", "ERP"),
        url=url,
        event_types=kw.pop("event_types", ALL_EVENTS),
        **kw,
    )


def _opp(world: World, account: Account, owner=None, **kw) -> Opportunity:
    owner = owner or world.rep_se
    return opportunity_create(
        acting_user=None, owner=owner, account=account, name=kw.pop("name", "Trucks"), **kw
    )


def test_a_delivery_is_signed_and_carries_the_deal_in_both_currencies(
    world: World, processes: None, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    ExchangeRateFactory(organization=world.org, currency="SEK", rate=Decimal("0.0900"))
    endpoint = _endpoint(world, receiver.url, event_types=["opportunity.created"])
    account = account_for(world.se, "Volvo AB")
    with django_capture_on_commit_callbacks(execute=True):
        opp = _opp(world, account, amount=Decimal("1000.00"), currency="SEK")
    assert len(receiver.received) == 1
    got = receiver.received[0]
    assert verify(endpoint.secret, got)
    # A forged body or another secret does not verify.
    assert not verify("whsec_other", got)
    got.body += b" "
    assert not verify(endpoint.secret, got)
    body = json.loads(got.body[:-1])
    assert got.headers["X-Meridian-Event"] == "opportunity.created"
    delivery = WebhookDelivery.objects.for_org(world.org).get()
    assert got.headers["X-Meridian-Delivery"] == str(delivery.delivery_id)
    assert body["id"] == str(delivery.event_id)
    assert body["type"] == "opportunity.created"
    assert body["organization_id"] == world.org.pk
    data = body["data"]["opportunity"]
    assert data["id"] == opp.pk
    assert data["sales_company_id"] == world.se.pk
    assert (data["amount"], data["currency"]) == ("1000.00", "SEK")
    assert (data["amount_corporate"], data["corporate_currency"]) == ("90.00", "EUR")
    assert data["global_stage"] == "Qualify"
    assert "next_step" not in data and "notes" not in data
    assert (delivery.status, delivery.attempts, delivery.response_code) == (
        DeliveryStatus.SUCCEEDED, 1, 200,
    )  # fmt: skip
    assert delivery.response_excerpt == "answer 1"


def test_no_endpoint_no_delivery_and_account_created_is_sent(
    world: World, processes: None, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        account_for(world.se, "Nobody listens AB")
    assert WebhookDelivery.objects.for_org(world.org).count() == 0
    _endpoint(world, receiver.url, event_types=["account.created"])
    with django_capture_on_commit_callbacks(execute=True):
        account = account_for(world.se, "Scania AB")
        _opp(world, account)  # not subscribed: not sent
    assert [json.loads(r.body)["type"] for r in receiver.received] == ["account.created"]
    assert json.loads(receiver.received[0].body)["data"]["account"]["id"] == account.pk


def test_a_500_is_retried_with_back_off_then_succeeds(
    world: World, processes: None, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    receiver.codes = [500, 503, 200]
    _endpoint(world, receiver.url, event_types=["opportunity.created"])
    account = account_for(world.se, "Retry AB")
    with django_capture_on_commit_callbacks(execute=True):
        _opp(world, account)
    delivery = WebhookDelivery.objects.for_org(world.org).get()
    # Eager tasks run at once; the back-off asked for is in the log: 1 minute, then 5.
    assert [a["retry_in"] for a in delivery.attempt_log] == [60, 300, None]
    assert [a["code"] for a in delivery.attempt_log] == [500, 503, 200]
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SUCCEEDED, 3)
    # The same delivery each time: one delivery id, three requests.
    assert len({r.headers["X-Meridian-Delivery"] for r in receiver.received}) == 1
    assert len(receiver.received) == 3


def test_gives_up_after_the_schedule_and_disables_after_n_failed_deliveries(
    world: World, processes: None, receiver: Receiver, settings, django_capture_on_commit_callbacks
) -> None:
    settings.WEBHOOK_RETRY_SCHEDULE = [60]
    settings.WEBHOOK_DISABLE_AFTER = 2
    receiver.codes = [500]
    endpoint = _endpoint(world, receiver.url, event_types=["opportunity.created"])
    account = account_for(world.se, "Broken AB")
    with django_capture_on_commit_callbacks(execute=True):
        _opp(world, account, name="One")
    endpoint.refresh_from_db()
    assert (endpoint.is_active, endpoint.consecutive_failures) == (True, 1)
    assert len(receiver.received) == 2  # the attempt and its one retry
    with django_capture_on_commit_callbacks(execute=True):
        _opp(world, account, name="Two")
    endpoint.refresh_from_db()
    assert endpoint.is_active is False
    assert endpoint.disabled_at is not None
    assert "2 consecutive" in endpoint.disabled_reason
    assert list(WebhookDelivery.objects.for_org(world.org).values_list("status", flat=True)) == [
        DeliveryStatus.FAILED,
        DeliveryStatus.FAILED,
    ]
    notes = Notification.objects.for_org(world.org).filter(kind="webhook_disabled")
    assert [n.recipient_id for n in notes] == [world.admin.pk]
    assert "ERP" in notes[0].message
    # Off: nothing more is recorded or sent.
    with django_capture_on_commit_callbacks(execute=True):
        _opp(world, account, name="Three")
    assert len(receiver.received) == 4
    assert WebhookDelivery.objects.for_org(world.org).count() == 2


def test_a_company_scoped_endpoint_hears_only_its_company(
    world: World, processes: None, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    dk_hook = _endpoint(
        world, receiver.url, name="DK ERP", scope=Scope.COMPANY, sales_company=world.dk
    )
    nordics_hook = _endpoint(
        world, receiver.url, name="Nordics", scope=Scope.REGION, region=world.nordics
    )
    se_account = account_for(world.se, "Volvo AB")
    de_account = account_for(world.de, "Siemens AG")
    with django_capture_on_commit_callbacks(execute=True):
        _opp(world, se_account, name="SE deal")
        _opp(world, de_account, owner=world.rep_de, name="DE deal")
    sent = WebhookDelivery.objects.for_org(world.org)
    # The SE deal goes to the Nordics region's endpoint only; the DE deal to nobody.
    assert not sent.filter(endpoint=dk_hook).exists()
    assert sorted(
        (d.payload["type"], d.payload["data"].get("opportunity", {}).get("name", ""))
        for d in sent.filter(endpoint=nordics_hook)
    ) == [("opportunity.created", "SE deal")]
    assert all(
        json.loads(r.body)["data"].get("opportunity", {}).get("name") != "DE deal"
        for r in receiver.received
    )


def test_a_conflict_reaches_each_company_with_its_own_deals_only(
    world: World, processes: None, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    dk_hook = _endpoint(
        world, receiver.url, name="DK", scope=Scope.COMPANY, sales_company=world.dk,
        event_types=["conflict.opened"],
    )  # fmt: skip
    de_hook = _endpoint(
        world, receiver.url, name="DE", scope=Scope.COMPANY, sales_company=world.de,
        event_types=["conflict.opened"],
    )  # fmt: skip
    account = account_for(world.se, "Volvo AB")
    _opp(world, account, name="SE deal")
    with django_capture_on_commit_callbacks(execute=True):
        dk_deal = _opp(world, account, owner=world.rep_dk, name="DK deal")
    assert not WebhookDelivery.objects.for_org(world.org).filter(endpoint=de_hook).exists()
    delivery = WebhookDelivery.objects.for_org(world.org).get(endpoint=dk_hook)
    conflict = delivery.payload["data"]["conflict"]
    assert conflict["sales_company_ids"] == sorted([world.se.pk, world.dk.pk])
    # Need-to-know: the DK endpoint learns of its own deal, not of the SE deal.
    assert conflict["opportunity_ids"] == [dk_deal.pk]
    assert "SE deal" not in json.dumps(delivery.payload)


def test_stage_moves_send_won_and_lost(
    world: World, processes: None, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    _endpoint(world, receiver.url, event_types=["opportunity.won", "opportunity.stage_changed"])
    account = account_for(world.se, "Volvo AB")
    opp = _opp(world, account)
    with django_capture_on_commit_callbacks(execute=True):
        opportunity_move_stage(
            opportunity=opp, local_stage=stage_for(world.se, "Develop"), acting_user=world.rep_se
        )
        opportunity_move_stage(
            opportunity=opp, local_stage=stage_for(world.se, "Won"), acting_user=world.rep_se
        )
    types = [json.loads(r.body)["type"] for r in receiver.received]
    assert types == ["opportunity.stage_changed", "opportunity.won"]
    assert json.loads(receiver.received[1].body)["data"]["opportunity"]["is_won"] is True


def test_a_rolled_back_change_sends_nothing(
    world: World, processes: None, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    from django.db import transaction

    _endpoint(world, receiver.url, event_types=["account.created"])
    with django_capture_on_commit_callbacks(execute=True):
        try:
            with transaction.atomic():
                account_for(world.se, "Ghost AB")
                raise RuntimeError
        except RuntimeError:
            pass
    assert receiver.received == []


def test_https_is_required_outside_debug(world: World, settings) -> None:
    from django.core.exceptions import ValidationError

    settings.WEBHOOK_ALLOW_INSECURE = False
    for url in ("http://erp.example/hook", "https://127.0.0.1/hook", "https://localhost/x"):
        with pytest.raises(ValidationError):
            _endpoint(world, url)
    assert _endpoint(world, "https://erp.example/hook").pk


# --- Pages and API: the admin's; everyone else 404 --------------------------------------------


def test_pages_create_shows_the_secret_once_and_list_is_constant(
    world: World, client: Client, django_assert_max_num_queries
) -> None:
    client.force_login(world.admin)
    answer = client.post(
        reverse("setup:webhook_create"),
        {"name": "ERP", "url": "http://127.0.0.1:9/hook", "event_types": ["account.created"],
         "scope": "company", "sales_company": world.se.pk, "is_active": "on"},
    )  # fmt: skip
    assert answer.status_code == 200
    endpoint = WebhookEndpoint.objects.for_org(world.org).get()
    assert endpoint.secret in answer.content.decode()
    # At rest the secret is encrypted: the column does not hold it.
    assert endpoint.secret.startswith("whsec_")
    assert endpoint.secret not in endpoint.secret_encrypted
    assert (
        endpoint.secret
        not in client.get(reverse("setup:webhook_edit", args=[endpoint.pk])).content.decode()
    )
    # Bad input: the form again with field errors, never a 500.
    bad = client.post(
        reverse("setup:webhook_create"), {"name": "", "url": "nope", "scope": "region"}
    )
    assert bad.status_code == 200 and "has-errors" in bad.content.decode()
    for i in range(3):
        _endpoint(
            world, f"http://127.0.0.1:9/{i}", name=f"E{i}", scope=Scope.REGION, region=world.dach
        )
    with django_assert_max_num_queries(12):
        assert client.get(reverse("setup:webhooks")).status_code == 200
    for i in range(10):
        _endpoint(
            world,
            f"http://127.0.0.1:9/x{i}",
            name=f"X{i}",
            scope=Scope.COMPANY,
            sales_company=world.dk,
        )
    with django_assert_max_num_queries(12):
        assert client.get(reverse("setup:webhooks")).status_code == 200
    with django_assert_max_num_queries(12):
        page = client.get(
            reverse("setup:webhook_deliveries", args=[endpoint.pk]), {"status": "failed"}
        )
        assert page.status_code == 200
    assert (
        client.get(
            reverse("setup:webhook_deliveries", args=[endpoint.pk]), {"status": "zzz"}
        ).status_code
        == 200
    )
    deleted = client.post(reverse("setup:webhook_delete", args=[endpoint.pk]))
    assert deleted.status_code == 302
    assert not WebhookEndpoint.objects.for_org(world.org).filter(pk=endpoint.pk).exists()


def test_everyone_but_the_admin_and_other_organizations_get_404(
    world: World, client: Client
) -> None:
    endpoint = _endpoint(world, "http://127.0.0.1:9/hook")
    other_admin = UserFactory(organization=world.other_org, role="global_admin")
    delivery = WebhookDelivery.objects.create(
        organization=world.org, endpoint=endpoint, event_type="ping", payload={}
    )
    urls = [
        ("get", reverse("setup:webhooks")),
        ("get", reverse("setup:webhook_create")),
        ("get", reverse("setup:webhook_edit", args=[endpoint.pk])),
        ("get", reverse("setup:webhook_delete", args=[endpoint.pk])),
        ("get", reverse("setup:webhook_deliveries", args=[endpoint.pk])),
        ("post", reverse("setup:webhook_rotate", args=[endpoint.pk])),
        ("post", reverse("setup:webhook_ping", args=[endpoint.pk])),
        ("post", reverse("setup:webhook_redeliver", args=[delivery.pk])),
    ]
    for user in (world.director, world.manager_se, world.rep_se, world.stranger, other_admin):
        client.force_login(user)
        for method, url in urls:
            if user is other_admin and url in (
                reverse("setup:webhooks"),
                reverse("setup:webhook_create"),
            ):
                continue  # their own (empty) list and form
            assert getattr(client, method)(url).status_code == 404, (user.role, url)
        api = as_user(user)
        detail = f"/api/v1/webhooks/{endpoint.pk}/"
        assert api.get(detail).status_code == 404
        assert api.get(f"{detail}deliveries/").status_code == 404
        assert api.post(f"{detail}rotate-secret/").status_code == 404
        assert api.delete(detail).status_code == 404
        assert api.post(f"/api/v1/webhook-deliveries/{delivery.pk}/redeliver/").status_code == 404
        if user is not other_admin:
            assert api.get("/api/v1/webhooks/").status_code == 404
    assert as_user(other_admin).get("/api/v1/webhooks/").json()["results"] == []
    endpoint.refresh_from_db()
    assert endpoint.is_active


def test_api_create_answers_the_secret_once_and_lists_deliveries(
    world: World, django_assert_max_num_queries
) -> None:
    api = as_user(world.admin)
    created = api.post(
        "/api/v1/webhooks/",
        {"name": "ERP", "url": "http://127.0.0.1:9/hook", "event_types": ["opportunity.won"],
         "scope": "region", "region": world.nordics.pk},
        format="json",
    )  # fmt: skip
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["secret"].startswith("whsec_")
    detail = api.get(f"/api/v1/webhooks/{body['id']}/").json()
    assert "secret" not in detail and detail["region"] == world.nordics.pk
    # Another organization's region is "does not exist"; an unknown event a field error.
    other_region = world.other_org and __import__(
        "tests.factories", fromlist=["RegionFactory"]
    ).RegionFactory(organization=world.other_org)
    bad = api.post(
        "/api/v1/webhooks/",
        {"name": "X", "url": "http://127.0.0.1:9/", "event_types": ["nope"], "scope": "region",
         "region": other_region.pk},
        format="json",
    )  # fmt: skip
    assert bad.status_code == 400
    assert set(bad.json()) >= {"event_types", "region"}
    endpoint = WebhookEndpoint.objects.for_org(world.org).get(pk=body["id"])
    for _ in range(5):
        WebhookDelivery.objects.create(
            organization=world.org, endpoint=endpoint, event_type="ping", payload={}
        )
    with django_assert_max_num_queries(8):
        listed = api.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries/?status=pending")
    assert listed.status_code == 200 and listed.json()["count"] == 5
    assert api.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries/?status=zzz").status_code == 400
    rotated = api.post(f"/api/v1/webhooks/{endpoint.pk}/rotate-secret/").json()["secret"]
    endpoint.refresh_from_db()
    assert rotated == endpoint.secret != body["secret"]


def test_redelivery_sends_the_same_event_again(
    world: World, processes: None, receiver: Receiver, client: Client,
    django_capture_on_commit_callbacks,
) -> None:  # fmt: skip
    endpoint = _endpoint(world, receiver.url, event_types=["account.created"])
    with django_capture_on_commit_callbacks(execute=True):
        account_for(world.se, "Volvo AB")
    first = WebhookDelivery.objects.for_org(world.org).get()
    client.force_login(world.admin)
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(reverse("setup:webhook_redeliver", args=[first.pk]))
    assert answer.status_code == 302
    assert len(receiver.received) == 2
    one, two = (json.loads(r.body) for r in receiver.received)
    assert one["id"] == two["id"]  # the same event: a receiver can drop what it has
    assert (
        receiver.received[0].headers["X-Meridian-Delivery"]
        != receiver.received[1].headers["X-Meridian-Delivery"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("setup:webhook_ping", args=[endpoint.pk]))
    assert json.loads(receiver.received[2].body)["type"] == "ping"
    assert verify(endpoint.secret, receiver.received[2])


def test_another_organizations_events_never_reach_this_endpoint(
    world: World, processes: None, receiver: Receiver, django_capture_on_commit_callbacks
) -> None:
    _endpoint(world, receiver.url, event_types=["account.created"])
    process_for(world.other_company)
    with django_capture_on_commit_callbacks(execute=True):
        account_for(world.other_company, "Tellus customer")
    assert receiver.received == []
    assert OrganizationFactory  # imported for symmetry with other tests
