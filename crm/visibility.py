"""The visibility policy: who sees which rows inside an organization.

This is the one module that answers "may this user see that row?" for pages, API, exports and
search alike. Each tenant model registers one policy: a function that narrows a queryset to the
rows a user may see, expressed as SQL (subqueries), never as Python filtering of lists. A model
without a policy is invisible: ``apply`` raises rather than fall open.

The role table (ARCHITECTURE.md):

* global_admin, global_director - everything in the organization;
* regional_manager - the sales companies of the region;
* country_manager, sales_rep - the own sales company (plus team groups and grants, per model);
* marketing - the own sales company, or the whole organization when attached to none.

Organization first, always: ``apply`` filters by the user's organization before any policy runs,
so a policy can only ever narrow inside the tenant.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model, Q, QuerySet
from django.http import Http404

from crm.rls import RLS_NOT_FORCED
from crm.roles import MANAGER_ROLES, ORG_WIDE_ROLES, Role
from crm.tenancy import orm_tenant_filter_on

if TYPE_CHECKING:
    from crm.models import SalesCompany, User

M = TypeVar("M", bound=Model)
Policy = Callable[[QuerySet[Any], "User"], QuerySet[Any]]

_POLICIES: dict[str, Policy] = {}


def policy(*labels: str) -> Callable[[Policy], Policy]:
    """Register ``fn`` as the visibility policy of the models named by ``app_label.Model``."""

    def register(fn: Policy) -> Policy:
        for label in labels:
            if label in _POLICIES:
                raise ImproperlyConfigured(f"Two visibility policies for {label}.")
            _POLICIES[label] = fn
        return fn

    return register


def apply(qs: QuerySet[M], user: User) -> QuerySet[M]:
    """Narrow ``qs`` to the rows ``user`` may see."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return qs.none()
    label = qs.model._meta.label
    try:
        fn = _POLICIES[label]
    except KeyError:
        raise ImproperlyConfigured(f"{label} has no visibility policy.") from None
    # Identity tables' RLS is not forced (the owner reads them whole, see crm.rls): wall one
    # always stays on for them.
    if orm_tenant_filter_on() or label in RLS_NOT_FORCED:
        qs = qs.filter(organization_id=user.organization_id)
    return fn(qs, user)


def get_visible_or_404(qs: QuerySet[M], user: User, **lookup: Any) -> M:
    """Fetch one row the user may see; missing, foreign and invisible rows all answer 404."""
    obj = apply(qs, user).filter(**lookup).first()
    if obj is None:
        raise Http404(f"No {qs.model._meta.verbose_name} matches the given query.")
    return obj


def scoped_company_ids(user: User) -> QuerySet[Any] | list[int] | None:
    """The sales companies whose records the user's role covers; ``None`` means all of them.

    Returned as a values() subquery or a short list, so callers embed it in their own SQL.
    """
    from crm.models import SalesCompany

    if user.role in ORG_WIDE_ROLES:
        return None
    if user.role == Role.REGIONAL_MANAGER:
        return (
            SalesCompany.objects.for_org(user.organization_id)
            .filter(region_id=user.region_id)
            .values("id")
        )
    if user.role == Role.MARKETING and not user.sales_company_id:
        return None
    return [user.sales_company_id] if user.sales_company_id else []


def covers_company(user: User, company_id: int | None) -> bool:
    """Whether the sales company is in the user's role scope (for "may change" checks)."""
    ids = scoped_company_ids(user)
    if ids is None:
        return True
    if isinstance(ids, list):
        return company_id in ids
    return ids.filter(id=company_id).exists()


def visible_companies(user: User) -> QuerySet[SalesCompany]:
    """The sales companies in the user's scope (their records, reports and exports)."""
    from crm.models import SalesCompany

    qs = SalesCompany.objects.for_org(user.organization_id)
    if not user.is_authenticated or not user.is_active:
        return qs.none()
    ids = scoped_company_ids(user)
    return qs if ids is None else qs.filter(id__in=ids)


def can_configure(user: User) -> bool:
    """Stages, processes, companies, users and rates: the global admin's."""
    return user.is_active and user.role == Role.GLOBAL_ADMIN


@policy("crm.ApiToken")
def _api_tokens(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    return qs.filter(user_id=user.pk)


@policy("crm.Region", "crm.SalesCompany", "crm.ExchangeRate", "crm.User")
def _organization_reference_data(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    # The structure of the organization, its people and its rates are known to everyone in it:
    # sellers need colleagues' names to share deals and see who to call about a conflict.
    return qs


# --- Domain policies ---------------------------------------------------------------------------
# Models are looked up by label so that the kernel does not import the apps built on it.


def _model(label: str) -> Any:
    from django.apps import apps

    return apps.get_model(label)


def team_group_ids(user: User) -> QuerySet[Any] | None:
    """Top accounts of the groups whose global account team gives this user visibility:
    a rep through their own membership, a manager through any member of their companies.
    ``None`` for the roles that see the whole organization anyway."""
    if user.role in ORG_WIDE_ROLES:
        return None
    team = _model("accounts.AccountTeamMember").objects.for_org(user.organization_id)
    if user.role in (Role.SALES_REP, Role.MARKETING):
        team = team.filter(user_id=user.pk)
    else:
        # A queryset in a boolean context would run; pass the subquery itself.
        company_ids = scoped_company_ids(user)
        team = team.filter(sales_company_id__in=[] if company_ids is None else company_ids)
    return team.values("account_id")


def _granted_ids(grant_label: str, user: User) -> QuerySet[Any]:
    """Objects shared with the user by a direct-FK guardian grant (view or change)."""
    grants = _model(grant_label).objects.for_org(user.organization_id)
    return grants.filter(user_id=user.pk).values("content_object_id")


def among(field: str, ids: QuerySet[Any] | list[int]) -> Q:
    """``field`` is one of ``ids``: a short list inline, a subquery as ``= ANY(ARRAY(…))`` so
    that it stays indexable inside the ORs of a policy (see crm.db.lookups)."""
    if isinstance(ids, list):
        return Q(**{f"{field}__in": ids})
    return Q(**{f"{field}__any_of": ids})


def _account_q(user: User, prefix: str = "") -> Q:
    """Accounts the user sees: their companies' accounts, plus whole groups through the team."""
    company_ids = scoped_company_ids(user)
    groups = team_group_ids(user)
    if company_ids is None or groups is None:
        return Q()
    # The team's groups stay a hashed ``IN``: a manager's reach thousands of groups, and the
    # pages that read accounts narrow by group or walk an ordered index, where probing each row
    # beats gathering every team account into a bitmap first (measured: 360 of a group 25 ms
    # with the bitmap, 1 ms without).
    return among(f"{prefix}home_company_id", company_ids) | Q(**{f"{prefix}group_id__in": groups})


@policy("accounts.Account")
def _accounts(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    return qs.filter(_account_q(user))


def _nothing(qs: QuerySet[Any]) -> QuerySet[Any]:
    # Still one SQL statement (like every policy), answering no rows.
    return qs.filter(pk__isnull=True)


# Need-to-know for marketing: it works leads and campaigns and reads accounts and contacts
# (the table's "read-only"); deal data is the sellers'. Opportunities (with their lines,
# splits and stages), conflicts, account plans (targets), agreements (discount tiers, terms)
# and sales activities are not marketing's, and these checks come before the "whole
# organization" exits: global marketing has no company, which scoped_company_ids reads as all.
# Activities have no lead or campaign link, so marketing sees only activities it owns itself.


@policy("accounts.Contact", "accounts.AccountTeamMember")
def _through_account(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    return qs.filter(_account_q(user, "account__"))


@policy("accounts.FrameworkAgreement")
def _agreements(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    if user.role == Role.MARKETING:
        return _nothing(qs)
    return qs.filter(_account_q(user, "account__"))


@policy("accounts.DiscountTier", "accounts.AgreementCompany")
def _through_agreement(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    if user.role == Role.MARKETING:
        return _nothing(qs)
    return qs.filter(_account_q(user, "agreement__account__"))


@policy("accounts.AccountPlan")
def _plans(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    granted = Q(id__in=_granted_ids("accounts.AccountPlanUserObjectPermission", user))
    if user.role == Role.MARKETING:
        # A plan someone explicitly shared with a marketing colleague, nothing else.
        return qs.filter(granted)
    q = _account_q(user, "account__")
    if q == Q():
        return qs
    return qs.filter(q | granted)


@policy("accounts.PlanAction")
def _plan_actions(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    return qs.filter(
        plan_id__in=apply(_model("accounts.AccountPlan").objects.unscoped(), user).values("id")
    )


def _opportunity_q(user: User, prefix: str = "") -> Q | None:
    """Opportunities the user sees; ``None`` means all of the organization, ``Q(pk__in=[])``
    none. Booked by a company in scope, on a team group, owned, split to, or shared."""
    shared = _granted_ids("opportunities.OpportunityUserObjectPermission", user)
    if user.role == Role.MARKETING:
        # Marketing works leads and campaigns; deals are the sellers'. Checked before the
        # "whole organization" exit: global marketing has no company, which means None below.
        return Q(**{f"{prefix}id__in": shared})
    company_ids = scoped_company_ids(user)
    groups = team_group_ids(user)
    if company_ids is None or groups is None:
        return None
    if user.role == Role.SALES_REP:
        # A rep's deals are a few thousand of the organization's million: gather each source once
        # (InitPlans) as indexable conditions on the opportunity itself, so PostgreSQL combines
        # index scans (BitmapOr) instead of walking the whole organization through a filter.
        splits = (
            _model("opportunities.OpportunitySplit")
            .objects.for_org(user.organization_id)
            .filter(user_id=user.pk)
            .values("opportunity_id")
        )
        team_accounts = (
            _model("accounts.Account")
            .objects.for_org(user.organization_id)
            .filter(group_id__in=groups)
            .values("id")
        )
        return (
            Q(**{f"{prefix}owner_id": user.pk})
            | among(f"{prefix}id", splits)
            | among(f"{prefix}account_id", team_accounts)
            | among(f"{prefix}id", shared)
        )
    # A manager's own companies are a large share of the organization, so walking an ordered
    # index with this as a filter is cheap; their teams reach thousands of groups, which is
    # cheaper probed per row (hashed) than gathered into an array of every account first. The
    # group is the opportunity's own copy (kept by the database), not the account's: the whole
    # test stays on one table, a filter PostgreSQL prices once rather than on every loop of a
    # join with the accounts.
    return (
        among(f"{prefix}sales_company_id", company_ids)
        | Q(**{f"{prefix}account_group_id__in": groups})
        | among(f"{prefix}id", shared)
    )


@policy("opportunities.Opportunity")
def _opportunities(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    q = _opportunity_q(user)
    return qs if q is None else qs.filter(q)


@policy(
    "opportunities.OpportunityLine",
    "opportunities.OpportunitySplit",
    "opportunities.StageChange",
)
def _through_opportunity(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    q = _opportunity_q(user, "opportunity__")
    return qs if q is None else qs.filter(q)


def _via_opportunity(user: User, prefix: str) -> Q:
    """Rows hanging off an opportunity the user sees, tested through the join rather than as
    ``opportunity_id IN (every visible opportunity)``: the rows of one account or one inbox are
    few, the visible opportunities of a manager are a hundred thousand."""
    q = _opportunity_q(user, prefix)
    return Q() if q is None else q


@policy("accounts.Activity")
def _activities(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    if user.role == Role.MARKETING:
        return qs.filter(owner_id=user.pk)
    if scoped_company_ids(user) is None:
        return qs
    return qs.filter(
        Q(owner_id=user.pk)
        | _account_q(user, "account__")
        | _via_opportunity(user, "opportunity__")
    )


@policy("opportunities.Conflict")
def _conflicts(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    if user.role == Role.MARKETING:
        # Sellers, deal ids and agreement details: none of it is marketing's.
        return _nothing(qs)
    company_ids = scoped_company_ids(user)
    if company_ids is None:
        return qs
    q = _via_opportunity(user, "opportunity__") | _via_opportunity(user, "other_opportunity__")
    if user.role in (Role.COUNTRY_MANAGER, Role.REGIONAL_MANAGER):
        # Managers see every conflict their companies are party to, to resolve them.
        q |= among("sales_company_id", company_ids) | among("other_sales_company_id", company_ids)
    return qs.filter(q)


@policy("leads.Lead")
def _leads(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    company_ids = scoped_company_ids(user)
    if company_ids is None:
        return qs
    return qs.filter(Q(sales_company_id__in=company_ids) | Q(owner_id=user.pk))


@policy("leads.CampaignMember")
def _campaign_members(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    if scoped_company_ids(user) is None:
        return qs
    contacts = apply(_model("accounts.Contact").objects.unscoped(), user).values("id")
    leads = apply(_model("leads.Lead").objects.unscoped(), user).values("id")
    return qs.filter(Q(contact_id__in=contacts) | Q(lead_id__in=leads))


@policy(
    "pipeline.GlobalStage",
    "pipeline.SalesProcess",
    "pipeline.LocalStage",
    "leads.Campaign",
    "leads.CampaignCompany",
    "opportunities.Product",
)
def _process_and_catalog(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    # The process, the catalog and the campaign calendar are shared by the whole organization.
    return qs


@policy(
    "accounts.AccountPlanUserObjectPermission",
    "opportunities.OpportunityUserObjectPermission",
)
def _grants(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    # A grant is seen by its grantee and by whoever sees the shared object.
    target = apply(
        qs.model._meta.get_field("content_object").related_model.objects.unscoped(), user
    )
    return qs.filter(Q(user_id=user.pk) | Q(content_object_id__in=target.values("id")))


@policy("reporting.Target")
def _targets(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    # A person sees their own targets; managers those of their companies and their people.
    company_ids = scoped_company_ids(user)
    if company_ids is None and user.role != Role.MARKETING:
        return qs
    own = Q(user_id=user.pk)
    if user.role not in MANAGER_ROLES:
        return qs.filter(own)
    return qs.filter(
        own | Q(sales_company_id__in=company_ids) | Q(user__sales_company_id__in=company_ids)
    )


@policy("reporting.PipelineSnapshot")
def _snapshots(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    # Company-wide pipeline totals include deals a rep may not see: managers and up only.
    if user.role in ORG_WIDE_ROLES:
        return qs
    if user.role not in MANAGER_ROLES:
        # Still one SQL statement (like every policy), answering no rows.
        return qs.filter(pk__isnull=True)
    return qs.filter(sales_company_id__in=scoped_company_ids(user))


@policy("reporting.DashboardFigures")
def _dashboard_figures(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    # Stored aggregates are read only by reporting.figures, after dashboard_scope has checked
    # that the viewer's role covers the scope; through the policy they are nobody's rows.
    return qs.filter(pk__isnull=True)


@policy("reporting.Export")
def _exports(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    # A report file is the requester's alone, whatever their colleagues' roles.
    return qs.filter(requested_by_id=user.pk)


# --- Audit history (django-pghistory event tables) -------------------------------------------
# An event is seen by whoever sees the record it belongs to; events of rows that were deleted
# (a replaced line or split, a removed team member) hang off their parent, which still exists.

_EVENT_PARENTS = {
    "accounts.AccountEvent": ("accounts.Account", "pgh_obj_id"),
    "accounts.ContactEvent": ("accounts.Account", "account_id"),
    "accounts.AccountTeamMemberEvent": ("accounts.Account", "account_id"),
    "accounts.FrameworkAgreementEvent": ("accounts.Account", "account_id"),
    "accounts.DiscountTierEvent": ("accounts.FrameworkAgreement", "agreement_id"),
    "opportunities.OpportunityEvent": ("opportunities.Opportunity", "pgh_obj_id"),
    "opportunities.OpportunityLineEvent": ("opportunities.Opportunity", "opportunity_id"),
    "opportunities.OpportunitySplitEvent": ("opportunities.Opportunity", "opportunity_id"),
}


# Agreement history hangs off the account (it outlives a deleted agreement) but is deal data.
_NOT_MARKETINGS_EVENTS = {"accounts.FrameworkAgreementEvent", "accounts.DiscountTierEvent"}


def _event_policy(parent_label: str, field: str, label: str = "") -> Policy:
    def narrow(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
        if scoped_company_ids(user) is None and user.role in ORG_WIDE_ROLES:
            return qs
        if user.role == Role.MARKETING and label in _NOT_MARKETINGS_EVENTS:
            return _nothing(qs)
        parents = apply(_model(parent_label).objects.unscoped(), user).values("id")
        return qs.filter(**{f"{field}__in": parents})

    return narrow


for _label, (_parent, _field) in _EVENT_PARENTS.items():
    policy(_label)(_event_policy(_parent, _field, _label))

policy("pipeline.LocalStageEvent", "crm.UserEvent")(_organization_reference_data)
