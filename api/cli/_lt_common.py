"""Helpers shared by ``esign tsa`` and ``esign cms``: bounded file reads, passphrases, times, reports."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keys.errors import BadInputError
from keys.interfaces import SigningKey
from verifier.report import Indication

__all__ = ["EXIT_CODES", "load_key", "parse_at", "read_file", "report_text", "write_file"]

#: Exit code per indication (as ``esign verify``); 3 is bad input.
EXIT_CODES = {Indication.TOTAL_PASSED: 0, Indication.TOTAL_FAILED: 1, Indication.INDETERMINATE: 2}
_MAX_KEY_FILE = 1 << 20


def read_file(path: str, *, limit: int, what: str) -> bytes:
    """Read at most ``limit`` bytes of ``path``; BadInputError if unreadable or larger."""
    try:
        with Path(path).open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise BadInputError(
            f"cannot read {what} file {path}: {exc.strerror}", message_zh="无法读取文件", field=what
        ) from exc
    if len(data) > limit:
        raise BadInputError(f"{what} file {path} is larger than {limit} bytes", message_zh="文件过大", field=what)
    return data


def write_file(path: str, data: bytes, *, what: str) -> None:
    """Write ``data`` to ``path`` (BadInputError on failure)."""
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise BadInputError(f"cannot write {path}: {exc.strerror}", message_zh="无法写入文件", field=what) from exc


def write_atomic(path: str, data: bytes, *, what: str = "out") -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: all or nothing."""
    target = Path(path)
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or Path("."))
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise BadInputError(f"cannot write {path}: {exc.strerror}", message_zh="无法写入输出文件", field=what) from exc


def load_key(path: str, passphrase_file: str | None) -> SigningKey:
    """A private key from a PEM/DER PKCS#8 file, encrypted (first line of ``passphrase_file``) or not."""
    from keys.pkcs8 import load_private_key

    data = read_file(path, limit=_MAX_KEY_FILE, what="key")
    passphrase = None
    if passphrase_file:
        raw = read_file(passphrase_file, limit=4096, what="passphrase")
        passphrase = raw.split(b"\n", 1)[0].rstrip(b"\r")
        if not passphrase:
            raise BadInputError("the passphrase file is empty", message_zh="口令文件为空", field="passphrase")
    return load_private_key(data, passphrase=passphrase)


def parse_at(value: str | None) -> datetime:
    """``--at`` as an aware datetime; now (the CLI boundary) when absent."""
    if value is None:
        return datetime.now(UTC).replace(microsecond=0)
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadInputError(f"--at {value!r} is not ISO 8601", message_zh="时间格式错误", field="at") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def report_text(report: dict[str, Any]) -> str:
    """A report for people."""
    lines = [
        f"{report['indication']}" + (f" / {report['sub_indication']}" if report["sub_indication"] else ""),
        f"  {report['reason']['en']}",
        f"  {report['reason']['zh']}",
    ]
    if report["reason"].get("hint_en"):
        lines.append(f"  hint: {report['reason']['hint_en']}")
    for key in ("gen_time", "signer"):
        if report.get(key):
            lines.append(f"  {key}: {report[key]}")
    for c in report["checks"]:
        lines.append(f"  [{c['status']:>13}] {c['name']}: {c['detail_en']}")
    return "\n".join(lines)
