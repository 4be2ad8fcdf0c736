"""Ports: the small Protocols through which the core reaches storage, caches and the clock.

The core (``keys``, ``esign``, ``verifier``, ``licences``) never imports a database or cache
client. It asks for one of these Protocols instead; ``api/storage/`` implements each of them
twice, for the embedded default (SQLite + in-process cache) and for production
(PostgreSQL + Redis), and ``api/deps.py`` hands the right one to the code that needs it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from keys.audit import AuditEntry, ChainStatus

__all__ = ["AuditLog", "AuditSink", "Cache", "Clock"]


@runtime_checkable
class Clock(Protocol):
    """Where "now" comes from; tests pass a frozen clock."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""


@runtime_checkable
class AuditSink(Protocol):
    """Append-only writer of the hash-chained audit log."""

    def append(
        self,
        *,
        actor: str,
        action: str,
        object_type: str,
        object_id: str,
        details: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        """Seal and store one entry after the current head; return it.

        Implementations serialise concurrent appends so the chain never forks. ``details``
        must not hold personal data in clear (hash it with ``keys.audit.pii_digest``).
        """


@runtime_checkable
class AuditLog(AuditSink, Protocol):
    """An :class:`AuditSink` that can also be read back and checked."""

    def page(self, *, after_seq: int = 0, limit: int = 100) -> Sequence[AuditEntry]:
        """Entries with ``seq > after_seq`` in ascending order, at most ``limit``."""

    def verify(self) -> ChainStatus:
        """Walk the whole chain (and compare with the stored head); report the first break."""


@runtime_checkable
class Cache(Protocol):
    """A byte-string cache with per-key time-to-live."""

    def get(self, key: str) -> bytes | None:
        """The value, or ``None`` when missing or expired."""

    def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        """Store ``value``; ``ttl`` in seconds, ``None`` for the cache's default."""

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""

    def incr(self, key: str, *, ttl: float) -> int:
        """Add one to the counter at ``key`` (a new one starts at 1 and lives ``ttl`` s); atomic."""

    def ttl(self, key: str) -> float | None:
        """Seconds left before ``key`` expires; ``None`` when missing or without expiry."""

    def ping(self) -> None:
        """Raise ``BackendUnavailableError`` when the cache cannot be reached."""

    def close(self) -> None:
        """Release connections."""
