"""Ports of the seal code: the seal register (印章备案/状态) and the seal usage log (用印记录).

The core only sees these Protocols; ``api/storage/seals.py`` implements both in SQL (SQLite and
PostgreSQL), and tests may use the in-memory :class:`MemorySealRegister`.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol, runtime_checkable

from keys.errors import BadInputError, ConflictError, NotFoundError

__all__ = [
    "MAX_LIST",
    "MemorySealRegister",
    "SealRecord",
    "SealRegister",
    "SealStatus",
    "SealStatusChange",
    "SealUsage",
    "SealUsageLog",
    "check_transition",
]

#: Most rows any list/query returns at once.
MAX_LIST = 1000


class SealStatus(enum.StrEnum):
    """Register status of a seal."""

    LISTED = "listed"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


@dataclass(frozen=True)
class SealRecord:
    """One seal in the register."""

    seal_id: str
    """``esID`` of the seal."""
    region: str
    """GB/T 2260 region whose register holds it."""
    enterprise: str
    """Owner: enterprise USCC or another owner id."""
    seal_type: int
    """``property.type``."""
    name: str
    """Seal name."""
    status: SealStatus
    """Current status."""
    valid_from: datetime
    """``validStart``."""
    valid_to: datetime
    """``validEnd``."""
    maker_cert_sha256: str
    """SHA-256 of the seal maker's certificate, hex."""
    der: bytes
    """The ``SESeal`` DER."""
    created_at: datetime
    """When it entered the register."""


@dataclass(frozen=True)
class SealStatusChange:
    """One status change of a seal (the history is append-only)."""

    seal_id: str
    """Which seal."""
    status: SealStatus
    """Status from :attr:`at` on."""
    reason: str
    """Why (free text, no personal data)."""
    at: datetime
    """Effective time."""
    actor: str
    """Principal id that made the change."""


@dataclass(frozen=True)
class SealUsage:
    """One use of a seal (用印记录)."""

    seal_id: str
    """Which seal."""
    enterprise: str
    """Owner of the seal."""
    actor: str
    """Principal id that signed."""
    data_hash_hex: str
    """SM3 of the document (the ``dataHash`` signed), hex."""
    signature_sha256: str
    """SHA-256 of the ``SES_Signature`` produced, hex."""
    at: datetime
    """Signing time."""
    client: str
    """Where from: client address as seen by the service (empty when unknown)."""
    property_info: str = ""
    """``propertyInfo`` written into the signature."""
    key_id: str = ""
    """Key-store id of the signer key."""


def check_transition(current: SealStatus, new: SealStatus) -> None:
    """Allowed: listed -> suspended|revoked, suspended -> listed|revoked. Revoked is final."""
    if current is SealStatus.REVOKED:
        raise ConflictError("the seal is revoked; revocation is final", message_zh="印章已注销，不能再变更状态")
    if current is new:
        raise ConflictError(f"the seal is already {new.value}", message_zh="印章已处于该状态")


@runtime_checkable
class SealRegister(Protocol):
    """A region's register of seals and their status over time."""

    def add(self, seal_der: bytes, *, region: str, enterprise: str, at: datetime, actor: str) -> SealRecord:
        """Register a seal (status ``listed``); ConflictError if its esID is already registered."""

    def get(self, seal_id: str) -> SealRecord:
        """The record; NotFoundError if unknown."""

    def list(
        self, *, region: str | None = None, enterprise: str | None = None, status: SealStatus | None = None,
        limit: int = 100, offset: int = 0,
    ) -> Sequence[SealRecord]:
        """Seals filtered by region / enterprise / status, newest first."""

    def set_status(self, seal_id: str, status: SealStatus, *, reason: str, at: datetime, actor: str) -> SealRecord:
        """Change the status from ``at`` (truncated to the second) on (see :func:`check_transition`)."""

    def status_at(self, seal_id: str, at: datetime) -> SealStatus | None:
        """Status in force at ``at``; ``None`` when the seal is not in the register."""

    def history(self, seal_id: str) -> Sequence[SealStatusChange]:
        """Every status change, oldest first."""


@runtime_checkable
class SealUsageLog(Protocol):
    """Where seal uses are recorded and found again (the SQL one also writes the audit chain)."""

    def record(self, usage: SealUsage) -> None:
        """Store one use."""

    def query(
        self, *, seal_id: str | None = None, enterprise: str | None = None, limit: int = 100, offset: int = 0
    ) -> Sequence[SealUsage]:
        """Uses by seal and/or enterprise, newest first."""


def _limit(limit: int) -> int:
    if limit < 1 or limit > MAX_LIST:
        raise BadInputError(f"limit must be 1..{MAX_LIST}", message_zh="分页大小超出范围", field="limit")
    return limit


class MemorySealRegister:
    """In-memory :class:`SealRegister` and :class:`SealUsageLog` (tests, offline CLI)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seals: dict[str, SealRecord] = {}
        self._history: dict[str, list[SealStatusChange]] = {}
        self._uses: list[SealUsage] = []

    def add(self, seal_der: bytes, *, region: str, enterprise: str, at: datetime, actor: str) -> SealRecord:
        import hashlib

        from esign.formats.ses import parse_unverified_seal

        seal = parse_unverified_seal(seal_der)
        with self._lock:
            if seal.seal_id in self._seals:
                raise ConflictError(f"seal {seal.seal_id} is already registered", message_zh="该印章已备案")
            rec = SealRecord(seal_id=seal.seal_id, region=region, enterprise=enterprise, seal_type=seal.seal_type,
                             name=seal.name, status=SealStatus.LISTED, valid_from=seal.valid_from,
                             valid_to=seal.valid_to, maker_cert_sha256=hashlib.sha256(seal.maker_cert_der).hexdigest(),
                             der=bytes(seal_der), created_at=at)
            self._seals[seal.seal_id] = rec
            self._history[seal.seal_id] = [SealStatusChange(seal.seal_id, SealStatus.LISTED, "registered", at, actor)]
            return rec

    def get(self, seal_id: str) -> SealRecord:
        rec = self._seals.get(seal_id)
        if rec is None:
            raise NotFoundError(f"no seal {seal_id!r} in the register", message_zh="印章未备案", field="seal_id")
        return rec

    def list(
        self, *, region: str | None = None, enterprise: str | None = None, status: SealStatus | None = None,
        limit: int = 100, offset: int = 0,
    ) -> Sequence[SealRecord]:
        rows = [r for r in self._seals.values()
                if (region is None or r.region == region) and (enterprise is None or r.enterprise == enterprise)
                and (status is None or r.status is status)]
        rows.sort(key=lambda r: r.created_at, reverse=True)
        return rows[offset : offset + _limit(limit)]

    def set_status(self, seal_id: str, status: SealStatus, *, reason: str, at: datetime, actor: str) -> SealRecord:
        at = at.replace(microsecond=0)  # effective from the start of its second, as signing times are written
        with self._lock:
            rec = self.get(seal_id)
            check_transition(rec.status, status)
            rec = replace(rec, status=status)
            self._seals[seal_id] = rec
            self._history[seal_id].append(SealStatusChange(seal_id, status, reason, at, actor))
            return rec

    def status_at(self, seal_id: str, at: datetime) -> SealStatus | None:
        hist = self._history.get(seal_id)
        if not hist:
            return None
        current: SealStatus | None = None
        for change in hist:
            if change.at <= at:
                current = change.status
        return current

    def history(self, seal_id: str) -> Sequence[SealStatusChange]:
        self.get(seal_id)
        return list(self._history[seal_id])

    def record(self, usage: SealUsage) -> None:
        with self._lock:
            self._uses.append(usage)

    def query(
        self, *, seal_id: str | None = None, enterprise: str | None = None, limit: int = 100, offset: int = 0
    ) -> Sequence[SealUsage]:
        rows = [u for u in reversed(self._uses)
                if (seal_id is None or u.seal_id == seal_id) and (enterprise is None or u.enterprise == enterprise)]
        return rows[offset : offset + _limit(limit)]
