"""Private keys encrypted at rest: PKCS#8 ``EncryptedPrivateKeyInfo`` with PBES2.

We write PBES2 (RFC 8018 §6.2) with the scrypt KDF (RFC 7914 §7, N=2^14, r=8, p=2: 16 MiB
per lane and about 0.1 s per derivation, so offline guessing is expensive; N=2^15 with r=8 would
exceed the 32 MiB that OpenSSL allows when it reads such a file) and AES-256-CBC. OpenSSL
reads these files (``openssl pkey -in key.pem -passin ...``). We also read PBES2 with PBKDF2
(HMAC-SHA256, HMAC-SHA1 or HMAC-SM3), which is what ``openssl pkcs8 -topk8 -v2 aes256`` and
most other tools write, and SM4-CBC as the cipher.

The clear PKCS#8 bytes exist only inside :func:`encrypt_private_key` and
:func:`decrypt_private_key`, which hand them straight to the key objects; no other module
should see them.
"""

from __future__ import annotations

import os

from asn1crypto import core, pem
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from keys.errors import KeyFormatError, WrongPassphraseError
from keys.interfaces import SigningKey
from keys.keypairs import load_private_key_der, pem_blocks

__all__ = [
    "SCRYPT_N",
    "decrypt_private_key",
    "encrypt_private_key",
    "is_encrypted_pem",
    "load_private_key",
]

#: scrypt cost written into new files.
SCRYPT_N = 1 << 14
_SCRYPT_R = 8
_SCRYPT_P = 2
# Upper bounds on what we accept when reading, so a crafted file cannot make us burn
# gigabytes of memory or minutes of CPU.
_MAX_SCRYPT_N = 1 << 20
_MAX_SCRYPT_RP = 64
_MAX_PBKDF2_ITERATIONS = 10_000_000
_MIN_PBKDF2_ITERATIONS = 1_000

_OID_PBES2 = "1.2.840.113549.1.5.13"
_OID_SCRYPT = "1.3.6.1.4.1.11591.4.11"
_OID_PBKDF2 = "1.2.840.113549.1.5.12"
_OID_AES256_CBC = "2.16.840.1.101.3.4.1.42"
_OID_AES128_CBC = "2.16.840.1.101.3.4.1.2"
_OID_SM4_CBC = "1.2.156.10197.1.104.2"
_PRFS = {
    "1.2.840.113549.2.9": hashes.SHA256,
    "1.2.840.113549.2.7": hashes.SHA1,
    "1.2.156.10197.1.401.2": hashes.SM3,  # hmacWithSM3 (GM/T 0091)
}


class _AlgId(core.Sequence):
    _fields = [("algorithm", core.ObjectIdentifier), ("parameters", core.Any, {"optional": True})]


class _EncryptedPrivateKeyInfo(core.Sequence):
    _fields = [("encryption_algorithm", _AlgId), ("encrypted_data", core.OctetString)]


class _Pbes2Params(core.Sequence):
    _fields = [("key_derivation_func", _AlgId), ("encryption_scheme", _AlgId)]


class _ScryptParams(core.Sequence):
    _fields = [
        ("salt", core.OctetString),
        ("cost", core.Integer),
        ("block_size", core.Integer),
        ("parallelization", core.Integer),
        ("key_length", core.Integer, {"optional": True}),
    ]


class _Pbkdf2Params(core.Sequence):
    _fields = [
        ("salt", core.OctetString),
        ("iteration_count", core.Integer),
        ("key_length", core.Integer, {"optional": True}),
        ("prf", _AlgId, {"optional": True}),
    ]




def encrypt_private_key(key: SigningKey, *, passphrase: bytes, scrypt_n: int = SCRYPT_N) -> bytes:
    """Encrypt ``key`` as PEM ``ENCRYPTED PRIVATE KEY`` (PBES2, scrypt, AES-256-CBC).

    Args:
        key: a key from :mod:`keys.keypairs` (it must offer ``private_der()``).
        passphrase: at least 8 bytes; comes from settings or a file, never from code.
        scrypt_n: scrypt cost; tests may lower it, production keeps the default.
    """
    if len(passphrase) < 8:
        raise KeyFormatError(
            "the key-store passphrase must be at least 8 bytes", message_zh="密钥口令至少 8 字节", field="passphrase"
        )
    private_der = getattr(key, "private_der", None)
    if private_der is None:
        raise KeyFormatError("this key cannot be exported (it lives in a token)", message_zh="该密钥不可导出")
    clear = private_der()
    salt, iv = os.urandom(16), os.urandom(16)
    kek = Scrypt(salt=salt, length=32, n=scrypt_n, r=_SCRYPT_R, p=_SCRYPT_P).derive(passphrase)
    padder = padding.PKCS7(128).padder()
    enc = Cipher(algorithms.AES(kek), modes.CBC(iv)).encryptor()
    body = enc.update(padder.update(clear) + padder.finalize()) + enc.finalize()
    kdf = _AlgId(
        {
            "algorithm": _OID_SCRYPT,
            "parameters": _ScryptParams(
                {
                    "salt": salt,
                    "cost": scrypt_n,
                    "block_size": _SCRYPT_R,
                    "parallelization": _SCRYPT_P,
                    "key_length": 32,
                }
            ),
        }
    )
    scheme = _AlgId({"algorithm": _OID_AES256_CBC, "parameters": core.OctetString(iv)})
    info = _EncryptedPrivateKeyInfo(
        {
            "encryption_algorithm": _AlgId(
                {
                    "algorithm": _OID_PBES2,
                    "parameters": _Pbes2Params({"key_derivation_func": kdf, "encryption_scheme": scheme}),
                }
            ),
            "encrypted_data": body,
        }
    )
    return bytes(pem.armor("ENCRYPTED PRIVATE KEY", info.dump()))


def _derive(kdf: _AlgId, passphrase: bytes, key_len: int) -> bytes:
    oid = kdf["algorithm"].dotted
    raw = kdf["parameters"].dump()
    if oid == _OID_SCRYPT:
        p = _ScryptParams.load(raw)
        n, r, par = p["cost"].native, p["block_size"].native, p["parallelization"].native
        if not (
            2 <= n <= _MAX_SCRYPT_N and n & (n - 1) == 0 and 1 <= r <= _MAX_SCRYPT_RP and 1 <= par <= _MAX_SCRYPT_RP
        ):
            raise KeyFormatError("scrypt parameters out of the accepted range", message_zh="scrypt 参数超出允许范围")
        return Scrypt(salt=p["salt"].native, length=key_len, n=n, r=r, p=par).derive(passphrase)
    if oid == _OID_PBKDF2:
        p2 = _Pbkdf2Params.load(raw)
        iters = p2["iteration_count"].native
        if not _MIN_PBKDF2_ITERATIONS <= iters <= _MAX_PBKDF2_ITERATIONS:
            raise KeyFormatError(
                f"PBKDF2 iteration count {iters} outside [{_MIN_PBKDF2_ITERATIONS}, {_MAX_PBKDF2_ITERATIONS}]",
                message_zh="PBKDF2 迭代次数超出允许范围",
            )
        prf_oid = "1.2.840.113549.2.7" if isinstance(p2["prf"], core.Void) else p2["prf"]["algorithm"].dotted
        prf = _PRFS.get(prf_oid)
        if prf is None:
            raise KeyFormatError(f"unsupported PBKDF2 PRF {prf_oid}", message_zh="不支持的 PBKDF2 伪随机函数")
        return PBKDF2HMAC(algorithm=prf(), length=key_len, salt=p2["salt"].native, iterations=iters).derive(passphrase)
    raise KeyFormatError(f"unsupported key derivation {oid}", message_zh="不支持的密钥派生算法")


def decrypt_private_key(data: bytes, *, passphrase: bytes) -> SigningKey:
    """Decrypt a PEM or DER ``EncryptedPrivateKeyInfo`` and load the key.

    Raises:
        WrongPassphraseError: the passphrase does not open the key.
        KeyFormatError: the file is not an encrypted PKCS#8 key we can read.
    """
    der = _single_block(data, "ENCRYPTED PRIVATE KEY")
    try:
        info = _EncryptedPrivateKeyInfo.load(der, strict=True)
        alg = info["encryption_algorithm"]
        if alg["algorithm"].dotted != _OID_PBES2:
            raise KeyFormatError(
                "only PBES2-encrypted keys are accepted (PBES1 / PKCS#12 PBE are too weak)",
                message_zh="仅接受 PBES2 加密的私钥",
            )
        params = _Pbes2Params.load(alg["parameters"].dump())
        scheme = params["encryption_scheme"]
        cipher_oid = scheme["algorithm"].dotted
        iv = core.OctetString.load(scheme["parameters"].dump()).native
        body = info["encrypted_data"].native
    except (ValueError, TypeError, KeyError) as exc:
        raise KeyFormatError(f"not an encrypted PKCS#8 key: {exc}", message_zh="加密私钥格式错误") from exc
    if cipher_oid in (_OID_AES256_CBC, _OID_AES128_CBC):
        key_len = 32 if cipher_oid == _OID_AES256_CBC else 16
        make = algorithms.AES
    elif cipher_oid == _OID_SM4_CBC:
        key_len, make = 16, algorithms.SM4
    else:
        raise KeyFormatError(f"unsupported key-encryption cipher {cipher_oid}", message_zh="不支持的私钥加密算法")
    if len(iv) != 16 or not body or len(body) % 16:
        raise KeyFormatError("corrupt encrypted key (IV or body length)", message_zh="加密私钥数据损坏")
    try:
        kek = _derive(params["key_derivation_func"], passphrase, key_len)
    except (ValueError, TypeError, KeyError) as exc:
        raise KeyFormatError(f"bad key-derivation parameters: {exc}", message_zh="密钥派生参数错误") from exc
    dec = Cipher(make(kek), modes.CBC(iv)).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        clear = unpadder.update(dec.update(body) + dec.finalize()) + unpadder.finalize()
        return load_private_key_der(clear)
    except (ValueError, KeyFormatError):
        raise WrongPassphraseError(
            "wrong passphrase (or the key file is corrupt)",
            message_zh="口令错误（或私钥文件已损坏）",
            field="passphrase",
        ) from None


def _single_block(data: bytes, label: str) -> bytes:
    if b"-----BEGIN" not in data:
        return data
    blocks = [der for lab, der in pem_blocks(data) if lab == label]
    if not blocks:
        raise KeyFormatError(f"no {label} block found", message_zh="未找到加密私钥")
    return blocks[0]


def is_encrypted_pem(data: bytes) -> bool:
    """True when ``data`` holds an ``ENCRYPTED PRIVATE KEY`` PEM block."""
    return b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in data


def load_private_key(data: bytes, *, passphrase: bytes | None) -> SigningKey:
    """Load a private key file: encrypted PKCS#8 (needs ``passphrase``) or clear PKCS#8/SEC1.

    Clear keys are accepted for import and tests; key stores only ever write encrypted ones.
    """
    if is_encrypted_pem(data) or (b"-----BEGIN" not in data and passphrase is not None):
        if passphrase is None:
            raise WrongPassphraseError(
                "this key is encrypted: give a passphrase file",
                message_zh="私钥已加密，请提供口令文件",
                field="passphrase",
            )
        return decrypt_private_key(data, passphrase=passphrase)
    if b"-----BEGIN" in data:
        blocks = [(lab, der) for lab, der in pem_blocks(data) if lab.endswith("PRIVATE KEY")]
        if not blocks:
            raise KeyFormatError("no PRIVATE KEY block found", message_zh="未找到私钥", field="key")
        label, der = blocks[0]
        if label in ("EC PRIVATE KEY", "SM2 PRIVATE KEY"):
            return _load_sec1(der)
        return load_private_key_der(der)
    return load_private_key_der(data)


def _load_sec1(der: bytes) -> SigningKey:
    """A SEC1 ``EC PRIVATE KEY``: SM2 through libcrypto's decoder, P-256 through pyca."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from keys._pyca import PycaSigningKey
    from keys._sm2 import SM2PrivateKey
    from keys.keypairs import Sm2SigningKey

    try:
        return Sm2SigningKey(SM2PrivateKey.from_der(der))
    except KeyFormatError:
        pass
    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFormatError(f"not an EC private key: {exc}", message_zh="EC 私钥格式错误", field="key") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyFormatError("not an EC private key", message_zh="EC 私钥格式错误", field="key")
    return PycaSigningKey(key)
