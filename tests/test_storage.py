"""Storage on both backends for real: SQLite (WAL) and PostgreSQL + Redis over real connections."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text

from api.storage.audit import SqlAuditLog
from api.storage.cache import InProcessCache, RedisCache
from api.storage.db import Database, run_migrations
from keys.errors import BackendUnavailableError
from tests.conftest import RedisTarget, closed_port, make_settings, open_app

TABLES = {"alembic_version", "principals", "audit_log", "audit_head", "regions", "kv"}


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Backend:
    """One storage configuration under test."""

    name: str
    database_url: str
    redis: RedisTarget | None


@pytest.fixture(params=["sqlite", pytest.param("postgresql+redis", marks=pytest.mark.services)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield Backend("sqlite", f"sqlite:///{tmp_path / 'esign.db'}", None)
    else:
        url = request.getfixturevalue("pg_url")
        yield Backend("postgresql", url, request.getfixturevalue("redis_target"))


@pytest.fixture
def db(backend: Backend) -> Iterator[Database]:
    d = Database(backend.database_url)
    run_migrations(d)
    yield d
    d.dispose()


def _raw(db: Database, sql: str, **params: Any) -> None:
    with db.engine.begin() as conn:
        conn.execute(text(sql), params)


# -- migrations -----------------------------------------------------------------------------------


def test_migrations_apply_cleanly_and_are_idempotent(backend: Backend) -> None:
    d = Database(backend.database_url)
    try:
        assert not set(inspect(d.engine).get_table_names()) & TABLES  # starts empty
        run_migrations(d)
        run_migrations(d)  # second run is a no-op
        assert set(inspect(d.engine).get_table_names()) >= TABLES
        with d.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0005_objection_once"
            assert conn.execute(text("SELECT seq, entry_hash FROM audit_head")).one() == (0, "0" * 64)
        assert d.dialect == ("sqlite" if backend.name == "sqlite" else "postgresql")
    finally:
        d.dispose()


def test_models_match_the_migrations(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import api.storage.licences  # registers the licence tables on Base
    import api.storage.seals  # noqa: F401  (registers the seal tables on Base)
    from api.storage.models import Base

    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    d = Database(f"sqlite:///{tmp_path / 'w.db'}")
    with d.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one().lower() == "wal"
    d.dispose()


# -- audit log --------------------------------------------------------------------------------------


def test_audit_append_page_verify(db: Database) -> None:
    log = SqlAuditLog(db, clock=_now)
    assert log.verify().intact and log.verify().count == 0
    entries = [log.append(actor="p_1", action="thing.do", object_type="thing", object_id=str(i),
                          details={"i": i, "名": "值"}) for i in range(7)]
    assert [e.seq for e in entries] == list(range(1, 8))
    assert entries[0].prev_hash == "0" * 64 and entries[1].prev_hash == entries[0].entry_hash
    st = log.verify()
    assert st.intact and st.count == 7 and st.head_hash == entries[-1].entry_hash
    assert log.head() == (7, entries[-1].entry_hash)
    page = log.page(after_seq=2, limit=3)
    assert [e.seq for e in page] == [3, 4, 5] and page[0].details == {"i": 2, "名": "值"}


def test_audit_append_rolls_back_with_its_transaction(db: Database) -> None:
    log = SqlAuditLog(db, clock=_now)
    log.append(actor="p", action="a", object_type="t", object_id="1")
    with pytest.raises(RuntimeError), db.write_session() as s:
        log.append(actor="p", action="a", object_type="t", object_id="2", session=s)
        raise RuntimeError("the domain change failed")
    assert log.head()[0] == 1 and log.verify().intact
    assert log.append(actor="p", action="a", object_type="t", object_id="3").seq == 2


def test_audit_tampering_via_raw_sql_is_reported(db: Database) -> None:
    log = SqlAuditLog(db, clock=_now)
    for i in range(5):
        log.append(actor="p", action="a", object_type="t", object_id=str(i), details={"i": i})
    _raw(db, "UPDATE audit_log SET details = :d WHERE seq = 3", d='{"i":99}')
    st = log.verify()
    assert not st.intact and st.first_bad_index == 2 and st.first_bad_seq == 3 and "modified" in (st.reason or "")


def test_audit_deleting_entries_is_reported(db: Database) -> None:
    log = SqlAuditLog(db, clock=_now)
    for i in range(5):
        log.append(actor="p", action="a", object_type="t", object_id=str(i))
    _raw(db, "DELETE FROM audit_log WHERE seq = 5")
    st = log.verify()
    assert not st.intact and st.first_bad_index == 4  # truncated tail, caught by the head row
    _raw(db, "DELETE FROM audit_log WHERE seq = 2")
    st = log.verify()
    assert not st.intact and st.first_bad_index == 1 and st.first_bad_seq == 3


def test_concurrent_appends_keep_one_chain(backend: Backend, db: Database) -> None:
    """Two writers with separate engines (as two processes would be), 50 appends each."""
    other = Database(backend.database_url)
    logs = [SqlAuditLog(db, clock=_now), SqlAuditLog(other, clock=_now)]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker(n: int) -> None:
        try:
            start.wait()
            for i in range(50):
                logs[n].append(actor=f"w{n}", action="race", object_type="t", object_id=f"{n}-{i}")
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.dispose()
    assert not errors, errors
    st = logs[0].verify()
    assert st.intact and st.count == 100 and st.head_seq == 100
    rows = logs[0].page(after_seq=0, limit=1000)
    assert [e.seq for e in rows] == list(range(1, 101))
    assert {e.actor for e in rows} == {"w0", "w1"}
    assert len({e.prev_hash for e in rows}) == 100  # no two entries share a parent: no fork


# -- caches -----------------------------------------------------------------------------------------


@pytest.fixture(params=["inprocess", pytest.param("redis", marks=pytest.mark.services)])
def cache(request: pytest.FixtureRequest) -> Iterator[InProcessCache | RedisCache]:
    if request.param == "inprocess":
        c: InProcessCache | RedisCache = InProcessCache(prefix="t:")
    else:
        target: RedisTarget = request.getfixturevalue("redis_target")
        c = RedisCache(target.url, prefix=target.prefix)
    yield c
    c.close()


def test_cache_set_get_ttl_delete(cache: InProcessCache | RedisCache) -> None:
    cache.ping()
    assert cache.get("k") is None and cache.ttl("k") is None
    cache.set("k", b"\x00value", ttl=60)
    assert cache.get("k") == b"\x00value"
    left = cache.ttl("k")
    assert left is not None and 0 < left <= 60
    cache.set("k", b"other", ttl=60)
    assert cache.get("k") == b"other"
    cache.delete("k")
    assert cache.get("k") is None and cache.ttl("k") is None
    cache.delete("k")  # deleting a missing key is fine


def test_cache_entries_expire(cache: InProcessCache | RedisCache) -> None:
    cache.set("short", b"x", ttl=0.2)
    deadline = time.monotonic() + 5
    while cache.get("short") is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cache.get("short") is None


def test_cache_counters_count_within_their_window(cache: InProcessCache | RedisCache) -> None:
    cache.delete("n")
    assert [cache.incr("n", ttl=0.3) for _ in range(3)] == [1, 2, 3]
    left = cache.ttl("n")
    assert left is not None and 0 < left <= 0.3  # the window runs from the first call, not the last
    deadline = time.monotonic() + 5
    while cache.get("n") is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cache.incr("n", ttl=30) == 1  # a new window


def test_rate_limit_refuses_past_the_limit_and_fails_closed() -> None:
    from api.errors import RateLimitedError
    from api.ratelimit import check_rate

    now = [0.0]
    c = InProcessCache(clock=lambda: now[0])
    assert [check_rate(c, bucket="b", who="p1", limit=2, window=60) for _ in range(2)] == [1, 2]
    with pytest.raises(RateLimitedError) as info:
        check_rate(c, bucket="b", who="p1", limit=2, window=60)
    assert info.value.retry_after == 60 and info.value.http_status == 429
    assert check_rate(c, bucket="b", who="p2", limit=2, window=60) == 1  # per principal
    now[0] = 61.0
    assert check_rate(c, bucket="b", who="p1", limit=2, window=60) == 1  # the next window
    assert check_rate(c, bucket="b", who="p1", limit=0, window=60) == 0  # 0: off
    down = RedisCache(f"redis://127.0.0.1:{closed_port()}/0")
    with pytest.raises(BackendUnavailableError):  # no cache: refused, not served unlimited
        check_rate(down, bucket="b", who="p1", limit=2, window=60)
    down.close()


def test_inprocess_cache_is_lru_with_ttl() -> None:
    now = [100.0]
    c = InProcessCache(max_entries=2, default_ttl=10, clock=lambda: now[0])
    c.set("a", b"1")
    c.set("b", b"2")
    assert c.get("a") == b"1"  # a is now most recently used
    c.set("c", b"3")  # evicts b
    assert c.get("b") is None and c.get("a") == b"1" and c.get("c") == b"3"
    now[0] += 10.5
    assert c.get("a") is None and len(c) == 1


def test_redis_cache_prefix_isolates_keys(redis_target: RedisTarget) -> None:
    a = RedisCache(redis_target.url, prefix=redis_target.prefix + "a:")
    b = RedisCache(redis_target.url, prefix=redis_target.prefix + "b:")
    a.set("k", b"A", ttl=30)
    assert b.get("k") is None and a.get("k") == b"A"
    a.close()
    b.close()


def test_redis_cache_unreachable_raises_typed_error() -> None:
    c = RedisCache(f"redis://127.0.0.1:{closed_port()}/0")
    with pytest.raises(BackendUnavailableError):
        c.ping()
    with pytest.raises(BackendUnavailableError):
        c.get("k")
    c.close()


# -- the app on each backend ------------------------------------------------------------------------


def test_app_on_backend(backend: Backend, tmp_path: Path) -> None:
    """Ready, demo bootstrap, create + revoke a principal (revocation beats the auth cache)."""
    s = make_settings(tmp_path / "var", database_url=backend.database_url,
                      redis_url=backend.redis.url if backend.redis else None,
                      cache_prefix=backend.redis.prefix if backend.redis else "esign:")
    for h in open_app(s):
        c = h.client
        r = c.get("/readyz")
        assert r.status_code == 200 and r.json()["checks"] == {"database": "ok", "cache": "ok"}
        r = c.post("/v1/principals", json={"name": "clerk", "role": "staff", "region": "440000"}, headers=h.auth())
        assert r.status_code == 201
        new = r.json()
        hdr = {"Authorization": f"Bearer {new['token']}"}
        assert c.get("/v1/audit", headers=hdr).status_code == 403  # authenticated (and now cached), wrong role
        assert c.delete(f"/v1/principals/{new['id']}", headers=h.auth()).status_code == 200
        assert c.get("/v1/audit", headers=hdr).status_code == 401
        v = c.get("/v1/audit/verify", headers=h.auth()).json()
        assert v["intact"] is True and v["count"] >= 8


@pytest.mark.services
def test_readyz_503_when_redis_port_is_closed(tmp_path: Path) -> None:
    s = make_settings(tmp_path / "var", redis_url=f"redis://127.0.0.1:{closed_port()}/0", auth_cache_ttl=30)
    for h in open_app(s):
        r = h.client.get("/readyz")
        assert r.status_code == 503
        body = r.json()
        assert r.headers["content-type"].startswith("application/problem+json")
        assert body["code"] == "not_ready" and body["checks"]["database"] == "ok" and body["checks"]["cache"] != "ok"
        # authentication falls back to the database while the cache is down
        assert h.client.get("/v1/audit", headers=h.auth()).status_code == 200
