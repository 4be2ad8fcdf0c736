"""Engine and session factory for SQLite (embedded, WAL) and PostgreSQL (psycopg 3).

SQLite specifics: every connection runs ``PRAGMA journal_mode=WAL``, ``busy_timeout`` and
``foreign_keys=ON``; the pysqlite driver's own implicit transaction handling is switched off and
SQLAlchemy emits ``BEGIN`` itself, so :meth:`Database.write_session` can say ``BEGIN IMMEDIATE``
and take the single write lock up front. That is what serialises audit appends on SQLite and
avoids ``SQLITE_BUSY_SNAPSHOT`` when a read transaction later tries to write.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from keys.errors import BackendUnavailableError, BadInputError

__all__ = ["SQLITE_BUSY_TIMEOUT_MS", "Database", "run_migrations"]

#: How long an SQLite writer waits for the write lock before failing.
SQLITE_BUSY_TIMEOUT_MS = 30_000
_BEGIN_OPTION = "esign_sqlite_begin"
_log = logging.getLogger("esign.storage")


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see _on_begin)
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
            cur.execute("PRAGMA foreign_keys = ON")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")


class Database:
    """One database: engine, session factories, health check.

    Args:
        url: SQLAlchemy URL (``sqlite:///...`` or ``postgresql+psycopg://...``).
        pool_size: connection pool size (PostgreSQL).
    """

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise BadInputError("ESIGN_DATABASE_URL is not a valid database URL", field="database_url") from exc
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                from pathlib import Path

                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(parsed, connect_args={"check_same_thread": False})
            _sqlite_setup(self.engine)
            self._write_engine = self.engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        elif self.dialect == "postgresql":
            if parsed.drivername == "postgresql":
                parsed = parsed.set(drivername="postgresql+psycopg")
            self.engine = create_engine(parsed, pool_size=pool_size, pool_pre_ping=True)
            self._write_engine = self.engine
        else:
            raise BadInputError(
                f"unsupported database {self.dialect!r}: use sqlite:/// or postgresql+psycopg://",
                field="database_url",
            )
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(self._write_engine, expire_on_commit=False)

    @property
    def safe_url(self) -> str:
        """The URL with any password masked (for logs)."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session for reads (and writes that may queue); commits on success, rolls back on error."""
        with self._sessions() as s, s.begin():
            yield s

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """A session that takes the write lock at ``BEGIN`` on SQLite (plain on PostgreSQL).

        Use it for any transaction that writes, in particular one that also appends to the audit
        log, so the audit row commits atomically with the change it records.
        """
        with self._write_sessions() as s, s.begin():
            yield s

    def ping(self) -> None:
        """``SELECT 1``; raise :class:`BackendUnavailableError` on failure."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise BackendUnavailableError(
                f"database unreachable ({type(getattr(exc, 'orig', None) or exc).__name__})", message_zh="数据库不可用"
            ) from exc

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()


def run_migrations(db: Database, *, revision: str = "head") -> None:
    """Upgrade the schema to ``revision`` with Alembic, using the packaged migration scripts.

    Works from a source checkout and from an installed wheel: the script location is resolved
    through :mod:`importlib.resources`, not the working directory. On PostgreSQL the upgrade
    runs under a transaction-level advisory lock, so several workers starting at once migrate
    exactly once.
    """
    from alembic import command
    from alembic.config import Config

    script_dir = resources.files("api.migrations")
    cfg = Config()
    cfg.set_main_option("script_location", str(script_dir))
    try:
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except SQLAlchemyError as exc:
        raise BackendUnavailableError(
            f"database migration failed ({type(getattr(exc, 'orig', None) or exc).__name__})",
            message_zh="数据库迁移失败",
        ) from exc
