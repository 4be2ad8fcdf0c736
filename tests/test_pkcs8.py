"""Encrypted PKCS#8: round trips, wrong passphrases, OpenSSL interoperability, hostile files."""

from __future__ import annotations

import subprocess

import pytest

from keys.errors import KeyFormatError, WrongPassphraseError
from keys.keypairs import generate_key, pem_blocks
from keys.pkcs8 import _EncryptedPrivateKeyInfo, decrypt_private_key, encrypt_private_key, load_private_key
from tests._services import needs_tool, require_service

ALGS = ["sm2", "p256", "rsa2048", "ed25519"]
PASS = b"correct horse battery"
FAST_N = 1 << 10

openssl = needs_tool("openssl")


@pytest.mark.parametrize("alg", ALGS)
def test_round_trip_signs_with_same_key(alg: str) -> None:
    key = generate_key(alg)
    pem = encrypt_private_key(key, passphrase=PASS, scrypt_n=FAST_N)
    assert b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in pem
    assert b"-----BEGIN PRIVATE KEY-----" not in pem
    again = decrypt_private_key(pem, passphrase=PASS)
    key.public_key().verify(again.sign(b"doc"), b"doc")


@pytest.mark.parametrize("alg", ["sm2", "p256"])
def test_wrong_passphrase_is_typed(alg: str) -> None:
    pem = encrypt_private_key(generate_key(alg), passphrase=PASS, scrypt_n=FAST_N)
    with pytest.raises(WrongPassphraseError) as err:
        decrypt_private_key(pem, passphrase=b"not the passphrase")
    assert err.value.field == "passphrase"
    assert err.value.message_zh


def test_short_passphrase_refused() -> None:
    with pytest.raises(KeyFormatError):
        encrypt_private_key(generate_key("p256"), passphrase=b"short")


def test_encrypted_key_needs_passphrase() -> None:
    pem = encrypt_private_key(generate_key("sm2"), passphrase=PASS, scrypt_n=FAST_N)
    with pytest.raises(WrongPassphraseError):
        load_private_key(pem, passphrase=None)


def test_default_cost_is_strong() -> None:
    pem = encrypt_private_key(generate_key("p256"), passphrase=PASS)
    der = pem_blocks(pem)[0][1]
    info = _EncryptedPrivateKeyInfo.load(der)
    text = info.dump().hex()
    # scrypt OID and N = 2^14 (0x4000) are in the parameters
    assert "2b06010401da47040b" in text
    assert "02024000" in text


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d[:-10],
        lambda d: d[:20],
        lambda d: d.replace(bytes.fromhex("02024000"), bytes.fromhex("020440000000")),  # N = 2^30
        lambda d: b"\x30\x03\x02\x01\x00",
    ],
    ids=["truncated-tail", "truncated-head", "huge-scrypt-cost", "not-pkcs8"],
)
def test_hostile_files_get_typed_errors(mutate) -> None:  # type: ignore[no-untyped-def]
    pem = encrypt_private_key(generate_key("sm2"), passphrase=PASS)
    der = pem_blocks(pem)[0][1]
    with pytest.raises((KeyFormatError, WrongPassphraseError)):
        decrypt_private_key(mutate(der), passphrase=PASS)


@openssl
@pytest.mark.openssl_cli
@pytest.mark.parametrize("alg", ALGS)
def test_openssl_reads_our_encrypted_keys(alg: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    key = generate_key(alg)
    path = tmp_path / "k.pem"
    path.write_bytes(encrypt_private_key(key, passphrase=PASS))
    out = subprocess.run(
        ["openssl", "pkey", "-in", str(path), "-passin", f"pass:{PASS.decode()}", "-pubout", "-outform", "DER"],
        capture_output=True,
        check=True,
    ).stdout
    assert out == key.public_key().spki_der()


@openssl
@pytest.mark.openssl_cli
@pytest.mark.parametrize("cipher", ["-aes256", "-sm4-cbc"])
def test_we_read_openssl_pbkdf2_keys(cipher: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    clear, enc = tmp_path / "k.pem", tmp_path / "k.enc.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "SM2", "-out", str(clear)], check=True, capture_output=True)
    subprocess.run(
        [
            "openssl",
            "pkcs8",
            "-topk8",
            "-v2",
            cipher[1:],
            "-in",
            str(clear),
            "-passout",
            "pass:abcdefgh",
            "-out",
            str(enc),
        ],
        check=True,
        capture_output=True,
    )
    key = load_private_key(enc.read_bytes(), passphrase=b"abcdefgh")
    plain = load_private_key(clear.read_bytes(), passphrase=None)
    plain.public_key().verify(key.sign(b"x"), b"x")
    with pytest.raises(WrongPassphraseError):
        load_private_key(enc.read_bytes(), passphrase=b"wrong-one")


@openssl
@pytest.mark.openssl_cli
def test_pbes1_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    clear, enc = tmp_path / "k.pem", tmp_path / "k.enc.pem"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(clear)],
        check=True,
        capture_output=True,
    )
    r = subprocess.run(
        [
            "openssl",
            "pkcs8",
            "-topk8",
            "-v1",
            "PBE-SHA1-3DES",
            "-in",
            str(clear),
            "-passout",
            "pass:abcdefgh",
            "-out",
            str(enc),
        ],
        capture_output=True,
    )
    if r.returncode != 0:
        require_service("OpenSSL PBES1 writing", False, "this OpenSSL build cannot write PBES1 keys")
    with pytest.raises(KeyFormatError, match="PBES2"):
        load_private_key(enc.read_bytes(), passphrase=b"abcdefgh")
