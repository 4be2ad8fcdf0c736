"""Sign OFD files with seals made here, verify them, and catch every tampering and every bad container."""

from __future__ import annotations

import base64
import io
import re
import struct
import tracemalloc
import zipfile
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from esign.formats.ofd import OfdFormatError, OfdLimitError, OfdUnsafePathError, read_package
from esign.ofd import OfdLockedError, sign_ofd
from esign.ports import MemorySealRegister, SealStatus
from esign.ses import SealNotValidError, SealStatusError, SignerNotAuthorisedError, make_seal
from keys.errors import BadInputError
from keys.interfaces import SigningKey
from keys.keypairs import generate_key
from keys.x509 import build_certificate, ext_basic_constraints, ext_key_usage, make_name, parse_certificate
from verifier.ofd import verify_ofd
from verifier.pki import TrustStore
from verifier.report import CheckStatus, Indication, SubIndication

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "interop" / "ofd-ses-seals"
UNSIGNED = (CORPUS / "ofd" / "helloworld-unsigned.ofd").read_bytes()
T0 = datetime(2025, 1, 1, tzinfo=UTC)
AT = T0 + timedelta(days=10)
CHECK_AT = AT + timedelta(days=1)
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@dataclass(frozen=True)
class Pki:
    """A throwaway SM2 PKI with a seal."""

    root: bytes
    signer_key: SigningKey
    signer_cert: bytes
    other_key: SigningKey
    other_cert: bytes
    seal: bytes
    trust: TrustStore


def make_pki() -> Pki:
    """Root CA, seal maker, signer and an unrelated signer; a one-year seal for the signer."""
    rk = generate_key("sm2")
    rn = make_name("C=CN,O=esign test,CN=OFD Test Root")
    root = build_certificate(subject=rn, issuer=rn, subject_spki=rk.public_key().spki_der(), issuer_key=rk,
                             not_before=T0, not_after=T0 + timedelta(days=3650),
                             extensions=[ext_basic_constraints(ca=True), ext_key_usage(["key_cert_sign", "crl_sign"])])

    def leaf(cn: str) -> tuple[SigningKey, bytes]:
        k = generate_key("sm2")
        c = build_certificate(subject=make_name(f"C=CN,O=esign test,CN={cn}"), issuer=rn,
                              subject_spki=k.public_key().spki_der(), issuer_key=rk, not_before=T0,
                              not_after=T0 + timedelta(days=730),
                              extensions=[ext_basic_constraints(ca=False),
                                          ext_key_usage(["digital_signature", "non_repudiation"])])
        return k, c

    mk, mc = leaf("Seal Maker")
    sk, sc = leaf("Signer")
    ok, oc = leaf("Somebody Else")
    seal = make_seal(maker_key=mk, maker_cert_der=mc, seal_id="44000000000000000001", seal_type=1, name="测试公章",
                     signer_certs=[sc], valid_from=T0, valid_to=T0 + timedelta(days=365), picture=PNG, width_mm=40,
                     height_mm=40, at=T0 + timedelta(hours=1))
    return Pki(root=root, signer_key=sk, signer_cert=sc, other_key=ok, other_cert=oc, seal=seal,
               trust=TrustStore.of([parse_certificate(root)]))


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


@pytest.fixture(scope="module")
def signed(pki: Pki) -> bytes:
    return sign_ofd(UNSIGNED, seal_der=pki.seal, signer_key=pki.signer_key, signer_cert_der=pki.signer_cert, page=1,
                    x_mm=100, y_mm=150, at=AT)


def _files(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {i.filename: z.read(i) for i in z.infolist() if not i.is_dir()}


def _rezip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in files.items():
            z.writestr(name, body)
    return buf.getvalue()


def _verify(data: bytes, pki: Pki):
    return verify_ofd(data, trust=pki.trust, at=CHECK_AT)


def _mutate_one_byte(body: bytes) -> bytes:
    """Change one byte; inside XML, a letter or digit of text content, so the XML stays well-formed."""
    if body.lstrip().startswith(b"<?xml"):
        start = body.index(b"?>") + 2
        m = re.search(rb">[^<]*?([0-9A-Za-z])", body[start:]) or re.search(rb' ID="([0-9])', body[start:])
        assert m is not None
        pos = start + m.start(1)
    else:
        pos = len(body) // 2
    old = body[pos]
    new = ord("7") if old != ord("7") else ord("3")
    return body[:pos] + bytes([new]) + body[pos + 1:]


# ------------------------------------------------------------------------------------------- signing


def test_sign_and_verify(signed: bytes, pki: Pki) -> None:
    r = _verify(signed, pki)
    assert r.indication is Indication.TOTAL_PASSED, r.reason.en
    sig = r.signer["signatures"][0]
    assert sig["type"] == "Seal" and sig["stamps"] == [{"page_ref": "1", "boundary_mm": [100.0, 150.0, 40.0, 40.0]}]
    assert sig["references"] == 6  # 4 original files + Signatures.xml + Seal.esl
    assert r.signer["unprotected_files"] == []
    assert "Signer" in r.signer["subject"]


def test_other_entries_byte_identical_and_output_deterministic(signed: bytes, pki: Pki) -> None:
    before, after = _files(UNSIGNED), _files(signed)
    for name, body in before.items():
        if name != "OFD.xml":
            assert after[name] == body, name
    assert b"<ofd:Signatures>/Doc_0/Signs/Signatures.xml</ofd:Signatures>" in after["OFD.xml"]
    again = sign_ofd(UNSIGNED, seal_der=pki.seal, signer_key=pki.signer_key, signer_cert_der=pki.signer_cert, page=1,
                     x_mm=100, y_mm=150, at=AT)
    a, b = _files(signed), _files(again)
    assert a.keys() == b.keys()
    # SM2 signatures are randomised; everything else is the same bytes, in the same order and with the same metadata.
    assert [k for k in a if a[k] != b[k]] == ["Doc_0/Signs/Sign_0/SignedValue.dat"]
    za, zb = zipfile.ZipFile(io.BytesIO(signed)), zipfile.ZipFile(io.BytesIO(again))
    assert [(i.filename, i.date_time) for i in za.infolist()] == [(i.filename, i.date_time) for i in zb.infolist()]


def test_second_signature_with_continue_mode(pki: Pki) -> None:
    first = sign_ofd(UNSIGNED, seal_der=pki.seal, signer_key=pki.signer_key, signer_cert_der=pki.signer_cert,
                     page=1, x_mm=10, y_mm=10, at=AT, protect="continue")
    second = sign_ofd(first, seal_der=pki.seal, signer_key=pki.signer_key, signer_cert_der=pki.signer_cert, page=1,
                      x_mm=100, y_mm=150, width_mm=30, height_mm=30, at=AT + timedelta(hours=1))
    r = _verify(second, pki)
    assert r.indication is Indication.TOTAL_PASSED, r.reason.en
    assert [s["id"] for s in r.signer["signatures"]] == ["1", "2"]
    with pytest.raises(OfdLockedError):  # the second used protect="all"
        sign_ofd(second, seal_der=pki.seal, signer_key=pki.signer_key, signer_cert_der=pki.signer_cert, page=1,
                 x_mm=1, y_mm=1, at=AT)
    # Stripping the second signature from the list leaves its files unprotected: caught.
    files = _files(second)
    files["Doc_0/Signs/Signatures.xml"] = re.sub(rb'<ofd:Signature ID="2"[^>]*/>', b"",
                                                 files["Doc_0/Signs/Signatures.xml"])
    r = _verify(_rezip(files), pki)
    assert r.indication is Indication.TOTAL_FAILED
    assert "Doc_0/Signs/Sign_1/Signature.xml" in r.signer["unprotected_files"]


def test_sign_corpus_invoice_keeps_its_signature(pki: Pki) -> None:
    data = (CORPUS / "ofd" / "SignScaleError.ofd").read_bytes()
    out = sign_ofd(data, seal_der=pki.seal, signer_key=pki.signer_key, signer_cert_der=pki.signer_cert, page=1,
                   x_mm=20, y_mm=20, at=AT)
    r = verify_ofd(out, trust=pki.trust, at=CHECK_AT)
    sigs = {s["id"]: s for s in r.signer["signatures"]}
    assert sigs["2"]["indication"] == "TOTAL_PASSED"
    assert sigs["1"]["changed_files"] == []  # the invoice's own references still hold
    assert sigs["2"]["stamps"][0]["page_ref"] == "2"  # PageRef is the page's ID (page 1 has ID 2 here)


# ------------------------------------------------------------------------------------------ tampering


@pytest.mark.parametrize("name", ["Doc_0/Document.xml", "Doc_0/Pages/Page_0/Content.xml", "Doc_0/PublicRes.xml",
                                  "OFD.xml", "Doc_0/Signs/Signatures.xml", "Doc_0/Signs/Sign_0/Seal.esl"])
def test_every_protected_file_one_byte_changed(signed: bytes, pki: Pki, name: str) -> None:
    files = _files(signed)
    files[name] = _mutate_one_byte(files[name])
    r = _verify(_rezip(files), pki)
    assert r.indication is Indication.TOTAL_FAILED
    assert r.sub_indication is SubIndication.HASH_FAILURE
    assert r.signer["changed_files"] == [name]
    assert name in r.reason.en


def test_the_reference_list_covers_every_file(signed: bytes) -> None:
    sig_xml = _files(signed)["Doc_0/Signs/Sign_0/Signature.xml"].decode()
    refs = set(re.findall(r'FileRef="/([^"]+)"', sig_xml))
    assert refs == set(_files(signed)) - {"Doc_0/Signs/Sign_0/Signature.xml", "Doc_0/Signs/Sign_0/SignedValue.dat"}


@pytest.mark.parametrize("name", ["Doc_0/Document.xml", "Doc_0/Pages/Page_0/Content.xml", "Doc_0/PublicRes.xml",
                                  "Doc_0/Signs/Sign_0/Seal.esl", "Doc_0/Signs/Sign_0/SignedValue.dat"])
def test_deleted_file_is_missing(signed: bytes, pki: Pki, name: str) -> None:
    files = _files(signed)
    del files[name]
    r = _verify(_rezip(files), pki)
    assert r.indication is Indication.TOTAL_FAILED
    assert name in r.signer["missing_files"]


def test_deleted_signature_xml_is_a_format_failure(signed: bytes, pki: Pki) -> None:
    files = _files(signed)
    del files["Doc_0/Signs/Sign_0/Signature.xml"]
    r = _verify(_rezip(files), pki)
    assert r.indication is Indication.TOTAL_FAILED and r.sub_indication is SubIndication.FORMAT_FAILURE


def test_deleted_ofd_xml_is_not_an_ofd(signed: bytes) -> None:
    files = _files(signed)
    del files["OFD.xml"]
    with pytest.raises(OfdFormatError):
        verify_ofd(_rezip(files), trust=TrustStore(anchors=()), at=CHECK_AT)


@pytest.mark.parametrize("name", ["Doc_0/Res/image_99.png", "Doc_0/pages/Page_0/Content.xml", "extra.txt",
                                  "Doc_0/Signs/Sign_1/Signature.xml"])
def test_added_file_is_unprotected(signed: bytes, pki: Pki, name: str) -> None:
    files = _files(signed)
    files[name] = b"<added after signing/>"
    r = _verify(_rezip(files), pki)
    assert r.indication is Indication.TOTAL_FAILED and r.sub_indication is SubIndication.HASH_FAILURE
    assert r.signer["unprotected_files"] == [name]
    assert name in r.reason.en


def test_tampered_signature_xml(signed: bytes, pki: Pki) -> None:
    files = _files(signed)
    sx = files["Doc_0/Signs/Sign_0/Signature.xml"]
    files["Doc_0/Signs/Sign_0/Signature.xml"] = sx.replace(b'Boundary="100 150 40 40"', b'Boundary="10 15 40 40"')
    r = _verify(_rezip(files), pki)
    assert r.indication is Indication.TOTAL_FAILED and r.sub_indication is SubIndication.HASH_FAILURE
    assert next(c for c in r.checks if c.name.endswith("ses.data_hash")).status is CheckStatus.FAILED


def test_tampered_signed_value(signed: bytes, pki: Pki) -> None:
    files = _files(signed)
    v = bytearray(files["Doc_0/Signs/Sign_0/SignedValue.dat"])
    v[-10] ^= 0x01
    files["Doc_0/Signs/Sign_0/SignedValue.dat"] = bytes(v)
    assert _verify(_rezip(files), pki).indication is Indication.TOTAL_FAILED


def test_doctype_in_signatures_xml_is_refused(signed: bytes, pki: Pki) -> None:
    files = _files(signed)
    bomb = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            b'<ofd:Signatures xmlns:ofd="http://www.ofdspec.org/2016">&b;</ofd:Signatures>')
    files["Doc_0/Signs/Signatures.xml"] = bomb
    r = _verify(_rezip(files), pki)
    assert r.indication is Indication.TOTAL_FAILED and r.sub_indication is SubIndication.FORMAT_FAILURE
    assert any("DOCTYPE" in c.detail_en for c in r.checks)


# ------------------------------------------------------------------------------------ bad containers


def _raw_zip(name: str, method: int, comp: bytes, crc: int, size: int) -> bytes:
    """A one-entry ZIP written by hand, so sizes and names can lie."""
    n = name.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(comp), size, len(n), 0) + n
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc, len(comp), size, len(n),
                          0, 0, 0, 0, 0, 0) + n
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local) + len(comp), 0)
    return local + comp + central + end


def _zeros_deflated(total: int) -> bytes:
    """Raw deflate of ``total`` zero bytes, built from one repeated full-flush segment (fast, small)."""
    chunk = 1 << 24
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    seg = c.compress(bytes(chunk)) + c.flush(zlib.Z_FULL_FLUSH)
    return seg * (total // chunk) + c.flush(zlib.Z_FINISH)


def test_corrupt_zip(signed: bytes) -> None:
    with pytest.raises(OfdFormatError):
        read_package(b"PK\x03\x04" + bytes(range(256)) * 8)
    with pytest.raises(OfdFormatError):
        read_package(b"not a zip at all")
    flipped = bytearray(signed)
    flipped[60] ^= 0xFF  # inside the first entry's compressed data -> CRC or inflate error
    with pytest.raises(OfdFormatError):
        read_package(bytes(flipped))


def test_truncated_zip(signed: bytes) -> None:
    for cut in (len(signed) // 2, len(signed) - 10):
        with pytest.raises(OfdFormatError):
            verify_ofd(signed[:cut], trust=TrustStore(anchors=()), at=CHECK_AT)


def test_zip_bomb_declared_2gb() -> None:
    comp = _zeros_deflated(2 << 30)
    bomb = _raw_zip("Doc_0/bomb.xml", 8, comp, 0, (2 << 30) - 1)
    tracemalloc.start()
    try:
        with pytest.raises(OfdLimitError):
            read_package(bomb)
        # The same stream declared small (lying header): inflation stops at the declared size, CRC fails.
        with pytest.raises(OfdFormatError):
            read_package(_raw_zip("Doc_0/bomb.xml", 8, comp, 0, 1000))
        # Declared within the per-entry limit but at a ratio no document has.
        with pytest.raises(OfdLimitError):
            read_package(_raw_zip("Doc_0/bomb.xml", 8, _zeros_deflated(48 << 20), 0, 48 << 20))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20  # never inflated the 2 GB


@pytest.mark.parametrize("name", ["../evil.xml", "/etc/passwd", "Doc_0/../../x.xml", "C:/x.xml", "a\\b.xml",
                                  "Doc_0//x.xml"])
def test_unsafe_entry_names(name: str) -> None:
    body = b"<x/>"
    with pytest.raises(OfdUnsafePathError):
        read_package(_raw_zip(name, 0, body, zlib.crc32(body), len(body)))


def test_duplicate_entries(signed: bytes) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(signed)) as zin, zipfile.ZipFile(buf, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info))
        with pytest.warns(UserWarning):
            zout.writestr("Doc_0/Document.xml", b"<evil/>")
    with pytest.raises(OfdUnsafePathError):
        read_package(buf.getvalue())


# --------------------------------------------------------------------------------- refusals at signing


def _sign(pki: Pki, **kw):
    args = dict(seal_der=pki.seal, signer_key=pki.signer_key, signer_cert_der=pki.signer_cert, page=1, x_mm=100,
                y_mm=150, at=AT)
    args.update(kw)
    return sign_ofd(kw.pop("data", UNSIGNED), **{k: v for k, v in args.items() if k != "data"})


def test_seal_past_validity(pki: Pki) -> None:
    with pytest.raises(SealNotValidError):
        _sign(pki, at=T0 + timedelta(days=400))


def test_signer_not_in_seal(pki: Pki) -> None:
    with pytest.raises(SignerNotAuthorisedError):
        _sign(pki, signer_key=pki.other_key, signer_cert_der=pki.other_cert)


def test_revoked_seal(pki: Pki) -> None:
    reg = MemorySealRegister()
    reg.add(pki.seal, region="440000", enterprise="91440000000000000X", at=T0, actor="test")
    assert _sign(pki, seal_register=reg)  # listed: fine
    reg.set_status("44000000000000000001", SealStatus.REVOKED, reason="lost", at=AT - timedelta(days=1), actor="t")
    with pytest.raises(SealStatusError):
        _sign(pki, seal_register=reg)


@pytest.mark.parametrize(("kw", "field"), [({"page": 2}, "page"), ({"page": 0}, "page"), ({"x_mm": 200}, "x"),
                                           ({"y_mm": -1}, "x"), ({"protect": "some"}, "protect"),
                                           ({"width_mm": float("nan")}, "width_mm")])
def test_bad_page_or_position(pki: Pki, kw: dict, field: str) -> None:
    with pytest.raises(BadInputError) as exc:
        _sign(pki, **kw)
    assert exc.value.field == field


def test_integrity_protected_file_is_not_signed(pki: Pki) -> None:
    with pytest.raises(OfdLockedError):
        _sign(pki, data=(CORPUS / "ofd" / "hello-integrity.ofd").read_bytes())


def test_signing_a_non_ofd_is_bad_input(pki: Pki) -> None:
    with pytest.raises(OfdFormatError):
        _sign(pki, data=b"%PDF-1.7\n")


def test_random_mutations_never_pass(signed: bytes, pki: Pki) -> None:
    """Any changed byte of any file (entry contents, rezipped) fails or is refused with our error type."""
    import random

    from keys.errors import EsignError

    rnd = random.Random(20240501)
    files = _files(signed)
    names = sorted(files)
    for _ in range(150):
        name = rnd.choice(names)
        body = bytearray(files[name])
        pos = rnd.randrange(len(body))
        body[pos] = (body[pos] + rnd.randrange(1, 256)) % 256  # always a different byte
        mutated = _rezip({**files, name: bytes(body)})
        try:
            report = _verify(mutated, pki)
        except EsignError:
            continue
        assert report.indication is not Indication.TOTAL_PASSED, (name, pos)
