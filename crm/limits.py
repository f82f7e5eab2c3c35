"""Size limits of user input: one named constant per rule, shared by services, serializers and
forms, so pages and API refuse the same input with the same message.

Without them a single request could store 5,000 lines on one opportunity (its edit page then
took 18 s to render) or a 1 MB activity note (issue 15). The services enforce every limit (the
rule holds whoever calls them); serializers and forms repeat the field lengths so that the
answer is a 400 or a form error naming the field before anything reaches the database.
"""

from __future__ import annotations

import json
from collections.abc import Sized
from typing import Any

from django.core.exceptions import ValidationError

# Names and one-line fields (already the models' max_length).
MAX_NAME_LENGTH = 200
# Free text: activity notes, plan objectives, conflict notes and details, agreement notes.
MAX_TEXT_LENGTH = 10_000
# A conflict's resolution note (shown in the inbox beside the resolution).
MAX_RESOLUTION_NOTE_LENGTH = 2_000
# Per opportunity.
MAX_LINES_PER_OPPORTUNITY = 200
MAX_SPLITS_PER_OPPORTUNITY = 20
# Per framework agreement.
MAX_TIERS_PER_AGREEMENT = 20
MAX_LEGAL_NOTES = 20  # languages of the legal notes
# Lists of sales companies (an agreement's covered companies, a campaign's companies).
MAX_COMPANIES_PER_LIST = 100


def check_text(field: str, value: str | None, limit: int = MAX_TEXT_LENGTH) -> None:
    """Raise a field error if ``value`` is longer than ``limit`` characters."""
    if value is not None and len(value) > limit:
        raise ValidationError({field: f"At most {limit:,} characters (this has {len(value):,})."})


def check_count(field: str, items: Sized, limit: int) -> None:
    """Raise a field error if the collection has more than ``limit`` entries."""
    if len(items) > limit:
        raise ValidationError({field: f"At most {limit:,} entries (this has {len(items):,})."})


def check_legal_notes(field: str, notes: dict[str, Any] | None) -> None:
    """Legal notes: a short mapping of language to text, each text within the text limit."""
    if not notes:
        return
    check_count(field, notes, MAX_LEGAL_NOTES)
    for language, text in notes.items():
        check_text(field, str(language), 10)
        check_text(field, text if isinstance(text, str) else json.dumps(text))


def check_payload_counts(data: Any, limits: dict[str, int]) -> None:
    """The collection limits of a request body, checked before each entry is validated (a
    list of ids is looked up one by one, so 100,000 ids would be 100,000 queries)."""
    if not hasattr(data, "get"):
        return
    for field, limit in limits.items():
        items = data.get(field)
        if isinstance(items, list | tuple):
            check_count(field, items, limit)
