"""A region's certificate authorities: root CA -> issuing-authority CA(s) -> end entities.

Directory layout (see ``docs/pki.md``)::

    <dir>/region.json              region name, algorithm, CA names, CRL base URL
    <dir>/<ca>/state.json          own certificates (current + rotated), issued index with PEMs,
                                   revocation status, CRL number  (ONE atomic file)
    <dir>/<ca>/keys/<serial>.pem   the CA's private keys, PKCS#8 encrypted (scrypt + AES-256)
    <dir>/<ca>/cert.pem            current CA certificate (derived, for convenience)
    <dir>/<ca>/crl.pem             latest CRL

Private keys are never written in clear. All times are passed in (``at=``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from keys._ca_authority import REVOCATION_REASONS, CertificateAuthority, IssuedCertificate, _hex
from keys._ca_store import CA_PROFILES, locked, read_json, write_json
from keys.errors import BadInputError, ConflictError, KeyFormatError, NotFoundError
from keys.keypairs import generate_key
from keys.pkcs8 import SCRYPT_N
from keys.x509 import (
    Certificate,
    build_certificate,
    cert_to_pem,
    ext_basic_constraints,
    ext_key_usage,
    ext_subject_key_identifier,
    make_name,
    parse_certificate,
    random_serial,
)

__all__ = ["CA_ALGORITHMS", "REVOCATION_REASONS", "CertificateAuthority", "IssuedCertificate", "Region"]

#: Key algorithms a region can be created with.
CA_ALGORITHMS = ("sm2", "p256", "rsa2048", "ed25519")


def _new_ca_state(name: str, alg: str, parent: str | None, serial: int, der: bytes) -> dict[str, Any]:
    cert = parse_certificate(der)
    return {
        "name": name,
        "alg": alg,
        "parent": parent,
        "current": _hex(serial),
        "certs": {_hex(serial): {"pem": cert_to_pem(der).decode(), "not_after": cert.not_after.isoformat()}},
        "issued": {},
        "crl_number": 0,
    }


class Region:
    """The CAs of one region, in one directory."""

    def __init__(self, directory: Path, *, passphrase: bytes, scrypt_n: int = SCRYPT_N) -> None:
        self.directory = Path(directory)
        self._passphrase = passphrase
        self._scrypt_n = scrypt_n
        self.meta: dict[str, Any] = read_json(self.directory / "region.json")

    def __repr__(self) -> str:
        return f"<Region {self.meta.get('region')} {self.directory}>"

    @classmethod
    def init(
        cls,
        directory: Path | str,
        *,
        region: str,
        passphrase: bytes,
        at: datetime,
        alg: str = "sm2",
        issuing: Sequence[str] = ("issuing",),
        crl_url: str | None = None,
        scrypt_n: int = SCRYPT_N,
    ) -> Region:
        """Create a root CA and issuing-authority CA(s) for ``region``. Refuses a non-empty directory."""
        if alg not in CA_ALGORITHMS:
            raise BadInputError(
                f"algorithm must be one of {', '.join(CA_ALGORITHMS)}", message_zh="不支持的算法", field="alg"
            )
        if len(passphrase) < 8:
            raise KeyFormatError(
                "the CA passphrase must be at least 8 bytes", message_zh="CA 口令至少 8 字节", field="passphrase"
            )
        d = Path(directory)
        if (d / "region.json").exists():
            raise ConflictError(f"{d} already holds a region", message_zh="该目录已存在地区 CA")
        d.mkdir(parents=True, exist_ok=True)
        root_name = make_name({"C": "CN", "O": f"{region} eSign", "CN": f"{region} Root CA"})
        root_key = generate_key(alg)
        spki = root_key.public_key().spki_der()
        prof = CA_PROFILES["root"]
        serial = random_serial()
        der = build_certificate(
            subject=root_name,
            issuer=root_name,
            subject_spki=spki,
            issuer_key=root_key,
            not_before=at,
            not_after=at + timedelta(days=prof.validity_days),
            serial=serial,
            extensions=[
                ext_basic_constraints(ca=True, path_len=prof.path_len),
                ext_key_usage(prof.key_usage),
                ext_subject_key_identifier(spki),
            ],
        )
        (d / "root").mkdir(exist_ok=True)
        root = CertificateAuthority(d / "root", passphrase=passphrase, crl_url=crl_url, scrypt_n=scrypt_n)
        root._save_key(serial, root_key)
        root._commit(_new_ca_state("root", alg, None, serial, der))
        for name in issuing:
            _make_sub_ca(
                root,
                d / name,
                name=name,
                region=region,
                alg=alg,
                at=at,
                passphrase=passphrase,
                crl_url=crl_url,
                scrypt_n=scrypt_n,
            )
        write_json(
            d / "region.json",
            {"region": region, "alg": alg, "cas": ["root", *issuing], "issuing": list(issuing), "crl_url": crl_url},
        )
        return cls(d, passphrase=passphrase, scrypt_n=scrypt_n)

    def ca(self, name: str | None = None) -> CertificateAuthority:
        """The CA called ``name`` (default: the first issuing-authority CA)."""
        name = name or self.meta["issuing"][0]
        if name not in self.meta["cas"]:
            raise NotFoundError(f"no CA named {name!r} in this region", message_zh="地区中没有该 CA", field="ca")
        return CertificateAuthority(
            self.directory / name,
            passphrase=self._passphrase,
            crl_url=self.meta.get("crl_url"),
            scrypt_n=self._scrypt_n,
        )

    @property
    def root(self) -> CertificateAuthority:
        """The region root CA."""
        return self.ca("root")

    def trust_anchors_pem(self) -> bytes:
        """Every root certificate the region has had (current first): the trust list to hand out."""
        return b"".join(cert_to_pem(c.der) for c in self.root.all_certs())

    def chain_pem(self, name: str | None = None) -> bytes:
        """Certificates of an issuing CA (current and rotated), for bundling after an end entity."""
        return b"".join(cert_to_pem(c.der) for c in self.ca(name).all_certs())

    def rotate_ca(self, name: str, *, at: datetime) -> Certificate:
        """New key and certificate for CA ``name``; its older certificates stay listed and valid."""
        ca = self.ca(name)
        st = ca.state()
        alg = st["alg"]
        key = generate_key(alg)
        spki = key.public_key().spki_der()
        old = ca.cert
        if st["parent"] is None:
            prof = CA_PROFILES["root"]
            serial = random_serial()
            der = build_certificate(
                subject=old.subject,
                issuer=old.subject,
                subject_spki=spki,
                issuer_key=key,
                not_before=at,
                not_after=at + timedelta(days=prof.validity_days),
                serial=serial,
                extensions=[
                    ext_basic_constraints(ca=True, path_len=prof.path_len),
                    ext_key_usage(prof.key_usage),
                    ext_subject_key_identifier(spki),
                ],
            )
        else:
            parent = self.ca(st["parent"])
            with locked(parent.directory):
                pst = parent.state()
                serial, der = parent._sign_cert(
                    pst, subject_name=old.subject, spki=spki, profile=CA_PROFILES["issuing"], at=at, validity_days=None
                )
                pst["issued"][_hex(serial)] = {
                    "subject": old.subject_str,
                    "profile": "issuing_ca",
                    "status": "good",
                    "pem": cert_to_pem(der).decode(),
                    "not_before": at.isoformat(),
                    "not_after": parse_certificate(der).not_after.isoformat(),
                    "replaces": st["current"],
                }
                parent._commit(pst)
        with locked(ca.directory):
            ca._save_key(serial, key)  # a new file name: the old key stays until the state points away from it
            st = ca.state()
            st["certs"][_hex(serial)] = {
                "pem": cert_to_pem(der).decode(),
                "not_after": parse_certificate(der).not_after.isoformat(),
            }
            st["current"] = _hex(serial)
            ca._commit(st)
        return parse_certificate(der)


def _make_sub_ca(
    parent: CertificateAuthority,
    directory: Path,
    *,
    name: str,
    region: str,
    alg: str,
    at: datetime,
    passphrase: bytes,
    crl_url: str | None,
    scrypt_n: int,
) -> CertificateAuthority:
    key = generate_key(alg)
    subject = {"C": "CN", "O": f"{region} eSign", "OU": "Issuing Authority", "CN": f"{region} {name} CA"}
    with locked(parent.directory):
        pst = parent.state()
        serial, der = parent._sign_cert(
            pst,
            subject_name=subject,
            spki=key.public_key().spki_der(),
            profile=CA_PROFILES["issuing"],
            at=at,
            validity_days=None,
        )
        cert = parse_certificate(der)
        pst["issued"][_hex(serial)] = {
            "subject": cert.subject_str,
            "profile": "issuing_ca",
            "status": "good",
            "pem": cert_to_pem(der).decode(),
            "not_before": at.isoformat(),
            "not_after": cert.not_after.isoformat(),
            "replaces": None,
        }
        parent._commit(pst)
    directory.mkdir(parents=True, exist_ok=True)
    ca = CertificateAuthority(directory, passphrase=passphrase, crl_url=crl_url, scrypt_n=scrypt_n)
    ca._save_key(serial, key)
    ca._commit(_new_ca_state(name, alg, "root", serial, der))
    return ca
