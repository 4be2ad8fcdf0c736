"""``esign seal``: make, show, sign with and verify GB/T 38540 seals; manage the seal register.

Offline on files: ``make``, ``show``, ``sign``, ``verify``. On the service database (the same
``ESIGN_*`` settings as ``esign serve``): ``register``, ``list``, ``suspend``, ``reinstate``,
``revoke`` (each audited in the hash chain).

Exit codes: 0 success (``verify``: TOTAL_PASSED); 1 ``verify`` TOTAL_FAILED; 2 bad input or a
refused operation (``verify``: INDETERMINATE); 3 ``verify`` bad input / backend failure. Outputs are
written atomically and only when the whole operation succeeded.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from api.cli import emit, fail
from api.cli._lt_common import read_file
from api.cli._lt_common import write_atomic as _write
from keys.errors import BadInputError, EsignError

__all__ = ["MAX_FILE_BYTES", "seal"]

#: Largest document ``seal sign`` / ``seal verify --data`` reads.
MAX_FILE_BYTES = 256 << 20
_SMALL = 8 << 20
_VERIFY_EXIT = {"TOTAL_PASSED": 0, "TOTAL_FAILED": 1, "INDETERMINATE": 2}


def _read(path: str, what: str, limit: int = _SMALL) -> bytes:
    return read_file(path, limit=limit, what=what)


def _time(value: str | None, what: str) -> datetime:
    if value is None:
        return datetime.now(UTC).replace(microsecond=0)  # the CLI boundary is where "now" comes from
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadInputError(f"--{what} {value!r} is not ISO 8601", message_zh="时间格式错误", field=what) from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _cert(path: str) -> bytes:
    from keys.x509 import parse_certificate

    return parse_certificate(_read(path, "certificate")).der


def _key(key_file: str | None, passphrase_file: str | None, keystore: str | None, key_id: str | None) -> Any:
    if key_file:
        from keys.pkcs8 import load_private_key

        pw = None
        if passphrase_file:
            pw = _read(passphrase_file, "passphrase").split(b"\n", 1)[0].rstrip(b"\r")
        return load_private_key(_read(key_file, "key"), passphrase=pw)
    if keystore and key_id:
        from api.cli._keystore_opts import open_keystore, split_key_ref

        kid, version = split_key_ref(key_id)
        return open_keystore(keystore, passphrase_file).signing_key(kid, version=version)
    raise BadInputError("give --key FILE, or --keystore with --key-id", message_zh="请指定私钥文件或密钥库中的密钥",
                        field="key")


def _key_options(prefix: str) -> Any:
    def deco(f: Any) -> Any:
        f = click.option(f"--{prefix}key-id", "key_id", help="Key id in --keystore (KEY_ID or KEY_ID#vN).")(f)
        f = click.option("--keystore", "keystore", envvar="ESIGN_KEYSTORE",
                         help="Key store URL (file:// or pkcs11:).")(f)
        f = click.option("--passphrase-file", "passphrase_file", type=click.Path(dir_okay=False),
                         help="Passphrase of the key file or the key store (first line).")(f)
        f = click.option(f"--{prefix}key", "key_file", type=click.Path(dir_okay=False),
                         help="Private key file (PKCS#8 PEM, encrypted or not).")(f)
        return f

    return deco


@click.group()
def seal() -> None:
    """GB/T 38540 electronic seals (电子印章) and seal signatures (电子签章)."""


@seal.command("make")
@_key_options("maker-")
@click.option("--maker-cert", required=True, type=click.Path(dir_okay=False), help="Seal maker certificate.")
@click.option("--signer-cert", "signer_certs", multiple=True, required=True, type=click.Path(dir_okay=False),
              help="Certificate of a signer allowed to use the seal (repeatable).")
@click.option("--id", "seal_id", required=True, help="esID, the seal's unique code (ASCII).")
@click.option("--name", required=True, help="Seal name (印章名称).")
@click.option("--type", "seal_type", default=1, show_default=True, type=int, help="Seal type (印章类型).")
@click.option("--picture", required=True, type=click.Path(dir_okay=False), help="PNG, GIF or SVG picture.")
@click.option("--width", "width_mm", default=40, show_default=True, type=int, help="Width in mm.")
@click.option("--height", "height_mm", default=40, show_default=True, type=int, help="Height in mm.")
@click.option("--valid-from", help="ISO 8601 (default now).")
@click.option("--days", default=365, show_default=True, type=int, help="Validity in days.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output .esl (DER SESeal).")
def make_cmd(key_file: str | None, passphrase_file: str | None, keystore: str | None, key_id: str | None,
             maker_cert: str, signer_certs: tuple[str, ...], seal_id: str, name: str, seal_type: int, picture: str,
             width_mm: int, height_mm: int, valid_from: str | None, days: int, out: str) -> None:
    """Make a v4 seal signed by the seal maker."""
    from esign.ses import make_seal

    try:
        now = _time(None, "at")
        start = _time(valid_from, "valid-from") if valid_from else now
        der = make_seal(maker_key=_key(key_file, passphrase_file, keystore, key_id), maker_cert_der=_cert(maker_cert),
                        seal_id=seal_id, seal_type=seal_type, name=name, signer_certs=[_cert(c) for c in signer_certs],
                        valid_from=start, valid_to=start + timedelta(days=days), picture=_read(picture, "picture"),
                        width_mm=width_mm, height_mm=height_mm, at=now)
        _write(out, der)
    except EsignError as exc:
        fail(exc, exit_code=2)
    emit({"seal_id": seal_id, "out": out, "bytes": len(der)})


def _describe_seal(s: Any) -> dict[str, Any]:
    import hashlib

    from keys.x509 import parse_certificate

    out: dict[str, Any] = {"kind": "seal", "version": s.version, "header_version": s.header_version,
                           "seal_id": s.seal_id, "name": s.name, "seal_type": s.seal_type, "vendor_id": s.vendor_id,
                           "created_at": s.created_at.isoformat(), "valid_from": s.valid_from.isoformat(),
                           "valid_to": s.valid_to.isoformat(),
                           "picture": {"type": s.picture.type, "bytes": len(s.picture.data),
                                       "width_mm": s.picture.width_mm, "height_mm": s.picture.height_mm},
                           "signer_certificates": [hashlib.sha256(c).hexdigest() for c in s.signer_certs],
                           "signature_algorithm": s.signature_algorithm, "has_timestamp": s.timestamp is not None}
    try:
        out["maker"] = parse_certificate(s.maker_cert_der).subject_str
    except EsignError:
        out["maker"] = None
    return out


@seal.command("show")
@click.argument("file", type=click.Path(dir_okay=False))
def show_cmd(file: str) -> None:
    """Print what a seal (.esl) or seal signature says (nothing is verified)."""
    from esign.formats.ses import detect_ses_kind, parse_unverified_seal, parse_unverified_ses_signature

    try:
        data = _read(file, "file")
        kind = detect_ses_kind(data)
        if kind == "seal":
            out = _describe_seal(parse_unverified_seal(data))
        elif kind == "ses_signature":
            sig = parse_unverified_ses_signature(data)
            out = {"kind": "ses_signature", "version": sig.version, "signing_time":
                   sig.signing_time.isoformat() if sig.signing_time else None, "data_hash": sig.data_hash.hex(),
                   "property_info": sig.property_info, "has_timestamp": sig.timestamp is not None,
                   "seal": _describe_seal(sig.seal)}
        else:
            raise BadInputError("not a seal or seal signature", message_zh="不是电子印章或电子签章", field="file")
    except EsignError as exc:
        fail(exc, exit_code=2)
    emit(out)


@seal.command("sign")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--seal", "seal_file", required=True, type=click.Path(dir_okay=False), help="The seal (.esl).")
@_key_options("")
@click.option("--cert", required=True, type=click.Path(dir_okay=False), help="Signer certificate.")
@click.option("--property-info", help="原文属性 (ASCII); default the file name.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output SES_Signature (DER).")
def sign_cmd(file: str, seal_file: str, key_file: str | None, passphrase_file: str | None, keystore: str | None,
             key_id: str | None, cert: str, property_info: str | None, out: str) -> None:
    """Sign FILE with a seal, offline; writes a DER SES_Signature."""
    from esign.ses import sign_with_seal

    try:
        signer_key = _key(key_file, passphrase_file, keystore, key_id)
        der = sign_with_seal(seal_der=_read(seal_file, "seal"), signer_key=signer_key, signer_cert_der=_cert(cert),
                             data=_read(file, "file", MAX_FILE_BYTES), at=_time(None, "at"),
                             property_info=property_info if property_info is not None else Path(file).name)
        _write(out, der)
    except EsignError as exc:
        fail(exc, exit_code=2)
    emit({"out": out, "bytes": len(der)})


@seal.command("verify")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--data", "data_file", type=click.Path(dir_okay=False), help="The signed original (detached).")
@click.option("--trust", "trust_paths", multiple=True, type=click.Path(), help="Trust anchors (repeatable).")
@click.option("--chain", "chain_paths", multiple=True, type=click.Path(dir_okay=False),
              help="Untrusted intermediate CA certificates (PEM bundle; repeatable).")
@click.option("--crl", "crl_paths", multiple=True, type=click.Path(dir_okay=False), help="CRL file (repeatable).")
@click.option("--at", "at_", help="Validation time, ISO 8601 (default now).")
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="json", show_default=True)
def verify_cmd(file: str, data_file: str | None, trust_paths: tuple[str, ...], chain_paths: tuple[str, ...],
               crl_paths: tuple[str, ...], at_: str | None, fmt: str) -> None:
    """Verify a seal or a seal signature (every GB/T 38540 step). Exit 0 passed, 1 failed, 2 indeterminate."""
    from api.cli.verify import _text
    from verifier.chain import load_crls, load_trust_store
    from verifier.pki import TrustStore
    from verifier.ses import verify_ses

    try:
        data = _read(file, "file")
        signed = _read(data_file, "data", MAX_FILE_BYTES) if data_file else None
        trust = load_trust_store(trust_paths) if trust_paths else TrustStore(anchors=())
        from keys.x509 import parse_certificates

        chain = [c for p in chain_paths for c in parse_certificates(_read(p, "chain"))]
        report = verify_ses(data, trust=trust, at=_time(at_, "at"), crls=load_crls(crl_paths), signed_data=signed,
                            intermediates=chain)
    except EsignError as exc:
        fail(exc, exit_code=3)
    out = report.to_dict()
    emit(out, fmt, text=_text)
    raise SystemExit(_VERIFY_EXIT[out["indication"]])


# --- the register (service database) -----------------------------------------------------------


def _register() -> Any:
    from api.logging import set_pii_key
    from api.settings import Settings
    from api.storage.audit import SqlAuditLog
    from api.storage.db import Database, run_migrations
    from api.storage.seals import SqlSealRegister

    settings = Settings()
    set_pii_key(settings.pii_hash_key())
    db = Database(settings.resolved_database_url())
    if settings.run_migrations:
        run_migrations(db)
    return settings, SqlSealRegister(db, audit=SqlAuditLog(db, clock=lambda: datetime.now(UTC)))


def _rec(r: Any) -> dict[str, Any]:
    return {"seal_id": r.seal_id, "region": r.region, "enterprise": r.enterprise, "name": r.name,
            "status": r.status.value, "valid_from": r.valid_from.isoformat(), "valid_to": r.valid_to.isoformat(),
            "created_at": r.created_at.isoformat()}


@seal.command("register")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--enterprise", required=True, help="Owner id (USCC).")
@click.option("--region", help="Region code (default ESIGN_REGION).")
def register_cmd(file: str, enterprise: str, region: str | None) -> None:
    """Add a seal (.esl) to the register as ``listed`` (its maker signature must verify)."""
    from esign.ses import load_checked_seal

    try:
        der = _read(file, "seal")
        load_checked_seal(der)
        settings, reg = _register()
        rec = reg.add(der, region=region or settings.region, enterprise=enterprise, at=datetime.now(UTC), actor="cli")
    except EsignError as exc:
        fail(exc, exit_code=2)
    emit(_rec(rec))


@seal.command("list")
@click.option("--enterprise")
@click.option("--region")
@click.option("--status", type=click.Choice(["listed", "suspended", "revoked"]))
@click.option("--limit", default=100, show_default=True, type=int)
def list_cmd(enterprise: str | None, region: str | None, status: str | None, limit: int) -> None:
    """List registered seals, newest first."""
    from esign.ports import SealStatus

    try:
        _, reg = _register()
        rows = reg.list(region=region, enterprise=enterprise, status=SealStatus(status) if status else None,
                        limit=limit)
    except EsignError as exc:
        fail(exc, exit_code=2)
    emit([_rec(r) for r in rows])


def _status_cmd(name: str, status: str, help_text: str) -> None:
    @seal.command(name, help=help_text)
    @click.argument("seal_id")
    @click.option("--reason", default="", help="Why (no personal data).")
    def _cmd(seal_id: str, reason: str) -> None:
        from esign.ports import SealStatus

        try:
            _, reg = _register()
            rec = reg.set_status(seal_id, SealStatus(status), reason=reason, at=datetime.now(UTC), actor="cli")
        except EsignError as exc:
            fail(exc, exit_code=2)
        emit(_rec(rec))


_status_cmd("suspend", "suspended", "Suspend a seal (挂起): signing is refused until reinstated.")
_status_cmd("reinstate", "listed", "Reinstate a suspended seal.")
_status_cmd("revoke", "revoked", "Revoke a seal (注销); final.")
