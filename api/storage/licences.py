"""Licences, issuing authorities, regional licence types and licence events in SQL (SQLite and PostgreSQL).

Implements :class:`licences.ports.LicenceRepository`. One :meth:`SqlLicenceRepository.transaction`
is one database transaction (``BEGIN IMMEDIATE`` on SQLite): the status-list index allocation
(a row lock on the authority on PostgreSQL), the licence rows, the events and the hash-chained
audit entries commit together or not at all. Savepoints (``SAVEPOINT``) give bulk issuance
per-row atomicity inside a batch.

Personal data (holder name and ID, fields) lives only in the ``licences`` table (the signed
document and the holder-ID lookup column); events and audit entries carry hashes. The immutable
parts of a licence are read back from its canonical document, so the row and the signed bytes
cannot disagree. Tables are created by ``api/migrations/versions/0003_licences.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column

from api.storage.audit import SqlAuditLog
from api.storage.db import Database
from api.storage.licence_sharing import SharingReads, SharingWrites
from api.storage.models import Base, utc
from keys.errors import BackendUnavailableError, ConflictError
from licences.catalogue import LicenceType, licence_type_from_dict, licence_type_to_dict
from licences.errors import LicenceNotFoundError
from licences.model import IssuingAuthority, Licence, LicenceEvent, LicenceStatus, SignatureFormat
from licences.ports import MAX_LIST

__all__ = ["AuthorityRow", "LicenceEventRow", "LicenceRow", "LicenceTypeRow", "SqlLicenceRepository"]

_BIGINT = BigInteger().with_variant(Integer, "sqlite")


class AuthorityRow(Base):
    """One issuing authority and its status-list counters."""

    __tablename__ = "licence_authorities"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    region: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(200))
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    allowed_types: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(String(64))
    seal_id: Mapped[str | None] = mapped_column(String(128), default=None)
    certificate: Mapped[bytes] = mapped_column(LargeBinary)
    signature_format: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_index: Mapped[int] = mapped_column(_BIGINT, default=0)
    changes: Mapped[int] = mapped_column(_BIGINT, default=0)


class LicenceTypeRow(Base):
    """A regional licence type (national ones ship with the code)."""

    __tablename__ = "licence_types"

    code: Mapped[str] = mapped_column(String(21), primary_key=True)
    region: Mapped[str] = mapped_column(String(10))
    definition: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))


class LicenceRow(Base):
    """One licence version: the signed bytes plus its mutable status."""

    __tablename__ = "licences"

    licence_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    authority_id: Mapped[str] = mapped_column(String(64))
    type_code: Mapped[str] = mapped_column(String(21))
    serial: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    holder_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    status_index: Mapped[int] = mapped_column(_BIGINT)
    status_reason: Mapped[str] = mapped_column(String(500), default="")
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_until: Mapped[date | None] = mapped_column(Date, default=None)
    supersedes: Mapped[str | None] = mapped_column(String(128), default=None)
    superseded_by: Mapped[str | None] = mapped_column(String(128), default=None)
    signature_format: Mapped[str] = mapped_column(String(8))
    document: Mapped[bytes] = mapped_column(LargeBinary)
    signed: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (
        UniqueConstraint("authority_id", "status_index", name="uq_licences_authority_index"),
        Index("ix_licences_holder", "holder_id"),
        Index("ix_licences_authority_status", "authority_id", "status"),
        Index("ix_licences_serial", "authority_id", "serial"),
    )


class LicenceEventRow(Base):
    """One lifecycle event (append-only)."""

    __tablename__ = "licence_events"

    id: Mapped[int] = mapped_column(_BIGINT, primary_key=True, autoincrement=True)
    licence_id: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str | None] = mapped_column(String(16), default=None)
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(500))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    related_id: Mapped[str | None] = mapped_column(String(128), default=None)

    __table_args__ = (Index("ix_licence_events_licence", "licence_id", "id"),)


def _licence(row: LicenceRow) -> Licence:
    d = json.loads(bytes(row.document))
    until = d.get("valid_until")
    return Licence(
        licence_id=row.licence_id, type_code=d["type"]["code"], type_name=d["type"]["name"], number=d["number"],
        holder_name=d["holder"]["name"], holder_id=d["holder"]["id"], holder_id_type=d["holder"]["id_type"],
        authority_id=row.authority_id, issuer_name=d["issuer"]["name"], issuer_code=d["issuer"]["code"],
        region=d["issuer"]["region"], serial=d["serial"], version=d["version"],
        issued_at=utc(row.issued_at),  # type: ignore[arg-type]
        valid_from=date.fromisoformat(d["valid_from"]),
        valid_until=None if until is None else date.fromisoformat(until),
        status=LicenceStatus(row.status), status_index=row.status_index, fields=d["fields"],
        document=bytes(row.document), signed=bytes(row.signed), signature_format=SignatureFormat(row.signature_format),
        supersedes=row.supersedes, superseded_by=row.superseded_by, status_reason=row.status_reason)


def _authority(row: AuthorityRow) -> IssuingAuthority:
    return IssuingAuthority(id=row.id, region=row.region, name=row.name, uscc=row.uscc,
                            allowed_types=tuple(json.loads(row.allowed_types)), key_id=row.key_id,
                            seal_id=row.seal_id, certificate=bytes(row.certificate),
                            signature_format=SignatureFormat(row.signature_format),
                            created_at=utc(row.created_at))  # type: ignore[arg-type]


# Statements of the issuing hot path, built once (SQLAlchemy Core on the tables, no ORM unit of work).
_AUTH = AuthorityRow.__table__
_READ_COUNTERS = (select(_AUTH.c.next_index, _AUTH.c.changes).where(_AUTH.c.id == bindparam("aid"))
                  .with_for_update())
_WRITE_COUNTERS = (update(_AUTH).where(_AUTH.c.id == bindparam("aid"))
                   .values(next_index=bindparam("ni"), changes=bindparam("ch")))
_INSERT_LICENCES = insert(LicenceRow.__table__)
_INSERT_EVENTS = insert(LicenceEventRow.__table__)


def _not_found(licence_id: str) -> LicenceNotFoundError:
    return LicenceNotFoundError(f"no licence {licence_id[:128]!r}", message_zh="证照不存在", field="licence_id")


class _SqlTx(SharingWrites):
    """:class:`licences.ports.LicenceTransaction` over one write session.

    New licence and event rows are buffered and written by :meth:`finish` as two Core
    ``executemany`` INSERTs just before the commit (no unit-of-work bookkeeping per row); the
    authority's counters are kept here too and written once (the authority row is locked at first
    use). A savepoint that rolls back drops what it buffered and restores the counters.

    Savepoints are lazy: ``SAVEPOINT`` is sent only when something inside it reaches the database
    (every database access goes through :attr:`_s`, which opens the pending savepoints first). A
    bulk row that only allocates an index and buffers its licence and event costs no statement;
    its rollback is the buffer's. Until a savepoint is opened nothing was written inside it, so
    opening it late marks the same state as opening it early.
    """

    def __init__(self, s: Session, audit: SqlAuditLog | None) -> None:
        self._session = s
        self._audit = audit
        self._lazy: list[list[Any]] = []  # open savepoints, outermost first: [nested transaction or None]
        self._unopened = 0
        self._counters: dict[str, list[int]] = {}  # authority id -> [next_index, changes]
        self._licences: list[dict[str, Any]] = []
        self._events: list[dict[str, Any]] = []
        self._ids: set[str] = set()

    @property
    def _s(self) -> Session:
        """The session, after opening any savepoint still pending (see the class docstring)."""
        if self._unopened:
            for mark in self._lazy:
                if mark[0] is None:
                    mark[0] = self._session.begin_nested()
            self._unopened = 0
        return self._session

    def _counter(self, authority_id: str) -> list[int]:
        c = self._counters.get(authority_id)
        if c is None:
            row = self._s.connection().execute(_READ_COUNTERS, {"aid": authority_id}).first()
            if row is None:
                raise LicenceNotFoundError(f"no issuing authority {authority_id[:64]!r}", message_zh="发证机构不存在",
                                           field="authority")
            c = self._counters[authority_id] = [int(row[0]), int(row[1])]
        return c

    def allocate_indices(self, authority_id: str, count: int = 1) -> int:
        c = self._counter(authority_id)
        first = c[0]
        c[0] += count
        return first

    def add_licence(self, licence: Licence) -> None:
        if licence.licence_id in self._ids:
            raise ConflictError(f"licence {licence.licence_id} exists", message_zh="证照已存在", field="licence_id")
        self._licences.append({
            "licence_id": licence.licence_id, "authority_id": licence.authority_id, "type_code": licence.type_code,
            "serial": licence.serial, "version": licence.version, "holder_id": licence.holder_id[:32],
            "status": licence.status.value, "status_index": licence.status_index,
            "status_reason": licence.status_reason, "issued_at": licence.issued_at,
            "valid_until": licence.valid_until, "supersedes": licence.supersedes,
            "superseded_by": licence.superseded_by, "signature_format": licence.signature_format.value,
            "document": licence.document, "signed": licence.signed})
        self._ids.add(licence.licence_id)
        self._counter(licence.authority_id)[1] += 1

    def get_licence(self, licence_id: str, *, for_update: bool = False) -> Licence:
        if licence_id in self._ids:
            self._flush_buffers()
        row = self._s.get(LicenceRow, licence_id, with_for_update=for_update, populate_existing=True)
        if row is None:
            raise _not_found(licence_id)
        return _licence(row)

    def set_status(self, licence_id: str, status: LicenceStatus, *, reason: str,
                   superseded_by: str | None = None) -> None:
        if licence_id in self._ids:
            self._flush_buffers()
        row = self._s.get(LicenceRow, licence_id, with_for_update=True, populate_existing=True)
        if row is None:
            raise _not_found(licence_id)
        row.status = status.value
        row.status_reason = reason[:500]
        if superseded_by is not None:
            row.superseded_by = superseded_by
        self._s.flush()
        self._counter(row.authority_id)[1] += 1

    def add_event(self, event: LicenceEvent, *, details: Mapping[str, Any], audit: bool = True) -> None:
        self._events.append({
            "licence_id": event.licence_id, "action": event.action,
            "from_status": None if event.from_status is None else event.from_status.value,
            "to_status": event.to_status.value, "actor": event.actor, "reason": event.reason[:500], "at": event.at,
            "related_id": event.related_id})
        if audit:
            self.add_audit(actor=event.actor, action=f"licence.{event.action}", object_type="licence",
                           object_id=event.licence_id, details=details)

    def add_audit(self, *, actor: str, action: str, object_type: str, object_id: str,
                  details: Mapping[str, Any]) -> None:
        if self._audit is not None:
            self._audit.append(session=self._s, actor=actor, action=action, object_type=object_type,
                               object_id=object_id, details=details)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        saved = ({k: list(v) for k, v in self._counters.items()}, len(self._licences), len(self._events))
        mark: list[Any] = [None]
        self._lazy.append(mark)
        self._unopened += 1
        try:
            yield
        except BaseException:
            self._close_savepoint(mark, ok=False)
            self._counters = saved[0]
            for row in self._licences[saved[1]:]:
                self._ids.discard(row["licence_id"])
            del self._licences[saved[1]:]
            del self._events[saved[2]:]
            raise
        self._close_savepoint(mark, ok=True)

    def _close_savepoint(self, mark: list[Any], *, ok: bool) -> None:
        popped = self._lazy.pop()
        assert popped is mark, "savepoints must close innermost first"
        nested = mark[0]
        if nested is None:
            self._unopened -= 1
        elif ok:
            nested.commit()
        else:
            nested.rollback()

    def _flush_buffers(self) -> None:
        try:
            if self._licences:
                self._s.connection().execute(_INSERT_LICENCES, self._licences)
            if self._events:
                self._s.connection().execute(_INSERT_EVENTS, self._events)
        except IntegrityError as exc:
            raise ConflictError("a licence identifier or status index exists already", message_zh="证照已存在",
                                field="licence_id") from exc
        self._licences.clear()
        self._events.clear()
        self._ids.clear()

    def finish(self) -> None:
        """Write the buffered rows and the authorities' counters (before commit)."""
        self._flush_buffers()
        if self._counters:
            self._s.connection().execute(_WRITE_COUNTERS, [{"aid": authority_id, "ni": next_index, "ch": changes}
                                                           for authority_id, (next_index, changes)
                                                           in self._counters.items()])


class SqlLicenceRepository(SharingReads):
    """:class:`licences.ports.LicenceRepository` over a :class:`Database`.

    Args:
        db: the database (migrated to ``0003_licences`` or later).
        audit: the audit log; every write appends its entry in the same transaction.
    """

    def __init__(self, db: Database, *, audit: SqlAuditLog | None) -> None:
        self._db = db
        self._audit = audit

    @contextmanager
    def _write(self) -> Iterator[Session]:
        try:
            with self._db.write_session() as s:
                yield s
        except IntegrityError as exc:
            raise ConflictError("the licence register changed concurrently", message_zh="证照数据冲突") from exc
        except SQLAlchemyError as exc:
            raise BackendUnavailableError(f"licence storage failed ({type(exc).__name__})",
                                          message_zh="证照库读写失败") from exc

    @contextmanager
    def transaction(self) -> Iterator[_SqlTx]:
        """One write transaction (see the module docstring)."""
        with self._write() as s:
            tx = _SqlTx(s, self._audit)
            yield tx
            tx.finish()

    @contextmanager
    def _read(self) -> Iterator[Session]:
        try:
            with self._db.session() as s:
                yield s
        except SQLAlchemyError as exc:
            raise BackendUnavailableError(f"licence storage failed ({type(exc).__name__})",
                                          message_zh="证照库读写失败") from exc

    # -- licences -------------------------------------------------------------------------------
    def get_licence(self, licence_id: str) -> Licence:
        with self._read() as s:
            row = s.get(LicenceRow, licence_id)
            if row is None:
                raise _not_found(licence_id)
            return _licence(row)

    def list_licences(self, *, authority_id: str | None = None, holder_id: str | None = None,
                      limit: int = 100, offset: int = 0) -> Sequence[Licence]:
        q = select(LicenceRow)
        if authority_id is not None:
            q = q.where(LicenceRow.authority_id == authority_id)
        if holder_id is not None:
            q = q.where(LicenceRow.holder_id == holder_id)
        q = q.order_by(LicenceRow.issued_at.desc(), LicenceRow.licence_id.desc())
        q = q.limit(max(1, min(limit, MAX_LIST))).offset(max(0, offset))
        with self._read() as s:
            return [_licence(r) for r in s.scalars(q)]

    def events(self, licence_id: str) -> Sequence[LicenceEvent]:
        q = select(LicenceEventRow).where(LicenceEventRow.licence_id == licence_id).order_by(LicenceEventRow.id)
        with self._read() as s:
            return [LicenceEvent(licence_id=r.licence_id, action=r.action,
                                 from_status=None if r.from_status is None else LicenceStatus(r.from_status),
                                 to_status=LicenceStatus(r.to_status), actor=r.actor, reason=r.reason,
                                 at=utc(r.at), related_id=r.related_id)  # type: ignore[arg-type]
                    for r in s.scalars(q)]

    def status_entries(self, authority_id: str) -> Iterator[tuple[int, LicenceStatus]]:
        q = (select(LicenceRow.status_index, LicenceRow.status)
             .where(LicenceRow.authority_id == authority_id, LicenceRow.status != LicenceStatus.VALID.value))
        with self._read() as s:
            rows = s.execute(q).all()
        return iter([(int(i), LicenceStatus(st)) for i, st in rows])

    def status_size(self, authority_id: str) -> tuple[int, int]:
        with self._read() as s:
            row = s.get(AuthorityRow, authority_id)
            if row is None:
                raise LicenceNotFoundError(f"no issuing authority {authority_id[:64]!r}", message_zh="发证机构不存在",
                                           field="authority")
            return int(row.next_index), int(row.changes)

    # -- authorities ----------------------------------------------------------------------------
    def add_authority(self, authority: IssuingAuthority, *, actor: str) -> None:
        with self._write() as s:
            if s.get(AuthorityRow, authority.id) is not None:
                raise ConflictError(f"issuing authority {authority.id} exists", message_zh="发证机构已存在", field="id")
            s.add(AuthorityRow(id=authority.id, region=authority.region, name=authority.name, uscc=authority.uscc,
                               allowed_types=json.dumps(list(authority.allowed_types)), key_id=authority.key_id,
                               seal_id=authority.seal_id, certificate=authority.certificate,
                               signature_format=SignatureFormat(authority.signature_format).value,
                               created_at=authority.created_at, next_index=0, changes=0))
            s.flush()
            if self._audit is not None:
                self._audit.append(session=s, actor=actor, action="licence.authority.register",
                                   object_type="issuing_authority", object_id=authority.id,
                                   details={"region": authority.region, "uscc": authority.uscc,
                                            "types": list(authority.allowed_types), "key_id": authority.key_id,
                                            "seal_id": authority.seal_id})

    def get_authority(self, authority_id: str) -> IssuingAuthority:
        with self._read() as s:
            row = s.get(AuthorityRow, authority_id)
            if row is None:
                raise LicenceNotFoundError(f"no issuing authority {authority_id[:64]!r}", message_zh="发证机构不存在",
                                           field="authority")
            return _authority(row)

    def list_authorities(self, *, region: str | None = None) -> Sequence[IssuingAuthority]:
        q = select(AuthorityRow).order_by(AuthorityRow.id)
        if region is not None:
            q = q.where(AuthorityRow.region == region)
        with self._read() as s:
            return [_authority(r) for r in s.scalars(q)]

    # -- regional types -------------------------------------------------------------------------
    def add_type(self, licence_type: LicenceType, *, actor: str, at: datetime) -> None:
        with self._write() as s:
            if s.get(LicenceTypeRow, licence_type.code) is not None:
                raise ConflictError(f"licence type {licence_type.code} exists", message_zh="证照类型已存在",
                                    field="code")
            s.add(LicenceTypeRow(code=licence_type.code, region=licence_type.region or "",
                                 definition=json.dumps(licence_type_to_dict(licence_type), ensure_ascii=False),
                                 created_at=at, created_by=actor))
            s.flush()
            if self._audit is not None:
                self._audit.append(session=s, actor=actor, action="licence.type.add", object_type="licence_type",
                                   object_id=licence_type.code, details={"region": licence_type.region,
                                                                         "name": licence_type.name_zh})

    def list_types(self) -> Sequence[LicenceType]:
        with self._read() as s:
            rows = list(s.scalars(select(LicenceTypeRow).order_by(LicenceTypeRow.code)))
        return [licence_type_from_dict(json.loads(r.definition), region=r.region) for r in rows]

