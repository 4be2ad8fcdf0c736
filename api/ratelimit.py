"""Per-principal rate limits for endpoints that hand out personal data to other systems.

A fixed window per (bucket, principal): the first call of a window creates a counter in the
service cache (in-process, or Redis so every worker shares it) that lives one window; the call
that takes the counter past the limit, and every later one in that window, is refused with
:class:`~api.errors.RateLimitedError` (429, ``Retry-After`` = seconds to the window's end). A
refused call does nothing else (no audit row, no data).

Fail closed: when the cache cannot be reached the call is refused (503, ``backend_unavailable``)
rather than served unlimited.
"""

from __future__ import annotations

import math

from api.errors import RateLimitedError
from keys.ports import Cache

__all__ = ["check_rate"]


def check_rate(cache: Cache, *, bucket: str, who: str, limit: int, window: float) -> int:
    """Count one call of ``who`` against ``limit`` calls per ``window`` seconds; returns the count.

    ``limit`` <= 0 turns the limit off (nothing is counted). Raises RateLimitedError past the
    limit and BackendUnavailableError when the cache is down.
    """
    if limit <= 0:
        return 0
    key = f"rl:{bucket}:{who}"
    count = cache.incr(key, ttl=window)
    if count > limit:
        left = cache.ttl(key)
        raise RateLimitedError(
            f"more than {limit} calls in {window:g} s by this principal; try again later",
            message_zh="调用过于频繁，请稍后再试",
            retry_after=math.ceil(left) if left is not None else math.ceil(window),
        )
    return count
