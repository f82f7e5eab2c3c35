"""The import engine end to end in one process: dry run verdicts, dedupe (hidden matches and
in-file duplicates), updates on a second import, all-or-nothing, cancel, permissions."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from accounts.models import Account, Contact
from imports import services
from imports.models import ImportKind, ImportStatus, ImportTemplate, MatchChoice, RowAction
from leads.models import Lead
from opportunities.models import Opportunity, OpportunityLine
from tests.accounts.factories import make_account
from tests.imports.helpers import commit, dry_run, upload, verdicts
from tests.opportunities.factories import ProductFactory, process_for

ACCOUNTS = (
    "Namn;Land;Organisationsnummer;Hemsida\n"
    "Alfa AB;Sverige;556000-0001;alfa.se\n"
    "Beta AB;SE;556000-0002;\n"
    "Alfa AB;SE;;\n"  # the same customer as row 2 (name + country)
    ";SE;;\n"  # no name
    "Gamma AB;Atlantis;;\n"  # unknown country
)


def accounts_of(world) -> list[str]:
    return sorted(Account.objects.for_org(world.org).values_list("name", flat=True))


def test_dry_run_writes_nothing_and_says_per_row_what_would_happen(
    world, django_capture_on_commit_callbacks
) -> None:
    job = upload(world.manager_se, ImportKind.ACCOUNTS, ACCOUNTS)
    assert job.mapping == {"0": "name", "1": "country", "2": "registration_number", "3": "domain"}
    job = dry_run(django_capture_on_commit_callbacks, job, world.manager_se)
    assert job.status == ImportStatus.READY
    assert accounts_of(world) == []  # nothing written
    rows = verdicts(job)
    assert rows[2][0] == rows[3][0] == RowAction.CREATE
    assert rows[4][0] == RowAction.SKIP and "row 2" in rows[4][2]
    assert rows[5][0] == RowAction.ERROR
    assert rows[5][1][0]["column"] == "Namn"
    assert rows[6][0] == RowAction.ERROR
    assert rows[6][1] == [{"column": "Land", "message": "“Atlantis” is not a country we know."}]
    assert job.unknown_values == {"country": ["Atlantis"]}
    assert (job.created_count, job.skipped_count, job.error_count) == (2, 1, 2)


def test_commit_then_a_second_import_of_the_same_file_updates(
    world, django_capture_on_commit_callbacks
) -> None:
    user = world.manager_se
    job = dry_run(
        django_capture_on_commit_callbacks, upload(user, ImportKind.ACCOUNTS, ACCOUNTS), user
    )
    job = commit(django_capture_on_commit_callbacks, job, user)
    assert job.status == ImportStatus.DONE
    assert accounts_of(world) == ["Alfa AB", "Beta AB"]
    assert job.created_count == 2 and job.error_count == 2
    again = dry_run(
        django_capture_on_commit_callbacks, upload(user, ImportKind.ACCOUNTS, ACCOUNTS), user
    )
    assert verdicts(again)[2][0] == RowAction.UPDATE
    again = commit(django_capture_on_commit_callbacks, again, user)
    assert (again.created_count, again.updated_count) == (0, 2)
    assert accounts_of(world) == ["Alfa AB", "Beta AB"]  # not duplicated


def test_a_value_mapping_resolves_an_unknown_country(world, django_capture_on_commit_callbacks):
    user = world.manager_se
    job = upload(user, ImportKind.ACCOUNTS, ACCOUNTS)
    job = dry_run(
        django_capture_on_commit_callbacks, job, user, value_map={"country": {"Atlantis": "SE"}}
    )
    assert verdicts(job)[6][0] == RowAction.CREATE


def test_a_hidden_match_is_told_at_need_to_know_only(world, django_capture_on_commit_callbacks):
    # A DK customer a SE rep may not see: the row is refused, naming the company, not the account.
    make_account(organization=world.org, home_company=world.dk, name="Secret Holding A/S",
                 country="DK", registration_number="DK-123")  # fmt: skip
    text = "Name;Country;Registration number\nSecret Holding A/S;DK;DK-123\n"
    job = dry_run(
        django_capture_on_commit_callbacks,
        upload(world.rep_se, ImportKind.ACCOUNTS, text),
        world.rep_se,
    )
    action, errors, _ = verdicts(job)[2]
    assert action == RowAction.ERROR
    assert "Exists, not visible to you" in errors[0]["message"]
    assert world.dk.name in errors[0]["message"]
    assert "Secret" not in errors[0]["message"]


def test_skip_and_create_anyway(world, django_capture_on_commit_callbacks) -> None:
    user = world.manager_se
    make_account(organization=world.org, home_company=world.se, name="Alfa AB", country="SE")
    job = upload(user, ImportKind.ACCOUNTS, "Name;Country\nAlfa AB;SE\n")
    job = dry_run(django_capture_on_commit_callbacks, job, user, on_match=MatchChoice.SKIP)
    assert verdicts(job)[2][0] == RowAction.SKIP
    job = dry_run(django_capture_on_commit_callbacks, job, user, on_match=MatchChoice.CREATE)
    assert verdicts(job)[2][0] == RowAction.CREATE
    commit(django_capture_on_commit_callbacks, job, user)
    assert accounts_of(world) == ["Alfa AB", "Alfa AB"]


def test_a_rep_imports_into_his_own_company_only(world, django_capture_on_commit_callbacks):
    text = "Name;Country;Sales company\nOwn AB;SE;SE\nForeign ApS;DK;DK\n"
    job = dry_run(
        django_capture_on_commit_callbacks,
        upload(world.rep_se, ImportKind.ACCOUNTS, text),
        world.rep_se,
    )
    rows = verdicts(job)
    assert rows[2][0] == RowAction.CREATE
    assert rows[3][0] == RowAction.ERROR
    assert "may not create" in rows[3][1][0]["message"]


def test_marketing_may_not_import_accounts_but_leads(world, django_capture_on_commit_callbacks):
    with pytest.raises(PermissionDenied):
        upload(world.marketing, ImportKind.ACCOUNTS, "Name;Country\nX;SE\n")
    with pytest.raises(PermissionDenied):
        upload(world.rep_se, ImportKind.LEADS, "Company;Contact;Country\nX;Y;SE\n")
    text = "Företag;Kontaktperson;Land;E-post\nLeadco AB;Eva Ek;Sverige;eva@leadco.se\n"
    job = dry_run(
        django_capture_on_commit_callbacks,
        upload(world.marketing, ImportKind.LEADS, text),
        world.marketing,
    )
    assert verdicts(job)[2][0] == RowAction.CREATE
    commit(django_capture_on_commit_callbacks, job, world.marketing)
    lead = Lead.objects.for_org(world.org).get()
    assert (lead.company_name, lead.country, lead.email) == ("Leadco AB", "SE", "eva@leadco.se")


def test_another_users_job_is_missing(world) -> None:
    job = upload(world.manager_se, ImportKind.ACCOUNTS, ACCOUNTS)
    from django.http import Http404

    for stranger in (world.stranger, world.rep_se):
        with pytest.raises(Http404):
            services.import_request_dry_run(job=job, user=stranger)


def test_a_mapping_needs_the_required_fields_and_is_saved_as_template(world) -> None:
    user = world.manager_se
    job = upload(user, ImportKind.ACCOUNTS, "Kundnamn;Landskod\nA;SE\n")
    with pytest.raises(ValidationError, match="Map a column"):
        services.import_job_set_mapping(job=job, user=user, mapping={"0": "name"})
    services.import_job_set_mapping(
        job=job, user=user, mapping={"0": "name", "1": "country"}, save_template=True
    )
    template = ImportTemplate.objects.for_org(world.org).get(user=user)
    assert template.mapping == {"Kundnamn": "name", "Landskod": "country"}
    assert upload(user, ImportKind.ACCOUNTS, "Kundnamn;Landskod\nB;SE\n").mapping == {
        "0": "name",
        "1": "country",
    }


def test_formula_cells_are_imported_as_text(world, django_capture_on_commit_callbacks):
    user = world.manager_se
    job = upload(user, ImportKind.ACCOUNTS, 'Name;Country;Industry\n=HYPERLINK("x");SE;@SUM(A1)\n')
    commit(
        django_capture_on_commit_callbacks,
        dry_run(django_capture_on_commit_callbacks, job, user),
        user,
    )
    account = Account.objects.for_org(world.org).get()
    assert (account.name, account.industry) == ('=HYPERLINK("x")', "@SUM(A1)")


def test_contacts_are_matched_by_email_on_the_account(world, django_capture_on_commit_callbacks):
    user = world.manager_se
    make_account(organization=world.org, home_company=world.se, name="Alfa AB", country="SE")
    text = (
        "Kund;Namn;E-post;Titel\n"
        "Alfa AB;Eva Ek;eva@alfa.se;CFO\n"
        "Alfa AB;Eva Ek;EVA@alfa.se;CEO\n"
        "None AB;X;;\n"
    )
    job = dry_run(django_capture_on_commit_callbacks, upload(user, ImportKind.CONTACTS, text), user)
    rows = verdicts(job)
    assert [rows[n][0] for n in (2, 3, 4)] == [RowAction.CREATE, RowAction.SKIP, RowAction.ERROR]
    commit(django_capture_on_commit_callbacks, job, user)
    again = commit(
        django_capture_on_commit_callbacks,
        dry_run(django_capture_on_commit_callbacks, upload(user, ImportKind.CONTACTS, text), user),
        user,
    )
    assert again.updated_count == 1
    assert Contact.objects.for_org(world.org).count() == 1


def _deal_world(world):
    process_for(world.se)
    ProductFactory(organization=world.org, sku="P-1", list_price=Decimal("100"), currency="SEK")
    return make_account(organization=world.org, home_company=world.se, name="Alfa AB", country="SE")


OPPS = (
    "ID;Kund;Affär;Steg;Belopp;Valuta;Stängningsdatum;Artikelnummer;Antal;Pris\n"
    "X-1;Alfa AB;Pumps 2027;Develop;;SEK;15.03.2027;P-1;2;100,50\n"
    "X-1;Alfa AB;Pumps 2027;Develop;;SEK;15.03.2027;P-1;1;50\n"
    "X-2;Alfa AB;Service;Propose;1 234,50;SEK;2027-04-01;;;\n"
    "X-3;Alfa AB;Bad;Offert;abc;SEK;31.02.2027;;;\n"
)


def test_opportunities_with_lines_and_external_ids(world, django_capture_on_commit_callbacks):
    user = world.manager_se
    account = _deal_world(world)
    job = dry_run(
        django_capture_on_commit_callbacks, upload(user, ImportKind.OPPORTUNITIES, OPPS), user
    )
    rows = verdicts(job)
    assert rows[2][0] == rows[3][0] == rows[4][0] == RowAction.CREATE
    assert rows[5][0] == RowAction.ERROR
    columns = {e["column"] for e in rows[5][1]}
    assert columns == {"Steg", "Belopp", "Stängningsdatum"}
    assert job.unknown_values == {"stage": ["Offert"]}
    job = commit(django_capture_on_commit_callbacks, job, user)
    assert job.status == ImportStatus.DONE, job.message
    deal = Opportunity.objects.for_org(world.org).get(name="Pumps 2027")
    assert deal.account == account and deal.global_stage.name == "Develop"
    assert deal.amount == Decimal("251.00")  # 2 x 100.50 + 1 x 50
    assert OpportunityLine.objects.for_org(world.org).filter(opportunity=deal).count() == 2
    service = Opportunity.objects.for_org(world.org).get(name="Service")
    assert service.amount == Decimal("1234.50") and str(service.expected_close_date) == "2027-04-01"
    # The second import finds the deals by their external ids and updates them.
    again = dry_run(
        django_capture_on_commit_callbacks,
        upload(
            user,
            ImportKind.OPPORTUNITIES,
            OPPS.replace("Service;Propose", "Service renamed;Negotiate"),
        ),
        user,
    )
    assert verdicts(again)[4][0] == RowAction.UPDATE
    again = commit(django_capture_on_commit_callbacks, again, user)
    assert again.status == ImportStatus.DONE, again.message
    assert Opportunity.objects.for_org(world.org).count() == 2
    service.refresh_from_db()
    assert (service.name, service.global_stage.name) == ("Service renamed", "Negotiate")


def test_history_says_imported_from_the_file(world, django_capture_on_commit_callbacks):
    user = world.manager_se
    job = upload(user, ImportKind.ACCOUNTS, "Name;Country\nHist AB;SE\n", name="old-crm.csv")
    commit(
        django_capture_on_commit_callbacks,
        dry_run(django_capture_on_commit_callbacks, job, user),
        user,
    )
    account = Account.objects.for_org(world.org).get()
    event = (
        account.events.model.objects.for_org(world.org)
        .filter(pgh_obj_id=account.pk)
        .select_related("pgh_context")
        .first()
    )
    assert event.pgh_context.metadata["note"] == "imported from old-crm.csv"
    assert event.pgh_context.metadata["user"] == user.pk


def test_a_row_failing_at_commit_time_writes_nothing(
    world, django_capture_on_commit_callbacks, monkeypatch
):
    user = world.manager_se
    text = "Name;Country\n" + "".join(f"Firm {i} AB;SE\n" for i in range(30))
    job = dry_run(django_capture_on_commit_callbacks, upload(user, ImportKind.ACCOUNTS, text), user)
    assert job.error_count == 0
    real = services.account_create

    def failing(**kwargs):
        if kwargs["name"] == "Firm 20 AB":
            raise ValidationError({"name": "changed meanwhile"})
        return real(**kwargs)

    monkeypatch.setattr(services, "account_create", failing)
    job = commit(django_capture_on_commit_callbacks, job, user)
    assert job.status == ImportStatus.FAILED
    assert "Row 22 failed" in job.message and "Nothing was imported" in job.message
    assert accounts_of(world) == []


def test_cancel_rolls_back(world, django_capture_on_commit_callbacks, monkeypatch):
    user = world.manager_se
    text = "Name;Country\n" + "".join(f"Firm {i} AB;SE\n" for i in range(250))
    job = dry_run(django_capture_on_commit_callbacks, upload(user, ImportKind.ACCOUNTS, text), user)
    real = services.account_create

    def cancelling(**kwargs):
        if kwargs["name"] == "Firm 50 AB":  # the user presses cancel while it runs
            services.import_cancel(job=job, user=user)
        return real(**kwargs)

    monkeypatch.setattr(services, "account_create", cancelling)
    job = commit(django_capture_on_commit_callbacks, job, user)
    assert job.status == ImportStatus.CANCELLED
    assert accounts_of(world) == []


def test_the_import_transaction_quiets_the_trigger_checks(
    world, django_capture_on_commit_callbacks, monkeypatch
):
    """Both runs set ``pgtrigger.ignore`` to an empty list in their one transaction (a
    subtransaction abort per written row otherwise: ``crm.audit.quiet_trigger_checks``)."""
    from django.db import connection

    seen = []
    real = services._process

    def spying(*args, **kwargs):
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('pgtrigger.ignore', true)")
            seen.append(cursor.fetchone()[0])
            # The test's one transaction would keep the dry run's setting for the commit.
            cursor.execute("SELECT set_config('pgtrigger.ignore', '', true)")
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "_process", spying)
    user = world.manager_se
    job = dry_run(
        django_capture_on_commit_callbacks,
        upload(user, ImportKind.ACCOUNTS, "Name;Country\nQuiet AB;SE\n"),
        user,
    )
    job = commit(django_capture_on_commit_callbacks, job, user)
    assert job.status == ImportStatus.DONE, job.message
    assert seen == ["{}", "{}"]


def test_commit_needs_a_dry_run(world) -> None:
    job = upload(world.manager_se, ImportKind.ACCOUNTS, ACCOUNTS)
    with pytest.raises(ValidationError):
        services.import_request_commit(job=job, user=world.manager_se)


def test_import_finished_is_sent_to_webhooks_with_counts(
    world, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    from webhooks.models import WebhookDelivery
    from webhooks.services import endpoint_create

    endpoint_create(
        acting_user=world.admin, name="ERP", url="http://127.0.0.1:9/hook",
        event_types=["import.finished"],
    )  # fmt: skip
    for company in (world.se, world.dk):
        endpoint_create(
            acting_user=world.admin, name=f"ERP {company.code}", url="http://127.0.0.1:9/hook",
            event_types=["import.finished"], scope="company", sales_company=company,
        )  # fmt: skip
    monkeypatch.setattr("webhooks.events.queue_delivery", lambda delivery: None)
    user = world.manager_se
    job = dry_run(
        django_capture_on_commit_callbacks, upload(user, ImportKind.ACCOUNTS, ACCOUNTS), user
    )
    commit(django_capture_on_commit_callbacks, job, user)
    deliveries = WebhookDelivery.objects.for_org(world.org).select_related("endpoint")
    # The organization's endpoint and the importer's company's; not the Danish one.
    assert sorted(d.endpoint.name for d in deliveries) == ["ERP", "ERP SE"]
    data = deliveries[0].payload["data"]["import"]
    assert data == {
        "id": job.pk, "kind": "accounts", "file_name": "file.csv",
        "created": 2, "updated": 0, "skipped": 1, "rejected": 2,
    }  # fmt: skip


def test_imported_deals_are_announced_once_each_within_the_scopes(
    world, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    """The bulk path announces a chunk's new deals by id after the commit (``emit_many``):
    each new deal gets one ``opportunity.created`` per endpoint whose scope covers it, its
    payload the deal as committed; the dry run announces nothing."""
    from webhooks import payloads
    from webhooks.models import WebhookDelivery
    from webhooks.services import endpoint_create

    for name, extra in (
        ("ERP", {}),
        ("ERP SE", {"scope": "company", "sales_company": world.se}),
        ("ERP DK", {"scope": "company", "sales_company": world.dk}),
    ):
        endpoint_create(
            acting_user=world.admin, name=name, url="http://127.0.0.1:9/hook",
            event_types=["opportunity.created"], **extra,
        )  # fmt: skip
    monkeypatch.setattr("webhooks.events.queue_delivery", lambda delivery: None)
    user = world.manager_se
    _deal_world(world)
    job = dry_run(
        django_capture_on_commit_callbacks, upload(user, ImportKind.OPPORTUNITIES, OPPS), user
    )
    assert not WebhookDelivery.objects.for_org(world.org).exists()
    job = commit(django_capture_on_commit_callbacks, job, user)
    assert job.status == ImportStatus.DONE, job.message
    deals = list(Opportunity.objects.for_org(world.org).order_by("pk"))
    assert len(deals) == 2
    deliveries = WebhookDelivery.objects.for_org(world.org).select_related("endpoint")
    got = sorted(
        (d.endpoint.name, d.payload["data"]["opportunity"]["id"])
        for d in deliveries
        if d.event_type == "opportunity.created"
    )
    assert got == sorted((name, deal.pk) for name in ("ERP", "ERP SE") for deal in deals)
    for delivery in deliveries:
        deal = next(d for d in deals if d.pk == delivery.payload["data"]["opportunity"]["id"])
        assert delivery.payload["data"] == payloads.object_payload(deal, None, {})


def test_one_failing_announcement_of_a_batch_leaves_the_others(world, monkeypatch) -> None:
    from webhooks import events
    from webhooks.services import endpoint_create

    endpoint_create(
        acting_user=world.admin, name="ERP", url="http://127.0.0.1:9/hook",
        event_types=["opportunity.created"],
    )  # fmt: skip
    monkeypatch.setattr("webhooks.events.queue_delivery", lambda delivery: None)
    account = _deal_world(world)
    from tests.opportunities.factories import OpportunityFactory

    deals = [OpportunityFactory(account=account, owner=world.rep_se) for _i in range(3)]
    real = events.payloads.object_payload

    def failing(obj, companies, extra):
        if obj.pk == deals[1].pk:
            raise RuntimeError("payload")
        return real(obj, companies, extra)

    monkeypatch.setattr(events.payloads, "object_payload", failing)
    made = events.record_events(world.org.pk, "opportunity.created", deals, robust=True)
    assert [d.payload["data"]["opportunity"]["id"] for d in made] == [deals[0].pk, deals[2].pk]
    with pytest.raises(RuntimeError):
        events.record_events(world.org.pk, "opportunity.created", deals)
