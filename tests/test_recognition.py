"""Cross-region recognition: a region-A licence issuer verifies in region B only when B imported A's list
AND B's policy recognises the type; stale or tampered lists give INDETERMINATE/FAILED with the reason."""

from __future__ import annotations

import hashlib
import json
import zlib
from datetime import timedelta

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from keys.keypairs import generate_key
from keys.trustlist import TrustListError, make_entry, parse_and_verify
from keys.x509 import parse_certificate
from tests._trust_fixtures import T0, RegionPki, cert, signed_list
from verifier._base45 import b45encode
from verifier.policy import PolicyFormatError, load_policy
from verifier.qr import verify_qr_text
from verifier.report import CheckStatus, Indication, SubIndication
from verifier.trust import TrustRegistry

AT = T0 + timedelta(days=1)
POLICY = {
    "recognition": {
        "local_region": "440000",
        "rules": [
            {"id": "bj-food-licences", "region": "110000", "service_types": ["licence_issuer"],
             "artefact_types": ["food"], "levels": ["B-LT", "B-LTA"], "decision": "accept", "map_to": "food"},
            {"id": "bj-qr", "region": "110000", "service_types": ["qr_signer"], "artefact_types": "*",
             "decision": "accept"},
            {"id": "no-sh", "region": "310000", "decision": "reject"},
        ],
    },
    "validation": {"default": {"clock_skew_seconds": 0}, "regions": {"110000": {"min_pades_level": "B-LT"}},
                   "licence_types": {"food": {"revocation_required": False, "algorithms": ["sm2-sm3"]}}},
}


@pytest.fixture(scope="module")
def world():
    a = RegionPki("110000")
    key = generate_key("sm2")
    qr_key = generate_key("p256")
    qr_cert = cert("110000 QR signer", qr_key, "110000 QR signer", qr_key, ca=False)
    entries = [*a.entries(), make_entry(id="qr", service_type="qr_signer", name="BJ QR", since=T0,
                                        certificates=[qr_cert.der])]
    raw = signed_list("110000", [key], entries, days=30)
    return {"a": a, "key": key, "raw": raw, "leaf": a.leaf("Beijing food licences"), "qr_key": qr_key,
            "qr_cert": qr_cert}


def _registry(world, *, policy=POLICY, imported=True):
    p = load_policy(json.dumps(policy))
    reg = TrustRegistry(local_region="440000", recognition=p.recognition, validation=p.validation)
    if imported:
        tl = parse_and_verify(world["raw"], pinned_keys=[world["key"].public_key()], threshold=1, previous=None,
                              at=AT)
        reg.add(tl, at=AT, source="file:bj.json")
    return reg


def _validate(reg, world, *, artefact_type="food", level="B-LT", at=AT):
    return reg.validate_certificate(world["leaf"], service_type="licence_issuer", artefact_type=artefact_type,
                                    level=level, at=at, intermediates=[world["a"].issuing])


def _check(report, name):
    return next(c for c in report.checks if c.name == name)


def test_not_imported_is_indeterminate(world) -> None:
    r = _validate(_registry(world, imported=False), world)
    assert r.indication is Indication.INDETERMINATE
    assert r.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    assert "no imported trust list" in r.reason.en and r.reason.hint_en


def test_imported_and_recognised_passes_and_names_the_rule(world) -> None:
    r = _validate(_registry(world), world)
    assert r.indication is Indication.TOTAL_PASSED, r.reason
    rec = _check(r, "recognition")
    assert rec.status is CheckStatus.PASSED and "bj-food-licences" in rec.detail_en and "food" in rec.detail_en
    assert "110000 trust list v1" in _check(r, "trust_list").detail_en
    assert r.trust_anchor.startswith("110000 trust list v1")


@pytest.mark.parametrize(("artefact_type", "level"), [("business", "B-LT"), ("food", "B-B"), ("food", None)])
def test_imported_but_not_recognised_fails_with_rule(world, artefact_type, level) -> None:
    r = _validate(_registry(world), world, artefact_type=artefact_type, level=level)
    assert r.indication is Indication.INDETERMINATE and r.sub_indication is SubIndication.SIG_CONSTRAINTS_FAILURE
    assert _check(r, "recognition").status is CheckStatus.FAILED
    assert "default-deny" in r.reason.en


def test_explicit_reject_rule_is_reported() -> None:
    p = load_policy(json.dumps(POLICY))
    m = p.recognition.decide("310000", "seal_maker", "contract", "B-T")
    assert (m.accepted, m.rule_id) == (False, "no-sh")
    local = p.recognition.decide("440000", "seal_maker", None, None)
    assert (local.accepted, local.rule_id) == (True, "local-region")
    assert p.recognition.decide("110000", "qr_signer", "dcc-test", None).rule_id == "bj-qr"


def test_stale_list_is_indeterminate_with_reason(world) -> None:
    r = _validate(_registry(world), world, at=T0 + timedelta(days=31))
    assert r.indication is Indication.INDETERMINATE and r.sub_indication is SubIndication.TRY_LATER
    assert "expired" in r.reason.en and "110000" in r.reason.en and "esign trust refresh" in r.reason.hint_en


def test_tampered_list_never_trusted(world) -> None:
    env = json.loads(world["raw"])
    env["signed"]["entries"][1]["licence_types"].append("pharmacy")
    reg = _registry(world, imported=False)
    with pytest.raises(TrustListError) as ei:
        parse_and_verify(json.dumps(env).encode(), pinned_keys=[world["key"].public_key()], threshold=1,
                         previous=None, at=AT)
    reg.mark_failed("110000", at=AT, en=ei.value.message, zh=ei.value.message_zh, source="file:bj.json")
    r = _validate(reg, world)
    assert r.indication is Indication.INDETERMINATE
    assert "could not be consulted: 110000" in r.reason.en and "signature" in r.reason.en
    assert reg.record("110000").status(AT) == "broken"


def test_failed_refresh_keeps_last_good_copy(world) -> None:
    reg = _registry(world)
    reg.mark_failed("110000", at=AT, en="bad signature", zh="签名错误")
    rec = reg.record("110000")
    assert rec.trust_list is not None and rec.error_en == "bad signature" and rec.status(AT) == "current"
    assert _validate(reg, world).passed


def test_withdrawn_entry(world) -> None:
    a = world["a"]
    hist = [("granted", T0), ("withdrawn", T0 + timedelta(hours=12))]
    raw = signed_list("110000", [world["key"]], a.entries(history=hist), version=2)
    reg = _registry(world, imported=False)
    reg.add(parse_and_verify(raw, pinned_keys=[world["key"].public_key()], threshold=1, previous=None, at=AT), at=AT)
    r = _validate(reg, world)
    assert r.indication is Indication.INDETERMINATE and "withdrawn since" in r.reason.en
    assert _validate(reg, world, at=T0 + timedelta(hours=6)).passed  # before the withdrawal


def test_trust_store_only_granted_and_unexpired(world) -> None:
    reg = _registry(world)
    store = reg.trust_store("licence_issuer", at=AT)
    assert [c.der for c in store.anchors] == [world["a"].issuing.der]
    assert reg.trust_store("licence_issuer", at=T0 + timedelta(days=40)).anchors == ()
    assert reg.trust_store("tsa", at=AT).anchors == ()


def _hc1(world, *, kid=None, types="v", iat=T0, exp=T0 + timedelta(days=10)) -> str:
    der = world["qr_cert"].der
    kid = kid or hashlib.sha256(der).digest()[:8]
    prot = cbor2.dumps({1: -7, 4: kid})
    payload = cbor2.dumps({1: "CN", 6: int(iat.timestamp()), 4: int(exp.timestamp()),
                           -260: {1: {"ver": "1.3.0", types: [{"x": 1}]}}})
    priv = serialization.load_der_private_key(world["qr_key"].private_der(), None)
    r, s = decode_dss_signature(priv.sign(cbor2.dumps(["Signature1", prot, b"", payload]), ec.ECDSA(hashes.SHA256())))
    cose = cbor2.dumps(cbor2.CBORTag(18, [prot, {}, payload, r.to_bytes(32, "big") + s.to_bytes(32, "big")]))
    return "HC1:" + b45encode(zlib.compress(cose))


def test_qr_through_registry(world) -> None:
    text = _hc1(world)
    ok = verify_qr_text(text, registry=_registry(world), at=AT)
    assert ok.indication is Indication.TOTAL_PASSED, ok.reason
    assert "bj-qr" in _check(ok, "recognition").detail_en
    assert _check(ok, "trust_list").status is CheckStatus.PASSED
    stale = verify_qr_text(text, registry=_registry(world), at=T0 + timedelta(days=9, hours=23) + timedelta(days=21))
    assert stale.indication is not Indication.TOTAL_PASSED
    stale2 = verify_qr_text(_hc1(world, exp=T0 + timedelta(days=60)), registry=_registry(world),
                            at=T0 + timedelta(days=31))
    assert stale2.indication is Indication.INDETERMINATE and stale2.sub_indication is SubIndication.TRY_LATER
    none = verify_qr_text(text, registry=_registry(world, imported=False), at=AT)
    assert none.indication is Indication.INDETERMINATE
    strict = dict(POLICY, recognition={"local_region": "440000", "rules": []})
    refused = verify_qr_text(text, registry=_registry(world, policy=strict), at=AT)
    assert refused.indication is Indication.INDETERMINATE and "default-deny" in refused.reason.en


def test_validation_policy_layers() -> None:
    p = load_policy(json.dumps(POLICY)).validation
    base = p.effective()
    assert base.applied == ("default",) and base.revocation_required and base.clock_skew == timedelta(0)
    bj = p.effective(region="110000", licence_type="food")
    assert bj.applied == ("default", "region:110000", "licence_type:food")
    assert bj.min_pades_level == "B-LT" and not bj.revocation_required
    assert [a.algo_name for a in bj.algorithms.allowed] == ["sm2-sm3"]
    assert bj.level_ok("B-LTA") and not bj.level_ok("B-T") and not bj.level_ok(None)
    assert bj.path_policy().require_revocation is False


@pytest.mark.parametrize("doc", [
    b"{", b"[]", json.dumps({"recognition": {}}),
    json.dumps({"recognition": {"local_region": "1", "rules": [{"id": "x", "region": "1", "decision": "maybe"}]}}),
    json.dumps({"recognition": {"local_region": "1"}, "validation": {"default": {"min_pades_level": "B-X"}}}),
    json.dumps({"recognition": {"local_region": "1"}, "validation": {"default": {"algorithms": ["md5"]}}}),
    b" " * (2 << 20),
])
def test_bad_policies_are_typed_errors(doc) -> None:
    with pytest.raises(PolicyFormatError):
        load_policy(doc)


def test_certificate_helper_sanity(world) -> None:
    assert parse_certificate(world["leaf"].der).aki == world["a"].issuing.ski
