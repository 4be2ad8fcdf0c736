"""The catalogue of licence types (电子证照目录, GB/T 36902): what each type holds and how it is checked.

A :class:`LicenceType` names its defining department, holder kind (person or organisation), a
field schema (:class:`FieldSpec`: type, required, personal data, length, values, QR disclosure),
and a validity rule (:class:`ValidityRule`). The national types ship as package data
(``licences/data/catalogue.json``, read with :func:`national_types`); a region adds its own types
through :class:`licences.ports.LicenceRepository` and :class:`Catalogue` merges both (a regional
type may not reuse a national code).

:func:`validate_fields` is the one place field data is checked against a type: unknown fields,
missing required ones, wrong types, over-long strings, values outside an enum, wrong check
characters in ``id_number``/``uscc`` fields, unknown area codes -- each a typed error naming the
field. It returns the normalised data (NFC strings, upper-case codes, ISO dates), which is what
gets signed.
"""

from __future__ import annotations

import enum
import json
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from importlib import resources
from typing import Any

from licences.errors import InvalidFieldError, UnknownLicenceTypeError
from licences.identifiers import validate_area_code, validate_id_number, validate_licence_type_code, validate_uscc

__all__ = [
    "FIELD_NAME_PATTERN",
    "MAX_FIELDS",
    "MAX_STRING_CHARS",
    "Catalogue",
    "FieldSpec",
    "FieldType",
    "HolderKind",
    "LicenceType",
    "ValidityKind",
    "ValidityRule",
    "licence_type_from_dict",
    "licence_type_to_dict",
    "national_types",
    "validate_fields",
]

#: Most fields a licence type may declare.
MAX_FIELDS = 64
#: Longest string field value (and the default ``max_length``).
MAX_STRING_CHARS = 4000
#: Field names: lower-case ASCII identifiers.
FIELD_NAME_PATTERN = r"[a-z][a-z0-9_]{0,39}"
_MAX_INT = 2**53 - 1


class HolderKind(enum.StrEnum):
    """Who holds a licence of the type; decides the holder ID scheme (GB/T 36903 持证主体代码类型)."""

    PERSON = "person"
    ORGANISATION = "organisation"

    @property
    def id_type_code(self) -> str:
        """``111`` 公民身份号码 for persons, ``001`` 统一社会信用代码 for organisations."""
        return "111" if self is HolderKind.PERSON else "001"


class FieldType(enum.StrEnum):
    """Value types of licence fields."""

    STRING = "string"
    DATE = "date"
    INT = "int"
    ENUM = "enum"
    ID_NUMBER = "id_number"
    USCC = "uscc"
    AREA_CODE = "area_code"


class ValidityKind(enum.StrEnum):
    """How the end of validity is decided."""

    FIXED_YEARS = "fixed_years"
    OPEN_ENDED = "open_ended"
    UNTIL_FIELD = "until_field"


@dataclass(frozen=True)
class ValidityRule:
    """Validity of licences of a type, from the issuing date."""

    kind: ValidityKind
    """``fixed_years``, ``open_ended`` or ``until_field``."""
    years: int | None = None
    """For ``fixed_years``: years after the issuing date."""
    field: str | None = None
    """For ``until_field``: the date field holding the end (empty: open-ended)."""

    def valid_until(self, issued_on: date, data: Mapping[str, Any]) -> date | None:
        """Last day of validity (``None``: open-ended)."""
        if self.kind is ValidityKind.FIXED_YEARS:
            assert self.years is not None
            try:
                return issued_on.replace(year=issued_on.year + self.years)
            except ValueError:  # 29 February
                return issued_on.replace(year=issued_on.year + self.years, day=28)
        if self.kind is ValidityKind.UNTIL_FIELD:
            value = data.get(self.field or "")
            return None if value is None else date.fromisoformat(value)
        return None


@dataclass(frozen=True)
class FieldSpec:
    """One field of a licence type."""

    name: str
    """Machine name (lower-case identifier)."""
    type: FieldType
    """Value type."""
    label_zh: str = ""
    """Label printed on the licence, Chinese."""
    label_en: str = ""
    """Label, English."""
    required: bool = False
    """Must be present."""
    personal_data: bool = False
    """Personal data: never logged or audited in clear (only as ``pii_hash``)."""
    max_length: int | None = None
    """Longest string value (``string`` fields; default :data:`MAX_STRING_CHARS`)."""
    values: tuple[str, ...] = ()
    """Allowed values (``enum`` fields)."""
    min: int | None = None
    """Smallest value (``int`` fields)."""
    max: int | None = None
    """Largest value (``int`` fields)."""
    qr: bool = False
    """May be disclosed in a QR code (亮证)."""
    share: bool = True
    """May be disclosed to a relying party under the holder's consent (用证授权). ``False`` for data the holder
    may not give away, such as a third party's personal data (a spouse's ID number) or internal file numbers."""


@dataclass(frozen=True)
class LicenceType:
    """A licence type of the catalogue."""

    code: str
    """证照类型代码: 21 characters (defining department USCC + 3 digits)."""
    name_zh: str
    """证照名称."""
    name_en: str
    """English name."""
    department_zh: str
    """定义机构 (defining department), Chinese."""
    department_en: str
    """Defining department, English."""
    holder_kind: HolderKind
    """Person or organisation."""
    holder_name_field: str
    """Field holding the holder's name (持证主体)."""
    holder_id_field: str
    """Field holding the holder's ID (持证主体代码): ``id_number`` for persons, ``uscc`` for organisations."""
    fields: tuple[FieldSpec, ...]
    """The schema, in printing order."""
    validity: ValidityRule
    """Validity rule."""
    number_field: str | None = None
    """Field printed as the licence number (证照编号 ZZBH); default: the identifier's serial."""
    region: str | None = None
    """``None`` for national types; the GB/T 2260 region that added a regional type."""
    illustrative: bool = False
    """The code is a placeholder, not one from the national catalogue."""
    by_name: Mapping[str, FieldSpec] = field(default_factory=dict, compare=False, repr=False)
    """Fields by name (derived)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})

    @property
    def department_code(self) -> str:
        """The defining department's USCC (first 18 characters of the code)."""
        return self.code[:18]

    @property
    def personal_fields(self) -> frozenset[str]:
        """Names of the personal-data fields."""
        return frozenset(f.name for f in self.fields if f.personal_data)

    @property
    def qr_fields(self) -> tuple[str, ...]:
        """Names of the fields that may be disclosed in a QR code."""
        return tuple(f.name for f in self.fields if f.qr)


def _bad(msg: str, zh: str, fld: str) -> InvalidFieldError:
    return InvalidFieldError(msg, message_zh=zh, field=fld)


def _spec_from(d: Mapping[str, Any], where: str) -> FieldSpec:
    import re

    name = d.get("name")
    if not isinstance(name, str) or re.fullmatch(FIELD_NAME_PATTERN, name) is None:
        raise _bad(f"{where}: field names are lower-case identifiers", "字段名格式错误", f"{where}.name")
    try:
        ftype = FieldType(d.get("type"))
    except ValueError:
        raise _bad(f"{where}.{name}: type must be one of {', '.join(t.value for t in FieldType)}", "字段类型错误",
                   f"{where}.{name}.type") from None
    values = tuple(d.get("values") or ())
    if ftype is FieldType.ENUM and (not values or not all(isinstance(v, str) and v for v in values)):
        raise _bad(f"{where}.{name}: an enum field needs a list of values", "枚举字段需要取值列表", f"{where}.{name}")
    max_length = d.get("max_length")
    if max_length is not None and not (isinstance(max_length, int) and 0 < max_length <= MAX_STRING_CHARS):
        raise _bad(f"{where}.{name}: max_length must be 1..{MAX_STRING_CHARS}", "最大长度超出范围", f"{where}.{name}")
    return FieldSpec(name=name, type=ftype, label_zh=str(d.get("label_zh", "")), label_en=str(d.get("label_en", "")),
                     required=bool(d.get("required", False)), personal_data=bool(d.get("personal_data", False)),
                     max_length=max_length, values=values, min=d.get("min"), max=d.get("max"),
                     qr=bool(d.get("qr", False)), share=bool(d.get("share", True)))


def licence_type_from_dict(d: Mapping[str, Any], *, region: str | None = None) -> LicenceType:
    """Build and check a licence type from its JSON form (as in ``catalogue.json``).

    Raises:
        InvalidFieldError: the definition is inconsistent (names the offending key).
    """
    code = validate_licence_type_code(d.get("code"), field="code")
    raw_fields = d.get("fields")
    if not isinstance(raw_fields, list) or not (1 <= len(raw_fields) <= MAX_FIELDS):
        raise _bad(f"a licence type has 1..{MAX_FIELDS} fields", "字段数量超出范围", "fields")
    specs = tuple(_spec_from(f, "fields") if isinstance(f, dict) else _bad("fields are objects", "字段定义错误",
                                                                            "fields") for f in raw_fields)
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise _bad("field names must be unique", "字段名重复", "fields")
    by = {s.name: s for s in specs}
    try:
        kind = HolderKind(d.get("holder_kind"))
    except ValueError:
        raise _bad("holder_kind must be person or organisation", "持证主体类型应为 person 或 organisation",
                   "holder_kind") from None
    hid = d.get("holder_id_field")
    want = FieldType.ID_NUMBER if kind is HolderKind.PERSON else FieldType.USCC
    if hid not in by or by[hid].type is not want or not by[hid].required:
        raise _bad(f"holder_id_field must name a required {want.value} field for a {kind.value} holder",
                   "持证主体代码字段必须是与持证主体类型相符的必填字段", "holder_id_field")
    hname = d.get("holder_name_field")
    if hname not in by or by[hname].type is not FieldType.STRING or not by[hname].required:
        raise _bad("holder_name_field must name a required string field", "持证主体名称字段必须是必填字符串字段",
                   "holder_name_field")
    number = d.get("number_field")
    if number is not None and number not in by:
        raise _bad("number_field must name a field", "证照编号字段不存在", "number_field")
    v = d.get("validity") or {}
    try:
        vkind = ValidityKind(v.get("kind"))
    except ValueError:
        raise _bad("validity.kind must be fixed_years, open_ended or until_field", "有效期规则错误",
                   "validity.kind") from None
    years, vfield = v.get("years"), v.get("field")
    if vkind is ValidityKind.FIXED_YEARS and not (isinstance(years, int) and 1 <= years <= 100):
        raise _bad("validity.years must be 1..100", "有效年限应为 1 至 100", "validity.years")
    if vkind is ValidityKind.UNTIL_FIELD and (vfield not in by or by[vfield].type is not FieldType.DATE):
        raise _bad("validity.field must name a date field", "有效期截止字段必须是日期字段", "validity.field")
    for key in ("name_zh", "name_en", "department_zh", "department_en"):
        if not isinstance(d.get(key), str) or not d[key] or len(d[key]) > 200:
            raise _bad(f"{key} must be 1..200 characters", "名称长度错误", key)
    return LicenceType(code=code, name_zh=d["name_zh"], name_en=d["name_en"], department_zh=d["department_zh"],
                       department_en=d["department_en"], holder_kind=kind, holder_name_field=hname,
                       holder_id_field=hid, fields=specs,
                       validity=ValidityRule(vkind, years if vkind is ValidityKind.FIXED_YEARS else None,
                                             vfield if vkind is ValidityKind.UNTIL_FIELD else None),
                       number_field=number, region=region, illustrative=bool(d.get("illustrative", False)))


def licence_type_to_dict(t: LicenceType) -> dict[str, Any]:
    """The JSON form (inverse of :func:`licence_type_from_dict`)."""
    fields = []
    for f in t.fields:
        d: dict[str, Any] = {"name": f.name, "label_zh": f.label_zh, "label_en": f.label_en, "type": f.type.value,
                             "required": f.required, "personal_data": f.personal_data, "qr": f.qr}
        for key in ("max_length", "min", "max"):
            if getattr(f, key) is not None:
                d[key] = getattr(f, key)
        if f.values:
            d["values"] = list(f.values)
        if not f.share:
            d["share"] = False
        fields.append(d)
    validity: dict[str, Any] = {"kind": t.validity.kind.value}
    if t.validity.years is not None:
        validity["years"] = t.validity.years
    if t.validity.field is not None:
        validity["field"] = t.validity.field
    out: dict[str, Any] = {"code": t.code, "name_zh": t.name_zh, "name_en": t.name_en,
                           "department_zh": t.department_zh, "department_en": t.department_en,
                           "holder_kind": t.holder_kind.value, "holder_name_field": t.holder_name_field,
                           "holder_id_field": t.holder_id_field, "validity": validity, "fields": fields,
                           "region": t.region, "illustrative": t.illustrative}
    if t.number_field is not None:
        out["number_field"] = t.number_field
    return out


@lru_cache(maxsize=1)
def national_types() -> tuple[LicenceType, ...]:
    """The national licence types shipped in ``licences/data/catalogue.json``."""
    raw = json.loads(resources.files("licences").joinpath("data/catalogue.json").read_text(encoding="utf-8"))
    return tuple(licence_type_from_dict(t) for t in raw["types"])


class Catalogue:
    """National types plus regional ones.

    Args:
        regional: regional types (e.g. ``repository.list_types()``); their codes must not clash
            with national codes.
    """

    def __init__(self, regional: Iterable[LicenceType] = ()) -> None:
        self._types = {t.code: t for t in national_types()}
        for t in regional:
            if t.code in self._types and self._types[t.code].region is None:
                raise InvalidFieldError(f"{t.code} is a national licence type code",
                                        message_zh="与国家证照类型代码重复", field="code")
            self._types[t.code] = t

    def get(self, code: object, *, region: str | None = None) -> LicenceType:
        """The type with ``code``; a regional type only within its region when ``region`` is given.

        Raises:
            UnknownLicenceTypeError: no such type (field ``type_code``).
        """
        t = self._types.get(code) if isinstance(code, str) else None
        if t is None or (region is not None and t.region is not None and t.region != region):
            raise UnknownLicenceTypeError(f"unknown licence type {str(code)[:40]!r}", message_zh="证照类型不存在",
                                          field="type_code")
        return t

    def types(self, *, region: str | None = None) -> list[LicenceType]:
        """National types and those of ``region`` (all regional ones when ``None``), by code."""
        return sorted((t for t in self._types.values() if region is None or t.region in (None, region)),
                      key=lambda t: t.code)


# --- field validation --------------------------------------------------------------------------


def _nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value)


def _check_one(spec: FieldSpec, value: Any, today: date | None) -> str | int:
    name = spec.name
    if spec.type is FieldType.INT:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) < 20:
                value = int(value.strip())
            else:
                raise _bad(f"{name}: must be an integer", "必须为整数", name)
        lo = spec.min if spec.min is not None else -_MAX_INT
        hi = spec.max if spec.max is not None else _MAX_INT
        if not (lo <= value <= hi):
            raise _bad(f"{name}: must be {lo}..{hi}", "数值超出范围", name)
        return int(value)
    if not isinstance(value, str):
        raise _bad(f"{name}: must be a string", "必须为字符串", name)
    value = _nfc(value.strip())
    if spec.type is FieldType.STRING:
        limit = spec.max_length or MAX_STRING_CHARS
        if not value:
            raise _bad(f"{name}: must not be empty", "不能为空", name)
        if len(value) > limit:
            raise _bad(f"{name}: longer than {limit} characters", f"超过 {limit} 个字符", name)
        if any(unicodedata.category(c) == "Cc" for c in value):
            raise _bad(f"{name}: control characters are not allowed", "不能包含控制字符", name)
        return value
    if spec.type is FieldType.ENUM:
        if value not in spec.values:
            raise _bad(f"{name}: must be one of {', '.join(spec.values)}", "取值不在允许范围内", name)
        return value
    if spec.type is FieldType.DATE:
        try:
            if len(value) != 10:
                raise ValueError(value)
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise _bad(f"{name}: must be a date YYYY-MM-DD", "日期格式应为 YYYY-MM-DD", name) from None
    if spec.type is FieldType.ID_NUMBER:
        return validate_id_number(value, field=name, today=today).number
    if spec.type is FieldType.USCC:
        return validate_uscc(value, field=name).code
    return validate_area_code(value, field=name)


def validate_fields(t: LicenceType, data: Mapping[str, Any], *, today: date | None = None) -> dict[str, str | int]:
    """Check ``data`` against the type's schema; return the normalised values (absent optionals omitted).

    Empty strings and ``None`` count as absent.

    Raises:
        InvalidFieldError: unknown, missing or wrong-typed field (``field`` names it).
        CheckCharacterError: a wrong check character in an ``id_number`` or ``uscc`` field.
    """
    if not isinstance(data, Mapping):
        raise _bad("fields must be an object", "字段数据必须为对象", "fields")
    for key in data:
        if key not in t.by_name:
            raise _bad(f"{str(key)[:40]}: not a field of {t.name_en}", "不是该证照类型的字段", str(key)[:40])
    out: dict[str, str | int] = {}
    for spec in t.fields:
        value = data.get(spec.name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if spec.required:
                raise _bad(f"{spec.name}: required", "必填字段缺失", spec.name)
            continue
        out[spec.name] = _check_one(spec, value, today)
    return out
