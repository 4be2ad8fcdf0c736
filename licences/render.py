"""Render a licence as files for people: PDF and OFD with Chinese text, the authority's seal and a QR code.

What a rendered licence holds (one A4 page, more if the fields need them): the type name (zh and
en), the identifier, the licence number, every field with its Chinese label from the catalogue, the
issuing authority, issuing date and validity, a QR code carrying the signed ``ESL1:`` token
(:mod:`esign.qr`; verifiable offline by :func:`verifier.licence_qr.verify_licence_qr`), and the
authority's seal as a visible stamp over its name and date:

- PDF: :func:`render_licence_pdf` writes the page with an embedded CJK font subset
  (:mod:`licences.fonts`, :mod:`licences._render_pdf`), then signs it with
  :func:`esign.pdf.sign_pdf` using the authority's key and a :class:`~esign.pdf.StampSpec` with the
  seal picture (SM2 -> ``adbe.pkcs7.detached``; P-256 -> PAdES B-B).
- OFD: :func:`render_licence_ofd` writes the package (:mod:`licences._render_ofd`: font subset
  embedded as ``FontFile``, QR as PNG ``MultiMedia``, GB/T 36903 metadata as ``CustomDatas``) and
  signs it with the GB/T 38540 seal through :func:`esign.ofd.sign_ofd` (``protect="all"``).

The QR holds the token itself, not a URL: a token is verifiable without network, and its text
stays in the QR alphanumeric set (a URL would force byte mode, about 40% more modules).

Text the font cannot show is refused (:class:`~licences.fonts.FontCoverageError` naming the
field), never drawn as empty boxes. Times come from ``at``; the same input gives the same bytes
before signing.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

import segno

from esign.formats.licence_qr import LicenceQrClaims
from esign.ofd import sign_ofd
from esign.pdf import StampSpec, sign_pdf
from esign.ports import SealRegister
from esign.ses import load_checked_seal
from keys.errors import BadInputError
from keys.interfaces import SigningKey
from licences._render_layout import PAGE_H, SEAL_BOX, layout, zh_date
from licences._render_ofd import build_ofd
from licences._render_pdf import build_pdf
from licences.catalogue import FieldType, LicenceType
from licences.fonts import CjkFont, load_cjk_font
from licences.model import Licence

__all__ = [
    "QR_CACHE_SIZE",
    "QR_ERROR_LEVEL",
    "QR_MASK",
    "QR_PNG_SCALE",
    "LicenceView",
    "SealingAuthority",
    "qr_claims_of",
    "qr_png",
    "qr_version",
    "render_licence_ofd",
    "render_licence_pdf",
    "render_page_pdf",
    "view_of",
]

#: QR error-correction level (M: 15% of the code may be damaged).
QR_ERROR_LEVEL = "m"
#: QR mask pattern (fixed, see :func:`_qr`).
QR_MASK = 2
#: QR codes kept (a PDF and an OFD of one licence share one).
QR_CACHE_SIZE = 64
#: Pixels per module in the QR PNG.
QR_PNG_SCALE = 4
#: Longest licence field value printed.
MAX_VALUE_CHARS = 1000
#: Most fields printed.
MAX_VIEW_FIELDS = 64


@dataclass(frozen=True)
class LicenceView:
    """What a rendered licence shows (built from a :class:`~licences.model.Licence` by :func:`view_of`)."""

    type_name_zh: str
    """证照名称."""
    type_name_en: str
    """English type name."""
    identifier: str
    """证照标识."""
    number: str
    """证照编号."""
    fields: tuple[tuple[str, str, str], ...]
    """(field name, Chinese label, printed value) in catalogue order."""
    issuer_name: str
    """证照颁发机构."""
    issued_on: date
    """证照颁发日期."""
    valid_from: date
    """有效期起始."""
    valid_until: date | None
    """有效期截止 (``None``: long-term)."""
    qr_text: str = field(repr=False)
    """The signed ``ESL1:`` token the QR code carries."""
    metadata: Mapping[str, str] = field(default_factory=dict, repr=False)
    """GB/T 36903 metadata by element code (written into the OFD ``CustomDatas``)."""

    def __post_init__(self) -> None:
        if len(self.fields) > MAX_VIEW_FIELDS:
            raise BadInputError(f"at most {MAX_VIEW_FIELDS} fields", message_zh="字段过多", field="fields")
        for code, _label, value in self.fields:
            if len(value) > MAX_VALUE_CHARS:
                raise BadInputError(f"{code}: longer than {MAX_VALUE_CHARS} characters", message_zh="字段值过长",
                                    field=f"fields.{code}")
        if not self.qr_text.isascii():
            raise BadInputError("the QR text must be ASCII (an ESL1: token)", message_zh="二维码内容错误",
                                field="qr_text")


@dataclass(frozen=True)
class SealingAuthority:
    """The issuing authority's signing material."""

    key: SigningKey = field(repr=False)
    """Its signing key (SM2 by default; P-256 where a policy says so)."""
    cert_der: bytes = field(repr=False)
    """Certificate of the key."""
    chain: tuple[bytes, ...] = field(default=(), repr=False)
    """Intermediate certificates to embed in the PDF signature."""
    seal_der: bytes | None = field(default=None, repr=False)
    """Its GB/T 38540 seal (required for OFD; the PDF stamp uses its picture unless ``seal_picture``)."""
    seal_picture: bytes | None = field(default=None, repr=False)
    """PNG/GIF/JPEG seal picture for the PDF stamp."""

    def picture(self) -> bytes:
        """The picture for the PDF stamp."""
        if self.seal_picture is not None:
            return self.seal_picture
        if self.seal_der is None:
            raise BadInputError("a seal or a seal picture is needed for the visible stamp",
                                message_zh="需要印章或印章图片以显示签章", field="seal")
        pic = load_checked_seal(self.seal_der).picture
        if pic.type.upper() not in ("PNG", "GIF", "JPG", "JPEG"):
            raise BadInputError(f"the seal picture is {pic.type}; the PDF stamp needs PNG, GIF or JPEG",
                                message_zh="PDF 签章需要 PNG、GIF 或 JPEG 印章图片", field="seal_picture")
        return pic.data


# --- from the domain -------------------------------------------------------------------------------


def _printed(spec_type: FieldType, value: str | int) -> str:
    if spec_type is FieldType.DATE and isinstance(value, str):
        try:
            return zh_date(date.fromisoformat(value))
        except ValueError:
            return value
    return str(value)


def view_of(licence: Licence, licence_type: LicenceType, *, qr_text: str) -> LicenceView:
    """The view of a stored licence, fields in catalogue order with their Chinese labels."""
    rows = tuple((s.name, s.label_zh or s.name, _printed(s.type, licence.fields[s.name]))
                 for s in licence_type.fields if s.name in licence.fields)
    meta = {"ZZBS": licence.licence_id, "ZZMC": licence.type_name, "ZZLXDM": licence.type_code,
            "ZZBH": licence.number, "ZZBFJG": licence.issuer_name, "ZZBFJGDM": licence.issuer_code,
            "ZZBFRQ": licence.issued_on.isoformat(), "ZZYXQQSRQ": licence.valid_from.isoformat(),
            "ZZYXQJZRQ": licence.valid_until.isoformat() if licence.valid_until else "长期",
            "BBH": f"{licence.version:03d}", "ZZSSSD": licence.region}
    return LicenceView(type_name_zh=licence_type.name_zh, type_name_en=licence_type.name_en,
                       identifier=licence.licence_id, number=licence.number, fields=rows,
                       issuer_name=licence.issuer_name, issued_on=licence.issued_on, valid_from=licence.valid_from,
                       valid_until=licence.valid_until, qr_text=qr_text, metadata=meta)


def qr_claims_of(licence: Licence, licence_type: LicenceType, *, status_uri: str | None,
                 issued_at: datetime | None = None, expires_at: datetime | None = None) -> LicenceQrClaims:
    """Claims of the QR token for ``licence``: only the fields the catalogue allows in a QR.

    ``issued_at`` defaults to the licence's signing time and ``expires_at`` to the end of its last
    valid day (Beijing time, UTC+8); a wallet's dynamic 亮证 code passes a short ``expires_at``.
    """
    allowed = set(licence_type.qr_fields)
    disclosed: dict[str, str | int] = {k: v for k, v in licence.fields.items() if k in allowed}
    if expires_at is None and licence.valid_until is not None:
        expires_at = datetime.combine(licence.valid_until + timedelta(days=1), time(), UTC) - timedelta(hours=8)
    return LicenceQrClaims(identifier=licence.licence_id, region=licence.region,
                           issued_at=issued_at or licence.issued_at, expires_at=expires_at, disclosed=disclosed,
                           status_index=licence.status_index if status_uri else None, status_uri=status_uri)


# --- QR --------------------------------------------------------------------------------------------


@lru_cache(maxsize=QR_CACHE_SIZE)
def _qr(text: str) -> segno.QRCode:
    # A fixed mask: the payload is compressed, signed data (high entropy), for which the mask
    # penalty rules (ISO/IEC 18004 §7.8.3) barely differ between masks, and segno's pure-Python
    # evaluation of all eight costs ~70 ms, most of a render. Every mask decodes the same.
    try:
        return segno.make(text, error=QR_ERROR_LEVEL, micro=False, boost_error=False, mask=QR_MASK)
    except (ValueError, segno.DataOverflowError) as exc:
        raise BadInputError(f"the QR text cannot be encoded: {exc}", message_zh="二维码内容无法编码",
                            field="qr_text") from None


def qr_version(text: str) -> int:
    """QR version (1-40) that ``text`` needs at the error level used here."""
    return int(_qr(text).version)


def qr_png(text: str) -> bytes:
    """The QR code of ``text`` as a PNG (black on white, 4-module quiet zone)."""
    buf = io.BytesIO()
    _qr(text).save(buf, kind="png", scale=QR_PNG_SCALE, border=4)
    return buf.getvalue()


def _qr_matrix(text: str) -> list[list[int]]:
    return [list(row) for row in _qr(text).matrix_iter(scale=1, border=4)]


# --- files -----------------------------------------------------------------------------------------


def _title(view: LicenceView) -> str:
    return f"{view.type_name_zh} {view.identifier}"


def render_page_pdf(view: LicenceView, *, at: datetime, with_qr: bool = True, font: CjkFont | None = None) -> bytes:
    """The unsigned PDF page(s) of ``view`` (with or without the QR code)."""
    font = font or load_cjk_font()
    lay = layout(view, font, with_qr=with_qr)
    return build_pdf(lay, font, qr_matrix=_qr_matrix(view.qr_text) if with_qr else None, title=_title(view),
                     subject=view.identifier, author=view.issuer_name, at=at)


def render_licence_pdf(view: LicenceView, *, authority: SealingAuthority, at: datetime,
                       font: CjkFont | None = None) -> bytes:
    """The licence as a signed PDF with the seal stamp on the last page and the QR code.

    Raises:
        CjkFontMissingError: no CJK font installed.
        FontCoverageError: a text the font cannot show (``field`` names it).
        BadInputError, CertificateError: bad view, seal picture or signing material (from :func:`esign.pdf.sign_pdf`).
    """
    if at.tzinfo is None:
        raise BadInputError("at must be timezone-aware", message_zh="时间必须带时区", field="at")
    page = render_page_pdf(view, at=at, font=font)
    x, y, w, h = SEAL_BOX
    stamp = StampSpec(page=-1, x_mm=x, y_mm=PAGE_H - y - h, width_mm=w, height_mm=h, picture=authority.picture())
    return sign_pdf(page, key=authority.key, cert_der=authority.cert_der, chain=authority.chain, stamp=stamp, at=at,
                    field_name="LicenceSeal", reason="Licence issued (证照签发)")


def render_licence_ofd(view: LicenceView, *, authority: SealingAuthority, at: datetime,
                       font: CjkFont | None = None, seal_register: SealRegister | None = None) -> bytes:
    """The licence as an OFD file signed with the authority's seal (stamp on the last page).

    Raises:
        CjkFontMissingError, FontCoverageError: see :func:`render_licence_pdf`.
        BadInputError: no seal; SealNotValidError, SignerNotAuthorisedError, ...: from :func:`esign.ofd.sign_ofd`.
    """
    if at.tzinfo is None:
        raise BadInputError("at must be timezone-aware", message_zh="时间必须带时区", field="at")
    if authority.seal_der is None:
        raise BadInputError("an OFD licence needs the authority's GB/T 38540 seal",
                            message_zh="OFD 证照需要发证机关电子印章", field="seal")
    font = font or load_cjk_font()
    lay = layout(view, font)
    unsigned = build_ofd(lay, font, qr_png=qr_png(view.qr_text), title=_title(view), metadata=dict(view.metadata),
                         at=at)
    x, y, w, h = SEAL_BOX
    return sign_ofd(unsigned, seal_der=authority.seal_der, signer_key=authority.key,
                    signer_cert_der=authority.cert_der, page=len(lay.pages), x_mm=x, y_mm=y, width_mm=w, height_mm=h,
                    at=at, protect="all", seal_register=seal_register)

