"""First-run bootstrap: a demo region with one principal per role, token files and (if available) a PKI.

Runs from the app lifespan when ``ESIGN_DEMO`` is true (the default) and the database has no
principals yet. Idempotent: a ``kv`` marker records that it ran, and a second start does nothing.

Tokens are written to ``<data_dir>/secrets/<role>.token`` (mode 0600, directory 0700) and never
logged. The region's PKI goes under ``<data_dir>/pki/<region>`` through ``keys.ca`` when that
module exists; otherwise that step is skipped with a log line.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.auth import ALL_REGIONS, SYSTEM_ROLES, Role, create_principal, hash_token
from api.settings import Settings
from api.storage.audit import SqlAuditLog
from api.storage.models import KeyValue, Principal, Region
from keys.errors import EsignError, KeyStoreError

__all__ = ["DEMO_MARKER", "DemoResult", "bootstrap_demo", "ensure_admin_token", "write_token_file"]

DEMO_MARKER = "demo.bootstrapped"
_log = logging.getLogger("esign.demo")


@dataclass(frozen=True)
class DemoResult:
    """What the bootstrap did."""

    region: str
    """Region code bootstrapped."""
    token_files: dict[str, Path] = field(default_factory=dict)
    """Role -> file holding that role's demo token."""
    pki_dir: Path | None = None
    """Where the region PKI was created, or ``None`` when skipped."""
    pki_note: str = ""
    """Why the PKI step was skipped (empty when it ran)."""


def write_token_file(path: Path, token: str) -> None:
    """Write a token to ``path`` with mode 0600 (directory 0700), replacing an older file."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(token + "\n")
    except OSError as exc:
        raise KeyStoreError(f"cannot write token file {path} ({exc.strerror})", message_zh="无法写入令牌文件") from exc


def _init_pki(settings: Settings, *, at: datetime) -> tuple[Path | None, str]:
    """Create ``<data_dir>/pki/<region>`` with ``keys.ca.Region.init`` (root + issuing CA, SM2)."""
    if importlib.util.find_spec("keys.ca") is None:
        return None, "keys.ca is not available in this build; region PKI not initialised"
    ca = importlib.import_module("keys.ca")
    target = settings.pki_dir / settings.region
    if (target / "region.json").exists():
        return target, "region PKI already present; reused"
    ca.Region.init(
        target,
        region=settings.region,
        passphrase=settings.keystore_passphrase_bytes(create=True),
        at=at,
        crl_url=f"{settings.public_base_url.rstrip('/')}/v1/ca/crl",
    )
    return target, ""


def bootstrap_demo(settings: Settings, session: Session, *, audit: SqlAuditLog, at: datetime) -> DemoResult | None:
    """Create the demo region, its principals and token files, and its PKI, once.

    ``session`` must be a write session (:meth:`Database.write_session`); everything commits with it.
    Returns ``None`` when there is nothing to do (already bootstrapped, or principals exist).
    """
    if session.get(KeyValue, DEMO_MARKER) is not None:
        return None
    if session.scalar(select(func.count()).select_from(Principal)):
        _log.info("database already has principals; demo bootstrap skipped")
        return None
    region = settings.region
    # The demo keystore passphrase is generated now (secrets/keystore.pass, 0600) unless configured.
    settings.keystore_passphrase_bytes(create=True)
    if session.get(Region, region) is None:
        session.add(Region(code=region, name=settings.region_name, demo=True, created_at=at))
    files: dict[str, Path] = {}
    for role in (r for r in Role if r not in SYSTEM_ROLES):  # a peer system's credential is issued, not demoed
        row, token = create_principal(
            session, name=f"demo {role.value}", role=role,
            region=ALL_REGIONS if role is Role.ADMIN else region, created_by="system", at=at,
        )
        path = settings.secrets_dir / f"{role.value}.token"
        write_token_file(path, token)
        files[role.value] = path
        audit.append(session=session, actor="system", action="principal.create", object_type="principal",
                     object_id=row.id, details={"role": role.value, "region": row.region, "demo": True})
    try:
        pki_dir, note = _init_pki(settings, at=at) if settings.demo_pki else (None, "")
    except EsignError as exc:  # the service still starts; the PKI can be initialised with `esign ca init`
        pki_dir, note = None, f"region PKI initialisation failed: {exc.message}"
    if pki_dir is not None:
        reg = session.get(Region, region)
        if reg is not None:
            reg.pki_path = str(pki_dir)
    if note:
        _log.warning(note)
    audit.append(session=session, actor="system", action="demo.bootstrap", object_type="region", object_id=region,
                 details={"pki": pki_dir is not None})
    session.add(KeyValue(key=DEMO_MARKER, value=at.isoformat(), updated_at=at))
    session.flush()
    _log.warning("demo region bootstrapped; tokens written (never logged)",
                 extra={"region": region, "token_dir": str(settings.secrets_dir), "pki_dir": str(pki_dir or "")})
    return DemoResult(region=region, token_files=files, pki_dir=pki_dir, pki_note=note)


def ensure_admin_token(settings: Settings, session: Session, *, audit: SqlAuditLog, at: datetime) -> bool:
    """If ``ESIGN_ADMIN_TOKEN`` is set, make sure an admin with that token exists; True if created."""
    if settings.admin_token is None:
        return False
    token = settings.admin_token.get_secret_value()
    if session.scalars(select(Principal).where(Principal.token_hash == hash_token(token))).one_or_none():
        return False
    row, _ = create_principal(session, name="bootstrap admin", role=Role.ADMIN, region=ALL_REGIONS,
                              created_by="system", at=at, token=token)
    audit.append(session=session, actor="system", action="principal.create", object_type="principal",
                 object_id=row.id, details={"role": "admin", "region": ALL_REGIONS, "source": "ESIGN_ADMIN_TOKEN"})
    return True
