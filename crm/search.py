"""Full-text search over tenant records: word-prefix matching, ranked, under row-level security.

Each searchable model has a stored generated ``search`` column
(``to_tsvector('simple', …)``: no stemming, no language guess, the same for a Swedish and a
German name) and a trigger (``search_trigger_sql``) that copies its lexemes into
``crm.SearchWord``. A query of words ("volv ab") finds the records that have, for every word, a
lexeme starting with it (``to_tsquery('simple', 'volv:* & ab:*')``), ranked by ``ts_rank``.

The candidates come from the word table's btree range (``word ~>=~ 'volv' AND word ~<~
'volw'``), not from a GIN index on the tsvector: under row-level security PostgreSQL evaluates
no non-LEAKPROOF condition before the policy, ``@@`` is not leakproof (and marking it so needs a
superuser), so a GIN index is never used by the application role; the pattern operators are
leakproof. The word table decides the match; ``ts_rank`` orders the matches. No database
extension is needed (no pg_trgm, no unaccent): this runs on the embedded PostgreSQL.

The kernel names no model above it: apps call ``search_trigger_sql`` in a migration of their
own and ``ranked`` from their selectors, passing their ``SearchKind``.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db.models import F, Model, QuerySet

from crm.models import SearchKind, SearchWord

M = TypeVar("M", bound=Model)

CONFIG = "simple"
# Words shorter than this are dropped: "a" would make every record a candidate.
MIN_WORD = 2
# A query of more words is cut: each word is one more range of the word table.
MAX_WORDS = 5
_WORD = re.compile(r"[^\W_]+")

TRIGGER_FUNCTION = "meridian_search_words"

# One function for every searchable table; TG_ARGV[0] is the table's SearchKind. AFTER the
# row is written, so NEW.search holds the generated vector. An update that leaves the vector
# as it was (a stage move, an amount) costs one comparison and no write.
# Built from constants of this module only (no input reaches it).
CREATE_FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION {TRIGGER_FUNCTION}() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.search IS NOT DISTINCT FROM OLD.search
     AND NEW.organization_id = OLD.organization_id THEN
    RETURN NEW;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    DELETE FROM crm_searchword
     WHERE organization_id = OLD.organization_id AND kind = TG_ARGV[0]::smallint
       AND object_id = OLD.id;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO crm_searchword (organization_id, kind, word, object_id)
    SELECT NEW.organization_id, TG_ARGV[0]::smallint, w, NEW.id
      FROM unnest(tsvector_to_array(NEW.search)) AS w;
    RETURN NEW;
  END IF;
  RETURN OLD;
END
$$;
"""  # noqa: S608


def search_trigger_sql(table: str, kind: SearchKind) -> tuple[str, str]:
    """(forward, reverse) SQL for a migration: the trigger on ``table`` and the words of the
    rows already there."""
    trigger = f"{table}_search_words"
    # A migration's own table name and kind, never input.
    forward = f"""
{CREATE_FUNCTION_SQL}
DROP TRIGGER IF EXISTS {trigger} ON {table};
CREATE TRIGGER {trigger} AFTER INSERT OR UPDATE OR DELETE ON {table}
  FOR EACH ROW EXECUTE FUNCTION {TRIGGER_FUNCTION}('{int(kind)}');
DELETE FROM crm_searchword WHERE kind = {int(kind)};
INSERT INTO crm_searchword (organization_id, kind, word, object_id)
SELECT t.organization_id, {int(kind)}, w, t.id
  FROM {table} t, unnest(tsvector_to_array(t.search)) AS w;
"""  # noqa: S608
    reverse = f"DROP TRIGGER IF EXISTS {trigger} ON {table};"
    return forward, reverse


def query_words(text: str) -> list[str]:
    """The words of a typed query, as the 'simple' configuration folds them (lower case),
    without duplicates, at most ``MAX_WORDS`` of at least ``MIN_WORD`` characters."""
    words: list[str] = []
    for word in _WORD.findall(text.lower()):
        if len(word) >= MIN_WORD and word not in words:
            words.append(word)
    return words[:MAX_WORDS]


def _after_prefix(word: str) -> str:
    """The smallest string greater than every string starting with ``word`` (byte-wise, as the
    pattern operators compare; UTF-8 keeps code point order)."""
    last = ord(word[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:  # no surrogate can be encoded; the next code point can
        last = 0xE000
    return word[:-1] + chr(last)


def tsquery_text(words: list[str]) -> str:
    """``'volv':* & 'ab':*``: every word as a prefix (words hold letters and digits only)."""
    return " & ".join(f"'{w}':*" for w in words)


def ranked(
    qs: QuerySet[M],
    *,
    kind: SearchKind,
    organization_id: int,
    words: list[str],
    then: tuple[str, ...] = (),
) -> Any:
    """``qs`` (already narrowed by its visibility policy) to the records matching every word
    as a prefix, annotated with ``rank`` and ordered by it (best first; equal ranks by
    ``then``, then id).

    One SQL statement: each word is a semi-join on the word table's prefix range, which decides
    the match (its words are the vector's lexemes, so this is ``search @@ 'w1':* & 'w2':*``
    exactly); the rank is computed on those rows only."""
    if not words:
        return qs.none()
    return ranked_by(
        qs,
        kind=kind,
        organization_id=organization_id,
        bounds=prefix_bounds(words),
        tsquery=tsquery_text(words),
        then=then,
    )


def prefix_bounds(words: list[str]) -> list[tuple[str, str]]:
    """Each word's range of the word table: (the word, ``_after_prefix(word)``)."""
    return [(word, _after_prefix(word)) for word in words]


def ranked_by(
    qs: QuerySet[M],
    *,
    kind: SearchKind,
    organization_id: int,
    bounds: list[tuple[str, str]],
    tsquery: str,
    then: tuple[str, ...] = (),
) -> Any:
    """``ranked`` with the words' ranges and query text given (``prefix_bounds``,
    ``tsquery_text``): a compiled statement builds it with stand-ins for them, bound as
    parameters (``meridian.search``)."""
    scoped = SearchWord.objects.for_org(organization_id).filter(kind=kind)
    for low, high in bounds:
        qs = qs.filter(
            pk__in=scoped.filter(word__pattern_gte=low, word__pattern_lt=high).values("object_id")
        )
    query = SearchQuery(tsquery, search_type="raw", config=CONFIG)
    return qs.annotate(rank=SearchRank(F("search"), query)).order_by("-rank", *then, "pk")
