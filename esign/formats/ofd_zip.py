"""The OFD container: a ZIP read safely into memory and written back deterministically.

Reading (:func:`read_package`) refuses, with a typed error and in bounded time and memory:

- input that is not a ZIP or is truncated/corrupt (bad central directory, CRC mismatch);
- more than :data:`MAX_ENTRIES` entries, an entry larger than :data:`MAX_ENTRY_BYTES`, more than
  :data:`MAX_TOTAL_BYTES` in all, or a compression ratio above :data:`MAX_COMPRESSION_RATIO` for
  entries over :data:`RATIO_FLOOR_BYTES` (ZIP bombs) — the declared sizes are checked first and the
  real output is counted while inflating, so a lying header cannot get past the limits;
- absolute names, ``..``/``.``/empty segments, backslashes, drive letters, control characters;
- duplicate names, encrypted entries and compression methods other than stored/deflate.

Nothing is ever extracted to disk. Writing (:func:`write_package`) keeps entry order and metadata,
uses a fixed compression level, and takes timestamps from the caller, so the same input gives the
same bytes.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

from keys.errors import BadInputError

__all__ = [
    "MAX_COMPRESSION_RATIO",
    "MAX_ENTRIES",
    "MAX_ENTRY_BYTES",
    "MAX_NAME_CHARS",
    "MAX_PACKAGE_BYTES",
    "MAX_TOTAL_BYTES",
    "RATIO_FLOOR_BYTES",
    "OfdEntry",
    "OfdFormatError",
    "OfdLimitError",
    "OfdPackage",
    "OfdUnsafePathError",
    "is_ofd_zip",
    "normalize_loc",
    "read_package",
    "write_package",
]

#: Largest OFD file accepted.
MAX_PACKAGE_BYTES = 64 << 20
#: Most ZIP entries (files and directories).
MAX_ENTRIES = 5_000
#: Largest single entry once inflated.
MAX_ENTRY_BYTES = 64 << 20
#: Most bytes once every entry is inflated.
MAX_TOTAL_BYTES = 256 << 20
#: Highest inflated/compressed ratio for one entry larger than :data:`RATIO_FLOOR_BYTES`.
MAX_COMPRESSION_RATIO = 100
#: Entries up to this size are exempt from the ratio check (small XML compresses very well).
RATIO_FLOOR_BYTES = 1 << 20
#: Longest entry name.
MAX_NAME_CHARS = 1024
_CHUNK = 1 << 16
_DEFLATE_LEVEL = 6
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError,
               NotImplementedError, KeyError, IndexError, OverflowError)


class OfdFormatError(BadInputError):
    """The OFD file (ZIP container or one of its XML parts) is malformed."""

    code = "bad_ofd"
    default_zh = "OFD 文件格式错误"


class OfdLimitError(OfdFormatError):
    """The OFD file exceeds a resource limit (too large, too many entries, a ZIP bomb)."""

    code = "ofd_limit_exceeded"
    default_zh = "OFD 文件超出资源限制"


class OfdUnsafePathError(OfdFormatError):
    """An entry name or a location inside the OFD is absolute, escapes the package or is malformed."""

    code = "ofd_unsafe_path"
    default_zh = "OFD 包内路径不安全"


def _unsafe(name: str, why: str) -> OfdUnsafePathError:
    shown = name[:80].encode("unicode_escape").decode("ascii")
    return OfdUnsafePathError(f"unsafe path {shown!r}: {why}", message_zh=f"不安全的包内路径：{shown}", field="file")


def _check_segments(name: str, segs: list[str]) -> None:
    for s in segs:
        if s in ("", ".", ".."):
            raise _unsafe(name, "empty, '.' or '..' segment")
        if any(ord(ch) < 0x20 or ch == "\x7f" for ch in s):
            raise _unsafe(name, "control character")


def normalize_loc(loc: str, *, base_dir: str = "") -> str:
    """Resolve an OFD location (ST_Loc) to a package path without a leading slash.

    ``/a/b`` is absolute; ``b`` is relative to ``base_dir`` (the directory of the file that names
    it). ``.`` segments are dropped and ``..`` goes up, but never above the package root.

    Raises:
        OfdUnsafePathError: escapes the root, is empty, has backslashes or control characters.
    """
    loc = loc.strip()
    if not loc or len(loc) > MAX_NAME_CHARS or "\\" in loc or "\x00" in loc:
        raise _unsafe(loc, "empty, too long, or has a backslash or NUL")
    parts = [] if loc.startswith("/") else [p for p in base_dir.split("/") if p]
    for seg in loc.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if not parts:
                raise _unsafe(loc, "'..' escapes the package root")
            parts.pop()
            continue
        parts.append(seg)
    if not parts:
        raise _unsafe(loc, "names no file")
    _check_segments(loc, parts)
    return "/".join(parts)


@dataclass(frozen=True)
class OfdEntry:
    """One ZIP entry with its inflated content and the metadata needed to write it back."""

    name: str
    """Entry name (package path; directories end with ``/``)."""
    data: bytes = field(repr=False)
    """Inflated content (empty for directories)."""
    date_time: tuple[int, int, int, int, int, int] = (1980, 1, 1, 0, 0, 0)
    """DOS timestamp."""
    compress_type: int = zipfile.ZIP_DEFLATED
    """Compression method (stored or deflate)."""
    external_attr: int = 0
    """External attributes (file mode)."""

    @property
    def is_dir(self) -> bool:
        """A directory entry."""
        return self.name.endswith("/")


@dataclass(frozen=True)
class OfdPackage:
    """An OFD file read into memory: every entry, in stored order."""

    entries: tuple[OfdEntry, ...]
    """All entries in the order they appear in the central directory."""

    @cached_property
    def files(self) -> Mapping[str, bytes]:
        """File entries (no directories): package path -> bytes."""
        return {e.name: e.data for e in self.entries if not e.is_dir}

    def get(self, path: str) -> bytes | None:
        """Bytes of the file at ``path`` (no leading slash), or ``None``."""
        return self.files.get(path)


def is_ofd_zip(data: bytes) -> bool:
    """Cheap detection from the bytes: a ZIP (local header at offset 0) with ``OFD.xml`` at its root."""
    if not data.startswith(b"PK\x03\x04"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return any(i.filename == "OFD.xml" for i in zf.infolist()[:MAX_ENTRIES])
    except _ZIP_ERRORS:
        return False


def _limit(en: str, zh: str) -> OfdLimitError:
    return OfdLimitError(en, message_zh=zh, field="file")


def _check_info(info: zipfile.ZipInfo) -> str:
    name = info.filename
    if len(name) > MAX_NAME_CHARS:
        raise _unsafe(name, "name too long")
    if name.startswith("/") or "\\" in name or (len(name) > 1 and name[1] == ":"):
        raise _unsafe(name, "absolute name, backslash or drive letter")
    _check_segments(name, name[:-1].split("/") if name.endswith("/") else name.split("/"))
    if info.flag_bits & 0x1:
        raise OfdFormatError(f"entry {name!r} is encrypted", message_zh="包内文件被加密", field="file")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise OfdFormatError(f"entry {name!r}: compression method {info.compress_type} is not supported",
                             message_zh="不支持的压缩方法", field="file")
    if info.file_size > MAX_ENTRY_BYTES:
        raise _limit(f"entry {name!r} declares {info.file_size} bytes (limit {MAX_ENTRY_BYTES})", "包内单个文件过大")
    if info.file_size > RATIO_FLOOR_BYTES and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
        raise _limit(f"entry {name!r} compresses more than {MAX_COMPRESSION_RATIO}:1 (ZIP bomb?)",
                     "压缩比异常（疑似 ZIP 炸弹）")
    if name.endswith("/") and info.file_size:
        raise OfdFormatError(f"directory entry {name!r} has content", message_zh="目录条目含有数据", field="file")
    return name


def _inflate(zf: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> bytes:
    cap = min(info.file_size, MAX_ENTRY_BYTES, budget)
    out = bytearray()
    with zf.open(info) as fh:  # checks the local header name and, at EOF, the CRC
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                break
            out += chunk
            if len(out) > cap:
                raise _limit(f"entry {info.filename!r} inflates beyond its limit", "包内文件解压后超出限制")
            if len(out) > RATIO_FLOOR_BYTES and len(out) > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
                raise _limit(f"entry {info.filename!r} compresses more than {MAX_COMPRESSION_RATIO}:1",
                             "压缩比异常（疑似 ZIP 炸弹）")
    if len(out) != info.file_size:
        raise OfdFormatError(f"entry {info.filename!r} is truncated", message_zh="包内文件不完整", field="file")
    return bytes(out)


def read_package(data: bytes) -> OfdPackage:
    """Open an OFD file safely (see the module docstring for what is refused).

    Raises:
        OfdFormatError: not a ZIP, corrupt, truncated, encrypted, or without ``OFD.xml`` at the root.
        OfdLimitError: a size, count or ratio limit is exceeded.
        OfdUnsafePathError: an unsafe or duplicate entry name.
    """
    if len(data) > MAX_PACKAGE_BYTES:
        raise _limit(f"OFD file larger than {MAX_PACKAGE_BYTES} bytes", "OFD 文件过大")
    if not data.startswith(b"PK\x03\x04"):
        raise OfdFormatError("not an OFD file: not a ZIP archive", message_zh="不是 OFD 文件（不是 ZIP 压缩包）",
                             field="file")
    entries: list[OfdEntry] = []
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_ENTRIES:
                raise _limit(f"more than {MAX_ENTRIES} entries", "包内文件数过多")
            names = [_check_info(i) for i in infos]
            seen: set[str] = set()
            for n in names:
                if n.rstrip("/") in seen:
                    raise _unsafe(n, "duplicate name")
                seen.add(n.rstrip("/"))
            if sum(i.file_size for i in infos) > MAX_TOTAL_BYTES:
                raise _limit(f"entries declare more than {MAX_TOTAL_BYTES} bytes in all", "解压后总大小超出限制")
            budget = MAX_TOTAL_BYTES
            for info in infos:
                content = b"" if info.is_dir() else _inflate(zf, info, budget)
                budget -= len(content)
                entries.append(OfdEntry(name=info.filename, data=content, date_time=info.date_time,
                                        compress_type=info.compress_type, external_attr=info.external_attr))
    except OfdFormatError:
        raise
    except _ZIP_ERRORS as exc:
        raise OfdFormatError(f"corrupt or truncated ZIP: {str(exc)[:200]}", message_zh="ZIP 压缩包损坏或不完整",
                             field="file") from None
    pkg = OfdPackage(entries=tuple(entries))
    if "OFD.xml" not in pkg.files:
        raise OfdFormatError("not an OFD file: no OFD.xml at the root of the ZIP",
                             message_zh="不是 OFD 文件（根目录缺少 OFD.xml）", field="file")
    return pkg


def write_package(entries: Iterable[OfdEntry]) -> bytes:
    """Write entries as a ZIP, in the order given, deterministically (fixed level, given timestamps)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for e in entries:
            info = zipfile.ZipInfo(e.name, date_time=e.date_time)
            info.compress_type = zipfile.ZIP_STORED if e.is_dir else e.compress_type
            info.external_attr = e.external_attr
            info.create_system = 3 if e.external_attr >> 16 else 0
            zf.writestr(info, e.data, compresslevel=_DEFLATE_LEVEL)
    return buf.getvalue()
