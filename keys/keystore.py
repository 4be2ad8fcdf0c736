"""The encrypted-file key store: one directory, every private key encrypted PKCS#8 at rest.

Layout (directories ``0700``, files ``0600``)::

    <store>/.canary.pem          a throwaway key encrypted with the store passphrase
    <store>/.lock                advisory lock for writers (flock), empty
    <store>/<key_id>/index.json  metadata: algorithm, versions, SPKI, fingerprints, status
    <store>/<key_id>/v<N>.key.pem   version N, "ENCRYPTED PRIVATE KEY" (PBES2 scrypt AES-256)
    <store>/<key_id>/v<N>.cert.der  certificate of version N (optional)

Every file is written to a temporary name in the same directory, fsynced, then renamed over
the target (``os.replace``) and the directory fsynced, so a crash leaves either the old or the
new file, never half of one. ``index.json`` is written last: it is the commit point, and a key
file that no index names is ignored (and overwritten by the next write of that version).

A wrong passphrase is detected when the store is *opened*: the canary (or, for a store made by
an older version without one, the newest key) is decrypted in the constructor and
:class:`~keys.errors.WrongPassphraseError` raised there. Decrypted key objects are cached in
memory per ``(key_id, version)`` until :meth:`FileKeyStore.close`; they are never exposed:
:meth:`FileKeyStore.signing_key` returns a handle that signs but cannot be exported, and
whose ``repr`` shows only the key id and version.
"""

from __future__ import annotations

import base64
import fcntl
import json
import logging
import os
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keys.algorithms import KeyType, SignatureAlgorithm
from keys.errors import BadInputError, CertificateError, ConflictError, KeyStoreError, NotFoundError
from keys.interfaces import SigningKey, VerifyingKey
from keys.keypairs import generate_key, public_key_from_spki
from keys.pkcs8 import SCRYPT_N, decrypt_private_key, encrypt_private_key, load_private_key
from keys.provider import (
    FILE_ALGS,
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

__all__ = ["MAX_INDEX_BYTES", "MAX_VERSIONS", "FileKeyStore"]

_log = logging.getLogger(__name__)

#: Largest ``index.json`` we read.
MAX_INDEX_BYTES = 1 << 20
#: Most versions one key may have (rotation beyond this is refused).
MAX_VERSIONS = 1000
_MAX_KEY_FILE = 1 << 16
_MAX_CERT_FILE = 1 << 16
_INDEX_FORMAT = 1
_CANARY = ".canary.pem"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (mode 0600) so that readers see all of it or none of it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _read_small(path: Path, limit: int) -> bytes:
    with path.open("rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise KeyStoreError(f"{path.name} is larger than {limit} bytes", message_zh="密钥库文件过大")
    return data


class _FileSigningKey:
    """A signing handle on one version of a stored key; the key itself stays inside."""

    __slots__ = ("_key", "_store", "key_id", "version")

    def __init__(self, store: FileKeyStore, key_id: str, version: int, key: SigningKey) -> None:
        self._store = store
        self._key = key
        self.key_id = key_id
        self.version = version

    @property
    def key_type(self) -> KeyType:
        return self._key.key_type

    def default_algorithm(self) -> SignatureAlgorithm:
        return self._key.default_algorithm()

    def public_key(self) -> VerifyingKey:
        return self._key.public_key()

    def sign(self, data: bytes, *, algorithm: SignatureAlgorithm | None = None, uid: bytes | None = None) -> bytes:
        # Re-checked on every call: a rotation (in this process or another) retires handles
        # that were handed out before it.
        self._store._require_active(self.key_id, self.version)
        return self._key.sign(data, algorithm=algorithm, uid=uid)

    def __repr__(self) -> str:
        return f"<FileSigningKey {self.key_id}#v{self.version}>"


class FileKeyStore:
    """Named, versioned keys in a directory, each private key encrypted with one passphrase.

    Args:
        directory: the store directory (created ``0700`` if missing).
        passphrase: at least 8 bytes, from settings or a file (see
            :func:`keys.provider.read_passphrase_file`), never from code.
        scrypt_n: scrypt cost for new files; tests lower it, production keeps the default.
        clock: returns the current UTC time, for ``created_at`` (injected in tests).

    Raises:
        WrongPassphraseError: the passphrase does not open this store.
        KeyStoreError: the directory cannot be created or used.
    """

    kind = "file"

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        passphrase: bytes,
        scrypt_n: int = SCRYPT_N,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not isinstance(passphrase, bytes) or len(passphrase) < 8:
            raise BadInputError(
                "the key-store passphrase must be at least 8 bytes",
                message_zh="密钥库口令至少 8 字节",
                field="passphrase",
            )
        self._dir = Path(directory)
        self._passphrase = passphrase
        self._scrypt_n = scrypt_n
        self._clock = clock or (lambda: datetime.now(UTC))
        self._cache: dict[tuple[str, int], SigningKey] = {}
        self._lock = threading.RLock()
        self._flock_depth = 0
        try:
            self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            mode = stat.S_IMODE(self._dir.stat().st_mode)
            if mode & 0o077:
                _log.warning("key store %s had mode %04o; tightening to 0700", self._dir, mode)
                os.chmod(self._dir, 0o700)
        except OSError as exc:
            raise KeyStoreError(
                f"cannot use key store directory {self._dir}: {exc.strerror}", message_zh="无法使用密钥库目录"
            ) from None
        self._check_passphrase()

    def __repr__(self) -> str:
        return f"<FileKeyStore {self._dir}>"

    # -- opening ---------------------------------------------------------------------------

    def _check_passphrase(self) -> None:
        canary = self._dir / _CANARY
        with self._write_lock():
            if canary.exists():
                decrypt_private_key(_read_small(canary, _MAX_KEY_FILE), passphrase=self._passphrase)
                return
            existing = self.list_keys()
            if existing:  # a store written without a canary: prove the passphrase on a real key
                self._load_private(existing[0].key_id, existing[0].version)
            pem = encrypt_private_key(generate_key("ed25519"), passphrase=self._passphrase, scrypt_n=self._scrypt_n)
            self._write(canary, pem)

    @contextmanager
    def _write_lock(self) -> Iterator[None]:
        """Serialise writers: an RLock within this process, flock across processes (re-entrant)."""
        with self._lock:
            if self._flock_depth:
                self._flock_depth += 1
                try:
                    yield
                finally:
                    self._flock_depth -= 1
                return
            fd = os.open(self._dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._flock_depth = 1
                yield
            finally:
                self._flock_depth = 0
                os.close(fd)  # closing releases the flock

    def _write(self, path: Path, data: bytes) -> None:
        try:
            _atomic_write(path, data)
        except OSError as exc:
            raise KeyStoreError(f"cannot write {path.name}: {exc.strerror}", message_zh="写入密钥库失败") from None

    # -- index -----------------------------------------------------------------------------

    def _key_dir(self, key_id: str) -> Path:
        return self._dir / validate_key_id(key_id)

    def _read_index(self, key_id: str) -> dict[str, Any]:
        path = self._key_dir(key_id) / "index.json"
        try:
            raw = _read_small(path, MAX_INDEX_BYTES)
        except FileNotFoundError:
            raise NotFoundError(f"no key {key_id!r} in the store", message_zh="密钥不存在", field="key_id") from None
        except OSError as exc:
            raise KeyStoreError(f"cannot read index of {key_id!r}: {exc.strerror}") from None
        try:
            index = json.loads(raw)
            versions = index["versions"]
            ok = (
                index.get("format") == _INDEX_FORMAT
                and index["key_id"] == key_id
                and index["alg"] in (*FILE_ALGS, "rsa4096")
                and isinstance(versions, list)
                and [v["version"] for v in versions] == list(range(1, len(versions) + 1))
            )
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            raise KeyStoreError(f"index of key {key_id!r} is corrupt", message_zh="密钥索引文件损坏")
        return index

    def _version_entry(self, index: dict[str, Any], version: int | None) -> dict[str, Any]:
        versions = index["versions"]
        if version is None:
            return versions[-1]
        if not isinstance(version, int) or not 1 <= version <= len(versions):
            raise NotFoundError(
                f"key {index['key_id']!r} has no version {version!r}", message_zh="密钥版本不存在", field="version"
            )
        return versions[version - 1]

    def _info(self, index: dict[str, Any], entry: dict[str, Any]) -> KeyInfo:
        latest = entry["version"] == len(index["versions"])
        status = KeyStatus.ACTIVE if latest and entry.get("status") == "active" else KeyStatus.RETIRED
        return KeyInfo(
            key_id=index["key_id"],
            version=entry["version"],
            alg=index["alg"],
            created_at=datetime.fromisoformat(entry["created_at"]),
            status=status,
            fingerprint=entry["fingerprint"],
            provider=self.kind,
            has_certificate=(self._key_dir(index["key_id"]) / f"v{entry['version']}.cert.der").exists(),
        )

    def _entry_public(self, entry: dict[str, Any]) -> VerifyingKey:
        spki = base64.b64decode(entry["spki"])
        key = public_key_from_spki(spki)
        if spki_fingerprint(key.spki_der()) != entry["fingerprint"]:
            raise KeyStoreError("stored public key does not match its fingerprint", message_zh="公钥与指纹不符")
        return key

    # -- writing keys ----------------------------------------------------------------------

    def _new_entry(self, version: int, key: SigningKey) -> dict[str, Any]:
        spki = key.public_key().spki_der()
        return {
            "version": version,
            "created_at": self._clock().astimezone(UTC).isoformat(),
            "status": "active",
            "spki": base64.b64encode(spki).decode(),
            "fingerprint": spki_fingerprint(spki),
        }

    def _store_new(self, key_id: str, key: SigningKey, alg: str) -> KeyInfo:
        kdir = self._key_dir(key_id)
        with self._write_lock():
            if (kdir / "index.json").exists():
                raise ConflictError(f"key {key_id!r} already exists", message_zh="密钥已存在", field="key_id")
            try:
                kdir.mkdir(mode=0o700, exist_ok=True)
            except OSError as exc:
                raise KeyStoreError(f"cannot create key directory: {exc.strerror}") from None
            index = {"format": _INDEX_FORMAT, "key_id": key_id, "alg": alg, "versions": [self._new_entry(1, key)]}
            self._commit(kdir, key, index)
            _log.info("key %s v1 (%s) created, fingerprint %s", key_id, alg, index["versions"][0]["fingerprint"])
            return self._info(index, index["versions"][-1])

    def _commit(self, kdir: Path, key: SigningKey, index: dict[str, Any]) -> None:
        version = index["versions"][-1]["version"]
        key_path = kdir / f"v{version}.key.pem"
        pem = encrypt_private_key(key, passphrase=self._passphrase, scrypt_n=self._scrypt_n)
        self._write(key_path, pem)
        try:
            self._write(kdir / "index.json", json.dumps(index, indent=1).encode())
        except BaseException:
            with suppress(OSError):  # not committed: leave no orphan key file behind
                key_path.unlink()
            raise
        self._cache[(index["key_id"], version)] = key

    def create_key(self, key_id: str, *, alg: str) -> KeyInfo:
        """Generate version 1 of ``key_id``; ConflictError if it exists."""
        validate_key_id(key_id)
        check_alg(alg, FILE_ALGS, where="the file key store")
        return self._store_new(key_id, generate_key(alg), alg)

    def import_key(self, key_id: str, key_file_bytes: bytes, *, passphrase_of_file: bytes | None = None) -> KeyInfo:
        """Import a PEM/DER private key (clear or encrypted PKCS#8, SEC1) as version 1 of ``key_id``.

        The key is re-encrypted under the store passphrase; the caller should then destroy the
        original file.
        """
        validate_key_id(key_id)
        key = load_private_key(key_file_bytes, passphrase=passphrase_of_file)
        return self._store_new(key_id, key, alg_of(key.public_key()))

    def rotate(self, key_id: str) -> KeyInfo:
        """Generate version N+1 with the same algorithm; version N becomes retired (verify-only)."""
        kdir = self._key_dir(key_id)
        with self._write_lock():
            index = self._read_index(key_id)
            if len(index["versions"]) >= MAX_VERSIONS:
                raise KeyStoreError(f"key {key_id!r} has reached {MAX_VERSIONS} versions")
            if index["alg"] not in FILE_ALGS:
                raise KeyStoreError(f"cannot generate a new {index['alg']} key; import one under a new key id")
            key = generate_key(index["alg"])
            for entry in index["versions"]:
                entry["status"] = "retired"
            index["versions"].append(self._new_entry(len(index["versions"]) + 1, key))
            self._commit(kdir, key, index)
            new = index["versions"][-1]
            _log.info("key %s rotated to v%d, fingerprint %s", key_id, new["version"], new["fingerprint"])
            return self._info(index, new)

    # -- reading keys ----------------------------------------------------------------------

    def _load_private(self, key_id: str, version: int) -> SigningKey:
        with self._lock:
            cached = self._cache.get((key_id, version))
            if cached is not None:
                return cached
            entry = self._version_entry(self._read_index(key_id), version)
            try:
                pem = _read_small(self._key_dir(key_id) / f"v{version}.key.pem", _MAX_KEY_FILE)
            except OSError as exc:
                raise KeyStoreError(f"cannot read key {key_id}#v{version}: {exc.strerror}") from None
            key = decrypt_private_key(pem, passphrase=self._passphrase)
            if spki_fingerprint(key.public_key().spki_der()) != entry["fingerprint"]:
                raise KeyStoreError(
                    f"key file {key_id}#v{version} does not match its index", message_zh="私钥文件与索引不符"
                )
            self._cache[(key_id, version)] = key
            return key

    def _require_active(self, key_id: str, version: int) -> KeyInfo:
        index = self._read_index(key_id)
        info = self._info(index, self._version_entry(index, version))
        if info.status is not KeyStatus.ACTIVE:
            raise RetiredKeyError(
                f"key {key_id} version {version} is retired (verify-only); sign with version {len(index['versions'])}",
                message_zh=f"密钥 {key_id} 第 {version} 版已退役，仅可用于验证",
                field="version",
            )
        return info

    def signing_key(self, key_id: str, *, version: int | None = None) -> SigningKey:
        """A handle signing with the active version; RetiredKeyError for a retired ``version``."""
        index = self._read_index(key_id)
        number = self._version_entry(index, version)["version"]
        self._require_active(key_id, number)
        return _FileSigningKey(self, key_id, number, self._load_private(key_id, number))

    def key_info(self, key_id: str, *, version: int | None = None) -> KeyInfo:
        """Metadata of a version (the active one by default)."""
        index = self._read_index(key_id)
        return self._info(index, self._version_entry(index, version))

    def public_key(self, key_id: str, *, version: int | None = None) -> VerifyingKey:
        """The public key of a version (the active one by default); no decryption needed."""
        return self._entry_public(self._version_entry(self._read_index(key_id), version))

    def public_keys(self, key_id: str) -> list[KeyVersion]:
        """Every version, oldest first, with public key and certificate."""
        index = self._read_index(key_id)
        out = []
        for entry in index["versions"]:
            info = self._info(index, entry)
            cert = self._read_cert(key_id, entry["version"]) if info.has_certificate else None
            out.append(KeyVersion(info=info, public_key=self._entry_public(entry), certificate=cert))
        return out

    def list_keys(self) -> list[KeyInfo]:
        """The active version of every key (directories without an index are ignored)."""
        out = []
        for child in sorted(self._dir.iterdir()):
            if child.is_dir() and (child / "index.json").is_file():
                try:
                    out.append(self.key_info(child.name))
                except BadInputError:
                    continue  # a directory that is not a valid key id is not ours
        return out

    # -- certificates ----------------------------------------------------------------------

    def attach_certificate(self, key_id: str, version: int, cert_der: bytes, *, replace: bool = False) -> None:
        """Store the certificate of ``key_id`` version ``version``.

        Raises:
            CertificateError: not a certificate, or its public key is not this version's.
            ConflictError: a certificate is already attached and ``replace`` is false.
        """
        der, spki, _ = parse_unverified_certificate(cert_der)
        with self._write_lock():
            index = self._read_index(key_id)
            entry = self._version_entry(index, version)
            if spki_fingerprint(spki) != entry["fingerprint"]:
                raise CertificateError(
                    f"the certificate's public key is not that of {key_id}#v{version}",
                    message_zh="证书公钥与该密钥版本不符",
                    field="certificate",
                )
            path = self._key_dir(key_id) / f"v{version}.cert.der"
            if path.exists() and not replace:
                raise ConflictError(
                    f"{key_id}#v{version} already has a certificate",
                    message_zh="该密钥版本已有证书",
                    field="certificate",
                )
            self._write(path, der)

    def _read_cert(self, key_id: str, version: int) -> bytes:
        try:
            return _read_small(self._key_dir(key_id) / f"v{version}.cert.der", _MAX_CERT_FILE)
        except FileNotFoundError:
            raise NotFoundError(
                f"no certificate attached to {key_id}#v{version}", message_zh="该密钥版本没有证书", field="certificate"
            ) from None

    def certificate(self, key_id: str, version: int | None = None) -> bytes:
        """The DER certificate of a version (the active one by default)."""
        entry = self._version_entry(self._read_index(key_id), version)
        return self._read_cert(key_id, entry["version"])

    def close(self) -> None:
        """Forget the decrypted keys held in memory."""
        with self._lock:
            self._cache.clear()
