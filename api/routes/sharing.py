"""Disputes (异议处理) and the holder's wallet and consent (用证授权) over HTTP.

Objections (``licences.objections``):

- ``POST /v1/objections`` (multipart: ``licence_id``, ``ground``, ``reason``, ``evidence`` files):
  ``staff``, ``verifier``, ``issuer`` of ANY region, or the ``holder`` of the licence. It lands in the
  queue of the licence's issuing authority.
- ``GET /v1/objections``: an ``issuer``/``admin`` sees the queue of its region's authorities (``state``,
  ``authority`` filters); anyone else sees the objections they filed.
- ``GET /v1/objections/{id}`` and ``/evidence/{i}``: the filer, or ``issuer``/``admin`` of the licence's region.
- ``POST /v1/objections/{id}/decision``: ``issuer`` of the licence's region; ``{"accept": true,
  "resolution": "corrected", "fields": {...}, "reason": ...}`` issues the corrected version in the same
  transaction; ``"revoked"`` revokes; ``{"accept": false, "reason": ...}`` rejects.
- ``POST /v1/objections/{id}/withdraw``: the filer.

Wallet and consent (``licences.consent``), for a ``holder`` principal bound to its holder ID (``subject``):

- ``GET /v1/wallet/licences``: every licence issued to the holder, in every region this service holds;
  with ``?federated=true`` also those held by the peer deployments of ``ESIGN_PEERS``
  (``licences.federation``): ``{"licences": [...], "regions": {region: "ok" | "unreachable: ..." |
  "refused: <status>"}}``; a peer that is down or refuses never fails the request (fail soft);
- ``POST /v1/consents``: grant a relying party (an existing ``staff``/``verifier`` principal of any region)
  chosen fields of one licence for a purpose until a time; ``GET /v1/consents``; ``POST /v1/consents/{id}/revoke``;
- ``GET /v1/wallet/uses``: every use of the holder's licences under their grants, served or refused;
- ``POST /v1/consents/{id}/fetch``: the relying party named in the grant gets the current version's granted
  fields as a short-lived ``ESL1:`` token signed by the issuing authority (verify with ``esign verify --qr``),
  with the signer certificate and the status-list URL.

Between deployments (system to system): ``GET /v1/holders/{holder_id}/licences`` for a ``wallet``
principal (a peer deployment's wallet service, any region; that role may call nothing else): the
licences this deployment holds for that holder ID (resident ID number or USCC, check character
checked, 422 naming ``holder_id``), in the wallet's item shape, never asking further peers; audited as
``licence.wallet.federated`` with the holder only as ``pii_hash``; rate-limited per peer principal
(``ESIGN_PEER_RATE_LIMIT`` per ``ESIGN_PEER_RATE_WINDOW`` s, 429 with ``Retry-After``).

Every refusal is a problem JSON naming the field (400/403/404/409/422) and writes nothing (a refused
fetch writes only the use record the holder is entitled to see).
"""

from __future__ import annotations

import base64
import logging
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile, status
from pydantic import BaseModel, Field

from api.auth import ALL_REGIONS, AuthPrincipal, Role, require_role
from api.deps import SystemClock, get_cache, get_clock, get_settings
from api.logging import pii_hash
from api.peers import HttpPeerDirectory
from api.ratelimit import check_rate
from api.routes.licences import get_licence_service
from api.schemas import PROBLEM_RESPONSES
from api.settings import Settings
from api.storage.models import Principal as PrincipalRow
from api.storage.models import utc
from keys.errors import BadInputError, NotFoundError, PermissionDeniedError
from keys.ports import Cache
from licences.consent import (
    RelyingParty,
    consent_to_dict,
    fetch,
    grant,
    revoke_grant,
    use_to_dict,
    uses_of_holder,
    wallet,
)
from licences.federation import federate, validate_holder_id, wallet_item
from licences.issuance import LicenceService
from licences.model import ObjectionState, effective_status
from licences.objections import (
    MAX_EVIDENCE_BYTES,
    MAX_EVIDENCE_FILES,
    Actor,
    EvidenceFile,
    decide,
    file_objection,
    objection_to_dict,
    withdraw,
)

__all__ = ["router"]

router = APIRouter(tags=["objections and consent"], responses=PROBLEM_RESPONSES)
_filer = require_role(Role.HOLDER, Role.STAFF, Role.VERIFIER, Role.ISSUER)
_any = require_role(*Role)
_issuer = require_role(Role.ISSUER)
_holder = require_role(Role.HOLDER)
_relying = require_role(Role.STAFF, Role.VERIFIER)
_wallet = require_role(Role.WALLET)
_log = logging.getLogger("esign.peers")


def _actor(p: AuthPrincipal) -> Actor:
    return Actor(principal=p.id, role=p.role.value, region=p.region, subject=p.subject)


def _subject(p: AuthPrincipal) -> str:
    if not p.subject:
        raise PermissionDeniedError("this holder token is bound to no holder ID", message_zh="持证人令牌未绑定证件号码",
                                    field="subject")
    return p.subject


# --- objections --------------------------------------------------------------------------------


class DecisionIn(BaseModel):
    """The issuing authority's decision."""

    accept: bool
    reason: str = Field(min_length=1, max_length=500)
    resolution: str | None = Field(default=None, description="corrected or revoked (when accepting)")
    fields: dict[str, Any] | None = Field(default=None, description="Corrected field values (for corrected)")


def _may_read(svc: LicenceService, p: AuthPrincipal, objection_id: str) -> Any:
    obj = svc.repo.get_objection(objection_id)
    if obj.filer == p.id:
        return obj
    if p.role in (Role.ISSUER, Role.ADMIN) and p.region in (ALL_REGIONS, obj.region):
        return obj
    raise NotFoundError(f"no objection {objection_id[:64]!r}", message_zh="异议不存在", field="objection_id")


@router.post("/v1/objections", status_code=status.HTTP_201_CREATED, summary="File an objection against a licence")
async def file(request: Request, licence_id: str = Form(..., max_length=128),
               ground: str = Form(..., description="wrong_data, wrong_status, not_holder, suspected_forgery, other"),
               reason: str = Form(..., max_length=500),
               evidence: list[UploadFile] = File(default=[]),  # noqa: B008
               principal: AuthPrincipal = Depends(_filer),  # noqa: B008
               svc: LicenceService = Depends(get_licence_service),  # noqa: B008
               clock: SystemClock = Depends(get_clock)) -> dict[str, Any]:  # noqa: B008
    """Goes to the issuing authority's queue, whatever the filer's region; 201 with the objection to follow."""
    if len(evidence) > MAX_EVIDENCE_FILES:
        raise BadInputError(f"at most {MAX_EVIDENCE_FILES} evidence files", message_zh="证据材料过多", field="evidence")
    files = []
    for i, up in enumerate(evidence):
        data = await up.read(MAX_EVIDENCE_BYTES + 1)
        files.append(EvidenceFile(up.filename or f"evidence-{i}", up.content_type or "application/octet-stream",
                                  data))
    from starlette.concurrency import run_in_threadpool

    obj = await run_in_threadpool(file_objection, svc, licence_id, actor=_actor(principal), ground=ground,
                                  reason=reason, evidence=files, at=clock.now())
    return objection_to_dict(obj)


@router.get("/v1/objections", summary="The authority's queue (issuer/admin) or your own objections")
def list_objections(state: ObjectionState | None = None, authority: str | None = None, limit: int = 100,
                    offset: int = 0, principal: AuthPrincipal = Depends(_any),  # noqa: B008
                    svc: LicenceService = Depends(get_licence_service)) -> list[dict[str, Any]]:  # noqa: B008
    """Newest first. Issuers and admins see their region's queue; other roles their own filings."""
    if principal.role in (Role.ISSUER, Role.ADMIN):
        region = None if principal.region == ALL_REGIONS else principal.region
        ids = [a.id for a in svc.repo.list_authorities(region=region)]
        if authority is not None:
            ids = [a for a in ids if a == authority]
        rows = svc.repo.list_objections(authority_ids=ids, state=state, limit=limit, offset=offset)
    else:
        rows = svc.repo.list_objections(filer=principal.id, state=state, limit=limit, offset=offset)
    return [objection_to_dict(o) for o in rows]


@router.get("/v1/objections/{objection_id}", summary="One objection and where it stands")
def show_objection(objection_id: str, principal: AuthPrincipal = Depends(_any),  # noqa: B008
                   svc: LicenceService = Depends(get_licence_service)) -> dict[str, Any]:  # noqa: B008
    """For the filer and the issuing region's issuers and admins."""
    return objection_to_dict(_may_read(svc, principal, objection_id))


@router.get("/v1/objections/{objection_id}/evidence/{index}", response_class=Response,
            summary="One evidence file")
def evidence_file(objection_id: str, index: int, principal: AuthPrincipal = Depends(_any),  # noqa: B008
                  svc: LicenceService = Depends(get_licence_service)) -> Response:  # noqa: B008
    """The bytes as filed (their SM3 is in the objection)."""
    obj = _may_read(svc, principal, objection_id)
    if not 0 <= index < len(obj.evidence):
        raise NotFoundError("no such evidence file", message_zh="证据材料不存在", field="index")
    e = obj.evidence[index]
    return Response(content=svc.repo.evidence(objection_id, index), media_type=e.media_type,
                    headers={"Content-Disposition": "attachment", "X-Content-SM3": e.sm3})


@router.post("/v1/objections/{objection_id}/decision", summary="Accept (correct or revoke) or reject")
def decide_objection(objection_id: str, body: DecisionIn, principal: AuthPrincipal = Depends(_issuer),  # noqa: B008
                     svc: LicenceService = Depends(get_licence_service),  # noqa: B008
                     clock: SystemClock = Depends(get_clock)) -> dict[str, Any]:  # noqa: B008
    """The licence changes only here, in the same transaction as the decision."""
    _may_read(svc, principal, objection_id)
    obj, lic = decide(svc, objection_id, accept=body.accept, reason=body.reason, actor=principal.id, at=clock.now(),
                      region=principal.region, resolution=body.resolution, changes=body.fields)
    out = objection_to_dict(obj)
    out["licence"] = None if lic is None else {"licence_id": lic.licence_id, "version": lic.version,
                                               "status": lic.status.value, "supersedes": lic.supersedes}
    return out


@router.post("/v1/objections/{objection_id}/withdraw", summary="The filer withdraws an open objection")
def withdraw_objection(objection_id: str, principal: AuthPrincipal = Depends(_any),  # noqa: B008
                       svc: LicenceService = Depends(get_licence_service),  # noqa: B008
                       clock: SystemClock = Depends(get_clock)) -> dict[str, Any]:  # noqa: B008
    """409 once decided."""
    _may_read(svc, principal, objection_id)
    return objection_to_dict(withdraw(svc, objection_id, actor=_actor(principal), at=clock.now()))


# --- wallet and consent ------------------------------------------------------------------------


class GrantIn(BaseModel):
    """A holder's consent."""

    licence_id: str = Field(max_length=128)
    relying_party: str = Field(max_length=40, description="Principal id of the relying system or window")
    fields: list[str] = Field(min_length=1, max_length=16)
    purpose: str = Field(min_length=1, max_length=200)
    expires_at: datetime | None = Field(default=None, description="Default: 30 days from now")


@router.get("/v1/wallet/licences", summary="Every licence issued to the holder, here (and at peer deployments)")
def wallet_licences(request: Request,
                    federated: bool = False,
                    principal: AuthPrincipal = Depends(_holder),  # noqa: B008
                    svc: LicenceService = Depends(get_licence_service),  # noqa: B008
                    settings: Settings = Depends(get_settings),  # noqa: B008
                    clock: SystemClock = Depends(get_clock)) -> list[dict[str, Any]] | dict[str, Any]:  # noqa: B008
    """Newest first, superseded versions included (with their links), with the effective status now.

    ``federated=true``: ``{"licences": [...], "regions": {...}}`` with the peers' licences merged in
    (each item with its ``source``), and how each peer answered; peers never fail the request.
    """
    now = clock.now()
    holder_id = _subject(principal)
    items = [wallet_item(x, now) for x in wallet(svc, holder_id)]
    if not federated:
        return items
    peers = HttpPeerDirectory(settings.peers, clients=getattr(request.app.state, "peer_clients", None))
    return federate(items, holder_id, peers,
                    on_outcome=lambda r, o: _log.info("peer wallet listing", extra={"peer_region": r,
                                                                                    "outcome": o})).to_dict()


@router.get("/v1/holders/{holder_id}/licences",
            summary="For a peer deployment's wallet service: the licences held here for one holder ID")
def holder_licences(holder_id: str, principal: AuthPrincipal = Depends(_wallet),  # noqa: B008
                    svc: LicenceService = Depends(get_licence_service),  # noqa: B008
                    clock: SystemClock = Depends(get_clock),  # noqa: B008
                    settings: Settings = Depends(get_settings),  # noqa: B008
                    cache: Cache = Depends(get_cache)) -> list[dict[str, Any]]:  # noqa: B008
    """The wallet items of this deployment only (never asks further peers); every call is audited.
    Rate-limited per peer principal (``ESIGN_PEER_RATE_LIMIT`` per ``ESIGN_PEER_RATE_WINDOW`` s; 429)."""
    check_rate(cache, bucket="holder_licences", who=principal.id, limit=settings.peer_rate_limit,
               window=settings.peer_rate_window)
    hid = validate_holder_id(holder_id, field="holder_id")
    now = clock.now()
    items = [wallet_item(x, now) for x in wallet(svc, hid)]
    with svc.repo.transaction() as tx:
        tx.add_audit(actor=principal.id, action="licence.wallet.federated", object_type="holder",
                     object_id=pii_hash(hid), details={"holder": pii_hash(hid), "caller": principal.id,
                                                       "caller_region": principal.region, "licences": len(items)})
    return items


@router.get("/v1/wallet/uses", summary="Every use of the holder's licences under their grants")
def wallet_uses(limit: int = 100, offset: int = 0, principal: AuthPrincipal = Depends(_holder),  # noqa: B008
                svc: LicenceService = Depends(get_licence_service)) -> list[dict[str, Any]]:  # noqa: B008
    """Newest first: who fetched which version and fields, for what, and refused attempts."""
    return [use_to_dict(g, u) for g, u in uses_of_holder(svc, _subject(principal), limit=limit, offset=offset)]


@router.post("/v1/consents", status_code=status.HTTP_201_CREATED, summary="Grant a relying party access")
def create_grant(body: GrantIn, request: Request, principal: AuthPrincipal = Depends(_holder),  # noqa: B008
                 svc: LicenceService = Depends(get_licence_service),  # noqa: B008
                 clock: SystemClock = Depends(get_clock)) -> dict[str, Any]:  # noqa: B008
    """Only for the holder's own licence; fields the type allows to share; at most 366 days."""
    now = clock.now()
    with request.app.state.db.session() as s:
        row = s.get(PrincipalRow, body.relying_party)
        if (row is None or utc(row.revoked_at) is not None
                or row.role not in (Role.STAFF.value, Role.VERIFIER.value)):
            raise NotFoundError("no active relying party (staff or verifier principal) with this id",
                                message_zh="使用方不存在或已停用", field="relying_party")
        rp = RelyingParty(principal=row.id, name=row.name, region=row.region)
    expires = body.expires_at or now + timedelta(days=30)
    if expires.tzinfo is None:
        raise BadInputError("expires_at needs a time zone", message_zh="时间必须带时区", field="expires_at")
    _subject(principal)
    g = grant(svc, body.licence_id, holder=_actor(principal), relying_party=rp, fields=body.fields,
              purpose=body.purpose, at=now, expires_at=expires)
    return consent_to_dict(g, at=now)


@router.get("/v1/consents", summary="Grants: a holder's own, or those made to a relying party")
def list_grants(principal: AuthPrincipal = Depends(_any),  # noqa: B008
                svc: LicenceService = Depends(get_licence_service),  # noqa: B008
                clock: SystemClock = Depends(get_clock)) -> list[dict[str, Any]]:  # noqa: B008
    """Newest first."""
    now = clock.now()
    if principal.role is Role.HOLDER:
        rows = svc.repo.list_consents(holder_id=_subject(principal))
    elif principal.role in (Role.STAFF, Role.VERIFIER):
        rows = svc.repo.list_consents(relying_party=principal.id)
    else:
        raise PermissionDeniedError("only holders and relying parties have grants", message_zh="当前角色没有授权记录")
    return [consent_to_dict(g, at=now) for g in rows]


@router.post("/v1/consents/{grant_id}/revoke", summary="The holder revokes a grant")
def revoke_consent(grant_id: str, principal: AuthPrincipal = Depends(_holder),  # noqa: B008
                   svc: LicenceService = Depends(get_licence_service),  # noqa: B008
                   clock: SystemClock = Depends(get_clock)) -> dict[str, Any]:  # noqa: B008
    """409 when already revoked."""
    now = clock.now()
    _subject(principal)
    return consent_to_dict(revoke_grant(svc, grant_id, holder=_actor(principal), at=now), at=now)


@router.post("/v1/consents/{grant_id}/fetch", summary="The relying party fetches the granted licence data")
def fetch_licence(grant_id: str, request: Request, principal: AuthPrincipal = Depends(_relying),  # noqa: B008
                  svc: LicenceService = Depends(get_licence_service),  # noqa: B008
                  clock: SystemClock = Depends(get_clock)) -> dict[str, Any]:  # noqa: B008
    """No upload by the holder: the current version's granted fields, signed by the issuer, verifiable offline."""
    now = clock.now()
    g = svc.repo.get_consent(grant_id)
    status_path = f"/v1/status-lists/{g.authority_id}"
    status_uri = str(request.base_url).rstrip("/") + status_path
    shared = fetch(svc, grant_id, relying_party=principal.id, at=now, status_uri=status_uri)
    authority = svc.repo.get_authority(shared.licence.authority_id)
    return {"grant_id": grant_id, "licence_id": shared.licence.licence_id, "version": shared.licence.version,
            "region": shared.licence.region, "type_code": shared.licence.type_code,
            "status": effective_status(shared.licence, now).value, "disclosed": shared.disclosed,
            "token": shared.token, "token_expires_at": shared.expires_at.isoformat(),
            "signer_certificate_b64": base64.b64encode(authority.certificate).decode(), "status_list": status_uri}
