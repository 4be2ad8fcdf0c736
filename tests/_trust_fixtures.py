"""Small PKIs and trust lists for the trust-list, recognition and API tests (no scrypt, no files)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from keys.interfaces import SigningKey
from keys.keypairs import generate_key
from keys.trustlist import make_entry, publish
from keys.x509 import (
    Certificate,
    build_certificate,
    ext_authority_key_identifier,
    ext_basic_constraints,
    ext_key_usage,
    ext_subject_key_identifier,
    make_name,
    parse_certificate,
    subject_key_identifier,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def cert(subject: str, key: SigningKey, issuer: str, issuer_key: SigningKey, *, ca: bool,
         nb: datetime = T0, days: int = 3650) -> Certificate:
    spki = key.public_key().spki_der()
    return parse_certificate(build_certificate(
        subject=make_name({"C": "CN", "CN": subject}), issuer=make_name({"C": "CN", "CN": issuer}),
        subject_spki=spki, issuer_key=issuer_key, not_before=nb, not_after=nb + timedelta(days=days),
        extensions=[
            ext_basic_constraints(ca=ca, path_len=0 if ca and subject != issuer else None),
            ext_key_usage({"key_cert_sign", "crl_sign"} if ca else {"digital_signature", "non_repudiation"}),
            ext_subject_key_identifier(spki),
            ext_authority_key_identifier(subject_key_identifier(issuer_key.public_key().spki_der())),
        ]))


@dataclass
class RegionPki:
    """Root CA -> licence-issuing CA of one region."""

    region: str
    alg: str = "sm2"
    root_key: Any = None
    root: Certificate | None = None
    issuing_key: Any = None
    issuing: Certificate | None = None
    leaves: dict[str, tuple[Any, Certificate]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root_key, self.issuing_key = generate_key(self.alg), generate_key(self.alg)
        rn, ia = f"{self.region} Root CA", f"{self.region} Licence CA"
        self.root = cert(rn, self.root_key, rn, self.root_key, ca=True)
        self.issuing = cert(ia, self.issuing_key, rn, self.root_key, ca=True)

    def leaf(self, name: str) -> Certificate:
        """A licence-signing certificate issued by the licence CA."""
        if name not in self.leaves:
            k = generate_key(self.alg)
            assert self.issuing is not None
            self.leaves[name] = (k, cert(name, k, f"{self.region} Licence CA", self.issuing_key, ca=False))
        return self.leaves[name][1]

    def entries(self, *, licence_types: tuple[str, ...] = ("food", "business"),
                history: list[tuple[str, datetime]] | None = None) -> list[dict[str, Any]]:
        """The region's root and its licence issuer as list entries."""
        assert self.root is not None and self.issuing is not None
        return [
            make_entry(id="root", service_type="root_ca", name=f"{self.region} Root CA", since=T0,
                       certificates=[self.root.der]),
            make_entry(id="licence-ca", service_type="licence_issuer", name=f"{self.region} Licence CA", since=T0,
                       certificates=[self.issuing.der], licence_types=licence_types, status_history=history),
        ]


def signed_list(region: str, keys: list[SigningKey], entries: list[dict[str, Any]], *, version: int = 1,
                threshold: int = 1, issued: datetime = T0, days: int = 30, signers: list[SigningKey] | None = None,
                next_keys: list[Any] | None = None) -> bytes:
    """A list of ``region`` naming ``keys`` (threshold ``threshold``), signed by ``signers`` (default all)."""
    return publish(region=region, version=version, issued_at=issued, expires_at=issued + timedelta(days=days),
                   signers=signers if signers is not None else keys, entries=entries, threshold=threshold,
                   next_keys=next_keys if next_keys is not None else [k.public_key() for k in keys])


def many_certs(n: int) -> list[bytes]:
    """``n`` distinct DER certificates (Ed25519 keys, pyca builder: fast), each with an SKI."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from cryptography.x509.oid import NameOID

    issuer_key = ed25519.Ed25519PrivateKey.generate()
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bulk issuer")])
    out = []
    for i in range(n):
        k = ed25519.Ed25519PrivateKey.generate().public_key()
        c = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"e{i}")]))
             .issuer_name(issuer).public_key(k).serial_number(i + 1).not_valid_before(T0)
             .not_valid_after(T0 + timedelta(days=365))
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(k), critical=False)
             .sign(issuer_key, None))
        out.append(c.public_bytes(serialization.Encoding.DER))
    return out


def bulk_entries(certs: list[bytes]) -> list[dict[str, Any]]:
    """One licence_issuer entry per certificate."""
    return [make_entry(id=f"e{i}", service_type="licence_issuer", name=f"Authority {i}", since=T0,
                       certificates=[d], licence_types=("food",)) for i, d in enumerate(certs)]
