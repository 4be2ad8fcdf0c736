"""Signature value encodings: DER ``SEQUENCE {r, s}`` and fixed-width raw ``r||s``.

Other systems and front-ends often exchange SM2 and ECDSA signatures as raw 64-byte ``r||s``
(IEEE P1363); everything inside esign uses DER. These are the only converters.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from keys._sm2 import der_to_raw, raw_to_der
from keys.algorithms import KeyType
from keys.errors import BadInputError, SignatureFormatError

__all__ = ["RAW_WIDTH", "der_to_p1363", "from_raw", "p1363_to_der", "to_raw"]

#: Byte width of r and s per key type with a raw encoding.
RAW_WIDTH = {KeyType.SM2: 32, KeyType.P256: 32}


def p1363_to_der(sig: bytes, width: int) -> bytes:
    """Fixed-width ``r||s`` (``width`` bytes each) to DER ``SEQUENCE {r, s}``; strict on length."""
    if len(sig) != 2 * width:
        raise SignatureFormatError(
            f"a raw (r||s) signature for this key is {2 * width} bytes, got {len(sig)}",
            message_zh=f"原始格式签名应为 {2 * width} 字节",
            field="sig",
        )
    r, s = int.from_bytes(sig[:width], "big"), int.from_bytes(sig[width:], "big")
    if r == 0 or s == 0:
        raise SignatureFormatError("r and s must not be zero", message_zh="签名值 r、s 不能为零", field="sig")
    return encode_dss_signature(r, s)


def der_to_p1363(sig: bytes, width: int) -> bytes:
    """Strict DER ``SEQUENCE {r, s}`` to fixed-width ``r||s``; BER, trailing data or oversize values are refused."""
    try:
        r, s = decode_dss_signature(sig)
    except ValueError:
        r = s = -1
    if r <= 0 or s <= 0 or encode_dss_signature(r, s) != sig or max(r, s).bit_length() > 8 * width:
        raise SignatureFormatError(
            "not a DER ECDSA signature (SEQUENCE of two positive INTEGERs, canonical encoding)",
            message_zh="不是 DER 编码的 ECDSA 签名",
            field="sig",
        )
    return r.to_bytes(width, "big") + s.to_bytes(width, "big")


def to_raw(key_type: KeyType, der: bytes) -> bytes:
    """DER to raw ``r||s`` for SM2 and ECDSA keys; other key types have no raw form."""
    if key_type is KeyType.SM2:
        return der_to_raw(der)
    if key_type in RAW_WIDTH:
        return der_to_p1363(der, RAW_WIDTH[key_type])
    raise BadInputError(
        "raw r||s applies to SM2 and ECDSA keys only", message_zh="仅 SM2/ECDSA 有原始格式", field="raw"
    )


def from_raw(key_type: KeyType, raw: bytes) -> bytes:
    """Raw ``r||s`` to DER for SM2 and ECDSA keys."""
    if key_type is KeyType.SM2:
        return raw_to_der(raw)
    if key_type in RAW_WIDTH:
        return p1363_to_der(raw, RAW_WIDTH[key_type])
    raise BadInputError(
        "raw r||s applies to SM2 and ECDSA keys only", message_zh="仅 SM2/ECDSA 有原始格式", field="raw"
    )
