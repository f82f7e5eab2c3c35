"""The opportunity import's bulk path (issue 20) against the per-row path it replaces: the same
file gives the same verdicts, rows, situations and history either way; the build step asks the
database nothing per deal; a chunk's reads and writes are a constant number of queries."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from crm.roles import Role
from imports import services
from imports.models import ImportKey, ImportKind, ImportStatus, RowAction
from opportunities.models import (
    Conflict,
    ConflictParticipant,
    Opportunity,
    OpportunityLine,
    OpportunitySplit,
    StageChange,
)
from opportunities.services import opportunity_create
from tests.accounts.factories import make_account
from tests.factories import UserFactory
from tests.imports.helpers import commit, dry_run, upload, verdicts
from tests.opportunities.factories import ProductFactory, process_for, stage_for

# Creates with lines, an error row, an account the user may not see, a key left by a deal the
# user may not see, an update by account + name, the same deal twice in two spellings (the
# second row updates what the first creates), a deal won in the file, an unknown owner.
FILE = (
    "ID;Kund;Affär;Säljare;Steg;Belopp;Valuta;Stängningsdatum;Artikelnummer;Antal;Pris\n"
    "X-1;Alfa AB;Pumps 2027;;Develop;;SEK;15.03.2027;P-1;2;100,50\n"
    "X-1;Alfa AB;Pumps 2027;;Develop;;SEK;15.03.2027;P-2;1;\n"
    "X-2;Alfa AB;Service;{rep};Propose;1 234,50;SEK;2027-04-01;;;\n"
    "X-3;Alfa AB;Bad;;Offert;abc;SEK;31.02.2027;;;\n"
    "X-4;Dansk AS;Secret;;Develop;100;SEK;;;;\n"
    "X-5;Beta AB;Under a hidden key;;Develop;5;SEK;;P-1;3;\n"
    ";Alfa AB;old deal;;Negotiate;;SEK;;;;\n"
    ";Beta AB;Twin;;Develop;1;SEK;;;;\n"
    ";Beta AB;TWIN;;Propose;2;SEK;;;;\n"
    "X-6;Alfa AB;Won big;;Won;10;SEK;;;;\n"
    "X-7;Alfa AB;Nobody's;nobody@example.com;Develop;10;SEK;;;;\n"
)


def _setup(world: Any) -> dict[str, Any]:
    """Alfa AB worked by DK already (so the import opens a group situation), an old SE deal to
    update, a Danish account and deal the Swedish manager may not see, whose key X-5 names."""
    for company in (world.se, world.dk):
        process_for(company)
    ProductFactory(organization=world.org, sku="P-1", list_price=Decimal("100"), currency="SEK")
    ProductFactory(organization=world.org, sku="P-2", list_price=Decimal("40"), currency="SEK")
    alfa = make_account(organization=world.org, home_company=world.se, name="Alfa AB", country="SE")
    make_account(organization=world.org, home_company=world.se, name="Beta AB", country="SE")
    dansk = make_account(organization=world.org, home_company=world.dk, name="Dansk AS")
    opportunity_create(
        acting_user=None, account=alfa, name="DK deal", owner=world.rep_dk, amount=Decimal(5)
    )
    opportunity_create(
        acting_user=None,
        account=alfa,
        name="Old deal",
        owner=world.rep_se,
        amount=Decimal(7),
        local_stage=stage_for(world.se, "Develop"),
    )
    hidden = opportunity_create(
        acting_user=None, account=dansk, name="Hidden", owner=world.rep_dk, amount=Decimal(1)
    )
    ImportKey.objects.create(
        organization=world.org,
        kind=ImportKind.OPPORTUNITIES,
        external_id="X-5",
        object_id=hidden.pk,
    )
    return {"file": FILE.format(rep=world.rep_se.email)}


def _snapshot(world: Any, job_ids: list[int]) -> dict[str, Any]:
    """What the import left, by natural keys (ids differ between the two runs)."""
    org = world.org
    deals = Opportunity.objects.for_org(org).select_related(
        "account", "sales_company", "owner", "local_stage", "global_stage"
    )
    names = {d.pk: d.name for d in deals}

    def deal_row(d: Opportunity) -> tuple[Any, ...]:
        return (
            d.account.name, d.name, d.sales_company.code, d.owner.email, d.local_stage.name,
            d.global_stage.name, d.amount, d.currency, d.expected_close_date, d.next_step,
            d.closed_at is not None, d.lost_reason, d.version, d.delivery_country,
        )  # fmt: skip

    lines = OpportunityLine.objects.for_org(org).select_related("product")
    splits = OpportunitySplit.objects.for_org(org).select_related("user", "sales_company")
    changes = StageChange.objects.for_org(org).select_related(
        "from_local_stage", "to_local_stage", "changed_by"
    )
    conflicts = Conflict.objects.for_org(org).select_related(
        "account", "product", "opportunity", "sales_company"
    )
    participants = ConflictParticipant.objects.for_org(org).select_related(
        "conflict", "sales_company"
    )
    keys = ImportKey.objects.for_org(org)
    history = []
    for model in (Opportunity, OpportunityLine, OpportunitySplit):
        events = model._meta.get_field("events").related_model  # type: ignore[attr-defined]
        for e in events.objects.for_org(org).select_related("pgh_context"):
            metadata = e.pgh_context.metadata if e.pgh_context else {}
            opportunity_id = e.pgh_obj_id if model is Opportunity else e.opportunity_id
            history.append(
                (model.__name__, e.pgh_label, names.get(opportunity_id), metadata.get("note"))
            )
    return {
        "verdicts": [
            sorted(verdicts(job).items())
            for job in services.ImportJob.objects.for_org(org).filter(pk__in=job_ids)
        ],
        "jobs": sorted(
            services.ImportJob.objects.for_org(org)
            .filter(pk__in=job_ids)
            .values_list("status", "created_count", "updated_count", "skipped_count", "error_count")
        ),
        "deals": sorted(deal_row(d) for d in deals),
        "lines": sorted(
            (
                names[ln.opportunity_id],
                ln.product.sku,
                ln.quantity,
                ln.unit_price,
                ln.discount_percent,
                ln.converted_from_currency,
            )
            for ln in lines
        ),
        "splits": sorted(
            (names[s.opportunity_id], s.user.email, s.sales_company.code, s.kind, s.percent)
            for s in splits
        ),
        "stage_changes": sorted(
            (
                names[c.opportunity_id],
                c.from_local_stage.name if c.from_local_stage else "",
                c.to_local_stage.name,
                c.changed_by.email if c.changed_by else "",
            )
            for c in changes
        ),
        "conflicts": sorted(
            (
                c.kind,
                c.status,
                c.resolution or "",
                c.account.name,
                c.product.sku if c.product else "",
                c.opportunity.name if c.opportunity else "",
                c.sales_company.code if c.sales_company else "",
            )
            for c in conflicts
        ),
        "participants": sorted(
            (
                p.conflict.kind,
                names.get(p.opportunity_id, ""),
                p.sales_company.code,
                p.coordinated,
                p.left_at is None,
            )
            for p in participants
        ),
        "keys": sorted((k.external_id, names.get(k.object_id, "?")) for k in keys),
        "history": sorted(history, key=repr),
    }


def _import_twice(
    world: Any, capture: Any, *, bulk: bool, monkeypatch: Any, setup: Any = None
) -> dict[str, Any]:
    """Set up, import the file (dry run and commit), then a second import of it (updates);
    snapshot; roll everything back so that the other path starts from the same state."""
    monkeypatch.setattr(services.OpportunityImporter, "bulk", bulk)
    user = world.manager_se
    with transaction.atomic():
        text = (setup or _setup)(world)["file"]
        jobs = []
        for content in (text, text.replace("Service;", "Service renamed;")):
            job = dry_run(capture, upload(user, ImportKind.OPPORTUNITIES, content), user)
            job = commit(capture, job, user)
            assert job.status == ImportStatus.DONE, job.message
            jobs.append(job.pk)
        snapshot = _snapshot(world, jobs)
        transaction.set_rollback(True)
    return snapshot


@pytest.mark.parametrize("chunk", [1000, 3], ids=["one chunk", "chunks of three"])
def test_bulk_and_per_row_paths_leave_the_same_verdicts_rows_situations_and_history(
    world, django_capture_on_commit_callbacks, monkeypatch, chunk
) -> None:
    monkeypatch.setattr(services, "CHUNK", chunk)
    per_row = _import_twice(
        world, django_capture_on_commit_callbacks, bulk=False, monkeypatch=monkeypatch
    )
    bulk = _import_twice(
        world, django_capture_on_commit_callbacks, bulk=True, monkeypatch=monkeypatch
    )
    for part in per_row:
        assert bulk[part] == per_row[part], part
    # The file exercised what it is meant to: creates, updates, errors, lines, a situation.
    first = dict(per_row["verdicts"][0])
    actions = [v[0] for v in first.values()]
    assert actions.count(RowAction.CREATE) >= 5 and RowAction.UPDATE in actions
    assert actions.count(RowAction.ERROR) == 3
    assert first[6][1] == [{"column": "Kund", "message": "No account you can see is “Dansk AS”."}]
    assert first[10][0] == RowAction.UPDATE  # "TWIN": the deal row 9 creates
    assert ("Under a hidden key" in {d[1] for d in per_row["deals"]}) and (
        ("X-5", "Under a hidden key") in per_row["keys"]
    )
    assert any(c[0] == "group_other_company" and c[1] == "open" for c in per_row["conflicts"])
    assert any(h[0] == "Opportunity" and h[3] == "imported from file.csv" for h in bulk["history"])


# One chunk over several groups, each with a rule that holds: a group situation already open
# (DK and DE work Orbis) that SE joins; a team group (SE's deal is coordinated, the manager
# acknowledges it); a customer under two agreements, quoted below its tier; a price gap with a
# German quote of P-1; a possible duplicate nobody had checked yet (same registration number);
# and a plain group with no situation.
GROUPS_FILE = (
    "ID;Kund;Affär;Säljare;Steg;Valuta;Artikelnummer;Antal;Pris\n"
    "G-1;Orbis ApS;Orbis pumps;{rep};Develop;SEK;;;\n"
    "G-2;Lag AB;Team deal;{rep};Develop;SEK;;;\n"
    "G-3;Avtal AB;Under the agreement;{rep};Develop;SEK;P-1;2;100\n"
    "G-4;Gap AB;Cheap pumps;{rep};Develop;SEK;P-1;1;10\n"
    "G-5;Dupe AB;Duplicate's deal;{rep};Develop;SEK;;;\n"
    "G-6;Plain AB;Nothing to see;{rep};Develop;SEK;P-2;1;\n"
    "G-7;Orbis ApS;Orbis service;{rep};Develop;SEK;P-2;1;\n"
)


def _setup_groups(world: Any) -> dict[str, Any]:
    import datetime as dt

    from accounts.models import AccountTeamMember, TeamRole
    from accounts.services import agreement_create
    from crm.models import ExchangeRate
    from opportunities.services import LineInput

    for company in (world.se, world.dk, world.de):
        process_for(company)
    world.org.conflict_team_ack = True
    world.org.save()
    ExchangeRate.objects.create(
        organization=world.org, currency="SEK", rate="0.10000000", valid_from=dt.date(2000, 1, 1)
    )
    p1 = ProductFactory(
        organization=world.org, sku="P-1", list_price=Decimal("100"), currency="EUR"
    )
    ProductFactory(organization=world.org, sku="P-2", list_price=Decimal("40"), currency="SEK")

    def account(name: str, company: Any, **fields: Any) -> Any:
        return make_account(organization=world.org, home_company=company, name=name, **fields)

    orbis = account("Orbis AB", world.se, country="SE")
    orbis_dk = account("Orbis ApS", world.dk, country="DK", parent=orbis)
    orbis_de = account("Orbis GmbH", world.de, country="DE", parent=orbis)
    for owner, at in ((world.rep_dk, orbis_dk), (world.rep_de, orbis_de)):
        opportunity_create(acting_user=None, account=at, name=f"{owner.email} deal", owner=owner)
    team = account("Lag AB", world.se, country="SE")
    for user, role in ((world.rep_dk, TeamRole.GLOBAL_ACCOUNT_MANAGER), (world.rep_se, "member")):
        AccountTeamMember.objects.create(
            organization=world.org,
            account=team,
            user=user,
            sales_company=user.sales_company,
            role=role,
        )
    opportunity_create(acting_user=None, account=team, name="GAM's deal", owner=world.rep_dk)
    avtal = account("Avtal AB", world.se, country="SE")
    today = dt.date.today()
    for name, days in (("Frame 1", 90), ("Frame 2", 10)):
        agreement_create(
            group=avtal,
            name=name,
            valid_from=today - dt.timedelta(days=days),
            valid_to=today + dt.timedelta(days=300),
            covered_companies=[world.se],
            incoterm="DAP",
            payment_terms="30 days net",
            acting_user=None,
            tiers=[(Decimal(0), Decimal(2)), (Decimal(100000), Decimal(4))],
        )
    gap = account("Gap AB", world.se, country="SE")
    gap_de = account("Gap GmbH", world.de, country="DE", parent=gap)
    opportunity_create(
        acting_user=None,
        account=gap_de,
        name="German pumps",
        owner=world.rep_de,
        lines=[LineInput(product=p1, quantity=Decimal(1), unit_price=Decimal(100))],
    )
    account("Dupe AB", world.se, country="SE", registration_number="556677-8899")
    account("Dupe Holding AB", world.se, country="SE", registration_number="556677-8899")
    account("Plain AB", world.se, country="SE")
    return {"file": GROUPS_FILE.format(rep=world.rep_se.email)}


@pytest.mark.parametrize("chunk", [1000, 2], ids=["one chunk", "chunks of two"])
def test_one_chunk_over_several_groups_leaves_what_saves_one_after_another_leave(
    world, django_capture_on_commit_callbacks, monkeypatch, chunk
) -> None:
    """The chunk's check is set-based (all groups' facts at once, the rules in Python): the
    situations, participants and history are the per-row path's, kind by kind. In chunks of
    two, the group rules run once per group after the last chunk (Orbis's two rows, G-1 and
    G-7, fall into different chunks): still the per-row path's outcome."""
    monkeypatch.setattr(services, "CHUNK", chunk)
    per_row, bulk = (
        _import_twice(
            world,
            django_capture_on_commit_callbacks,
            bulk=bulk,
            monkeypatch=monkeypatch,
            setup=_setup_groups,
        )
        for bulk in (False, True)
    )
    for part in per_row:
        assert bulk[part] == per_row[part], part
    found = {(c[0], c[1], c[3]) for c in bulk["conflicts"]}
    assert found >= {
        ("group_other_company", "open", "Orbis AB"),
        ("team_ack", "open", "Lag AB"),
        ("agreement", "open", "Avtal AB"),
        ("double_agreement", "open", "Avtal AB"),
        ("price_gap", "open", "Gap AB"),
        ("duplicate_account", "open", "Dupe AB"),
    }, found
    assert not any(c[3] == "Plain AB" for c in bulk["conflicts"])
    # The situation that was open before the import: SE joined it, coordinated by nobody.
    orbis = [p for p in bulk["participants"] if p[0] == "group_other_company"]
    assert {p[2] for p in orbis} == {"DK", "DE", "SE"} and all(p[4] for p in orbis)
    # The team's deal is team work: no group situation at Lag AB.
    assert not any(c[0] == "group_other_company" and c[3] == "Lag AB" for c in bulk["conflicts"])


def test_the_duplicates_of_an_imports_accounts_are_checked_after_its_commit(
    world, django_capture_on_commit_callbacks
) -> None:
    """Inside the import nothing reads the accounts' duplicates (a deal does not change them);
    the commit queues their check (``tasks.check_duplicates``), which opens the pair a save of
    the deal would have opened. A dry run, rolled back, queues nothing."""
    user = world.manager_se
    _setup_groups(world)
    duplicates = Conflict.objects.for_org(world.org).filter(kind="duplicate_account")
    text = "ID;Kund;Affär;Steg;Valuta\nD-1;Dupe AB;Deal;Develop;SEK\n"
    job = dry_run(
        django_capture_on_commit_callbacks, upload(user, ImportKind.OPPORTUNITIES, text), user
    )
    assert job.created_count == 1 and not duplicates.exists()
    with django_capture_on_commit_callbacks() as queued:
        services.import_request_commit(job=job, user=user)
    (run,) = queued
    with django_capture_on_commit_callbacks() as after_import:
        run()  # the task, eagerly: the import itself
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE, job.message
    assert not duplicates.exists()
    for callback in after_import:  # what its commit queued: the duplicates' check among them
        callback()
    (pair,) = duplicates
    assert {pair.account.name, pair.other_account.name} == {"Dupe AB", "Dupe Holding AB"}
    assert "registration" in pair.params["reasons"]


def test_bulk_rows_have_history_with_the_import_context(
    world, django_capture_on_commit_callbacks
) -> None:
    """pghistory's triggers record bulk_create's rows too, with the import's context."""
    user = world.manager_se
    _setup(world)
    text = (
        "ID;Kund;Affär;Steg;Belopp;Valuta;Artikelnummer;Antal\n"
        "H-1;Beta AB;Historic;Develop;;SEK;P-1;2\n"
    )
    job = dry_run(
        django_capture_on_commit_callbacks,
        upload(user, ImportKind.OPPORTUNITIES, text, name="old-crm.csv"),
        user,
    )
    job = commit(django_capture_on_commit_callbacks, job, user)
    assert job.status == ImportStatus.DONE, job.message
    deal = Opportunity.objects.for_org(world.org).get(name="Historic")
    for model, obj_filter in (
        (Opportunity, {"pgh_obj_id": deal.pk}),
        (OpportunityLine, {"opportunity_id": deal.pk}),
        (OpportunitySplit, {"opportunity_id": deal.pk}),
    ):
        events = model._meta.get_field("events").related_model  # type: ignore[attr-defined]
        event = (
            events.objects.for_org(world.org)
            .filter(**obj_filter)
            .select_related("pgh_context")
            .get()
        )
        assert event.pgh_label == "insert"
        assert event.pgh_context.metadata["note"] == "imported from old-crm.csv"
        assert event.pgh_context.metadata["user"] == user.pk
        assert event.pgh_context.metadata["import_job"] == job.pk


def _many(n: int, *, start: int = 0) -> str:
    return "ID;Kund;Affär;Steg;Belopp;Valuta;Artikelnummer;Antal\n" + "".join(
        f"M-{i};{'Alfa AB' if i % 2 else 'Beta AB'};Deal {i};Develop;;SEK;"
        f"P-{1 + i % 2};{1 + i % 5}\n"
        for i in range(start, start + n)
    )


def test_a_chunk_is_a_constant_number_of_queries(world, django_capture_on_commit_callbacks) -> None:
    """Ten deals or forty (on two account groups) take the same queries: reads and writes are
    per chunk and per group, not per deal. (A first import opens the group's situation; the
    measured ones join it.)"""
    user = world.manager_se
    _setup(world)
    counts = []
    for n, start in ((4, 0), (10, 100), (40, 200)):
        job = dry_run(
            django_capture_on_commit_callbacks,
            upload(user, ImportKind.OPPORTUNITIES, _many(n, start=start)),
            user,
        )
        assert job.created_count == n, verdicts(job)
        services.import_request_commit(job=job, user=user)
        with CaptureQueriesContext(connection) as queries:
            services.import_run(job_id=job.pk, organization_id=world.org.pk, commit=True)
        job.refresh_from_db()
        assert job.status == ImportStatus.DONE, job.message
        counts.append(len(queries))
    assert counts[1] == counts[2], counts
    assert Opportunity.objects.for_org(world.org).filter(name__startswith="Deal ").count() == 54


def test_build_with_lookups_reads_nothing(world, django_assert_num_queries) -> None:
    from opportunities.services import BuildLookups, LineInput, opportunity_build
    from pipeline.models import LocalStage

    _setup(world)
    user = UserFactory(organization=world.org, role=Role.SALES_REP, sales_company=world.se)
    account = make_account(organization=world.org, home_company=world.se, name="Gamma AB")
    product = ProductFactory(
        organization=world.org, sku="P-9", list_price=Decimal("9"), currency="SEK"
    )
    stages = list(
        LocalStage.objects.for_org(world.org)
        .filter(process__sales_company=world.se)
        .select_related("global_stage", "process")
        .order_by("order")
    )
    lookups = BuildLookups(
        stages={s.pk: s for s in stages},
        first_stages={world.se.pk: stages[0]},
        organization=world.org,
        book={},
    )
    user = type(user).objects.select_related("sales_company").get(pk=user.pk)
    with django_assert_num_queries(0):
        draft = opportunity_build(
            acting_user=user,
            account=account,
            name="Built",
            lines=[LineInput(product=product, quantity=Decimal(2))],
            lookups=lookups,
        )
    assert draft.opportunity.pk is None and draft.opportunity.amount == Decimal("18.00")
    assert draft.stage_change.to_local_stage == stages[0]
    # The same rules as the form: a rep books in his own company only.
    with pytest.raises(PermissionDenied, match="own company"):
        opportunity_build(
            acting_user=user,
            account=account,
            name="Elsewhere",
            sales_company=world.dk,
            lookups=lookups,
        )


def test_a_chunk_over_more_groups_is_the_same_number_of_queries(
    world, django_capture_on_commit_callbacks
) -> None:
    """Ten deals over three groups or forty over twelve: the same queries. Each group is worked
    by DK already, with a line of the product SE imports at a price far from SE's, so every
    deal joins a group, a product and a price-gap situation (opened by a first import), with
    its agreement, acknowledgement and trade rules read as well."""
    import datetime as dt

    from crm.models import ExchangeRate
    from opportunities.services import LineInput

    user = world.manager_se
    for company in (world.se, world.dk):
        process_for(company)
    world.org.conflict_team_ack = True
    world.org.save()
    for currency in ("SEK", "DKK"):
        ExchangeRate.objects.create(
            organization=world.org, currency=currency, rate="0.1", valid_from=dt.date(2000, 1, 1)
        )
    product = ProductFactory(
        organization=world.org, sku="P-1", list_price=Decimal("100"), currency="SEK"
    )
    for g in range(12):
        top = make_account(
            organization=world.org, home_company=world.se, name=f"Grupp {g} AB", country="SE"
        )
        opportunity_create(
            acting_user=None,
            account=top,
            name=f"DK deal {g}",
            owner=world.rep_dk,
            lines=[LineInput(product=product, quantity=Decimal(1), unit_price=Decimal(1000))],
        )

    def file(n: int, groups: int, start: int) -> str:
        return "ID;Kund;Affär;Säljare;Steg;Valuta;Artikelnummer;Antal;Pris\n" + "".join(
            f"Q-{i};Grupp {i % groups} AB;Deal {i};{world.rep_se.email};Develop;SEK;P-1;1;10\n"
            for i in range(start, start + n)
        )

    counts = []
    for n, groups, start in ((12, 12, 0), (10, 3, 100), (40, 12, 200)):
        job = dry_run(
            django_capture_on_commit_callbacks,
            upload(user, ImportKind.OPPORTUNITIES, file(n, groups, start)),
            user,
        )
        assert job.created_count == n, verdicts(job)
        services.import_request_commit(job=job, user=user)
        with CaptureQueriesContext(connection) as queries:
            services.import_run(job_id=job.pk, organization_id=world.org.pk, commit=True)
        job.refresh_from_db()
        assert job.status == ImportStatus.DONE, job.message
        counts.append(len(queries))
    assert counts[1] == counts[2], counts
    # The situations the counts are about: one per group and kind, every imported deal in them.
    open_ = Conflict.objects.for_org(world.org).filter(status="open")
    for kind in ("group_other_company", "same_product", "price_gap"):
        assert open_.filter(kind=kind).count() == 12, kind
    joined = ConflictParticipant.objects.for_org(world.org).filter(
        conflict__kind="price_gap", opportunity__name__startswith="Deal ", left_at__isnull=True
    )
    assert joined.count() == 62


def _stored_view(instance: Any) -> dict[str, tuple[str, str]]:
    """An instance's column values as type and text (1200.5 and 1200.50 differ here)."""
    return {
        f.attname: (type(value).__name__, str(value))
        for f in instance._meta.concrete_fields
        if not getattr(f, "generated", False)
        for value in [getattr(instance, f.attname)]
    }


def _facts_view(facts: Any) -> dict[str, Any]:
    opportunity = facts.opportunity
    return {
        "opportunity": _stored_view(opportunity),
        "adding": opportunity._state.adding,
        **{
            name: _stored_view(getattr(opportunity, name))
            for name in ("account", "sales_company", "global_stage", "organization")
        },
        "lines": [(p, type(d).__name__, str(d)) for p, d in facts.lines],
        "situations": facts.situations,
        "team": facts.team,
        "group_open": [
            (c.pk, c.kind, c.status, c.account_id, c.product_id, c._state.adding)
            for c in facts.group_open
        ],
    }


@pytest.mark.parametrize("chunk", [1000, 2], ids=["one chunk", "chunks of two"])
def test_new_deals_facts_from_the_drafts_equal_the_facts_read_back(
    world, django_capture_on_commit_callbacks, monkeypatch, chunk
) -> None:
    """The importer's facts of the deals it has just written (``new_deals_facts``, from its
    drafts) are field by field what ``load_deals_facts`` reads back for the same ids: the
    deal, its account, company, stage and organization, lines (discounts at the column's
    scale), situations, the group's team (Lag AB's) and open situations (Orbis's)."""
    from opportunities import situations

    monkeypatch.setattr(services, "CHUNK", chunk)
    setup = _setup_groups(world)
    user = world.manager_se
    compared: list[int] = []

    def checked(organization: Any, deals: Any) -> Any:
        built = situations.new_deals_facts(organization, deals)
        read = situations.load_deals_facts(organization.pk, [o.pk for o, _lines in deals])
        assert [_facts_view(f) for f in built] == [_facts_view(f) for f in read]
        compared.extend(f.opportunity.pk for f in built)
        return built

    monkeypatch.setattr(services, "new_deals_facts", checked)
    job = dry_run(
        django_capture_on_commit_callbacks,
        upload(user, ImportKind.OPPORTUNITIES, setup["file"]),
        user,
    )
    assert job.created_count >= 5, verdicts(job)
    commit(django_capture_on_commit_callbacks, job, user)
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE, job.message
    # Every deal of the file (all new and open: the bulk path's), in the dry run and the commit.
    assert len(compared) == 2 * job.created_count == 14


def test_the_builds_full_clean_gives_full_cleans_errors(world) -> None:
    """``opportunity_build``'s clean with lookups (``clean_fields`` alone where that is all
    ``full_clean`` checks) gives ``full_clean``'s errors, field by field and word for word,
    for a valid deal and line and for invalid ones; a model with constraints keeps the whole
    ``full_clean``."""
    import datetime as dt

    from opportunities.models import OpportunitySplit
    from opportunities.services import (
        _LINE_REFERENCES,
        _REFERENCES,
        _checks_only_fields,
        _full_clean,
    )

    def errors(clean: Any) -> dict[str, list[str]] | None:
        try:
            clean()
        except Exception as exc:
            return {"type": type(exc).__name__, **exc.message_dict}  # type: ignore[attr-defined]
        return None

    def deal(**fields: Any) -> Opportunity:
        values = {
            "organization_id": world.org.pk,
            "account_id": 1,
            "sales_company_id": 1,
            "owner_id": 1,
            "local_stage_id": 1,
            "global_stage_id": 1,
            "name": "Deal",
            "amount": Decimal("1234.50"),
            "currency": "SEK",
            "expected_close_date": dt.date(2027, 1, 1),
            **fields,
        }
        return Opportunity(**values)

    deals = [
        deal(),
        deal(name="", currency="XX", amount=Decimal("1.234"), next_step="x" * 201),
        deal(amount=Decimal("1e20"), delivery_country="ZZ", version=-1),
    ]
    lines = [
        OpportunityLine(
            organization_id=world.org.pk,
            opportunity=deals[0],
            product_id=1,
            quantity=quantity,
            unit_price=price,
            discount_percent=discount,
        )
        for quantity, price, discount in (
            (Decimal(2), Decimal("10.5"), Decimal(0)),
            (Decimal(0), Decimal(-1), Decimal(101)),
            (Decimal("0.001"), Decimal("1.005"), Decimal("-1")),
        )
    ]
    assert _checks_only_fields(Opportunity, frozenset(_REFERENCES))
    assert _checks_only_fields(OpportunityLine, frozenset(_LINE_REFERENCES))
    assert not _checks_only_fields(OpportunitySplit, frozenset())
    found = []
    for instance, exclude in [
        *((d, _REFERENCES) for d in deals),
        *((ln, _LINE_REFERENCES) for ln in lines),
    ]:
        expected = errors(lambda: instance.full_clean(exclude=exclude))
        assert errors(lambda: _full_clean(instance, exclude)) == expected
        found.append(expected)
    assert found[0] is None and found[3] is None
    assert all(found[i] for i in (1, 2, 4, 5)), found
