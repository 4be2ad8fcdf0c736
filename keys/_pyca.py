"""RSA, ECDSA P-256 and Ed25519 keys over pyca/cryptography, behind the common interface."""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from keys.algorithms import KeyType, SignatureAlgorithm
from keys.errors import AlgorithmNotAllowedError, BadInputError, InvalidSignatureError, KeyFormatError

__all__ = ["PSS_SALT_LENGTH", "PycaSigningKey", "PycaVerifyingKey", "public_from_pyca"]

#: RSA-PSS salt length used and required (RFC 4055 / RFC 8017 recommend the hash length).
PSS_SALT_LENGTH = 32

PublicKeyTypes = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
PrivateKeyTypes = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def _key_type_of(key: PublicKeyTypes) -> KeyType:
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise KeyFormatError(f"EC curve {key.curve.name} is not supported; use P-256 or SM2", field="key")
        return KeyType.P256
    if isinstance(key, rsa.RSAPublicKey):
        return KeyType.RSA
    if isinstance(key, ed25519.Ed25519PublicKey):
        return KeyType.ED25519
    raise KeyFormatError(f"unsupported public key type {type(key).__name__}", field="key")


def _default_alg(kt: KeyType) -> SignatureAlgorithm:
    return {
        KeyType.P256: SignatureAlgorithm.ECDSA_SHA256,
        KeyType.RSA: SignatureAlgorithm.RSA_PKCS1_SHA256,
        KeyType.ED25519: SignatureAlgorithm.ED25519,
    }[kt]


def _pick(kt: KeyType, algorithm: SignatureAlgorithm | None, uid: bytes | None) -> SignatureAlgorithm:
    if uid is not None:
        raise BadInputError("a distinguishing ID applies to SM2 keys only", field="id")
    alg = algorithm or _default_alg(kt)
    if alg.key_type is not kt:
        raise AlgorithmNotAllowedError(
            f"algorithm {alg.algo_name} does not fit a {kt.value} key",
            message_zh="签名算法与密钥类型不匹配",
            field="algorithm",
        )
    return alg


def _pss() -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=PSS_SALT_LENGTH)


class PycaVerifyingKey:
    """A non-SM2 public key."""

    __slots__ = ("_key", "_kt")

    def __init__(self, key: PublicKeyTypes) -> None:
        self._kt = _key_type_of(key)
        self._key = key

    @property
    def key_type(self) -> KeyType:
        return self._kt

    @property
    def key_bits(self) -> int:
        if isinstance(self._key, ed25519.Ed25519PublicKey):
            return 256
        return self._key.key_size

    @property
    def pyca(self) -> PublicKeyTypes:
        """The pyca/cryptography key object (for X.509 builders)."""
        return self._key

    def default_algorithm(self) -> SignatureAlgorithm:
        return _default_alg(self._kt)

    def spki_der(self) -> bytes:
        return self._key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    def verify(
        self,
        signature: bytes,
        data: bytes,
        *,
        algorithm: SignatureAlgorithm | None = None,
        uid: bytes | None = None,
    ) -> None:
        alg = _pick(self._kt, algorithm, uid)
        key = self._key
        try:
            if isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
            elif isinstance(key, rsa.RSAPublicKey):
                pad = _pss() if alg is SignatureAlgorithm.RSA_PSS_SHA256 else padding.PKCS1v15()
                key.verify(signature, data, pad, hashes.SHA256())
            else:
                key.verify(signature, data)
        except InvalidSignature:
            raise InvalidSignatureError(
                f"{alg.algo_name} signature does not verify", message_zh="签名值验证失败"
            ) from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PycaVerifyingKey) and other.spki_der() == self.spki_der()

    def __hash__(self) -> int:
        return hash(self.spki_der())


class PycaSigningKey:
    """A non-SM2 private key held in process memory (use a key store to load one)."""

    __slots__ = ("_key", "_kt")

    def __init__(self, key: PrivateKeyTypes) -> None:
        self._key = key
        self._kt = _key_type_of(key.public_key())

    @property
    def key_type(self) -> KeyType:
        return self._kt

    @property
    def pyca(self) -> PrivateKeyTypes:
        """The pyca/cryptography key object."""
        return self._key

    def default_algorithm(self) -> SignatureAlgorithm:
        return _default_alg(self._kt)

    def public_key(self) -> PycaVerifyingKey:
        return PycaVerifyingKey(self._key.public_key())

    def sign(
        self,
        data: bytes,
        *,
        algorithm: SignatureAlgorithm | None = None,
        uid: bytes | None = None,
    ) -> bytes:
        alg = _pick(self._kt, algorithm, uid)
        key = self._key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(hashes.SHA256()))
        if isinstance(key, rsa.RSAPrivateKey):
            pad = _pss() if alg is SignatureAlgorithm.RSA_PSS_SHA256 else padding.PKCS1v15()
            return key.sign(data, pad, hashes.SHA256())
        return key.sign(data)

    def private_der(self) -> bytes:
        """Unencrypted PKCS#8 DER, for key stores that encrypt it at once."""
        return self._key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def __repr__(self) -> str:
        return f"<PycaSigningKey {self._kt.value}>"


def public_from_pyca(key: object) -> PycaVerifyingKey:
    """Wrap a pyca public key object, refusing unsupported types."""
    if not isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey, ed25519.Ed25519PublicKey)):
        raise KeyFormatError(f"unsupported public key type {type(key).__name__}", field="key")
    return PycaVerifyingKey(key)
