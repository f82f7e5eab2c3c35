"""Walking a cursor-paginated API list as a client does: forwards by ``next`` to the end, then
back by ``previous`` (shared by the tests that compare every page of two paths)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit


def following(body: bytes, backwards: bool) -> tuple[str | None, bool]:
    """The page after the one whose ``body`` was just read, and whether the walk now goes
    backwards; None when the walk is over."""
    data = json.loads(body)
    link = data["previous"] if backwards else data["next"]
    if link is None and not backwards:
        backwards, link = True, data["previous"]
    if link is None:
        return None, backwards
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}", backwards
