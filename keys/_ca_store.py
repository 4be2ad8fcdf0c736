"""Certificate profiles and the on-disk state of a certificate authority (atomic writes, locking).

Every write goes to a temporary file in the same directory, is fsynced, then ``os.replace``d
over the target, so a crash leaves either the old or the new file, never half of one. A CA's
mutable state is ONE JSON file (``state.json``: own certificates, issued index with the PEMs,
CRL number), so issuing or revoking is a single atomic replace.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keys.errors import BadInputError, KeyStoreError, NotFoundError

__all__ = [
    "CA_PROFILES",
    "PROFILES",
    "Profile",
    "atomic_write",
    "check_profile",
    "locked",
    "read_json",
    "write_json",
]


@dataclass(frozen=True)
class Profile:
    """What a certificate of one kind may do."""

    name: str
    """Profile name (CLI ``--profile``)."""
    key_usage: frozenset[str]
    """keyUsage bits (asn1crypto names); the extension is always critical."""
    eku: tuple[str, ...] = ()
    """extendedKeyUsage purposes (asn1crypto names or dotted OIDs); empty = no extension."""
    eku_critical: bool = False
    """Mark extendedKeyUsage critical (RFC 3161 §2.3 requires it for time-stamping)."""
    ca: bool = False
    """basicConstraints cA."""
    path_len: int | None = None
    """basicConstraints pathLenConstraint (CAs only)."""
    validity_days: int = 730
    """Default validity."""


_SIGN = frozenset({"digital_signature", "non_repudiation"})

#: End-entity profiles.
PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("licence_issuer", _SIGN, validity_days=1095),
        Profile("seal_maker", _SIGN, validity_days=1095),
        Profile("enterprise_signer", _SIGN, validity_days=730),
        Profile("timestamping", _SIGN, eku=("time_stamping",), eku_critical=True, validity_days=1825),
        Profile("ocsp", frozenset({"digital_signature"}), eku=("ocsp_signing",), validity_days=365),
        Profile("tls", frozenset({"digital_signature"}), eku=("server_auth", "client_auth"), validity_days=397),
    )
}

#: CA profiles: the region root may sign issuing-authority CAs only; those sign end entities.
CA_PROFILES: dict[str, Profile] = {
    "root": Profile("root", frozenset({"key_cert_sign", "crl_sign"}), ca=True, path_len=1, validity_days=7300),
    "issuing": Profile("issuing", frozenset({"key_cert_sign", "crl_sign"}), ca=True, path_len=0, validity_days=3650),
}


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same directory + fsync + replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_json(path: Path, obj: Any) -> None:
    """Atomically write ``obj`` as pretty JSON."""
    atomic_write(path, json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True).encode() + b"\n", mode=0o644)


def read_json(path: Path) -> Any:
    """Read a JSON state file, with typed errors."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFoundError(f"{path} does not exist", message_zh=f"文件 {path} 不存在", field="dir") from None
    except (OSError, ValueError) as exc:
        raise KeyStoreError(f"cannot read CA state {path}: {exc}", message_zh="CA 状态文件损坏或不可读") from exc


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Exclusive lock on a CA directory for the duration of one mutation."""
    if not directory.is_dir():
        raise NotFoundError(f"{directory} is not a CA directory", message_zh="CA 目录不存在", field="dir")
    try:
        fh = open(directory / ".lock", "a+b")
    except OSError as exc:
        raise KeyStoreError(f"cannot lock {directory}: {exc}", message_zh="无法锁定 CA 目录") from exc
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        fh.close()


def check_profile(name: str) -> Profile:
    """The end-entity profile called ``name``."""
    try:
        return PROFILES[name]
    except KeyError:
        raise BadInputError(
            f"unknown profile {name!r}; choose one of {', '.join(sorted(PROFILES))}",
            message_zh="未知的证书模板",
            field="profile",
        ) from None
