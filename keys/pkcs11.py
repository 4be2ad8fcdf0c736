"""Keys inside a PKCS#11 token (an HSM, a smart card, SoftHSM2), behind the KeyProvider interface.

Private keys are generated *on* the token as ``CKA_TOKEN``, ``CKA_PRIVATE``, ``CKA_SENSITIVE``
and not ``CKA_EXTRACTABLE``, usable for signing only; they never leave it. ``sign()`` calls
``C_Sign``. Objects of version N of ``key_id`` carry ``CKA_LABEL`` and ``CKA_ID`` equal to
``<key_id>#v<N>``:

- the private and public key;
- a ``CKO_DATA`` object (``CKA_APPLICATION`` = ``esign``) with the algorithm and creation time,
  written *before* the key pair, so a version exists exactly when both are present;
- the ``CKO_CERTIFICATE`` attached to that version, if any.

The highest version is active; older ones are retired. Rotation also clears ``CKA_SIGN`` on the
retired private keys, so the token itself refuses them even to other software.

ECDSA: the message is hashed with SHA-256 here and signed with ``CKM_ECDSA`` (SoftHSM2 2.6 and
many HSMs have no ``CKM_ECDSA_SHA256``); the token's raw ``r||s`` is re-encoded as DER.
RSA: ``CKM_SHA256_RSA_PKCS`` and ``CKM_SHA256_RSA_PKCS_PSS`` (MGF1-SHA-256, salt 32).

python-pkcs11 sessions are not thread-safe, and PKCS#11 login state is per process and token.
So each process holds one logged-in session per token, shared by every store object on that
token, and every call on it holds that connection's lock.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pkcs11
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pkcs11 import MGF, Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11.util.ec import encode_ecdsa_signature, encode_named_curve_parameters

from keys import algorithms as _alg
from keys._pyca import PSS_SALT_LENGTH, public_from_pyca
from keys.errors import (
    AlgorithmNotAllowedError,
    BadInputError,
    CertificateError,
    ConflictError,
    EsignError,
    KeyStoreError,
    NotFoundError,
    WrongPassphraseError,
)
from keys.interfaces import SigningKey, VerifyingKey
from keys.provider import (
    PKCS11_ALGS,
    KeyInfo,
    KeyStatus,
    KeyVersion,
    RetiredKeyError,
    alg_of,
    check_alg,
    parse_unverified_certificate,
    spki_fingerprint,
    validate_key_id,
)

__all__ = ["Pkcs11KeyStore"]

_log = logging.getLogger(__name__)
_APP = "esign"
_LABEL_RE = re.compile(r"([a-z0-9][a-z0-9._-]{0,63})#v([1-9][0-9]{0,5})")
_P256_PARAMS = encode_named_curve_parameters("secp256r1")
_SELF_TEST = b"esign pkcs11 key self-test"
# Mechanisms each algorithm needs on the token.
_NEEDS = {
    "p256": (Mechanism.EC_KEY_PAIR_GEN, Mechanism.ECDSA),
    "rsa2048": (Mechanism.RSA_PKCS_KEY_PAIR_GEN, Mechanism.SHA256_RSA_PKCS),
    "rsa3072": (Mechanism.RSA_PKCS_KEY_PAIR_GEN, Mechanism.SHA256_RSA_PKCS),
}


def _map(exc: BaseException, what: str) -> EsignError:
    """Translate a python-pkcs11 exception into ours, with a plain reason and no secrets."""
    name = type(exc).__name__
    if isinstance(exc, (pkcs11.PinIncorrect, pkcs11.PinInvalid, pkcs11.PinLenRange)):
        return WrongPassphraseError("the token PIN is wrong", message_zh="令牌 PIN 错误", field="pin")
    if isinstance(exc, (pkcs11.PinLocked, pkcs11.PinExpired)):
        return KeyStoreError(
            f"{what}: the token PIN is locked or expired; the security officer must reset it",
            message_zh="令牌 PIN 已锁定或过期，请安全管理员重置",
        )
    if isinstance(
        exc,
        (pkcs11.TokenNotPresent, pkcs11.DeviceRemoved, pkcs11.NoSuchToken, pkcs11.TokenNotRecognised,
         pkcs11.SlotIDInvalid, pkcs11.SessionClosed, pkcs11.SessionHandleInvalid),
    ):  # fmt: skip
        return KeyStoreError(f"{what}: the token is not present ({name})", message_zh="令牌不存在或已移除")
    if isinstance(exc, pkcs11.NoSuchKey):
        return NotFoundError(f"{what}: no such key on the token", message_zh="令牌中没有该密钥")
    if isinstance(exc, (pkcs11.MechanismInvalid, pkcs11.MechanismParamInvalid, pkcs11.FunctionNotSupported)):
        return AlgorithmNotAllowedError(
            f"{what}: the token does not support this mechanism ({name})", message_zh="令牌不支持该机制"
        )
    if isinstance(exc, (pkcs11.UserNotLoggedIn, pkcs11.UserAlreadyLoggedIn)):
        return KeyStoreError(f"{what}: token login state unexpected ({name})", message_zh="令牌登录状态异常")
    return KeyStoreError(f"{what}: token error {name}", message_zh="令牌操作失败")


class _Connection:
    """The one logged-in session this process holds on one token."""

    _registry: dict[tuple[str, bytes], _Connection] = {}
    _registry_lock = threading.Lock()
    _tag_key = secrets.token_bytes(32)  # per-process; PINs are compared as HMAC tags

    def __init__(self, key: tuple[str, bytes], token: Any, session: Any, tag: bytes) -> None:
        self.key, self.token, self.session, self.tag = key, token, session, tag
        self.lock = threading.RLock()
        self.refs = 1
        self.mechanisms: frozenset[Any] = frozenset(token.slot.get_mechanisms())

    @classmethod
    def acquire(cls, module_path: str, token_label: str, pin: str) -> _Connection:
        if not os.path.isfile(module_path):
            raise KeyStoreError(f"PKCS#11 module {module_path} not found", message_zh="找不到 PKCS#11 模块")
        tag = hmac.new(cls._tag_key, pin.encode(), hashlib.sha256).digest()
        with cls._registry_lock:
            try:
                lib = pkcs11.lib(os.path.realpath(module_path))
                token = lib.get_token(token_label=token_label)
            except pkcs11.MultipleTokensReturned:
                raise KeyStoreError(f"more than one token is labelled {token_label!r}") from None
            except pkcs11.PKCS11Error as exc:
                raise _map(exc, f"token {token_label!r}") from None
            except (OSError, RuntimeError) as exc:
                raise KeyStoreError(
                    f"cannot load PKCS#11 module {module_path}: {type(exc).__name__}",
                    message_zh="无法加载 PKCS#11 模块",
                ) from None
            key = (os.path.realpath(module_path), bytes(token.serial))
            conn = cls._registry.get(key)
            if conn is not None:
                # Login is per process: the token would accept any PIN now, so compare with
                # the PIN that logged in.
                if not hmac.compare_digest(conn.tag, tag):
                    raise WrongPassphraseError("the token PIN is wrong", message_zh="令牌 PIN 错误", field="pin")
                conn.refs += 1
                return conn
            try:
                session = token.open(rw=True, user_pin=pin)
            except pkcs11.PKCS11Error as exc:
                raise _map(exc, f"login to token {token_label!r}") from None
            conn = cls(key, token, session, tag)
            cls._registry[key] = conn
            return conn

    def release(self) -> None:
        with self._registry_lock:
            self.refs -= 1
            if self.refs == 0:
                self._registry.pop(self.key, None)
                with self.lock:
                    try:
                        self.session.close()  # closing the last session logs out
                    except pkcs11.PKCS11Error as exc:
                        _log.warning("closing PKCS#11 session failed: %s", type(exc).__name__)


class _TokenSigningKey:
    """A signing handle on a token key version; holds only object labels, never key bytes."""

    __slots__ = ("_pub", "_store", "key_id", "version")

    def __init__(self, store: Pkcs11KeyStore, key_id: str, version: int, pub: VerifyingKey) -> None:
        self._store, self.key_id, self.version, self._pub = store, key_id, version, pub

    @property
    def key_type(self) -> _alg.KeyType:
        return self._pub.key_type

    def default_algorithm(self) -> _alg.SignatureAlgorithm:
        return self._pub.default_algorithm()

    def public_key(self) -> VerifyingKey:
        return self._pub

    def sign(self, data: bytes, *, algorithm: _alg.SignatureAlgorithm | None = None, uid: bytes | None = None) -> bytes:
        if uid is not None:
            raise BadInputError("a distinguishing ID applies to SM2 keys only", field="id")
        alg = algorithm or self._pub.default_algorithm()
        if alg.key_type is not self._pub.key_type:
            raise AlgorithmNotAllowedError(
                f"algorithm {alg.algo_name} does not fit a {self._pub.key_type.value} key",
                message_zh="签名算法与密钥类型不匹配",
                field="algorithm",
            )
        return self._store._sign(self.key_id, self.version, alg, data)

    def __repr__(self) -> str:
        return f"<TokenSigningKey {self.key_id}#v{self.version}>"


class Pkcs11KeyStore:
    """Named, versioned keys generated and kept on a PKCS#11 token.

    Args:
        module_path: the PKCS#11 library, e.g. ``/usr/lib/softhsm/libsofthsm2.so``.
        token_label: ``CKA_LABEL`` of the token.
        pin: the user PIN (from a file or settings, never from code).
        clock: returns the current UTC time, for ``created_at``.

    Raises:
        WrongPassphraseError: the PIN is wrong. KeyStoreError: module or token unusable.
    """

    kind = "pkcs11"

    def __init__(
        self, module_path: str, *, token_label: str, pin: str, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._label = token_label
        self._clock = clock or (lambda: datetime.now(UTC))
        self._conn: _Connection | None = _Connection.acquire(module_path, token_label, pin)
        self._pub_cache: dict[str, VerifyingKey] = {}

    def __repr__(self) -> str:
        return f"<Pkcs11KeyStore token={self._label!r}>"

    @property
    def supported_algs(self) -> tuple[str, ...]:
        """Algorithms this token can generate and sign with."""
        mechs = self._c().mechanisms
        return tuple(a for a in PKCS11_ALGS if all(m in mechs for m in _NEEDS[a]))

    def _c(self) -> _Connection:
        if self._conn is None:
            raise KeyStoreError("the PKCS#11 key store is closed", message_zh="PKCS#11 密钥库已关闭")
        return self._conn

    def close(self) -> None:
        """Release this store's share of the token session."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.release()

    # -- token objects ---------------------------------------------------------------------

    def _find(self, cls: ObjectClass, label: str) -> Any | None:
        objs = list(self._c().session.get_objects({Attribute.CLASS: cls, Attribute.LABEL: label}))
        if len(objs) > 1:
            raise KeyStoreError(f"{len(objs)} token objects share the label {label!r}")
        return objs[0] if objs else None

    def _meta(self) -> dict[str, dict[int, dict[str, Any]]]:
        """Every esign version on the token: key_id -> version -> metadata."""
        out: dict[str, dict[int, dict[str, Any]]] = {}
        for obj in self._c().session.get_objects({Attribute.CLASS: ObjectClass.DATA, Attribute.APPLICATION: _APP}):
            m = _LABEL_RE.fullmatch(obj[Attribute.LABEL])
            if m is None:
                continue
            try:
                meta = json.loads(obj[Attribute.VALUE])
                meta["created_at"] = datetime.fromisoformat(meta["created_at"])
            except (ValueError, KeyError, TypeError):
                continue
            out.setdefault(m.group(1), {})[int(m.group(2))] = meta
        return out

    def _versions(self, key_id: str) -> dict[int, dict[str, Any]]:
        """Versions of ``key_id`` whose metadata and private key are both on the token."""
        meta = self._meta().get(validate_key_id(key_id), {})
        found = {v: m for v, m in meta.items() if self._find(ObjectClass.PRIVATE_KEY, f"{key_id}#v{v}") is not None}
        if not found:
            raise NotFoundError(f"no key {key_id!r} on the token", message_zh="令牌中没有该密钥", field="key_id")
        return dict(sorted(found.items()))

    def _pick(self, versions: dict[int, dict[str, Any]], key_id: str, version: int | None) -> int:
        if version is None:
            return max(versions)
        if version not in versions:
            raise NotFoundError(f"key {key_id!r} has no version {version!r}", message_zh="密钥版本不存在")
        return version

    def _public(self, label: str) -> VerifyingKey:
        cached = self._pub_cache.get(label)
        if cached is not None:
            return cached
        obj = self._find(ObjectClass.PUBLIC_KEY, label)
        if obj is None:
            raise KeyStoreError(f"public key {label!r} missing from the token", message_zh="令牌中缺少公钥")
        if obj[Attribute.KEY_TYPE] == KeyType.EC:
            if obj[Attribute.EC_PARAMS] != _P256_PARAMS:
                raise KeyStoreError(f"{label!r} is not a P-256 key")
            point = obj[Attribute.EC_POINT]
            if len(point) == 67 and point[:2] == b"\x04\x41":  # DER OCTET STRING around the point
                point = point[2:]
            pyca: Any = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        elif obj[Attribute.KEY_TYPE] == KeyType.RSA:
            n = int.from_bytes(obj[Attribute.MODULUS], "big")
            e = int.from_bytes(obj[Attribute.PUBLIC_EXPONENT], "big")
            pyca = rsa.RSAPublicNumbers(e, n).public_key()
        else:
            raise KeyStoreError(f"{label!r} has an unsupported key type")
        key = public_from_pyca(pyca)
        self._pub_cache[label] = key
        return key

    def _info(self, key_id: str, version: int, versions: dict[int, dict[str, Any]]) -> KeyInfo:
        label = f"{key_id}#v{version}"
        pub = self._public(label)
        return KeyInfo(
            key_id=key_id,
            version=version,
            alg=alg_of(pub),
            created_at=versions[version]["created_at"],
            status=KeyStatus.ACTIVE if version == max(versions) else KeyStatus.RETIRED,
            fingerprint=spki_fingerprint(pub.spki_der()),
            provider=self.kind,
            has_certificate=self._find(ObjectClass.CERTIFICATE, label) is not None,
        )

    # -- generating ------------------------------------------------------------------------

    def _generate(self, key_id: str, version: int, alg: str) -> KeyInfo:
        label = f"{key_id}#v{version}"
        session = self._c().session
        private = {
            Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False, Attribute.SIGN: True, Attribute.DECRYPT: False,
            Attribute.UNWRAP: False, Attribute.DERIVE: False,
        }  # fmt: skip
        public: dict[Attribute, Any] = {
            Attribute.TOKEN: True, Attribute.VERIFY: True, Attribute.ENCRYPT: False, Attribute.WRAP: False,
        }  # fmt: skip
        meta = {"alg": alg, "created_at": self._clock().astimezone(UTC).isoformat()}
        data_obj = session.create_object(
            {
                Attribute.CLASS: ObjectClass.DATA, Attribute.TOKEN: True, Attribute.PRIVATE: True,
                Attribute.APPLICATION: _APP, Attribute.LABEL: label, Attribute.VALUE: json.dumps(meta).encode(),
            }
        )  # fmt: skip
        created: list[Any] = [data_obj]
        try:
            caps = MechanismFlag.SIGN | MechanismFlag.VERIFY
            if alg == "p256":
                public[Attribute.EC_PARAMS] = _P256_PARAMS
                pair = session.generate_keypair(
                    KeyType.EC, store=True, id=label.encode(), label=label, capabilities=caps,
                    public_template=public, private_template=private,
                )  # fmt: skip
            else:
                pair = session.generate_keypair(
                    KeyType.RSA, int(alg[3:]), store=True, id=label.encode(), label=label, capabilities=caps,
                    public_template=public, private_template=private,
                )  # fmt: skip
            created.extend(pair)
            self._pub_cache.pop(label, None)
            pub = self._public(label)
            # Prove the pair belongs together before anyone relies on it.
            sig = self._raw_sign(pair[1], pub.default_algorithm(), _SELF_TEST)
            pub.verify(sig, _SELF_TEST)
        except BaseException:
            for obj in created:
                try:
                    obj.destroy()
                except pkcs11.PKCS11Error:
                    _log.warning("could not remove a half-created object %s", label)
            raise
        _log.info("token key %s (%s) generated, fingerprint %s", label, alg, spki_fingerprint(pub.spki_der()))
        return self._info(key_id, version, {version: {"created_at": datetime.fromisoformat(meta["created_at"])}})

    def create_key(self, key_id: str, *, alg: str) -> KeyInfo:
        """Generate version 1 of ``key_id`` on the token (p256, rsa2048, rsa3072)."""
        validate_key_id(key_id)
        with self._c().lock:
            check_alg(alg, self.supported_algs, where=f"the PKCS#11 token {self._label!r}")
            try:
                if key_id in self._meta():
                    raise ConflictError(f"key {key_id!r} already exists", message_zh="密钥已存在", field="key_id")
                return self._generate(key_id, 1, alg)
            except pkcs11.PKCS11Error as exc:
                raise _map(exc, f"generating {key_id}") from None

    def import_key(self, key_id: str, key_file_bytes: bytes, *, passphrase_of_file: bytes | None = None) -> KeyInfo:
        """Refused: a key that has existed outside the token cannot be trusted as token-bound."""
        raise BadInputError(
            "importing keys into a PKCS#11 token is not offered; generate the key on the token "
            "(or import it with the token vendor's tools under a key-ceremony procedure)",
            message_zh="不支持向 PKCS#11 令牌导入密钥，请在令牌内生成",
            field="key",
        )

    def rotate(self, key_id: str) -> KeyInfo:
        """Generate version N+1 on the token; older versions retire and lose ``CKA_SIGN``."""
        with self._c().lock:
            try:
                versions = self._versions(key_id)
                latest = max(versions)
                info = self._generate(key_id, latest + 1, alg_of(self._public(f"{key_id}#v{latest}")))
                for v in versions:
                    priv = self._find(ObjectClass.PRIVATE_KEY, f"{key_id}#v{v}")
                    try:
                        priv[Attribute.SIGN] = False
                    except pkcs11.PKCS11Error as exc:  # the store still refuses retired versions
                        _log.warning("token refused to clear CKA_SIGN on %s#v%d: %s", key_id, v, type(exc).__name__)
                return info
            except pkcs11.PKCS11Error as exc:
                raise _map(exc, f"rotating {key_id}") from None

    # -- signing ---------------------------------------------------------------------------

    def _raw_sign(self, priv: Any, alg: _alg.SignatureAlgorithm, data: bytes) -> bytes:
        if alg is _alg.SignatureAlgorithm.ECDSA_SHA256:
            raw = priv.sign(hashlib.sha256(data).digest(), mechanism=Mechanism.ECDSA)
            return encode_ecdsa_signature(raw)
        if alg is _alg.SignatureAlgorithm.RSA_PSS_SHA256:
            return priv.sign(
                data,
                mechanism=Mechanism.SHA256_RSA_PKCS_PSS,
                mechanism_param=(Mechanism.SHA256, MGF.SHA256, PSS_SALT_LENGTH),
            )
        if alg is _alg.SignatureAlgorithm.RSA_PKCS1_SHA256:
            return priv.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS)
        raise AlgorithmNotAllowedError(f"algorithm {alg.algo_name} is not available on a PKCS#11 token")

    def _sign(self, key_id: str, version: int, alg: _alg.SignatureAlgorithm, data: bytes) -> bytes:
        with self._c().lock:
            try:
                versions = self._versions(key_id)
                if version != max(versions):
                    raise RetiredKeyError(
                        f"key {key_id} version {version} is retired (verify-only); sign with version {max(versions)}",
                        message_zh=f"密钥 {key_id} 第 {version} 版已退役，仅可用于验证",
                        field="version",
                    )
                priv = self._find(ObjectClass.PRIVATE_KEY, f"{key_id}#v{version}")
                return self._raw_sign(priv, alg, data)
            except pkcs11.PKCS11Error as exc:
                raise _map(exc, f"signing with {key_id}#v{version}") from None

    def signing_key(self, key_id: str, *, version: int | None = None) -> SigningKey:
        """A handle that signs on the token with the active version."""
        with self._c().lock:
            try:
                versions = self._versions(key_id)
                number = self._pick(versions, key_id, version)
                if number != max(versions):
                    raise RetiredKeyError(
                        f"key {key_id} version {number} is retired (verify-only)",
                        message_zh=f"密钥 {key_id} 第 {number} 版已退役，仅可用于验证",
                        field="version",
                    )
                return _TokenSigningKey(self, key_id, number, self._public(f"{key_id}#v{number}"))
            except pkcs11.PKCS11Error as exc:
                raise _map(exc, f"opening {key_id}") from None

    # -- reading ---------------------------------------------------------------------------

    def key_info(self, key_id: str, *, version: int | None = None) -> KeyInfo:
        """Metadata of a version (the active one by default)."""
        with self._c().lock:
            try:
                versions = self._versions(key_id)
                return self._info(key_id, self._pick(versions, key_id, version), versions)
            except pkcs11.PKCS11Error as exc:
                raise _map(exc, f"reading {key_id}") from None

    def public_key(self, key_id: str, *, version: int | None = None) -> VerifyingKey:
        """The public key of a version, read from the token."""
        with self._c().lock:
            try:
                number = self._pick(self._versions(key_id), key_id, version)
                return self._public(f"{key_id}#v{number}")
            except pkcs11.PKCS11Error as exc:
                raise _map(exc, f"reading {key_id}") from None

    def public_keys(self, key_id: str) -> list[KeyVersion]:
        """Every version, oldest first, with public key and certificate."""
        with self._c().lock:
            try:
                versions = self._versions(key_id)
                out = []
                for v in versions:
                    info = self._info(key_id, v, versions)
                    cert = self.certificate(key_id, v) if info.has_certificate else None
                    out.append(KeyVersion(info=info, public_key=self._public(f"{key_id}#v{v}"), certificate=cert))
                return out
            except pkcs11.PKCS11Error as exc:
                raise _map(exc, f"reading {key_id}") from None

    def list_keys(self) -> list[KeyInfo]:
        """The active version of every esign key on the token."""
        with self._c().lock:
            try:
                out = []
                for key_id in sorted(self._meta()):
                    try:
                        out.append(self.key_info(key_id))
                    except NotFoundError:
                        continue  # metadata left by an interrupted generation
                return out
            except pkcs11.PKCS11Error as exc:
                raise _map(exc, "listing keys") from None

    # -- certificates ----------------------------------------------------------------------

    def attach_certificate(self, key_id: str, version: int, cert_der: bytes, *, replace: bool = False) -> None:
        """Store a certificate object next to the key version; its public key must match."""
        der, spki, subject = parse_unverified_certificate(cert_der)
        with self._c().lock:
            try:
                info = self.key_info(key_id, version=version)
                if spki_fingerprint(spki) != info.fingerprint:
                    raise CertificateError(
                        f"the certificate's public key is not that of {key_id}#v{version}",
                        message_zh="证书公钥与该密钥版本不符",
                        field="certificate",
                    )
                label = f"{key_id}#v{version}"
                old = self._find(ObjectClass.CERTIFICATE, label)
                if old is not None:
                    if not replace:
                        raise ConflictError(f"{label} already has a certificate", message_zh="该密钥版本已有证书")
                    old.destroy()
                cert_attrs = {
                    Attribute.CLASS: ObjectClass.CERTIFICATE,
                    Attribute.CERTIFICATE_TYPE: pkcs11.CertificateType.X_509,
                    Attribute.TOKEN: True,
                    Attribute.PRIVATE: False,
                    Attribute.LABEL: label,
                    Attribute.ID: label.encode(),
                    Attribute.SUBJECT: subject,
                    Attribute.VALUE: der,
                }
                self._c().session.create_object(cert_attrs)
            except pkcs11.PKCS11Error as exc:
                raise _map(exc, f"storing the certificate of {key_id}#v{version}") from None

    def certificate(self, key_id: str, version: int | None = None) -> bytes:
        """The DER certificate of a version (the active one by default)."""
        with self._c().lock:
            try:
                number = self._pick(self._versions(key_id), key_id, version)
                obj = self._find(ObjectClass.CERTIFICATE, f"{key_id}#v{number}")
                if obj is None:
                    raise NotFoundError(
                        f"no certificate attached to {key_id}#v{number}", message_zh="该密钥版本没有证书"
                    )
                return bytes(obj[Attribute.VALUE])
            except pkcs11.PKCS11Error as exc:
                raise _map(exc, f"reading the certificate of {key_id}") from None
