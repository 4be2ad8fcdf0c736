"""Maximum ages and clock skew of the validation policy layers, enforced at the front door (issue 4, item 5).

The same artefact is verified under different layers and gets different verdicts:

- ``max_revocation_age_seconds``: a CRL issued longer ago than that before the validation time is
  not fresh: INDETERMINATE / TRY_LATER (or REVOCATION_OUT_OF_BOUNDS_NO_POE when the reference is
  a time-stamp's proven time); a CRL that says revoked still fails the signature;
- ``max_signature_age_seconds``: a signature (or licence QR code) made longer ago than that is
  INDETERMINATE / SIG_CONSTRAINTS_FAILURE, per licence type;
- ``clock_skew_seconds``: how far a signing time, status list or start of validity may lie after
  the validation time (SES seal signatures and licences).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import tests.test_issuance as lic
from esign.cms import sign_cms
from esign.qr import make_licence_qr
from esign.tsa import LocalTimeStamper, TimeStampAuthority
from keys.keypairs import generate_key
from keys.x509 import parse_crl
from licences.render import qr_claims_of
from licences.status import publish_status_list
from tests._lt_pki import NOW, FixedClock, make_pki
from verifier.crossregion import signing_time
from verifier.pki import TrustStore
from verifier.policy import ValidationPolicy, load_policy
from verifier.report import CheckStatus, Indication, SubIndication
from verifier.verifier import verify_artefact, verify_qr

DATA = b"contract 2026-0007"
SIGNED_AT = NOW - timedelta(minutes=10)
AT = NOW + timedelta(hours=2)


def _vp(default: dict[str, Any] | None = None, **types: dict[str, Any]) -> ValidationPolicy:
    return load_policy(json.dumps({"recognition": {"local_region": "440000"},
                                   "validation": {"default": default or {}, "licence_types": types}})).validation


def _check(r: Any, name: str) -> Any:
    return next(c for c in r.checks if c.name == name)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    p = make_pki(tmp_path_factory.mktemp("ages") / "pki", "sm2")
    key, der = p.issue("enterprise_signer", cn="signer")
    bad_key, bad_der = p.issue("enterprise_signer", cn="revoked signer")
    tkey, tder = p.issue("timestamping", cn="TSA")
    from keys.x509 import parse_certificate

    p.ca.revoke(parse_certificate(bad_der).serial, reason="key_compromise", at=NOW - timedelta(hours=1))
    crl = parse_crl(p.ca.issue_crl(at=NOW - timedelta(minutes=30)))  # valid for 7 days: fresh by X.509
    tsa = TimeStampAuthority(key=tkey, cert_der=tder, chain=[p.ca_cert.der], policy_oid="2.25.1",
                             clock=FixedClock(SIGNED_AT))
    return {
        "trust": TrustStore.of([p.ca_cert]),  # the issuing CA as anchor: one CRL covers every link
        "crl": crl,
        "cms": sign_cms(DATA, key=key, cert_der=der, chain=[p.ca_cert.der], detached=False, at=SIGNED_AT),
        "revoked": sign_cms(DATA, key=bad_key, cert_der=bad_der, chain=[p.ca_cert.der], detached=False,
                            at=SIGNED_AT),
        "timestamped": sign_cms(DATA, key=key, cert_der=der, chain=[p.ca_cert.der], detached=False, at=SIGNED_AT,
                                timestamper=LocalTimeStamper(tsa)),
    }


def _cms(pki: dict[str, Any], what: str, vp: ValidationPolicy, *, at: Any = AT) -> Any:
    return verify_artefact(pki[what], trust=pki["trust"], at=at, crls=[pki["crl"]], validation=vp)


# --- maximum revocation age ----------------------------------------------------------------------


def test_max_revocation_age_turns_a_valid_crl_stale(pki) -> None:
    strict = _cms(pki, "cms", _vp({"max_revocation_age_seconds": 3600}))
    assert (strict.indication, strict.sub_indication) == (Indication.INDETERMINATE, SubIndication.TRY_LATER)
    fresh = _check(strict, "revocation_freshness")
    assert fresh.status is CheckStatus.INDETERMINATE and "3600 s" in fresh.detail_en
    assert "does not count as fresh" in strict.reason.en
    lax = _cms(pki, "cms", _vp({"max_revocation_age_seconds": 86400}))
    assert lax.passed, lax.reason.en
    assert _check(lax, "revocation_freshness").status is CheckStatus.PASSED
    assert _cms(pki, "cms", _vp()).passed  # no maximum: the CRL is within thisUpdate..nextUpdate
    assert "max revocation age" in _check(strict, "policy").detail_en


def test_stale_crl_is_not_counted_when_revocation_is_not_required(pki) -> None:
    r = _cms(pki, "cms", _vp({"revocation_required": False, "max_revocation_age_seconds": 3600}))
    assert r.passed, r.reason.en
    assert "was not counted" in _check(r, "revocation_freshness").detail_en


def test_a_stale_crl_that_says_revoked_still_fails(pki) -> None:
    r = _cms(pki, "revoked", _vp({"max_revocation_age_seconds": 60}))
    assert (r.indication, r.sub_indication) == (Indication.TOTAL_FAILED, SubIndication.REVOKED), r.reason.en


def test_long_term_validation_measures_from_the_proven_time(pki) -> None:
    when = signing_time(_cms(pki, "timestamped", _vp()))
    assert when == (SIGNED_AT, True)
    # one hour before the time-stamp: the CRL (30 min before NOW) is fresh at the proven time ...
    ok = _cms(pki, "timestamped", _vp({"max_revocation_age_seconds": 3600}))
    assert ok.passed, ok.reason.en
    assert "proven signing time" in _check(ok, "revocation_freshness").detail_en
    # ... whereas measured from the validation time it would not be; ten minutes is too short for either
    r = _cms(pki, "timestamped", _vp({"max_revocation_age_seconds": 600}))
    assert (r.indication, r.sub_indication) == (Indication.INDETERMINATE,
                                                SubIndication.REVOCATION_OUT_OF_BOUNDS_NO_POE), r.reason.en
    assert _cms(pki, "cms", _vp({"max_revocation_age_seconds": 3600})).sub_indication is SubIndication.TRY_LATER


# --- maximum signature age -----------------------------------------------------------------------


def test_max_signature_age_on_a_cms_signature(pki) -> None:
    old = _cms(pki, "cms", _vp({"max_signature_age_seconds": 3600}))
    assert (old.indication, old.sub_indication) == (Indication.INDETERMINATE, SubIndication.SIG_CONSTRAINTS_FAILURE)
    assert "claimed" in _check(old, "signature_age").detail_en and "3600 s" in old.reason.en
    young = _cms(pki, "cms", _vp({"max_signature_age_seconds": 3 * 3600}))
    assert young.passed and _check(young, "signature_age").status is CheckStatus.PASSED


@pytest.fixture(scope="module")
def licences() -> dict[str, Any]:
    w = lic.make_world()
    card, biz = lic._issue(w), lic._issue(w, lic.business_fields(), type_code=lic.BUSINESS)
    t = lic.T0 + timedelta(hours=2)
    sl = publish_status_list(w.repo, w.authority, key=w.keys.signing_key("440000.gd-psb"), at=lic.T0)
    uri = "https://gd.example/v1/status-lists/gd-psb"
    token = make_licence_qr(qr_claims_of(card, w.service.catalogue().get(lic.ID_CARD), status_uri=uri),
                            key=w.keys.signing_key("440000.gd-psb"), cert_der=w.authority.certificate)
    return {"w": w, "card": card.signed, "biz": biz.signed, "at": t, "list": sl, "token": token}


def _licence(x: dict[str, Any], what: str, vp: ValidationPolicy | None, *, at: Any = None) -> Any:
    return verify_artefact(x[what], trust=x["w"].trust, at=at or x["at"], status_lists=[x["list"]], validation=vp)


def test_licence_type_must_be_reissued_within_its_maximum_age(licences) -> None:
    vp = _vp({"revocation_required": False}, **{lic.ID_CARD: {"max_signature_age_seconds": 3600}})
    card, biz = _licence(licences, "card", vp), _licence(licences, "biz", vp)
    assert (card.indication, card.sub_indication) == (Indication.INDETERMINATE, SubIndication.SIG_CONSTRAINTS_FAILURE)
    assert card.trust_context["policy"] == f"default < licence type {lic.ID_CARD}"
    assert _check(card, "signature_age").status is CheckStatus.INDETERMINATE
    assert biz.passed, biz.reason.en  # the business licence's type has no maximum age
    same_card = _licence(licences, "card", _vp({"revocation_required": False}))
    assert same_card.passed, same_card.reason.en


def test_qr_code_must_be_fresh(licences) -> None:
    w, at = licences["w"], licences["at"]
    fresh = _vp({}, **{lic.ID_CARD: {"max_signature_age_seconds": 3 * 3600}})
    stale = _vp({}, **{lic.ID_CARD: {"max_signature_age_seconds": 600}})
    ok = verify_qr(licences["token"], trust=w.trust, at=at, status_lists=[licences["list"]], validation=fresh)
    assert ok.passed, ok.reason.en
    assert ok.trust_context["policy"] == f"default < licence type {lic.ID_CARD}"
    old = verify_qr(licences["token"], trust=w.trust, at=at, status_lists=[licences["list"]], validation=stale)
    assert (old.indication, old.sub_indication) == (Indication.INDETERMINATE, SubIndication.SIG_CONSTRAINTS_FAILURE)
    assert _check(old, "age").status is CheckStatus.INDETERMINATE


# --- clock skew ----------------------------------------------------------------------------------


def test_clock_skew_for_a_licence_signed_just_after_the_validation_time(licences) -> None:
    early = lic.T0 - timedelta(minutes=2)  # the licence and its status list are two minutes "in the future"
    wide = _licence(licences, "card", _vp({"revocation_required": False, "clock_skew_seconds": 300}), at=early)
    assert wide.passed, wide.reason.en
    vp = _vp({"revocation_required": False}, **{lic.ID_CARD: {"clock_skew_seconds": 60}})
    narrow = _licence(licences, "card", vp, at=early)
    assert (narrow.indication, narrow.sub_indication) == (Indication.TOTAL_FAILED,
                                                          SubIndication.SIG_CONSTRAINTS_FAILURE), narrow.reason.en
    assert "60 s clock skew" in _check(narrow, "signature.signing_time").detail_en
    assert _licence(licences, "biz", vp, at=early).passed  # the business licence keeps the default 300 s


def test_clock_skew_for_a_seal_signature(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from esign.ses import make_seal, sign_with_seal
    from keys.x509 import parse_certificate
    from tests.test_issuance import _png, issue_cert
    from verifier.ses import _cert_window, _Run

    t0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    root_key = generate_key("sm2")
    root = issue_cert(root_key, "Licence Test Root", root_key, start=t0 - timedelta(days=5), days=3650, ca=True)
    key = generate_key("sm2")
    cert = issue_cert(root_key, "signer", key, start=t0 - timedelta(days=1))
    seal = make_seal(maker_key=root_key, maker_cert_der=root, seal_id="440000SEALSKEW", seal_type=1, name="章",
                     signer_certs=[cert], valid_from=t0 - timedelta(days=1), valid_to=t0 + timedelta(days=300),
                     picture=_png(), width_mm=40, height_mm=40, at=t0 - timedelta(days=1))
    sig = sign_with_seal(seal_der=seal, signer_key=key, signer_cert_der=cert, data=b"doc", at=t0,
                         property_info="doc")
    trust = TrustStore.of([parse_certificate(root)])

    def run(skew: int) -> Any:  # the verifier's clock is two minutes behind the signer's
        return verify_artefact(sig, trust=trust, at=t0 - timedelta(minutes=2), detached=b"doc",
                               validation=_vp({"revocation_required": False, "clock_skew_seconds": skew}))

    ok, bad = run(300), run(60)
    assert ok.passed, ok.reason.en
    assert (bad.indication, bad.sub_indication) == (Indication.TOTAL_FAILED, SubIndication.SIG_CONSTRAINTS_FAILURE)
    assert "60 s clock skew" in _check(bad, "signing_time").detail_en
    # a certificate that becomes valid within the skew after the signing time counts from its notBefore
    c = parse_certificate(cert)
    early = c.not_before - timedelta(minutes=2)
    r1, r2 = _Run(), _Run()
    assert _cert_window(r1, "signer_certificate", c, early, "signer", "签章人", timedelta(seconds=300)) == c.not_before
    assert "clock skew" in r1.checks[-1].detail_en
    assert _cert_window(r2, "signer_certificate", c, early, "signer", "签章人", timedelta(seconds=60)) is None
    assert r2.verdicts[0][1] is SubIndication.NOT_YET_VALID


def test_clock_skew_for_an_ofd_seal_signature() -> None:
    from esign.ofd import sign_ofd
    from tests.test_ofd_sign_verify import AT, UNSIGNED, make_pki

    p = make_pki()
    signed = sign_ofd(UNSIGNED, seal_der=p.seal, signer_key=p.signer_key, signer_cert_der=p.signer_cert, page=1,
                      x_mm=100, y_mm=150, at=AT)

    def run(skew: int) -> Any:  # the window's clock is two minutes behind the signer's
        return verify_artefact(signed, trust=p.trust, at=AT - timedelta(minutes=2),
                               validation=_vp({"revocation_required": False, "clock_skew_seconds": skew}))

    ok, bad = run(300), run(60)
    assert ok.passed, ok.reason.en
    assert bad.indication is Indication.TOTAL_FAILED and not bad.passed
    assert any("60 s clock skew" in c.detail_en for c in bad.checks), [c.detail_en for c in bad.checks]
