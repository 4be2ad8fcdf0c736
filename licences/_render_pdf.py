"""Write a licence layout as a PDF 1.7 file with an embedded CJK font subset (see :mod:`licences.render`).

Our own small writer, so a page renders in milliseconds: one Type0 font (``Identity-H``, a
``CIDFontType2`` whose CIDs are the subset's glyph ids, ``FontFile2`` = the TrueType subset from
:mod:`licences.fonts`) with a ``ToUnicode`` CMap so the text is real, extractable text; the QR
code as a 1-bit image XObject (one pixel per module, no interpolation); Flate-compressed content
streams; a classic cross-reference table that pyHanko then extends with the signature.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime

from licences._render_layout import PAGE_H, PAGE_W, Image, Layout, Line, Text
from licences.fonts import CjkFont, FontSubset

__all__ = ["MM", "build_pdf"]

#: Points per millimetre.
MM = 72 / 25.4
_BFCHAR_CHUNK = 100


def _n(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".") or "0"


def _text_string(s: str) -> bytes:
    return b"<FEFF" + s.encode("utf-16-be").hex().upper().encode() + b">"


def _stream(head: str, data: bytes, *, compress: bool = True) -> bytes:
    if compress:
        data = zlib.compress(data, 6)
        head += " /Filter /FlateDecode"
    return f"<< {head} /Length {len(data)} >>\nstream\n".encode() + data + b"\nendstream"


def _content(ops: Sequence[Text | Line | Image], sub: FontSubset, qr: bool) -> bytes:
    out: list[str] = []
    for op in ops:
        if isinstance(op, Text):
            r, g, b = op.color
            codes = "".join(f"{sub.gid_of[ord(c)]:04X}" for c in op.text)
            out.append(f"BT /F1 {_n(op.size * MM)} Tf {_n(r)} {_n(g)} {_n(b)} rg 1 0 0 1 {_n(op.x * MM)} "
                       f"{_n((PAGE_H - op.y) * MM)} Tm <{codes}> Tj ET")
        elif isinstance(op, Line):
            r, g, b = op.color
            x, y = op.x * MM, (PAGE_H - op.y) * MM
            if op.box:
                shape = f"{_n(x)} {_n(y - op.h * MM)} {_n(op.w * MM)} {_n(op.h * MM)} re S"
            else:
                shape = f"{_n(x)} {_n(y)} m {_n(x + op.w * MM)} {_n(y - op.h * MM)} l S"
            out.append(f"q {_n(r)} {_n(g)} {_n(b)} RG {_n(op.width * MM)} w {shape} Q")
        elif isinstance(op, Image) and qr:
            out.append(f"q {_n(op.w * MM)} 0 0 {_n(op.h * MM)} {_n(op.x * MM)} {_n((PAGE_H - op.y - op.h) * MM)} cm "
                       "/Im1 Do Q")
    return "\n".join(out).encode("ascii")


def _to_unicode(sub: FontSubset) -> bytes:
    pairs = sorted((gid, cp) for cp, gid in sub.gid_of.items())
    body = ["/CIDInit /ProcSet findresource begin", "12 dict begin", "begincmap",
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
            "/CMapName /Adobe-Identity-UCS def", "/CMapType 2 def",
            "1 begincodespacerange", "<0000> <FFFF>", "endcodespacerange"]
    for i in range(0, len(pairs), _BFCHAR_CHUNK):
        chunk = pairs[i:i + _BFCHAR_CHUNK]
        body.append(f"{len(chunk)} beginbfchar")
        body += [f"<{gid:04X}> <{chr(cp).encode('utf-16-be').hex().upper()}>" for gid, cp in chunk]
        body.append("endbfchar")
    body += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
    return "\n".join(body).encode("ascii")


def _qr_image(matrix: Sequence[Sequence[int]]) -> bytes:
    """1-bit DeviceGray rows (0 = black module), each row padded to a byte."""
    rows = bytearray()
    for row in matrix:
        bits = 0
        for dark in row:
            bits = (bits << 1) | (0 if dark else 1)
        pad = -len(row) % 8
        rows += (bits << pad).to_bytes((len(row) + pad) // 8, "big")
    return bytes(rows)


def build_pdf(lay: Layout, font: CjkFont, *, qr_matrix: Sequence[Sequence[int]] | None, title: str,
              subject: str, author: str, at: datetime) -> bytes:
    """The PDF bytes of ``lay`` (deterministic for the same input)."""
    sub = font.subset(ord(c) for c in lay.chars)
    base = re.sub(r"[^A-Za-z0-9+\-]", "", sub.base_font)
    upem = 1000 / font.units_per_em
    objs: dict[int, bytes] = {}
    n_pages = len(lay.pages)
    first_page = 10
    kids = " ".join(f"{first_page + 2 * i} 0 R" for i in range(n_pages))
    objs[1] = b"<< /Type /Catalog /Pages 2 0 R /Lang (zh-CN) /ViewerPreferences << /DisplayDocTitle true >> >>"
    objs[2] = f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode()
    stamp = at.astimezone(UTC).strftime("D:%Y%m%d%H%M%S+00'00'")
    objs[3] = (b"<< /Title " + _text_string(title) + b" /Subject " + _text_string(subject) + b" /Author "
               + _text_string(author) + f" /Producer (esign) /CreationDate ({stamp}) /ModDate ({stamp}) >>".encode())
    objs[4] = (f"<< /Type /Font /Subtype /Type0 /BaseFont /{base} /Encoding /Identity-H "
               "/DescendantFonts [5 0 R] /ToUnicode 7 0 R >>").encode()
    widths = " ".join(str(w) for w in sub.widths)
    objs[5] = (f"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /{base} /CIDSystemInfo << /Registry (Adobe) "
               f"/Ordering (Identity) /Supplement 0 >> /FontDescriptor 6 0 R /DW 1000 /W [0 [{widths}]] "
               "/CIDToGIDMap /Identity >>").encode()
    x0, y0, x1, y1 = (round(v * upem) for v in font.bbox)
    objs[6] = (f"<< /Type /FontDescriptor /FontName /{base} /Flags 4 /FontBBox [{x0} {y0} {x1} {y1}] "
               f"/ItalicAngle 0 /Ascent {round(font.ascent * upem)} /Descent {round(font.descent * upem)} "
               f"/CapHeight {round(font.cap_height * upem)} /StemV 80 /FontFile2 8 0 R >>").encode()
    objs[7] = _stream("", _to_unicode(sub))
    objs[8] = _stream(f"/Length1 {len(sub.data)}", sub.data)
    if qr_matrix is not None:
        size = len(qr_matrix)
        objs[9] = _stream(f"/Type /XObject /Subtype /Image /Width {size} /Height {size} /ColorSpace /DeviceGray "
                          "/BitsPerComponent 1 /Interpolate false", _qr_image(qr_matrix))
    else:
        objs[9] = b"null"  # keeps object numbers dense (no free entries in the xref table)
    xobj = " /XObject << /Im1 9 0 R >>" if qr_matrix is not None else ""
    for i, ops in enumerate(lay.pages):
        page_no, content_no = first_page + 2 * i, first_page + 2 * i + 1
        objs[page_no] = (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {_n(PAGE_W * MM)} {_n(PAGE_H * MM)}] "
                         f"/Resources << /Font << /F1 4 0 R >>{xobj} >> /Contents {content_no} 0 R >>").encode()
        objs[content_no] = _stream("", _content(ops, sub, qr_matrix is not None))
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    size = max(objs) + 1
    offsets = [0] * size
    for num in sorted(objs):
        offsets[num] = len(out)
        out += f"{num} 0 obj\n".encode() + objs[num] + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {size}\n".encode() + b"0000000000 65535 f \n"
    for num in range(1, size):
        out += f"{offsets[num]:010d} 00000 n \n".encode()
    doc_id = hashlib.sha256(bytes(out)).hexdigest()[:32]
    out += (f"trailer\n<< /Size {size} /Root 1 0 R /Info 3 0 R /ID [<{doc_id}> <{doc_id}>] >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)
