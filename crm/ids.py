"""The one parser for ids that arrive from a request (query string, form field, path, JSON).

``str.isdigit()`` accepts Unicode digits such as ``²`` and ``①`` on which ``int()`` then raises,
and ``int()`` alone accepts ``-1``, `` 7 ``, ``7_0`` and numbers beyond a bigint, which PostgreSQL
answers with an error. Every id read from a request goes through :func:`parse_id`, so bad input
reads as "no such id" (a 404, or the filter ignored) and never as a server error.
"""

from __future__ import annotations

import re
from typing import Any

# The largest value of a PostgreSQL bigint (Django's BigAutoField).
MAX_ID = 2**63 - 1

# ASCII digits only: ``\d`` would match every Unicode digit. ``\Z`` rather than ``$``, which
# lets a trailing newline through.
_ASCII_DIGITS = re.compile(r"[0-9]{1,19}\Z")


def parse_id(value: Any) -> int | None:
    """The id ``value`` names (1 .. 2**63-1), or None for anything else: empty, negative, zero,
    too large, non-ASCII digits, whitespace, signs, NUL. An ``int`` is accepted as is when in
    range (``bool`` is not an id)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value <= MAX_ID else None
    if not isinstance(value, str) or not _ASCII_DIGITS.match(value):
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None
