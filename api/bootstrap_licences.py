"""Demo issuing authority at first start: key, ``licence_issuer`` certificate, seal, registration.

:func:`bootstrap` is idempotent (each piece is created only when missing) and must run after
:mod:`api.bootstrap_ses` (it uses the region's seal-maker key to make the authority's seal):

1. ``<region>.licence-issuer``: an SM2 key in the service key store with a ``licence_issuer``
   certificate from the region's issuing CA.
2. A seal ``<region>LICENCE01`` made by the region's seal maker, listing that certificate, in the
   seal register (owner: the demo authority's USCC).
3. The issuing authority ``demo-<region>`` (:data:`DEMO_AUTHORITY_NAME`) allowed to issue every
   national licence type, signing with GB/T 38540 seal signatures.

Needs the region PKI (``ESIGN_DEMO_PKI`` or ``esign ca init``); without it this step logs and
does nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from api.settings import Settings
from keys.errors import EsignError, KeyStoreError

__all__ = ["DEMO_AUTHORITY_NAME", "ISSUER_KEY_NAME", "bootstrap", "demo_authority_id", "demo_uscc"]

#: Name (after ``<region>.``) of the demo authority's key in the service key store.
ISSUER_KEY_NAME = "licence-issuer"
#: Printed name of the demo authority.
DEMO_AUTHORITY_NAME = "演示发证机构（Demo issuing authority）"
_log = logging.getLogger("esign.bootstrap.licences")


def demo_authority_id(region: str) -> str:
    """Id of the region's demo issuing authority."""
    return f"demo-{region}"


def demo_uscc(region: str) -> str:
    """A check-valid USCC for the demo authority (机构编制 1/1, the region's area code; not a real body)."""
    from licences.identifiers import make_uscc

    area = region if region.isdigit() else "440000"
    return make_uscc("1", "1", area, "MB0DEM01")


def _ensure_key(store: Any, key_id: str, *, profile: str, subject: dict[str, str], region: Any,
                at: datetime) -> None:
    """The key (SM2) with a certificate of ``profile`` from the region's issuing CA, created when missing."""
    from keys.errors import NotFoundError

    try:
        info = store.key_info(key_id)
    except NotFoundError:
        info = store.create_key(key_id, alg="sm2")
    try:
        store.certificate(key_id)
        return
    except NotFoundError:
        pass
    issued = region.ca().issue(subject=subject, profile=profile, public_key=store.public_key(key_id), at=at)
    store.attach_certificate(key_id, info.version, issued.der)


def bootstrap(settings: Settings, *, at: datetime) -> None:
    """Create the demo issuing authority when missing (see the module docstring)."""
    from api.bootstrap_ses import open_service_keystore
    from api.routes.ca import open_region

    try:
        region = open_region(settings)
    except KeyStoreError as exc:
        _log.warning("licence bootstrap skipped: %s", exc.message)
        return
    code = settings.region
    try:
        store = open_service_keystore(settings)
    except EsignError as exc:
        _log.warning("licence bootstrap skipped: key store unavailable (%s)", exc.message)
        return
    try:
        key_id = f"{code}.{ISSUER_KEY_NAME}"
        _ensure_key(store, key_id, profile="licence_issuer", region=region, at=at,
                    subject={"C": "CN", "O": f"{code} eSign", "CN": f"{code} 电子证照签发"})
        _authority(settings, store, key_id, at=at)
    except EsignError as exc:
        _log.warning("licence bootstrap incomplete: %s", exc.message)
    finally:
        store.close()


def _authority(settings: Settings, store: object, key_id: str, *, at: datetime) -> None:
    from api.bootstrap_ses import render_seal_png
    from api.logging import pii_hash
    from api.routes.seals import maker_key_id
    from api.storage.audit import SqlAuditLog
    from api.storage.db import Database
    from api.storage.licences import SqlLicenceRepository
    from api.storage.seals import SqlSealRegister
    from esign.ses import make_seal
    from keys.errors import NotFoundError
    from licences.catalogue import national_types
    from licences.issuance import LicenceService
    from licences.model import IssuingAuthority, SignatureFormat

    code = settings.region
    at = at.replace(microsecond=0)
    db = Database(settings.resolved_database_url())
    try:
        audit = SqlAuditLog(db, clock=lambda: at)
        repo = SqlLicenceRepository(db, audit=audit)
        seals = SqlSealRegister(db, audit=audit)
        auth_id = demo_authority_id(code)
        try:
            repo.get_authority(auth_id)
            return
        except NotFoundError:
            pass
        uscc = demo_uscc(code)
        seal_id = f"{code}LICENCE01"
        try:
            seals.get(seal_id)
        except NotFoundError:
            der = make_seal(maker_key=store.signing_key(maker_key_id(code)),  # type: ignore[attr-defined]
                            maker_cert_der=store.certificate(maker_key_id(code)),  # type: ignore[attr-defined]
                            seal_id=seal_id, seal_type=2, name="演示发证机构证照专用章",
                            signer_certs=[store.certificate(key_id)],  # type: ignore[attr-defined]
                            valid_from=at, valid_to=at + timedelta(days=3 * 365),
                            picture=render_seal_png("DEMO LICENCE SEAL"), width_mm=40, height_mm=40, at=at)
            seals.add(der, region=code, enterprise=uscc, at=at, actor="system")
        svc = LicenceService(repo, keys=store, seals=seals, pii_hash=pii_hash)  # type: ignore[arg-type]
        svc.register_authority(IssuingAuthority(
            id=auth_id, region=code, name=DEMO_AUTHORITY_NAME, uscc=uscc,
            allowed_types=tuple(t.code for t in national_types()), key_id=key_id, seal_id=seal_id, certificate=b"",
            signature_format=SignatureFormat.SES), actor="system", at=at)
        _log.info("demo issuing authority registered", extra={"authority": auth_id})
    finally:
        db.dispose()
