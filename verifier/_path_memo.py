"""One certificate-path validation per signer and validation context, shared by a file's signatures.

pyHanko validates each PDF signature (and each timestamp token) on its own: find the signer's
certificate, build the candidate paths, validate one (signatures, validity, name constraints,
policies, revocation) and check the key usage. A file signed six times by the same person
(or timestamped six times by the same TSA) repeats the same path validation six times against
the same :class:`~pyhanko_certvalidator.ValidationContext`: same certificate, same moment,
same trust anchors, same revocation data (we never fetch, ``allow_fetching=False``).

This module memoises pyHanko's certificate step, ``generic_cms.validate_cert_usage``, per
validation context (weakly held: the memo dies with the context, which is per verification)
and per (certificate DER, key-usage constraints); calls with explicit PKIX parameters are not
memoised. Only **successes** are
remembered: a later signature may bring an intermediate certificate the first lacked, and
pyHanko would then find a path, so a failure is always computed again. A success stays a
success: certificates added to the context later can only add candidate paths. The result
object is the one pyHanko computed (path, revocation details), shared by the statuses.

pyHanko is pinned (pyproject.toml); ``tests/test_path_memo.py`` checks that the patched name
still exists in that version and that verdicts and paths are the same with and without the
memo. :func:`shipped` restores pyHanko's own function (benchmarks time pyHanko as shipped).
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pyhanko.sign.validation import generic_cms as _gc

__all__ = ["MAX_PER_CONTEXT", "install", "installed", "shipped", "stats"]

MAX_PER_CONTEXT = 256
"""Distinct signer certificates remembered per validation context (a file has at most 64 signatures)."""

_ORIGINAL: Callable[..., Any] = _gc.validate_cert_usage
_MEMO: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], Any]] = weakref.WeakKeyDictionary()
_STATS = {"hits": 0, "misses": 0}


def _frozen(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return frozenset(value)
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value


def _key(cert: Any, key_usage_settings: Any, pkix_validation_params: Any) -> tuple[Any, ...] | None:
    """The memo key, or ``None`` (no memo) for anything not plainly comparable."""
    if pkix_validation_params is not None or not dataclasses.is_dataclass(key_usage_settings):
        return None
    try:
        usage = tuple((f.name, _frozen(getattr(key_usage_settings, f.name)))
                      for f in dataclasses.fields(key_usage_settings))
        key = (cert.dump(), type(key_usage_settings), usage)
        hash(key)
    except Exception:
        return None
    return key


async def _memoised(
    cert: Any,
    validation_context: Any,
    key_usage_settings: Any,
    paths: Any,
    pkix_validation_params: Any = None,
) -> Any:
    key = _key(cert, key_usage_settings, pkix_validation_params)
    try:
        memo = _MEMO.setdefault(validation_context, {})
    except TypeError:  # a context that cannot be weakly referenced
        memo = None
    if memo is not None and key is not None:
        hit = memo.get(key)
        if hit is not None:
            _STATS["hits"] += 1
            cancel = getattr(paths, "cancel", None)
            if cancel is not None:
                await cancel()
            return hit
    _STATS["misses"] += 1
    result = await _ORIGINAL(
        cert, validation_context, key_usage_settings=key_usage_settings, paths=paths,
        pkix_validation_params=pkix_validation_params,
    )
    if memo is not None and key is not None and result.success_result is not None and len(memo) < MAX_PER_CONTEXT:
        memo[key] = result
    return result


def install() -> None:
    """Route pyHanko's certificate step through the memo (process-wide, idempotent)."""
    _gc.validate_cert_usage = _memoised


def installed() -> bool:
    """Whether :func:`install` is in effect."""
    return _gc.validate_cert_usage is _memoised


def stats() -> dict[str, int]:
    """Hits and misses since the process started (for tests and benchmarks)."""
    return dict(_STATS)


@contextmanager
def shipped() -> Iterator[None]:
    """pyHanko's own certificate step for the duration."""
    was = installed()
    _gc.validate_cert_usage = _ORIGINAL
    try:
        yield
    finally:
        if was:
            install()
