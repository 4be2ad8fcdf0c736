"""Rendered licence files: real Chinese text in an embedded CJK font, the seal, a QR that verifies offline."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tempfile
import zipfile
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image, ImageDraw

from esign.qr import make_licence_qr
from esign.ses import make_seal
from keys.errors import BadInputError
from keys.keypairs import generate_key
from keys.x509 import build_certificate, ext_basic_constraints, ext_key_usage, make_name, parse_certificate
from licences.catalogue import national_types
from licences.fonts import DEBIAN_PACKAGE, CjkFontMissingError, FontCoverageError, load_cjk_font
from licences.model import Licence, LicenceStatus
from licences.render import (
    LicenceView,
    SealingAuthority,
    qr_claims_of,
    qr_png,
    qr_version,
    render_licence_ofd,
    render_licence_pdf,
    render_page_pdf,
    view_of,
)
from tests._services import require_service
from verifier.licence_qr import StatusSnapshot, verify_licence_qr
from verifier.ofd import verify_ofd
from verifier.pdf import verify_pdf
from verifier.pki import TrustStore
from verifier.report import Indication

T0 = datetime(2025, 1, 1, tzinfo=UTC)
AT = T0 + timedelta(days=10)
CHECK = AT + timedelta(days=1)
URI = "https://zz.example.gov.cn/status/110000-gaj"
IDENT = "1.2.156.3005.2.11100000000013127D002.11110000000021135M.2025000123.001.U"


def _font_or_skip():
    try:
        return load_cjk_font()
    except CjkFontMissingError as exc:
        require_service("CJK font", False, f"{exc.message} (Debian package {DEBIAN_PACKAGE})")


def _tool(name: str) -> str:
    path = shutil.which(name)
    require_service(name, path is not None, "install the Debian package poppler-utils")
    assert path is not None
    return path


def _seal_png() -> bytes:
    img = Image.new("RGBA", (240, 240), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.ellipse((6, 6, 234, 234), outline=(210, 0, 0, 255), width=9)
    d.regular_polygon((120, 120, 36), 5, fill=(210, 0, 0, 255))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def pki():
    rk = generate_key("sm2")
    rn = make_name("C=CN,O=esign test,CN=Licence Render Root")
    root = build_certificate(subject=rn, issuer=rn, subject_spki=rk.public_key().spki_der(), issuer_key=rk,
                             not_before=T0, not_after=T0 + timedelta(days=3650),
                             extensions=[ext_basic_constraints(ca=True), ext_key_usage(["key_cert_sign", "crl_sign"])])

    def leaf(cn: str):
        k = generate_key("sm2")
        c = build_certificate(subject=make_name(f"C=CN,O=esign test,CN={cn}"), issuer=rn,
                              subject_spki=k.public_key().spki_der(), issuer_key=rk, not_before=T0,
                              not_after=T0 + timedelta(days=730),
                              extensions=[ext_basic_constraints(ca=False),
                                          ext_key_usage(["digital_signature", "non_repudiation"])])
        return k, c

    mk, mc = leaf("Seal Maker")
    sk, sc = leaf("Beijing Traffic Police")
    picture = _seal_png()
    seal = make_seal(maker_key=mk, maker_cert_der=mc, seal_id="11000000000000000001", seal_type=1,
                     name="北京市公安局公安交通管理局", signer_certs=[sc], valid_from=T0,
                     valid_to=T0 + timedelta(days=365), picture=picture, width_mm=42, height_mm=42,
                     at=T0 + timedelta(hours=1))
    return {"authority": SealingAuthority(key=sk, cert_der=sc, seal_der=seal), "key": sk, "cert": sc,
            "trust": TrustStore.of([parse_certificate(root)]), "cert_obj": parse_certificate(sc)}


@pytest.fixture(scope="module")
def licence():
    t = next(x for x in national_types() if x.code == "11100000000013127D002")
    fields = {"name": "张三", "sex": "男", "nationality": "中国", "id_number": "11010519491231002X",
              "address": "北京市朝阳区建国门外大街1号国贸大厦A座1001室", "birth_date": "1949-12-31",
              "first_issued_on": "2010-05-06", "vehicle_class": "C1"}
    lic = Licence(licence_id=IDENT, type_code=t.code, type_name=t.name_zh, number="11010519491231002X",
                  holder_name="张三", holder_id="11010519491231002X", holder_id_type="111",
                  authority_id="bj-gaj", issuer_name="北京市公安局公安交通管理局", issuer_code="11110000000021135M",
                  region="110000", serial="2025000123", version=1, issued_at=AT, valid_from=AT.date(),
                  valid_until=date(2031, 1, 11), status=LicenceStatus.VALID, status_index=9, fields=fields,
                  document=b"", signed=b"")
    return lic, t


@pytest.fixture(scope="module")
def view(pki, licence):
    _font_or_skip()
    lic, t = licence
    claims = qr_claims_of(lic, t, status_uri=URI)
    token = make_licence_qr(claims, key=pki["key"], cert_der=pki["cert"])
    return view_of(lic, t, qr_text=token)


@pytest.fixture(scope="module")
def signed_pdf(pki, view) -> bytes:
    return render_licence_pdf(view, authority=pki["authority"], at=AT)


def _status() -> StatusSnapshot:
    return StatusSnapshot(uri=URI, lst=bytes(64), bits=2)


def _verify_token(text: str, pki) -> Indication:
    return verify_licence_qr(text, trust=TrustStore.of([pki["cert_obj"]]), at=CHECK, status_list=_status()).indication


def _run(tool: str, *args: str) -> str:
    return subprocess.run([_tool(tool), *args], capture_output=True, text=True, check=True, timeout=60).stdout


# --- domain -> view and claims ----------------------------------------------------------------------


def test_claims_disclose_only_qr_fields(licence) -> None:
    lic, t = licence
    claims = qr_claims_of(lic, t, status_uri=URI)
    assert set(claims.disclosed) == set(t.qr_fields) & set(lic.fields)
    assert "id_number" not in claims.disclosed and "address" not in claims.disclosed
    assert claims.status_index == 9 and claims.status_uri == URI
    assert claims.expires_at == datetime(2031, 1, 11, 16, 0, tzinfo=UTC)  # end of 2031-01-11, UTC+8


def test_view_has_labels_in_catalogue_order(view) -> None:
    labels = [label for _, label, _ in view.fields]
    assert labels[:2] == ["姓名", "性别"]
    assert ("birth_date", "出生日期", "1949年12月31日") in view.fields
    assert view.metadata["ZZBS"] == IDENT


# --- PDF -------------------------------------------------------------------------------------------


def test_pdf_has_real_chinese_text(signed_pdf, view) -> None:
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "l.pdf"
        f.write_bytes(signed_pdf)
        text = _run("pdftotext", "-enc", "UTF-8", str(f), "-")
        fonts = _run("pdffonts", str(f))
    for expected in ("机动车驾驶证", "张三", "准驾车型", "北京市公安局公安交通管理局", "2031年01月11日", IDENT,
                     "扫码核验"):
        assert expected in text.replace("\n", " ") or expected in text, expected
    rows = [r for r in fonts.splitlines() if "WenQuanYi" in r or "CID TrueType" in r]
    assert rows and all(" yes yes yes " in r for r in rows), fonts


def test_pdf_signature_verifies_with_the_seal_stamp(signed_pdf, pki) -> None:
    report = verify_pdf(signed_pdf, trust=pki["trust"], at=CHECK)
    assert report.indication is Indication.TOTAL_PASSED, report.reason.en
    assert b"/LicenceSeal" in signed_pdf or b"(LicenceSeal)" in signed_pdf
    tampered = signed_pdf.replace(b"/Count 1", b"/Count 2", 1)
    assert verify_pdf(tampered, trust=pki["trust"], at=CHECK).indication is not Indication.TOTAL_PASSED


def test_qr_decodes_from_png_and_from_the_rasterised_page(signed_pdf, view, pki) -> None:
    got = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr_png(view.qr_text))))
    assert [b.text for b in got] == [view.qr_text]
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "l.pdf"
        f.write_bytes(signed_pdf)
        _run("pdftoppm", "-r", "150", "-gray", "-png", str(f), str(Path(d) / "p"))
        page = next(Path(d).glob("p*.png"))
        decoded = [b.text for b in zxingcpp.read_barcodes(Image.open(page))]
    assert decoded == [view.qr_text]
    assert _verify_token(decoded[0], pki) is Indication.TOTAL_PASSED
    assert qr_version(view.qr_text) <= 13


def test_unsigned_page_is_deterministic_and_the_qr_is_optional(view) -> None:
    a = render_page_pdf(view, at=AT)
    assert a == render_page_pdf(view, at=AT)
    bare = render_page_pdf(view, at=AT, with_qr=False)
    assert b"/Im1" in a and b"/Im1" not in bare


def test_long_content_flows_onto_more_pages(view, pki) -> None:
    many = tuple((f"f{i}", f"附加字段{i}", "北京市朝阳区" * 12) for i in range(20))
    pdf = render_licence_pdf(replace(view, fields=many), authority=pki["authority"], at=AT)
    pages = re.search(rb"/Type /Pages /Kids \[[^\]]*\] /Count (\d+)", pdf)
    assert pages is not None and int(pages.group(1)) >= 2
    assert verify_pdf(pdf, trust=pki["trust"], at=CHECK).indication is Indication.TOTAL_PASSED
    with pytest.raises(BadInputError):
        replace(view, fields=tuple((f"f{i}", "字段", "长" * 1001) for i in range(2)))


def test_missing_glyph_is_refused_naming_the_field(view, pki) -> None:
    odd = replace(view, fields=((*view.fields[0][:2], "张\U0001F600"), *view.fields[1:]))
    with pytest.raises(FontCoverageError) as exc:
        render_licence_pdf(odd, authority=pki["authority"], at=AT)
    assert exc.value.field == "fields.name"


def test_missing_font_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(CjkFontMissingError) as exc:
        load_cjk_font(tmp_path / "nope.ttc")
    assert DEBIAN_PACKAGE in exc.value.message and exc.value.http_status == 503
    bogus = tmp_path / "bogus.ttf"
    bogus.write_bytes(b"\x00\x01\x00\x00" + b"\x00" * 60)
    with pytest.raises(CjkFontMissingError):
        load_cjk_font(bogus)


def test_font_subset_is_a_valid_truetype_font() -> None:
    font = _font_or_skip()
    from fontTools.ttLib import TTFont

    sub = font.subset(ord(c) for c in "中华人民共和国证照ABC123：")
    tt = TTFont(io.BytesIO(sub.data))
    cmap = tt.getBestCmap()
    assert {chr(c) for c in cmap} == set("中华人民共和国证照ABC123：")
    assert all(cmap[ord(c)] == tt.getGlyphOrder()[sub.gid_of[ord(c)]] for c in "中证A")
    assert tt["maxp"].numGlyphs == len(sub.widths) >= 19


# --- OFD -------------------------------------------------------------------------------------------


def test_ofd_renders_and_verifies_with_the_seal(pki, view) -> None:
    ofd = render_licence_ofd(view, authority=pki["authority"], at=AT)
    report = verify_ofd(ofd, trust=pki["trust"], at=CHECK)
    assert report.indication is Indication.TOTAL_PASSED, report.reason.en
    with zipfile.ZipFile(io.BytesIO(ofd)) as z:
        names = set(z.namelist())
        content = z.read("Doc_0/Pages/Page_0/Content.xml").decode()
        res = z.read("Doc_0/PublicRes.xml").decode()
        ofd_xml = z.read("OFD.xml").decode()
        png = z.read("Doc_0/Res/qr.png")
    assert {"Doc_0/Res/font_0.ttf", "Doc_0/Signs/Sign_0/SignedValue.dat"} <= names
    assert "机动车驾驶证" in content and "张三" in content and "ImageObject" in content
    assert "FontFile" in res and "MultiMedia" in res
    assert f'Name="ZZBS">{IDENT}<' in ofd_xml
    decoded = [b.text for b in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]
    assert decoded == [view.qr_text] and _verify_token(decoded[0], pki) is Indication.TOTAL_PASSED


def test_tampered_ofd_fails(pki, view) -> None:
    ofd = render_licence_ofd(view, authority=pki["authority"], at=AT)
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(ofd)) as src, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for i in src.infolist():
            data = src.read(i)
            if i.filename.endswith("Content.xml"):
                data = data.replace("张三".encode(), "李四".encode())
            dst.writestr(i.filename, data)
    assert verify_ofd(buf.getvalue(), trust=pki["trust"], at=CHECK).indication is Indication.TOTAL_FAILED


def test_ofd_needs_a_seal(pki, view) -> None:
    with pytest.raises(BadInputError):
        render_licence_ofd(view, authority=replace(pki["authority"], seal_der=None), at=AT)


def test_view_rejects_non_ascii_qr_text(view) -> None:
    with pytest.raises(BadInputError):
        LicenceView(**{**view.__dict__, "qr_text": "证照"})
