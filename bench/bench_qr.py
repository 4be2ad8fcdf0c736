"""HC1 QR verification per second per core (target >= 3,500/s), against the raw ECDSA P-256 verify of
the same signature with pyca in the same run (the floor no verifier can beat).

Run: ``.venv/bin/python bench/bench_qr.py`` (writes the ``qr`` section of docs/benchmarks.md;
``--no-write`` to only print). Case: dgc-testdata ``common/2DCode/raw/CO20.json`` (ES256, P-256).
"""

from __future__ import annotations

import base64
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from bench._doc import write_section
from verifier.qr import dcc_kid, decode_hc1, verify_hc1

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "interop" / "dgc-testdata"
CASE = CORPUS / "common" / "2DCode" / "raw" / "CO20.json"


def _rate(fn, n: int, rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - t)
    return n / best


def main() -> None:
    case = json.loads(CASE.read_text(encoding="utf-8-sig"))
    text = case["PREFIX"]
    der = base64.b64decode(case["TESTCTX"]["CERTIFICATE"])
    at = datetime.fromisoformat(case["TESTCTX"]["VALIDATIONCLOCK"].replace("Z", "+00:00")).astimezone(UTC)
    trust = {dcc_kid(der): der}
    rep = verify_hc1(text, trust=trust, at=at)
    assert rep.passed, rep.reason
    # Reference: the same signature over the same Sig_structure, straight into pyca.
    cose = cbor2.loads(decode_hc1(text).cose).value
    prot, _, payload, sig = cose
    msg = cbor2.dumps(["Signature1", prot, b"", payload])
    dsig = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    key = x509.load_der_x509_certificate(der).public_key()
    alg = ec.ECDSA(hashes.SHA256())
    n = 2000
    raw = _rate(lambda: key.verify(dsig, msg, alg), n)
    full = _rate(lambda: verify_hc1(text, trust=trust, at=at), n)
    load = os.getloadavg()[0]
    body = "\n".join([
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()} ({os.cpu_count()} CPUs, load average "
        f"{load:.1f} at the time), Python {platform.python_version()}; one thread, best of 5 x {n}.",
        "",
        "| figure | per second | µs each |",
        "|---|---:|---:|",
        f"| `verify_hc1` on `CO20.json` ({len(text)} chars): prefix, Base45, zlib, COSE, KID, ES256, CWT times, "
        f"key usage, report | **{full:,.0f}** (target ≥ 3,500) | {1e6 / full:.0f} |",
        f"| reference: pyca ECDSA P-256 verify of the same signature | {raw:,.0f} | {1e6 / raw:.0f} |",
        f"| ratio full / raw verify | {full / raw:.2f}x | |",
    ])
    print(body)
    if "--no-write" not in sys.argv:
        write_section("qr", "QR verification (HC1)", body)


if __name__ == "__main__":
    main()
