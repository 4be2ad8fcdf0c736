"""pyHanko's signed-PDF corpus (../shared/interop/pdf-pyhanko): every MANIFEST case gets its verdict.

Each file is verified once (cached) and checked per MANIFEST row. "VALID" = every signature intact,
signature value valid, ByteRange standard and no disallowed change; TOTAL_PASSED where the file is
signed under the pyHanko test CA (trust/root_root.cert.pem) at the manifest's validation time.
"INVALID" = never TOTAL_PASSED, and the failing check is the one the manifest names. For the
multi-revision files the chained difference analysis is also compared with pyHanko's own
per-signature review (same rules): same modification verdict for every signature.
"""

from __future__ import annotations

import csv
import io
import logging
from datetime import UTC, datetime
from functools import cache

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import DiffResult
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel

from tests._pdf_fixtures import INTEROP
from verifier._pdf_diff import DiffEngine, esign_diff_policy
from verifier._pdf_read import BoundedReader, Deadline, enumerate_signature_fields
from verifier.chain import load_trust_store
from verifier.pdf import verify_pdf
from verifier.report import CheckStatus, Indication, SubIndication, ValidationReport

BASE = INTEROP / "pdf-pyhanko"
ROWS = list(csv.DictReader((BASE / "MANIFEST.csv").open(encoding="utf-8")))
TRUSTED = {
    "pdf/pades-with-old-style-signing-cert-attr.pdf",
    "pdf/pades-with-old-style-signing-cert-attr-issser.pdf",
    "pdf/certified-with-indirect-refs-in-dir.pdf",
    "pdf/separate-annots-kids-indir.pdf",
    "pdf/pades-lta-dss-indirect-arrs-test.pdf",
}
# INVALID rows: the check that must fail on some signature.
FAILING_CHECK = {
    "pdf/extensions-indirect-not-all-paths.pdf": "modifications",
    "pdf/form-update-override-appearance-stream-sneaky.pdf": "modifications",
    "pdf/form-update-override-appearance-stream-ap-indirect-sneaky.pdf": "modifications",
    "pdf/form-update-no-override-appearance-stream-ap-indirect-sneaky.pdf": "modifications",
    "pdf/form-update-ap-indirect-sneaky-trailer.pdf": "modifications",
    "pdf/pdf-sig-with-econtent.pdf": "cms",
    "pdf/coverage-anomalies/tail-uncovered.pdf": "byte_range",
    "pdf/coverage-anomalies/signature-gap-too-big.pdf": "byte_range",
    "pdf/coverage-anomalies/one-byterange.pdf": "byte_range",
    "pdf/coverage-anomalies/weird-byterange.pdf": "byte_range",
}
INTEGRITY = ("parse", "byte_range", "digest", "signature_value", "modifications", "docmdp", "fieldmdp", "cms")


def _at(row: dict[str, str]) -> datetime:
    vt = row["validation_time"]
    # "n/a": the verdict is about integrity only; any time inside the test CA's validity will do.
    return datetime.fromisoformat(vt).replace(tzinfo=UTC) if vt[:2] == "20" else datetime(2021, 1, 1, tzinfo=UTC)


@cache
def _verify(file: str, at: datetime) -> ValidationReport:
    logging.disable(logging.WARNING)
    try:
        trust = load_trust_store([BASE / "trust" / "root_root.cert.pem"])
        return verify_pdf((BASE / file).read_bytes(), trust=trust, at=at)
    finally:
        logging.disable(logging.NOTSET)


@pytest.mark.parametrize("row", ROWS, ids=[r["file"] for r in ROWS])
def test_manifest_case(row: dict[str, str]) -> None:
    report = _verify(row["file"], _at(row))
    expected = row["expected_verdict"]
    d = report.to_dict()
    assert d["artefact"] == "pdf" and d["indication"] in {i.value for i in Indication}
    if expected.startswith("NOT SIGNED"):
        assert report.indication is Indication.TOTAL_FAILED
        assert any(c.name == "signatures" and c.status is CheckStatus.FAILED for c in report.checks)
        return
    assert report.signatures, "every signed file yields per-signature reports"
    if expected.startswith("VALID"):
        for sig in report.signatures:
            bad = [
                c
                for c in sig.checks
                if c.name in INTEGRITY and c.status not in (CheckStatus.PASSED, CheckStatus.SKIPPED)
            ]
            assert not bad, bad
            assert sig.indication is not Indication.TOTAL_FAILED
        if row["file"] in TRUSTED:
            assert report.indication is Indication.TOTAL_PASSED, report.reason.en
            assert report.trust_anchor and "Root CA" in report.trust_anchor
        return
    assert report.indication is not Indication.TOTAL_PASSED
    if expected.startswith("INDETERMINATE"):
        assert report.indication is Indication.INDETERMINATE
        assert report.sub_indication is SubIndication.CRYPTO_CONSTRAINTS_FAILURE
        return
    assert report.indication is Indication.TOTAL_FAILED, report.reason.en
    name = FAILING_CHECK[row["file"]]
    failed = [c for s in report.signatures for c in s.checks if c.name == name and c.status is CheckStatus.FAILED]
    assert failed, f"expected a failed {name} check"
    if name == "modifications":
        assert "revision" in failed[0].detail_en  # says where and what changed


def test_disallowed_change_names_what_changed() -> None:
    report = _verify("pdf/form-update-override-appearance-stream-sneaky.pdf", datetime(2021, 1, 1, tzinfo=UTC))
    sig1 = report.signatures[0]
    mod = next(c for c in sig1.checks if c.name == "modifications")
    assert "Changes: revision 1" in mod.detail_en and mod.detail_zh
    assert sig1.signer["modification_level"] == "OTHER"
    # The later signature made in the final revision is itself untouched.
    assert report.signatures[1].signer["modification_level"] == "NONE"


MULTI = [
    r["file"]
    for r in ROWS
    if r["file"].startswith("pdf/form-update")
    or "extensions" in r["file"]
    or "twice" in r["file"]
    or "separate" in r["file"]
]


@pytest.mark.parametrize("file", MULTI)
def test_chained_diff_matches_pyhanko_per_signature_review(file: str) -> None:
    """The once-per-revision analysis gives pyHanko's verdict for every signature (same rules)."""
    logging.disable(logging.WARNING)
    try:
        data = (BASE / file).read_bytes()
        ours_reader = BoundedReader(data, deadline=Deadline())
        theirs = PdfFileReader(io.BytesIO(data), strict=False)
        sigs = [EmbeddedPdfSignature(theirs, f.field, f.name) for f in enumerate_signature_fields(theirs)]
        revs = [
            s.signed_revision for s in sigs if s.evaluate_signature_coverage() >= SignatureCoverageLevel.ENTIRE_REVISION
        ]
        engine = DiffEngine(ours_reader, bases=revs, deadline=Deadline(), budget_seconds=60)
        for s in sigs:
            if s.evaluate_signature_coverage() != SignatureCoverageLevel.ENTIRE_REVISION:
                continue
            ref = esign_diff_policy().review_file(
                theirs, s.signed_revision, field_mdp_spec=s.fieldmdp, doc_mdp=s.docmdp_level
            )
            mine = engine.review(
                s.signed_revision, docmdp=s.docmdp_level, fieldmdp=s.fieldmdp, allow_value_replacement=True
            )
            if isinstance(ref, DiffResult):
                assert not mine.problems and mine.level == ref.modification_level
                assert mine.changed_fields == set(ref.changed_form_fields)
            else:
                assert mine.problems
    finally:
        logging.disable(logging.NOTSET)
