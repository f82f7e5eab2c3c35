"""Errors of the opportunities app that callers (pages, API) turn into messages."""

from __future__ import annotations


class StaleVersionError(Exception):
    """The opportunity was saved by someone else since the caller read it.

    Never resolved by overwriting: the caller shows the message and reloads the current version.
    """

    def __init__(self, *, current_version: int, expected_version: int, name: str = "") -> None:
        self.current_version = current_version
        self.expected_version = expected_version
        what = f"'{name}'" if name else "This opportunity"
        super().__init__(
            f"{what} was changed by someone else while you were editing it (you had version "
            f"{expected_version}, it is now at version {current_version}). Nothing was saved: "
            "reload it and apply your change again."
        )
