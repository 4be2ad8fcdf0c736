"""The licence-type catalogue: shipped national types, regional types, field validation."""

from __future__ import annotations

from datetime import date

import pytest

from licences.catalogue import (
    Catalogue,
    FieldType,
    HolderKind,
    ValidityKind,
    licence_type_from_dict,
    licence_type_to_dict,
    national_types,
    validate_fields,
)
from licences.errors import CheckCharacterError, InvalidFieldError, UnknownLicenceTypeError
from licences.identifiers import validate_licence_type_code

REGIONAL = {
    "code": "11440000MB2C93715B001", "name_zh": "广东省食品小作坊登记证", "name_en": "Guangdong small food workshop",
    "department_zh": "广东省市场监督管理局", "department_en": "Guangdong AMR", "holder_kind": "organisation",
    "holder_name_field": "name", "holder_id_field": "uscc", "validity": {"kind": "fixed_years", "years": 3},
    "fields": [{"name": "uscc", "type": "uscc", "required": True},
               {"name": "name", "type": "string", "required": True, "max_length": 50, "qr": True},
               {"name": "area", "type": "area_code", "required": True},
               {"name": "staff", "type": "int", "min": 1, "max": 50}],
}


def test_national_types_ship_and_are_consistent() -> None:
    types = {t.name_en: t for t in national_types()}
    for name in ["Resident identity card", "Business licence", "Driving licence", "Vehicle licence",
                 "Social-security card", "Marriage certificate", "Real-estate title certificate"]:
        assert name in types
    idc = types["Resident identity card"]
    assert idc.code == "11100000000013127D001" and not idc.illustrative
    assert idc.holder_kind is HolderKind.PERSON and idc.holder_kind.id_type_code == "111"
    assert "id_number" in idc.personal_fields and "id_number" not in idc.qr_fields
    assert types["Business licence"].holder_kind.id_type_code == "001"
    for t in national_types():
        validate_licence_type_code(t.code)
        assert t.by_name[t.holder_id_field].type in (FieldType.ID_NUMBER, FieldType.USCC)
        assert licence_type_from_dict(licence_type_to_dict(t)) == t  # JSON form round-trips


def test_regional_types() -> None:
    t = licence_type_from_dict(REGIONAL, region="440000")
    cat = Catalogue([t])
    assert cat.get(t.code, region="440000") == t
    with pytest.raises(UnknownLicenceTypeError):
        cat.get(t.code, region="110000")  # other regions do not see it
    assert t in cat.types(region="440000") and t not in cat.types(region="110000")
    with pytest.raises(InvalidFieldError):
        Catalogue([licence_type_from_dict({**REGIONAL, "code": "11100000000013127D001"}, region="440000")])
    assert t.validity.valid_until(date(2024, 2, 29), {}) == date(2027, 2, 28)


@pytest.mark.parametrize(("change", "field"), [
    ({"holder_id_field": "name"}, "holder_id_field"),
    ({"holder_kind": "robot"}, "holder_kind"),
    ({"validity": {"kind": "fixed_years"}}, "validity.years"),
    ({"code": "11440000MB2C93715C001"}, "code"),
    ({"fields": []}, "fields"),
])
def test_bad_type_definitions(change: dict, field: str) -> None:
    with pytest.raises(InvalidFieldError) as info:
        licence_type_from_dict({**REGIONAL, **change})
    assert info.value.field == field


def test_validate_fields() -> None:
    t = licence_type_from_dict(REGIONAL, region="440000")
    out = validate_fields(t, {"uscc": "91350100m000100y43", "name": "ｃａｆé", "area": "440300", "staff": "12"})
    assert out == {"uscc": "91350100M000100Y43", "name": "ｃａｆé", "area": "440300", "staff": 12}
    decomposed = "cafe\u0301"
    assert validate_fields(t, {"uscc": "91350100M000100Y43", "name": decomposed, "area": "440300"})["name"] == "café"
    cases = [({"name": "x", "area": "440300"}, InvalidFieldError, "uscc"),
             ({"uscc": "91350100M000100Y44", "name": "x", "area": "440300"}, CheckCharacterError, "uscc"),
             ({"uscc": "91350100M000100Y43", "name": "x" * 51, "area": "440300"}, InvalidFieldError, "name"),
             ({"uscc": "91350100M000100Y43", "name": "x", "area": "990000"}, InvalidFieldError, "area"),
             ({"uscc": "91350100M000100Y43", "name": "x", "area": "440300", "staff": 51}, InvalidFieldError, "staff"),
             ({"uscc": "91350100M000100Y43", "name": "x", "area": "440300", "staff": True}, InvalidFieldError,
              "staff"),
             ({"uscc": "91350100M000100Y43", "name": "a\x00b", "area": "440300"}, InvalidFieldError, "name")]
    for data, exc, field in cases:
        with pytest.raises(exc) as info:
            validate_fields(t, data)
        assert info.value.field == field, data
    assert ValidityKind("open_ended") is ValidityKind.OPEN_ENDED
