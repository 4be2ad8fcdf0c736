"""Validation policies per region and per licence type at the front door (issue 4, item 5).

Region B (510000) verifies what regions A (440000) and C (320000) signed, having imported both
trust lists. B's policy has a default layer and a layer per region: A's requires revocation
data, PAdES B-T or better and RSA keys of 3072 bits or more; C's does not. The same kinds of
artefact therefore get different verdicts depending on whose list vouches for them, and every
report names the layers that applied. Library, CLI and HTTP agree.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import tests.test_issuance as lic
from api.cli.verify import verify as verify_cli
from api.trust_store import TrustListStore
from esign.cms import sign_cms
from esign.pdf import sign_pdf
from keys.ca import Region
from keys.keypairs import generate_key
from keys.trustlist import make_entry, parse_and_verify, publish
from keys.x509 import parse_certificates, parse_crl
from tests._pdf_fixtures import minimal_pdf
from tests.conftest import make_settings, open_app
from verifier.pki import TrustStore
from verifier.policy import load_policy
from verifier.report import CheckStatus, Indication, SubIndication
from verifier.trust import TrustRegistry
from verifier.verifier import verify_artefact

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
AT = T0 + timedelta(days=1)
CONTENT = b"contract 2025-0002"

POLICY: dict[str, Any] = {
    "recognition": {"local_region": "510000", "rules": [
        {"id": "documents", "region": "*", "service_types": ["enterprise_signer"], "artefact_types": ["cms", "pdf"],
         "decision": "accept"}]},
    "validation": {
        "default": {"revocation_required": False},
        "regions": {"440000": {"revocation_required": True, "min_pades_level": "B-T", "min_rsa_bits": 3072},
                    "320000": {"clock_skew_seconds": 60}},
    },
}
# The other way round: the default is strict, C's layer relaxes it.
STRICT_DEFAULT: dict[str, Any] = {
    "recognition": POLICY["recognition"],
    "validation": {"default": {"revocation_required": True}, "regions": {"320000": {"revocation_required": False}}},
}


def _region(base: Path, code: str) -> dict[str, Any]:
    # P-256 CAs: pyHanko validates the RSA signers' paths, our own path validation the SM2 ones.
    r = Region.init(base / code, region=code, passphrase=b"region-pass-" + code.encode(), alg="p256", at=T0,
                    scrypt_n=1 << 10)
    ca = r.ca()
    out: dict[str, Any] = {"region": r, "ca": ca, "crl": ca.issue_crl(at=T0 + timedelta(minutes=30))}
    for alg in ("sm2", "rsa2048"):
        key = generate_key(alg)
        c = ca.issue(subject=f"C=CN,O=Example {code},CN={alg} signer", profile="enterprise_signer",
                     public_key=key.public_key(), at=T0)
        when = T0 + timedelta(hours=1)
        out[f"cms-{alg}"] = sign_cms(CONTENT, key=key, cert_der=c.der, chain=[ca.cert.der], detached=False, at=when)
        out[f"pdf-{alg}"] = sign_pdf(minimal_pdf(), key=key, cert_der=c.der, chain=[ca.cert.der],
                                     field_name="Sig1", at=when)
        out[f"signer-{alg}"] = (key, c.der)
    list_key = generate_key("sm2")
    entries = [make_entry(id="root", service_type="root_ca", name=f"{code} Root CA", since=T0,
                          certificates=[r.root.cert.der]),
               make_entry(id="signer-ca", service_type="enterprise_signer", name=f"{code} issuing CA", since=T0,
                          certificates=[ca.cert.der])]
    out["raw"] = publish(region=code, version=1, issued_at=T0, expires_at=T0 + timedelta(days=30), signers=[list_key],
                         entries=entries, threshold=1)
    out["list_key"] = list_key
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("layers")
    b = Region.init(d / "510000", region="510000", passphrase=b"region-b-pass", at=T0, scrypt_n=1 << 10)
    return {"A": _region(d, "440000"), "C": _region(d, "320000"), "b": b, "dir": d}


def _registry(world: dict[str, Any], policy: dict[str, Any] = POLICY) -> TrustRegistry:
    p = load_policy(json.dumps(policy))
    reg = TrustRegistry(local_region="510000", recognition=p.recognition, validation=p.validation)
    for code in ("A", "C"):
        w = world[code]
        reg.add(parse_and_verify(w["raw"], pinned_keys=[w["list_key"].public_key()], threshold=1, previous=None,
                                 at=AT), at=AT)
    return reg


def _verify(world: dict[str, Any], code: str, what: str, *, policy: dict[str, Any] = POLICY, crl: bool = False,
            data: bytes | None = None) -> Any:
    crls = [parse_crl(world[code]["crl"])] if crl else []
    return verify_artefact(data if data is not None else world[code][what], registry=_registry(world, policy), at=AT,
                           crls=crls, validation=load_policy(json.dumps(policy)).validation)


def _check(r: Any, name: str) -> Any:
    return next(c for c in r.checks if c.name == name)


# --- library -----------------------------------------------------------------------------------


def test_revocation_required_in_one_region_only(world) -> None:
    a = _verify(world, "A", "cms-sm2")
    assert a.indication is Indication.INDETERMINATE, a.reason.en
    assert a.trust_context["region"] == "440000"
    assert a.trust_context["policy"] == "default < region 440000"
    assert a.trust_context["policy_layers"] == ["default", "region:440000"]
    assert "default < region 440000" in _check(a, "policy").detail_en
    assert _verify(world, "A", "cms-sm2", crl=True).passed  # with A's CRL the same signature passes
    c = _verify(world, "C", "cms-sm2")
    assert c.passed, c.reason.en
    assert c.trust_context["policy"] == "default < region 320000"


def test_without_a_validation_policy_the_caller_settings_apply(world) -> None:
    r = verify_artefact(world["A"]["cms-sm2"], registry=_registry(world), at=AT)
    assert r.passed and "policy" not in r.trust_context  # no layers: revocation as the caller said (not required)


def test_rsa_2048_refused_in_one_region_only(world) -> None:
    a = _verify(world, "A", "cms-rsa2048", crl=True)
    assert a.indication is not Indication.TOTAL_PASSED
    assert a.sub_indication is SubIndication.CRYPTO_CONSTRAINTS_FAILURE, a.reason.en
    assert "3072" in a.reason.en or any("3072" in c.detail_en for c in a.checks)
    assert _verify(world, "C", "cms-rsa2048").passed


def test_minimum_pades_level_in_one_region_only(world) -> None:
    a = _verify(world, "A", "pdf-sm2", crl=True)
    assert a.indication is Indication.INDETERMINATE and a.sub_indication is SubIndication.SIG_CONSTRAINTS_FAILURE
    sig = a.signatures[0]
    assert sig.signer["pades_level"] == "B-B"
    assert _check(sig, "pades_level").status is CheckStatus.INDETERMINATE
    assert "requires at least B-T" in _check(sig, "pades_level").detail_en
    assert sig.trust_context["policy"] == "default < region 440000"
    c = _verify(world, "C", "pdf-sm2")
    assert c.passed, c.reason.en
    assert c.signatures[0].signer["pades_level"] == "B-B"


def test_rsa_pdf_signer_key_refused_in_one_region_only(world) -> None:
    a = _verify(world, "A", "pdf-rsa2048", crl=True)
    key = _check(a.signatures[0], "signer_key")
    assert key.status is CheckStatus.INDETERMINATE and "2048 bits" in key.detail_en and "3072" in key.detail_en
    c = _verify(world, "C", "pdf-rsa2048")
    assert c.passed, c.reason.en
    assert _check(c.signatures[0], "signer_key").status is CheckStatus.PASSED


def test_region_layer_can_relax_a_strict_default(world) -> None:
    assert _verify(world, "A", "cms-sm2", policy=STRICT_DEFAULT).indication is Indication.INDETERMINATE
    c = _verify(world, "C", "cms-sm2", policy=STRICT_DEFAULT)
    assert c.passed, c.reason.en
    assert c.trust_context["policy"] == "default < region 320000"


def test_each_pdf_signature_gets_its_own_region_layer(world) -> None:
    key, cert = world["C"]["signer-sm2"]
    two = sign_pdf(world["A"]["pdf-sm2"], key=key, cert_der=cert, chain=[world["C"]["ca"].cert.der],
                   field_name="Sig2", at=T0 + timedelta(hours=2))
    r = _verify(world, "A", "", data=two, crl=True)
    first, second = r.signatures
    assert first.trust_context["policy"] == "default < region 440000" and not first.passed
    assert second.trust_context["policy"] == "default < region 320000" and second.passed, second.reason.en
    assert r.indication is Indication.INDETERMINATE and r.sub_indication is SubIndication.SIG_CONSTRAINTS_FAILURE
    assert [x["policy"] for x in r.trust_context["signatures"]] == ["default < region 440000",
                                                                     "default < region 320000"]
    names = {c.name for c in r.checks}
    assert {"signature[1].policy", "signature[2].policy"} <= names


def test_licence_type_layer_overrides(world) -> None:
    w = lic.make_world()
    card = lic._issue(w)  # identity card
    biz = lic._issue(w, lic.business_fields(), type_code=lic.BUSINESS)
    at = lic.T0 + timedelta(hours=1)
    pol = load_policy(json.dumps({"recognition": {"local_region": "440000"}, "validation": {
        "default": {"revocation_required": False},
        "licence_types": {lic.ID_CARD: {"algorithms": ["ecdsa-sha256", "ed25519"]}}}})).validation
    plain = verify_artefact(card.signed, trust=w.trust, at=at)
    r_card = verify_artefact(card.signed, trust=w.trust, at=at, validation=pol)
    r_biz = verify_artefact(biz.signed, trust=w.trust, at=at, validation=pol)
    assert r_card.trust_context["policy"] == f"default < licence type {lic.ID_CARD}"
    assert r_biz.trust_context["policy"] == "default"
    # SM2 is not on the identity card layer's list: refused for the card; the business licence as without a policy
    assert r_card.sub_indication is SubIndication.CRYPTO_CONSTRAINTS_FAILURE, r_card.reason.en
    assert _check(r_card, "signature.signer_certificate_path").status is CheckStatus.INDETERMINATE
    assert r_biz.sub_indication is plain.sub_indication is SubIndication.REVOCATION_OUT_OF_BOUNDS_NO_POE
    assert _check(r_biz, "signature.signer_certificate_path").status is CheckStatus.PASSED


# --- CLI and HTTP --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def b_dir(world) -> Path:
    d = world["dir"] / "b-data"
    store = TrustListStore(d / "trust-lists")
    for code in ("A", "C"):
        store.import_list(world[code]["raw"], at=AT, source=f"file:{code}.json",
                          pins=[world[code]["list_key"].public_key()], threshold=1)
    (world["dir"] / "policy.json").write_text(json.dumps(POLICY))
    return d


def test_cli_policy_layers(world, b_dir) -> None:
    runner = CliRunner()
    (world["dir"] / "a.crl").write_bytes(world["A"]["crl"])

    def run(code: str, what: str, *extra: str) -> Any:
        f = world["dir"] / f"{code}-{what}"
        f.write_bytes(world[code][what])
        return runner.invoke(verify_cli, [str(f), "--at", AT.isoformat(), "--trust-lists", str(b_dir),
                                          "--policy", str(world["dir"] / "policy.json"), *extra])

    a, c = run("A", "cms-sm2"), run("C", "cms-sm2")
    assert a.exit_code == 2, a.output
    assert json.loads(a.output)["trust_context"]["policy"] == "default < region 440000"
    assert c.exit_code == 0, c.output
    assert json.loads(c.output)["trust_context"]["policy"] == "default < region 320000"
    assert run("A", "cms-sm2", "--crl", str(world["dir"] / "a.crl")).exit_code == 0
    pdf = run("A", "pdf-sm2", "--crl", str(world["dir"] / "a.crl"))  # revocation data given; B-B is below B-T
    assert pdf.exit_code == 2, pdf.output
    assert json.loads(pdf.output)["sub_indication"] == "SIG_CONSTRAINTS_FAILURE"


def test_http_uses_the_configured_policy_layers(world) -> None:
    pol = world["dir"] / "service-policy.json"
    pol.write_text(json.dumps(POLICY))
    for h in open_app(make_settings(world["dir"] / "svc", region="510000", policy_file=pol)):
        store = TrustListStore.for_settings(h.settings)
        for code in ("A", "C"):
            store.import_list(world[code]["raw"], at=AT, source=f"file:{code}.json",
                              pins=[world[code]["list_key"].public_key()], threshold=1)
        out = {}
        for code in ("A", "C"):
            r = h.client.post("/v1/verify", headers=h.auth("verifier"), files={"file": ("f", world[code]["cms-sm2"])},
                              data={"at": AT.isoformat(), "require_revocation": "false"})
            assert r.status_code == 200, r.text
            out[code] = r.json()
        assert out["A"]["indication"] == "INDETERMINATE"  # A's layer requires revocation data
        assert out["A"]["trust_context"]["policy"] == "default < region 440000"
        assert out["C"]["indication"] == "TOTAL_PASSED", out["C"]["reason"]
        assert out["C"]["trust_context"]["policy"] == "default < region 320000"


def test_plain_anchors_get_only_the_default_layer(world) -> None:
    anchors = TrustStore.of(parse_certificates(world["A"]["region"].trust_anchors_pem()))
    r = verify_artefact(world["A"]["cms-sm2"], trust=anchors, at=AT,
                        validation=load_policy(json.dumps(POLICY)).validation)
    assert r.passed and r.trust_context["policy"] == "default"  # anchors belong to no region: no region layer
