"""The real seals and seal signatures in ../shared/interop/ofd-ses-seals get the verdicts its README gives."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from esign.formats.ses import detect_ses_kind, parse_unverified_seal, parse_unverified_ses_signature
from keys.hashing import sm3
from keys.x509 import parse_certificate
from verifier.pki import TrustStore
from verifier.report import CheckStatus, Indication, SubIndication
from verifier.ses import verify_seal, verify_ses_signature

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "interop" / "ofd-ses-seals"
SEALS = CORPUS / "seals"
SIGS = CORPUS / "ses-signedvalue"
# Validation times from the README: the 2020 test certificate is valid 2020-04-21..2022-04-21.
AT_2020 = datetime(2020, 10, 13, tzinfo=UTC)
AT_2026 = datetime(2026, 8, 4, tzinfo=UTC)

# The corpus is part of the workspace (../shared/interop); a missing corpus must fail, never skip.


def _status(report, name: str) -> CheckStatus:  # type: ignore[no-untyped-def]
    return {c.name: c.status for c in report.checks}[name]


@pytest.mark.parametrize(("name", "version", "header_version", "has_ts"), [
    ("UserV1.esl", 1, 1, False),
    ("UserV4.esl", 4, 4, False),
    ("UserV5.esl", 5, 5, False),
    ("UserV5_ts.esl", 5, 5, True),
])
def test_ofdrw_seals_parse_and_maker_signature_verifies(name: str, version: int, header_version: int,
                                                        has_ts: bool) -> None:
    der = (SEALS / name).read_bytes()
    assert detect_ses_kind(der) == "seal"
    seal = parse_unverified_seal(der)
    assert (seal.version, seal.header_version, seal.timestamp is not None) == (version, header_version, has_ts)
    assert seal.picture.type == "PNG" and (seal.picture.width_mm, seal.picture.height_mm) == (40, 40)
    assert len(seal.signer_certs) == 1
    at = seal.valid_from
    rep = verify_seal(der, trust=None, at=at)
    assert _status(rep, "format") is CheckStatus.PASSED
    assert _status(rep, "maker_signature") is CheckStatus.PASSED
    assert rep.indication is not Indication.TOTAL_PASSED  # no trust anchors: never passed


def test_v1_maker_signature_covers_info_cert_and_algorithm() -> None:
    seal = parse_unverified_seal((SEALS / "UserV1.esl").read_bytes())
    assert seal.tbs_der != seal.seal_info_der and seal.tbs_der[4:].startswith(seal.seal_info_der)
    pub = parse_certificate(seal.maker_cert_der).public_key()
    pub.verify(seal.maker_signature, seal.tbs_der)


def test_v4_seal_verdict_with_its_certificate_trusted() -> None:
    der = (SEALS / "UserV4.esl").read_bytes()
    seal = parse_unverified_seal(der)
    trust = TrustStore.of([parse_certificate(seal.maker_cert_der)])
    rep = verify_seal(der, trust=trust, at=AT_2020)
    assert rep.indication is Indication.TOTAL_PASSED, rep.to_dict()
    late = verify_seal(der, trust=trust, at=AT_2026)
    assert (late.indication, late.sub_indication) == (Indication.TOTAL_FAILED, SubIndication.EXPIRED)


def test_v5_seals_made_after_the_maker_certificate_expired_fail_on_time() -> None:
    for name in ("UserV5.esl", "UserV5_ts.esl"):
        rep = verify_seal((SEALS / name).read_bytes(), trust=None, at=datetime(2026, 5, 1, tzinfo=UTC))
        assert _status(rep, "maker_signature") is CheckStatus.PASSED
        assert (rep.indication, rep.sub_indication) == (Indication.TOTAL_FAILED, SubIndication.EXPIRED)


def test_v5_seal_timestamp_that_is_not_a_token_fails() -> None:
    rep = verify_seal((SEALS / "UserV5_ts.esl").read_bytes(), trust=None, at=datetime(2026, 5, 1, tzinfo=UTC))
    assert _status(rep, "seal_timestamp") is CheckStatus.FAILED


def test_sesealdata_maker_signature_does_not_verify() -> None:
    der = (SEALS / "SESealData.DER").read_bytes()
    seal = parse_unverified_seal(der)
    assert seal.version == 4 and seal.picture.type == "GIF" and len(seal.ext_datas) == 3
    rep = verify_seal(der, trust=TrustStore.of([parse_certificate(seal.maker_cert_der)]),
                      at=datetime(2020, 12, 1, tzinfo=UTC))
    assert (rep.indication, rep.sub_indication) == (Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE)
    assert _status(rep, "maker_signature") is CheckStatus.FAILED


def test_signed_value_v4_signature_and_seal_valid_hash_mismatch() -> None:
    der = (SIGS / "SignedValueV4.dat").read_bytes()
    sig = parse_unverified_ses_signature(der)
    assert (sig.version, sig.tbs_version, sig.property_info) == (4, 4, "/Doc_0/Signs/Sign_0/Signature.xml")
    assert sig.signing_time == datetime(2020, 10, 12, 11, 14, 3, tzinfo=UTC)
    # the ofdrw test certificates themselves as anchors (their root is not shipped)
    trust = TrustStore.of([parse_certificate(sig.signer_cert_der), parse_certificate(sig.seal.maker_cert_der)])
    xml = (SIGS / "Signature.xml").read_bytes()
    rep = verify_ses_signature(der, data=xml, trust=trust, at=AT_2020)
    for step in ("format", "signature", "signer_in_seal", "seal.maker_signature", "seal_validity",
                 "signer_certificate"):
        assert _status(rep, step) is CheckStatus.PASSED, step
    assert (rep.indication, rep.sub_indication) == (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)
    # with the hash it was really made over, everything passes
    ok = verify_ses_signature(der, data_hash=sig.data_hash, trust=trust, at=AT_2020)
    assert ok.indication is Indication.TOTAL_PASSED, ok.to_dict()
    assert sig.data_hash != sm3(xml)


def test_signed_value_v4_without_trust_is_hash_failure_not_pass() -> None:
    der = (SIGS / "SignedValueV4.dat").read_bytes()
    rep = verify_ses_signature(der, data=(SIGS / "Signature.xml").read_bytes(), trust=None, at=AT_2020)
    assert rep.sub_indication is SubIndication.HASH_FAILURE
    assert _status(rep, "signer_certificate_path") is CheckStatus.INDETERMINATE


def test_signed_value_v5_signed_after_signer_certificate_expired() -> None:
    der = (SIGS / "SignedValueV5.dat").read_bytes()
    sig = parse_unverified_ses_signature(der)
    assert (sig.version, sig.tbs_version) == (5, 5)
    rep = verify_ses_signature(der, data_hash=sig.data_hash, trust=None, at=AT_2026)
    assert _status(rep, "signature") is CheckStatus.PASSED
    assert _status(rep, "signer_certificate") is CheckStatus.FAILED
    assert (rep.indication, rep.sub_indication) == (Indication.TOTAL_FAILED, SubIndication.EXPIRED)


def test_corpus_seal_signatures_are_not_seals_and_vice_versa() -> None:
    from keys.errors import BadInputError

    with pytest.raises(BadInputError):
        verify_seal((SIGS / "SignedValueV4.dat").read_bytes(), trust=None, at=AT_2020)
    with pytest.raises(BadInputError):
        verify_ses_signature((SEALS / "UserV4.esl").read_bytes(), trust=None, at=AT_2020)
    with pytest.raises(BadInputError):
        verify_ses_signature((CORPUS / "certs" / "ofdrw-test-cert-2020-extracted.der").read_bytes(), trust=None,
                             at=AT_2020)
