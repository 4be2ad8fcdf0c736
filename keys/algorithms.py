"""One registry of signature algorithms, keyed by OID, with an allow-list.

Every signature esign makes or checks names its algorithm through :class:`SignatureAlgorithm`.
Parsers map wire OIDs to a member with :func:`by_oid`; anything not in the registry is an
:class:`~keys.errors.AlgorithmNotAllowedError`, and an :class:`AlgorithmPolicy` narrows the
set further (a region may, say, refuse RSA-PKCS#1 v1.5 for new signatures).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from keys.errors import AlgorithmNotAllowedError

__all__ = [
    "DEFAULT_POLICY",
    "AlgorithmPolicy",
    "AlgorithmSpec",
    "KeyType",
    "SignatureAlgorithm",
    "by_oid",
]


class KeyType(enum.Enum):
    """Kinds of key pair esign generates and accepts."""

    SM2 = "sm2"
    P256 = "p256"
    RSA = "rsa"
    ED25519 = "ed25519"


@dataclass(frozen=True)
class AlgorithmSpec:
    """What one signature algorithm is."""

    name: str
    """Short stable name used in reports, policies and the CLI."""
    oid: str
    """The AlgorithmIdentifier OID used in X.509, CMS and our own formats."""
    key_type: KeyType
    """The key type that makes and checks this signature."""
    hash_name: str | None
    """The message digest applied (``None`` for Ed25519, which hashes internally)."""
    aliases: tuple[str, ...] = field(default=())
    """Other OIDs read as the same algorithm (never emitted)."""


class SignatureAlgorithm(enum.Enum):
    """The signature algorithms esign knows. Members compare by identity; ``.value`` is the spec."""

    SM2_SM3 = AlgorithmSpec(
        "sm2-sm3",
        "1.2.156.10197.1.501",
        KeyType.SM2,
        "sm3",
        # GM/T 0006 "sm2sign" (1.2.156.10197.1.301.1) appears in CFCA and GmSSL CMS output.
        aliases=("1.2.156.10197.1.301.1",),
    )
    ECDSA_SHA256 = AlgorithmSpec("ecdsa-sha256", "1.2.840.10045.4.3.2", KeyType.P256, "sha256")
    RSA_PKCS1_SHA256 = AlgorithmSpec("rsa-pkcs1-sha256", "1.2.840.113549.1.1.11", KeyType.RSA, "sha256")
    RSA_PSS_SHA256 = AlgorithmSpec("rsa-pss-sha256", "1.2.840.113549.1.1.10", KeyType.RSA, "sha256")
    ED25519 = AlgorithmSpec("ed25519", "1.3.101.112", KeyType.ED25519, None)

    @property
    def oid(self) -> str:
        """The OID emitted for this algorithm."""
        return self.value.oid

    @property
    def key_type(self) -> KeyType:
        """The key type of this algorithm."""
        return self.value.key_type

    @property
    def algo_name(self) -> str:
        """The short name, e.g. ``sm2-sm3``."""
        return self.value.name

    @classmethod
    def from_name(cls, name: str) -> SignatureAlgorithm:
        """Look a member up by its short name."""
        for member in cls:
            if member.value.name == name:
                return member
        raise AlgorithmNotAllowedError(f"unknown signature algorithm {name!r}", field="algorithm")


_BY_OID: dict[str, SignatureAlgorithm] = {}
for _m in SignatureAlgorithm:
    _BY_OID[_m.value.oid] = _m
    for _a in _m.value.aliases:
        _BY_OID[_a] = _m


def by_oid(oid: str) -> SignatureAlgorithm:
    """Map a signature-algorithm OID to a registry member, or raise AlgorithmNotAllowedError."""
    try:
        return _BY_OID[oid]
    except KeyError:
        raise AlgorithmNotAllowedError(
            f"signature algorithm {oid} is not supported",
            message_zh=f"不支持的签名算法 {oid}",
            field="algorithm",
        ) from None


@dataclass(frozen=True)
class AlgorithmPolicy:
    """Which algorithms and key sizes are acceptable. Pass one in; nothing here is ambient."""

    allowed: frozenset[SignatureAlgorithm] = frozenset(SignatureAlgorithm)
    """Algorithms accepted."""
    min_rsa_bits: int = 2048
    """Smallest RSA modulus accepted."""

    def check(self, algorithm: SignatureAlgorithm, *, key_bits: int | None = None) -> None:
        """Raise AlgorithmNotAllowedError unless ``algorithm`` (and key size) is allowed."""
        if algorithm not in self.allowed:
            raise AlgorithmNotAllowedError(
                f"algorithm {algorithm.algo_name} is not on the allow-list",
                message_zh=f"算法 {algorithm.algo_name} 不在允许列表中",
                field="algorithm",
            )
        if algorithm.key_type is KeyType.RSA and key_bits is not None and key_bits < self.min_rsa_bits:
            raise AlgorithmNotAllowedError(
                f"RSA key of {key_bits} bits is below the minimum {self.min_rsa_bits}",
                message_zh=f"RSA 密钥长度 {key_bits} 低于最小要求 {self.min_rsa_bits}",
                field="key",
            )


#: Everything in the registry, RSA from 2048 bits.
DEFAULT_POLICY = AlgorithmPolicy()
