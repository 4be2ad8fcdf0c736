"""``esign ofd``: sign OFD files with a seal, inspect their signatures, verify them.

Exit codes: ``sign`` and ``inspect`` 0 on success, 2 bad input (unreadable file, bad key or
passphrase, not an OFD, bad page/position), 1 when the seal or signer may not sign (seal
expired, suspended/revoked, signer not in the seal's list; document locked). ``verify`` 0
passed, 1 failed, 2 indeterminate, 3 bad input. The output file is written atomically (temporary
file + rename): a refusal leaves nothing half-written.
"""

from __future__ import annotations

from typing import Any

import click

from api.cli import emit, fail
from api.cli._lt_common import parse_at as _at
from api.cli._lt_common import read_file as _read
from api.cli._lt_common import write_atomic as _write_atomic
from esign.formats.ofd import (
    OfdFormatError,
    parse_ofd_root,
    parse_signature_list,
    parse_signature_xml,
    read_package,
)
from esign.formats.ofd_zip import MAX_PACKAGE_BYTES
from keys.errors import BadInputError, EsignError, VerificationError
from keys.pkcs8 import is_encrypted_pem, load_private_key
from keys.x509 import parse_certificate, parse_certificates
from verifier.chain import load_crls, load_trust_store
from verifier.pki import TrustStore
from verifier.report import Indication

__all__ = ["ofd"]

#: Largest key, certificate, seal or passphrase file read.
MAX_SMALL_FILE_BYTES = 4 << 20
_VERIFY_EXIT = {Indication.TOTAL_PASSED: 0, Indication.TOTAL_FAILED: 1, Indication.INDETERMINATE: 2}








@click.group()
def ofd() -> None:
    """Sign OFD files with an electronic seal; inspect and verify their signatures."""


@ofd.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--seal", "seal_path", required=True, type=click.Path(dir_okay=False),
              help="The seal (.esl, DER SESeal).")
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False), help="Signer SM2 private key (PEM).")
@click.option("--passphrase-file", type=click.Path(dir_okay=False), help="Passphrase of an encrypted key.")
@click.option("--cert", "cert_path", required=True, type=click.Path(dir_okay=False), help="Signer certificate.")
@click.option("--page", type=int, default=1, show_default=True, help="Page number (1-based).")
@click.option("--x", "x_mm", type=float, required=True, help="Stamp left edge on the page, mm.")
@click.option("--y", "y_mm", type=float, required=True, help="Stamp top edge on the page, mm.")
@click.option("--width", "width_mm", type=float, help="Stamp width, mm (default: the seal picture's).")
@click.option("--height", "height_mm", type=float, help="Stamp height, mm (default: the seal picture's).")
@click.option("--protect", type=click.Choice(["all", "continue"]), default="all", show_default=True,
              help="all: lock the document; continue: allow later signatures.")
@click.option("--at", "at_", help="Signing time, ISO 8601 (default: now).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Where to write the signed OFD.")
def sign(file: str, seal_path: str, key_path: str, passphrase_file: str | None, cert_path: str, page: int,
         x_mm: float, y_mm: float, width_mm: float | None, height_mm: float | None, protect: str, at_: str | None,
         out: str) -> None:
    """Sign FILE with the seal at a page and position; write the signed OFD to --out."""
    from esign.ofd import sign_ofd_detailed  # signing code loads only for this command

    try:
        data = _read(file, limit=MAX_PACKAGE_BYTES, what="file")
        seal = _read(seal_path, limit=MAX_SMALL_FILE_BYTES, what="seal")
        key_pem = _read(key_path, limit=MAX_SMALL_FILE_BYTES, what="key")
        passphrase = None
        if passphrase_file is not None:
            passphrase = _read(passphrase_file, limit=4096, what="passphrase").rstrip(b"\r\n")
            if not passphrase:
                raise BadInputError("the passphrase file is empty", message_zh="口令文件为空", field="passphrase")
            if b"-----BEGIN" in key_pem and not is_encrypted_pem(key_pem):
                passphrase = None  # a clear PEM key: the passphrase is not needed
        key = load_private_key(key_pem, passphrase=passphrase)
        cert = parse_certificate(_read(cert_path, limit=MAX_SMALL_FILE_BYTES, what="cert")).der
        result = sign_ofd_detailed(data, seal_der=seal, signer_key=key, signer_cert_der=cert, page=page, x_mm=x_mm,
                                   y_mm=y_mm, width_mm=width_mm, height_mm=height_mm, at=_at(at_), protect=protect)
        _write_atomic(out, result.ofd)
    except EsignError as exc:
        fail(exc, exit_code=2 if isinstance(exc, BadInputError) else 1)
    emit({"out": out, "signature_id": result.signature_id, "signature_xml": result.signature_xml_path,
          "seal_id": result.seal_id, "data_hash_sm3": result.data_hash.hex(),
          "protected_files": list(result.protected)})


def _inspect(data: bytes) -> dict[str, Any]:
    pkg = read_package(data)
    root = parse_ofd_root(pkg.files["OFD.xml"])
    out: dict[str, Any] = {"files": sorted(pkg.files), "doc_root": root.doc_root, "signatures_xml": root.signatures,
                           "integrity_protected": "OFDEntries.xml" in pkg.files, "signatures": []}
    if root.signatures is None or pkg.get(root.signatures) is None:
        return out
    for e in parse_signature_list(pkg.files[root.signatures], path=root.signatures).entries:
        item: dict[str, Any] = {"id": e.id, "type": e.type, "path": e.path}
        raw = pkg.get(e.path)
        try:
            if raw is None:
                raise OfdFormatError(f"{e.path} is missing", message_zh="签名描述文件缺失")
            info = parse_signature_xml(raw, path=e.path)
        except OfdFormatError as exc:
            item["error"] = exc.to_dict()
        else:
            item.update(provider=info.provider, signature_method=info.signature_method,
                        signature_datetime=info.signature_datetime, check_method=info.check_method,
                        protected_files=[r.path for r in info.references],
                        stamps=[{"id": s.id, "page_ref": s.page_ref, "boundary_mm": list(s.boundary)}
                                for s in info.stamp_annots],
                        seal=info.seal_path, signed_value=info.signed_value_path)
        out["signatures"].append(item)
    return out


def _inspect_text(d: dict[str, Any]) -> str:
    lines = [f"{len(d['files'])} file(s); signatures: {d['signatures_xml'] or 'none'}"]
    for s in d["signatures"]:
        lines.append(f"  signature {s['id']} ({s['type']}) {s['path']}")
        if "error" in s:
            lines.append(f"    error: {s['error']['en']}")
            continue
        lines.append(f"    provider {s['provider']}, time {s['signature_datetime']}, {s['check_method']}")
        lines.extend(f"    protects {p}" for p in s["protected_files"])
        lines.extend(f"    stamp on page {st['page_ref']} at {st['boundary_mm']} mm" for st in s["stamps"])
    return "\n".join(lines)


@ofd.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="json", show_default=True)
def inspect(file: str, fmt: str) -> None:
    """List FILE's signatures and the files each protects (nothing is verified)."""
    try:
        d = _inspect(_read(file, limit=MAX_PACKAGE_BYTES, what="file"))
    except EsignError as exc:
        fail(exc, exit_code=2)
    emit(d, fmt, text=_inspect_text)


@ofd.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--trust", "trust_paths", multiple=True, type=click.Path(),
              help="Trust anchor file or dir (repeatable).")
@click.option("--cert", "cert_paths", multiple=True, type=click.Path(dir_okay=False),
              help="Signer certificate for plain signatures, or an intermediate (repeatable).")
@click.option("--crl", "crl_paths", multiple=True, type=click.Path(dir_okay=False), help="CRL file (repeatable).")
@click.option("--require-revocation", is_flag=True, help="INDETERMINATE without a covering CRL.")
@click.option("--at", "at_", help="Validation time, ISO 8601 (default: now).")
def verify(file: str, trust_paths: tuple[str, ...], cert_paths: tuple[str, ...], crl_paths: tuple[str, ...],
           require_revocation: bool, at_: str | None) -> None:
    """Verify every signature of FILE; report changed, missing and unprotected files."""
    from verifier.ofd import verify_ofd

    try:
        data = _read(file, limit=MAX_PACKAGE_BYTES, what="file")
        certs = [c for p in cert_paths for c in parse_certificates(_read(p, limit=MAX_SMALL_FILE_BYTES, what="cert"))]
        trust = load_trust_store(trust_paths) if trust_paths else TrustStore(anchors=())
        report = verify_ofd(data, trust=trust, at=_at(at_), certs=certs, crls=load_crls(crl_paths),
                            require_revocation=require_revocation)
    except EsignError as exc:
        fail(exc, exit_code=1 if isinstance(exc, VerificationError) else 3)
    emit(report.to_dict())
    raise SystemExit(_VERIFY_EXIT[report.indication])
