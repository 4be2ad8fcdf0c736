"""PAdES levels (ETSI EN 319 142-1): B-B / B-T / B-LT / B-LTA told apart for every PDF signature,
and the policy's minimum level enforced (below it: INDETERMINATE / SIG_CONSTRAINTS_FAILURE).

Files are made by esign's own signer (:mod:`esign.pdf`) with the P-256 region, TSA and CRLs of
``tests/test_pdf_sign.py``.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from esign.pdf import ValidationData, extend_pdf
from keys.x509 import parse_certificate
from tests.test_pdf_sign import AT, Pki, blank_pdf
from verifier.pdf import PdfPolicy, verify_pdf
from verifier.pki import TrustStore
from verifier.policy import LEVELS, load_policy
from verifier.report import CheckStatus, Indication, SubIndication
from verifier.verifier import verify_artefact

CHECK_AT = AT + timedelta(minutes=5)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("levels"))


@pytest.fixture(scope="module")
def trust(pki: Pki) -> TrustStore:
    return TrustStore.of([parse_certificate(pki.region.root.cert.der)])


@pytest.fixture(scope="module")
def files(pki: Pki) -> dict[tuple[str, str], bytes]:
    pdf = blank_pdf(1)
    return {(alg, lv): pki.sign(pdf, alg, level=lv.lower()) for alg in ("p256", "sm2") for lv in LEVELS}


def _level_check(sig):  # type: ignore[no-untyped-def]
    return next(c for c in sig.checks if c.name == "pades_level")


@pytest.mark.parametrize("alg", ["p256", "sm2"])
@pytest.mark.parametrize("level", LEVELS)
def test_each_level_is_recognised(files, trust, alg: str, level: str) -> None:
    r = verify_pdf(files[(alg, level)], trust=trust, at=CHECK_AT)
    assert r.indication is Indication.TOTAL_PASSED, r.reason.en
    sigs = [s for s in r.signatures if s.signer["type"] == "Sig"]
    assert len(sigs) == 1 and sigs[0].signer["pades_level"] == level
    assert _level_check(sigs[0]).status is CheckStatus.PASSED and level in _level_check(sigs[0]).detail_en
    # a document timestamp has no level of its own
    assert all("pades_level" not in s.signer for s in r.signatures if s.signer["type"] == "DocTimeStamp")
    assert len(r.signatures) == (2 if level == "B-LTA" else 1)


@pytest.mark.parametrize("alg", ["p256", "sm2"])
@pytest.mark.parametrize("minimum", LEVELS)
def test_minimum_level_enforced(files, trust, alg: str, minimum: str) -> None:
    for level in LEVELS:
        r = verify_pdf(files[(alg, level)], trust=trust, at=CHECK_AT, policy=PdfPolicy(min_pades_level=minimum))
        if LEVELS.index(level) >= LEVELS.index(minimum):
            assert r.indication is Indication.TOTAL_PASSED, (level, minimum, r.reason.en)
        else:
            # ETSI EN 319 102-1 Table 5: SIG_CONSTRAINTS_FAILURE is an INDETERMINATE sub-indication
            assert r.indication is Indication.INDETERMINATE, (level, minimum)
            assert r.sub_indication is SubIndication.SIG_CONSTRAINTS_FAILURE
            assert f"requires {minimum} or better" in r.reason.en and "esign extend" in r.reason.hint_en
            assert _level_check(r.signatures[0]).status is CheckStatus.INDETERMINATE


def test_bt_lacks_validation_data_and_says_which(files, trust) -> None:
    r = verify_pdf(files[("p256", "B-T")], trust=trust, at=CHECK_AT, policy=PdfPolicy(min_pades_level="B-LT"))
    detail = _level_check(r.signatures[0]).detail_en
    assert "signature timestamp" in detail and "the DSS lacks revocation data for" in detail
    assert "signer chain" in detail and "timestamp chain" in detail


def test_dss_without_the_root_crl_is_not_lt(pki: Pki, trust) -> None:
    # only the issuing CA's CRL: nothing says whether the issuing CA's own certificate is revoked
    partial = ValidationData(certs=tuple(pki.chain), crls=(pki.ca.issue_crl(at=AT),))
    out = pki.sign(blank_pdf(1), "p256", level="b-lt", validation_data=partial)
    r = verify_pdf(out, trust=trust, at=CHECK_AT)
    sig = r.signatures[0]
    assert sig.signer["pades_level"] == "B-T"
    assert "440000 issuing CA" in _level_check(sig).detail_en


def test_extension_raises_the_level(pki: Pki, files, trust) -> None:
    lta = extend_pdf(files[("p256", "B-T")], level="lta", timestamper=pki.tsa,
                     validation_data=pki.fresh_crls(AT + timedelta(minutes=1)), at=AT + timedelta(minutes=2))
    r = verify_pdf(lta, trust=trust, at=CHECK_AT, policy=PdfPolicy(min_pades_level="B-LTA"))
    assert r.indication is Indication.TOTAL_PASSED, r.reason.en
    assert r.signatures[0].signer["pades_level"] == "B-LTA"


def test_front_door_policy_minimum(files, trust) -> None:
    pol = load_policy(json.dumps({"recognition": {"local_region": "440000"},
                                  "validation": {"default": {"revocation_required": False,
                                                             "min_pades_level": "B-LT"}}})).validation
    bt = verify_artefact(files[("sm2", "B-T")], trust=trust, at=CHECK_AT, validation=pol)
    assert bt.indication is Indication.INDETERMINATE and bt.sub_indication is SubIndication.SIG_CONSTRAINTS_FAILURE
    assert bt.trust_context["policy"] == "default"
    lta = verify_artefact(files[("sm2", "B-LTA")], trust=trust, at=CHECK_AT, validation=pol)
    assert lta.passed, lta.reason.en
    assert verify_artefact(files[("sm2", "B-T")], trust=trust, at=CHECK_AT).passed  # no policy: no minimum
