"""First-run keys and certificates for the service's time-stamp authority and OCSP responders.

:func:`bootstrap` (idempotent) issues, from the region's own CAs (``api.routes.ca.open_region``):

- a TSA key and certificate (profile ``timestamping``: critical EKU timeStamping) from the first
  issuing-authority CA, with a per-deployment TSA policy OID under the UUID arc ``2.25``;
- one delegated OCSP responder key and certificate (profile ``ocsp``) per CA of the region.

Everything lives in ``<data_dir>/tsa/`` (``state.json`` + PEM files, each written atomically);
private keys are PKCS#8 encrypted with the key-store passphrase. :func:`load_services` reads them
back into a :class:`TsaServices` (TSA + responders) for the routes and the CLI.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from api.settings import Settings
from esign.ocsp import CaStatusSource, OcspResponder, OcspResponderSet
from esign.tsa import TimeStampAuthority
from keys.errors import EsignError, KeyStoreError
from keys.keypairs import generate_key
from keys.pkcs8 import SCRYPT_N, decrypt_private_key, encrypt_private_key
from keys.ports import Clock
from keys.x509 import cert_to_pem, parse_certificate

__all__ = ["TSA_DIRNAME", "TsaServices", "bootstrap", "load_services"]

TSA_DIRNAME = "tsa"
_STATE = "state.json"
_log = logging.getLogger("esign.tsa")


def _atomic(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _issue(ca: Any, *, subject: dict[str, str], profile: str, alg: str, at: datetime, passphrase: bytes,
           scrypt_n: int, directory: Path, stem: str) -> dict[str, str]:
    key = generate_key(alg)
    issued = ca.issue(subject=subject, profile=profile, public_key=key.public_key(), at=at)
    _atomic(directory / f"{stem}-key.pem", encrypt_private_key(key, passphrase=passphrase, scrypt_n=scrypt_n))
    _atomic(directory / f"{stem}-cert.pem", issued.pem, mode=0o644)
    return {"key": f"{stem}-key.pem", "cert": f"{stem}-cert.pem", "serial": issued.serial_hex, "ca": ca.name}


def bootstrap(settings: Settings, *, at: datetime, alg: str | None = None) -> None:
    """Create the TSA and OCSP responder keys and certificates once; later calls do nothing.

    Skipped (with a log line) when the region has no PKI yet. ``alg`` defaults to the region's.
    """
    directory = settings.data_dir / TSA_DIRNAME
    if (directory / _STATE).exists():
        return
    try:
        from api.routes.ca import open_region  # here: api.routes imports this module

        region = open_region(settings)
    except KeyStoreError as exc:
        _log.warning("TSA/OCSP bootstrap skipped: %s", exc.message)
        return
    passphrase = settings.keystore_passphrase_bytes(create=settings.demo)
    scrypt_n = settings.keystore_scrypt_n or SCRYPT_N
    alg = alg or str(region.meta["alg"])
    name = str(region.meta["region"])
    ca = region.ca()
    state: dict[str, Any] = {
        "policy_oid": f"2.25.{uuid.uuid4().int}",
        "created_at": at.isoformat(),
        "tsa": _issue(ca, subject={"C": "CN", "O": f"{name} eSign", "CN": f"{name} Time-Stamping Authority"},
                      profile="timestamping", alg=alg, at=at, passphrase=passphrase, scrypt_n=scrypt_n,
                      directory=directory, stem="tsa"),
        "ocsp": {},
    }
    for ca_name in region.meta["cas"]:
        state["ocsp"][ca_name] = _issue(
            region.ca(ca_name), subject={"C": "CN", "O": f"{name} eSign", "CN": f"{name} {ca_name} OCSP Responder"},
            profile="ocsp", alg=alg, at=at, passphrase=passphrase, scrypt_n=scrypt_n, directory=directory,
            stem=f"ocsp-{ca_name}")
    _atomic(directory / _STATE, json.dumps(state, indent=2).encode())
    _log.info("TSA and OCSP responders bootstrapped", extra={"dir": str(directory)})


@dataclass(frozen=True)
class TsaServices:
    """The service's TSA and OCSP responders, ready to answer."""

    tsa: TimeStampAuthority
    """The time-stamp authority."""
    ocsp: OcspResponderSet
    """One responder per CA of the region."""
    chain_pem: bytes
    """TSA certificate followed by its issuing CA (for clients)."""


def load_services(settings: Settings, *, clock: Clock) -> TsaServices:
    """Load what :func:`bootstrap` wrote. Raises KeyStoreError when it has not run."""
    directory = settings.data_dir / TSA_DIRNAME
    try:
        state = json.loads((directory / _STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise KeyStoreError(
            "the time-stamp authority is not set up (no tsa/state.json); start the service with the demo "
            "bootstrap or run api.bootstrap_tsa.bootstrap",
            message_zh="时间戳服务尚未初始化",
        ) from exc
    from api.routes.ca import open_region  # here: api.routes imports this module

    region = open_region(settings)
    passphrase = settings.keystore_passphrase_bytes(create=settings.demo)

    def load(entry: dict[str, str]) -> tuple[Any, bytes]:
        try:
            key = decrypt_private_key((directory / entry["key"]).read_bytes(), passphrase=passphrase)
            cert = parse_certificate((directory / entry["cert"]).read_bytes()).der
        except OSError as exc:
            raise KeyStoreError(
                f"TSA/OCSP key file missing: {exc.filename}", message_zh="时间戳/OCSP 密钥文件缺失"
            ) from exc
        return key, cert

    try:
        tkey, tcert = load(state["tsa"])
        issuing = region.ca(state["tsa"]["ca"])
        tsa = TimeStampAuthority(key=tkey, cert_der=tcert, chain=[issuing.cert.der], policy_oid=state["policy_oid"],
                                 clock=clock)
        responders = []
        for ca_name, entry in state["ocsp"].items():
            okey, ocert = load(entry)
            ca = region.ca(ca_name)
            for issuer in ca.all_certs():  # rotated CA certificates: the responder answers for the one that issued it
                if parse_certificate(ocert).issuer == issuer.subject:
                    try:
                        responders.append(OcspResponder(ca_index=CaStatusSource(ca), responder_key=okey,
                                                        responder_cert=ocert, issuer_cert=issuer.der))
                    except EsignError:
                        continue
    except (KeyError, TypeError) as exc:
        raise KeyStoreError(f"tsa/state.json is damaged: {exc}", message_zh="时间戳服务配置损坏") from exc
    chain = cert_to_pem(tcert) + cert_to_pem(issuing.cert.der)
    return TsaServices(tsa=tsa, ocsp=OcspResponderSet(responders), chain_pem=chain)
