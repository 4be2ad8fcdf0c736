"""SM2 over the system OpenSSL libcrypto 3.x, through ctypes.

This is the only module in esign that touches the SM2 backend. It is deliberately thin:
key generation, PKCS#8 / SubjectPublicKeyInfo import and export, SM2-with-SM3 signing and
verification with a distinguishing ID (GB/T 32918.2 / GB/T 35276), signing and verifying a
precomputed digest ``e``, DER <-> raw ``r||s`` conversion, and SM2 public-key encryption
(GB/T 32918.4, GM/T 0009 DER ciphertext).

Why ctypes: no compiler needed, and every foreign call releases the GIL, so signing scales
with threads. Why libcrypto: it is the only SM2 implementation with a long-lived security
process; see ``docs/adr/0001-sm2-on-libcrypto.md``.

Pitfalls handled here:

* OpenSSL's own default distinguishing ID is the *empty* ID, which no other implementation
  accepts. Every sign/verify here sets the ID explicitly; the default is
  ``1234567812345678`` and ``None`` or an empty ID is refused.
* Red Hat and Alpine build OpenSSL with ``no-sm2``. :func:`self_test` runs the GB/T 32918.5
  Annex A example and the SM3 vectors and raises :class:`BackendUnavailableError` with a plain
  message when the library cannot do SM2.
* OpenSSL error queues are thread-local; every failing call drains the queue so a later call
  never reports a stale error.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import threading
from collections.abc import Iterator
from ctypes import POINTER, byref, c_char_p, c_int, c_long, c_size_t, c_ulong, c_void_p

from keys.errors import (
    BackendUnavailableError,
    BadInputError,
    InvalidSignatureError,
    KeyFormatError,
    SignatureFormatError,
)

__all__ = [
    "DEFAULT_UID",
    "SM2_CURVE_OID",
    "SM2_N",
    "SM2PrivateKey",
    "SM2PublicKey",
    "der_to_raw",
    "libcrypto_version",
    "raw_to_der",
    "self_test",
    "sm2_z",
]

#: The distinguishing ID every interoperable SM2 implementation uses (GB/T 35276-2017 §10).
DEFAULT_UID = b"1234567812345678"
#: OID of the SM2 curve sm2p256v1 (GM/T 0006).
SM2_CURVE_OID = "1.2.156.10197.1.301"
#: Order of the SM2 base point.
SM2_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
_P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
_A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
_B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
_GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
_GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0

# SubjectPublicKeyInfo prefix for an uncompressed SM2 point: id-ecPublicKey + sm2p256v1.
_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d034200")
_MAX_UID = 8190  # ENTL is 16 bits counting *bits*; OpenSSL requires len < UINT16_MAX // 8
_MAX_CIPHERTEXT = 1 << 20

_lib: ctypes.CDLL | None = None
_lib_lock = threading.RLock()
_self_test_done = False
_self_test_error: BackendUnavailableError | None = None


def _load() -> ctypes.CDLL:
    """Load libcrypto once, declare the prototypes, and run the known-answer self-test.

    The self-test runs on first use, before any caller can sign or verify; if it fails, every
    later call raises the same :class:`BackendUnavailableError`.
    """
    if _lib is not None and _self_test_done:
        return _lib
    if _self_test_error is not None:
        raise _self_test_error
    with _lib_lock:
        lib = _lib if _lib is not None else _open()
        if not _self_test_done and not _in_self_test.active:
            _run_self_test_locked()
        return lib


class _Reentry(threading.local):
    active = False


_in_self_test = _Reentry()


def _run_self_test_locked() -> None:
    global _self_test_error
    _in_self_test.active = True
    try:
        _self_test_body()
    except BackendUnavailableError as exc:
        _self_test_error = exc
        raise
    finally:
        _in_self_test.active = False


def _open() -> ctypes.CDLL:
    global _lib
    name = os.environ.get("ESIGN_LIBCRYPTO") or ctypes.util.find_library("crypto") or "libcrypto.so.3"
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise BackendUnavailableError(
            f"cannot load OpenSSL libcrypto ({name}): {exc}; install libssl3 (OpenSSL 3.x)",
            message_zh="无法加载 OpenSSL libcrypto，请安装 OpenSSL 3.x",
        ) from exc
    _declare(lib)
    _lib = lib
    return lib


def _declare(lib: ctypes.CDLL) -> None:
    def fn(name: str, restype: object, *argtypes: object) -> None:
        try:
            f = getattr(lib, name)
        except AttributeError as exc:
            raise BackendUnavailableError(
                f"libcrypto lacks {name}: OpenSSL 3.0 or newer is required",
                message_zh="libcrypto 版本过旧，需要 OpenSSL 3.0 或更高版本",
            ) from exc
        f.restype = restype
        f.argtypes = list(argtypes)

    fn("OpenSSL_version", c_char_p, c_int)
    fn("OpenSSL_version_num", c_ulong)
    fn("ERR_get_error", c_ulong)
    fn("ERR_error_string_n", None, c_ulong, c_char_p, c_size_t)
    fn("ERR_clear_error", None)
    fn("EVP_PKEY_free", None, c_void_p)
    fn("EVP_PKEY_is_a", c_int, c_void_p, c_char_p)
    fn("EVP_PKEY_get_bits", c_int, c_void_p)
    fn("EVP_PKEY_CTX_new_from_name", c_void_p, c_void_p, c_char_p, c_char_p)
    fn("EVP_PKEY_CTX_new_from_pkey", c_void_p, c_void_p, c_void_p, c_char_p)
    fn("EVP_PKEY_CTX_free", None, c_void_p)
    fn("EVP_PKEY_keygen_init", c_int, c_void_p)
    fn("EVP_PKEY_generate", c_int, c_void_p, POINTER(c_void_p))
    fn("EVP_PKEY_CTX_set1_id", c_int, c_void_p, c_void_p, c_int)
    fn("EVP_PKEY_sign_init", c_int, c_void_p)
    fn("EVP_PKEY_sign", c_int, c_void_p, c_void_p, POINTER(c_size_t), c_char_p, c_size_t)
    fn("EVP_PKEY_verify_init", c_int, c_void_p)
    fn("EVP_PKEY_verify", c_int, c_void_p, c_char_p, c_size_t, c_char_p, c_size_t)
    fn("EVP_PKEY_encrypt_init", c_int, c_void_p)
    fn("EVP_PKEY_encrypt", c_int, c_void_p, c_void_p, POINTER(c_size_t), c_char_p, c_size_t)
    fn("EVP_PKEY_decrypt_init", c_int, c_void_p)
    fn("EVP_PKEY_decrypt", c_int, c_void_p, c_void_p, POINTER(c_size_t), c_char_p, c_size_t)
    fn("EVP_PKEY_check", c_int, c_void_p)
    fn("EVP_PKEY_private_check", c_int, c_void_p)
    fn("EVP_MD_CTX_new", c_void_p)
    fn("EVP_MD_CTX_free", None, c_void_p)
    fn(
        "EVP_DigestSignInit_ex",
        c_int,
        c_void_p,
        POINTER(c_void_p),
        c_char_p,
        c_void_p,
        c_char_p,
        c_void_p,
        c_void_p,
    )
    fn("EVP_DigestSign", c_int, c_void_p, c_void_p, POINTER(c_size_t), c_char_p, c_size_t)
    fn(
        "EVP_DigestVerifyInit_ex",
        c_int,
        c_void_p,
        POINTER(c_void_p),
        c_char_p,
        c_void_p,
        c_char_p,
        c_void_p,
        c_void_p,
    )
    fn("EVP_DigestVerify", c_int, c_void_p, c_char_p, c_size_t, c_char_p, c_size_t)
    fn("d2i_AutoPrivateKey", c_void_p, c_void_p, POINTER(c_char_p), c_long)
    fn("d2i_PUBKEY", c_void_p, c_void_p, POINTER(c_char_p), c_long)
    fn("i2d_PUBKEY", c_int, c_void_p, POINTER(c_void_p))
    fn("EVP_PKEY2PKCS8", c_void_p, c_void_p)
    fn("i2d_PKCS8_PRIV_KEY_INFO", c_int, c_void_p, POINTER(c_void_p))
    fn("PKCS8_PRIV_KEY_INFO_free", None, c_void_p)
    fn("CRYPTO_free", None, c_void_p, c_char_p, c_int)


def _errors() -> str:
    """Drain the thread's OpenSSL error queue into one string."""
    lib = _load()
    parts = []
    buf = ctypes.create_string_buffer(256)
    while True:
        code = lib.ERR_get_error()
        if not code:
            break
        lib.ERR_error_string_n(code, buf, len(buf))
        parts.append(buf.value.decode("ascii", "replace"))
    return "; ".join(parts) or "no detail from OpenSSL"


def libcrypto_version() -> str:
    """The version string of the loaded libcrypto, e.g. ``OpenSSL 3.0.19 27 Jan 2026``."""
    return _load().OpenSSL_version(0).decode()


def _check_uid(uid: bytes | str | None) -> bytes:
    if uid is None:
        raise BadInputError(
            "the SM2 distinguishing ID must be set (default 1234567812345678)",
            message_zh="SM2 用户标识不能为空（默认 1234567812345678）",
            field="id",
        )
    if isinstance(uid, str):
        uid = uid.encode("utf-8")
    if not uid or len(uid) > _MAX_UID:
        raise BadInputError(
            "the SM2 distinguishing ID must be 1 to 8190 bytes",
            message_zh="SM2 用户标识长度须为 1 至 8190 字节",
            field="id",
        )
    return uid


def _i2d(func_name: str, obj: int) -> bytes:
    lib = _load()
    out = c_void_p()
    n = getattr(lib, func_name)(obj, byref(out))
    if n <= 0 or not out.value:
        raise BackendUnavailableError(f"{func_name} failed: {_errors()}")
    try:
        return ctypes.string_at(out.value, n)
    finally:
        lib.CRYPTO_free(out, b"esign", 0)


# --- signature encodings --------------------------------------------------------------


def _der_int(value: int) -> bytes:
    body = value.to_bytes((value.bit_length() + 8) // 8 or 1, "big")
    return b"\x02" + bytes([len(body)]) + body


def raw_to_der(sig: bytes) -> bytes:
    """Convert a 64-byte ``r||s`` signature to DER ``SEQUENCE { INTEGER r, INTEGER s }``."""
    if len(sig) != 64:
        raise SignatureFormatError(
            f"a raw SM2 signature is 64 bytes (r||s), got {len(sig)}",
            message_zh="原始格式 SM2 签名应为 64 字节 (r||s)",
        )
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    if not (0 < r < SM2_N and 0 < s < SM2_N):
        raise SignatureFormatError("r and s must lie in [1, n-1]", message_zh="签名值 r、s 超出范围")
    body = _der_int(r) + _der_int(s)
    return b"\x30" + bytes([len(body)]) + body


def der_to_raw(sig: bytes) -> bytes:
    """Convert a strict DER ``SEQUENCE { r, s }`` SM2 signature to 64 bytes ``r||s``.

    Rejects BER, trailing data, negative or zero values, and values not below the curve order.
    """

    def bad(why: str) -> SignatureFormatError:
        return SignatureFormatError(f"not a DER SM2 signature: {why}", message_zh="不是 DER 编码的 SM2 签名")

    if len(sig) < 8 or sig[0] != 0x30 or sig[1] != len(sig) - 2 or sig[1] > 0x7F:
        raise bad("expected a short-form SEQUENCE covering the whole value")
    pos, values = 2, []
    for _ in range(2):
        if pos + 2 > len(sig) or sig[pos] != 0x02:
            raise bad("expected INTEGER")
        n = sig[pos + 1]
        body = sig[pos + 2 : pos + 2 + n]
        if n == 0 or len(body) != n or n > 33:
            raise bad("bad INTEGER length")
        if body[0] & 0x80:
            raise bad("negative INTEGER")
        if n > 1 and body[0] == 0 and not body[1] & 0x80:
            raise bad("non-minimal INTEGER")
        values.append(int.from_bytes(body, "big"))
        pos += 2 + n
    if pos != len(sig):
        raise bad("trailing bytes")
    r, s = values
    if not (0 < r < SM2_N and 0 < s < SM2_N):
        raise bad("r or s out of range")
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def sm2_z(public_point: bytes, uid: bytes | str = DEFAULT_UID) -> bytes:
    """Z_A = SM3(ENTL || ID || a || b || Gx || Gy || xA || yA) per GB/T 32918.2 §5.5.

    Computed with pyca's SM3; used to turn a message into the digest ``e`` for remote or
    HSM signing, where only ``e`` travels.
    """
    from cryptography.hazmat.primitives import hashes

    uid_b = _check_uid(uid)
    if len(public_point) != 65 or public_point[0] != 4:
        raise KeyFormatError("expected an uncompressed SM2 point (65 bytes, 04||x||y)")
    h = hashes.Hash(hashes.SM3())
    h.update((len(uid_b) * 8).to_bytes(2, "big") + uid_b)
    for v in (_A, _B, _GX, _GY):
        h.update(v.to_bytes(32, "big"))
    h.update(public_point[1:])
    return h.finalize()


@contextlib.contextmanager
def _digest_ctx(ptr: int, uid: bytes | str, *, sign: bool) -> Iterator[tuple[ctypes.CDLL, int]]:
    """An ``EVP_MD_CTX`` initialised for SM2-with-SM3 signing or verifying with ``uid`` set.

    The ID must be set after init and before the first update: OpenSSL computes Z_A lazily
    and refuses a late ID.
    """
    uid_b = _check_uid(uid)
    lib = _load()
    md = lib.EVP_MD_CTX_new()
    if not md:
        raise BackendUnavailableError("EVP_MD_CTX_new failed")
    try:
        pctx = c_void_p()
        init = lib.EVP_DigestSignInit_ex if sign else lib.EVP_DigestVerifyInit_ex
        if init(md, byref(pctx), b"SM3", None, None, ptr, None) != 1:
            raise BackendUnavailableError(f"SM2 {'sign' if sign else 'verify'} init failed: {_errors()}")
        if lib.EVP_PKEY_CTX_set1_id(pctx, uid_b, len(uid_b)) != 1:
            raise BackendUnavailableError(f"cannot set SM2 ID: {_errors()}")
        yield lib, md
    finally:
        lib.EVP_MD_CTX_free(md)


# --- keys ----------------------------------------------------------------------------


class _Pkey:
    """Owns one ``EVP_PKEY*`` and frees it with the object."""

    __slots__ = ("_ptr",)

    def __init__(self, ptr: int) -> None:
        self._ptr = ptr

    def __del__(self) -> None:
        ptr, self._ptr = getattr(self, "_ptr", None), None
        if ptr and _lib is not None:
            _lib.EVP_PKEY_free(ptr)


def _require_sm2(ptr: int, what: str) -> None:
    lib = _load()
    if not lib.EVP_PKEY_is_a(ptr, b"SM2"):
        lib.EVP_PKEY_free(ptr)
        raise KeyFormatError(f"{what} is not an SM2 key", message_zh="不是 SM2 密钥", field="key")


def _load_sm2_der(func_name: str, der: bytes, *, what: str, bad_en: str, bad_zh: str) -> int:
    """An owned ``EVP_PKEY`` pointer read from DER by ``func_name`` (a ``d2i_*`` taking ``(NULL, &p, len)``).

    Raises KeyFormatError (``bad_en``/``bad_zh``) when OpenSSL cannot read it, or when it is not an SM2 key.
    """
    lib = _load()
    data = bytes(der)
    p = c_char_p(data)
    ptr = getattr(lib, func_name)(None, byref(p), len(data))
    if not ptr:
        raise KeyFormatError(f"{bad_en}: {_errors()}", message_zh=bad_zh, field="key")
    _require_sm2(ptr, what)
    return ptr


class SM2PublicKey:
    """An SM2 public key held by libcrypto."""

    __slots__ = ("_key", "_spki")

    def __init__(self, ptr: int, spki: bytes) -> None:
        self._key = _Pkey(ptr)
        self._spki = spki

    @classmethod
    def from_der(cls, spki_der: bytes) -> SM2PublicKey:
        """Load a DER SubjectPublicKeyInfo (id-ecPublicKey or id-sm2 algorithm, sm2p256v1)."""
        ptr = _load_sm2_der("d2i_PUBKEY", spki_der, what="the public key",
                            bad_en="not a valid SM2 SubjectPublicKeyInfo", bad_zh="SM2 公钥格式错误")
        return cls(ptr, _i2d("i2d_PUBKEY", ptr))

    @classmethod
    def from_point(cls, point: bytes) -> SM2PublicKey:
        """Load from an uncompressed point ``04||x||y`` (65 bytes) or bare ``x||y`` (64 bytes)."""
        if len(point) == 64:
            point = b"\x04" + point
        if len(point) != 65 or point[0] != 4:
            raise KeyFormatError("an SM2 point is 65 bytes 04||x||y", message_zh="SM2 公钥点格式错误", field="key")
        return cls.from_der(_SPKI_PREFIX + point)

    def to_der(self) -> bytes:
        """DER SubjectPublicKeyInfo."""
        return self._spki

    def point(self) -> bytes:
        """The uncompressed point ``04||x||y``."""
        return self._spki[-65:]

    def verify(self, signature: bytes, data: bytes, *, uid: bytes | str = DEFAULT_UID) -> None:
        """Verify a DER signature over ``data`` (SM3 with Z_A). Raises on any failure."""
        der_to_raw(signature)  # strict encoding check before OpenSSL sees it
        with _digest_ctx(self._key._ptr, uid, sign=False) as (lib, md):
            rc = lib.EVP_DigestVerify(md, signature, len(signature), data, len(data))
        if rc != 1:
            _errors()
            raise InvalidSignatureError("SM2 signature does not verify", message_zh="SM2 签名验证失败")

    def verify_digest(self, signature: bytes, e: bytes) -> None:
        """Verify a DER signature over a precomputed ``e = SM3(Z_A || M)`` (32 bytes)."""
        if len(e) != 32:
            raise BadInputError("an SM2 digest e is 32 bytes", message_zh="SM2 杂凑值 e 应为 32 字节")
        der_to_raw(signature)
        lib = _load()
        ctx = lib.EVP_PKEY_CTX_new_from_pkey(None, self._key._ptr, None)
        if not ctx:
            raise BackendUnavailableError(f"EVP_PKEY_CTX_new failed: {_errors()}")
        try:
            if lib.EVP_PKEY_verify_init(ctx) != 1:
                raise BackendUnavailableError(f"SM2 verify init failed: {_errors()}")
            rc = lib.EVP_PKEY_verify(ctx, signature, len(signature), e, len(e))
        finally:
            lib.EVP_PKEY_CTX_free(ctx)
        if rc != 1:
            _errors()
            raise InvalidSignatureError("SM2 signature does not verify", message_zh="SM2 签名验证失败")

    def encrypt(self, plaintext: bytes) -> bytes:
        """SM2 public-key encryption (GB/T 32918.4, SM3 KDF); returns GM/T 0009 DER ciphertext."""
        if not plaintext:
            raise BadInputError("SM2 cannot encrypt an empty message", message_zh="SM2 加密明文不能为空")
        return _crypt(self._key._ptr, plaintext, encrypt=True)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SM2PublicKey) and other._spki == self._spki

    def __hash__(self) -> int:
        return hash(self._spki)


class SM2PrivateKey:
    """An SM2 private key held by libcrypto. Its scalar never becomes a Python integer."""

    __slots__ = ("_key", "_public")

    def __init__(self, ptr: int) -> None:
        self._key = _Pkey(ptr)
        self._public: SM2PublicKey | None = None

    @classmethod
    def generate(cls) -> SM2PrivateKey:
        """Generate a fresh key from OpenSSL's CSPRNG."""
        lib = _load()
        ctx = lib.EVP_PKEY_CTX_new_from_name(None, b"SM2", None)
        if not ctx:
            raise BackendUnavailableError(
                f"this libcrypto cannot create SM2 keys: {_errors()}", message_zh="当前 libcrypto 不支持 SM2"
            )
        try:
            out = c_void_p()
            if lib.EVP_PKEY_keygen_init(ctx) != 1 or lib.EVP_PKEY_generate(ctx, byref(out)) != 1:
                raise BackendUnavailableError(f"SM2 key generation failed: {_errors()}")
        finally:
            lib.EVP_PKEY_CTX_free(ctx)
        assert out.value is not None
        return cls(out.value)

    @classmethod
    def from_der(cls, pkcs8_der: bytes) -> SM2PrivateKey:
        """Load an unencrypted PKCS#8 (or SEC1 ``EC PRIVATE KEY``) DER private key.

        The key is range-checked (1 <= d < n-1, GB/T 32918.1 §6.1) and its public point is
        checked to match d.
        """
        ptr = _load_sm2_der("d2i_AutoPrivateKey", pkcs8_der, what="the private key",
                            bad_en="not a valid SM2 private key", bad_zh="SM2 私钥格式错误")
        key = cls(ptr)
        key._check()
        return key

    @classmethod
    def from_scalar(cls, d: bytes) -> SM2PrivateKey:
        """Import a raw 32-byte private scalar (for keys exchanged as hex by other systems)."""
        if len(d) != 32:
            raise KeyFormatError("an SM2 private scalar is 32 bytes", message_zh="SM2 私钥应为 32 字节", field="key")
        # PKCS#8 { 0, {id-ecPublicKey, sm2p256v1}, OCTET STRING ECPrivateKey { 1, d } }
        ec_priv = bytes.fromhex("30250201010420") + d
        alg = bytes.fromhex("301306072a8648ce3d020106082a811ccf5501822d")
        body = b"\x02\x01\x00" + alg + b"\x04" + bytes([len(ec_priv)]) + ec_priv
        return cls.from_der(b"\x30" + bytes([len(body)]) + body)

    def _check(self) -> None:
        lib = _load()
        ctx = lib.EVP_PKEY_CTX_new_from_pkey(None, self._key._ptr, None)
        try:
            ok = lib.EVP_PKEY_check(ctx) == 1
        finally:
            lib.EVP_PKEY_CTX_free(ctx)
        if not ok:
            raise KeyFormatError(
                f"SM2 private key fails its range or consistency check: {_errors()}",
                message_zh="SM2 私钥取值非法（须满足 1 ≤ d < n-1）",
                field="key",
            )

    def to_der(self) -> bytes:
        """Unencrypted PKCS#8 DER. Only key stores call this, to encrypt it at rest at once."""
        lib = _load()
        p8 = lib.EVP_PKEY2PKCS8(self._key._ptr)
        if not p8:
            raise BackendUnavailableError(f"EVP_PKEY2PKCS8 failed: {_errors()}")
        try:
            return _i2d("i2d_PKCS8_PRIV_KEY_INFO", p8)
        finally:
            lib.PKCS8_PRIV_KEY_INFO_free(p8)

    def public_key(self) -> SM2PublicKey:
        """The matching public key."""
        if self._public is None:
            spki = _i2d("i2d_PUBKEY", self._key._ptr)
            self._public = SM2PublicKey.from_der(spki)
        return self._public

    def sign(self, data: bytes, *, uid: bytes | str = DEFAULT_UID) -> bytes:
        """Sign ``data`` with SM3 and Z_A for ``uid``; returns a DER signature."""
        with _digest_ctx(self._key._ptr, uid, sign=True) as (lib, md):
            buf = ctypes.create_string_buffer(80)
            n = c_size_t(len(buf))
            if lib.EVP_DigestSign(md, buf, byref(n), data, len(data)) != 1:
                raise BackendUnavailableError(f"SM2 signing failed: {_errors()}")
            return buf.raw[: n.value]

    def sign_digest(self, e: bytes) -> bytes:
        """Sign a precomputed ``e = SM3(Z_A || M)`` (32 bytes); returns DER."""
        if len(e) != 32:
            raise BadInputError("an SM2 digest e is 32 bytes", message_zh="SM2 杂凑值 e 应为 32 字节")
        lib = _load()
        ctx = lib.EVP_PKEY_CTX_new_from_pkey(None, self._key._ptr, None)
        if not ctx:
            raise BackendUnavailableError(f"EVP_PKEY_CTX_new failed: {_errors()}")
        try:
            if lib.EVP_PKEY_sign_init(ctx) != 1:
                raise BackendUnavailableError(f"SM2 sign init failed: {_errors()}")
            buf = ctypes.create_string_buffer(80)
            n = c_size_t(len(buf))
            if lib.EVP_PKEY_sign(ctx, buf, byref(n), e, len(e)) != 1:
                raise BackendUnavailableError(f"SM2 signing failed: {_errors()}")
            return buf.raw[: n.value]
        finally:
            lib.EVP_PKEY_CTX_free(ctx)

    def decrypt(self, ciphertext: bytes) -> bytes:
        """Decrypt a GM/T 0009 DER SM2 ciphertext."""
        if not ciphertext or len(ciphertext) > _MAX_CIPHERTEXT:
            raise BadInputError("SM2 ciphertext is empty or too large", message_zh="SM2 密文为空或过大")
        return _crypt(self._key._ptr, ciphertext, encrypt=False)

    def __repr__(self) -> str:  # never show key material
        return "<SM2PrivateKey>"


def _crypt(ptr: int, data: bytes, *, encrypt: bool) -> bytes:
    lib = _load()
    ctx = lib.EVP_PKEY_CTX_new_from_pkey(None, ptr, None)
    if not ctx:
        raise BackendUnavailableError(f"EVP_PKEY_CTX_new failed: {_errors()}")
    init, op = (
        (lib.EVP_PKEY_encrypt_init, lib.EVP_PKEY_encrypt)
        if encrypt
        else (lib.EVP_PKEY_decrypt_init, lib.EVP_PKEY_decrypt)
    )
    try:
        if init(ctx) != 1:
            raise BackendUnavailableError(f"SM2 {'en' if encrypt else 'de'}crypt init failed: {_errors()}")
        n = c_size_t(0)
        if op(ctx, None, byref(n), data, len(data)) != 1:
            raise BadInputError(f"SM2 ciphertext rejected: {_errors()}", message_zh="SM2 密文格式错误")
        buf = ctypes.create_string_buffer(n.value)
        if op(ctx, buf, byref(n), data, len(data)) != 1:
            raise BadInputError(f"SM2 decryption failed: {_errors()}", message_zh="SM2 解密失败")
        return buf.raw[: n.value]
    finally:
        lib.EVP_PKEY_CTX_free(ctx)


# --- start-up self-test ---------------------------------------------------------------

# GB/T 32918.5-2017 Annex A (= GM/T 0003.5 Annex A) on sm2p256v1, ID 1234567812345678.
_KAT_D = bytes.fromhex("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8")
_KAT_PUB = bytes.fromhex(
    "0409F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
    "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
)
_KAT_MSG = b"message digest"
_KAT_Z = bytes.fromhex("B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3")
_KAT_SIG = bytes.fromhex(
    "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
    "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"
)
# GB/T 32905-2016 Annex A.
_SM3_KATS = (
    (b"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
    (b"abcd" * 16, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"),
)


def self_test() -> None:
    """Load the backend and run its known-answer tests (once per process); raise if unusable.

    Every entry point of this module calls it implicitly; the service calls it at start-up so
    that a libcrypto without SM2 stops the process with a clear message.
    """
    _load()


def _self_test_body() -> None:
    """The SM3 and SM2 known-answer tests.

    Checks: SM3 vectors of GB/T 32905; Z_A of the Annex A key; the Annex A signature verifies
    and a one-bit change of it does not; a fresh key signs and verifies; the private scalar
    of Annex A imports and yields the Annex A public key.
    """
    global _self_test_done
    from cryptography.hazmat.primitives import hashes

    def fail(what: str) -> BackendUnavailableError:
        return BackendUnavailableError(
            f"SM2/SM3 self-test failed ({what}) on {_safe_version()}: this libcrypto cannot be used for SM2. "
            "Red Hat and Alpine builds of OpenSSL disable SM2; use a Debian/Ubuntu libssl3 or point "
            "ESIGN_LIBCRYPTO at an OpenSSL 3.x build with SM2 enabled.",
            message_zh="SM2/SM3 自检失败：当前 OpenSSL 未启用 SM2，拒绝启动",
        )

    for msg, want in _SM3_KATS:
        h = hashes.Hash(hashes.SM3())
        h.update(msg)
        if h.finalize().hex() != want:
            raise fail("SM3 vector")
    try:
        if sm2_z(_KAT_PUB) != _KAT_Z:
            raise fail("Z_A")
        pub = SM2PublicKey.from_point(_KAT_PUB)
        pub.verify(raw_to_der(_KAT_SIG), _KAT_MSG)
        try:
            pub.verify(raw_to_der(_KAT_SIG[:-1] + bytes([_KAT_SIG[-1] ^ 1])), _KAT_MSG)
        except InvalidSignatureError:
            pass
        else:
            raise fail("a tampered signature verified")
        if SM2PrivateKey.from_scalar(_KAT_D).public_key().point() != _KAT_PUB:
            raise fail("public key derivation")
        k = SM2PrivateKey.generate()
        k.public_key().verify(k.sign(b"esign self-test"), b"esign self-test")
    except (InvalidSignatureError, KeyFormatError) as exc:
        raise fail(str(exc)) from exc
    _self_test_done = True


def _safe_version() -> str:
    try:
        return libcrypto_version()
    except BackendUnavailableError:
        return "an unloadable libcrypto"
