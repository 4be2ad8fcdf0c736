"""Key stores behind one interface: where private keys live, how they rotate, how to open one.

A :class:`KeyProvider` holds named keys (``key_id``), each with numbered versions. The highest
version is *active* and signs; older versions are *retired*: their public keys and certificates
stay available so old signatures still verify, but signing with them raises
:class:`RetiredKeyError`. Callers get a :class:`~keys.interfaces.SigningKey` from
:meth:`KeyProvider.signing_key` and sign without knowing whether the key is an encrypted file
(:mod:`keys.keystore`) or an object inside a PKCS#11 token (:mod:`keys.pkcs11`).

Providers are opened from a URL (see :func:`open_provider` and ``docs/keys.md``)::

    file:///var/lib/esign/keys                      (passphrase given separately)
    pkcs11:token=esign;module-path=/usr/lib/softhsm/libsofthsm2.so;pin-source=file:/run/secrets/pin

No private key is ever exported in clear through this interface, and no secret (passphrase,
PIN, key bytes) appears in a ``repr``, a log line or an error message.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

from keys.algorithms import KeyType
from keys.errors import (
    AlgorithmNotAllowedError,
    BadInputError,
    CertificateError,
    EsignError,
    KeyStoreError,
    PermissionDeniedError,
)
from keys.interfaces import SigningKey, VerifyingKey

__all__ = [
    "FILE_ALGS",
    "KEY_ID_PATTERN",
    "MAX_SECRET_FILE_BYTES",
    "PKCS11_ALGS",
    "KeyInfo",
    "KeyProvider",
    "KeyStatus",
    "KeyVersion",
    "RetiredKeyError",
    "alg_of",
    "check_alg",
    "open_provider",
    "parse_pkcs11_url",
    "parse_unverified_certificate",
    "read_passphrase_file",
    "spki_fingerprint",
    "validate_key_id",
]

_log = logging.getLogger(__name__)

#: Key ids: lower-case letters, digits, ``.``, ``_``, ``-``; 1-64 characters, not starting with
#: a punctuation mark. No ``/`` and no leading ``.``, so an id is always a safe file name.
KEY_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
#: Algorithms the encrypted-file store generates.
FILE_ALGS = ("sm2", "p256", "rsa2048", "rsa3072", "ed25519")
#: Algorithms generated on a PKCS#11 token (SoftHSM2 and common HSMs have no SM2 mechanism).
PKCS11_ALGS = ("p256", "rsa2048", "rsa3072")
#: Largest passphrase or PIN file we read.
MAX_SECRET_FILE_BYTES = 4096
_MAX_URL = 2048


class RetiredKeyError(KeyStoreError):
    """A retired (verify-only) key version was asked to sign."""

    code = "key_retired"
    http_status = 409
    exit_code = 2
    default_zh = "该密钥版本已退役，只能用于验证"


class KeyStatus(enum.Enum):
    """Life-cycle state of one key version."""

    ACTIVE = "active"
    RETIRED = "retired"


@dataclass(frozen=True)
class KeyInfo:
    """What a store says about one version of one key (never any private material)."""

    key_id: str
    """The key's name in the store."""
    version: int
    """Version number, from 1; the highest version is the active one."""
    alg: str
    """Key algorithm: ``sm2``, ``p256``, ``rsa2048``, ``rsa3072``, ``rsa4096`` or ``ed25519``."""
    created_at: datetime
    """When this version was generated or imported (timezone-aware UTC)."""
    status: KeyStatus
    """``ACTIVE`` (signs) or ``RETIRED`` (verify-only)."""
    fingerprint: str
    """SHA-256 of the DER SubjectPublicKeyInfo, lower-case hex."""
    provider: str
    """Kind of store holding the key: ``file`` or ``pkcs11``."""
    has_certificate: bool = False
    """Whether a certificate is attached to this version."""


@dataclass(frozen=True)
class KeyVersion:
    """One version of a key as needed for verification: its public key and certificate."""

    info: KeyInfo
    """Metadata of this version."""
    public_key: VerifyingKey
    """The public key (usable for verification whatever the status)."""
    certificate: bytes | None
    """DER certificate attached to this version, if any."""


@runtime_checkable
class KeyProvider(Protocol):
    """A store of named, versioned signing keys."""

    @property
    def kind(self) -> str:
        """``file`` or ``pkcs11``."""

    def create_key(self, key_id: str, *, alg: str) -> KeyInfo:
        """Generate version 1 of a new key; ConflictError if ``key_id`` exists."""

    def import_key(self, key_id: str, key_file_bytes: bytes, *, passphrase_of_file: bytes | None = None) -> KeyInfo:
        """Bring an existing private key into the store as version 1 of a new key."""

    def signing_key(self, key_id: str, *, version: int | None = None) -> SigningKey:
        """A handle that signs with the active version (RetiredKeyError for a retired one)."""

    def public_key(self, key_id: str, *, version: int | None = None) -> VerifyingKey:
        """The public key of a version (the active one by default)."""

    def public_keys(self, key_id: str) -> list[KeyVersion]:
        """Every version, oldest first, for verification after rotation."""

    def rotate(self, key_id: str) -> KeyInfo:
        """Generate a new version with the same algorithm; it becomes active, the old one retires."""

    def key_info(self, key_id: str, *, version: int | None = None) -> KeyInfo:
        """Metadata of a version (the active one by default)."""

    def list_keys(self) -> list[KeyInfo]:
        """The active version of every key, sorted by key id."""

    def attach_certificate(self, key_id: str, version: int, cert_der: bytes, *, replace: bool = False) -> None:
        """Store the certificate of a key version; its public key must match the version's."""

    def certificate(self, key_id: str, version: int | None = None) -> bytes:
        """The DER certificate of a version (the active one by default); NotFoundError if none."""

    def close(self) -> None:
        """Drop cached key objects and sessions."""


def validate_key_id(key_id: object) -> str:
    """Return ``key_id`` if it matches :data:`KEY_ID_PATTERN`, else raise BadInputError."""
    if not isinstance(key_id, str) or KEY_ID_PATTERN.fullmatch(key_id) is None:
        shown = repr(key_id)[:80]
        raise BadInputError(
            f"invalid key id {shown}: use 1-64 characters a-z 0-9 . _ - starting with a letter or digit",
            message_zh="密钥标识无效：只能使用 1-64 个小写字母、数字或 . _ -，且以字母或数字开头",
            field="key_id",
        )
    return key_id


def check_alg(alg: str, supported: tuple[str, ...], *, where: str) -> str:
    """Raise AlgorithmNotAllowedError naming ``supported`` unless ``alg`` is one of them."""
    if alg not in supported:
        raise AlgorithmNotAllowedError(
            f"{where} cannot generate {alg!r} keys; it supports {', '.join(supported)}",
            message_zh=f"{where} 不支持生成 {alg!r} 密钥；支持：{', '.join(supported)}",
            field="alg",
        )
    return alg


def spki_fingerprint(spki_der: bytes) -> str:
    """SHA-256 of a DER SubjectPublicKeyInfo as lower-case hex."""
    return hashlib.sha256(spki_der).hexdigest()


def alg_of(key: VerifyingKey) -> str:
    """The store algorithm name of a public key (``rsa2048``, ``p256`` ...)."""
    kt = key.key_type
    if kt is KeyType.RSA:
        bits = key.key_bits
        if bits not in (2048, 3072, 4096):
            raise AlgorithmNotAllowedError(
                f"RSA keys of {bits} bits are not accepted (2048, 3072 or 4096)",
                message_zh=f"不接受 {bits} 位 RSA 密钥（仅 2048、3072、4096）",
                field="key",
            )
        return f"rsa{bits}"
    return kt.value


def read_passphrase_file(path: str | os.PathLike[str]) -> bytes:
    """Read a passphrase or PIN from a file, refusing files others can read.

    Policy (see ``docs/keys.md``): the file must be a regular file of at most
    :data:`MAX_SECRET_FILE_BYTES`; it is refused if it is world-readable or writable, or
    group-writable (PermissionDeniedError); group-readable (``0640``, e.g. a Kubernetes
    ``fsGroup`` secret) is accepted with a warning. One trailing newline is stripped.

    Raises:
        PermissionDeniedError: the file's mode lets others read or change it.
        BadInputError: missing, not a regular file, too large or empty.
    """
    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        raise BadInputError(
            f"cannot read passphrase file {p}: {exc.strerror}", message_zh="无法读取口令文件", field="passphrase_file"
        ) from None
    if not stat.S_ISREG(st.st_mode):
        raise BadInputError(f"passphrase file {p} is not a regular file", message_zh="口令文件不是普通文件")
    mode = stat.S_IMODE(st.st_mode)
    if mode & (stat.S_IRWXO | stat.S_IWGRP):
        raise PermissionDeniedError(
            f"passphrase file {p} has mode {mode:04o}; others can read or change it: chmod 600 (or 640)",
            message_zh=f"口令文件 {p} 的权限为 {mode:04o}，其他用户可读写；请执行 chmod 600",
            field="passphrase_file",
        )
    if mode & stat.S_IRGRP:
        _log.warning("passphrase file %s is group-readable (mode %04o); 0600 is preferred", p, mode)
    if st.st_size > MAX_SECRET_FILE_BYTES:
        raise BadInputError(f"passphrase file {p} is larger than {MAX_SECRET_FILE_BYTES} bytes")
    data = p.read_bytes()[: MAX_SECRET_FILE_BYTES + 1]
    if data.endswith(b"\r\n"):
        data = data[:-2]
    elif data.endswith(b"\n"):
        data = data[:-1]
    if not data:
        raise BadInputError(f"passphrase file {p} is empty", message_zh="口令文件为空", field="passphrase_file")
    return data


def parse_unverified_certificate(data: bytes) -> tuple[bytes, bytes, bytes]:
    """Split a certificate (DER, or PEM ``CERTIFICATE``) without checking anything about it.

    Returns ``(cert_der, normalised_spki_der, subject_der)``; the SPKI is passed through our key
    wrappers so it compares equal to a key version's ``spki_der()``.

    Raises:
        CertificateError: not a parseable X.509 certificate or an unsupported public key.
    """
    from asn1crypto import x509

    from keys.keypairs import pem_blocks, public_key_from_spki

    der = data
    if data.lstrip().startswith(b"-----BEGIN"):
        blocks = [d for label, d in pem_blocks(data) if label == "CERTIFICATE"]
        if not blocks:
            raise CertificateError("no CERTIFICATE block found", message_zh="未找到证书", field="certificate")
        der = blocks[0]
    try:
        tbs = x509.Certificate.load(der, strict=True)["tbs_certificate"]
        spki = tbs["subject_public_key_info"].dump()
        subject = tbs["subject"].dump()
    except (ValueError, TypeError, KeyError) as exc:
        raise CertificateError(
            f"not an X.509 certificate: {exc}", message_zh="证书格式错误", field="certificate"
        ) from exc
    try:
        normalised = public_key_from_spki(spki).spki_der()
    except EsignError as exc:
        raise CertificateError(
            f"certificate public key not supported: {exc.message}", message_zh="证书公钥不受支持", field="certificate"
        ) from None
    return der, normalised, subject


def parse_pkcs11_url(url: str) -> dict[str, str]:
    """Split a PKCS#11 URI (RFC 7512) into attributes.

    Path attributes are separated by ``;`` and query attributes follow ``?`` separated by
    ``&``; both are accepted for every attribute and values are percent-decoded. Known
    attributes: ``token``, ``serial``, ``module-path`` (alias ``module``), ``pin-source``.
    ``pin-value`` is refused: a PIN in a URL ends up in shell history and process lists.
    """
    if not url.startswith("pkcs11:") or len(url) > _MAX_URL:
        raise BadInputError("not a pkcs11: URI", message_zh="不是 pkcs11: URI", field="keystore")
    body = url[len("pkcs11:") :]
    path, _, query = body.partition("?")
    attrs: dict[str, str] = {}
    for part in [*path.split(";"), *query.split("&")]:
        if not part:
            continue
        name, eq, value = part.partition("=")
        name = name.strip().lower()
        if not eq or not name:
            raise BadInputError(f"malformed PKCS#11 URI attribute {name!r}", field="keystore")
        if name == "module":
            name = "module-path"
        if name == "pin-value":
            raise BadInputError(
                "pin-value in a PKCS#11 URI is refused; use pin-source=file:/path",
                message_zh="不允许在 URI 中写入 PIN，请使用 pin-source=file:/路径",
                field="keystore",
            )
        if name not in ("token", "serial", "module-path", "pin-source", "slot-id"):
            raise BadInputError(f"unsupported PKCS#11 URI attribute {name!r}", field="keystore")
        if name in attrs:
            raise BadInputError(f"PKCS#11 URI attribute {name!r} given twice", field="keystore")
        attrs[name] = unquote(value)
    if "token" not in attrs or "module-path" not in attrs:
        raise BadInputError(
            "a PKCS#11 URI needs token=<label> and module-path=<library .so>",
            message_zh="PKCS#11 URI 需要 token= 与 module-path=",
            field="keystore",
        )
    return attrs


def _pin_from_source(source: str) -> str:
    if source.startswith("file:"):
        location = source[len("file:") :]
        if location.startswith("//"):
            location = urlsplit(source).path
        return read_passphrase_file(location).decode("utf-8")
    raise BadInputError(
        "pin-source must be file:/path (RFC 7512)", message_zh="pin-source 必须是 file:/路径", field="keystore"
    )


def open_provider(
    url_or_config: str | Mapping[str, Any],
    *,
    passphrase: bytes | None = None,
    pin: str | None = None,
    scrypt_n: int | None = None,
) -> KeyProvider:
    """Open a key store from a URL or a config mapping.

    Args:
        url_or_config: ``file:///dir`` or a ``pkcs11:`` URI (RFC 7512), or a mapping with
            ``kind`` (``file``/``pkcs11``) and ``path`` + ``passphrase_file`` or
            ``module_path`` + ``token`` + ``pin_file``.
        passphrase: passphrase of the file store (else ``passphrase_file`` in the config).
        pin: token PIN (else ``pin-source`` in the URI or ``pin_file`` in the config).
        scrypt_n: scrypt cost for new files (tests lower it; production keeps the default).

    Raises:
        BadInputError: unknown scheme or missing parts; WrongPassphraseError: the
            passphrase or PIN is wrong; KeyStoreError: the store cannot be used.
    """
    if isinstance(url_or_config, str):
        url = url_or_config.strip()
        if url.startswith("file:"):
            parts = urlsplit(url)
            if parts.netloc not in ("", "localhost") or not parts.path:
                raise BadInputError("use file:///absolute/path for a file key store", field="keystore")
            cfg: dict[str, Any] = {"kind": "file", "path": unquote(parts.path)}
        elif url.startswith("pkcs11:"):
            a = parse_pkcs11_url(url)
            cfg = {"kind": "pkcs11", "module_path": a["module-path"], "token": a["token"]}
            if "pin-source" in a:
                cfg["pin_source"] = a["pin-source"]
        else:
            raise BadInputError(
                "key store URL must start with file: or pkcs11:",
                message_zh="密钥库地址必须以 file: 或 pkcs11: 开头",
                field="keystore",
            )
    else:
        cfg = dict(url_or_config)
    kind = cfg.get("kind")
    if kind == "file":
        from keys.keystore import FileKeyStore

        if passphrase is None:
            if not cfg.get("passphrase_file"):
                raise BadInputError(
                    "the file key store needs a passphrase (passphrase file or setting)",
                    message_zh="文件密钥库需要口令（口令文件或配置）",
                    field="passphrase",
                )
            passphrase = read_passphrase_file(cfg["passphrase_file"])
        extra: dict[str, Any] = {} if scrypt_n is None else {"scrypt_n": scrypt_n}
        return FileKeyStore(cfg["path"], passphrase=passphrase, **extra)
    if kind == "pkcs11":
        from keys.pkcs11 import Pkcs11KeyStore

        if pin is None:
            if cfg.get("pin_source"):
                pin = _pin_from_source(cfg["pin_source"])
            elif cfg.get("pin_file"):
                pin = read_passphrase_file(cfg["pin_file"]).decode("utf-8")
            else:
                raise BadInputError(
                    "the PKCS#11 store needs a PIN: add pin-source=file:/path",
                    message_zh="PKCS#11 密钥库需要 PIN",
                    field="pin",
                )
        return Pkcs11KeyStore(cfg["module_path"], token_label=cfg["token"], pin=pin)
    raise BadInputError(f"unknown key store kind {kind!r}", message_zh="未知的密钥库类型", field="keystore")
