"""Identifiers and codes: vectors from the standards notes, and hypothesis properties of the check characters."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from licences.errors import CheckCharacterError, InvalidFieldError
from licences.identifiers import (
    ALNUM36,
    USCC_ALPHABET,
    id_number_check,
    make_id_number,
    make_licence_id,
    make_uscc,
    mod37_36_check,
    parse_licence_id,
    validate_area_code,
    validate_id_number,
    validate_uscc,
)
from verifier.licence import _mod37_36

# Verified identifiers from ../shared/reference/standards.md §4.2.
GOOD_IDS = [
    "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
    "1.2.156.3005.2.11100000000013338W009.11330105002500287C.2025052201.002.0",
    "1.2.156.3005.2.11100000MB03271699022.340100.000000016.001.9",  # issuer = area code (local deviation)
]


@pytest.mark.parametrize("text", GOOD_IDS)
def test_licence_id_vectors(text: str) -> None:
    lid = parse_licence_id(text)
    assert str(lid) == text
    assert _mod37_36(lid.type_code + lid.issuer_code + lid.serial + f"{lid.version:03d}") == lid.check


def test_wrong_licence_check_character_is_rejected() -> None:
    # §4.2 lists a likely bad sample (its serial is elided there); a wrong check character is always refused.
    bad = GOOD_IDS[0][:-1] + "V"
    with pytest.raises(CheckCharacterError) as info:
        parse_licence_id(bad, field="licence_id")
    assert info.value.field == "licence_id" and "'U'" in info.value.message


def test_licence_id_shape_errors() -> None:
    for text in ["", "1.2.156.3005.1.X", GOOD_IDS[0].replace(".001.", ".000."), GOOD_IDS[0] + ".X",
                 GOOD_IDS[0].replace("W011", "W01"), 42]:
        with pytest.raises(InvalidFieldError):
            parse_licence_id(text)
    lid = make_licence_id("11100000000013338W011", "11430000006122244L", "20230000403", 1)
    assert str(lid) == GOOD_IDS[0]
    want = mod37_36_check("11100000000013338W01111430000006122244L20230000403002")
    assert str(lid.with_version(2)).endswith(".002." + want)
    with pytest.raises(CheckCharacterError):
        make_licence_id("11100000000013338W011", "11430000006122244M", "1", 1)  # issuer USCC check wrong


def test_uscc_vectors() -> None:
    for code in ["11100000000013338W", "11430000006122244L", "11330105002500287C", "91350100M000100Y43",
                 "11100000000013127D"]:
        assert validate_uscc(code).code == code
    u = validate_uscc("11100000000013338w")  # lower case normalised
    assert (u.registration_dept, u.category, u.area, u.org_code_ok) == ("1", "1", "100000", True)
    with pytest.raises(CheckCharacterError) as info:
        validate_uscc("91350100M000100Y44", field="uscc")
    assert info.value.field == "uscc"
    for bad in ["91350100M000100Y4", "9135010OM000100Y43", "91ABCDEFM000100Y43"]:
        with pytest.raises(InvalidFieldError):
            validate_uscc(bad)


def test_id_number_vectors() -> None:
    assert id_number_check("11010519491231002") == "X"
    r = validate_id_number("11010519491231002x")
    assert r.number == "11010519491231002X" and r.birth_date == date(1949, 12, 31) and r.sex == "female"
    with pytest.raises(CheckCharacterError) as info:
        validate_id_number("110105194912310021", field="holder_id")
    assert info.value.field == "holder_id"
    for bad in ["110105194913310020", "990105194912310029", "11010519491231002", "110105194912310"]:
        with pytest.raises(InvalidFieldError):
            validate_id_number(bad)
    future = make_id_number("440106", date(2030, 1, 1), 1)
    validate_id_number(future)
    with pytest.raises(InvalidFieldError):
        validate_id_number(future, today=date(2025, 1, 1))


def test_area_codes() -> None:
    assert validate_area_code("440000") == "440000" and validate_area_code("110105") == "110105"
    for bad in ["990000", "44000", "4400A0", "440012"]:
        with pytest.raises(InvalidFieldError):
            validate_area_code(bad)


# --- hypothesis: generated values validate; every single substitution is caught ---------------

_alnum = st.text(alphabet=ALNUM36, min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(_alnum, st.integers(0), st.sampled_from(ALNUM36))
def test_mod37_36_catches_every_single_substitution(body: str, pos: int, ch: str) -> None:
    full = body + mod37_36_check(body)
    i = pos % len(full)
    if full[i] == ch:
        return
    changed = full[:i] + ch + full[i + 1:]
    assert mod37_36_check(changed[:-1]) != changed[-1]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789", min_size=17, max_size=17), st.integers(0, 17), st.sampled_from("0123456789X"))
def test_mod11_2_catches_every_single_substitution(body: str, i: int, ch: str) -> None:
    full = body + id_number_check(body)
    if full[i] == ch or (i < 17 and ch == "X"):
        return
    changed = full[:i] + ch + full[i + 1:]
    assert id_number_check(changed[:17]) != changed[17]


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2024, 12, 31)), st.integers(0, 999),
       st.sampled_from(["110105", "440106", "650102", "820000"]), st.integers(0, 17), st.sampled_from("0123456789X"))
def test_generated_id_numbers_validate_and_substitutions_fail(born: date, seq: int, area: str, i: int, ch: str) -> None:
    num = make_id_number(area, born, seq)
    assert validate_id_number(num).birth_date == born
    if num[i] == ch or (i < 17 and ch == "X"):
        return
    with pytest.raises(InvalidFieldError):  # CheckCharacterError or an impossible date/area
        validate_id_number(num[:i] + ch + num[i + 1:])


@settings(max_examples=200, deadline=None)
@given(st.sampled_from("159Y"), st.sampled_from("1239"), st.sampled_from(["100000", "440300", "350100"]),
       st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=8, max_size=8), st.integers(0, 17),
       st.sampled_from(USCC_ALPHABET))
def test_generated_usccs_validate_and_substitutions_fail(dept: str, cat: str, area: str, body: str, i: int,
                                                         ch: str) -> None:
    code = make_uscc(dept, cat, area, body)
    if code[16] not in USCC_ALPHABET:  # GB 11714 check may be X or a letter outside the USCC alphabet
        return
    assert validate_uscc(code).code == code
    if code[i] == ch:
        return
    with pytest.raises(InvalidFieldError):
        validate_uscc(code[:i] + ch + code[i + 1:])


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=ALNUM36, min_size=1, max_size=32), st.integers(1, 999))
def test_generated_licence_ids_parse(serial: str, version: int) -> None:
    lid = make_licence_id("11100000000013127D001", "11440000MB2C93715B", serial, version)
    assert parse_licence_id(str(lid)) == lid
