"""Storage ports of the licence domain (implemented in SQL by ``api/storage/licences.py``).

The core never sees a database: it asks a :class:`LicenceRepository` for a
:class:`LicenceTransaction` (a context manager) and does everything an operation writes --
allocating the status-list index, inserting the licence, changing statuses, recording the
:class:`~licences.model.LicenceEvent` and the audit entry -- inside it. Leaving the ``with`` block
normally commits; an exception rolls everything back, so a failed operation writes nothing.

:meth:`LicenceTransaction.savepoint` nests a sub-transaction: bulk issuance runs each row in one,
so a failed row is undone alone while rows are committed in batches.

:class:`MemoryLicenceRepository` is a complete in-process implementation for tests, the bench
and library users without a database.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from keys.errors import ConflictError
from licences.catalogue import LicenceType
from licences.errors import LicenceNotFoundError
from licences.model import IssuingAuthority, Licence, LicenceEvent, LicenceStatus

__all__ = ["MAX_LIST", "LicenceRepository", "LicenceTransaction", "MemoryLicenceRepository"]

#: Most licences one list call returns.
MAX_LIST = 1000


@runtime_checkable
class LicenceTransaction(Protocol):
    """Writes of one operation (all or nothing)."""

    def allocate_indices(self, authority_id: str, count: int = 1) -> int:
        """Reserve ``count`` consecutive status-list indices of the authority; return the first."""

    def add_licence(self, licence: Licence) -> None:
        """Insert a new licence version; ConflictError if the identifier exists."""

    def get_licence(self, licence_id: str, *, for_update: bool = False) -> Licence:
        """A licence (locked for the rest of the transaction with ``for_update``); LicenceNotFoundError."""

    def set_status(self, licence_id: str, status: LicenceStatus, *, reason: str,
                   superseded_by: str | None = None) -> None:
        """Change the stored status (and the forward link to the next version)."""

    def add_event(self, event: LicenceEvent, *, details: Mapping[str, Any], audit: bool = True) -> None:
        """Record the event and (unless ``audit=False``) its audit entry (no personal data in clear in ``details``).

        ``audit=False`` is for bulk issuance, which writes one :meth:`add_audit` entry per chunk of rows.
        """

    def add_audit(self, *, actor: str, action: str, object_type: str, object_id: str,
                  details: Mapping[str, Any]) -> None:
        """Append one audit entry in this transaction."""

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested sub-transaction: an exception inside undoes only its writes."""


@runtime_checkable
class LicenceRepository(Protocol):
    """Where licences, issuing authorities and regional licence types live."""

    def transaction(self) -> AbstractContextManager[LicenceTransaction]:
        """Open a write transaction (commit on normal exit, roll back on exception)."""

    def get_licence(self, licence_id: str) -> Licence:
        """A licence version; LicenceNotFoundError."""

    def list_licences(self, *, authority_id: str | None = None, holder_id: str | None = None,
                      limit: int = 100, offset: int = 0) -> Sequence[Licence]:
        """Newest first."""

    def events(self, licence_id: str) -> Sequence[LicenceEvent]:
        """The licence version's events, oldest first."""

    def status_entries(self, authority_id: str) -> Iterator[tuple[int, LicenceStatus]]:
        """``(index, stored status)`` of the authority's licence versions that are NOT valid (any order).

        Valid versions are left out: 0 (valid) is the default of every status-list entry.
        """

    def status_size(self, authority_id: str) -> tuple[int, int]:
        """``(indices allocated so far, change counter)``; the counter moves with every issue/status change."""

    def add_authority(self, authority: IssuingAuthority, *, actor: str) -> None:
        """Register an issuing authority (audited); ConflictError if the id exists."""

    def get_authority(self, authority_id: str) -> IssuingAuthority:
        """An authority; LicenceNotFoundError (field ``authority``)."""

    def list_authorities(self, *, region: str | None = None) -> Sequence[IssuingAuthority]:
        """By id."""

    def add_type(self, licence_type: LicenceType, *, actor: str, at: datetime) -> None:
        """Add a regional licence type (audited); ConflictError if the code exists."""

    def list_types(self) -> Sequence[LicenceType]:
        """Every regional licence type."""


# --- in memory ---------------------------------------------------------------------------------


class _MemoryState:
    def __init__(self) -> None:
        self.licences: dict[str, Licence] = {}
        self.events: dict[str, list[LicenceEvent]] = {}
        self.next_index: dict[str, int] = {}
        self.changes: dict[str, int] = {}
        self.audit: list[dict[str, Any]] = []


class _MemoryTx:
    """Writes go to an overlay that is applied to the state only on commit."""

    def __init__(self, state: _MemoryState) -> None:
        self.s = state
        self.licences: dict[str, Licence] = {}
        self.events: list[LicenceEvent] = []
        self.next_index: dict[str, int] = {}
        self.changes: dict[str, int] = {}
        self.audit: list[dict[str, Any]] = []

    def _bump(self, authority_id: str) -> None:
        self.changes[authority_id] = self.changes.get(authority_id, 0) + 1

    def allocate_indices(self, authority_id: str, count: int = 1) -> int:
        first = self.next_index.get(authority_id, self.s.next_index.get(authority_id, 0))
        self.next_index[authority_id] = first + count
        return first

    def add_licence(self, licence: Licence) -> None:
        if licence.licence_id in self.s.licences or licence.licence_id in self.licences:
            raise ConflictError(f"licence {licence.licence_id} exists", message_zh="证照已存在", field="licence_id")
        self.licences[licence.licence_id] = licence
        self._bump(licence.authority_id)

    def get_licence(self, licence_id: str, *, for_update: bool = False) -> Licence:
        lic = self.licences.get(licence_id) or self.s.licences.get(licence_id)
        if lic is None:
            raise LicenceNotFoundError(f"no licence {licence_id[:80]!r}", message_zh="证照不存在", field="licence_id")
        return lic

    def set_status(self, licence_id: str, status: LicenceStatus, *, reason: str,
                   superseded_by: str | None = None) -> None:
        lic = self.get_licence(licence_id)
        self.licences[licence_id] = replace(lic, status=status, status_reason=reason,
                                            superseded_by=superseded_by or lic.superseded_by)
        self._bump(lic.authority_id)

    def add_event(self, event: LicenceEvent, *, details: Mapping[str, Any], audit: bool = True) -> None:
        self.events.append(event)
        if audit:
            self.add_audit(actor=event.actor, action=f"licence.{event.action}", object_type="licence",
                           object_id=event.licence_id, details=details)

    def add_audit(self, *, actor: str, action: str, object_type: str, object_id: str,
                  details: Mapping[str, Any]) -> None:
        self.audit.append({"actor": actor, "action": action, "object_type": object_type, "object_id": object_id,
                           "details": dict(details)})

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        saved = (dict(self.licences), len(self.events), dict(self.next_index), dict(self.changes), len(self.audit))
        try:
            yield
        except BaseException:
            self.licences, self.next_index, self.changes = saved[0], saved[2], saved[3]
            del self.events[saved[1]:]
            del self.audit[saved[4]:]
            raise

    def commit(self) -> None:
        self.s.licences.update(self.licences)
        for e in self.events:
            self.s.events.setdefault(e.licence_id, []).append(e)
        self.s.next_index.update(self.next_index)
        for k, v in self.changes.items():
            self.s.changes[k] = self.s.changes.get(k, 0) + v
        self.s.audit.extend(self.audit)


class MemoryLicenceRepository:
    """A :class:`LicenceRepository` in memory (one lock; transactions are copy-on-exception).

    ``audit`` holds the audit entries written (what the SQL version appends to the hash chain).
    """

    def __init__(self) -> None:
        self._state = _MemoryState()
        self._authorities: dict[str, IssuingAuthority] = {}
        self._types: dict[str, LicenceType] = {}
        self._lock = threading.RLock()

    @property
    def audit(self) -> list[dict[str, Any]]:
        """Audit entries written so far."""
        return self._state.audit

    @contextmanager
    def transaction(self) -> Iterator[LicenceTransaction]:
        with self._lock:
            tx = _MemoryTx(self._state)
            yield tx
            tx.commit()

    def get_licence(self, licence_id: str) -> Licence:
        with self._lock:
            return _MemoryTx(self._state).get_licence(licence_id)

    def list_licences(self, *, authority_id: str | None = None, holder_id: str | None = None,
                      limit: int = 100, offset: int = 0) -> Sequence[Licence]:
        with self._lock:
            rows = [x for x in self._state.licences.values()
                    if (authority_id is None or x.authority_id == authority_id)
                    and (holder_id is None or x.holder_id == holder_id)]
        rows.sort(key=lambda x: (x.issued_at, x.licence_id), reverse=True)
        return rows[offset:offset + min(limit, MAX_LIST)]

    def events(self, licence_id: str) -> Sequence[LicenceEvent]:
        with self._lock:
            return list(self._state.events.get(licence_id, []))

    def status_entries(self, authority_id: str) -> Iterator[tuple[int, LicenceStatus]]:
        with self._lock:
            rows = [(x.status_index, x.status) for x in self._state.licences.values()
                    if x.authority_id == authority_id and x.status is not LicenceStatus.VALID]
        return iter(rows)

    def status_size(self, authority_id: str) -> tuple[int, int]:
        with self._lock:
            return self._state.next_index.get(authority_id, 0), self._state.changes.get(authority_id, 0)

    def add_authority(self, authority: IssuingAuthority, *, actor: str) -> None:
        with self._lock:
            if authority.id in self._authorities:
                raise ConflictError(f"issuing authority {authority.id} exists", message_zh="发证机构已存在",
                                    field="id")
            self._authorities[authority.id] = authority
            self._state.audit.append({"actor": actor, "action": "licence.authority.add", "object_id": authority.id,
                                      "details": {"region": authority.region}})

    def get_authority(self, authority_id: str) -> IssuingAuthority:
        with self._lock:
            a = self._authorities.get(authority_id)
        if a is None:
            raise LicenceNotFoundError(f"no issuing authority {authority_id[:64]!r}", message_zh="发证机构不存在",
                                       field="authority")
        return a

    def list_authorities(self, *, region: str | None = None) -> Sequence[IssuingAuthority]:
        with self._lock:
            return sorted((a for a in self._authorities.values() if region is None or a.region == region),
                          key=lambda a: a.id)

    def add_type(self, licence_type: LicenceType, *, actor: str, at: datetime) -> None:
        with self._lock:
            if licence_type.code in self._types:
                raise ConflictError(f"licence type {licence_type.code} exists", message_zh="证照类型已存在",
                                    field="code")
            self._types[licence_type.code] = licence_type
            self._state.audit.append({"actor": actor, "action": "licence.type.add", "object_id": licence_type.code,
                                      "details": {"region": licence_type.region}})

    def list_types(self) -> Sequence[LicenceType]:
        with self._lock:
            return sorted(self._types.values(), key=lambda t: t.code)
