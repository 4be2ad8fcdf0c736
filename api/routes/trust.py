"""Trust lists over HTTP.

- ``GET /v1/trust-list`` (public): this region's current signed list, byte for byte.
- ``POST /v1/trust-lists`` (admin): import another region's list, from the JSON body
  (``{"list": <envelope>}``) or a URL (``{"url": ...}``), checked against pinned list-signing
  keys (``pins``: PEM public keys or certificates, required on a first import) and ``threshold``.
- ``GET /v1/trust-lists`` (any role): imported lists with version, expiry, last refresh, status.
- ``POST /v1/trust-lists/{region}/refresh`` (admin): fetch again from the recorded URL.

Imports and refreshes are audited (region, version, digest). A list that fails keeps the last
good copy in use and records the error, shown in ``GET /v1/trust-lists``.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from api.auth import AuthPrincipal, Role, require_role
from api.deps import SystemClock, get_audit, get_clock, get_settings
from api.schemas import PROBLEM_RESPONSES
from api.settings import Settings
from api.storage.audit import SqlAuditLog
from api.trust_store import HttpFetcher, TrustListStore
from keys.errors import BadInputError, EsignError
from keys.keypairs import load_public_key
from keys.trustlist import MAX_LIST_BYTES, TrustList

__all__ = ["router"]

router = APIRouter(tags=["trust lists"], responses=PROBLEM_RESPONSES)
_admin = require_role(Role.ADMIN)


class ImportRequest(BaseModel):
    """Import a trust list from the body or a URL."""

    envelope: dict[str, Any] | None = Field(default=None, alias="list",
                                            description="The signed envelope {signed, signatures}")
    url: str | None = Field(default=None, description="Where to fetch the list (recorded for refreshes)")
    pins: list[str] = Field(default_factory=list, description="PEM public keys or certificates to pin")
    threshold: int | None = Field(default=None, ge=1, le=32)


def _store(settings: Settings) -> TrustListStore:
    return TrustListStore.for_settings(settings)


def _summary(tl: TrustList) -> dict[str, Any]:
    return {"region": tl.region, "version": tl.version, "digest": tl.digest, "issued_at": tl.issued_at.isoformat(),
            "expires_at": tl.expires_at.isoformat(), "entries": len(tl.entries), "signed_by": list(tl.signed_by)}


@router.get("/v1/trust-list", summary="This region's signed trust list (public)", response_class=Response,
            responses={200: {"content": {"application/json": {}}}})
def get_trust_list(settings: Settings = Depends(get_settings)) -> Response:  # noqa: B008
    """The envelope exactly as signed by ``esign trust publish``."""
    return Response(_store(settings).published(), media_type="application/json",
                    headers={"Cache-Control": "public, max-age=300"})


@router.post("/v1/trust-lists", summary="Import another region's trust list (admin)", status_code=201)
def import_trust_list(
    body: ImportRequest,
    request: Request,
    principal: AuthPrincipal = Depends(_admin),  # noqa: B008
    settings: Settings = Depends(get_settings),  # noqa: B008
    audit: SqlAuditLog = Depends(get_audit),  # noqa: B008
    clock: SystemClock = Depends(get_clock),  # noqa: B008
) -> dict[str, Any]:
    """201 with the imported list's summary; 400/409/422 problems for malformed, rolled back or badly signed lists."""
    if (body.envelope is None) == (body.url is None):
        raise BadInputError("give exactly one of 'list' and 'url'", message_zh="list 与 url 须且只能给出一个",
                            field="list")
    pins = [load_public_key(p.encode()) for p in body.pins]
    if body.url is not None:
        fetcher = getattr(request.app.state, "trust_fetcher", None) or HttpFetcher()
        data, source = fetcher.fetch(body.url, max_bytes=MAX_LIST_BYTES), body.url
    else:
        data, source = json.dumps(body.envelope, ensure_ascii=False).encode(), "upload"
    now = clock.now()
    store = _store(settings)
    try:
        tl = store.import_list(data, at=now, source=source, pins=pins or None, threshold=body.threshold)
    except EsignError as exc:
        region = (body.envelope or {}).get("signed", {}).get("region") if body.envelope else None
        if isinstance(region, str) and region in store.regions():
            store.record_failure(region, exc, at=now)
        audit.append(actor=principal.id, action="trust.import_failed", object_type="trust_list",
                     object_id=str(region or source)[:64], details={"code": exc.code, "source": source[:200]})
        raise
    audit.append(actor=principal.id, action="trust.import", object_type="trust_list", object_id=tl.region,
                 details={"version": tl.version, "digest": tl.digest, "source": source[:200]})
    return _summary(tl)


@router.get("/v1/trust-lists", summary="Imported trust lists and their status")
def list_trust_lists(
    principal: AuthPrincipal = Depends(require_role(*Role)),  # noqa: B008
    settings: Settings = Depends(get_settings),  # noqa: B008
    clock: SystemClock = Depends(get_clock),  # noqa: B008
) -> dict[str, Any]:
    """Every region held: version, expiry, last refresh, status (current / expired / broken) and last error."""
    now = clock.now()
    reg = _store(settings).registry(local_region=settings.region, at=now)
    return {"region": settings.region, "lists": [r.to_dict(now) for r in reg.records()]}


@router.post("/v1/trust-lists/{region}/refresh", summary="Fetch a region's list again from its URL (admin)")
def refresh_trust_list(
    region: str,
    request: Request,
    principal: AuthPrincipal = Depends(_admin),  # noqa: B008
    settings: Settings = Depends(get_settings),  # noqa: B008
    audit: SqlAuditLog = Depends(get_audit),  # noqa: B008
    clock: SystemClock = Depends(get_clock),  # noqa: B008
) -> dict[str, Any]:
    """200 with the summary; on failure the last good copy stays in use and the error is returned as a problem."""
    fetcher = getattr(request.app.state, "trust_fetcher", None) or HttpFetcher()
    try:
        tl = _store(settings).refresh(region, fetcher=fetcher, at=clock.now())
    except EsignError as exc:
        audit.append(actor=principal.id, action="trust.refresh_failed", object_type="trust_list", object_id=region,
                     details={"code": exc.code})
        raise
    audit.append(actor=principal.id, action="trust.refresh", object_type="trust_list", object_id=tl.region,
                 details={"version": tl.version, "digest": tl.digest})
    return _summary(tl)
