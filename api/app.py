"""The composition root: ``create_app(settings)`` builds the FastAPI application.

Start-up (the lifespan), in order; any failure stops the service with a clear log line:

1. SM2/SM3 self-test (``keys._sm2.self_test``): refuse to start on a libcrypto without SM2.
2. Open the database; apply migrations (``ESIGN_RUN_MIGRATIONS``).
3. Open the cache (Redis or in-process). An unreachable Redis does not stop start-up; ``/readyz``
   reports it until it comes back.
4. Bootstrap the demo region when ``ESIGN_DEMO`` is on and the database is empty; ensure the
   ``ESIGN_ADMIN_TOKEN`` admin when set.
5. Demo material per area (seal maker and seal, TSA, OCSP responder) with ``ESIGN_DEMO_PKI``.
6. Start the trust-list refresher (every ``ESIGN_TRUST_REFRESH_SECONDS``).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI

from api.demo import bootstrap_demo, ensure_admin_token
from api.deps import SystemClock
from api.errors import BodySizeLimitMiddleware, install_error_handlers
from api.logging import RequestContextMiddleware, configure_logging, set_pii_key
from api.settings import Settings
from api.storage.audit import SqlAuditLog
from api.storage.cache import make_cache
from api.storage.db import Database, run_migrations
from api.trust_store import start_refresher, stop_refresher
from keys import _sm2
from keys.errors import BackendUnavailableError, EsignError

__all__ = ["create_app", "start_services", "stop_services"]

_log = logging.getLogger("esign.app")


#: Modules whose ``bootstrap(settings, *, at)`` creates an area's demo keys and certificates.
_DEMO_HOOKS: tuple[str, ...] = ("api.bootstrap_ses", "api.bootstrap_tsa", "api.bootstrap_licences")


def start_services(app: FastAPI, settings: Settings, *, clock: Any = None) -> None:
    """Run the start-up steps and attach ``settings``/``db``/``cache``/``audit``/``clock`` to ``app.state``.

    Raises:
        BackendUnavailableError: SM2 self-test or database failure.
        EsignError: bad settings (e.g. an invalid database URL), unreadable secrets.
    """
    # 1. SM2 self-test
    _sm2.self_test()
    # 2. database and migrations
    set_pii_key(settings.pii_hash_key())
    db = Database(settings.resolved_database_url(), pool_size=settings.db_pool_size)
    if settings.run_migrations:
        run_migrations(db)
    clock = clock or SystemClock()
    audit = SqlAuditLog(db, clock=clock.now)
    # 3. cache
    cache = make_cache(settings.redis_url, prefix=settings.cache_prefix, default_ttl=settings.cache_default_ttl,
                       max_entries=settings.cache_max_entries)
    try:
        cache.ping()
    except BackendUnavailableError as exc:
        _log.warning("cache not reachable at start-up; /readyz will report it", extra={"reason": exc.message})
    app.state.settings, app.state.db, app.state.cache = settings, db, cache
    app.state.audit, app.state.clock = audit, clock
    # 4. demo region and bootstrap admin
    with db.write_session() as s:
        if settings.demo:
            result = bootstrap_demo(settings, s, audit=audit, at=clock.now())
            app.state.demo_result = result
        if ensure_admin_token(settings, s, audit=audit, at=clock.now()):
            _log.info("admin principal created from ESIGN_ADMIN_TOKEN")
    # 5. demo material of each area (seal maker and seal, TSA and OCSP responder); idempotent
    if settings.demo and settings.demo_pki:
        for module in _DEMO_HOOKS:
            importlib.import_module(module).bootstrap(settings, at=clock.now())
    _log.info("esign ready", extra={"database": db.dialect, "cache": type(cache).__name__,
                                    "region": settings.region, "demo": settings.demo})


def stop_services(app: FastAPI) -> None:
    """Close the cache and the database pool."""
    cache = getattr(app.state, "cache", None)
    if cache is not None:
        cache.close()
    db = getattr(app.state, "db", None)
    if db is not None:
        db.dispose()


def create_app(
    settings: Settings | None = None,
    *,
    extra_routers: Sequence[APIRouter] = (),
    clock: Any = None,
    configure_logs: bool = True,
) -> FastAPI:
    """Build the application. Nothing touches the database until the lifespan starts.

    Args:
        settings: defaults to ``Settings()`` (environment).
        extra_routers: routers included after those in :data:`api.routes.ROUTERS`.
        clock: object with ``now() -> aware datetime``; defaults to the system clock.
        configure_logs: install the JSON log handler (tests may turn it off).
    """
    from api.routes import ROUTERS

    settings = settings or Settings()
    if configure_logs:
        configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            start_services(app, settings, clock=clock)
        except EsignError as exc:
            _log.critical("refusing to start: %s", exc.message, extra={"code": exc.code, "zh": exc.message_zh})
            stop_services(app)
            raise
        except Exception:
            _log.critical("refusing to start: unexpected error during start-up", exc_info=True)
            stop_services(app)
            raise
        start_refresher(app)
        try:
            yield
        finally:
            await stop_refresher(app)
            stop_services(app)

    app = FastAPI(
        title="esign",
        summary="Issue, cross-recognise and verify electronic licences, seals and signatures (SM2/SM3 and PKI).",
        version=_version(),
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_upload_bytes)
    app.add_middleware(RequestContextMiddleware)  # outermost: request id and access line for everything
    for router in [*ROUTERS, *extra_routers]:
        app.include_router(router)
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("esign")
    except PackageNotFoundError:
        return "0.0.0+dev"
