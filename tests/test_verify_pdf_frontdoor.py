"""verify_pdf called directly: SM2 and ECDSA PDFs made by esign, changes after signing, DocMDP,
bad input, limits, and the report's JSON and HTML shapes."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from keys.errors import BadInputError
from tests._pdf_fixtures import NOW, add_page, make_pki, minimal_pdf, sign
from verifier.pdf import PdfPolicy, is_pdf, verify_pdf
from verifier.pki import TrustStore
from verifier.render import report_to_html
from verifier.report import CheckStatus, Indication, SubIndication


@pytest.fixture(scope="module", params=["sm2", "p256"])
def signed(request):  # type: ignore[no-untyped-def]
    pki = make_pki(request.param)
    return request.param, pki, sign(minimal_pdf(), pki, field="Sig1")


def test_valid_signature_passes(signed) -> None:  # type: ignore[no-untyped-def]
    alg, pki, data = signed
    r = verify_pdf(data, trust=pki.trust, at=NOW)
    assert r.indication is Indication.TOTAL_PASSED, r.reason.en
    sig = r.signatures[0]
    names = {c.name: c.status for c in sig.checks}
    assert names["signature_value"] is CheckStatus.PASSED and names["certificate_path"] is CheckStatus.PASSED
    assert names["byte_range"] is CheckStatus.PASSED and names["modifications"] is CheckStatus.PASSED
    assert r.signer["subject"].startswith(f"CN=PDF signer {alg}") and r.signer["signing_time"]
    assert r.trust_anchor and f"PDF test root {alg}" in r.trust_anchor
    if alg == "sm2":
        assert r.signer["algorithm"] == "sm2-sm3" and r.signer["subfilter"] == "adbe.pkcs7.detached"


def test_untrusted_is_indeterminate(signed) -> None:  # type: ignore[no-untyped-def]
    _, _, data = signed
    r = verify_pdf(data, trust=TrustStore(anchors=()), at=NOW)
    assert r.indication is Indication.INDETERMINATE
    assert r.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND


def test_expired_signer_fails(signed) -> None:  # type: ignore[no-untyped-def]
    _, pki, data = signed
    r = verify_pdf(data, trust=pki.trust, at=NOW + timedelta(days=800))
    assert r.indication is not Indication.TOTAL_PASSED


def test_tampered_bytes_fail(signed) -> None:  # type: ignore[no-untyped-def]
    _, pki, data = signed
    i = data.index(b"/MediaBox")
    tampered = data[:i] + b"/MediaBoy" + data[i + 9 :]
    r = verify_pdf(tampered, trust=pki.trust, at=NOW)
    assert r.indication is Indication.TOTAL_FAILED
    assert r.sub_indication in (
        SubIndication.HASH_FAILURE,
        SubIndication.SIG_CRYPTO_FAILURE,
        SubIndication.FORMAT_FAILURE,
    )


def test_second_signature_is_allowed_page_added_is_not(signed) -> None:  # type: ignore[no-untyped-def]
    _, pki, data = signed
    two = sign(data, pki, field="Sig2")
    r = verify_pdf(two, trust=pki.trust, at=NOW)
    assert r.indication is Indication.TOTAL_PASSED
    assert [s.signer["modification_level"] for s in r.signatures] == ["FORM_FILLING", "NONE"]
    paged = verify_pdf(add_page(two), trust=pki.trust, at=NOW)
    assert paged.indication is Indication.TOTAL_FAILED
    assert "page added" in paged.reason.en and "新增页面" in paged.reason.zh
    cov = next(c for c in paged.checks if c.name == "file_coverage")
    assert cov.status is CheckStatus.FAILED and "after the last signature" in cov.detail_en


def test_docmdp_no_changes_rejects_a_later_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from asn1crypto import keys as akeys
    from asn1crypto import x509 as ax
    from cryptography.hazmat.primitives import serialization
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    pki = make_pki("p256")
    certified = sign(minimal_pdf(), pki, field="Cert", certify=True, docmdp=1)
    ok = verify_pdf(certified, trust=pki.trust, at=NOW)
    assert ok.indication is Indication.TOTAL_PASSED
    assert any(c.name == "docmdp" and c.status is CheckStatus.PASSED for c in ok.signatures[0].checks)
    # A non-compliant signer that ignores P=1 (pyHanko and esign refuse; we switch that off here).
    monkeypatch.setattr(signers.PdfSigner, "_enforce_certification_constraints", lambda self, reader: None)
    der = pki.key.pyca.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    simple = signers.SimpleSigner(
        signing_cert=ax.Certificate.load(pki.cert_der), signing_key=akeys.PrivateKeyInfo.load(der), cert_registry=None
    )
    later = (
        signers.PdfSigner(signers.PdfSignatureMetadata(field_name="Later"), simple)
        .sign_pdf(IncrementalPdfFileWriter(io.BytesIO(certified)))
        .getvalue()
    )
    r = verify_pdf(later, trust=pki.trust, at=NOW)
    assert r.indication is Indication.TOTAL_FAILED
    assert r.signatures[0].indication is Indication.TOTAL_FAILED
    assert any(c.name == "docmdp" and c.status is CheckStatus.FAILED for c in r.signatures[0].checks)
    assert r.signatures[1].indication is Indication.TOTAL_PASSED


def test_revocation_required_and_missing_fails_closed() -> None:
    pki = make_pki("sm2")
    data = sign(minimal_pdf(), pki, field="Sig1")
    r = verify_pdf(data, trust=pki.trust, at=NOW, require_revocation=True)
    assert r.indication is Indication.INDETERMINATE
    pki2 = make_pki("p256")
    r2 = verify_pdf(sign(minimal_pdf(), pki2), trust=pki2.trust, at=NOW, policy=PdfPolicy(require_revocation=True))
    assert r2.indication is not Indication.TOTAL_PASSED


def test_bad_input_is_typed_error_and_broken_pdf_is_failed() -> None:
    pki = make_pki("p256")
    with pytest.raises(BadInputError):
        verify_pdf(b"hello", trust=pki.trust, at=NOW)
    with pytest.raises(BadInputError):
        verify_pdf(b"%PDF-1.7\n", trust=pki.trust, at=NOW, allow_fetch=True)
    r = verify_pdf(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n", trust=pki.trust, at=NOW)
    assert r.indication is Indication.TOTAL_FAILED and r.sub_indication is SubIndication.FORMAT_FAILURE
    data = sign(minimal_pdf(), pki)
    truncated = verify_pdf(data[: len(data) // 2], trust=pki.trust, at=NOW)
    assert truncated.indication is not Indication.TOTAL_PASSED
    assert is_pdf(data) and not is_pdf(b"PK\x03\x04")


def test_zero_diff_budget_is_indeterminate_not_passed() -> None:
    pki = make_pki("p256")
    two = sign(sign(minimal_pdf(), pki, field="A"), pki, field="B")
    r = verify_pdf(two, trust=pki.trust, at=NOW, policy=replace(PdfPolicy(), diff_budget_seconds=0.0))
    assert r.signatures[0].indication is Indication.INDETERMINATE
    assert "time budget" in r.signatures[0].reason.en


def test_json_and_html_shapes(signed) -> None:  # type: ignore[no-untyped-def]
    _, pki, data = signed
    r = verify_pdf(sign(data, pki, field="Sig2"), trust=pki.trust, at=NOW)
    d = json.loads(json.dumps(r.to_dict()))
    assert set(d) >= {
        "artefact",
        "indication",
        "sub_indication",
        "reason",
        "checks",
        "validation_time",
        "signer",
        "chain",
        "signatures",
    }
    assert d["artefact"] == "pdf" and len(d["signatures"]) == 2
    assert d["signatures"][0]["artefact"] == "pdf-signature" and "signatures" not in d["signatures"][0]
    assert {"name", "status", "detail_en", "detail_zh"} <= set(d["checks"][0])
    html = report_to_html(r)
    assert html.startswith("<!DOCTYPE html>") and "验证通过" in html and "VALID" in html
    assert html.count("<h2>") == 2 and "<script" not in html
    evil = replace(r, reason=replace(r.reason, en="<script>alert(1)</script>"))
    assert "<script>" not in report_to_html(evil)
