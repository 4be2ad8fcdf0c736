"""The region's certificate authorities over HTTP.

Public (no token): the CA certificates and trust anchors, and each CA's current CRL at the
URL written into every certificate's CRL distribution point (``/v1/ca/crl/<ca>.crl``).
Issuing and revoking need the ``admin`` or ``issuer`` role in the region; both are audited,
and a revocation publishes a fresh CRL at once.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Response, status
from pydantic import BaseModel, Field

from api.auth import AuthPrincipal, Role, require_region, require_role
from api.deps import SystemClock, get_audit, get_clock, get_settings
from api.logging import pii_hash
from api.schemas import PROBLEM_RESPONSES
from api.settings import Settings
from api.storage.audit import SqlAuditLog
from keys.ca import Region
from keys.errors import KeyStoreError
from keys.x509 import cert_to_pem, parse_crl

__all__ = ["open_region", "router"]

router = APIRouter(prefix="/v1/ca", tags=["certificate authorities"], responses=PROBLEM_RESPONSES)
_issuer = require_role(Role.ADMIN, Role.ISSUER)
_crl_lock = threading.Lock()


def open_region(settings: Settings) -> Region:
    """The deployment's own region PKI (``<data_dir>/pki/<region>``)."""
    directory = settings.pki_dir / settings.region
    if not (directory / "region.json").exists():
        raise KeyStoreError(
            f"region {settings.region} has no PKI yet: run `esign ca init` or start with ESIGN_DEMO_PKI=1",
            message_zh="本地区尚未初始化 CA",
        )
    return Region(directory, passphrase=settings.keystore_passphrase_bytes(create=settings.demo))


def _region(settings: Settings = Depends(get_settings)) -> Region:  # noqa: B008
    return open_region(settings)


class CaOut(BaseModel):
    """One CA of the region with its current certificate."""

    name: str
    subject: str
    serial: str
    algorithm: str
    not_before: datetime
    not_after: datetime
    certificate_pem: str


class RegionOut(BaseModel):
    """The region's CAs and the trust anchors to hand to relying parties."""

    region: str
    cas: list[CaOut]
    trust_anchors_pem: str


class IssueRequest(BaseModel):
    """An end-entity certificate for a public key the caller holds."""

    profile: str = Field(examples=["licence_issuer", "seal_maker", "enterprise_signer", "timestamping", "ocsp"])
    subject: dict[str, str] = Field(examples=[{"C": "CN", "O": "广东省市场监督管理局", "CN": "营业执照签发"}])
    public_key_pem: str
    validity_days: int | None = Field(default=None, ge=1, le=3650)
    ca: str | None = Field(default=None, description="Issuing CA name; default the first issuing-authority CA")


class IssuedOut(BaseModel):
    """The issued certificate and its chain up to (not including) the root."""

    serial: str
    profile: str
    certificate_pem: str
    chain_pem: str


class RevokeRequest(BaseModel):
    """An RFC 5280 revocation reason."""

    reason: str = Field(default="unspecified", examples=["key_compromise", "superseded", "cessation_of_operation"])


class CertStatusOut(BaseModel):
    """What the CA's index says of one certificate."""

    serial: str
    subject: str
    profile: str
    status: str
    not_before: str
    not_after: str
    revoked_at: str | None = None
    reason: str | None = None
    certificate_pem: str


def _ca_out(region: Region, name: str) -> CaOut:
    cert = region.ca(name).cert
    return CaOut(name=name, subject=cert.subject_str, serial=format(cert.serial, "x"),
                 algorithm=region.meta["alg"], not_before=cert.not_before, not_after=cert.not_after,
                 certificate_pem=cert_to_pem(cert.der).decode())


@router.get("", response_model=RegionOut, summary="The region's CAs and trust anchors (public)")
def show_region(region: Region = Depends(_region)) -> RegionOut:  # noqa: B008
    """Certificates only; nothing secret."""
    return RegionOut(region=region.meta["region"], cas=[_ca_out(region, n) for n in region.meta["cas"]],
                     trust_anchors_pem=region.trust_anchors_pem().decode())


@router.get("/crl/{name}.crl", summary="A CA's current CRL (DER; public CRL distribution point)",
            response_class=Response, responses={200: {"content": {"application/pkix-crl": {}}}})
def get_crl(
    name: str,
    region: Region = Depends(_region),  # noqa: B008
    clock: SystemClock = Depends(get_clock),  # noqa: B008
) -> Response:
    """Served from the CA's saved CRL; a new one is signed when none exists or it is past half its life."""
    return Response(content=_current_crl(region, name, clock.now()), media_type="application/pkix-crl",
                    headers={"Cache-Control": "public, max-age=300"})


def _current_crl(region: Region, name: str, now: datetime) -> bytes:
    ca = region.ca(name)
    path = ca.directory / "crl.pem"
    with _crl_lock:
        if path.exists():
            crl = parse_crl(path.read_bytes())
            nxt = crl.next_update
            if nxt is not None and now < crl.this_update + (nxt - crl.this_update) / 2:
                return crl.der
        return ca.issue_crl(at=now, validity=timedelta(days=7))


@router.post("/certificates", response_model=IssuedOut, status_code=status.HTTP_201_CREATED,
             summary="Issue an end-entity certificate")
def issue_certificate(
    body: IssueRequest,
    principal: AuthPrincipal = Depends(_issuer),  # noqa: B008
    region: Region = Depends(_region),  # noqa: B008
    audit: SqlAuditLog = Depends(get_audit),  # noqa: B008
    clock: SystemClock = Depends(get_clock),  # noqa: B008
) -> IssuedOut:
    """The caller keeps the private key; only the public key (PEM SPKI or a CSR-less certificate) is sent."""
    require_region(principal, region.meta["region"])
    ca = region.ca(body.ca)
    issued = ca.issue(subject=body.subject, profile=body.profile, public_key=body.public_key_pem.encode(),
                      at=clock.now(), validity_days=body.validity_days)
    subject_hash = pii_hash(str(sorted(body.subject.items())))
    audit.append(actor=principal.id, action="ca.issue", object_type="certificate", object_id=issued.serial_hex,
                 details={"ca": ca.name, "profile": body.profile, "subject": subject_hash})
    return IssuedOut(serial=issued.serial_hex, profile=issued.profile, certificate_pem=issued.pem.decode(),
                     chain_pem=region.chain_pem(ca.name).decode())


@router.get("/certificates/{serial}", response_model=CertStatusOut, summary="Status of an issued certificate")
def certificate_status(
    serial: str,
    ca: str | None = None,
    principal: AuthPrincipal = Depends(require_role(*Role)),  # noqa: B008
    region: Region = Depends(_region),  # noqa: B008
) -> CertStatusOut:
    """Good or revoked (with time and reason), as the issuing CA's index holds it."""
    entry = region.ca(ca).lookup(serial)
    return _status_out(serial, entry)


def _status_out(serial: str, entry: dict[str, Any]) -> CertStatusOut:
    return CertStatusOut(serial=serial.lower(), subject=entry["subject"], profile=entry["profile"],
                         status=entry["status"], not_before=entry["not_before"], not_after=entry["not_after"],
                         revoked_at=entry.get("revoked_at"), reason=entry.get("reason"),
                         certificate_pem=entry["pem"])


@router.post("/certificates/{serial}/revoke", response_model=CertStatusOut, summary="Revoke; a new CRL is published")
def revoke_certificate(
    serial: str,
    body: RevokeRequest,
    ca: str | None = None,
    principal: AuthPrincipal = Depends(_issuer),  # noqa: B008
    region: Region = Depends(_region),  # noqa: B008
    audit: SqlAuditLog = Depends(get_audit),  # noqa: B008
    clock: SystemClock = Depends(get_clock),  # noqa: B008
) -> CertStatusOut:
    """Revokes at the current time; 409 if already revoked, 404 if the CA never issued it."""
    require_region(principal, region.meta["region"])
    authority = region.ca(ca)
    now = clock.now()
    authority.revoke(serial, reason=body.reason, at=now)
    with _crl_lock:
        authority.issue_crl(at=now, validity=timedelta(days=7))
    audit.append(actor=principal.id, action="ca.revoke", object_type="certificate", object_id=serial.lower(),
                 details={"ca": authority.name, "reason": body.reason})
    return _status_out(serial, authority.lookup(serial))


def region_ca_certificates_pem(settings: Settings) -> bytes:
    """Every certificate of the region's issuing CAs (current and rotated), PEM: untrusted path helpers.

    Signatures such as SES seal signatures carry only the end-entity certificate; the verifier needs
    the issuing CA between it and the region root. Trust still comes only from the anchors.
    """
    try:
        region = open_region(settings)
    except KeyStoreError:
        return b""
    return b"".join(region.chain_pem(n) for n in region.meta["cas"] if n != "root")


def region_trust_and_crls(settings: Settings, now: datetime) -> tuple[bytes, list[bytes]]:
    """The region's trust anchors (PEM) and each CA's current CRL (DER), for the verifier."""
    try:
        region = open_region(settings)
    except KeyStoreError:
        return b"", []
    return region.trust_anchors_pem(), [_current_crl(region, n, now) for n in region.meta["cas"]]
