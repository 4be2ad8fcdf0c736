"""Generate, load and wrap keys of every supported type behind the common interface.

SM2 keys go to the libcrypto binding (:mod:`keys._sm2`); everything else to pyca. Detection
is by the SubjectPublicKeyInfo / PKCS#8 algorithm: an EC key on curve sm2p256v1 (or with the
algorithm OID 1.2.156.10197.1.301 itself, as some OpenSSL 3 and GmSSL output has) is SM2.
"""

from __future__ import annotations

import base64
import re

from asn1crypto import core
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from keys._pyca import PycaSigningKey, public_from_pyca
from keys._sm2 import DEFAULT_UID, SM2_CURVE_OID, SM2PrivateKey, SM2PublicKey
from keys.algorithms import KeyType, SignatureAlgorithm
from keys.errors import AlgorithmNotAllowedError, BadInputError, KeyFormatError
from keys.interfaces import SigningKey, VerifyingKey

__all__ = [
    "KEY_GEN_CHOICES",
    "Sm2SigningKey",
    "Sm2VerifyingKey",
    "generate_key",
    "load_private_key_der",
    "load_public_key",
    "pem_blocks",
    "public_key_from_spki",
]

#: ``esign key generate --alg`` choices and what they make.
KEY_GEN_CHOICES = ("sm2", "p256", "rsa2048", "rsa3072", "ed25519")
_MAX_PEM = 1 << 20


def _sm2_pick(algorithm: SignatureAlgorithm | None, uid: bytes | None) -> bytes:
    if algorithm is not None and algorithm is not SignatureAlgorithm.SM2_SM3:
        raise AlgorithmNotAllowedError(
            f"algorithm {algorithm.algo_name} does not fit an SM2 key",
            message_zh="签名算法与密钥类型不匹配",
            field="algorithm",
        )
    return DEFAULT_UID if uid is None else uid


class Sm2VerifyingKey:
    """An SM2 public key behind the common interface."""

    __slots__ = ("raw",)

    def __init__(self, raw: SM2PublicKey) -> None:
        self.raw = raw

    key_type = KeyType.SM2
    key_bits = 256

    def default_algorithm(self) -> SignatureAlgorithm:
        return SignatureAlgorithm.SM2_SM3

    def spki_der(self) -> bytes:
        return self.raw.to_der()

    def verify(
        self,
        signature: bytes,
        data: bytes,
        *,
        algorithm: SignatureAlgorithm | None = None,
        uid: bytes | None = None,
    ) -> None:
        self.raw.verify(signature, data, uid=_sm2_pick(algorithm, uid))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sm2VerifyingKey) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(self.raw)


class Sm2SigningKey:
    """An SM2 private key in libcrypto memory behind the common interface."""

    __slots__ = ("raw",)

    def __init__(self, raw: SM2PrivateKey) -> None:
        self.raw = raw

    key_type = KeyType.SM2

    def default_algorithm(self) -> SignatureAlgorithm:
        return SignatureAlgorithm.SM2_SM3

    def public_key(self) -> Sm2VerifyingKey:
        return Sm2VerifyingKey(self.raw.public_key())

    def sign(
        self,
        data: bytes,
        *,
        algorithm: SignatureAlgorithm | None = None,
        uid: bytes | None = None,
    ) -> bytes:
        return self.raw.sign(data, uid=_sm2_pick(algorithm, uid))

    def private_der(self) -> bytes:
        """Unencrypted PKCS#8 DER, for key stores that encrypt it at once."""
        return self.raw.to_der()

    def __repr__(self) -> str:
        return "<Sm2SigningKey>"


def generate_key(alg: str) -> SigningKey:
    """Generate a key: ``sm2``, ``p256``, ``rsa2048``, ``rsa3072`` or ``ed25519``."""
    if alg == "sm2":
        return Sm2SigningKey(SM2PrivateKey.generate())
    if alg == "p256":
        return PycaSigningKey(ec.generate_private_key(ec.SECP256R1()))
    if alg in ("rsa2048", "rsa3072"):
        return PycaSigningKey(rsa.generate_private_key(public_exponent=65537, key_size=int(alg[3:])))
    if alg == "ed25519":
        return PycaSigningKey(ed25519.Ed25519PrivateKey.generate())
    raise AlgorithmNotAllowedError(
        f"unknown key algorithm {alg!r}; choose one of {', '.join(KEY_GEN_CHOICES)}", field="alg"
    )


class _AlgId(core.Sequence):
    _fields = [("algorithm", core.ObjectIdentifier), ("parameters", core.Any, {"optional": True})]


class _Spki(core.Sequence):
    """SubjectPublicKeyInfo with opaque parameters (asn1crypto's own rejects the SM2 OID)."""

    _fields = [("algorithm", _AlgId), ("public_key", core.BitString)]


class _Pkcs8(core.Sequence):
    _fields = [
        ("version", core.Integer),
        ("private_key_algorithm", _AlgId),
        ("private_key", core.OctetString),
        ("attributes", core.Any, {"implicit": 0, "optional": True}),
        ("public_key", core.Any, {"implicit": 1, "optional": True}),
    ]


def _is_sm2_algorithm(alg: _AlgId) -> bool:
    oid = alg["algorithm"].dotted
    if oid == SM2_CURVE_OID:
        return True
    if oid != "1.2.840.10045.2.1":
        return False
    params = alg["parameters"]
    if isinstance(params, core.Void) or params.contents is None:
        return False
    raw = params.dump()
    return raw[:1] == b"\x06" and core.ObjectIdentifier.load(raw).dotted == SM2_CURVE_OID


def public_key_from_spki(spki_der: bytes) -> VerifyingKey:
    """Wrap a DER SubjectPublicKeyInfo of any supported type."""
    try:
        info = _Spki.load(spki_der, strict=True)
        sm2 = _is_sm2_algorithm(info["algorithm"])
        point = info["public_key"].contents[1:] if sm2 else b""
    except (ValueError, TypeError, KeyError) as exc:
        raise KeyFormatError(f"not a SubjectPublicKeyInfo: {exc}", message_zh="公钥格式错误", field="key") from exc
    if sm2:
        return Sm2VerifyingKey(SM2PublicKey.from_point(point))
    try:
        key = serialization.load_der_public_key(spki_der)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyFormatError(f"unsupported public key: {exc}", message_zh="不支持的公钥", field="key") from exc
    return public_from_pyca(key)


def load_private_key_der(pkcs8_der: bytes) -> SigningKey:
    """Wrap an unencrypted PKCS#8 DER private key of any supported type.

    Key stores decrypt first and call this; nothing else should hold clear key bytes.
    """
    try:
        info = _Pkcs8.load(pkcs8_der, strict=True)
        sm2 = _is_sm2_algorithm(info["private_key_algorithm"])
    except (ValueError, TypeError, KeyError) as exc:
        raise KeyFormatError(f"not a PKCS#8 private key: {exc}", message_zh="私钥格式错误", field="key") from exc
    if sm2:
        return Sm2SigningKey(SM2PrivateKey.from_der(pkcs8_der))
    try:
        key = serialization.load_der_private_key(pkcs8_der, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyFormatError(f"unsupported private key: {exc}", message_zh="不支持的私钥", field="key") from exc
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)):
        raise KeyFormatError(f"unsupported private key type {type(key).__name__}", field="key")
    return PycaSigningKey(key)


_PEM_RE = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)-----END \1-----", re.S)


def pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    """Every PEM block in ``data`` as ``(label, der)``, in order. Raises on a corrupt block."""
    if len(data) > _MAX_PEM:
        raise BadInputError("PEM input larger than 1 MiB", message_zh="PEM 数据过大")
    out = []
    for m in _PEM_RE.finditer(data):
        body = re.sub(rb"^[A-Za-z-]+:.*$", b"", m.group(2), flags=re.M)  # drop RFC 1421 headers
        try:
            der = base64.b64decode(b"".join(body.split()), validate=True)
        except ValueError as exc:
            raise BadInputError(f"corrupt PEM block {m.group(1).decode()}", message_zh="PEM 数据损坏") from exc
        out.append((m.group(1).decode(), der))
    return out


def load_public_key(data: bytes) -> VerifyingKey:
    """A public key from PEM or DER: SubjectPublicKeyInfo or an X.509 certificate."""
    blocks = pem_blocks(data) if b"-----BEGIN" in data else [("", data)]
    if not blocks:
        raise KeyFormatError("no PEM block found", message_zh="未找到 PEM 数据", field="key")
    label, der = blocks[0]
    if label in ("CERTIFICATE", ""):
        try:
            spki = _spki_of(der)
        except ValueError:
            if label == "CERTIFICATE":
                raise KeyFormatError("corrupt certificate", message_zh="证书格式错误", field="key") from None
        else:
            return public_key_from_spki(spki)
    if label.endswith("PRIVATE KEY"):
        raise KeyFormatError(
            "a private key was given where a public key or certificate is expected",
            message_zh="此处需要公钥或证书，而不是私钥",
            field="key",
        )
    return public_key_from_spki(der)


class _Tbs(core.Sequence):
    _fields = [
        ("version", core.Any, {"explicit": 0, "optional": True}),
        ("serial", core.Integer),
        ("signature", _AlgId),
        ("issuer", core.Any),
        ("validity", core.Any),
        ("subject", core.Any),
        ("spki", core.Any),
    ]


class _Cert(core.Sequence):
    _fields = [("tbs", _Tbs), ("alg", _AlgId), ("sig", core.BitString)]


def _spki_of(cert_der: bytes) -> bytes:
    return bytes(_Cert.load(cert_der)["tbs"]["spki"].dump())
