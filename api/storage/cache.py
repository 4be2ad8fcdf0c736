"""Caches implementing :class:`keys.ports.Cache`: an in-process LRU with TTL, and Redis.

Both store bytes under ``<prefix><key>``. The in-process cache is per worker process; Redis is
shared, so an invalidation (e.g. a revoked token) takes effect in every worker at once.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

import redis
from redis.exceptions import RedisError

from keys.errors import BackendUnavailableError, BadInputError

__all__ = ["REDIS_SOCKET_TIMEOUT", "InProcessCache", "RedisCache", "make_cache"]

#: Seconds a Redis connect or command may take before the cache counts as unavailable.
REDIS_SOCKET_TIMEOUT = 2.0


#: INCR, and PEXPIRE when this call created the counter: one atomic step on the server.
_INCR_LUA = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"""


def _unavailable(exc: Exception) -> BackendUnavailableError:
    return BackendUnavailableError(f"cache unreachable ({type(exc).__name__})", message_zh="缓存服务不可用")


class InProcessCache:
    """Thread-safe LRU cache with per-entry expiry.

    Args:
        max_entries: capacity; the least recently used entry is evicted first.
        default_ttl: seconds an entry lives when ``set`` gives no ``ttl``.
        prefix: prepended to every key (kept for symmetry with Redis).
        clock: monotonic seconds; tests pass a fake.
    """

    def __init__(
        self,
        *,
        max_entries: int = 10_000,
        default_ttl: float = 300.0,
        prefix: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise BadInputError("cache max_entries must be >= 1", field="cache_max_entries")
        self._max = max_entries
        self._ttl = default_ttl
        self._prefix = prefix
        self._clock = clock
        self._data: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def get(self, key: str) -> bytes | None:
        """The value, or ``None`` when missing or expired."""
        k = self._prefix + key
        with self._lock:
            item = self._data.get(k)
            if item is None:
                return None
            value, expires = item
            if expires is not None and self._clock() >= expires:
                del self._data[k]
                return None
            self._data.move_to_end(k)
            return value

    def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        """Store ``value`` for ``ttl`` seconds (default TTL when ``None``)."""
        life = self._ttl if ttl is None else ttl
        expires = self._clock() + life if life > 0 else None
        k = self._prefix + key
        with self._lock:
            self._data[k] = (bytes(value), expires)
            self._data.move_to_end(k)
            while len(self._data) > self._max:
                self._data.popitem(last=False)

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        with self._lock:
            self._data.pop(self._prefix + key, None)

    def incr(self, key: str, *, ttl: float) -> int:
        """Add one to the counter at ``key`` and return it; a new (or expired) counter starts at 1 and
        lives ``ttl`` seconds from then (the window of a rate limit). Atomic."""
        k = self._prefix + key
        now = self._clock()
        with self._lock:
            item = self._data.get(k)
            if item is None or (item[1] is not None and now >= item[1]):
                count, expires = 1, now + ttl
            else:
                count, expires = int(item[0]) + 1, item[1]
            self._data[k] = (str(count).encode(), expires)
            self._data.move_to_end(k)
            while len(self._data) > self._max:
                self._data.popitem(last=False)
            return count

    def ttl(self, key: str) -> float | None:
        """Seconds left, or ``None`` when missing/expired/without expiry."""
        k = self._prefix + key
        with self._lock:
            item = self._data.get(k)
            if item is None or item[1] is None:
                return None
            left = item[1] - self._clock()
            return left if left > 0 else None

    def ping(self) -> None:
        """Always reachable."""

    def close(self) -> None:
        """Drop everything."""
        with self._lock:
            self._data.clear()


class RedisCache:
    """Cache in Redis (redis-py), keys prefixed, every failure a :class:`BackendUnavailableError`.

    Args:
        url: ``redis://[:password@]host:port/db`` or ``rediss://``.
        prefix: prepended to every key.
        default_ttl: seconds an entry lives when ``set`` gives no ``ttl``.
    """

    def __init__(self, url: str, *, prefix: str = "esign:", default_ttl: float = 300.0) -> None:
        try:
            self._r = redis.Redis.from_url(
                url, socket_connect_timeout=REDIS_SOCKET_TIMEOUT, socket_timeout=REDIS_SOCKET_TIMEOUT
            )
        except ValueError as exc:
            raise BadInputError("ESIGN_REDIS_URL is not a valid Redis URL", field="redis_url") from exc
        self._incr = self._r.register_script(_INCR_LUA)
        self._prefix = prefix
        self._ttl = default_ttl

    def get(self, key: str) -> bytes | None:
        """The value, or ``None`` when missing or expired."""
        try:
            value = self._r.get(self._prefix + key)
        except RedisError as exc:
            raise _unavailable(exc) from exc
        return None if value is None else bytes(value)  # type: ignore[arg-type]

    def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        """Store ``value`` for ``ttl`` seconds (default TTL when ``None``; ms precision)."""
        life = self._ttl if ttl is None else ttl
        try:
            if life > 0:
                self._r.set(self._prefix + key, value, px=max(1, int(life * 1000)))
            else:
                self._r.set(self._prefix + key, value)
        except RedisError as exc:
            raise _unavailable(exc) from exc

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        try:
            self._r.delete(self._prefix + key)
        except RedisError as exc:
            raise _unavailable(exc) from exc

    def incr(self, key: str, *, ttl: float) -> int:
        """Add one to the counter at ``key`` and return it; a new counter lives ``ttl`` seconds
        (one Lua script: INCR, and EXPIRE when it was created, atomically on the server)."""
        try:
            return int(self._incr(keys=[self._prefix + key], args=[max(1, int(ttl * 1000))]))  # type: ignore[arg-type]
        except RedisError as exc:
            raise _unavailable(exc) from exc

    def ttl(self, key: str) -> float | None:
        """Seconds left, or ``None`` when missing or without expiry."""
        try:
            ms = int(self._r.pttl(self._prefix + key))  # type: ignore[arg-type]
        except RedisError as exc:
            raise _unavailable(exc) from exc
        return ms / 1000 if ms >= 0 else None

    def ping(self) -> None:
        """``PING``; raise :class:`BackendUnavailableError` on failure."""
        try:
            self._r.ping()
        except RedisError as exc:
            raise _unavailable(exc) from exc

    def close(self) -> None:
        """Close the connection pool."""
        try:
            self._r.close()
        except RedisError:  # closing a dead connection is not an error worth reporting
            pass


def make_cache(
    redis_url: str | None, *, prefix: str, default_ttl: float, max_entries: int
) -> InProcessCache | RedisCache:
    """Redis when ``redis_url`` is set, else the in-process cache."""
    if redis_url:
        return RedisCache(redis_url, prefix=prefix, default_ttl=default_ttl)
    return InProcessCache(max_entries=max_entries, default_ttl=default_ttl, prefix=prefix)
