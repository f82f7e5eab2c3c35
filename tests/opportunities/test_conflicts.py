"""Conflict detection, disclosure, notification, rules of engagement and resolution."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.http import Http404
from django.test.utils import CaptureQueriesContext

from accounts.models import (
    Account,
    AccountTeamMember,
    Activity,
    Contact,
    TeamRole,
)
from crm.db.compiled import statement_sql
from crm.db.transactions import is_plain_read
from crm.models import RulesOfEngagement
from crm.scope import org_scope
from opportunities import conflicts
from opportunities.conflicts import (
    check_deal,
    conflict_warnings,
    detect_for_opportunity,
    rightful_company,
)
from opportunities.models import (
    Conflict,
    ConflictKind,
    ConflictParticipant,
    ConflictStatus,
    Opportunity,
    OpportunitySplit,
    Resolution,
)
from opportunities.resolution import conflict_inbox, conflict_resolve
from opportunities.situations import open_situations_of
from tests.accounts.factories import AccountFactory
from tests.conftest import World
from tests.opportunities.factories import (
    OpportunityFactory,
    OpportunityLineFactory,
    ProductFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def group(world: World) -> dict[str, Account]:
    """A Swedish group with a Danish and a German subsidiary."""
    top = AccountFactory(
        organization=world.org, home_company=world.se, name="Volvera AB", country="SE"
    )
    dk = AccountFactory(
        organization=world.org,
        home_company=world.dk,
        parent=top,
        name="Volvera Danmark A/S",
        country="DK",
    )
    de = AccountFactory(
        organization=world.org,
        home_company=world.de,
        parent=top,
        name="Volvera GmbH",
        country="DE",
    )
    return {"top": top, "dk": dk, "de": de}


def kinds(conflicts: list[Conflict]) -> list[str]:
    return sorted(c.kind for c in conflicts)


def make_gam(world: World, top: Account, user) -> AccountTeamMember:
    return AccountTeamMember.objects.create(
        organization=world.org,
        account=top,
        user=user,
        sales_company=user.sales_company,
        role=TeamRole.GLOBAL_ACCOUNT_MANAGER,
    )


def deals_in(conflict: Conflict) -> set[int]:
    """The deals still in a situation."""
    return set(
        ConflictParticipant.objects.for_org(conflict.organization_id)
        .filter(conflict=conflict, left_at__isnull=True, opportunity__isnull=False)
        .values_list("opportunity_id", flat=True)
    )


def companies_in(conflict: Conflict) -> set[int]:
    return set(
        ConflictParticipant.objects.for_org(conflict.organization_id)
        .filter(conflict=conflict, left_at__isnull=True)
        .values_list("sales_company_id", flat=True)
    )


def test_open_deal_of_another_company_in_the_group_is_a_conflict(world, group) -> None:
    sweden = OpportunityFactory(account=group["top"], owner=world.rep_se)
    denmark = OpportunityFactory(account=group["dk"], owner=world.rep_dk)
    found = detect_for_opportunity(opportunity=denmark, acting_user=world.rep_dk)
    assert kinds(found) == [ConflictKind.GROUP_OTHER_COMPANY]
    (conflict,) = found
    # One situation at the group (anchored at its top), both deals in it.
    assert conflict.account == group["top"] and conflict.opportunity is None
    assert deals_in(conflict) == {sweden.pk, denmark.pk}
    assert companies_in(conflict) == {world.dk.pk, world.se.pk}
    assert conflict.sales_company == world.dk  # the company whose deal opened it


def test_same_company_or_closed_deals_are_no_conflict(world, group) -> None:
    OpportunityFactory(account=group["top"], owner=world.rep_se, stage="Won")
    OpportunityFactory(account=group["top"], owner=world.manager_se)  # same company as below
    mine = OpportunityFactory(account=group["top"], owner=world.rep_se)
    assert detect_for_opportunity(opportunity=mine, acting_user=world.rep_se) == []
    # A customer outside the group is no conflict either.
    outsider = AccountFactory(organization=world.org, home_company=world.dk, name="Other Kunde ApS")
    theirs = OpportunityFactory(account=outsider, owner=world.rep_dk)
    assert detect_for_opportunity(opportunity=theirs, acting_user=world.rep_dk) == []


def test_same_product_at_the_group_by_another_seller(world, group) -> None:
    pump, valve = ProductFactory(organization=world.org), ProductFactory(organization=world.org)
    colleague = OpportunityFactory(account=group["dk"], owner=world.manager_se)
    OpportunityLineFactory(opportunity=colleague, product=pump)
    mine = OpportunityFactory(account=group["top"], owner=world.rep_se)
    OpportunityLineFactory(opportunity=mine, product=valve)
    assert ConflictKind.SAME_PRODUCT not in kinds(
        detect_for_opportunity(opportunity=mine, acting_user=world.rep_se)
    )
    OpportunityLineFactory(opportunity=mine, product=pump)
    found = detect_for_opportunity(opportunity=mine, acting_user=world.rep_se)
    (same,) = [c for c in found if c.kind == ConflictKind.SAME_PRODUCT]
    assert same.product == pump and deals_in(same) == {colleague.pk, mine.pk}
    # A split crediting the other seller makes it shared work: the situation ends.
    OpportunitySplit.objects.for_org(world.org).create(
        organization=world.org,
        opportunity=mine,
        user=world.manager_se,
        sales_company=world.se,
        kind="overlay",
        percent=Decimal(10),
    )
    found = detect_for_opportunity(opportunity=mine, acting_user=world.rep_se)
    assert ConflictKind.SAME_PRODUCT not in kinds(found)
    same.refresh_from_db()
    assert (same.status, same.resolution) == (ConflictStatus.RESOLVED, Resolution.NO_LONGER_APPLIES)


def test_duplicate_account_is_reported_once_for_the_pair(world) -> None:
    first = AccountFactory(
        organization=world.org,
        home_company=world.se,
        name="Acme AB",
        registration_number="556677-8899",
    )
    second = AccountFactory(
        organization=world.org,
        home_company=world.dk,
        name="ACME Aktiebolag",
        registration_number="5566778899",
    )
    opp = OpportunityFactory(account=second, owner=world.rep_dk)
    found = detect_for_opportunity(opportunity=opp, acting_user=world.rep_dk)
    dup = [c for c in found if c.kind == ConflictKind.DUPLICATE_ACCOUNT]
    # One situation per pair, the lower id first, whichever account revealed it.
    assert [(c.account, c.other_account) for c in dup] == [(first, second)]
    assert dup[0].opportunity is None  # a finding about the account, not the deal
    assert "registration" in dup[0].params["reasons"]
    # From the other side, and on a second run, the same pair is not reported again.
    other = OpportunityFactory(account=first, owner=world.rep_se)
    detect_for_opportunity(opportunity=other, acting_user=world.rep_se)
    detect_for_opportunity(opportunity=opp, acting_user=world.rep_dk)
    assert (
        Conflict.objects.for_org(world.org).filter(kind=ConflictKind.DUPLICATE_ACCOUNT).count() == 1
    )


def test_detection_is_idempotent_and_closes_what_no_longer_applies(world, group) -> None:
    sweden = OpportunityFactory(account=group["top"], owner=world.rep_se)
    denmark = OpportunityFactory(account=group["dk"], owner=world.rep_dk)
    detect_for_opportunity(opportunity=denmark, acting_user=world.rep_dk)
    detect_for_opportunity(opportunity=denmark, acting_user=world.rep_dk)
    open_ = Conflict.objects.for_org(world.org).filter(status=ConflictStatus.OPEN)
    assert open_.count() == 1
    Opportunity.objects.for_org(world.org).filter(pk=sweden.pk).update(
        global_stage=OpportunityFactory.build(
            account=group["top"], owner=world.rep_se, stage="Lost"
        ).global_stage,
    )
    assert detect_for_opportunity(opportunity=denmark, acting_user=world.rep_dk) == []
    closed = Conflict.objects.for_org(world.org).get()
    assert (closed.status, closed.resolution) == (
        ConflictStatus.RESOLVED,
        Resolution.NO_LONGER_APPLIES,
    )


def test_new_conflicts_mail_the_managers_and_the_global_account_manager(
    world, group, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    make_gam(world, group["top"], world.rep_de)
    from crm.roles import Role
    from tests.factories import UserFactory

    manager_dk = UserFactory(
        organization=world.org, role=Role.COUNTRY_MANAGER, sales_company=world.dk
    )
    OpportunityFactory(account=group["top"], owner=world.rep_se, amount=Decimal("987654.00"))
    denmark = OpportunityFactory(account=group["dk"], owner=world.rep_dk)
    with django_capture_on_commit_callbacks(execute=True):
        detect_for_opportunity(opportunity=denmark, acting_user=world.rep_dk)
    recipients = sorted(m.to[0] for m in mailoutbox)
    assert recipients == sorted([world.manager_se.email, manager_dk.email, world.rep_de.email])
    assert "987" not in mailoutbox[0].body  # need-to-know: no amounts in the mail
    with django_capture_on_commit_callbacks(execute=True):
        detect_for_opportunity(opportunity=denmark, acting_user=world.rep_dk)
    assert len(mailoutbox) == 3  # nothing new, no new mail


def test_warning_discloses_only_company_and_contact_when_the_deal_is_not_visible(
    world, group
) -> None:
    sweden = OpportunityFactory(account=group["top"], owner=world.rep_se, name="Secret SE deal")
    denmark = OpportunityFactory(account=group["dk"], owner=world.rep_dk)
    conflicts = detect_for_opportunity(opportunity=denmark, acting_user=world.rep_dk)
    (for_rep,) = conflict_warnings(
        user=world.rep_dk, conflicts=conflicts, focus_opportunity_id=denmark.pk
    )
    assert for_rep.other_opportunity is None
    assert for_rep.other_company == world.se
    assert for_rep.contact_person == world.rep_se
    assert "Secret" not in for_rep.text
    assert [p.opportunity for p in for_rep.participants if not p.is_focus] == [None]
    (for_director,) = conflict_warnings(
        user=world.director, conflicts=conflicts, focus_opportunity_id=denmark.pk
    )
    assert for_director.other_opportunity == sweden


def test_rules_of_engagement_pick_the_rightful_company(world, group) -> None:
    sweden = OpportunityFactory(account=group["dk"], owner=world.rep_se)
    denmark = OpportunityFactory(account=group["dk"], owner=world.rep_dk)
    (conflict,) = detect_for_opportunity(opportunity=denmark, acting_user=world.rep_dk)
    deals = [sweden, denmark]
    org = world.org
    org.rules_of_engagement = RulesOfEngagement.HOME_COMPANY_OWNS
    org.save()
    conflict.refresh_from_db()
    assert rightful_company(conflict, deals) == world.dk  # the subsidiary's home company
    org.rules_of_engagement = RulesOfEngagement.FIRST_REGISTERED_OWNS
    org.save()
    conflict.refresh_from_db()
    assert rightful_company(conflict, deals) == world.se  # Sweden registered first
    org.rules_of_engagement = RulesOfEngagement.GLOBAL_TEAM_OWNS
    org.save()
    conflict.refresh_from_db()
    assert rightful_company(conflict, deals) == world.se  # no team: the group's home company
    make_gam(world, group["top"], world.rep_de)
    assert rightful_company(conflict, deals) == world.de


@pytest.fixture
def live_conflict(world, group) -> Conflict:
    OpportunityFactory(account=group["top"], owner=world.rep_se)
    denmark = OpportunityFactory(account=group["dk"], owner=world.rep_dk)
    (conflict,) = detect_for_opportunity(opportunity=denmark, acting_user=world.rep_dk)
    return conflict


def test_who_may_resolve(world, live_conflict) -> None:
    with pytest.raises(PermissionDenied):
        conflict_resolve(
            conflict_id=live_conflict.pk,
            acting_user=world.rep_dk,
            resolution=Resolution.ACKNOWLEDGED,
        )
    with pytest.raises(Http404):  # another organization: as if it did not exist
        conflict_resolve(
            conflict_id=live_conflict.pk,
            acting_user=world.stranger,
            resolution=Resolution.ACKNOWLEDGED,
        )
    with pytest.raises(Http404):  # a German manager is not party to it and cannot see it
        conflict_resolve(
            conflict_id=live_conflict.pk,
            acting_user=world.manager_de,
            resolution=Resolution.ACKNOWLEDGED,
        )
    assert live_conflict in conflict_inbox(user=world.manager_se)
    assert live_conflict not in conflict_inbox(user=world.manager_de)


def test_assign_owner_moves_the_deal_and_cannot_be_done_twice(world, live_conflict) -> None:
    resolved = conflict_resolve(
        conflict_id=live_conflict.pk,
        acting_user=world.manager_se,
        resolution=Resolution.ASSIGN_OWNER,
        owner=world.rep_se,
    )
    assert resolved.status == ConflictStatus.RESOLVED and resolved.resolved_by == world.manager_se
    # The one deal not booked by the new owner's company is the one assigned.
    opp = Opportunity.objects.for_org(world.org).get(account__name="Volvera Danmark A/S")
    assert (opp.owner, opp.sales_company, opp.version) == (world.rep_se, world.se, 2)
    splits = OpportunitySplit.objects.for_org(world.org).filter(opportunity=opp)
    assert [(s.user, s.percent) for s in splits] == [(world.rep_se, Decimal(100))]
    with pytest.raises(ValidationError, match="already resolved by"):
        conflict_resolve(
            conflict_id=live_conflict.pk,
            acting_user=world.director,
            resolution=Resolution.ACKNOWLEDGED,
        )


def test_keep_both_with_a_split(world, live_conflict) -> None:
    conflict_resolve(
        conflict_id=live_conflict.pk,
        acting_user=world.director,
        resolution=Resolution.KEEP_BOTH_SPLIT,
        split_percent=Decimal(40),
    )
    # The situation's two deals, oldest first: the first one's revenue is split.
    opp = Opportunity.objects.for_org(world.org).get(account__name="Volvera AB")
    revenue = OpportunitySplit.objects.for_org(world.org).filter(opportunity=opp, kind="revenue")
    shares = sorted((s.user.email, s.percent) for s in revenue)
    assert shares == sorted([(world.rep_se.email, Decimal(60)), (world.rep_dk.email, Decimal(40))])
    with pytest.raises(ValidationError):
        conflict_resolve(
            conflict_id=live_conflict.pk,
            acting_user=world.director,
            resolution=Resolution.KEEP_BOTH_SPLIT,
            split_percent=Decimal(100),
        )


def test_merge_keeps_every_related_row(world) -> None:
    keep = AccountFactory(
        organization=world.org,
        home_company=world.se,
        name="Acme AB",
        registration_number="SE556677889901",
    )
    dupe = AccountFactory(
        organization=world.org,
        home_company=world.dk,
        name="Acme A/S",
        registration_number="SE 5566778899 01",
    )
    child = AccountFactory(
        organization=world.org, home_company=world.de, parent=dupe, name="Acme GmbH"
    )
    contact = Contact.objects.create(organization=world.org, account=dupe, full_name="Anna")
    activity = Activity.objects.create(
        organization=world.org,
        account=dupe,
        owner=world.rep_dk,
        sales_company=world.dk,
        kind="call",
        subject="Intro",
    )
    opp = OpportunityFactory(account=dupe, owner=world.rep_dk)
    AccountTeamMember.objects.create(
        organization=world.org,
        account=dupe,
        user=world.rep_dk,
        sales_company=world.dk,
        role=TeamRole.MEMBER,
    )
    conflicts = detect_for_opportunity(opportunity=opp, acting_user=world.rep_dk)
    (dup,) = [c for c in conflicts if c.kind == ConflictKind.DUPLICATE_ACCOUNT]
    conflict_resolve(
        conflict_id=dup.pk,
        acting_user=world.manager_se,
        resolution=Resolution.MERGE,
        keep_account=keep,
    )
    assert not Account.objects.for_org(world.org).filter(pk=dupe.pk).exists()
    for row in (contact, activity, opp):
        row.refresh_from_db()
        assert row.account_id == keep.pk
    child.refresh_from_db()
    assert (child.parent_id, child.group_id) == (keep.pk, keep.pk)
    assert AccountTeamMember.objects.for_org(world.org).get().account_id == keep.pk
    assert Conflict.objects.for_org(world.org).get(pk=dup.pk).status == ConflictStatus.RESOLVED


def test_merge_across_organizations_is_impossible(world) -> None:
    from accounts.merge import account_merge

    mine = AccountFactory(organization=world.org, home_company=world.se)
    theirs = AccountFactory(organization=world.other_org, home_company=world.other_company)
    with pytest.raises(ValidationError, match="different organizations"):
        account_merge(keep=mine, remove=theirs, acting_user=None)
    assert Account.objects.unscoped().filter(pk=theirs.pk).exists()


def test_agreement_discount_below_the_current_tier_is_flagged(world, group) -> None:
    from accounts.models import AgreementCompany, DiscountTier, FrameworkAgreement

    today = dt.date.today()
    agreement = FrameworkAgreement.objects.create(
        organization=world.org,
        account=group["top"],
        name="Volvera frame",
        valid_from=today - dt.timedelta(days=30),
        valid_to=today + dt.timedelta(days=300),
        incoterm="DAP",
        payment_terms="30 days net",
    )
    for company in (world.se, world.dk, world.de):
        AgreementCompany.objects.create(
            organization=world.org, agreement=agreement, sales_company=company
        )
    DiscountTier.objects.create(
        organization=world.org, agreement=agreement, threshold=0, discount_percent=5
    )
    DiscountTier.objects.create(
        organization=world.org,
        agreement=agreement,
        threshold=Decimal("1000000"),
        discount_percent=8,
    )
    opp = OpportunityFactory(account=group["dk"], owner=world.rep_dk)
    line = OpportunityLineFactory(opportunity=opp, discount_percent=Decimal(2))
    found = detect_for_opportunity(opportunity=opp, acting_user=world.rep_dk)
    (flag,) = [c for c in found if c.kind == ConflictKind.AGREEMENT]
    assert flag.agreement_id == agreement.pk and flag.params == {"percent": "5.00"}
    # The text is rendered in the reader's language from the parameters.
    from django.utils import translation

    (warning,) = conflict_warnings(user=world.director, conflicts=[flag])
    assert "Volvera frame" in warning.text and "5.00" in warning.text
    with translation.override("de"):
        (german,) = conflict_warnings(user=world.director, conflicts=[flag])
    assert "5,00" in german.text
    line.discount_percent = Decimal(5)
    line.save()
    found = detect_for_opportunity(opportunity=opp, acting_user=world.rep_dk)
    assert ConflictKind.AGREEMENT not in kinds(found)
    # Between the tiers: the won volume (none) decides, and it entitles to 5 % only.
    line.discount_percent = Decimal(6)
    line.save()
    assert ConflictKind.AGREEMENT not in kinds(detect_for_opportunity(opportunity=opp))
    # At or above every tier no volume can make it a breach: the check skips the volume sum.
    line.discount_percent = Decimal(8)
    line.save()
    with CaptureQueriesContext(connection) as ctx:
        assert ConflictKind.AGREEMENT not in kinds(detect_for_opportunity(opportunity=opp))
    assert not [q for q in ctx.captured_queries if "SUM(" in statement_sql(q["sql"]).upper()]


@pytest.mark.parametrize("outcome", ["Won", "Lost"])
def test_a_won_or_lost_deal_leaves_its_situations(world, group, outcome: str) -> None:
    from opportunities.services import opportunity_move_stage
    from tests.opportunities.factories import stage_for

    sweden = OpportunityFactory(account=group["top"], owner=world.rep_se)
    denmark = OpportunityFactory(account=group["dk"], owner=world.rep_dk)
    germany = OpportunityFactory(account=group["de"], owner=world.rep_de)
    (conflict,) = detect_for_opportunity(opportunity=denmark, acting_user=world.rep_dk)
    # A new deal joins the situation instead of adding a row per pair.
    assert detect_for_opportunity(opportunity=germany, acting_user=world.rep_de) == [conflict]
    assert deals_in(conflict) == {sweden.pk, denmark.pk, germany.pk}
    opportunity_move_stage(
        opportunity=denmark,
        local_stage=stage_for(world.dk, outcome),
        acting_user=world.rep_dk,
        lost_reason="Price" if outcome == "Lost" else "",
    )
    conflict.refresh_from_db()
    assert conflict.status == ConflictStatus.OPEN  # Sweden and Germany still work the group
    assert deals_in(conflict) == {sweden.pk, germany.pk}
    opportunity_move_stage(
        opportunity=germany,
        local_stage=stage_for(world.de, outcome),
        acting_user=world.rep_de,
        lost_reason="Price" if outcome == "Lost" else "",
    )
    conflict.refresh_from_db()
    # One party left: the situation closes itself, and the deals that left stay on record.
    assert (conflict.status, conflict.resolution) == (
        ConflictStatus.RESOLVED,
        Resolution.DEAL_CLOSED,
    )
    assert ConflictParticipant.objects.for_org(world.org).filter(conflict=conflict).count() == 3


def test_team_deals_are_coordinated_and_a_company_outside_the_team_is_a_conflict(
    world, group
) -> None:
    """Members of the group's global account team (and the companies it covers) work the group
    together: no conflict among them. A company outside the team working it is one."""
    for user, role in ((world.rep_se, TeamRole.GLOBAL_ACCOUNT_MANAGER), (world.rep_de, "member")):
        AccountTeamMember.objects.create(
            organization=world.org,
            account=group["top"],
            user=user,
            sales_company=user.sales_company,
            role=role,
        )
    sweden = OpportunityFactory(account=group["top"], owner=world.rep_se)
    germany = OpportunityFactory(account=group["de"], owner=world.rep_de)
    assert detect_for_opportunity(opportunity=germany, acting_user=world.rep_de) == []
    denmark = OpportunityFactory(account=group["dk"], owner=world.rep_dk)
    (conflict,) = detect_for_opportunity(opportunity=denmark, acting_user=world.rep_dk)
    flags = dict(
        ConflictParticipant.objects.for_org(world.org)
        .filter(conflict=conflict)
        .values_list("opportunity_id", "coordinated")
    )
    assert flags == {sweden.pk: True, germany.pk: True, denmark.pk: False}
    (warning,) = conflict_warnings(user=world.director, conflicts=[conflict])
    assert "outside its global account team" in warning.text
    # The organization may turn the team rule off: then every company is a party.
    org = world.org
    org.conflict_other_company = False
    org.save()
    assert detect_for_opportunity(opportunity=denmark, acting_user=world.rep_dk) == []


def test_a_decided_situation_stays_decided_until_a_new_deal_makes_it_one(
    world, group, django_capture_on_commit_callbacks
) -> None:
    OpportunityFactory(account=group["top"], owner=world.rep_se)
    denmark = OpportunityFactory(account=group["dk"], owner=world.rep_dk)
    (conflict,) = detect_for_opportunity(opportunity=denmark, acting_user=world.rep_dk)
    conflict_resolve(
        conflict_id=conflict.pk, acting_user=world.director, resolution=Resolution.ACKNOWLEDGED
    )
    assert detect_for_opportunity(opportunity=denmark, acting_user=world.rep_dk) == []
    germany = OpportunityFactory(account=group["de"], owner=world.rep_de)
    (reopened,) = detect_for_opportunity(opportunity=germany, acting_user=world.rep_de)
    assert reopened.pk != conflict.pk and germany.pk in deals_in(reopened)


def test_a_new_team_deal_needs_the_gams_acknowledgement_when_the_organization_asks(
    world, group
) -> None:
    from opportunities.services import opportunity_create
    from tests.opportunities.factories import stage_for

    make_gam(world, group["top"], world.rep_de)
    org = world.org
    org.conflict_team_ack = True
    org.save()
    opp = opportunity_create(
        account=group["de"],
        sales_company=world.de,
        owner=world.manager_de,
        name="Volvera GmbH pumps",
        currency="EUR",
        local_stage=stage_for(world.de, "Qualify"),
        acting_user=world.manager_de,
    )
    (ack,) = Conflict.objects.for_org(org).filter(kind=ConflictKind.TEAM_ACK)
    assert ack.opportunity_id == opp.pk and ack.status == ConflictStatus.OPEN
    # The GAM may resolve it; an unrelated rep may not.
    from opportunities.resolution import may_resolve

    assert may_resolve(world.rep_de, ack) and not may_resolve(world.rep_dk, ack)


def test_the_redetect_command_brings_every_group_in_step(world, group) -> None:
    from io import StringIO

    from django.core.management import call_command

    # Written past detection (as before the migration to situations): nothing recorded yet.
    sweden = OpportunityFactory(account=group["top"], owner=world.rep_se)
    denmark = OpportunityFactory(account=group["dk"], owner=world.rep_dk)
    assert not Conflict.objects.for_org(world.org).exists()
    out = StringIO()
    call_command("redetect_conflicts", stdout=out)
    (conflict,) = Conflict.objects.for_org(world.org).filter(status=ConflictStatus.OPEN)
    assert deals_in(conflict) == {sweden.pk, denmark.pk}
    assert "1 situations new" in out.getvalue()
    call_command("redetect_conflicts", stdout=StringIO())  # idempotent
    assert Conflict.objects.for_org(world.org).count() == 1


def test_team_members_quoting_the_same_product_is_coordinated_work(world, group) -> None:
    pump = ProductFactory(organization=world.org)
    for user in (world.rep_se, world.rep_de):
        AccountTeamMember.objects.create(
            organization=world.org,
            account=group["top"],
            user=user,
            sales_company=user.sales_company,
            role=TeamRole.MEMBER,
        )
    sweden = OpportunityFactory(account=group["top"], owner=world.rep_se)
    germany = OpportunityFactory(account=group["de"], owner=world.rep_de)
    for deal in (sweden, germany):
        OpportunityLineFactory(opportunity=deal, product=pump)
    assert detect_for_opportunity(opportunity=germany, acting_user=world.rep_de) == []
    # A seller outside the team quoting it too makes it a product conflict, with the team's
    # deals in it (flagged coordinated).
    denmark = OpportunityFactory(account=group["dk"], owner=world.rep_dk)
    OpportunityLineFactory(opportunity=denmark, product=pump)
    found = detect_for_opportunity(opportunity=denmark, acting_user=world.rep_dk)
    (same,) = [c for c in found if c.kind == ConflictKind.SAME_PRODUCT]
    assert deals_in(same) == {sweden.pk, germany.pk, denmark.pk}


def test_a_recheck_that_writes_nothing_opens_no_savepoint(world, group) -> None:
    """The save's check opens its savepoint only before its first write (``atomic_on_write``):
    a re-check whose findings are stored sends neither SAVEPOINT nor RELEASE; the first
    detection, which records the situation, sends the SAVEPOINT just before its first write."""
    OpportunityFactory(account=group["top"], owner=world.rep_se)
    denmark = OpportunityFactory(account=group["dk"], owner=world.rep_dk)
    with org_scope(world.org.pk), transaction.atomic():
        with CaptureQueriesContext(connection) as first:
            check_deal(opportunity=denmark)
        with CaptureQueriesContext(connection) as again:
            check_deal(opportunity=denmark, accounts=False)
    run = [q["sql"] for q in first.captured_queries]
    writes = [i for i, sql in enumerate(run) if not is_plain_read(sql)]
    # The write after it: the prepared statement opening the situation (``_open_situations``).
    # In front of it, in the same round trip; not released (the outer transaction holds it).
    savepoint, write = run[writes[0]].split("; ", 1)
    assert savepoint.startswith("SAVEPOINT")
    assert "INSERT INTO" in statement_sql(write)
    assert sum("SAVEPOINT" in sql for sql in run) == 1
    assert again.captured_queries
    assert all(is_plain_read(q["sql"]) for q in again.captured_queries)
    (conflict,) = open_situations_of(denmark)
    assert conflict.kind == ConflictKind.GROUP_OTHER_COMPANY


def test_a_check_that_fails_after_writing_leaves_nothing_and_the_save_goes_on(
    world, group, monkeypatch
) -> None:
    """Atomic as before: the situation the check recorded is undone when a later step of it
    fails, and the caller's transaction can go on."""
    OpportunityFactory(account=group["top"], owner=world.rep_se)
    denmark = OpportunityFactory(account=group["dk"], owner=world.rep_dk)

    def failing(account: Account) -> None:
        raise RuntimeError("duplicates failed")

    monkeypatch.setattr(conflicts, "sync_duplicates", failing)
    with org_scope(world.org.pk), transaction.atomic():
        with pytest.raises(RuntimeError):
            check_deal(opportunity=denmark)
        assert not connection.needs_rollback
        assert not Conflict.objects.for_org(world.org.pk).filter(account=group["top"]).exists()
        assert open_situations_of(denmark) == []
    monkeypatch.undo()
    check_deal(opportunity=denmark)
    assert kinds(open_situations_of(denmark)) == [ConflictKind.GROUP_OTHER_COMPANY]
