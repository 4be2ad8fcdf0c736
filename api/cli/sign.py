"""``esign sign FILE``: one command that signs whatever FILE is, by its bytes.

* a PDF: PAdES (B-B .. B-LTA) through :mod:`esign.pdf`; with ``--seal`` and ``--page`` the
  seal's picture is the visible stamp;
* an OFD: a GB/T 38540 seal signature through :mod:`esign.ofd` (``--seal`` required);
* anything else: with ``--seal``, a detached SES_Signature (GB/T 38540) over the file;
  without, a CMS/PKCS#7 SignedData (detached unless ``--attached``).

The output is written atomically (temporary file, then rename); on any error nothing is
written. Exit codes: 0 signed, 2 bad input (unreadable file, wrong passphrase, seal past its
validity, signer not in the seal's list, broken PDF/OFD...), 3 backend failure.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import click

from api.cli import emit, fail
from api.cli._lt_common import load_key, parse_at, read_file
from api.cli._lt_common import write_atomic as _write_atomic
from api.cli.pdf import STAMP_OPTIONS, TSA_OPTIONS, stamp_from, timestamper_from, validation_data_from, with_options
from keys.errors import BadInputError, EsignError
from keys.x509 import parse_certificate, parse_certificates

__all__ = ["sign"]

#: Largest input signed from memory (PDFs stream from disk and may be larger).
MAX_IN_MEMORY = 64 << 20
_SMALL = 4 << 20


def _kind(path: str) -> str:
    with Path(path).open("rb") as fh:
        head = fh.read(8)
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return "ofd"
    return "data"




@click.command()
@click.argument("file", type=click.Path(dir_okay=False, exists=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Where to write the signed output.")
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False), help="Signer's private key file.")
@click.option(
    "--passphrase-file", type=click.Path(dir_okay=False), help="Passphrase of an encrypted --key / --tsa-key."
)
@click.option("--cert", "cert_path", required=True, type=click.Path(dir_okay=False), help="Signer certificate.")
@click.option("--chain", multiple=True, type=click.Path(dir_okay=False), help="CA certificate(s) to include.")
@click.option("--seal", "seal_path", type=click.Path(dir_okay=False), help="GB/T 38540 seal (.esl) to sign with.")
@click.option("--level", default="b-b", show_default=True, help="PDF: b-b | b-t | b-lt | b-lta.")
@click.option("--attached", is_flag=True, help="Other files without --seal: CMS with the content inside.")
@click.option("--property-info", default="", help="SES signature propertyInfo (e.g. the document name).")
@click.option("--at", "at_", help="Signing time, ISO 8601 (default: now).")
@with_options(TSA_OPTIONS)
@with_options(STAMP_OPTIONS)
def sign(
    file: str,
    out: str,
    key_path: str,
    passphrase_file: str | None,
    cert_path: str,
    chain: tuple[str, ...],
    seal_path: str | None,
    level: str,
    attached: bool,
    property_info: str,
    at_: str | None,
    **opts: Any,
) -> None:
    """Sign FILE (PDF, OFD or any data) and write the result to --out."""
    try:
        kind = _kind(file)
        at = parse_at(at_)
        key = load_key(key_path, passphrase_file)
        cert = parse_certificate(read_file(cert_path, limit=_SMALL, what="cert")).der
        chain_der = [c.der for p in chain for c in parse_certificates(read_file(p, limit=_SMALL, what="chain"))]
        seal = read_file(seal_path, limit=_SMALL, what="seal") if seal_path else None
        if kind == "pdf":
            result = _sign_pdf(file, out, key, cert, chain_der, seal, level, at, passphrase_file, opts)
        elif kind == "ofd":
            result = _sign_ofd(file, out, key, cert, seal, at, opts)
        else:
            result = _sign_data(file, out, key, cert, chain_der, seal, attached, property_info, at)
    except EsignError as exc:
        fail(exc, exit_code=2 if isinstance(exc, BadInputError) else None)
    emit(result)


def _sign_pdf(
    file: str,
    out: str,
    key: Any,
    cert: bytes,
    chain: list[bytes],
    seal: bytes | None,
    level: str,
    at: Any,
    passphrase_file: str | None,
    opts: dict[str, Any],
) -> dict[str, Any]:
    from esign.pdf import sign_pdf_file

    stamp = stamp_from(
        opts["page"], opts["x"], opts["y"], opts["width"], opts["height"], opts["picture"], opts["stamp_text"]
    )
    if seal is not None and opts["page"] is not None and opts["picture"] is None:
        from esign.ses import load_checked_seal

        picture = load_checked_seal(seal).picture.data
        from esign.pdf import StampSpec

        stamp = StampSpec(
            page=opts["page"],
            x_mm=opts["x"],
            y_mm=opts["y"],
            width_mm=opts["width"],
            height_mm=opts["height"],
            picture=picture,
            text=opts["stamp_text"],
        )
    timestamper = timestamper_from(
        opts["tsa_url"], opts["tsa_key"], opts["tsa_cert"], opts["tsa_chain"], passphrase_file
    )
    vd = validation_data_from(opts["crls"], opts["ocsps"], opts["vd_certs"])
    sign_pdf_file(
        file,
        out,
        key=key,
        cert_der=cert,
        chain=chain,
        level=level,
        stamp=stamp,
        timestamper=timestamper,
        validation_data=vd,
        at=at,
        field_name=opts["field_name"],
    )
    return {"kind": "pdf", "level": level, "out": out, "sha256": _sha256_file(out)}


def _sign_ofd(
    file: str, out: str, key: Any, cert: bytes, seal: bytes | None, at: Any, opts: dict[str, Any]
) -> dict[str, Any]:
    from esign.ofd import sign_ofd

    if seal is None:
        raise BadInputError(
            "an OFD is signed with a seal: give --seal FILE.esl", message_zh="OFD 签章需要电子印章", field="seal"
        )
    data = read_file(file, limit=MAX_IN_MEMORY, what="file")
    signed = sign_ofd(
        data,
        seal_der=seal,
        signer_key=key,
        signer_cert_der=cert,
        page=opts["page"] or 1,
        x_mm=opts["x"],
        y_mm=opts["y"],
        width_mm=opts["width"],
        height_mm=opts["height"],
        at=at,
    )
    _write_atomic(out, signed)
    return {"kind": "ofd", "out": out, "sha256": hashlib.sha256(signed).hexdigest()}


def _sign_data(
    file: str,
    out: str,
    key: Any,
    cert: bytes,
    chain: list[bytes],
    seal: bytes | None,
    attached: bool,
    property_info: str,
    at: Any,
) -> dict[str, Any]:
    data = read_file(file, limit=MAX_IN_MEMORY, what="file")
    if seal is not None:
        from esign.ses import sign_with_seal

        sig = sign_with_seal(
            seal_der=seal,
            signer_key=key,
            signer_cert_der=cert,
            data=data,
            at=at,
            property_info=property_info or Path(file).name,
        )
        kind = "ses_signature"
    else:
        from esign.cms import sign_cms

        sig = sign_cms(data, key=key, cert_der=cert, chain=chain, detached=not attached, at=at)
        kind = "cms"
    _write_atomic(out, sig)
    return {
        "kind": kind,
        "detached": seal is not None or not attached,
        "out": out,
        "data_sha256": hashlib.sha256(data).hexdigest(),
    }


def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
