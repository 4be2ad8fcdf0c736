"""Path validation on bad input: every case gives a typed error or a non-PASSED report, never a crash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import core
from asn1crypto import x509 as a_x509
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keys._sm2 import der_to_raw
from keys.errors import CertificateError, InvalidSignatureError
from keys.keypairs import generate_key
from keys.x509 import (
    build_certificate,
    build_crl,
    cert_to_pem,
    ext_authority_key_identifier,
    ext_basic_constraints,
    ext_key_usage,
    ext_subject_key_identifier,
    make_name,
    parse_certificate,
    parse_crl,
    subject_key_identifier,
)
from verifier import MAX_CHAIN_DEPTH, Indication, PathPolicy, SubIndication, TrustStore, validate_path
from verifier.chain import verify_certificate_bundle

T0 = datetime(2025, 1, 1, tzinfo=UTC)
AT = T0 + timedelta(days=10)


def _cert(subject, issuer, key, issuer_key, *, ca, extra=(), nb=T0, na=T0 + timedelta(days=365), path_len=None):
    spki = key.public_key().spki_der()
    exts = [
        ext_basic_constraints(ca=ca, path_len=path_len),
        ext_key_usage({"key_cert_sign", "crl_sign"} if ca else {"digital_signature"}),
        ext_subject_key_identifier(spki),
        ext_authority_key_identifier(subject_key_identifier(issuer_key.public_key().spki_der())),
        *extra,
    ]
    return parse_certificate(
        build_certificate(
            subject=make_name(subject),
            issuer=make_name(issuer),
            subject_spki=spki,
            issuer_key=issuer_key,
            not_before=nb,
            not_after=na,
            extensions=exts,
        )
    )


@pytest.fixture(scope="module")
def pki():
    rk, ik, lk = generate_key("sm2"), generate_key("sm2"), generate_key("sm2")
    root = _cert("CN=Root", "CN=Root", rk, rk, ca=True)
    inter = _cert("CN=Inter", "CN=Root", ik, rk, ca=True)
    leaf = _cert("CN=Leaf", "CN=Inter", lk, ik, ca=False)
    return {"rk": rk, "ik": ik, "lk": lk, "root": root, "inter": inter, "leaf": leaf, "trust": TrustStore.of([root])}


def _v(leaf, pki, *, inter=None, at=AT, crls=(), policy=None):
    return validate_path(
        leaf,
        trust=pki["trust"],
        intermediates=[pki["inter"]] if inter is None else inter,
        at=at,
        crls=crls,
        policy=policy,
    )


def test_valid_baseline(pki) -> None:
    rep = _v(pki["leaf"], pki)
    assert rep.indication is Indication.TOTAL_PASSED
    d = rep.to_dict()
    assert d["indication"] == "TOTAL_PASSED" and d["sub_indication"] is None
    assert set(d["reason"]) == {"zh", "en", "hint_zh", "hint_en"}
    assert any(c["name"] == "signature[1]" and c["status"] == "passed" for c in d["checks"])


def test_unknown_critical_extension(pki) -> None:
    odd = a_x509.Extension(
        {"extn_id": "1.2.3.4.5", "critical": True, "extn_value": core.ParsableOctetString(b"\x05\x00")}
    )
    leaf = _cert("CN=Odd", "CN=Inter", pki["lk"], pki["ik"], ca=False, extra=[odd])
    rep = _v(leaf, pki)
    assert rep.indication is Indication.TOTAL_FAILED
    assert rep.sub_indication is SubIndication.CHAIN_CONSTRAINTS_FAILURE
    assert "1.2.3.4.5" in rep.reason.en
    odd_nc = a_x509.Extension(
        {"extn_id": "1.2.3.4.5", "critical": False, "extn_value": core.ParsableOctetString(b"\x05\x00")}
    )
    assert _v(_cert("CN=Ok", "CN=Inter", pki["lk"], pki["ik"], ca=False, extra=[odd_nc]), pki).passed


def test_loop_is_reported_not_hung(pki) -> None:
    ak, bk = generate_key("sm2"), generate_key("sm2")
    a = _cert("CN=A", "CN=B", ak, bk, ca=True)
    b = _cert("CN=B", "CN=A", bk, ak, ca=True)
    leaf = _cert("CN=L", "CN=A", pki["lk"], ak, ca=False)
    rep = _v(leaf, pki, inter=[a, b])
    assert rep.indication is Indication.INDETERMINATE
    assert rep.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    assert "loop" in rep.reason.en


def test_fifty_link_chain_fails_plainly(pki) -> None:
    keys = [generate_key("sm2") for _ in range(50)]
    certs = []
    prev_name, prev_key = "CN=Root", pki["rk"]
    for i, k in enumerate(keys):
        certs.append(_cert(f"CN=C{i}", prev_name, k, prev_key, ca=True))
        prev_name, prev_key = f"CN=C{i}", k
    leaf = _cert("CN=Deep", prev_name, pki["lk"], prev_key, ca=False)
    rep = _v(leaf, pki, inter=list(reversed(certs)))
    assert rep.indication is Indication.TOTAL_FAILED
    assert rep.sub_indication is SubIndication.CHAIN_CONSTRAINTS_FAILURE
    assert f"maximum of {MAX_CHAIN_DEPTH}" in rep.reason.en
    # The bundle front door refuses oversized bundles before any work.
    bundle = b"".join(cert_to_pem(c.der) for c in [leaf, *certs, *certs])
    rep = verify_certificate_bundle(bundle, trust=pki["trust"], at=AT)
    assert rep.sub_indication is SubIndication.FORMAT_FAILURE


def test_truncated_certificate(pki) -> None:
    with pytest.raises(CertificateError):
        parse_certificate(pki["leaf"].der[:-10])
    rep = verify_certificate_bundle(pki["leaf"].der[:-10], trust=pki["trust"], at=AT)
    assert rep.indication is Indication.TOTAL_FAILED and rep.sub_indication is SubIndication.FORMAT_FAILURE
    assert rep.checks[0].name == "parse"


def test_wrong_signature_encoding(pki) -> None:
    asn = a_x509.Certificate.load(pki["leaf"].der)
    raw = der_to_raw(pki["leaf"].signature)  # 64-byte r||s where DER is required
    forged = a_x509.Certificate(
        {
            "tbs_certificate": asn["tbs_certificate"],
            "signature_algorithm": asn["signature_algorithm"],
            "signature_value": core.OctetBitString(raw),
        }
    )
    rep = _v(parse_certificate(forged.dump()), pki)
    assert rep.indication is Indication.TOTAL_FAILED and rep.sub_indication is SubIndication.SIG_CRYPTO_FAILURE


def test_empty_id_signature_rejected(pki) -> None:
    """A link signed with another SM2 ID (here: a different one) must fail: ID is checked on every link."""
    tbs = pki["inter"].asn1["tbs_certificate"]
    sig = pki["rk"].sign(tbs.dump(), uid=b"ALICE123@YAHOO.COM")
    forged = a_x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": pki["inter"].signature_algorithm,
            "signature_value": core.OctetBitString(sig),
        }
    )
    rep = _v(pki["leaf"], pki, inter=[parse_certificate(forged.dump())])
    assert rep.sub_indication is SubIndication.SIG_CRYPTO_FAILURE
    assert "signature[1]" in [c.name for c in rep.checks]


def test_expired_and_not_yet_valid(pki) -> None:
    rep = _v(pki["leaf"], pki, at=T0 + timedelta(days=400))
    assert rep.indication is Indication.TOTAL_FAILED and rep.sub_indication is SubIndication.EXPIRED
    rep = _v(pki["leaf"], pki, at=T0 - timedelta(days=1))
    assert rep.sub_indication is SubIndication.NOT_YET_VALID
    late = _cert("CN=Late", "CN=Inter", pki["lk"], pki["ik"], ca=False, nb=AT + timedelta(days=1))
    assert _v(late, pki).sub_indication is SubIndication.NOT_YET_VALID


def _crl(pki, issuer_cert, key, revoked=(), *, this=T0, nxt=T0 + timedelta(days=30)):
    return parse_crl(
        build_crl(
            issuer=issuer_cert.subject,
            issuer_key=key,
            issuer_key_id=issuer_cert.ski,
            this_update=this,
            next_update=nxt,
            crl_number=1,
            revoked=revoked,
        )
    )


def test_revocation(pki) -> None:
    root_crl = _crl(pki, pki["root"], pki["rk"])
    good = _crl(pki, pki["inter"], pki["ik"])
    revoked = _crl(pki, pki["inter"], pki["ik"], [(pki["leaf"].serial, T0 + timedelta(days=1), "key_compromise")])
    strict = PathPolicy(require_revocation=True)
    assert _v(pki["leaf"], pki, crls=[root_crl, good], policy=strict).passed
    rep = _v(pki["leaf"], pki, crls=[root_crl, revoked], policy=strict)
    assert rep.indication is Indication.TOTAL_FAILED and rep.sub_indication is SubIndication.REVOKED
    # Missing CRL for the leaf with revocation required: fail closed as INDETERMINATE.
    rep = _v(pki["leaf"], pki, crls=[root_crl], policy=strict)
    assert rep.indication is Indication.INDETERMINATE
    assert rep.sub_indication is SubIndication.REVOCATION_OUT_OF_BOUNDS_NO_POE
    # Not required: passes, with the revocation check marked skipped.
    rep = _v(pki["leaf"], pki, crls=[root_crl])
    assert rep.passed and any(c.name == "revocation[0]" and c.status.value == "skipped" for c in rep.checks)
    # A CRL signed by the wrong key is not used.
    forged = _crl(pki, pki["inter"], pki["lk"])
    assert _v(pki["leaf"], pki, crls=[root_crl, forged], policy=strict).indication is Indication.INDETERMINATE
    # Only an out-of-date CRL: TRY_LATER.
    stale = _crl(pki, pki["inter"], pki["ik"], nxt=T0 + timedelta(days=2))
    assert _v(pki["leaf"], pki, crls=[root_crl, stale], policy=strict).sub_indication is SubIndication.TRY_LATER


def test_ca_constraints(pki) -> None:
    notca = _cert("CN=NotCA", "CN=Root", pki["ik"], pki["rk"], ca=False)
    leaf = _cert("CN=L2", "CN=NotCA", pki["lk"], pki["ik"], ca=False)
    rep = _v(leaf, pki, inter=[notca])
    assert rep.sub_indication is SubIndication.CHAIN_CONSTRAINTS_FAILURE and "not a CA" in rep.reason.en
    k2 = generate_key("sm2")
    inter0 = _cert("CN=P0", "CN=Root", pki["ik"], pki["rk"], ca=True, path_len=0)
    below = _cert("CN=Below", "CN=P0", k2, pki["ik"], ca=True)
    leaf = _cert("CN=L3", "CN=Below", pki["lk"], k2, ca=False)
    assert _v(leaf, pki, inter=[inter0, below]).sub_indication is SubIndication.CHAIN_CONSTRAINTS_FAILURE


def test_no_chain_and_eku(pki) -> None:
    other = generate_key("sm2")
    stranger = _cert("CN=S", "CN=Unknown CA", pki["lk"], other, ca=False)
    rep = _v(stranger, pki)
    assert rep.indication is Indication.INDETERMINATE and rep.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    from keys.x509 import ext_extended_key_usage

    ts = _cert(
        "CN=TSA",
        "CN=Inter",
        pki["lk"],
        pki["ik"],
        ca=False,
        extra=[ext_extended_key_usage(["time_stamping"], critical=True)],
    )
    assert _v(ts, pki, policy=PathPolicy(required_eku="1.3.6.1.5.5.7.3.8")).passed
    assert not _v(ts, pki, policy=PathPolicy(required_eku="1.3.6.1.5.5.7.3.9")).passed


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutations_never_pass_never_crash(pki, data) -> None:
    der = bytearray(pki["leaf"].der)
    kind = data.draw(st.sampled_from(["flip", "truncate", "insert"]))
    pos = data.draw(st.integers(0, len(der) - 1))
    if kind == "flip":
        der[pos] ^= data.draw(st.integers(1, 255))
    elif kind == "truncate":
        del der[pos:]
    else:
        der[pos:pos] = data.draw(st.binary(min_size=1, max_size=4))
    bundle = cert_to_pem(bytes(der)) + cert_to_pem(pki["inter"].der)
    rep = verify_certificate_bundle(bundle, trust=pki["trust"], at=AT)
    assert rep.indication is not Indication.TOTAL_PASSED
    assert rep.to_dict()["reason"]["en"]
    try:
        cert = parse_certificate(bytes(der))
    except CertificateError:
        return
    assert not validate_path(cert, trust=pki["trust"], intermediates=[pki["inter"]], at=AT).passed


def _with_unused_bits(der: bytes, field: str) -> bytes:
    """``der`` (a certificate or CRL) with its signature BIT STRING claiming one unused bit."""
    from asn1crypto import crl as a_crl

    cls = a_x509.Certificate if field == "signature_value" else a_crl.CertificateList
    obj = cls.load(der)
    sig = obj[field]
    raw = sig.dump()
    hdr_len = len(raw) - len(sig.contents)
    assert sig.contents[:1] == b"\x00"
    pos = der.index(raw) + hdr_len
    return der[:pos] + b"\x01" + der[pos + 1:]


def test_signature_bit_string_with_unused_bits_is_refused(pki) -> None:
    # Found by test_mutations_never_pass_never_crash: with one unused bit declared, the signature
    # octets still verified when the dropped bit happened to be 0, so a changed encoding passed.
    bad_cert = parse_certificate(_with_unused_bits(pki["leaf"].der, "signature_value"))
    with pytest.raises(InvalidSignatureError, match="unused bits"):
        bad_cert.verify_issued_by(pki["inter"].public_key())
    rep = verify_certificate_bundle(cert_to_pem(bad_cert.der) + cert_to_pem(pki["inter"].der), trust=pki["trust"],
                                    at=AT)
    assert rep.indication is Indication.TOTAL_FAILED
    assert rep.sub_indication is SubIndication.SIG_CRYPTO_FAILURE
    good_crl = _crl(pki, pki["inter"], pki["ik"])
    good_crl.verify_issued_by(pki["inter"].public_key())
    with pytest.raises(InvalidSignatureError, match="unused bits"):
        parse_crl(_with_unused_bits(good_crl.der, "signature")).verify_issued_by(pki["inter"].public_key())
