"""GB/T 38540 ASN.1: encoders, version detection, limits, and mutated input that never crashes or passes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esign.formats.ses import (
    MAX_SEAL_BYTES,
    ExtData,
    SealPicture,
    SesFormatError,
    detect_ses_kind,
    encode_seal_info_v4,
    encode_seal_v4,
    encode_ses_signature_v4,
    encode_tbs_sign_v4,
    parse_unverified_seal,
    parse_unverified_ses_signature,
)
from esign.ses import sign_with_seal
from keys.errors import BadInputError
from keys.hashing import sm3
from tests.test_ses_sign_verify import T0, make_pki, new_seal
from verifier.report import Indication
from verifier.ses import verify_seal, verify_ses_signature

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "interop" / "ofd-ses-seals"
T = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def _info(**kw: object) -> bytes:
    args: dict[str, object] = dict(seal_id="S-1", seal_type=2, name="张三", signer_certs=[b"\x30\x03\x02\x01\x01"],
                                   created_at=T, valid_from=T, valid_to=T + timedelta(days=1),
                                   picture=SealPicture(type="PNG", data=b"img", width_mm=30, height_mm=20))
    args.update(kw)
    return encode_seal_info_v4(**args)  # type: ignore[arg-type]


def test_v4_encoders_round_trip() -> None:
    info = _info(ext_datas=(ExtData("1.2.3", True, b"v"),))
    seal_der = encode_seal_v4(seal_info_der=info, maker_cert_der=b"MAKER", signature=b"\x30\x00")
    seal = parse_unverified_seal(seal_der)
    assert (seal.version, seal.seal_id, seal.seal_type, seal.name, seal.vendor_id) == (4, "S-1", 2, "张三", "esign")
    assert seal.created_at == T and seal.valid_to == T + timedelta(days=1)
    assert seal.ext_datas == (ExtData("1.2.3", True, b"v"),)
    assert seal.tbs_der == info and seal.maker_cert_der == b"MAKER" and seal.maker_signature == b"\x30\x00"
    assert seal.signature_algorithm == "1.2.156.10197.1.501" and seal.timestamp is None
    tbs = encode_tbs_sign_v4(seal_der=seal_der, signing_time=T, data_hash=sm3(b"d"), property_info="p",
                             ext_datas=(ExtData("1.2.4", False, b"x"),))
    sig_der = encode_ses_signature_v4(tbs_der=tbs, signer_cert_der=b"SIGNER", signature=b"sig", timestamp=b"ts")
    assert detect_ses_kind(seal_der) == "seal" and detect_ses_kind(sig_der) == "ses_signature"
    sig = parse_unverified_ses_signature(sig_der)
    assert sig.seal.der == seal_der and sig.tbs_der == tbs and sig.signing_time == T
    assert (sig.data_hash, sig.property_info, sig.timestamp, sig.signature) == (sm3(b"d"), "p", b"ts", b"sig")
    assert sig.ext_datas == (ExtData("1.2.4", False, b"x"),)
    assert "data=" not in repr(seal.picture)  # picture bytes kept out of repr


def test_header_version_5_reads_as_v5() -> None:
    seal = parse_unverified_seal(encode_seal_v4(seal_info_der=_info(header_version=5), maker_cert_der=b"M",
                                                signature=b"s"))
    assert (seal.version, seal.header_version) == (5, 5)


@pytest.mark.parametrize("bad", [b"", b"\x30\x00", b"\x30\x03\x02\x01\x01", b"hello", b"\x30\x80\x00\x00",
                                 b"\x30\x84\xff\xff\xff\xff"])
def test_not_a_seal_is_format_error(bad: bytes) -> None:
    with pytest.raises(SesFormatError):
        parse_unverified_seal(bad)
    with pytest.raises(SesFormatError):
        parse_unverified_ses_signature(bad)
    assert detect_ses_kind(bad) is None


def test_limits() -> None:
    with pytest.raises(SesFormatError):
        parse_unverified_seal(b"\x30" + b"\x00" * (MAX_SEAL_BYTES + 1))
    with pytest.raises(BadInputError):
        _info(signer_certs=[])
    with pytest.raises(BadInputError):
        _info(seal_id="非ASCII")
    with pytest.raises(BadInputError):
        encode_tbs_sign_v4(seal_der=b"\x30\x00", signing_time=T, data_hash=b"", property_info="中文")
    with pytest.raises(BadInputError):
        _info(created_at=datetime(2025, 1, 1))  # naive time


def test_trailing_garbage_rejected() -> None:
    der = (CORPUS / "seals" / "UserV4.esl").read_bytes()
    with pytest.raises(SesFormatError):
        parse_unverified_seal(der + b"\x00")


# --- mutations of valid artefacts: never a crash, never a pass ---------------------------------
# An esign-made seal and signature that PASS with the test PKI trusted; any mutation must not.

_PKI = make_pki()
_SEAL = new_seal(_PKI)
_DOC = b"the signed original"
_SIG = sign_with_seal(seal_der=_SEAL, signer_key=_PKI.signer_key, signer_cert_der=_PKI.signer, data=_DOC,
                      at=T0 + timedelta(hours=1), property_info="doc-1")
_AT = T0 + timedelta(days=1)


def test_unmutated_artefacts_pass() -> None:
    assert verify_seal(_SEAL, trust=_PKI.trust, at=_AT).indication is Indication.TOTAL_PASSED
    assert verify_ses_signature(_SIG, data=_DOC, trust=_PKI.trust, at=_AT).indication is Indication.TOTAL_PASSED


def _mutate(data: bytes, pos: int, kind: int, value: int) -> bytes:
    pos %= len(data)
    if kind == 0:
        return data[:pos] + bytes([data[pos] ^ (value or 1)]) + data[pos + 1 :]
    if kind == 1:
        return data[:pos] + data[pos + 1 :]
    if kind == 2:
        return data[:pos] + bytes([value]) + data[pos:]
    return data[:pos]


_mut = st.tuples(st.integers(min_value=0, max_value=1 << 20), st.integers(0, 3), st.integers(0, 255))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mut)
def test_mutated_seal_never_crashes_or_passes(m: tuple[int, int, int]) -> None:
    data = _mutate(_SEAL, *m)
    try:
        rep = verify_seal(data, trust=_PKI.trust, at=_AT)
    except BadInputError:
        return
    assert rep.indication is not Indication.TOTAL_PASSED


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mut)
def test_mutated_signature_never_crashes_or_passes(m: tuple[int, int, int]) -> None:
    data = _mutate(_SIG, *m)
    try:
        rep = verify_ses_signature(data, data=_DOC, trust=_PKI.trust, at=_AT)
    except BadInputError:
        return
    assert rep.indication is not Indication.TOTAL_PASSED


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mut)
def test_mutated_corpus_signature_never_crashes(m: tuple[int, int, int]) -> None:
    real = (CORPUS / "ses-signedvalue" / "SignedValueV4.dat").read_bytes()
    try:
        rep = verify_ses_signature(_mutate(real, *m), data=b"x", trust=_PKI.trust, at=_AT)
    except BadInputError:
        return
    assert rep.indication is not Indication.TOTAL_PASSED


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_bytes_never_crash(data: bytes) -> None:
    for fn in (verify_seal, verify_ses_signature):
        try:
            rep = fn(data, trust=_PKI.trust, at=_AT)
        except BadInputError:
            continue
        assert rep.indication is not Indication.TOTAL_PASSED
