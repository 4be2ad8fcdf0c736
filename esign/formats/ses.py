"""GB/T 38540-2020 / GM/T 0031 electronic seals (``SESeal``) and seal signatures (``SES_Signature``).

Three layouts are read (see ``../shared/reference/standards.md`` §1):

- GM/T 0031-2014 ("v1"): ``SESeal ::= SEQUENCE {esealInfo, signInfo}``; the maker signs
  ``DER(SEQUENCE {esealInfo, cert, signatureAlgorithm})``; ``SES_Signature ::= SEQUENCE {toSign,
  signature}`` with the signer certificate and algorithm inside ``TBS_Sign``.
- GB/T 38540-2020 ("v4"): ``SESeal ::= SEQUENCE {eSealInfo, cert, signAlgID, signedValue}``; the
  maker signs ``DER(eSealInfo)``; ``SES_Signature ::= SEQUENCE {toSign, cert, signatureAlgID,
  signature, [0] timeStamp OPTIONAL}`` and the signer signs ``DER(toSign)``.
- GM/T 0031-2025 ("v5"): v4 plus ``timeStamp [0] BIT STRING OPTIONAL`` at the end of ``SESeal``
  and version 5 in the header / ``TBS_Sign``.

Only v4 is written. Parsing never checks a signature: ``parse_unverified_*`` return what the
bytes say together with the exact to-be-signed bytes (taken from the input, never re-encoded),
and :mod:`verifier.ses` decides whether to believe them. Every size, count and nesting is bounded
by the named limits below; anything malformed raises :class:`SesFormatError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import TypeVar

from asn1crypto import cms, core, tsp, x509

from keys.errors import BadInputError
from keys.hashing import sm3

__all__ = [
    "IMPRINT_HASHES",
    "MAX_CERTS_IN_SEAL",
    "MAX_CERT_BYTES",
    "MAX_EXT_DATAS",
    "MAX_PICTURE_BYTES",
    "MAX_PROPERTY_INFO_CHARS",
    "MAX_SEAL_BYTES",
    "MAX_SIGNATURE_BYTES",
    "MAX_TIMESTAMP_BYTES",
    "MAX_WRAP_DEPTH",
    "SEAL_HEADER_ID",
    "SM2_SM3_OID",
    "CertDigest",
    "ExtData",
    "Seal",
    "SealPicture",
    "SesFormatError",
    "SesSignature",
    "TimestampImprint",
    "detect_ses_kind",
    "encode_seal_info_v4",
    "encode_seal_v4",
    "encode_ses_signature_v4",
    "encode_tbs_sign_v4",
    "parse_timestamp_imprint",
    "parse_unverified_seal",
    "parse_unverified_ses_signature",
    "signer_in_seal",
]

#: Largest ``SESeal`` accepted (DER bytes).
MAX_SEAL_BYTES = 4 << 20
#: Largest ``SES_Signature`` accepted (it embeds a seal).
MAX_SIGNATURE_BYTES = MAX_SEAL_BYTES + (1 << 20)
#: Largest seal picture.
MAX_PICTURE_BYTES = 2 << 20
#: Most signer certificates (or certificate digests) in one seal's list.
MAX_CERTS_IN_SEAL = 64
#: Largest certificate inside a seal or signature.
MAX_CERT_BYTES = 64 << 10
#: Most ``ExtData`` entries in one ``ExtensionDatas``.
MAX_EXT_DATAS = 64
#: Longest ``propertyInfo`` / name / esID text.
MAX_PROPERTY_INFO_CHARS = 4096
#: Largest embedded timestamp token.
MAX_TIMESTAMP_BYTES = 64 << 10
#: How many non-standard wrappers (an ``eseal`` inside an OCTET STRING, ...) are unwrapped at most.
MAX_WRAP_DEPTH = 2
#: ``SES_Header.ID``.
SEAL_HEADER_ID = "ES"
#: SM3withSM2 (GM/T 0006).
SM2_SM3_OID = "1.2.156.10197.1.501"


class SesFormatError(BadInputError):
    """The bytes are not a well-formed GB/T 38540 / GM/T 0031 seal or seal signature."""

    code = "bad_ses_format"
    default_zh = "电子印章或电子签章数据格式错误"


# --- ASN.1 definitions (asn1crypto) ------------------------------------------------------------


class SesHeader(core.Sequence):
    """``SES_Header ::= SEQUENCE {ID IA5String, version INTEGER, Vid IA5String}``."""

    _fields = [("id", core.IA5String), ("version", core.Integer), ("vid", core.IA5String)]


class ExtDataAsn1(core.Sequence):
    """``ExtData ::= SEQUENCE {extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING}``."""

    _fields = [
        ("extn_id", core.ObjectIdentifier),
        ("critical", core.Boolean, {"default": False}),
        ("extn_value", core.OctetString),
    ]


class ExtensionDatas(core.SequenceOf):
    """``ExtensionDatas ::= SEQUENCE SIZE (0..MAX) OF ExtData``."""

    _child_spec = ExtDataAsn1


class CertInfoList(core.SequenceOf):
    """``CertInfoList ::= SEQUENCE OF Cert`` (each an OCTET STRING holding a DER certificate)."""

    _child_spec = core.OctetString


class CertDigestObj(core.Sequence):
    """``CertDigestObj ::= SEQUENCE {type PrintableString, value OCTET STRING}``."""

    _fields = [("type", core.PrintableString), ("value", core.OctetString)]


class CertDigestList(core.SequenceOf):
    """``CertDigestList ::= SEQUENCE OF CertDigestObj``."""

    _child_spec = CertDigestObj


class SesESPictrueInfo(core.Sequence):
    """``SES_ESPictrueInfo ::= SEQUENCE {type IA5String, data OCTET STRING, width INTEGER, height INTEGER}``."""

    _fields = [("type", core.IA5String), ("data", core.OctetString), ("width", core.Integer), ("height", core.Integer)]


class SesESPropertyInfoV1(core.Sequence):
    """GM/T 0031-2014 ``SES_ESPropertyInfo`` (UTCTime; GeneralizedTime tolerated)."""

    _fields = [
        ("type", core.Integer),
        ("name", core.UTF8String),
        ("cert_list", CertInfoList),
        ("create_date", x509.Time),
        ("valid_start", x509.Time),
        ("valid_end", x509.Time),
    ]


class SesESPropertyInfoV4(core.Sequence):
    """GB/T 38540-2020 ``SES_ESPropertyInfo``; ``certList`` is an untagged CHOICE picked by ``certListType``."""

    _fields = [
        ("type", core.Integer),
        ("name", core.UTF8String),
        ("cert_list_type", core.Integer),
        ("cert_list", core.Any),
        ("create_date", x509.Time),
        ("valid_start", x509.Time),
        ("valid_end", x509.Time),
    ]


class SesSealInfoV1(core.Sequence):
    """GM/T 0031-2014 ``SES_SealInfo``."""

    _fields = [
        ("header", SesHeader),
        ("es_id", core.IA5String),
        ("property", SesESPropertyInfoV1),
        ("picture", SesESPictrueInfo),
        ("ext_datas", ExtensionDatas, {"optional": True}),
    ]


class SesSealInfoV4(core.Sequence):
    """GB/T 38540-2020 / GM/T 0031-2025 ``SES_SealInfo``."""

    _fields = [
        ("header", SesHeader),
        ("es_id", core.IA5String),
        ("property", SesESPropertyInfoV4),
        ("picture", SesESPictrueInfo),
        ("ext_datas", ExtensionDatas, {"optional": True}),
    ]


class SesSignInfoV1(core.Sequence):
    """GM/T 0031-2014 ``SES_SignInfo ::= SEQUENCE {cert, signatureAlgorithm, signData}``."""

    _fields = [("cert", core.OctetString), ("signature_algorithm", core.ObjectIdentifier),
               ("sign_data", core.OctetBitString)]


class SESealV1(core.Sequence):
    """GM/T 0031-2014 ``SESeal ::= SEQUENCE {esealInfo, signInfo}``."""

    _fields = [("eseal_info", SesSealInfoV1), ("sign_info", SesSignInfoV1)]


class SESealV4(core.Sequence):
    """GB/T 38540-2020 ``SESeal`` (and GM/T 0031-2025 with the optional ``timeStamp [0]`` EXPLICIT)."""

    _fields = [
        ("eseal_info", SesSealInfoV4),
        ("cert", core.OctetString),
        ("sign_alg_id", core.ObjectIdentifier),
        ("signed_value", core.OctetBitString),
        ("time_stamp", core.OctetBitString, {"explicit": 0, "optional": True}),
    ]


class _SESealV5Implicit(SESealV4):
    _fields = [*SESealV4._fields[:4], ("time_stamp", core.OctetBitString, {"implicit": 0, "optional": True})]


class _SESealV5Untagged(SESealV4):
    _fields = [*SESealV4._fields[:4], ("time_stamp", core.OctetBitString, {"optional": True})]


class _BitsOrOctets(core.Choice):
    _alternatives = [("bits", core.OctetBitString), ("octets", core.OctetString)]


class TBSSignV1(core.Sequence):
    """GM/T 0031-2014 ``TBS_Sign`` (OCTET STRING ``timeInfo``/``dataHash`` tolerated, as ofdrw does)."""

    _fields = [
        ("version", core.Integer),
        ("eseal", core.Any),
        ("time_info", _BitsOrOctets),
        ("data_hash", _BitsOrOctets),
        ("property_info", core.IA5String),
        ("cert", core.OctetString),
        ("signature_algorithm", core.ObjectIdentifier),
    ]


class SESSignatureV1(core.Sequence):
    """GM/T 0031-2014 ``SES_Signature ::= SEQUENCE {toSign, signature}``."""

    _fields = [("to_sign", TBSSignV1), ("signature", core.OctetBitString)]


class TBSSignV4(core.Sequence):
    """GB/T 38540-2020 ``TBS_Sign``."""

    _fields = [
        ("version", core.Integer),
        ("eseal", core.Any),
        ("time_info", x509.Time),
        ("data_hash", core.OctetBitString),
        ("property_info", core.IA5String),
        ("ext_datas", ExtensionDatas, {"explicit": 0, "optional": True}),
    ]


class SESSignatureV4(core.Sequence):
    """GB/T 38540-2020 ``SES_Signature``."""

    _fields = [
        ("to_sign", TBSSignV4),
        ("cert", core.OctetString),
        ("signature_alg_id", core.ObjectIdentifier),
        ("signature", core.OctetBitString),
        ("time_stamp", core.OctetBitString, {"explicit": 0, "optional": True}),
    ]


class _SESSignatureV4Implicit(SESSignatureV4):
    _fields = [*SESSignatureV4._fields[:4], ("time_stamp", core.OctetBitString, {"implicit": 0, "optional": True})]


class _AnySeq(core.SequenceOf):
    _child_spec = core.Any


_T = TypeVar("_T")
_V4 = TypeVar("_V4", SESealV4, SESSignatureV4)


# --- parsed forms ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExtData:
    """One ``ExtData`` entry."""

    oid: str
    """``extnID``, dotted."""
    critical: bool
    """``critical`` flag."""
    value: bytes
    """``extnValue`` contents."""


@dataclass(frozen=True)
class CertDigest:
    """One ``CertDigestObj`` (``certListType`` 2)."""

    type: str
    """``type``: a free-form label, usually the hash algorithm name (``sm3``, ``sha256``)."""
    value: bytes
    """Digest of a DER signer certificate."""


@dataclass(frozen=True)
class SealPicture:
    """``SES_ESPictrueInfo``."""

    type: str
    """Image type as written (``PNG``, ``GIF``, ``SVG``, ``JPG``, ``BMP``, ...)."""
    data: bytes = field(repr=False)
    """Image bytes."""
    width_mm: int
    """Displayed width in millimetres."""
    height_mm: int
    """Displayed height in millimetres."""


@dataclass(frozen=True)
class Seal:
    """An electronic seal as its bytes say (nothing checked yet)."""

    version: int
    """Layout: 1 (GM/T 0031-2014), 4 (GB/T 38540-2020) or 5 (GM/T 0031-2025)."""
    header_version: int
    """``SES_Header.version`` as written."""
    vendor_id: str
    """``SES_Header.Vid`` (厂商标识)."""
    seal_id: str
    """``esID`` (印章唯一标识)."""
    seal_type: int
    """``property.type`` (印章类型)."""
    name: str
    """``property.name`` (印章名称)."""
    cert_list_type: int
    """1 = certificates, 2 = certificate digests (always 1 for v1)."""
    signer_certs: tuple[bytes, ...]
    """DER certificates of the signers allowed to use the seal (``certListType`` 1)."""
    signer_cert_digests: tuple[CertDigest, ...]
    """Digests of those certificates (``certListType`` 2)."""
    created_at: datetime
    """``createDate``."""
    valid_from: datetime
    """``validStart``."""
    valid_to: datetime
    """``validEnd``."""
    picture: SealPicture
    """The seal image."""
    ext_datas: tuple[ExtData, ...]
    """``extDatas`` of ``SES_SealInfo``."""
    maker_cert_der: bytes = field(repr=False)
    """Seal maker's (制章者) DER certificate."""
    signature_algorithm: str
    """Maker's signature algorithm OID."""
    maker_signature: bytes = field(repr=False)
    """Maker's signature value (SM2: DER ``SEQUENCE {r, s}``)."""
    timestamp: bytes | None = field(repr=False)
    """v5 ``timeStamp`` over ``signedValue`` (DER TimeStampToken), if present."""
    seal_info_der: bytes = field(repr=False)
    """``SES_SealInfo`` exactly as received."""
    tbs_der: bytes = field(repr=False)
    """The exact bytes the maker signed (v4/v5: ``DER(eSealInfo)``; v1: ``DER(SEQUENCE{info, cert, alg})``)."""
    der: bytes = field(repr=False)
    """The whole seal as received."""


@dataclass(frozen=True)
class SesSignature:
    """An electronic seal signature (电子签章) as its bytes say (nothing checked yet)."""

    version: int
    """Layout: 1 (GM/T 0031-2014), 4 (GB/T 38540-2020) or 5 (GM/T 0031-2025)."""
    tbs_version: int
    """``TBS_Sign.version`` as written."""
    seal: Seal
    """The embedded seal."""
    signing_time: datetime | None
    """``timeInfo`` (claimed signing time); ``None`` when a v1 ``timeInfo`` holds no readable time."""
    data_hash: bytes
    """``dataHash``: the hash of the signed original (SM3 with SM2)."""
    property_info: str
    """``propertyInfo`` (原文属性), e.g. ``/Doc_0/Signs/Sign_0/Signature.xml`` in OFD."""
    ext_datas: tuple[ExtData, ...]
    """``TBS_Sign.extDatas``."""
    signer_cert_der: bytes = field(repr=False)
    """Signer's (签章者) DER certificate."""
    signature_algorithm: str
    """Signature algorithm OID."""
    signature: bytes = field(repr=False)
    """Signature value over :attr:`tbs_der`."""
    timestamp: bytes | None = field(repr=False)
    """RFC 3161 TimeStampToken over :attr:`signature`, if present."""
    time_info_raw: bytes = field(repr=False)
    """v1 only: the raw ``timeInfo`` bytes (a time or a timestamp); empty for v4/v5."""
    tbs_der: bytes = field(repr=False)
    """``TBS_Sign`` exactly as received: the signed bytes."""
    der: bytes = field(repr=False)
    """The whole ``SES_Signature`` as received."""


# --- helpers -----------------------------------------------------------------------------------


def _bad(what: str, zh: str = "") -> SesFormatError:
    return SesFormatError(what, message_zh=zh or "电子印章或电子签章数据格式错误", field="ses")


_PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError, AttributeError)


def _text(value: core.Asn1Value, what: str) -> str:
    raw = bytes(value.contents or b"")
    if len(raw) > MAX_PROPERTY_INFO_CHARS:
        raise _bad(f"{what} is longer than {MAX_PROPERTY_INFO_CHARS} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _time(value: x509.Time, what: str) -> datetime:
    try:
        t = value.native
    except _PARSE_ERRORS as exc:
        raise _bad(f"{what} is not a valid time") from exc
    if not isinstance(t, datetime):
        raise _bad(f"{what} is not a valid time")
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _bits(value: core.OctetBitString, what: str) -> bytes:
    try:
        out = value.native
    except _PARSE_ERRORS as exc:
        raise _bad(f"{what} is not a whole number of bytes") from exc
    if not isinstance(out, bytes):
        raise _bad(f"{what} is missing")
    return out


def _exts(value: ExtensionDatas | None) -> tuple[ExtData, ...]:
    if value is None or isinstance(value, core.Void):
        return ()
    if len(value) > MAX_EXT_DATAS:
        raise _bad(f"more than {MAX_EXT_DATAS} ExtData entries")
    return tuple(
        ExtData(oid=e["extn_id"].dotted, critical=bool(e["critical"].native), value=bytes(e["extn_value"].native))
        for e in value
    )


def _len_prefix(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der_sequence(*tlvs: bytes) -> bytes:
    body = b"".join(tlvs)
    return b"\x30" + _len_prefix(len(body)) + body


def _outer_children(der: bytes) -> list[bytes]:
    seq = _AnySeq.load(der, strict=True)
    out = []
    for child in seq:
        out.append(bytes(child._header or b"") + bytes(child.contents or b""))
    return out


def _tlv_head(data: bytes) -> tuple[int, int, int] | None:
    """(tag byte, header length, content length) of the first TLV, or ``None`` when not DER-shaped."""
    if len(data) < 2:
        return None
    tag, first = data[0], data[1]
    if tag & 0x1F == 0x1F:
        return None
    if first < 0x80:
        return tag, 2, first
    n = first & 0x7F
    if n == 0 or n > 4 or len(data) < 2 + n:
        return None
    return tag, 2 + n, int.from_bytes(data[2 : 2 + n], "big")


def _first_children(data: bytes, count: int) -> list[tuple[int, bytes]]:
    """The first ``count`` (tag, TLV) children of a constructed TLV, read without a full parse."""
    head = _tlv_head(data)
    if head is None:
        return []
    _, hl, ln = head
    body = data[hl : hl + ln]
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(body) and len(out) < count:
        h = _tlv_head(body[pos:])
        if h is None:
            break
        tag, chl, cln = h
        out.append((tag, body[pos : pos + chl + cln]))
        pos += chl + cln
    return out


def detect_ses_kind(data: bytes) -> str | None:
    """``"seal"``, ``"ses_signature"`` or ``None``, from the shape of the first few TLVs only.

    A seal starts ``SEQUENCE { SEQUENCE { SEQUENCE { IA5String "ES", ... } ... } ... }``; a seal
    signature starts ``SEQUENCE { SEQUENCE { INTEGER version, SEQUENCE eseal, ... } ... }``. Cheap
    enough for the verifier front door; a full parse decides the rest.
    """
    if not data or data[0] != 0x30:
        return None
    outer = _first_children(data, 1)
    if not outer or outer[0][0] != 0x30:
        return None
    inner = _first_children(outer[0][1], 2)
    if len(inner) >= 1 and inner[0][0] == 0x30:
        hdr = _first_children(inner[0][1], 1)
        if hdr and hdr[0][0] == 0x16 and hdr[0][1][2:] == SEAL_HEADER_ID.encode():
            return "seal"
    if len(inner) == 2 and inner[0][0] == 0x02 and inner[1][0] in (0x30, 0x04):
        return "ses_signature"
    return None


# --- seal parsing ------------------------------------------------------------------------------


def _load_v4(der: bytes, layouts: tuple[type[_V4], ...], name: str) -> _V4:
    """``der`` as the first of ``layouts`` (which differ only in how the optional ``timeStamp`` is tagged)."""
    last: Exception | None = None
    for cls in layouts:
        try:
            obj = cls.load(der, strict=True)
            obj["time_stamp"].native  # noqa: B018 (force parsing of the optional tail)
            return obj
        except _PARSE_ERRORS as exc:
            last = exc
    raise _bad(f"not a GB/T 38540 {name} ({last})")


def _parse_layouts(
    der: bytes,
    *,
    what: str,
    name: str,
    limit: int,
    too_large_zh: str,
    v1: Callable[[bytes, list[bytes]], _T],
    v4: Callable[[bytes, list[bytes]], _T],
) -> _T:
    """Bound and split ``der``, then read it with ``v1`` (2 elements) or ``v4`` (4 or 5 elements)."""
    if not isinstance(der, (bytes, bytearray)):
        raise _bad(f"a {what} must be bytes")
    der = bytes(der)
    if len(der) > limit:
        raise _bad(f"the {what} is larger than {limit} bytes", too_large_zh)
    try:
        children = _outer_children(der)
    except _PARSE_ERRORS as exc:
        raise _bad(f"not DER: {exc}") from None
    try:
        if len(children) == 2:
            return v1(der, children)
        if len(children) in (4, 5):
            return v4(der, children)
    except SesFormatError:
        raise
    except _PARSE_ERRORS as exc:
        raise _bad(f"malformed {what}: {exc}") from None
    raise _bad(f"{name} has 2, 4 or 5 elements, not {len(children)}")


def _cert_value(value: core.OctetString, whose: str) -> bytes:
    cert = bytes(value.native)
    if len(cert) > MAX_CERT_BYTES:
        raise _bad(f"the {whose} certificate is too large")
    return cert


def _timestamp_value(value: core.OctetBitString | core.Void, whose: str) -> bytes | None:
    ts = None if isinstance(value, core.Void) else _bits(value, "timeStamp")
    if ts is not None and len(ts) > MAX_TIMESTAMP_BYTES:
        raise _bad(f"the {whose} timestamp is too large")
    return ts


def parse_unverified_seal(der: bytes) -> Seal:
    """Parse a v1, v4 or v5 ``SESeal``; nothing is verified.

    Raises:
        SesFormatError: too large, not DER, or not a seal of a known layout.
    """
    return _parse_layouts(der, what="seal", name="a SESeal", limit=MAX_SEAL_BYTES, too_large_zh="电子印章数据过大",
                          v1=_seal_v1, v4=_seal_v4)


def _common_info(info: SesSealInfoV1 | SesSealInfoV4) -> dict[str, object]:
    header = info["header"]
    if _text(header["id"], "header ID") != SEAL_HEADER_ID:
        raise _bad("SES_Header.ID is not 'ES'")
    pic = info["picture"]
    data = bytes(pic["data"].native)
    if len(data) > MAX_PICTURE_BYTES:
        raise _bad(f"the seal picture is larger than {MAX_PICTURE_BYTES} bytes")
    prop = info["property"]
    return {
        "header_version": int(header["version"].native),
        "vendor_id": _text(header["vid"], "Vid"),
        "seal_id": _text(info["es_id"], "esID"),
        "seal_type": int(prop["type"].native),
        "name": str(prop["name"].native),
        "created_at": _time(prop["create_date"], "createDate"),
        "valid_from": _time(prop["valid_start"], "validStart"),
        "valid_to": _time(prop["valid_end"], "validEnd"),
        "picture": SealPicture(type=_text(pic["type"], "picture type"), data=data,
                               width_mm=int(pic["width"].native), height_mm=int(pic["height"].native)),
        "ext_datas": _exts(info["ext_datas"]),
    }


def _certs(lst: CertInfoList) -> tuple[bytes, ...]:
    if len(lst) > MAX_CERTS_IN_SEAL:
        raise _bad(f"more than {MAX_CERTS_IN_SEAL} certificates in the seal's list")
    out = tuple(bytes(c.native) for c in lst)
    if any(len(c) > MAX_CERT_BYTES for c in out):
        raise _bad("a certificate in the seal's list is too large")
    return out


def _seal_v1(der: bytes, children: list[bytes]) -> Seal:
    obj = SESealV1.load(der, strict=True)
    info = obj["eseal_info"]
    common = _common_info(info)
    sign_info = obj["sign_info"]
    cert = _cert_value(sign_info["cert"], "maker")
    sign_children = _outer_children(children[1])
    tbs = _der_sequence(children[0], sign_children[0], sign_children[1])
    return Seal(
        version=1,
        cert_list_type=1,
        signer_certs=_certs(info["property"]["cert_list"]),
        signer_cert_digests=(),
        maker_cert_der=cert,
        signature_algorithm=sign_info["signature_algorithm"].dotted,
        maker_signature=_bits(sign_info["sign_data"], "signData"),
        timestamp=None,
        seal_info_der=children[0],
        tbs_der=tbs,
        der=der,
        **common,  # type: ignore[arg-type]
    )


def _seal_v4(der: bytes, children: list[bytes]) -> Seal:
    obj = _load_v4(der, (SESealV4, _SESealV5Implicit, _SESealV5Untagged), "SESeal")
    info = obj["eseal_info"]
    common = _common_info(info)
    prop = info["property"]
    clt = int(prop["cert_list_type"].native)
    certs: tuple[bytes, ...] = ()
    digests: tuple[CertDigest, ...] = ()
    raw_list = prop["cert_list"]
    if clt == 1:
        certs = _certs(raw_list.parse(CertInfoList))
    elif clt == 2:
        lst = raw_list.parse(CertDigestList)
        if len(lst) > MAX_CERTS_IN_SEAL:
            raise _bad(f"more than {MAX_CERTS_IN_SEAL} certificate digests in the seal's list")
        digests = tuple(CertDigest(type=str(d["type"].native), value=bytes(d["value"].native)) for d in lst)
    else:
        raise _bad(f"certListType must be 1 or 2, not {clt}")
    cert = _cert_value(obj["cert"], "maker")
    ts = _timestamp_value(obj["time_stamp"], "seal")
    version = 5 if (common["header_version"] == 5 or len(children) == 5) else 4
    return Seal(
        version=version,
        cert_list_type=clt,
        signer_certs=certs,
        signer_cert_digests=digests,
        maker_cert_der=cert,
        signature_algorithm=obj["sign_alg_id"].dotted,
        maker_signature=_bits(obj["signed_value"], "signedValue"),
        timestamp=ts,
        seal_info_der=children[0],
        tbs_der=children[0],
        der=der,
        **common,  # type: ignore[arg-type]
    )


# --- signature parsing -------------------------------------------------------------------------


def _unwrap_seal(raw: bytes) -> Seal:
    """The embedded ``eseal``; non-standard OCTET STRING wrappers are peeled up to MAX_WRAP_DEPTH."""
    for _ in range(MAX_WRAP_DEPTH + 1):
        if raw[:1] == b"\x04":
            raw = bytes(core.OctetString.load(raw, strict=True).native)
            continue
        return parse_unverified_seal(raw)
    raise _bad("the embedded seal is wrapped too deeply")


def _v1_time(raw: bytes) -> datetime | None:
    for loader in (core.UTCTime, core.GeneralizedTime):
        try:
            t = loader.load(raw, strict=True).native
            if isinstance(t, datetime):
                return t if t.tzinfo else t.replace(tzinfo=UTC)
        except _PARSE_ERRORS:
            pass
    text = raw.decode("ascii", "replace")
    for fmt in ("%y%m%d%H%M%SZ", "%Y%m%d%H%M%SZ"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            pass
    return None


def parse_unverified_ses_signature(der: bytes) -> SesSignature:
    """Parse a v1, v4 or v5 ``SES_Signature`` and its embedded seal; nothing is verified.

    Raises:
        SesFormatError: too large, not DER, or not a seal signature of a known layout.
    """
    return _parse_layouts(der, what="seal signature", name="an SES_Signature", limit=MAX_SIGNATURE_BYTES,
                          too_large_zh="电子签章数据过大", v1=_sig_v1, v4=_sig_v4)


def _sig_v1(der: bytes, children: list[bytes]) -> SesSignature:
    obj = SESSignatureV1.load(der, strict=True)
    tbs = obj["to_sign"]
    seal = _unwrap_seal(tbs["eseal"].dump())
    time_raw = bytes(tbs["time_info"].chosen.native)
    dh = bytes(tbs["data_hash"].chosen.native)
    cert = _cert_value(tbs["cert"], "signer")
    return SesSignature(
        version=1,
        tbs_version=int(tbs["version"].native),
        seal=seal,
        signing_time=_v1_time(time_raw),
        data_hash=dh,
        property_info=_text(tbs["property_info"], "propertyInfo"),
        ext_datas=(),
        signer_cert_der=cert,
        signature_algorithm=tbs["signature_algorithm"].dotted,
        signature=_bits(obj["signature"], "signature"),
        timestamp=None,
        time_info_raw=time_raw,
        tbs_der=children[0],
        der=der,
    )


def _sig_v4(der: bytes, children: list[bytes]) -> SesSignature:
    obj = _load_v4(der, (SESSignatureV4, _SESSignatureV4Implicit), "SES_Signature")
    tbs = obj["to_sign"]
    seal = _unwrap_seal(tbs["eseal"].dump())
    cert = _cert_value(obj["cert"], "signer")
    ts = _timestamp_value(obj["time_stamp"], "signature")
    tbs_version = int(tbs["version"].native)
    ext = tbs["ext_datas"]
    return SesSignature(
        version=5 if (tbs_version == 5 or seal.version == 5) else 4,
        tbs_version=tbs_version,
        seal=seal,
        signing_time=_time(tbs["time_info"], "timeInfo"),
        data_hash=_bits(tbs["data_hash"], "dataHash"),
        property_info=_text(tbs["property_info"], "propertyInfo"),
        ext_datas=_exts(None if isinstance(ext, core.Void) else ext),
        signer_cert_der=cert,
        signature_algorithm=obj["signature_alg_id"].dotted,
        signature=_bits(obj["signature"], "signature"),
        timestamp=ts,
        time_info_raw=b"",
        tbs_der=children[0],
        der=der,
    )


def signer_in_seal(seal: Seal, signer_cert_der: bytes) -> bool:
    """Whether ``signer_cert_der`` is one of the seal's allowed signers.

    ``certListType`` 1: byte-equal DER; 2: the SM3, SHA-256 or SHA-1 digest of the DER
    certificate equals one ``CertDigestObj.value`` (the ``type`` label is free-form, so it is not trusted).
    """
    if seal.cert_list_type == 1:
        return any(c == signer_cert_der for c in seal.signer_certs)
    digests = {sm3(signer_cert_der), hashlib.sha256(signer_cert_der).digest(),
               hashlib.sha1(signer_cert_der).digest()}  # noqa: S324 (matching legacy lists, not security)
    return any(d.value in digests for d in seal.signer_cert_digests)


# --- v4 encoders -------------------------------------------------------------------------------


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise BadInputError("times must be timezone-aware", message_zh="时间必须带时区", field="at")
    return at.astimezone(UTC)


def _gtime(at: datetime) -> x509.Time:
    return x509.Time(name="general_time", value=_utc(at).replace(microsecond=0))


def _ext_asn1(exts: tuple[ExtData, ...] | list[ExtData]) -> ExtensionDatas:
    return ExtensionDatas([
        ExtDataAsn1({"extn_id": e.oid, "critical": e.critical, "extn_value": e.value}) for e in exts
    ])


def encode_seal_info_v4(
    *,
    seal_id: str,
    seal_type: int,
    name: str,
    signer_certs: list[bytes] | tuple[bytes, ...],
    created_at: datetime,
    valid_from: datetime,
    valid_to: datetime,
    picture: SealPicture,
    vendor_id: str = "esign",
    ext_datas: tuple[ExtData, ...] = (),
    header_version: int = 4,
) -> bytes:
    """DER ``SES_SealInfo`` (header ``ES``/4, ``certListType`` 1): the bytes the maker signs."""
    if not signer_certs or len(signer_certs) > MAX_CERTS_IN_SEAL:
        raise BadInputError(f"a seal lists 1..{MAX_CERTS_IN_SEAL} signer certificates",
                            message_zh="印章签章人证书数量不正确", field="signer_certs")
    for text, what in ((seal_id, "seal_id"), (vendor_id, "vendor_id"), (picture.type, "picture type")):
        if not text or not text.isascii() or len(text) > MAX_PROPERTY_INFO_CHARS:
            raise BadInputError(f"{what} must be non-empty ASCII", message_zh="标识必须为 ASCII 字符", field=what)
    prop = SesESPropertyInfoV4({
        "type": seal_type,
        "name": name,
        "cert_list_type": 1,
        "cert_list": core.Any.load(CertInfoList(list(signer_certs)).dump()),
        "create_date": _gtime(created_at),
        "valid_start": _gtime(valid_from),
        "valid_end": _gtime(valid_to),
    })
    info = {
        "header": SesHeader({"id": SEAL_HEADER_ID, "version": header_version, "vid": vendor_id}),
        "es_id": seal_id,
        "property": prop,
        "picture": SesESPictrueInfo({"type": picture.type, "data": picture.data, "width": picture.width_mm,
                                     "height": picture.height_mm}),
    }
    if ext_datas:
        info["ext_datas"] = _ext_asn1(ext_datas)
    return bytes(SesSealInfoV4(info).dump())


def _tlv(value: core.Asn1Value) -> bytes:
    return bytes(value.dump())


def encode_seal_v4(*, seal_info_der: bytes, maker_cert_der: bytes, signature: bytes,
                   signature_algorithm: str = SM2_SM3_OID) -> bytes:
    """DER ``SESeal`` v4 around an already encoded ``SES_SealInfo`` (kept byte for byte)."""
    return _der_sequence(
        seal_info_der,
        _tlv(core.OctetString(maker_cert_der)),
        _tlv(core.ObjectIdentifier(signature_algorithm)),
        _tlv(core.OctetBitString(signature)),
    )


def _der(tag: int, content: bytes) -> bytes:
    """One DER TLV with a low tag number (the encoders below write their fixed-shape values directly)."""
    return bytes((tag,)) + _len_prefix(len(content)) + content


@lru_cache(maxsize=16)
def _oid_tlv(dotted: str) -> bytes:
    return _tlv(core.ObjectIdentifier(dotted))


def _gtime_tlv(at: datetime) -> bytes:
    """DER ``GeneralizedTime`` ``YYYYMMDDHHMMSSZ`` of ``at`` in UTC, whole seconds (as :func:`_gtime` encodes it)."""
    u = _utc(at)
    return b"\x18\x0f" + (f"{u.year:04d}{u.month:02d}{u.day:02d}{u.hour:02d}{u.minute:02d}{u.second:02d}Z"
                           ).encode("ascii")


def encode_tbs_sign_v4(*, seal_der: bytes, signing_time: datetime, data_hash: bytes, property_info: str,
                       version: int = 4, ext_datas: tuple[ExtData, ...] = ()) -> bytes:
    """DER ``TBS_Sign`` v4 embedding ``seal_der`` byte for byte: the bytes the signer signs.

    Written directly (``INTEGER``, the seal, ``GeneralizedTime``, ``BIT STRING``, ``IA5String``):
    the same bytes asn1crypto produces for these values (checked in ``tests/test_ses_fast_encoding.py``),
    without building an object per field for every signature.
    """
    if not property_info.isascii() or len(property_info) > MAX_PROPERTY_INFO_CHARS:
        raise BadInputError("propertyInfo must be ASCII (IA5String) and at most "
                            f"{MAX_PROPERTY_INFO_CHARS} characters", message_zh="原文属性必须为 ASCII 字符",
                            field="property_info")
    parts = [
        _tlv(core.Integer(version)) if not 0 <= version < 0x80 else bytes((0x02, 0x01, version)),
        seal_der,
        _gtime_tlv(signing_time),
        _der(0x03, b"\x00" + data_hash),
        _der(0x16, property_info.encode("ascii")),
    ]
    if ext_datas:
        inner = _tlv(_ext_asn1(ext_datas))
        parts.append(_der(0xA0, inner))
    return _der_sequence(*parts)


def encode_ses_signature_v4(*, tbs_der: bytes, signer_cert_der: bytes, signature: bytes,
                            signature_algorithm: str = SM2_SM3_OID, timestamp: bytes | None = None) -> bytes:
    """DER ``SES_Signature`` v4 (``timeStamp`` as ``[0]`` EXPLICIT BIT STRING, as ofdrw writes it)."""
    parts = [
        tbs_der,
        _der(0x04, signer_cert_der),
        _oid_tlv(signature_algorithm),
        _der(0x03, b"\x00" + signature),
    ]
    if timestamp is not None:
        inner = _der(0x03, b"\x00" + timestamp)
        parts.append(_der(0xA0, inner))
    return _der_sequence(*parts)


# --- RFC 3161 timestamp tokens (just what the seal formats need) ---------------------------------

#: Digest OIDs accepted in a timestamp's messageImprint, by hashlib / keys.hashing name.
IMPRINT_HASHES = {
    "1.2.156.10197.1.401": "sm3",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}


@dataclass(frozen=True)
class TimestampImprint:
    """What an RFC 3161 TimeStampToken claims (its own signature is not checked here)."""

    hash_oid: str
    """messageImprint hashAlgorithm, dotted."""
    hash_name: str | None
    """``sm3``/``sha256``/... or ``None`` when the algorithm is not one we compute."""
    hashed_message: bytes
    """messageImprint hashedMessage."""
    gen_time: datetime
    """TSTInfo genTime."""


def parse_timestamp_imprint(token_der: bytes) -> TimestampImprint:
    """Read messageImprint and genTime of a DER TimeStampToken (ContentInfo of SignedData).

    Raises:
        SesFormatError: not a TimeStampToken.
    """
    if len(token_der) > MAX_TIMESTAMP_BYTES:
        raise _bad("the timestamp token is too large")
    try:
        ci = cms.ContentInfo.load(bytes(token_der), strict=True)
        if ci["content_type"].native != "signed_data":
            raise _bad("the timestamp token is not CMS SignedData")
        eci = ci["content"]["encap_content_info"]
        if eci["content_type"].native != "tst_info":
            raise _bad("the timestamp token does not hold a TSTInfo")
        info = eci["content"].parsed
        if not isinstance(info, tsp.TSTInfo):
            info = tsp.TSTInfo.load(bytes(eci["content"].native), strict=True)
        imprint = info["message_imprint"]
        oid = imprint["hash_algorithm"]["algorithm"].dotted
        gen = info["gen_time"].native
        hashed = bytes(imprint["hashed_message"].native)
    except SesFormatError:
        raise
    except _PARSE_ERRORS as exc:
        raise _bad(f"not an RFC 3161 timestamp token ({exc})") from None
    if not isinstance(gen, datetime):
        raise _bad("the timestamp token has no genTime")
    return TimestampImprint(hash_oid=oid, hash_name=IMPRINT_HASHES.get(oid), hashed_message=hashed,
                            gen_time=gen if gen.tzinfo else gen.replace(tzinfo=UTC))
