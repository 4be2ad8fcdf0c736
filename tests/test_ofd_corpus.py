"""Real OFD files (ofdrw test data and production tax e-invoices) get the verdicts the corpus README gives.

Corpus: ``../shared/interop/ofd-ses-seals`` (read in place). The tax-authority roots are not in
the corpus, so without anchors a crypto-valid invoice is INDETERMINATE / NO_CERTIFICATE_CHAIN_FOUND
with every cryptographic check passed; with its own signer and maker certificates as anchors and
a validation time inside their windows it passes.
"""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from esign.formats.ofd import OfdFormatError
from esign.formats.ses import parse_unverified_ses_signature
from keys.x509 import parse_certificate
from verifier.ofd import verify_ofd
from verifier.pki import TrustStore
from verifier.report import CheckStatus, Indication, SubIndication

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "interop" / "ofd-ses-seals"
OFD = CORPUS / "ofd"
NO_TRUST = TrustStore(anchors=())
LATER = datetime(2026, 1, 1, tzinfo=UTC)

# file -> number of references the README gives
CRYPTO_VALID = {"signedFile.ofd": 13, "v4signed.ofd": 13, "SignScaleError.ofd": 7, "allprotected.ofd": 6}
# Checks that carry the cryptography (must pass in every crypto-valid file).
CRYPTO_CHECKS = ("references", "ses.format", "ses.signature", "ses.signer_in_seal", "ses.seal.maker_signature",
                 "ses.data_hash")


def _data(name: str) -> bytes:
    return (OFD / name).read_bytes()


def _ses(data: bytes):
    return parse_unverified_ses_signature(zipfile.ZipFile(io.BytesIO(data)).read("Doc_0/Signs/Sign_0/SignedValue.dat"))


def _by_suffix(report, suffix: str):
    found = [c for c in report.checks if c.name.endswith("." + suffix) or c.name == suffix]
    assert found, f"no check {suffix} in {[c.name for c in report.checks]}"
    return found[0]


@pytest.mark.parametrize("name", sorted(CRYPTO_VALID))
def test_invoice_crypto_valid_without_roots_is_indeterminate(name: str) -> None:
    data = _data(name)
    report = verify_ofd(data, trust=NO_TRUST, at=_ses(data).signing_time)
    for check in CRYPTO_CHECKS:
        assert _by_suffix(report, check).status is CheckStatus.PASSED, check
    assert report.signer["signatures"][0]["references"] == CRYPTO_VALID[name]
    assert report.signer["changed_files"] == [] and report.signer["missing_files"] == []
    assert report.signer["unprotected_files"] == []
    assert report.indication is Indication.INDETERMINATE
    assert report.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    assert not [c for c in report.checks if c.status is CheckStatus.FAILED]


@pytest.mark.parametrize("name", sorted(CRYPTO_VALID))
def test_invoice_passes_with_its_certificates_as_anchors(name: str) -> None:
    data = _data(name)
    ses = _ses(data)
    trust = TrustStore.of([parse_certificate(ses.signer_cert_der), parse_certificate(ses.seal.maker_cert_der)])
    report = verify_ofd(data, trust=trust, at=ses.signing_time)
    # signedFile.ofd's seal was created (2019-10-11) before its maker certificate (2019-10-16):
    # the maker certificate is judged at the signing time (2020-10-04), when the seal was relied on.
    assert report.indication is Indication.TOTAL_PASSED, report.reason.en
    assert report.signer["signatures"][0]["indication"] == "TOTAL_PASSED"


def test_sesv4signdoc_fails_on_time() -> None:
    data = _data("SESV4SignDoc.ofd")
    ses = _ses(data)
    trust = TrustStore.of([parse_certificate(ses.signer_cert_der), parse_certificate(ses.seal.maker_cert_der)])
    report = verify_ofd(data, trust=trust, at=ses.signing_time)
    assert report.indication is Indication.TOTAL_FAILED
    assert report.sub_indication is SubIndication.EXPIRED
    for check in CRYPTO_CHECKS:
        assert _by_suffix(report, check).status is CheckStatus.PASSED, check
    assert _by_suffix(report, "ses.seal_validity").status is CheckStatus.FAILED
    assert _by_suffix(report, "seal_file").status is CheckStatus.PASSED  # Seal.esl == embedded seal
    # Also without anchors and at a later time: still a definite failure, never a pass.
    assert verify_ofd(data, trust=NO_TRUST, at=LATER).indication is Indication.TOTAL_FAILED


def test_digital_sign_with_the_2020_certificate() -> None:
    data = _data("DigitalSign.ofd")
    cert = (CORPUS / "certs" / "ofdrw-test-cert-2020-extracted.der").read_bytes()
    at = datetime(2020, 4, 23, tzinfo=UTC)
    r = verify_ofd(data, trust=NO_TRUST, at=at, certs=[cert])
    assert r.indication is Indication.INDETERMINATE and r.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    assert _by_suffix(r, "signature_value").status is CheckStatus.PASSED
    assert _by_suffix(r, "references").status is CheckStatus.PASSED
    r = verify_ofd(data, trust=TrustStore.of([parse_certificate(cert)]), at=at, certs=[cert])
    assert r.indication is Indication.TOTAL_PASSED, r.reason.en
    assert r.signer["signatures"][0]["type"] == "Sign"


def test_digital_sign_with_the_2021_certificate_is_invalid() -> None:
    data = _data("DigitalSign.ofd")
    wrong = (CORPUS / "certs" / "sign_cert_2021.pem").read_bytes()
    r = verify_ofd(data, trust=TrustStore.of([parse_certificate(wrong)]), at=datetime(2022, 1, 1, tzinfo=UTC),
                   certs=[wrong])
    assert r.indication is Indication.TOTAL_FAILED and r.sub_indication is SubIndication.SIG_CRYPTO_FAILURE


def test_digital_sign_without_any_certificate() -> None:
    r = verify_ofd(_data("DigitalSign.ofd"), trust=NO_TRUST, at=LATER)
    assert r.indication is Indication.INDETERMINATE
    assert r.sub_indication is SubIndication.NO_SIGNING_CERTIFICATE_FOUND


def test_unsigned_is_indeterminate_signed_data_not_found() -> None:
    r = verify_ofd(_data("helloworld-unsigned.ofd"), trust=NO_TRUST, at=LATER)
    assert r.indication is Indication.INDETERMINATE
    assert r.sub_indication is SubIndication.SIGNED_DATA_NOT_FOUND
    assert r.signer["signatures"] == []


def test_integrity_protection() -> None:
    data = _data("hello-integrity.ofd")
    cert = parse_certificate((CORPUS / "certs" / "sign_cert_2021.pem").read_bytes())
    r = verify_ofd(data, trust=TrustStore.of([cert]), at=datetime(2022, 1, 1, tzinfo=UTC))
    assert _by_suffix(r, "integrity.signature_value").status is CheckStatus.PASSED
    assert _by_suffix(r, "integrity.data_hash").status is CheckStatus.PASSED
    assert r.signer["integrity"]["indication"] == "TOTAL_PASSED"
    # A list of names is not a signature over contents: never a plain pass.
    assert r.indication is Indication.INDETERMINATE and r.sub_indication is SubIndication.SIGNED_DATA_NOT_FOUND
    # A smuggled file (not in OFDEntries.xml) fails.
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(buf, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info))
        zout.writestr("Doc_0/Res/smuggled.png", b"\x89PNG")
    r = verify_ofd(buf.getvalue(), trust=TrustStore.of([cert]), at=datetime(2022, 1, 1, tzinfo=UTC))
    assert r.indication is Indication.TOTAL_FAILED and "Doc_0/Res/smuggled.png" in r.reason.en


def test_not_an_ofd_is_bad_input() -> None:
    with pytest.raises(OfdFormatError):
        verify_ofd((CORPUS / "seals" / "UserV4.esl").read_bytes(), trust=NO_TRUST, at=LATER)
