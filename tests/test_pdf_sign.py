"""PDF signing (esign.pdf): every level x algorithm, stamps, DocMDP, several signers, PKCS#11,
remote three-step signing, bad input, DSS contents, and B-LTA checked years later offline.

Standard-algorithm files are checked with pyHanko's validator and poppler's ``pdfsig``; SM2 files
(which neither understands) by recomputing the SM3 byte-range digest and checking the SM2
signature over the signed attributes with :mod:`keys`.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import itertools
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import cms
from asn1crypto import x509 as ax
from cryptography.hazmat.primitives import hashes
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PdfFileWriter
from pyhanko.sign.fields import MDPPerm
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko_certvalidator import ValidationContext

from esign.pdf import (
    BrokenPdfError,
    EncryptedPdfError,
    NotAPdfError,
    StampSpec,
    ValidationData,
    extend_pdf,
    extend_pdf_file,
    finish_remote,
    prepare_remote,
    sign_pdf,
    sign_pdf_file,
)
from keys.algorithms import SignatureAlgorithm
from keys.ca import Region
from keys.errors import BadInputError, CertificateError, ConflictError, InvalidSignatureError
from keys.keypairs import generate_key
from keys.x509 import parse_certificate
from tests._services import require_service
from tests.softhsm import softhsm  # noqa: F401  (fixture)

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
STATE_KEY = b"k" * 32
SM3_OID = "1.2.156.10197.1.401"
SM2_SIG_OID = "1.2.156.10197.1.501"


# -- shared material ----------------------------------------------------------------------------


class TickingClock:
    """A clock for the TSA that moves 20 s per reading (timestamps follow the signing order)."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.n = 0

    def now(self) -> datetime:
        self.n += 1
        return self.start + timedelta(seconds=20 * self.n)


def blank_pdf(pages: int = 1) -> bytes:
    """A small A4 PDF with ``pages`` pages of text."""
    w = PdfFileWriter()
    for i in range(pages):
        text = f"BT /F1 12 Tf 72 720 Td (Page {i + 1}) Tj ET".encode()
        content = w.add_object(generic.StreamObject(stream_data=text))
        font = generic.DictionaryObject({generic.pdf_name("/Type"): generic.pdf_name("/Font"),
                                         generic.pdf_name("/Subtype"): generic.pdf_name("/Type1"),
                                         generic.pdf_name("/BaseFont"): generic.pdf_name("/Helvetica")})
        page = generic.DictionaryObject({
            generic.pdf_name("/Type"): generic.pdf_name("/Page"),
            generic.pdf_name("/MediaBox"): generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, 595, 842)]),
            generic.pdf_name("/Resources"): generic.DictionaryObject(
                {generic.pdf_name("/Font"): generic.DictionaryObject({generic.pdf_name("/F1"): font})}),
            generic.pdf_name("/Contents"): content,
        })
        w.insert_page(page)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def seal_png(size: int = 200) -> bytes:
    """A red round seal picture with a transparent background."""
    from PIL import Image, ImageDraw

    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.ellipse((4, 4, size - 4, size - 4), outline=(220, 0, 0, 255), width=8)
    d.regular_polygon((size / 2, size / 2, size / 6), 5, fill=(220, 0, 0, 255))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


class Pki:
    """A P-256 region, signer certificates of every algorithm, a TSA and CRLs."""

    def __init__(self, base: Path) -> None:
        self.region = Region.init(base / "region", region="440000", passphrase=b"test-passphrase", alg="p256",
                                  at=AT - timedelta(days=1), scrypt_n=2**10)
        self.ca = self.region.ca()
        self.chain = [self.ca.cert.der, self.region.root.cert.der]
        self.root = ax.Certificate.load(self.region.root.cert.der)
        self.keys: dict[str, tuple[object, bytes]] = {}
        self._n = itertools.count()
        for alg in ("p256", "rsa2048", "ed25519", "sm2"):
            self.keys[alg] = self.issue(alg)
        self.clock = TickingClock(AT)
        self.tsa = self.make_tsa(AT - timedelta(hours=1), self.clock)
        self.crls = self.fresh_crls(AT)

    def issue(self, alg: str, *, at: datetime = AT - timedelta(hours=2), profile: str = "enterprise_signer",
              days: int | None = None) -> tuple[object, bytes]:
        key = generate_key(alg)
        cert = self.ca.issue(subject={"C": "CN", "O": "Test Co", "CN": f"{alg} signer {next(self._n)}"},
                             profile=profile, public_key=key.public_key(), at=at, validity_days=days)
        return key, cert.der

    def make_tsa(self, at: datetime, clock: object) -> object:
        from esign.tsa import PyHankoLocalTimeStamper, TimeStampAuthority

        key, cert = self.issue("p256", at=at, profile="timestamping")
        tsa = TimeStampAuthority(key=key, cert_der=cert, chain=self.chain, policy_oid="1.2.156.112233.1.1",
                                 clock=clock)
        return PyHankoLocalTimeStamper(tsa)

    def fresh_crls(self, at: datetime) -> ValidationData:
        crls = (self.ca.issue_crl(at=at), self.region.root.issue_crl(at=at))
        return ValidationData(certs=tuple(self.chain), crls=crls)

    def sign(self, pdf: bytes, alg: str = "p256", **kw: object) -> bytes:
        key, cert = kw.pop("signer", None) or self.keys[alg]
        kw.setdefault("at", AT)
        kw.setdefault("chain", self.chain)
        if kw.get("level", "b-b") != "b-b":
            kw.setdefault("timestamper", self.tsa)
        if kw.get("level") in ("b-lt", "b-lta"):
            kw.setdefault("validation_data", self.crls)
        return sign_pdf(pdf, key=key, cert_der=cert, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pdfpki"))


@pytest.fixture(scope="module")
def pdf() -> bytes:
    return blank_pdf(2)


def reader(data: bytes) -> PdfFileReader:
    return PdfFileReader(io.BytesIO(data))


def vc(pki: Pki, moment: datetime, **kw: object) -> ValidationContext:
    return ValidationContext(trust_roots=[pki.root], moment=moment, allow_fetching=False, **kw)


def pdfsig(path: Path) -> str:
    exe = shutil.which("pdfsig")
    require_service("pdfsig", exe is not None, "pdfsig not on PATH (apt-get install poppler-utils)")
    res = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=60)
    return res.stdout + res.stderr


def first_signature_block(text: str) -> str:
    return text.split("Signature #2")[0]


# -- levels x algorithms ------------------------------------------------------------------------

LEVELS = ("b-b", "b-t", "b-lt", "b-lta")


@pytest.mark.parametrize("alg", ["p256", "rsa2048", "ed25519"])
@pytest.mark.parametrize("level", LEVELS)
def test_standard_algorithms_every_level_validate_in_pyhanko(pki: Pki, pdf: bytes, alg: str, level: str) -> None:
    out = pki.sign(pdf, alg, level=level)
    r = reader(out)
    sig = r.embedded_signatures[0]
    assert sig.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    status = validate_pdf_signature(sig, vc(pki, AT + timedelta(minutes=5)))
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert status.bottom_line
    if level == "b-b":
        assert status.timestamp_validity is None
    else:
        assert status.timestamp_validity is not None and status.timestamp_validity.valid
        assert status.timestamp_validity.trusted
    has_dss = "/DSS" in r.root
    assert has_dss is (level in ("b-lt", "b-lta"))
    doc_ts = r.embedded_timestamp_signatures
    assert len(doc_ts) == (1 if level == "b-lta" else 0)
    if doc_ts:
        ts_status = validate_pdf_timestamp(doc_ts[0], validation_context=vc(pki, AT + timedelta(minutes=5)))
        assert ts_status.valid and ts_status.intact and ts_status.trusted


def _cms_parts(sig) -> tuple[cms.SignerInfo, bytes]:
    si = sig.signer_info
    attrs = si["signed_attrs"]
    return si, b"\x31" + attrs.dump()[1:]


def check_sm2_signature(data: bytes, cert_der: bytes, index: int = 0) -> cms.SignerInfo:
    """SM3 over the byte range == messageDigest, and the SM2 signature verifies over the signed attributes."""
    r = reader(data)
    sig = r.embedded_signatures[index]
    assert sig.sig_object["/SubFilter"] == "/adbe.pkcs7.detached"
    si, signed = _cms_parts(sig)
    assert si["digest_algorithm"]["algorithm"].dotted == SM3_OID
    assert si["signature_algorithm"]["algorithm"].dotted == SM2_SIG_OID
    assert sig.signed_data["digest_algorithms"][0]["algorithm"].dotted == SM3_OID
    h = hashes.Hash(hashes.SM3())
    br = list(sig.byte_range)
    for start, length in zip(br[::2], br[1::2], strict=True):
        h.update(data[int(start):int(start) + int(length)])
    md = next(a["values"][0].native for a in si["signed_attrs"] if a["type"].native == "message_digest")
    assert md == h.finalize()
    parse_certificate(cert_der).public_key().verify(si["signature"].native, signed,
                                                    algorithm=SignatureAlgorithm.SM2_SM3)
    return si


@pytest.mark.parametrize("level", LEVELS)
def test_sm2_every_level(pki: Pki, pdf: bytes, level: str) -> None:
    out = pki.sign(pdf, "sm2", level=level)
    si = check_sm2_signature(out, pki.keys["sm2"][1])
    tst = [a for a in (si["unsigned_attrs"].native or []) if a["type"] == "signature_time_stamp_token"]
    assert bool(tst) is (level != "b-b")
    if tst:
        token = next(a for a in si["unsigned_attrs"] if a["type"].native == "signature_time_stamp_token")["values"][0]
        info = token["content"]["encap_content_info"]["content"].parsed
        assert info["message_imprint"]["hash_algorithm"]["algorithm"].dotted == SM3_OID
        h = hashes.Hash(hashes.SM3())
        h.update(si["signature"].native)
        assert info["message_imprint"]["hashed_message"].native == h.finalize()
    r = reader(out)
    assert ("/DSS" in r.root) is (level in ("b-lt", "b-lta"))
    assert len(r.embedded_timestamp_signatures) == (1 if level == "b-lta" else 0)


def test_tampered_sm2_pdf_fails_the_sm3_check(pki: Pki, pdf: bytes) -> None:
    out = bytearray(pki.sign(pdf, "sm2"))
    i = out.index(b"(Page 1)")
    out[i + 1] = ord("X")
    with pytest.raises(AssertionError):
        check_sm2_signature(bytes(out), pki.keys["sm2"][1])


# -- pdfsig -------------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["p256", "rsa2048"])
@pytest.mark.parametrize("level", ["b-b", "b-lta"])
def test_pdfsig_reports_valid(pki: Pki, pdf: bytes, tmp_path: Path, alg: str, level: str) -> None:
    out = pki.sign(pdf, alg, level=level, stamp=StampSpec(page=1, x_mm=30, y_mm=30, picture=seal_png(),
                                                          text="Test Co"))
    path = tmp_path / "s.pdf"
    path.write_bytes(out)
    text = first_signature_block(pdfsig(path))
    assert "Signature is Valid" in text, text
    assert "Total document signed" in text or level == "b-lta"


def test_pdfsig_detects_tampering(pki: Pki, pdf: bytes, tmp_path: Path) -> None:
    out = bytearray(pki.sign(pdf, "p256"))
    i = out.index(b"(Page 2)")
    out[i + 1] = ord("Q")
    path = tmp_path / "t.pdf"
    path.write_bytes(bytes(out))
    assert "Signature is Valid" not in pdfsig(path)


# -- stamp, DocMDP, several signers ---------------------------------------------------------------


def test_visible_stamp_is_a_widget_with_appearance_and_picture(pki: Pki, pdf: bytes) -> None:
    spec = StampSpec(page=2, x_mm=100, y_mm=50, width_mm=42, height_mm=42, picture=seal_png())
    out = pki.sign(pdf, "sm2", stamp=spec)
    r = reader(out)
    page = r.root["/Pages"]["/Kids"][1]
    annots = [a.get_object() for a in page["/Annots"]]
    widget = next(a for a in annots if a.get("/FT") == "/Sig")
    x1, y1, x2, y2 = (float(v) for v in widget["/Rect"])
    mm = 72 / 25.4
    assert abs(x1 - 100 * mm) < 1 and abs(y1 - 50 * mm) < 1
    assert abs((x2 - x1) - 42 * mm) < 1.5 and abs((y2 - y1) - 42 * mm) < 1.5
    ap = widget["/AP"]["/N"]
    assert isinstance(ap, generic.StreamObject)

    def images(xobj: generic.StreamObject) -> int:
        res = xobj.get("/Resources", generic.DictionaryObject())
        found = 0
        for o in (res.get("/XObject") or {}).values():
            o = o.get_object()
            found += 1 if o.get("/Subtype") == "/Image" else images(o)
        return found

    assert images(ap) >= 1
    check_sm2_signature(out, pki.keys["sm2"][1])


def test_stamp_outside_the_page_and_bad_picture_are_refused(pki: Pki, pdf: bytes) -> None:
    with pytest.raises(BadInputError, match="does not fit"):
        pki.sign(pdf, stamp=StampSpec(page=1, x_mm=190, y_mm=10))
    with pytest.raises(BadInputError, match="does not exist"):
        pki.sign(pdf, stamp=StampSpec(page=3))
    with pytest.raises(BadInputError, match="not an image"):
        pki.sign(pdf, stamp=StampSpec(page=1, picture=b"\x89PNG\r\n\x1a\nnot really"))
    with pytest.raises(BadInputError, match="Latin-1"):
        pki.sign(pdf, stamp=StampSpec(page=1, text="营业执照"))


def test_certification_then_approval(pki: Pki, pdf: bytes) -> None:
    certified = pki.sign(pdf, "p256", certify=True, docmdp_level=2, stamp=StampSpec(page=1, picture=seal_png()),
                         later_fields=[("Approver", StampSpec(page=1, x_mm=80))])
    assert reader(certified).embedded_signatures[0].docmdp_level == MDPPerm.FILL_FORMS
    both = pki.sign(certified, "rsa2048", field_name="Approver", stamp=StampSpec(page=1, x_mm=80, picture=seal_png()))
    sigs = reader(both).embedded_signatures
    assert len(sigs) == 2
    for s in sigs:
        st = validate_pdf_signature(s, vc(pki, AT + timedelta(minutes=5)))
        assert st.bottom_line, st.pretty_print_details()
    assert validate_pdf_signature(sigs[0], vc(pki, AT)).docmdp_ok


def test_no_changes_certification_refuses_a_second_signature(pki: Pki, pdf: bytes) -> None:
    locked = pki.sign(pdf, "p256", certify=True, docmdp_level=1)
    with pytest.raises(ConflictError):
        pki.sign(locked, "rsa2048")
    signed = pki.sign(pdf, "p256")
    with pytest.raises(ConflictError):
        pki.sign(signed, "rsa2048", certify=True)


def test_two_signers_in_turn_sm2_then_ecdsa(pki: Pki, pdf: bytes, tmp_path: Path) -> None:
    first = pki.sign(pdf, "sm2", level="b-t")
    second = pki.sign(first, "p256", level="b-t")
    r = reader(second)
    assert [s.field_name for s in r.embedded_signatures] == ["Signature1", "Signature2"]
    check_sm2_signature(second, pki.keys["sm2"][1], index=0)
    st = validate_pdf_signature(r.embedded_signatures[1], vc(pki, AT + timedelta(minutes=5)))
    assert st.bottom_line
    path = tmp_path / "two.pdf"
    path.write_bytes(second)
    assert "Signature is Valid" in pdfsig(path).split("Signature #2")[1]


# -- key sources ----------------------------------------------------------------------------------


@pytest.mark.softhsm
def test_pkcs11_ecdsa_key(pki: Pki, pdf: bytes, softhsm) -> None:  # noqa: F811
    from keys.pkcs11 import Pkcs11KeyStore

    store = Pkcs11KeyStore(softhsm.module, token_label=softhsm.label, pin=softhsm.pin)
    try:
        kid = f"pdf-{os.getpid()}"
        store.create_key(kid, alg="p256")
        key = store.signing_key(kid)
        cert = pki.ca.issue(subject={"CN": "hsm signer"}, profile="enterprise_signer", public_key=key.public_key(),
                            at=AT - timedelta(hours=1)).der
        out = pki.sign(pdf, signer=(key, cert), level="b-t")
        st = validate_pdf_signature(reader(out).embedded_signatures[0], vc(pki, AT + timedelta(minutes=5)))
        assert st.bottom_line and st.timestamp_validity.valid
    finally:
        store.close()


def test_file_key_store_key(pki: Pki, pdf: bytes, tmp_path: Path) -> None:
    from keys.keystore import FileKeyStore

    store = FileKeyStore(tmp_path / "ks", passphrase=b"store-passphrase", scrypt_n=2**10)
    store.create_key("440000.seal", alg="sm2")
    key = store.signing_key("440000.seal")
    cert = pki.ca.issue(subject={"CN": "store signer"}, profile="seal_maker", public_key=key.public_key(),
                        at=AT - timedelta(hours=1)).der
    check_sm2_signature(pki.sign(pdf, signer=(key, cert)), cert)


# -- remote signing -------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["p256", "sm2", "ed25519"])
@pytest.mark.parametrize("late", [False, True])
def test_remote_three_step(pki: Pki, pdf: bytes, alg: str, late: bool) -> None:
    key, cert = pki.keys[alg]
    prep = prepare_remote(pdf, cert_der=None if late else cert, key_type=key.key_type.value, chain=pki.chain,
                          level="b-t", state_key=STATE_KEY, at=AT, stamp=StampSpec(page=1, picture=seal_png()))
    assert prep.signature_algorithm == key.default_algorithm().algo_name
    signature = key.sign(prep.data_to_sign)
    if alg == "sm2" and not late:  # the digest handed out is e = SM3(Z || data): sign it raw
        signature = key.raw.sign_digest(prep.digest)
    out = finish_remote(prep.prepared_pdf, prep.state, signature, cert_der=cert, chain=pki.chain,
                        state_key=STATE_KEY, timestamper=pki.tsa, at=AT + timedelta(minutes=2))
    sig = reader(out).embedded_signatures[0]
    expected = "/adbe.pkcs7.detached" if (late or alg == "sm2") else "/ETSI.CAdES.detached"
    assert sig.sig_object["/SubFilter"] == expected
    if alg == "sm2":
        check_sm2_signature(out, cert)
    else:
        st = validate_pdf_signature(sig, vc(pki, AT + timedelta(minutes=5)))
        assert st.bottom_line and st.timestamp_validity.valid, st.pretty_print_details()


def test_remote_rejects_tampering_and_mismatches(pki: Pki, pdf: bytes) -> None:
    key, cert = pki.keys["p256"]
    prep = prepare_remote(pdf, cert_der=cert, chain=pki.chain, state_key=STATE_KEY, at=AT)
    good = key.sign(prep.data_to_sign)
    body, mac = prep.state.split(".")
    with pytest.raises(BadInputError, match="state"):
        finish_remote(prep.prepared_pdf, body[:-2] + "AA." + mac, good, cert_der=cert, state_key=STATE_KEY, at=AT)
    with pytest.raises(BadInputError, match="state"):
        finish_remote(prep.prepared_pdf, prep.state, good, cert_der=cert, state_key=b"other-key" * 4, at=AT)
    with pytest.raises(BadInputError, match="prepared PDF"):
        finish_remote(prep.prepared_pdf + b"\n", prep.state, good, cert_der=cert, state_key=STATE_KEY, at=AT)
    with pytest.raises(BadInputError, match="expired"):
        finish_remote(prep.prepared_pdf, prep.state, good, cert_der=cert, state_key=STATE_KEY,
                      at=AT + timedelta(days=2))
    with pytest.raises(InvalidSignatureError):
        finish_remote(prep.prepared_pdf, prep.state, pki.keys["p256"][0].sign(b"other"), cert_der=cert,
                      state_key=STATE_KEY, at=AT)
    other_key, other_cert = pki.issue("p256")
    with pytest.raises(CertificateError, match="differs"):
        finish_remote(prep.prepared_pdf, prep.state, other_key.sign(prep.data_to_sign), cert_der=other_cert,
                      state_key=STATE_KEY, at=AT)
    late = prepare_remote(pdf, key_type="p256", state_key=STATE_KEY, at=AT)
    with pytest.raises(CertificateError, match="needed"):
        finish_remote(late.prepared_pdf, late.state, key.sign(late.data_to_sign), state_key=STATE_KEY, at=AT)
    with pytest.raises(CertificateError, match="sm2"):
        finish_remote(late.prepared_pdf, late.state, key.sign(late.data_to_sign), cert_der=pki.keys["sm2"][1],
                      state_key=STATE_KEY, at=AT)


# -- bad input and refusals -----------------------------------------------------------------------


def encrypted_pdf() -> bytes:
    w = PdfFileWriter()
    w.insert_page(generic.DictionaryObject({
        generic.pdf_name("/Type"): generic.pdf_name("/Page"),
        generic.pdf_name("/MediaBox"): generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, 595, 842)]),
    }))
    w.encrypt("owner-pass", "user-pass")
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def test_bad_inputs_are_typed(pki: Pki, pdf: bytes) -> None:
    with pytest.raises(NotAPdfError):
        pki.sign(b"PK\x03\x04 this is a zip")
    with pytest.raises(BrokenPdfError):
        pki.sign(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF")
    with pytest.raises(BrokenPdfError):
        pki.sign(pdf[: len(pdf) // 2])
    with pytest.raises(EncryptedPdfError):
        pki.sign(encrypted_pdf())
    for exc_type in (NotAPdfError, BrokenPdfError, EncryptedPdfError):
        assert issubclass(exc_type, BadInputError)


def test_failed_file_signing_leaves_nothing(pki: Pki, tmp_path: Path) -> None:
    src = tmp_path / "in.pdf"
    src.write_bytes(encrypted_pdf())
    dst = tmp_path / "out.pdf"
    key, cert = pki.keys["p256"]
    with pytest.raises(EncryptedPdfError):
        sign_pdf_file(src, dst, key=key, cert_der=cert, at=AT)
    assert list(tmp_path.iterdir()) == [src]


def test_file_signing_streams_to_the_target(pki: Pki, pdf: bytes, tmp_path: Path) -> None:
    src = tmp_path / "in.pdf"
    src.write_bytes(pdf)
    key, cert = pki.keys["rsa2048"]
    sign_pdf_file(src, tmp_path / "out.pdf", key=key, cert_der=cert, chain=pki.chain, at=AT, level="b-lta",
                  timestamper=pki.tsa, validation_data=pki.crls)
    r = reader((tmp_path / "out.pdf").read_bytes())
    assert len(r.embedded_signatures) == 2 and "/DSS" in r.root
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.pdf", "out.pdf"]


def test_refusals(pki: Pki, pdf: bytes) -> None:
    key, cert = pki.keys["p256"]
    with pytest.raises(BadInputError, match="time-stamp"):
        sign_pdf(pdf, key=key, cert_der=cert, level="b-t", at=AT)
    with pytest.raises(BadInputError, match="revocation"):
        sign_pdf(pdf, key=key, cert_der=cert, level="b-lt", timestamper=pki.tsa, at=AT)
    with pytest.raises(CertificateError, match="does not belong"):
        sign_pdf(pdf, key=pki.keys["sm2"][0], cert_der=cert, at=AT)
    with pytest.raises(CertificateError, match="not valid"):
        sign_pdf(pdf, key=key, cert_der=cert, at=AT + timedelta(days=3 * 365))
    with pytest.raises(BadInputError):
        sign_pdf(pdf, key=key, cert_der=cert, at=AT, level="b-xl")
    rkey, rcert = pki.issue("p256")
    pki.ca.revoke(parse_certificate(rcert).serial, at=AT - timedelta(minutes=30))
    crl = ValidationData(crls=(pki.ca.issue_crl(at=AT - timedelta(minutes=10)),))
    with pytest.raises(CertificateError, match="revoked"):
        sign_pdf(pdf, key=rkey, cert_der=rcert, at=AT, level="b-lt", timestamper=pki.tsa, validation_data=crl)


# -- B-LT / B-LTA contents, moved clock, extension and renewal --------------------------------------


def dss_of(data: bytes) -> DocumentSecurityStore:
    return DocumentSecurityStore.read_dss(reader(data))


def test_lt_dss_holds_certificates_and_crls(pki: Pki, pdf: bytes) -> None:
    for alg in ("p256", "sm2"):
        dss = dss_of(pki.sign(pdf, alg, level="b-lt"))
        assert len(dss.crls) == 2
        subjects = {c.subject.native["common_name"] for c in dss.load_certs()}
        assert {"440000 issuing CA", "440000 Root CA"} <= subjects
        assert any(s.startswith(f"{alg} signer") for s in subjects)  # the signer
        assert len(subjects) >= 4  # + the TSA of the signature timestamp


def _validate_at_poe(pki: Pki, data: bytes, moment: datetime) -> object:
    """Validate the first signature with the file's own DSS only: no fetching, revocation required."""
    r = reader(data)
    ctx = dss_of(data).as_validation_context({"trust_roots": [pki.root], "moment": moment, "allow_fetching": False,
                                              "revocation_mode": "require"})
    return validate_pdf_signature(r.embedded_signatures[0], ctx)


def test_blta_validates_years_later_offline(pki: Pki, pdf: bytes) -> None:
    # the TSA's clock ticks from AT; the CRLs are issued after the signature timestamp
    data = pki.sign(pdf, "p256", level="b-lta", validation_data=pki.fresh_crls(AT + timedelta(minutes=1)))
    later = AT + timedelta(days=3 * 365)  # signer certificate (2 years) expired, CRLs long stale
    r = reader(data)
    doc_ts = r.embedded_timestamp_signatures[0]
    # 1. the archive timestamp holds today (TSA certificate valid 5 years), nothing fetched
    ts_status = validate_pdf_timestamp(doc_ts, validation_context=vc(pki, later))
    assert ts_status.valid and ts_status.intact and ts_status.trusted
    poe = ts_status.timestamp
    # 2. at the time it proves, the signature validates from the embedded data alone
    st = _validate_at_poe(pki, data, poe)
    assert st.bottom_line, st.pretty_print_details()
    assert st.timestamp_validity.valid
    # 3. without that proof of existence the expired signer certificate fails
    assert not validate_pdf_signature(r.embedded_signatures[0], vc(pki, later)).bottom_line
    # 4. and without the DSS (a B-T file) the same offline check has no revocation data
    bt = pki.sign(pdf, "p256", level="b-t")
    ctx = ValidationContext(trust_roots=[pki.root], moment=poe, allow_fetching=False, revocation_mode="require",
                            crls=[], ocsps=[])
    assert not validate_pdf_signature(reader(bt).embedded_signatures[0], ctx).bottom_line


def test_extend_bt_to_lta_and_renew(pki: Pki, pdf: bytes, tmp_path: Path) -> None:
    bt = pki.sign(pdf, "rsa2048", level="b-t")
    # the archive timestamp comes after the CRLs it covers, whatever the module's shared TSA clock reads
    lta_tsa = pki.make_tsa(AT - timedelta(hours=1), TickingClock(AT + timedelta(minutes=6)))
    lta = extend_pdf(bt, level="lta", timestamper=lta_tsa, validation_data=pki.fresh_crls(AT + timedelta(minutes=5)),
                     at=AT + timedelta(minutes=6))
    assert len(reader(lta).embedded_timestamp_signatures) == 1
    assert len(dss_of(lta).crls) == 2
    # four years on: fresh CRLs, a new TSA certificate (the first expires after five years)
    t4 = AT + timedelta(days=4 * 365)
    renew_tsa = pki.make_tsa(t4 - timedelta(hours=1), TickingClock(t4))
    src = tmp_path / "lta.pdf"
    src.write_bytes(lta)
    extend_pdf_file(src, tmp_path / "renewed.pdf", level="b-lta", timestamper=renew_tsa,
                    validation_data=pki.fresh_crls(t4), at=t4)
    renewed = (tmp_path / "renewed.pdf").read_bytes()
    r = reader(renewed)
    ts1, ts2 = r.embedded_timestamp_signatures
    assert len(dss_of(renewed).crls) == 4
    # six years on the first TSA certificate has expired; the chain of archive timestamps holds
    t6 = AT + timedelta(days=6 * 365)
    expired = validate_pdf_timestamp(ts1, validation_context=vc(pki, t6))
    assert not (expired.valid and expired.trusted)
    s2 = validate_pdf_timestamp(ts2, validation_context=vc(pki, t6))
    assert s2.valid and s2.trusted
    ctx = dss_of(renewed).as_validation_context({"trust_roots": [pki.root], "moment": s2.timestamp,
                                                 "allow_fetching": False, "revocation_mode": "require"})
    s1 = validate_pdf_timestamp(ts1, validation_context=ctx)
    assert s1.valid and s1.trusted
    st = _validate_at_poe(pki, renewed, s1.timestamp)
    assert st.bottom_line, st.pretty_print_details()


def test_extend_needs_a_signed_pdf(pki: Pki, pdf: bytes) -> None:
    with pytest.raises(BadInputError, match="no signature"):
        extend_pdf(pdf, level="b-lta", timestamper=pki.tsa, validation_data=pki.crls, at=AT)
    with pytest.raises(BadInputError, match="b-lt or b-lta"):
        extend_pdf(pki.sign(pdf), level="b-t", timestamper=pki.tsa, validation_data=pki.crls, at=AT)


def test_signature_digest_matches_document(pki: Pki, pdf: bytes) -> None:
    out = pki.sign(pdf, "p256")
    sig = reader(out).embedded_signatures[0]
    si, _ = _cms_parts(sig)
    md = next(a["values"][0].native for a in si["signed_attrs"] if a["type"].native == "message_digest")
    assert md == sig.compute_digest()
    assert hashlib.sha256(out).digest() != hashlib.sha256(pdf).digest()
    assert out.startswith(pdf)  # incremental update: the original bytes are untouched
    asyncio.get_event_loop_policy()  # no event loop left running
