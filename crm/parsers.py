"""The API's JSON parser: DRF's, refusing with a 400 what would otherwise fail further in.

Its own module, not ``crm.drf``: DRF reads DEFAULT_PARSER_CLASSES while ``rest_framework.views``
is being imported, which ``crm.drf`` itself imports.
"""

from __future__ import annotations

import re
from typing import Any

from rest_framework import exceptions
from rest_framework.parsers import JSONParser, get_encoding
from rest_framework.utils import json as drf_json

# Deeper than any payload of ours (an opportunity with lines is 3 levels); a hostile body
# 100,000 levels deep would otherwise reach the decoder's recursion limit (a 500).
MAX_JSON_DEPTH = 32

# Outside a string: the next character that matters for nesting. Inside one (after its opening
# quote): the rest of the string, possessive so that it never backtracks and the scan stays
# linear in the size of the body, whatever it holds.
_JSON_STRUCTURE = re.compile(r'["\[\]{}]')
_JSON_STRING_REST = re.compile(r'(?:[^"\\]++|\\.)*+"', re.DOTALL)


def json_too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether arrays and objects in ``text`` nest deeper than ``limit``, found by scanning
    (brackets inside strings do not count) before anything recursive reads it. Malformed text
    answers False here and is then refused by the decoder."""
    depth = pos = 0
    while (found := _JSON_STRUCTURE.search(text, pos)) is not None:
        char, pos = found.group(), found.end()
        if char == '"':
            rest = _JSON_STRING_REST.match(text, pos)
            if rest is None:
                return False  # an unterminated string
            pos = rest.end()
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _nul_path(value: Any, path: str = "") -> str | None:
    """The path (``lines[0].note``) of the first string, key or value, holding a NUL."""
    if isinstance(value, str):
        return (path or "body") if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if "\x00" in key:
                return here.replace("\x00", "")
            if (found := _nul_path(item, here)) is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if (found := _nul_path(item, f"{path}[{index}]")) is not None:
                return found
    return None


class SafeJSONParser(JSONParser):
    """DRF's JSON parser, refusing with a 400 what would otherwise fail further in: nesting
    deeper than MAX_JSON_DEPTH (a RecursionError in the decoder) and NUL characters in any
    string (PostgreSQL cannot store them: a DataError)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = get_encoding(parser_context or {})
        try:
            text = stream.read().decode(encoding) if stream is not None else ""
        except UnicodeError as exc:
            raise exceptions.ParseError(f"JSON parse error - not {encoding} text.") from exc
        if json_too_deep(text):
            raise exceptions.ParseError(
                f"JSON nested too deeply (more than {MAX_JSON_DEPTH} levels of arrays and objects)."
            )
        try:
            data = drf_json.loads(
                text, parse_constant=drf_json.strict_constant if self.strict else None
            )
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from exc
        # A decoded string holds a NUL only if the text escapes one (the decoder refuses raw
        # control characters): no walk over the data for the bodies that cannot.
        if "\\u0000" in text and (where := _nul_path(data)) is not None:
            raise exceptions.ParseError(
                f"NUL character in {where}: a NUL (\\u0000) is never valid input."
            )
        return data
