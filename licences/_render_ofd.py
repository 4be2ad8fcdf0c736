"""Write a licence layout as an OFD package (GB/T 33190-2016), unsigned (see :mod:`licences.render`).

Package::

    OFD.xml                       DocBody: DocInfo (title, creator, CustomDatas = GB/T 36903 metadata), DocRoot
    Doc_0/Document.xml            CommonData (MaxUnitID, PageArea A4, PublicRes), Pages
    Doc_0/PublicRes.xml           Res BaseLoc="Res": Fonts/Font (FontFile = the embedded subset), MultiMedias (QR)
    Doc_0/Res/font_0.ttf          TrueType subset of the CJK font (format-4 cmap: readers map Unicode to glyphs)
    Doc_0/Res/qr.png              the QR code
    Doc_0/Pages/Page_N/Content.xml  Layer: TextObject (TextCode with DeltaX), PathObject, ImageObject

Units are millimetres with the origin at the top-left corner. Text ``Boundary`` boxes start one
font size above the baseline and TextCode ``Y`` is the baseline inside the box. The seal signature
is added by :func:`esign.ofd.sign_ofd`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime

from lxml import etree

from esign.formats.ofd import OFD_NS, OfdEntry, write_package
from licences._render_layout import PAGE_H, PAGE_W, Image, Layout, Line, Text
from licences.fonts import CjkFont

__all__ = ["build_ofd"]

_O = f"{{{OFD_NS}}}"
_DECL = b'<?xml version="1.0" encoding="UTF-8"?>\n'


def _n(v: float) -> str:
    return f"{v:.3f}".rstrip("0").rstrip(".") or "0"


def _el(parent: etree._Element | None, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.Element(_O + tag, nsmap={"ofd": OFD_NS}) if parent is None else etree.SubElement(parent, _O + tag)
    for k, v in attrs.items():
        el.set(k, v)
    if text is not None:
        el.text = text
    return el


def _xml(root: etree._Element) -> bytes:
    return _DECL + etree.tostring(root, encoding="UTF-8")


def _rgb(c: tuple[float, float, float]) -> str:
    return " ".join(str(round(v * 255)) for v in c)


class _Ids:
    def __init__(self) -> None:
        self.last = 0

    def __call__(self) -> str:
        self.last += 1
        return str(self.last)


def _page(ops: tuple[Text | Line | Image, ...], font: CjkFont, ids: _Ids, font_id: str, qr_id: str | None) -> bytes:
    page = _el(None, "Page")
    layer = _el(_el(page, "Content"), "Layer", ID=ids(), Type="Body")
    for op in ops:
        if isinstance(op, Text):
            advances = [font.advance(c) * op.size for c in op.text]
            width = sum(advances) + 0.5
            obj = _el(layer, "TextObject", ID=ids(), Boundary=f"{_n(op.x)} {_n(op.y - op.size)} {_n(width)} "
                      f"{_n(op.size * 1.4)}", Font=font_id, Size=_n(op.size))
            _el(obj, "FillColor", Value=_rgb(op.color))
            code = _el(obj, "TextCode", op.text, X="0", Y=_n(op.size))
            if len(op.text) > 1:
                code.set("DeltaX", " ".join(_n(a) for a in advances[:-1]))
        elif isinstance(op, Line):
            pad = op.width
            x, y, w, h = op.x - pad, op.y - pad, op.w + 2 * pad, op.h + 2 * pad
            path = (f"M {_n(pad)} {_n(pad)} L {_n(pad + op.w)} {_n(pad)} L {_n(pad + op.w)} {_n(pad + op.h)} "
                    f"L {_n(pad)} {_n(pad + op.h)} C" if op.box else
                    f"M {_n(pad)} {_n(pad)} L {_n(pad + op.w)} {_n(pad + op.h)}")
            obj = _el(layer, "PathObject", ID=ids(), Boundary=f"{_n(x)} {_n(y)} {_n(w)} {_n(h)}",
                      LineWidth=_n(op.width), Stroke="true", Fill="false")
            _el(obj, "StrokeColor", Value=_rgb(op.color))
            _el(obj, "AbbreviatedData", path)
        elif isinstance(op, Image) and qr_id is not None:
            _el(layer, "ImageObject", ID=ids(), Boundary=f"{_n(op.x)} {_n(op.y)} {_n(op.w)} {_n(op.h)}",
                CTM=f"{_n(op.w)} 0 0 {_n(op.h)} 0 0", ResourceID=qr_id)
    return _xml(page)


def build_ofd(lay: Layout, font: CjkFont, *, qr_png: bytes | None, title: str, metadata: Mapping[str, str],
              at: datetime) -> bytes:
    """The unsigned OFD bytes of ``lay`` (deterministic for the same input)."""
    sub = font.subset(ord(c) for c in lay.chars)
    utc = at.astimezone(UTC)
    ids = _Ids()
    font_id = ids()
    qr_id = ids() if qr_png is not None else None
    page_ids = [ids() for _ in lay.pages]
    pages = [_page(ops, font, ids, font_id, qr_id) for ops in lay.pages]
    # PublicRes.xml
    res = _el(None, "Res", BaseLoc="Res")
    _el(_el(_el(res, "Fonts"), "Font", ID=font_id, FontName=font.postscript_name, FamilyName=font.family_name),
        "FontFile", "font_0.ttf")
    if qr_id is not None:
        _el(_el(_el(res, "MultiMedias"), "MultiMedia", ID=qr_id, Type="Image", Format="PNG"), "MediaFile", "qr.png")
    # Document.xml
    doc = _el(None, "Document")
    common = _el(doc, "CommonData")
    _el(common, "MaxUnitID", str(ids.last))
    area = _el(common, "PageArea")
    _el(area, "PhysicalBox", f"0 0 {_n(PAGE_W)} {_n(PAGE_H)}")
    _el(area, "ApplicationBox", f"0 0 {_n(PAGE_W)} {_n(PAGE_H)}")
    _el(common, "PublicRes", "PublicRes.xml")
    pages_el = _el(doc, "Pages")
    for i, pid in enumerate(page_ids):
        _el(pages_el, "Page", ID=pid, BaseLoc=f"Pages/Page_{i}/Content.xml")
    # OFD.xml
    ofd = _el(None, "OFD", Version="1.0", DocType="OFD")
    body = _el(ofd, "DocBody")
    info = _el(body, "DocInfo")
    _el(info, "DocID", hashlib.sha256(title.encode() + metadata.get("ZZBS", "").encode()).hexdigest()[:32])
    _el(info, "Title", title)
    _el(info, "CreationDate", utc.date().isoformat())
    _el(info, "Creator", "esign")
    customs = _el(info, "CustomDatas")
    for name, value in metadata.items():
        _el(customs, "CustomData", value, Name=name)
    _el(body, "DocRoot", "Doc_0/Document.xml")
    stamp = (max(utc.year, 1980), utc.month, utc.day, utc.hour, utc.minute, utc.second - utc.second % 2)
    files: list[tuple[str, bytes]] = [("OFD.xml", _xml(ofd)), ("Doc_0/Document.xml", _xml(doc)),
                                      ("Doc_0/PublicRes.xml", _xml(res)), ("Doc_0/Res/font_0.ttf", sub.data)]
    if qr_png is not None:
        files.append(("Doc_0/Res/qr.png", qr_png))
    files += [(f"Doc_0/Pages/Page_{i}/Content.xml", p) for i, p in enumerate(pages)]
    return write_package(OfdEntry(name=n, data=d, date_time=stamp) for n, d in files)
