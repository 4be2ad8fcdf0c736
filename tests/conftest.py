"""Shared fixtures: settings on a temporary data dir, an app client with demo tokens, real PostgreSQL and Redis.

PostgreSQL (127.0.0.1:5432, trust auth): one throwaway database per test session
(``esign_test_<random>``), dropped at the end; :func:`pg_url` gives each test a fresh, empty
schema inside it (via ``search_path``), dropped after the test. Redis (127.0.0.1:6379): database
15, every key under a per-test prefix, and only keys with that prefix are deleted afterwards.
Without the services these fixtures skip, or fail when ``ESIGN_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# Hypothesis: no per-example deadline (a loaded 2-core CI machine would trip it), and under CI
# (CI=true) derandomised examples, so a CI run is reproducible; locally examples stay random.
from hypothesis import settings as _hyp_settings

from tests._services import require_service

_hyp_settings.register_profile("esign", deadline=None)
_hyp_settings.register_profile("esign-ci", deadline=None, derandomize=True, print_blob=True)
_hyp_settings.load_profile("esign-ci" if os.environ.get("CI") == "true" else "esign")

PG_HOST = os.environ.get("ESIGN_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("ESIGN_TEST_PG_PORT", "5432"))
PG_ADMIN_DB = os.environ.get("ESIGN_TEST_PG_DB", "test")
PG_USERS = ("postgres", "root")
REDIS_URL_BASE = os.environ.get("ESIGN_TEST_REDIS", "redis://127.0.0.1:6379")
REDIS_TEST_DB = 15


def make_settings(data_dir: Path, **overrides: Any) -> Any:
    """Settings for tests: explicit values for everything an outer ESIGN_* variable could change."""
    from api.settings import Settings

    base: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": None,
        "redis_url": None,
        "demo": True,
        "demo_pki": False,  # CA key generation (scrypt) is slow; test_app checks it once
        "admin_token": None,
        "keystore_passphrase": None,
        "keystore_passphrase_file": None,
        "pii_hash_key_file": None,
        "max_upload_bytes": 64 * 1024,
        "log_level": "INFO",
        "run_migrations": True,
        "region": "440000",
        "cache_prefix": f"esign-test:{uuid.uuid4().hex[:8]}:",
    }
    base.update(overrides)
    return Settings(**base)


@pytest.fixture
def settings(tmp_path: Path) -> Any:
    """Settings on a fresh temporary data dir (SQLite, in-process cache, demo on)."""
    return make_settings(tmp_path / "var")


@dataclass
class AppHandle:
    """A running app under TestClient with the demo tokens."""

    client: Any
    app: Any
    settings: Any
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, role: str = "admin") -> dict[str, str]:
        """Authorization header for the demo principal of ``role``."""
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def read_tokens(settings: Any) -> dict[str, str]:
    """The demo tokens written by the bootstrap."""
    out = {}
    for f in sorted(settings.secrets_dir.glob("*.token")):
        out[f.stem] = f.read_text(encoding="utf-8").strip()
    return out


def open_app(settings: Any, *, extra_routers: Any = (), raise_server_exceptions: bool = True) -> Iterator[AppHandle]:
    """Start ``create_app(settings)`` under a TestClient (lifespan included)."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    app = create_app(settings, extra_routers=extra_routers, configure_logs=False)
    with TestClient(app, raise_server_exceptions=raise_server_exceptions) as client:
        yield AppHandle(client=client, app=app, settings=settings, tokens=read_tokens(settings))


def use_service_env(monkeypatch: pytest.MonkeyPatch, settings: Any, region: str = "440000") -> None:
    """Point the CLI (which reads ``ESIGN_*``) at the running test app's data directory and SQLite database."""
    monkeypatch.setenv("ESIGN_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("ESIGN_REGION", region)
    for name in ("ESIGN_DATABASE_URL", "ESIGN_KEYSTORE_URL", "ESIGN_KEYSTORE_PASSPHRASE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def app_client(settings: Any) -> Iterator[AppHandle]:
    """The app on SQLite with the demo bootstrapped; ``.auth('admin')`` gives the admin header."""
    yield from open_app(settings)


# -- PostgreSQL ---------------------------------------------------------------------------------


def _pg_connect(user: str, dbname: str) -> Any:
    import psycopg

    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=user, dbname=dbname, connect_timeout=3, autocommit=True)


@pytest.fixture(scope="session")
def _pg_database() -> Iterator[tuple[str, str] | str]:
    """Create ``esign_test_<random>`` once per session; yield (user, dbname) or the reason it is absent."""
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - psycopg is a hard dependency
        yield f"psycopg not importable: {exc}"
        return
    user, why = None, ""
    for candidate in PG_USERS:
        try:
            with _pg_connect(candidate, PG_ADMIN_DB):
                user = candidate
                break
        except psycopg.Error as exc:
            why = f"{PG_HOST}:{PG_PORT} db {PG_ADMIN_DB} as {candidate}: {str(exc).strip()[:160]}"
    if user is None:
        yield why
        return
    dbname = f"esign_test_{uuid.uuid4().hex[:12]}"
    with _pg_connect(user, PG_ADMIN_DB) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    try:
        yield (user, dbname)
    finally:
        with _pg_connect(user, PG_ADMIN_DB) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


@pytest.fixture
def pg_url(_pg_database: tuple[str, str] | str) -> Iterator[str]:
    """SQLAlchemy URL of a fresh empty schema in the session's throwaway PostgreSQL database."""
    if isinstance(_pg_database, str):
        require_service("postgresql", False, _pg_database)
    assert not isinstance(_pg_database, str)
    user, dbname = _pg_database
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with _pg_connect(user, dbname) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield (f"postgresql+psycopg://{user}@{PG_HOST}:{PG_PORT}/{dbname}"
               f"?options=-csearch_path%3D{schema}")
    finally:
        with _pg_connect(user, dbname) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# -- Redis --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedisTarget:
    """A Redis database reserved for tests and the key prefix of this test."""

    url: str
    prefix: str


@pytest.fixture
def redis_target() -> Iterator[RedisTarget]:
    """Redis DB 15 with a unique key prefix; deletes only keys under that prefix afterwards."""
    import redis

    url = f"{REDIS_URL_BASE}/{REDIS_TEST_DB}"
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        require_service("redis", False, f"{url}: {exc}")
    prefix = f"esign-test:{uuid.uuid4().hex[:12]}:"
    try:
        yield RedisTarget(url=url, prefix=prefix)
    finally:
        keys = list(client.scan_iter(match=prefix + "*", count=500))
        if keys:
            client.delete(*keys)
        client.close()


def closed_port() -> int:
    """A local TCP port with nothing listening (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def quiet_logs() -> Iterator[None]:
    """pyHanko's warnings about the files we feed it, off for the test."""
    logging.disable(logging.WARNING)
    yield
    logging.disable(logging.NOTSET)
