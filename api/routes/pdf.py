"""PDF signing over HTTP: sign with a service key, remote (three-step) signing, B-LT/B-LTA extension.

* ``POST /v1/sign/pdf`` (multipart): the file, a service key id and stamp options -> signed PDF.
  The key's attached certificate is used; in demo mode a key without one gets an
  ``enterprise_signer`` certificate from the region's issuing CA on the fly (and attached).
* ``POST /v1/sign/pdf/prepare`` (multipart) -> JSON with the data to sign and a state token;
  the prepared PDF stays on the server (``<data_dir>/pdf/pending/<id>.pdf``) until
  ``POST /v1/sign/pdf/finish`` (JSON) embeds the signature made elsewhere. The certificate
  may come at either step (see :mod:`esign._pdf_remote`).
* ``POST /v1/pdf/extend`` (multipart): raise a signed PDF to B-LT or B-LTA / renew its archive timestamp.

Timestamps come from the service TSA (``app.state.tsa``: an :class:`esign.tsa.TimeStampAuthority`
or a pyHanko ``TimeStamper``); revocation data for B-LT/B-LTA are the region CAs' CRLs.
Every operation is audited with the document's SHA-256 only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import secrets
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from pydantic import BaseModel, Field

from api.auth import AuthPrincipal, Role, require_region, require_role
from api.deps import SystemClock, get_audit, get_clock, get_settings
from api.routes.ca import open_region
from api.routes.keys import get_keystore
from api.schemas import PROBLEM_RESPONSES
from api.settings import Settings
from api.storage.audit import SqlAuditLog
from esign.pdf import StampSpec, ValidationData, extend_pdf, finish_remote, prepare_remote, sign_pdf
from keys.ca import Region
from keys.errors import BackendUnavailableError, BadInputError, EsignError, NotFoundError
from keys.provider import KeyProvider, validate_key_id
from keys.x509 import parse_certificate, parse_certificates, parse_crl

__all__ = ["MAX_HTTP_PDF_BYTES", "region_validation_data", "router", "service_timestamper"]

router = APIRouter(tags=["pdf"], responses=PROBLEM_RESPONSES)
_signer = require_role(Role.ISSUER, Role.SIGNER)
#: Largest PDF accepted over HTTP (the app's body-size limit applies first).
MAX_HTTP_PDF_BYTES = 64 << 20
_MAX_SMALL = 1 << 20
_PENDING_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_key_lock = threading.Lock()
_PDF = {200: {"content": {"application/pdf": {}}, "description": "The signed PDF"}}


def _read(upload: UploadFile | None, *, limit: int, what: str) -> bytes | None:
    if upload is None:
        return None
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise BadInputError(f"{what} is larger than {limit >> 20} MiB", message_zh="上传文件过大", field=what)
    return data


def _pdf_response(pdf: bytes, name: str) -> Response:
    return Response(content=pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "X-Esign-Sha256": hashlib.sha256(pdf).hexdigest()})


def service_timestamper(request: Request) -> Any | None:
    """The service TSA as a pyHanko TimeStamper, or None when none is configured.

    ``app.state.tsa`` (a TimeStampAuthority or pyHanko TimeStamper) wins; otherwise the TSA of
    ``api.routes.tsa.get_tsa_services`` (the bootstrapped service TSA) when that module is there.
    """
    tsa = getattr(request.app.state, "tsa", None)
    if tsa is None:
        try:
            from api.routes.tsa import get_tsa_services

            tsa = get_tsa_services(request).tsa
        except (ImportError, EsignError):
            return None
    from pyhanko.sign.timestamps.api import TimeStamper

    if isinstance(tsa, TimeStamper):
        return tsa
    from esign.tsa import PyHankoLocalTimeStamper

    return PyHankoLocalTimeStamper(tsa)


def _timestamper_for(request: Request, level: str) -> Any | None:
    ts = service_timestamper(request)
    if ts is None and level.lower().replace("_", "-") not in ("b-b", "b", "bb"):
        raise BackendUnavailableError("no time-stamp authority is configured for this service",
                                      message_zh="服务未配置时间戳服务")
    return ts


def region_validation_data(region: Region, *, at: datetime) -> ValidationData:
    """The region CAs' certificates and current CRLs (a fresh CRL is issued when the saved one is stale)."""
    certs, crls = [], []
    for name in region.meta["cas"]:
        ca = region.ca(name)
        certs.append(ca.cert.der)
        crl_der = None
        path = ca.directory / "crl.pem"
        if path.exists():
            crl = parse_crl(path.read_bytes())
            if crl.this_update <= at and (crl.next_update is None or at < crl.next_update):
                crl_der = crl.der
        crls.append(crl_der or ca.issue_crl(at=at))
    return ValidationData(certs=tuple(certs), crls=tuple(crls))


def _needs_ltv(level: str) -> bool:
    return level.lower().replace("_", "-").removeprefix("b-") in ("lt", "lta")


def _own_key(principal: AuthPrincipal, key_id: str) -> str:
    validate_key_id(key_id)
    if "." not in key_id:
        raise NotFoundError("no such key", message_zh="密钥不存在", field="key_id")
    require_region(principal, key_id.split(".", 1)[0])
    return key_id


def _certificate(store: KeyProvider, key_id: str, settings: Settings, at: datetime) -> tuple[bytes, list[bytes]]:
    region = open_region(settings)
    chain = [region.ca().cert.der, region.root.cert.der]
    try:
        return store.certificate(key_id), chain
    except NotFoundError:
        if not settings.demo:
            raise NotFoundError(f"key {key_id} has no certificate attached; attach one first",
                                message_zh="该密钥未绑定证书", field="key_id") from None
    info = store.key_info(key_id)
    issued = region.ca().issue(subject={"C": "CN", "O": settings.region, "CN": key_id}, profile="enterprise_signer",
                               public_key=store.public_key(key_id), at=at)
    store.attach_certificate(key_id, info.version, issued.der)
    return issued.der, chain


def _stamp(page: int | None, x_mm: float, y_mm: float, width_mm: float, height_mm: float, picture: bytes | None,
           text: str | None) -> StampSpec | None:
    if page is None and picture is None and not text:
        return None
    return StampSpec(page=page or 1, x_mm=x_mm, y_mm=y_mm, width_mm=width_mm, height_mm=height_mm,
                     picture=picture, text=text or None)


@router.post("/v1/sign/pdf", summary="Sign a PDF with a service key (PAdES B-B..B-LTA, visible seal stamp)",
             response_class=Response, responses=_PDF)
def sign_pdf_route(
    request: Request,
    file: UploadFile = File(...),  # noqa: B008
    key_id: str = Form(...),
    level: str = Form(default="b-b"),
    page: int | None = Form(default=None, description="Page of the visible stamp (1-based); omit for invisible"),
    x_mm: float = Form(default=20.0),
    y_mm: float = Form(default=20.0),
    width_mm: float = Form(default=40.0),
    height_mm: float = Form(default=40.0),
    stamp: UploadFile | None = File(default=None, description="Seal picture (PNG/GIF/JPEG)"),  # noqa: B008
    stamp_text: str | None = Form(default=None),
    certify: bool = Form(default=False),
    docmdp_level: int = Form(default=2),
    field_name: str | None = Form(default=None),
    reason: str | None = Form(default=None),
    location: str | None = Form(default=None),
    principal: AuthPrincipal = Depends(_signer),  # noqa: B008
    store: KeyProvider = Depends(get_keystore),  # noqa: B008
    settings: Settings = Depends(get_settings),  # noqa: B008
    clock: SystemClock = Depends(get_clock),  # noqa: B008
    audit: SqlAuditLog = Depends(get_audit),  # noqa: B008
) -> Response:
    """The signed PDF (``application/pdf``); 400 for a PDF that is encrypted, broken or not a PDF."""
    _own_key(principal, key_id)
    pdf = _read(file, limit=MAX_HTTP_PDF_BYTES, what="file")
    picture = _read(stamp, limit=_MAX_SMALL * 4, what="stamp")
    at = clock.now()
    ts = _timestamper_for(request, level)
    cert, chain = _certificate(store, key_id, settings, at)
    data = region_validation_data(open_region(settings), at=at) if _needs_ltv(level) else None
    out = sign_pdf(pdf or b"", key=store.signing_key(key_id), cert_der=cert, chain=chain, level=level,
                   field_name=field_name, certify=certify, docmdp_level=docmdp_level,
                   stamp=_stamp(page, x_mm, y_mm, width_mm, height_mm, picture, stamp_text), timestamper=ts,
                   validation_data=data, at=at, reason=reason, location=location)
    audit.append(actor=principal.id, action="pdf.sign", object_type="key", object_id=key_id, details={
        "level": level, "input_sha256": hashlib.sha256(pdf or b"").hexdigest(),
        "output_sha256": hashlib.sha256(out).hexdigest(), "certify": certify})
    return _pdf_response(out, "signed.pdf")


# -- remote signing ---------------------------------------------------------------------------


def _state_key(settings: Settings) -> bytes:
    """The service's remote-signing state key (32 random bytes in ``<data_dir>/secrets/pdf-state.key``)."""
    path = settings.secrets_dir / "pdf-state.key"
    with _key_lock:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_bytes(32))
            os.replace(tmp, path)
        key = path.read_bytes()
    if len(key) < 16:
        raise BackendUnavailableError("the remote-signing state key is unusable", message_zh="远程签名状态密钥不可用")
    return key


def _pending_dir(settings: Settings) -> Path:
    d = settings.data_dir / "pdf" / "pending"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


def _cert_der(data: bytes | str | None, field: str) -> bytes | None:
    if not data:
        return None
    raw = data.encode() if isinstance(data, str) else data
    return parse_certificate(raw).der


class PrepareOut(BaseModel):
    """Step 1 result: sign ``data_to_sign_b64`` (or ``digest_b64``) and call finish."""

    id: str
    state: str
    data_to_sign_b64: str
    digest_b64: str | None
    digest_algorithm: str
    signature_algorithm: str


class FinishIn(BaseModel):
    """Step 3 input."""

    id: str = Field(pattern=_PENDING_ID.pattern)
    state: str = Field(max_length=64 << 10)
    signature_b64: str = Field(max_length=8192)
    cert_pem: str | None = Field(default=None, max_length=64 << 10, description="Required if not given at prepare")
    chain_pem: str | None = Field(default=None, max_length=256 << 10)


@router.post("/v1/sign/pdf/prepare", response_model=PrepareOut,
             summary="Remote signing step 1: prepare a PDF and get the data to sign")
def prepare_route(
    file: UploadFile = File(...),  # noqa: B008
    cert: UploadFile | None = File(default=None, description="Signer certificate (PEM/DER); may come at finish"),  # noqa: B008
    key_type: str | None = Form(default=None, description="sm2 | p256 | rsa | ed25519 (if no certificate)"),
    level: str = Form(default="b-b"),
    page: int | None = Form(default=None),
    x_mm: float = Form(default=20.0),
    y_mm: float = Form(default=20.0),
    width_mm: float = Form(default=40.0),
    height_mm: float = Form(default=40.0),
    stamp: UploadFile | None = File(default=None),  # noqa: B008
    stamp_text: str | None = Form(default=None),
    field_name: str | None = Form(default=None),
    principal: AuthPrincipal = Depends(_signer),  # noqa: B008
    settings: Settings = Depends(get_settings),  # noqa: B008
    clock: SystemClock = Depends(get_clock),  # noqa: B008
    audit: SqlAuditLog = Depends(get_audit),  # noqa: B008
) -> PrepareOut:
    """The prepared PDF stays on the server under the returned ``id`` for 24 hours at most."""
    pdf = _read(file, limit=MAX_HTTP_PDF_BYTES, what="file") or b""
    cert_der = _cert_der(_read(cert, limit=_MAX_SMALL, what="cert"), "cert")
    picture = _read(stamp, limit=_MAX_SMALL * 4, what="stamp")
    prep = prepare_remote(pdf, cert_der=cert_der, key_type=key_type, level=level, field_name=field_name,
                          stamp=_stamp(page, x_mm, y_mm, width_mm, height_mm, picture, stamp_text),
                          state_key=_state_key(settings), at=clock.now())
    pending_id = secrets.token_urlsafe(24)
    target = _pending_dir(settings) / f"{pending_id}.pdf"
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(prep.prepared_pdf)
    os.replace(tmp, target)
    audit.append(actor=principal.id, action="pdf.prepare", object_type="document", object_id=pending_id, details={
        "level": level, "input_sha256": hashlib.sha256(pdf).hexdigest(), "late_certificate": cert_der is None})
    return PrepareOut(id=pending_id, state=prep.state, data_to_sign_b64=base64.b64encode(prep.data_to_sign).decode(),
                      digest_b64=base64.b64encode(prep.digest).decode() if prep.digest is not None else None,
                      digest_algorithm=prep.digest_algorithm, signature_algorithm=prep.signature_algorithm)


@router.post("/v1/sign/pdf/finish", summary="Remote signing step 3: embed the signature, get the signed PDF",
             response_class=Response, responses=_PDF)
def finish_route(
    body: FinishIn,
    request: Request,
    principal: AuthPrincipal = Depends(_signer),  # noqa: B008
    settings: Settings = Depends(get_settings),  # noqa: B008
    clock: SystemClock = Depends(get_clock),  # noqa: B008
    audit: SqlAuditLog = Depends(get_audit),  # noqa: B008
) -> Response:
    """404 when the prepared document is unknown (finished already or never prepared)."""
    path = _pending_dir(settings) / f"{body.id}.pdf"
    if not path.exists():
        raise NotFoundError("no prepared document with this id", message_zh="未找到待签名文档", field="id")
    try:
        signature = base64.b64decode(body.signature_b64, validate=True)
    except (binascii.Error, ValueError):
        raise BadInputError("signature_b64 is not base64", message_zh="Base64 编码错误",
                            field="signature_b64") from None
    chain = [c.der for c in parse_certificates(body.chain_pem.encode())] if body.chain_pem else []
    at = clock.now()
    level = _level_of_state(body.state)
    ts = _timestamper_for(request, level)
    if not chain and body.cert_pem:
        region = open_region(settings)
        chain = [region.ca().cert.der, region.root.cert.der]
    data = region_validation_data(open_region(settings), at=at) if _needs_ltv(level) else None
    out = finish_remote(path.read_bytes(), body.state, signature, cert_der=_cert_der(body.cert_pem, "cert_pem"),
                        chain=chain, state_key=_state_key(settings), timestamper=ts, validation_data=data, at=at)
    path.unlink(missing_ok=True)
    audit.append(actor=principal.id, action="pdf.finish", object_type="document", object_id=body.id,
                 details={"level": level, "output_sha256": hashlib.sha256(out).hexdigest()})
    return _pdf_response(out, "signed.pdf")


def _level_of_state(state: str) -> str:
    """The level recorded in a state token (unauthenticated peek; finish_remote checks the MAC)."""
    import json

    try:
        body = state.split(".")[0]
        level = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))["level"]
    except (ValueError, KeyError, TypeError, IndexError):
        raise BadInputError("the remote-signing state is not valid", message_zh="远程签名状态无效",
                            field="state") from None
    return str(level)


@router.post("/v1/pdf/extend", summary="Extend a signed PDF to B-LT/B-LTA or renew its archive timestamp",
             response_class=Response, responses=_PDF)
def extend_route(
    request: Request,
    file: UploadFile = File(...),  # noqa: B008
    level: str = Form(default="b-lta"),
    principal: AuthPrincipal = Depends(_signer),  # noqa: B008
    settings: Settings = Depends(get_settings),  # noqa: B008
    clock: SystemClock = Depends(get_clock),  # noqa: B008
    audit: SqlAuditLog = Depends(get_audit),  # noqa: B008
) -> Response:
    """Adds the region's CRLs and CA certificates to the DSS, then (b-lta) a document timestamp."""
    pdf = _read(file, limit=MAX_HTTP_PDF_BYTES, what="file") or b""
    at = clock.now()
    ts = _timestamper_for(request, "b-lta")
    out = extend_pdf(pdf, level=level, timestamper=ts, validation_data=region_validation_data(open_region(settings),
                                                                                                 at=at), at=at)
    audit.append(actor=principal.id, action="pdf.extend", object_type="document",
                 object_id=hashlib.sha256(pdf).hexdigest()[:32],
                 details={"level": level, "output_sha256": hashlib.sha256(out).hexdigest()})
    return _pdf_response(out, "extended.pdf")
