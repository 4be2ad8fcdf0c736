"""A pyHanko ``Signer`` over :class:`keys.interfaces.SigningKey`, SM2 included (see :mod:`esign.pdf`).

pyHanko builds the CMS SignedData (signed attributes, certificates, signature timestamp); the key
behind :class:`KeySigner` signs the DER of the signed attributes wherever it lives (file key
store, PKCS#11 token, remote signer). pyHanko and asn1crypto do not know SM2, so importing this
module registers two OIDs in asn1crypto's maps (idempotently, keeping any name another module
registered first):

* digest ``1.2.156.10197.1.401`` (SM3, GM/T 0004) as ``sm3`` — pyHanko then hashes the byte
  range with ``cryptography``'s ``hashes.SM3`` (it looks hashes up by upper-cased name);
* signature ``1.2.156.10197.1.501`` (SM2-with-SM3, GM/T 0006) as ``sm3_sm2``.
"""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import algos, x509
from pyhanko.sign.signers.pdf_cms import Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore

from keys._pyca import PSS_SALT_LENGTH
from keys.algorithms import KeyType, SignatureAlgorithm
from keys.errors import AlgorithmNotAllowedError, CertificateError
from keys.interfaces import SigningKey
from keys.x509 import parse_certificate

__all__ = [
    "SM2_SIG_OID",
    "SM3_OID",
    "AlgorithmChoice",
    "KeySigner",
    "choose_algorithm",
    "load_asn1_cert",
    "register_sm_oids",
    "signature_size",
    "sm2_mechanism_name",
]

SM3_OID = "1.2.156.10197.1.401"
SM2_SIG_OID = "1.2.156.10197.1.501"
#: Upper bound of a DER ECDSA/SM2 signature over a 256-bit curve (SEQUENCE of two 33-byte INTEGERs).
_EC_DER_MAX = 72


def _register(cls: type, oid: str, name: str) -> str:
    """Add ``oid -> name`` to an asn1crypto ObjectIdentifier map; return the name in force."""
    mapping: dict[str, str] = cls._map  # type: ignore[attr-defined]
    current = mapping.get(oid)
    if current is None:
        mapping[oid] = name
        current = name
    reverse = getattr(cls, "_reverse_map", None)
    if reverse is not None:
        reverse.setdefault(current, oid)
    return current


def register_sm_oids() -> tuple[str, str]:
    """Register SM3 and SM2-with-SM3 in asn1crypto (idempotent); return their names."""
    return (
        _register(algos.DigestAlgorithmId, SM3_OID, "sm3"),
        _register(algos.SignedDigestAlgorithmId, SM2_SIG_OID, "sm3_sm2"),
    )


_SM3_NAME, _SM2_NAME = register_sm_oids()


def sm2_mechanism_name() -> str:
    """asn1crypto's name for SM2-with-SM3 (``sm3_sm2`` unless another module registered one first)."""
    return _SM2_NAME


@dataclass(frozen=True)
class AlgorithmChoice:
    """How a key type signs a PDF."""

    algorithm: SignatureAlgorithm
    """The registry algorithm the key signs with."""
    md_algorithm: str
    """The CMS digest algorithm (byte-range digest and messageDigest)."""
    mechanism: algos.SignedDigestAlgorithm
    """The CMS signatureAlgorithm."""
    subfilter: str
    """``ETSI.CAdES.detached`` (PAdES) or ``adbe.pkcs7.detached`` (SM2: no PAdES profile defines it)."""


def choose_algorithm(key_type: KeyType, *, rsa_pss: bool = False) -> AlgorithmChoice:
    """The digest, CMS mechanism and SubFilter for a key type."""
    if key_type is KeyType.SM2:
        mech = algos.SignedDigestAlgorithm({"algorithm": _SM2_NAME})
        return AlgorithmChoice(SignatureAlgorithm.SM2_SM3, _SM3_NAME, mech, "adbe.pkcs7.detached")
    if key_type is KeyType.P256:
        mech = algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})
        return AlgorithmChoice(SignatureAlgorithm.ECDSA_SHA256, "sha256", mech, "ETSI.CAdES.detached")
    if key_type is KeyType.ED25519:
        # RFC 8419: messageDigest with SHA-512; the signature is PureEdDSA over the signed attributes.
        mech = algos.SignedDigestAlgorithm({"algorithm": "ed25519"})
        return AlgorithmChoice(SignatureAlgorithm.ED25519, "sha512", mech, "ETSI.CAdES.detached")
    if key_type is KeyType.RSA:
        if rsa_pss:
            params = algos.RSASSAPSSParams(
                {
                    "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                    "mask_gen_algorithm": algos.MaskGenAlgorithm(
                        {"algorithm": "mgf1", "parameters": algos.DigestAlgorithm({"algorithm": "sha256"})}
                    ),
                    "salt_length": PSS_SALT_LENGTH,
                    "trailer_field": "trailer_field_bc",
                }
            )
            mech = algos.SignedDigestAlgorithm({"algorithm": "rsassa_pss", "parameters": params})
            return AlgorithmChoice(SignatureAlgorithm.RSA_PSS_SHA256, "sha256", mech, "ETSI.CAdES.detached")
        mech = algos.SignedDigestAlgorithm({"algorithm": "sha256_rsa"})
        return AlgorithmChoice(SignatureAlgorithm.RSA_PKCS1_SHA256, "sha256", mech, "ETSI.CAdES.detached")
    raise AlgorithmNotAllowedError(  # pragma: no cover - every KeyType is handled above
        f"no PDF signing profile for {key_type.value} keys", message_zh="该密钥类型不支持 PDF 签名", field="key"
    )


def load_asn1_cert(der: bytes, *, what: str = "certificate") -> x509.Certificate:
    """A fresh (lazily parsed) asn1crypto certificate for pyHanko, after a full check by :mod:`keys.x509`.

    The checked object is not handed on: asn1crypto re-encodes parsed values when pyHanko copies
    them, so a certificate whose fields were touched makes every CMS assembly markedly slower.
    """
    try:
        parse_certificate(bytes(der))
    except CertificateError as exc:
        raise CertificateError(f"the {what} is not usable: {exc.message}", message_zh="证书格式错误",
                               field="cert") from None
    return x509.Certificate.load(bytes(der))


class KeySigner(Signer):
    """pyHanko ``Signer`` whose private operation is ``SigningKey.sign`` (file, PKCS#11, ...)."""

    def __init__(
        self,
        key: SigningKey | None,
        *,
        choice: AlgorithmChoice,
        cert: x509.Certificate | None,
        chain: tuple[x509.Certificate, ...] = (),
        signature_bytes: int,
        fixed_signature: bytes | None = None,
    ) -> None:
        store = SimpleCertificateStore()
        for c in chain:
            store.register(c)
        super().__init__(
            signing_cert=cert, cert_registry=store, signature_mechanism=choice.mechanism, embed_roots=True
        )
        self._key = key
        self._choice = choice
        self._sig_bytes = signature_bytes
        self._fixed = fixed_signature
        self.last_signed_attrs: bytes | None = None

    def __repr__(self) -> str:
        return f"<KeySigner {self._choice.algorithm.algo_name}>"

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        if digest_algorithm != self._choice.md_algorithm:
            raise AlgorithmNotAllowedError(
                f"digest {digest_algorithm} does not go with {self._choice.algorithm.algo_name}",
                message_zh="摘要算法与签名算法不匹配",
                field="algorithm",
            )
        if dry_run:
            return bytes(self._sig_bytes)
        self.last_signed_attrs = bytes(data)
        if self._fixed is not None:
            return self._fixed
        if self._key is None:  # pragma: no cover - guarded by callers
            raise AlgorithmNotAllowedError("no key to sign with", field="key")
        return self._key.sign(bytes(data), algorithm=self._choice.algorithm)


def signature_size(key_type: KeyType, key_bits: int) -> int:
    """Largest signature value the key type produces (for the CMS size estimate)."""
    if key_type in (KeyType.SM2, KeyType.P256):
        return _EC_DER_MAX
    if key_type is KeyType.ED25519:
        return 64
    return (key_bits + 7) // 8
