from __future__ import annotations

import pytest

from accounts.normalize import normalize_domain, normalize_name, normalize_registration


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Acme AB", "acme"),
        ("ACME Aktiebolag", "acme"),
        ("Acmé A/B", "acme"),
        ("Acme Co., Ltd.", "acme"),
        ("Siemens GmbH & Co. KG", "siemens"),
        ("Nestlé S.A.", "nestle"),
        ("Ørsted A/S", "orsted"),
        ("Straße AG", "strasse"),
        ("AB Volvo", "volvo"),
        ("Aktiebolaget  Volvo", "volvo"),
        ("Nokia Oyj", "nokia"),
        ("Equinor ASA", "equinor"),
        ("Philips N.V.", "philips"),
        ("Shell plc", "shell"),
        ("Acme Tools Inc.", "acme tools"),
        ("Smith and Sons Ltd", "smith and sons"),
    ],
)
def test_legal_forms_case_diacritics_and_punctuation_fold_away(raw: str, expected: str) -> None:
    assert normalize_name(raw) == expected


def test_legal_form_words_inside_a_name_are_kept() -> None:
    # "Co" in front is the name itself, not a legal form; only Nordic forms lead a name.
    assert normalize_name("Co-op AB") == "co op"
    assert normalize_name("AG Barr plc") == "ag barr"


def test_a_name_made_only_of_legal_forms_is_not_emptied() -> None:
    assert normalize_name("AB") == "ab"
    assert normalize_name("") == ""


def test_registration_numbers_ignore_spacing_punctuation_and_case() -> None:
    assert normalize_registration("SE 5560-1234 5601") == "SE556012345601"
    assert normalize_registration("se556012345601") == "SE556012345601"
    assert normalize_registration("DE.123.456.789") == "DE123456789"
    assert normalize_registration("DE123456789") != normalize_registration("DE123456788")


@pytest.mark.parametrize(
    "raw",
    [
        "acme.se",
        "https://www.Acme.se/about?x=1",
        "HTTP://user@www.acme.se:8080/",
        "sales@acme.se",
        " www.acme.se. ",
    ],
)
def test_domains_become_bare_host_names(raw: str) -> None:
    assert normalize_domain(raw) == "acme.se"


def test_a_subdomain_other_than_www_is_kept() -> None:
    assert normalize_domain("https://shop.acme.se") == "shop.acme.se"
