"""EU DSS signed-PDF corpus (../shared/interop/pdf-eu-dss): every MANIFEST case gets its verdict.

No trust anchors are given (the corpus ships none), so "VALID" means: the document is not
TOTAL_FAILED and every signature's integrity checks (ByteRange, digest, signature value, changes
after signing) pass. "INVALID" means never TOTAL_PASSED, with the failing check named below.
"MIXED" is checked per signature. The four cases where we deliberately disagree with DSS are
asserted as *our* verdict, with the evidence, in ``DISAGREE`` (see docs/pdf-verification.md).
"""

from __future__ import annotations

import csv
import hashlib
import logging
import re
from datetime import UTC, datetime
from functools import cache

import pytest

from tests._pdf_fixtures import INTEROP
from verifier.pdf import verify_pdf
from verifier.pki import TrustStore
from verifier.report import CheckStatus, Indication, SubIndication, ValidationReport

BASE = INTEROP / "pdf-eu-dss"
ROWS = list(csv.DictReader((BASE / "MANIFEST.csv").open(encoding="utf-8")))
AT = datetime(2025, 6, 1, tzinfo=UTC)  # DSS verdicts here are about integrity and modifications, not time

# INVALID rows: (document indication, name of a non-passed check that proves it).
INVALID = {
    "pdf/pdf-signed-corrupted.pdf": (Indication.TOTAL_FAILED, "parse"),
    "pdf/pdf-signed-out-of-byteRange.pdf": (Indication.TOTAL_FAILED, "byte_range"),
    "pdf/pdf-eof.pdf": (Indication.TOTAL_FAILED, "byte_range"),
    "pdf/siwa.pdf": (Indication.TOTAL_FAILED, "byte_range"),
    "pdf/pdf-spoofing-attack.pdf": (Indication.TOTAL_FAILED, "parse"),
    "pdf/pades-spoofing-replaced-reason.pdf": (Indication.TOTAL_FAILED, "byte_range"),
    "pdf/pdf-signed-added-page.pdf": (Indication.TOTAL_FAILED, "modifications"),
    "pdf/pdf-removed-pages.pdf": (Indication.TOTAL_FAILED, "modifications"),
    "pdf/dss-2236/hide.pdf": (Indication.INDETERMINATE, "modifications"),
    "pdf/dss-2236/replace.pdf": (Indication.TOTAL_FAILED, "modifications"),
    "pdf/BadEncodedCMS.pdf": (Indication.TOTAL_FAILED, "cms"),
    "pdf/wrong-digest-algo.pdf": (Indication.TOTAL_FAILED, "digest_algorithm"),
    "pdf/pades-unsupported-signature-algorithm.pdf": (Indication.TOTAL_FAILED, "signature_value"),
    "pdf/pades-bes-no-certificates.pdf": (Indication.INDETERMINATE, "cms"),
    "pdf/self-issued-qesig.pdf": (Indication.INDETERMINATE, "certificate_path"),
    "pdf/pades-level-b-sig-policy-invalid-digest-algo.pdf": (Indication.INDETERMINATE, "signature_policy"),
    "pdf/Signature-P-HU_NET-2.pdf": (Indication.TOTAL_FAILED, "cms"),
    "pdf/modified_after_signature.pdf": (Indication.TOTAL_FAILED, "modifications"),
}
# VALID per DSS, rejected by our reject-by-default difference analysis: (signature index, what we show).
DISAGREE = {
    "pdf/pades-signed-annot-added.pdf": (0, "catalog"),
    "pdf/pdf-structtreeroot-changes.pdf": (0, "unexplained"),
    "pdf/pkcs7_sha1.pdf": (0, "unexplained"),
}
INTEGRITY = ("parse", "byte_range", "digest", "signature_value", "modifications", "docmdp", "fieldmdp", "cms")


@cache
def _verify(file: str) -> ValidationReport:
    logging.disable(logging.WARNING)
    try:
        return verify_pdf((BASE / file).read_bytes(), trust=TrustStore(anchors=()), at=AT)
    finally:
        logging.disable(logging.NOTSET)


def _failed(sig: ValidationReport) -> list[str]:
    return [c.name for c in sig.checks if c.name in INTEGRITY and c.status is CheckStatus.FAILED]


def _status(report: ValidationReport, name: str) -> list[CheckStatus]:
    return [c.status for s in (report, *report.signatures) for c in s.checks if c.name == name]


@pytest.mark.parametrize("row", ROWS, ids=[r["file"] for r in ROWS])
def test_manifest_case(row: dict[str, str]) -> None:
    file, expected = row["file"], row["expected_verdict"]
    report = _verify(file)
    assert report.to_dict()["artefact"] == "pdf"
    assert report.indication is not Indication.TOTAL_PASSED  # nothing is trusted here
    if expected.startswith("n/a"):  # the revision DSS extracts from modified_after_signature.pdf
        assert report.indication is Indication.TOTAL_FAILED and not report.signatures
        modified = (BASE / "pdf/modified_after_signature.pdf").read_bytes()
        sig = _verify("pdf/modified_after_signature.pdf").signatures[0]
        assert sig.signer["revision"] == 2
        br = re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", modified)
        assert br is not None
        reference = (BASE / file).read_bytes()
        # An earlier revision of the modified file, inside what the signature covers.
        assert modified.startswith(reference) and len(reference) < int(br.group(3)) + int(br.group(4))
        assert hashlib.sha256(reference).digest() != hashlib.sha256(modified).digest()
        return
    if file in DISAGREE:
        idx, shown = DISAGREE[file]
        sig = report.signatures[idx]
        assert _failed(sig) == ["modifications"], _failed(sig)  # crypto and coverage are fine
        detail = next(c.detail_en for c in sig.checks if c.name == "modifications")
        assert shown in detail.lower()
        return
    if expected.startswith("VALID"):
        assert report.indication is Indication.INDETERMINATE
        for sig in report.signatures:
            assert not _failed(sig), (sig.signer.get("field"), _failed(sig))
        return
    if expected.startswith("MIXED"):
        inds = [s.indication for s in report.signatures]
        assert report.indication is Indication.TOTAL_FAILED
        if file == "pdf/pdf-byterange-overlap.pdf":
            assert inds[0] is Indication.INDETERMINATE and inds[1] is Indication.TOTAL_FAILED
            assert "byte_range" in _failed(report.signatures[1])
        elif file == "pdf/dss-2236/annotation-and-visible-change.pdf":
            assert inds[0] is Indication.TOTAL_FAILED and "modifications" in _failed(report.signatures[0])
            assert inds[2] is not Indication.TOTAL_FAILED
        else:  # hello_signed_INCSAVE_signed_EDITED.pdf: DSS blames sig 1, we find sig 2's revision edited
            assert Indication.TOTAL_FAILED in inds
            assert "digest" in _failed(report.signatures[1]) and "byte_range" in _failed(report.signatures[1])
        return
    ind, name = INVALID[file]
    assert report.indication is ind, report.reason.en
    statuses = _status(report, name)
    assert statuses and all(s is not CheckStatus.PASSED for s in statuses[-1:]), (name, statuses)
    if file == "pdf/pdf-signed-added-page.pdf":
        assert "page added" in report.reason.en
    if file == "pdf/dss-2236/replace.pdf":
        assert "Text1" in report.reason.en  # the field whose shown value was replaced


def test_no_signature_found_is_failed_not_passed() -> None:
    r = _verify("pdf/retrieved-modified_after_signature.pdf")
    assert r.indication is Indication.TOTAL_FAILED and r.sub_indication is SubIndication.FORMAT_FAILURE
