"""What the accounts app announces to the apps above it (which it may not import)."""

from __future__ import annotations

from django.dispatch import Signal

# An account (with its subtree) joined, left or changed its group, inside the writing
# transaction. Arguments: ``account`` (as saved), ``acting_user`` (None: the system).
account_regrouped = Signal()
