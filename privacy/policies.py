"""Visibility of the privacy records (registered by ``PrivacyConfig.ready``)."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db.models import QuerySet

from accounts.models import Account
from crm.audit import register_history
from crm.models import User
from crm.visibility import event_policy, nothing, policy
from privacy.access import may_handle_personal_data


@policy("privacy.PersonalDataAction")
def _actions(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    # The log of exports and erasures is the data-protection officer's (and the admin's).
    return qs if may_handle_personal_data(user) else nothing(qs)


# An export or erasure of a contact is part of its account's History (who, when, why).
policy("privacy.PersonalDataActionEvent")(event_policy(Account, "account_id", marketing=False))
register_history(Account, (apps.get_model("privacy", "PersonalDataActionEvent"), "account_id"))
