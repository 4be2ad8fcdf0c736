"""``POST /v1/sign``: one endpoint that signs whatever the uploaded file is, as ``esign sign`` does.

Dispatch is by the file's bytes (the CLI's rule):

* a PDF (``%PDF-``): PAdES B-B .. B-LTA with a key of the service key store (``level``); with a seal
  (``seal_id`` or ``seal_file``) and ``page`` the seal's picture is the visible stamp, the seal
  must be usable (maker signature, validity window, register status, signer in its list) and the
  use is recorded in the seal usage log (用印记录); ``certify=true`` makes it a certification
  signature (DocMDP, ISO 32000-1 §12.8.2.2) with ``docmdp`` 1 (no changes), 2 (form filling and
  signing, the default) or 3 (also annotations), as ``POST /v1/sign/pdf`` does;
* an OFD (``PK\\x03\\x04``): a GB/T 38540 seal signature with a visible stamp (a seal is required);
* anything else: with a seal, a detached ``SES_Signature`` (GB/T 38540) over the file; without,
  a CMS SignedData (detached unless ``detached=false``).

``tsa=true`` adds an RFC 3161 timestamp from the service TSA (the one B-T and above use) over the
signature value of an SES_Signature (GB/T 38540 ``timeStamp``, SM3 imprint), an OFD seal
signature or a CMS signature (``signature-time-stamp`` unsigned attribute). A PDF gets its
timestamp from its level (B-T and above), so ``tsa=true`` with a B-B PDF is refused rather than
silently ignored or upgraded; so are ``certify``/``docmdp`` for anything but a PDF.

Roles, region checks, audit entries and usage records are those of the format routes
(:mod:`api.routes.pdf`, :mod:`api.routes.ofd`, :mod:`api.routes.seals`), whose helpers this
module reuses. Every check runs before anything is signed or recorded, and the response is the
whole signed artefact or a typed error (nothing is written on the server except the usage
record / audit entry of a completed signature).
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile

from api.auth import AuthPrincipal, Role, require_region, require_role
from api.deps import SystemClock, get_audit, get_clock, get_db, get_settings
from api.routes.keys import get_keystore
from api.routes.ofd import MEDIA_TYPE as OFD_MEDIA_TYPE
from api.routes.ofd import _certificate as _plain_certificate
from api.routes.pdf import (
    MAX_HTTP_PDF_BYTES,
    _certificate,
    _needs_ltv,
    _own_key,
    _read,
    _stamp,
    _timestamper_for,
    region_validation_data,
    service_timestamper,
)
from api.routes.seals import MAX_SIGN_BYTES
from api.schemas import PROBLEM_RESPONSES
from api.settings import Settings
from api.storage.audit import SqlAuditLog
from api.storage.db import Database
from api.storage.seals import SqlSealRegister
from esign.formats.ofd_zip import MAX_PACKAGE_BYTES
from esign.formats.ses import MAX_SEAL_BYTES, parse_unverified_seal
from esign.ports import SealRecord, SealUsage
from esign.ses import SealSigner, check_seal_at
from keys.errors import BackendUnavailableError, BadInputError, NotFoundError
from keys.hashing import sm3
from keys.provider import KeyProvider

__all__ = ["router"]

router = APIRouter(tags=["sign"], responses=PROBLEM_RESPONSES)
_signer = require_role(Role.SIGNER, Role.ISSUER)
_MAX_SMALL = 4 << 20
_KINDS = {"pdf": "application/pdf", "ofd": OFD_MEDIA_TYPE, "ses_signature": "application/octet-stream",
          "cms": "application/pkcs7-signature"}


class _ServiceStamper:
    """The service TSA (pyHanko's ``TimeStamper``, as the PDF routes get it) behind ``esign.tsa.TimeStamper``.

    SES, OFD and CMS signing call ``stamp(signature_value, hash_name=...)``; the request goes through
    pyHanko's client (nonce and status checked there); the imprint is checked again by the signer.
    """

    def __init__(self, timestamper: Any) -> None:
        self._ts = timestamper

    def stamp(self, data: bytes | None = None, *, digest: bytes | None = None, hash_name: str = "sha256") -> bytes:
        """DER TimeStampToken over ``data`` (hashed with ``hash_name``) or ``digest``."""
        from pyhanko.sign.timestamps.common_utils import TimestampRequestError as PyHankoTimestampError

        from esign.tsa import TimestampRequestError, imprint_for

        imprint = imprint_for(data, digest, hash_name)
        try:
            token = asyncio.run(self._ts.async_timestamp(imprint, hash_name))  # sync route: no loop in this thread
        except (PyHankoTimestampError, OSError) as exc:
            raise TimestampRequestError(f"the service time-stamp authority failed: {str(exc)[:160]}",
                                        message_zh="时间戳服务不可用") from None
        return bytes(token.dump())


def _data_stamper(request: Request, tsa: bool) -> _ServiceStamper | None:
    """The service TSA for SES, OFD and CMS timestamps when ``tsa``; 503 when none is configured."""
    if not tsa:
        return None
    ts = service_timestamper(request)
    if ts is None:
        raise BackendUnavailableError("no time-stamp authority is configured for this service",
                                      message_zh="服务未配置时间戳服务")
    return _ServiceStamper(ts)


def _kind(data: bytes) -> str:
    """The CLI's detection rule (:mod:`api.cli.sign`): ``%PDF-`` -> pdf, a ZIP -> ofd, else data."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        return "ofd"
    return "data"


def _seal(register: SqlSealRegister, principal: AuthPrincipal, seal_id: str | None,
          seal_file: UploadFile | None) -> tuple[bytes | None, SealRecord | None]:
    """(seal DER, register record) from ``seal_id`` or an uploaded ``.esl``, as the OFD route takes them."""
    if seal_id is not None and seal_file is not None:
        raise BadInputError("give at most one of seal_id and seal_file", message_zh="印章编号与印章文件只能提供其一",
                            field="seal_id")
    if seal_id is not None:
        record = register.get(seal_id)
        require_region(principal, record.region)
        return record.der, record
    if seal_file is None:
        return None, None
    der = _read(seal_file, limit=MAX_SEAL_BYTES, what="seal_file") or b""
    try:
        record = register.get(parse_unverified_seal(der).seal_id)
    except NotFoundError:
        return der, None  # an unregistered seal: no register status to check
    if record.der != der:
        raise BadInputError("the uploaded seal differs from the registered seal with the same ID",
                            message_zh="上传的印章与登记的同编号印章不一致", field="seal_file")
    return der, record


def _check_seal_for_pdf(seal_der: bytes, record: SealRecord | None, register: SqlSealRegister, key: Any,
                        cert: bytes, at: Any) -> Any:
    """The checks ``sign_with_seal`` makes, for a seal used as a PDF stamp; returns the parsed seal.

    :class:`esign.ses.SealSigner` checks the format, the maker signature, the key against the
    certificate and the certificate against the seal's list; the window and register status follow.
    """
    seal = SealSigner(seal_der=seal_der, signer_key=key, signer_cert_der=cert).seal
    check_seal_at(seal, at, register if record is not None else None)
    return seal


def _record_use(db: Database, register: SqlSealRegister, record: SealRecord, principal: AuthPrincipal,
                request: Request, *, data_hash: bytes, signature_sha256: str, at: Any, key_id: str, info: str) -> None:
    """One 用印记录 (with its audit entry, one transaction), as the seal and OFD routes write it."""
    client = request.client.host if request.client is not None else ""
    with db.write_session() as s:
        register.record(SealUsage(seal_id=record.seal_id, enterprise=record.enterprise, actor=principal.id,
                                  data_hash_hex=data_hash.hex(), signature_sha256=signature_sha256,
                                  at=at, client=client, property_info=info, key_id=key_id), session=s)


def _response(kind: str, content: bytes, name: str, **headers: str) -> Response:
    return Response(content=content, media_type=_KINDS[kind], headers={
        "Content-Disposition": f'attachment; filename="{name}"', "X-Esign-Kind": kind,
        "X-Esign-Sha256": hashlib.sha256(content).hexdigest(), **headers})


@router.post(
    "/v1/sign",
    summary="Sign any file: PDF (PAdES), OFD (seal), other data (SES seal signature or CMS)",
    response_class=Response,
    responses={200: {"content": {t: {} for t in _KINDS.values()},
                     "description": "The signed PDF or OFD, or the detached signature; X-Esign-Kind names it"}},
)
def sign_any(
    request: Request,
    file: UploadFile = File(..., description="The document (PDF, OFD or any data)"),  # noqa: B008
    key_id: str = Form(..., description="Signer key in the service key store"),
    seal_id: str | None = Form(default=None, description="Seal from the register (OFD: required, or seal_file)"),
    seal_file: UploadFile | None = File(default=None, description="Or: the seal itself (.esl)"),  # noqa: B008
    level: str = Form(default="b-b", description="PDF: b-b | b-t | b-lt | b-lta"),
    page: int | None = Form(default=None, ge=1, description="Stamp page, 1-based (PDF: omit for invisible)"),
    x: float = Form(default=20.0, description="Stamp position, mm (PDF: left from the page's left edge, "
                                               "bottom from its bottom; OFD: left and top)"),
    y: float = Form(default=20.0),
    width: float | None = Form(default=None, description="Stamp size, mm (default: the seal picture's, or 40)"),
    height: float | None = Form(default=None),
    stamp: UploadFile | None = File(default=None, description="PDF without a seal: stamp picture"),  # noqa: B008
    stamp_text: str | None = Form(default=None),
    field_name: str | None = Form(default=None, description="PDF signature field"),
    protect: str = Form(default="all", description="OFD: all | continue"),
    property_info: str = Form(default="", max_length=4096, description="SES: propertyInfo (default: file name)"),
    detached: bool = Form(default=True, description="CMS: leave the content out"),
    tsa: bool = Form(default=False, description="SES, OFD, CMS: RFC 3161 timestamp over the signature value from "
                                                "the service TSA (PDF: use level b-t or above)"),
    certify: bool = Form(default=False, description="PDF: certification signature (DocMDP)"),
    docmdp: int | None = Form(default=None, description="PDF with certify: 1 no changes, 2 form filling and "
                                                        "signing (default), 3 also annotations"),
    principal: AuthPrincipal = Depends(_signer),  # noqa: B008
    store: KeyProvider = Depends(get_keystore),  # noqa: B008
    settings: Settings = Depends(get_settings),  # noqa: B008
    db: Database = Depends(get_db),  # noqa: B008
    clock: SystemClock = Depends(get_clock),  # noqa: B008
    audit: SqlAuditLog = Depends(get_audit),  # noqa: B008
) -> Response:
    """200 with the signed artefact; 400 bad input (encrypted/broken PDF, corrupt OFD, OFD without a
    seal, options that do not apply to the file), 403 other region or signer not in the seal, 404
    unknown key or seal, 409 seal expired, suspended or revoked, 503 no TSA for B-T and above or ``tsa``."""
    _own_key(principal, key_id)
    register = SqlSealRegister(db, audit=audit)
    seal_der, record = _seal(register, principal, seal_id, seal_file)
    head = file.file.read(8)
    file.file.seek(0)
    kind = _kind(head)
    _check_options(kind, level=level, tsa=tsa, certify=certify, docmdp=docmdp)
    if kind == "pdf":
        return _sign_pdf(request, file, key_id, seal_der, record, register, level=level, page=page, x=x, y=y,
                         width=width, height=height, stamp=stamp, stamp_text=stamp_text, field_name=field_name,
                         certify=certify, docmdp=docmdp or 2, principal=principal, store=store, settings=settings,
                         db=db, clock=clock, audit=audit)
    stamper = _data_stamper(request, tsa)
    if kind == "ofd":
        return _sign_ofd(request, file, key_id, seal_der, record, register, page=page, x=x, y=y, width=width,
                         height=height, protect=protect, stamper=stamper, principal=principal, store=store, db=db,
                         clock=clock, audit=audit)
    data = _read(file, limit=MAX_SIGN_BYTES, what="file") or b""
    now = clock.now().replace(microsecond=0)
    if seal_der is not None:
        from esign.ses import sign_with_seal

        info = property_info or (file.filename or "")
        der = sign_with_seal(seal_der=seal_der, signer_key=store.signing_key(key_id),
                             signer_cert_der=_plain_certificate(store, key_id), data=data, at=now,
                             property_info=info, timestamper=stamper,
                             seal_register=register if record is not None else None)
        if record is not None:
            _record_use(db, register, record, principal, request, data_hash=sm3(data),
                        signature_sha256=hashlib.sha256(der).hexdigest(), at=now,
                        key_id=key_id, info=info)
        else:
            audit.append(actor=principal.id, action="ses.sign", object_type="seal",
                         object_id=parse_unverified_seal(seal_der).seal_id,
                         details={"registered": False, "data_hash_sm3": sm3(data).hex(), "key_id": key_id,
                                  "signature_sha256": hashlib.sha256(der).hexdigest(), "timestamp": tsa})
        return _response("ses_signature", der, "signature.ses", **{"X-Esign-Data-Hash-SM3": sm3(data).hex()})
    from esign.cms import sign_cms

    cert, chain = _certificate(store, key_id, settings, now)
    p7 = sign_cms(data, key=store.signing_key(key_id), cert_der=cert, chain=chain, detached=detached, at=now,
                  timestamper=stamper)
    audit.append(actor=principal.id, action="cms.sign", object_type="key", object_id=key_id,
                 details={"detached": detached, "data_sha256": hashlib.sha256(data).hexdigest(),
                          "signature_sha256": hashlib.sha256(p7).hexdigest(), "timestamp": tsa})
    return _response("cms", p7, "signature.p7s" if detached else "signed.p7m")


def _check_options(kind: str, *, level: str, tsa: bool, certify: bool, docmdp: int | None) -> None:
    """Options that do not apply to this kind of file are refused (400), before anything is signed."""
    from esign.pdf import DOCMDP_LEVELS, normalise_level

    if kind != "pdf":
        if certify or docmdp is not None:
            raise BadInputError("certify and docmdp apply to PDF files only", message_zh="认证签名仅适用于 PDF 文件",
                                field="certify")
        return
    if docmdp is not None and not certify:
        raise BadInputError("docmdp sets the permissions of a certification signature: add certify=true",
                            message_zh="DocMDP 权限仅用于认证签名，请同时设置 certify=true", field="docmdp")
    if docmdp is not None and docmdp not in DOCMDP_LEVELS:
        raise BadInputError("docmdp must be 1, 2 or 3", message_zh="DocMDP 级别必须为 1、2 或 3", field="docmdp")
    if tsa and normalise_level(level) == "b-b":
        raise BadInputError("a PDF is timestamped by its level: use level b-t, b-lt or b-lta instead of tsa",
                            message_zh="PDF 的时间戳由签名级别决定：请使用 b-t、b-lt 或 b-lta 级别", field="tsa")


def _sign_pdf(request: Request, file: UploadFile, key_id: str, seal_der: bytes | None, record: SealRecord | None,
              register: SqlSealRegister, *, level: str, page: int | None, x: float, y: float, width: float | None,
              height: float | None, stamp: UploadFile | None, stamp_text: str | None, field_name: str | None,
              certify: bool, docmdp: int, principal: AuthPrincipal, store: KeyProvider, settings: Settings,
              db: Database, clock: SystemClock, audit: SqlAuditLog) -> Response:
    from api.routes.ca import open_region
    from esign.pdf import sign_pdf

    pdf = _read(file, limit=MAX_HTTP_PDF_BYTES, what="file") or b""
    picture = _read(stamp, limit=_MAX_SMALL, what="stamp")
    at = clock.now()
    ts = _timestamper_for(request, level)
    cert, chain = _certificate(store, key_id, settings, at)
    key = store.signing_key(key_id)
    w, h = width, height
    if seal_der is not None:
        seal = _check_seal_for_pdf(seal_der, record, register, key, cert, at)
        if picture is None:
            picture = seal.picture.data
        w = w or float(seal.picture.width_mm or 40)
        h = h or float(seal.picture.height_mm or 40)
        page = page or 1
    spec = _stamp(page, x, y, w or 40.0, h or 40.0, picture, stamp_text)
    data = region_validation_data(open_region(settings), at=at) if _needs_ltv(level) else None
    out = sign_pdf(pdf, key=key, cert_der=cert, chain=chain, level=level, field_name=field_name, stamp=spec,
                   certify=certify, docmdp_level=docmdp, timestamper=ts, validation_data=data, at=at)
    audit.append(actor=principal.id, action="pdf.sign", object_type="key", object_id=key_id, details={
        "level": level, "input_sha256": hashlib.sha256(pdf).hexdigest(),
        "output_sha256": hashlib.sha256(out).hexdigest(), "certify": certify,
        "docmdp": docmdp if certify else None, "seal_id": record.seal_id if record is not None else None})
    if record is not None:
        _record_use(db, register, record, principal, request, data_hash=sm3(pdf),
                    signature_sha256=hashlib.sha256(out).hexdigest(),
                    at=at.replace(microsecond=0), key_id=key_id, info=f"pdf {level}")
    return _response("pdf", out, "signed.pdf")


def _sign_ofd(request: Request, file: UploadFile, key_id: str, seal_der: bytes | None, record: SealRecord | None,
              register: SqlSealRegister, *, page: int | None, x: float, y: float, width: float | None,
              height: float | None, protect: str, stamper: _ServiceStamper | None, principal: AuthPrincipal,
              store: KeyProvider, db: Database, clock: SystemClock, audit: SqlAuditLog) -> Response:
    from esign.ofd import PROTECT_MODES, sign_ofd_detailed

    if seal_der is None:
        raise BadInputError("an OFD is signed with a seal: give seal_id or seal_file",
                            message_zh="OFD 签章需要电子印章", field="seal_id")
    if protect not in PROTECT_MODES:
        raise BadInputError(f"protect must be one of {', '.join(PROTECT_MODES)}", message_zh="保护模式错误",
                            field="protect")
    data = _read(file, limit=MAX_PACKAGE_BYTES, what="file") or b""
    now = clock.now().replace(microsecond=0)
    result = sign_ofd_detailed(data, seal_der=seal_der, signer_key=store.signing_key(key_id),
                               signer_cert_der=_plain_certificate(store, key_id), page=page or 1, x_mm=x, y_mm=y,
                               width_mm=width, height_mm=height, at=now, protect=protect, timestamper=stamper,
                               seal_register=register if record is not None else None)
    if record is not None:
        _record_use(db, register, record, principal, request, data_hash=result.data_hash,
                    signature_sha256=result.ses_signature_sha256, at=now,
                    key_id=key_id, info=f"/{result.signature_xml_path}")
    else:
        audit.append(actor=principal.id, action="ofd.sign", object_type="seal", object_id=result.seal_id,
                     details={"registered": False, "data_hash_sm3": result.data_hash.hex(),
                              "signature_sha256": result.ses_signature_sha256, "key_id": key_id,
                              "ofd_sha256": hashlib.sha256(data).hexdigest()})
    return _response("ofd", result.ofd, "signed.ofd", **{
        "X-Esign-Signature-Id": result.signature_id, "X-Esign-Seal-Id": quote(result.seal_id, safe=""),
        "X-Esign-Data-Hash-SM3": result.data_hash.hex()})
