"""Signed, versioned, expiring trust lists of a region (ETSI TS 119 612 ideas, python-tuf root rules).

Format (``docs/trust-lists.md`` has an example)::

    {"signed": {"_type": "esign/trust-list", "spec_version": 1, "region": "440000", "region_name": "...",
                "version": 7, "issued_at": "2025-01-01T00:00:00Z", "expires_at": "2025-04-01T00:00:00Z",
                "list_signing_keys": {"threshold": 2, "keys": [{"keyid": hex, "alg": "sm2-sm3", "spki": b64}]},
                "entries": [{"id": "...", "service_type": "licence_issuer", "name": "...",
                             "certificates": [b64 DER], "spki": [b64 DER], "status": "granted",
                             "status_history": [{"status": "granted", "from": "..."}],
                             "licence_types": [...], "seal_types": [...]}]},
     "signatures": [{"keyid": hex, "alg": "sm2-sm3", "sig": b64}]}

Signatures cover the canonical JSON of ``signed`` (sorted keys, no insignificant whitespace, UTF-8,
no floats). ``keyid`` is the hex SHA-256 of the key's DER SubjectPublicKeyInfo.

Procedure of :func:`parse_and_verify` (steps tagged in the code):

  1. Size limit, JSON with duplicate keys, floats, NaN refused, nesting bounded.
  2. Schema: every field typed and bounded (entries, certificates, strings); unknown fields refused.
  3. Signatures: the list must carry ``threshold`` valid signatures by distinct pinned keys (first
     import) or by keys of the ``previous`` list (its threshold), AND its own threshold of its own
     ``list_signing_keys`` (so a rotation is signed by the old and the new threshold). No valid
     signature by a trusted key at all is a bad signature; some but too few is a threshold error.
  4. Version: never lower than ``previous``; the same version must be the same content.
  5. Time: ``issued_at <= at < expires_at``; an expired list is refused.
  6. Index: O(1) look-up of entries by SPKI / certificate SHA-256, subject key id and DCC KID.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from keys._trustlist_schema import (
    MAX_ENTRIES,
    MAX_LIST_BYTES,
    MAX_NESTING,
    SERVICE_TYPES,
    STATUSES,
    KeyRef,
    TrustEntry,
    TrustListError,
    TrustListExpiredError,
    TrustListMalformedError,
    TrustListRollbackError,
    TrustListSignatureError,
    TrustListThresholdError,
    parse_signed,
)
from keys.algorithms import SignatureAlgorithm
from keys.errors import EsignError, InvalidSignatureError
from keys.interfaces import SigningKey, VerifyingKey
from keys.keypairs import public_key_from_spki

__all__ = [
    "LIST_TYPE",
    "MAX_ENTRIES",
    "MAX_LIST_BYTES",
    "MAX_NESTING",
    "MAX_SIGNATURES",
    "SERVICE_TYPES",
    "SIGNING_ALGORITHMS",
    "STATUSES",
    "KeyRef",
    "TrustEntry",
    "TrustList",
    "TrustListError",
    "TrustListExpiredError",
    "TrustListMalformedError",
    "TrustListRollbackError",
    "TrustListSignatureError",
    "TrustListThresholdError",
    "canonical_json",
    "keyid_of",
    "make_entry",
    "parse_and_verify",
    "publish",
]

LIST_TYPE = "esign/trust-list"
#: Most signatures on one list.
MAX_SIGNATURES = 32
#: Algorithms a list may be signed with (SM2 is the default).
SIGNING_ALGORITHMS = (SignatureAlgorithm.SM2_SM3, SignatureAlgorithm.ECDSA_SHA256, SignatureAlgorithm.ED25519)


def _iso(t: datetime) -> str:
    if t.tzinfo is None:
        raise TrustListMalformedError("times must be timezone-aware", field="time")
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def canonical_json(obj: Any) -> bytes:
    """Canonical bytes for signing: sorted keys, compact, UTF-8, integers only (floats refused)."""
    _no_floats(obj, 0)
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _no_floats(obj: Any, depth: int) -> None:
    if depth > MAX_NESTING:
        raise TrustListMalformedError(f"nested deeper than {MAX_NESTING}", field="signed")
    if isinstance(obj, float):
        raise TrustListMalformedError("floats are not allowed in a trust list", field="signed")
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TrustListMalformedError("object keys must be strings", field="signed")
            _no_floats(v, depth + 1)
    elif isinstance(obj, list):
        for v in obj:
            _no_floats(v, depth + 1)


def keyid_of(key: VerifyingKey) -> str:
    """Hex SHA-256 of the key's DER SubjectPublicKeyInfo."""
    return hashlib.sha256(key.spki_der()).hexdigest()


def make_entry(
    *,
    id: str,
    service_type: str,
    name: str,
    since: datetime,
    certificates: Iterable[bytes] = (),
    spki: Iterable[bytes] = (),
    status: str = "granted",
    status_history: Sequence[tuple[str, datetime]] | None = None,
    licence_types: Iterable[str] = (),
    seal_types: Iterable[str] = (),
) -> dict[str, Any]:
    """One entry in wire form (DER certificates / SPKIs are base64-encoded here)."""
    history = status_history or [(status, since)]
    return {
        "id": id,
        "service_type": service_type,
        "name": name,
        "certificates": [base64.b64encode(c).decode() for c in certificates],
        "spki": [base64.b64encode(s).decode() for s in spki],
        "status": history[-1][0],
        "status_history": [{"status": s, "from": _iso(t)} for s, t in history],
        "licence_types": sorted(set(licence_types)),
        "seal_types": sorted(set(seal_types)),
    }


@dataclass(frozen=True)
class TrustList:
    """A verified trust list. Only :func:`parse_and_verify` makes these."""

    region: str
    """GB/T 2260 code of the region that publishes the list."""
    region_name: str
    """Human name of the region."""
    version: int
    """Monotonic version (never goes back)."""
    issued_at: datetime
    """When the list was signed."""
    expires_at: datetime
    """After this the list must not be used (fail closed)."""
    keys: tuple[KeyRef, ...]
    """Keys allowed to sign the NEXT version."""
    threshold: int
    """How many of :attr:`keys` must sign the next version."""
    entries: tuple[TrustEntry, ...]
    """Root CAs and per service type the authorities vouched for."""
    digest: str
    """Hex SHA-256 of the canonical ``signed`` bytes (names this exact content in reports and audit)."""
    signed_by: tuple[str, ...]
    """Key ids whose signatures verified."""
    raw: bytes = field(repr=False)
    """The envelope bytes as received (for storing the last good copy)."""
    _index: dict[str, dict[bytes, list[int]]] = field(repr=False, compare=False, default_factory=dict)

    def is_expired(self, at: datetime) -> bool:
        """``at`` is at or after :attr:`expires_at`."""
        return at >= self.expires_at

    def entries_of(self, service_type: str) -> tuple[TrustEntry, ...]:
        """Entries of one service type (``root_ca``, ``licence_issuer``, ``qr_signer``, ...)."""
        return tuple(e for e in self.entries if e.service_type == service_type)

    def find(self, how: str, value: bytes) -> tuple[TrustEntry, ...]:
        """O(1) look-up: ``how`` is ``spki_sha256``, ``cert_sha256``, ``ski`` or ``kid`` (8 bytes)."""
        try:
            idx = self._index[how]
        except KeyError:
            raise TrustListMalformedError(f"unknown index {how!r}", field="index") from None
        hit = idx.get(value if type(value) is bytes else bytes(value))
        return () if hit is None else tuple(map(self.entries.__getitem__, hit))


def _b64(s: str, what: str) -> bytes:
    try:
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        raise TrustListMalformedError(f"{what} is not base64", field=what) from None


def _load_json(data: bytes) -> Any:
    # Step 1: bounded JSON with no duplicate keys, floats or NaN.
    if len(data) > MAX_LIST_BYTES:
        raise TrustListMalformedError(f"trust list larger than {MAX_LIST_BYTES} bytes", message_zh="信任列表过大")

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        d = dict(items)
        if len(d) != len(items):
            raise TrustListMalformedError("duplicate key in a JSON object", message_zh="JSON 对象中有重复键")
        return d

    def nofloat(_: str) -> Any:
        raise TrustListMalformedError("floats are not allowed in a trust list", message_zh="信任列表中不允许浮点数")

    try:
        return json.loads(data, object_pairs_hook=pairs, parse_float=nofloat, parse_constant=nofloat)
    except RecursionError:
        raise TrustListMalformedError("JSON nested too deeply", message_zh="JSON 嵌套过深") from None
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, TrustListError):
            raise
        raise TrustListMalformedError(f"not JSON: {exc}", message_zh="不是有效的 JSON") from None


def _count_valid(sigs: list[dict[str, Any]], keys: Mapping[str, VerifyingKey], message: bytes,
                 seen: dict[tuple[bytes, str, str], bool]) -> set[str]:
    """Key ids in ``keys`` with a valid signature; ``seen`` remembers each (SPKI, alg, signature) verdict,
    so a key that is both pinned and named by the list is verified once (SM3 over 5 MB costs ~25 ms)."""
    good: set[str] = set()
    for s in sigs:
        kid = s["keyid"]
        key = keys.get(kid)
        if key is None or kid in good:
            continue
        memo = (key.spki_der(), s["alg"], s["sig"])
        ok = seen.get(memo)
        if ok is None:
            try:
                alg = SignatureAlgorithm.from_name(s["alg"])
                if alg not in SIGNING_ALGORITHMS or alg.key_type is not key.key_type:
                    raise InvalidSignatureError("algorithm does not fit the key")
                key.verify(_b64(s["sig"], "sig"), message, algorithm=alg)
                ok = True
            except (InvalidSignatureError, EsignError):
                ok = False
            seen[memo] = ok
        if ok:
            good.add(kid)
    return good


def _pins(pinned: Iterable[VerifyingKey] | Mapping[str, VerifyingKey]) -> dict[str, VerifyingKey]:
    if isinstance(pinned, Mapping):
        return dict(pinned)
    return {keyid_of(k): k for k in pinned}


def _build_index(entries: Sequence[TrustEntry]) -> dict[str, dict[bytes, list[int]]]:
    idx: dict[str, dict[bytes, list[int]]] = {"spki_sha256": {}, "cert_sha256": {}, "ski": {}, "kid": {}}
    spki_i, cert_i, ski_i, kid_i = idx["spki_sha256"], idx["cert_sha256"], idx["ski"], idx["kid"]
    for i, e in enumerate(entries):
        for c in e.cert_info:
            cert_i.setdefault(c.sha256, []).append(i)
            kid_i.setdefault(c.sha256[:8], []).append(i)
            spki_i.setdefault(c.spki_sha256, []).append(i)
            if c.ski is not None:
                ski_i.setdefault(c.ski, []).append(i)
        for s in e.spki:
            spki_i.setdefault(hashlib.sha256(s).digest(), []).append(i)
    return idx  # lists, never handed out: find() returns tuples


def parse_and_verify(
    data: bytes,
    *,
    pinned_keys: Iterable[VerifyingKey] | Mapping[str, VerifyingKey] | None,
    threshold: int | None,
    previous: TrustList | None,
    at: datetime,
) -> TrustList:
    """Parse, verify and index a trust list envelope.

    Args:
        data: the envelope JSON bytes.
        pinned_keys: keys trusted out of band (first import). Ignored for the chain check when
            ``previous`` is given (the previous list's keys and threshold then apply).
        threshold: how many distinct pinned keys must have signed.
        previous: the list held now, for the rollback and rotation rules.
        at: the time the list must be valid at.

    Raises:
        TrustListMalformedError, TrustListSignatureError, TrustListThresholdError,
        TrustListRollbackError, TrustListExpiredError.
    """
    if at.tzinfo is None:
        raise TrustListMalformedError("at must be timezone-aware", field="at")
    env = _load_json(data)
    if not isinstance(env, dict) or set(env) != {"signed", "signatures"}:
        raise TrustListMalformedError("the envelope must have exactly 'signed' and 'signatures'",
                                      message_zh="信任列表外层必须只含 signed 与 signatures")
    # Step 2: schema.
    signed, content = env["signed"], parse_signed(env["signed"])
    sigs = env["signatures"]
    if not isinstance(sigs, list) or not 0 < len(sigs) <= MAX_SIGNATURES:
        raise TrustListMalformedError(f"'signatures' must list 1..{MAX_SIGNATURES} signatures", field="signatures")
    for s in sigs:
        if not (isinstance(s, dict) and set(s) == {"keyid", "alg", "sig"}
                and all(isinstance(v, str) for v in s.values())):
            raise TrustListMalformedError("each signature is {keyid, alg, sig} strings", field="signatures")
    message = json.dumps(signed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    digest = hashlib.sha256(message).hexdigest()
    own = {k.keyid: public_key_from_spki(k.spki) for k in content["keys"]}
    # Step 3: signatures, thresholds.
    if previous is not None:
        chain_keys = {k.keyid: public_key_from_spki(k.spki) for k in previous.keys}
        chain_threshold, chain_what = previous.threshold, f"version {previous.version}'s list-signing keys"
    elif pinned_keys is not None and threshold is not None:
        chain_keys, chain_threshold, chain_what = _pins(pinned_keys), threshold, "the pinned keys"
    else:
        raise TrustListMalformedError("pinned keys and a threshold are required for a first import",
                                      message_zh="首次导入必须指定固定公钥和门限", field="pin")
    if chain_threshold < 1:
        raise TrustListMalformedError("threshold must be at least 1", field="threshold")
    seen: dict[tuple[bytes, str, str], bool] = {}
    good_chain = _count_valid(sigs, chain_keys, message, seen)
    if not good_chain:
        raise TrustListSignatureError(f"no signature verifies under {chain_what}",
                                      message_zh="没有任何签名能用受信公钥验证通过")
    if len(good_chain) < chain_threshold:
        raise TrustListThresholdError(
            f"{len(good_chain)} valid signature(s) by {chain_what}, {chain_threshold} required",
            message_zh=f"受信公钥的有效签名 {len(good_chain)} 个，少于门限 {chain_threshold}")
    good_own = _count_valid(sigs, own, message, seen)
    if len(good_own) < content["threshold"]:
        raise TrustListThresholdError(
            f"{len(good_own)} valid signature(s) by the list's own keys, {content['threshold']} required",
            message_zh=f"列表自身公钥的有效签名 {len(good_own)} 个，少于其门限 {content['threshold']}")
    # Step 4: version.
    if previous is not None:
        if content["region"] != previous.region:
            raise TrustListMalformedError(f"list is for region {content['region']}, not {previous.region}",
                                          field="region")
        if content["version"] < previous.version or (content["version"] == previous.version
                                                     and digest != previous.digest):
            raise TrustListRollbackError(
                f"version {content['version']} does not move forward from the held version {previous.version}",
                message_zh=f"版本 {content['version']} 未高于已持有的版本 {previous.version}")
    # Step 5: time.
    if at < content["issued_at"]:
        raise TrustListExpiredError(f"list issued at {_iso(content['issued_at'])}, after {_iso(at)}",
                                    message_zh="信任列表签发时间晚于当前时间")
    if at >= content["expires_at"]:
        raise TrustListExpiredError(f"list expired at {_iso(content['expires_at'])}",
                                    message_zh=f"信任列表已于 {_iso(content['expires_at'])} 过期")
    # Step 6: index.
    entries = content["entries"]
    return TrustList(region=content["region"], region_name=content["region_name"], version=content["version"],
                     issued_at=content["issued_at"], expires_at=content["expires_at"], keys=content["keys"],
                     threshold=content["threshold"], entries=entries, digest=digest,
                     signed_by=tuple(sorted(good_chain | good_own)), raw=bytes(data), _index=_build_index(entries))


def publish(
    *,
    region: str,
    version: int,
    issued_at: datetime,
    expires_at: datetime,
    signers: Sequence[SigningKey],
    entries: Sequence[Mapping[str, Any]],
    threshold: int,
    next_keys: Sequence[VerifyingKey] | None = None,
    region_name: str = "",
) -> bytes:
    """Sign a list and return the envelope bytes.

    ``next_keys`` (default: the signers' public keys) and ``threshold`` are what the list names
    for signing its NEXT version. For a rotation, ``signers`` holds a threshold of the old keys
    and a threshold of the new ones.
    """
    names = list(next_keys) if next_keys is not None else [k.public_key() for k in signers]
    signed = {
        "_type": LIST_TYPE,
        "spec_version": 1,
        "region": region,
        "region_name": region_name,
        "version": version,
        "issued_at": _iso(issued_at),
        "expires_at": _iso(expires_at),
        "list_signing_keys": {
            "threshold": threshold,
            "keys": [{"keyid": keyid_of(k), "alg": k.default_algorithm().algo_name,
                      "spki": base64.b64encode(k.spki_der()).decode()} for k in names],
        },
        "entries": [dict(e) for e in entries],
    }
    parse_signed(signed)  # refuse to sign what no one could import
    message = canonical_json(signed)
    sigs = []
    for k in signers:
        alg = k.default_algorithm()
        if alg not in SIGNING_ALGORITHMS:
            raise TrustListMalformedError(f"{alg.algo_name} may not sign trust lists", field="alg")
        sigs.append({"keyid": keyid_of(k.public_key()), "alg": alg.algo_name,
                     "sig": base64.b64encode(k.sign(message)).decode()})
    return json.dumps({"signed": signed, "signatures": sigs}, ensure_ascii=False, separators=(",", ":")).encode()

