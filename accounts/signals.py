"""What the accounts app announces to the apps above it (which it may not import)."""

from __future__ import annotations

from django.dispatch import Signal

# An account (with its subtree) joined, left or changed its group, inside the writing
# transaction. Arguments: ``account`` (as saved), ``old_group_id`` (the group it left, its own
# id if it was a top), ``account_ids`` (it and its subtree), ``acting_user`` (None: the system).
account_regrouped = Signal()
