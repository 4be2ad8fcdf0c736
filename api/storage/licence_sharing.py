"""Objections (异议) and consent grants (用证授权) in SQL: the part of the licence repository they need.

Mixed into :class:`api.storage.licences.SqlLicenceRepository` (reads) and its transaction class
(writes), so an accepted objection and the licence correction it causes commit in ONE
transaction. Tables are created by ``api/migrations/versions/0004_sharing.py``.

Personal data: ``licence_consents.holder_id`` holds the holder's ID in clear (the wallet looks
grants up by it, as ``licences.holder_id`` does); audit entries carry only its hash. Evidence
files are stored as given, with their SM3 digest.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, Integer, LargeBinary, String, Text, desc, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from api.storage.models import Base, utc
from keys.errors import NotFoundError
from licences.errors import LicenceNotFoundError
from licences.model import (
    ConsentGrant,
    Evidence,
    LicenceUse,
    Objection,
    ObjectionGround,
    ObjectionState,
    Resolution,
)
from licences.ports import MAX_LIST, consent_not_found, objection_not_found, open_objection_exists

__all__ = ["ConsentRow", "EvidenceRow", "ObjectionRow", "SharingReads", "SharingWrites", "UseRow"]

_BIGINT = BigInteger().with_variant(Integer, "sqlite")


class ObjectionRow(Base):
    """One objection in its authority's queue."""

    __tablename__ = "licence_objections"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    licence_id: Mapped[str] = mapped_column(String(128))
    authority_id: Mapped[str] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(10))
    filer: Mapped[str] = mapped_column(String(200))
    filer_role: Mapped[str] = mapped_column(String(20))
    filer_region: Mapped[str] = mapped_column(String(10))
    ground: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(500))
    evidence: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    filed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    decided_by: Mapped[str | None] = mapped_column(String(200), default=None)
    decision_reason: Mapped[str] = mapped_column(String(500), default="")
    resolution: Mapped[str | None] = mapped_column(String(16), default=None)
    new_licence_id: Mapped[str | None] = mapped_column(String(128), default=None)

    __table_args__ = (
        Index("ix_licence_objections_queue", "authority_id", "state", "filed_at"),
        Index("ix_licence_objections_licence", "licence_id"),
        Index("ix_licence_objections_filer", "filer"),
        # one open objection per filer and licence version (migration 0005)
        Index("uq_licence_objections_open", "licence_id", "filer", unique=True,
              sqlite_where=text("state = 'filed'"), postgresql_where=text("state = 'filed'")),
    )


class EvidenceRow(Base):
    """The bytes of one evidence file."""

    __tablename__ = "objection_evidence"

    objection_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)


class ConsentRow(Base):
    """One consent grant."""

    __tablename__ = "licence_consents"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder_id: Mapped[str] = mapped_column(String(32))
    granted_by: Mapped[str] = mapped_column(String(200))
    authority_id: Mapped[str] = mapped_column(String(64))
    serial: Mapped[str] = mapped_column(String(32))
    licence_id: Mapped[str] = mapped_column(String(128))
    type_code: Mapped[str] = mapped_column(String(21))
    relying_party: Mapped[str] = mapped_column(String(40))
    relying_party_name: Mapped[str] = mapped_column(String(200))
    relying_party_region: Mapped[str] = mapped_column(String(10))
    fields: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)

    __table_args__ = (
        Index("ix_licence_consents_holder", "holder_id"),
        Index("ix_licence_consents_rp", "relying_party"),
    )


class UseRow(Base):
    """One use of a licence under a grant (append-only)."""

    __tablename__ = "licence_uses"

    id: Mapped[int] = mapped_column(_BIGINT, primary_key=True, autoincrement=True)
    grant_id: Mapped[str] = mapped_column(String(40))
    relying_party: Mapped[str] = mapped_column(String(200))
    licence_id: Mapped[str] = mapped_column(String(128))
    fields: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str] = mapped_column(String(200))

    __table_args__ = (Index("ix_licence_uses_grant", "grant_id", "id"),)


def _objection(r: ObjectionRow) -> Objection:
    return Objection(id=r.id, licence_id=r.licence_id, authority_id=r.authority_id, region=r.region, filer=r.filer,
                     filer_role=r.filer_role, filer_region=r.filer_region, ground=ObjectionGround(r.ground),
                     reason=r.reason, evidence=tuple(Evidence(**e) for e in json.loads(r.evidence)),
                     state=ObjectionState(r.state), filed_at=utc(r.filed_at),  # type: ignore[arg-type]
                     decided_at=utc(r.decided_at), decided_by=r.decided_by, decision_reason=r.decision_reason,
                     resolution=None if r.resolution is None else Resolution(r.resolution),
                     new_licence_id=r.new_licence_id)


def _objection_values(o: Objection) -> dict[str, Any]:
    return {"id": o.id, "licence_id": o.licence_id, "authority_id": o.authority_id, "region": o.region,
            "filer": o.filer, "filer_role": o.filer_role, "filer_region": o.filer_region, "ground": o.ground.value,
            "reason": o.reason, "evidence": json.dumps([e.__dict__ for e in o.evidence]), "state": o.state.value,
            "filed_at": o.filed_at, "decided_at": o.decided_at, "decided_by": o.decided_by,
            "decision_reason": o.decision_reason, "resolution": None if o.resolution is None else o.resolution.value,
            "new_licence_id": o.new_licence_id}


def _consent(r: ConsentRow) -> ConsentGrant:
    return ConsentGrant(id=r.id, holder_id=r.holder_id, granted_by=r.granted_by, authority_id=r.authority_id,
                        serial=r.serial, licence_id=r.licence_id, type_code=r.type_code, relying_party=r.relying_party,
                        relying_party_name=r.relying_party_name, relying_party_region=r.relying_party_region,
                        fields=tuple(json.loads(r.fields)), purpose=r.purpose,
                        created_at=utc(r.created_at), expires_at=utc(r.expires_at),  # type: ignore[arg-type]
                        revoked_at=utc(r.revoked_at))


class SharingWrites:
    """Write half (mixed into the SQL licence transaction, which provides ``self._s``)."""

    _s: Session

    def add_objection(self, objection: Objection, evidence: Sequence[bytes]) -> None:
        try:
            with self._s.begin_nested():  # a savepoint: a refused row leaves the transaction usable
                self._s.add(ObjectionRow(**_objection_values(objection)))
                self._s.flush()
        except IntegrityError as exc:  # uq_licence_objections_open: the filer's earlier objection is still open
            raise open_objection_exists(objection.licence_id) from exc
        for i, blob in enumerate(evidence):
            self._s.add(EvidenceRow(objection_id=objection.id, idx=i, content=blob))
        self._s.flush()

    def get_objection(self, objection_id: str, *, for_update: bool = False) -> Objection:
        row = self._s.get(ObjectionRow, objection_id, with_for_update=for_update, populate_existing=True)
        if row is None:
            raise objection_not_found(objection_id)
        return _objection(row)

    def update_objection(self, objection: Objection) -> None:
        row = self._s.get(ObjectionRow, objection.id, with_for_update=True)
        if row is None:
            raise objection_not_found(objection.id)
        for key, value in _objection_values(objection).items():
            setattr(row, key, value)
        self._s.flush()

    def add_consent(self, grant: ConsentGrant) -> None:
        self._s.add(ConsentRow(id=grant.id, holder_id=grant.holder_id, granted_by=grant.granted_by,
                               authority_id=grant.authority_id, serial=grant.serial, licence_id=grant.licence_id,
                               type_code=grant.type_code, relying_party=grant.relying_party,
                               relying_party_name=grant.relying_party_name,
                               relying_party_region=grant.relying_party_region, fields=json.dumps(list(grant.fields)),
                               purpose=grant.purpose, created_at=grant.created_at, expires_at=grant.expires_at,
                               revoked_at=grant.revoked_at))
        self._s.flush()

    def get_consent(self, grant_id: str, *, for_update: bool = False) -> ConsentGrant:
        row = self._s.get(ConsentRow, grant_id, with_for_update=for_update, populate_existing=True)
        if row is None:
            raise consent_not_found(grant_id)
        return _consent(row)

    def update_consent(self, grant: ConsentGrant) -> None:
        row = self._s.get(ConsentRow, grant.id, with_for_update=True)
        if row is None:
            raise consent_not_found(grant.id)
        row.revoked_at = grant.revoked_at
        self._s.flush()

    def add_use(self, use: LicenceUse) -> None:
        self._s.add(UseRow(grant_id=use.grant_id, relying_party=use.relying_party, licence_id=use.licence_id,
                           fields=json.dumps(list(use.fields)), purpose=use.purpose, at=use.at,
                           outcome=use.outcome[:200]))
        self._s.flush()


class SharingReads:
    """Read half (mixed into the SQL licence repository, which provides ``self._read()``)."""

    def _read(self) -> AbstractContextManager[Session]:  # pragma: no cover - provided by the repository
        raise NotImplementedError

    def current_version(self, authority_id: str, serial: str) -> Any:
        from api.storage.licences import LicenceRow, _licence

        q = (select(LicenceRow).where(LicenceRow.authority_id == authority_id, LicenceRow.serial == serial)
             .order_by(desc(LicenceRow.version)).limit(1))
        with self._read() as s:
            row = s.scalars(q).first()
            if row is None:
                raise LicenceNotFoundError(f"no licence {serial[:40]!r} of {authority_id[:64]!r}",
                                           message_zh="证照不存在", field="licence_id")
            return _licence(row)

    def get_objection(self, objection_id: str) -> Objection:
        with self._read() as s:
            row = s.get(ObjectionRow, objection_id)
            if row is None:
                raise objection_not_found(objection_id)
            return _objection(row)

    def list_objections(self, *, authority_ids: Sequence[str] | None = None, filer: str | None = None,
                        licence_id: str | None = None, state: ObjectionState | None = None,
                        limit: int = 100, offset: int = 0) -> Sequence[Objection]:
        q = select(ObjectionRow)
        if authority_ids is not None:
            q = q.where(ObjectionRow.authority_id.in_(list(authority_ids)))
        if filer is not None:
            q = q.where(ObjectionRow.filer == filer)
        if licence_id is not None:
            q = q.where(ObjectionRow.licence_id == licence_id)
        if state is not None:
            q = q.where(ObjectionRow.state == state.value)
        q = q.order_by(desc(ObjectionRow.filed_at), desc(ObjectionRow.id))
        q = q.limit(max(1, min(limit, MAX_LIST))).offset(max(0, offset))
        with self._read() as s:
            return [_objection(r) for r in s.scalars(q)]

    def evidence(self, objection_id: str, index: int) -> bytes:
        with self._read() as s:
            row = s.get(EvidenceRow, (objection_id, index))
            if row is None:
                raise NotFoundError("no such evidence file", message_zh="证据材料不存在", field="index")
            return bytes(row.content)

    def get_consent(self, grant_id: str) -> ConsentGrant:
        with self._read() as s:
            row = s.get(ConsentRow, grant_id)
            if row is None:
                raise consent_not_found(grant_id)
            return _consent(row)

    def list_consents(self, *, holder_id: str | None = None, relying_party: str | None = None,
                      limit: int = 100, offset: int = 0) -> Sequence[ConsentGrant]:
        q = select(ConsentRow)
        if holder_id is not None:
            q = q.where(ConsentRow.holder_id == holder_id)
        if relying_party is not None:
            q = q.where(ConsentRow.relying_party == relying_party)
        q = q.order_by(desc(ConsentRow.created_at), desc(ConsentRow.id))
        q = q.limit(max(1, min(limit, MAX_LIST))).offset(max(0, offset))
        with self._read() as s:
            return [_consent(r) for r in s.scalars(q)]

    def uses(self, *, grant_ids: Sequence[str], limit: int = 100, offset: int = 0) -> Sequence[LicenceUse]:
        if not grant_ids:
            return []
        q = (select(UseRow).where(UseRow.grant_id.in_(list(grant_ids))).order_by(desc(UseRow.id))
             .limit(max(1, min(limit, MAX_LIST))).offset(max(0, offset)))
        with self._read() as s:
            return [LicenceUse(grant_id=r.grant_id, relying_party=r.relying_party, licence_id=r.licence_id,
                               fields=tuple(json.loads(r.fields)), purpose=r.purpose,
                               at=utc(r.at), outcome=r.outcome)  # type: ignore[arg-type]
                    for r in s.scalars(q)]
