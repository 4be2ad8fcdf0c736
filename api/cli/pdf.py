"""``esign pdf``: sign PDFs (PAdES B-B..B-LTA), extend them to B-LT/B-LTA, remote three-step signing.

Examples::

    esign pdf sign in.pdf --key signer.pem --passphrase-file pw --cert signer.pem.crt \\
        --chain issuing.pem --level b-lta --tsa-url http://tsa.example/ --crl issuing.crl --out out.pdf
    esign pdf sign in.pdf --keystore file:///var/keys --passphrase-file pw --key-id 440000.seal \\
        --cert seal.crt --page 1 --x 120 --y 40 --stamp seal.png --out out.pdf
    esign pdf extend signed.pdf --level lta --tsa-url http://tsa.example/ --crl ca.crl --out archived.pdf
    esign pdf prepare in.pdf --key-type sm2 --state-key-file sk --out prepared.pdf --state-out st.json
    esign pdf finish prepared.pdf --state st.json --signature sig.der --cert c.pem --state-key-file sk --out out.pdf

Outputs are written to a temporary file and renamed, so a failure never leaves half a PDF.
Timestamps: ``--tsa-url`` (an RFC 3161 server over HTTP) or ``--tsa-key``/``--tsa-cert`` (an
in-process TSA with this machine's clock). Exit codes: 0 done, 2 bad input, 3 backend failure.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from api.cli import emit, fail
from api.cli._keystore_opts import keystore_options, open_keystore, split_key_ref
from keys.errors import BadInputError, EsignError

__all__ = [
    "STAMP_OPTIONS",
    "TSA_OPTIONS",
    "pdf",
    "stamp_from",
    "timestamper_from",
    "validation_data_from",
    "with_options",
]

_MAX_SMALL = 4 << 20


def _read(path: str | None, what: str, limit: int = _MAX_SMALL) -> bytes | None:
    if path is None:
        return None
    try:
        p = Path(path)
        if p.stat().st_size > limit:
            raise BadInputError(f"{what} file {path} is too large", field=what)
        return p.read_bytes()
    except OSError as exc:
        raise BadInputError(f"cannot read {what} file {path}: {exc.strerror}", field=what) from None


def _certs(paths: tuple[str, ...]) -> list[bytes]:
    from keys.x509 import parse_certificates

    out: list[bytes] = []
    for p in paths:
        out.extend(c.der for c in parse_certificates(_read(p, "chain") or b""))
    return out


def _cert(path: str | None) -> bytes | None:
    from keys.x509 import parse_certificate

    data = _read(path, "cert")
    return None if data is None else parse_certificate(data).der


def validation_data_from(crls: tuple[str, ...], ocsps: tuple[str, ...], certs: tuple[str, ...]) -> Any:
    from esign.pdf import ValidationData
    from keys.x509 import parse_crl

    return ValidationData(
        certs=tuple(_certs(certs)),
        crls=tuple(parse_crl(_read(p, "crl") or b"").der for p in crls),
        ocsps=tuple(_read(p, "ocsp") or b"" for p in ocsps),
    )


def timestamper_from(
    tsa_url: str | None,
    tsa_key: str | None,
    tsa_cert: str | None,
    tsa_chain: tuple[str, ...],
    passphrase_file: str | None,
) -> Any:
    if tsa_url:
        from pyhanko.sign.timestamps import HTTPTimeStamper  # aiohttp client (pinned), session per operation

        if not tsa_url.startswith(("http://", "https://")):
            raise BadInputError("--tsa-url must be an http(s) URL", field="tsa_url")
        return HTTPTimeStamper(tsa_url, https=tsa_url.startswith("https://"), timeout=30)
    if tsa_key or tsa_cert:
        if not (tsa_key and tsa_cert):
            raise BadInputError("--tsa-key needs --tsa-cert", field="tsa_key")
        from api.deps import SystemClock
        from esign.tsa import PyHankoLocalTimeStamper, TimeStampAuthority

        tsa = TimeStampAuthority(
            key=_load_key(tsa_key, passphrase_file),
            cert_der=_cert(tsa_cert) or b"",
            chain=_certs(tsa_chain),
            policy_oid="1.2.156.112233.1.1",
            clock=SystemClock(),
        )
        return PyHankoLocalTimeStamper(tsa)
    return None


def _load_key(path: str, passphrase_file: str | None) -> Any:
    from keys.pkcs8 import is_encrypted_pem, load_private_key
    from keys.provider import read_passphrase_file

    data = _read(path, "key") or b""
    passphrase = read_passphrase_file(passphrase_file) if passphrase_file and is_encrypted_pem(data) else None
    return load_private_key(data, passphrase=passphrase)


def stamp_from(
    page: int | None, x: float, y: float, width: float, height: float, picture: str | None, text: str | None
) -> Any:
    from esign.pdf import StampSpec

    if page is None and picture is None and not text:
        return None
    return StampSpec(
        page=page or 1, x_mm=x, y_mm=y, width_mm=width, height_mm=height, picture=_read(picture, "stamp"), text=text
    )


def _now() -> datetime:
    return datetime.now(UTC)


TSA_OPTIONS = [
    click.option("--tsa-url", help="RFC 3161 time-stamp server URL (B-T and above)."),
    click.option("--tsa-key", type=click.Path(dir_okay=False), help="Key of an in-process TSA."),
    click.option("--tsa-cert", type=click.Path(dir_okay=False), help="Certificate of the in-process TSA."),
    click.option("--tsa-chain", multiple=True, type=click.Path(dir_okay=False), help="TSA chain certificates."),
    click.option("--crl", "crls", multiple=True, type=click.Path(dir_okay=False), help="CRL to embed (B-LT/LTA)."),
    click.option("--ocsp", "ocsps", multiple=True, type=click.Path(dir_okay=False), help="DER OCSP response to embed."),
    click.option(
        "--vd-cert", "vd_certs", multiple=True, type=click.Path(dir_okay=False), help="Extra certificate for the DSS."
    ),
]
STAMP_OPTIONS = [
    click.option("--page", type=int, help="Page of the visible stamp (1-based; -1 = last). Omit: invisible."),
    click.option("--x", "x", type=float, default=20.0, show_default=True, help="Stamp left edge, mm."),
    click.option("--y", "y", type=float, default=20.0, show_default=True, help="Stamp bottom edge, mm."),
    click.option("--width", type=float, default=40.0, show_default=True, help="Stamp width, mm."),
    click.option("--height", type=float, default=40.0, show_default=True, help="Stamp height, mm."),
    click.option("--stamp", "picture", type=click.Path(dir_okay=False), help="Seal picture (PNG/GIF/JPEG)."),
    click.option("--stamp-text", help="Caption over the picture (Latin-1)."),
    click.option("--field", "field_name", help="Signature field name."),
]


def with_options(opts: list[Any]) -> Any:
    def deco(f: Any) -> Any:
        for o in reversed(opts):
            f = o(f)
        return f

    return deco


def _stamp(opts: dict[str, Any]) -> Any:
    """The visible stamp from the :data:`STAMP_OPTIONS` values of a command (``None``: invisible)."""
    return stamp_from(
        opts["page"], opts["x"], opts["y"], opts["width"], opts["height"], opts["picture"], opts["stamp_text"]
    )


def _long_term(opts: dict[str, Any], passphrase_file: str | None) -> dict[str, Any]:
    """``timestamper`` and ``validation_data`` arguments from the :data:`TSA_OPTIONS` values of a command."""
    return {
        "timestamper": timestamper_from(
            opts["tsa_url"], opts["tsa_key"], opts["tsa_cert"], opts["tsa_chain"], passphrase_file
        ),
        "validation_data": validation_data_from(opts["crls"], opts["ocsps"], opts["vd_certs"]),
    }


@click.group()
def pdf() -> None:
    """Sign PDFs with PAdES (RSA, ECDSA, Ed25519, SM2), extend to B-LT/B-LTA, remote signing."""


@pdf.command("sign")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--key", "key_path", type=click.Path(dir_okay=False), help="Private key file (PKCS#8 PEM/DER).")
@keystore_options
@click.option("--key-id", help="Key id in the key store (KEY_ID or KEY_ID#vN).")
@click.option("--cert", "cert_path", type=click.Path(dir_okay=False), help="Signer certificate (default: the store's).")
@click.option("--chain", multiple=True, type=click.Path(dir_okay=False), help="Chain certificate(s) to embed.")
@click.option("--level", default="b-b", show_default=True, help="b-b | b-t | b-lt | b-lta")
@click.option("--certify", is_flag=True, help="Certification (DocMDP) signature; must be the first.")
@click.option("--docmdp", "docmdp_level", type=click.IntRange(1, 3), default=2, show_default=True)
@click.option("--reason")
@click.option("--location")
@click.option("--pss", is_flag=True, help="RSA: RSASSA-PSS.")
@with_options(STAMP_OPTIONS)
@with_options(TSA_OPTIONS)
@click.option("--out", required=True, type=click.Path(dir_okay=False))
def sign_cmd(
    file: str,
    key_path: str | None,
    keystore: str | None,
    passphrase_file: str | None,
    key_id: str | None,
    cert_path: str | None,
    chain: tuple[str, ...],
    level: str,
    certify: bool,
    docmdp_level: int,
    reason: str | None,
    location: str | None,
    pss: bool,
    out: str,
    **opts: Any,
) -> None:
    """Sign FILE with a key file or a key-store key and write the signed PDF to --out."""
    from esign.pdf import sign_pdf_file

    try:
        if (key_path is None) == (key_id is None):
            raise BadInputError("give exactly one of --key or --key-id", field="key")
        cert = _cert(cert_path)
        if key_path is not None:
            key = _load_key(key_path, passphrase_file)
        else:
            provider = open_keystore(keystore, passphrase_file)
            kid, version = split_key_ref(key_id or "")
            key = provider.signing_key(kid, version=version)
            cert = cert or provider.certificate(kid, version)
        if cert is None:
            raise BadInputError("--cert is required", field="cert")
        sign_pdf_file(
            file,
            out,
            key=key,
            cert_der=cert,
            chain=_certs(chain),
            level=level,
            certify=certify,
            docmdp_level=docmdp_level,
            reason=reason,
            location=location,
            rsa_pss=pss,
            field_name=opts["field_name"],
            stamp=_stamp(opts),
            **_long_term(opts, passphrase_file),
            at=_now(),
        )
    except EsignError as exc:
        fail(exc)
    emit({"out": out, "level": level})


@pdf.command("extend")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--level", default="b-lta", show_default=True, help="b-lt | b-lta (lt/lta accepted)")
@click.option("--passphrase-file", type=click.Path(dir_okay=False), help="Passphrase of an encrypted --tsa-key.")
@with_options(TSA_OPTIONS)
@click.option("--out", required=True, type=click.Path(dir_okay=False))
def extend_cmd(
    file: str,
    level: str,
    passphrase_file: str | None,
    out: str,
    **opts: Any,
) -> None:
    """Add DSS (B-LT) and a document timestamp (B-LTA) to FILE; run again to renew the archive timestamp."""
    from esign.pdf import extend_pdf_file

    try:
        extend_pdf_file(
            file,
            out,
            level=level,
            **_long_term(opts, passphrase_file),
            at=_now(),
        )
    except EsignError as exc:
        fail(exc)
    emit({"out": out, "level": level})


def _state_key(path: str) -> bytes:
    data = _read(path, "state_key") or b""
    if len(data.strip()) < 16:
        raise BadInputError("the state key file must hold at least 16 bytes", field="state_key")
    return data.strip()


@pdf.command("prepare")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--cert", "cert_path", type=click.Path(dir_okay=False), help="Signer certificate (or give it at finish).")
@click.option("--chain", multiple=True, type=click.Path(dir_okay=False))
@click.option("--key-type", type=click.Choice(["sm2", "p256", "rsa", "ed25519"]), help="Needed without --cert.")
@click.option("--level", default="b-b", show_default=True)
@with_options(STAMP_OPTIONS)
@click.option("--state-key-file", required=True, type=click.Path(dir_okay=False), help="Secret for the state MAC.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Prepared PDF.")
@click.option("--state-out", required=True, type=click.Path(dir_okay=False), help="JSON with state and data to sign.")
def prepare_cmd(
    file: str,
    cert_path: str | None,
    chain: tuple[str, ...],
    key_type: str | None,
    level: str,
    state_key_file: str,
    out: str,
    state_out: str,
    **opts: Any,
) -> None:
    """Step 1 of remote signing: write the prepared PDF and a JSON with the data to sign."""
    from esign.pdf import prepare_remote
    from esign.pdf import write_atomically as _write

    try:
        src = _read(file, "file", limit=2 << 30) or b""
        prep = prepare_remote(
            src,
            cert_der=_cert(cert_path),
            chain=_certs(chain),
            key_type=key_type,
            level=level,
            field_name=opts["field_name"],
            stamp=_stamp(opts),
            state_key=_state_key(state_key_file),
            at=_now(),
        )
        doc = {
            "state": prep.state,
            "data_to_sign_b64": base64.b64encode(prep.data_to_sign).decode(),
            "digest_b64": None if prep.digest is None else base64.b64encode(prep.digest).decode(),
            "digest_algorithm": prep.digest_algorithm,
            "signature_algorithm": prep.signature_algorithm,
        }
        _write(out, lambda fh: fh.write(prep.prepared_pdf))
        _write(state_out, lambda fh: fh.write(json.dumps(doc, indent=2).encode()))
    except EsignError as exc:
        fail(exc)
    emit({"out": out, "state": state_out, "signature_algorithm": prep.signature_algorithm})


@pdf.command("finish")
@click.argument("prepared", type=click.Path(dir_okay=False))
@click.option("--state", "state_path", required=True, type=click.Path(dir_okay=False))
@click.option(
    "--signature",
    "sig_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Signature value over the data to sign (DER for ECDSA/SM2; raw bytes or base64).",
)
@click.option("--cert", "cert_path", type=click.Path(dir_okay=False))
@click.option("--chain", multiple=True, type=click.Path(dir_okay=False))
@click.option("--state-key-file", required=True, type=click.Path(dir_okay=False))
@click.option("--passphrase-file", type=click.Path(dir_okay=False), help="Passphrase of an encrypted --tsa-key.")
@with_options(TSA_OPTIONS)
@click.option("--out", required=True, type=click.Path(dir_okay=False))
def finish_cmd(
    prepared: str,
    state_path: str,
    sig_path: str,
    cert_path: str | None,
    chain: tuple[str, ...],
    state_key_file: str,
    passphrase_file: str | None,
    out: str,
    **opts: Any,
) -> None:
    """Step 3 of remote signing: embed the signature and write the signed PDF."""
    from esign.pdf import finish_remote
    from esign.pdf import write_atomically as _write

    try:
        try:
            state = json.loads(_read(state_path, "state") or b"")["state"]
        except (ValueError, KeyError, TypeError):
            raise BadInputError("the state file is not the JSON written by `pdf prepare`", field="state") from None
        sig = _read(sig_path, "signature") or b""
        if sig[:1] != b"\x30" and len(sig) not in (64, 256, 384, 512):
            try:
                sig = base64.b64decode(sig.strip(), validate=True)
            except ValueError:
                raise BadInputError("the signature file is neither binary nor base64", field="signature") from None
        signed = finish_remote(
            _read(prepared, "prepared", limit=2 << 30) or b"",
            state,
            sig,
            cert_der=_cert(cert_path),
            chain=_certs(chain),
            state_key=_state_key(state_key_file),
            **_long_term(opts, passphrase_file),
            at=_now(),
        )
        _write(out, lambda fh: fh.write(signed))
    except EsignError as exc:
        fail(exc)
    emit({"out": out})
