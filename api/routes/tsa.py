"""RFC 3161 time-stamping, RFC 6960 OCSP and CMS signing over HTTP.

- ``POST /v1/tsa`` (public): body ``application/timestamp-query`` -> ``application/timestamp-reply``.
  A bad request gets a TimeStampResp with status ``rejection`` and a failInfo (HTTP 200, as
  RFC 3161 §3.4 expects), never an error page.
- ``POST /v1/ocsp`` (public, ``application/ocsp-request``) and ``GET /v1/ocsp/{base64}``
  (RFC 6960 Appendix A) -> ``application/ocsp-response``; unknown issuers get ``unauthorized``,
  garbage gets ``malformedRequest``.
- ``POST /v1/cms/sign`` (``issuer`` or ``signer`` role): CMS SignedData with a key from the
  service key store and the certificate attached to it; audited with the data's SHA-256 only.

The TSA and responders are loaded once per app from what :mod:`api.bootstrap_tsa` wrote.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
from datetime import datetime
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from api.auth import AuthPrincipal, Role, require_region, require_role
from api.bootstrap_tsa import TsaServices, load_services
from api.deps import SystemClock, get_audit, get_clock
from api.routes.ca import open_region
from api.routes.keys import get_keystore
from api.schemas import PROBLEM_RESPONSES
from api.storage.audit import SqlAuditLog
from esign.cms import sign_cms
from esign.ocsp import MAX_OCSP_REQUEST_BYTES
from esign.tsa import MAX_TSQ_BYTES, LocalTimeStamper
from keys.errors import BadInputError, KeyStoreError, NotFoundError
from keys.provider import KeyProvider, validate_key_id

__all__ = ["TSQ_MEDIA", "TSR_MEDIA", "get_tsa_services", "router"]

TSQ_MEDIA = "application/timestamp-query"
TSR_MEDIA = "application/timestamp-reply"
OCSP_REQ_MEDIA = "application/ocsp-request"
OCSP_RESP_MEDIA = "application/ocsp-response"
#: Largest content ``/v1/cms/sign`` signs (base64 in JSON).
MAX_CMS_SIGN_BYTES = 8 << 20

router = APIRouter(tags=["time-stamping, OCSP and CMS"], responses=PROBLEM_RESPONSES)
_lock = threading.Lock()
_signer = require_role(Role.ISSUER, Role.SIGNER)


class _AppClock:
    """The app's clock, looked up at each call (tests swap it)."""

    def __init__(self, request: Request) -> None:
        self._state = request.app.state

    def now(self) -> datetime:
        clock: SystemClock = self._state.clock
        return clock.now()


def get_tsa_services(request: Request) -> TsaServices:
    """The app's TSA and OCSP responders, loaded once (503 until bootstrapped)."""
    state = request.app.state
    svc: TsaServices | None = getattr(state, "tsa_services", None)
    if svc is None:
        with _lock:
            svc = getattr(state, "tsa_services", None)
            if svc is None:
                svc = load_services(state.settings, clock=_AppClock(request))
                state.tsa_services = svc
    return svc


async def _body(request: Request, *, media: str, limit: int) -> bytes:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != media:
        raise BadInputError(f"Content-Type must be {media}", message_zh=f"Content-Type 必须为 {media}",
                            field="content-type")
    out = bytearray()
    async for chunk in request.stream():
        out.extend(chunk)
        if len(out) > limit:
            break  # the core rejects oversized input with a protocol-level answer
    return bytes(out)


@router.post("/v1/tsa", summary="RFC 3161 time-stamp (public)", response_class=Response,
             responses={200: {"content": {TSR_MEDIA: {}}}})
async def timestamp(request: Request) -> Response:
    """Body: DER TimeStampReq. Answer: DER TimeStampResp (granted or rejection with failInfo)."""
    svc = get_tsa_services(request)
    tsq = await _body(request, media=TSQ_MEDIA, limit=MAX_TSQ_BYTES)
    return Response(content=svc.tsa.respond(tsq), media_type=TSR_MEDIA)


@router.get("/v1/tsa/certs", summary="The TSA certificate and its issuing CA (PEM, public)", response_class=Response)
def tsa_certs(request: Request) -> Response:
    """PEM: TSA certificate, then its issuing CA."""
    return Response(content=get_tsa_services(request).chain_pem, media_type="application/x-pem-file")


@router.post("/v1/ocsp", summary="RFC 6960 OCSP (public)", response_class=Response,
             responses={200: {"content": {OCSP_RESP_MEDIA: {}}}})
async def ocsp_post(request: Request, clock: SystemClock = Depends(get_clock)) -> Response:  # noqa: B008
    """Body: DER OCSPRequest. Answer: DER OCSPResponse."""
    svc = get_tsa_services(request)
    req = await _body(request, media=OCSP_REQ_MEDIA, limit=MAX_OCSP_REQUEST_BYTES)
    return Response(content=svc.ocsp.respond(req, at=clock.now()), media_type=OCSP_RESP_MEDIA)


@router.get("/v1/ocsp/{encoded:path}", summary="RFC 6960 OCSP over GET (public)", response_class=Response,
            responses={200: {"content": {OCSP_RESP_MEDIA: {}}}})
def ocsp_get(encoded: str, request: Request, clock: SystemClock = Depends(get_clock)) -> Response:  # noqa: B008
    """Path: URL-encoded base64 of the DER OCSPRequest (RFC 6960 Appendix A.1)."""
    svc = get_tsa_services(request)
    text = unquote(encoded)
    if len(text) > MAX_OCSP_REQUEST_BYTES * 2:
        req = b""
    else:
        try:
            req = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            req = b""
    return Response(content=svc.ocsp.respond(req, at=clock.now()), media_type=OCSP_RESP_MEDIA,
                    headers={"Cache-Control": "max-age=300"})


class CmsSignRequest(BaseModel):
    """Content to sign with a store key that has a certificate attached."""

    key_id: str = Field(examples=["440000.enterprise-a"])
    data_b64: str
    detached: bool = True
    gmt0010: bool = Field(default=False, description="SM2: GM/T 0010 content-type OIDs instead of PKCS#7")
    timestamp: bool = Field(default=False, description="Add a signature time-stamp from this service's TSA")
    signed_attrs: bool = True


class CmsSignResponse(BaseModel):
    """The SignedData (DER, base64)."""

    key_id: str
    version: int
    algorithm: str
    cms_b64: str
    data_sha256: str


@router.post("/v1/cms/sign", response_model=CmsSignResponse, summary="CMS SignedData with a store key")
def cms_sign(
    body: CmsSignRequest,
    request: Request,
    principal: AuthPrincipal = Depends(_signer),  # noqa: B008
    store: KeyProvider = Depends(get_keystore),  # noqa: B008
    audit: SqlAuditLog = Depends(get_audit),  # noqa: B008
    clock: SystemClock = Depends(get_clock),  # noqa: B008
) -> CmsSignResponse:
    """Signs with the key's current version and its attached certificate (plus the region CA chain)."""
    key_id = validate_key_id(body.key_id)
    if "." not in key_id:
        raise NotFoundError("no such key", message_zh="密钥不存在", field="key_id")
    require_region(principal, key_id.split(".", 1)[0])
    try:
        data = base64.b64decode(body.data_b64, validate=True)
    except (binascii.Error, ValueError):
        raise BadInputError("data_b64 is not valid base64", message_zh="Base64 编码错误", field="data_b64") from None
    if len(data) > MAX_CMS_SIGN_BYTES:
        raise BadInputError("data larger than 8 MiB", message_zh="数据过大", field="data_b64")
    info = store.key_info(key_id)
    try:
        cert = store.certificate(key_id)
    except NotFoundError:
        raise BadInputError("the key has no certificate attached; attach one first", field="key_id",
                            message_zh="该密钥尚未关联证书") from None
    chain: list[bytes] = []
    try:
        chain = [c.der for c in open_region(request.app.state.settings).ca().all_certs()]
    except KeyStoreError:
        pass
    stamper = LocalTimeStamper(get_tsa_services(request).tsa) if body.timestamp else None
    key = store.signing_key(key_id)
    out = sign_cms(data, key=key, cert_der=cert, chain=chain, detached=body.detached, signed_attrs=body.signed_attrs,
                   at=clock.now(), oids="gmt0010" if body.gmt0010 else "pkcs7", timestamper=stamper)
    digest = hashlib.sha256(data).hexdigest()
    alg = key.default_algorithm().algo_name
    audit.append(actor=principal.id, action="cms.sign", object_type="key", object_id=key_id,
                 details={"version": info.version, "data_sha256": digest, "algorithm": alg,
                          "detached": body.detached, "timestamp": body.timestamp})
    return CmsSignResponse(key_id=key_id, version=info.version, algorithm=alg,
                           cms_b64=base64.b64encode(out).decode(), data_sha256=digest)
