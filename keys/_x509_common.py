"""Shared by certificate and CRL parsing: limits, typed parse errors, signature checking."""

from __future__ import annotations

from asn1crypto import algos, core

from keys._x509_build import RSA_PSS_PARAMS
from keys.algorithms import DEFAULT_POLICY, AlgorithmPolicy, KeyType, SignatureAlgorithm, by_oid
from keys.errors import AlgorithmNotAllowedError, CertificateError, InvalidSignatureError
from keys.interfaces import VerifyingKey

__all__ = ["MAX_CERT_BYTES", "PARSE_ERRORS", "bad", "force", "verify_signature"]

#: Largest single certificate or CRL we parse (a CRL of a big CA stays well below this).
MAX_CERT_BYTES = 1 << 20

PARSE_ERRORS = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    OverflowError,
    AttributeError,
    UnicodeError,
    RecursionError,
)


def bad(what: str, exc: BaseException | None = None, *, zh: str = "证书格式错误") -> CertificateError:
    detail = f"{what}: {exc}" if exc is not None else what
    return CertificateError(detail, message_zh=zh, field="certificate")


def verify_signature(
    alg_id: algos.SignedDigestAlgorithm,
    tbs: bytes,
    signature: bytes,
    key: VerifyingKey,
    *,
    policy: AlgorithmPolicy = DEFAULT_POLICY,
) -> SignatureAlgorithm:
    """Check ``signature`` over ``tbs`` under ``key`` for the AlgorithmIdentifier ``alg_id``.

    The algorithm must be in the registry and allowed by ``policy``, fit the key type, and carry
    the parameters its specification demands (none for ECDSA/Ed25519, none or NULL for SM2 and
    RSA PKCS#1 v1.5, exactly :data:`RSA_PSS_PARAMS` for RSA-PSS). SM2 always uses the default
    distinguishing ID.

    Returns:
        The algorithm that verified.

    Raises:
        AlgorithmNotAllowedError: unknown, disallowed or mis-parameterised algorithm.
        InvalidSignatureError / SignatureFormatError: the signature does not verify.
    """
    try:
        oid = alg_id["algorithm"].dotted
        params = alg_id["parameters"]
        raw_params = b"" if isinstance(params, core.Void) else params.dump()
    except PARSE_ERRORS as exc:
        raise AlgorithmNotAllowedError(f"unreadable signature algorithm: {exc}", field="algorithm") from exc
    alg = by_oid(oid)
    if alg is SignatureAlgorithm.RSA_PSS_SHA256:
        if raw_params != RSA_PSS_PARAMS.dump():
            raise AlgorithmNotAllowedError(
                "RSASSA-PSS parameters other than SHA-256/MGF1-SHA-256/salt 32 are not accepted",
                message_zh="不支持的 RSASSA-PSS 参数",
                field="algorithm",
            )
    elif alg is SignatureAlgorithm.RSA_PKCS1_SHA256:
        if raw_params not in (b"", b"\x05\x00"):
            raise AlgorithmNotAllowedError("RSA PKCS#1 v1.5 parameters must be NULL", field="algorithm")
    elif alg is SignatureAlgorithm.SM2_SM3 and raw_params in (b"", b"\x05\x00"):
        pass  # We write no parameters; Chinese CAs (SHECA, CFCA) often write NULL. Both are accepted.
    elif raw_params:
        raise AlgorithmNotAllowedError(
            f"{alg.algo_name} AlgorithmIdentifier must not carry parameters",
            message_zh="签名算法标识不应带参数",
            field="algorithm",
        )
    if alg.key_type is not key.key_type:
        raise AlgorithmNotAllowedError(
            f"signature algorithm {alg.algo_name} does not fit a {key.key_type.value} key",
            message_zh="签名算法与签发者密钥类型不匹配",
            field="algorithm",
        )
    policy.check(alg, key_bits=key.key_bits if key.key_type is KeyType.RSA else None)
    key.verify(signature, tbs, algorithm=alg)
    return alg


def signature_octets(value: core.Asn1Value) -> bytes:
    """The signature in a signatureValue BIT STRING (certificate, CRL, OCSP response).

    Signatures are whole octets (RFC 5280 §4.1.1.3), so the BIT STRING must declare no unused
    bits; one that does is another encoding of the signed object, and its signature fails
    (reading only the octets would accept it whenever the dropped bits happen to be zero).
    """
    contents = value.contents or b""
    if contents[:1] != b"\x00":
        raise InvalidSignatureError("the signature BIT STRING declares unused bits: not a whole-octet signature",
                                    message_zh="签名值位串含未使用位，签名无效")
    return bytes(contents[1:])


def force(value: core.Asn1Value) -> None:
    """Parse lazily loaded children now, so a malformed field fails here, not later."""
    _ = value.native
