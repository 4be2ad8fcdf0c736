"""``esign ca``: run a region's certificate authorities (init, issue, revoke, crl, rotate, show).

The passphrase that protects the CA keys is read from ``--passphrase-file`` or the file named by
``ESIGN_CA_PASSPHRASE_FILE``; it is never accepted on the command line. Output is JSON.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from api.cli import emit, fail
from api.cli._lt_common import parse_at as _at
from keys.ca import CA_ALGORITHMS, REVOCATION_REASONS, Region
from keys.errors import BadInputError, EsignError
from keys.keypairs import KEY_GEN_CHOICES
from keys.x509 import Certificate, crl_to_pem, parse_certificate, parse_crl

__all__ = ["ca"]

_PASS_ENV = "ESIGN_CA_PASSPHRASE_FILE"  # noqa: S105 - the name of an env variable, not a secret
_MAX_PASSPHRASE_FILE = 4096


def _read_secret(path: str | None, *, what: str, env: str | None = None) -> bytes:
    path = path or (os.environ.get(env) if env else None)
    if not path:
        raise BadInputError(
            f"{what} needed: pass --{what}-file" + (f" or set {env}" if env else ""),
            message_zh="需要口令文件",
            field=what,
        )
    try:
        data = Path(path).read_bytes()[: _MAX_PASSPHRASE_FILE + 1]
    except OSError as exc:
        raise BadInputError(
            f"cannot read {what} file: {exc.strerror}", message_zh="无法读取口令文件", field=what
        ) from exc
    if len(data) > _MAX_PASSPHRASE_FILE:
        raise BadInputError(f"{what} file too large", message_zh="口令文件过大", field=what)
    return data.rstrip(b"\r\n")




def _cert_info(c: Certificate) -> dict[str, Any]:
    return {
        "subject": c.subject_str,
        "issuer": c.issuer_str,
        "serial": format(c.serial, "x"),
        "not_before": c.not_before.isoformat(),
        "not_after": c.not_after.isoformat(),
        "sha256": c.sha256,
    }


def _region(directory: str, passphrase_file: str | None) -> Region:
    return Region(Path(directory), passphrase=_read_secret(passphrase_file, what="passphrase", env=_PASS_ENV))


_dir_opt = click.option(
    "--dir", "directory", required=True, type=click.Path(file_okay=False), help="Region directory holding the CAs."
)
_pass_opt = click.option(
    "--passphrase-file", type=click.Path(dir_okay=False), help=f"File with the CA key passphrase (or env {_PASS_ENV})."
)
_at_opt = click.option("--at", "at_", help="Reference time, ISO 8601 (default: now).")
_ca_opt = click.option("--ca", "ca_name", default=None, help="CA name within the region (default: first issuing CA).")


def _ca_target(f: Any) -> Any:
    """``--dir``, ``--passphrase-file`` and ``--ca``: the region and the CA in it that a command works on."""
    return _dir_opt(_pass_opt(_ca_opt(f)))


def _write_key(path: str, key_pem: bytes) -> None:
    Path(path).write_bytes(key_pem)
    os.chmod(path, 0o600)


@click.group()
def ca() -> None:
    """Run a region's certificate authorities: init, issue, revoke, crl, rotate, show."""


@ca.command()
@_dir_opt
@click.option("--region", required=True, help="Region name, e.g. Shanghai.")
@click.option("--alg", type=click.Choice(CA_ALGORITHMS), default="sm2", show_default=True, help="Key algorithm.")
@click.option(
    "--issuing",
    multiple=True,
    default=("issuing",),
    show_default=True,
    help="Name of an issuing-authority CA (repeatable).",
)
@click.option("--crl-url", default=None, help="Base URL written into cRLDistributionPoints.")
@_pass_opt
@_at_opt
def init(
    directory: str,
    region: str,
    alg: str,
    issuing: tuple[str, ...],
    crl_url: str | None,
    passphrase_file: str | None,
    at_: str | None,
) -> None:
    """Create a region root CA and its issuing-authority CA(s)."""
    try:
        pw = _read_secret(passphrase_file, what="passphrase", env=_PASS_ENV)
        r = Region.init(
            Path(directory), region=region, passphrase=pw, at=_at(at_), alg=alg, issuing=issuing, crl_url=crl_url
        )
        emit(
            {
                "region": region,
                "alg": alg,
                "dir": str(Path(directory)),
                "root": _cert_info(r.root.cert),
                "issuing": {n: _cert_info(r.ca(n).cert) for n in issuing},
            }
        )
    except EsignError as exc:
        fail(exc)


@ca.command()
@_ca_target
@click.option("--subject", required=True, help='Subject DN, e.g. "C=CN,O=Org,CN=Licence Issuer 1".')
@click.option(
    "--profile",
    required=True,
    type=click.Choice(["licence_issuer", "seal_maker", "enterprise_signer", "timestamping", "ocsp", "tls"]),
)
@click.option("--public-key", type=click.Path(dir_okay=False), help="Subject public key (PEM/DER SPKI or certificate).")
@click.option(
    "--generate",
    "gen_alg",
    type=click.Choice(KEY_GEN_CHOICES),
    default=None,
    help="Generate a key of this type instead of --public-key.",
)
@click.option("--key-out", type=click.Path(dir_okay=False), help="Where to write the generated key (encrypted PEM).")
@click.option("--key-passphrase-file", type=click.Path(dir_okay=False), help="Passphrase for the generated key.")
@click.option("--dns", multiple=True, help="subjectAltName dNSName (repeatable).")
@click.option("--days", type=int, default=None, help="Validity in days (default: the profile's).")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the certificate followed by its CA chain (PEM).")
@_at_opt
def issue(
    directory: str,
    passphrase_file: str | None,
    ca_name: str | None,
    subject: str,
    profile: str,
    public_key: str | None,
    gen_alg: str | None,
    key_out: str | None,
    key_passphrase_file: str | None,
    dns: tuple[str, ...],
    days: int | None,
    out: str | None,
    at_: str | None,
) -> None:
    """Issue an end-entity certificate for a public key, or generate key + certificate."""
    try:
        region = _region(directory, passphrase_file)
        authority = region.ca(ca_name)
        result: dict[str, Any] = {}
        if (public_key is None) == (gen_alg is None):
            raise BadInputError("give exactly one of --public-key or --generate", message_zh="请指定公钥或生成密钥")
        if gen_alg is not None:
            if not key_out:
                raise BadInputError("--generate needs --key-out", message_zh="生成密钥需要 --key-out", field="key_out")
            kpw = _read_secret(key_passphrase_file, what="key-passphrase")
            issued, key_pem = authority.issue_with_new_key(
                subject=subject, profile=profile, at=_at(at_), alg=gen_alg, key_passphrase=kpw, validity_days=days
            )
            _write_key(key_out, key_pem)
            result["key_file"] = key_out
        else:
            assert public_key is not None
            try:
                data = Path(public_key).read_bytes()
            except OSError as exc:
                raise BadInputError(f"cannot read {public_key}", message_zh="无法读取公钥文件") from exc
            issued = authority.issue(
                subject=subject, profile=profile, public_key=data, at=_at(at_), validity_days=days, dns=dns
            )
        if out:
            Path(out).write_bytes(issued.pem + region.chain_pem(ca_name))
            result["out"] = out
        result.update(profile=profile, certificate=_cert_info(parse_certificate(issued.der)), pem=issued.pem.decode())
        emit(result)
    except EsignError as exc:
        fail(exc)


@ca.command()
@_ca_target
@click.option("--serial", required=True, help="Serial number (hex) of the certificate to revoke.")
@click.option("--reason", type=click.Choice(REVOCATION_REASONS), default="unspecified", show_default=True)
@_at_opt
def revoke(
    directory: str, passphrase_file: str | None, ca_name: str | None, serial: str, reason: str, at_: str | None
) -> None:
    """Revoke an issued certificate (takes effect in the next CRL)."""
    try:
        t = _at(at_)
        _region(directory, passphrase_file).ca(ca_name).revoke(serial, reason=reason, at=t)
        emit({"serial": serial.lower(), "status": "revoked", "reason": reason, "revoked_at": t.isoformat()})
    except EsignError as exc:
        fail(exc)


@ca.command()
@_ca_target
@click.option("--days", type=int, default=7, show_default=True, help="Days until nextUpdate.")
@click.option("--out", type=click.Path(dir_okay=False), help="Also write the CRL (PEM) here.")
@_at_opt
def crl(
    directory: str, passphrase_file: str | None, ca_name: str | None, days: int, out: str | None, at_: str | None
) -> None:
    """Issue a new CRL signed by the CA."""
    try:
        authority = _region(directory, passphrase_file).ca(ca_name)
        der = authority.issue_crl(at=_at(at_), validity=timedelta(days=days))
        if out:
            Path(out).write_bytes(crl_to_pem(der))
        parsed = parse_crl(der)
        emit(
            {
                "ca": authority.name,
                "crl_number": parsed.crl_number,
                "this_update": parsed.this_update.isoformat(),
                "next_update": parsed.next_update.isoformat() if parsed.next_update else None,
                "file": out or str(authority.directory / "crl.pem"),
            }
        )
    except EsignError as exc:
        fail(exc)


@ca.command()
@_ca_target
@click.option("--serial", default=None, help="Rotate this end-entity certificate instead of the CA itself.")
@click.option("--key-out", type=click.Path(dir_okay=False), help="Where to write the new end-entity key.")
@click.option("--key-passphrase-file", type=click.Path(dir_okay=False), help="Passphrase for the new key.")
@_at_opt
def rotate(
    directory: str,
    passphrase_file: str | None,
    ca_name: str | None,
    serial: str | None,
    key_out: str | None,
    key_passphrase_file: str | None,
    at_: str | None,
) -> None:
    """New key + certificate for a CA (default) or an end entity; old certificates stay valid."""
    try:
        region = _region(directory, passphrase_file)
        if serial is None:
            name = ca_name or region.meta["issuing"][0]
            emit({"ca": name, "certificate": _cert_info(region.rotate_ca(name, at=_at(at_)))})
            return
        if not key_out:
            raise BadInputError("--serial needs --key-out", message_zh="需要 --key-out", field="key_out")
        issued, key_pem = region.ca(ca_name).rotate_end_entity(
            serial, at=_at(at_), key_passphrase=_read_secret(key_passphrase_file, what="key-passphrase")
        )
        _write_key(key_out, key_pem)
        emit({"replaces": serial.lower(), "serial": issued.serial_hex, "key_file": key_out, "pem": issued.pem.decode()})
    except EsignError as exc:
        fail(exc)


@ca.command()
@_dir_opt
@_pass_opt
def show(directory: str, passphrase_file: str | None) -> None:
    """Show the region's CAs, their certificates and the issued-certificate index."""
    try:
        region = _region(directory, passphrase_file)
        out: dict[str, Any] = {"region": region.meta["region"], "alg": region.meta["alg"], "cas": {}}
        for name in region.meta["cas"]:
            authority = region.ca(name)
            st = authority.state()
            out["cas"][name] = {
                "certificates": [_cert_info(c) for c in authority.all_certs()],
                "crl_number": st.get("crl_number", 0),
                "issued": {s: {k: v for k, v in e.items() if k != "pem"} for s, e in st.get("issued", {}).items()},
            }
        emit(out)
    except EsignError as exc:
        fail(exc)
