"""The one signing and verifying interface across SM2, ECDSA P-256, RSA and Ed25519.

Code above ``keys/`` signs and checks through these Protocols only, so it never needs to know
which algorithm or which key store (file, PKCS#11 token, remote signer) is behind a key.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from keys.algorithms import KeyType, SignatureAlgorithm

__all__ = ["SigningKey", "VerifyingKey"]


@runtime_checkable
class VerifyingKey(Protocol):
    """A public key that checks signatures."""

    @property
    def key_type(self) -> KeyType:
        """The kind of key."""

    @property
    def key_bits(self) -> int:
        """Key size in bits (curve size for EC keys)."""

    def default_algorithm(self) -> SignatureAlgorithm:
        """The algorithm this key signs with unless told otherwise."""

    def spki_der(self) -> bytes:
        """DER SubjectPublicKeyInfo."""

    def verify(
        self,
        signature: bytes,
        data: bytes,
        *,
        algorithm: SignatureAlgorithm | None = None,
        uid: bytes | None = None,
    ) -> None:
        """Check ``signature`` over ``data``; raise an EsignError subclass if it does not hold.

        ``algorithm`` defaults to :meth:`default_algorithm`; ``uid`` is the SM2 distinguishing
        ID (``1234567812345678`` when ``None``) and must be ``None`` for other key types.
        """


@runtime_checkable
class SigningKey(Protocol):
    """A private key, wherever it lives, that produces signatures."""

    @property
    def key_type(self) -> KeyType:
        """The kind of key."""

    def default_algorithm(self) -> SignatureAlgorithm:
        """The algorithm :meth:`sign` uses when none is given."""

    def public_key(self) -> VerifyingKey:
        """The matching public key."""

    def sign(
        self,
        data: bytes,
        *,
        algorithm: SignatureAlgorithm | None = None,
        uid: bytes | None = None,
    ) -> bytes:
        """Sign ``data``; ECDSA and SM2 signatures are DER ``SEQUENCE {r, s}``."""
