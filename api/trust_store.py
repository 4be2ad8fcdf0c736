"""File-based persistence of trust lists, URL fetching, and the scheduled refresher.

Layout under ``<data_dir>/trust-lists/``::

    own/published.json        this region's current signed list (served at GET /v1/trust-list)
    <region>/current.json     the imported list as received (bytes verified at import)
    <region>/last_good.json   the previous verified copy (kept for offline use and rollback checks)
    <region>/meta.json        source, pinned keys + threshold, the keys that accepted current.json,
                              last refresh / last good times, last error

Every write is atomic (temp file + fsync + ``os.replace``). On load each stored list is verified
again (signatures and thresholds against the keys recorded at import, at the time it was
verified); a copy that no longer verifies (tampered on disk) is never used: the last good copy
is tried, else the region is recorded as broken, and verification then says why.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from keys.errors import BackendUnavailableError, BadInputError, EsignError, NotFoundError
from keys.interfaces import VerifyingKey
from keys.keypairs import public_key_from_spki
from keys.trustlist import MAX_LIST_BYTES, TrustList, keyid_of, parse_and_verify
from verifier.policy import RecognitionPolicy, ValidationPolicy
from verifier.trust import TrustRegistry

__all__ = [
    "DEFAULT_REFRESH_SECONDS",
    "FETCH_TIMEOUT_SECONDS",
    "MAX_CACHED_LISTS",
    "Fetcher",
    "HttpFetcher",
    "TrustListStore",
    "start_refresher",
    "stop_refresher",
]

#: Refresh interval when settings name none.
DEFAULT_REFRESH_SECONDS = 3600
#: Time limit of one list download.
FETCH_TIMEOUT_SECONDS = 20.0
#: Verified lists remembered across loads (oldest dropped first).
MAX_CACHED_LISTS = 64
_VERIFIED: dict[tuple[bytes, str], TrustList] = {}
_log = logging.getLogger("esign.trust")
_REGION_OK = frozenset("0123456789abcdefghijklmnopqrstuvwxyz-_")


class Fetcher(Protocol):
    """Downloads a trust list (the only network access of the trust-list machinery)."""

    def fetch(self, url: str, *, max_bytes: int) -> bytes:
        """The body at ``url`` (at most ``max_bytes``); raises BackendUnavailableError."""


class HttpFetcher:
    """:class:`Fetcher` over httpx; pass an ``httpx.Client`` (a TestClient works too) or get a new one."""

    def __init__(self, client: Any = None, *, timeout: float = FETCH_TIMEOUT_SECONDS) -> None:
        self._client = client
        self._timeout = timeout

    def fetch(self, url: str, *, max_bytes: int) -> bytes:
        import httpx

        if not url.startswith(("https://", "http://")):
            raise BadInputError("a trust-list URL must be http(s)", message_zh="信任列表地址必须是 http(s)",
                                field="url")
        client = self._client or httpx.Client(timeout=self._timeout, follow_redirects=False)
        try:
            with client.stream("GET", url) as resp:
                if resp.status_code != 200:
                    raise BackendUnavailableError(f"{url} answered HTTP {resp.status_code}",
                                                  message_zh=f"下载信任列表失败（HTTP {resp.status_code}）")
                body = bytearray()
                for chunk in resp.iter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise BadInputError(f"trust list at {url} is larger than {max_bytes} bytes",
                                            message_zh="信任列表过大", field="url")
                return bytes(body)
        except httpx.HTTPError as exc:
            raise BackendUnavailableError(f"cannot fetch {url}: {exc}", message_zh="无法下载信任列表") from exc
        finally:
            if self._client is None:
                client.close()


def _atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _keys_json(keys: dict[str, VerifyingKey]) -> list[dict[str, str]]:
    return [{"keyid": k, "spki": base64.b64encode(v.spki_der()).decode()} for k, v in sorted(keys.items())]


def _keys_from(items: list[dict[str, str]]) -> dict[str, VerifyingKey]:
    return {i["keyid"]: public_key_from_spki(base64.b64decode(i["spki"])) for i in items}


@dataclass
class TrustListStore:
    """Imported lists and this region's own list, in ``<base>/``."""

    base: Path

    @classmethod
    def for_settings(cls, settings: Any) -> TrustListStore:
        """The store under ``settings.data_dir/trust-lists``."""
        return cls(Path(settings.data_dir) / "trust-lists")

    def _dir(self, region: str) -> Path:
        if not region or len(region) > 32 or not set(region.lower()) <= _REGION_OK:
            raise BadInputError(f"bad region code {region!r}", message_zh="地区代码错误", field="region")
        return self.base / region

    def _meta(self, region: str) -> dict[str, Any]:
        p = self._dir(region) / "meta.json"
        return json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}

    def _save_meta(self, region: str, meta: dict[str, Any]) -> None:
        _atomic(self._dir(region) / "meta.json", json.dumps(meta, indent=1, sort_keys=True).encode())

    # -- this region's own list ---------------------------------------------------------------------

    def save_published(self, data: bytes) -> None:
        """Store this region's signed list (what GET /v1/trust-list serves)."""
        _atomic(self.base / "own" / "published.json", data)

    def published(self) -> bytes:
        """This region's signed list. Raises NotFoundError before the first ``esign trust publish``."""
        p = self.base / "own" / "published.json"
        if not p.exists():
            raise NotFoundError("this region has not published a trust list yet (esign trust publish)",
                                message_zh="本地区尚未发布信任列表")
        return p.read_bytes()

    # -- imported lists -----------------------------------------------------------------------------

    def pin(self, region: str, keys: list[VerifyingKey], threshold: int) -> None:
        """Pin the list-signing keys (and threshold) a first import of ``region`` must satisfy."""
        if not keys or not 0 < threshold <= len(keys):
            raise BadInputError("pin at least one key and 1 <= threshold <= number of keys",
                                message_zh="至少固定一个公钥，且门限在 1 与公钥数之间", field="threshold")
        meta = self._meta(region)
        meta["pins"], meta["pin_threshold"] = _keys_json({keyid_of(k): k for k in keys}), threshold
        self._save_meta(region, meta)

    def _load_one(self, region: str, name: str, meta: dict[str, Any]) -> TrustList:
        data = (self._dir(region) / name).read_bytes()
        acc = meta.get(f"{name}:accepted_by")
        if not acc:
            raise NotFoundError(f"no verification record for {name}")
        # The same bytes checked against the same acceptance record always give the same answer, so
        # a verified result is remembered by (SHA-256 of the bytes, record): the service re-loads
        # every list per request, and changed bytes never hit the cache (they are verified afresh).
        memo = (hashlib.sha256(data).digest(), json.dumps(acc, sort_keys=True))
        hit = _VERIFIED.get(memo)
        if hit is not None:
            return hit
        tl = parse_and_verify(data, pinned_keys=_keys_from(acc["keys"]), threshold=acc["threshold"],
                              previous=None, at=datetime.fromisoformat(acc["verified_at"]))
        if len(_VERIFIED) >= MAX_CACHED_LISTS:
            _VERIFIED.pop(next(iter(_VERIFIED)))
        _VERIFIED[memo] = tl
        return tl

    def held(self, region: str) -> TrustList | None:
        """The current verified list of ``region`` (``None`` if none verifies)."""
        meta = self._meta(region)
        for name in ("current.json", "last_good.json"):
            if (self._dir(region) / name).exists():
                try:
                    return self._load_one(region, name, meta)
                except EsignError:
                    continue
        return None

    def import_list(self, data: bytes, *, at: datetime, source: str, region: str | None = None,
                    pins: list[VerifyingKey] | None = None, threshold: int | None = None) -> TrustList:
        """Verify ``data`` against the pins (first import) or the held list (rotation, rollback) and store it.

        Raises:
            TrustListError family (malformed, bad signature, threshold, rollback, expired), BadInputError.
        """
        if len(data) > MAX_LIST_BYTES:
            raise BadInputError("trust list too large", message_zh="信任列表过大", field="list")
        if region is None:
            try:
                region = json.loads(data)["signed"]["region"]
            except (ValueError, KeyError, TypeError):
                region = None
            if not isinstance(region, str):
                raise BadInputError("cannot tell the region of this list", message_zh="无法识别信任列表的地区",
                                    field="list")
        if pins:
            self.pin(region, pins, threshold or 1)
        meta = self._meta(region)
        previous = self.held(region)
        if previous is None and not meta.get("pins"):
            raise BadInputError(f"region {region} has no pinned list-signing key: pass --pin", field="pin",
                                message_zh=f"地区 {region} 尚未固定列表签名公钥")
        pinned = _keys_from(meta.get("pins", []))
        tl = parse_and_verify(data, pinned_keys=pinned or None, threshold=meta.get("pin_threshold"),
                              previous=previous, at=at)
        if previous is not None and tl.digest == previous.digest:
            accepted = meta.get("current.json:accepted_by")
        else:
            chain = ({k.keyid: public_key_from_spki(k.spki) for k in previous.keys}, previous.threshold) \
                if previous is not None else (pinned, meta["pin_threshold"])
            accepted = {"keys": _keys_json(chain[0]), "threshold": chain[1], "verified_at": at.isoformat()}
            d = self._dir(region)
            if (d / "current.json").exists() and previous is not None:
                _atomic(d / "last_good.json", previous.raw)
                meta["last_good.json:accepted_by"] = meta.get("current.json:accepted_by")
            _atomic(d / "current.json", data)
        meta.update({"current.json:accepted_by": accepted, "source": source, "last_refresh": at.isoformat(),
                     "last_good": at.isoformat(), "error": None})
        self._save_meta(region, meta)
        return tl

    def record_failure(self, region: str, exc: EsignError, *, at: datetime) -> None:
        """Remember why the last import/refresh of ``region`` failed (the held list stays)."""
        meta = self._meta(region)
        meta.update({"last_refresh": at.isoformat(), "error": {"en": exc.message, "zh": exc.message_zh}})
        self._save_meta(region, meta)

    def regions(self) -> list[str]:
        """Regions with something stored."""
        if not self.base.is_dir():
            return []
        return sorted(p.name for p in self.base.iterdir() if p.is_dir() and p.name != "own")

    def source(self, region: str) -> str:
        """Where ``region``'s list was imported from."""
        src = self._meta(region).get("source")
        if not src:
            raise NotFoundError(f"no trust list imported for region {region}", message_zh="未导入该地区的信任列表")
        return str(src)

    def refresh(self, region: str, *, fetcher: Fetcher, at: datetime) -> TrustList:
        """Download ``region``'s list from its recorded URL and import it; failures are recorded and re-raised."""
        src = self.source(region)
        if not src.startswith(("http://", "https://")):
            raise BadInputError(f"region {region} was imported from a file ({src}); import it again",
                                message_zh="该信任列表来自文件，无法自动刷新", field="region")
        try:
            return self.import_list(fetcher.fetch(src, max_bytes=MAX_LIST_BYTES), at=at, source=src, region=region)
        except EsignError as exc:
            self.record_failure(region, exc, at=at)
            raise

    def registry(self, *, local_region: str, at: datetime, recognition: RecognitionPolicy | None = None,
                 validation: ValidationPolicy | None = None) -> TrustRegistry:
        """A registry of every stored list (re-verified now); broken ones recorded with the reason."""
        reg = TrustRegistry(local_region=local_region, recognition=recognition, validation=validation)
        for region in self.regions():
            meta = self._meta(region)
            tl = self.held(region)
            if tl is not None:
                reg.add(tl, at=datetime.fromisoformat(meta.get("last_good") or at.isoformat()),
                        source=meta.get("source", ""))
            err = meta.get("error")
            if tl is None:
                en = "the stored list does not verify (tampered or corrupt)" if (self._dir(region) / "current.json"
                                                                                ).exists() else "no list stored"
                reg.mark_failed(region, at=at, en=err["en"] if err else en, zh=err["zh"] if err else "信任列表无法验证",
                                source=meta.get("source", ""))
            elif err:
                reg.mark_failed(region, at=datetime.fromisoformat(meta["last_refresh"]), en=err["en"], zh=err["zh"])
        return reg


async def _refresh_loop(app: Any, interval: float) -> None:
    store = TrustListStore.for_settings(app.state.settings)
    fetcher = getattr(app.state, "trust_fetcher", None) or HttpFetcher()
    while True:
        await asyncio.sleep(interval)
        for region in store.regions():
            try:
                src = store.source(region)
            except EsignError:
                continue
            if not src.startswith(("http://", "https://")):
                continue
            try:
                await asyncio.to_thread(store.refresh, region, fetcher=fetcher, at=app.state.clock.now())
                _log.info("trust list refreshed", extra={"region": region})
            except EsignError as exc:
                _log.warning("trust list refresh failed; keeping the last good copy",
                             extra={"region": region, "code": exc.code, "reason": exc.message})


def start_refresher(app: Any, *, interval: float | None = None) -> asyncio.Task[None]:
    """Start refreshing every URL-imported list every ``interval`` seconds (default from settings:
    ``trust_refresh_seconds``, else :data:`DEFAULT_REFRESH_SECONDS`). Call from the lifespan."""
    seconds = interval or getattr(app.state.settings, "trust_refresh_seconds", None) or DEFAULT_REFRESH_SECONDS
    task = asyncio.get_running_loop().create_task(_refresh_loop(app, float(seconds)), name="trust-refresher")
    app.state.trust_refresher = task
    return task


async def stop_refresher(app: Any) -> None:
    """Cancel the refresher started by :func:`start_refresher` (no-op if none)."""
    task = getattr(app.state, "trust_refresher", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        app.state.trust_refresher = None
