"""``esign tsa``: get an RFC 3161 time-stamp (from a TSA URL or a local key) and verify one.

- ``esign tsa request FILE --url URL --out TSR`` posts a TimeStampReq for FILE's digest;
  ``--local --key KEY --cert CERT [--chain CA] --policy OID`` answers it in-process instead.
- ``esign tsa verify TSR --data FILE --trust CA.pem`` checks a TimeStampResp or a bare token.

Exit codes: ``request`` 0 granted, 1 rejected, 3 bad input or unreachable TSA; ``verify`` 0 passed,
1 failed, 2 indeterminate, 3 bad input.
"""

from __future__ import annotations

import secrets

import click

from api.cli import emit, fail
from api.cli._lt_common import EXIT_CODES, load_key, parse_at, read_file, report_text, write_file
from keys.errors import BadInputError, EsignError

__all__ = ["tsa"]

_MAX_DATA = 1 << 30
_MAX_TSR = 1 << 20
_HASHES = ("sha256", "sha384", "sha512", "sm3")


@click.group("tsa", context_settings={"help_option_names": ["-h", "--help"]})
def tsa() -> None:
    """RFC 3161 time-stamps: request from a TSA (or a local key) and verify."""


class _Clock:
    def now(self):  # type: ignore[no-untyped-def]
        return parse_at(None)


def _digest_file(path: str, hash_name: str) -> bytes:
    from esign.formats.cms_asn1 import digest

    return digest(hash_name, read_file(path, limit=_MAX_DATA, what="data"))


@tsa.command("request")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--url", help="TSA URL (RFC 3161 over HTTP).")
@click.option("--local", is_flag=True, help="Answer in-process with --key/--cert instead of a URL.")
@click.option("--key", "key_path", type=click.Path(dir_okay=False), help="--local: TSA private key (PKCS#8).")
@click.option("--cert", "cert_path", type=click.Path(dir_okay=False), help="--local: TSA certificate.")
@click.option("--chain", "chain_paths", multiple=True, type=click.Path(dir_okay=False), help="--local: CA certs.")
@click.option("--policy", help="--local: the TSA policy OID to issue under (required with --local).")
@click.option("--passphrase-file", type=click.Path(dir_okay=False), help="--local: passphrase of --key.")
@click.option("--hash", "hash_name", type=click.Choice(_HASHES), default="sha256", show_default=True)
@click.option("--no-cert-req", is_flag=True, help="Do not ask the TSA to include its certificate.")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds (--url).")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Where to write the TSR.")
def request(file: str, url: str | None, local: bool, key_path: str | None, cert_path: str | None,
            chain_paths: tuple[str, ...], policy: str | None, passphrase_file: str | None, hash_name: str,
            no_cert_req: bool, timeout: float, out: str) -> None:
    """Time-stamp FILE: write the TimeStampResp (DER) to --out."""
    from esign.formats.cms_asn1 import TimeStampResp
    from esign.tsa import make_request

    try:
        if bool(url) == bool(local):
            raise BadInputError("give exactly one of --url or --local", field="url")
        imprint = _digest_file(file, hash_name)
        tsq = make_request(imprint, hash_name=hash_name, nonce=secrets.randbits(63), cert_req=not no_cert_req)
        if local:
            if not key_path or not cert_path or not policy:
                raise BadInputError("--local needs --key, --cert and --policy", field="key")
            from esign.tsa import TimeStampAuthority

            authority = TimeStampAuthority(
                key=load_key(key_path, passphrase_file),
                cert_der=read_file(cert_path, limit=_MAX_TSR, what="cert"),
                chain=[read_file(p, limit=_MAX_TSR, what="chain") for p in chain_paths],
                policy_oid=policy, clock=_Clock(),
            )
            tsr = authority.respond(tsq)
        else:
            from api.clients.tsa_http import HttpTimeStamper

            assert url is not None
            tsr = HttpTimeStamper(url, timeout=timeout).exchange(tsq)
        write_file(out, tsr, what="out")
        status = TimeStampResp.load(tsr)["status"]
        result = {"status": status["status"].native, "status_string": status["status_string"].native,
                  "fail_info": sorted(status["fail_info"].native or []), "out": out}
    except EsignError as exc:
        fail(exc, exit_code=3)
    emit(result)
    raise SystemExit(0 if result["status"] in ("granted", "granted_with_mods") else 1)


@tsa.command("verify")
@click.argument("tsr", type=click.Path(dir_okay=False))
@click.option("--data", "data_path", type=click.Path(dir_okay=False), help="The time-stamped file.")
@click.option("--digest", "digest_hex", help="Or its digest (hex) in the token's hash algorithm.")
@click.option("--trust", "trust_paths", multiple=True, type=click.Path(), help="Trust anchors (repeatable).")
@click.option("--crl", "crl_paths", multiple=True, type=click.Path(dir_okay=False), help="CRL file (repeatable).")
@click.option("--ocsp", "ocsp_paths", multiple=True, type=click.Path(dir_okay=False), help="OCSP response (DER).")
@click.option("--require-revocation", is_flag=True, help="Fail closed without covering revocation data.")
@click.option("--at", "at_", help="Validation time, ISO 8601 (default now).")
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="json", show_default=True)
def verify(tsr: str, data_path: str | None, digest_hex: str | None, trust_paths: tuple[str, ...],
           crl_paths: tuple[str, ...], ocsp_paths: tuple[str, ...], require_revocation: bool, at_: str | None,
           fmt: str) -> None:
    """Verify a TimeStampResp or TimeStampToken; exit 0 passed, 1 failed, 2 indeterminate, 3 bad input."""
    from verifier.chain import load_crls, load_trust_store
    from verifier.pki import TrustStore
    from verifier.tsp import verify_timestamp_token

    try:
        token = read_file(tsr, limit=_MAX_TSR, what="tsr")
        data = read_file(data_path, limit=_MAX_DATA, what="data") if data_path else None
        dig = None
        if digest_hex is not None:
            try:
                dig = bytes.fromhex(digest_hex)
            except ValueError:
                raise BadInputError("--digest is not hex", field="digest") from None
        trust = load_trust_store(trust_paths) if trust_paths else TrustStore(anchors=())
        result = verify_timestamp_token(
            token, data=data, digest=dig, trust=trust, at=parse_at(at_), crls=load_crls(crl_paths),
            ocsp=[read_file(p, limit=_MAX_TSR, what="ocsp") for p in ocsp_paths],
            require_revocation=require_revocation,
        )
    except EsignError as exc:
        fail(exc, exit_code=3)
    out = result.report.to_dict()
    out["gen_time"] = result.gen_time.isoformat() if result.gen_time else None
    out["serial"] = None if result.serial is None else format(result.serial, "x")
    out["policy"] = result.policy_oid
    emit(out, fmt, text=report_text)
    raise SystemExit(EXIT_CODES[result.report.indication])
