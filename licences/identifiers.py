"""Identifiers and codes of the licence domain: generate and validate, with typed errors naming the field.

- Licence identifier (电子证照标识, GB/T 36904 as the national platform implements it)::

      1.2.156.3005.2.<type>.<issuer>.<serial>.<version>.<check>

  ``type`` = 21 characters (the defining department's 18-character USCC + a 3-digit sequence),
  ``issuer`` = the issuing authority's 18-character USCC (a 6-digit area code is accepted when
  *reading*, a local deviation seen in the wild), ``serial`` = 1..32 upper-case letters/digits
  chosen by the issuer, ``version`` = 3 digits from ``001``, ``check`` = ISO 7064 MOD 37,36
  (hybrid) over ``type + issuer + serial + version`` without the dots.
- Unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters over ``0-9A-Z`` minus
  I, O, S, V, Z; check = ``(31 - Σ value·3^(i-1) mod 31) mod 31``. The embedded organisation code
  (GB 11714, positions 9-17) has its own check, reported in :attr:`Uscc.org_code_ok` but not enforced
  (early codes do not always satisfy it).
- Resident identity number (公民身份号码, GB 11643-1999): area (GB/T 2260) + birth date
  ``YYYYMMDD`` + sequence (odd = male) + ISO 7064 MOD 11-2 check (``10X98765432``).
- Administrative division codes (GB/T 2260): 6 digits = province + prefecture + county. Only the
  province-level table is shipped (:data:`PROVINCES`); prefecture and county lists change every
  year (the Ministry of Civil Affairs publishes them), so below the province only the format is
  checked.

Every validator returns the normalised value (or a parsed object) and raises
:class:`~licences.errors.CheckCharacterError` for a wrong check character or
:class:`~licences.errors.InvalidFieldError` for a wrong shape; never a bare bool.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from licences.errors import CheckCharacterError, InvalidFieldError

__all__ = [
    "ALNUM36",
    "LICENCE_ID_ROOT",
    "MAX_SERIAL_CHARS",
    "MIN_BIRTH_YEAR",
    "PROVINCES",
    "USCC_ALPHABET",
    "LicenceId",
    "ResidentId",
    "Uscc",
    "id_number_check",
    "make_id_number",
    "make_licence_id",
    "make_uscc",
    "mod37_36_check",
    "org_code_check",
    "parse_licence_id",
    "uscc_check",
    "validate_area_code",
    "validate_id_number",
    "validate_licence_type_code",
    "validate_uscc",
]

#: Root OID of licence identifiers (GB/T 36904).
LICENCE_ID_ROOT = "1.2.156.3005.2"
#: Alphabet of the MOD 37,36 check (and of the identifier's middle fields).
ALNUM36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#: USCC alphabet: 31 characters, no I, O, S, V, Z.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
#: Longest serial (流水号) accepted in a licence identifier.
MAX_SERIAL_CHARS = 32
#: Earliest birth year accepted in a resident identity number.
MIN_BIRTH_YEAR = 1850
_MAX_ID_CHARS = 200

_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_MAP = "10X98765432"
_USCC_INDEX = {c: i for i, c in enumerate(USCC_ALPHABET)}
_ALNUM_INDEX = {c: i for i, c in enumerate(ALNUM36)}
_UPPER_ALNUM = re.compile(r"[0-9A-Z]+")
_SERIAL = re.compile(rf"[0-9A-Z]{{1,{MAX_SERIAL_CHARS}}}")

#: GB/T 2260 province-level divisions: code prefix -> (Chinese name, English name).
PROVINCES: dict[str, tuple[str, str]] = {
    "11": ("北京市", "Beijing"), "12": ("天津市", "Tianjin"), "13": ("河北省", "Hebei"),
    "14": ("山西省", "Shanxi"), "15": ("内蒙古自治区", "Inner Mongolia"), "21": ("辽宁省", "Liaoning"),
    "22": ("吉林省", "Jilin"), "23": ("黑龙江省", "Heilongjiang"), "31": ("上海市", "Shanghai"),
    "32": ("江苏省", "Jiangsu"), "33": ("浙江省", "Zhejiang"), "34": ("安徽省", "Anhui"),
    "35": ("福建省", "Fujian"), "36": ("江西省", "Jiangxi"), "37": ("山东省", "Shandong"),
    "41": ("河南省", "Henan"), "42": ("湖北省", "Hubei"), "43": ("湖南省", "Hunan"),
    "44": ("广东省", "Guangdong"), "45": ("广西壮族自治区", "Guangxi"), "46": ("海南省", "Hainan"),
    "50": ("重庆市", "Chongqing"), "51": ("四川省", "Sichuan"), "52": ("贵州省", "Guizhou"),
    "53": ("云南省", "Yunnan"), "54": ("西藏自治区", "Tibet"), "61": ("陕西省", "Shaanxi"),
    "62": ("甘肃省", "Gansu"), "63": ("青海省", "Qinghai"), "64": ("宁夏回族自治区", "Ningxia"),
    "65": ("新疆维吾尔自治区", "Xinjiang"), "71": ("台湾省", "Taiwan"),
    "81": ("香港特别行政区", "Hong Kong SAR"), "82": ("澳门特别行政区", "Macao SAR"),
}
#: The national level in USCC positions 3-8 (central bodies).
_NATIONAL_AREA = "100000"


def _text(value: object, field: str, what_en: str, what_zh: str) -> str:
    if not isinstance(value, str):
        raise InvalidFieldError(f"{field}: {what_en} must be a string", message_zh=f"{what_zh}必须为字符串",
                                field=field)
    if len(value) > _MAX_ID_CHARS:
        raise InvalidFieldError(f"{field}: {what_en} is too long", message_zh=f"{what_zh}过长", field=field)
    return value.strip().upper()


# --- ISO 7064 MOD 37,36 and the licence identifier -------------------------------------------


def mod37_36_check(s: str) -> str:
    """ISO 7064 MOD 37,36 (hybrid) check character of ``s`` (``0-9A-Z``, upper case)."""
    m = 36
    p = m
    for ch in s:
        v = _ALNUM_INDEX.get(ch)
        if v is None:
            raise InvalidFieldError(f"character {ch!r} is not 0-9/A-Z", message_zh="只能包含数字和大写字母")
        t = (p + v) % m or m
        p = (t * 2) % (m + 1)
    return ALNUM36[(m + 1 - p) % m]


@dataclass(frozen=True)
class LicenceId:
    """A parsed, check-verified licence identifier."""

    type_code: str
    """证照类型代码: 21 characters (defining department USCC + 3-digit sequence)."""
    issuer_code: str
    """证照颁发机构代码: the issuer's 18-character USCC (or a 6-digit area code, read-only)."""
    serial: str
    """流水号: 1..32 upper-case letters or digits."""
    version: int
    """版本号 as an integer (1..999; written as 3 digits)."""
    check: str
    """校验位: the MOD 37,36 character."""

    def __str__(self) -> str:
        return (f"{LICENCE_ID_ROOT}.{self.type_code}.{self.issuer_code}.{self.serial}."
                f"{self.version:03d}.{self.check}")

    def with_version(self, version: int) -> LicenceId:
        """The identifier of another version of the same licence (new check character)."""
        return make_licence_id(self.type_code, self.issuer_code, self.serial, version)


def validate_licence_type_code(value: object, *, field: str = "type_code") -> str:
    """A 21-character licence type code: a valid USCC of the defining department + 3 digits."""
    code = _text(value, field, "licence type code", "证照类型代码")
    if len(code) != 21 or not code[18:].isdigit():
        raise InvalidFieldError(f"{field}: a licence type code is 21 characters: the defining department's "
                                "USCC followed by 3 digits",
                                message_zh="证照类型代码应为 21 位：定义机构统一社会信用代码 + 3 位顺序号", field=field)
    validate_uscc(code[:18], field=field)
    return code


def make_licence_id(type_code: str, issuer_code: str, serial: str, version: int, *,
                    codes_checked: bool = False) -> LicenceId:
    """Build an identifier with its check character (issuer must be a valid USCC).

    ``codes_checked=True`` skips re-validating the type code and issuer USCC (the caller took them
    from a registered type and authority); serial and version are always checked.

    Raises:
        InvalidFieldError / CheckCharacterError: a part has the wrong shape or check character.
    """
    if not codes_checked:
        type_code = validate_licence_type_code(type_code)
        issuer_code = validate_uscc(issuer_code, field="issuer_code").code
    if not isinstance(serial, str) or _SERIAL.fullmatch(serial) is None:
        raise InvalidFieldError(f"serial must be 1..{MAX_SERIAL_CHARS} characters 0-9/A-Z",
                                message_zh="流水号应为 1 至 32 位数字或大写字母", field="serial")
    if isinstance(version, bool) or not isinstance(version, int) or not (1 <= version <= 999):
        raise InvalidFieldError("version must be 1..999", message_zh="版本号应为 1 至 999", field="version")
    body = f"{type_code}{issuer_code}{serial}{version:03d}"
    return LicenceId(type_code, issuer_code, serial, version, mod37_36_check(body))


def parse_licence_id(value: object, *, field: str = "licence_id") -> LicenceId:
    """Parse and check a licence identifier.

    Raises:
        InvalidFieldError: wrong shape (root, part count, lengths, characters).
        CheckCharacterError: the MOD 37,36 check character does not match.
    """
    text = _text(value, field, "licence identifier", "证照标识")
    prefix = LICENCE_ID_ROOT + "."
    if not text.startswith(prefix):
        raise InvalidFieldError(f"{field}: a licence identifier starts with {prefix}",
                                message_zh=f"证照标识应以 {prefix} 开头", field=field)
    parts = text[len(prefix):].split(".")
    if len(parts) != 5:
        raise InvalidFieldError(f"{field}: expected <type>.<issuer>.<serial>.<version>.<check> after the root",
                                message_zh="证照标识应由类型代码、颁发机构代码、流水号、版本号和校验位组成",
                                field=field)
    type_code, issuer, serial, version, check = parts
    ok = (len(type_code) == 21 and _UPPER_ALNUM.fullmatch(type_code) and type_code[18:].isdigit()
          and ((len(issuer) == 18 and _UPPER_ALNUM.fullmatch(issuer)) or (len(issuer) == 6 and issuer.isdigit()))
          and _SERIAL.fullmatch(serial) and len(version) == 3 and version.isdigit() and version != "000"
          and len(check) == 1 and check in _ALNUM_INDEX)
    if not ok:
        raise InvalidFieldError(f"{field}: malformed licence identifier {text!r}", message_zh="证照标识格式错误",
                                field=field)
    want = mod37_36_check(type_code + issuer + serial + version)
    if check != want:
        raise CheckCharacterError(f"{field}: wrong check character {check!r} (MOD 37,36 gives {want!r})",
                                  message_zh="证照标识校验位错误", field=field)
    return LicenceId(type_code, issuer, serial, int(version), check)


# --- USCC (GB 32100) -------------------------------------------------------------------------


def uscc_check(first17: str) -> str:
    """Check character of the first 17 USCC characters."""
    try:
        total = sum(_USCC_INDEX[c] * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    except (KeyError, ValueError):
        raise InvalidFieldError("a USCC body is 17 characters of 0-9/A-Z without I, O, S, V, Z",
                                message_zh="统一社会信用代码字符错误") from None
    return USCC_ALPHABET[(31 - total % 31) % 31]


def org_code_check(first8: str) -> str:
    """GB 11714 organisation code check character of 8 characters (10 -> X, 11 -> 0)."""
    total = 0
    for c, w in zip(first8, _ORG_WEIGHTS, strict=True):
        total += (int(c) if c.isdigit() else ord(c) - 55) * w
    c = 11 - total % 11
    return "X" if c == 10 else "0" if c == 11 else str(c)


@dataclass(frozen=True)
class Uscc:
    """A check-verified unified social credit code."""

    code: str
    """The 18 characters, upper case."""
    registration_dept: str
    """登记管理部门代码 (position 1: 1 机构编制, 5 民政, 9 市场监管, Y 其他, ...)."""
    category: str
    """机构类别代码 (position 2)."""
    area: str
    """登记管理机关行政区划码 (positions 3-8, GB/T 2260; ``100000`` for central bodies)."""
    org_code_ok: bool
    """Whether the embedded GB 11714 organisation code satisfies its own check (informational)."""


def validate_uscc(value: object, *, field: str = "uscc") -> Uscc:
    """Validate a USCC (shape, alphabet, area shape, check character).

    Raises:
        InvalidFieldError: wrong length or characters.
        CheckCharacterError: the check character does not match.
    """
    code = _text(value, field, "unified social credit code", "统一社会信用代码")
    if len(code) != 18 or any(c not in _USCC_INDEX for c in code):
        raise InvalidFieldError(f"{field}: a unified social credit code is 18 characters of 0-9/A-Z "
                                "without I, O, S, V, Z", message_zh="统一社会信用代码应为 18 位（不含 I、O、S、V、Z）",
                                field=field)
    if not code[2:8].isdigit():
        raise InvalidFieldError(f"{field}: USCC positions 3-8 must be a GB/T 2260 area code",
                                message_zh="统一社会信用代码第 3-8 位应为行政区划代码", field=field)
    want = uscc_check(code[:17])
    if code[17] != want:
        raise CheckCharacterError(f"{field}: wrong USCC check character {code[17]!r} (expected {want!r})",
                                  message_zh="统一社会信用代码校验位错误", field=field)
    org = code[8:17]
    org_ok = all(c.isdigit() or "A" <= c <= "Z" for c in org[:8]) and org_code_check(org[:8]) == org[8]
    return Uscc(code, code[0], code[1], code[2:8], org_ok)


def make_uscc(registration_dept: str, category: str, area: str, org_body8: str) -> str:
    """A USCC from its parts; the organisation code's own check character is computed too."""
    if area != _NATIONAL_AREA:
        validate_area_code(area, field="area")
    body = f"{registration_dept}{category}{area}{org_body8}{org_code_check(org_body8)}"
    if len(body) != 17:
        raise InvalidFieldError("USCC parts have the wrong lengths", message_zh="统一社会信用代码组成部分长度错误",
                                field="uscc")
    return body + uscc_check(body)


# --- resident identity number (GB 11643) -----------------------------------------------------


def id_number_check(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of 17 digits."""
    if len(first17) != 17 or not first17.isdigit():
        raise InvalidFieldError("an identity number body is 17 digits", message_zh="公民身份号码本体应为 17 位数字")
    return _ID_MAP[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


@dataclass(frozen=True)
class ResidentId:
    """A check-verified resident identity number."""

    number: str
    """The 18 characters (``X`` upper case)."""
    area: str
    """GB/T 2260 code of the registered residence at issue."""
    birth_date: date
    """Date of birth."""
    sequence: str
    """顺序码 (3 digits)."""

    @property
    def sex(self) -> str:
        """``male`` for an odd sequence, ``female`` for an even one."""
        return "male" if int(self.sequence[2]) % 2 else "female"


def validate_id_number(value: object, *, field: str = "id_number", today: date | None = None) -> ResidentId:
    """Validate an 18-character resident identity number.

    Checks the shape, the province prefix of the area code, that the birth date is a real date
    from :data:`MIN_BIRTH_YEAR` on and not after ``today`` (when given), and the check character.

    Raises:
        InvalidFieldError: shape, area or birth date.
        CheckCharacterError: the check character does not match.
    """
    num = _text(value, field, "resident identity number", "公民身份号码")
    if len(num) != 18 or not num[:17].isdigit() or not (num[17].isdigit() or num[17] == "X"):
        raise InvalidFieldError(f"{field}: a resident identity number is 17 digits and a check digit or X "
                                "(15-digit numbers are not accepted)", message_zh="公民身份号码应为 18 位", field=field)
    validate_area_code(num[:6], field=field)
    try:
        born = date(int(num[6:10]), int(num[10:12]), int(num[12:14]))
    except ValueError:
        raise InvalidFieldError(f"{field}: the birth date {num[6:14]} is not a real date",
                                message_zh="公民身份号码中的出生日期无效", field=field) from None
    if born.year < MIN_BIRTH_YEAR or (today is not None and born > today):
        raise InvalidFieldError(f"{field}: the birth date {born.isoformat()} is out of range",
                                message_zh="公民身份号码中的出生日期超出范围", field=field)
    want = id_number_check(num[:17])
    if num[17] != want:
        raise CheckCharacterError(f"{field}: wrong check character {num[17]!r} (MOD 11-2 gives {want!r})",
                                  message_zh="公民身份号码校验位错误", field=field)
    return ResidentId(num, num[:6], born, num[14:17])


def make_id_number(area: str, birth: date, sequence: int) -> str:
    """A resident identity number from its parts (sequence 0..999; odd = male)."""
    validate_area_code(area, field="area")
    if not (0 <= sequence <= 999):
        raise InvalidFieldError("sequence must be 0..999", message_zh="顺序码应为 0 至 999", field="sequence")
    body = f"{area}{birth:%Y%m%d}{sequence:03d}"
    return body + id_number_check(body)


# --- GB/T 2260 area codes --------------------------------------------------------------------


def validate_area_code(value: object, *, field: str = "area_code") -> str:
    """A 6-digit GB/T 2260 code with a known province prefix; ``xx0000``/``xxxx00`` levels allowed.

    Below the province only the format is checked (county lists change yearly).
    """
    code = _text(value, field, "area code", "行政区划代码")
    if len(code) != 6 or not code.isdigit():
        raise InvalidFieldError(f"{field}: a GB/T 2260 area code is 6 digits", message_zh="行政区划代码应为 6 位数字",
                                field=field)
    if code[:2] not in PROVINCES:
        raise InvalidFieldError(f"{field}: {code[:2]} is not a province-level code of GB/T 2260",
                                message_zh="行政区划代码的省级代码不存在", field=field)
    if code[2:4] == "00" and code[4:] != "00":
        raise InvalidFieldError(f"{field}: a county code needs a prefecture part", message_zh="行政区划代码层级错误",
                                field=field)
    return code
