"""Mail helpers shared by every notification."""

from __future__ import annotations

import re
import unicodedata
from smtplib import SMTPException
from typing import Any

MAX_SUBJECT_LENGTH = 150

# Celery options of every task that sends mail: a mail server that is down or slow is retried
# with growing pauses (1 s, 2 s, ... 10 min); a bad message is not.
MAIL_TASK_OPTIONS: dict[str, Any] = {
    "acks_late": True,
    "autoretry_for": (SMTPException, ConnectionError, TimeoutError),
    "retry_backoff": True,
    "retry_backoff_max": 600,
    "max_retries": 6,
}

_WHITESPACE = re.compile(r"\s+")


def mail_subject(text: str, *, max_length: int = MAX_SUBJECT_LENGTH) -> str:
    """``text`` made safe as an e-mail subject: every control or line-separator character
    (CR, LF, NUL, U+2028 ...) becomes a space, whitespace is collapsed, and the result is
    truncated with an ellipsis. Django refuses a subject with a newline (``BadHeaderError``), so
    a name typed with one would otherwise stop every mail that quotes it."""
    cleaned = "".join(
        " " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in str(text)
    )
    cleaned = _WHITESPACE.sub(" ", cleaned).strip()
    if len(cleaned) > max_length:
        cleaned = cleaned[: max_length - 1].rstrip() + "…"
    return cleaned
