"""SM2 interop between the project's key API and the OpenSSL 3 command line, both directions.

The OpenSSL CLI is an implementation nobody here wrote. The ID must be given to it explicitly
(``-sigopt/-pkeyopt distid:1234567812345678``); its default is the empty ID, which our API never
uses: a signature OpenSSL makes without distid must fail in ours (the documented interop trap).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from keys._sm2 import DEFAULT_UID, SM2PrivateKey, sm2_z
from keys.errors import InvalidSignatureError, WrongPassphraseError
from keys.hashing import sm3
from keys.keypairs import (
    Sm2SigningKey,
    Sm2VerifyingKey,
    generate_key,
    load_private_key_der,
    load_public_key,
    pem_blocks,
)
from tests._services import require_service

pytestmark = pytest.mark.openssl_cli

ID = DEFAULT_UID.decode()
PASS = b"interop passphrase"


@pytest.fixture(autouse=True)
def _need_openssl() -> None:
    require_service("openssl", shutil.which("openssl") is not None, "the openssl command is not on PATH")


def ossl(*args: str, check: bool = True, input_: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    out = subprocess.run(["openssl", *args], capture_output=True, timeout=60, input=input_)
    if check and out.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed: {out.stderr.decode(errors='replace')}")
    return out


def pem(label: str, der: bytes) -> bytes:
    import base64

    b64 = base64.b64encode(der).decode()
    body = "\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n".encode()


@pytest.fixture
def ours(tmp_path: Path) -> tuple[Sm2SigningKey, Path, Path]:
    """A key we generate, exported as clear PKCS#8 PEM (for the test) and SPKI PEM."""
    k = generate_key("sm2")
    assert isinstance(k, Sm2SigningKey)
    kp, pp = tmp_path / "ours.key", tmp_path / "ours.pub"
    kp.write_bytes(pem("PRIVATE KEY", k.private_der()))
    pp.write_bytes(pem("PUBLIC KEY", k.public_key().spki_der()))
    return k, kp, pp


@pytest.fixture
def theirs(tmp_path: Path) -> tuple[Path, Path]:
    """A key made by `openssl genpkey -algorithm SM2`."""
    kp, pp = tmp_path / "theirs.key", tmp_path / "theirs.pub"
    ossl("genpkey", "-algorithm", "SM2", "-out", str(kp))
    ossl("pkey", "-in", str(kp), "-pubout", "-out", str(pp))
    return kp, pp


@pytest.fixture
def msg(tmp_path: Path) -> Path:
    p = tmp_path / "msg.txt"
    p.write_bytes(b"The floofy bunnies hop at midnight\n" * 3)
    return p


def _their_public(pp: Path) -> Sm2VerifyingKey:
    pub = load_public_key(pp.read_bytes())
    assert isinstance(pub, Sm2VerifyingKey)
    return pub


# --- we sign, OpenSSL verifies ---------------------------------------------------------------------


@pytest.mark.parametrize("uid", [ID, "alice@example.cn"])
def test_we_sign_openssl_dgst_verifies(ours, msg: Path, tmp_path: Path, uid: str) -> None:  # type: ignore[no-untyped-def]
    k, _, pp = ours
    sig = tmp_path / "sig"
    sig.write_bytes(k.sign(msg.read_bytes(), uid=uid.encode()))
    out = ossl("dgst", "-sm3", "-verify", str(pp), "-sigopt", f"distid:{uid}", "-signature", str(sig), str(msg))
    assert b"Verified OK" in out.stdout
    out = ossl("dgst", "-sm3", "-verify", str(pp), "-signature", str(sig), str(msg), check=False)
    assert out.returncode != 0 and b"Verification failure" in out.stdout  # empty ID does not match


def test_we_sign_openssl_pkeyutl_verifies(ours, msg: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    k, _, pp = ours
    sig = tmp_path / "sig"
    sig.write_bytes(k.sign(msg.read_bytes()))
    out = ossl("pkeyutl", "-verify", "-pubin", "-inkey", str(pp), "-rawin", "-in", str(msg), "-digest", "sm3",
               "-pkeyopt", f"distid:{ID}", "-sigfile", str(sig))  # fmt: skip
    assert b"Signature Verified Successfully" in out.stdout


def test_we_sign_digest_openssl_verifies_digest(ours, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    k, _, pp = ours
    e = sm3(sm2_z(k.raw.public_key().point()) + b"remote signing")
    (tmp_path / "e").write_bytes(e)
    (tmp_path / "sig").write_bytes(k.raw.sign_digest(e))
    out = ossl("pkeyutl", "-verify", "-pubin", "-inkey", str(pp), "-in", str(tmp_path / "e"),
               "-sigfile", str(tmp_path / "sig"))  # fmt: skip
    assert b"Signature Verified Successfully" in out.stdout


# --- OpenSSL signs, we verify ------------------------------------------------------------------------


def test_openssl_dgst_signs_we_verify(theirs, msg: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    kp, pp = theirs
    sig = tmp_path / "sig"
    ossl("dgst", "-sm3", "-sign", str(kp), "-sigopt", f"distid:{ID}", "-out", str(sig), str(msg))
    _their_public(pp).verify(sig.read_bytes(), msg.read_bytes())
    _their_public(pp).verify(sig.read_bytes(), msg.read_bytes(), uid=DEFAULT_UID)


def test_openssl_pkeyutl_signs_we_verify(theirs, msg: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    kp, pp = theirs
    sig = tmp_path / "sig"
    ossl("pkeyutl", "-sign", "-inkey", str(kp), "-rawin", "-in", str(msg), "-digest", "sm3",
         "-pkeyopt", f"distid:{ID}", "-out", str(sig))  # fmt: skip
    _their_public(pp).verify(sig.read_bytes(), msg.read_bytes())


def test_openssl_custom_id(theirs, msg: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    kp, pp = theirs
    sig = tmp_path / "sig"
    ossl("dgst", "-sm3", "-sign", str(kp), "-sigopt", "distid:bob@example.cn", "-out", str(sig), str(msg))
    _their_public(pp).verify(sig.read_bytes(), msg.read_bytes(), uid=b"bob@example.cn")
    with pytest.raises(InvalidSignatureError):
        _their_public(pp).verify(sig.read_bytes(), msg.read_bytes())


def test_openssl_without_distid_fails_in_ours(theirs, msg: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The interop trap: OpenSSL's default is the empty ID; ours never is, and cannot be set to it."""
    kp, pp = theirs
    sig = tmp_path / "sig"
    ossl("dgst", "-sm3", "-sign", str(kp), "-out", str(sig), str(msg))
    # OpenSSL itself accepts it (with its own default) ...
    assert b"Verified OK" in ossl("dgst", "-sm3", "-verify", str(pp), "-signature", str(sig), str(msg)).stdout
    # ... we do not, whatever we are told short of computing an empty-ID Z_A by hand
    pub = _their_public(pp)
    for uid in (None, DEFAULT_UID):
        with pytest.raises(InvalidSignatureError):
            pub.verify(sig.read_bytes(), msg.read_bytes(), uid=uid)


# --- key files ------------------------------------------------------------------------------------------


def test_openssl_key_files_load_in_ours(theirs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    kp, pp = theirs
    ((label, der),) = pem_blocks(kp.read_bytes())
    assert label == "PRIVATE KEY"
    k = load_private_key_der(der)
    assert isinstance(k, Sm2SigningKey)
    assert k.public_key() == _their_public(pp)
    # and the SEC1 form `openssl ec` writes
    sec1 = ossl("ec", "-in", str(kp), "-outform", "DER").stdout
    assert SM2PrivateKey.from_der(sec1).public_key() == k.raw.public_key()


def test_our_key_files_load_in_openssl(ours, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    k, kp, pp = ours
    out = ossl("pkey", "-in", str(kp), "-pubout", "-outform", "DER").stdout
    assert out == k.public_key().spki_der()
    text = ossl("pkey", "-in", str(kp), "-noout", "-text").stdout
    assert b"SM2" in text or b"ASN1 OID: SM2" in text
    ossl("pkey", "-pubin", "-in", str(pp), "-noout")
    ossl("pkey", "-in", str(kp), "-check", "-noout")


def test_encrypted_pkcs8_both_ways(ours, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from keys.pkcs8 import decrypt_private_key, encrypt_private_key

    k, kp, _ = ours
    enc = tmp_path / "enc.key"
    enc.write_bytes(encrypt_private_key(k, passphrase=PASS))
    out = ossl("pkey", "-in", str(enc), "-passin", f"pass:{PASS.decode()}", "-pubout", "-outform", "DER").stdout
    assert out == k.public_key().spki_der()
    bad = ossl("pkey", "-in", str(enc), "-passin", "pass:wrong passphrase", "-noout", check=False)
    assert bad.returncode != 0
    # OpenSSL-encrypted (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC) opens in ours
    theirs_enc = ossl("pkcs8", "-topk8", "-in", str(kp), "-v2", "aes256", "-passout", f"pass:{PASS.decode()}").stdout
    again = decrypt_private_key(theirs_enc, passphrase=PASS)
    assert again.public_key() == k.public_key()
    with pytest.raises(WrongPassphraseError):
        decrypt_private_key(theirs_enc, passphrase=b"wrong passphrase")


# --- encryption ------------------------------------------------------------------------------------------


def test_encryption_both_ways(ours, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    k, kp, pp = ours
    plain = b"SM2 public-key encryption interop"
    (tmp_path / "ct").write_bytes(k.raw.public_key().encrypt(plain))
    out = ossl("pkeyutl", "-decrypt", "-inkey", str(kp), "-in", str(tmp_path / "ct"))
    assert out.stdout == plain
    (tmp_path / "pt").write_bytes(plain)
    ossl("pkeyutl", "-encrypt", "-pubin", "-inkey", str(pp), "-in", str(tmp_path / "pt"), "-out", str(tmp_path / "ct2"))
    assert k.raw.decrypt((tmp_path / "ct2").read_bytes()) == plain
