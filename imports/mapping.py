"""The mapping layer: which fields each kind of import has, which headers (in English,
Swedish, Danish and German) suggest them, and how a cell's text becomes a value (decimals with
a decimal comma, dates in ISO or the European day-first forms, countries by code or name).

Only the reading of cells lives here; every rule about what a valid record is stays in the
services the import calls (one copy of each rule).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from imports.models import ImportKind


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    synonyms: tuple[str, ...]  # en, sv, da, de and common spellings; compared normalized
    required: bool = False


def _f(name: str, label: object, *synonyms: str, required: bool = False) -> Field:
    return Field(
        name=name, label=str(label), synonyms=(name, str(label), *synonyms), required=required
    )


NAME = ("name", "namn", "navn", "company", "företag", "firma", "virksomhed", "unternehmen")
COUNTRY = ("country", "land", "country code", "landskod", "landekode", "ländercode", "staat")
REGISTRATION = (
    "registration number",
    "organisationsnummer",
    "org nr",
    "orgnr",
    "cvr",
    "cvr nummer",
    "handelsregisternummer",
    "hrb",
    "vat",
    "vat number",
    "momsnummer",
    "ust id",
    "company number",
)
DOMAIN = (
    "domain",
    "web domain",
    "domän",
    "domæne",
    "domäne",
    "website",
    "webbplats",
    "hemsida",
    "webside",
    "hjemmeside",
    "webseite",
    "www",
    "url",
)
COMPANY = ("sales company", "säljbolag", "salgsselskab", "vertriebsgesellschaft", "company code")
OWNER = (
    "owner",
    "owner email",
    "owner e-mail",
    "ägare",
    "ejer",
    "besitzer",
    "verantwortlich",
    "säljare",
    "sælger",
    "verkäufer",
)
EMAIL = ("email", "e-mail", "e-post", "mail", "epost", "e-mail adresse")
PHONE = ("phone", "telefon", "tel", "telefonnummer", "mobile", "mobil")


def _fields() -> dict[str, list[Field]]:
    # The labels' msgids through a name makemessages knows (an alias would not be extracted).
    account_ref = _f(
        "account",
        gettext_lazy("Account"),
        "account name",
        "kund",
        "kunde",
        "customer",
        "konto",
        "firma",
        "company name",
        "företagsnamn",
        "firmanavn",
        "firmenname",
        required=True,
    )
    account_registration = _f(
        "account_registration", gettext_lazy("Account registration number"), *REGISTRATION
    )
    return {
        ImportKind.ACCOUNTS: [
            _f("name", gettext_lazy("Name"), *NAME, required=True),
            _f("country", gettext_lazy("Country"), *COUNTRY, required=True),
            _f("registration_number", gettext_lazy("Registration number"), *REGISTRATION),
            _f("domain", gettext_lazy("Web domain"), *DOMAIN),
            _f("home_company", gettext_lazy("Sales company"), *COMPANY, "home company"),
            _f("industry", gettext_lazy("Industry"), "bransch", "branche", "industri"),
        ],
        ImportKind.CONTACTS: [
            account_ref,
            account_registration,
            _f("account_country", gettext_lazy("Account country"), *COUNTRY),
            _f(
                "full_name",
                gettext_lazy("Full name"),
                "name",
                "namn",
                "navn",
                "contact",
                "kontakt",
                "kontaktperson",
                "ansprechpartner",
                required=True,
            ),
            _f(
                "title",
                gettext_lazy("Title"),
                "titel",
                "befattning",
                "stilling",
                "position",
                "job title",
            ),
            _f("email", gettext_lazy("E-mail"), *EMAIL),
            _f("phone", gettext_lazy("Phone"), *PHONE),
            _f("language", gettext_lazy("Language"), "språk", "sprog", "sprache"),
            _f(
                "marketing_consent",
                gettext_lazy("Marketing consent"),
                "consent",
                "samtycke",
                "samtykke",
                "einwilligung",
                "opt in",
            ),
        ],
        ImportKind.OPPORTUNITIES: [
            _f(
                "external_id",
                gettext_lazy("External id"),
                "id",
                "external id",
                "extern id",
                "ekstern id",
                "externe id",
                "deal id",
                "opportunity id",
                "crm id",
            ),
            account_ref,
            account_registration,
            _f("account_country", gettext_lazy("Account country"), *COUNTRY),
            _f(
                "name",
                gettext_lazy("Opportunity name"),
                "opportunity",
                "deal",
                "affär",
                "affärsmöjlighet",
                "mulighed",
                "salgsmulighed",
                "chance",
                "verkaufschance",
                "titel",
                "title",
                required=True,
            ),
            _f("stage", gettext_lazy("Stage"), "steg", "fas", "fase", "phase", "stufe", "status"),
            _f("sales_company", gettext_lazy("Sales company"), *COMPANY),
            _f("owner", gettext_lazy("Owner (e-mail)"), *OWNER),
            _f(
                "amount",
                gettext_lazy("Amount"),
                "belopp",
                "beløb",
                "betrag",
                "value",
                "värde",
                "værdi",
                "wert",
                "summe",
            ),
            _f("currency", gettext_lazy("Currency"), "valuta", "währung", "waehrung", "cur"),
            _f(
                "expected_close_date",
                gettext_lazy("Expected close date"),
                "close date",
                "closing date",
                "stängningsdatum",
                "avslutsdatum",
                "lukkedato",
                "abschlussdatum",
                "erwarteter abschluss",
            ),
            _f(
                "next_step",
                gettext_lazy("Next step"),
                "nästa steg",
                "næste skridt",
                "nächster schritt",
            ),
            _f(
                "product",
                gettext_lazy("Product (SKU)"),
                "sku",
                "product",
                "produkt",
                "artikel",
                "artikelnummer",
                "varenummer",
                "item",
            ),
            _f("quantity", gettext_lazy("Quantity"), "qty", "antal", "mængde", "anzahl", "menge"),
            _f(
                "unit_price",
                gettext_lazy("Unit price"),
                "price",
                "pris",
                "á-pris",
                "a-pris",
                "stykpris",
                "einzelpreis",
                "preis",
            ),
            _f("discount_percent", gettext_lazy("Discount %"), "discount", "rabatt", "rabat"),
        ],
        ImportKind.LEADS: [
            _f("company_name", gettext_lazy("Company"), *NAME, "company name", required=True),
            _f(
                "contact_name",
                gettext_lazy("Contact name"),
                "contact",
                "kontakt",
                "kontaktperson",
                "ansprechpartner",
                "full name",
                required=True,
            ),
            _f("country", gettext_lazy("Country"), *COUNTRY, required=True),
            _f("source", gettext_lazy("Source"), "källa", "kilde", "quelle", "lead source"),
            _f("email", gettext_lazy("E-mail"), *EMAIL),
            _f("phone", gettext_lazy("Phone"), *PHONE),
            _f(
                "contact_title",
                gettext_lazy("Contact title"),
                "title",
                "titel",
                "befattning",
                "stilling",
            ),
            _f("registration_number", gettext_lazy("Registration number"), *REGISTRATION),
            _f("domain", gettext_lazy("Web domain"), *DOMAIN),
            _f("owner", gettext_lazy("Owner (e-mail)"), *OWNER),
        ],
    }


def fields_of(kind: str) -> list[Field]:
    """The fields of ``kind``, labelled in the active language."""
    return _fields()[kind]


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"[^\w%]+", " ", text).strip()


def suggest_mapping(kind: str, headers: list[str]) -> dict[str, str]:
    """Column index (as text) -> field, from the headers' names: an exact synonym wins; each
    field is given to one column only (the first that names it)."""
    fields = fields_of(kind)
    taken: set[str] = set()
    mapping: dict[str, str] = {}
    for index, header in enumerate(headers):
        key = _norm(header)
        if not key:
            continue
        for field in fields:
            if field.name in taken:
                continue
            if key in {_norm(s) for s in field.synonyms}:
                mapping[str(index)] = field.name
                taken.add(field.name)
                break
    return mapping


def mapping_from_template(headers: list[str], template: dict[str, str]) -> dict[str, str]:
    """A saved template (header -> field) applied to this file's headers."""
    by_header = {_norm(h): f for h, f in template.items()}
    mapping: dict[str, str] = {}
    for index, header in enumerate(headers):
        field = by_header.get(_norm(header))
        if field and field not in mapping.values():
            mapping[str(index)] = field
    return mapping


# --- Cell values -------------------------------------------------------------------------------


class CellError(ValueError):
    """A cell's text is not a value of its field (the message says why, for the reader)."""


_NUMBER = re.compile(r"^[+-]?\d+([.,]\d+)?$")


def parse_decimal(text: str) -> Decimal | None:
    """``1234.5``, ``1234,5``, ``1 234,50``, ``1.234,50``, ``1,234.50``, ``1'234.50``: the
    last of ``.``/``,`` is the decimal separator when digits follow it in a group other than
    three, or when both occur; a lone ``,`` with three digits after it is read as decimal
    too only if nothing else says otherwise (``1,500`` is 1.5 in sv/da/de files)."""
    raw = text.strip().replace("\u00a0", "").replace(" ", "").replace("'", "")
    if not raw:
        return None
    if "," in raw and "." in raw:
        decimal_sep = "," if raw.rfind(",") > raw.rfind(".") else "."
        group_sep = "." if decimal_sep == "," else ","
        raw = raw.replace(group_sep, "").replace(decimal_sep, ".")
    elif raw.count(",") == 1:
        raw = raw.replace(",", ".")
    elif raw.count(".") > 1 or raw.count(",") > 1:
        raw = raw.replace(".", "").replace(",", "")  # only grouping: 1.234.567
    if not _NUMBER.match(raw):
        raise CellError(_("“%(value)s” is not a number.") % {"value": text})
    try:
        return Decimal(raw)
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only numbers
        raise CellError(_("“%(value)s” is not a number.") % {"value": text}) from exc


_DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%d-%m-%Y", "%d/%m/%Y", "%Y/%m/%d", "%d.%m.%y", "%Y%m%d")


def parse_date(text: str) -> dt.date | None:
    """ISO (also with a time), and day first as sv/da/de readers write it: 15.03.2027,
    15-03-2027, 15/03/2027. Month-first dates are not guessed (03/04 would be ambiguous)."""
    raw = text.strip()
    if not raw:
        return None
    if "T" in raw or (len(raw) > 10 and raw[10] == " "):
        raw = raw[:10]
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
    raise CellError(
        _("“%(value)s” is not a date (write 2027-03-15 or 15.03.2027).") % {"value": text}
    )


_TRUE = {"1", "yes", "y", "true", "x", "ja", "j", "sant", "wahr", "sand"}
_FALSE = {"", "0", "no", "n", "false", "nej", "nein", "falskt", "falsch", "falsk"}


def parse_bool(text: str) -> bool:
    key = text.strip().casefold()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    raise CellError(_("“%(value)s” is neither yes nor no.") % {"value": text})


# Country names as people type them in en / sv / da / de, for the countries a Nordic-European
# group trades with most; anything else is written as its ISO code or mapped on the page.
_COUNTRY_NAMES = {
    "SE": ("sweden", "sverige", "schweden"),
    "DK": ("denmark", "danmark", "dänemark"),
    "NO": ("norway", "norge", "norwegen"),
    "FI": ("finland", "finnland", "suomi"),
    "IS": ("iceland", "island"),
    "DE": ("germany", "tyskland", "deutschland"),
    "AT": ("austria", "österrike", "østrig", "österreich"),
    "CH": ("switzerland", "schweiz", "schweiz"),
    "NL": (
        "netherlands",
        "the netherlands",
        "holland",
        "nederländerna",
        "nederlandene",
        "niederlande",
    ),
    "BE": ("belgium", "belgien"),
    "LU": ("luxembourg", "luxemburg"),
    "FR": ("france", "frankrike", "frankrig", "frankreich"),
    "ES": ("spain", "spanien"),
    "PT": ("portugal",),
    "IT": ("italy", "italien"),
    "GB": (
        "united kingdom",
        "uk",
        "great britain",
        "england",
        "storbritannien",
        "großbritannien",
        "vereinigtes königreich",
    ),
    "IE": ("ireland", "irland"),
    "PL": ("poland", "polen"),
    "CZ": ("czech republic", "czechia", "tjeckien", "tjekkiet", "tschechien"),
    "EE": ("estonia", "estland"),
    "LV": ("latvia", "lettland", "letland"),
    "LT": ("lithuania", "litauen"),
    "US": (
        "united states",
        "usa",
        "united states of america",
        "förenta staterna",
        "vereinigte staaten",
    ),
    "CA": ("canada", "kanada"),
    "MX": ("mexico", "mexiko"),
    "BR": ("brazil", "brasilien"),
    "CN": ("china", "kina"),
    "JP": ("japan",),
    "KR": ("south korea", "sydkorea", "südkorea"),
    "IN": ("india", "indien"),
    "SG": ("singapore", "singapur"),
    "AU": ("australia", "australien"),
    "ZA": ("south africa", "sydafrika", "südafrika"),
}
_COUNTRY_BY_NAME = {_norm(n): code for code, names in _COUNTRY_NAMES.items() for n in names}


def parse_country(text: str) -> str | None:
    """An ISO 3166 alpha-2 code from the code itself (any case) or a name in en/sv/da/de;
    None when the text is neither (the mapping page asks)."""
    raw = text.strip()
    if len(raw) == 2 and raw.isascii() and raw.isalpha():
        return raw.upper()
    return _COUNTRY_BY_NAME.get(_norm(raw))


def parse_currency(text: str) -> str | None:
    raw = text.strip().upper()
    aliases = {"€": "EUR", "$": "USD", "£": "GBP", "US$": "USD"}
    raw = aliases.get(raw, raw)
    return raw if len(raw) == 3 and raw.isascii() and raw.isalpha() else None


def normalized_value(text: str) -> str:
    """How a value is looked up in a value map (case and spacing do not matter)."""
    return _norm(text)
