"""A small region PKI for the CMS / TSA / OCSP tests (cheap scrypt, fixed clock)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from keys.ca import Region
from keys.interfaces import SigningKey
from keys.keypairs import generate_key
from keys.x509 import Certificate, cert_to_pem, parse_certificate
from verifier.pki import TrustStore

__all__ = ["NOW", "FixedClock", "Pki", "make_pki", "write_pems"]

#: Reference time of every test PKI.
NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


class FixedClock:
    """A clock that says what it is told."""

    def __init__(self, at: datetime = NOW) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


@dataclass
class Pki:
    """Root + issuing CA and helpers to issue end entities."""

    directory: Path
    region: Region
    alg: str
    keys: dict[str, SigningKey] = field(default_factory=dict)

    @property
    def ca(self) -> Any:
        return self.region.ca()

    @property
    def root_cert(self) -> Certificate:
        return self.region.root.cert

    @property
    def ca_cert(self) -> Certificate:
        return self.ca.cert

    @property
    def trust(self) -> TrustStore:
        return TrustStore.of([self.root_cert])

    def issue(self, profile: str, *, alg: str | None = None, cn: str = "ee", at: datetime | None = None,
              ca: Any = None) -> tuple[SigningKey, bytes]:
        key = generate_key(alg or self.alg)
        issued = (ca or self.ca).issue(subject={"C": "CN", "CN": cn}, profile=profile, public_key=key.public_key(),
                                       at=at or NOW - timedelta(hours=1))
        return key, issued.der


def make_pki(directory: Path, alg: str, *, at: datetime = NOW) -> Pki:
    """A region with CA key algorithm ``alg`` created a day before ``at`` (default :data:`NOW`)."""
    region = Region.init(directory, region="440000", passphrase=b"test-passphrase", at=at - timedelta(days=1),
                         alg=alg, scrypt_n=2**10)
    return Pki(directory=directory, region=region, alg=alg)


def write_pems(directory: Path, **certs: bytes | Certificate) -> dict[str, Path]:
    """Write PEM files ``<name>.pem``; returns name -> path."""
    out = {}
    for name, c in certs.items():
        der = c.der if isinstance(c, Certificate) else parse_certificate(c).der
        p = directory / f"{name}.pem"
        p.write_bytes(cert_to_pem(der))
        out[name] = p
    return out
