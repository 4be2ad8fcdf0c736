"""The seal register and the seal usage log (用印记录) in SQL (SQLite and PostgreSQL).

Implements :class:`esign.ports.SealRegister` and :class:`esign.ports.SealUsageLog`. Every change
(register, suspend, revoke, reinstate, use) is written together with its hash-chained audit entry
in ONE transaction, so the register and the audit chain never disagree. The usage table keeps
the client address in clear (it is the legally required "from where" of the 用印记录 and is
served only to the seal's region); the immutable audit chain gets only its keyed hash.

Tables are created by ``api/migrations/versions/0002_seals.py``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, LargeBinary, String, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column

from api.logging import pii_hash
from api.storage.audit import SqlAuditLog
from api.storage.db import Database
from api.storage.models import Base, utc
from esign.formats.ses import parse_unverified_seal
from esign.ports import MAX_LIST, SealRecord, SealStatus, SealStatusChange, SealUsage, check_transition
from keys.errors import BackendUnavailableError, BadInputError, ConflictError, NotFoundError

__all__ = ["SealRow", "SealStatusRow", "SealUsageRow", "SqlSealRegister"]

_BIGINT = BigInteger().with_variant(Integer, "sqlite")


class SealRow(Base):
    """One registered seal."""

    __tablename__ = "seals"

    seal_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    region: Mapped[str] = mapped_column(String(10))
    enterprise: Mapped[str] = mapped_column(String(64))
    seal_type: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_to: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    maker_cert_sha256: Mapped[str] = mapped_column(String(64))
    der: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))

    __table_args__ = (Index("ix_seals_region_enterprise", "region", "enterprise"),)


class SealStatusRow(Base):
    """One status change (append-only)."""

    __tablename__ = "seal_status_history"

    id: Mapped[int] = mapped_column(_BIGINT, primary_key=True, autoincrement=True)
    seal_id: Mapped[str] = mapped_column(String(128), ForeignKey("seals.seal_id"))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(500))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))

    __table_args__ = (Index("ix_seal_status_history_seal", "seal_id", "at"),)


class SealUsageRow(Base):
    """One use of a seal (用印记录)."""

    __tablename__ = "seal_usage"

    id: Mapped[int] = mapped_column(_BIGINT, primary_key=True, autoincrement=True)
    seal_id: Mapped[str] = mapped_column(String(128))
    enterprise: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(200))
    data_hash: Mapped[str] = mapped_column(String(64))
    signature_sha256: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    client: Mapped[str] = mapped_column(String(100))
    property_info: Mapped[str] = mapped_column(String(500))
    key_id: Mapped[str] = mapped_column(String(100))

    __table_args__ = (
        Index("ix_seal_usage_seal", "seal_id", "at"),
        Index("ix_seal_usage_enterprise", "enterprise", "at"),
    )


def _record(row: SealRow) -> SealRecord:
    return SealRecord(seal_id=row.seal_id, region=row.region, enterprise=row.enterprise, seal_type=row.seal_type,
                      name=row.name, status=SealStatus(row.status), valid_from=utc(row.valid_from),  # type: ignore[arg-type]
                      valid_to=utc(row.valid_to), maker_cert_sha256=row.maker_cert_sha256,  # type: ignore[arg-type]
                      der=bytes(row.der), created_at=utc(row.created_at))  # type: ignore[arg-type]


def _usage(row: SealUsageRow) -> SealUsage:
    return SealUsage(seal_id=row.seal_id, enterprise=row.enterprise, actor=row.actor, data_hash_hex=row.data_hash,
                     signature_sha256=row.signature_sha256, at=utc(row.at), client=row.client,  # type: ignore[arg-type]
                     property_info=row.property_info, key_id=row.key_id)


def _limit(limit: int, offset: int) -> None:
    if not (1 <= limit <= MAX_LIST) or offset < 0:
        raise BadInputError(f"limit must be 1..{MAX_LIST} and offset >= 0", message_zh="分页参数超出范围",
                            field="limit")


class SqlSealRegister:
    """:class:`~esign.ports.SealRegister` and :class:`~esign.ports.SealUsageLog` over a :class:`Database`.

    Args:
        db: the database (migrated to ``0002_seals`` or later).
        audit: the audit log; each change appends an entry in the same transaction.
    """

    def __init__(self, db: Database, *, audit: SqlAuditLog | None = None) -> None:
        self._db = db
        self._audit = audit

    @contextmanager
    def _write(self, session: Session | None) -> Iterator[Session]:
        if session is not None:
            yield session
            return
        try:
            with self._db.write_session() as s:
                yield s
        except IntegrityError as exc:
            raise ConflictError("the seal register changed concurrently", message_zh="印章登记数据冲突") from exc
        except SQLAlchemyError as exc:
            raise BackendUnavailableError(f"seal register write failed ({type(exc).__name__})",
                                          message_zh="印章登记库写入失败") from exc

    def _log(self, s: Session, actor: str, action: str, seal_id: str, details: dict[str, object]) -> None:
        if self._audit is not None:
            self._audit.append(session=s, actor=actor, action=action, object_type="seal", object_id=seal_id,
                               details=details)

    # -- register -------------------------------------------------------------------------
    def add(self, seal_der: bytes, *, region: str, enterprise: str, at: datetime, actor: str,
            session: Session | None = None) -> SealRecord:
        """Register a parsed seal as ``listed``; ConflictError when the esID exists."""
        seal = parse_unverified_seal(seal_der)
        if not enterprise or len(enterprise) > 64:
            raise BadInputError("enterprise must be 1..64 characters", message_zh="单位标识长度错误",
                                field="enterprise")
        if len(seal.seal_id) > 128 or len(seal.name) > 200:
            raise BadInputError("seal id or name too long for the register", message_zh="印章编码或名称过长")
        with self._write(session) as s:
            if s.get(SealRow, seal.seal_id) is not None:
                raise ConflictError(f"seal {seal.seal_id} is already registered", message_zh="该印章已备案",
                                    field="seal_id")
            row = SealRow(seal_id=seal.seal_id, region=region, enterprise=enterprise, seal_type=seal.seal_type,
                          name=seal.name, status=SealStatus.LISTED.value, valid_from=seal.valid_from,
                          valid_to=seal.valid_to,
                          maker_cert_sha256=hashlib.sha256(seal.maker_cert_der).hexdigest(), der=bytes(seal_der),
                          created_at=at, created_by=actor)
            s.add(row)
            s.add(SealStatusRow(seal_id=seal.seal_id, status=SealStatus.LISTED.value, reason="registered", at=at,
                                actor=actor))
            s.flush()
            self._log(s, actor, "seal.register", seal.seal_id,
                      {"region": region, "enterprise": enterprise, "seal_sha256": hashlib.sha256(seal_der).hexdigest(),
                       "valid_to": seal.valid_to.isoformat()})
            return _record(row)

    def get(self, seal_id: str) -> SealRecord:
        """The record; NotFoundError if unknown."""
        with self._db.session() as s:
            row = s.get(SealRow, seal_id)
            if row is None:
                raise NotFoundError(f"no seal {seal_id!r} in the register", message_zh="印章未备案", field="seal_id")
            return _record(row)

    def list(
        self, *, region: str | None = None, enterprise: str | None = None, status: SealStatus | None = None,
        limit: int = 100, offset: int = 0,
    ) -> Sequence[SealRecord]:
        """Newest first."""
        _limit(limit, offset)
        q = select(SealRow)
        if region is not None:
            q = q.where(SealRow.region == region)
        if enterprise is not None:
            q = q.where(SealRow.enterprise == enterprise)
        if status is not None:
            q = q.where(SealRow.status == status.value)
        q = q.order_by(SealRow.created_at.desc(), SealRow.seal_id).limit(limit).offset(offset)
        with self._db.session() as s:
            return [_record(r) for r in s.scalars(q)]

    def set_status(self, seal_id: str, status: SealStatus, *, reason: str, at: datetime, actor: str,
                   session: Session | None = None) -> SealRecord:
        """Change the status from ``at`` on; revocation is final."""
        at = at.replace(microsecond=0)  # effective from the start of its second, as signing times are written
        if len(reason) > 500:
            raise BadInputError("reason is longer than 500 characters", message_zh="原因过长", field="reason")
        with self._write(session) as s:
            row = s.get(SealRow, seal_id, with_for_update=True)
            if row is None:
                raise NotFoundError(f"no seal {seal_id!r} in the register", message_zh="印章未备案", field="seal_id")
            check_transition(SealStatus(row.status), status)
            row.status = status.value
            s.add(SealStatusRow(seal_id=seal_id, status=status.value, reason=reason, at=at, actor=actor))
            s.flush()
            self._log(s, actor, f"seal.{status.value}", seal_id, {"reason": reason, "at": at.isoformat()})
            return _record(row)

    def status_at(self, seal_id: str, at: datetime) -> SealStatus | None:
        """Status in force at ``at`` (``None``: not registered then)."""
        q = (select(SealStatusRow.status).where(SealStatusRow.seal_id == seal_id, SealStatusRow.at <= at)
             .order_by(SealStatusRow.at.desc(), SealStatusRow.id.desc()).limit(1))
        with self._db.session() as s:
            value = s.scalars(q).first()
        return None if value is None else SealStatus(value)

    def history(self, seal_id: str) -> Sequence[SealStatusChange]:
        """Oldest first."""
        self.get(seal_id)
        q = select(SealStatusRow).where(SealStatusRow.seal_id == seal_id).order_by(SealStatusRow.at, SealStatusRow.id)
        with self._db.session() as s:
            return [SealStatusChange(seal_id=r.seal_id, status=SealStatus(r.status), reason=r.reason,
                                     at=utc(r.at), actor=r.actor) for r in s.scalars(q)]  # type: ignore[arg-type]

    # -- usage log ------------------------------------------------------------------------
    def record(self, usage: SealUsage, *, session: Session | None = None) -> None:
        """Store one use and its audit entry (client address hashed in the audit chain)."""
        with self._write(session) as s:
            s.add(SealUsageRow(seal_id=usage.seal_id, enterprise=usage.enterprise, actor=usage.actor,
                               data_hash=usage.data_hash_hex, signature_sha256=usage.signature_sha256, at=usage.at,
                               client=usage.client[:100], property_info=usage.property_info[:500],
                               key_id=usage.key_id[:100]))
            s.flush()
            self._log(s, usage.actor, "seal.use", usage.seal_id,
                      {"enterprise": usage.enterprise, "data_hash_sm3": usage.data_hash_hex,
                       "signature_sha256": usage.signature_sha256, "key_id": usage.key_id,
                       "client": pii_hash(usage.client) if usage.client else "", "at": usage.at.isoformat()})

    def query(
        self, *, seal_id: str | None = None, enterprise: str | None = None, limit: int = 100, offset: int = 0
    ) -> Sequence[SealUsage]:
        """Uses by seal and/or enterprise, newest first."""
        _limit(limit, offset)
        q = select(SealUsageRow)
        if seal_id is not None:
            q = q.where(SealUsageRow.seal_id == seal_id)
        if enterprise is not None:
            q = q.where(SealUsageRow.enterprise == enterprise)
        q = q.order_by(SealUsageRow.at.desc(), SealUsageRow.id.desc()).limit(limit).offset(offset)
        with self._db.session() as s:
            return [_usage(r) for r in s.scalars(q)]
