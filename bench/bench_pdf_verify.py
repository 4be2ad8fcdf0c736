"""PDF verification vs pyHanko's own validation, in the same run (see docs/benchmarks.md, ## pdf-verify).

(1) A one-page signed PDF (ECDSA P-256): esign ``verify_pdf`` vs pyHanko ``validate_pdf_signature``
    with the same ValidationContext settings. Target: ours / pyHanko <= 1.2.
(2) A PDF with six signed revisions (sign, then five incremental signatures): esign vs pyHanko's
    default validation (``validate_pdf_signature`` per signature, default diff policy, one reader).
    Target: pyHanko / ours >= 2, with the same verdict for every signature.
(3) The same on a 10-page form (where the reverse-reference index grows with the document).
Then one verification of (2) is broken down into steps on both sides (wall clock, by wrapping).

Run from the project root: ``.venv/bin/python bench/bench_pdf_verify.py [--rounds N] [--no-write]``.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import statistics
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pyhanko.pdf_utils.reader import PdfFileReader  # noqa: E402
from pyhanko.sign.validation import validate_pdf_signature  # noqa: E402
from pyhanko.sign.validation.settings import KeyUsageConstraints  # noqa: E402
from pyhanko_certvalidator import ValidationContext  # noqa: E402

from tests._pdf_fixtures import NOW, make_pki, minimal_pdf, report_pdf, sign, six_revisions  # noqa: E402
from verifier import (  # noqa: E402
    _names_fast,
    _path_memo,
    _pdf_read,
)
from verifier.pdf import verify_pdf  # noqa: E402
from verifier.report import Indication  # noqa: E402

KU = KeyUsageConstraints(key_usage={"digital_signature", "non_repudiation"}, match_all_key_usages=False)
DOC = ROOT / "docs" / "benchmarks.md"


def _vc(pki) -> ValidationContext:  # type: ignore[no-untyped-def]
    return ValidationContext(
        trust_roots=[a.asn1 for a in pki.trust.anchors], allow_fetching=False, moment=NOW, revocation_mode="soft-fail"
    )


def pyhanko_validate(data: bytes, pki, *, with_our_memos: bool = False) -> list[bool]:  # type: ignore[no-untyped-def]
    """pyHanko's default validation, as shipped: without the name and path memos that importing
    ``verifier`` installs (verifier/_names_fast.py, verifier/_path_memo.py) and without our readers'
    delegation wrappers (verifier/_pdf_read.py), unless asked."""
    with ExitStack() as stack:
        if not with_our_memos:
            stack.enter_context(_names_fast.shipped())
            stack.enter_context(_path_memo.shipped())
            stack.enter_context(_pdf_read.shipped())
        r = PdfFileReader(io.BytesIO(data), strict=False)
        vc = _vc(pki)
        return [validate_pdf_signature(s, vc, key_usage_settings=KU).bottom_line for s in r.embedded_signatures]


def ours(data: bytes, pki) -> list[bool]:  # type: ignore[no-untyped-def]
    rep = verify_pdf(data, trust=pki.trust, at=NOW)
    return [s.indication is Indication.TOTAL_PASSED for s in rep.signatures]


def _time_pair(fa, fb, rounds: int, inner: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Median seconds per call of ``fa`` and ``fb``, alternating them round by round (drift hits both)."""
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        for fn, out in ((fa, samples[0]), (fb, samples[1])):
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            out.append((time.perf_counter() - t0) / inner)
    return statistics.median(samples[0]), statistics.median(samples[1])


def _breakdown(data: bytes, pki) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:  # type: ignore[no-untyped-def]
    """Wall-clock time per step of one verification (median of 5), by wrapping the named functions."""
    import pyhanko.pdf_utils.generic as ph_generic
    import pyhanko.sign.validation.generic_cms as ph_cms
    from pyhanko.sign.diff_analysis.policies import StandardDiffPolicy

    import verifier._pdf_read as vread
    import verifier.pdf as vpdf
    from verifier._pdf_diff import DiffEngine

    acc: dict[str, float] = {}

    def wrap(owner, name, label, is_async=False):  # type: ignore[no-untyped-def]
        fn = getattr(owner, name)
        if is_async:
            async def w(*a, **k):  # type: ignore[no-untyped-def]
                t = time.perf_counter()
                try:
                    return await fn(*a, **k)
                finally:
                    acc[label] = acc.get(label, 0.0) + time.perf_counter() - t
        else:
            def w(*a, **k):  # type: ignore[no-untyped-def]
                t = time.perf_counter()
                try:
                    return fn(*a, **k)
                finally:
                    acc[label] = acc.get(label, 0.0) + time.perf_counter() - t
        setattr(owner, name, w)
        return owner, name, fn

    def run(fn, labels):  # type: ignore[no-untyped-def]
        rows: dict[str, list[float]] = {lb: [] for lb in ("total", *labels)}
        for _ in range(5):
            acc.clear()
            t = time.perf_counter()
            fn()
            rows["total"].append(time.perf_counter() - t)
            for lb in labels:
                rows[lb].append(acc.get(lb, 0.0))
        return [(lb, statistics.median(v) * 1000) for lb, v in rows.items()]

    mine = [
        (vpdf, "_run_async", "CMS/path validation per signature (pyHanko, path memo) + proof of existence", False),
        (DiffEngine, "revision_diff", "difference analysis (5 revisions)", False),
        (vread._BoundedHistorical, "_index", "  of which: reverse-reference index", False),
        (vpdf, "pades_levels", "PAdES level per signature", False),
        (vpdf, "_prepare", "signature dictionaries, CMS parse, coverage", False),
    ]
    theirs = [
        (ph_cms, "cms_basic_validation", "CMS/path validation (`cms_basic_validation`)", True),
        (StandardDiffPolicy, "review_file", "difference analysis (`review_file`, 15 diffs)", False),
        (ph_generic, "read_hex_string_from_stream", "hex strings (`/Contents`)", False),
    ]
    out = []
    for steps, fn in ((mine, lambda: ours(data, pki)), (theirs, lambda: pyhanko_validate(data, pki))):
        saved = [wrap(owner, name, label, is_async) for owner, name, label, is_async in steps]
        try:
            out.append(run(fn, [label for _, _, label, _ in steps]))
        finally:
            for owner, name, fn0 in saved:
                setattr(owner, name, fn0)
    ours_rows, ph_rows = out
    return ours_rows, ph_rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    pki = make_pki("p256")
    one = sign(minimal_pdf(), pki, field="Sig1")
    six = six_revisions(pki)
    six_big = six_revisions(pki, report_pdf(pages=10, fields=5))
    assert ours(one, pki) == pyhanko_validate(one, pki) == [True]
    v_ours, v_ph = ours(six, pki), pyhanko_validate(six, pki)
    assert v_ours == v_ph, (v_ours, v_ph)
    vb_ours, vb_ph = ours(six_big, pki), pyhanko_validate(six_big, pki)
    assert vb_ours == vb_ph, (vb_ours, vb_ph)
    # The two sides alternate round by round so load from other jobs hits both alike.
    t1_ours, t1_ph = _time_pair(lambda: ours(one, pki), lambda: pyhanko_validate(one, pki), args.rounds, 20)
    t6_ours, t6_ph = _time_pair(lambda: ours(six, pki), lambda: pyhanko_validate(six, pki), args.rounds, 3)
    tb_ours, tb_ph = _time_pair(lambda: ours(six_big, pki), lambda: pyhanko_validate(six_big, pki), args.rounds, 1)
    # informative: pyHanko given the memos (and our readers' wrappers) too (its own validation, same process)
    _, t6_ph_memo = _time_pair(lambda: None, lambda: pyhanko_validate(six, pki, with_our_memos=True), args.rounds, 3)
    parts_ours, parts_ph = _breakdown(six, pki)
    load = os.getloadavg()[0]
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    r1, r6, rb = t1_ours / t1_ph, t6_ph / t6_ours, tb_ph / tb_ours
    lines = [
        "<!-- BEGIN pdf-verify -->",
        "## pdf-verify",
        "",
        f"`.venv/bin/python bench/bench_pdf_verify.py --rounds {args.rounds}` — {when}, load average {load:.2f} "
        f"(2 cores shared with other jobs), pyHanko 0.38.0, median of {args.rounds} rounds, the two sides "
        "alternating round by round.",
        "",
        "| case | esign `verify_pdf` | pyHanko | ratio | target | verdicts |",
        "|---|---|---|---|---|---|",
        f"| one-page PDF, 1 ECDSA signature | {t1_ours * 1000:.1f} ms | {t1_ph * 1000:.1f} ms "
        "(`validate_pdf_signature`, same ValidationContext) "
        f"| ours/pyHanko = {r1:.2f} | <= 1.2 {'met' if r1 <= 1.2 else '**missed**'} | both valid |",
        f"| six signed revisions (6 signatures) | {t6_ours * 1000:.0f} ms | {t6_ph * 1000:.0f} ms "
        "(`validate_pdf_signature` per signature, default diff policy) "
        f"| pyHanko/ours = {r6:.2f} | >= 2 {'met' if r6 >= 2 else '**missed**'} | same for all 6: {v_ours} |",
        f"| six signed revisions, pyHanko given esign's name and path memos (informative) | {t6_ours * 1000:.0f} ms "
        f"| {t6_ph_memo * 1000:.0f} ms | pyHanko/ours = {t6_ph_memo / t6_ours:.2f} | - | - |",
        f"| 10-page form (5 text fields), six signed revisions | {tb_ours * 1000:.0f} ms "
        f"| {tb_ph * 1000:.0f} ms (same) "
        f"| pyHanko/ours = {rb:.2f} | >= 2 {'met' if rb >= 2 else '**missed**'} | same for all 6: {vb_ours} |",
        "",
        "Where the time goes on the six-revision file (one verification, wall clock, measured after the",
        "timed rounds by wrapping the named functions):",
        "",
        "| esign step | ms | pyHanko step | ms |",
        "|---|---|---|---|",
        *(
            f"| {a[0]} | {a[1]:.1f} | {b[0]} | {f'{b[1]:.1f}' if b[0] else ''} |"
            for a, b in zip(parts_ours, parts_ph + [("", 0.0)] * (len(parts_ours) - len(parts_ph)), strict=True)
        ),
        "",
        "What changed (issue 4, item 2): the difference analysis answers pyHanko's reverse-reference",
        "lookups from a *targeted* index (verifier/_pdf_read.py): only the objects a revision rewrote and",
        "the form fields are looked up, so the walk skips every object that cannot reach them, walks a",
        "per-object skeleton with integer ids instead of pyHanko's linked-cell paths, and is bounded by",
        "`MAX_USAGE_PATHS` as well as the time budget; its answers equal pyHanko's full index on every",
        "revision of the interop corpora (tests/test_pdf_verify_perf_equivalence.py, which also keeps",
        "pyHanko's walk as the reference: `usage_index=\"full\"`). Signature `/Contents` hex strings are",
        "decoded in one step instead of byte by byte, and certificates are parsed once per file for the",
        "reports. Each revision is still diffed once against the latest signed revision before it.",
        "",
        "Target (2) on the small six-revision file, closed in session 3 by two exact memos that",
        "`import verifier` installs. (a) X.509 name comparison (verifier/_names_fast.py): names with",
        "identical DER are equal (RFC 5280 §7.1), others compare by a canonical form (per RDN: size,",
        "types, RFC 4518-prepared values) computed once per distinct encoding; asn1crypto prepared every",
        "value again for every comparison, and matching signer, ESS identifiers, issuers and the PAdES",
        "checks compare names dozens of times per signature. (b) pyHanko's certificate step",
        "(`generic_cms.validate_cert_usage`, verifier/_path_memo.py) runs once per signer certificate",
        "and validation context: the other five signatures by the same signer reuse the validated path;",
        "only successes are remembered. (c) On our own input streams, PDF names and tokens are read",
        "with one regular-expression search instead of byte by byte, names are decoded once per",
        "distinct name, and a hex string that PDFDocEncoding cannot decode (a signature's `/Contents`)",
        "is found so with one `translate` instead of a Python loop over its kilobytes. tests/",
        "test_speed_memos.py checks each against the function it stands in for (every pair of PKITS",
        "names, random strings, the same reports with and without). The pyHanko column is pyHanko as",
        "shipped (all of these switched off while it runs); the informative row shows pyHanko's own",
        "validation with them on, for scale (not alternated with ours, so noisier). Rounds vary by",
        "about 10% on this 2-vCPU machine; the six-revision ratio measured 2.1-2.8 over four runs.",
        "<!-- END pdf-verify -->",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        doc = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
        if "<!-- BEGIN pdf-verify -->" in doc:
            head, rest = doc.split("<!-- BEGIN pdf-verify -->", 1)
            tail = rest.split("<!-- END pdf-verify -->", 1)[1]
            doc = head + text + tail
        else:
            doc = doc.rstrip("\n") + "\n\n" + text + "\n"
        tmp = DOC.with_suffix(".md.tmp")
        tmp.write_text(doc, encoding="utf-8")
        os.replace(tmp, DOC)


if __name__ == "__main__":
    main()
