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

from keys.errors import ConflictError, NotFoundError
from licences.catalogue import LicenceType
from licences.errors import LicenceNotFoundError, ObjectionStateError
from licences.model import (
    ConsentGrant,
    IssuingAuthority,
    Licence,
    LicenceEvent,
    LicenceStatus,
    LicenceUse,
    Objection,
    ObjectionState,
)

__all__ = ["MAX_LIST", "LicenceRepository", "LicenceTransaction", "MemoryLicenceRepository", "consent_not_found",
           "objection_not_found"]

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

    # -- disputes and consent (licences.objections, licences.consent) --
    def add_objection(self, objection: Objection, evidence: Sequence[bytes]) -> None:
        """Insert an objection and the bytes of its evidence files (same order as ``objection.evidence``).

        Raises :class:`~licences.errors.ObjectionStateError` when the same filer already has an
        objection in state ``filed`` against the same licence version: the store enforces it (a
        partial unique index in SQL), so two concurrent filings cannot both land.
        """

    def get_objection(self, objection_id: str, *, for_update: bool = False) -> Objection:
        """An objection (locked with ``for_update``); NotFoundError."""

    def update_objection(self, objection: Objection) -> None:
        """Store the decision fields of an existing objection."""

    def add_consent(self, grant: ConsentGrant) -> None:
        """Insert a consent grant."""

    def get_consent(self, grant_id: str, *, for_update: bool = False) -> ConsentGrant:
        """A consent grant; NotFoundError."""

    def update_consent(self, grant: ConsentGrant) -> None:
        """Store the revocation of an existing grant."""

    def add_use(self, use: LicenceUse) -> None:
        """Append one use of a licence under a grant."""


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

    def current_version(self, authority_id: str, serial: str) -> Licence:
        """The newest version of the licence ``serial`` of the authority; LicenceNotFoundError."""

    def get_objection(self, objection_id: str) -> Objection:
        """An objection; NotFoundError (field ``objection_id``)."""

    def list_objections(self, *, authority_ids: Sequence[str] | None = None, filer: str | None = None,
                        licence_id: str | None = None, state: ObjectionState | None = None,
                        limit: int = 100, offset: int = 0) -> Sequence[Objection]:
        """Newest first, filtered by every argument given."""

    def evidence(self, objection_id: str, index: int) -> bytes:
        """Bytes of evidence file ``index`` of an objection; NotFoundError."""

    def get_consent(self, grant_id: str) -> ConsentGrant:
        """A consent grant; NotFoundError (field ``grant_id``)."""

    def list_consents(self, *, holder_id: str | None = None, relying_party: str | None = None,
                      limit: int = 100, offset: int = 0) -> Sequence[ConsentGrant]:
        """Newest first."""

    def uses(self, *, grant_ids: Sequence[str], limit: int = 100, offset: int = 0) -> Sequence[LicenceUse]:
        """Uses under these grants, newest first."""


def objection_not_found(objection_id: str) -> NotFoundError:
    """The error for an unknown objection id."""
    return NotFoundError(f"no objection {objection_id[:64]!r}", message_zh="异议不存在", field="objection_id")


def open_objection_exists(licence_id: str) -> ObjectionStateError:
    """The error for a second open objection by one filer against one licence version (409)."""
    return ObjectionStateError("this filer's earlier objection to this licence is still open",
                               message_zh="已有未处理的异议", field="licence_id")


def consent_not_found(grant_id: str) -> NotFoundError:
    """The error for an unknown consent grant id."""
    return NotFoundError(f"no consent grant {grant_id[:64]!r}", message_zh="授权不存在", field="grant_id")


# --- in memory ---------------------------------------------------------------------------------


class _MemoryState:
    def __init__(self) -> None:
        self.licences: dict[str, Licence] = {}
        self.events: dict[str, list[LicenceEvent]] = {}
        self.next_index: dict[str, int] = {}
        self.changes: dict[str, int] = {}
        self.audit: list[dict[str, Any]] = []
        self.objections: dict[str, Objection] = {}
        self.evidence: dict[str, list[bytes]] = {}
        self.consents: dict[str, ConsentGrant] = {}
        self.uses: list[LicenceUse] = []


class _MemoryTx:
    """Writes go to an overlay that is applied to the state only on commit."""

    def __init__(self, state: _MemoryState) -> None:
        self.s = state
        self.licences: dict[str, Licence] = {}
        self.events: list[LicenceEvent] = []
        self.next_index: dict[str, int] = {}
        self.changes: dict[str, int] = {}
        self.audit: list[dict[str, Any]] = []
        self.objections: dict[str, Objection] = {}
        self.evidence: dict[str, list[bytes]] = {}
        self.consents: dict[str, ConsentGrant] = {}
        self.uses: list[LicenceUse] = []

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

    def add_objection(self, objection: Objection, evidence: Sequence[bytes]) -> None:
        if objection.id in self.s.objections or objection.id in self.objections:
            raise ConflictError(f"objection {objection.id} exists", field="objection_id")
        if objection.state is ObjectionState.FILED and any(
                o.state is ObjectionState.FILED and o.licence_id == objection.licence_id and o.filer == objection.filer
                for o in {**self.s.objections, **self.objections}.values()):
            raise open_objection_exists(objection.licence_id)
        self.objections[objection.id] = objection
        self.evidence[objection.id] = list(evidence)

    def get_objection(self, objection_id: str, *, for_update: bool = False) -> Objection:
        o = self.objections.get(objection_id) or self.s.objections.get(objection_id)
        if o is None:
            raise objection_not_found(objection_id)
        return o

    def update_objection(self, objection: Objection) -> None:
        self.get_objection(objection.id)
        self.objections[objection.id] = objection

    def add_consent(self, grant: ConsentGrant) -> None:
        if grant.id in self.s.consents or grant.id in self.consents:
            raise ConflictError(f"consent {grant.id} exists", field="grant_id")
        self.consents[grant.id] = grant

    def get_consent(self, grant_id: str, *, for_update: bool = False) -> ConsentGrant:
        g = self.consents.get(grant_id) or self.s.consents.get(grant_id)
        if g is None:
            raise consent_not_found(grant_id)
        return g

    def update_consent(self, grant: ConsentGrant) -> None:
        self.get_consent(grant.id)
        self.consents[grant.id] = grant

    def add_use(self, use: LicenceUse) -> None:
        self.uses.append(use)

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
        self.s.objections.update(self.objections)
        self.s.evidence.update(self.evidence)
        self.s.consents.update(self.consents)
        self.s.uses.extend(self.uses)


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

    def current_version(self, authority_id: str, serial: str) -> Licence:
        with self._lock:
            rows = [x for x in self._state.licences.values() if x.authority_id == authority_id and x.serial == serial]
        if not rows:
            raise LicenceNotFoundError(f"no licence {serial[:40]!r} of {authority_id[:64]!r}", message_zh="证照不存在",
                                       field="licence_id")
        return max(rows, key=lambda x: x.version)

    def get_objection(self, objection_id: str) -> Objection:
        with self._lock:
            return _MemoryTx(self._state).get_objection(objection_id)

    def list_objections(self, *, authority_ids: Sequence[str] | None = None, filer: str | None = None,
                        licence_id: str | None = None, state: ObjectionState | None = None,
                        limit: int = 100, offset: int = 0) -> Sequence[Objection]:
        with self._lock:
            rows = [o for o in self._state.objections.values()
                    if (authority_ids is None or o.authority_id in authority_ids)
                    and (filer is None or o.filer == filer) and (licence_id is None or o.licence_id == licence_id)
                    and (state is None or o.state is state)]
        rows.sort(key=lambda o: (o.filed_at, o.id), reverse=True)
        return rows[offset:offset + min(limit, MAX_LIST)]

    def evidence(self, objection_id: str, index: int) -> bytes:
        with self._lock:
            files = self._state.evidence.get(objection_id)
        if files is None or not 0 <= index < len(files):
            raise NotFoundError("no such evidence file", message_zh="证据材料不存在", field="index")
        return files[index]

    def get_consent(self, grant_id: str) -> ConsentGrant:
        with self._lock:
            return _MemoryTx(self._state).get_consent(grant_id)

    def list_consents(self, *, holder_id: str | None = None, relying_party: str | None = None,
                      limit: int = 100, offset: int = 0) -> Sequence[ConsentGrant]:
        with self._lock:
            rows = [g for g in self._state.consents.values()
                    if (holder_id is None or g.holder_id == holder_id)
                    and (relying_party is None or g.relying_party == relying_party)]
        rows.sort(key=lambda g: (g.created_at, g.id), reverse=True)
        return rows[offset:offset + min(limit, MAX_LIST)]

    def uses(self, *, grant_ids: Sequence[str], limit: int = 100, offset: int = 0) -> Sequence[LicenceUse]:
        wanted = set(grant_ids)
        with self._lock:
            rows = [u for u in self._state.uses if u.grant_id in wanted]
        rows.reverse()
        return rows[offset:offset + min(limit, MAX_LIST)]
