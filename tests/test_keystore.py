"""FileKeyStore: encrypted at rest, atomic, permission-tight, rotating; plus provider helpers."""

from __future__ import annotations

import datetime as dt
import logging
import os
import stat
import subprocess
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from api.cli._keystore_opts import keystore_options, open_keystore, split_key_ref
from keys.algorithms import KeyType
from keys.errors import (
    AlgorithmNotAllowedError,
    BadInputError,
    CertificateError,
    ConflictError,
    InvalidSignatureError,
    KeyFormatError,
    KeyStoreError,
    NotFoundError,
    PermissionDeniedError,
    WrongPassphraseError,
)
from keys.interfaces import SigningKey
from keys.keypairs import generate_key, public_key_from_spki
from keys.keystore import FileKeyStore
from keys.pkcs8 import encrypt_private_key
from keys.provider import (
    KeyProvider,
    KeyStatus,
    RetiredKeyError,
    open_provider,
    parse_pkcs11_url,
    read_passphrase_file,
    spki_fingerprint,
)

PASS = b"test passphrase, not a real one"
FAST = 1 << 10  # scrypt cost for tests only


@pytest.fixture
def store(tmp_path: Path) -> FileKeyStore:
    return FileKeyStore(tmp_path / "ks", passphrase=PASS, scrypt_n=FAST)


def _all_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*")]


@pytest.mark.parametrize("alg", ["sm2", "p256", "rsa2048", "ed25519"])
def test_create_sign_verify(store: FileKeyStore, alg: str) -> None:
    info = store.create_key("k1", alg=alg)
    assert (info.key_id, info.version, info.alg, info.status, info.provider) == ("k1", 1, alg, KeyStatus.ACTIVE, "file")
    signer = store.signing_key("k1")
    assert isinstance(signer, SigningKey)
    sig = signer.sign(b"payload")
    spki = store.public_key("k1").spki_der()
    assert spki_fingerprint(spki) == info.fingerprint
    public_key_from_spki(spki).verify(sig, b"payload")
    with pytest.raises(InvalidSignatureError):
        public_key_from_spki(spki).verify(sig, b"payloaD")
    # A second store object on the same directory sees and uses the key.
    again = FileKeyStore(store._dir, passphrase=PASS)
    public_key_from_spki(spki).verify(again.signing_key("k1").sign(b"p2"), b"p2")


def test_store_is_a_provider(store: FileKeyStore) -> None:
    assert isinstance(store, KeyProvider)


def test_files_are_encrypted_and_tight(store: FileKeyStore, tmp_path: Path) -> None:
    store.create_key("a", alg="p256")
    store.create_key("b", alg="sm2")
    store.rotate("b")
    root = tmp_path / "ks"
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    key_files = []
    for p in _all_files(root):
        mode = stat.S_IMODE(p.stat().st_mode)
        if p.is_dir():
            assert mode == 0o700, p
            continue
        assert mode == 0o600, p
        data = p.read_bytes()
        assert b"BEGIN PRIVATE KEY" not in data and b"EC PRIVATE KEY" not in data, p
        if p.name.endswith(".key.pem"):
            assert data.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
            key_files.append(p)
    assert sorted(p.name for p in key_files) == ["v1.key.pem", "v1.key.pem", "v2.key.pem"]
    assert not [p for p in _all_files(root) if p.name.startswith(".tmp-")]


@pytest.mark.openssl_cli
def test_openssl_reads_an_sm2_key_with_the_passphrase(store: FileKeyStore, tmp_path: Path) -> None:
    store.create_key("sm2key", alg="sm2")
    path = tmp_path / "ks" / "sm2key" / "v1.key.pem"
    out = subprocess.run(
        ["openssl", "pkey", "-in", str(path), "-passin", "pass:" + PASS.decode(), "-pubout", "-outform", "DER"],
        capture_output=True,
        check=True,
    ).stdout
    assert public_key_from_spki(out).spki_der() == store.public_key("sm2key").spki_der()
    bad = subprocess.run(
        ["openssl", "pkey", "-in", str(path), "-passin", "pass:wrong passphrase", "-noout"], capture_output=True
    )
    assert bad.returncode != 0


def test_wrong_passphrase_is_detected_at_open(store: FileKeyStore, tmp_path: Path) -> None:
    store.create_key("k", alg="ed25519")
    with pytest.raises(WrongPassphraseError):
        FileKeyStore(tmp_path / "ks", passphrase=b"another passphrase")
    with pytest.raises(BadInputError):
        FileKeyStore(tmp_path / "ks", passphrase=b"short")


def test_key_from_another_passphrase_fails_at_first_use(store: FileKeyStore, tmp_path: Path) -> None:
    store.create_key("k", alg="p256")
    other = FileKeyStore(tmp_path / "other", passphrase=b"other passphrase", scrypt_n=FAST)
    other.create_key("k", alg="p256")
    # Swap in the other store's key file *and* index: the canary still guards the directory,
    # and the key file itself refuses the passphrase.
    for name in ("v1.key.pem", "index.json"):
        (tmp_path / "ks" / "k" / name).write_bytes((tmp_path / "other" / "k" / name).read_bytes())
    fresh = FileKeyStore(tmp_path / "ks", passphrase=PASS)
    with pytest.raises(WrongPassphraseError):
        fresh.signing_key("k")


def test_tampered_key_file_is_refused(store: FileKeyStore, tmp_path: Path) -> None:
    store.create_key("k", alg="p256")
    other = FileKeyStore(tmp_path / "other", passphrase=PASS, scrypt_n=FAST)
    other.create_key("k", alg="p256")
    (tmp_path / "ks" / "k" / "v1.key.pem").write_bytes((tmp_path / "other" / "k" / "v1.key.pem").read_bytes())
    with pytest.raises(KeyStoreError, match="does not match its index"):
        FileKeyStore(tmp_path / "ks", passphrase=PASS).signing_key("k")


def test_rotation_keeps_old_version_for_verification(store: FileKeyStore) -> None:
    v1 = store.create_key("seal", alg="sm2")
    old_signer = store.signing_key("seal")
    old_sig = old_signer.sign(b"old document")
    v2 = store.rotate("seal")
    assert (v2.version, v2.alg, v2.status) == (2, "sm2", KeyStatus.ACTIVE)
    assert v2.fingerprint != v1.fingerprint
    assert store.key_info("seal", version=1).status is KeyStatus.RETIRED
    with pytest.raises(RetiredKeyError):
        old_signer.sign(b"new document")  # a handle handed out before the rotation
    with pytest.raises(RetiredKeyError):
        store.signing_key("seal", version=1)
    versions = store.public_keys("seal")
    assert [(v.info.version, v.info.status) for v in versions] == [(1, KeyStatus.RETIRED), (2, KeyStatus.ACTIVE)]
    versions[0].public_key.verify(old_sig, b"old document")
    store.public_key("seal", version=1).verify(old_sig, b"old document")
    new_sig = store.signing_key("seal").sign(b"new document")
    store.public_key("seal").verify(new_sig, b"new document")
    assert store.signing_key("seal", version=2).key_type is KeyType.SM2
    assert [k.version for k in store.list_keys()] == [2]
    with pytest.raises(NotFoundError):
        store.public_key("seal", version=3)


def test_rotation_seen_by_another_store_object(store: FileKeyStore) -> None:
    store.create_key("k", alg="ed25519")
    elsewhere = FileKeyStore(store._dir, passphrase=PASS)
    signer = elsewhere.signing_key("k")
    store.rotate("k")
    with pytest.raises(RetiredKeyError):
        signer.sign(b"x")


@pytest.mark.parametrize(
    "bad", ["", "A", "../etc", "a/b", ".hidden", "-x", "a b", "a\n", "x" * 65, "k#v1", "é", "a\\b", "..", 7]
)
def test_bad_key_ids_are_rejected(store: FileKeyStore, tmp_path: Path, bad: object) -> None:
    with pytest.raises(BadInputError):
        store.create_key(bad, alg="ed25519")  # type: ignore[arg-type]
    with pytest.raises(BadInputError):
        store.signing_key(bad)  # type: ignore[arg-type]
    assert not (tmp_path / "etc").exists()


def test_good_key_ids(store: FileKeyStore) -> None:
    for kid in ("a", "0", "region-440000.ca_root.v2", "x" * 64):
        store.create_key(kid, alg="ed25519")
    assert len(store.list_keys()) == 4


def test_unknown_alg_and_duplicates(store: FileKeyStore) -> None:
    with pytest.raises(AlgorithmNotAllowedError, match="sm2, p256, rsa2048, rsa3072, ed25519"):
        store.create_key("k", alg="dsa")
    store.create_key("k", alg="p256")
    with pytest.raises(ConflictError):
        store.create_key("k", alg="p256")
    with pytest.raises(NotFoundError):
        store.signing_key("missing")


def _boom_on(target: str, real):
    def replace(src, dst, *a, **kw):
        if str(dst).endswith(target):
            raise OSError(28, "No space left on device")
        return real(src, dst, *a, **kw)

    return replace


def test_failed_create_leaves_nothing_half_written(
    store: FileKeyStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "replace", _boom_on("index.json", os.replace))
    with pytest.raises(KeyStoreError):
        store.create_key("k", alg="p256")
    monkeypatch.undo()
    root = tmp_path / "ks"
    assert not [p for p in _all_files(root) if p.name.startswith(".tmp-")]
    assert not list(root.rglob("*.key.pem"))
    assert store.list_keys() == []
    with pytest.raises(NotFoundError):
        store.signing_key("k")
    store.create_key("k", alg="p256")  # and the id is free to use afterwards
    assert store.key_info("k").version == 1


def test_failed_rotation_keeps_the_old_version(
    store: FileKeyStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.create_key("k", alg="p256")
    before = (tmp_path / "ks" / "k" / "index.json").read_bytes()
    for target in ("v2.key.pem", "index.json"):
        monkeypatch.setattr(os, "replace", _boom_on(target, os.replace))
        with pytest.raises(KeyStoreError):
            store.rotate("k")
        monkeypatch.undo()
        assert (tmp_path / "ks" / "k" / "index.json").read_bytes() == before
        assert not (tmp_path / "ks" / "k" / "v2.key.pem").exists()
        assert not [p for p in _all_files(tmp_path / "ks") if p.name.startswith(".tmp-")]
    info = store.key_info("k")
    assert (info.version, info.status) == (1, KeyStatus.ACTIVE)
    store.public_key("k").verify(store.signing_key("k").sign(b"x"), b"x")


def test_no_private_material_in_repr_or_errors(store: FileKeyStore) -> None:
    info = store.create_key("k", alg="p256")
    signer = store.signing_key("k")
    assert repr(signer) == "<FileSigningKey k#v1>"
    assert PASS.decode() not in repr(store)
    assert "PRIVATE" not in repr(info) and PASS.decode() not in repr(info)
    assert not hasattr(signer, "private_der")
    with pytest.raises(KeyFormatError):  # the handle cannot be exported, even re-encrypted
        encrypt_private_key(signer, passphrase=b"exfiltrate!!")
    scalar = store._load_private("k", 1).pyca.private_numbers().private_value
    for text in (repr(signer), repr(store), repr(info), str(store.key_info("k"))):
        assert format(scalar, "x") not in text and str(scalar) not in text


def test_import_key(store: FileKeyStore) -> None:
    key = generate_key("p256")
    clear = key.pyca.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    info = store.import_key("imported", clear)
    assert info.alg == "p256"
    assert store.public_key("imported").spki_der() == key.public_key().spki_der()
    sm2 = generate_key("sm2")
    enc = encrypt_private_key(sm2, passphrase=b"file passphrase", scrypt_n=FAST)
    with pytest.raises(WrongPassphraseError):
        store.import_key("sm2imp", enc, passphrase_of_file=b"wrong passphrase")
    with pytest.raises(WrongPassphraseError):
        store.import_key("sm2imp", enc)
    info = store.import_key("sm2imp", enc, passphrase_of_file=b"file passphrase")
    assert info.alg == "sm2"
    sm2.public_key().verify(store.signing_key("sm2imp").sign(b"m"), b"m")
    with pytest.raises(ConflictError):
        store.import_key("sm2imp", enc, passphrase_of_file=b"file passphrase")
    with pytest.raises(KeyFormatError):
        store.import_key("junk", b"not a key at all")
    rotated = store.rotate("sm2imp")  # an imported key rotates to a generated one
    assert (rotated.version, rotated.alg) == (2, "sm2")


def _cert_for(pub_pyca: object, cn: str) -> bytes:
    ca = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ca")]))
        .public_key(pub_pyca)  # type: ignore[arg-type]
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(ca, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def test_certificates_survive_rotation(store: FileKeyStore) -> None:
    store.create_key("k", alg="p256")
    cert1 = _cert_for(store.public_key("k").pyca, "v1")
    store.attach_certificate("k", 1, cert1)
    assert store.certificate("k") == cert1 and store.key_info("k").has_certificate
    with pytest.raises(ConflictError):
        store.attach_certificate("k", 1, cert1)
    store.attach_certificate("k", 1, cert1, replace=True)
    store.rotate("k")
    with pytest.raises(NotFoundError):
        store.certificate("k")
    with pytest.raises(CertificateError):
        store.attach_certificate("k", 2, cert1)
    with pytest.raises(CertificateError):
        store.attach_certificate("k", 2, b"\x30\x03\x02\x01\x01")
    cert2 = _cert_for(store.public_key("k").pyca, "v2")
    pem = x509.load_der_x509_certificate(cert2).public_bytes(serialization.Encoding.PEM)
    store.attach_certificate("k", 2, pem)  # PEM accepted, stored as DER
    assert store.certificate("k", 1) == cert1 and store.certificate("k") == cert2
    assert [v.certificate for v in store.public_keys("k")] == [cert1, cert2]


def test_read_passphrase_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    f = tmp_path / "pass"
    f.write_bytes(PASS + b"\n")
    f.chmod(0o600)
    assert read_passphrase_file(f) == PASS
    f.chmod(0o644)
    with pytest.raises(PermissionDeniedError):
        read_passphrase_file(f)
    f.chmod(0o620)
    with pytest.raises(PermissionDeniedError):
        read_passphrase_file(f)
    f.chmod(0o640)
    with caplog.at_level(logging.WARNING):
        assert read_passphrase_file(f) == PASS
    assert "group-readable" in caplog.text and PASS.decode() not in caplog.text
    f.write_bytes(b"\n")
    f.chmod(0o600)
    with pytest.raises(BadInputError):
        read_passphrase_file(f)
    with pytest.raises(BadInputError):
        read_passphrase_file(tmp_path / "missing")


def test_open_provider_file_url(tmp_path: Path) -> None:
    p = open_provider(f"file://{tmp_path}/ks", passphrase=PASS, scrypt_n=FAST)
    assert p.kind == "file"
    p.create_key("k", alg="ed25519")
    pf = tmp_path / "pf"
    pf.write_bytes(PASS)
    pf.chmod(0o600)
    q = open_provider({"kind": "file", "path": str(tmp_path / "ks"), "passphrase_file": str(pf)})
    assert [k.key_id for k in q.list_keys()] == ["k"]
    for bad in ("http://x/y", "file://remote/host", "s3://bucket"):
        with pytest.raises(BadInputError):
            open_provider(bad, passphrase=PASS)
    with pytest.raises(BadInputError):
        open_provider(f"file://{tmp_path}/ks")  # no passphrase anywhere


def test_parse_pkcs11_url() -> None:
    a = parse_pkcs11_url("pkcs11:module=/usr/lib/softhsm/libsofthsm2.so;token=esign;pin-source=file:/run/pin")
    assert a == {"module-path": "/usr/lib/softhsm/libsofthsm2.so", "token": "esign", "pin-source": "file:/run/pin"}
    b = parse_pkcs11_url("pkcs11:token=my%20token?module-path=/opt/p11.so&pin-source=file:/p")
    assert b["token"] == "my token" and b["module-path"] == "/opt/p11.so"
    for bad in (
        "pkcs11:token=x",
        "pkcs11:token=x;module-path=/m.so;pin-value=1234",
        "pkcs11:token=x;token=y;module-path=/m.so",
        "pkcs11:token=x;module-path=/m.so;frobnicate=1",
        "file:///x",
    ):
        with pytest.raises(BadInputError):
            parse_pkcs11_url(bad)


def test_cli_keystore_options(tmp_path: Path) -> None:
    FileKeyStore(tmp_path / "ks", passphrase=PASS, scrypt_n=FAST).create_key("cli-key", alg="p256")
    pf = tmp_path / "pf"
    pf.write_bytes(PASS + b"\n")
    pf.chmod(0o600)

    @click.command()
    @keystore_options
    @click.argument("ref")
    def sign(keystore: str | None, passphrase_file: str | None, ref: str) -> None:
        provider = open_keystore(keystore, passphrase_file)
        key_id, version = split_key_ref(ref)
        sig = provider.signing_key(key_id, version=version).sign(b"cli")
        provider.public_key(key_id).verify(sig, b"cli")
        click.echo("ok")

    env = {"ESIGN_KEYSTORE": f"file://{tmp_path}/ks", "ESIGN_KEYSTORE_PASSPHRASE_FILE": str(pf)}
    res = CliRunner().invoke(sign, ["cli-key#v1"], env=env)
    assert res.exit_code == 0, res.output
    assert res.output.strip() == "ok"
    res = CliRunner().invoke(sign, ["--keystore", f"file://{tmp_path}/ks", "--passphrase-file", str(pf), "cli-key"])
    assert res.exit_code == 0, res.output
    with pytest.raises(BadInputError):
        open_keystore(None, str(pf))
    with pytest.raises(BadInputError):
        open_keystore(f"file://{tmp_path}/ks", None)
    assert split_key_ref("a#v12") == ("a", 12) and split_key_ref("a") == ("a", None)
    with pytest.raises(BadInputError):
        split_key_ref("a#v0")
