"""Benchmark data: one large, realistic organization (plus a small second one) loaded with COPY.

Rows are produced in Python (deterministic, seeded) and streamed to PostgreSQL with
``cursor.copy()`` in text format, never through the ORM: a million opportunities take seconds
that way instead of hours. Ids are assigned here (the database is fresh), so relations are known
without reading anything back; the sequences are moved past them at the end.

The generator connects as the *owner* of the tables. It is a superuser here, which bypasses
row-level security; ``app.org_id`` is still set to each organization before its rows are
copied, so a non-superuser owner (subject to FORCE ROW LEVEL SECURITY) loads the same data.
Foreign-key triggers are switched off for the load when the role may do so
(``session_replication_role = replica``, superuser only): the rows are consistent by
construction, and checking 8 foreign keys per opportunity row would triple the load time.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import sys
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from accounts.normalize import normalize_domain, normalize_name, normalize_registration

PASSWORD = "bench-pass-1234"  # every generated user; the load driver signs in with it


@dataclass(frozen=True)
class Scale:
    name: str
    opportunities: int
    accounts: int
    users: int
    activities: int
    big_groups: int  # groups of BIG_GROUP_SIZE subsidiaries
    leads: int
    campaigns: int


BIG_GROUP_SIZE = 200
SCALES = {
    "1m": Scale("1m", 1_000_000, 200_000, 500, 2_000_000, 5, 50_000, 200),
    "100k": Scale("100k", 100_000, 20_000, 200, 200_000, 2, 5_000, 50),
    "10k": Scale("10k", 10_000, 2_000, 60, 20_000, 1, 500, 20),
}
# The second organization only has to exist (isolation is part of every query plan).
SECOND_ORG = Scale("tellus", 5_000, 1_000, 12, 5_000, 0, 200, 5)

# Region -> sales companies: (code, country, currency, language, time zone, country name).
COMPANIES: dict[str, list[tuple[str, str, str, str, str, str]]] = {
    "Nordics": [
        ("SE", "SE", "SEK", "sv", "Europe/Stockholm", "Sverige"),
        ("DK", "DK", "DKK", "da", "Europe/Copenhagen", "Danmark"),
        ("NO", "NO", "NOK", "nb", "Europe/Oslo", "Norge"),
        ("FI", "FI", "EUR", "fi", "Europe/Helsinki", "Suomi"),
    ],
    "DACH": [
        ("DE", "DE", "EUR", "de", "Europe/Berlin", "Deutschland"),
        ("AT", "AT", "EUR", "de", "Europe/Vienna", "Österreich"),
        ("CH", "CH", "CHF", "de", "Europe/Zurich", "Schweiz"),
    ],
    "Western Europe": [
        ("UK", "GB", "GBP", "en", "Europe/London", "UK"),
        ("FR", "FR", "EUR", "en", "Europe/Paris", "France"),
        ("NL", "NL", "EUR", "en", "Europe/Amsterdam", "Nederland"),
    ],
    "Americas": [
        ("US", "US", "USD", "en", "America/New_York", "USA"),
        ("CA", "CA", "CAD", "en", "America/Toronto", "Canada"),
        ("BR", "BR", "BRL", "en", "America/Sao_Paulo", "Brasil"),
    ],
    "APAC": [
        ("CN", "CN", "CNY", "zh-hans", "Asia/Shanghai", "China"),
        ("JP", "JP", "JPY", "en", "Asia/Tokyo", "Japan"),
        ("AU", "AU", "AUD", "en", "Australia/Sydney", "Australia"),
    ],
}
# EUR per unit, roughly; monthly rates drift around these.
BASE_RATES = {
    "SEK": 0.088,
    "DKK": 0.134,
    "NOK": 0.086,
    "CHF": 1.04,
    "GBP": 1.17,
    "USD": 0.92,
    "CAD": 0.68,
    "BRL": 0.17,
    "CNY": 0.127,
    "JPY": 0.0061,
    "AUD": 0.60,
}
LEGAL_FORM = {
    "SE": "AB",
    "DK": "A/S",
    "NO": "AS",
    "FI": "Oy",
    "DE": "GmbH",
    "AT": "GmbH",
    "CH": "AG",
    "GB": "Ltd",
    "FR": "SAS",
    "NL": "B.V.",
    "US": "Inc.",
    "CA": "Inc.",
    "BR": "Ltda",
    "CN": "Co., Ltd.",
    "JP": "K.K.",
    "AU": "Pty Ltd",
}
TLD = {"GB": "co.uk", "US": "com", "CN": "com.cn", "JP": "co.jp", "AU": "com.au", "BR": "com.br"}
# (name, order, probability, forecast category, won, lost): as pipeline.services defaults.
GLOBAL_STAGES = [
    ("Qualify", 10, 10, "pipeline", False, False),
    ("Develop", 20, 25, "pipeline", False, False),
    ("Propose", 30, 50, "best_case", False, False),
    ("Negotiate", 40, 75, "commit", False, False),
    ("Won", 50, 100, "closed", True, False),
    ("Lost", 60, 0, "closed", False, True),
]
SYLLABLES = (
    "nor vik sol ber gen tal mar kan lun dal ost ven ris tor alm hav sk ar fjell ro sen "
    "kon tek pro mat ind str val lin ka ter vo ne da mi ra le an el us is or ex tri qu"
).split()
INDUSTRY_WORDS = (
    "Steel Energy Foods Pharma Logistics Paper Mining Chemicals Textiles Marine Robotics "
    "Packaging Water Pumps Motors Medical Timber Glass Cement Agri"
).split()
PRODUCT_FAMILIES = ["Pumps", "Valves", "Drives", "Sensors", "Service", "Software"]
SUBJECTS = ["Intro call", "Site visit", "Quote follow-up", "Technical review", "QBR", "Demo"]
ACTIVITY_KINDS = ["call", "meeting", "email", "event", "task"]


def log(message: str) -> None:
    print(f"bench-data: {message}", file=sys.stderr, flush=True)


# --- COPY plumbing -----------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    return str(value)


def _ts(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S+00")


class Loader:
    """Streams rows into tables with COPY and hands out ids (the database starts empty)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.next_ids: dict[str, int] = {}
        self.counts: dict[str, int] = {}

    def ids(self, table: str, n: int) -> range:
        start = self.next_ids.get(table, 1)
        self.next_ids[table] = start + n
        return range(start, start + n)

    def copy(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        started = time.monotonic()
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        n = 0
        buffer: list[str] = []
        with self.conn.cursor() as cur, cur.copy(statement) as copy:
            for row in rows:
                buffer.append("\t".join(map(_text, row)))
                n += 1
                if len(buffer) >= 20_000:
                    copy.write("\n".join(buffer) + "\n")
                    buffer.clear()
                    if n % 200_000 == 0:
                        log(f"  {table}: {n:,} rows ({time.monotonic() - started:.0f} s)")
            if buffer:
                copy.write("\n".join(buffer) + "\n")
        self.counts[table] = self.counts.get(table, 0) + n
        if n >= 50_000:
            log(f"  {table}: {n:,} rows in {time.monotonic() - started:.1f} s")
        return n


# --- The organization --------------------------------------------------------------------------


@dataclass
class Company:
    id: int
    code: str
    country: str
    currency: str
    region_id: int
    country_name: str
    local_stage_by_global: dict[int, int] = field(default_factory=dict)
    reps: list[int] = field(default_factory=list)
    manager: int = 0


@dataclass
class OrgData:
    id: int
    slug: str
    email_domain: str
    companies: list[Company] = field(default_factory=list)
    stages: dict[str, int] = field(default_factory=dict)  # global stage name -> id
    users: dict[str, int] = field(default_factory=dict)  # e-mail -> id
    products: list[tuple[int, str, float]] = field(default_factory=list)
    campaigns: list[int] = field(default_factory=list)
    big_groups: list[int] = field(default_factory=list)
    groups: list[tuple[int, list[int]]] = field(default_factory=list)  # top, member accounts


class OrgGenerator:
    def __init__(
        self,
        loader: Loader,
        scale: Scale,
        *,
        name: str,
        slug: str,
        email_domain: str,
        regions: dict[str, list[tuple[str, str, str, str, str, str]]],
        seed: int,
        password_hash: str,
        today: dt.date,
    ) -> None:
        self.db = loader
        self.scale = scale
        self.name = name
        self.rng = random.Random(seed)
        self.password_hash = password_hash
        self.today = today
        self.now = dt.datetime.combine(today, dt.time(12, 0))
        self.regions = regions
        (org_id,) = loader.ids("crm_organization", 1)
        self.org = OrgData(org_id, slug, email_domain)

    # Days back from today: history spans five years.
    def _moment(self, days_back_max: int, days_back_min: int = 0) -> dt.datetime:
        days = self.rng.uniform(days_back_min, days_back_max)
        return self.now - dt.timedelta(days=days)

    def run(self) -> OrgData:
        db, org = self.db, self.org
        db.conn.execute("SELECT set_config('app.org_id', %s, false)", [str(org.id)])
        db.copy(
            "crm_organization",
            [
                "id",
                "name",
                "slug",
                "corporate_currency",
                "fiscal_year_start_month",
                "rules_of_engagement",
                "created_at",
            ],
            [(org.id, self.name, org.slug, "EUR", 1, "global_team_owns", _ts(self.now))],
        )
        self._structure()
        self._rates()
        self._users()
        self._process()
        self._products_and_campaigns()
        accounts = self._accounts()
        self._teams_agreements_plans(accounts)
        self._contacts_and_leads(accounts)
        opps = self._opportunities(accounts)
        self._activities(accounts, opps)
        self._targets_and_snapshots()
        self._conflicts(opps)
        return org

    def _structure(self) -> None:
        db, org = self.db, self.org
        region_rows, company_rows, process_rows = [], [], []
        for region_name, companies in self.regions.items():
            (region_id,) = db.ids("crm_region", 1)
            region_rows.append((region_id, region_name, org.id))
            for code, country, currency, language, tz, country_name in companies:
                (company_id,) = db.ids("crm_salescompany", 1)
                company_rows.append(
                    (
                        company_id,
                        f"{self.name} {code}",
                        code,
                        country,
                        currency,
                        language,
                        tz,
                        org.id,
                        region_id,
                    )
                )
                org.companies.append(
                    Company(company_id, code, country, currency, region_id, country_name)
                )
        db.copy("crm_region", ["id", "name", "organization_id"], region_rows)
        db.copy(
            "crm_salescompany",
            [
                "id",
                "name",
                "code",
                "country",
                "currency",
                "language",
                "timezone",
                "organization_id",
                "region_id",
            ],
            company_rows,
        )
        del process_rows

    def _rates(self) -> None:
        currencies = sorted({c.currency for c in self.org.companies} - {"EUR"})
        rows = []
        first = dt.date(self.today.year - 6, 1, 1)
        for currency in currencies:
            base = BASE_RATES.get(currency, 1.0)
            for i in range(12 * 9):  # six years back, three ahead: every date has a rate
                day = dt.date(first.year + i // 12, i % 12 + 1, 1)
                drift = 1 + 0.04 * math.sin(i / 5)
                (rid,) = self.db.ids("crm_exchangerate", 1)
                rows.append((rid, currency, f"{base * drift:.8f}", day.isoformat(), self.org.id))
        self.db.copy(
            "crm_exchangerate", ["id", "currency", "rate", "valid_from", "organization_id"], rows
        )

    def _users(self) -> None:
        org, rng = self.org, self.rng
        rows: list[tuple[Any, ...]] = []
        region_ids = sorted({c.region_id for c in org.companies})

        def add(email: str, name: str, role: str, company: int | None, region: int | None) -> int:
            (uid,) = self.db.ids("crm_user", 1)
            email = f"{email}@{org.email_domain}"
            org.users[email] = uid
            rows.append(
                (
                    uid,
                    self.password_hash,
                    None,
                    email,
                    name,
                    role,
                    "",
                    "",
                    True,
                    role == "global_admin",
                    _ts(self.now),
                    org.id,
                    region,
                    company,
                )
            )
            return uid

        add("admin", "Ada Admin", "global_admin", None, None)
        add("director", "Dana Director", "global_director", None, None)
        add("director2", "Dag Director", "global_director", None, None)
        add("marketing", "Mia Marketing", "marketing", None, None)
        for i, region_id in enumerate(region_ids):
            add(
                f"regional{i + 1}", f"Regional Manager {i + 1}", "regional_manager", None, region_id
            )
        for c in org.companies:
            c.manager = add(
                f"manager.{c.code.lower()}", f"Manager {c.code}", "country_manager", c.id, None
            )
            add(f"marketing.{c.code.lower()}", f"Marketing {c.code}", "marketing", c.id, None)
        reps = max(self.scale.users - len(rows), len(org.companies))
        # Bigger markets get more sellers: weights by position in the region list.
        weights = [3 if c.code in {"DE", "US", "UK", "SE", "CN"} else 1 for c in org.companies]
        for i in range(reps):
            c = (
                org.companies[i]
                if i < len(org.companies)
                else rng.choices(org.companies, weights)[0]
            )
            uid = add(
                f"rep{i + 1}.{c.code.lower()}", f"Rep {i + 1} {c.code}", "sales_rep", c.id, None
            )
            c.reps.append(uid)
        self.db.copy(
            "crm_user",
            [
                "id",
                "password",
                "last_login",
                "email",
                "full_name",
                "role",
                "language",
                "timezone",
                "is_active",
                "is_staff",
                "date_joined",
                "organization_id",
                "region_id",
                "sales_company_id",
            ],
            rows,
        )

    def _process(self) -> None:
        db, org = self.db, self.org
        stage_rows = []
        for name, order, probability, category, won, lost in GLOBAL_STAGES:
            (sid,) = db.ids("pipeline_globalstage", 1)
            org.stages[name] = sid
            # As global_stages_ensure_default: the commit category suppresses marketing.
            suppresses = category == "commit"
            stage_rows.append(
                (sid, order, name, probability, category, won, lost, suppresses, org.id)
            )
        db.copy(
            "pipeline_globalstage",
            [
                "id",
                "order",
                "name",
                "probability",
                "forecast_category",
                "is_won",
                "is_lost",
                "suppresses_marketing",
                "organization_id",
            ],
            stage_rows,
        )
        process_rows, local_rows = [], []
        for c in org.companies:
            (pid,) = db.ids("pipeline_salesprocess", 1)
            process_rows.append((pid, f"Sales process {c.code}", org.id, c.id))
            for order, (name, *_rest) in enumerate(GLOBAL_STAGES, start=1):
                (lid,) = db.ids("pipeline_localstage", 1)
                gid = org.stages[name]
                c.local_stage_by_global[gid] = lid
                local_rows.append((lid, f"{name} ({c.code})", order * 10, gid, org.id, pid))
        db.copy(
            "pipeline_salesprocess",
            ["id", "name", "organization_id", "sales_company_id"],
            process_rows,
        )
        db.copy(
            "pipeline_localstage",
            ["id", "name", "order", "global_stage_id", "organization_id", "process_id"],
            local_rows,
        )

    def _products_and_campaigns(self) -> None:
        db, org, rng = self.db, self.org, self.rng
        rows = []
        for i in range(60):
            (pid,) = db.ids("opportunities_product", 1)
            family = PRODUCT_FAMILIES[i % len(PRODUCT_FAMILIES)]
            price = round(rng.uniform(500, 50_000), 2)
            org.products.append((pid, family, price))
            rows.append(
                (
                    pid,
                    f"P-{i + 1:04d}",
                    f"{family} model {i + 1}",
                    family,
                    price,
                    "EUR",
                    True,
                    org.id,
                )
            )
        db.copy(
            "opportunities_product",
            [
                "id",
                "sku",
                "name",
                "family",
                "list_price",
                "currency",
                "is_active",
                "organization_id",
            ],
            rows,
        )
        camp_rows, link_rows = [], []
        owner = org.users[f"marketing@{org.email_domain}"]
        for i in range(self.scale.campaigns):
            (cid,) = db.ids("leads_campaign", 1)
            org.campaigns.append(cid)
            start = self.today - dt.timedelta(days=rng.randint(-60, 4 * 365))
            kind = rng.choice(["event", "trade_show", "webinar", "email"])
            camp_rows.append(
                (
                    cid,
                    f"Campaign {i + 1} ({kind})",
                    kind,
                    start.isoformat(),
                    (start + dt.timedelta(days=rng.randint(0, 30))).isoformat(),
                    rng.randint(1, 200) * 1000,
                    "EUR",
                    org.id,
                    owner,
                )
            )
            for c in rng.sample(org.companies, min(len(org.companies), rng.randint(1, 3))):
                (lid,) = db.ids("leads_campaigncompany", 1)
                link_rows.append((lid, cid, org.id, c.id))
        db.copy(
            "leads_campaign",
            [
                "id",
                "name",
                "kind",
                "starts_on",
                "ends_on",
                "budget",
                "currency",
                "organization_id",
                "owner_id",
            ],
            camp_rows,
        )
        db.copy(
            "leads_campaigncompany",
            ["id", "campaign_id", "organization_id", "sales_company_id"],
            link_rows,
        )

    def _base_name(self) -> str:
        rng = self.rng
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
        return f"{word} {rng.choice(INDUSTRY_WORDS)}"

    def _accounts(self) -> AccountArrays:
        """Groups first (a few of BIG_GROUP_SIZE subsidiaries in every country, many small
        international ones), then standalone customers, 1% of them entered twice."""
        db, org, rng, scale = self.db, self.org, self.rng, self.scale
        arrays = AccountArrays()
        by_country = {c.country: c for c in org.companies}
        rows: list[tuple[Any, ...]] = []

        def add(
            name: str,
            company: Company,
            parent: int | None,
            group: int | None,
            domain: str,
            reg: str,
            aid: int | None = None,
        ) -> int:
            if aid is None:
                (aid,) = db.ids("accounts_account", 1)
            created = self._moment(6 * 365, 30)
            customer = rng.random() < 0.4
            rows.append(
                (
                    aid,
                    name,
                    normalize_name(name),
                    company.country,
                    reg,
                    normalize_registration(reg),
                    normalize_domain(domain),
                    rng.choice(INDUSTRY_WORDS),
                    rng.choice("AABCCCCC"),
                    "customer" if customer else "prospect",
                    _ts(created + dt.timedelta(days=30)) if customer else None,
                    _ts(created),
                    None,
                    group if group is not None else aid,
                    company.id,
                    org.id,
                    parent,
                )
            )
            arrays.company.append(org.companies.index(company))
            arrays.group.append(group if group is not None else aid)
            arrays.ids.append(aid)
            return aid

        def reg_number(country: str) -> str:
            return f"{country}{rng.randint(10**9, 10**10 - 1)}"

        def group(size: int) -> None:
            base = self._base_name()
            slug = base.lower().replace(" ", "")
            hq = rng.choice(org.companies)
            (top,) = db.ids("accounts_account", 1)
            add(
                f"{base} Holding {LEGAL_FORM[hq.country]}",
                hq,
                None,
                top,
                f"{slug}.com",
                reg_number(hq.country),
                aid=top,
            )
            members = [top]
            holdings: dict[str, int] = {}
            countries = list(by_country)
            for i in range(size):
                c = by_country[
                    countries[i % len(countries)] if size >= 20 else rng.choice(countries)
                ]
                parent = holdings.get(c.country, top)
                suffix = f" {i // len(countries) + 1}" if c.country in holdings else ""
                aid = add(
                    f"{base} {c.country_name}{suffix} {LEGAL_FORM[c.country]}",
                    c,
                    parent,
                    top,
                    f"{slug}.{TLD.get(c.country, c.country.lower())}",
                    reg_number(c.country),
                )
                holdings.setdefault(c.country, aid)
                members.append(aid)
            org.groups.append((top, members))
            if size >= BIG_GROUP_SIZE:
                org.big_groups.append(top)

        for _ in range(scale.big_groups):
            group(BIG_GROUP_SIZE)
        grouped_target = scale.accounts // 4
        while len(rows) < grouped_target:
            group(rng.choice([2, 3, 3, 4, 5, 6, 8, 10, 15, 25, 40]))
        while len(rows) < scale.accounts:
            base = self._base_name()
            c = rng.choice(org.companies)
            name = f"{base} {LEGAL_FORM[c.country]}"
            domain = f"{base.lower().replace(' ', '')}.{TLD.get(c.country, c.country.lower())}"
            add(name, c, None, None, domain, reg_number(c.country))
            if rng.random() < 0.01:
                # The same customer entered again by another seller: duplicate matching's work.
                add(f"{base.upper()}", c, None, None, "", "")
        db.copy(
            "accounts_account",
            [
                "id",
                "name",
                "normalized_name",
                "country",
                "registration_number",
                "registration_key",
                "domain",
                "industry",
                "segment",
                "lifecycle",
                "first_won_at",
                "created_at",
                "created_by_id",
                "group_id",
                "home_company_id",
                "organization_id",
                "parent_id",
            ],
            rows,
        )
        return arrays

    def _teams_agreements_plans(self, accounts: AccountArrays) -> None:
        db, org, rng = self.db, self.org, self.rng
        company_of = {aid: accounts.company[i] for i, aid in enumerate(accounts.ids)}
        team, agreements, tiers, covered, plans, actions = [], [], [], [], [], []
        for top, members in org.groups:
            if len(members) < 3 and rng.random() < 0.5:
                continue
            companies = sorted({company_of[a] for a in members})
            hq = org.companies[company_of[top]]
            gam = rng.choice(hq.reps)
            seen = {gam}
            (tid,) = db.ids("accounts_accountteammember", 1)
            team.append((tid, "global_account_manager", _ts(self.now), top, org.id, hq.id, gam))
            for ci in companies:
                c = org.companies[ci]
                kam = rng.choice(c.reps)
                if kam in seen:
                    continue
                seen.add(kam)
                (tid,) = db.ids("accounts_accountteammember", 1)
                team.append((tid, "key_account_manager", _ts(self.now), top, org.id, c.id, kam))
            big = top in org.big_groups
            if big or rng.random() < 0.3:
                (agid,) = db.ids("accounts_frameworkagreement", 1)
                start = self.today - dt.timedelta(days=rng.randint(30, 700))
                agreements.append(
                    (
                        agid,
                        f"Framework agreement {top}",
                        start.isoformat(),
                        (start + dt.timedelta(days=3 * 365)).isoformat(),
                        "DAP",
                        "30 days net",
                        "{}",
                        top,
                        org.id,
                    )
                )
                for threshold, pct in ((0, 2), (500_000, 5), (2_000_000, 8)):
                    (xid,) = db.ids("accounts_discounttier", 1)
                    tiers.append((xid, threshold, pct, org.id, agid))
                for ci in companies:
                    (xid,) = db.ids("accounts_agreementcompany", 1)
                    covered.append((xid, org.id, org.companies[ci].id, agid))
            if big or rng.random() < 0.2:
                (plid,) = db.ids("accounts_accountplan", 1)
                plans.append(
                    (
                        plid,
                        self.today.year,
                        "Grow share of wallet",
                        1_000_000,
                        "active",
                        top,
                        org.id,
                        gam,
                    )
                )
                for k in range(4):
                    (acid,) = db.ids("accounts_planaction", 1)
                    due = self.today + dt.timedelta(days=rng.randint(-60, 120))
                    actions.append(
                        (
                            acid,
                            f"Action {k + 1}",
                            due.isoformat(),
                            rng.choice(["open", "open", "done"]),
                            org.id,
                            gam,
                            plid,
                        )
                    )
        db.copy(
            "accounts_accountteammember",
            [
                "id",
                "role",
                "added_at",
                "account_id",
                "organization_id",
                "sales_company_id",
                "user_id",
            ],
            team,
        )
        db.copy(
            "accounts_frameworkagreement",
            [
                "id",
                "name",
                "valid_from",
                "valid_to",
                "incoterm",
                "payment_terms",
                "legal_notes",
                "account_id",
                "organization_id",
            ],
            agreements,
        )
        db.copy(
            "accounts_discounttier",
            ["id", "threshold", "discount_percent", "organization_id", "agreement_id"],
            tiers,
        )
        db.copy(
            "accounts_agreementcompany",
            ["id", "organization_id", "sales_company_id", "agreement_id"],
            covered,
        )
        db.copy(
            "accounts_accountplan",
            [
                "id",
                "year",
                "objectives",
                "revenue_target",
                "status",
                "account_id",
                "organization_id",
                "owner_id",
            ],
            plans,
        )
        db.copy(
            "accounts_planaction",
            ["id", "title", "due_date", "status", "organization_id", "owner_id", "plan_id"],
            actions,
        )

    def _contacts_and_leads(self, accounts: AccountArrays) -> None:
        db, org, rng = self.db, self.org, self.rng
        contact_ids: list[int] = []

        def contacts() -> Iterator[tuple[Any, ...]]:
            for aid in accounts.ids:
                for k in range(1 if rng.random() < 0.7 else 2):
                    (cid,) = db.ids("accounts_contact", 1)
                    if len(contact_ids) < 20_000:
                        contact_ids.append(cid)
                    yield (
                        cid,
                        f"Contact {aid}-{k}",
                        "Buyer",
                        f"c{cid}@customer.example",
                        "",
                        "",
                        rng.random() < 0.6,
                        _ts(self.now),
                        aid,
                        org.id,
                    )

        db.copy(
            "accounts_contact",
            [
                "id",
                "full_name",
                "title",
                "email",
                "phone",
                "language",
                "marketing_consent",
                "created_at",
                "account_id",
                "organization_id",
            ],
            contacts(),
        )

        def leads() -> Iterator[tuple[Any, ...]]:
            for i in range(self.scale.leads):
                (lid,) = db.ids("leads_lead", 1)
                c = rng.choice(org.companies)
                status = rng.choice(["new", "new", "working", "qualified", "disqualified"])
                # Never changed since entry: retention (privacy) measures from this.
                created = _ts(self._moment(700))
                yield (
                    lid,
                    "web form",
                    f"{self._base_name()} {LEGAL_FORM[c.country]}",
                    "",
                    "",
                    f"Lead person {i}",
                    "",
                    f"lead{lid}@prospect.example",
                    "",
                    c.country,
                    status,
                    "",
                    created,
                    created,
                    None,
                    rng.choice(org.campaigns) if rng.random() < 0.3 else None,
                    None,
                    None,
                    None,
                    org.id,
                    rng.choice(c.reps),
                    c.id,
                )

        db.copy(
            "leads_lead",
            [
                "id",
                "source",
                "company_name",
                "registration_number",
                "domain",
                "contact_name",
                "contact_title",
                "email",
                "phone",
                "country",
                "status",
                "disqualified_reason",
                "created_at",
                "changed_at",
                "converted_at",
                "campaign_id",
                "converted_account_id",
                "converted_contact_id",
                "converted_opportunity_id",
                "organization_id",
                "owner_id",
                "sales_company_id",
            ],
            leads(),
        )
        members = []
        for campaign in org.campaigns:
            for cid in rng.sample(contact_ids, min(50, len(contact_ids))):
                (mid,) = db.ids("leads_campaignmember", 1)
                members.append(
                    (mid, rng.random() < 0.5, _ts(self.now), campaign, cid, org.id, None)
                )
        db.copy(
            "leads_campaignmember",
            [
                "id",
                "attended",
                "added_at",
                "campaign_id",
                "contact_id",
                "organization_id",
                "lead_id",
            ],
            members,
        )

    def _opportunities(self, accounts: AccountArrays) -> OppArrays:
        """Five years of deals: the old ones closed (won or lost), the recent ones open in
        every stage; 15% booked by another company than the account's, with a revenue split
        to a seller of the account's home company."""
        db, org, rng = self.db, self.org, self.rng
        n = self.scale.opportunities
        opps = OppArrays()
        open_stages = [org.stages[s] for s in ("Qualify", "Develop", "Propose", "Negotiate")]
        won, lost = org.stages["Won"], org.stages["Lost"]
        splits: list[tuple[Any, ...]] = []
        lines: list[tuple[Any, ...]] = []
        n_accounts = len(accounts.ids)
        start_id = db.next_ids.get("opportunities_opportunity", 1)

        def rows() -> Iterator[tuple[Any, ...]]:
            for oid in db.ids("opportunities_opportunity", n):
                ai = rng.randrange(n_accounts)
                home = org.companies[accounts.company[ai]]
                international = rng.random() < 0.15
                company = rng.choice(org.companies) if international else home
                owner = rng.choice(company.reps)
                created = self._moment(5 * 365)
                close = (created + dt.timedelta(days=rng.randint(20, 200))).date()
                closed_at = None
                if close < self.today - dt.timedelta(days=20) or rng.random() < 0.05:
                    stage = won if rng.random() < 0.35 else lost
                    closed_at = min(
                        dt.datetime.combine(close, dt.time(10))
                        + dt.timedelta(hours=rng.randint(-200, 200)),
                        self.now,
                    )
                    closed_at = max(closed_at, created)
                else:
                    stage = rng.choice(open_stages)
                amount = (
                    None
                    if rng.random() < 0.05
                    else round(
                        rng.lognormvariate(10, 1.1) / BASE_RATES.get(company.currency, 1.0) * 0.1, 2
                    )
                )
                opps.account.append(accounts.ids[ai])
                opps.company.append(org.companies.index(company))
                opps.owner.append(owner)
                opps.open.append(closed_at is None)
                yield (
                    oid,
                    f"Deal {oid} {rng.choice(PRODUCT_FAMILIES)}",
                    amount,
                    company.currency,
                    close.isoformat(),
                    "Call back" if closed_at is None and rng.random() < 0.7 else "",
                    "Price" if stage == lost else "",
                    _ts(created),
                    _ts(closed_at) if closed_at else None,
                    1,
                    accounts.ids[ai],
                    rng.choice(org.campaigns) if org.campaigns and rng.random() < 0.05 else None,
                    stage,
                    company.local_stage_by_global[stage],
                    org.id,
                    owner,
                    company.id,
                    None,
                    # The account's group, which the database keeps on every opportunity
                    # (triggers are off during the load).
                    accounts.group[ai],
                )
                if company is not home and home.reps:
                    partner = rng.choice(home.reps)
                    for uid, c, pct in ((owner, company, 70), (partner, home, 30)):
                        (sid,) = db.ids("opportunities_opportunitysplit", 1)
                        splits.append((sid, "revenue", pct, oid, org.id, c.id, uid))
                if rng.random() < 0.1:
                    for product_id, _family, price in rng.sample(org.products, rng.randint(1, 3)):
                        (lid,) = db.ids("opportunities_opportunityline", 1)
                        lines.append(
                            (
                                lid,
                                rng.randint(1, 20),
                                price,
                                rng.choice([0, 0, 5, 10]),
                                oid,
                                org.id,
                                product_id,
                            )
                        )
                opps.created.append((self.now - created).total_seconds())
                opps.end.append((self.now - (closed_at or self.now)).total_seconds())
                opps.stage.append(stage)

        db.copy(
            "opportunities_opportunity",
            [
                "id",
                "name",
                "amount",
                "currency",
                "expected_close_date",
                "next_step",
                "lost_reason",
                "created_at",
                "closed_at",
                "version",
                "account_id",
                "campaign_id",
                "global_stage_id",
                "local_stage_id",
                "organization_id",
                "owner_id",
                "sales_company_id",
                "source_lead_id",
                "account_group_id",
            ],
            rows(),
        )
        opps.first_id = start_id
        db.copy(
            "opportunities_stagechange",
            [
                "id",
                "changed_at",
                "changed_by_id",
                "from_global_stage_id",
                "from_local_stage_id",
                "opportunity_id",
                "organization_id",
                "to_global_stage_id",
                "to_local_stage_id",
            ],
            self._stage_changes(opps),
        )
        db.copy(
            "opportunities_opportunitysplit",
            [
                "id",
                "kind",
                "percent",
                "opportunity_id",
                "organization_id",
                "sales_company_id",
                "user_id",
            ],
            splits,
        )
        db.copy(
            "opportunities_opportunityline",
            [
                "id",
                "quantity",
                "unit_price",
                "discount_percent",
                "opportunity_id",
                "organization_id",
                "product_id",
            ],
            lines,
        )
        opps.first_id = start_id
        return opps

    def _stage_changes(self, opps: OppArrays) -> Iterator[tuple[Any, ...]]:
        """Stage history: created in the first stage, sometimes through a middle one, to the
        current stage; streamed from the compact arrays, never held as rows."""
        org, rng = self.org, self.rng
        open_stages = [org.stages[s] for s in ("Qualify", "Develop", "Propose", "Negotiate")]
        order = {gid: i for i, gid in enumerate(open_stages)}
        first = open_stages[0]
        for i in range(len(opps.account)):
            stage = opps.stage[i]
            company = org.companies[opps.company[i]]
            path = [first]
            if stage in order:
                if order[stage] >= 2 and rng.random() < 0.5:
                    path.append(open_stages[order[stage] - 1])
                if stage != first:
                    path.append(stage)
            else:
                if rng.random() < 0.5:
                    path.append(rng.choice(open_stages[1:]))
                path.append(stage)
            created = self.now - dt.timedelta(seconds=opps.created[i])
            end = self.now - dt.timedelta(seconds=opps.end[i])
            prev = None
            steps = max(len(path) - 1, 1)
            for step, gid in enumerate(path):
                (cid,) = self.db.ids("opportunities_stagechange", 1)
                at = created + (end - created) * (step / steps) * 0.98
                yield (
                    cid,
                    _ts(at),
                    opps.owner[i],
                    prev,
                    company.local_stage_by_global.get(prev),
                    opps.first_id + i,
                    org.id,
                    gid,
                    company.local_stage_by_global[gid],
                )
                prev = gid

    def _activities(self, accounts: AccountArrays, opps: OppArrays) -> None:
        db, org, rng = self.db, self.org, self.rng
        n_opps = len(opps.account)
        n_accounts = len(accounts.ids)

        def rows() -> Iterator[tuple[Any, ...]]:
            for aid in db.ids("accounts_activity", self.scale.activities):
                if rng.random() < 0.7:
                    oi = rng.randrange(n_opps)
                    account, opp = opps.account[oi], opps.first_id + oi
                    company, owner = org.companies[opps.company[oi]], opps.owner[oi]
                else:
                    ai = rng.randrange(n_accounts)
                    account, opp = accounts.ids[ai], None
                    company = org.companies[accounts.company[ai]]
                    owner = rng.choice(company.reps)
                created = self._moment(3 * 365)
                due = created + dt.timedelta(days=rng.randint(0, 14))
                done = _ts(due) if due < self.now and rng.random() < 0.9 else None
                kind = rng.choice(ACTIVITY_KINDS)
                # When it happened: when done, an open task at its due time (as the migration).
                happened = done or (_ts(due) if kind == "task" else _ts(created))
                yield (
                    aid,
                    kind,
                    rng.choice(SUBJECTS),
                    "",
                    _ts(due),
                    done,
                    _ts(created),
                    account,
                    opp,
                    org.id,
                    owner,
                    company.id,
                    None,
                    happened,
                    rng.choice((15, 30, 45, 60, 90)),
                    "",
                )

        db.copy(
            "accounts_activity",
            [
                "id",
                "kind",
                "subject",
                "notes",
                "due_at",
                "done_at",
                "created_at",
                "account_id",
                "opportunity_id",
                "organization_id",
                "owner_id",
                "sales_company_id",
                "contact_id",
                "happened_at",
                "duration_minutes",
                "outcome",
            ],
            rows(),
        )

    def _targets_and_snapshots(self) -> None:
        db, org, rng = self.db, self.org, self.rng
        targets = []
        for year in (self.today.year - 1, self.today.year):
            for quarter in range(4):
                start = dt.date(year, quarter * 3 + 1, 1).isoformat()
                for c in org.companies:
                    for kind, value in (
                        ("revenue", 5_000_000),
                        ("new_customers", 40),
                        ("pipeline_generated", 12_000_000),
                    ):
                        (tid,) = db.ids("reporting_target", 1)
                        targets.append(
                            (
                                tid,
                                "quarter",
                                start,
                                kind,
                                round(value * rng.uniform(0.6, 1.4)),
                                org.id,
                                c.id,
                                None,
                            )
                        )
                if year == self.today.year:
                    for c in org.companies:
                        for rep in c.reps:
                            (tid,) = db.ids("reporting_target", 1)
                            targets.append(
                                (
                                    tid,
                                    "quarter",
                                    start,
                                    "revenue",
                                    round(rng.uniform(2e5, 8e5)),
                                    org.id,
                                    None,
                                    rep,
                                )
                            )
        db.copy(
            "reporting_target",
            [
                "id",
                "period_kind",
                "period_start",
                "kind",
                "value",
                "organization_id",
                "sales_company_id",
                "user_id",
            ],
            targets,
        )
        snapshots = []
        monday = self.today - dt.timedelta(days=self.today.weekday())
        categories = {name: cat for name, _o, _p, cat, _w, _l in GLOBAL_STAGES}
        for week in range(26):
            day = (monday - dt.timedelta(weeks=week)).isoformat()
            for c in org.companies:
                for name in ("Qualify", "Develop", "Propose", "Negotiate"):
                    (sid,) = db.ids("reporting_pipelinesnapshot", 1)
                    count = rng.randint(50, 3000) * self.scale.opportunities // 1_000_000 + 1
                    snapshots.append(
                        (
                            sid,
                            day,
                            categories[name],
                            count,
                            count * 25_000,
                            org.stages[name],
                            org.id,
                            c.id,
                        )
                    )
        db.copy(
            "reporting_pipelinesnapshot",
            [
                "id",
                "taken_on",
                "forecast_category",
                "count",
                "amount",
                "global_stage_id",
                "organization_id",
                "sales_company_id",
            ],
            snapshots,
        )

    def _conflicts(self, opps: OppArrays) -> None:
        """A few hundred open "several companies work the group" situations with their two
        deals as participants, as detection leaves them (one per anchor account)."""
        db, org, rng = self.db, self.org, self.rng
        rows, sides = [], []
        anchors = set()
        for _ in range(min(500, len(opps.account) // 20)):
            a, b = rng.randrange(len(opps.account)), rng.randrange(len(opps.account))
            if a == b or opps.company[a] == opps.company[b] or opps.account[a] in anchors:
                continue
            anchors.add(opps.account[a])
            (cid,) = db.ids("opportunities_conflict", 1)
            company_a = org.companies[opps.company[a]].id
            rows.append(
                (cid, "group_other_company", "open", "{}", "", "", None, _ts(self.now),
                 opps.account[a], org.id, company_a)
            )  # fmt: skip
            for deal in (a, b):
                (pid,) = db.ids("opportunities_conflictparticipant", 1)
                sides.append(
                    (pid, org.id, cid, opps.first_id + deal, org.companies[opps.company[deal]].id,
                     opps.owner[deal], False, _ts(self.now))
                )  # fmt: skip
        db.copy(
            "opportunities_conflict",
            [
                "id",
                "kind",
                "status",
                "params",
                "resolution",
                "resolution_note",
                "resolved_at",
                "created_at",
                "account_id",
                "organization_id",
                "sales_company_id",
            ],
            rows,
        )
        db.copy(
            "opportunities_conflictparticipant",
            [
                "id",
                "organization_id",
                "conflict_id",
                "opportunity_id",
                "sales_company_id",
                "seller_id",
                "coordinated",
                "joined_at",
            ],
            sides,
        )


@dataclass
class AccountArrays:
    """Compact per-account columns (index-aligned) that later tables draw from."""

    ids: array[int] = field(default_factory=lambda: array("q"))
    company: array[int] = field(default_factory=lambda: array("h"))
    group: array[int] = field(default_factory=lambda: array("q"))


@dataclass
class OppArrays:
    account: array[int] = field(default_factory=lambda: array("q"))
    company: array[int] = field(default_factory=lambda: array("h"))
    owner: array[int] = field(default_factory=lambda: array("q"))
    open: list[bool] = field(default_factory=list)
    created: array[float] = field(default_factory=lambda: array("d"))  # seconds before now
    end: array[float] = field(default_factory=lambda: array("d"))
    stage: array[int] = field(default_factory=lambda: array("q"))
    first_id: int = 1


# --- Entry point -------------------------------------------------------------------------------

# Secondary indexes of the big tables are dropped for the load and rebuilt after: one sort per
# index instead of a million random inserts into each.
BIG_TABLES = (
    "accounts_account",
    "accounts_contact",
    "accounts_activity",
    "opportunities_opportunity",
    "opportunities_stagechange",
    "opportunities_opportunitysplit",
    "opportunities_opportunityline",
    "leads_lead",
    "crm_searchword",
)

# The searchable tables and their crm.models.SearchKind values (the load driver imports this
# module without Django, so not the enum itself; tests/bench/test_search_words.py compares).
SEARCHABLE = (
    ("accounts_account", 1),
    ("accounts_contact", 2),
    ("opportunities_opportunity", 3),
    ("leads_lead", 4),
)


def _fill_search_words(conn: psycopg.Connection[Any], organization_ids: Sequence[int]) -> None:
    """The word table of full-text search (crm.search), from the loaded rows' generated
    ``search`` columns (COPY leaves those out: PostgreSQL computes them). Emptied first: without
    the superuser's trigger switch the triggers wrote them row by row during the load."""
    conn.execute("DELETE FROM crm_searchword")
    for org_id in organization_ids:
        # Per organization, in its scope: a forced policy binds a non-superuser owner too.
        conn.execute("SELECT set_config('app.org_id', %s, false)", [str(org_id)])
        for table, kind in SEARCHABLE:
            # As crm.search.search_trigger_sql fills a table, for one organization.
            conn.execute(
                sql.SQL(
                    "INSERT INTO crm_searchword (organization_id, kind, word, object_id) "
                    "SELECT t.organization_id, %s, w, t.id "
                    "FROM {} t, unnest(tsvector_to_array(t.search)) AS w "
                    "WHERE t.organization_id = %s"
                ).format(sql.Identifier(table)),
                [kind, org_id],
            )
    conn.execute("SELECT set_config('app.org_id', '', false)")


def _drop_secondary_indexes(conn: psycopg.Connection[Any]) -> list[str]:
    rows = conn.execute(
        """
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.schemaname = 'public' AND i.tablename = ANY(%s)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
        """,
        [list(BIG_TABLES)],
    ).fetchall()
    for name, _definition in rows:
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    return [definition for _name, definition in rows]


def generate(
    url: str,
    scale: Scale,
    *,
    password_hash: str,
    today: dt.date | None = None,
    progress: Callable[[str], None] = log,
) -> dict[str, Any]:
    """Fill the (freshly migrated, empty) database at ``url``. Returns what the benchmark needs
    to know: organization ids, the big groups, the users to sign in as, row counts."""
    today = today or dt.date.today()
    started = time.monotonic()
    with psycopg.connect(url, autocommit=False) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '256MB'")
        try:
            with conn.transaction():
                conn.execute("SET session_replication_role = replica")
        except psycopg.errors.InsufficientPrivilege:
            progress("not a superuser: foreign keys are checked during the load (slower)")
        if conn.execute("SELECT count(*) FROM crm_organization").fetchone()[0]:
            raise RuntimeError("The benchmark database is not empty; recreate it first.")
        indexes = _drop_secondary_indexes(conn)
        conn.commit()
        loader = Loader(conn)
        progress(f"scale {scale.name}: {scale.opportunities:,} opportunities")
        main = OrgGenerator(
            loader,
            scale,
            name="Nordvik Global",
            slug="nordvik-bench",
            email_domain="bench.example",
            regions=COMPANIES,
            seed=1,
            password_hash=password_hash,
            today=today,
        ).run()
        conn.commit()
        progress(f"main organization loaded ({time.monotonic() - started:.0f} s)")
        second = OrgGenerator(
            loader,
            SECOND_ORG,
            name="Tellus Group",
            slug="tellus-bench",
            email_domain="tellus-bench.example",
            regions={"Europe": [COMPANIES["Nordics"][0], COMPANIES["DACH"][0]]},
            seed=2,
            password_hash=password_hash,
            today=today,
        ).run()
        conn.execute("SELECT set_config('app.org_id', '', false)")
        conn.commit()
        progress(f"second organization loaded ({time.monotonic() - started:.0f} s)")
        _fill_search_words(conn, [main.id, second.id])
        conn.commit()
        progress(f"search words written ({time.monotonic() - started:.0f} s)")
        for table, next_id in loader.next_ids.items():
            conn.execute(
                "SELECT setval(pg_get_serial_sequence(%s, 'id'), %s, false)", [table, next_id]
            )
        conn.commit()
        conn.execute("SET session_replication_role = DEFAULT")
        for definition in indexes:
            conn.execute(definition)
        conn.commit()
        progress(f"indexes rebuilt ({time.monotonic() - started:.0f} s)")
    with psycopg.connect(url, autocommit=True) as conn:
        # VACUUM sets the visibility map (index-only scans); ANALYZE gives the planner stats.
        conn.execute("VACUUM (ANALYZE)")
    progress(f"vacuum analyze done ({time.monotonic() - started:.0f} s)")
    rep = next(c for c in main.companies if c.code == "SE")
    info = {
        "scale": scale.name,
        "today": today.isoformat(),
        "organization_id": main.id,
        "second_organization_id": second.id,
        "big_groups": main.big_groups,
        "password": PASSWORD,
        "users": {
            "director": "director@bench.example",
            "regional_manager": "regional1@bench.example",
            "country_manager": "manager.se@bench.example",
            "sales_rep": next(e for e, uid in main.users.items() if uid == rep.reps[0]),
        },
        "sales_rep_id": rep.reps[0],
        "rows": loader.counts,
        "seconds": round(time.monotonic() - started, 1),
    }
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_info (key text PRIMARY KEY, value jsonb NOT NULL)"
        )
        conn.execute(
            "INSERT INTO bench_info VALUES ('info', %s) ON CONFLICT (key) DO UPDATE "
            "SET value = EXCLUDED.value",
            [psycopg.types.json.Jsonb(info)],
        )
    return info
