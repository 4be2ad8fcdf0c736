"""SM2 chains across the OpenSSL 3 CLI and esign, in both directions, link by link (openssl#23471)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from keys.ca import Region
from keys.x509 import cert_to_pem, parse_certificate
from verifier import Indication, SubIndication, TrustStore, validate_path

pytestmark = pytest.mark.openssl_cli
DISTID = "distid:1234567812345678"


def _openssl(*args: str, cwd: Path, ok: bool = True) -> subprocess.CompletedProcess[str]:
    if shutil.which("openssl") is None:
        pytest.fail("openssl CLI not installed (the openssl_cli marker needs it)")
    p = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if ok:
        assert p.returncode == 0, f"openssl {' '.join(args)}\n{p.stdout}\n{p.stderr}"
    return p


def test_our_chain_verifies_in_openssl_link_by_link(tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    r = Region.init(tmp_path / "r", region="Guangdong", passphrase=b"passphrase!", at=now, scrypt_n=1 << 10)
    issued, _ = r.ca().issue_with_new_key(
        subject="C=CN,O=Org,CN=Leaf", profile="enterprise_signer", at=now, key_passphrase=b"passphrase!"
    )
    (tmp_path / "root.pem").write_bytes(cert_to_pem(r.root.cert.der))
    (tmp_path / "sub.pem").write_bytes(cert_to_pem(r.ca().cert.der))
    (tmp_path / "leaf.pem").write_bytes(issued.pem)
    _openssl("verify", "-vfyopt", DISTID, "-CAfile", "root.pem", "sub.pem", cwd=tmp_path)
    _openssl("verify", "-vfyopt", DISTID, "-partial_chain", "-CAfile", "sub.pem", "leaf.pem", cwd=tmp_path)
    # Without the distinguishing ID OpenSSL uses the empty ID and must fail: we did sign with the standard ID.
    p = _openssl("verify", "-CAfile", "root.pem", "sub.pem", cwd=tmp_path, ok=False)
    assert p.returncode != 0
    out = _openssl("x509", "-in", "leaf.pem", "-noout", "-text", cwd=tmp_path).stdout
    assert "SM2-with-SM3" in out and "SM2" in out


def _openssl_chain(d: Path, *, sub_distid: bool) -> None:
    for k in ("ca", "sub", "ee"):
        _openssl("genpkey", "-algorithm", "SM2", "-out", f"{k}.key", cwd=d)
    _openssl(
        "req",
        "-x509",
        "-new",
        "-key",
        "ca.key",
        "-sm3",
        "-sigopt",
        DISTID,
        "-subj",
        "/C=CN/O=Test/CN=OSSL Root",
        "-days",
        "3650",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-out",
        "ca.crt",
        cwd=d,
    )
    (d / "ca.ext").write_text(
        "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    (d / "ee.ext").write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    _openssl(
        "req",
        "-new",
        "-key",
        "sub.key",
        "-sm3",
        "-sigopt",
        DISTID,
        "-subj",
        "/C=CN/O=Test/CN=OSSL Sub",
        "-out",
        "sub.csr",
        cwd=d,
    )
    sig = ["-sigopt", DISTID] if sub_distid else []
    _openssl(
        "x509",
        "-req",
        "-in",
        "sub.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "825",
        "-sm3",
        *sig,
        "-vfyopt",
        DISTID,
        "-extfile",
        "ca.ext",
        "-out",
        "sub.crt",
        cwd=d,
    )
    _openssl(
        "req",
        "-new",
        "-key",
        "ee.key",
        "-sm3",
        "-sigopt",
        DISTID,
        "-subj",
        "/C=CN/O=Test/CN=OSSL Leaf",
        "-out",
        "ee.csr",
        cwd=d,
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        "ee.csr",
        "-CA",
        "sub.crt",
        "-CAkey",
        "sub.key",
        "-CAcreateserial",
        "-days",
        "365",
        "-sm3",
        "-sigopt",
        DISTID,
        "-vfyopt",
        DISTID,
        "-extfile",
        "ee.ext",
        "-out",
        "ee.crt",
        cwd=d,
    )


def _validate(d: Path):
    load = lambda n: parse_certificate((d / n).read_bytes())  # noqa: E731
    return validate_path(
        load("ee.crt"),
        trust=TrustStore.of([load("ca.crt")]),
        intermediates=[load("sub.crt")],
        at=datetime.now(UTC) + timedelta(minutes=1),
    )


def test_openssl_made_chain_validates_in_esign(tmp_path: Path) -> None:
    _openssl_chain(tmp_path, sub_distid=True)
    rep = _validate(tmp_path)
    assert rep.indication is Indication.TOTAL_PASSED, rep.reason.en
    assert [c.name for c in rep.checks if c.name.startswith("signature")] == ["signature[1]", "signature[0]"]


def test_intermediate_signed_with_empty_id_is_rejected(tmp_path: Path) -> None:
    """openssl#23471: OpenSSL checks only the leaf with -vfyopt; we check the ID on every link."""
    _openssl_chain(tmp_path, sub_distid=False)
    # OpenSSL itself accepts this chain when verifying the whole chain with -vfyopt (leaf only checked with ID).
    p = _openssl(
        "verify", "-vfyopt", DISTID, "-CAfile", "ca.crt", "-untrusted", "sub.crt", "ee.crt", cwd=tmp_path, ok=False
    )
    rep = _validate(tmp_path)
    assert rep.indication is Indication.TOTAL_FAILED
    assert rep.sub_indication is SubIndication.SIG_CRYPTO_FAILURE
    failed = [c for c in rep.checks if c.status.value == "failed"]
    assert failed and failed[0].name == "signature[1]", failed
    assert p.returncode in (0, 2)  # recorded for docs/pki.md; OpenSSL's outcome is not our verdict
