"""Page layout of a rendered licence, independent of the file format (see :mod:`licences.render`).

Everything is in millimetres on an A4 page with the origin at the top-left corner (the OFD
convention; the PDF backend flips y). Text ``y`` is the baseline. The layout is a list of pages,
each a list of drawing operations; the last page carries the QR code, the issuer block and the
place of the seal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from keys.errors import BadInputError
from licences.fonts import CjkFont

__all__ = [
    "MAX_PAGES",
    "PAGE_H",
    "PAGE_W",
    "QR_BOX",
    "SEAL_BOX",
    "Image",
    "Layout",
    "Line",
    "Text",
    "ViewLike",
    "layout",
    "zh_date",
]

#: A4 portrait, millimetres.
PAGE_W, PAGE_H = 210.0, 297.0
#: Most pages one licence may take.
MAX_PAGES = 5
#: QR code (x, y top, width, height) on the last page.
QR_BOX = (26.0, 212.0, 42.0, 42.0)
#: Seal stamp (x, y top, width, height) on the last page, over the issuer's name and date.
SEAL_BOX = (122.0, 206.0, 42.0, 42.0)
_BLACK, _GREY, _RED = (0.1, 0.1, 0.1), (0.38, 0.38, 0.38), (0.62, 0.1, 0.1)
_FIELDS_TOP, _FIELDS_BOTTOM = 66.0, 198.0
_LABEL_X, _LABEL_W, _VALUE_X, _VALUE_W = 26.0, 44.0, 72.0, 112.0
_SIZE_TITLE, _SIZE_EN, _SIZE_FIELD, _SIZE_SMALL = 8.0, 3.6, 4.0, 2.8
_LEADING = 1.55


@dataclass(frozen=True)
class Text:
    """A run of text on one line."""

    x: float
    y: float
    size: float
    text: str
    color: tuple[float, float, float] = _BLACK


@dataclass(frozen=True)
class Line:
    """A stroked straight line or, with ``box``, a stroked rectangle (x, y, w, h)."""

    x: float
    y: float
    w: float
    h: float
    width: float = 0.3
    color: tuple[float, float, float] = _RED
    box: bool = False


@dataclass(frozen=True)
class Image:
    """The QR code image."""

    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class Layout:
    """Pages of drawing operations."""

    pages: tuple[tuple[Text | Line | Image, ...], ...]
    """Operations per page."""
    chars: frozenset[str]
    """Every character drawn (for the font subset)."""


class ViewLike:
    """What :func:`layout` reads (implemented by :class:`licences.render.LicenceView`)."""

    type_name_zh: str
    type_name_en: str
    identifier: str
    number: str
    fields: Sequence[tuple[str, str, str]]
    issuer_name: str
    issued_on: date
    valid_from: date
    valid_until: date | None


def zh_date(d: date | None) -> str:
    """``2025年01月01日``; ``长期`` for ``None``."""
    return "长期" if d is None else f"{d.year}年{d.month:02d}月{d.day:02d}日"


def _wrap(font: CjkFont, text: str, size: float, width: float) -> list[str]:
    out: list[str] = []
    for para in text.replace("\r\n", "\n").replace("\t", " ").split("\n"):
        line, w = "", 0.0
        for ch in para:
            cw = font.advance(ch) * size
            if line and w + cw > width:
                cut = line.rfind(" ")
                if ch != " " and 0 < cut and line.isascii():
                    out.append(line[:cut])
                    line = line[cut + 1:]
                    w = font.text_width(line, size)
                else:
                    out.append(line)
                    line, w = "", 0.0
                if ch == " ":
                    continue
            line += ch
            w += cw
        out.append(line)
    return out


def _centred(font: CjkFont, text: str, y: float, size: float, color: tuple[float, float, float]) -> Text:
    return Text((PAGE_W - font.text_width(text, size)) / 2, y, size, text, color)


def layout(view: ViewLike, font: CjkFont, *, with_qr: bool = True) -> Layout:
    """Lay ``view`` out; raise FontCoverageError naming the field whose text the font cannot show."""
    font.check_text(view.type_name_zh, field="type_name_zh")
    font.check_text(view.type_name_en, field="type_name_en")
    font.check_text(view.identifier, field="identifier")
    font.check_text(view.number, field="number")
    font.check_text(view.issuer_name, field="issuer_name")
    for code, label, value in view.fields:
        font.check_text(label, field=f"fields.{code}.label")
        font.check_text(value, field=f"fields.{code}")
    rows: list[tuple[list[str], list[str]]] = [(["证照编号"], [view.number])]
    for _code, label, value in view.fields:
        rows.append((_wrap(font, label, _SIZE_FIELD, _LABEL_W), _wrap(font, value or "—", _SIZE_FIELD, _VALUE_W)))
    step = _SIZE_FIELD * _LEADING
    pages: list[list[Text | Line | Image]] = [[]]
    y = _FIELDS_TOP
    for labels, values in rows:
        n = max(len(labels), len(values))
        if y + (n - 1) * step > _FIELDS_BOTTOM:
            if len(pages) >= MAX_PAGES:
                raise BadInputError(f"the licence does not fit on {MAX_PAGES} pages", message_zh="证照内容过多",
                                    field="fields")
            pages.append([])
            y = _FIELDS_TOP
        for i in range(n):
            if i < len(labels):
                pages[-1].append(Text(_LABEL_X, y + i * step, _SIZE_FIELD, labels[i], _GREY))
            if i < len(values):
                pages[-1].append(Text(_VALUE_X, y + i * step, _SIZE_FIELD, values[i]))
        y += n * step + 2.2
    total = len(pages)
    for no, ops in enumerate(pages, start=1):
        head: list[Text | Line | Image] = [
            Line(12, 12, PAGE_W - 24, PAGE_H - 24, 0.8, box=True),
            Line(14, 14, PAGE_W - 28, PAGE_H - 28, 0.25, box=True),
            _centred(font, view.type_name_zh, 34, _SIZE_TITLE, _RED),
            _centred(font, view.type_name_en, 42, _SIZE_EN, _GREY),
            _centred(font, f"证照标识 {view.identifier}", 50, _SIZE_SMALL, _GREY),
            Line(26, 55, PAGE_W - 52, 0, 0.4),
        ]
        foot = "本电子证照由发证机关加盖电子印章；扫描二维码可离线核验。"
        if total > 1:
            foot += f"  第 {no}/{total} 页"
        ops[:0] = head
        ops.append(_centred(font, foot, PAGE_H - 20, _SIZE_SMALL, _GREY))
    last = pages[-1]
    last.append(Line(26, 203, PAGE_W - 52, 0, 0.4))
    valid = f"{zh_date(view.valid_from)} 至 {zh_date(view.valid_until)}"
    block = [("发证机关", view.issuer_name), ("签发日期", zh_date(view.issued_on)), ("有效期限", valid)]
    by = 218.0
    for label, value in block:
        last.append(Text(100, by, _SIZE_FIELD, label, _GREY))
        for part in _wrap(font, value, _SIZE_FIELD, 70):
            last.append(Text(122, by, _SIZE_FIELD, part))
            by += _SIZE_FIELD * _LEADING
        by += 2.2
    if with_qr:
        x, y0, w, h = QR_BOX
        last.append(Image(x, y0, w, h))
        last.append(Text(x + 2, y0 + h + 5, 3.2, "扫码核验 Scan to verify", _GREY))
    chars = frozenset(ch for page in pages for op in page if isinstance(op, Text) for ch in op.text)
    font.check_text("".join(sorted(chars)), field="text")
    return Layout(pages=tuple(tuple(p) for p in pages), chars=chars)
