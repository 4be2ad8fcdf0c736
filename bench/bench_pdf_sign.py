"""Benchmark PDF signing through esign against plain pyHanko, and peak memory on a 100 MB PDF.

Usage (from the project root):

    .venv/bin/python bench/bench_pdf_sign.py                 # 3 s per figure, 5 alternating rounds
    .venv/bin/python bench/bench_pdf_sign.py --seconds 1 --rounds 3 --no-write --big-mb 20

Figures (one process, one core, alternating rounds; median of the rounds):

* ``pyhanko ecdsa``: pyHanko's own ``SimpleSigner`` + ``PdfSigner.sign_pdf`` with the same P-256
  key, certificate and chain, invisible PAdES B-B signature on a one-page PDF;
* ``esign ecdsa``: ``esign.pdf.sign_pdf`` with the same key (through ``keys.interfaces.SigningKey``);
* ``esign sm2``: the same with an SM2 key (SM3 digest, SM2-with-SM3 CMS);
* ``raw ecdsa`` / ``raw sm2``: one signature over 200 bytes (the signed attributes are ~200 B),
  so the extra cost of SM2 itself is visible.

Targets (reported, never asserted): esign ecdsa <= 1.2 x pyhanko ecdsa; esign sm2 <= 1.2 x esign
ecdsa + (raw sm2 - raw ecdsa). Memory: ``sign_pdf_file`` on a generated 100 MB PDF in a fresh
subprocess, peak RSS from ``resource.getrusage`` (target < 300 MB), next to the same subprocess
doing everything but the signing (imports, key) as a floor.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from asn1crypto import keys as asn1_keys  # noqa: E402
from asn1crypto import x509 as asn1_x509  # noqa: E402
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter  # noqa: E402
from pyhanko.sign import signers  # noqa: E402
from pyhanko.sign.fields import SigSeedSubFilter  # noqa: E402
from pyhanko_certvalidator.registry import SimpleCertificateStore  # noqa: E402

from bench._doc import write_section  # noqa: E402
from esign.pdf import sign_pdf  # noqa: E402
from keys.ca import Region  # noqa: E402
from keys.keypairs import generate_key  # noqa: E402

AT = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def _one_page_pdf() -> bytes:
    from tests.test_pdf_sign import blank_pdf

    return blank_pdf(1)


def _rate(fn: Callable[[], object], seconds: float) -> float:
    """Seconds per call, measured over ``seconds``."""
    fn()
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        el = time.perf_counter() - start
        if el >= seconds:
            return el / n


def write_big_pdf(path: Path, mb: int) -> None:
    """A valid one-page PDF padded with an unreferenced ``mb`` MiB stream, written in chunks."""
    chunk = os.urandom(1 << 20)
    offsets = []
    with path.open("wb") as fh:
        fh.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")

        def obj(num: int, body: bytes) -> None:
            offsets.append((num, fh.tell()))
            fh.write(f"{num} 0 obj\n".encode() + body + b"\nendobj\n")

        obj(1, b"<< /Type /Catalog /Pages 2 0 R >>")
        obj(2, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
        obj(3, b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << >> >>")
        content = b"BT /F1 12 Tf 72 720 Td (big) Tj ET"
        obj(4, b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
        offsets.append((5, fh.tell()))
        fh.write(b"5 0 obj\n<< /Length %d >>\nstream\n" % (mb << 20))
        for _ in range(mb):
            fh.write(chunk)
        fh.write(b"\nendstream\nendobj\n")
        xref = fh.tell()
        fh.write(b"xref\n0 6\n0000000000 65535 f \n")
        for _, off in sorted(offsets):
            fh.write(b"%010d 00000 n \n" % off)
        fh.write(b"trailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref)


_CHILD = r"""
import resource, sys, datetime as dt
sys.path.insert(0, sys.argv[1])
from keys.pkcs8 import load_private_key
from esign.pdf import sign_pdf_file
key = load_private_key(open(sys.argv[2], 'rb').read(), passphrase=None)
cert = open(sys.argv[3], 'rb').read()
at = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)
if sys.argv[6] == 'sign':
    sign_pdf_file(sys.argv[4], sys.argv[5], key=key, cert_der=cert, at=at)
elif sys.argv[6] == 'verify':
    from keys.x509 import parse_certificate
    from verifier.pdf import verify_pdf
    from verifier.pki import TrustStore
    root = parse_certificate(open(sys.argv[7], 'rb').read())
    rep = verify_pdf(sys.argv[5], trust=TrustStore.of([root]), at=at)
    print(rep.indication.value)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def big_file_rss(mb: int, key_der: bytes, cert_der: bytes, anchor_der: bytes) -> dict[str, tuple[float, float]]:
    """Peak RSS (MiB) and wall seconds per step for a ``mb`` MiB PDF, each in a fresh subprocess:
    ``sign`` (file to file), ``verify`` (the signed file, :func:`verifier.pdf.verify_pdf`; the
    verdict must be TOTAL_PASSED) and ``floor`` (the same process doing neither)."""
    with tempfile.TemporaryDirectory() as d:
        dp = Path(d)
        src, dst = dp / "big.pdf", dp / "big-signed.pdf"
        (dp / "k.der").write_bytes(key_der)
        (dp / "c.der").write_bytes(cert_der)
        (dp / "root.der").write_bytes(anchor_der)  # the issuing CA as anchor (the child signs without a chain)
        write_big_pdf(src, mb)
        out = {}
        for mode in ("sign", "verify", "floor"):
            t0 = time.perf_counter()
            res = subprocess.run(
                [sys.executable, "-c", _CHILD, str(ROOT), str(dp / "k.der"), str(dp / "c.der"), str(src), str(dst),
                 mode, str(dp / "root.der")], capture_output=True, text=True, check=True)
            lines = res.stdout.strip().splitlines()
            if mode == "verify":
                assert lines[-2] == "TOTAL_PASSED", res.stdout
            out[mode] = (int(lines[-1]) / 1024, time.perf_counter() - t0)
        assert dst.stat().st_size > src.stat().st_size
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--big-mb", type=int, default=100)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp())
    region = Region.init(tmp / "r", region="bench", passphrase=b"bench-passphrase", alg="p256",
                         at=AT - dt.timedelta(days=1), scrypt_n=2**10)
    ca = region.ca()
    chain = [ca.cert.der, region.root.cert.der]
    ec_key = generate_key("p256")
    sm2_key = generate_key("sm2")
    ec_cert = ca.issue(subject={"CN": "bench ecdsa"}, profile="enterprise_signer", public_key=ec_key.public_key(),
                       at=AT - dt.timedelta(hours=1)).der
    sm2_cert = ca.issue(subject={"CN": "bench sm2"}, profile="enterprise_signer", public_key=sm2_key.public_key(),
                        at=AT - dt.timedelta(hours=1)).der
    pdf = _one_page_pdf()

    ph_signer = signers.SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(ec_cert),
        signing_key=asn1_keys.PrivateKeyInfo.load(ec_key.private_der()),  # type: ignore[attr-defined]
        cert_registry=SimpleCertificateStore.from_certs([asn1_x509.Certificate.load(c) for c in chain]),
    )
    n = iter(range(10**9))

    def pyhanko_ecdsa() -> object:
        meta = signers.PdfSignatureMetadata(field_name=f"Signature{next(n)}", subfilter=SigSeedSubFilter.PADES,
                                            md_algorithm="sha256")
        return signers.PdfSigner(meta, ph_signer).sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)))

    def esign_ecdsa() -> object:
        return sign_pdf(pdf, key=ec_key, cert_der=ec_cert, chain=chain, at=AT)

    def esign_sm2() -> object:
        return sign_pdf(pdf, key=sm2_key, cert_der=sm2_cert, chain=chain, at=AT)

    attrs = os.urandom(200)
    figures: dict[str, Callable[[], object]] = {
        "pyhanko ecdsa": pyhanko_ecdsa, "esign ecdsa": esign_ecdsa, "esign sm2": esign_sm2,
        "raw ecdsa": lambda: ec_key.sign(attrs), "raw sm2": lambda: sm2_key.sign(attrs),
    }
    results: dict[str, list[float]] = {k: [] for k in figures}
    load = os.getloadavg()[0]
    for _ in range(args.rounds):
        for name, fn in figures.items():
            results[name].append(_rate(fn, args.seconds))
    med = {k: statistics.median(v) for k, v in results.items()}
    r_ec = med["esign ecdsa"] / med["pyhanko ecdsa"]
    extra = med["raw sm2"] - med["raw ecdsa"]
    budget = 1.2 * med["esign ecdsa"] + extra
    big = big_file_rss(args.big_mb, ec_key.private_der(), ec_cert, ca.cert.der)  # type: ignore[attr-defined]

    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = "\n".join(f"| {k} | {v * 1000:.2f} ms | {1 / v:,.0f}/s |" for k, v in med.items())
    body = f"""## PDF signing (esign.pdf) vs pyHanko — {now}

Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()},
load average at start {load:.2f}. Command: `.venv/bin/python bench/bench_pdf_sign.py --seconds {args.seconds:g}
--rounds {args.rounds} --big-mb {args.big_mb}`. One-page PDF, invisible B-B signature, chain of 2 embedded;
median of {args.rounds} alternating rounds of {args.seconds:g} s each.

| figure | time per signature | rate |
|---|---|---|
{rows}

* esign ECDSA / pyHanko ECDSA: **{r_ec:.2f}x** (target <= 1.2x; esign adds the certificate checks
  (key match, validity, keyUsage), strict PDF reading and the typed-error wrapper).
* SM2 cost: raw SM2 sign {med['raw sm2'] * 1e6:.0f} us vs raw ECDSA {med['raw ecdsa'] * 1e6:.0f} us
  (extra {extra * 1e6:.0f} us). esign SM2 = {med['esign sm2'] * 1000:.2f} ms against the budget
  1.2 x ECDSA + extra = {budget * 1000:.2f} ms: **{'met' if med['esign sm2'] <= budget else 'NOT met'}**
  ({med['esign sm2'] / med['esign ecdsa']:.2f}x ECDSA).
* {args.big_mb} MiB PDF, each step in a fresh subprocess (target < 300 MiB peak): `sign_pdf_file`
  (streams from file to file) **{big['sign'][0]:.0f} MiB**, {big['sign'][1]:.1f} s; `verify_pdf` of the
  signed file (TOTAL_PASSED; it holds the file in memory, up to `MAX_PDF_BYTES` = 128 MiB)
  **{big['verify'][0]:.0f} MiB**, {big['verify'][1]:.1f} s; floor of the same process doing neither
  {big['floor'][0]:.0f} MiB. Wall times include interpreter start.
"""
    print(body)
    if not args.no_write:
        write_section("pdf", "pdf", body)


if __name__ == "__main__":
    main()
