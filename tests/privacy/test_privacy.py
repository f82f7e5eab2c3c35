"""GDPR per person: export content, erasure, retention, permissions and isolation."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils import timezone

from accounts.models import Activity, Contact
from accounts.services import contact_update
from crm.models import SearchWord
from leads.models import CampaignMember, Lead, LeadStatus
from leads.services import campaign_member_add, lead_create
from meridian.search import search_querysets
from privacy import services
from privacy.models import PersonalDataAction
from privacy.retention import erase_stale_leads
from tests.accounts.factories import ActivityFactory, ContactFactory, make_account
from tests.conftest import World
from tests.factories import as_user
from tests.opportunities.factories import CampaignFactory

pytestmark = pytest.mark.django_db


def _contact(world: World) -> Contact:
    account = make_account(organization=world.org, home_company=world.se, name="Volvo AB")
    contact = ContactFactory(
        account=account,
        full_name="Anna Berg",
        email="anna.berg@volvo.test",
        phone="+46 70 123",
        title="Buyer",
    )
    contact_update(contact=contact, acting_user=None, title="Head buyer")  # a history entry
    ActivityFactory(
        account=account,
        contact=contact,
        owner=world.rep_se,
        subject="Call with Anna Berg",
        notes="Anna prefers mornings",
    )
    return contact


def _lead(world: World, **kw: object) -> Lead:
    return lead_create(
        organization=world.org,
        acting_user=world.marketing,
        company_name="Lindqvist AB",
        contact_name="Erik Lindqvist",
        email="erik@lindqvist.test",
        country="SE",
        source="Fair",
        **kw,  # type: ignore[arg-type]
    )


def test_contact_export_holds_everything_and_is_recorded(world: World) -> None:
    contact = _contact(world)
    campaign = CampaignFactory(organization=world.org, name="Spring fair")
    campaign_member_add(campaign=campaign, acting_user=world.marketing, contact=contact)
    data = services.contact_export(contact=contact, acting_user=world.admin)
    assert set(data) == {
        "kind", "id", "exported_at", "record", "activities", "deal_roles",
        "campaign_memberships", "consent", "notifications", "history", "privacy_actions",
    }  # fmt: skip
    assert data["record"]["full_name"] == "Anna Berg"
    assert data["record"]["email"] == "anna.berg@volvo.test"
    assert [a["notes"] for a in data["activities"]] == ["Anna prefers mornings"]
    assert [m["campaign"] for m in data["campaign_memberships"]] == ["Spring fair"]
    assert [h["event"] for h in data["history"]] == ["insert", "update"]
    json.dumps(data)  # machine-readable as it is
    action = PersonalDataAction.objects.for_org(world.org).get()
    assert (action.kind, action.subject_id, action.acting_user) == (
        "export",
        contact.pk,
        world.admin,
    )


def test_export_page_and_json_download(world: World, client) -> None:  # type: ignore[no-untyped-def]
    contact = _contact(world)
    client.force_login(world.admin)
    page = client.get(f"/privacy/contact/{contact.pk}/")
    assert page.status_code == 200
    assert "Anna prefers mornings" in page.content.decode()
    download = client.get(f"/privacy/contact/{contact.pk}/?format=json")
    assert download["Content-Disposition"].startswith("attachment")
    assert json.loads(download.content)["record"]["full_name"] == "Anna Berg"


def test_contact_erasure_blanks_keeps_counts_and_history_shape(world: World) -> None:
    contact = _contact(world)
    events = apps.get_model("accounts", "ContactEvent")
    before_events = events.objects.for_org(world.org).filter(pgh_obj_id=contact.pk).count()
    activities = Activity.objects.for_org(world.org).filter(contact_id=contact.pk).count()
    with pytest.raises(ValidationError):
        services.contact_erase(contact=contact, acting_user=world.admin, reason="  ")
    services.contact_erase(contact=contact, acting_user=world.admin, reason="Asked by e-mail")
    contact.refresh_from_db()
    assert contact.full_name == services.ERASED_NAME
    assert (contact.email, contact.phone, contact.title) == ("", "", "")
    assert contact.erased_at is not None
    activity = Activity.objects.for_org(world.org).get(contact_id=contact.pk)
    assert activity.notes == ""
    assert activity.subject == "Call with Erased person"
    assert Activity.objects.for_org(world.org).filter(contact_id=contact.pk).count() == activities
    rows = list(events.objects.for_org(world.org).filter(pgh_obj_id=contact.pk).order_by("pgh_id"))
    assert len(rows) == before_events + 1  # the erasure's own update; none removed
    for row in rows:
        assert "Anna" not in row.full_name and "volvo" not in row.email
        assert "+46" not in row.phone
    assert rows[0].full_name == services.PLACEHOLDER
    erase = PersonalDataAction.objects.for_org(world.org).get(kind="erase")
    assert (erase.reason, erase.acting_user) == ("Asked by e-mail", world.admin)
    # Search finds nothing by the old name or e-mail; the words are gone.
    for term in ("Anna", "Berg", "anna.berg@volvo.test"):
        assert not search_querysets(user=world.admin, term=term)["contacts"].exists()
    words = set(
        SearchWord.objects.for_org(world.org)
        .filter(object_id=contact.pk, kind=2)
        .values_list("word", flat=True)
    )
    assert "anna" not in words and "berg" not in words
    # Forms (the service behind them) refuse to type the person back.
    with pytest.raises(ValidationError):
        contact_update(contact=contact, acting_user=world.admin, full_name="Anna Berg")
    # Excluded from campaigns.
    campaign = CampaignFactory(organization=world.org)
    with pytest.raises(ValidationError):
        campaign_member_add(campaign=campaign, acting_user=world.marketing, contact=contact)


def test_erased_values_absent_from_api_and_campaign_export(world: World, client) -> None:  # type: ignore[no-untyped-def]
    contact = _contact(world)
    lead = _lead(world)
    campaign = CampaignFactory(organization=world.org)
    campaign_member_add(campaign=campaign, acting_user=world.marketing, contact=contact)
    campaign_member_add(campaign=campaign, acting_user=world.marketing, lead=lead)
    services.contact_erase(contact=contact, acting_user=world.admin, reason="Request")
    services.lead_erase(lead=lead, acting_user=world.admin, reason="Request")
    api = as_user(world.admin)
    body = api.get(f"/api/v1/contacts/{contact.pk}/").content.decode()
    assert "Anna" not in body and "volvo.test" not in body
    body = api.get(f"/api/v1/leads/{lead.pk}/").content.decode()
    assert "Erik" not in body and "lindqvist.test" not in body
    client.force_login(world.marketing)
    csv = b"".join(client.get(f"/campaigns/{campaign.pk}/members.csv").streaming_content)
    text = csv.decode("utf-8-sig")
    assert "Anna" not in text and "Erik" not in text and "lindqvist.test" not in text
    # The memberships themselves stay: counts add up.
    assert CampaignMember.objects.for_org(world.org).filter(campaign=campaign).count() == 2


def test_lead_erasure_and_api(world: World) -> None:
    lead = _lead(world)
    api = as_user(world.admin)
    missing = api.post(f"/api/v1/privacy/leads/{lead.pk}/erase/", {}, format="json")
    assert missing.status_code == 400 and "reason" in missing.json()
    exported = api.get(f"/api/v1/privacy/leads/{lead.pk}/export/")
    assert exported.status_code == 200
    assert exported.json()["record"]["contact_name"] == "Erik Lindqvist"
    erased = api.post(f"/api/v1/privacy/leads/{lead.pk}/erase/", {"reason": "Asked"}, format="json")
    assert erased.status_code == 200
    lead.refresh_from_db()
    assert (lead.contact_name, lead.email) == (services.ERASED_NAME, "")
    assert not search_querysets(user=world.admin, term="Erik")["leads"].exists()
    assert not search_querysets(user=world.admin, term="erik@lindqvist.test")["leads"].exists()
    assert lead.company_name == "Lindqvist AB"  # the company is not the person


def _aged(lead: Lead, days: int) -> None:
    Lead.objects.for_org(lead.organization_id).filter(pk=lead.pk).update(
        changed_at=timezone.now() - dt.timedelta(days=days)
    )


def test_retention_erases_just_over_the_age_only(world: World) -> None:
    just_under, just_over, converted = _lead(world), _lead(world), _lead(world)
    # Six months back is 181-184 days; 175 is under, 190 over whatever the month lengths.
    _aged(just_under, 175)
    _aged(just_over, 190)
    Lead.objects.for_org(world.org).filter(pk=converted.pk).update(
        status=LeadStatus.CONVERTED, converted_at=timezone.now()
    )
    _aged(converted, 400)
    assert erase_stale_leads(world.org.pk) == 0  # off by default: nothing erased
    world.org.lead_retention_months = 6
    world.org.save()
    assert erase_stale_leads(world.org.pk) == 1
    names = dict(Lead.objects.for_org(world.org).values_list("pk", "contact_name"))
    assert names[just_over.pk] == services.ERASED_NAME
    assert names[just_under.pk] == names[converted.pk] == "Erik Lindqvist"
    assert erase_stale_leads(world.org.pk) == 0  # idempotent
    action = PersonalDataAction.objects.for_org(world.org).get(subject_id=just_over.pk)
    assert action.acting_user is None and "Retention" in action.reason


def test_lead_update_stamps_changed_at(world: World) -> None:
    lead = _lead(world)
    _aged(lead, 100)
    Lead.objects.for_org(world.org).filter(pk=lead.pk).update(status=LeadStatus.WORKING)
    lead.refresh_from_db()
    assert lead.changed_at is not None
    assert timezone.now() - lead.changed_at < dt.timedelta(minutes=1)


@pytest.mark.parametrize("who", ["rep_se", "manager_se", "director", "marketing", "regional"])
def test_everyone_without_the_capability_gets_404(world: World, client, who: str) -> None:  # type: ignore[no-untyped-def]
    contact, lead = _contact(world), _lead(world)
    user = getattr(world, who)
    client.force_login(user)
    for url in (
        f"/privacy/contact/{contact.pk}/",
        f"/privacy/contact/{contact.pk}/erase/",
        f"/privacy/lead/{lead.pk}/",
        "/privacy/retention/",
    ):
        assert client.get(url).status_code == 404, url
    api = as_user(user)
    assert api.get(f"/api/v1/privacy/contacts/{contact.pk}/export/").status_code == 404
    response = api.post(f"/api/v1/privacy/leads/{lead.pk}/erase/", {"reason": "x"}, format="json")
    assert response.status_code == 404
    lead.refresh_from_db()
    assert lead.erased_at is None
    with pytest.raises(Http404):
        services.contact_export(contact=contact, acting_user=user)


def test_data_protection_capability_and_other_org(world: World, client) -> None:  # type: ignore[no-untyped-def]
    contact = _contact(world)
    world.rep_dk.data_protection = True
    world.rep_dk.save()
    # The DPO sees the whole organization for this purpose (an SE contact for a DK rep).
    assert (
        as_user(world.rep_dk).get(f"/api/v1/privacy/contacts/{contact.pk}/export/").status_code
        == 200
    )
    world.stranger.data_protection = True
    world.stranger.save()
    stranger = as_user(world.stranger)
    assert stranger.get(f"/api/v1/privacy/contacts/{contact.pk}/export/").status_code == 404
    response = stranger.post(
        f"/api/v1/privacy/contacts/{contact.pk}/erase/", {"reason": "x"}, format="json"
    )
    assert response.status_code == 404
    client.force_login(world.stranger)
    assert client.get(f"/privacy/contact/{contact.pk}/").status_code == 404
    contact.refresh_from_db()
    assert contact.erased_at is None


def test_erase_page_confirms_then_erases(world: World, client) -> None:  # type: ignore[no-untyped-def]
    contact = _contact(world)
    client.force_login(world.admin)
    page = client.get(f"/privacy/contact/{contact.pk}/erase/")
    assert page.status_code == 200 and "Erased person" in page.content.decode()
    assert client.post(f"/privacy/contact/{contact.pk}/erase/", {"reason": ""}).status_code == 400
    response = client.post(f"/privacy/contact/{contact.pk}/erase/", {"reason": "Asked"})
    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.full_name == services.ERASED_NAME


def test_retention_setting_page(world: World, client) -> None:  # type: ignore[no-untyped-def]
    client.force_login(world.admin)
    assert client.post("/privacy/retention/", {"lead_retention_months": "0"}).status_code == 400
    assert client.post("/privacy/retention/", {"lead_retention_months": "24"}).status_code == 302
    world.org.refresh_from_db()
    assert world.org.lead_retention_months == 24


def test_months_before_clamps_to_the_months_last_day() -> None:
    from privacy.retention import months_before

    moment = dt.datetime(2026, 3, 31, 12, tzinfo=dt.UTC)
    assert months_before(moment, 1) == dt.datetime(2026, 2, 28, 12, tzinfo=dt.UTC)
    assert months_before(moment, 13) == dt.datetime(2025, 2, 28, 12, tzinfo=dt.UTC)
    assert months_before(moment, 3) == dt.datetime(2025, 12, 31, 12, tzinfo=dt.UTC)


def test_admin_gives_the_capability_on_the_user_page(world: World, client) -> None:  # type: ignore[no-untyped-def]
    client.force_login(world.admin)
    rep = world.rep_dk
    form = {
        "email": rep.email,
        "full_name": rep.full_name,
        "role": rep.role,
        "sales_company": rep.sales_company_id,
        "region": "",
        "language": "",
        "timezone": "",
        "data_protection": "on",
    }
    assert client.post(f"/setup/users/{rep.pk}/", form).status_code == 302
    rep.refresh_from_db()
    assert rep.data_protection is True
    assert rep.role == "sales_rep"  # not a role: what the rep sees elsewhere is unchanged


def test_export_and_erasure_appear_in_the_accounts_history(world: World, client) -> None:  # type: ignore[no-untyped-def]
    contact = _contact(world)
    client.force_login(world.admin)
    client.get(f"/privacy/contact/{contact.pk}/")
    client.post(f"/privacy/contact/{contact.pk}/erase/", {"reason": "Asked by phone"})
    page = client.get(f"/accounts/{contact.account_id}/history/").content.decode()
    assert "Personal data action" in page
    assert "Asked by phone" in page
    assert "Anna Berg" not in page and "anna.berg@volvo.test" not in page
