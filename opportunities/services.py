"""Writes of opportunities: create, update (optimistic locking), lines, stage moves, splits, and
the re-mapping of a local stage with its deals. Lead conversion sits above, in
``leads.services``. Keyword-only, typed, atomic; ``acting_user=None`` is the system itself.

Who may change an opportunity ("may change" in ARCHITECTURE.md): its owner (a sales rep: own
opportunities only), a colleague it was shared with for change, the country manager of the
booking company, the regional manager of its region, the director and the admin. A user who may
not even see it gets 404 (like a missing one); one who sees it but may not change it gets
PermissionDenied.

``local_stage`` and its copy ``global_stage`` are written together by these services only, always
from the local stage's current mapping (read under a row lock), so they cannot disagree.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Model, Value
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Account, Contact, Lifecycle
from accounts.services import has_grant
from crm.db.bulk_insert import compiled_insert
from crm.events import emit, stage_event
from crm.limits import MAX_LINES_PER_OPPORTUNITY, MAX_SPLITS_PER_OPPORTUNITY, check_count
from crm.models import Organization, SalesCompany, User
from crm.money import MissingExchangeRateError
from crm.registry import require_visible
from crm.roles import MANAGER_ROLES, ORG_WIDE_ROLES, Role
from crm.tenancy import require_same_org
from crm.visibility import covers_company
from opportunities import pricing
from opportunities.conflicts import check_deal
from opportunities.errors import StaleVersionError
from opportunities.models import (
    BuyingRole,
    Opportunity,
    OpportunityContactRole,
    OpportunityLine,
    OpportunitySplit,
    Product,
    ProductPrice,
    SplitKind,
    StageChange,
)
from pipeline.models import GlobalStage, LocalStage
from pipeline.services import first_local_stage, require_configure, validate_mapping

if TYPE_CHECKING:  # leads sit above opportunities: their types only, for the conversion's call
    from leads.models import Campaign, Lead

HUNDRED = Decimal(100)
CENT = Decimal("0.01")

# --- Permissions ---------------------------------------------------------------------------------


def may_book_opportunities(user: User) -> bool:
    """Whether the user books and changes opportunities at all. Marketing hands leads over and
    sellers log the opportunities, so marketing may not, not even with a change grant. The one
    copy of the rule: the services, the pages and the templates' ``may_book`` flag ask it."""
    return user.role != Role.MARKETING


def may_see_team(user: User) -> bool:
    """The team overview and data-quality pages are for country, regional and global managers."""
    return user.role in MANAGER_ROLES or user.role in ORG_WIDE_ROLES


def may_change_opportunity(user: User | None, opportunity: Opportunity) -> bool:
    if user is None:
        return True
    if not user.is_active or user.organization_id != opportunity.organization_id:
        return False
    if not may_book_opportunities(user):
        return False
    if user.role in ORG_WIDE_ROLES:
        return True
    if user.role in (Role.COUNTRY_MANAGER, Role.REGIONAL_MANAGER):
        return covers_company(user, opportunity.sales_company_id)
    if user.role == Role.SALES_REP and opportunity.owner_id == user.pk:
        return True
    if opportunity.pk is None:
        return False
    return has_grant(user, opportunity, "change")


def _require_change(acting_user: User | None, opportunity: Opportunity) -> None:
    if may_change_opportunity(acting_user, opportunity):
        return
    assert acting_user is not None
    # Only now ask about visibility: it is the slower question, and the answer decides whether
    # the caller may even learn that the opportunity exists.
    if opportunity.pk is not None:
        require_visible(acting_user, opportunity)
    raise PermissionDenied("You may not change this opportunity.")


# --- Lines -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineInput:
    product: Product
    quantity: Decimal
    unit_price: Decimal | None = None  # None: the product's price in the deal's currency
    discount_percent: Decimal = Decimal(0)


@dataclass
class BuildLookups:
    """What a caller building many deals in one transaction (the import's bulk path) read once
    for all of them, so that ``opportunity_build`` asks the database nothing per deal:

    * ``stages``: the local stages by id, read with ``_locked_stage``'s row lock (FOR UPDATE,
      with their global stage and process), taken for the whole batch at once;
    * ``first_stages``: each booking company's first stage (``first_local_stage``), locked
      likewise; a company missing here has none (the build then asks ``first_local_stage``
      for its message);
    * ``organization``, ``book`` and ``rates``: the organization, the price book entries of
      the batch's products (``pricing.price_book``) and the exchange rates of the day;
    * the accounts were read through ``Account.objects.visible_to(acting_user)`` and every
      other reference (owner, company, products) in this transaction, so neither
      ``require_visible`` nor ``full_clean``'s existence checks of the foreign keys need to
      read them again (the schema's composite foreign keys still hold whatever the code does).
    """

    stages: dict[int, LocalStage]
    first_stages: dict[int, LocalStage]
    organization: Organization
    book: dict[tuple[int, str], Decimal]
    # Every currency's rate on ``rates_date`` (``pricing.rates_on``), for list prices in
    # another currency than the deal's; another date reads its own.
    rates: dict[str, Decimal] | None = None
    rates_date: dt.date | None = None


# Foreign keys ``full_clean`` would look up once each per deal: read already with lookups.
_REFERENCES = ("account", "sales_company", "owner", "local_stage", "global_stage", "organization")
_LINE_REFERENCES = ("opportunity", "product", "organization")


@functools.cache
def _checks_only_fields(model: type[Model], exclude: frozenset[str]) -> bool:
    """Whether ``full_clean(exclude=exclude)`` of a new instance of ``model`` (no id yet)
    checks nothing but its fields: no ``clean`` of its own, no constraint, no uniqueness but
    the primary key's (skipped while the id is None). The same for every instance, so found
    once per process: the rest of ``full_clean`` walked the model's unique checks and
    constraints per deal and per line, about half of its cost (40-50 us each)."""
    if model.clean is not Model.clean:
        return False
    # What validate_unique and validate_constraints read (Model._get_unique_checks), model
    # and parents alike; an excluded field's uniqueness is not checked.
    for options in (model._meta, *(parent._meta for parent in model._meta.get_parent_list())):
        if options.constraints or options.unique_together:
            return False
        for f in options.local_fields:
            dated = any(getattr(f, f"unique_for_{part}") for part in ("date", "month", "year"))
            if f.name not in exclude and ((f.unique and not f.primary_key) or dated):
                return False
    return True


def _full_clean(instance: Model, exclude: Sequence[str]) -> None:
    """``instance.full_clean(exclude=exclude)`` for a new instance: the same errors with the
    same messages, by ``clean_fields`` alone where that is all ``full_clean`` would check."""
    if instance.pk is None and _checks_only_fields(type(instance), frozenset(exclude)):
        # full_clean raises clean_fields' error dict as it is (nothing else can add to it).
        instance.clean_fields(exclude=exclude)
    else:
        instance.full_clean(exclude=exclude)


@dataclass
class OpportunityDraft:
    """A new opportunity as ``opportunity_build`` leaves it: checked, unsaved, with the rows its
    creation writes beside it (its lines, the owner's 100% revenue split, the first stage
    change). ``opportunity_persist`` writes it."""

    opportunity: Opportunity
    lines: list[OpportunityLine]
    split: OpportunitySplit
    stage_change: StageChange


def _line_inputs(lines: Sequence[LineInput | Mapping[str, Any]]) -> list[LineInput]:
    # Counted before anything is built: 5,000 lines made the edit page take 18 s (issue 15).
    check_count("lines", lines, MAX_LINES_PER_OPPORTUNITY)
    return [ln if isinstance(ln, LineInput) else LineInput(**ln) for ln in lines]


def _build_lines(
    opportunity: Opportunity,
    lines: Sequence[LineInput],
    lookups: BuildLookups | None = None,
) -> list[OpportunityLine]:
    """The lines as rows. An empty unit price is the product's price in the deal's currency
    (``opportunities.pricing``: price book, same-currency list price, or the list price
    converted at the rate of the deal's date, recorded on the line as such). ``lookups``: the
    price book and organization read once for a batch (see ``BuildLookups``)."""
    errors: list[str] = []
    built = []
    org_id = opportunity.organization_id
    untyped = [ln.product.pk for ln in lines if ln.unit_price is None]
    book: dict[tuple[int, str], Decimal] = {}
    organization: Organization | None = None
    if untyped and lookups is not None:
        book, organization = lookups.book, lookups.organization
    elif untyped:
        book = pricing.price_book(organization_id=org_id, product_ids=untyped)
        organization = Organization.objects.get(pk=org_id)
    on_date = timezone.localdate(opportunity.created_at or timezone.now())
    for i, ln in enumerate(lines, start=1):
        require_same_org(org_id, ln.product)
        if not ln.product.is_active:
            errors.append(
                _("Line %(n)d: %(product)s is no longer sold.") % {"n": i, "product": ln.product}
            )
        line = OpportunityLine(
            organization_id=org_id,
            opportunity=opportunity,
            product=ln.product,
            quantity=Decimal(ln.quantity),
            discount_percent=Decimal(ln.discount_percent),
        )
        if ln.unit_price is not None:
            line.unit_price = Decimal(ln.unit_price)
        else:
            assert organization is not None  # read above whenever a price is untyped
            try:
                price = pricing.price_in(
                    product=ln.product,
                    currency=opportunity.currency,
                    on_date=on_date,
                    organization=organization,
                    book=book,
                    rates=lookups.rates
                    if lookups is not None and lookups.rates_date == on_date
                    else None,
                )
            except MissingExchangeRateError as exc:
                errors.append(
                    _("Line %(n)d: %(product)s is priced in %(currency)s; %(why)s")
                    % {
                        "n": i,
                        "product": ln.product,
                        "currency": ln.product.currency,
                        "why": exc.user_message,
                    }
                )
                continue
            line.unit_price = price.amount
            if price.converted:
                line.converted_from_currency = price.from_currency
                line.converted_from_price = price.from_price
                line.conversion_rate = price.rate
                line.conversion_date = price.rate_date
        try:
            # The product was read by the caller in this transaction (``lookups``): its
            # existence check would read it again, once per line.
            if lookups is not None:
                _full_clean(line, _LINE_REFERENCES)
            else:
                line.full_clean(exclude=["opportunity"])
        except ValidationError as exc:
            errors.extend(
                _("Line %(n)d: %(message)s") % {"n": i, "message": m} for m in exc.messages
            )
        built.append(line)
    if errors:
        raise ValidationError(errors)
    return built


@transaction.atomic
def product_price_set(
    *, product: Product, currency: str, price: Decimal | None, acting_user: User | None
) -> ProductPrice | None:
    """Set (or, with ``price=None``, remove) the product's price book entry in ``currency``.
    The catalog is configuration: the global admin's."""
    org_id = product.organization_id
    require_configure(acting_user, org_id)
    currency = currency.upper()
    existing = ProductPrice.objects.for_org(org_id).filter(product=product, currency=currency)
    if price is None:
        existing.delete()
        return None
    if currency == product.currency:
        raise ValidationError(
            {"currency": _("The list price is in %(currency)s already.") % {"currency": currency}}
        )
    row = existing.first() or ProductPrice(
        organization_id=org_id, product=product, currency=currency
    )
    row.price = Decimal(price)
    row.full_clean()
    row.save()
    return row


def _lines_total(lines: Sequence[OpportunityLine]) -> Decimal:
    # The lines being written, not a list of opportunities: OpportunityLine.total is the one
    # definition of a line's value (rounded per line, as on a quote).
    return sum((ln.total for ln in lines), Decimal(0)).quantize(CENT)


# --- Versioned writes ----------------------------------------------------------------------------


def _versioned_update(
    opportunity: Opportunity, expected_version: int | None, **changes: Any
) -> Opportunity:
    """UPDATE ... WHERE id = %s AND version = %s, version + 1; refused if someone was first."""
    qs = Opportunity.objects.for_org(opportunity.organization_id).filter(pk=opportunity.pk)
    if expected_version is not None:
        qs = qs.filter(version=expected_version)
    if not qs.update(**changes, version=F("version") + 1):
        current = (
            Opportunity.objects.for_org(opportunity.organization_id)
            .filter(pk=opportunity.pk)
            .values_list("version", flat=True)
            .first()
        )
        if current is None:
            raise Http404("No opportunity matches the given query.")
        raise StaleVersionError(
            current_version=current,
            expected_version=expected_version or 0,
            name=opportunity.name,
        )
    opportunity.refresh_from_db()
    return opportunity


# --- Create / update -----------------------------------------------------------------------------


def opportunity_build(
    *,
    acting_user: User | None,
    account: Account,
    name: str,
    local_stage: LocalStage | None = None,
    sales_company: SalesCompany | None = None,
    owner: User | None = None,
    amount: Decimal | None = None,
    currency: str | None = None,
    expected_close_date: Any = None,
    next_step: str = "",
    lines: Sequence[LineInput | Mapping[str, Any]] = (),
    campaign: Campaign | None = None,
    source_lead: Lead | None = None,
    delivery_country: str | None = None,
    lookups: BuildLookups | None = None,
) -> OpportunityDraft:
    """The checks of a new opportunity (validation, the "may change" rules) and its rows,
    unsaved. Raises what ``opportunity_create`` raises, with the same messages. Without
    ``lookups`` it reads what it needs (and locks the stage, so it runs in a transaction);
    with them it asks the database nothing (the import builds a chunk of deals that way)."""
    org_id = account.organization_id
    if lookups is None:
        require_visible(acting_user, account)
    owner = owner or acting_user
    if owner is None:
        raise ValidationError({"owner": "An opportunity needs an owner."})
    require_same_org(org_id, owner, sales_company, local_stage, campaign, source_lead)
    sales_company = sales_company or owner.sales_company
    if sales_company is None:
        raise ValidationError({"sales_company": "Choose the booking sales company."})
    if not owner.is_active:
        raise ValidationError({"owner": "The owner's account is inactive."})
    if lookups is None:
        if local_stage is None:
            local_stage = first_local_stage(sales_company=sales_company)
        local_stage = _locked_stage(local_stage)
    elif local_stage is None:
        first = lookups.first_stages.get(sales_company.pk)
        # No first stage: first_local_stage says so in its own words.
        local_stage = first or first_local_stage(sales_company=sales_company)
    else:
        local_stage = lookups.stages.get(local_stage.pk) or _locked_stage(local_stage)
    _check_stage_of_company(local_stage, sales_company)
    if local_stage.global_stage.is_won or local_stage.global_stage.is_lost:
        raise ValidationError(
            {"local_stage": "A new opportunity starts open; move it to won or lost afterwards."}
        )
    opportunity = Opportunity(
        organization_id=org_id,
        account=account,
        sales_company=sales_company,
        owner=owner,
        name=name.strip(),
        local_stage=local_stage,
        global_stage=local_stage.global_stage,
        amount=amount,
        currency=currency or sales_company.currency,
        expected_close_date=expected_close_date,
        next_step=next_step,
        campaign=campaign,
        source_lead=source_lead,
        delivery_country=(delivery_country or "").strip().upper() or None,
    )
    if acting_user is not None:
        _require_change(acting_user, opportunity)
        if acting_user.role == Role.SALES_REP and sales_company.pk != acting_user.sales_company_id:
            raise PermissionDenied("A sales rep books opportunities in their own company.")
    built_lines = _build_lines(opportunity, _line_inputs(lines), lookups)
    if built_lines:
        opportunity.amount = _lines_total(built_lines)
    if lookups is not None:
        _full_clean(opportunity, _REFERENCES)
    else:
        opportunity.full_clean()
    split = OpportunitySplit(
        organization_id=org_id,
        opportunity=opportunity,
        user=owner,
        sales_company=owner.sales_company or sales_company,
        kind=SplitKind.REVENUE,
        percent=HUNDRED,
    )
    stage_change = StageChange(
        organization_id=org_id,
        opportunity=opportunity,
        to_local_stage=local_stage,
        to_global_stage=local_stage.global_stage,
        changed_at=opportunity.created_at,
        changed_by=acting_user,
    )
    return OpportunityDraft(
        opportunity=opportunity, lines=built_lines, split=split, stage_change=stage_change
    )


def opportunity_persist(*, drafts: Sequence[OpportunityDraft]) -> list[Opportunity]:
    """Write built opportunities with their lines, splits and first stage changes: one INSERT
    per table whatever the number of drafts (pghistory's triggers record each row all the
    same). The conflict check and ``opportunity.created`` are the caller's, after it: one
    deal's save checks the deal (``check_deal``), an import each account group once
    (``import_check.check_imported``)."""
    if not drafts:
        return []
    # compiled_insert: bulk_create's statement with each column's preparation found once per
    # model, not per value (the same rows; tests/imports/test_bulk.py compares them).
    opportunities = compiled_insert(Opportunity).insert([d.opportunity for d in drafts])
    lines, splits, changes = [], [], []
    for draft in drafts:
        # The instances are the same objects: bulk_create gave them their ids; the children
        # take them now (an FK assigned before its target was saved holds no id yet).
        for line in draft.lines:
            line.opportunity = draft.opportunity
        draft.split.opportunity = draft.opportunity
        draft.stage_change.opportunity = draft.opportunity
        lines += draft.lines
        splits.append(draft.split)
        changes.append(draft.stage_change)
    compiled_insert(OpportunityLine).insert(lines)
    compiled_insert(OpportunitySplit).insert(splits)
    compiled_insert(StageChange).insert(changes)
    return opportunities


@transaction.atomic
def opportunity_create(
    *,
    acting_user: User | None,
    account: Account,
    name: str,
    local_stage: LocalStage | None = None,
    sales_company: SalesCompany | None = None,
    owner: User | None = None,
    amount: Decimal | None = None,
    currency: str | None = None,
    expected_close_date: Any = None,
    next_step: str = "",
    lines: Sequence[LineInput | Mapping[str, Any]] = (),
    campaign: Campaign | None = None,
    source_lead: Lead | None = None,
    delivery_country: str | None = None,
) -> Opportunity:
    """A new open opportunity, 100% revenue split to its owner, checked for conflicts:
    ``opportunity_build``, ``opportunity_persist`` and the deal's conflict check."""
    draft = opportunity_build(
        acting_user=acting_user,
        account=account,
        name=name,
        local_stage=local_stage,
        sales_company=sales_company,
        owner=owner,
        amount=amount,
        currency=currency,
        expected_close_date=expected_close_date,
        next_step=next_step,
        lines=lines,
        campaign=campaign,
        source_lead=source_lead,
        delivery_country=delivery_country,
    )
    (opportunity,) = opportunity_persist(drafts=[draft])
    # The save brings the situations in step; pages read them back themselves.
    check_deal(opportunity=opportunity, is_new=True)
    emit(opportunity.organization_id, "opportunity.created", opportunity)
    return opportunity


_UPDATABLE = {
    "name",
    "account",
    "owner",
    "amount",
    "currency",
    "expected_close_date",
    "next_step",
    "campaign",
    "delivery_country",
}


@transaction.atomic
def opportunity_update(
    *, opportunity: Opportunity, acting_user: User | None, expected_version: int, **fields: Any
) -> Opportunity:
    """Change fields of the version the caller read; a stale version raises StaleVersionError.

    Stage, booking company, lines and splits have their own services (history, derived amount,
    split rules)."""
    _require_change(acting_user, opportunity)
    unknown = set(fields) - _UPDATABLE
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "This field cannot be changed here."))
    org_id = opportunity.organization_id
    require_same_org(org_id, fields.get("account"), fields.get("owner"), fields.get("campaign"))
    has_lines = OpportunityLine.objects.for_org(org_id).filter(opportunity=opportunity).exists()
    if has_lines and {"amount", "currency"} & set(fields):
        raise ValidationError(
            {"amount": "The amount comes from the product lines; change the lines instead."}
        )
    if "account" in fields and fields["account"].pk != opportunity.account_id:
        require_visible(acting_user, fields["account"])
    candidate = Opportunity.objects.for_org(org_id).get(pk=opportunity.pk)
    if "delivery_country" in fields:
        fields["delivery_country"] = (fields["delivery_country"] or "").strip().upper() or None
    for name, value in fields.items():
        setattr(candidate, name, value.strip() if isinstance(value, str) else value)
    if acting_user is not None and "owner" in fields:
        # Handing a deal to someone is fine only if the result is still yours to change.
        _require_change(acting_user, candidate)
    candidate.full_clean()
    # Who works which group is what the conflict rules read: the account, the owner, the company.
    regrouped = any(
        name in fields and getattr(candidate, f"{name}_id") != getattr(opportunity, f"{name}_id")
        for name in ("account", "owner", "sales_company")
    )
    # Where the goods go is what the parallel-import rule reads.
    regrouped = regrouped or candidate.delivery_country != opportunity.delivery_country
    changes = {name: getattr(candidate, name) for name in fields}
    _versioned_update(opportunity, expected_version, **changes)
    if regrouped:
        check_deal(opportunity=opportunity)
    return opportunity


_CONVERSION = (
    "converted_from_currency",
    "converted_from_price",
    "conversion_rate",
    "conversion_date",
)


def _keep_conversions(built: list[OpportunityLine], existing: Any) -> None:
    """An edit sends the saved lines back with their unit prices typed in: a line still at the
    price a conversion gave it keeps saying where the price came from."""
    converted = {
        (ln.product_id, ln.unit_price): ln
        for ln in existing.exclude(converted_from_currency="").only(
            "product_id", "unit_price", *_CONVERSION
        )
    }
    for line in built:
        source = converted.get((line.product_id, line.unit_price))
        if source is not None and not line.converted_from_currency:
            for name in _CONVERSION:
                setattr(line, name, getattr(source, name))


@transaction.atomic
def opportunity_set_lines(
    *,
    opportunity: Opportunity,
    lines: Sequence[LineInput | Mapping[str, Any]],
    acting_user: User | None,
    expected_version: int | None = None,
) -> Opportunity:
    """Replace the product lines; the amount becomes their total (kept as is if none are left)."""
    _require_change(acting_user, opportunity)
    org_id = opportunity.organization_id
    built = _build_lines(opportunity, _line_inputs(lines))
    existing = OpportunityLine.objects.for_org(org_id).filter(opportunity=opportunity)
    before = sorted(existing.values_list("product_id", flat=True))
    _keep_conversions(built, existing)
    changes: dict[str, Any] = {}
    if built:
        changes["amount"] = _lines_total(built)
    # Version first: a stale caller must not get as far as replacing the lines.
    _versioned_update(opportunity, expected_version, **changes)
    existing.delete()
    OpportunityLine.objects.bulk_create(built)
    if sorted(ln.product_id for ln in built) != before:
        check_deal(opportunity=opportunity, accounts=False)
    return opportunity


# --- Stages --------------------------------------------------------------------------------------


def _locked_stage(local_stage: LocalStage) -> LocalStage:
    # FOR UPDATE on the stage row: a concurrent local_stage_remap holds the same lock, so the
    # mapping read here is the committed one and stays so until this transaction ends.
    return (
        LocalStage.objects.for_org(local_stage.organization_id)
        .select_for_update(of=("self",))
        .select_related("global_stage", "process")
        .get(pk=local_stage.pk)
    )


def _check_stage_of_company(local_stage: LocalStage, sales_company: SalesCompany) -> None:
    if local_stage.process.sales_company_id != sales_company.pk:
        raise ValidationError(
            {"local_stage": f"'{local_stage.name}' is not a stage of {sales_company}'s process."}
        )


@transaction.atomic
def opportunity_move_stage(
    *,
    opportunity: Opportunity,
    local_stage: LocalStage,
    acting_user: User | None,
    expected_version: int | None = None,
    lost_reason: str = "",
) -> Opportunity:
    """Move to another stage of the booking company's process, with a StageChange row.

    Closing sets ``closed_at`` (reopening clears it); winning makes the account a customer and
    sets its ``first_won_at`` once; losing needs a reason."""
    _require_change(acting_user, opportunity)
    org_id = opportunity.organization_id
    require_same_org(org_id, local_stage)
    stage = _locked_stage(local_stage)
    _check_stage_of_company(stage, opportunity.sales_company)
    # Locked: the version read here is the one the UPDATE below is conditional on.
    current = (
        Opportunity.objects.for_org(org_id).select_for_update(of=("self",)).get(pk=opportunity.pk)
    )
    if expected_version is not None and current.version != expected_version:
        raise StaleVersionError(
            current_version=current.version,
            expected_version=expected_version,
            name=current.name,
        )
    if current.local_stage_id == stage.pk:
        return current
    target = stage.global_stage
    if target.is_lost and not lost_reason.strip():
        raise ValidationError({"lost_reason": "Say why the opportunity was lost."})
    now = timezone.now()
    closing = target.is_won or target.is_lost
    changes: dict[str, Any] = {
        "local_stage": stage,
        "global_stage": target,
        "closed_at": (current.closed_at or now) if closing else None,
        "lost_reason": lost_reason.strip()[:200] if target.is_lost else "",
    }
    if closing and current.global_stage_id != target.pk:
        # Won -> lost (or back) is a new closing event.
        changes["closed_at"] = now
    _versioned_update(opportunity, current.version, **changes)
    StageChange.objects.create(
        organization_id=org_id,
        opportunity=opportunity,
        from_local_stage_id=current.local_stage_id,
        to_local_stage=stage,
        from_global_stage_id=current.global_stage_id,
        to_global_stage=target,
        changed_at=now,
        changed_by=acting_user,
    )
    reopening = current.global_stage.is_won or current.global_stage.is_lost
    if closing or reopening:
        # A won or lost deal leaves its situations; a reopened one is checked again.
        check_deal(opportunity=opportunity, accounts=False)
    if target.is_won:
        # One UPDATE; COALESCE keeps the first win when the account was won before.
        Account.objects.for_org(org_id).filter(pk=opportunity.account_id).update(
            first_won_at=Coalesce(F("first_won_at"), Value(now)), lifecycle=Lifecycle.CUSTOMER
        )
    emit(
        org_id, stage_event(target), opportunity, {"from_global_stage_id": current.global_stage_id}
    )
    return opportunity


# --- Buying centre -------------------------------------------------------------------------------


@transaction.atomic
def contact_role_add(
    *, opportunity: Opportunity, contact: Contact, role: str, acting_user: User | None
) -> OpportunityContactRole:
    """Give a contact of the deal's account group a buying-centre role on the deal (whoever may
    change the deal). Adding a role the contact already holds changes nothing."""
    _require_change(acting_user, opportunity)
    require_same_org(opportunity.organization_id, contact)
    require_visible(acting_user, contact)
    errors: dict[str, str] = {}
    if role not in BuyingRole.values:
        errors["role"] = _("Unknown buying role.")
    if contact.account.group_id != opportunity.account.group_id:
        errors["contact"] = _("The contact works for another customer than this deal's.")
    elif contact.archived_at is not None:
        errors["contact"] = _("The contact is archived: restore it first.")
    if errors:
        raise ValidationError(errors)
    row, _created = OpportunityContactRole.objects.for_org(
        opportunity.organization_id
    ).get_or_create(
        opportunity=opportunity,
        contact=contact,
        role=role,
        defaults={"organization_id": opportunity.organization_id, "added_by": acting_user},
    )
    return row


@transaction.atomic
def contact_role_remove(*, role: OpportunityContactRole, acting_user: User | None) -> None:
    _require_change(acting_user, role.opportunity)
    role.delete()


# --- Splits --------------------------------------------------------------------------------------

SplitSpec = tuple[User, SalesCompany | None, str, Decimal]


@transaction.atomic
def opportunity_set_splits(
    *,
    opportunity: Opportunity,
    splits: Sequence[SplitSpec],
    acting_user: User | None,
    expected_version: int | None = None,
) -> list[OpportunitySplit]:
    """Replace all splits. Revenue splits sum to exactly 100%; overlays are 0-100% each.

    The splits are part of the opportunity: a change bumps its version, and a caller passing
    the version it read gets StaleVersionError if someone changed the opportunity since
    (``None``: the system itself, e.g. a conflict resolution, which holds its own locks)."""
    _require_change(acting_user, opportunity)
    check_count("splits", splits, MAX_SPLITS_PER_OPPORTUNITY)
    org_id = opportunity.organization_id
    errors: list[str] = []
    seen: set[tuple[int, str]] = set()
    revenue = Decimal(0)
    rows = []
    for user, company, kind, percent in splits:
        percent = Decimal(percent)
        # Colleagues of the organization only: another one's answer like missing ones.
        require_same_org(org_id, user, company)
        if not user.is_active:
            errors.append(f"{user.full_name} is inactive.")
        company = company or user.sales_company or opportunity.sales_company
        if kind not in SplitKind.values:
            errors.append(f"Unknown split kind {kind!r}.")
        if (user.pk, kind) in seen:
            errors.append(f"{user.full_name} has two {kind} splits.")
        seen.add((user.pk, kind))
        if not Decimal(0) < percent <= HUNDRED:
            errors.append(f"{user.full_name}: a split is more than 0% and at most 100%.")
        if kind == SplitKind.REVENUE:
            revenue += percent
        rows.append(
            OpportunitySplit(
                organization_id=org_id,
                opportunity=opportunity,
                user=user,
                sales_company=company,
                kind=kind,
                percent=percent,
            )
        )
    if revenue != HUNDRED:
        errors.append(f"Revenue splits must add up to exactly 100% (they add up to {revenue}%).")
    if errors:
        raise ValidationError(errors)
    # The conditional UPDATE (version = expected) takes the opportunity's row lock until
    # commit: of two concurrent replacements with the same version one wins, the other waits,
    # then finds the version moved on and changes nothing; nor can delete and insert interleave.
    _versioned_update(opportunity, expected_version)
    OpportunitySplit.objects.for_org(org_id).filter(opportunity=opportunity).delete()
    return OpportunitySplit.objects.bulk_create(rows)


@transaction.atomic
def local_stage_remap(
    *, local_stage: LocalStage, global_stage: GlobalStage, acting_user: User | None
) -> int:
    """Map ``local_stage`` onto another global stage and re-map its opportunities with it.

    Returns the number of opportunities re-mapped. Both writes share one transaction, and the
    local stage row stays locked until commit, so a concurrent stage move (which locks the
    same row, see ``opportunity_move_stage``) reads either the old mapping before or the new
    one after - never a mix."""
    org_id = local_stage.organization_id
    require_configure(acting_user, org_id)
    require_same_org(org_id, global_stage)
    local_stage = LocalStage.objects.for_org(org_id).select_for_update().get(pk=local_stage.pk)
    old = local_stage.global_stage
    if old.pk == global_stage.pk:
        return 0
    siblings = list(
        LocalStage.objects.for_org(org_id)
        .filter(process_id=local_stage.process_id)
        .select_related("global_stage")
    )
    validate_mapping(
        [
            (s.name, s.order, global_stage if s.pk == local_stage.pk else s.global_stage)
            for s in siblings
        ]
    )
    opportunities = Opportunity.objects.for_org(org_id).filter(local_stage=local_stage)
    if (old.is_won, old.is_lost) != (global_stage.is_won, global_stage.is_lost) and (
        opportunities.exists()
    ):
        # Re-mapping would win, lose or reopen deals without a stage change, a closing date
        # or a lost reason; those moves are the sellers' (opportunity_move_stage).
        raise ValidationError(
            f"'{local_stage.name}' holds opportunities; it cannot be re-mapped between open, "
            "won and lost. Move the opportunities first."
        )
    local_stage.global_stage = global_stage
    local_stage.save(update_fields=["global_stage"])
    # One UPDATE for every opportunity in the stage, whatever their number.
    return opportunities.update(global_stage=global_stage)
