"""The mathematics of the hash-chained audit log: canonical JSON, entry hashes, chain checks.

Pure functions and frozen data only; no I/O. ``api/storage/audit.py`` persists entries and
serialises concurrent appends; this module decides what an entry's hash *is* and whether a
sequence of entries forms one unbroken chain.

Hash construction (version 1), documented in ``docs/service.md``::

    entry_hash = SM3( "esign-audit-v1" || 0x00 || prev_hash (32 raw bytes) || canonical_json(body) )
    body       = {"seq", "ts", "actor", "action", "object_type", "object_id", "details"}

* SM3 (GB/T 32905-2016) through :mod:`keys.hashing`, so the log needs no SM2 backend.
* The domain tag stops an audit hash from being replayed as any other SM3 value in the project.
* ``canonical_json``: UTF-8, object keys sorted by code point, no insignificant whitespace,
  strings/ints/bools/null/arrays/objects only. Floats are refused, because their textual form
  differs between JSON libraries and databases (a subset of RFC 8785 that needs no number
  canonicalisation).
* The first entry has ``seq == 1`` and ``prev_hash == GENESIS_HASH`` (32 zero bytes).

Personal data must never be written into ``details`` in clear: callers hash it first with
:func:`pii_digest` (HMAC-SM3 under a deployment secret, so low-entropy values such as resident
ID numbers cannot be recovered by trying every candidate).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from keys.errors import BadInputError, VerificationError
from keys.hashing import hmac_sm3, sm3

__all__ = [
    "GENESIS_HASH",
    "HASH_ALGORITHM",
    "MAX_DETAILS_BYTES",
    "MAX_FIELD_CHARS",
    "AuditChainError",
    "AuditEntry",
    "ChainStatus",
    "ChainVerifier",
    "canonical_json",
    "check_chain",
    "compute_entry_hash",
    "pii_digest",
    "seal_entry",
    "verify_chain",
]

#: Name of the hash used for the chain (reported by ``/v1/audit/verify``).
HASH_ALGORITHM = "sm3"
#: ``prev_hash`` of the first entry: 32 zero bytes, hex.
GENESIS_HASH = "00" * 32
#: Largest canonical JSON ``details`` object accepted for one entry.
MAX_DETAILS_BYTES = 16 * 1024
#: Longest ``actor`` / ``action`` / ``object_type`` / ``object_id`` accepted.
MAX_FIELD_CHARS = 200
#: Deepest nesting accepted in ``details``.
_MAX_DEPTH = 8
_DOMAIN_TAG = b"esign-audit-v1\x00"


class AuditChainError(VerificationError):
    """The audit chain is broken: an entry was changed, removed, inserted or reordered."""

    code = "audit_chain_broken"
    default_zh = "审计日志哈希链断裂（记录被篡改、删除或插入）"

    def __init__(self, message: str, *, index: int, seq: int | None, message_zh: str | None = None) -> None:
        super().__init__(message, message_zh=message_zh)
        self.index = index
        self.seq = seq


@dataclass(frozen=True)
class AuditEntry:
    """One sealed entry of the audit log."""

    seq: int
    """Position in the chain, starting at 1, without gaps."""
    ts: str
    """UTC time of the event, ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (exact text is hashed)."""
    actor: str
    """Principal id that caused the event, or ``system``."""
    action: str
    """Dotted verb, e.g. ``principal.create``, ``ca.issue``."""
    object_type: str
    """Kind of object acted on, e.g. ``principal``, ``certificate``."""
    object_id: str
    """Identifier of that object (never personal data in clear)."""
    details: Mapping[str, Any] = field(default_factory=dict)
    """Extra JSON facts; personal data only as :func:`pii_digest` values."""
    prev_hash: str = GENESIS_HASH
    """Hex ``entry_hash`` of the previous entry (``GENESIS_HASH`` for the first)."""
    entry_hash: str = ""
    """Hex SM3 over the domain tag, ``prev_hash`` and the canonical body."""

    def body(self) -> dict[str, Any]:
        """The hashed fields, as a plain dict."""
        return {
            "seq": self.seq,
            "ts": self.ts,
            "actor": self.actor,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class ChainStatus:
    """Result of walking a chain: either intact, or where it first breaks."""

    intact: bool
    """True when every link checked out."""
    count: int
    """Entries examined (up to and including the first bad one)."""
    head_seq: int
    """``seq`` of the last good entry (0 for an empty log)."""
    head_hash: str
    """``entry_hash`` of the last good entry (``GENESIS_HASH`` for an empty log)."""
    first_bad_index: int | None = None
    """0-based position of the first bad entry in the order walked, if any."""
    first_bad_seq: int | None = None
    """``seq`` stored in that entry, if any."""
    reason: str | None = None
    """Plain-language reason for the break (English)."""
    algorithm: str = HASH_ALGORITHM
    """Hash algorithm of the chain."""

    def raise_for_status(self) -> ChainStatus:
        """Return ``self`` when intact, else raise :class:`AuditChainError`."""
        if not self.intact:
            raise AuditChainError(
                f"audit chain broken at index {self.first_bad_index} (seq {self.first_bad_seq}): {self.reason}",
                index=self.first_bad_index if self.first_bad_index is not None else -1,
                seq=self.first_bad_seq,
            )
        return self


def _check_value(value: Any, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise BadInputError("audit details nested too deeply", message_zh="审计详情嵌套层级过深", field="details")
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):
        return
    if isinstance(value, float):
        why = "not finite" if not math.isfinite(value) else "floats have no canonical form; use a string or integer"
        raise BadInputError(f"audit details: {why}", message_zh="审计详情不允许浮点数", field="details")
    if isinstance(value, list | tuple):
        for item in value:
            _check_value(item, depth + 1)
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise BadInputError("audit details: object keys must be strings", field="details")
            _check_value(v, depth + 1)
        return
    raise BadInputError(
        f"audit details: unsupported type {type(value).__name__}",
        message_zh="审计详情包含不支持的类型",
        field="details",
    )


def canonical_json(value: Any) -> bytes:
    """Canonical UTF-8 JSON of ``value`` (sorted keys, no whitespace, no floats).

    Raises:
        BadInputError: for floats, non-string keys, other types or excessive nesting.
    """
    _check_value(value, 0)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _check_fields(seq: int, ts: str, actor: str, action: str, object_type: str, object_id: str) -> None:
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise BadInputError("audit seq must be a positive integer", field="seq")
    for name, val in (("ts", ts), ("actor", actor), ("action", action), ("object_type", object_type),
                      ("object_id", object_id)):
        if not isinstance(val, str) or len(val) > MAX_FIELD_CHARS:
            raise BadInputError(f"audit {name} must be a string of at most {MAX_FIELD_CHARS} characters", field=name)


def _hash_bytes(prev_hash: str) -> bytes:
    try:
        raw = bytes.fromhex(prev_hash)
    except (ValueError, TypeError) as exc:
        raise BadInputError("prev_hash is not hex", field="prev_hash") from exc
    if len(raw) != 32:
        raise BadInputError("prev_hash must be 32 bytes", field="prev_hash")
    return raw


def compute_entry_hash(entry: AuditEntry) -> str:
    """The hex hash ``entry`` should carry, from its body and ``prev_hash`` (ignores ``entry_hash``)."""
    _check_fields(entry.seq, entry.ts, entry.actor, entry.action, entry.object_type, entry.object_id)
    body = canonical_json(entry.body())
    return sm3(_DOMAIN_TAG + _hash_bytes(entry.prev_hash) + body).hex()


def seal_entry(
    *,
    seq: int,
    ts: str,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    details: Mapping[str, Any] | None,
    prev_hash: str,
) -> AuditEntry:
    """Build the next entry of a chain with its ``entry_hash`` filled in.

    Raises:
        BadInputError: a field is too long, ``details`` is not canonicalisable or too large.
    """
    det = dict(details or {})
    if len(canonical_json(det)) > MAX_DETAILS_BYTES:
        raise BadInputError(f"audit details larger than {MAX_DETAILS_BYTES} bytes", field="details")
    draft = AuditEntry(seq=seq, ts=ts, actor=actor, action=action, object_type=object_type,
                       object_id=object_id, details=det, prev_hash=prev_hash)
    return replace(draft, entry_hash=compute_entry_hash(draft))


class ChainVerifier:
    """Walk a chain incrementally (for logs too large to hold in memory).

    Feed entries in ``seq`` order with :meth:`feed`; after the first bad entry further input is
    ignored. :meth:`status` returns a :class:`ChainStatus` at any point.
    """

    def __init__(self, *, prev_hash: str = GENESIS_HASH, next_seq: int = 1, index: int = 0) -> None:
        self._prev = prev_hash
        self._next_seq = next_seq
        self._index = index
        self._count = 0
        self._bad: tuple[int, int | None, str] | None = None

    @property
    def broken(self) -> bool:
        """True once a bad entry has been seen."""
        return self._bad is not None

    def feed(self, entry: AuditEntry) -> None:
        """Check one more entry against the chain so far."""
        if self._bad is not None:
            return
        self._count += 1
        # Steps, in order; the first that fails names the break:
        #   (1) seq is the next number, (2) prev_hash links to the previous entry,
        #   (3) the stored entry_hash equals the recomputed hash of the body.
        reason: str | None = None
        if entry.seq != self._next_seq:  # (1)
            reason = f"expected seq {self._next_seq}, found {entry.seq} (entry missing, inserted or reordered)"
        elif entry.prev_hash != self._prev:  # (2)
            reason = "prev_hash does not match the previous entry's hash"
        else:
            try:  # (3)
                recomputed = compute_entry_hash(entry)
            except BadInputError as exc:
                reason = f"entry not canonicalisable: {exc.message}"
            else:
                if recomputed != entry.entry_hash:
                    reason = "entry_hash does not match the entry's content (entry modified)"
        if reason is not None:
            self._bad = (self._index, entry.seq, reason)
            return
        self._prev = entry.entry_hash
        self._next_seq += 1
        self._index += 1

    def expect_head(self, *, seq: int, entry_hash: str) -> None:
        """Compare the end of the walk with a separately stored head (detects truncation)."""
        if self._bad is not None:
            return
        if seq != self._next_seq - 1 or entry_hash != self._prev:
            self._bad = (self._index, None,
                         f"chain ends at seq {self._next_seq - 1} but the recorded head is seq {seq} "
                         "(entries removed from the end, or head tampered)")

    def status(self) -> ChainStatus:
        """The result so far."""
        if self._bad is None:
            return ChainStatus(intact=True, count=self._count, head_seq=self._next_seq - 1, head_hash=self._prev)
        index, seq, reason = self._bad
        return ChainStatus(intact=False, count=self._count, head_seq=self._next_seq - 1, head_hash=self._prev,
                           first_bad_index=index, first_bad_seq=seq, reason=reason)


def check_chain(entries: Iterable[AuditEntry]) -> ChainStatus:
    """Walk ``entries`` from genesis; report intact or the first broken link."""
    v = ChainVerifier()
    for e in entries:
        v.feed(e)
        if v.broken:
            break
    return v.status()


def verify_chain(entries: Iterable[AuditEntry]) -> ChainStatus:
    """Like :func:`check_chain` but raise :class:`AuditChainError` unless intact."""
    return check_chain(entries).raise_for_status()


def pii_digest(value: str, *, key: bytes) -> str:
    """A keyed, non-reversible stand-in for a personal value (HMAC-SM3, hex, ``h:`` prefix).

    The same value under the same key always gives the same digest, so log lines and audit
    entries can be correlated without storing the value.
    """
    if len(key) < 16:
        raise BadInputError("pii digest key must be at least 16 bytes", field="key")
    return "h:" + hmac_sm3(key, value.encode("utf-8")).hex()[:32]
