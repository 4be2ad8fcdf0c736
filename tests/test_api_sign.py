"""``POST /v1/sign``: one endpoint for every kind of file, dispatched like ``esign sign``.

PDF (PAdES, optionally stamped with a registered seal), OFD (seal signature), other data
(SES_Signature with a seal, CMS without); roles and regions, usage log and audit, and typed
errors that leave nothing recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.routes.ca import open_region
from api.storage.seals import SqlSealRegister
from esign.formats.ses import parse_unverified_ses_signature
from esign.ports import SealStatus
from esign.ses import make_seal
from keys.algorithms import SignatureAlgorithm
from keys.hashing import sm3
from keys.keypairs import generate_key
from keys.x509 import parse_certificate
from tests.conftest import make_settings, open_app
from tests.test_ofd_sign_verify import PNG, UNSIGNED
from tests.test_pdf_sign import blank_pdf, check_sm2_signature, encrypted_pdf, reader
from verifier.cms import verify_cms
from verifier.pdf import verify_pdf
from verifier.pki import TrustStore
from verifier.report import Indication
from verifier.ses import verify_ses_signature

NOW = datetime.now(UTC).replace(microsecond=0)
SM2_KEY = "440000.sign-sm2"
P256_KEY = "440000.sign-p256"


def _now() -> datetime:
    """Issuing time: now (the demo region is created when the app starts, after NOW)."""
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    settings = make_settings(tmp_path_factory.mktemp("signapi") / "var", demo_pki=True, max_upload_bytes=4 << 20)
    for handle in open_app(settings):
        from api.deps import SystemClock
        from esign.tsa import TimeStampAuthority

        region = open_region(settings)
        key = generate_key("sm2")
        cert = region.ca().issue(subject={"CN": "sign test TSA"}, profile="timestamping",
                                 public_key=key.public_key(), at=_now()).der
        handle.app.state.tsa = TimeStampAuthority(key=key, cert_der=cert, chain=[region.ca().cert.der],
                                                  policy_oid="1.2.156.112233.1.1", clock=SystemClock())
        for kid, alg in ((SM2_KEY, "sm2"), (P256_KEY, "p256")):
            r = handle.client.post("/v1/keys", headers=handle.auth("admin"),
                                   json={"name": kid.split(".", 1)[1], "alg": alg, "region": "440000"})
            assert r.status_code == 201, r.text
            store = handle.app.state.keystore  # opened by the first request that needs it
            issued = region.ca().issue(subject={"C": "CN", "CN": kid}, profile="enterprise_signer",
                                       public_key=store.public_key(kid), at=_now())
            store.attach_certificate(kid, 1, issued.der)
        yield handle


def _trust(h: Any) -> TrustStore:
    return TrustStore.of([open_region(h.settings).root.cert])


def _register(h: Any) -> SqlSealRegister:
    return SqlSealRegister(h.app.state.db, audit=h.app.state.audit)


def _seal(h: Any, seal_id: str, *, signer: str = SM2_KEY, registered: bool = True) -> bytes:
    region = open_region(h.settings)
    maker = generate_key("sm2")
    maker_cert = region.ca().issue(subject={"C": "CN", "CN": f"maker {seal_id}"}, profile="seal_maker",
                                   public_key=maker.public_key(), at=_now()).der
    signer_cert = h.app.state.keystore.certificate(signer) if signer else \
        region.ca().issue(subject={"CN": "someone else"}, profile="enterprise_signer",
                          public_key=generate_key("sm2").public_key(), at=_now()).der
    der = make_seal(maker_key=maker, maker_cert_der=maker_cert, seal_id=seal_id, seal_type=1, name="接口签章测试章",
                    signer_certs=[signer_cert], valid_from=NOW - timedelta(hours=1), valid_to=NOW + timedelta(days=30),
                    picture=PNG, width_mm=42, height_mm=42, at=_now())
    if registered:
        _register(h).add(der, region="440000", enterprise="91440300SIGN00001X", at=NOW - timedelta(minutes=1),
                         actor="test")
    return der


def _post(h: Any, data: bytes, *, role: str = "signer", name: str = "doc.bin", seal_file: bytes | None = None,
          **form: Any) -> Any:
    files: dict[str, Any] = {"file": (name, data, "application/octet-stream")}
    if seal_file is not None:
        files["seal_file"] = ("seal.esl", seal_file, "application/octet-stream")
    fields = {"key_id": SM2_KEY, **{k: str(v) for k, v in form.items()}}
    return h.client.post("/v1/sign", headers=h.auth(role), files=files, data=fields)


def _audit_actions(h: Any) -> list[str]:
    """Every audit entry's action, oldest first (read from the store, page by page)."""
    out: list[Any] = []
    while True:
        page = h.app.state.audit.page(after_seq=out[-1].seq if out else 0, limit=1000)
        if not page:
            return [e.action for e in out]
        out.extend(page)


# -- the four kinds -------------------------------------------------------------------------------


def test_pdf_with_a_registered_seal_is_stamped_timestamped_and_logged(h: Any) -> None:
    _seal(h, "SIGN-PDF-1")
    pdf = blank_pdf()
    r = _post(h, pdf, name="a.pdf", seal_id="SIGN-PDF-1", level="b-t", page=1, x=100, y=60)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf" and r.headers["x-esign-kind"] == "pdf"
    out = r.content
    check_sm2_signature(out, h.app.state.keystore.certificate(SM2_KEY))
    page = reader(out).root["/Pages"]["/Kids"][0]
    widget = next(a.get_object() for a in page["/Annots"] if a.get_object().get("/FT") == "/Sig")
    x1, y1, x2, _ = (float(v) for v in widget["/Rect"])
    mm = 72 / 25.4
    assert abs(x1 - 100 * mm) < 1 and abs(y1 - 60 * mm) < 1 and abs((x2 - x1) - 42 * mm) < 1.5  # seal's size
    report = verify_pdf(out, trust=_trust(h), at=datetime.now(UTC) + timedelta(seconds=5))
    assert report.indication is Indication.TOTAL_PASSED, report.reason.en
    uses = _register(h).query(seal_id="SIGN-PDF-1")
    assert len(uses) == 1 and uses[0].data_hash_hex == sm3(pdf).hex() and uses[0].key_id == SM2_KEY
    assert uses[0].property_info == "pdf b-t"


def test_pdf_with_a_plain_key_at_b_lta(h: Any) -> None:
    r = _post(h, blank_pdf(), name="b.pdf", key_id=P256_KEY, level="b-lta")
    assert r.status_code == 200, r.text
    rd = reader(r.content)
    assert "/DSS" in rd.root and len(rd.embedded_timestamp_signatures) == 1
    # The demo region's CAs are SM2, which pyHanko cannot path-validate: check the ECDSA signature itself.
    sig = rd.embedded_signatures[0]
    si = sig.signer_info
    md = next(a["values"][0].native for a in si["signed_attrs"] if a["type"].native == "message_digest")
    assert md == sig.compute_digest()
    cert = parse_certificate(h.app.state.keystore.certificate(P256_KEY))
    cert.public_key().verify(si["signature"].native, b"\x31" + si["signed_attrs"].dump()[1:],
                             algorithm=SignatureAlgorithm.ECDSA_SHA256)


def test_pdf_at_b_lta_with_the_sm2_service_tsa_verifies_over_http(h: Any) -> None:
    # The region is SM2, so the service's TSA is too: its document timestamp goes through our own token checks.
    r = _post(h, blank_pdf(), name="lta.pdf", level="b-lta")
    assert r.status_code == 200, r.text
    assert len(reader(r.content).embedded_timestamp_signatures) == 1
    v = h.client.post("/v1/verify", headers=h.auth("verifier"),
                      files={"file": ("lta.pdf", r.content, "application/pdf")},
                      data={"at": (datetime.now(UTC) + timedelta(seconds=5)).isoformat()})
    assert v.status_code == 200, v.text
    rep = v.json()
    assert rep["indication"] == "TOTAL_PASSED", rep["reason"]
    doc = rep["signatures"][1]
    assert doc["signer"]["type"] == "DocTimeStamp" and doc["indication"] == "TOTAL_PASSED", doc["reason"]
    assert doc["signer"]["subject"] == "CN=sign test TSA"
    assert {c["name"]: c["status"] for c in doc["checks"]}["certificate_path"] == "passed"


def test_ofd_with_an_uploaded_registered_seal(h: Any) -> None:
    seal = _seal(h, "SIGN-OFD-1")
    r = _post(h, UNSIGNED, name="c.ofd", seal_file=seal, page=1, x=100, y=150)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/ofd" and r.headers["x-esign-signature-id"] == "1"
    from verifier.ofd import verify_ofd

    report = verify_ofd(r.content, trust=_trust(h), at=datetime.now(UTC) + timedelta(seconds=5),
                        certs=[open_region(h.settings).ca().cert])
    assert report.indication is Indication.TOTAL_PASSED, report.reason.en
    uses = _register(h).query(seal_id="SIGN-OFD-1")
    assert len(uses) == 1 and uses[0].data_hash_hex == r.headers["x-esign-data-hash-sm3"]


def test_other_data_with_a_seal_is_an_ses_signature(h: Any) -> None:
    _seal(h, "SIGN-SES-1")
    data = b"contract text, version 3\n" * 10
    r = _post(h, data, name="contract.txt", seal_id="SIGN-SES-1")
    assert r.status_code == 200, r.text
    assert r.headers["x-esign-kind"] == "ses_signature"
    sig = parse_unverified_ses_signature(r.content)
    assert sig.data_hash == sm3(data) and sig.property_info == "contract.txt"
    assert sig.timestamp is None  # only on request (tsa=true)
    report = verify_ses_signature(r.content, data=data, trust=_trust(h), at=datetime.now(UTC) + timedelta(seconds=5),
                                  intermediates=[open_region(h.settings).ca().cert])
    assert report.indication is Indication.TOTAL_PASSED, report.reason.en
    uses = _register(h).query(seal_id="SIGN-SES-1")
    assert len(uses) == 1 and uses[0].data_hash_hex == sm3(data).hex()


@pytest.mark.parametrize("detached", [True, False])
def test_other_data_without_a_seal_is_cms(h: Any, detached: bool) -> None:
    data = b"\x00\x01 binary payload" * 50
    r = _post(h, data, detached=str(detached).lower())
    assert r.status_code == 200, r.text
    assert r.headers["x-esign-kind"] == "cms" and r.headers["content-type"] == "application/pkcs7-signature"
    report = verify_cms(r.content, detached_content=data if detached else None, trust=_trust(h),
                        at=datetime.now(UTC) + timedelta(seconds=5))
    assert report.indication is Indication.TOTAL_PASSED, report.reason.en
    assert (data in r.content) is not detached
    assert "cms.sign" in _audit_actions(h)


# -- timestamps and certification ----------------------------------------------------------------------


def test_ses_signature_with_a_service_timestamp(h: Any) -> None:
    _seal(h, "SIGN-SES-TSA")
    data = b"timestamped contract\n" * 20
    r = _post(h, data, name="contract.txt", seal_id="SIGN-SES-TSA", tsa="true")
    assert r.status_code == 200, r.text
    sig = parse_unverified_ses_signature(r.content)
    assert sig.timestamp is not None
    from esign.formats.ses import parse_timestamp_imprint

    imp = parse_timestamp_imprint(sig.timestamp)
    assert imp.hash_name == "sm3" and imp.hashed_message == sm3(sig.signature)  # over the signature value
    report = verify_ses_signature(r.content, data=data, trust=_trust(h), at=datetime.now(UTC) + timedelta(seconds=5),
                                  intermediates=[open_region(h.settings).ca().cert])
    assert report.indication is Indication.TOTAL_PASSED, report.reason.en
    checks = {c.name: c.status.value for c in report.checks}
    assert checks.get("timestamp") == "passed" and checks.get("timestamp.tsa") == "passed", checks
    assert len(_register(h).query(seal_id="SIGN-SES-TSA")) == 1


def test_cms_with_a_service_timestamp(h: Any) -> None:
    from asn1crypto import cms as asn1_cms

    data = b"cms payload with a timestamp"
    r = _post(h, data, key_id=P256_KEY, tsa="true")
    assert r.status_code == 200, r.text
    si = asn1_cms.ContentInfo.load(r.content)["content"]["signer_infos"][0]
    assert "signature_time_stamp_token" in {a["type"].native for a in si["unsigned_attrs"]}
    report = verify_cms(r.content, detached_content=data, trust=_trust(h), at=datetime.now(UTC) + timedelta(seconds=5))
    assert report.indication is Indication.TOTAL_PASSED, report.reason.en


def test_ofd_with_a_service_timestamp(h: Any) -> None:
    _seal(h, "SIGN-OFD-TSA")
    r = _post(h, UNSIGNED, name="t.ofd", seal_id="SIGN-OFD-TSA", page=1, x=100, y=150, tsa="true")
    assert r.status_code == 200, r.text
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        signed_value = next(z.read(n) for n in z.namelist() if n.endswith("SignedValue.dat"))
    assert parse_unverified_ses_signature(signed_value).timestamp is not None
    from verifier.ofd import verify_ofd

    report = verify_ofd(r.content, trust=_trust(h), at=datetime.now(UTC) + timedelta(seconds=5),
                        certs=[open_region(h.settings).ca().cert])
    assert report.indication is Indication.TOTAL_PASSED, report.reason.en


@pytest.mark.parametrize("docmdp", [1, 2, 3])
def test_pdf_certification_signature(h: Any, docmdp: int) -> None:
    from pyhanko.sign.fields import MDPPerm

    r = _post(h, blank_pdf(), name="cert.pdf", level="b-t", certify="true", docmdp=docmdp)
    assert r.status_code == 200, r.text
    sig = reader(r.content).embedded_signatures[0]
    assert sig.docmdp_level == MDPPerm(docmdp)
    report = verify_pdf(r.content, trust=_trust(h), at=datetime.now(UTC) + timedelta(seconds=5))
    assert report.indication is Indication.TOTAL_PASSED, report.reason.en
    check = next(c for c in report.signatures[0].checks if c.name == "docmdp")
    assert check.status.value == "passed" and f"P={docmdp}" in check.detail_en
    if docmdp == 1:  # no further signature allowed: refused, nothing recorded
        before = len(_audit_actions(h))
        again = _post(h, r.content, name="cert.pdf", key_id=P256_KEY)
        assert again.status_code == 409, again.text
        assert len(_audit_actions(h)) == before


def test_pdf_approval_signature_by_default(h: Any) -> None:
    r = _post(h, blank_pdf(), name="approve.pdf")
    assert r.status_code == 200, r.text
    assert reader(r.content).embedded_signatures[0].docmdp_level is None


# -- refusals ---------------------------------------------------------------------------------------


def _revoked_seal(h: Any) -> None:
    _seal(h, "SIGN-REV-1")
    _register(h).set_status("SIGN-REV-1", SealStatus.REVOKED, reason="test", at=NOW, actor="test")


@pytest.mark.parametrize(("case", "status", "code"), [
    ("encrypted_pdf", 400, "encrypted_pdf"),
    ("broken_pdf", 400, "broken_pdf"),
    ("corrupt_ofd", 400, "bad_ofd"),
    ("ofd_without_seal", 400, "bad_input"),
    ("both_seals", 400, "bad_input"),
    ("unknown_seal", 404, "not_found"),
    ("unknown_key", 404, "not_found"),
    ("revoked_seal_pdf", 409, "seal_revoked"),
    ("revoked_seal_data", 409, "seal_revoked"),
    ("signer_not_in_seal_pdf", 403, "signer_not_in_seal"),
    ("signer_not_in_seal_ofd", 403, "signer_not_in_seal"),
    ("other_region_key", 403, None),
    ("verifier_role", 403, None),
    ("tsa_with_b_b_pdf", 400, "bad_input"),
    ("certify_data", 400, "bad_input"),
    ("certify_ofd", 400, "bad_input"),
    ("docmdp_without_certify", 400, "bad_input"),
    ("docmdp_out_of_range", 400, "bad_input"),
])
def test_bad_requests_are_typed_and_record_nothing(h: Any, case: str, status: int, code: str | None) -> None:
    if case.startswith("revoked") and "SIGN-REV-1" not in {s.seal_id for s in _register(h).list(limit=500)}:
        _revoked_seal(h)
    if case.startswith("signer_not_in_seal") and "SIGN-OTHER-1" not in {s.seal_id for s in _register(h).list(
            limit=500)}:
        _seal(h, "SIGN-OTHER-1", signer="")
    if case in ("corrupt_ofd", "both_seals") and "SIGN-PDF-1" not in {s.seal_id for s in _register(h).list(limit=500)}:
        _seal(h, "SIGN-PDF-1")  # when run on its own
    uses_before = len(_register(h).query(enterprise="91440300SIGN00001X", limit=500))
    audit_before = len(_audit_actions(h))
    r = {
        "encrypted_pdf": lambda: _post(h, encrypted_pdf(), key_id=P256_KEY),
        "broken_pdf": lambda: _post(h, b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF",
                                    key_id=P256_KEY),
        "corrupt_ofd": lambda: _post(h, UNSIGNED[: len(UNSIGNED) // 2], seal_id="SIGN-PDF-1"),
        "ofd_without_seal": lambda: _post(h, UNSIGNED),
        "both_seals": lambda: _post(h, b"data", seal_id="SIGN-PDF-1", seal_file=b"\x30\x00"),
        "unknown_seal": lambda: _post(h, blank_pdf(), seal_id="NO-SUCH-SEAL", page=1),
        "unknown_key": lambda: _post(h, b"data", key_id="440000.no-such-key"),
        "revoked_seal_pdf": lambda: _post(h, blank_pdf(), seal_id="SIGN-REV-1", page=1),
        "revoked_seal_data": lambda: _post(h, b"data", seal_id="SIGN-REV-1"),
        "signer_not_in_seal_pdf": lambda: _post(h, blank_pdf(), seal_id="SIGN-OTHER-1", page=1),
        "signer_not_in_seal_ofd": lambda: _post(h, UNSIGNED, seal_id="SIGN-OTHER-1", page=1, x=10, y=10),
        "other_region_key": lambda: _post(h, b"data", key_id="110000.someone"),
        "verifier_role": lambda: _post(h, b"data", role="verifier"),
        "tsa_with_b_b_pdf": lambda: _post(h, blank_pdf(), tsa="true"),
        "certify_data": lambda: _post(h, b"data", certify="true"),
        "certify_ofd": lambda: _post(h, UNSIGNED, certify="true", docmdp=1),
        "docmdp_without_certify": lambda: _post(h, blank_pdf(), docmdp=1),
        "docmdp_out_of_range": lambda: _post(h, blank_pdf(), certify="true", docmdp=4),
    }[case]()
    assert r.status_code == status, r.text
    if code is not None:
        assert r.json()["code"] == code, r.text
    field = {"tsa_with_b_b_pdf": "tsa", "certify_data": "certify", "certify_ofd": "certify",
             "docmdp_without_certify": "docmdp", "docmdp_out_of_range": "docmdp"}.get(case)
    if field is not None:
        assert r.json().get("field") == field, r.text
    assert len(_register(h).query(enterprise="91440300SIGN00001X", limit=500)) == uses_before
    assert len(_audit_actions(h)) == audit_before


def test_anonymous_is_401(h: Any) -> None:
    r = h.client.post("/v1/sign", files={"file": ("a.bin", b"data", "application/octet-stream")},
                      data={"key_id": SM2_KEY})
    assert r.status_code == 401
    assert parse_certificate(h.app.state.keystore.certificate(SM2_KEY)).not_after > NOW  # the key is still there
