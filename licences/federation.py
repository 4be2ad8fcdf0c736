"""The holder's wallet across deployments: local licences plus those held by peer deployments, merged.

Provinces may run separate esign deployments. A holder signs in at one of them (the home
deployment); the home deployment asks each configured peer for the licences it holds for that
holder ID (system to system, with an administratively issued ``wallet`` credential) and merges them
with its own (:func:`federate`). The transport is a :class:`PeerDirectory` (the HTTP one lives in
``api.peers``), so this module runs without a network.

Rules:

- **Fail soft.** A peer that cannot be reached, times out, answers too much, answers garbage or
  refuses never fails the holder's request: its region is reported as ``"unreachable: <reason>"``
  or ``"refused: <HTTP status>"`` and the other regions' licences are still listed; ``"ok"`` otherwise.
- **Peer answers are untrusted input.** Each item is rebuilt from the known keys only
  (:data:`ITEM_KEYS`), type-checked, and must carry the asked holder ID (GB/T 36903 element
  ``CZZTDM``); one bad item rejects that peer's whole answer (``"unreachable: invalid response (...)"``),
  because a peer that mixes up holders cannot be trusted for the rest either.
- **De-duplicated by licence identifier**, local first, then peers in region-code order (the first
  copy wins; a licence identifier names one version of one licence of one issuer, so two copies
  are the same version). Each item says where it came from (``source``: ``local`` or the region).
- Newest first (by issuing date), as the local listing.
- One hop only: the peer endpoint answers with its own licences and never asks further, so
  deployments that list each other cannot loop.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from keys.errors import BackendUnavailableError, EsignError
from licences.errors import InvalidFieldError
from licences.identifiers import parse_licence_id, validate_id_number, validate_uscc
from licences.model import Licence, LicenceStatus, effective_status, metadata

__all__ = [
    "ITEM_KEYS",
    "MAX_PEER_ITEMS",
    "FederatedWallet",
    "PeerDirectory",
    "PeerRefusedError",
    "PeerUnreachableError",
    "check_peer_items",
    "federate",
    "validate_holder_id",
    "wallet_item",
]

#: Keys of one wallet item (``GET /v1/wallet/licences``, ``GET /v1/holders/{id}/licences``).
ITEM_KEYS = ("licence_id", "region", "authority", "type_code", "type_name", "version", "status", "supersedes",
             "superseded_by", "metadata", "fields")
#: Most items accepted from one peer (the local listing's own cap).
MAX_PEER_ITEMS = 1000
_MAX_WORKERS = 8
_MAX_TEXT = 500
_STATUSES = frozenset(s.value for s in LicenceStatus)


class PeerUnreachableError(BackendUnavailableError):
    """A peer could not be asked or its answer is unusable (connection, timeout, size, 5xx, malformed)."""

    code = "peer_unreachable"
    default_zh = "无法从其他地区的部署获取证照"

    def __init__(self, reason: str, **kw: Any) -> None:
        super().__init__(reason, **kw)
        self.reason = reason


class PeerRefusedError(BackendUnavailableError):
    """A peer answered the request with a 4xx status (revoked or wrong credential, bad request)."""

    code = "peer_refused"
    default_zh = "其他地区的部署拒绝了请求"

    def __init__(self, status: int, **kw: Any) -> None:
        super().__init__(f"peer refused with HTTP {status}", **kw)
        self.status = status


class PeerDirectory(Protocol):
    """The configured peer deployments and a way to ask one of them."""

    def regions(self) -> Sequence[str]:
        """Region codes of the peers, in the order to ask them."""
        ...

    def fetch(self, region: str, holder_id: str) -> object:
        """The peer's decoded JSON answer for ``holder_id`` (untrusted; checked by :func:`check_peer_items`).

        Raises:
            PeerUnreachableError: not reachable, timed out, too large, not JSON, 5xx.
            PeerRefusedError: a 4xx answer.
        """
        ...


@dataclass(frozen=True)
class FederatedWallet:
    """Merged listing and how each peer answered."""

    licences: list[dict[str, Any]]
    regions: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``{"licences": [...], "regions": {region: outcome}}``."""
        return {"licences": self.licences, "regions": dict(self.regions)}


def validate_holder_id(value: object, *, field: str = "holder_id") -> str:
    """A resident ID number (GB 11643, 18 characters) or a USCC (GB 32100), check character included.

    Raises:
        InvalidFieldError: not a string, wrong length or characters, or wrong check character (422, naming ``field``).
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidFieldError(f"{field}: a resident ID number or a unified social credit code is required",
                                message_zh="须为公民身份号码或统一社会信用代码", field=field)
    if value.strip()[:17].isdigit():  # a resident ID number is 17 digits and a check character
        return validate_id_number(value, field=field).number
    return validate_uscc(value, field=field).code


def wallet_item(lic: Licence, at: datetime) -> dict[str, Any]:
    """One licence version as the wallet lists it, with the effective status at ``at``."""
    return {"licence_id": lic.licence_id, "region": lic.region, "authority": lic.authority_id,
            "type_code": lic.type_code, "type_name": lic.type_name, "version": lic.version,
            "status": effective_status(lic, at).value, "supersedes": lic.supersedes,
            "superseded_by": lic.superseded_by, "metadata": metadata(lic, at=at), "fields": dict(lic.fields)}


def _bad(why: str) -> PeerUnreachableError:
    return PeerUnreachableError(f"invalid response ({why})", message_zh="其他地区的部署返回的数据无效", field="region")


def _text(v: object, name: str, *, optional: bool = False) -> str | None:
    if v is None and optional:
        return None
    if not isinstance(v, str) or not v or len(v) > _MAX_TEXT:
        raise _bad(f"{name} is not a short string")
    return v


def _scalars(v: object, name: str) -> dict[str, str | int | None]:
    if not isinstance(v, dict) or len(v) > 100:
        raise _bad(f"{name} is not an object")
    out: dict[str, str | int | None] = {}
    for k, x in v.items():
        if not isinstance(k, str) or len(k) > 64:
            raise _bad(f"{name} has a bad key")
        if x is not None and (isinstance(x, bool) or not isinstance(x, str | int) or
                              (isinstance(x, str) and len(x) > 2000)):
            raise _bad(f"{name}.{k} is not a string or integer")
        out[k] = x
    return out


def check_peer_items(payload: object, holder_id: str) -> list[dict[str, Any]]:
    """Check a peer's answer and rebuild its items from :data:`ITEM_KEYS` only.

    Raises:
        PeerUnreachableError: not a list, too many items, an item of the wrong shape, or an item of another holder.
    """
    if not isinstance(payload, list):
        raise _bad("not a list")
    if len(payload) > MAX_PEER_ITEMS:
        raise _bad(f"more than {MAX_PEER_ITEMS} licences")
    out: list[dict[str, Any]] = []
    for raw in payload:
        if not isinstance(raw, dict):
            raise _bad("an item is not an object")
        lid = _text(raw.get("licence_id"), "licence_id")
        try:
            parse_licence_id(lid)
        except EsignError:
            raise _bad("licence_id is not a licence identifier") from None
        version = raw.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= 10_000:
            raise _bad("version is not a positive integer")
        status = raw.get("status")
        if status not in _STATUSES:
            raise _bad("status is not a licence status")
        meta = _scalars(raw.get("metadata"), "metadata")
        if meta.get("CZZTDM") != holder_id:
            raise _bad("a licence of another holder")
        out.append({"licence_id": lid, "region": _text(raw.get("region"), "region"),
                    "authority": _text(raw.get("authority"), "authority"),
                    "type_code": _text(raw.get("type_code"), "type_code"),
                    "type_name": _text(raw.get("type_name"), "type_name"), "version": version, "status": status,
                    "supersedes": _text(raw.get("supersedes"), "supersedes", optional=True),
                    "superseded_by": _text(raw.get("superseded_by"), "superseded_by", optional=True),
                    "metadata": meta, "fields": _scalars(raw.get("fields"), "fields")})
    return out


def _ask(peers: PeerDirectory, region: str, holder_id: str) -> tuple[str, list[dict[str, Any]]]:
    try:
        return "ok", check_peer_items(peers.fetch(region, holder_id), holder_id)
    except PeerRefusedError as exc:
        return f"refused: {exc.status}", []
    except PeerUnreachableError as exc:
        return f"unreachable: {exc.reason}", []
    except EsignError as exc:  # a directory's own typed failure (e.g. an unreadable token file)
        return f"unreachable: {exc.message}", []


def _issued_on(item: Mapping[str, Any]) -> str:
    v = item["metadata"].get("ZZBFRQ")
    return v if isinstance(v, str) else ""


def federate(local: Sequence[Mapping[str, Any]], holder_id: str, peers: PeerDirectory, *,
             on_outcome: Callable[[str, str], None] | None = None) -> FederatedWallet:
    """Local wallet items plus every peer's for ``holder_id``; see the module docstring for the rules.

    Peers are asked in parallel (at most 8 at a time), so the wait is about the slowest peer's
    time-out, not their sum. ``on_outcome(region, outcome)`` is called once per peer (for logging).
    """
    regions = sorted(dict.fromkeys(peers.regions()))
    answers: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    if regions:
        with ThreadPoolExecutor(max_workers=min(_MAX_WORKERS, len(regions)),
                                thread_name_prefix="esign-peer") as pool:
            # each task runs in a copy of the caller's context (request id for the peer's logs, ...)
            futures = {r: pool.submit(contextvars.copy_context().run, _ask, peers, r, holder_id) for r in regions}
            answers = {r: f.result() for r, f in futures.items()}
    merged: list[dict[str, Any]] = []
    seen: set[str] = set()
    for source, items in [("local", list(local)), *((r, answers[r][1]) for r in regions)]:
        for item in items:
            if item["licence_id"] in seen:
                continue
            seen.add(item["licence_id"])
            merged.append({**item, "source": source})
    merged.sort(key=_issued_on, reverse=True)  # stable: within a day, local first and each source's own order
    outcomes = {r: answers[r][0] for r in regions}
    if on_outcome is not None:
        for r, o in outcomes.items():
            on_outcome(r, o)
    return FederatedWallet(licences=merged, regions=outcomes)
