"""Certificates, CAs and CRLs: profiles checked with independent parsers (pyca; asn1crypto for SM2)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import crl as a_crl
from asn1crypto import x509 as a_x509
from cryptography import x509 as c_x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from keys._sm2 import SM2PublicKey
from keys.ca import Region
from keys.errors import ConflictError, InvalidSignatureError, NotFoundError, WrongPassphraseError
from keys.keypairs import generate_key
from keys.x509 import parse_certificate, parse_crl
from verifier import Indication, SubIndication, TrustStore, validate_path

AT = datetime(2025, 3, 1, tzinfo=UTC)
PW = b"region-passphrase"
KPW = b"holder-passphrase"
ALGS = ["sm2", "p256", "rsa2048", "ed25519"]


@pytest.fixture(scope="module", params=ALGS)
def region(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Region:
    d = tmp_path_factory.mktemp(f"region-{request.param}") / "r"
    return Region.init(d, region="Zhejiang", passphrase=PW, at=AT, alg=request.param, scrypt_n=1 << 10)


def _trust(region: Region) -> TrustStore:
    from keys.x509 import parse_certificates

    return TrustStore.of(parse_certificates(region.trust_anchors_pem()))


def _spki_alg(der: bytes) -> tuple[str, str | None]:
    info = a_x509.Certificate.load(der)["tbs_certificate"]["subject_public_key_info"]
    raw = info.dump()
    from keys._x509_build import _RawSpki

    alg = _RawSpki.load(raw)["algorithm"].parsed
    oid = alg[0].dotted
    param = alg[1].dotted if len(alg) > 1 and alg[1].tag == 6 else None
    return oid, param


def test_three_levels_and_profiles(region: Region) -> None:
    alg = region.meta["alg"]
    ca = region.ca()
    root = region.root.cert
    sub = ca.cert
    ee = {}
    for profile in ("licence_issuer", "seal_maker", "enterprise_signer", "timestamping", "ocsp", "tls"):
        issued, key_pem = ca.issue_with_new_key(
            subject=f"C=CN,O=Org,CN={profile}", profile=profile, at=AT, key_passphrase=KPW
        )
        assert key_pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        ee[profile] = issued
        # serials: positive, 16 bytes
        assert 120 < issued.serial.bit_length() <= 127
    # Everything validates as a 3-level path through our own verifier.
    for issued in ee.values():
        rep = validate_path(
            parse_certificate(issued.der), trust=_trust(region), intermediates=[sub], at=AT + timedelta(1)
        )
        assert rep.indication is Indication.TOTAL_PASSED, rep.reason.en
        assert len(rep.chain) == 3
    if alg == "sm2":
        for der in (root.der, sub.der, ee["licence_issuer"].der):
            c = a_x509.Certificate.load(der)
            assert c["signature_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.501"
            assert c["signature_algorithm"]["parameters"].native is None
            assert _spki_alg(der) == ("1.2.840.10045.2.1", "1.2.156.10197.1.301")
        # Independent SM2 check of every link with the standard ID through the raw binding.
        for child, parent in ((sub, root), (parse_certificate(ee["ocsp"].der), sub), (root, root)):
            pub = SM2PublicKey.from_der(parent.spki_der)
            pub.verify(child.signature, child.tbs_der, uid=b"1234567812345678")
            with pytest.raises(InvalidSignatureError):
                pub.verify(child.signature, child.tbs_der, uid=b"1234567812345679")
        c = a_x509.Certificate.load(sub.der)
        assert c.basic_constraints_value.native == {"ca": True, "path_len_constraint": 0}
        assert "basic_constraints" in c.critical_extensions and "key_usage" in c.critical_extensions
        ts = a_x509.Certificate.load(ee["timestamping"].der)
        assert ts.extended_key_usage_value.native == ["time_stamping"]
        assert "extended_key_usage" in ts.critical_extensions
        assert ts.authority_key_identifier == c.key_identifier
        return
    root_p = c_x509.load_der_x509_certificate(root.der)
    sub_p = c_x509.load_der_x509_certificate(sub.der)
    sub_p.verify_directly_issued_by(root_p)
    root_p.verify_directly_issued_by(root_p)
    bc = root_p.extensions.get_extension_for_class(c_x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 1
    bc = sub_p.extensions.get_extension_for_class(c_x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    ku = sub_p.extensions.get_extension_for_class(c_x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign and not ku.value.digital_signature
    # SKI is RFC 5280 method 1, exactly as pyca computes it.
    ski = sub_p.extensions.get_extension_for_class(c_x509.SubjectKeyIdentifier).value
    assert ski == c_x509.SubjectKeyIdentifier.from_public_key(sub_p.public_key())
    for profile, issued in ee.items():
        p = c_x509.load_der_x509_certificate(issued.der)
        p.verify_directly_issued_by(sub_p)
        assert p.version is c_x509.Version.v3
        bc = p.extensions.get_extension_for_class(c_x509.BasicConstraints)
        assert bc.critical and not bc.value.ca
        ku = p.extensions.get_extension_for_class(c_x509.KeyUsage)
        assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign
        aki = p.extensions.get_extension_for_class(c_x509.AuthorityKeyIdentifier).value
        assert aki.key_identifier == ski.digest
        if profile == "timestamping":
            eku = p.extensions.get_extension_for_class(c_x509.ExtendedKeyUsage)
            assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
        if profile == "ocsp":
            eku = p.extensions.get_extension_for_class(c_x509.ExtendedKeyUsage)
            assert list(eku.value) == [ExtendedKeyUsageOID.OCSP_SIGNING]
        if profile == "licence_issuer":
            assert ku.value.content_commitment
            with pytest.raises(c_x509.ExtensionNotFound):
                p.extensions.get_extension_for_class(c_x509.ExtendedKeyUsage)


def test_issue_for_given_public_key_and_revoke_crl(region: Region) -> None:
    alg = region.meta["alg"]
    ca = region.ca()
    key = generate_key(alg)
    issued = ca.issue(
        subject={"C": "CN", "O": "企业", "CN": "盖章人"},
        profile="seal_maker",
        public_key=key.public_key().spki_der(),
        at=AT,
    )
    cert = parse_certificate(issued.der)
    assert cert.spki_der == key.public_key().spki_der()
    assert "盖章人" in cert.subject_str
    n0 = ca.state()["crl_number"]
    ca.revoke(issued.serial, reason="key_compromise", at=AT + timedelta(hours=1))
    with pytest.raises(ConflictError):
        ca.revoke(issued.serial, reason="superseded", at=AT + timedelta(hours=2))
    with pytest.raises(NotFoundError):
        ca.revoke(12345, at=AT)
    der = ca.issue_crl(at=AT + timedelta(hours=2), validity=timedelta(days=3))
    crl = parse_crl(der)
    assert crl.crl_number == n0 + 1
    assert crl.next_update == AT + timedelta(hours=2, days=3)
    crl.verify_issued_by(ca.cert.public_key())
    entries = a_crl.CertificateList.load(der)["tbs_cert_list"]["revoked_certificates"]
    hit = [e for e in entries if e["user_certificate"].native == issued.serial]
    assert len(hit) == 1 and hit[0].crl_reason_value.native == "key_compromise"
    if alg != "sm2":
        p = c_x509.load_der_x509_crl(der)
        assert p.is_signature_valid(c_x509.load_der_x509_certificate(ca.cert.der).public_key())
        assert p.get_revoked_certificate_by_serial_number(issued.serial) is not None
    root_crl = parse_crl(region.root.issue_crl(at=AT))
    rep = validate_path(
        cert, trust=_trust(region), intermediates=[ca.cert], at=AT + timedelta(hours=3), crls=[crl, root_crl]
    )
    assert rep.indication is Indication.TOTAL_FAILED and rep.sub_indication is SubIndication.REVOKED
    # Before the revocation time the certificate was fine.
    rep = validate_path(
        cert,
        trust=_trust(region),
        intermediates=[ca.cert],
        at=AT + timedelta(minutes=30),
        crls=[parse_crl(ca.issue_crl(at=AT + timedelta(minutes=20))), root_crl],
    )
    assert rep.passed, rep.reason.en
    assert (ca.directory / "crl.pem").read_bytes().startswith(b"-----BEGIN X509 CRL-----")


def test_rotation_keeps_old_certificates_valid(tmp_path: Path) -> None:
    r = Region.init(tmp_path / "r", region="Hubei", passphrase=PW, at=AT, scrypt_n=1 << 10)
    ca = r.ca()
    old_ca = ca.cert
    old_ee, _ = ca.issue_with_new_key(subject="CN=old", profile="licence_issuer", at=AT, key_passphrase=KPW)
    new_ca = r.rotate_ca("issuing", at=AT + timedelta(days=1))
    assert new_ca.spki_der != old_ca.spki_der and new_ca.subject == old_ca.subject
    new_ee, _ = ca.issue_with_new_key(
        subject="CN=new", profile="licence_issuer", at=AT + timedelta(days=2), key_passphrase=KPW
    )
    assert parse_certificate(new_ee.der).aki == new_ca.ski
    inter = [c for c in ca.all_certs()]
    assert len(inter) == 2
    for ee in (old_ee, new_ee):
        rep = validate_path(parse_certificate(ee.der), trust=_trust(r), intermediates=inter, at=AT + timedelta(days=3))
        assert rep.passed, rep.reason.en
    # End-entity rotation: new key + cert, old one still listed and good.
    rotated, key_pem = ca.rotate_end_entity(new_ee.serial, at=AT + timedelta(days=3), key_passphrase=KPW)
    assert rotated.serial != new_ee.serial and key_pem.startswith(b"-----BEGIN ENCRYPTED")
    assert ca.lookup(new_ee.serial)["status"] == "good"
    assert ca.lookup(rotated.serial)["replaces"] == new_ee.serial_hex
    assert parse_certificate(rotated.der).subject == parse_certificate(new_ee.der).subject
    # Root rotation: both roots are in the trust list; the old issuing cert still chains to the old root.
    r.rotate_ca("root", at=AT + timedelta(days=4))
    assert r.trust_anchors_pem().count(b"BEGIN CERTIFICATE") == 2
    rep = validate_path(parse_certificate(old_ee.der), trust=_trust(r), intermediates=inter, at=AT + timedelta(days=5))
    assert rep.passed


def test_keys_are_never_stored_in_clear(tmp_path: Path) -> None:
    r = Region.init(tmp_path / "r", region="Anhui", passphrase=PW, at=AT, scrypt_n=1 << 10)
    r.ca().issue_with_new_key(subject="CN=x", profile="ocsp", at=AT, key_passphrase=KPW)
    files = [p for p in (tmp_path / "r").rglob("*") if p.is_file()]
    keys = [p for p in files if p.parent.name == "keys"]
    assert len(keys) == 2
    for p in files:
        data = p.read_bytes()
        assert b"BEGIN PRIVATE KEY" not in data and b"BEGIN EC PRIVATE KEY" not in data
    for p in keys:
        assert p.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        assert (p.stat().st_mode & 0o077) == 0


def test_wrong_passphrase(tmp_path: Path) -> None:
    Region.init(tmp_path / "r", region="Hunan", passphrase=PW, at=AT, scrypt_n=1 << 10)
    bad = Region(tmp_path / "r", passphrase=b"not the passphrase")
    with pytest.raises(WrongPassphraseError):
        bad.ca().issue_with_new_key(subject="CN=x", profile="ocsp", at=AT, key_passphrase=KPW)
    with pytest.raises(WrongPassphraseError):
        bad.ca().issue_crl(at=AT)


def test_failure_mid_issue_leaves_index_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    r = Region.init(tmp_path / "r", region="Jiangxi", passphrase=PW, at=AT, scrypt_n=1 << 10)
    ca = r.ca()
    ca.issue_with_new_key(subject="CN=first", profile="ocsp", at=AT, key_passphrase=KPW)
    state = (ca.directory / "state.json").read_bytes()

    import keys._ca_store as store

    real_replace = os.replace

    def boom(src: str, dst: str) -> None:
        if str(dst).endswith("state.json"):
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(store.os, "replace", boom)
    with pytest.raises(OSError):
        ca.issue_with_new_key(subject="CN=second", profile="ocsp", at=AT, key_passphrase=KPW)
    with pytest.raises(OSError):
        ca.revoke(next(iter(ca.state()["issued"])), at=AT)
    monkeypatch.undo()
    assert (ca.directory / "state.json").read_bytes() == state
    assert not [p for p in ca.directory.iterdir() if p.name.endswith(".tmp")]

    def sign_fails(*a: object, **k: object) -> bytes:
        raise RuntimeError("signer fell over")

    monkeypatch.setattr("keys._ca_authority.build_certificate", sign_fails)
    with pytest.raises(RuntimeError):
        ca.issue(subject="CN=third", profile="ocsp", public_key=generate_key("sm2").public_key(), at=AT)
    assert (ca.directory / "state.json").read_bytes() == state


def test_init_refuses_existing_region_and_bad_options(tmp_path: Path) -> None:
    from keys.errors import BadInputError, KeyFormatError

    Region.init(tmp_path / "r", region="Fujian", passphrase=PW, at=AT, scrypt_n=1 << 10)
    with pytest.raises(ConflictError):
        Region.init(tmp_path / "r", region="Fujian", passphrase=PW, at=AT, scrypt_n=1 << 10)
    with pytest.raises(BadInputError):
        Region.init(tmp_path / "x", region="X", passphrase=PW, at=AT, alg="dsa")
    with pytest.raises(KeyFormatError):
        Region.init(tmp_path / "y", region="Y", passphrase=b"short", at=AT)
    with pytest.raises(BadInputError):
        Region(tmp_path / "r", passphrase=PW).ca().issue(
            subject="CN=x", profile="nope", public_key=generate_key("sm2").public_key(), at=AT
        )
