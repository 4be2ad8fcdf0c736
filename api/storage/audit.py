"""The append-only, hash-chained audit log in SQL (implements :class:`keys.ports.AuditLog`).

Appends are serialised so two writers can never fork the chain:

* PostgreSQL: ``SELECT ... FROM audit_head WHERE id = 1 FOR UPDATE`` inside the appending
  transaction. Under READ COMMITTED the second writer blocks on the row lock and then re-reads
  the head its predecessor committed.
* SQLite: the appending transaction starts with ``BEGIN IMMEDIATE`` (see
  :meth:`api.storage.db.Database.write_session`), which takes the database's single write lock
  before the head is read.

The head row also records the last ``seq``/``entry_hash``, so :meth:`SqlAuditLog.verify`
notices entries cut off the end of the chain, not only changes in the middle.

Fast path: each :class:`SqlAuditLog` remembers the head it last wrote and moves the head row with
one compare-and-set ``UPDATE audit_head ... WHERE seq = :remembered AND entry_hash = :remembered``
(which takes the same row lock as ``FOR UPDATE``). When another writer (thread, worker process,
or a transaction of ours that rolled back) moved the head since, the update matches no row: the
head is then read under ``FOR UPDATE`` as above and the entry sealed again. The remembered head
is only a guess; the row in the database decides, so the chain cannot fork. Statements are built
once (SQLAlchemy Core), not through the ORM unit of work.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from api.storage.db import Database
from api.storage.models import AuditHead, AuditRow
from keys.audit import AuditEntry, ChainStatus, ChainVerifier, canonical_json, seal_entry
from keys.errors import BackendUnavailableError, BadInputError

__all__ = ["VERIFY_BATCH", "SqlAuditLog", "format_ts"]

#: Rows read per query while verifying.
VERIFY_BATCH = 1000
#: Largest page served by :meth:`SqlAuditLog.page`.
MAX_PAGE = 1000
_HEAD_ID = 1
_HEAD = AuditHead.__table__
_LOG = AuditRow.__table__
_READ_HEAD = select(_HEAD.c.seq, _HEAD.c.entry_hash).where(_HEAD.c.id == _HEAD_ID).with_for_update()
_MOVE_HEAD = (update(_HEAD)
              .where(_HEAD.c.id == _HEAD_ID, _HEAD.c.seq == bindparam("old_seq"),
                     _HEAD.c.entry_hash == bindparam("old_hash"))
              .values(seq=bindparam("new_seq"), entry_hash=bindparam("new_hash")))
_INSERT_ENTRY = insert(_LOG)


def format_ts(at: datetime) -> str:
    """The exact timestamp text that is hashed: UTC, microseconds, ``Z``."""
    if at.tzinfo is None:
        raise BadInputError("audit timestamps must be timezone-aware", field="ts")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _to_entry(row: AuditRow) -> AuditEntry:
    try:
        details = json.loads(row.details)
    except ValueError:
        details = {"__unparseable__": row.details}  # keeps verify() reporting instead of crashing
    if not isinstance(details, dict):
        details = {"__not_an_object__": row.details}
    return AuditEntry(seq=row.seq, ts=row.ts, actor=row.actor, action=row.action, object_type=row.object_type,
                      object_id=row.object_id, details=details, prev_hash=row.prev_hash, entry_hash=row.entry_hash)


class SqlAuditLog:
    """Audit log over a :class:`Database`.

    Args:
        db: the database.
        clock: returns the current aware UTC time (injected, so tests can freeze it).
    """

    def __init__(self, db: Database, *, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._clock = clock
        self._head: tuple[int, str] | None = None  # last head this object wrote: a guess, checked by _MOVE_HEAD

    def append(
        self,
        *,
        actor: str,
        action: str,
        object_type: str,
        object_id: str,
        details: Mapping[str, Any] | None = None,
        session: Session | None = None,
    ) -> AuditEntry:
        """Seal and store one entry after the current head; return it.

        Pass ``session`` (from :meth:`Database.write_session`) to commit the entry atomically with
        the change it records; otherwise the entry is committed in its own transaction.

        Raises:
            BadInputError: a field is too long or ``details`` is not canonical JSON material.
            BackendUnavailableError: the database failed.
        """
        if session is not None:
            return self._append(session, actor, action, object_type, object_id, details)
        try:
            with self._db.write_session() as s:
                return self._append(s, actor, action, object_type, object_id, details)
        except SQLAlchemyError as exc:
            raise BackendUnavailableError(
                f"audit append failed ({type(exc).__name__})", message_zh="审计日志写入失败"
            ) from exc

    def _append(
        self,
        s: Session,
        actor: str,
        action: str,
        object_type: str,
        object_id: str,
        details: Mapping[str, Any] | None,
    ) -> AuditEntry:
        conn = s.connection()
        ts = format_ts(self._clock())
        head = self._head
        locked = False
        while True:
            if head is None:
                # Lock the head (a no-op FOR UPDATE on SQLite, where BEGIN IMMEDIATE already holds the lock).
                row = conn.execute(_READ_HEAD).first()
                if row is None:
                    raise BackendUnavailableError("audit head row missing: run migrations",
                                                  message_zh="审计日志未初始化")
                head, locked = (int(row[0]), str(row[1])), True
            entry = seal_entry(seq=head[0] + 1, ts=ts, actor=actor, action=action, object_type=object_type,
                               object_id=object_id, details=details, prev_hash=head[1])
            moved = conn.execute(_MOVE_HEAD, {"old_seq": head[0], "old_hash": head[1], "new_seq": entry.seq,
                                              "new_hash": entry.entry_hash}).rowcount
            if moved == 1:
                break
            if locked:  # the row we hold locked did not match what we just read from it
                raise BackendUnavailableError("audit head changed under its lock", message_zh="审计日志写入冲突")
            head = None  # another writer moved the head: read it under the lock and seal again
        conn.execute(_INSERT_ENTRY, {
            "seq": entry.seq, "ts": entry.ts, "actor": entry.actor, "action": entry.action,
            "object_type": entry.object_type, "object_id": entry.object_id,
            "details": canonical_json(dict(entry.details)).decode(), "prev_hash": entry.prev_hash,
            "entry_hash": entry.entry_hash})
        self._head = (entry.seq, entry.entry_hash)
        return entry

    def page(self, *, after_seq: int = 0, limit: int = 100) -> Sequence[AuditEntry]:
        """Entries with ``seq > after_seq``, ascending, at most ``limit`` (capped at 1000)."""
        limit = max(1, min(limit, MAX_PAGE))
        try:
            with self._db.session() as s:
                rows = s.scalars(select(AuditRow).where(AuditRow.seq > after_seq)
                                 .order_by(AuditRow.seq).limit(limit)).all()
                return [_to_entry(r) for r in rows]
        except SQLAlchemyError as exc:
            raise BackendUnavailableError(f"audit read failed ({type(exc).__name__})") from exc

    def head(self) -> tuple[int, str]:
        """``(seq, entry_hash)`` recorded in the head row."""
        with self._db.session() as s:
            h = s.get(AuditHead, _HEAD_ID)
            if h is None:
                raise BackendUnavailableError("audit head row missing: run migrations", message_zh="审计日志未初始化")
            return h.seq, h.entry_hash

    def _walk(self, s: Session) -> Iterator[AuditEntry]:
        after = 0
        while True:
            rows = s.scalars(select(AuditRow).where(AuditRow.seq > after)
                             .order_by(AuditRow.seq).limit(VERIFY_BATCH)).all()
            if not rows:
                return
            for r in rows:
                yield _to_entry(r)
            after = rows[-1].seq

    def verify(self) -> ChainStatus:
        """Walk the chain from genesis in batches, then compare with the head row."""
        try:
            with self._db.session() as s:
                if self._db.dialect == "postgresql":
                    # One snapshot for the whole walk, so concurrent appends cannot look like truncation.
                    s.connection(execution_options={"isolation_level": "REPEATABLE READ"})
                v = ChainVerifier()
                for entry in self._walk(s):
                    v.feed(entry)
                    if v.broken:
                        return v.status()
                h = s.get(AuditHead, _HEAD_ID)
                if h is None:
                    raise BackendUnavailableError("audit head row missing: run migrations")
                v.expect_head(seq=h.seq, entry_hash=h.entry_hash)
                return v.status()
        except SQLAlchemyError as exc:
            raise BackendUnavailableError(f"audit read failed ({type(exc).__name__})") from exc
