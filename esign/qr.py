"""Make the compact signed licence QR token ``ESL1:`` (profile in :mod:`esign.formats.licence_qr`).

The token is what a QR code on a licence file, or a wallet's 亮证 screen, shows. Everything a
window terminal needs for an offline verdict is in it: the licence identifier, the issuing region,
the fields the catalogue allows to disclose, issue and expiry times, the status-list index and
URI, and an SM2 (or ECDSA P-256) signature by the issuing authority's key. The verifier is
:func:`verifier.licence_qr.verify_licence_qr`.

Steps of :func:`make_licence_qr`:

  1. Check the claims (:meth:`LicenceQrClaims.check`) and that the certificate is the key's.
  2. Protected header ``{1: alg, 4: kid}``: alg -65537 (SM2-SM3) for an SM2 key, -7 (ES256) for P-256.
  3. Payload = CBOR of the CWT claims (deterministic: integer keys, sorted disclosed fields).
  4. Sign ``Sig_structure = ["Signature1", protected, b"", payload]``; the value is raw r||s.
  5. ``COSE_Sign1`` (tag 18) -> zlib (level 9) -> Base45 -> ``ESL1:`` prefix.

Dynamic 亮证 codes: the same function with ``expires_at`` a minute or two after ``issued_at``;
a static code printed on a file expires with the licence.
"""

from __future__ import annotations

import zlib

import cbor2

from esign.formats.licence_qr import (
    COSE_ALG_ES256,
    COSE_ALG_SM2_SM3,
    LICENCE_QR_PREFIX,
    MAX_TOKEN_BYTES,
    LicenceQrClaims,
    claims_to_cbor,
    licence_qr_kid,
)
from keys.algorithms import KeyType, SignatureAlgorithm
from keys.errors import AlgorithmNotAllowedError, BadInputError, CertificateError
from keys.interfaces import SigningKey
from keys.sigencoding import to_raw
from keys.x509 import parse_certificate

__all__ = ["LICENCE_QR_PREFIX", "LicenceQrClaims", "b45encode", "licence_qr_kid", "make_licence_qr"]

_B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_ALGS = {KeyType.SM2: (COSE_ALG_SM2_SM3, SignatureAlgorithm.SM2_SM3),
         KeyType.P256: (COSE_ALG_ES256, SignatureAlgorithm.ECDSA_SHA256)}


def b45encode(data: bytes) -> str:
    """Base45 (RFC 9285 §4) of ``data``."""
    out = []
    for i in range(0, len(data) - 1, 2):
        e, rest = divmod((data[i] << 8) | data[i + 1], 2025)
        d, c = divmod(rest, 45)
        out.append(_B45[c] + _B45[d] + _B45[e])
    if len(data) % 2:
        d, c = divmod(data[-1], 45)
        out.append(_B45[c] + _B45[d])
    return "".join(out)


def make_licence_qr(claims: LicenceQrClaims, *, key: SigningKey, cert_der: bytes) -> str:
    """The ``ESL1:`` text for ``claims``, signed by ``key`` (SM2 or ECDSA P-256) whose certificate is ``cert_der``.

    Raises:
        LicenceQrClaimsError: a claim is missing or malformed (``field`` names it).
        AlgorithmNotAllowedError: the key is neither SM2 nor P-256.
        CertificateError: the certificate is malformed or not the key's.
    """
    # Step 1: claims and certificate.
    body = claims_to_cbor(claims)
    choice = _ALGS.get(key.key_type)
    if choice is None:
        raise AlgorithmNotAllowedError(
            f"licence QR tokens are signed with SM2 or ECDSA P-256, not {key.key_type.value}",
            message_zh="证照二维码仅支持 SM2 或 ECDSA P-256 签名", field="key")
    cert = parse_certificate(bytes(cert_der))
    if cert.spki_der != key.public_key().spki_der():
        raise CertificateError("the certificate is not the signing key's", message_zh="证书与签名密钥不匹配",
                               field="cert")
    alg, sig_alg = choice
    # Step 2: protected header.
    protected = cbor2.dumps({1: alg, 4: licence_qr_kid(cert_der)})
    # Step 3: payload.
    payload = cbor2.dumps(body)
    # Step 4: signature over the Sig_structure, raw r||s.
    tbs = cbor2.dumps(["Signature1", protected, b"", payload])
    signature = to_raw(key.key_type, key.sign(tbs, algorithm=sig_alg))
    # Step 5: COSE_Sign1, zlib, Base45.
    cose = cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, signature]))
    if len(cose) > MAX_TOKEN_BYTES:
        raise BadInputError(
            f"the token is {len(cose)} bytes, more than {MAX_TOKEN_BYTES}: disclose fewer or shorter fields",
            message_zh="二维码内容过长，请减少披露字段", field="disclosed")
    return LICENCE_QR_PREFIX + b45encode(zlib.compress(cose, 9))
