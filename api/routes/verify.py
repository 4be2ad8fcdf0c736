"""``POST /v1/verify``: the same front door as ``esign verify``, over HTTP.

Upload the artefact as multipart ``file`` (or send ``{"qr": ...}``). Trust is what this
deployment is configured with, never what the caller sends, for every kind:

- local anchors: the region's own root CAs plus any PEM files in ``<data_dir>/trust/``;
- the trust registry: every trust list imported with ``POST /v1/trust-lists`` (re-verified on
  load), with the recognition policy of ``ESIGN_POLICY_FILE`` (unset: only the local region's
  own artefacts are recognised). Every report says which region, list version and rule applied.

Revocation data for the region's own CAs is supplied automatically and, by default, required
(fail closed: a certificate from a CA whose revocation status is unknown is INDETERMINATE);
revocation data for other regions' CAs comes with the artefact or in the ``crls`` field.

Licence status: signed status lists come in the repeatable multipart field ``status_list`` (or
``status_lists_b64`` in the JSON body for QR text). When the licence's (or ``ESL1:`` token's)
issuing authority is registered in this service, its current status list (the one ``GET
/v1/status-lists/{authority}`` serves, same cache) is added automatically, so a local licence
gets a definite answer; the newest list of the licence's authority that verifies decides.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.datastructures import UploadFile as StarletteUpload

from api.auth import AuthPrincipal, Role, require_role
from api.deps import SystemClock, get_clock, get_settings
from api.routes.ca import region_ca_certificates_pem, region_trust_and_crls
from api.routes.licences import current_status_list, get_licence_service
from api.schemas import PROBLEM_RESPONSES
from api.settings import Settings
from api.trust_store import TrustListStore
from keys.errors import BackendUnavailableError, BadInputError, EsignError
from keys.keypairs import pem_blocks
from keys.x509 import Certificate, Crl, parse_certificate, parse_certificates, parse_crl
from licences.errors import LicenceNotFoundError
from verifier.licence import MAX_STATUS_LIST_BYTES, is_signed_licence, parse_unverified_signed_licence
from verifier.licence_qr import LicenceQrFormatError, decode_licence_qr
from verifier.pki import PathPolicy, TrustStore
from verifier.policy import MAX_POLICY_BYTES, Policy, load_policy
from verifier.report import ValidationReport
from verifier.trust import TrustRegistry
from verifier.verifier import MAX_INPUT_BYTES, MAX_STATUS_LISTS, verify_artefact, verify_qr

__all__ = ["router", "service_intermediates", "service_policy", "service_registry", "service_trust"]

router = APIRouter(prefix="/v1", tags=["verify"], responses=PROBLEM_RESPONSES)


def service_intermediates(settings: Settings) -> list[Any]:
    """The region's own CA certificates, offered to path building (untrusted; anchors decide)."""
    pem = region_ca_certificates_pem(settings)
    return parse_certificates(pem) if pem else []


def service_trust(settings: Settings, now: datetime) -> tuple[TrustStore, list[Any]]:
    """The deployment's trust store and revocation data."""
    anchors_pem, crl_ders = region_trust_and_crls(settings, now)
    certs = parse_certificates(anchors_pem) if anchors_pem else []
    trust_dir = settings.data_dir / "trust"
    if trust_dir.is_dir():
        for f in sorted(trust_dir.glob("*.pem")):
            certs.extend(parse_certificates(f.read_bytes()))
    return TrustStore.of(certs), [parse_crl(d) for d in crl_ders]


def service_policy(settings: Settings) -> Policy | None:
    """The deployment's recognition / validation policy (``ESIGN_POLICY_FILE``), or ``None``.

    A policy that cannot be read, does not parse or is for another region stops verification
    (503): verifying under a policy other than the configured one would not be failing closed.
    """
    path = getattr(settings, "policy_file", None)
    if path is None:
        return None
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_POLICY_BYTES + 1)
        policy = load_policy(raw)
    except (OSError, EsignError) as exc:
        why = exc.message if isinstance(exc, EsignError) else exc.strerror
        raise BackendUnavailableError(f"the verification policy {path} is unusable: {why}",
                                      message_zh="验证策略文件无法使用") from exc
    if policy.recognition.local_region != settings.region:
        raise BackendUnavailableError(
            f"the verification policy is for region {policy.recognition.local_region}, "
            f"this service is {settings.region}",
            message_zh="验证策略的本地区与本服务不一致")
    return policy


def service_registry(settings: Settings, now: datetime, policy: Policy | None = None) -> TrustRegistry:
    """Every imported trust list (re-verified) with the deployment's policy."""
    return TrustListStore.for_settings(settings).registry(
        local_region=settings.region, at=now, recognition=policy.recognition if policy else None,
        validation=policy.validation if policy else None)


#: Most CRLs accepted in one request.
MAX_UPLOADED_CRLS = 64


def _parse_crls(data: bytes) -> list[Crl]:
    """One DER CRL, or any number of PEM ``X509 CRL`` blocks (bounded)."""
    if b"-----BEGIN" not in data[:1024]:
        return [parse_crl(data)]
    blocks = [der for label, der in pem_blocks(data) if label == "X509 CRL"]
    if not blocks or len(blocks) > MAX_UPLOADED_CRLS:
        raise BadInputError(f"crls holds 1..{MAX_UPLOADED_CRLS} PEM X509 CRL blocks", message_zh="CRL 文件格式错误",
                            field="crls")
    return [parse_crl(b) for b in blocks]


def _parse_at(value: str | None, now: datetime) -> datetime:
    if not value:
        return now
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadInputError(f"at={value!r} is not ISO 8601", message_zh="时间格式错误", field="at") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


async def _read_upload(upload: StarletteUpload, field: str) -> bytes:
    body = await upload.read(MAX_INPUT_BYTES + 1)
    if len(body) > MAX_INPUT_BYTES:
        raise BadInputError(f"{field} larger than 64 MiB", message_zh="文件过大", field=field)
    return body


#: Most status lists a request may carry (one place is kept for this service's own list).
MAX_UPLOADED_LISTS = MAX_STATUS_LISTS - 1


def _too_many_lists() -> BadInputError:
    return BadInputError(f"at most {MAX_UPLOADED_LISTS} status lists", field="status_list",
                         message_zh=f"状态列表最多 {MAX_UPLOADED_LISTS} 个")


async def _uploaded_lists(items: list[Any]) -> list[bytes]:
    """The multipart ``status_list`` files (repeatable), each bounded."""
    if len(items) > MAX_UPLOADED_LISTS:
        raise _too_many_lists()
    out = []
    for item in items:
        if not isinstance(item, StarletteUpload):
            raise BadInputError("status_list is a file (the signed CBOR list)", message_zh="状态列表须以文件上传",
                                field="status_list")
        body = await item.read(MAX_STATUS_LIST_BYTES + 1)
        if len(body) > MAX_STATUS_LIST_BYTES:
            raise BadInputError("status list larger than 4 MiB", message_zh="状态列表过大", field="status_list")
        out.append(body)
    return out


def _b64_lists(value: Any) -> list[bytes]:
    """``status_lists_b64`` of the JSON body."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise BadInputError("status_lists_b64 is a list of base64 strings", message_zh="状态列表须为 base64 字符串列表",
                            field="status_lists_b64")
    if len(value) > MAX_UPLOADED_LISTS:
        raise _too_many_lists()
    out = []
    for x in value:
        if len(x) > (MAX_STATUS_LIST_BYTES * 4) // 3 + 4:
            raise BadInputError("status list larger than 4 MiB", message_zh="状态列表过大", field="status_lists_b64")
        try:
            out.append(base64.b64decode(x, validate=True))
        except (binascii.Error, ValueError):
            raise BadInputError("status_lists_b64 holds text that is not base64", message_zh="状态列表 base64 编码错误",
                                field="status_lists_b64") from None
    return out


def _local_status_list(request: Request, authority_id: Any, now: datetime) -> tuple[list[bytes], list[Certificate]]:
    """This service's current status list (and the authority's certificate) if it issues for ``authority_id``."""
    if not isinstance(authority_id, str) or not authority_id or len(authority_id) > 64:
        return [], []
    svc = get_licence_service(request)
    try:
        data = current_status_list(request, svc, authority_id, now)
        cert = parse_certificate(svc.repo.get_authority(authority_id).certificate)
    except LicenceNotFoundError:
        return [], []
    return [data], [cert]


def _licence_authority(artefact: bytes) -> Any:
    if not is_signed_licence(artefact):
        return None
    try:
        ref = parse_unverified_signed_licence(artefact).content.get("status_list")
    except BadInputError:
        return None  # the front door reports the malformed licence
    return ref.get("authority") if isinstance(ref, dict) else None


def _token_authority(text: str) -> str | None:
    try:
        uri = decode_licence_qr(text.strip()).status_uri
    except LicenceQrFormatError:
        return None
    return None if uri is None else uri.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


_OPENAPI_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "The artefact"},
                        "status_list": {"type": "array", "items": {"type": "string", "format": "binary"},
                                        "description": "Signed status lists (repeatable), for a licence"},
                        "data": {"type": "string", "format": "binary", "description": "Detached signed data"},
                        "certs": {"type": "string", "format": "binary", "description": "Extra certificates (PEM)"},
                        "crls": {"type": "string", "format": "binary",
                                 "description": "Extra CRLs (PEM or DER), e.g. another region's"},
                        "at": {"type": "string", "description": "Validation time, ISO 8601 (default now)"},
                        "require_revocation": {"type": "boolean", "default": True},
                    },
                }
            },
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["qr"],
                    "properties": {
                        "qr": {"type": "string", "description": "QR text, e.g. HC1:..."},
                        "status_lists_b64": {"type": "array", "items": {"type": "string"},
                                             "description": "Signed status lists, base64, for an ESL1: token"},
                        "at": {"type": "string", "description": "Validation time, ISO 8601 (default now)"},
                    },
                }
            },
        },
    }
}


@router.post(
    "/verify",
    summary="Verify an artefact (chain, CMS, PDF, seal, seal signature, OFD) or QR text; ETSI-style report",
    responses={200: {"description": "The validation report (indication, sub_indication, reason, checks); with "
                                    "?format=html a printable page (zh + en)",
                     "content": {"application/json": {}, "text/html": {}}}},
    openapi_extra=_OPENAPI_BODY,
)
async def verify(
    request: Request,
    format: str = Query("json", pattern="^(json|html)$",
                        description="json for machines; html for a printable report for people"),
    principal: AuthPrincipal = Depends(require_role(*Role)),  # noqa: B008
    settings: Settings = Depends(get_settings),  # noqa: B008
    clock: SystemClock = Depends(get_clock),  # noqa: B008
) -> Response:
    """Multipart upload of a file (with ``status_list`` files for a licence), or JSON ``{"qr": "HC1:..."}``.

    200 with the report for any verdict; 400 problem for input that cannot be verified at all.
    ``?format=html`` gives the same report as a printable HTML page (as ``esign verify --format html``).
    """
    now = clock.now()
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = await request.json()
        except ValueError:
            raise BadInputError("the body is not JSON", message_zh="请求体不是 JSON", field="body") from None
        if not isinstance(body, dict) or not isinstance(body.get("qr"), str):
            raise BadInputError('expected {"qr": "<QR text>"}', message_zh="缺少二维码内容 qr", field="qr")
        at_value = body.get("at")
        lists = _b64_lists(body.get("status_lists_b64"))
        registry = service_registry(settings, now, service_policy(settings))
        at = _parse_at(at_value if isinstance(at_value, str) else None, now)
        certs: list[Certificate] = []
        if body["qr"].lstrip().startswith("ESL1:"):
            local, certs = _local_status_list(request, _token_authority(body["qr"]), now)
            lists = [*local, *lists]
        # A token of an authority registered in THIS service is judged by the region's own anchors (as
        # a local file is, rule local-region); any other by the imported trust lists.
        local_trust, local_crls = service_trust(settings, now)
        qr_trust: TrustRegistry | TrustStore = local_trust if certs else registry
        report = verify_qr(body["qr"], trust=qr_trust, at=at, status_lists=lists,
                           certs=[*certs, *service_intermediates(settings)], crls=local_crls)
        return _respond(report, format)
    form = await request.form()
    file = form.get("file")
    if not isinstance(file, StarletteUpload):
        raise BadInputError("upload the artefact as multipart field 'file'", message_zh="请上传文件", field="file")
    artefact = await _read_upload(file, "file")
    data, certs, crl_file = form.get("data"), form.get("certs"), form.get("crls")
    detached = await _read_upload(data, "data") if isinstance(data, StarletteUpload) else None
    extra = parse_certificates(await _read_upload(certs, "certs")) if isinstance(certs, StarletteUpload) else []
    extra_crls = _parse_crls(await _read_upload(crl_file, "crls")) if isinstance(crl_file, StarletteUpload) else []
    lists = await _uploaded_lists(form.getlist("status_list"))
    local, _ = _local_status_list(request, _licence_authority(artefact), now)
    lists = [*local, *lists]
    at_field = form.get("at")
    require_revocation = str(form.get("require_revocation", "true")).lower() not in ("false", "0", "no")
    trust, crls = service_trust(settings, now)
    policy = service_policy(settings)
    path_policy: PathPolicy | None = policy.validation.effective().path_policy() if policy else None
    report = verify_artefact(
        artefact,
        trust=trust,
        registry=service_registry(settings, now, policy),
        at=_parse_at(at_field if isinstance(at_field, str) else None, now),
        crls=[*crls, *extra_crls],
        require_revocation=require_revocation,
        policy=path_policy,
        detached=detached,
        extra_certs=[*extra, *service_intermediates(settings)],
        validation=policy.validation if policy else None,
        status_lists=lists,
    )
    return _respond(report, format)


def _respond(report: ValidationReport, fmt: str) -> Response:
    if fmt == "html":
        from verifier.render import report_to_html

        return HTMLResponse(report_to_html(report))
    return JSONResponse(report.to_dict())
