"""The algorithm registry, the allow-list and the one signing interface across algorithms."""

from __future__ import annotations

from pathlib import Path

import pytest

from keys.algorithms import DEFAULT_POLICY, AlgorithmPolicy, KeyType, SignatureAlgorithm, by_oid
from keys.errors import AlgorithmNotAllowedError, BadInputError, InvalidSignatureError, KeyFormatError
from keys.interfaces import SigningKey, VerifyingKey
from keys.keypairs import generate_key, load_private_key_der, load_public_key, public_key_from_spki

INTEROP = Path(__file__).resolve().parents[1].parent / "shared" / "interop"
ALGS = {"sm2": KeyType.SM2, "p256": KeyType.P256, "rsa2048": KeyType.RSA, "ed25519": KeyType.ED25519}


def test_registry_oids() -> None:
    assert by_oid("1.2.156.10197.1.501") is SignatureAlgorithm.SM2_SM3
    assert by_oid("1.2.156.10197.1.301.1") is SignatureAlgorithm.SM2_SM3  # GM/T 0006 alias (CFCA, GmSSL)
    assert by_oid("1.2.840.10045.4.3.2") is SignatureAlgorithm.ECDSA_SHA256
    assert by_oid("1.2.840.113549.1.1.10") is SignatureAlgorithm.RSA_PSS_SHA256
    assert by_oid("1.2.840.113549.1.1.11") is SignatureAlgorithm.RSA_PKCS1_SHA256
    assert by_oid("1.3.101.112") is SignatureAlgorithm.ED25519
    for weak in ("1.2.840.113549.1.1.5", "1.2.840.10045.4.1", "1.2.840.113549.1.1.4"):  # SHA-1 RSA/ECDSA, MD5
        with pytest.raises(AlgorithmNotAllowedError):
            by_oid(weak)


def test_policy_allow_list_and_rsa_size() -> None:
    sm2_only = AlgorithmPolicy(allowed=frozenset({SignatureAlgorithm.SM2_SM3}))
    sm2_only.check(SignatureAlgorithm.SM2_SM3)
    with pytest.raises(AlgorithmNotAllowedError):
        sm2_only.check(SignatureAlgorithm.ED25519)
    with pytest.raises(AlgorithmNotAllowedError):
        DEFAULT_POLICY.check(SignatureAlgorithm.RSA_PKCS1_SHA256, key_bits=1024)
    DEFAULT_POLICY.check(SignatureAlgorithm.RSA_PKCS1_SHA256, key_bits=2048)


@pytest.mark.parametrize("alg", sorted(ALGS))
def test_one_interface_for_every_algorithm(alg: str) -> None:
    key = generate_key(alg)
    assert isinstance(key, SigningKey)
    pub = key.public_key()
    assert isinstance(pub, VerifyingKey)
    assert pub.key_type is ALGS[alg] and key.key_type is ALGS[alg]
    sig = key.sign(b"payload")
    pub.verify(sig, b"payload")
    with pytest.raises(InvalidSignatureError):
        pub.verify(sig, b"payloaD")
    # through SPKI and PKCS#8 and back
    public_key_from_spki(pub.spki_der()).verify(sig, b"payload")
    load_private_key_der(key.private_der()).public_key().verify(sig, b"payload")  # type: ignore[attr-defined]
    assert "PRIVATE" not in repr(key).upper() or repr(key).startswith("<")


def test_rsa_pss_and_pkcs1_are_distinct() -> None:
    key = generate_key("rsa2048")
    pss = key.sign(b"m", algorithm=SignatureAlgorithm.RSA_PSS_SHA256)
    key.public_key().verify(pss, b"m", algorithm=SignatureAlgorithm.RSA_PSS_SHA256)
    with pytest.raises(InvalidSignatureError):
        key.public_key().verify(pss, b"m", algorithm=SignatureAlgorithm.RSA_PKCS1_SHA256)


def test_algorithm_must_fit_key() -> None:
    with pytest.raises(AlgorithmNotAllowedError):
        generate_key("p256").sign(b"m", algorithm=SignatureAlgorithm.SM2_SM3)
    with pytest.raises(AlgorithmNotAllowedError):
        generate_key("sm2").sign(b"m", algorithm=SignatureAlgorithm.ECDSA_SHA256)
    with pytest.raises(BadInputError):
        generate_key("p256").sign(b"m", uid=b"1234567812345678")
    with pytest.raises(AlgorithmNotAllowedError):
        generate_key("dsa1024")


def test_sm2_uid_is_part_of_the_signature() -> None:
    key = generate_key("sm2")
    sig = key.sign(b"m", uid=b"ALICE123@YAHOO.COM")
    key.public_key().verify(sig, b"m", uid=b"ALICE123@YAHOO.COM")
    with pytest.raises(InvalidSignatureError):
        key.public_key().verify(sig, b"m")


@pytest.mark.parametrize(
    "rel",
    [
        "sm2-sm3/tongsuo-certs/sm2-cert.pem",
        "sm2-sm3/emmansun-gmsm-samples/openssl3_sm2_selfsigned_sm2_spki_oid.pem",  # SPKI alg = SM2 OID itself
        "sm2-sm3/emmansun-gmsm-samples/aliyun_kms_sign_pub.pem",
        "sm2-sm3/emmansun-gmsm-samples/sheca_sm2_ca_cert_issued_by_nrcac_rootca.pem",
    ],
)
def test_sm2_public_keys_from_the_wild_load(rel: str) -> None:
    pub = load_public_key((INTEROP / rel).read_bytes())
    assert pub.key_type is KeyType.SM2


@pytest.mark.parametrize(
    "data",
    [b"", b"garbage", b"-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n", b"\x30\x03\x02\x01\x00"],
)
def test_bad_public_keys_are_typed(data: bytes) -> None:
    with pytest.raises((KeyFormatError, BadInputError)):
        load_public_key(data)


def test_private_key_where_public_expected() -> None:
    with pytest.raises(KeyFormatError, match="private key"):
        load_public_key((INTEROP / "sm2-sm3/tongsuo-certs/sm2.key").read_bytes())
