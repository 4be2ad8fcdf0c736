"""GB/T 38540 electronic seals over HTTP: make, register, suspend/revoke, sign with, and the usage log.

- ``POST /v1/seals`` (admin/issuer, the seal maker 制章者): makes a v4 seal signed by the region's
  seal-maker key (``<region>.seal-maker`` in the service key store, with a ``seal_maker``
  certificate from the region CA; see :mod:`api.bootstrap_ses`) and registers it as ``listed``.
- ``GET /v1/seals``, ``GET /v1/seals/{id}``, ``GET /v1/seals/{id}/esl`` (the DER seal).
- ``POST /v1/seals/{id}/suspend|reinstate|revoke`` (admin/issuer): register status; revocation is final.
- ``POST /v1/seals/{id}/sign`` (signer): signs the uploaded data (or its SM3 hash) with a key of
  the store whose certificate is in the seal's list; returns the DER ``SES_Signature`` (base64)
  and records the use (who, seal, document hash, when, client address) in the usage log and the
  hash-chained audit log, in one transaction.
- ``GET /v1/seals/{id}/usage`` and ``GET /v1/seal-usage?enterprise=...``: the 用印记录.

A principal works only in its own region (``*`` admins everywhere).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from datetime import datetime, timedelta

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, Field

from api.auth import ALL_REGIONS, AuthPrincipal, Role, require_region, require_role
from api.deps import SystemClock, get_audit, get_clock, get_db, get_settings
from api.routes.keys import get_keystore
from api.schemas import PROBLEM_RESPONSES
from api.settings import Settings
from api.storage.audit import SqlAuditLog
from api.storage.db import Database
from api.storage.seals import SqlSealRegister
from esign.formats.ses import parse_unverified_seal
from esign.ports import SealRecord, SealStatus, SealUsage
from esign.ses import make_seal, sign_with_seal
from keys.errors import BadInputError, KeyStoreError, NotFoundError
from keys.keypairs import pem_blocks
from keys.provider import KeyProvider, validate_key_id

__all__ = ["MAKER_KEY_NAME", "MAX_SIGN_BYTES", "maker_key_id", "router"]

router = APIRouter(tags=["seals"], responses=PROBLEM_RESPONSES)
_maker = require_role(Role.ADMIN, Role.ISSUER)
_signer = require_role(Role.SIGNER, Role.ISSUER)
_anyone = require_role(*Role)
#: Name (after ``<region>.``) of the region's seal-maker key in the service key store.
MAKER_KEY_NAME = "seal-maker"
#: Largest document signed in one request (base64-decoded).
MAX_SIGN_BYTES = 8 << 20
_ENTERPRISE = re.compile(r"[0-9A-Za-z._-]{1,64}")


def maker_key_id(region: str) -> str:
    """Key id of a region's seal-maker key."""
    return f"{region}.{MAKER_KEY_NAME}"


def _register(db: Database = Depends(get_db), audit: SqlAuditLog = Depends(get_audit)) -> SqlSealRegister:  # noqa: B008
    return SqlSealRegister(db, audit=audit)


class SealCreate(BaseModel):
    """A new seal for an enterprise."""

    enterprise: str = Field(examples=["91440300MA5F000001"], description="Owner: USCC or another owner id")
    name: str = Field(min_length=1, max_length=200, examples=["深圳示例科技有限公司合同专用章"])
    seal_type: int = Field(default=1, ge=1, le=65535, description="印章类型 (business-defined)")
    signer_key_ids: list[str] = Field(default_factory=list, description="Store keys whose certificates may sign")
    signer_certificates_pem: list[str] = Field(default_factory=list, description="Other signer certificates (PEM)")
    picture_b64: str | None = Field(default=None, description="PNG/GIF/SVG; default: a drawn round seal")
    width_mm: int = Field(default=40, ge=1, le=500)
    height_mm: int = Field(default=40, ge=1, le=500)
    valid_days: int = Field(default=365, ge=1, le=3650)
    seal_id: str | None = Field(default=None, pattern=r"^[0-9A-Za-z-]{1,64}$")


class StatusChange(BaseModel):
    """Why the status changes."""

    reason: str = Field(default="", max_length=500)


class SealOut(BaseModel):
    """A registered seal."""

    seal_id: str
    region: str
    enterprise: str
    name: str
    seal_type: int
    status: str
    valid_from: datetime
    valid_to: datetime
    maker_cert_sha256: str
    created_at: datetime
    version: int
    picture_type: str
    signer_count: int


class HistoryOut(BaseModel):
    """One status change."""

    status: str
    reason: str
    at: datetime
    actor: str


class SealDetail(SealOut):
    """A seal with its status history."""

    history: list[HistoryOut]


class SignRequest(BaseModel):
    """Data to sign with a seal."""

    key_id: str = Field(description="Signer key in the service key store (its certificate must be in the seal)")
    data_b64: str | None = None
    data_hash_hex: str | None = Field(default=None, description="Instead of data: its SM3 digest (64 hex)")
    property_info: str = Field(default="", max_length=4096, description="原文属性 (ASCII), e.g. a document id")


class SignOut(BaseModel):
    """A seal signature and the usage record made for it."""

    seal_id: str
    signature_b64: str
    signature_sha256: str
    data_hash_hex: str
    signing_time: datetime


class UsageOut(BaseModel):
    """One use of a seal (用印记录)."""

    seal_id: str
    enterprise: str
    actor: str
    data_hash_hex: str
    signature_sha256: str
    at: datetime
    client: str
    property_info: str
    key_id: str


def _out(rec: SealRecord) -> SealOut:
    seal = parse_unverified_seal(rec.der)
    return SealOut(seal_id=rec.seal_id, region=rec.region, enterprise=rec.enterprise, name=rec.name,
                   seal_type=rec.seal_type, status=rec.status.value, valid_from=rec.valid_from, valid_to=rec.valid_to,
                   maker_cert_sha256=rec.maker_cert_sha256, created_at=rec.created_at, version=seal.version,
                   picture_type=seal.picture.type, signer_count=len(seal.signer_certs) + len(seal.signer_cert_digests))


def _usage_out(u: SealUsage) -> UsageOut:
    return UsageOut(seal_id=u.seal_id, enterprise=u.enterprise, actor=u.actor, data_hash_hex=u.data_hash_hex,
                    signature_sha256=u.signature_sha256, at=u.at, client=u.client, property_info=u.property_info,
                    key_id=u.key_id)


def _b64(value: str, field: str, limit: int) -> bytes:
    if len(value) > (limit // 3 + 2) * 4:
        raise BadInputError(f"{field} is larger than {limit} bytes", message_zh="数据过大", field=field)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadInputError(f"{field} is not valid base64", message_zh="Base64 编码错误", field=field) from None


def _cert_of(store: KeyProvider, key_id: str) -> bytes:
    try:
        return store.certificate(key_id)
    except NotFoundError:
        raise NotFoundError(f"key {key_id} has no certificate attached", message_zh="该密钥未关联证书",
                            field="key_id") from None


def _seal_region(principal: AuthPrincipal, settings: Settings) -> str:
    return settings.region if principal.region == ALL_REGIONS else principal.region


@router.post("/v1/seals", response_model=SealOut, status_code=status.HTTP_201_CREATED, summary="Make a seal")
def create_seal(
    body: SealCreate,
    principal: AuthPrincipal = Depends(_maker),  # noqa: B008
    store: KeyProvider = Depends(get_keystore),  # noqa: B008
    register: SqlSealRegister = Depends(_register),  # noqa: B008
    settings: Settings = Depends(get_settings),  # noqa: B008
    clock: SystemClock = Depends(get_clock),  # noqa: B008
) -> SealOut:
    """The region's seal maker signs a GB/T 38540 v4 seal; it is registered as ``listed``."""
    region = _seal_region(principal, settings)
    require_region(principal, region)
    if not _ENTERPRISE.fullmatch(body.enterprise):
        raise BadInputError("enterprise must be 1..64 letters, digits, '.', '_' or '-'",
                            message_zh="单位标识格式错误", field="enterprise")
    certs: list[bytes] = []
    for kid in body.signer_key_ids:
        validate_key_id(kid)
        require_region(principal, kid.split(".", 1)[0])
        certs.append(_cert_of(store, kid))
    for pem in body.signer_certificates_pem:
        certs.extend(der for label, der in pem_blocks(pem.encode()) if label == "CERTIFICATE")
    if not certs:
        raise BadInputError("a seal needs at least one signer certificate", message_zh="印章至少需要一个签章人证书",
                            field="signer_key_ids")
    try:
        maker_key = store.signing_key(maker_key_id(region))
        maker_cert = store.certificate(maker_key_id(region))
    except NotFoundError:
        raise KeyStoreError(f"region {region} has no seal-maker key with a certificate: run the seal bootstrap",
                            message_zh="本地区尚未配置制章者密钥和证书") from None
    if body.picture_b64 is not None:
        picture = _b64(body.picture_b64, "picture_b64", 2 << 20)
    else:
        from api.bootstrap_ses import render_seal_png

        picture = render_seal_png(body.name)
    now = clock.now().replace(microsecond=0)
    seal_id = body.seal_id or f"{region}{now:%Y%m%d}{secrets.token_hex(6).upper()}"
    der = make_seal(maker_key=maker_key, maker_cert_der=maker_cert, seal_id=seal_id, seal_type=body.seal_type,
                    name=body.name, signer_certs=certs, valid_from=now, valid_to=now + timedelta(days=body.valid_days),
                    picture=picture, width_mm=body.width_mm, height_mm=body.height_mm, at=now)
    rec = register.add(der, region=region, enterprise=body.enterprise, at=now, actor=principal.id)
    return _out(rec)


@router.get("/v1/seals", response_model=list[SealOut], summary="List the region's seals")
def list_seals(
    enterprise: str | None = None,
    status_: str | None = Query(default=None, alias="status"),
    limit: int = 100,
    offset: int = 0,
    principal: AuthPrincipal = Depends(_anyone),  # noqa: B008
    register: SqlSealRegister = Depends(_register),  # noqa: B008
) -> list[SealOut]:
    """Newest first; ``*`` admins see every region."""
    st = None
    if status_ is not None:
        try:
            st = SealStatus(status_)
        except ValueError:
            raise BadInputError("status must be listed, suspended or revoked", field="status") from None
    region = None if principal.region == ALL_REGIONS else principal.region
    return [_out(r) for r in register.list(region=region, enterprise=enterprise, status=st, limit=limit,
                                           offset=offset)]


def _get(register: SqlSealRegister, principal: AuthPrincipal, seal_id: str) -> SealRecord:
    rec = register.get(seal_id)
    require_region(principal, rec.region)
    return rec


@router.get("/v1/seals/{seal_id}", response_model=SealDetail, summary="One seal with its status history")
def show_seal(
    seal_id: str,
    principal: AuthPrincipal = Depends(_anyone),  # noqa: B008
    register: SqlSealRegister = Depends(_register),  # noqa: B008
) -> SealDetail:
    """Status history oldest first."""
    rec = _get(register, principal, seal_id)
    hist = [HistoryOut(status=h.status.value, reason=h.reason, at=h.at, actor=h.actor)
            for h in register.history(seal_id)]
    return SealDetail(**_out(rec).model_dump(), history=hist)


@router.get("/v1/seals/{seal_id}/esl", summary="The seal (DER SESeal, .esl)", response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}}}})
def download_seal(
    seal_id: str,
    principal: AuthPrincipal = Depends(_anyone),  # noqa: B008
    register: SqlSealRegister = Depends(_register),  # noqa: B008
) -> Response:
    """The exact bytes the maker signed into the register."""
    rec = _get(register, principal, seal_id)
    return Response(content=rec.der, media_type="application/octet-stream",
                    headers={"Content-Disposition": f'attachment; filename="{rec.seal_id}.esl"'})


def _change(seal_id: str, new: SealStatus, body: StatusChange, principal: AuthPrincipal,
            register: SqlSealRegister, clock: SystemClock) -> SealOut:
    _get(register, principal, seal_id)
    return _out(register.set_status(seal_id, new, reason=body.reason, at=clock.now(), actor=principal.id))


@router.post("/v1/seals/{seal_id}/suspend", response_model=SealOut, summary="Suspend a seal (挂起)")
def suspend_seal(seal_id: str, body: StatusChange, principal: AuthPrincipal = Depends(_maker),  # noqa: B008
                 register: SqlSealRegister = Depends(_register),  # noqa: B008
                 clock: SystemClock = Depends(get_clock)) -> SealOut:  # noqa: B008
    """Signing is refused until reinstated; 409 if already suspended or revoked."""
    return _change(seal_id, SealStatus.SUSPENDED, body, principal, register, clock)


@router.post("/v1/seals/{seal_id}/reinstate", response_model=SealOut, summary="Reinstate a suspended seal")
def reinstate_seal(seal_id: str, body: StatusChange, principal: AuthPrincipal = Depends(_maker),  # noqa: B008
                   register: SqlSealRegister = Depends(_register),  # noqa: B008
                   clock: SystemClock = Depends(get_clock)) -> SealOut:  # noqa: B008
    """Back to ``listed``; 409 unless suspended."""
    return _change(seal_id, SealStatus.LISTED, body, principal, register, clock)


@router.post("/v1/seals/{seal_id}/revoke", response_model=SealOut, summary="Revoke a seal (注销; final)")
def revoke_seal(seal_id: str, body: StatusChange, principal: AuthPrincipal = Depends(_maker),  # noqa: B008
                register: SqlSealRegister = Depends(_register),  # noqa: B008
                clock: SystemClock = Depends(get_clock)) -> SealOut:  # noqa: B008
    """Final; 409 if already revoked."""
    return _change(seal_id, SealStatus.REVOKED, body, principal, register, clock)


@router.post("/v1/seals/{seal_id}/sign", response_model=SignOut, summary="Sign data with a seal (电子签章)")
def sign_data(
    seal_id: str,
    body: SignRequest,
    request: Request,
    principal: AuthPrincipal = Depends(_signer),  # noqa: B008
    store: KeyProvider = Depends(get_keystore),  # noqa: B008
    register: SqlSealRegister = Depends(_register),  # noqa: B008
    db: Database = Depends(get_db),  # noqa: B008
    clock: SystemClock = Depends(get_clock),  # noqa: B008
) -> SignOut:
    """SM2 seal signature over SM3(data); the use is recorded (用印记录) with the audit entry."""
    rec = _get(register, principal, seal_id)
    validate_key_id(body.key_id)
    require_region(principal, body.key_id.split(".", 1)[0])
    if (body.data_b64 is None) == (body.data_hash_hex is None):
        raise BadInputError("give exactly one of data_b64 and data_hash_hex", message_zh="请提供原文或原文杂凑值之一",
                            field="data_b64")
    data = None if body.data_b64 is None else _b64(body.data_b64, "data_b64", MAX_SIGN_BYTES)
    digest = None
    if body.data_hash_hex is not None:
        if not re.fullmatch(r"[0-9a-fA-F]{64}", body.data_hash_hex):
            raise BadInputError("data_hash_hex must be 64 hex digits (SM3)", message_zh="原文杂凑值格式错误",
                                field="data_hash_hex")
        digest = bytes.fromhex(body.data_hash_hex)
    now = clock.now().replace(microsecond=0)
    der = sign_with_seal(seal_der=rec.der, signer_key=store.signing_key(body.key_id),
                         signer_cert_der=_cert_of(store, body.key_id), data=data, data_hash=digest, at=now,
                         property_info=body.property_info, seal_register=register)
    from esign.formats.ses import parse_unverified_ses_signature

    data_hash = parse_unverified_ses_signature(der).data_hash.hex()
    sig_sha = hashlib.sha256(der).hexdigest()
    client = request.client.host if request.client is not None else ""
    with db.write_session() as s:
        register.record(SealUsage(seal_id=rec.seal_id, enterprise=rec.enterprise, actor=principal.id,
                                  data_hash_hex=data_hash, signature_sha256=sig_sha, at=now, client=client,
                                  property_info=body.property_info, key_id=body.key_id), session=s)
    return SignOut(seal_id=rec.seal_id, signature_b64=base64.b64encode(der).decode(), signature_sha256=sig_sha,
                   data_hash_hex=data_hash, signing_time=now)


@router.get("/v1/seals/{seal_id}/usage", response_model=list[UsageOut], summary="Uses of one seal (用印记录)")
def seal_usage(
    seal_id: str,
    limit: int = 100,
    offset: int = 0,
    principal: AuthPrincipal = Depends(_anyone),  # noqa: B008
    register: SqlSealRegister = Depends(_register),  # noqa: B008
) -> list[UsageOut]:
    """Newest first."""
    _get(register, principal, seal_id)
    return [_usage_out(u) for u in register.query(seal_id=seal_id, limit=limit, offset=offset)]


@router.get("/v1/seal-usage", response_model=list[UsageOut], summary="Seal uses by enterprise (用印记录)")
def usage_by_enterprise(
    enterprise: str,
    limit: int = 100,
    offset: int = 0,
    principal: AuthPrincipal = Depends(_anyone),  # noqa: B008
    register: SqlSealRegister = Depends(_register),  # noqa: B008
) -> list[UsageOut]:
    """Uses of every seal of ``enterprise`` in the caller's region, newest first."""
    uses = register.query(enterprise=enterprise, limit=limit, offset=offset)
    if principal.region == ALL_REGIONS:
        return [_usage_out(u) for u in uses]
    regions = {u.seal_id: register.get(u.seal_id).region for u in uses}
    return [_usage_out(u) for u in uses if regions[u.seal_id] == principal.region]
