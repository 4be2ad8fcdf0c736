"""Pkcs11KeyStore against a real SoftHSM2 token: keys made on the token, signatures checked outside."""

from __future__ import annotations

import datetime as dt
import itertools
import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.x509.oid import NameOID

from keys.algorithms import SignatureAlgorithm
from keys.errors import (
    AlgorithmNotAllowedError,
    BadInputError,
    CertificateError,
    ConflictError,
    InvalidSignatureError,
    NotFoundError,
    WrongPassphraseError,
)
from keys.interfaces import SigningKey
from keys.keypairs import public_key_from_spki
from keys.provider import KeyProvider, KeyStatus, RetiredKeyError, open_provider
from tests.softhsm import softhsm  # noqa: F401  (fixture)

pytestmark = pytest.mark.softhsm

_ids = itertools.count()


def _kid(prefix: str) -> str:
    return f"{prefix}-{os.getpid()}-{next(_ids)}"


@pytest.fixture(scope="module")
def store(softhsm):  # noqa: F811
    from keys.pkcs11 import Pkcs11KeyStore

    s = Pkcs11KeyStore(softhsm.module, token_label=softhsm.label, pin=softhsm.pin)
    yield s
    s.close()


def _raw_token_object(softhsm, label, cls):  # noqa: F811
    """Look at an object with python-pkcs11 directly (login is per process, so it is visible)."""
    import pkcs11

    tok = pkcs11.lib(os.path.realpath(softhsm.module)).get_token(token_label=softhsm.label)
    session = tok.open()
    return session, session.get_key(cls, label=label)


def test_is_a_provider(store):
    assert isinstance(store, KeyProvider)
    assert store.supported_algs == ("p256", "rsa2048", "rsa3072")


def test_p256_signature_verifies_outside_the_token(store):
    kid = _kid("ec")
    info = store.create_key(kid, alg="p256")
    assert (info.alg, info.version, info.status, info.provider) == ("p256", 1, KeyStatus.ACTIVE, "pkcs11")
    signer = store.signing_key(kid)
    assert isinstance(signer, SigningKey)
    sig = signer.sign(b"licence bytes")
    assert sig[0] == 0x30  # DER SEQUENCE {r, s}, not the token's raw r||s
    spki = store.public_key(kid).spki_der()
    public_key_from_spki(spki).verify(sig, b"licence bytes")
    pyca_pub = store.public_key(kid).pyca
    pyca_pub.verify(sig, b"licence bytes", ec.ECDSA(hashes.SHA256()))
    with pytest.raises(InvalidSignatureError):
        public_key_from_spki(spki).verify(sig, b"licence bytez")


def test_rsa_pkcs1_and_pss(store):
    kid = _kid("rsa")
    info = store.create_key(kid, alg="rsa2048")
    assert info.alg == "rsa2048"
    signer = store.signing_key(kid)
    pub = public_key_from_spki(store.public_key(kid).spki_der())
    v15 = signer.sign(b"data")
    pub.verify(v15, b"data")
    pub.pyca.verify(v15, b"data", padding.PKCS1v15(), hashes.SHA256())
    pss = signer.sign(b"data", algorithm=SignatureAlgorithm.RSA_PSS_SHA256)
    pub.verify(pss, b"data", algorithm=SignatureAlgorithm.RSA_PSS_SHA256)
    pub.pyca.verify(pss, b"data", padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    assert pss != signer.sign(b"data", algorithm=SignatureAlgorithm.RSA_PSS_SHA256)  # randomised salt
    with pytest.raises(AlgorithmNotAllowedError):
        signer.sign(b"data", algorithm=SignatureAlgorithm.ECDSA_SHA256)


def test_private_key_is_sensitive_and_not_extractable(store, softhsm):  # noqa: F811
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    kid = _kid("nx")
    store.create_key(kid, alg="p256")
    session, priv = _raw_token_object(softhsm, f"{kid}#v1", ObjectClass.PRIVATE_KEY)
    try:
        assert priv[Attribute.EXTRACTABLE] is False
        assert priv[Attribute.SENSITIVE] is True
        assert priv[Attribute.NEVER_EXTRACTABLE] is True
        assert priv[Attribute.ALWAYS_SENSITIVE] is True
        assert priv[Attribute.TOKEN] is True
        assert priv[Attribute.DECRYPT] is False
        assert priv[Attribute.ID] == f"{kid}#v1".encode()
        with pytest.raises(pkcs11.AttributeSensitive):
            priv[Attribute.VALUE]
    finally:
        session.close()
    assert not hasattr(store.signing_key(kid), "private_der")
    assert repr(store.signing_key(kid)) == f"<TokenSigningKey {kid}#v1>"


def test_sm2_is_refused_with_a_reason(store):
    with pytest.raises(AlgorithmNotAllowedError) as ei:
        store.create_key(_kid("sm"), alg="sm2")
    assert "sm2" in ei.value.message and "p256, rsa2048, rsa3072" in ei.value.message
    with pytest.raises(AlgorithmNotAllowedError):
        store.create_key(_kid("ed"), alg="ed25519")


def test_wrong_pin_is_a_typed_error(softhsm):  # noqa: F811
    from keys.pkcs11 import Pkcs11KeyStore

    # Token nobody has logged in to: the token itself says CKR_PIN_INCORRECT.
    with pytest.raises(WrongPassphraseError):
        Pkcs11KeyStore(softhsm.module, token_label=softhsm.pin_label, pin="not-the-pin")
    # Token already logged in by this process: the store still refuses the wrong PIN.
    with pytest.raises(WrongPassphraseError):
        Pkcs11KeyStore(softhsm.module, token_label=softhsm.label, pin="not-the-pin")
    good = Pkcs11KeyStore(softhsm.module, token_label=softhsm.pin_label, pin=softhsm.pin)
    assert good.list_keys() == []
    good.close()


def test_missing_token_and_module(softhsm):  # noqa: F811
    from keys.errors import KeyStoreError
    from keys.pkcs11 import Pkcs11KeyStore

    with pytest.raises(KeyStoreError, match="not present"):
        Pkcs11KeyStore(softhsm.module, token_label="no-such-token", pin=softhsm.pin)
    with pytest.raises(KeyStoreError, match="not found"):
        Pkcs11KeyStore("/nonexistent/libpkcs11.so", token_label=softhsm.label, pin=softhsm.pin)


def test_rotation(store, softhsm):  # noqa: F811
    from pkcs11 import Attribute, ObjectClass

    kid = _kid("rot")
    store.create_key(kid, alg="p256")
    old_signer = store.signing_key(kid)
    old_sig = old_signer.sign(b"before")
    info = store.rotate(kid)
    assert (info.version, info.status) == (2, KeyStatus.ACTIVE)
    with pytest.raises(RetiredKeyError):
        old_signer.sign(b"after")
    with pytest.raises(RetiredKeyError):
        store.signing_key(kid, version=1)
    versions = store.public_keys(kid)
    assert [(v.info.version, v.info.status) for v in versions] == [(1, KeyStatus.RETIRED), (2, KeyStatus.ACTIVE)]
    versions[0].public_key.verify(old_sig, b"before")
    new_sig = store.signing_key(kid).sign(b"after")
    store.public_key(kid).verify(new_sig, b"after")
    with pytest.raises(InvalidSignatureError):
        store.public_key(kid, version=1).verify(new_sig, b"after")
    # The token itself no longer lets the retired key sign.
    session, priv = _raw_token_object(softhsm, f"{kid}#v1", ObjectClass.PRIVATE_KEY)
    try:
        assert priv[Attribute.SIGN] is False
    finally:
        session.close()
    assert [k.key_id for k in store.list_keys()].count(kid) == 1


def test_signing_from_two_threads(store):
    kid = _kid("thr")
    store.create_key(kid, alg="p256")
    signer = store.signing_key(kid)
    pub = store.public_key(kid)
    msgs = [f"message {i}".encode() for i in range(40)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        sigs = list(pool.map(signer.sign, msgs))
    for m, s in zip(msgs, sigs, strict=True):
        pub.verify(s, m)


def _cert_for(pub_pyca, cn: str) -> bytes:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test ca")]))
        .public_key(pub_pyca)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )
    from cryptography.hazmat.primitives.serialization import Encoding

    return cert.public_bytes(Encoding.DER)


def test_certificates_follow_rotation(store):
    kid = _kid("crt")
    store.create_key(kid, alg="p256")
    cert1 = _cert_for(store.public_key(kid).pyca, "v1")
    store.attach_certificate(kid, 1, cert1)
    assert store.certificate(kid) == cert1
    with pytest.raises(ConflictError):
        store.attach_certificate(kid, 1, cert1)
    store.rotate(kid)
    with pytest.raises(NotFoundError):
        store.certificate(kid)
    with pytest.raises(CertificateError):  # v1's certificate does not fit v2
        store.attach_certificate(kid, 2, cert1)
    cert2 = _cert_for(store.public_key(kid).pyca, "v2")
    store.attach_certificate(kid, 2, cert2)
    assert store.certificate(kid) == cert2
    assert store.certificate(kid, 1) == cert1
    assert [v.certificate for v in store.public_keys(kid)] == [cert1, cert2]


def test_open_provider_from_uri(softhsm, store):  # noqa: F811
    kid = _kid("uri")
    store.create_key(kid, alg="p256")
    p = open_provider(softhsm.url())
    try:
        assert p.kind == "pkcs11"
        assert kid in [k.key_id for k in p.list_keys()]
        sig = p.signing_key(kid).sign(b"x")
        store.public_key(kid).verify(sig, b"x")
    finally:
        p.close()
    with pytest.raises(BadInputError, match="pin-value"):
        open_provider(f"pkcs11:token={softhsm.label};module-path={softhsm.module};pin-value=1234")


def test_unknown_key_and_duplicate(store):
    with pytest.raises(NotFoundError):
        store.signing_key(_kid("none"))
    kid = _kid("dup")
    store.create_key(kid, alg="p256")
    with pytest.raises(ConflictError):
        store.create_key(kid, alg="p256")
    with pytest.raises(BadInputError):
        store.create_key("../evil", alg="p256")
    with pytest.raises(BadInputError):
        store.import_key(_kid("imp"), b"-----BEGIN PRIVATE KEY-----")
