"""``esign cms``: make and verify CMS / PKCS#7 SignedData (``.p7s``) with any supported key.

- ``esign cms sign --key KEY --cert CERT --in FILE --out P7S [--attached] [--gmt0010] [--chain CA]``
  (SM2 signs with SM3; ``--gmt0010`` writes the GM/T 0010 OIDs GmSSL uses; ``--tsa-url`` adds a
  signature time-stamp; ``--no-attrs`` signs the content directly, as CFCA SADK does).
- ``esign cms verify P7S [--data FILE] --trust CA.pem`` prints the ETSI-style report.

Exit codes: ``sign`` 0 written, 3 bad input; ``verify`` 0 passed, 1 failed, 2 indeterminate, 3 bad input.
"""

from __future__ import annotations

import click

from api.cli import emit, fail
from api.cli._lt_common import EXIT_CODES, load_key, parse_at, read_file, report_text, write_file
from keys.errors import EsignError

__all__ = ["cms"]

_MAX_DATA = 64 << 20
_MAX_CERT = 1 << 20


@click.group("cms", context_settings={"help_option_names": ["-h", "--help"]})
def cms() -> None:
    """CMS / PKCS#7 SignedData: sign and verify (.p7s)."""


@cms.command("sign")
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False), help="Private key (PKCS#8 PEM).")
@click.option("--passphrase-file", type=click.Path(dir_okay=False), help="Passphrase of an encrypted --key.")
@click.option("--cert", "cert_path", required=True, type=click.Path(dir_okay=False), help="Signer certificate.")
@click.option("--chain", "chain_paths", multiple=True, type=click.Path(dir_okay=False), help="CA certs to embed.")
@click.option("--in", "in_path", required=True, type=click.Path(dir_okay=False), help="Content to sign.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Where to write the DER .p7s.")
@click.option("--attached", is_flag=True, help="Embed the content (default: detached).")
@click.option("--gmt0010", is_flag=True, help="GM/T 0010 content-type OIDs instead of PKCS#7.")
@click.option("--no-attrs", is_flag=True, help="No signed attributes: sign the content directly.")
@click.option("--pss", is_flag=True, help="RSA keys: RSASSA-PSS (SHA-256, salt 32).")
@click.option("--tsa-url", help="Add a signature time-stamp from this RFC 3161 TSA.")
@click.option("--pem", "pem_out", is_flag=True, help="Write PEM (-----BEGIN CMS-----) instead of DER.")
def sign(key_path: str, passphrase_file: str | None, cert_path: str, chain_paths: tuple[str, ...], in_path: str,
         out: str, attached: bool, gmt0010: bool, no_attrs: bool, pss: bool, tsa_url: str | None,
         pem_out: bool) -> None:
    """Sign --in into --out."""
    from asn1crypto import pem

    from esign.cms import sign_cms
    from keys.algorithms import KeyType, SignatureAlgorithm

    try:
        key = load_key(key_path, passphrase_file)
        stamper = None
        if tsa_url:
            from api.clients.tsa_http import HttpTimeStamper

            stamper = HttpTimeStamper(tsa_url)
        alg = SignatureAlgorithm.RSA_PSS_SHA256 if pss and key.key_type is KeyType.RSA else None
        der = sign_cms(
            read_file(in_path, limit=_MAX_DATA, what="in"), key=key,
            cert_der=read_file(cert_path, limit=_MAX_CERT, what="cert"),
            chain=[read_file(p, limit=_MAX_CERT, what="chain") for p in chain_paths],
            detached=not attached, signed_attrs=not no_attrs, at=parse_at(None),
            oids="gmt0010" if gmt0010 else "pkcs7", timestamper=stamper, algorithm=alg,
        )
        write_file(out, bytes(pem.armor("CMS", der)) if pem_out else der, what="out")
    except EsignError as exc:
        fail(exc, exit_code=3)
    emit({"out": out, "bytes": len(der), "detached": not attached, "oids": "gmt0010" if gmt0010 else "pkcs7"})


@cms.command("verify")
@click.argument("p7s", type=click.Path(dir_okay=False))
@click.option("--data", "data_path", type=click.Path(dir_okay=False), help="The signed file (detached signature).")
@click.option("--trust", "trust_paths", multiple=True, type=click.Path(), help="Trust anchors (repeatable).")
@click.option("--cert", "cert_paths", multiple=True, type=click.Path(dir_okay=False),
              help="Extra (untrusted) certificates, e.g. a missing intermediate.")
@click.option("--crl", "crl_paths", multiple=True, type=click.Path(dir_okay=False), help="CRL file (repeatable).")
@click.option("--ocsp", "ocsp_paths", multiple=True, type=click.Path(dir_okay=False), help="OCSP response (DER).")
@click.option("--require-revocation", is_flag=True, help="Fail closed without covering revocation data.")
@click.option("--at", "at_", help="Validation time, ISO 8601 (default now).")
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="json", show_default=True)
def verify(p7s: str, data_path: str | None, trust_paths: tuple[str, ...], cert_paths: tuple[str, ...],
           crl_paths: tuple[str, ...], ocsp_paths: tuple[str, ...], require_revocation: bool, at_: str | None,
           fmt: str) -> None:
    """Verify P7S; exit 0 passed, 1 failed, 2 indeterminate, 3 bad input."""
    from keys.x509 import parse_certificates
    from verifier.chain import load_crls, load_trust_store
    from verifier.cms import verify_cms
    from verifier.pki import TrustStore

    try:
        data = read_file(p7s, limit=_MAX_DATA, what="p7s")
        content = read_file(data_path, limit=_MAX_DATA, what="data") if data_path else None
        trust = load_trust_store(trust_paths) if trust_paths else TrustStore(anchors=())
        extra = [c for p in cert_paths for c in parse_certificates(read_file(p, limit=_MAX_CERT, what="cert"))]
        report = verify_cms(
            data, detached_content=content, trust=trust, at=parse_at(at_), crls=load_crls(crl_paths),
            ocsp=[read_file(p, limit=_MAX_CERT, what="ocsp") for p in ocsp_paths],
            require_revocation=require_revocation, extra_certs=extra,
        )
    except EsignError as exc:
        fail(exc, exit_code=3)
    emit(report.to_dict(), fmt, text=report_text)
    raise SystemExit(EXIT_CODES[report.indication])
