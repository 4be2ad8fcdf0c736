"""``POST /v1/verify``: the same front door as ``esign verify``, over HTTP.

Upload the artefact as multipart ``file``. Trust is what this deployment is configured with,
never what the caller sends: the region's own root CAs plus any PEM files in
``<data_dir>/trust/``. Revocation data for the region's own CAs is supplied automatically and,
by default, required (fail closed: a certificate from a CA whose revocation status is unknown
is INDETERMINATE).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import JSONResponse

from api.auth import AuthPrincipal, Role, require_role
from api.deps import SystemClock, get_clock, get_settings
from api.routes.ca import region_trust_and_crls
from api.schemas import PROBLEM_RESPONSES
from api.settings import Settings
from keys.errors import BadInputError
from keys.x509 import parse_certificates, parse_crl
from verifier.pki import TrustStore
from verifier.verifier import MAX_INPUT_BYTES, verify_artefact

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["verify"], responses=PROBLEM_RESPONSES)


def service_trust(settings: Settings, now: datetime) -> tuple[TrustStore, list[Any]]:
    """The deployment's trust store and revocation data."""
    anchors_pem, crl_ders = region_trust_and_crls(settings, now)
    certs = parse_certificates(anchors_pem) if anchors_pem else []
    trust_dir = settings.data_dir / "trust"
    if trust_dir.is_dir():
        for f in sorted(trust_dir.glob("*.pem")):
            certs.extend(parse_certificates(f.read_bytes()))
    return TrustStore.of(certs), [parse_crl(d) for d in crl_ders]


def _parse_at(value: str | None, now: datetime) -> datetime:
    if not value:
        return now
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadInputError(f"at={value!r} is not ISO 8601", message_zh="时间格式错误", field="at") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


async def _read_upload(upload: UploadFile, field: str) -> bytes:
    body = await upload.read(MAX_INPUT_BYTES + 1)
    if len(body) > MAX_INPUT_BYTES:
        raise BadInputError(f"{field} larger than 64 MiB", message_zh="文件过大", field=field)
    return body


@router.post(
    "/verify",
    summary="Verify an uploaded artefact (chain, CMS, seal, seal signature, OFD); ETSI-style report",
    responses={200: {"description": "The validation report (indication, sub_indication, reason, checks)"}},
)
async def verify_upload(
    file: UploadFile = File(..., description="The artefact: PEM chain (leaf first) or DER certificate"),  # noqa: B008
    at: str | None = Form(default=None, description="Validation time, ISO 8601 (default now)"),
    require_revocation: bool = Form(default=True),
    data: UploadFile | None = File(default=None, description="Signed data of a detached signature"),  # noqa: B008
    certs: UploadFile | None = File(default=None, description="Untrusted extra certificates (PEM)"),  # noqa: B008
    principal: AuthPrincipal = Depends(require_role(*Role)),  # noqa: B008
    settings: Settings = Depends(get_settings),  # noqa: B008
    clock: SystemClock = Depends(get_clock),  # noqa: B008
) -> JSONResponse:
    """200 with the report for any verdict; 400 problem for input that cannot be verified at all."""
    artefact = await _read_upload(file, "file")
    detached = await _read_upload(data, "data") if data is not None else None
    extra = parse_certificates(await _read_upload(certs, "certs")) if certs is not None else []
    now = clock.now()
    trust, crls = service_trust(settings, now)
    report = verify_artefact(artefact, trust=trust, at=_parse_at(at, now), crls=crls,
                             require_revocation=require_revocation, detached=detached, extra_certs=extra)
    return JSONResponse(report.to_dict())
