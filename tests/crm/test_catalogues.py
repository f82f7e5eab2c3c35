"""Every user-facing string is translated: the sv, da and de catalogues, brought up to date with
the source exactly as a developer does (``makemessages`` on a copy of the tree), hold no
untranslated and no fuzzy entry. A string added without its translations fails here, not in
front of a Danish user."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The app code and templates (tests, bench and scripts are not shown to users).
SOURCES = [
    "accounts", "coaching", "crm", "imports", "leads", "meridian", "opportunities", "pipeline",
    "privacy", "reporting", "sso", "webhooks", "templates", "locale",
]  # fmt: skip
LANGUAGES = ["sv", "da", "de"]


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("catalogues")
    for name in SOURCES:
        shutil.copytree(
            ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__", "*.mo")
        )
    shutil.copy(ROOT / "manage.py", tree / "manage.py")
    env = {**os.environ, "DEBUG": "1", "PYTHONPATH": str(tree)}
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "--no-obsolete", "--no-location",
         *(f"--locale={lang}" for lang in LANGUAGES)],
        cwd=tree, env=env, check=True, capture_output=True,
    )  # fmt: skip
    return tree


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_catalogue_is_complete(refreshed: Path, language: str) -> None:
    po = refreshed / "locale" / language / "LC_MESSAGES" / "django.po"
    stats = subprocess.run(
        ["msgfmt", "--statistics", "--check-format", "-o", os.devnull, str(po)],
        check=True, capture_output=True, text=True,
    ).stderr  # fmt: skip
    assert re.search(r"\d+ translated message", stats), stats
    missing = _entries(po.read_text(encoding="utf-8"))
    assert "fuzzy" not in stats and "untranslated" not in stats, (
        f"{language}: {stats.strip()}\n" + "\n".join(missing[:40])
    )


def _entries(text: str) -> list[str]:
    """The msgids that are fuzzy or have an empty translation, for the failure message."""
    found = []
    for block in text.split("\n\n")[1:]:  # the first block is the header
        lines = block.strip().splitlines()
        msgid = next((line for line in lines if line.startswith("msgid ")), "")
        if "#, fuzzy" in block or (lines and lines[-1] == 'msgstr ""'):
            found.append(msgid)
    return found
