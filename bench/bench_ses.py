"""Benchmark GB/T 38540 seal signatures over a 1 MB document against raw SM2 signing of the same data.

Usage (from the project root):

    .venv/bin/python bench/bench_ses.py                  # 2 s per figure, 5 alternating rounds
    .venv/bin/python bench/bench_ses.py --seconds 1 --rounds 3 --no-write

Figures (one command, one process, one core, alternating rounds; the median is reported):

* ``raw``: ``keys._sm2.SM2PrivateKey.sign(doc)`` -- SM3(Z || 1 MB) and one SM2 signature;
* ``ses``: ``esign.ses.sign_with_seal(data=doc)`` -- SM3(1 MB) for ``dataHash``, the seal
  checks (cached maker-signature check), ``TBS_Sign`` with the ~17 KB seal, one SM2 signature
  over it, DER assembly;
* ``ses (hash given)``: ``sign_with_seal(data_hash=...)``, as when a client sends the SM3 hash;
* ``SM3 1 MB`` and ``SM2 sign 32 B``, to show where the time goes.

Target (reported, never asserted): >= 1,000 seal signatures per second per core over 1 MB. The
section between the markers in docs/benchmarks.md is replaced on each run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from esign.ses import make_seal, sign_with_seal  # noqa: E402
from keys._sm2 import SM2PrivateKey  # noqa: E402
from keys.hashing import sm3  # noqa: E402
from keys.keypairs import Sm2SigningKey  # noqa: E402
from keys.x509 import (  # noqa: E402
    build_certificate,
    ext_basic_constraints,
    ext_key_usage,
    ext_subject_key_identifier,
    make_name,
)

DOC = ROOT / "docs" / "benchmarks.md"
BEGIN = "<!-- BEGIN ses -->"
END = "<!-- END ses -->"
TARGET = 1000.0


def _cert(issuer_key: Sm2SigningKey, subject_key: Sm2SigningKey, cn: str, at: dt.datetime) -> bytes:
    spki = subject_key.public_key().spki_der()
    return build_certificate(subject=make_name({"C": "CN", "CN": cn}), issuer=make_name({"C": "CN", "CN": "Bench CA"}),
                             subject_spki=spki, issuer_key=issuer_key, not_before=at - dt.timedelta(days=1),
                             not_after=at + dt.timedelta(days=365),
                             extensions=[ext_basic_constraints(ca=False),
                                         ext_key_usage({"digital_signature", "non_repudiation"}),
                                         ext_subject_key_identifier(spki)])


def _png() -> bytes:
    import io

    from PIL import Image, ImageDraw

    img = Image.new("RGBA", (400, 400), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    for i in range(0, 400, 7):  # some detail, so the picture is ~15 KB like real seals
        draw.line((0, i, 400, (i * 37) % 400), fill=(200, 0, 0, 255), width=1)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _rate(fn: Callable[[], object], seconds: float) -> float:
    n, start = 0, time.perf_counter()
    end = start + seconds
    while True:
        fn()
        n += 1
        now = time.perf_counter()
        if now >= end:
            return n / (now - start)


def _bound(sm3_rate: float, sign_rate: float) -> str:
    """Why the target is out of reach on this machine, when the two unavoidable steps alone exceed 1 ms."""
    ceiling = 1 / (1 / sm3_rate + 1 / sign_rate)
    if ceiling >= TARGET:
        return ""
    return (f" SM3 over the document ({sm3_rate:,.0f}/s) plus one SM2 signature ({sign_rate:,.0f}/s) alone cap any "
            f"implementation at about {ceiling:,.0f}/s here; the ratio above is the SES overhead.")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--size", type=int, default=1 << 20, help="document size in bytes (default 1 MiB)")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ca, maker, signer = (Sm2SigningKey(SM2PrivateKey.generate()) for _ in range(3))
    maker_cert, signer_cert = _cert(ca, maker, "Bench Maker", at), _cert(ca, signer, "Bench Signer", at)
    seal = make_seal(maker_key=maker, maker_cert_der=maker_cert, seal_id="BENCH-0001", seal_type=1, name="基准测试章",
                     signer_certs=[signer_cert], valid_from=at - dt.timedelta(hours=1),
                     valid_to=at + dt.timedelta(days=30), picture=_png(), width_mm=40, height_mm=40, at=at)
    doc = os.urandom(args.size)
    digest = sm3(doc)

    figures: dict[str, Callable[[], object]] = {
        "raw SM2 sign of the document (keys._sm2)": lambda: signer.raw.sign(doc),
        "SES seal signature (sign_with_seal, data)": lambda: sign_with_seal(
            seal_der=seal, signer_key=signer, signer_cert_der=signer_cert, data=doc, at=at, property_info="bench"),
        "SES seal signature (sign_with_seal, data_hash)": lambda: sign_with_seal(
            seal_der=seal, signer_key=signer, signer_cert_der=signer_cert, data_hash=digest, at=at,
            property_info="bench"),
        "SM3 of the document": lambda: sm3(doc),
        "raw SM2 sign of 32 bytes": lambda: signer.raw.sign(digest),
    }
    results: dict[str, list[float]] = {k: [] for k in figures}
    for _ in range(args.rounds):
        for name, fn in figures.items():
            results[name].append(_rate(fn, args.seconds))
    med = {k: statistics.median(v) for k, v in results.items()}
    raw, ses, ses_h = (med[k] for k in list(figures)[:3])
    rows = [f"| {k} | {v:,.0f} |" for k, v in med.items()]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    text = "\n".join([
        BEGIN,
        "## ses",
        "",
        f"SES (GB/T 38540) seal signatures over a {args.size:,}-byte document, one core, "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()} {platform.python_version()}, "
        f"load {load:.2f} at start. Median of {args.rounds} alternating rounds of {args.seconds:g} s.",
        "",
        "| operation | per second |",
        "|---|---:|",
        *rows,
        "",
        f"- SES signature / raw SM2 signing of the same data: **{ses / raw:.2f}x** "
        f"(with the hash given: {ses_h / raw:.2f}x).",
        f"- Target >= {TARGET:,.0f}/s per core over 1 MB: **{'met' if ses >= TARGET else 'not met'}** "
        f"({ses:,.0f}/s).{_bound(med[list(figures)[3]], med[list(figures)[4]])}",
        f"- With the document's SM3 hash given (a client or an OFD reference list hashes the document; "
        f"`sign_with_seal(data_hash=...)`, `POST /v1/seals/{{id}}/sign` with `data_hash_hex`): **{ses_h:,.0f}/s** "
        f"({'meets' if ses_h >= TARGET else 'misses'} {TARGET:,.0f}/s). Hashing 1 MB in-process needs SM3 at "
        f"about 1 GB/s per core for the literal target, four times what this CPU does (OpenSSL's SM3 assembly "
        f"is for ARMv8 and RISC-V SM3 instructions; on x86-64 it runs C), and SM3 is sequential within one "
        f"message, so more cores do not help one signature.",
        "",
        "Reproduce: `.venv/bin/python bench/bench_ses.py`",
        END,
    ])
    print(text)
    if not args.no_write:
        body = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
        if BEGIN in body and END in body:
            pre, rest = body.split(BEGIN, 1)
            post = rest.split(END, 1)[1]
            body = pre + text + post
        else:
            body = body.rstrip("\n") + "\n\n" + text + "\n"
        DOC.write_text(body, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
