"""The project's hashing entry point: SM3 (GB/T 32905-2016) and HMAC-SM3 over pyca/cryptography.

Everything in esign that needs an SM3 digest outside an SM2 signature (document hashes, audit
chains, QR payload digests, ``esign speed``) goes through here, so there is one place that
chooses the implementation. pyca bundles its own OpenSSL, so this works even where the system
libcrypto has no SM2.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, hmac

__all__ = ["SM3", "SM3_DIGEST_SIZE", "hmac_sm3", "sm3"]

#: Size of an SM3 digest in bytes.
SM3_DIGEST_SIZE = 32


def sm3(data: bytes) -> bytes:
    """SM3 of ``data`` in one call (32 bytes)."""
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


def hmac_sm3(key: bytes, data: bytes) -> bytes:
    """HMAC-SM3 (RFC 2104 with SM3, GM/T 0042-2015) of ``data`` under ``key``."""
    h = hmac.HMAC(key, hashes.SM3())
    h.update(data)
    return h.finalize()


class SM3:
    """An incremental SM3 hasher: ``update()`` any number of times, then ``digest()`` once.

    ``digest()`` may be called more than once; it does not consume the running state.
    """

    __slots__ = ("_h",)

    digest_size = SM3_DIGEST_SIZE
    name = "sm3"

    def __init__(self, data: bytes = b"") -> None:
        self._h = hashes.Hash(hashes.SM3())
        if data:
            self._h.update(data)

    def update(self, data: bytes) -> None:
        """Feed more bytes."""
        self._h.update(data)

    def copy(self) -> SM3:
        """An independent copy of the running state."""
        other = SM3.__new__(SM3)
        other._h = self._h.copy()
        return other

    def digest(self) -> bytes:
        """The digest of everything fed so far."""
        return self._h.copy().finalize()

    def hexdigest(self) -> str:
        """:meth:`digest` as lowercase hex."""
        return self.digest().hex()
