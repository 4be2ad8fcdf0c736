"""Locate a CJK TrueType font and cut per-document subsets of it, fast, for PDF and OFD licence files.

Licence files carry real Chinese text: every glyph drawn comes from a CJK font embedded in the file
(a subset holding only the glyphs used). Which font:

1. ``path`` given by the caller, else the environment variable :data:`FONT_ENV` (``path`` or
   ``path:index`` for a collection), else
2. the first of :data:`FONT_CANDIDATES` present on the machine. The project installs Debian's
   :data:`DEBIAN_PACKAGE` (``fonts-wqy-microhei``); ``fonts-wqy-zenhei`` and ``fonts-arphic-uming``
   are accepted as well.

No font -> :class:`CjkFontMissingError` (HTTP 503); a font without TrueType outlines (``glyf``;
CFF-based fonts such as Noto CJK are refused here) or without Chinese glyphs -> the same error. A
character the font has no glyph for -> :class:`FontCoverageError` naming the field: nothing is ever
drawn as an empty box.

Why our own subsetter: parsing a 5 MB CJK font with fontTools takes seconds and its subsetter a
quarter of a second, far too slow for rendering a licence in well under 100 ms. The font is read
once per process (:func:`load_cjk_font` caches it); a subset then copies the used glyphs (and the
components of composite glyphs, renumbered) into a new ``glyf``/``loca``/``hmtx`` with a fresh
format-4 ``cmap``, in a few milliseconds. New glyph ids are dense (``.notdef`` = 0), so a PDF uses
them directly as CIDs (``CIDToGIDMap /Identity``) and an OFD reader maps Unicode through the cmap.
"""

from __future__ import annotations

import hashlib
import os
import struct
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from keys.errors import BackendUnavailableError, BadInputError

__all__ = [
    "DEBIAN_PACKAGE",
    "FONT_CANDIDATES",
    "FONT_ENV",
    "MAX_COMPONENT_DEPTH",
    "MAX_FONT_BYTES",
    "MAX_SUBSET_CHARS",
    "CjkFont",
    "CjkFontMissingError",
    "FontCoverageError",
    "FontSubset",
    "load_cjk_font",
]

#: The Debian package scripts/bootstrap.sh installs for the renderer.
DEBIAN_PACKAGE = "fonts-wqy-microhei"
#: Environment variable naming a font file (``path`` or ``path:index`` for a .ttc collection).
FONT_ENV = "ESIGN_CJK_FONT"
#: (path, collection index) tried in order when no font is named.
FONT_CANDIDATES: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),  # fonts-wqy-microhei
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),  # fonts-wqy-zenhei
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),  # fonts-arphic-uming
)
#: Largest font file read.
MAX_FONT_BYTES = 64 << 20
#: Most distinct characters in one subset (a format-4 cmap holds at most ~8,000 segments).
MAX_SUBSET_CHARS = 4000
#: Deepest nesting of composite glyphs followed.
MAX_COMPONENT_DEPTH = 8
#: Characters that must be present for a font to count as a CJK font.
_PROBE = "中华人民共和国证照"
_REQUIRED = (b"head", b"hhea", b"maxp", b"hmtx", b"loca", b"glyf", b"cmap")
_COPIED = (b"OS/2", b"cvt ", b"fpgm", b"prep", b"name")
_lock = threading.Lock()
_cache: dict[tuple[str, int], CjkFont] = {}


class CjkFontMissingError(BackendUnavailableError):
    """No usable CJK TrueType font is installed (or the one named cannot be used)."""

    code = "cjk_font_missing"
    default_zh = "未安装可用的中文字体"


class FontCoverageError(BadInputError):
    """The text holds a character the CJK font has no glyph for."""

    code = "glyph_missing"
    default_zh = "字体缺少该字符的字形"


def _broken(path: str, why: str) -> CjkFontMissingError:
    return CjkFontMissingError(f"the font {path} cannot be used: {why}", message_zh=f"字体 {path} 不可用：{why}",
                               field="font")


@dataclass(frozen=True)
class FontSubset:
    """A standalone TrueType font holding the glyphs of some characters."""

    data: bytes = field(repr=False)
    """The TrueType file (``glyf`` outlines, format-4 ``cmap``)."""
    gid_of: Mapping[int, int]
    """Code point -> glyph id in the subset."""
    widths: tuple[int, ...]
    """Advance width of every subset glyph, in 1/1000 em (index = glyph id)."""
    base_font: str
    """``ABCDEF+PostScriptName``: a subset tag derived from the content, then the font's name."""


class CjkFont:
    """A TrueType (``glyf``) font read once: metrics, cmap and raw tables for subsetting."""

    def __init__(self, path: str, index: int, data: bytes) -> None:
        self.path = path
        self.index = index
        self._data = data
        tables = self._directory(data, index)
        missing = [t.decode() for t in _REQUIRED if t not in tables]
        if missing:
            why = "CFF outlines are not supported" if b"CFF " in tables else f"tables {missing} are missing"
            raise _broken(path, why)
        self._tables = tables
        head, hhea, maxp = self.table(b"head"), self.table(b"hhea"), self.table(b"maxp")
        try:
            self.units_per_em = struct.unpack_from(">H", head, 18)[0]
            self.bbox = struct.unpack_from(">hhhh", head, 36)
            self._long_loca = struct.unpack_from(">h", head, 50)[0] == 1
            self.ascent, self.descent = struct.unpack_from(">hh", hhea, 4)
            self._n_hmetrics = struct.unpack_from(">H", hhea, 34)[0]
            self.num_glyphs = struct.unpack_from(">H", maxp, 4)[0]
        except struct.error:
            raise _broken(path, "truncated head/hhea/maxp") from None
        if not self.units_per_em or not self._n_hmetrics:
            raise _broken(path, "bad units per em or metrics")
        os2 = self._tables.get(b"OS/2")
        self.cap_height = self.ascent
        if os2 is not None and len(self.table(b"OS/2")) >= 90 and struct.unpack_from(">H", self.table(b"OS/2"))[0] >= 2:
            self.cap_height = struct.unpack_from(">h", self.table(b"OS/2"), 88)[0] or self.ascent
        self.cmap = self._read_cmap()
        self.postscript_name = self._name(6) or "CJKFont"
        self.family_name = self._name(1) or self.postscript_name
        if any(ord(c) not in self.cmap for c in _PROBE):
            raise _broken(path, "it has no Chinese glyphs")

    # -- reading ---------------------------------------------------------------------------------

    def _directory(self, data: bytes, index: int) -> dict[bytes, tuple[int, int]]:
        try:
            base = 0
            if data[:4] == b"ttcf":
                count = struct.unpack_from(">I", data, 8)[0]
                if not 0 <= index < count:
                    raise _broken(self.path, f"the collection has {count} fonts, not index {index}")
                base = struct.unpack_from(">I", data, 12 + 4 * index)[0]
            version = data[base:base + 4]
            if version not in (b"\x00\x01\x00\x00", b"true", b"OTTO"):
                raise _broken(self.path, "not a TrueType/OpenType font")
            n = struct.unpack_from(">H", data, base + 4)[0]
            out = {}
            for i in range(n):
                tag, _cs, off, length = struct.unpack_from(">4sIII", data, base + 12 + 16 * i)
                if off + length > len(data):
                    raise _broken(self.path, f"table {tag!r} runs past the end of the file")
                out[tag] = (off, length)
            return out
        except struct.error:
            raise _broken(self.path, "truncated font directory") from None

    def table(self, tag: bytes) -> bytes:
        """Raw bytes of table ``tag`` (empty if absent)."""
        off, length = self._tables.get(tag, (0, 0))
        return self._data[off:off + length]

    def _name(self, name_id: int) -> str:
        name = self.table(b"name")
        try:
            count, str_off = struct.unpack_from(">2xHH", name)
            best = ""
            for i in range(count):
                pid, eid, lang, nid, length, off = struct.unpack_from(">HHHHHH", name, 6 + 12 * i)
                if nid != name_id:
                    continue
                raw = name[str_off + off:str_off + off + length]
                if pid == 3 and eid in (1, 10):
                    text = raw.decode("utf-16-be", "replace")
                    if lang == 0x409:
                        return text
                    best = best or text
                elif pid == 1 and eid == 0 and not best:
                    best = raw.decode("latin-1")
            return best
        except struct.error:
            return ""

    def _read_cmap(self) -> dict[int, int]:
        cmap = self.table(b"cmap")
        try:
            n = struct.unpack_from(">H", cmap, 2)[0]
            subs = {}
            for i in range(n):
                pid, eid, off = struct.unpack_from(">HHI", cmap, 4 + 8 * i)
                subs[(pid, eid)] = off
            for key in ((3, 10), (0, 4), (3, 1), (0, 3)):
                if key in subs:
                    fmt = struct.unpack_from(">H", cmap, subs[key])[0]
                    if fmt == 12:
                        return self._cmap12(cmap, subs[key])
                    if fmt == 4:
                        return self._cmap4(cmap, subs[key])
        except struct.error:
            pass
        raise _broken(self.path, "no usable Unicode cmap (format 4 or 12)")

    def _cmap4(self, cmap: bytes, off: int) -> dict[int, int]:
        seg2 = struct.unpack_from(">H", cmap, off + 6)[0]
        seg = seg2 // 2
        ends = struct.unpack_from(f">{seg}H", cmap, off + 14)
        starts = struct.unpack_from(f">{seg}H", cmap, off + 16 + seg2)
        deltas = struct.unpack_from(f">{seg}H", cmap, off + 16 + 2 * seg2)
        ro_base = off + 16 + 3 * seg2
        ranges = struct.unpack_from(f">{seg}H", cmap, ro_base)
        out: dict[int, int] = {}
        for i in range(seg):
            start, end, delta, ro = starts[i], ends[i], deltas[i], ranges[i]
            if start == 0xFFFF:
                continue
            for cp in range(start, end + 1):
                if ro == 0:
                    gid = (cp + delta) & 0xFFFF
                else:
                    gid = struct.unpack_from(">H", cmap, ro_base + 2 * i + ro + 2 * (cp - start))[0]
                    gid = (gid + delta) & 0xFFFF if gid else 0
                if gid and gid < self.num_glyphs:
                    out[cp] = gid
        return out

    def _cmap12(self, cmap: bytes, off: int) -> dict[int, int]:
        n = struct.unpack_from(">I", cmap, off + 12)[0]
        out: dict[int, int] = {}
        for i in range(n):
            start, end, gid = struct.unpack_from(">III", cmap, off + 16 + 12 * i)
            for cp in range(start, min(end, 0x10FFFF) + 1):
                g = gid + cp - start
                if 0 < g < self.num_glyphs:
                    out[cp] = g
        return out

    def _glyph(self, gid: int) -> bytes:
        off_l, _ = self._tables[b"loca"]
        glyf_off, glyf_len = self._tables[b"glyf"]
        if self._long_loca:
            a, b = struct.unpack_from(">II", self._data, off_l + 4 * gid)
        else:
            a, b = (2 * v for v in struct.unpack_from(">HH", self._data, off_l + 2 * gid))
        if not a <= b <= glyf_len:
            raise _broken(self.path, f"glyph {gid} lies outside the glyf table")
        return self._data[glyf_off + a:glyf_off + b]

    def _metrics(self, gid: int) -> tuple[int, int]:
        off, _ = self._tables[b"hmtx"]
        n = self._n_hmetrics
        if gid < n:
            return struct.unpack_from(">Hh", self._data, off + 4 * gid)
        adv = struct.unpack_from(">H", self._data, off + 4 * (n - 1))[0]
        return adv, struct.unpack_from(">h", self._data, off + 4 * n + 2 * (gid - n))[0]

    # -- using -----------------------------------------------------------------------------------

    def check_text(self, text: str, *, field: str) -> None:
        """Raise :class:`FontCoverageError` naming ``field`` if a character of ``text`` has no glyph."""
        for ch in text:
            if ord(ch) not in self.cmap:
                raise FontCoverageError(
                    f"{field}: the CJK font {self.family_name} has no glyph for {ch!r} (U+{ord(ch):04X})",
                    message_zh=f"{field}：字体 {self.family_name} 缺少字符 U+{ord(ch):04X} 的字形", field=field)

    def advance(self, ch: str) -> float:
        """Advance width of ``ch`` in em (0 for a character without glyph)."""
        gid = self.cmap.get(ord(ch))
        return 0.0 if gid is None else self._metrics(gid)[0] / self.units_per_em

    def text_width(self, text: str, size: float) -> float:
        """Width of ``text`` set at ``size`` (same unit as ``size``)."""
        return sum(self.advance(c) for c in text) * size

    def _closure(self, gids: Iterable[int]) -> list[int]:
        seen = {0}
        stack = [(g, 0) for g in gids]
        while stack:
            gid, depth = stack.pop()
            if gid in seen:
                continue
            if depth > MAX_COMPONENT_DEPTH or not 0 <= gid < self.num_glyphs:
                raise _broken(self.path, f"composite glyph nesting too deep or bad glyph id {gid}")
            seen.add(gid)
            stack.extend((c, depth + 1) for c in _components(self._glyph(gid)))
        return sorted(seen)

    def subset(self, codepoints: Iterable[int]) -> FontSubset:
        """A standalone TrueType font with the glyphs of ``codepoints`` (each must have one)."""
        cps = sorted({cp for cp in codepoints if cp in self.cmap and cp <= 0xFFFF})
        if len(cps) > MAX_SUBSET_CHARS:
            raise BadInputError(f"more than {MAX_SUBSET_CHARS} distinct characters in one document",
                                message_zh="文件中不同字符过多", field="text")
        order = self._closure(self.cmap[cp] for cp in cps)
        new = {old: i for i, old in enumerate(order)}
        glyf, loca, hmtx = bytearray(), [0], bytearray()
        for old in order:
            g = _renumber(self._glyph(old), new)
            glyf += g + b"\0" * (-len(g) % 4)
            loca.append(len(glyf))
            hmtx += struct.pack(">Hh", *self._metrics(old))
        n = len(order)
        gid_of = {cp: new[self.cmap[cp]] for cp in cps}
        head = bytearray(self.table(b"head"))
        struct.pack_into(">I", head, 8, 0)
        struct.pack_into(">h", head, 50, 1)
        hhea = bytearray(self.table(b"hhea"))
        struct.pack_into(">H", hhea, 34, n)
        maxp = bytearray(self.table(b"maxp"))
        struct.pack_into(">H", maxp, 4, n)
        post = bytearray(self.table(b"post")[:32].ljust(32, b"\0"))
        struct.pack_into(">I", post, 0, 0x00030000)
        struct.pack_into(">16x", post, 16)
        tables = {b"head": bytes(head), b"hhea": bytes(hhea), b"maxp": bytes(maxp), b"hmtx": bytes(hmtx),
                  b"loca": struct.pack(f">{n + 1}I", *loca), b"glyf": bytes(glyf), b"cmap": _cmap4(gid_of),
                  b"post": bytes(post)}
        tables.update({t: self.table(t) for t in _COPIED if t in self._tables})
        data = _assemble(tables)
        tag = "".join(chr(65 + b % 26) for b in hashlib.sha256(data).digest()[:6])
        upem = self.units_per_em
        widths = tuple(round(struct.unpack_from(">H", hmtx, 4 * i)[0] * 1000 / upem) for i in range(n))
        return FontSubset(data=data, gid_of=gid_of, widths=widths, base_font=f"{tag}+{self.postscript_name}")


# --- binary helpers --------------------------------------------------------------------------------

_ARGS_ARE_WORDS, _HAVE_SCALE, _MORE, _XY_SCALE, _TWO_BY_TWO = 0x1, 0x8, 0x20, 0x40, 0x80


def _component_offsets(glyph: bytes) -> list[int]:
    """Offsets of the glyphIndex fields of a composite glyph (empty for a simple or empty glyph)."""
    if len(glyph) < 10 or struct.unpack_from(">h", glyph)[0] >= 0:
        return []
    out, pos = [], 10
    while True:
        flags = struct.unpack_from(">H", glyph, pos)[0]
        out.append(pos + 2)
        pos += 4 + (4 if flags & _ARGS_ARE_WORDS else 2)
        pos += 2 if flags & _HAVE_SCALE else 4 if flags & _XY_SCALE else 8 if flags & _TWO_BY_TWO else 0
        if not flags & _MORE:
            return out


def _components(glyph: bytes) -> list[int]:
    try:
        return [struct.unpack_from(">H", glyph, p)[0] for p in _component_offsets(glyph)]
    except struct.error:
        raise CjkFontMissingError("a composite glyph of the font is truncated", field="font") from None


def _renumber(glyph: bytes, new: Mapping[int, int]) -> bytes:
    offsets = _component_offsets(glyph)
    if not offsets:
        return glyph
    out = bytearray(glyph)
    for p in offsets:
        struct.pack_into(">H", out, p, new[struct.unpack_from(">H", out, p)[0]])
    return bytes(out)


def _cmap4(gid_of: Mapping[int, int]) -> bytes:
    cps = sorted(gid_of)
    segs = [(cp, cp, (gid_of[cp] - cp) & 0xFFFF) for cp in cps] + [(0xFFFF, 0xFFFF, 1)]
    n = len(segs)
    power = 1 << (n.bit_length() - 1)
    sub = struct.pack(">HHHHHHH", 4, 16 + 8 * n, 0, 2 * n, 2 * power, power.bit_length() - 1, 2 * n - 2 * power)
    sub += struct.pack(f">{n}H", *(e for _, e, _ in segs)) + b"\0\0"
    sub += struct.pack(f">{n}H", *(s for s, _, _ in segs))
    sub += struct.pack(f">{n}H", *(d for _, _, d in segs)) + bytes(2 * n)
    return struct.pack(">HHHHIHHI", 0, 2, 0, 3, 20, 3, 1, 20) + sub


def _checksum(data: bytes) -> int:
    padded = data + b"\0" * (-len(data) % 4)
    return sum(struct.unpack(f">{len(padded) // 4}I", padded)) & 0xFFFFFFFF


def _assemble(tables: Mapping[bytes, bytes]) -> bytes:
    tags = sorted(tables)
    n = len(tags)
    power = 1 << (n.bit_length() - 1)
    header = struct.pack(">IHHHH", 0x00010000, n, 16 * power, power.bit_length() - 1, 16 * n - 16 * power)
    offset = 12 + 16 * n
    records, body = b"", b""
    for t in tags:
        data = tables[t]
        records += struct.pack(">4sIII", t, _checksum(data), offset + len(body), len(data))
        body += data + b"\0" * (-len(data) % 4)
    font = bytearray(header + records + body)
    head_off = 12 + 16 * n + sum(len(tables[t]) + (-len(tables[t]) % 4) for t in tags[:tags.index(b"head")])
    struct.pack_into(">I", font, head_off + 8, (0xB1B0AFBA - _checksum(bytes(font))) & 0xFFFFFFFF)
    return bytes(font)


# --- locating --------------------------------------------------------------------------------------


def _named() -> tuple[str, int] | None:
    spec = os.environ.get(FONT_ENV, "").strip()
    if not spec:
        return None
    path, _, idx = spec.rpartition(":") if spec.rpartition(":")[2].isdigit() else (spec, "", "0")
    return path, int(idx or 0)


def load_cjk_font(path: str | os.PathLike[str] | None = None, *, index: int = 0) -> CjkFont:
    """The CJK font to render with, read once per process (see the module docstring for the search).

    Raises:
        CjkFontMissingError: no usable font; the message names the Debian package to install.
    """
    if path is not None:
        choices = [(str(path), index)]
    else:
        named = _named()
        choices = [named] if named else list(FONT_CANDIDATES)
    for p, i in choices:
        key = (p, i)
        with _lock:
            hit = _cache.get(key)
        if hit is not None:
            return hit
        fp = Path(p)
        if not fp.is_file():
            continue
        if fp.stat().st_size > MAX_FONT_BYTES:
            raise _broken(p, f"larger than {MAX_FONT_BYTES} bytes")
        font = CjkFont(p, i, fp.read_bytes())
        with _lock:
            _cache[key] = font
        return font
    tried = ", ".join(p for p, _ in choices)
    raise CjkFontMissingError(
        f"no CJK font found (tried {tried}); install the Debian package {DEBIAN_PACKAGE} "
        f"(apt-get install {DEBIAN_PACKAGE}) or set {FONT_ENV}",
        message_zh=f"未找到中文字体（已尝试 {tried}）；请安装 Debian 软件包 {DEBIAN_PACKAGE} 或设置 {FONT_ENV}",
        field="font")
