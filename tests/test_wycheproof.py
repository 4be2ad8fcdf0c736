"""Project Wycheproof signature vectors through the project's key API.

Keys are loaded from each group's DER SubjectPublicKeyInfo with
``keys.keypairs.public_key_from_spki`` and checked with our ``VerifyingKey.verify``:

* ``valid`` must verify;
* ``invalid`` must raise InvalidSignatureError (or SignatureFormatError / KeyFormatError);
* ``acceptable`` may do either;
* nothing may raise anything outside our error family.

One pytest item per file; the vectors loop inside (thousands run in well under a second).
Corpus: ``../shared/interop/wycheproof/testvectors_v1`` (C2SP/wycheproof, Apache-2.0), read in place.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from keys.algorithms import KeyType, SignatureAlgorithm
from keys.errors import EsignError, InvalidSignatureError, KeyFormatError, SignatureFormatError
from keys.interfaces import VerifyingKey
from keys.keypairs import public_key_from_spki

VECTORS = Path(__file__).resolve().parents[1].parent / "shared" / "interop" / "wycheproof" / "testvectors_v1"

_REJECT = (InvalidSignatureError, SignatureFormatError, KeyFormatError)

# file -> (algorithm passed to verify, expected key type, expected counts valid/invalid/acceptable)
SUPPORTED: dict[str, tuple[SignatureAlgorithm, KeyType, tuple[int, int, int]]] = {
    "ecdsa_secp256r1_sha256_test.json": (SignatureAlgorithm.ECDSA_SHA256, KeyType.P256, (174, 310, 0)),
    "ed25519_test.json": (SignatureAlgorithm.ED25519, KeyType.ED25519, (88, 63, 0)),
    "rsa_signature_2048_sha256_test.json": (SignatureAlgorithm.RSA_PKCS1_SHA256, KeyType.RSA, (9, 249, 1)),
    "rsa_signature_3072_sha256_test.json": (SignatureAlgorithm.RSA_PKCS1_SHA256, KeyType.RSA, (8, 250, 1)),
    "rsa_signature_4096_sha256_test.json": (SignatureAlgorithm.RSA_PKCS1_SHA256, KeyType.RSA, (7, 250, 1)),
    "rsa_pss_2048_sha256_mgf1_32_test.json": (SignatureAlgorithm.RSA_PSS_SHA256, KeyType.RSA, (63, 45, 0)),
    "rsa_pss_3072_sha256_mgf1_32_test.json": (SignatureAlgorithm.RSA_PSS_SHA256, KeyType.RSA, (63, 45, 0)),
    "rsa_pss_4096_sha256_mgf1_32_test.json": (SignatureAlgorithm.RSA_PSS_SHA256, KeyType.RSA, (63, 45, 0)),
    # the same PSS parameters, but the key is an RSASSA-PSS SPKI with explicit parameters
    "rsa_pss_2048_sha256_mgf1_32_params_test.json": (SignatureAlgorithm.RSA_PSS_SHA256, KeyType.RSA, (63, 45, 0)),
}

REPORT: dict[str, Counter[str]] = {}


def _load(name: str) -> dict:
    return json.loads((VECTORS / name).read_text())


def _run(
    name: str,
    algorithm: SignatureAlgorithm | None,
    *,
    sig_transform: Callable[[bytes], bytes] | None = None,
) -> Counter[str]:
    """Run every vector of ``name``; return counts of (expected, outcome). Fails on any stray exception."""
    data = _load(name)
    counts: Counter[str] = Counter()
    for group in data["testGroups"]:
        key: VerifyingKey = public_key_from_spki(bytes.fromhex(group["publicKeyDer"]))
        for t in group["tests"]:
            msg, sig = bytes.fromhex(t["msg"]), bytes.fromhex(t["sig"])
            try:
                if sig_transform is not None:
                    sig = sig_transform(sig)
                key.verify(sig, msg, algorithm=algorithm)
                outcome = "accepted"
            except _REJECT:
                outcome = "rejected"
            except EsignError as exc:  # ours, but the wrong kind for a signature check
                raise AssertionError(f"{name} tcId {t['tcId']}: unexpected {type(exc).__name__}: {exc}") from exc
            except Exception as exc:
                raise AssertionError(f"{name} tcId {t['tcId']}: foreign {type(exc).__name__}: {exc}") from exc
            result = t["result"]
            if result == "valid" and outcome != "accepted":
                raise AssertionError(f"{name} tcId {t['tcId']} ({t['comment']}, {t['flags']}): valid but rejected")
            if result == "invalid" and outcome != "rejected":
                raise AssertionError(f"{name} tcId {t['tcId']} ({t['comment']}, {t['flags']}): invalid but accepted")
            counts[f"{result}:{outcome}"] += 1
    return counts


@pytest.mark.parametrize("name", sorted(SUPPORTED))
def test_supported_file(name: str) -> None:
    algorithm, key_type, (valid, invalid, acceptable) = SUPPORTED[name]
    data = _load(name)
    first = public_key_from_spki(bytes.fromhex(data["testGroups"][0]["publicKeyDer"]))
    assert first.key_type is key_type
    counts = _run(name, algorithm)
    REPORT[name] = counts
    assert counts["valid:accepted"] == valid
    assert counts["invalid:rejected"] == invalid
    assert counts["acceptable:accepted"] + counts["acceptable:rejected"] == acceptable
    assert sum(counts.values()) == data["numberOfTests"]
    # default algorithm of the key gives the same verdicts except for PSS (the default for RSA is PKCS#1)
    if algorithm is not SignatureAlgorithm.RSA_PSS_SHA256:
        assert _run(name, None) == counts


def test_strict_on_missing_null() -> None:
    """The 'acceptable' RSA PKCS#1 cases (DigestInfo without NULL): we are the strict kind."""
    for name in (n for n in SUPPORTED if n.startswith("rsa_signature_")):
        counts = REPORT.get(name) or _run(name, SignatureAlgorithm.RSA_PKCS1_SHA256)
        assert counts["acceptable:rejected"] == 1, name


def _p1363_to_der(sig: bytes) -> bytes:
    """Fixed-width r||s (P-256) to DER, refusing any other width (what a strict converter does)."""
    from keys.sigencoding import p1363_to_der

    return p1363_to_der(sig, 32)


def test_p256_p1363_through_the_cli_converter() -> None:
    """ecdsa_secp256r1_sha256_p1363: raw r||s, as `esign key verify --raw` reads it for P-256."""
    counts = _run(
        "ecdsa_secp256r1_sha256_p1363_test.json", SignatureAlgorithm.ECDSA_SHA256, sig_transform=_p1363_to_der
    )
    assert counts["valid:accepted"] == 173 and counts["invalid:rejected"] == 89


def test_p1363_converter_agrees_with_pyca() -> None:
    from api.cli.key import der_to_p1363

    r, s = 0x1234, (1 << 255) + 7
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert _p1363_to_der(raw) == encode_dss_signature(r, s)
    assert der_to_p1363(encode_dss_signature(r, s), 32) == raw
    for bad in (raw[:-1], raw + b"\x00", b""):
        with pytest.raises(SignatureFormatError):
            _p1363_to_der(bad)


def test_pss_salt_length_is_enforced() -> None:
    """Valid PSS signatures with salt length 0 (another file) are rejected: we require salt 32."""
    data = _load("rsa_pss_2048_sha256_mgf1_0_test.json")
    assert data["testGroups"][0]["sLen"] == 0
    rejected = 0
    for group in data["testGroups"]:
        key = public_key_from_spki(bytes.fromhex(group["publicKeyDer"]))
        for t in group["tests"]:
            if t["result"] != "valid":
                continue
            with pytest.raises(InvalidSignatureError):
                key.verify(
                    bytes.fromhex(t["sig"]), bytes.fromhex(t["msg"]), algorithm=SignatureAlgorithm.RSA_PSS_SHA256
                )
            rejected += 1
    assert rejected == 61


@pytest.mark.parametrize(
    "name",
    [
        "ecdsa_brainpoolP256r1_sha256_test.json",
        "ecdsa_secp384r1_sha384_test.json",
        "ecdsa_secp521r1_sha512_test.json",
        "ed448_test.json",
    ],
)
def test_unsupported_key_types_are_refused(name: str) -> None:
    """Curves outside the allow-list never load: a typed KeyFormatError, not a verification."""
    for group in _load(name)["testGroups"]:
        with pytest.raises(KeyFormatError):
            public_key_from_spki(bytes.fromhex(group["publicKeyDer"]))


def test_sha384_and_sha512_rsa_files_do_not_verify_as_sha256() -> None:
    """Our RSA algorithms are SHA-256 only: SHA-384/512 vectors are rejected, cleanly.

    The one exception proves the point: the 'WrongHash' vector of each file *is* a SHA-256
    signature (invalid for SHA-384/512), and that is the only one we accept.
    """
    for name in ("rsa_signature_2048_sha384_test.json", "rsa_signature_2048_sha512_test.json"):
        accepted = []
        for group in _load(name)["testGroups"]:
            key = public_key_from_spki(bytes.fromhex(group["publicKeyDer"]))
            for t in group["tests"]:
                try:
                    key.verify(bytes.fromhex(t["sig"]), bytes.fromhex(t["msg"]))
                except _REJECT:
                    continue
                accepted.append(t)
        assert len(accepted) == 1, name
        assert accepted[0]["flags"] == ["WrongHash"] and "SHA-256 instead" in accepted[0]["comment"]


def test_report_counts(capsys: pytest.CaptureFixture[str]) -> None:
    """Print the per-file counts (visible with -s; also asserts all files ran)."""
    for name in SUPPORTED:
        if name not in REPORT:
            REPORT[name] = _run(name, SUPPORTED[name][0])
    total = Counter[str]()
    for name in sorted(REPORT):
        total.update(REPORT[name])
        print(f"{name}: {dict(REPORT[name])}")
    print(f"total: {dict(total)}")
    assert sum(total.values()) == 484 + 151 + 259 * 2 + 258 + 108 * 4
