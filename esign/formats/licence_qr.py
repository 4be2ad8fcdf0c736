"""The ``ESL1:`` licence QR profile: constants and the CWT claims map, shared by signer and verifier.

Profile (``docs/licence-files.md`` has the rationale)::

    QR text   = "ESL1:" + Base45( zlib( COSE_Sign1 ) )           (RFC 9285, RFC 1950, RFC 9052)
    COSE_Sign1 = tag 18 [ protected = bstr{ 1 (alg): ALG, 4 (kid): bstr(8) }, {}, payload, signature ]
    payload   = CWT claims (RFC 8392), CBOR map:
                  6 (iat): int seconds           -- when the token was made (required)
                  4 (exp): int seconds           -- end of validity (absent: long-term licence)
                  65535 (status): {"status_list": {"idx": uint, "uri": tstr}}   -- IETF Token Status List
                  -65537 (licence, private use): {
                      1: identifier tstr   -- 1.2.156.3005.2.<type>.<issuer>.<serial>.<version>.<check>
                      2: region tstr       -- GB/T 2260 code of the issuing region
                      3: {field: tstr|int} -- only fields the catalogue allows in a QR (may be empty)
                  }
    ALG       = -65537 "SM2-SM3" (private use: SM2 signature with SM3 and the default ID
                1234567812345678 over the Sig_structure, value raw r||s, 64 bytes)
              | -7 ES256 (ECDSA P-256 with SHA-256, raw r||s)
    kid       = first 8 bytes of SHA-256 of the signer certificate (DER), as in the EU DCC.

No COSE algorithm is registered for SM2. Values below -65536 are private use in the IANA COSE
Algorithms registry; -48 (the value that first comes to mind) is assigned to ML-DSA-44. The type
code and the issuer code are parts of the identifier and are not repeated (40 bytes saved).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from keys.errors import BadInputError

__all__ = [
    "CLAIM_EXP",
    "CLAIM_IAT",
    "CLAIM_LICENCE",
    "CLAIM_STATUS",
    "COSE_ALG_ES256",
    "COSE_ALG_SM2_SM3",
    "IDENTIFIER_PATTERN",
    "LICENCE_QR_PREFIX",
    "MAX_DISCLOSED_FIELDS",
    "MAX_STRING_CHARS",
    "MAX_TOKEN_BYTES",
    "LicenceQrClaims",
    "LicenceQrClaimsError",
    "claims_from_cbor",
    "claims_to_cbor",
    "licence_qr_kid",
]

#: Prefix of the QR text (all characters in the QR alphanumeric set).
LICENCE_QR_PREFIX = "ESL1:"
#: COSE algorithm ids.
COSE_ALG_SM2_SM3 = -65537
COSE_ALG_ES256 = -7
#: CWT claim keys.
CLAIM_EXP, CLAIM_IAT, CLAIM_STATUS, CLAIM_LICENCE = 4, 6, 65535, -65537
_L_ID, _L_REGION, _L_FIELDS = 1, 2, 3
#: Largest COSE_Sign1 accepted after decompression (a licence token is a few hundred bytes).
MAX_TOKEN_BYTES = 2048
#: Most fields disclosed in one token.
MAX_DISCLOSED_FIELDS = 16
#: Longest string claim.
MAX_STRING_CHARS = 256
#: Identifier syntax (GB/T 36904 as implemented; the check character is not recomputed here).
IDENTIFIER_PATTERN = re.compile(r"1\.2\.156\.3005\.2\.([0-9A-Z]{21})\.([0-9A-Z]{6,18})\.([0-9A-Za-z]{1,40})"
                                r"\.([0-9]{3})\.([0-9A-Z])")
_REGION = re.compile(r"[0-9]{6}")
_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


class LicenceQrClaimsError(BadInputError):
    """The claims of a licence QR token are missing, mistyped or out of bounds."""

    code = "bad_licence_qr_claims"
    default_zh = "证照二维码声明内容错误"


def _bad(en: str, zh: str, fld: str) -> LicenceQrClaimsError:
    return LicenceQrClaimsError(en, message_zh=zh, field=fld)


def licence_qr_kid(cert_der: bytes) -> bytes:
    """KID of a signer certificate: the first 8 bytes of SHA-256 of its DER (same rule as the EU DCC)."""
    return hashlib.sha256(bytes(cert_der)).digest()[:8]


@dataclass(frozen=True)
class LicenceQrClaims:
    """What a licence QR token says (holds personal data when fields are disclosed: never log it)."""

    identifier: str
    """The licence identifier (type code and issuer code are parts of it)."""
    region: str
    """GB/T 2260 code of the issuing region."""
    issued_at: datetime
    """When the token was made (whole seconds, UTC)."""
    expires_at: datetime | None = None
    """End of validity of the token (``None``: as long as the licence, a long-term one)."""
    disclosed: Mapping[str, str | int] = field(default_factory=dict)
    """Fields the catalogue allows in a QR, by field name."""
    status_index: int | None = None
    """Index of the licence in its issuer's status list."""
    status_uri: str | None = None
    """URI of that status list."""

    @property
    def type_code(self) -> str:
        """证照类型代码, from the identifier."""
        return self._parts()[0]

    @property
    def issuer_code(self) -> str:
        """证照颁发机构代码 (USCC, or an area code in some regions), from the identifier."""
        return self._parts()[1]

    @property
    def version(self) -> int:
        """版本号, from the identifier."""
        return int(self._parts()[3])

    def _parts(self) -> tuple[str, ...]:
        m = IDENTIFIER_PATTERN.fullmatch(self.identifier)
        if m is None:
            raise _bad("the licence identifier is malformed", "证照标识格式错误", "identifier")
        return m.groups()

    def check(self) -> LicenceQrClaims:
        """Raise :class:`LicenceQrClaimsError` unless every claim is well-formed; return self."""
        if not isinstance(self.identifier, str) or IDENTIFIER_PATTERN.fullmatch(self.identifier) is None:
            raise _bad("the licence identifier is malformed", "证照标识格式错误", "identifier")
        if not isinstance(self.region, str) or _REGION.fullmatch(self.region) is None:
            raise _bad("region must be a 6-digit GB/T 2260 code", "地区代码应为 6 位数字", "region")
        for name, t in (("issued_at", self.issued_at), ("expires_at", self.expires_at)):
            if t is not None and (not isinstance(t, datetime) or t.tzinfo is None):
                raise _bad(f"{name} must be a timezone-aware datetime", "时间必须带时区", name)
        if self.expires_at is not None and self.expires_at <= self.issued_at:
            raise _bad("expires_at must be after issued_at", "过期时间应晚于签发时间", "expires_at")
        if not isinstance(self.disclosed, Mapping) or len(self.disclosed) > MAX_DISCLOSED_FIELDS:
            raise _bad(f"at most {MAX_DISCLOSED_FIELDS} disclosed fields", "披露字段过多", "disclosed")
        for k, v in self.disclosed.items():
            if not isinstance(k, str) or _FIELD_NAME.fullmatch(k) is None:
                raise _bad(f"bad field name {str(k)[:40]!r}", "字段名错误", "disclosed")
            if isinstance(v, bool) or not isinstance(v, (str, int)) or (isinstance(v, str)
                                                                        and len(v) > MAX_STRING_CHARS):
                raise _bad(f"field {k}: value must be a string (<= {MAX_STRING_CHARS}) or an integer",
                           f"字段 {k} 的值类型错误", f"disclosed.{k}")
            if isinstance(v, int) and not -(2**53) < v < 2**53:
                raise _bad(f"field {k}: integer out of range", f"字段 {k} 的数值超出范围", f"disclosed.{k}")
        if (self.status_index is None) != (self.status_uri is None):
            raise _bad("status_index and status_uri go together", "状态列表索引与地址须同时给出", "status_uri")
        if self.status_index is not None and (isinstance(self.status_index, bool)
                                              or not isinstance(self.status_index, int)
                                              or not 0 <= self.status_index < 2**32):
            raise _bad("status_index must be an integer 0..2^32-1", "状态列表索引错误", "status_index")
        if self.status_uri is not None and (not isinstance(self.status_uri, str) or not self.status_uri
                                            or len(self.status_uri) > MAX_STRING_CHARS
                                            or not self.status_uri.isprintable()):
            raise _bad("status_uri must be a printable string", "状态列表地址错误", "status_uri")
        return self


def _secs(t: datetime) -> int:
    return int(t.astimezone(UTC).timestamp())


def claims_to_cbor(claims: LicenceQrClaims) -> dict[int, Any]:
    """The CWT claims map (for ``cbor2.dumps``) of checked ``claims``."""
    claims.check()
    lic: dict[int, Any] = {_L_ID: claims.identifier, _L_REGION: claims.region}
    if claims.disclosed:
        lic[_L_FIELDS] = dict(sorted(claims.disclosed.items()))
    out: dict[int, Any] = {CLAIM_IAT: _secs(claims.issued_at)}
    if claims.expires_at is not None:
        out[CLAIM_EXP] = _secs(claims.expires_at)
    if claims.status_uri is not None:
        out[CLAIM_STATUS] = {"status_list": {"idx": claims.status_index, "uri": claims.status_uri}}
    out[CLAIM_LICENCE] = lic
    return out


def _time(v: Any, name: str) -> datetime:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**40:
        raise _bad(f"claim {name} must be integer seconds", f"声明 {name} 应为整数秒", name)
    return datetime.fromtimestamp(v, UTC)


def claims_from_cbor(obj: Any) -> LicenceQrClaims:
    """Strictly read a decoded CWT claims map; unknown claims are refused (nothing is ignored)."""
    if not isinstance(obj, dict):
        raise _bad("the CWT payload is not a map", "CWT 负载不是映射", "claims")
    unknown = set(obj) - {CLAIM_IAT, CLAIM_EXP, CLAIM_STATUS, CLAIM_LICENCE}
    if unknown:
        raise _bad(f"unknown claim(s) {sorted(map(repr, unknown))[:4]}", "含有未知声明", "claims")
    if CLAIM_IAT not in obj or CLAIM_LICENCE not in obj:
        raise _bad("the iat (6) and licence (-65537) claims are required", "缺少 iat 或证照声明", "claims")
    lic = obj[CLAIM_LICENCE]
    if not isinstance(lic, dict) or set(lic) - {_L_ID, _L_REGION, _L_FIELDS} or not {_L_ID, _L_REGION} <= set(lic):
        raise _bad("the licence claim must hold 1 (identifier), 2 (region) and optionally 3 (fields)",
                   "证照声明结构错误", "licence")
    fields = lic.get(_L_FIELDS, {})
    if not isinstance(fields, dict):
        raise _bad("disclosed fields must be a map", "披露字段应为映射", "disclosed")
    idx = uri = None
    if CLAIM_STATUS in obj:
        st = obj[CLAIM_STATUS]
        sl = st.get("status_list") if isinstance(st, dict) and set(st) == {"status_list"} else None
        if not isinstance(sl, dict) or set(sl) != {"idx", "uri"}:
            raise _bad("the status claim must be {status_list: {idx, uri}}", "状态声明结构错误", "status")
        idx, uri = sl["idx"], sl["uri"]
    claims = LicenceQrClaims(identifier=lic[_L_ID], region=lic[_L_REGION], issued_at=_time(obj[CLAIM_IAT], "iat"),
                             expires_at=_time(obj[CLAIM_EXP], "exp") if CLAIM_EXP in obj else None,
                             disclosed=fields, status_index=idx, status_uri=uri)
    return claims.check()
