"""Electronic licences over HTTP: issue, read, download the signed licence, lifecycle, bulk, catalogue, status lists.

Access (roles are not hierarchical; a principal bound to a region acts only there, ``*`` everywhere):

- ``POST /v1/licences``, ``POST /v1/licences/bulk`` (multipart), ``POST /v1/licences/{id}/revoke|suspend|
  reinstate|correct``: ``issuer`` of the authority's region.
- ``GET /v1/licences/{id}``, ``GET /v1/licences/{id}/signed``, ``GET /v1/licences/{id}/events``: ``admin``/``issuer``
  of the licence's region; ``verifier``/``staff`` of any region (cross-region checking is the point); never
  ``holder``/``signer`` (no holder binding yet).
- ``GET /v1/licence-types``, ``GET /v1/issuing-authorities``: any principal. ``POST /v1/licence-types`` and
  ``POST /v1/issuing-authorities``: ``admin``.
- ``GET /v1/status-lists/{authority}``: public (no token), the signed CBOR status list, cached until the
  authority's next change or half its TTL.

Every refusal is a problem JSON with ``field`` (400/403/404/409/422) and writes nothing.
"""

from __future__ import annotations

import base64
import threading
import time
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile, status
from pydantic import BaseModel, Field

from api.auth import ALL_REGIONS, AuthPrincipal, Role, require_region, require_role
from api.deps import SystemClock, get_clock, get_settings
from api.logging import pii_hash
from api.routes.keys import get_keystore
from api.schemas import PROBLEM_RESPONSES
from api.settings import Settings
from api.storage.licences import SqlLicenceRepository
from api.storage.seals import SqlSealRegister
from keys.errors import BadInputError, PermissionDeniedError
from licences.bulk import MAX_BULK_BYTES, issue_bulk
from licences.catalogue import licence_type_from_dict, licence_type_to_dict
from licences.issuance import LicenceService
from licences.lifecycle import correct, reinstate, revoke, suspend
from licences.model import IssuingAuthority, Licence, SignatureFormat, effective_status, metadata
from licences.status import DEFAULT_TTL, DEFAULT_VALIDITY, publish_status_list

__all__ = ["STATUS_LIST_MEDIA_TYPE", "current_status_list", "get_licence_service", "router"]

router = APIRouter(tags=["licences"], responses=PROBLEM_RESPONSES)
_issuer = require_role(Role.ISSUER)
_admin = require_role(Role.ADMIN)
_reader = require_role(Role.ADMIN, Role.ISSUER, Role.VERIFIER, Role.STAFF)
_anyone = require_role(*Role)
_lock = threading.Lock()
#: Media type of a signed status list.
STATUS_LIST_MEDIA_TYPE = "application/vnd.esign.status-list+cbor"
_SIGNED_MEDIA_TYPE = "application/vnd.esign.signed-licence+json"


def get_licence_service(request: Request) -> LicenceService:
    """The app's licence service (SQL repository, service key store, seal register), made once."""
    state = request.app.state
    svc: LicenceService | None = getattr(state, "licence_service", None)
    if svc is None:
        with _lock:
            svc = getattr(state, "licence_service", None)
            if svc is None:
                svc = LicenceService(SqlLicenceRepository(state.db, audit=state.audit), keys=get_keystore(request),
                                     seals=SqlSealRegister(state.db, audit=state.audit), pii_hash=pii_hash)
                state.licence_service = svc
                state.licence_status_cache = {}
    return svc


class IssueRequest(BaseModel):
    """A licence to issue."""

    authority: str = Field(description="Issuing authority id", examples=["demo-440000"])
    type_code: str = Field(description="证照类型代码 (21 characters)", examples=["11100000000013127D001"])
    fields: dict[str, Any] = Field(description="Field values by name, per the type's schema")
    valid_from: date | None = Field(default=None, description="Start of validity (default: today)")


class ChangeRequest(BaseModel):
    """Why the status changes."""

    reason: str = Field(default="", max_length=500, description="No personal data")


class CorrectRequest(BaseModel):
    """A correction: the changed fields (``null`` removes an optional one)."""

    fields: dict[str, Any]
    reason: str = Field(default="", max_length=500)
    valid_from: date | None = None


class LicenceOut(BaseModel):
    """A licence version: GB/T 36903 metadata, fields, status and links."""

    licence_id: str
    metadata: dict[str, Any]
    fields: dict[str, Any]
    status: str
    stored_status: str
    status_reason: str
    version: int
    supersedes: str | None
    superseded_by: str | None
    status_list: dict[str, Any]
    signature_format: str
    signed_url: str


class CorrectOut(BaseModel):
    """The superseded version and the new one."""

    superseded: LicenceOut
    licence: LicenceOut


class EventOut(BaseModel):
    """One lifecycle event."""

    action: str
    from_status: str | None
    to_status: str
    actor: str
    reason: str
    at: datetime
    related_id: str | None


class AuthorityIn(BaseModel):
    """An issuing authority to register (its key and seal must exist)."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{2,63}$")
    region: str | None = Field(default=None, description="Default: the admin's region (or the deployment's)")
    name: str = Field(min_length=1, max_length=200)
    uscc: str
    allowed_types: list[str] = Field(min_length=1)
    key_id: str
    seal_id: str | None = None
    signature_format: SignatureFormat = SignatureFormat.SES


class AuthorityOut(BaseModel):
    """A registered issuing authority."""

    id: str
    region: str
    name: str
    uscc: str
    allowed_types: list[str]
    key_id: str
    seal_id: str | None
    signature_format: str
    certificate_b64: str
    created_at: datetime


def _out(lic: Licence, now: datetime) -> LicenceOut:
    return LicenceOut(licence_id=lic.licence_id, metadata=metadata(lic, at=now), fields=dict(lic.fields),
                      status=effective_status(lic, now).value, stored_status=lic.status.value,
                      status_reason=lic.status_reason, version=lic.version, supersedes=lic.supersedes,
                      superseded_by=lic.superseded_by,
                      status_list={"authority": lic.authority_id, "index": lic.status_index,
                                   "url": f"/v1/status-lists/{lic.authority_id}"},
                      signature_format=lic.signature_format.value, signed_url=f"/v1/licences/{lic.licence_id}/signed")


def _auth_out(a: IssuingAuthority) -> AuthorityOut:
    return AuthorityOut(id=a.id, region=a.region, name=a.name, uscc=a.uscc, allowed_types=list(a.allowed_types),
                        key_id=a.key_id, seal_id=a.seal_id, signature_format=a.signature_format.value,
                        certificate_b64=base64.b64encode(a.certificate).decode(), created_at=a.created_at)


def _readable(svc: LicenceService, principal: AuthPrincipal, licence_id: str) -> Licence:
    lic = svc.repo.get_licence(licence_id)
    if principal.role in (Role.ADMIN, Role.ISSUER):
        require_region(principal, lic.region)
    return lic


# --- licences ----------------------------------------------------------------------------------


@router.post("/v1/licences", response_model=LicenceOut, status_code=status.HTTP_201_CREATED,
             summary="Issue a licence (canonical document signed by the authority)")
def issue_licence(body: IssueRequest, principal: AuthPrincipal = Depends(_issuer),  # noqa: B008
                  svc: LicenceService = Depends(get_licence_service),  # noqa: B008
                  clock: SystemClock = Depends(get_clock)) -> LicenceOut:  # noqa: B008
    """Validates every field against the type (check characters included) and the authority's rights."""
    now = clock.now()
    lic = svc.issue(body.authority, body.type_code, body.fields, actor=principal.id, at=now, region=principal.region,
                    valid_from=body.valid_from)
    return _out(lic, now)


@router.post("/v1/licences/bulk", summary="Issue licences from a CSV or JSON-lines file (per-row report)")
async def bulk_issue(request: Request, file: UploadFile = File(...),  # noqa: B008
                     authority: str = Form(...), type_code: str = Form(...),
                     format: str | None = Form(default=None, description="csv or jsonl (default: from the file name)"),
                     principal: AuthPrincipal = Depends(_issuer),  # noqa: B008
                     svc: LicenceService = Depends(get_licence_service),  # noqa: B008
                     clock: SystemClock = Depends(get_clock)) -> dict[str, Any]:  # noqa: B008
    """Each row is validated and issued on its own; a bad row is reported and the others go on."""
    data = await file.read(MAX_BULK_BYTES + 1)
    if len(data) > MAX_BULK_BYTES:
        raise BadInputError("bulk file too large", message_zh="批量文件过大", field="file")
    fmt = format or ("csv" if (file.filename or "").lower().endswith(".csv") else "jsonl")
    from starlette.concurrency import run_in_threadpool

    report = await run_in_threadpool(issue_bulk, svc, authority, type_code, data, fmt=fmt, actor=principal.id,
                                     at=clock.now(), region=principal.region)
    return report.to_dict()


@router.get("/v1/licences/{licence_id}", response_model=LicenceOut, summary="One licence version")
def show_licence(licence_id: str, principal: AuthPrincipal = Depends(_reader),  # noqa: B008
                 svc: LicenceService = Depends(get_licence_service),  # noqa: B008
                 clock: SystemClock = Depends(get_clock)) -> LicenceOut:  # noqa: B008
    """Metadata (GB/T 36903 element codes), fields, effective status (``expired`` derived) and links."""
    return _out(_readable(svc, principal, licence_id), clock.now())


@router.get("/v1/licences/{licence_id}/signed", summary="The canonical signed licence", response_class=Response,
            responses={200: {"content": {_SIGNED_MEDIA_TYPE: {}}}})
def download_signed(licence_id: str, principal: AuthPrincipal = Depends(_reader),  # noqa: B008
                    svc: LicenceService = Depends(get_licence_service)) -> Response:  # noqa: B008
    """The exact bytes signed at issuance; verify with ``esign verify`` or ``verifier.licence.verify_licence``."""
    lic = _readable(svc, principal, licence_id)
    return Response(content=lic.signed, media_type=_SIGNED_MEDIA_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{lic.licence_id}.json"'})


@router.get("/v1/licences/{licence_id}/events", response_model=list[EventOut], summary="Lifecycle events")
def licence_events(licence_id: str, principal: AuthPrincipal = Depends(_reader),  # noqa: B008
                   svc: LicenceService = Depends(get_licence_service)) -> list[EventOut]:  # noqa: B008
    """Oldest first: who changed what, when and why."""
    _readable(svc, principal, licence_id)
    return [EventOut(action=e.action, from_status=None if e.from_status is None else e.from_status.value,
                     to_status=e.to_status.value, actor=e.actor, reason=e.reason, at=e.at, related_id=e.related_id)
            for e in svc.repo.events(licence_id)]


def _lifecycle(op: Any, licence_id: str, body: ChangeRequest, principal: AuthPrincipal, svc: LicenceService,
               clock: SystemClock) -> LicenceOut:
    now = clock.now()
    return _out(op(svc, licence_id, actor=principal.id, reason=body.reason, at=now, region=principal.region), now)


@router.post("/v1/licences/{licence_id}/revoke", response_model=LicenceOut, summary="Revoke (final; 409 if revoked)")
def revoke_licence(licence_id: str, body: ChangeRequest, principal: AuthPrincipal = Depends(_issuer),  # noqa: B008
                   svc: LicenceService = Depends(get_licence_service),  # noqa: B008
                   clock: SystemClock = Depends(get_clock)) -> LicenceOut:  # noqa: B008
    """Valid or suspended -> revoked."""
    return _lifecycle(revoke, licence_id, body, principal, svc, clock)


@router.post("/v1/licences/{licence_id}/suspend", response_model=LicenceOut, summary="Suspend a valid licence")
def suspend_licence(licence_id: str, body: ChangeRequest, principal: AuthPrincipal = Depends(_issuer),  # noqa: B008
                    svc: LicenceService = Depends(get_licence_service),  # noqa: B008
                    clock: SystemClock = Depends(get_clock)) -> LicenceOut:  # noqa: B008
    """Valid -> suspended."""
    return _lifecycle(suspend, licence_id, body, principal, svc, clock)


@router.post("/v1/licences/{licence_id}/reinstate", response_model=LicenceOut, summary="Reinstate a suspended licence")
def reinstate_licence(licence_id: str, body: ChangeRequest, principal: AuthPrincipal = Depends(_issuer),  # noqa: B008
                      svc: LicenceService = Depends(get_licence_service),  # noqa: B008
                      clock: SystemClock = Depends(get_clock)) -> LicenceOut:  # noqa: B008
    """Suspended -> valid."""
    return _lifecycle(reinstate, licence_id, body, principal, svc, clock)


@router.post("/v1/licences/{licence_id}/correct", response_model=CorrectOut,
             summary="Correct or change: a new version supersedes this one")
def correct_licence(licence_id: str, body: CorrectRequest, principal: AuthPrincipal = Depends(_issuer),  # noqa: B008
                    svc: LicenceService = Depends(get_licence_service),  # noqa: B008
                    clock: SystemClock = Depends(get_clock)) -> CorrectOut:  # noqa: B008
    """The old version becomes ``superseded``; the new one has version + 1 and a new identifier."""
    now = clock.now()
    old, new = correct(svc, licence_id, body.fields, actor=principal.id, reason=body.reason, at=now,
                       region=principal.region, valid_from=body.valid_from)
    return CorrectOut(superseded=_out(old, now), licence=_out(new, now))


# --- catalogue and authorities -----------------------------------------------------------------


@router.get("/v1/licence-types", summary="Licence types: national and regional")
def list_types(region: str | None = None, principal: AuthPrincipal = Depends(_anyone),  # noqa: B008
               svc: LicenceService = Depends(get_licence_service)) -> list[dict[str, Any]]:  # noqa: B008
    """National types plus those of ``region`` (default: the caller's; ``*`` admins see every region's)."""
    if region is None and principal.region != ALL_REGIONS:
        region = principal.region
    return [licence_type_to_dict(t) for t in svc.catalogue().types(region=region)]


@router.post("/v1/licence-types", status_code=status.HTTP_201_CREATED, summary="Add a regional licence type (admin)")
def add_type(body: dict[str, Any], principal: AuthPrincipal = Depends(_admin),  # noqa: B008
             svc: LicenceService = Depends(get_licence_service),  # noqa: B008
             settings: Settings = Depends(get_settings),  # noqa: B008
             clock: SystemClock = Depends(get_clock)) -> dict[str, Any]:  # noqa: B008
    """The body is a type definition as in ``GET /v1/licence-types`` (``region`` defaults to the admin's)."""
    region = body.get("region") or (settings.region if principal.region == ALL_REGIONS else principal.region)
    if not isinstance(region, str):
        raise BadInputError("region must be a string", field="region")
    require_region(principal, region)
    t = licence_type_from_dict(body, region=region)
    svc.add_type(t, actor=principal.id, at=clock.now())  # a national code may not be reused
    return licence_type_to_dict(t)


@router.post("/v1/issuing-authorities", response_model=AuthorityOut, status_code=status.HTTP_201_CREATED,
             summary="Register an issuing authority (admin)")
def add_authority(body: AuthorityIn, principal: AuthPrincipal = Depends(_admin),  # noqa: B008
                  svc: LicenceService = Depends(get_licence_service),  # noqa: B008
                  settings: Settings = Depends(get_settings),  # noqa: B008
                  clock: SystemClock = Depends(get_clock)) -> AuthorityOut:  # noqa: B008
    """The key must be in the service key store with a certificate; for SES the seal must list that certificate."""
    region = body.region or (settings.region if principal.region == ALL_REGIONS else principal.region)
    require_region(principal, region)
    if not body.key_id.startswith(f"{region}."):
        raise PermissionDeniedError(f"key {body.key_id} is not a key of region {region}",
                                    message_zh="密钥不属于该地区", field="key_id")
    auth = IssuingAuthority(id=body.id, region=region, name=body.name, uscc=body.uscc,
                            allowed_types=tuple(body.allowed_types), key_id=body.key_id, seal_id=body.seal_id,
                            certificate=b"", signature_format=body.signature_format)
    return _auth_out(svc.register_authority(auth, actor=principal.id, at=clock.now()))


@router.get("/v1/issuing-authorities", response_model=list[AuthorityOut], summary="Issuing authorities")
def list_authorities(region: str | None = None, principal: AuthPrincipal = Depends(_anyone),  # noqa: B008
                     svc: LicenceService = Depends(get_licence_service)) -> list[AuthorityOut]:  # noqa: B008
    """By id; filter by ``region``."""
    return [_auth_out(a) for a in svc.repo.list_authorities(region=region)]


# --- status lists (public) ---------------------------------------------------------------------


@router.get("/v1/status-lists/{authority_id}", response_class=Response, summary="Signed status list (public)",
            responses={200: {"content": {STATUS_LIST_MEDIA_TYPE: {}}}})
def status_list(authority_id: str, request: Request,
                svc: LicenceService = Depends(get_licence_service),  # noqa: B008
                clock: SystemClock = Depends(get_clock)) -> Response:  # noqa: B008
    """2 bits per licence version, zlib, signed by the authority's key; verify with ``esign licence status-list``."""
    data = current_status_list(request, svc, authority_id, clock.now())
    ttl = int(DEFAULT_TTL.total_seconds())
    return Response(content=data, media_type=STATUS_LIST_MEDIA_TYPE,
                    headers={"Cache-Control": f"public, max-age={ttl // 2}"})


def current_status_list(request: Request, svc: LicenceService, authority_id: str, now: datetime) -> bytes:
    """The authority's signed status list as ``GET /v1/status-lists/{authority}`` serves it.

    Cached per app until the authority's next change or half the TTL, whichever comes first, and
    re-signed when the cached copy would not be valid at ``now`` (``iat`` after it, or expired).

    Raises:
        LicenceNotFoundError: no such authority registered here.
    """
    auth = svc.repo.get_authority(authority_id)
    _, changes = svc.repo.status_size(authority_id)
    cache: dict[str, tuple[int, float, bytes, datetime]] = request.app.state.licence_status_cache
    hit = cache.get(authority_id)
    ttl = int(DEFAULT_TTL.total_seconds())
    if (hit is not None and hit[0] == changes and time.monotonic() - hit[1] < ttl / 2
            and hit[3] <= now < hit[3] + DEFAULT_VALIDITY):
        return hit[2]
    data = publish_status_list(svc.repo, auth, key=svc.keys.signing_key(auth.key_id), at=now)
    cache[authority_id] = (changes, time.monotonic(), data, now)
    return data
