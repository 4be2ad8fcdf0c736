"""CMS SignedData: sign and verify for SM2, ECDSA, RSA (PKCS#1, PSS), Ed25519; OpenSSL and corpus interop."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import cms as acms
from click.testing import CliRunner

from esign.cms import sign_cms
from esign.formats.cms_asn1 import load_signed_data, signed_attrs_to_be_signed
from esign.tsa import LocalTimeStamper, TimeStampAuthority
from keys.algorithms import SignatureAlgorithm
from keys.errors import BadInputError, KeyFormatError
from keys.keypairs import generate_key
from keys.pkcs8 import encrypt_private_key
from keys.x509 import cert_to_pem, parse_certificate, parse_certificates
from tests._lt_pki import NOW, FixedClock, make_pki, write_pems
from verifier._cms_signer import embedded_certificates
from verifier.cms import verify_cms
from verifier.pki import TrustStore, validate_path
from verifier.report import Indication, SubIndication

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "interop" / "sm2-sm3" / "emmansun-gmsm-samples"
DATA = "Hello, 电子签名 CMS!\n".encode()
LATER = NOW + timedelta(minutes=5)


@pytest.fixture(scope="module")
def pkis(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("cmspki")
    return {"p256": make_pki(base / "p256", "p256"), "sm2": make_pki(base / "sm2", "sm2")}


def _signer(pkis: dict, alg: str):  # type: ignore[no-untyped-def]
    pki = pkis["sm2" if alg == "sm2" else "p256"]
    key, der = pki.issue("enterprise_signer", alg=alg, cn=f"signer {alg}")
    return pki, key, der


ALGS = ["p256", "rsa2048", "ed25519", "sm2"]


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("detached", [True, False])
def test_sign_verify_roundtrip(pkis: dict, alg: str, detached: bool) -> None:
    pki, key, der = _signer(pkis, alg)
    p7 = sign_cms(DATA, key=key, cert_der=der, chain=[pki.ca_cert.der], detached=detached, at=NOW)
    rep = verify_cms(p7, detached_content=DATA if detached else None, trust=pki.trust, at=LATER)
    assert rep.indication is Indication.TOTAL_PASSED, rep.to_dict()
    assert rep.artefact == "cms" and rep.signer["subject"].endswith(f"signer {alg},C=CN")
    assert rep.signer["signing_time"].startswith("2026-03-01T12:00:00")
    sd = load_signed_data(p7).signed_data
    si = sd["signer_infos"][0]
    attrs = {a["type"].native for a in si["signed_attrs"]}
    assert {"content_type", "message_digest", "signing_time", "signing_certificate_v2"} <= attrs
    # tampered content -> HASH_FAILURE
    if detached:
        bad = verify_cms(p7, detached_content=DATA + b"x", trust=pki.trust, at=LATER)
        assert (bad.indication, bad.sub_indication) == (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)
    # flipped signature byte -> SIG_CRYPTO_FAILURE
    sig = bytes(si["signature"].native)
    broken = p7.replace(sig, sig[:-3] + bytes([sig[-3] ^ 1]) + sig[-2:])
    bad = verify_cms(broken, detached_content=DATA if detached else None, trust=pki.trust, at=LATER)
    assert bad.indication is Indication.TOTAL_FAILED
    assert bad.sub_indication in (SubIndication.SIG_CRYPTO_FAILURE, SubIndication.FORMAT_FAILURE)


def test_sm2_oids_and_raw_signature_cross_check(pkis: dict, tmp_path: Path) -> None:
    """SM2 CMS uses SM3 + SM3withSM2; the raw signature checks out in the OpenSSL CLI with the default ID."""
    _pki, key, der = _signer(pkis, "sm2")
    p7 = sign_cms(DATA, key=key, cert_der=der, at=NOW)
    loaded = load_signed_data(p7)
    assert loaded.outer_type == "1.2.840.113549.1.7.2"
    si = loaded.signed_data["signer_infos"][0]
    assert si["digest_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.401"
    assert si["signature_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.501"
    (tmp_path / "attrs.der").write_bytes(signed_attrs_to_be_signed(si))
    (tmp_path / "sig.der").write_bytes(bytes(si["signature"].native))
    (tmp_path / "pub.pem").write_bytes(
        b"-----BEGIN PUBLIC KEY-----\n" + __import__("base64").encodebytes(key.public_key().spki_der())
        + b"-----END PUBLIC KEY-----\n")
    ok = subprocess.run(["openssl", "dgst", "-sm3", "-verify", str(tmp_path / "pub.pem"), "-sigopt",
                         "distid:1234567812345678", "-signature", str(tmp_path / "sig.der"),
                         str(tmp_path / "attrs.der")], capture_output=True, text=True)
    assert ok.returncode == 0 and "Verified OK" in ok.stdout, ok.stderr
    (tmp_path / "attrs.der").write_bytes(signed_attrs_to_be_signed(si) + b"\x00")
    bad = subprocess.run(["openssl", "dgst", "-sm3", "-verify", str(tmp_path / "pub.pem"), "-sigopt",
                          "distid:1234567812345678", "-signature", str(tmp_path / "sig.der"),
                          str(tmp_path / "attrs.der")], capture_output=True, text=True)
    assert bad.returncode != 0


@pytest.mark.parametrize("signed_attrs", [True, False])
def test_sm2_gmt0010_oids(pkis: dict, signed_attrs: bool) -> None:
    pki, key, der = _signer(pkis, "sm2")
    p7 = sign_cms(DATA, key=key, cert_der=der, chain=[pki.ca_cert.der], detached=False, at=NOW, oids="gmt0010",
                  signed_attrs=signed_attrs)
    loaded = load_signed_data(p7)
    assert loaded.outer_type == "1.2.156.10197.6.1.4.2.2"
    assert loaded.signed_data["encap_content_info"]["content_type"].dotted == "1.2.156.10197.6.1.4.2.1"
    rep = verify_cms(p7, trust=pki.trust, at=LATER)
    assert rep.passed, rep.to_dict()
    pem = b"-----BEGIN PKCS7-----\n" + __import__("base64").encodebytes(p7) + b"-----END PKCS7-----\n"
    assert verify_cms(pem, trust=pki.trust, at=LATER).passed


def _openssl_verify(tmp: Path, p7: bytes, ca_pem: Path, content: bytes | None) -> subprocess.CompletedProcess[str]:
    (tmp / "s.p7s").write_bytes(p7)
    cmd = ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp / "s.p7s"), "-CAfile",
           str(ca_pem), "-purpose", "any", "-out", str(tmp / "out.bin")]
    if content is not None:
        (tmp / "content.bin").write_bytes(content)
        cmd += ["-content", str(tmp / "content.bin")]
    return subprocess.run(cmd, capture_output=True, text=True)


@pytest.mark.parametrize("variant", ["p256", "rsa2048", "rsa-pss"])
@pytest.mark.parametrize("detached", [True, False])
def test_openssl_verifies_ours(pkis: dict, tmp_path: Path, variant: str, detached: bool) -> None:
    alg = "rsa2048" if variant.startswith("rsa") else variant
    pki, key, der = _signer(pkis, alg)
    algorithm = SignatureAlgorithm.RSA_PSS_SHA256 if variant == "rsa-pss" else None
    p7 = sign_cms(DATA, key=key, cert_der=der, chain=[pki.ca_cert.der], detached=detached, at=NOW,
                  algorithm=algorithm)
    pems = write_pems(tmp_path, root=pki.root_cert)
    res = _openssl_verify(tmp_path, p7, pems["root"], DATA if detached else None)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "out.bin").read_bytes() == DATA
    if detached:
        res = _openssl_verify(tmp_path, p7, pems["root"], DATA + b"!")
        assert res.returncode != 0


def test_ed25519_cross_checked_by_pyhanko(pkis: dict) -> None:
    """OpenSSL 3.0 cannot do Ed25519 CMS at all ("invalid digest"); pyHanko's validator is the second opinion."""
    from pyhanko.sign.validation.generic_cms import validate_sig_integrity

    _pki, key, der = _signer(pkis, "ed25519")
    p7 = sign_cms(DATA, key=key, cert_der=der, at=NOW)
    si = acms.ContentInfo.load(p7)["content"]["signer_infos"][0]
    import hashlib

    from asn1crypto import x509

    intact, valid = validate_sig_integrity(si, x509.Certificate.load(der), expected_content_type="data",
                                           actual_digest=hashlib.sha512(DATA).digest())
    assert intact and valid
    intact, valid = validate_sig_integrity(si, x509.Certificate.load(der), expected_content_type="data",
                                           actual_digest=hashlib.sha512(DATA + b"x").digest())
    assert not intact


@pytest.mark.parametrize("variant", ["ec", "rsa", "rsa-pss"])
@pytest.mark.parametrize("mode", ["detached", "attached", "noattr"])
def test_ours_verifies_openssl(tmp_path: Path, variant: str, mode: str) -> None:
    """openssl cms -sign output (PKCS#1 as rsaEncryption, PSS, ECDSA; with and without attributes) verifies here."""
    pki = make_pki(tmp_path / "pki", "p256")
    alg = "rsa2048" if variant.startswith("rsa") else "p256"
    key, der = pki.issue("enterprise_signer", alg=alg, cn="openssl signer")
    (tmp_path / "k.pem").write_bytes(encrypt_private_key(key, passphrase=b"password1", scrypt_n=2**10))
    (tmp_path / "c.pem").write_bytes(cert_to_pem(der))
    (tmp_path / "d.bin").write_bytes(DATA)
    cmd = ["openssl", "cms", "-sign", "-binary", "-in", str(tmp_path / "d.bin"), "-signer", str(tmp_path / "c.pem"),
           "-inkey", str(tmp_path / "k.pem"), "-passin", "pass:password1", "-outform", "DER",
           "-out", str(tmp_path / "o.p7s"), "-md", "sha256"]
    if variant == "rsa-pss":
        cmd += ["-keyopt", "rsa_padding_mode:pss", "-keyopt", "rsa_pss_saltlen:32"]
    if mode != "detached":
        cmd.append("-nodetach")
    if mode == "noattr":
        cmd.append("-noattr")
    subprocess.run(cmd, check=True, capture_output=True)
    p7 = (tmp_path / "o.p7s").read_bytes()
    content = DATA if mode == "detached" else None
    rep = verify_cms(p7, detached_content=content, trust=pki.trust, extra_certs=[pki.ca_cert],
                     at=NOW + timedelta(minutes=1))
    assert rep.passed, rep.to_dict()
    if mode == "detached":
        bad = verify_cms(p7, detached_content=DATA[:-1], trust=pki.trust, extra_certs=[pki.ca_cert], at=LATER)
        assert bad.sub_indication is SubIndication.HASH_FAILURE


def _cfca_cert():  # type: ignore[no-untyped-def]
    p7 = (CORPUS / "cfca_sadk_signeddata_attached.p7").read_bytes()
    return embedded_certificates(load_signed_data(p7).signed_data)[0]


@pytest.mark.parametrize("kind", ["attached", "detached"])
def test_cfca_sadk_samples(kind: str) -> None:
    """GM/T 0010 OIDs, no signed attributes, sign OID 1.2.156.10197.1.301.1: signature valid; cert expired/untrusted."""
    p7 = (CORPUS / f"cfca_sadk_signeddata_{kind}.p7").read_bytes()
    content = (CORPUS / "cfca_sadk_detached_content.txt").read_bytes() if kind == "detached" else None
    cert = _cfca_cert()
    now = datetime(2026, 6, 1, tzinfo=UTC)
    untrusted = verify_cms(p7, detached_content=content, trust=TrustStore(anchors=()), at=now)
    assert untrusted.indication is Indication.INDETERMINATE
    assert untrusted.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    assert any(c.name == "signer[0].signature" and c.status.value == "passed" for c in untrusted.checks)
    in_window = verify_cms(p7, detached_content=content, trust=TrustStore.of([cert]), at=datetime(2025, 1, 1,
                                                                                                  tzinfo=UTC))
    assert in_window.passed, in_window.to_dict()
    expired = verify_cms(p7, detached_content=content, trust=TrustStore.of([cert]), at=now)
    assert (expired.indication, expired.sub_indication) == (Indication.TOTAL_FAILED, SubIndication.EXPIRED)
    if kind == "detached":
        tampered = verify_cms(p7, detached_content=content + b" ", trust=TrustStore.of([cert]),
                              at=datetime(2025, 1, 1, tzinfo=UTC))
        assert tampered.sub_indication is SubIndication.SIG_CRYPTO_FAILURE
        missing = verify_cms(p7, trust=TrustStore.of([cert]), at=datetime(2025, 1, 1, tzinfo=UTC))
        assert missing.sub_indication is SubIndication.SIGNED_DATA_NOT_FOUND


def test_gmssl_certs_only_chain() -> None:
    """The gmssl.cn chain is a certs-only PKCS#7: not a signature (bad input here), but its chain validates."""
    data = (CORPUS / "gmssl_cn_sm2_cert_chain.p7b.pem").read_bytes()
    with pytest.raises(BadInputError):
        verify_cms(data, trust=TrustStore(anchors=()), at=NOW)
    certs = parse_certificates(data)
    root = next(c for c in certs if c.self_issued)
    middle = next(c for c in certs if not c.self_issued)
    rep = validate_path(middle, trust=TrustStore.of([root]), at=datetime(2024, 1, 1, tzinfo=UTC))
    assert rep.passed, rep.to_dict()


def test_signature_timestamp_moves_validation_time(pkis: dict) -> None:
    """With a signature time-stamp, an expired signer certificate still passes (validated at genTime)."""
    pki, key, der = _signer(pkis, "p256")
    tkey, tder = pki.issue("timestamping", cn="TSA")
    tsa = TimeStampAuthority(key=tkey, cert_der=tder, chain=[pki.ca_cert.der], policy_oid="2.25.1",
                             clock=FixedClock(NOW))
    p7 = sign_cms(DATA, key=key, cert_der=der, chain=[pki.ca_cert.der], at=NOW, timestamper=LocalTimeStamper(tsa))
    years_later = NOW + timedelta(days=3 * 365)  # signer cert (730 d) expired, TSA cert (1825 d) still valid
    rep = verify_cms(p7, detached_content=DATA, trust=pki.trust, at=years_later)
    assert rep.passed, rep.to_dict()
    assert rep.signer["timestamp"].startswith("2026-03-01T12:00:00")
    plain = sign_cms(DATA, key=key, cert_der=der, chain=[pki.ca_cert.der], at=NOW)
    assert verify_cms(plain, detached_content=DATA, trust=pki.trust, at=years_later).sub_indication is (
        SubIndication.EXPIRED)


def test_detection_rule(pkis: dict) -> None:
    from verifier.cms import is_cms_signature

    _pki, key, der = _signer(pkis, "p256")
    p7 = sign_cms(DATA, key=key, cert_der=der, at=NOW)
    assert is_cms_signature(p7) and is_cms_signature(p7[:-10])
    assert is_cms_signature((CORPUS / "cfca_sadk_signeddata_detached.p7").read_bytes())
    assert not is_cms_signature((CORPUS / "gmssl_cn_sm2_cert_chain.p7b.pem").read_bytes())
    assert not is_cms_signature(der) and not is_cms_signature(b"%PDF-1.7")


def test_bad_inputs(pkis: dict) -> None:
    pki, key, der = _signer(pkis, "p256")
    for junk in (b"", b"hello", b"\x30\x03\x02\x01\x01", b"-----BEGIN PKCS7-----\nAAAA\n-----END PKCS7-----\n"):
        with pytest.raises(BadInputError):
            verify_cms(junk, trust=pki.trust, at=NOW)
    p7 = sign_cms(DATA, key=key, cert_der=der, at=NOW)
    truncated = verify_cms(p7[:-10], detached_content=DATA, trust=pki.trust, at=NOW)
    assert truncated.indication is Indication.TOTAL_FAILED and truncated.sub_indication is SubIndication.FORMAT_FAILURE
    other_key = generate_key("p256")
    with pytest.raises(KeyFormatError):
        sign_cms(DATA, key=other_key, cert_der=der, at=NOW)


def test_cli_sign_verify(pkis: dict, tmp_path: Path) -> None:
    from api.cli.cms import cms

    pki, key, der = _signer(pkis, "sm2")
    (tmp_path / "k.pem").write_bytes(encrypt_private_key(key, passphrase=b"password1", scrypt_n=2**10))
    (tmp_path / "pass").write_bytes(b"password1\n")
    pems = write_pems(tmp_path, signer=der, ca=pki.ca_cert, root=pki.root_cert)
    (tmp_path / "doc.txt").write_bytes(DATA)
    r = CliRunner().invoke(cms, ["sign", "--key", str(tmp_path / "k.pem"), "--passphrase-file", str(tmp_path / "pass"),
                                 "--cert", str(pems["signer"]), "--chain", str(pems["ca"]), "--in",
                                 str(tmp_path / "doc.txt"), "--out", str(tmp_path / "doc.p7s"), "--gmt0010"])
    assert r.exit_code == 0, r.output
    at = LATER.isoformat()
    base = ["verify", str(tmp_path / "doc.p7s"), "--data", str(tmp_path / "doc.txt"), "--at", at]
    assert CliRunner().invoke(cms, [*base, "--trust", str(pems["root"])]).exit_code == 0
    assert CliRunner().invoke(cms, base).exit_code == 2  # untrusted
    (tmp_path / "doc2.txt").write_bytes(DATA + b"!")
    bad = ["verify", str(tmp_path / "doc.p7s"), "--data", str(tmp_path / "doc2.txt"), "--at", at, "--trust",
           str(pems["root"])]
    assert CliRunner().invoke(cms, bad).exit_code == 1
    (tmp_path / "junk.p7s").write_bytes(b"not cms")
    assert CliRunner().invoke(cms, ["verify", str(tmp_path / "junk.p7s")]).exit_code == 3
    assert parse_certificate(pems["signer"].read_bytes()).der == der
