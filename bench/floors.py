"""The raw SQL floor of each page: the hand-written statements that produce the same result,
run through psycopg as the application role with ``app.org_id`` set (row-level security on,
exactly as the app runs). Timed in the same run as the load, so page/floor ratios hold on a
noisy machine."""

from __future__ import annotations

import statistics
import time
from typing import Any

import psycopg

LIST_COLUMNS = """
    o.id, o.name, o.account_id, a.name, o.sales_company_id, o.owner_id, o.local_stage_id,
    ls.name, o.global_stage_id, gs.name, o.amount, o.currency, o.expected_close_date,
    o.next_step, o.lost_reason, o.campaign_id, o.source_lead_id, o.created_at, o.closed_at,
    o.version
"""
LIST_FROM = """
    FROM opportunities_opportunity o
    JOIN accounts_account a ON a.id = o.account_id
    JOIN pipeline_localstage ls ON ls.id = o.local_stage_id
    JOIN pipeline_globalstage gs ON gs.id = o.global_stage_id
"""
# Groups whose team gives visibility: by membership (rep) or by company (managers).
TEAM_GROUPS_USER = """SELECT account_id FROM accounts_accountteammember
    WHERE organization_id = %(org)s AND user_id = %(user)s"""
TEAM_GROUPS_COMPANIES = """SELECT account_id FROM accounts_accountteammember
    WHERE organization_id = %(org)s AND sales_company_id = ANY(%(companies)s)"""


def visibility_sql(role: str) -> str:
    """The visibility predicate on ``o`` for a role, as a UNION of id subqueries."""
    if role in ("global_director", "global_admin"):
        return ""
    if role == "sales_rep":
        return f"""AND o.id IN (
            SELECT id FROM opportunities_opportunity
             WHERE organization_id = %(org)s AND owner_id = %(user)s
            UNION SELECT opportunity_id FROM opportunities_opportunitysplit
             WHERE organization_id = %(org)s AND user_id = %(user)s
            UNION SELECT o2.id FROM opportunities_opportunity o2
             JOIN accounts_account a2 ON a2.id = o2.account_id
             WHERE o2.organization_id = %(org)s AND a2.group_id IN ({TEAM_GROUPS_USER}))"""
    # The opportunity's own copy of its account's group (as the app's policy uses).
    return f"""AND (o.sales_company_id = ANY(%(companies)s)
            OR o.account_group_id IN ({TEAM_GROUPS_COMPANIES}))"""


def opportunity_page(role: str, *, filters: str = "", keyset: bool = False) -> list[str]:
    after = "AND (o.created_at, o.id) < (%(after_at)s, %(after_id)s)" if keyset else ""
    return [
        f"""SELECT {LIST_COLUMNS} {LIST_FROM}
        WHERE o.organization_id = %(org)s {visibility_sql(role)} {filters} {after}
        ORDER BY o.created_at DESC, o.id DESC LIMIT %(limit)s"""
    ]


RATES_TODAY = """SELECT DISTINCT ON (currency) currency, rate FROM crm_exchangerate
    WHERE organization_id = %(org)s AND valid_from <= current_date
    ORDER BY currency, valid_from DESC"""


def dashboard(scope: str) -> list[str]:
    """What the dashboard page reads: its stored figures (reporting.figures), one row."""
    return [
        """SELECT data, computed_at, stale FROM reporting_dashboardfigures
        WHERE organization_id = %(org)s AND scope_key = %(scope_key)s
        ORDER BY as_of DESC LIMIT 1"""
    ]


def dashboard_live(scope: str) -> list[str]:
    """The aggregates behind the figures, computed live (what a refresh costs): the dashboard's
    numbers: open pipeline by stage and company at today's rates, closed
    business this quarter and year by company at closing-day rates, forecast by quarter."""
    where = "o.organization_id = %(org)s"
    if scope == "company":
        where += " AND o.sales_company_id = ANY(%(companies)s)"
    closing_rate = """COALESCE((SELECT r.rate FROM crm_exchangerate r
        WHERE r.organization_id = %(org)s AND r.currency = o.currency
          AND r.valid_from <= o.closed_at::date ORDER BY r.valid_from DESC LIMIT 1),
        CASE WHEN o.currency = 'EUR' THEN 1 END)"""
    return [
        f"""WITH rates AS ({RATES_TODAY})
        SELECT o.global_stage_id, o.sales_company_id, count(*),
               sum(o.amount * COALESCE(r.rate, 1))
        FROM opportunities_opportunity o
        JOIN pipeline_globalstage gs ON gs.id = o.global_stage_id
        LEFT JOIN rates r ON r.currency = o.currency
        WHERE {where} AND NOT gs.is_won AND NOT gs.is_lost
        GROUP BY 1, 2""",
        f"""SELECT o.sales_company_id, gs.is_won,
               count(*) FILTER (WHERE o.closed_at >= date_trunc('quarter', now())),
               sum(o.amount * {closing_rate})
                 FILTER (WHERE o.closed_at >= date_trunc('quarter', now())),
               count(*), sum(o.amount * {closing_rate})
        FROM opportunities_opportunity o
        JOIN pipeline_globalstage gs ON gs.id = o.global_stage_id
        WHERE {where} AND (gs.is_won OR gs.is_lost)
          AND o.closed_at >= date_trunc('year', now())
        GROUP BY 1, 2""",
        f"""WITH rates AS ({RATES_TODAY})
        SELECT date_trunc('quarter', o.expected_close_date), gs.forecast_category,
               sum(o.amount * COALESCE(r.rate, 1) * gs.probability / 100)
        FROM opportunities_opportunity o
        JOIN pipeline_globalstage gs ON gs.id = o.global_stage_id
        LEFT JOIN rates r ON r.currency = o.currency
        WHERE {where} AND NOT gs.is_won AND NOT gs.is_lost
          AND o.expected_close_date >= date_trunc('quarter', now())
          AND o.expected_close_date < date_trunc('quarter', now()) + interval '6 months'
        GROUP BY 1, 2""",
    ]


def account_360() -> list[str]:
    return [
        """SELECT a.*, c.name FROM accounts_account a JOIN crm_salescompany c
             ON c.id = a.home_company_id
           WHERE a.organization_id = %(org)s AND a.group_id = %(group)s
           ORDER BY a.country, a.name, a.id""",
        f"""WITH rates AS ({RATES_TODAY})
        SELECT a.country, count(*) FILTER (WHERE NOT gs.is_won),
               sum(o.amount * COALESCE(r.rate, 1)) FILTER (WHERE NOT gs.is_won),
               count(*) FILTER (WHERE gs.is_won),
               sum(o.amount * COALESCE(r.rate, 1)) FILTER (WHERE gs.is_won)
        FROM opportunities_opportunity o
        JOIN accounts_account a ON a.id = o.account_id
        JOIN pipeline_globalstage gs ON gs.id = o.global_stage_id
        LEFT JOIN rates r ON r.currency = o.currency
        WHERE o.organization_id = %(org)s AND a.group_id = %(group)s
          AND ((NOT gs.is_won AND NOT gs.is_lost)
               OR (gs.is_won AND o.closed_at >= date_trunc('year', now())))
        GROUP BY a.country""",
        """SELECT act.*, a.name FROM accounts_activity act
           JOIN accounts_account a ON a.id = act.account_id
           WHERE act.organization_id = %(org)s AND a.group_id = %(group)s
           ORDER BY act.happened_at DESC, act.id DESC LIMIT 20""",
        """SELECT t.*, u.full_name FROM accounts_accountteammember t
           JOIN crm_user u ON u.id = t.user_id
           WHERE t.organization_id = %(org)s AND t.account_id = %(group)s""",
    ]


def time_floor(
    conn: psycopg.Connection[Any], statements: list[str], params: dict[str, Any], runs: int = 15
) -> dict[str, float]:
    """Median and best of ``runs`` executions of all statements in a row (rows fetched)."""
    conn.execute("SELECT set_config('app.org_id', %s, false)", [str(params["org"])])
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        for statement in statements:
            conn.execute(statement, params).fetchall()
        timings.append((time.perf_counter() - started) * 1000)
    timings = timings[2:] if len(timings) > 4 else timings
    return {"p50": round(statistics.median(timings), 2), "min": round(min(timings), 2)}


def explain(conn: psycopg.Connection[Any], statement: str, params: dict[str, Any]) -> str:
    conn.execute("SELECT set_config('app.org_id', %s, false)", [str(params["org"])])
    rows = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", params).fetchall()
    return "\n".join(r[0] for r in rows)


def _search_section(table: str, kind: int, columns: str, visibility: str = "") -> str:
    # crm.search.ranked for one word: the word table's prefix range, ranked, first page.
    return f"""SELECT {columns}, ts_rank(t.search, to_tsquery('simple', %(tsquery)s)) AS rank
        FROM {table} t
        WHERE t.organization_id = %(org)s {visibility}
          AND t.id IN (SELECT object_id FROM crm_searchword
                        WHERE organization_id = %(org)s AND kind = {kind}
                          AND word ~>=~ %(word)s AND word ~<~ %(after)s)
        ORDER BY rank DESC, t.id LIMIT 10"""


def search(role: str) -> list[str]:
    """The search page's accounts and opportunities sections for a one-word query."""
    accounts = "" if role == "global_director" else "AND t.home_company_id = ANY(%(companies)s)"
    return [
        _search_section("accounts_account", 1, "t.id, t.name", accounts),
        _search_section(
            "opportunities_opportunity", 3, "t.id, t.name", visibility_sql(role).replace("o.", "t.")
        ),
    ]
