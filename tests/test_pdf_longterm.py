"""Our verifier years later, offline: timestamps are proof of existence (ETSI EN 319 102-1 §5.6.2.4, §5.6.3).

Signed with esign's own signer and TSA (tests.test_pdf_sign fixtures); checked through
verifier.pdf.verify_pdf with no network and a moved clock, then once through ``esign verify`` and
once through ``POST /v1/verify``. Both paths -- SM2 (our own path and CRL checks) and the standard
algorithms (pyHanko) -- prove existence with signature timestamps and chained document timestamps
(verifier._pdf_sig S6a); document timestamps' TSA certificates are checked against the revocation
data at hand even when revocation is not required.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from esign.pdf import ValidationData, extend_pdf
from keys.ca import Region
from keys.keypairs import generate_key
from keys.x509 import cert_to_pem, crl_to_pem, parse_certificate, parse_crl
from tests.test_pdf_sign import AT, TickingClock, pdf, pki  # noqa: F401  (fixtures)
from verifier.pdf import verify_pdf
from verifier.pki import TrustStore
from verifier.report import CheckStatus, Indication, SubIndication

LATER = AT + timedelta(days=3 * 365)  # the signer certificate (2 years) has expired; the TSA's (5 years) has not
STANDARD = ("p256", "rsa2048", "ed25519")


def _trust(p):  # type: ignore[no-untyped-def]
    return TrustStore.of([parse_certificate(p.region.root.cert.der)])


def _check(report, name: str, index: int = 0):  # type: ignore[no-untyped-def]
    return next(c for c in report.signatures[index].checks if c.name == name)


def _crls_at(p, when: datetime) -> list[Any]:  # type: ignore[no-untyped-def]
    """The CAs' CRLs as a verifier holds them at ``when`` (passed in, nothing fetched)."""
    return [parse_crl(d) for d in p.fresh_crls(when).crls]


def _tsa(p, *, at: datetime, clock: object, days: int | None = None, ca: Any = None,  # type: ignore[no-untyped-def]
         chain: list[bytes] | None = None, alg: str = "p256") -> object:
    """A TSA (its own ``alg`` certificate: ``days`` long, from ``ca``) behind pyHanko's TimeStamper interface."""
    from esign.tsa import PyHankoLocalTimeStamper, TimeStampAuthority

    key = generate_key(alg)
    cert = (ca or p.ca).issue(subject={"C": "CN", "CN": f"{alg} TSA {at:%Y%m%d%H%M%S} {days}"}, profile="timestamping",
                              public_key=key.public_key(), at=at, validity_days=days).der
    return PyHankoLocalTimeStamper(TimeStampAuthority(key=key, cert_der=cert, chain=chain or p.chain,
                                                      policy_oid="1.2.156.112233.1.1", clock=clock))


# -- SM2 ------------------------------------------------------------------------------------------


def test_sm2_bt_passes_years_later_on_its_timestamp(pki, pdf) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    data = pki.sign(pdf, "sm2", level="b-t")
    now = verify_pdf(data, trust=_trust(pki), at=AT + timedelta(minutes=2))
    assert now.indication is Indication.TOTAL_PASSED, now.reason.en
    later = verify_pdf(data, trust=_trust(pki), at=LATER)
    assert later.indication is Indication.TOTAL_PASSED, later.reason.en
    sig = later.signatures[0]
    ts = [c for c in sig.checks if c.name.endswith("timestamp")]
    assert ts and ts[0].status.value == "passed" and "proves existence" in ts[0].detail_en


def test_expired_without_proof_is_indeterminate_not_failed(pki, pdf) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    data = pki.sign(pdf, "sm2", level="b-b")
    later = verify_pdf(data, trust=_trust(pki), at=LATER)
    assert later.indication is Indication.INDETERMINATE
    assert later.signatures[0].sub_indication is SubIndication.OUT_OF_BOUNDS_NO_POE


def test_tampered_timestamped_pdf_still_fails_later(pki, pdf) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    data = bytearray(pki.sign(pdf, "sm2", level="b-t"))
    i = data.index(b"/Contents") - 40  # a byte inside the signed range, before the signature dictionary
    data[i] ^= 0x01
    later = verify_pdf(bytes(data), trust=_trust(pki), at=LATER)
    assert later.indication is not Indication.TOTAL_PASSED


# -- RSA, ECDSA P-256, Ed25519 ------------------------------------------------------------------------


@pytest.mark.parametrize("alg", STANDARD)
@pytest.mark.parametrize("level", ["b-lt", "b-lta"])
def test_standard_lt_and_lta_pass_years_later_offline(pki, pdf, alg: str, level: str) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    data = pki.sign(pdf, alg, level=level)
    now = verify_pdf(data, trust=_trust(pki), at=AT + timedelta(minutes=30))
    assert now.indication is Indication.TOTAL_PASSED, now.reason.en
    assert "valid at the validation time" in _check(now, "certificate_path").detail_en
    later = verify_pdf(data, trust=_trust(pki), at=LATER)
    assert later.indication is Indication.TOTAL_PASSED, later.reason.en
    path = _check(later, "certificate_path")
    assert path.status is CheckStatus.PASSED
    assert "not at the validation time" in path.detail_en and "proven by its signature timestamp" in path.detail_en
    assert len(later.signatures) == (2 if level == "b-lta" else 1)
    # Revocation required: the signer's status at the proven time comes from the file's DSS; the CRLs
    # a verifier holds three years on (passed in) cover the TSA certificates now but, issued after the
    # signer certificate expired, say nothing about it.
    strict = verify_pdf(data, trust=_trust(pki), at=LATER, crls=_crls_at(pki, LATER), require_revocation=True)
    assert strict.indication is Indication.TOTAL_PASSED, strict.reason.en


@pytest.mark.parametrize("alg", STANDARD)
def test_standard_bt_needs_revocation_data_from_the_file_when_required(pki, pdf, alg: str) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    data = pki.sign(pdf, alg, level="b-t")
    soft = verify_pdf(data, trust=_trust(pki), at=LATER)  # revocation soft-fail, as at the current time
    assert soft.indication is Indication.TOTAL_PASSED, soft.reason.en
    strict = verify_pdf(data, trust=_trust(pki), at=LATER, crls=_crls_at(pki, LATER), require_revocation=True)
    assert strict.indication is Indication.INDETERMINATE
    assert _check(strict, "certificate_path").status is CheckStatus.INDETERMINATE


@pytest.mark.parametrize("alg", STANDARD)
def test_standard_bb_years_later_stays_out_of_bounds(pki, pdf, alg: str) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    later = verify_pdf(pki.sign(pdf, alg, level="b-b"), trust=_trust(pki), at=LATER)
    assert later.indication is Indication.INDETERMINATE
    assert later.sub_indication is SubIndication.OUT_OF_BOUNDS_NO_POE
    assert "no trusted timestamp proves" in _check(later, "certificate_path").detail_en


@pytest.mark.parametrize("alg", [*STANDARD, "sm2"])
def test_tampered_lta_still_fails_later(pki, pdf, alg: str) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    data = bytearray(pki.sign(pdf, alg, level="b-lta"))
    i = data.index(b"(Page 2)")
    data[i + 1] = ord("X")
    later = verify_pdf(bytes(data), trust=_trust(pki), at=LATER)
    assert later.indication is Indication.TOTAL_FAILED
    assert later.signatures[0].sub_indication is SubIndication.HASH_FAILURE
    assert later.signatures[1].indication is Indication.TOTAL_FAILED  # the document timestamp covers it too


def test_untrusted_tsa_gives_no_proof_of_existence(pki, pdf, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    foreign = Region.init(tmp_path / "foreign", region="450000", passphrase=b"test-passphrase", alg="p256",
                          at=AT - timedelta(days=1), scrypt_n=2**10)
    tsa = _tsa(pki, at=AT - timedelta(hours=1), clock=TickingClock(AT), ca=foreign.ca(),
               chain=[foreign.ca().cert.der, foreign.root.cert.der])
    data = pki.sign(pdf, "p256", level="b-t", timestamper=tsa)
    now = verify_pdf(data, trust=_trust(pki), at=AT + timedelta(minutes=30))
    assert now.indication is Indication.INDETERMINATE and _check(now, "timestamp").status is CheckStatus.INDETERMINATE
    later = verify_pdf(data, trust=_trust(pki), at=LATER)
    assert later.indication is Indication.INDETERMINATE
    assert _check(later, "certificate_path").status is CheckStatus.INDETERMINATE
    assert _check(later, "timestamp").status is CheckStatus.INDETERMINATE


# -- both paths (pyHanko for P-256, our own path and CRL checks for SM2): revocation and the proven time ------


@pytest.mark.parametrize("alg", ["p256", "sm2"])
def test_revoked_before_the_proven_time_fails(pki, pdf, alg: str) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    key, cert = pki.issue(alg)
    pki.ca.revoke(parse_certificate(cert).serial, reason="key_compromise", at=AT - timedelta(minutes=30))
    revoking = ValidationData(certs=tuple(pki.chain), crls=(pki.ca.issue_crl(at=AT - timedelta(minutes=10)),
                                                             pki.region.root.issue_crl(at=AT - timedelta(minutes=10))))
    bt = pki.sign(pdf, signer=(key, cert), level="b-t")
    lta = extend_pdf(bt, level="lta", timestamper=pki.tsa, validation_data=revoking, at=AT + timedelta(minutes=20))
    for at in (AT + timedelta(hours=1), LATER):
        r = verify_pdf(lta, trust=_trust(pki), at=at)
        assert r.indication is Indication.TOTAL_FAILED, r.reason.en
        assert r.signatures[0].sub_indication is SubIndication.REVOKED
        assert "revoked before the earliest time" in _check(r, "certificate_path").detail_en


@pytest.mark.parametrize("alg", ["p256", "sm2"])
def test_revoked_after_the_proven_time_passes(pki, pdf, alg: str) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    key, cert = pki.issue(alg)
    bt = pki.sign(pdf, signer=(key, cert), level="b-t")
    pki.ca.revoke(parse_certificate(cert).serial, reason="superseded", at=AT + timedelta(days=1))
    when = AT + timedelta(days=2)
    lta = extend_pdf(bt, level="lta", timestamper=_tsa(pki, at=AT - timedelta(hours=1), clock=TickingClock(when)),
                     validation_data=pki.fresh_crls(when), at=when)
    soon = verify_pdf(lta, trust=_trust(pki), at=when + timedelta(hours=1))
    # REVOKED now (pyHanko: REVOKED_NO_POE), cured by the timestamp
    assert soon.indication is Indication.TOTAL_PASSED, soon.reason.en
    later = verify_pdf(lta, trust=_trust(pki), at=LATER, require_revocation=True, crls=_crls_at(pki, LATER))
    assert later.indication is Indication.TOTAL_PASSED, later.reason.en


@pytest.mark.parametrize("alg", STANDARD)
def test_expired_signature_tsa_is_proven_by_the_document_timestamp(pki, pdf, alg: str) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    short = _tsa(pki, at=AT - timedelta(hours=1), clock=TickingClock(AT), days=400)  # expires before LATER
    lt = pki.sign(pdf, alg, level="b-lt", timestamper=short)
    lta = extend_pdf(lt, level="lta", timestamper=pki.tsa, validation_data=pki.fresh_crls(AT + timedelta(hours=1)),
                     at=AT + timedelta(hours=1))
    # Without a document timestamp nothing proves the signature timestamp once its TSA has expired.
    bare = verify_pdf(lt, trust=_trust(pki), at=LATER)
    assert bare.indication is Indication.INDETERMINATE
    later = verify_pdf(lta, trust=_trust(pki), at=LATER, crls=_crls_at(pki, LATER), require_revocation=True)
    assert later.indication is Indication.TOTAL_PASSED, later.reason.en
    ts = _check(later, "timestamp")
    assert ts.status is CheckStatus.PASSED and "proven by a later document timestamp" in ts.detail_en
    path = _check(later, "certificate_path")
    assert "itself proven by a later document timestamp" in path.detail_en


def test_chain_of_archive_timestamps_years_later(pki, pdf) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    lta = pki.sign(pdf, "rsa2048", level="b-lta")
    t4 = AT + timedelta(days=4 * 365)  # renewal before the first archive TSA certificate (5 years) expires
    renewed = extend_pdf(lta, level="b-lta", timestamper=_tsa(pki, at=t4 - timedelta(hours=1), clock=TickingClock(t4)),
                         validation_data=pki.fresh_crls(t4), at=t4)
    t6 = AT + timedelta(days=6 * 365)  # the signer's and the first TSA's certificates have expired
    r = verify_pdf(renewed, trust=_trust(pki), at=t6)
    assert r.indication is Indication.TOTAL_PASSED, r.reason.en
    assert [s.signer["type"] for s in r.signatures] == ["Sig", "DocTimeStamp", "DocTimeStamp"]
    first_doc_ts = _check(r, "certificate_path", index=1)
    assert "proven by a later document timestamp" in first_doc_ts.detail_en
    assert "valid at the validation time" in _check(r, "certificate_path", index=2).detail_en
    # Without the renewal the first archive timestamp proves nothing at t6.
    assert verify_pdf(lta, trust=_trust(pki), at=t6).indication is Indication.INDETERMINATE


# -- through the CLI and HTTP -------------------------------------------------------------------------


def test_cli_verify_lta_years_later(pki, pdf, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from api.cli import main

    signed = tmp_path / "signed.pdf"
    signed.write_bytes(pki.sign(pdf, "ed25519", level="b-lta"))
    root = tmp_path / "root.pem"
    root.write_bytes(cert_to_pem(pki.region.root.cert.der))
    crls = []
    for i, der in enumerate(pki.fresh_crls(LATER).crls):
        crls += ["--crl", str(tmp_path / f"{i}.crl")]
        (tmp_path / f"{i}.crl").write_bytes(crl_to_pem(der))
    res = CliRunner().invoke(main, ["verify", str(signed), "--trust", str(root), "--at", LATER.isoformat(),
                                    "--require-revocation", *crls])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["indication"] == "TOTAL_PASSED"
    path = next(c for c in rep["signatures"][0]["checks"] if c["name"] == "certificate_path")
    assert "proven by its signature timestamp" in path["detail_en"]
    b_b = tmp_path / "bb.pdf"
    b_b.write_bytes(pki.sign(pdf, "ed25519", level="b-b"))
    res = CliRunner().invoke(main, ["verify", str(b_b), "--trust", str(root), "--at", LATER.isoformat()])
    assert res.exit_code == 2 and json.loads(res.stdout)["sub_indication"] == "OUT_OF_BOUNDS_NO_POE"


def test_http_verify_lt_years_later(pki, pdf, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from tests.conftest import make_settings, open_app

    settings = make_settings(tmp_path / "var", max_upload_bytes=1 << 20)
    (settings.data_dir / "trust").mkdir(parents=True)
    (settings.data_dir / "trust" / "pdf-region.pem").write_bytes(cert_to_pem(pki.region.root.cert.der))
    crl_pem = b"".join(crl_to_pem(d) for d in pki.fresh_crls(LATER).crls)
    lt = pki.sign(pdf, "rsa2048", level="b-lt")
    bb = pki.sign(pdf, "rsa2048", level="b-b")
    for h in open_app(settings):
        def post(data: bytes, h: Any = h) -> dict[str, Any]:
            r = h.client.post("/v1/verify", headers=h.auth("verifier"),
                              files={"file": ("s.pdf", data, "application/pdf"),
                                     "crls": ("later.pem", crl_pem, "application/x-pem-file")},
                              data={"at": LATER.isoformat()})
            assert r.status_code == 200, r.text
            return r.json()

        rep = post(lt)
        assert rep["indication"] == "TOTAL_PASSED", rep["reason"]
        path = next(c for c in rep["signatures"][0]["checks"] if c["name"] == "certificate_path")
        assert "proven by its signature timestamp" in path["detail_en"]
        rep = post(bb)
        assert rep["indication"] == "INDETERMINATE" and rep["sub_indication"] == "OUT_OF_BOUNDS_NO_POE"


# -- document timestamps: revocation checked whenever revocation data is at hand ------------------------


def _revoked_tsa(p, *, revoked_at: datetime, clock: object, alg: str = "p256") -> object:  # type: ignore[no-untyped-def]
    """A TSA (``alg``, five years) whose certificate the CA revoked at ``revoked_at`` (no CRL distribution point)."""
    from esign.tsa import PyHankoLocalTimeStamper, TimeStampAuthority

    key = generate_key(alg)
    cert = p.ca.issue(subject={"C": "CN", "CN": f"revoked {alg} TSA {revoked_at:%Y%m%d%H%M%S}"}, profile="timestamping",
                      public_key=key.public_key(), at=AT - timedelta(hours=1)).der
    assert parse_certificate(cert).asn1.crl_distribution_points_value is None  # soft-fail would skip it
    p.ca.revoke(parse_certificate(cert).serial, reason="key_compromise", at=revoked_at)
    return PyHankoLocalTimeStamper(TimeStampAuthority(key=key, cert_der=cert, chain=p.chain,
                                                      policy_oid="1.2.156.112233.1.1", clock=clock))


def test_revoked_document_timestamp_tsa_is_no_proof_of_existence(pki, pdf) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    when = AT + timedelta(hours=1)
    tsa = _revoked_tsa(pki, revoked_at=AT - timedelta(minutes=30), clock=TickingClock(when))
    bb = pki.sign(pdf, "p256", level="b-b")
    # The DSS holds the CRLs of the signing day, issued before the TSA was revoked.
    lta = extend_pdf(bb, level="lta", timestamper=tsa, validation_data=pki.crls, at=when)
    # Without current revocation data the document timestamp is the signature's proof of existence ...
    blind = verify_pdf(lta, trust=_trust(pki), at=LATER)
    assert blind.indication is Indication.TOTAL_PASSED, blind.reason.en
    # ... with the CA's current CRL (revocation not required by the policy) it proves nothing, and says why.
    for at in (when + timedelta(hours=1), LATER):
        r = verify_pdf(lta, trust=_trust(pki), at=at, crls=_crls_at(pki, at))
        assert r.indication is not Indication.TOTAL_PASSED, r.reason.en
        doc_ts = r.signatures[1]
        assert doc_ts.signer["type"] == "DocTimeStamp" and doc_ts.indication is not Indication.TOTAL_PASSED
        path = _check(r, "certificate_path", index=1)
        assert path.status is not CheckStatus.PASSED and "revoked" in path.detail_en, path.detail_en
    sig = r.signatures[0]
    assert sig.sub_indication is SubIndication.OUT_OF_BOUNDS_NO_POE, sig.reason.en


# -- SM2 years later: the same proofs of existence through our own path and CRL checks ------------------


@pytest.mark.parametrize("level", ["b-lt", "b-lta"])
def test_sm2_lt_and_lta_pass_years_later_offline(pki, pdf, level: str) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    data = pki.sign(pdf, "sm2", level=level)
    now = verify_pdf(data, trust=_trust(pki), at=AT + timedelta(minutes=30))
    assert now.indication is Indication.TOTAL_PASSED, now.reason.en
    assert "valid at the validation time" in _check(now, "certificate_path").detail_en
    for strict in (False, True):
        later = verify_pdf(data, trust=_trust(pki), at=LATER, crls=_crls_at(pki, LATER), require_revocation=strict)
        assert later.indication is Indication.TOTAL_PASSED, later.reason.en
        path = _check(later, "certificate_path")
        assert "not at the validation time" in path.detail_en and "proven by its signature timestamp" in path.detail_en
        assert _check(later, "timestamp").status is CheckStatus.PASSED
        assert [s.signer["type"] for s in later.signatures] == ["Sig", "DocTimeStamp"][: 2 if level == "b-lta" else 1]


def test_sm2_crls_issued_after_the_proven_time_count_until_expiry(pki, pdf) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    bt = pki.sign(pdf, "sm2", level="b-t")  # no revocation data in the file
    # CRLs of three years on were issued after the signer certificate expired: they say nothing about it.
    late = verify_pdf(bt, trust=_trust(pki), at=LATER, crls=_crls_at(pki, LATER), require_revocation=True)
    assert late.indication is Indication.INDETERMINATE, late.reason.en
    assert _check(late, "certificate_path").status is CheckStatus.INDETERMINATE
    # A CRL issued a day after the signature timestamp (before the expiry) tells the status at its time.
    day_after = _crls_at(pki, AT + timedelta(days=1))
    ok = verify_pdf(bt, trust=_trust(pki), at=LATER, crls=[*_crls_at(pki, LATER), *day_after],
                    require_revocation=True)
    assert ok.indication is Indication.TOTAL_PASSED, ok.reason.en
    assert "not at the validation time" in _check(ok, "certificate_path").detail_en


def test_sm2_expired_signature_tsa_is_proven_by_the_document_timestamp(pki, pdf) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    short = _tsa(pki, at=AT - timedelta(hours=1), clock=TickingClock(AT), days=400)  # expires before LATER
    lt = pki.sign(pdf, "sm2", level="b-lt", timestamper=short)
    when = AT + timedelta(hours=1)
    archive = _tsa(pki, at=AT - timedelta(hours=1), clock=TickingClock(when))
    lta = extend_pdf(lt, level="lta", timestamper=archive, validation_data=pki.fresh_crls(when), at=when)
    # Without a document timestamp nothing proves the signature timestamp once its TSA has expired.
    bare = verify_pdf(lt, trust=_trust(pki), at=LATER)
    assert bare.indication is Indication.INDETERMINATE, bare.reason.en
    assert _check(bare, "timestamp").status is CheckStatus.INDETERMINATE
    for strict in (False, True):
        later = verify_pdf(lta, trust=_trust(pki), at=LATER, crls=_crls_at(pki, LATER), require_revocation=strict)
        assert later.indication is Indication.TOTAL_PASSED, later.reason.en
        ts = _check(later, "timestamp")
        assert ts.status is CheckStatus.PASSED and "proven by a later document timestamp" in ts.detail_en
        assert "itself proven by a later document timestamp" in _check(later, "certificate_path").detail_en


def test_sm2_without_signature_timestamp_is_proven_by_the_document_timestamp(pki, pdf) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    bb = pki.sign(pdf, "sm2", level="b-b")
    when = AT + timedelta(hours=1)
    lta = extend_pdf(bb, level="lta", timestamper=_tsa(pki, at=AT - timedelta(hours=1), clock=TickingClock(when)),
                     validation_data=pki.fresh_crls(when), at=when)
    later = verify_pdf(lta, trust=_trust(pki), at=LATER)
    assert later.indication is Indication.TOTAL_PASSED, later.reason.en
    assert "proven by a later document timestamp" in _check(later, "certificate_path").detail_en
    assert verify_pdf(bb, trust=_trust(pki), at=LATER).indication is Indication.INDETERMINATE


def test_sm2_broken_signature_timestamp_fails(pki, pdf) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from asn1crypto import cms as asn1_cms

    from tests.test_pdf_sign import reader

    data = pki.sign(pdf, "sm2", level="b-t")
    signed_data = asn1_cms.ContentInfo.load(reader(data).embedded_signatures[0].pkcs7_content)["content"]
    attrs = signed_data["signer_infos"][0]["unsigned_attrs"]
    token = next(a["values"][0] for a in attrs if a["type"].dotted == "1.2.840.113549.1.9.16.2.14")
    imprint = token["content"]["encap_content_info"]["content"].parsed["message_imprint"]["hashed_message"].native
    hexed = imprint.hex().encode()
    pos = data.lower().index(hexed)  # inside /Contents, outside the signed byte ranges
    broken = bytearray(data)
    broken[pos] = ord("0") if broken[pos] != ord("0") else ord("1")  # the timestamp no longer covers the signature
    r = verify_pdf(bytes(broken), trust=_trust(pki), at=AT + timedelta(minutes=30))
    assert r.indication is Indication.TOTAL_FAILED, r.reason.en
    ts = _check(r, "timestamp")
    assert ts.status is CheckStatus.FAILED and "broken" in ts.detail_en
    assert r.signatures[0].sub_indication is SubIndication.SIG_CRYPTO_FAILURE
    assert _check(r, "signature_value").status is CheckStatus.PASSED  # the signature itself is intact


# -- document timestamps by SM2 TSAs (the service's own TSA in SM2 regions): our token checks, same chain ---


def _doc_ts(report, index: int = 1):  # type: ignore[no-untyped-def]
    doc = report.signatures[index]
    assert doc.signer["type"] == "DocTimeStamp"
    return doc


@pytest.mark.parametrize("alg", ["sm2", "p256"])
def test_sm2_document_timestamp_verifies_now_and_years_later_offline(pki, pdf, alg: str) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    when = AT + timedelta(hours=1)
    archive = _tsa(pki, at=AT - timedelta(hours=1), clock=TickingClock(when), alg="sm2")
    lta = extend_pdf(pki.sign(pdf, alg, level="b-lt"), level="lta", timestamper=archive,
                     validation_data=pki.fresh_crls(when), at=when)
    now = verify_pdf(lta, trust=_trust(pki), at=when + timedelta(minutes=5))
    assert now.indication is Indication.TOTAL_PASSED, now.reason.en
    doc = _doc_ts(now)
    assert doc.indication is Indication.TOTAL_PASSED, doc.reason.en
    assert {c.name: c.status for c in doc.checks}["digest"] is CheckStatus.PASSED
    assert "valid at the validation time" in _check(now, "certificate_path", index=1).detail_en
    assert doc.signer["signing_time_source"] == "document timestamp (RFC 3161)" and "sm2 TSA" in doc.signer["subject"]
    for strict in (False, True):
        later = verify_pdf(lta, trust=_trust(pki), at=LATER, crls=_crls_at(pki, LATER) if strict else (),
                           require_revocation=strict)
        assert later.indication is Indication.TOTAL_PASSED, later.reason.en
        assert _doc_ts(later).indication is Indication.TOTAL_PASSED
        assert "not at the validation time" in _check(later, "certificate_path").detail_en


@pytest.mark.parametrize("alg", ["sm2", "p256"])
def test_sm2_document_timestamp_is_proof_of_existence(pki, pdf, alg: str) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    short = _tsa(pki, at=AT - timedelta(hours=1), clock=TickingClock(AT), days=400)  # expires before LATER
    lt = pki.sign(pdf, alg, level="b-lt", timestamper=short)
    when = AT + timedelta(hours=1)
    archive = _tsa(pki, at=AT - timedelta(hours=1), clock=TickingClock(when), alg="sm2")
    lta = extend_pdf(lt, level="lta", timestamper=archive, validation_data=pki.fresh_crls(when), at=when)
    assert verify_pdf(lt, trust=_trust(pki), at=LATER).indication is Indication.INDETERMINATE
    for strict in (False, True):
        later = verify_pdf(lta, trust=_trust(pki), at=LATER, crls=_crls_at(pki, LATER), require_revocation=strict)
        assert later.indication is Indication.TOTAL_PASSED, later.reason.en
        ts = _check(later, "timestamp")
        assert ts.status is CheckStatus.PASSED and "proven by a later document timestamp" in ts.detail_en
        assert "itself proven by a later document timestamp" in _check(later, "certificate_path").detail_en
    # No signature timestamp at all: the SM2 document timestamp is the only proof.
    bb = extend_pdf(pki.sign(pdf, alg, level="b-b"), level="lta", timestamper=archive,
                    validation_data=pki.fresh_crls(when), at=when)
    later = verify_pdf(bb, trust=_trust(pki), at=LATER)
    assert later.indication is Indication.TOTAL_PASSED, later.reason.en
    assert "proven by a later document timestamp" in _check(later, "certificate_path").detail_en


def test_sm2_document_timestamp_proven_by_a_later_one(pki, pdf) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    when = AT + timedelta(hours=1)
    first = _tsa(pki, at=AT - timedelta(hours=1), clock=TickingClock(when), alg="sm2")
    lta = extend_pdf(pki.sign(pdf, "sm2", level="b-lt"), level="lta", timestamper=first,
                     validation_data=pki.fresh_crls(when), at=when)
    t4 = AT + timedelta(days=4 * 365)  # renewal before the first archive TSA certificate (5 years) expires
    renewed = extend_pdf(lta, level="b-lta", validation_data=pki.fresh_crls(t4), at=t4,
                         timestamper=_tsa(pki, at=t4 - timedelta(hours=1), clock=TickingClock(t4), alg="sm2"))
    t6 = AT + timedelta(days=6 * 365)  # the signer's, the signature TSA's and the first archive TSA's have expired
    r = verify_pdf(renewed, trust=_trust(pki), at=t6)
    assert r.indication is Indication.TOTAL_PASSED, r.reason.en
    assert [s.signer["type"] for s in r.signatures] == ["Sig", "DocTimeStamp", "DocTimeStamp"]
    assert "proven by a later document timestamp" in _check(r, "certificate_path", index=1).detail_en
    assert "valid at the validation time" in _check(r, "certificate_path", index=2).detail_en
    assert "proven by a later document timestamp" in _check(r, "timestamp").detail_en
    # Without the renewal the first archive timestamp proves nothing at t6.
    bare = verify_pdf(lta, trust=_trust(pki), at=t6)
    assert bare.indication is Indication.INDETERMINATE
    assert _doc_ts(bare).sub_indication is SubIndication.OUT_OF_BOUNDS_NO_POE


def test_tampered_after_the_sm2_document_timestamp_fails(pki, pdf) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from tests.test_pdf_sign import reader

    when = AT + timedelta(hours=1)
    archive = _tsa(pki, at=AT - timedelta(hours=1), clock=TickingClock(when), alg="sm2")
    lta = extend_pdf(pki.sign(pdf, "sm2", level="b-lt"), level="lta", timestamper=archive,
                     validation_data=pki.fresh_crls(when), at=when)
    # In the signature's and the document timestamp's ranges: both fail.
    both = bytearray(lta)
    i = both.index(b"(Page 2)")
    both[i + 1] = ord("X")
    r = verify_pdf(bytes(both), trust=_trust(pki), at=LATER)
    assert r.indication is Indication.TOTAL_FAILED
    assert [s.sub_indication for s in r.signatures] == [SubIndication.HASH_FAILURE, SubIndication.HASH_FAILURE]
    assert _check(r, "digest", index=1).status is CheckStatus.FAILED
    # Only in the document timestamp's range (the DSS added after the signature): the timestamp fails.
    br = [int(x) for x in reader(lta).embedded_signatures[0].byte_range]
    sig_end = br[2] + br[3]
    j = lta.index(b"/CRLs", sig_end)
    only_doc = lta[:j] + b"/CRLx" + lta[j + 5:]
    assert len(only_doc) == len(lta)
    r = verify_pdf(only_doc, trust=_trust(pki), at=when + timedelta(minutes=5))
    assert r.indication is Indication.TOTAL_FAILED, r.reason.en
    doc = _doc_ts(r)
    assert doc.indication is Indication.TOTAL_FAILED and doc.sub_indication is SubIndication.HASH_FAILURE
    assert _check(r, "digest", index=1).status is CheckStatus.FAILED
    assert _check(r, "digest").status is CheckStatus.PASSED  # the signature's own bytes are intact


@pytest.mark.parametrize("alg", ["sm2", "p256"])
def test_untrusted_sm2_document_timestamp_gives_no_proof_of_existence(pki, pdf, tmp_path: Path,  # type: ignore[no-untyped-def]  # noqa: F811
                                                                     alg: str) -> None:
    foreign = Region.init(tmp_path / "foreign", region="450000", passphrase=b"test-passphrase", alg="sm2",
                          at=AT - timedelta(days=1), scrypt_n=2**10)
    when = AT + timedelta(hours=1)
    tsa = _tsa(pki, at=AT - timedelta(hours=1), clock=TickingClock(when), ca=foreign.ca(),
               chain=[foreign.ca().cert.der, foreign.root.cert.der], alg="sm2")
    lta = extend_pdf(pki.sign(pdf, alg, level="b-b"), level="lta", timestamper=tsa, validation_data=pki.crls, at=when)
    now = verify_pdf(lta, trust=_trust(pki), at=when + timedelta(minutes=5))
    assert now.indication is Indication.INDETERMINATE, now.reason.en
    doc = _doc_ts(now)
    assert doc.indication is Indication.INDETERMINATE
    assert _check(now, "digest", index=1).status is CheckStatus.PASSED  # intact, just not trusted
    assert _check(now, "certificate_path", index=1).status is CheckStatus.INDETERMINATE
    later = verify_pdf(lta, trust=_trust(pki), at=LATER)
    assert later.indication is Indication.INDETERMINATE
    assert later.signatures[0].sub_indication is SubIndication.OUT_OF_BOUNDS_NO_POE, later.signatures[0].reason.en


def test_revoked_sm2_document_timestamp_tsa_is_no_proof_of_existence(pki, pdf) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    when = AT + timedelta(hours=1)
    tsa = _revoked_tsa(pki, revoked_at=AT - timedelta(minutes=30), clock=TickingClock(when), alg="sm2")
    bb = pki.sign(pdf, "sm2", level="b-b")
    # The DSS holds the CRLs of the signing day, issued before the TSA was revoked.
    lta = extend_pdf(bb, level="lta", timestamper=tsa, validation_data=pki.crls, at=when)
    # Without current revocation data the document timestamp is the signature's proof of existence ...
    blind = verify_pdf(lta, trust=_trust(pki), at=LATER)
    assert blind.indication is Indication.TOTAL_PASSED, blind.reason.en
    # ... with the CA's current CRL it proves nothing, and says why.
    for at in (when + timedelta(hours=1), LATER):
        r = verify_pdf(lta, trust=_trust(pki), at=at, crls=_crls_at(pki, at))
        assert r.indication is not Indication.TOTAL_PASSED, r.reason.en
        doc = _doc_ts(r)
        assert doc.indication is not Indication.TOTAL_PASSED
        path = _check(r, "certificate_path", index=1)
        assert path.status is not CheckStatus.PASSED and "revoked" in path.detail_en, path.detail_en
    sig = r.signatures[0]
    assert sig.sub_indication is SubIndication.OUT_OF_BOUNDS_NO_POE, sig.reason.en


@pytest.mark.parametrize("revoked", [False, True])
def test_sm2_signer_status_from_ocsp_responses_in_the_dss(pki, pdf, revoked: bool) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    # The signer's status is only in an OCSP response in the DSS (the TSA and the issuing CA are
    # covered by the root's CRL): our own SM2 path checks read the file's OCSP responses too.
    from esign.ocsp import CaStatusSource, OcspResponder, make_ocsp_request
    from esign.pdf import ValidationData

    key, cert = pki.issue("sm2")
    if revoked:
        pki.ca.revoke(parse_certificate(cert).serial, reason="key_compromise", at=AT - timedelta(minutes=30))
    okey, ocert = pki.issue("p256", profile="ocsp")
    responder = OcspResponder(ca_index=CaStatusSource(pki.ca), responder_key=okey, responder_cert=ocert,
                              issuer_cert=pki.ca.cert.der)
    answer = responder.respond(make_ocsp_request(parse_certificate(cert), pki.ca.cert), at=AT)
    tsa = _tsa(pki, at=AT - timedelta(hours=1), clock=TickingClock(AT), ca=pki.region.root,
               chain=[pki.region.root.cert.der])
    vd = ValidationData(certs=tuple(pki.chain), crls=(pki.region.root.issue_crl(at=AT),), ocsps=(answer,))
    data = pki.sign(pdf, "sm2", signer=(key, cert), level="b-lt", timestamper=tsa, validation_data=vd)
    r = verify_pdf(data, trust=_trust(pki), at=AT + timedelta(minutes=30), require_revocation=True)
    if revoked:
        assert (r.indication, r.signatures[0].sub_indication) == (Indication.TOTAL_FAILED, SubIndication.REVOKED)
    else:
        assert r.indication is Indication.TOTAL_PASSED, r.reason.en
