"""COSE_Sign1 / CWT decoding for the QR verifier (RFC 9052 §4.2, RFC 8392), bounded and strict.

Only what the ``HC1:`` profile needs: a COSE_Sign1 array (tag 18, optionally inside CWT tag
61, or untagged), its protected header map, the payload CWT claims and the raw signature.
Everything that is not exactly that shape is a :class:`CoseFormatError` naming the field.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import cbor2

__all__ = [
    "COSE_ALG_ES256",
    "COSE_ALG_PS256",
    "HDR_ALG",
    "HDR_KID",
    "MAX_COSE_BYTES",
    "CoseFormatError",
    "CoseSign1",
    "decode_claims",
    "decode_sign1",
    "sig_structure",
]

#: Largest COSE_Sign1 accepted (after decompression); also bounds CBOR nesting and string sizes.
MAX_COSE_BYTES = 64 * 1024
#: COSE algorithm identifiers (IANA COSE Algorithms registry).
COSE_ALG_ES256 = -7
COSE_ALG_PS256 = -37
#: COSE header labels.
HDR_ALG = 1
HDR_KID = 4
_TAG_SIGN1 = 18
_TAG_CWT = 61


class CoseFormatError(ValueError):
    """The bytes are not a well-formed COSE_Sign1 / CWT of the expected shape."""


@dataclass(frozen=True)
class CoseSign1:
    """A decoded COSE_Sign1 (nothing verified yet)."""

    protected_bytes: bytes
    """The protected header exactly as serialised (it is what the signature covers)."""
    protected: dict[Any, Any]
    """The protected header map."""
    unprotected: dict[Any, Any]
    """The unprotected header map."""
    payload: bytes
    """The payload bytes (the CWT claims set, CBOR)."""
    signature: bytes
    """The raw signature value."""


def _loads(data: bytes, what: str) -> Any:
    if len(data) > MAX_COSE_BYTES:
        raise CoseFormatError(f"{what} larger than {MAX_COSE_BYTES} bytes")
    fp = io.BytesIO(data)
    try:
        obj = cbor2.CBORDecoder(fp).decode()
    except RecursionError:
        raise CoseFormatError(f"{what} is nested too deeply") from None
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, MemoryError, EOFError) as exc:
        raise CoseFormatError(f"{what} is not valid CBOR: {exc}") from None
    if fp.tell() != len(data):
        raise CoseFormatError(f"{what} has {len(data) - fp.tell()} trailing byte(s)")
    return obj


def decode_sign1(data: bytes) -> CoseSign1:
    """Parse a COSE_Sign1 (tag 18, CWT tag 61 around it, or untagged)."""
    obj = _loads(data, "COSE message")
    if isinstance(obj, cbor2.CBORTag) and obj.tag == _TAG_CWT:
        obj = obj.value
    if isinstance(obj, cbor2.CBORTag):
        if obj.tag != _TAG_SIGN1:
            raise CoseFormatError(f"CBOR tag {obj.tag} is not COSE_Sign1 (18)")
        obj = obj.value
    if not isinstance(obj, list) or len(obj) != 4:
        raise CoseFormatError("COSE_Sign1 must be an array of four elements")
    prot_b, unprot, payload, sig = obj
    if not isinstance(prot_b, bytes):
        raise CoseFormatError("protected header is not a byte string")
    if not isinstance(unprot, dict):
        raise CoseFormatError("unprotected header is not a map")
    if not isinstance(payload, bytes):
        raise CoseFormatError("payload is not a byte string (detached payloads are not supported)")
    if not isinstance(sig, bytes):
        raise CoseFormatError("signature is not a byte string")
    prot = {} if prot_b == b"" else _loads(prot_b, "protected header")
    if not isinstance(prot, dict):
        raise CoseFormatError("protected header does not hold a map")
    return CoseSign1(protected_bytes=prot_b, protected=prot, unprotected=unprot, payload=payload, signature=sig)


def _bstr_head(n: int) -> bytes:
    """CBOR major type 2 (byte string) head for length ``n`` (RFC 8949 §3.1, shortest form)."""
    if n < 24:
        return bytes((0x40 | n,))
    if n < 0x100:
        return bytes((0x58, n))
    if n < 0x10000:
        return b"\x59" + n.to_bytes(2, "big")
    return b"\x5a" + n.to_bytes(4, "big")


# array(4), text(10) "Signature1"
_SIG1_HEAD = b"\x84\x6aSignature1"


def sig_structure(msg: CoseSign1) -> bytes:
    """``Sig_structure = ['Signature1', protected, external_aad = b'', payload]`` (RFC 9052 §4.4).

    Encoded directly (deterministic CBOR, the same bytes ``cbor2.dumps`` gives, without its
    per-call encoder set-up); sizes are bounded by :data:`MAX_COSE_BYTES`.
    """
    p, payload = msg.protected_bytes, msg.payload
    return b"".join((_SIG1_HEAD, _bstr_head(len(p)), p, b"\x40", _bstr_head(len(payload)), payload))


def decode_claims(payload: bytes) -> dict[Any, Any]:
    """The CWT claims map of ``payload``."""
    claims = _loads(payload, "CWT payload")
    if isinstance(claims, cbor2.CBORTag) and claims.tag == _TAG_CWT:  # tolerate a redundant CWT tag
        claims = claims.value
    if not isinstance(claims, dict):
        raise CoseFormatError("CWT payload is not a map")
    return claims
