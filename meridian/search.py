"""The search across accounts, contacts, opportunities and leads: the querysets (the definition)
and their statements, built by the ORM once per shape and run prepared (issue 21).

Building the search's eight statements (a capped count and a page for each section, each with
the section's visibility policy and a semi-join per word) cost more CPU than PostgreSQL needs to
answer them: about half of a 50 ms search page went to Django resolving and compiling them. The
definition stays ``search_querysets``; ``crm.db.compiled.CompiledQuery`` calls it once per
process and shape with a stand-in user (``crm.visibility.stand_in_user``) and stand-ins for the
words, and each request binds its own: the user's values, each word's range of the word table
and the query text for the rank. The shape is what changes the SQL text: the section, the user's
shape (role, company, region), the number of words, and the page's offset (Django writes LIMIT
and OFFSET into the text). Row-level security applies as to any statement. All of a page's
statements go to PostgreSQL in one round trip (``read_ahead``), the pages asked for guessed from
the request (a page past the end is clamped by the paginator and read again).

The rows and counts are the querysets': ``tests/crm/test_search_compiled.py`` compares them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from django.core.paginator import Page
from django.db.models import QuerySet

from accounts.models import Account, Contact
from crm.db.compiled import CompiledQuery, cached_statement, read_ahead
from crm.models import SearchKind, User
from crm.pagination import COUNT_CAP, CappedPaginator, CountedPaginator
from crm.roles import Role
from crm.search import prefix_bounds, query_words, ranked_by, tsquery_text
from crm.visibility import USER_VALUES, UserShape, stand_in_user, user_shape, user_values
from leads.models import Lead
from leads.services import LeadAction, may_lead
from opportunities.models import Opportunity

SECTIONS = ("accounts", "contacts", "opportunities", "leads")
PAGE_SIZE = 10
# Each shape is a statement prepared on every connection that runs it; past this many in one
# process (deep pages of many shapes), the ORM path.
MAX_SHAPES = 512

_statements: dict[Hashable, CompiledQuery] = {}
_lock = threading.Lock()


def search_querysets(*, user: User, term: str) -> dict[str, QuerySet[Any]]:
    """Accounts, contacts, opportunities and leads matching every word of ``term`` as a word
    prefix ("volv ab" finds "Volvera AB"), best match first, that ``user`` may see.

    Full-text search (``crm.search``): the 'simple' tsvector of each record, candidates from the
    word table's prefix ranges, ranked by ``ts_rank``. Each queryset is one SQL statement with the
    visibility policy inside it; nothing is filtered in Python. Accounts also match by their
    normal form ("acme" finds "Acmé"), which the account's vector holds. Leads are searched for
    those who work leads (marketing, managers) and, for a sales rep, only the leads assigned to
    him (need-to-know: a colleague's leads are not his).
    """
    words = query_words(term)
    if not words:
        return {}
    return _querysets(user, prefix_bounds(words), tsquery_text(words))


def _querysets(user: User, bounds: list[tuple[str, str]], tsquery: str) -> dict[str, QuerySet[Any]]:
    org = user.organization_id

    def find(qs: QuerySet[Any], kind: SearchKind, name: str) -> QuerySet[Any]:
        found: QuerySet[Any] = ranked_by(
            qs, kind=kind, organization_id=org, bounds=bounds, tsquery=tsquery, then=(name,)
        )
        return found

    result = {
        "accounts": find(
            Account.objects.visible_to(user).select_related("home_company"),
            SearchKind.ACCOUNT,
            "name",
        ),
        "contacts": find(
            Contact.objects.visible_to(user).select_related("account"),
            SearchKind.CONTACT,
            "full_name",
        ),
        "opportunities": find(
            Opportunity.objects.visible_to(user).select_related(
                "account", "local_stage", "sales_company"
            ),
            SearchKind.OPPORTUNITY,
            "name",
        ),
    }
    leads = _leads_searched(user)
    if leads is not None:
        found = Lead.objects.visible_to(user).select_related("sales_company")
        if leads == "own":
            found = found.filter(owner_id=user.pk)
        result["leads"] = find(found, SearchKind.LEAD, "company_name")
    return result


def _leads_searched(user: User) -> str | None:
    """Whose leads the user's search finds: "all" he may see (those who work leads), "own"
    (a sales rep: the leads assigned to him), or None (no leads section)."""
    if may_lead(user, LeadAction.VIEW):
        return "all"
    return "own" if user.role == Role.SALES_REP else None


def _word_names(count: int) -> tuple[str, ...]:
    return (*(f"low{i}" for i in range(count)), *(f"high{i}" for i in range(count)), "tsquery")


def _statement(
    key: str, shape: UserShape, words: int, offset: int | None, size: int
) -> CompiledQuery | None:
    """The section's page at ``offset`` of ``size`` rows; ``offset=None``: its count capped at
    ``size`` (``CappedPaginator.count``'s statement)."""
    return cached_statement(
        _statements,
        _lock,
        (key, shape, words, offset, size),
        MAX_SHAPES,
        lambda: CompiledQuery(
            _builder(key, shape, words, offset, size),
            *USER_VALUES,
            *_word_names(words),
            scope="organization_id",
            count=offset is None,
        ),
    )


def _builder(
    key: str, shape: UserShape, words: int, offset: int | None, size: int
) -> Callable[..., QuerySet[Any]]:
    def build(**values: Any) -> QuerySet[Any]:
        user = stand_in_user(shape, **{name: values[name] for name in USER_VALUES})
        # The stand-ins are numbers; as text they are bound where the words go.
        bounds = [(str(values[f"low{i}"]), str(values[f"high{i}"])) for i in range(words)]
        qs = _querysets(user, bounds, str(values["tsquery"]))[key]
        if offset is None:
            return qs.order_by()[: size + 1].values_list("pk")
        return qs[offset : offset + size]

    return build


class _SectionRows:
    """A section's rows for a paginator: ``count()`` is the capped count, a slice one page of
    model instances (``select_related`` filled in), each one compiled statement."""

    def __init__(
        self, key: str, user: User, term: str, shape: UserShape, values: dict[str, Any]
    ) -> None:
        self._key, self._user, self._term = key, user, term
        self._shape, self._values = shape, values
        self._words = (len(values) - len(USER_VALUES) - 1) // 2

    def _orm(self) -> QuerySet[Any]:
        # Past MAX_SHAPES only: the queryset (built on demand, it is what costs).
        return search_querysets(user=self._user, term=self._term)[self._key]

    def statement(self, offset: int | None, size: int) -> CompiledQuery | None:
        return _statement(self._key, self._shape, self._words, offset, size)

    def count(self, cap: int = COUNT_CAP) -> int:
        statement = self.statement(None, cap)
        if statement is None:
            return self._orm().order_by()[: cap + 1].count()
        ((n,),) = statement.rows(**self._values)
        return int(n)

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, page: slice) -> list[Any]:
        if not isinstance(page, slice) or page.step is not None:
            raise TypeError("_SectionRows takes a page's slice.")
        start, stop = page.start or 0, page.stop
        # Paginator cuts the last page at the count: the same rows as a full page's statement.
        statement = self.statement(start, PAGE_SIZE)
        if statement is None or stop is None or not 0 <= stop - start <= PAGE_SIZE:
            return list(self._orm()[start:stop])
        return statement.objects(**self._values)[: stop - start]


def _page_number(value: Any) -> int:
    """The page a request asks for, as the paginator's ``get_page`` will read it (a guess for
    the read-ahead; the paginator decides)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return 1
    return max(number, 1)


def search_pages(*, user: User, term: str, numbers: Mapping[str, Any]) -> dict[str, Page[Any]]:
    """Each section's page (``numbers``: the page asked for per section, as the request gives
    it), in the order of ``SECTIONS``; no section for a term without words."""
    words = query_words(term)
    shape = user_shape(user)
    if not words:
        return {}
    if shape is None:
        return {
            key: CappedPaginator(qs, PAGE_SIZE).get_page(numbers.get(key))
            for key, qs in search_querysets(user=user, term=term).items()
        }
    bounds = prefix_bounds(words)
    values = user_values(user)
    for i, (low, high) in enumerate(bounds):
        values[f"low{i}"], values[f"high{i}"] = low, high
    values["tsquery"] = tsquery_text(words)
    keys = SECTIONS if _leads_searched(user) is not None else SECTIONS[:3]
    sections = {key: _SectionRows(key, user, term, shape, values) for key in keys}
    runs: list[tuple[CompiledQuery, dict[str, Any]]] = []
    for key, rows in sections.items():
        offset = (_page_number(numbers.get(key)) - 1) * PAGE_SIZE
        cap = CountedPaginator.cap
        for statement in (rows.statement(None, cap), rows.statement(offset, PAGE_SIZE)):
            if statement is not None:
                runs.append((statement, values))
    with read_ahead(runs):
        return {
            key: CountedPaginator(rows, PAGE_SIZE).get_page(numbers.get(key))
            for key, rows in sections.items()
        }
