"""Trust lists: import a 10,000-entry list (target < 1 s; ratio to json.loads of the same bytes) and
issuer look-ups at 1k / 10k / 100k entries (O(1): the time per look-up must not grow with size).

The import figure is COLD: the certificate-walk cache (``keys._trustlist_schema._CERT_INFO``) is
emptied before every round, as for a list never seen before; the warm figure (a refresh or the
re-verification of a held list, whose certificates were walked already) is reported separately.

Run: ``.venv/bin/python bench/bench_trust.py`` (writes the ``trust`` section of docs/benchmarks.md;
``--no-write`` to only print).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._doc import write_section
from keys import _trustlist_schema
from keys.keypairs import generate_key
from keys.trustlist import make_entry, parse_and_verify, publish
from tests._trust_fixtures import T0, bulk_entries, many_certs

AT = T0 + timedelta(days=1)
_ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


def _best(fn, rounds: int, *, cold: bool = False) -> float:
    best = float("inf")
    for _ in range(rounds):
        if cold:
            _trustlist_schema._CERT_INFO.clear()
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _signed(key, entries) -> bytes:
    return publish(region="110000", version=1, issued_at=T0, expires_at=T0 + timedelta(days=30), signers=[key],
                   entries=entries, threshold=1)


def main() -> None:
    key = generate_key("sm2")
    pins = [key.public_key()]
    certs = many_certs(10_000)
    raw = _signed(key, bulk_entries(certs))

    def imp():
        return parse_and_verify(raw, pinned_keys=pins, threshold=1, previous=None, at=AT)

    t_import = _best(imp, 5, cold=True)
    t_warm = _best(imp, 5)
    t_json = _best(lambda: json.loads(raw), 5)
    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {platform.machine()} ({os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f} at the time), Python "
        f"{platform.python_version()}; best of 5, single thread.",
        "",
        "| figure | result |",
        "|---|---:|",
        f"| 10,000-entry list ({len(raw) / 1e6:.1f} MB, one certificate per entry, SM2-signed): parse + verify "
        f"+ index, cold | **{t_import * 1000:.0f} ms** (target < 1,000 ms) |",
        f"| same list again (refresh / re-verification of a held list: certificates already walked) | "
        f"{t_warm * 1000:.0f} ms |",
        f"| reference: `json.loads` of the same bytes | {t_json * 1000:.0f} ms |",
        f"| ratio import / json.loads | {t_import / t_json:.1f}x |",
    ]
    rows = []
    for n in (1_000, 10_000, 100_000):
        spkis = [_ED25519_SPKI_PREFIX + os.urandom(32) for _ in range(n)]
        ents = [make_entry(id=f"s{i}", service_type="qr_signer", name=f"S{i}", since=T0, spki=[s])
                for i, s in enumerate(spkis)]
        tl = parse_and_verify(_signed(key, ents), pinned_keys=pins, threshold=1, previous=None, at=AT)
        probes = [hashlib.sha256(spkis[(i * 7919) % n]).digest() for i in range(100_000)]
        find = tl.find

        def look(probes=probes, find=find):
            for p in probes:
                find("spki_sha256", p)

        t = _best(look, 3) / len(probes)
        rows.append((n, t))
    base = rows[0][1]
    lines += ["", "| entries | issuer look-up by SPKI fingerprint | vs 1k |", "|---:|---:|---:|"]
    lines += [f"| {n:,} | {t * 1e9:.0f} ns | {t / base:.2f}x |" for n, t in rows]
    body = "\n".join(lines)
    print(body)
    if "--no-write" not in sys.argv:
        write_section("trust", "trust lists", body)


if __name__ == "__main__":
    main()
