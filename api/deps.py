"""FastAPI dependencies giving routes the service's shared objects (set up in the lifespan).

Other routers use these, never module globals, so a test can build several apps side by side::

    from api.deps import get_audit, get_db
    from api.auth import AuthPrincipal, Role, require_role

    @router.post("/v1/ca/{region}/certificates")
    def issue(..., principal: AuthPrincipal = Depends(require_role(Role.ISSUER)),
              db: Database = Depends(get_db), audit: SqlAuditLog = Depends(get_audit)):
        with db.write_session() as s:      # commits before the response is sent
            ...                              # change domain rows
            audit.append(session=s, actor=principal.id, action="ca.issue", object_type="certificate",
                         object_id=serial_hex, details={"subject": pii_hash(subject_cn)})
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import Request

from api.settings import Settings
from api.storage.audit import SqlAuditLog
from api.storage.cache import InProcessCache, RedisCache
from api.storage.db import Database

__all__ = [
    "SystemClock",
    "get_audit",
    "get_cache",
    "get_clock",
    "get_db",
    "get_settings",
]


class SystemClock:
    """The real clock (implements :class:`keys.ports.Clock`)."""

    def now(self) -> datetime:
        """Current aware UTC time."""
        return datetime.now(UTC)


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_db(request: Request) -> Database:
    """The app's database."""
    db: Database = request.app.state.db
    return db


def get_cache(request: Request) -> InProcessCache | RedisCache:
    """The app's cache (in-process or Redis)."""
    cache: InProcessCache | RedisCache = request.app.state.cache
    return cache


def get_audit(request: Request) -> SqlAuditLog:
    """The app's audit log (``append``/``page``/``verify``)."""
    audit: SqlAuditLog = request.app.state.audit
    return audit


def get_clock(request: Request) -> SystemClock:
    """The app's clock (frozen in tests)."""
    clock: SystemClock = request.app.state.clock
    return clock
