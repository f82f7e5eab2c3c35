"""Merging duplicate accounts: every row that points at the duplicate moves to the kept account.

The move is generic over the model graph (every foreign key to Account, in every app), so a
table added later is carried along without touching this module, and nothing is lost.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import ForeignKey
from django.http import Http404
from django.utils.translation import gettext as _

from accounts.models import Account, AccountPlan, AccountTeamMember
from crm.events import emit
from crm.models import User
from crm.roles import MANAGER_ROLES, ORG_WIDE_ROLES
from crm.tenancy import require_same_org
from crm.visibility import covers_company


def _may_merge(user: User | None, keep: Account, remove: Account) -> bool:
    if user is None:  # the system itself
        return True
    if user.role in ORG_WIDE_ROLES:
        return True
    return user.role in MANAGER_ROLES and (
        covers_company(user, keep.home_company_id) or covers_company(user, remove.home_company_id)
    )


@transaction.atomic
def account_merge(*, keep: Account, remove: Account, acting_user: User | None) -> Account:
    """Move contacts, activities, opportunities, team, plans, agreements, subsidiaries, leads and
    conflicts from ``remove`` to ``keep``, then delete ``remove``."""
    if keep.pk == remove.pk:
        raise ValidationError(_("An account cannot be merged into itself."))
    if acting_user is not None:
        # Another organization's accounts are missing. Inside it, a duplicate may be out of the
        # user's sight (the conflict that found it names it, need-to-know): seeing one of the
        # two is needed, and ``_may_merge`` decides the rest.
        require_same_org(acting_user.organization_id, keep, remove)
        visible = Account.objects.visible_to(acting_user).filter(pk__in=[keep.pk, remove.pk])
        if not visible.exists():
            raise Http404("No account matches the given query.")
    if keep.organization_id != remove.organization_id:
        raise ValidationError(_("Accounts of different organizations cannot be merged."))
    if not _may_merge(acting_user, keep, remove):
        raise PermissionDenied("Only a manager of one of the companies involved may merge.")
    org_id = keep.organization_id
    # Lock both rows so a concurrent edit cannot write to the account being removed.
    locked = Account.objects.for_org(org_id).select_for_update().filter(pk__in=[keep.pk, remove.pk])
    list(locked)

    # Rows whose uniqueness includes the account: keep one per key, move the rest.
    keep_users = set(
        AccountTeamMember.objects.for_org(org_id)
        .filter(account=keep)
        .values_list("user_id", flat=True)
    )
    AccountTeamMember.objects.for_org(org_id).filter(
        account=remove, user_id__in=keep_users
    ).delete()
    keep_years = dict(
        AccountPlan.objects.for_org(org_id).filter(account=keep).values_list("year", "id")
    )
    for plan in AccountPlan.objects.for_org(org_id).filter(account=remove, year__in=keep_years):
        plan.actions.update(plan_id=keep_years[plan.year])
        plan.delete()

    for rel in Account._meta.related_objects:
        field = rel.field
        if not isinstance(field, ForeignKey) or rel.related_model is Account:
            continue
        rel.related_model._base_manager.filter(
            organization_id=org_id, **{field.name: remove}
        ).update(**{field.name: keep})

    # Subsidiaries of the removed account now hang under the kept one, in its group.
    new_group = keep.group_id or keep.pk
    Account.objects.for_org(org_id).filter(parent=remove).update(parent=keep)
    Account.objects.for_org(org_id).filter(group_id=remove.pk).update(group_id=new_group)
    emit(org_id, "account.merged", keep, {"removed_account_id": remove.pk})
    remove.delete()
    keep.refresh_from_db()
    return keep
