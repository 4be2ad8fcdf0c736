"""Input checks, seal stamps and validation data for PDF signing (see :mod:`esign.pdf`)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import BinaryIO

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils import layout
from pyhanko.pdf_utils.generic import ArrayObject
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.stamp import StaticStampStyle, TextStampStyle

from keys.errors import BadInputError, CertificateError

__all__ = [
    "MAX_PDF_BYTES",
    "MAX_STAMP_PICTURE_BYTES",
    "MAX_STAMP_PICTURE_PIXELS",
    "MAX_STAMP_TEXT",
    "BrokenPdfError",
    "EncryptedPdfError",
    "NotAPdfError",
    "PdfInputError",
    "StampSpec",
    "ValidationData",
    "open_pdf",
    "page_box",
    "stamp_style",
]

#: Largest PDF accepted by the library (the HTTP layer has its own, smaller upload limit).
MAX_PDF_BYTES = 2 << 30
#: Largest seal picture file accepted.
MAX_STAMP_PICTURE_BYTES = 4 << 20
#: Largest seal picture in pixels (width x height), against decompression bombs.
MAX_STAMP_PICTURE_PIXELS = 4_000_000
#: Longest stamp caption.
MAX_STAMP_TEXT = 200
#: Largest stamp side in millimetres.
MAX_STAMP_MM = 300.0
#: Where ``%PDF-`` must appear (ISO 32000 readers tolerate a little leading junk).
_HEADER_WINDOW = 1024
_MM = 72.0 / 25.4


class PdfInputError(BadInputError):
    """The input cannot be signed as given."""

    code = "bad_pdf"
    default_zh = "PDF 文件无法处理"


class NotAPdfError(PdfInputError):
    """The input is not a PDF file at all."""

    code = "not_a_pdf"
    default_zh = "输入不是 PDF 文件"


class BrokenPdfError(PdfInputError):
    """The input starts like a PDF but its structure cannot be read."""

    code = "broken_pdf"
    default_zh = "PDF 文件已损坏"


class EncryptedPdfError(PdfInputError):
    """The PDF is encrypted; esign signs only unencrypted documents."""

    code = "encrypted_pdf"
    default_zh = "PDF 文件已加密，无法签名"


def _size(stream: BinaryIO) -> int:
    pos = stream.tell()
    stream.seek(0, io.SEEK_END)
    end = stream.tell()
    stream.seek(pos)
    return end


def open_pdf(stream: BinaryIO) -> PdfFileReader:
    """Read a PDF for signing; raise a :class:`PdfInputError` subclass with a plain reason."""
    size = _size(stream)
    if size > MAX_PDF_BYTES:
        raise PdfInputError(f"the PDF is larger than {MAX_PDF_BYTES >> 20} MiB", message_zh="PDF 文件过大",
                            field="file")
    stream.seek(0)
    head = stream.read(_HEADER_WINDOW)
    if b"%PDF-" not in head:
        raise NotAPdfError("the input is not a PDF file (no %PDF- header)", field="file")
    stream.seek(0)
    try:
        reader = PdfFileReader(stream, strict=True)
        encrypted = reader.encrypted
        if not encrypted:
            pages = reader.root["/Pages"]
            _ = int(pages["/Count"])
    except (PdfError, KeyError, ValueError, TypeError, IndexError, AttributeError) as exc:
        raise BrokenPdfError(f"the PDF cannot be read: {_reason(exc)}", field="file") from None
    if encrypted:
        raise EncryptedPdfError(
            "the PDF is encrypted; decrypt it first (esign does not sign encrypted PDFs)", field="file"
        )
    return reader


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


def page_box(reader: PdfFileReader, page_index: int) -> tuple[float, float, float, float]:
    """The MediaBox of page ``page_index`` (0-based) as floats."""
    try:
        page_ref, _ = reader.find_page_for_modification(page_index)
        obj = page_ref.get_object()
        box = None
        while obj is not None and box is None:
            box = obj.get("/MediaBox")
            obj = obj.get("/Parent")
            obj = obj.get_object() if obj is not None else None
        if not isinstance(box, ArrayObject) or len(box) != 4:
            raise BrokenPdfError("a page has no MediaBox", field="file")
        x1, y1, x2, y2 = (float(v) for v in box)
    except (PdfError, KeyError, ValueError, TypeError, IndexError) as exc:
        raise BrokenPdfError(f"page {page_index + 1} cannot be read: {_reason(exc)}", field="file") from None
    return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)


@dataclass(frozen=True)
class StampSpec:
    """A visible seal stamp: where it goes and what it shows."""

    page: int = 1
    """Page number, 1-based (``-1`` = last page)."""
    x_mm: float = 20.0
    """Left edge, millimetres from the page's left edge."""
    y_mm: float = 20.0
    """Bottom edge, millimetres from the page's bottom edge (PDF coordinates)."""
    width_mm: float = 40.0
    """Stamp width in millimetres (a standard round seal is 40-42 mm)."""
    height_mm: float = 40.0
    """Stamp height in millimetres."""
    picture: bytes | None = field(default=None, repr=False)
    """The seal picture (PNG, GIF or JPEG bytes), drawn to fill the box; ``None`` = text only."""
    text: str | None = None
    """Caption drawn over the picture (Latin-1 only: the built-in font has no CJK glyphs)."""

    def __post_init__(self) -> None:
        # Checked here, outside the signing try-block, so a caller's mistake is never reported
        # as a broken PDF.
        if self.picture is not None and not isinstance(self.picture, bytes):
            raise TypeError(f"StampSpec.picture must be bytes, not {type(self.picture).__name__}")
        if self.width_mm <= 0 or self.height_mm <= 0:
            raise BadInputError("the stamp needs a positive width and height", message_zh="印章尺寸必须为正数",
                                field="stamp")

    def box(self, reader: PdfFileReader) -> tuple[int, tuple[int, int, int, int]]:
        """The 0-based page index and the field rectangle in points; checks both."""
        count = int(reader.root["/Pages"]["/Count"])
        page = count if self.page == -1 else self.page
        if not 1 <= page <= count:
            raise BadInputError(f"page {self.page} does not exist (the PDF has {count})",
                                message_zh=f"页码 {self.page} 不存在（共 {count} 页）", field="page")
        for name, v in (("width_mm", self.width_mm), ("height_mm", self.height_mm)):
            if not 1.0 <= v <= MAX_STAMP_MM:
                raise BadInputError(f"{name} must be between 1 and {MAX_STAMP_MM:g} mm",
                                    message_zh="印章尺寸超出范围", field=name)
        px1, py1, px2, py2 = page_box(reader, page - 1)
        x1 = px1 + self.x_mm * _MM
        y1 = py1 + self.y_mm * _MM
        x2 = x1 + self.width_mm * _MM
        y2 = y1 + self.height_mm * _MM
        if self.x_mm < 0 or self.y_mm < 0 or x2 > px2 + 0.5 or y2 > py2 + 0.5:
            raise BadInputError("the stamp does not fit on the page", message_zh="印章位置超出页面范围",
                                field="x")
        return page - 1, (round(x1), round(y1), round(x2), round(y2))


def _picture(data: bytes) -> PdfImage:
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_STAMP_PICTURE_BYTES:
        raise BadInputError("the seal picture is larger than 4 MiB", message_zh="印章图片过大", field="stamp")
    try:
        img = Image.open(io.BytesIO(data))
        if img.format not in ("PNG", "GIF", "JPEG"):
            raise BadInputError(f"the seal picture must be PNG, GIF or JPEG, not {img.format}",
                                message_zh="印章图片格式须为 PNG、GIF 或 JPEG", field="stamp")
        if img.width * img.height > MAX_STAMP_PICTURE_PIXELS:
            raise BadInputError("the seal picture has too many pixels", message_zh="印章图片像素过多", field="stamp")
        img.load()
        img = img.convert("RGBA")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise BadInputError("the seal picture is not an image", message_zh="印章图片不是有效的图像",
                            field="stamp") from None
    return PdfImage(img, writer=None)


def stamp_style(spec: StampSpec) -> TextStampStyle | StaticStampStyle:
    """The pyHanko appearance for ``spec``: the seal picture, with the caption if any."""
    text = spec.text
    if text is not None:
        if len(text) > MAX_STAMP_TEXT:
            raise BadInputError(f"stamp text is longer than {MAX_STAMP_TEXT} characters",
                                message_zh="印章文字过长", field="text")
        try:
            text.encode("latin-1")
        except UnicodeEncodeError:
            raise BadInputError(
                "stamp text must be Latin-1 (the built-in PDF font has no CJK glyphs; put Chinese in the picture)",
                message_zh="印章文字仅支持拉丁字符（内置字体无中文字形，请将中文放在印章图片中）", field="text",
            ) from None
        text = text.replace("%", "%%")
    if spec.picture is None:
        return TextStampStyle(stamp_text=text or "Signed by %(signer)s\n%(ts)s", border_width=1)
    picture = _picture(spec.picture)
    fill = layout.SimpleBoxLayoutRule(
        x_align=layout.AxisAlignment.ALIGN_MID, y_align=layout.AxisAlignment.ALIGN_MID,
        margins=layout.Margins.uniform(0), inner_content_scaling=layout.InnerScaling.SHRINK_TO_FIT,
    )
    if not text:
        return StaticStampStyle(background=picture, background_layout=fill, border_width=0, background_opacity=1.0)
    return TextStampStyle(stamp_text=text, background=picture, background_layout=fill, border_width=0,
                          background_opacity=1.0)


@dataclass(frozen=True)
class ValidationData:
    """Certificates, CRLs and OCSP responses to embed for B-LT / B-LTA (all DER)."""

    certs: tuple[bytes, ...] = ()
    """CA and TSA certificates to add to the DSS (signer chains are added anyway)."""
    crls: tuple[bytes, ...] = ()
    """CRLs covering the signer's and the TSA's chains."""
    ocsps: tuple[bytes, ...] = ()
    """DER OCSPResponse values."""

    @property
    def empty(self) -> bool:
        """True when there is no revocation data at all."""
        return not self.crls and not self.ocsps

    def parsed(self) -> tuple[list[asn1_x509.Certificate], list[asn1_crl.CertificateList],
                              list[asn1_ocsp.OCSPResponse]]:
        """asn1crypto objects for pyHanko's DSS writer; typed errors if any is malformed."""
        try:
            certs = [asn1_x509.Certificate.load(bytes(c), strict=True) for c in self.certs]
            crls = [asn1_crl.CertificateList.load(bytes(c), strict=True) for c in self.crls]
            ocsps = [asn1_ocsp.OCSPResponse.load(bytes(o), strict=True) for o in self.ocsps]
            for c in certs:
                _ = c.serial_number
            for c in crls:
                _ = c["tbs_cert_list"]["this_update"].native
            for o in ocsps:
                _ = o["response_status"].native
        except (ValueError, TypeError, KeyError) as exc:
            raise CertificateError(f"validation data is malformed: {_reason(exc)}",
                                   message_zh="验证数据（证书/CRL/OCSP）格式错误", field="validation_data") from None
        return certs, crls, ocsps
