"""The fast paths of PDF verification give the same answers as the slow ones, and the bounds still hold.

- The targeted reverse-reference index (verifier._pdf_read) against pyHanko's own full index, for
  every revision of the interop corpora (the paths to every object, and the same failures).
- A file with six signed revisions and form fills, a value replacement and a page added between
  them: the per-revision difference analysis (what changed, at which level, what was rejected)
  and every report are the same with the targeted index and with pyHanko's full index, and the
  verdict per signature is pyHanko's own review.
- The fast hex-string reader against pyHanko's (values, stream position, errors).
- The bounds: the time budget and the reference-path budget each stop the analysis on a crafted
  file, and the signature is INDETERMINATE, never PASSED.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import DiffResult
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel

import verifier._pdf_read as pdf_read
from keys.errors import EsignError
from tests._pdf_fixtures import INTEROP, NOW, add_page, make_pki, outcome, report_pdf, sign
from verifier._pdf_diff import DiffEngine, esign_diff_policy
from verifier._pdf_read import (
    BoundedReader,
    BudgetExceeded,
    Deadline,
    certificate_once,
    enumerate_signature_fields,
    new_file_memo,
)
from verifier.pdf import PdfPolicy, verify_pdf
from verifier.report import Indication, ValidationReport

#: Corpus files whose unpruned index takes seconds (the many-object EU DSS forms); their verdicts
#: with the targeted index are checked by tests/test_pdf_corpus_eudss.py.
_SLOW = {"pades-signed-filled-form.pdf", "pades-multiple-pages-annots-overlap.pdf", "pdf-removed-pages.pdf",
         "pkcs7_sha1.pdf", "pades-same-border-annotations.pdf"}
CORPUS = sorted(
    p for d in ("pdf-pyhanko", "pdf-eu-dss") for p in (INTEROP / d).rglob("*.pdf") if p.name not in _SLOW
)


@pytest.fixture(autouse=True)
def _quiet(quiet_logs: None) -> None:
    """Quiet pyHanko for every test here."""


_outcome = outcome


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_targeted_index_walk_equals_pyhankos_index(path: Path) -> None:
    data = path.read_bytes()
    theirs, err = _outcome(lambda: PdfFileReader(io.BytesIO(data), strict=False))
    if theirs is None:  # a corrupted case: unreadable for both
        assert _outcome(lambda: BoundedReader(data, deadline=Deadline()))[1] is err
        return
    revisions = theirs.xrefs.total_revisions
    ours = BoundedReader(data, deadline=Deadline())
    for r in range(revisions):
        ref_res = theirs.get_historical_resolver(r)

        def full(ref_res=ref_res):  # type: ignore[no-untyped-def]
            ref_res._load_reverse_xref_cache()
            return ref_res._indirect_object_access_cache

        expected, expected_err = _outcome(full)
        got, got_err = _outcome(lambda r=r: ours.get_historical_resolver(r).usage_paths(None))
        assert got_err is expected_err, (r, got_err, expected_err)
        assert got == expected, f"revision {r}"
        if expected:  # and pruned to a few targets: exactly their paths
            targets = set(sorted(expected, key=lambda x: (x.idnum, x.generation))[:: max(1, len(expected) // 5)])
            fresh = BoundedReader(data, deadline=Deadline()).get_historical_resolver(r)
            for t in targets:
                assert fresh._get_usages_of_ref(t) == expected[t]


def _fill(pdf: bytes, field: str, value: str) -> bytes:
    """An incremental update that sets a text field's value (a form fill, or a replacement)."""
    w = IncrementalPdfFileWriter(io.BytesIO(pdf))
    for ref in w.root["/AcroForm"]["/Fields"]:
        f = ref.get_object()
        if f.get("/T") == field:
            f[generic.pdf_name("/V")] = generic.TextStringObject(value)
            w.mark_update(ref)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def busy_file() -> tuple[bytes, object]:
    """Six signed revisions, with fills, a replaced value and a page added between and after them."""
    pki = make_pki("p256")
    data = sign(report_pdf(pages=3, fields=3), pki, field="Sig1")
    data = _fill(data, "field0", "first")
    data = sign(data, pki, field="Sig2")
    data = sign(data, pki, field="Sig3")
    data = _fill(data, "field1", "second")
    data = _fill(data, "field0", "replaced")
    data = sign(data, pki, field="Sig4")
    data = sign(data, pki, field="Sig5")
    data = sign(data, pki, field="Sig6")
    return add_page(data), pki


def _diffs(data: bytes, mode: str) -> list[object]:
    reader = BoundedReader(data, deadline=Deadline(), usage_index=mode)
    sigs = [EmbeddedPdfSignature(reader, f.field, f.name) for f in enumerate_signature_fields(reader)]
    engine = DiffEngine(reader, bases=[s.signed_revision for s in sigs], deadline=Deadline(), budget_seconds=60)
    return [engine.revision_diff(j) for j in range(min(s.signed_revision for s in sigs) + 1, reader.total_revisions)]


def _summary(rep: ValidationReport) -> list[object]:
    return [
        (s.indication, s.sub_indication, s.signer.get("modification_level"),
         [(c.name, c.status, c.detail_en, c.detail_zh) for c in s.checks])
        for s in rep.signatures
    ]


def test_six_revision_difference_analysis_same_as_full_index(busy_file) -> None:  # type: ignore[no-untyped-def]
    data, _ = busy_file
    fast, slow = _diffs(data, "targeted"), _diffs(data, "full")
    assert fast == slow
    kinds = {c.kind for d in fast for c in d.changes}  # the analysis has something to say
    assert {"form_filled", "form_value_replaced", "signature_added", "page_added"} <= kinds
    assert any(d.rejected for d in fast) and any(d.level is not None for d in fast)


def test_six_revision_reports_same_as_full_index(busy_file, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    data, pki = busy_file
    fast = verify_pdf(data, trust=pki.trust, at=NOW)
    monkeypatch.setattr(pdf_read, "USAGE_INDEX", "full")
    slow = verify_pdf(data, trust=pki.trust, at=NOW)
    assert _summary(fast) == _summary(slow)
    assert len(fast.signatures) == 6 and fast.indication is Indication.TOTAL_FAILED  # the page added after


def test_six_revision_verdicts_are_pyhankos_review(busy_file) -> None:  # type: ignore[no-untyped-def]
    data, _ = busy_file
    theirs = PdfFileReader(io.BytesIO(data), strict=False)
    reader = BoundedReader(data, deadline=Deadline())
    sigs = [EmbeddedPdfSignature(theirs, f.field, f.name) for f in enumerate_signature_fields(theirs)]
    engine = DiffEngine(reader, bases=[s.signed_revision for s in sigs], deadline=Deadline(), budget_seconds=60)
    for s in sigs:
        assert s.evaluate_signature_coverage() == SignatureCoverageLevel.ENTIRE_REVISION
        ref = esign_diff_policy().review_file(theirs, s.signed_revision, field_mdp_spec=s.fieldmdp,
                                              doc_mdp=s.docmdp_level)
        mine = engine.review(s.signed_revision, docmdp=s.docmdp_level, fieldmdp=s.fieldmdp,
                             allow_value_replacement=True)
        if isinstance(ref, DiffResult):
            assert not mine.problems and mine.level == ref.modification_level
            assert mine.changed_fields == set(ref.changed_form_fields)
        else:
            assert mine.problems
    # each revision diffed once, and each diff's path lookups answered by one walk of its base
    assert engine.diffs_run == reader.total_revisions - 1 - sigs[0].signed_revision
    assert sum(reader.get_historical_resolver(b).index_walks for b in engine.bases) <= engine.diffs_run


@pytest.mark.parametrize(
    "raw",
    [b"<>", b"<41>", b"<4>", b"<4 1 4\n2\r\t\x0c\x0043>", b"<feff00e9>", b"<48656c6c6f %comment\n 21>",
     b"<41 4G>", b"<41", b"<41) 42>", b"<" + b"ab" * 5000 + b">tail"],
)
def test_fast_hex_strings_are_pyhankos(raw: bytes) -> None:
    fast_stream, slow_stream = pdf_read._PdfInput(raw), io.BytesIO(raw)
    fast, fast_err = _outcome(lambda: pdf_read._read_hex_string(fast_stream))
    slow, slow_err = _outcome(lambda: pdf_read._pyhanko_read_hex(slow_stream))
    assert fast_err is slow_err
    if slow_err is None:
        assert type(fast) is type(slow) and fast.original_bytes == slow.original_bytes and fast == slow
        assert fast_stream.tell() == slow_stream.tell()
    else:
        assert issubclass(fast_err, misc.PdfReadError)


def test_time_budget_stops_the_analysis(busy_file) -> None:  # type: ignore[no-untyped-def]
    data, pki = busy_file
    reader = BoundedReader(data, deadline=(deadline := Deadline()))
    engine = DiffEngine(reader, bases=[1], deadline=deadline, budget_seconds=-1.0)  # already spent
    d = engine.revision_diff(2)
    assert d.out_of_budget and d.level is None and "time budget" in (d.rejected or "")
    assert engine.revision_diff(3).out_of_budget  # and the later revisions are not analysed
    rep = verify_pdf(data, trust=pki.trust, at=NOW, policy=PdfPolicy(diff_budget_seconds=-1.0))
    assert rep.signatures[0].indication is not Indication.TOTAL_PASSED
    assert rep.indication is not Indication.TOTAL_PASSED


def _tangle(layers: int) -> bytes:
    """A form whose field is reached through ``2**layers`` reference paths (two refs per layer)."""
    from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

    w = PdfFileWriter()
    w.insert_page(PageObject(contents=w.add_object(generic.StreamObject(stream_data=b"")), media_box=[0, 0, 9, 9]))
    field = w.add_object(generic.DictionaryObject({
        generic.pdf_name("/FT"): generic.pdf_name("/Tx"),
        generic.pdf_name("/T"): generic.TextStringObject("f"),
    }))
    nxt = [field, field]
    for _ in range(layers):
        nxt = [w.add_object(generic.DictionaryObject({generic.pdf_name("/A"): nxt[0], generic.pdf_name("/B"): nxt[1]}))
               for _ in range(2)]
    w.root[generic.pdf_name("/Tangle")] = generic.ArrayObject(nxt)
    w.root[generic.pdf_name("/AcroForm")] = w.add_object(
        generic.DictionaryObject({generic.pdf_name("/Fields"): generic.ArrayObject([field])})
    )
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def test_reference_path_budget_stops_the_analysis(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    pki = make_pki("p256")
    data = sign(sign(_tangle(12), pki, field="Sig1"), pki, field="Sig2")  # 8192 paths to the field
    monkeypatch.setattr(pdf_read, "MAX_USAGE_PATHS", 2000)
    reader = BoundedReader(data, deadline=(deadline := Deadline()))
    engine = DiffEngine(reader, bases=[1, 2], deadline=deadline, budget_seconds=60)
    d = engine.revision_diff(2)
    assert d.out_of_budget and "reference paths" in (d.rejected or "")
    with pytest.raises(BudgetExceeded):  # pyHanko's own walk is bounded the same way
        slow = BoundedReader(data, deadline=Deadline(), usage_index="full")
        slow.get_historical_resolver(1)._load_reverse_xref_cache()
    rep = verify_pdf(data, trust=pki.trust, at=NOW)
    assert rep.signatures[0].indication is Indication.INDETERMINATE
    monkeypatch.setattr(pdf_read, "MAX_USAGE_PATHS", 200_000)  # within the budget the file is fine
    assert verify_pdf(data, trust=pki.trust, at=NOW).indication is Indication.TOTAL_PASSED


def test_certificates_parsed_once_per_file() -> None:
    der = make_pki("p256").cert_der
    new_file_memo()
    assert certificate_once(der) is certificate_once(der)
    new_file_memo()
    first = certificate_once(der)
    new_file_memo()
    assert certificate_once(der) is not first and certificate_once(der) == first
    for _ in range(2):  # errors are parse_certificate's own, and never remembered
        with pytest.raises(EsignError):
            certificate_once(b"\x30\x03\x02\x01\x00")


def test_rejection_text_does_not_depend_on_set_order() -> None:
    # pyHanko joins sets in hash order (varies per process): the same file must read the same.
    from verifier._pdf_diff import canonical_rejection

    a = "AbsoluteContext(path=PathInRevision('.Root.Pages.Kids[0].Annots[2]'))"
    b = "AbsoluteContext(path=PathInRevision('.Root.AcroForm.Fields[1]'))"
    r11, r12 = "Reference(idnum=11, generation=0)", "Reference(idnum=12, generation=0)"
    one = (f"There are unexplained xrefs in revision 5: {r12}, {r11}.\nSome objects from revision 4 were replaced "
           f"in revision 5 without precise justification:\n - {r12} is also used in {a}, {b} in the prior revision.\n"
           f" - {r11} is also used in {b} in the prior revision.")
    two = (f"There are unexplained xrefs in revision 5: {r11}, {r12}.\nSome objects from revision 4 were replaced "
           f"in revision 5 without precise justification:\n - {r11} is also used in {b} in the prior revision.\n"
           f" - {r12} is also used in {b}, {a} in the prior revision.")
    assert one != two and canonical_rejection(one) == canonical_rejection(two)
    assert canonical_rejection("Some other message, with, commas") == "Some other message, with, commas"
