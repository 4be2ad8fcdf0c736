"""Schema, limits and typed errors of the trust-list format (see :mod:`keys.trustlist`).

Every field is type-checked and bounded; unknown fields are refused (the signature covers only
what we understand). Certificates are not fully parsed here (10,000 of them would cost a
second): a small DER walk checks each is one well-formed SEQUENCE and pulls out what the index
needs (SubjectPublicKeyInfo and subjectKeyIdentifier); full X.509 parsing happens when a
certificate becomes a trust anchor.
"""

from __future__ import annotations

import binascii
import hashlib
import itertools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keys.errors import BadInputError, ConflictError, EsignError, InvalidSignatureError, VerificationError

__all__ = [
    "MAX_CACHED_CERT_INFO",
    "MAX_CERTS_PER_ENTRY",
    "MAX_ENTRIES",
    "MAX_HISTORY",
    "MAX_LIST_BYTES",
    "MAX_LIST_SIGNING_KEYS",
    "MAX_NESTING",
    "MAX_TEXT_CHARS",
    "MAX_TYPES",
    "SERVICE_TYPES",
    "STATUSES",
    "CertInfo",
    "KeyRef",
    "TrustEntry",
    "TrustListError",
    "TrustListExpiredError",
    "TrustListMalformedError",
    "TrustListRollbackError",
    "TrustListSignatureError",
    "TrustListThresholdError",
    "parse_signed",
    "parse_time",
]

#: Largest envelope accepted.
MAX_LIST_BYTES = 32 << 20
#: Most entries in one list.
MAX_ENTRIES = 100_000
#: Deepest JSON nesting signed (the schema itself needs 5).
MAX_NESTING = 8
#: Most certificates (and, separately, bare SPKIs) per entry.
MAX_CERTS_PER_ENTRY = 16
#: Largest certificate / SPKI, base64 characters.
MAX_B64_CHARS = 64 * 1024
#: Longest name, id or type string.
MAX_TEXT_CHARS = 1024
#: Most licence / seal types per entry.
MAX_TYPES = 256
#: Most status-history items per entry.
MAX_HISTORY = 64
#: Most list-signing keys.
MAX_LIST_SIGNING_KEYS = 32
#: Service types an entry can have.
SERVICE_TYPES = ("root_ca", "licence_issuer", "enterprise_signer", "seal_maker", "tsa", "ocsp", "qr_signer")
#: Entry statuses (ETSI TS 119 612 "granted" / "withdrawn", plus a temporary "suspended").
STATUSES = ("granted", "withdrawn", "suspended")
_SKI_OID = b"\x06\x03\x55\x1d\x0e"
_MAX_CACHED_TIMES = 4096
_TIMES: dict[str, datetime] = {}


class TrustListError(EsignError):
    """Family of trust-list errors (each also belongs to the matching generic family)."""


class TrustListMalformedError(TrustListError, BadInputError):
    """The list is not well-formed JSON of the documented format, or breaks a limit."""

    code = "trust_list_malformed"
    default_zh = "信任列表格式错误"


class TrustListSignatureError(TrustListError, InvalidSignatureError):
    """No signature verifies under the keys that may sign this list."""

    code = "trust_list_bad_signature"
    default_zh = "信任列表签名验证失败"


class TrustListThresholdError(TrustListError, VerificationError):
    """Fewer valid signatures than the threshold."""

    code = "trust_list_threshold"
    default_zh = "信任列表有效签名数未达门限"


class TrustListRollbackError(TrustListError, ConflictError):
    """The version is lower than the one held (or equal with other content)."""

    code = "trust_list_rollback"
    default_zh = "信任列表版本回退"


class TrustListExpiredError(TrustListError, VerificationError):
    """The list is expired (or not yet issued) at the time asked."""

    code = "trust_list_expired"
    default_zh = "信任列表已过期"


def _bad(msg: str, where: str) -> TrustListMalformedError:
    return TrustListMalformedError(msg, message_zh=f"信任列表格式错误：{where}", field=where)


@dataclass(frozen=True)
class KeyRef:
    """A list-signing key named by the list."""

    keyid: str
    """Hex SHA-256 of the SPKI."""
    alg: str
    """Algorithm short name (``sm2-sm3``, ``ecdsa-sha256``, ``ed25519``)."""
    spki: bytes
    """DER SubjectPublicKeyInfo."""


@dataclass(frozen=True)
class CertInfo:
    """What the index needs of one listed certificate."""

    der: bytes
    """The certificate."""
    sha256: bytes
    """SHA-256 of the DER (its first 8 bytes are the DCC KID)."""
    spki_sha256: bytes
    """SHA-256 of the DER SubjectPublicKeyInfo."""
    ski: bytes | None
    """subjectKeyIdentifier, if present."""


@dataclass(frozen=True)
class TrustEntry:
    """One authority, seal maker, TSA, ... the region vouches for."""

    id: str
    """Unique id within the list."""
    service_type: str
    """One of :data:`SERVICE_TYPES`."""
    name: str
    """Human name."""
    cert_info: tuple[CertInfo, ...]
    """Its certificates (anchors for its service type)."""
    spki: tuple[bytes, ...]
    """Bare public keys (DER SPKI), for services without a certificate."""
    status: str
    """Current status (the last history item)."""
    status_history: tuple[tuple[str, datetime], ...]
    """(status, from) in time order."""
    licence_types: frozenset[str]
    """Licence types it may issue (empty: none named)."""
    seal_types: frozenset[str]
    """Seal types it may make."""

    @property
    def certificates(self) -> tuple[bytes, ...]:
        """DER certificates."""
        return tuple(c.der for c in self.cert_info)

    def status_at(self, at: datetime) -> str | None:
        """The status in force at ``at`` (``None`` before the first history item)."""
        current = None
        for status, start in self.status_history:
            if start <= at:
                current = status
        return current


def parse_time(value: Any, where: str) -> datetime:
    """``YYYY-MM-DDTHH:MM:SSZ`` only."""
    if type(value) is str:
        hit = _TIMES.get(value)
        if hit is not None:
            return hit
    if not isinstance(value, str) or len(value) != 20 or value[10] != "T" or value[19] != "Z":
        raise _bad("times are YYYY-MM-DDTHH:MM:SSZ", where)
    try:
        t = datetime.fromisoformat(value[:19] + "+00:00")
    except ValueError:
        raise _bad("times are YYYY-MM-DDTHH:MM:SSZ", where) from None
    if len(_TIMES) < _MAX_CACHED_TIMES:
        _TIMES[value] = t
    return t


def _tlv(d: bytes, i: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER TLV at ``i`` (definite, minimal lengths only)."""
    n = d[i + 1]
    j = i + 2
    if n & 0x80:
        k = n & 0x7F
        if not 0 < k <= 4 or d[j] == 0:
            raise ValueError("bad length")
        n = int.from_bytes(d[j : j + k], "big")
        if n < 0x80:
            raise ValueError("non-minimal length")
        j += k
    if j + n > len(d):
        raise ValueError("truncated")
    return d[i], j, j + n


#: Most walked certificates remembered (keyed by their DER: the same bytes always give the same
#: result, so a refresh or a re-verification of a held list does not walk them again).
MAX_CACHED_CERT_INFO = 200_000
_CERT_INFO: dict[bytes, CertInfo] = {}


def _new(cls: type, **fields: Any) -> Any:
    """A frozen dataclass instance without the per-field ``object.__setattr__`` of its ``__init__``
    (5x cheaper; 10,000 entries are built per import). Only for classes without ``__post_init__``."""
    obj = object.__new__(cls)
    obj.__dict__.update(fields)
    return obj


def cert_info(der: bytes) -> CertInfo:
    """Walk the DER far enough to find the SPKI and the SKI (raises ValueError if malformed)."""
    hit = _CERT_INFO.get(der)
    if hit is not None:
        return hit
    tlv = _tlv
    try:
        tag, s, e = tlv(der, 0)
        if tag != 0x30 or e != len(der):
            raise ValueError("not one SEQUENCE")
        tag, i, tbs_end = tlv(der, s)
        if tag != 0x30 or tbs_end > e:
            raise ValueError("no TBSCertificate")
        if der[i] == 0xA0:  # [0] version
            i = tlv(der, i)[2]
        for t in (0x02, 0x30, 0x30, 0x30, 0x30):  # serial, signature, issuer, validity, subject
            tag, _, i = tlv(der, i)
            if tag != t:
                raise ValueError("TBSCertificate fields out of shape")
        tag, _, spki_end = tlv(der, i)
        if tag != 0x30 or spki_end > tbs_end:
            raise ValueError("no SubjectPublicKeyInfo")
        spki_start = i
        ski = None
        # Extensions follow the SPKI; the SKI extension starts with its OID TLV (C-speed search).
        pos = der.find(_SKI_OID, spki_end, tbs_end)
        if pos != -1:
            p = pos + 5
            if der[p] == 0x01:  # critical BOOLEAN
                p = tlv(der, p)[2]
            t1, os_s, _ = tlv(der, p)
            t2, ks, ke = tlv(der, os_s)
            if t1 != 0x04 or t2 != 0x04:
                raise ValueError("subjectKeyIdentifier is not OCTET STRING in OCTET STRING")
            ski = der[ks:ke]
    except IndexError:
        raise ValueError("truncated") from None
    info: CertInfo = _new(CertInfo, der=der, sha256=hashlib.sha256(der).digest(),
                          spki_sha256=hashlib.sha256(der[spki_start:spki_end]).digest(), ski=ski)
    if len(_CERT_INFO) < MAX_CACHED_CERT_INFO:
        _CERT_INFO[der] = info
    return info


def _str(v: Any, where: str, *, empty: bool = False) -> str:
    if not isinstance(v, str) or len(v) > MAX_TEXT_CHARS or (not v and not empty):
        raise _bad(f"a string of 1..{MAX_TEXT_CHARS} characters is required", where)
    return v


def _b64list(v: Any, where: str) -> list[bytes]:
    if not isinstance(v, list) or len(v) > MAX_CERTS_PER_ENTRY:
        raise _bad(f"a list of at most {MAX_CERTS_PER_ENTRY} base64 strings is required", where)
    out = []
    for s in v:
        if type(s) is not str or not s or len(s) > MAX_B64_CHARS:
            raise _bad("base64 DER of at most 64 KiB is required", where)
        try:
            out.append(binascii.a2b_base64(s, strict_mode=True))
        except (binascii.Error, ValueError):
            raise _bad("not base64", where) from None
    return out


def _types(v: Any, where: str) -> frozenset[str]:
    if type(v) is not list or len(v) > MAX_TYPES:
        raise _bad(f"a list of at most {MAX_TYPES} type names is required", where)
    for t in v:
        if type(t) is not str or not 0 < len(t) <= MAX_TEXT_CHARS:
            raise _bad(f"type names are strings of 1..{MAX_TEXT_CHARS} characters", where)
    return frozenset(v)


_HIST_KEYS = frozenset({"status", "from"})
_ENTRY_KEYS = frozenset({"id", "service_type", "name", "certificates", "spki", "status", "status_history",
                         "licence_types", "seal_types"})


def _entry(e: Any, n: int) -> TrustEntry:
    where = f"entries[{n}]"
    if type(e) is not dict or e.keys() != _ENTRY_KEYS:
        raise _bad(f"an entry has exactly the fields {', '.join(sorted(_ENTRY_KEYS))}", where)
    st = e["service_type"]
    if st not in SERVICE_TYPES:
        raise _bad(f"service_type must be one of {', '.join(SERVICE_TYPES)}", where)
    hist = e["status_history"]
    if not isinstance(hist, list) or not 0 < len(hist) <= MAX_HISTORY:
        raise _bad(f"status_history needs 1..{MAX_HISTORY} items", where)
    history = []
    for h in hist:
        if type(h) is not dict or h.keys() != _HIST_KEYS or h["status"] not in STATUSES:
            raise _bad("status_history items are {status, from}", where)
        history.append((h["status"], parse_time(h["from"], where)))
    if len(history) > 1 and any(a[1] > b[1] for a, b in itertools.pairwise(history)):
        raise _bad("status_history must be in time order", where)
    if e["status"] != history[-1][0]:
        raise _bad("status must equal the last status_history item", where)
    certs = _b64list(e["certificates"], where)
    spki = _b64list(e["spki"], where)
    if not certs and not spki:
        raise _bad("an entry needs a certificate or an SPKI", where)
    try:
        infos = tuple(cert_info(c) for c in certs)
    except ValueError as exc:
        raise _bad(f"a certificate is not DER: {exc}", where) from None
    return _new(TrustEntry, id=_str(e["id"], where), service_type=st, name=_str(e["name"], where),
                cert_info=infos, spki=tuple(spki), status=e["status"], status_history=tuple(history),
                licence_types=_types(e["licence_types"], where), seal_types=_types(e["seal_types"], where))


_SIGNED_KEYS = frozenset({"_type", "spec_version", "region", "region_name", "version", "issued_at", "expires_at",
                          "list_signing_keys", "entries"})


def parse_signed(s: Any) -> dict[str, Any]:
    """Check the ``signed`` part and return its parsed content (raises TrustListMalformedError)."""
    if not isinstance(s, dict) or set(s) != _SIGNED_KEYS:
        raise _bad(f"'signed' has exactly the fields {', '.join(sorted(_SIGNED_KEYS))}", "signed")
    if s["_type"] != "esign/trust-list" or s["spec_version"] != 1:
        raise _bad("_type must be 'esign/trust-list' and spec_version 1", "_type")
    v = s["version"]
    if isinstance(v, bool) or not isinstance(v, int) or not 0 < v < 2**53:
        raise _bad("version is a positive integer", "version")
    issued, expires = parse_time(s["issued_at"], "issued_at"), parse_time(s["expires_at"], "expires_at")
    if expires <= issued:
        raise _bad("expires_at must be after issued_at", "expires_at")
    lsk = s["list_signing_keys"]
    if not isinstance(lsk, dict) or set(lsk) != {"threshold", "keys"} or not isinstance(lsk["keys"], list):
        raise _bad("list_signing_keys is {threshold, keys}", "list_signing_keys")
    keys = []
    for k in lsk["keys"]:
        if not isinstance(k, dict) or set(k) != {"keyid", "alg", "spki"}:
            raise _bad("a list-signing key is {keyid, alg, spki}", "list_signing_keys")
        spki = _b64list([k["spki"]], "list_signing_keys")[0]
        if _str(k["keyid"], "list_signing_keys") != hashlib.sha256(spki).hexdigest():
            raise _bad("keyid must be the hex SHA-256 of the SPKI", "list_signing_keys")
        keys.append(KeyRef(keyid=k["keyid"], alg=_str(k["alg"], "list_signing_keys"), spki=spki))
    t = lsk["threshold"]
    if (isinstance(t, bool) or not isinstance(t, int) or not 0 < len(keys) <= MAX_LIST_SIGNING_KEYS
            or not 0 < t <= len(keys) or len({k.keyid for k in keys}) != len(keys)):
        raise _bad(f"1..{MAX_LIST_SIGNING_KEYS} distinct keys and 1 <= threshold <= their number",
                   "list_signing_keys")
    ents = s["entries"]
    if not isinstance(ents, list) or len(ents) > MAX_ENTRIES:
        raise _bad(f"entries is a list of at most {MAX_ENTRIES}", "entries")
    entries = tuple(_entry(e, n) for n, e in enumerate(ents))
    if len({e.id for e in entries}) != len(entries):
        raise _bad("entry ids must be unique", "entries")
    return {"region": _str(s["region"], "region"), "region_name": _str(s["region_name"], "region_name", empty=True),
            "version": v, "issued_at": issued, "expires_at": expires, "keys": tuple(keys), "threshold": t,
            "entries": entries}
