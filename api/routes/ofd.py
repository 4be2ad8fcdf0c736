"""``POST /v1/sign/ofd``: sign an uploaded OFD file with a seal, a visible stamp at a page and position.

Multipart form: ``file`` (the OFD), ``seal_id`` (a seal of the register; its status is checked:
suspended or revoked seals are refused) **or** ``seal_file`` (an uploaded ``.esl``; if the
register knows that seal its status is checked too), ``key_id`` (a key of the service key store
whose certificate is in the seal's list), ``page`` (1-based), ``x``/``y`` (mm, top-left of the
stamp), optional ``width``/``height`` (mm; default the seal picture's size) and ``protect``
(``all`` locks the document, ``continue`` allows later signatures). The response is the signed OFD
(``application/ofd``); the new signature's ID and the SM3 of the signed Signature.xml come back in
``X-Esign-*`` headers. Every use is recorded (用印记录): in the seal usage log with its audit
entry for registered seals, in the audit log otherwise.
"""

from __future__ import annotations

import hashlib
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from api.auth import AuthPrincipal, Role, require_region, require_role
from api.deps import SystemClock, get_audit, get_clock, get_db
from api.routes.keys import get_keystore
from api.schemas import PROBLEM_RESPONSES
from api.storage.audit import SqlAuditLog
from api.storage.db import Database
from api.storage.seals import SqlSealRegister
from esign.formats.ofd_zip import MAX_PACKAGE_BYTES
from esign.formats.ses import MAX_SEAL_BYTES, parse_unverified_seal
from esign.ofd import PROTECT_MODES, sign_ofd_detailed
from esign.ports import SealRecord, SealUsage
from keys.errors import BadInputError, NotFoundError
from keys.provider import KeyProvider, validate_key_id

__all__ = ["MEDIA_TYPE", "router"]

router = APIRouter(prefix="/v1/sign", tags=["ofd"], responses=PROBLEM_RESPONSES)
_signer = require_role(Role.SIGNER, Role.ISSUER)
#: Media type of OFD files (GB/T 33190).
MEDIA_TYPE = "application/ofd"


async def _upload(f: UploadFile, limit: int, what: str) -> bytes:
    data = await f.read(limit + 1)
    if len(data) > limit:
        raise BadInputError(f"{what} is larger than {limit} bytes", message_zh="上传文件过大", field=what)
    return data


def _certificate(store: KeyProvider, key_id: str) -> bytes:
    try:
        return store.certificate(key_id)
    except NotFoundError:
        raise NotFoundError(f"key {key_id} has no certificate attached", message_zh="该密钥未关联证书",
                            field="key_id") from None


@router.post(
    "/ofd",
    summary="Sign an OFD file with a seal (visible stamp); returns the signed OFD",
    response_class=Response,
    responses={200: {"content": {MEDIA_TYPE: {}}, "description": "The signed OFD file"}},
)
async def sign_ofd_upload(
    request: Request,
    file: UploadFile = File(..., description="The OFD file"),  # noqa: B008
    key_id: str = Form(..., description="Signer key in the service key store (certificate in the seal's list)"),
    seal_id: str | None = Form(default=None, description="Seal from the register"),
    seal_file: UploadFile | None = File(default=None, description="Or: the seal itself (.esl)"),  # noqa: B008
    page: int = Form(default=1, ge=1, description="Page number, 1-based"),
    x: float = Form(..., description="Stamp left edge, mm"),
    y: float = Form(..., description="Stamp top edge, mm"),
    width: float | None = Form(default=None, description="Stamp width, mm (default: seal picture)"),
    height: float | None = Form(default=None, description="Stamp height, mm (default: seal picture)"),
    protect: str = Form(default="all", description="all | continue"),
    principal: AuthPrincipal = Depends(_signer),  # noqa: B008
    store: KeyProvider = Depends(get_keystore),  # noqa: B008
    db: Database = Depends(get_db),  # noqa: B008
    audit: SqlAuditLog = Depends(get_audit),  # noqa: B008
    clock: SystemClock = Depends(get_clock),  # noqa: B008
) -> Response:
    """200 with the signed OFD; 400 bad input, 403 other region / signer not in the seal, 404 unknown seal
    or key, 409 seal expired, suspended or revoked, or document locked."""
    if protect not in PROTECT_MODES:
        raise BadInputError(f"protect must be one of {', '.join(PROTECT_MODES)}", message_zh="保护模式错误",
                            field="protect")
    validate_key_id(key_id)
    require_region(principal, key_id.split(".", 1)[0])
    register = SqlSealRegister(db, audit=audit)
    record: SealRecord | None = None
    if (seal_id is None) == (seal_file is None):
        raise BadInputError("give exactly one of seal_id and seal_file", message_zh="请提供印章编号或印章文件之一",
                            field="seal_id")
    if seal_id is not None:
        record = register.get(seal_id)
        require_region(principal, record.region)
        seal_der = record.der
    else:
        assert seal_file is not None
        seal_der = await _upload(seal_file, MAX_SEAL_BYTES, "seal_file")
        try:
            record = register.get(parse_unverified_seal(seal_der).seal_id)
        except NotFoundError:
            record = None  # an unregistered seal: no register status to check
        if record is not None and record.der != seal_der:
            raise BadInputError("the uploaded seal differs from the registered seal with the same ID",
                                message_zh="上传的印章与登记的同编号印章不一致", field="seal_file")
    data = await _upload(file, MAX_PACKAGE_BYTES, "file")
    now = clock.now().replace(microsecond=0)
    result = await run_in_threadpool(
        sign_ofd_detailed, data, seal_der=seal_der, signer_key=store.signing_key(key_id),
        signer_cert_der=_certificate(store, key_id),
        page=page, x_mm=x, y_mm=y, width_mm=width, height_mm=height, at=now, protect=protect,
        seal_register=register if record is not None else None,
    )
    client = request.client.host if request.client is not None else ""
    if record is not None:
        with db.write_session() as s:
            register.record(SealUsage(seal_id=record.seal_id, enterprise=record.enterprise, actor=principal.id,
                                      data_hash_hex=result.data_hash.hex(),
                                      signature_sha256=result.ses_signature_sha256, at=now, client=client,
                                      property_info=f"/{result.signature_xml_path}", key_id=key_id), session=s)
    else:
        audit.append(actor=principal.id, action="ofd.sign", object_type="seal", object_id=result.seal_id,
                     details={"registered": False, "data_hash_sm3": result.data_hash.hex(),
                              "signature_sha256": result.ses_signature_sha256, "key_id": key_id,
                              "ofd_sha256": hashlib.sha256(data).hexdigest()})
    return Response(
        content=result.ofd,
        media_type=MEDIA_TYPE,
        headers={
            "Content-Disposition": 'attachment; filename="signed.ofd"',
            "X-Esign-Signature-Id": result.signature_id,
            "X-Esign-Seal-Id": quote(result.seal_id, safe=""),
            "X-Esign-Data-Hash-SM3": result.data_hash.hex(),
        },
    )
