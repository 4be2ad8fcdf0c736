"""The ``ESL1:`` licence QR token: make, verify offline, and refuse every tampering, expiry, revocation and bomb."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esign.formats.licence_qr import (
    COSE_ALG_SM2_SM3,
    LICENCE_QR_PREFIX,
    MAX_TOKEN_BYTES,
    LicenceQrClaims,
    LicenceQrClaimsError,
    licence_qr_kid,
)
from esign.qr import b45encode, make_licence_qr
from keys.errors import AlgorithmNotAllowedError, BadInputError, CertificateError
from keys.keypairs import generate_key
from keys.trustlist import make_entry, parse_and_verify
from tests._trust_fixtures import T0, RegionPki, cert, signed_list
from verifier._base45 import b45decode
from verifier.licence_qr import (
    LicenceQrFormatError,
    StatusSnapshot,
    decode_licence_qr,
    read_licence_qr,
    verify_licence_qr,
)
from verifier.pki import TrustStore
from verifier.report import CheckStatus, Indication, SubIndication
from verifier.trust import TrustRegistry

IDENT = "1.2.156.3005.2.11100000000013127D002.11110000000021135M.2025000123.001.U"
URI = "https://zz.example.gov.cn/status/110000-gaj"
AT = T0 + timedelta(days=2)


def _claims(**kw):
    base = {"identifier": IDENT, "region": "110000", "issued_at": T0 + timedelta(days=1),
            "expires_at": T0 + timedelta(days=3650), "disclosed": {"name": "张三", "vehicle_class": "C1"},
            "status_index": 9, "status_uri": URI}
    return LicenceQrClaims(**{**base, **kw})


def _status(value: int = 0, index: int = 9, *, uri: str = URI, expires: datetime | None = None) -> StatusSnapshot:
    lst = bytearray(16)
    byte, slot = divmod(index, 4)
    lst[byte] |= value << (2 * slot)
    return StatusSnapshot(uri=uri, lst=bytes(lst), bits=2, expires_at=expires)


@pytest.fixture(scope="module", params=["sm2", "p256"])
def signer(request):
    k = generate_key(request.param)
    c = cert(f"Licence QR signer {request.param}", k, f"Licence QR signer {request.param}", k, ca=False)
    return k, c


@pytest.fixture(scope="module")
def sm2_signer():
    k = generate_key("sm2")
    return k, cert("Licence QR signer", k, "Licence QR signer", k, ca=False)


@pytest.fixture(scope="module")
def token(sm2_signer) -> str:
    k, c = sm2_signer
    return make_licence_qr(_claims(), key=k, cert_der=c.der)


def _verify(text, signer, **kw):
    kw.setdefault("status_list", _status())
    return verify_licence_qr(text, trust=TrustStore.of([signer[1]]), at=kw.pop("at", AT), **kw)


def _recompress(text: str, edit) -> str:
    cose = zlib.decompress(b45decode(text[len(LICENCE_QR_PREFIX):]))
    return LICENCE_QR_PREFIX + b45encode(zlib.compress(edit(cose)))


# --- round trip ------------------------------------------------------------------------------------


def test_round_trip_passes_for_sm2_and_p256(signer) -> None:
    text = make_licence_qr(_claims(), key=signer[0], cert_der=signer[1].der)
    assert text.startswith("ESL1:") and len(text) < 600
    report = _verify(text, signer)
    assert report.indication is Indication.TOTAL_PASSED, report.reason.en
    assert report.signer["licence_identifier"] == IDENT
    assert report.signer["type_code"] == "11100000000013127D002"
    assert report.signer["issuer_code"] == "11110000000021135M"
    assert [c.name for c in report.checks][:6] == ["prefix", "base45", "zlib", "cose_structure", "cose_headers",
                                                   "claims"]
    assert "张三" not in str(report.to_dict())  # disclosed personal data stays out of the report


def test_sm2_token_uses_the_private_use_algorithm(token) -> None:
    cose = cbor2.loads(zlib.decompress(b45decode(token[5:])))
    assert cose.tag == 18
    protected = cbor2.loads(cose.value[0])
    assert protected[1] == COSE_ALG_SM2_SM3 == -65537
    assert len(protected[4]) == 8 and len(cose.value[3]) == 64


def test_read_gives_claims_only_when_passed(token, sm2_signer) -> None:
    ok = read_licence_qr(token, trust=TrustStore.of([sm2_signer[1]]), at=AT, status_list=_status())
    assert ok.report.passed and ok.claims is not None and ok.claims.disclosed["name"] == "张三"
    bad = read_licence_qr(token, trust=TrustStore.of([sm2_signer[1]]), at=AT, status_list=_status(1))
    assert not bad.report.passed and bad.claims is None
    assert decode_licence_qr(token).identifier == IDENT


def test_minimal_token_fits_a_small_qr(sm2_signer) -> None:
    text = make_licence_qr(_claims(disclosed={}, status_index=None, status_uri=None), key=sm2_signer[0],
                           cert_der=sm2_signer[1].der)
    assert len(text) <= 311  # QR version 10-M holds 311 alphanumeric characters


# --- verdicts --------------------------------------------------------------------------------------


def test_tampered_character_fails(token, sm2_signer) -> None:
    pos = len(token) // 2
    for repl in "0A":
        if token[pos] == repl:
            continue
        mutated = token[:pos] + repl + token[pos + 1:]
        report = _verify(mutated, sm2_signer)
        assert report.indication is Indication.TOTAL_FAILED


def test_tampered_payload_with_valid_framing_is_a_signature_failure(token, sm2_signer) -> None:
    mutated = _recompress(token, lambda b: b.replace("张三".encode(), "李四".encode()))
    report = _verify(mutated, sm2_signer)
    assert report.indication is Indication.TOTAL_FAILED
    assert report.sub_indication is SubIndication.SIG_CRYPTO_FAILURE


def test_expired_and_not_yet_valid(sm2_signer) -> None:
    k, c = sm2_signer
    short = make_licence_qr(_claims(issued_at=T0, expires_at=T0 + timedelta(seconds=90)), key=k, cert_der=c.der)
    report = _verify(short, sm2_signer, at=T0 + timedelta(minutes=5))
    assert report.indication is Indication.TOTAL_FAILED and report.sub_indication is SubIndication.EXPIRED
    assert _verify(short, sm2_signer, at=T0 + timedelta(minutes=5), clock_skew=timedelta(minutes=10)).passed
    early = _verify(short, sm2_signer, at=T0 - timedelta(hours=1))
    assert early.sub_indication is SubIndication.NOT_YET_VALID


def test_short_lived_token_without_status_reference_passes(sm2_signer) -> None:
    k, c = sm2_signer
    live = make_licence_qr(_claims(issued_at=AT, expires_at=AT + timedelta(seconds=60), status_index=None,
                                   status_uri=None), key=k, cert_der=c.der)
    assert _verify(live, sm2_signer, at=AT + timedelta(seconds=10), status_list=None).passed
    long_lived = make_licence_qr(_claims(status_index=None, status_uri=None), key=k, cert_der=c.der)
    assert _verify(long_lived, sm2_signer, status_list=None).indication is Indication.INDETERMINATE


def test_unknown_issuer_is_indeterminate(token) -> None:
    other = generate_key("sm2")
    stranger = cert("Somebody else", other, "Somebody else", other, ca=False)
    report = verify_licence_qr(token, trust=TrustStore.of([stranger]), at=AT, status_list=_status())
    assert report.indication is Indication.INDETERMINATE
    assert report.sub_indication is SubIndication.NO_SIGNING_CERTIFICATE_FOUND
    assert next(c for c in report.checks if c.name == "signature").status is CheckStatus.SKIPPED


@pytest.mark.parametrize(("value", "indication", "sub"), [
    (1, Indication.TOTAL_FAILED, SubIndication.REVOKED),
    (3, Indication.TOTAL_FAILED, SubIndication.REVOKED),
    (2, Indication.INDETERMINATE, SubIndication.TRY_LATER),
])
def test_status_list_revoked_superseded_suspended(token, sm2_signer, value, indication, sub) -> None:
    report = _verify(token, sm2_signer, status_list=_status(value))
    assert report.indication is indication and report.sub_indication is sub


def test_status_list_missing_wrong_uri_stale_or_short(token, sm2_signer) -> None:
    assert _verify(token, sm2_signer, status_list=None).indication is Indication.INDETERMINATE
    assert _verify(token, sm2_signer, status_list=_status(uri="https://other")).indication is Indication.INDETERMINATE
    stale = _status(expires=AT - timedelta(seconds=1))
    assert _verify(token, sm2_signer, status_list=stale).sub_indication is SubIndication.TRY_LATER
    tiny = StatusSnapshot(uri=URI, lst=b"\x00", bits=2)
    assert _verify(token, sm2_signer, status_list=tiny).indication is Indication.INDETERMINATE
    skipped = _verify(token, sm2_signer, status_list=None, require_status=False)
    assert skipped.passed and next(c for c in skipped.checks if c.name == "status").status is CheckStatus.SKIPPED
    assert _verify(token, sm2_signer, status_list={URI: _status()}).passed
    assert _verify(token, sm2_signer, status_list=[_status(uri="https://x"), _status()]).passed


def test_algorithm_must_fit_the_key(sm2_signer) -> None:
    k, c = sm2_signer
    text = make_licence_qr(_claims(), key=k, cert_der=c.der)

    def swap_alg(cose: bytes) -> bytes:
        msg = cbor2.loads(cose)
        msg.value[0] = cbor2.dumps({1: -7, 4: licence_qr_kid(c.der)})
        return cbor2.dumps(msg)

    report = _verify(_recompress(text, swap_alg), sm2_signer)
    assert report.sub_indication is SubIndication.CRYPTO_CONSTRAINTS_FAILURE


def test_unprotected_header_content_is_refused(token, sm2_signer) -> None:
    def add_unprotected(cose: bytes) -> bytes:
        msg = cbor2.loads(cose)
        msg.value[1] = {4: b"12345678"}
        return cbor2.dumps(msg)

    report = _verify(_recompress(token, add_unprotected), sm2_signer)
    assert report.sub_indication is SubIndication.FORMAT_FAILURE


# --- bad input -------------------------------------------------------------------------------------


def test_not_a_licence_token_is_bad_input(sm2_signer) -> None:
    for text in ("HC1:6BF", "", "esl1:ABC", "ESL1" + "A" * 5000, b"ESL1:"):
        with pytest.raises(LicenceQrFormatError):
            _verify(text, sm2_signer)
    with pytest.raises(BadInputError):
        verify_licence_qr("ESL1:", trust=TrustStore.of([]), at=datetime(2025, 1, 1))


def test_zlib_bomb_is_bad_input(sm2_signer) -> None:
    bomb = LICENCE_QR_PREFIX + b45encode(zlib.compress(b"\0" * (MAX_TOKEN_BYTES * 50), 9))
    assert len(bomb) < 600
    with pytest.raises(LicenceQrFormatError) as exc:
        _verify(bomb, sm2_signer)
    assert exc.value.http_status == 400


def test_broken_framing_fails_with_format_failure(token, sm2_signer) -> None:
    cases = [token[:-3], token + "00", LICENCE_QR_PREFIX + b45encode(b"not zlib"),
             LICENCE_QR_PREFIX + b45encode(zlib.compress(b"\xa0")),
             LICENCE_QR_PREFIX + b45encode(zlib.compress(cbor2.dumps(cbor2.CBORTag(18, [b"", {}, b"", b""]))))]
    for text in cases:
        report = _verify(text, sm2_signer)
        assert report.indication is Indication.TOTAL_FAILED
        assert report.sub_indication is SubIndication.FORMAT_FAILURE


def test_claims_are_checked_when_making(sm2_signer) -> None:
    k, c = sm2_signer
    bad = [_claims(identifier="1.2.3"), _claims(region="11"), _claims(status_uri=None),
           _claims(disclosed={"Name": "x"}), _claims(disclosed={"n": 1.5}), _claims(expires_at=T0),
           _claims(issued_at=datetime(2025, 1, 1))]
    for claims in bad:
        with pytest.raises(LicenceQrClaimsError):
            make_licence_qr(claims, key=k, cert_der=c.der)
    with pytest.raises(AlgorithmNotAllowedError):
        ed = generate_key("ed25519")
        make_licence_qr(_claims(), key=ed, cert_der=cert("ed", ed, "ed", ed, ca=False).der)
    other = generate_key("sm2")
    with pytest.raises(CertificateError):
        make_licence_qr(_claims(), key=other, cert_der=c.der)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutations_never_pass_and_never_crash(token, sm2_signer, data) -> None:
    kind = data.draw(st.sampled_from(["char", "cut", "insert", "byte"]))
    if kind == "byte":
        cose = bytearray(zlib.decompress(b45decode(token[5:])))
        i = data.draw(st.integers(0, len(cose) - 1))
        cose[i] ^= data.draw(st.integers(1, 255))
        text = LICENCE_QR_PREFIX + b45encode(zlib.compress(bytes(cose)))
    else:
        i = data.draw(st.integers(len(LICENCE_QR_PREFIX), len(token) - 1))
        ch = data.draw(st.sampled_from("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"))
        text = {"char": token[:i] + ch + token[i + 1:], "cut": token[:i],
                "insert": token[:i] + ch + token[i:]}[kind]
    if text == token:
        return
    try:
        report = _verify(text, sm2_signer)
    except LicenceQrFormatError:
        return
    assert report.indication is not Indication.TOTAL_PASSED


# --- trust registry --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def region_world():
    a = RegionPki("110000")
    list_key = generate_key("sm2")
    qr_key = generate_key("sm2")
    qr_cert = cert("110000 licence QR signer", qr_key, "110000 licence QR signer", qr_key, ca=False)
    entries = [*a.entries(licence_types=("11100000000013127D002",)),
               make_entry(id="qr", service_type="qr_signer", name="BJ QR", since=T0, certificates=[qr_cert.der])]
    raw = signed_list("110000", [list_key], entries, days=30)
    reg = TrustRegistry(local_region="110000")
    reg.add(parse_and_verify(raw, pinned_keys=[list_key.public_key()], threshold=1, previous=None, at=AT), at=AT)
    leaf = a.leaf("Beijing licence issuer")
    return {"reg": reg, "qr": (qr_key, qr_cert), "leaf": (a.leaves["Beijing licence issuer"][0], leaf),
            "issuing": a.issuing}


def test_registry_qr_signer_entry(region_world) -> None:
    k, c = region_world["qr"]
    text = make_licence_qr(_claims(), key=k, cert_der=c.der)
    report = verify_licence_qr(text, trust=region_world["reg"], at=AT, status_list=_status())
    assert report.passed, report.reason.en
    assert next(c for c in report.checks if c.name == "region").status is CheckStatus.PASSED
    wrong_region = make_licence_qr(_claims(region="440000"), key=k, cert_der=c.der)
    bad = verify_licence_qr(wrong_region, trust=region_world["reg"], at=AT, status_list=_status())
    assert bad.indication is Indication.TOTAL_FAILED and bad.sub_indication is SubIndication.SIG_CONSTRAINTS_FAILURE
    stale = verify_licence_qr(text, trust=region_world["reg"], at=AT + timedelta(days=60), status_list=_status(),
                              clock_skew=timedelta(0))
    assert stale.indication is Indication.INDETERMINATE


def test_registry_licence_issuer_leaf_from_certs(region_world) -> None:
    k, leaf = region_world["leaf"]
    text = make_licence_qr(_claims(), key=k, cert_der=leaf.der)
    unknown = verify_licence_qr(text, trust=region_world["reg"], at=AT, status_list=_status())
    assert unknown.sub_indication is SubIndication.NO_SIGNING_CERTIFICATE_FOUND
    report = verify_licence_qr(text, trust=region_world["reg"], at=AT, status_list=_status(), certs=[leaf.der])
    assert report.passed, report.reason.en


def test_verification_is_offline_and_quick_enough_to_loop(token, sm2_signer) -> None:
    # No timing assertion: just that repeated verification gives the same verdict (caches are sound).
    verdicts = {_verify(token, sm2_signer).indication for _ in range(5)}
    assert verdicts == {Indication.TOTAL_PASSED}
    assert T0.tzinfo is UTC
