"""Normal forms of account names, registration numbers and web domains.

They are stored on the account (``normalized_name``, ``registration_key``, ``domain``) so that
duplicate matching is a handful of indexed equality and prefix lookups, never a scan: "Acme AB",
"ACME Aktiebolag" and "Acmé A/B" all become ``acme``.
"""

from __future__ import annotations

import re
import unicodedata

# Legal forms folded away. Written in their normal form: casefolded, dots and slashes removed
# ("S.A." -> "sa", "A/S" -> "as", "Co." -> "co").
LEGAL_FORMS = frozenset(
    """
    ab aktiebolag aktiebolaget publ as asa aps oy oyj hf ehf
    gmbh mbh ag kg ohg ug ev se
    ltd limited plc llc llp lp inc incorporated corp corporation co company pty pte
    sa sas sarl sl srl spa sca nv bv cv kk oü ou
    """.split()
)
# Connectors that only mean something next to a legal form: "GmbH & Co. KG", "Smith and Co".
_CONNECTORS = frozenset({"and", "und", "og", "och"})
# Only Nordic forms are written in front of the name ("AB Volvo"); "Co-op" must stay a name.
_LEADING_FORMS = frozenset({"ab", "aktiebolaget", "oy", "oyj", "as", "asa"})

# Letters that Unicode does not decompose into a base letter plus a combining mark.
_LETTERS = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "đ": "d", "ð": "d", "ł": "l", "þ": "th"})
# Dots and slashes join the letters of an abbreviation ("S.A.", "A/S"); other punctuation splits.
_SPLIT = re.compile(r"[^\w./]+")
_JOINERS = re.compile(r"[./]")


def _fold(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value.casefold().translate(_LETTERS))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).translate(_LETTERS)


def _tokens(value: str) -> list[str]:
    tokens: list[str] = []
    for raw in _SPLIT.split(value.replace("&", " and ").replace("_", " ")):
        joined = _JOINERS.sub("", raw)
        if not joined:
            continue
        if joined in LEGAL_FORMS:
            tokens.append(joined)
        else:
            # "acme.com" or "Volvo/Renault": not an abbreviation, so the dot or slash splits.
            tokens.extend(t for t in _JOINERS.split(raw) if t)
    return tokens


def normalize_name(name: str) -> str:
    """Case, diacritics, punctuation and legal forms folded away; words single-spaced.

    Legal forms are removed from the end (repeatedly: "Acme Co., Ltd.") and from the start
    ("Aktiebolaget Volvo", "AB Volvo"), not from the middle, where they may be part of the name.
    A name made only of legal forms ("AB", "Company Ltd") keeps its words rather than become empty.
    """
    tokens = _tokens(_fold(name or ""))
    kept = list(tokens)
    while kept and (kept[-1] in LEGAL_FORMS or kept[-1] in _CONNECTORS):
        kept.pop()
    while kept and kept[0] in _LEADING_FORMS:
        kept.pop(0)
    return " ".join(kept or tokens)[:200]


def normalize_registration(value: str) -> str:
    """Registration / VAT number without spaces, dashes, dots or case: "SE 5560-1234 5601" and
    "se556012345601" are the same key."""
    return "".join(ch for ch in _fold(value or "") if ch.isalnum()).upper()[:40]


def normalize_domain(value: str) -> str:
    """A bare host name: "https://www.Acme.se/about" -> "acme.se". An e-mail address gives its
    domain, so "sales@acme.se" matches too."""
    host = (value or "").strip().lower()
    if "://" in host:
        host = host.split("://", 1)[1]
    host = re.split(r"[/?#]", host, maxsplit=1)[0]
    host = host.rsplit("@", 1)[-1]  # user info or an e-mail address
    host = host.split(":", 1)[0].strip(".")  # port, trailing root dot
    if host.startswith("www."):
        host = host[4:]
    return host[:200]
