"""Clock skew and maximum revocation age of the validation policy layers, for PDFs (issue 4, item 5).

- ``clock_skew_seconds``: a signer certificate that becomes valid two minutes after the validation
  time (the CA's clock runs ahead) passes under a 300 s skew and not under 0 s, on pyHanko's path
  (ECDSA) and on our own (SM2).
- ``max_revocation_age_seconds``: the CRLs a B-LT file carries in its DSS are judged like CRLs
  given by the caller: older than the maximum age before the proven signing time, they are set
  aside, and with revocation required the signature is INDETERMINATE /
  REVOCATION_OUT_OF_BOUNDS_NO_POE; within it, the signature passes and the report says so.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from esign.pdf import ValidationData, sign_pdf
from esign.tsa import PyHankoLocalTimeStamper, TimeStampAuthority
from tests._lt_pki import NOW, FixedClock, make_pki
from tests._pdf_fixtures import minimal_pdf
from verifier.policy import ValidationPolicy, load_policy
from verifier.report import CheckStatus, Indication, SubIndication
from verifier.verifier import verify_artefact

AT = NOW + timedelta(hours=2)
SIGNED_AT = NOW - timedelta(minutes=10)


def _vp(default: dict[str, Any]) -> ValidationPolicy:
    return load_policy(json.dumps({"recognition": {"local_region": "440000"},
                                   "validation": {"default": default}})).validation


def _check(r: Any, name: str) -> Any:
    return next(c for c in r.checks if c.name == name)


@pytest.mark.parametrize("alg", ["p256", "sm2"])
def test_clock_skew_for_a_signer_certificate_valid_just_after_the_validation_time(alg: str, tmp_path) -> None:
    p = make_pki(tmp_path / "pki", alg)
    start = AT + timedelta(minutes=2)  # the CA's clock ran two minutes ahead of the verifier's
    key, der = p.issue("enterprise_signer", cn="early signer", at=start)
    data = sign_pdf(minimal_pdf(), key=key, cert_der=der, chain=[p.ca_cert.der, p.root_cert.der], at=start)
    lax = verify_artefact(data, trust=p.trust, at=AT, validation=_vp({"revocation_required": False,
                                                                      "clock_skew_seconds": 300}))
    assert lax.indication is Indication.TOTAL_PASSED, lax.reason.en
    strict = verify_artefact(data, trust=p.trust, at=AT, validation=_vp({"revocation_required": False,
                                                                         "clock_skew_seconds": 0}))
    # pyHanko's path reports a not-yet-valid certificate as INDETERMINATE / CERTIFICATE_CHAIN_GENERAL_FAILURE;
    # ours as EN 319 102-1 lists it, TOTAL_FAILED / NOT_YET_VALID
    if alg == "sm2":
        assert (strict.indication, strict.signatures[0].sub_indication) == (Indication.TOTAL_FAILED,
                                                                            SubIndication.NOT_YET_VALID)
    else:
        assert strict.indication is Indication.INDETERMINATE
    # beyond the skew it stays refused
    far = verify_artefact(data, trust=p.trust, at=AT - timedelta(minutes=10),
                          validation=_vp({"revocation_required": False, "clock_skew_seconds": 300}))
    assert far.indication is not Indication.TOTAL_PASSED


@pytest.fixture(scope="module")
def blt(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A B-LT PDF (ECDSA) whose DSS holds CRLs issued 30 minutes before :data:`NOW`."""
    from keys.x509 import parse_crl

    p = make_pki(tmp_path_factory.mktemp("blt") / "pki", "p256")
    key, der = p.issue("enterprise_signer", cn="signer")
    tkey, tder = p.issue("timestamping", cn="TSA")
    tsa = PyHankoLocalTimeStamper(TimeStampAuthority(key=tkey, cert_der=tder, chain=[p.ca_cert.der],
                                                     policy_oid="2.25.1", clock=FixedClock(SIGNED_AT)))
    crl_at = NOW - timedelta(minutes=30)
    crls = (p.ca.issue_crl(at=crl_at), p.region.root.issue_crl(at=crl_at))
    assert all(parse_crl(c).this_update == crl_at for c in crls)
    data = sign_pdf(minimal_pdf(), key=key, cert_der=der, chain=[p.ca_cert.der, p.root_cert.der], level="b-lt",
                    timestamper=tsa, validation_data=ValidationData(crls=crls), at=SIGNED_AT)
    return {"trust": p.trust, "data": data}


def test_crls_in_the_file_within_the_maximum_age_count(blt) -> None:
    r = verify_artefact(blt["data"], trust=blt["trust"], at=AT,
                        validation=_vp({"revocation_required": True, "max_revocation_age_seconds": 3600}))
    assert r.indication is Indication.TOTAL_PASSED, r.reason.en
    sig = r.signatures[0]
    fresh = _check(sig, "revocation_freshness")
    assert fresh.status is CheckStatus.PASSED and "in the file" in fresh.detail_en


def test_crls_in_the_file_older_than_the_maximum_age_are_set_aside(blt) -> None:
    # proven signing time SIGNED_AT (signature timestamp) - 600 s is after the CRLs' thisUpdate
    r = verify_artefact(blt["data"], trust=blt["trust"], at=AT,
                        validation=_vp({"revocation_required": True, "max_revocation_age_seconds": 600}))
    sig = r.signatures[0]
    assert sig.indication is Indication.INDETERMINATE
    assert sig.sub_indication is SubIndication.REVOCATION_OUT_OF_BOUNDS_NO_POE
    stale = _check(sig, "revocation_freshness")
    assert stale.status is CheckStatus.INDETERMINATE
    assert "in the file: 2 revocation item(s) (DSS or signatures) issued 2026-03-01T11:30:00+00:00" in stale.detail_en
    # without the maximum age the same file passes on the same CRLs
    plain = verify_artefact(blt["data"], trust=blt["trust"], at=AT, validation=_vp({"revocation_required": True}))
    assert plain.indication is Indication.TOTAL_PASSED, plain.reason.en
