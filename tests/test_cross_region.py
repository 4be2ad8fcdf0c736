"""Cross-region recognition end to end: region A (440000) signs, region B (510000) verifies.

An artefact made in A (CMS signature, GB/T 38540 seal and seal signature, PDF, HC1 QR) verifies in
B only when B imported A's signed trust list AND B's policy recognises the type; otherwise it is
never PASSED, and the report says why (no list, rule, stale list, broken list). Library, CLI and
HTTP give the same verdicts.
"""

from __future__ import annotations

import hashlib
import io
import json
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cbor2
import pytest
from asn1crypto import pem
from click.testing import CliRunner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from api.cli.verify import verify as verify_cli
from api.trust_store import TrustListStore
from esign.cms import sign_cms
from esign.pdf import sign_pdf
from esign.ses import make_seal, sign_with_seal
from keys.ca import Region
from keys.keypairs import generate_key
from keys.trustlist import TrustListError, TrustListSignatureError, make_entry, parse_and_verify, publish
from tests._pdf_fixtures import minimal_pdf
from tests._trust_fixtures import cert
from tests.conftest import make_settings, open_app
from verifier._base45 import b45encode
from verifier.pki import TrustStore
from verifier.policy import load_policy
from verifier.report import Indication, SubIndication
from verifier.trust import TrustRegistry
from verifier.verifier import verify_artefact, verify_qr

# Real "now" (minus a day): HTTP imports check the list against the service clock.
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
AT = T0 + timedelta(days=1)
STALE = T0 + timedelta(days=31)  # A's list expires at T0 + 30 days
CONTENT = b"contract 2025-0001"

ACCEPT = {"recognition": {"local_region": "510000", "rules": [
    {"id": "gd-documents", "region": "440000", "service_types": ["enterprise_signer"],
     "artefact_types": ["cms", "pdf"], "decision": "accept"},
    {"id": "gd-seals", "region": "440000", "service_types": ["seal_maker"], "artefact_types": ["1"],
     "decision": "accept"},
    {"id": "gd-qr", "region": "440000", "service_types": ["qr_signer"], "decision": "accept"},
]}}
REFUSE = {"recognition": {"local_region": "510000", "rules": [
    {"id": "no-gd", "region": "440000", "decision": "reject"},
]}}
LOCAL_ONLY = {"recognition": {"local_region": "510000", "rules": []}}


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGBA", (24, 24), (200, 0, 0, 255)).save(buf, format="PNG")
    return buf.getvalue()


def _hc1(qr_key: Any, qr_der: bytes) -> str:
    prot = cbor2.dumps({1: -7, 4: hashlib.sha256(qr_der).digest()[:8]})
    payload = cbor2.dumps({1: "CN", 6: int(T0.timestamp()), 4: int((T0 + timedelta(days=60)).timestamp()),
                           -260: {1: {"ver": "1.3.0", "v": [{"dn": 1}]}}})
    priv = serialization.load_der_private_key(qr_key.private_der(), None)
    r, s = decode_dss_signature(priv.sign(cbor2.dumps(["Signature1", prot, b"", payload]), ec.ECDSA(hashes.SHA256())))
    cose = cbor2.dumps(cbor2.CBORTag(18, [prot, {}, payload, r.to_bytes(32, "big") + s.to_bytes(32, "big")]))
    return "HC1:" + b45encode(zlib.compress(cose))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("regions")
    a = Region.init(d / "a", region="440000", passphrase=b"region-a-pass", at=T0, scrypt_n=1 << 10)
    b = Region.init(d / "b", region="510000", passphrase=b"region-b-pass", at=T0, scrypt_n=1 << 10)
    ca = a.ca()
    signer_key, maker_key, qr_key = generate_key("sm2"), generate_key("sm2"), generate_key("p256")
    signer = ca.issue(subject="C=CN,O=Shenzhen Example,CN=Enterprise signer", profile="enterprise_signer",
                      public_key=signer_key.public_key(), at=T0)
    maker = ca.issue(subject="C=CN,O=Guangdong PSB,CN=Seal maker", profile="seal_maker",
                     public_key=maker_key.public_key(), at=T0)
    qr = cert("440000 QR signer", qr_key, "440000 QR signer", qr_key, ca=False, nb=T0)
    when = T0 + timedelta(hours=1)
    seal = make_seal(maker_key=maker_key, maker_cert_der=maker.der, seal_id="44000020250101000001", seal_type=1,
                     name="示例有限公司合同专用章", signer_certs=[signer.der], valid_from=T0,
                     valid_to=T0 + timedelta(days=365), picture=_png(), width_mm=40, height_mm=40, at=when)
    artefacts = {
        "cms": sign_cms(CONTENT, key=signer_key, cert_der=signer.der, chain=[ca.cert.der], detached=False, at=when),
        "seal": seal,
        "ses_signature": sign_with_seal(seal_der=seal, signer_key=signer_key, signer_cert_der=signer.der,
                                        data=CONTENT, at=when + timedelta(minutes=5), property_info="c-1"),
        "pdf": sign_pdf(minimal_pdf(), key=signer_key, cert_der=signer.der, chain=[ca.cert.der], field_name="Sig1",
                        at=when),
    }
    list_key = generate_key("sm2")
    entries = [
        make_entry(id="root", service_type="root_ca", name="440000 Root CA", since=T0, certificates=[a.root.cert.der]),
        make_entry(id="signer-ca", service_type="enterprise_signer", name="440000 issuing CA", since=T0,
                   certificates=[ca.cert.der]),
        make_entry(id="seal-maker", service_type="seal_maker", name="440000 seal makers", since=T0,
                   certificates=[ca.cert.der], seal_types=["1", "2"]),
        make_entry(id="qr", service_type="qr_signer", name="440000 QR signer", since=T0, certificates=[qr.der]),
    ]
    raw = publish(region="440000", version=1, issued_at=T0, expires_at=T0 + timedelta(days=30), signers=[list_key],
                  entries=entries, threshold=1, region_name="广东省 Guangdong")
    b_signer = b.ca().issue(subject="C=CN,CN=Sichuan signer", profile="enterprise_signer",
                            public_key=generate_key("sm2").public_key(), at=T0)
    return {"a": a, "b": b, "artefacts": artefacts, "raw": raw, "list_key": list_key, "qr": _hc1(qr_key, qr.der),
            "b_chain": b_signer.pem + b.chain_pem(), "dir": d, "signer": (signer_key, signer.der)}


def _registry(world: dict[str, Any], policy: dict[str, Any] = ACCEPT, *, imported: bool = True) -> TrustRegistry:
    p = load_policy(json.dumps(policy))
    reg = TrustRegistry(local_region="510000", recognition=p.recognition, validation=p.validation)
    if imported:
        tl = parse_and_verify(world["raw"], pinned_keys=[world["list_key"].public_key()], threshold=1, previous=None,
                              at=AT)
        reg.add(tl, at=AT, source="file:gd.json")
    return reg


def _local(world: dict[str, Any]) -> TrustStore:
    from keys.x509 import parse_certificates

    return TrustStore.of(parse_certificates(world["b"].trust_anchors_pem()))


def _verify(world: dict[str, Any], kind: str, reg: TrustRegistry, at: datetime = AT) -> Any:
    data = world["artefacts"][kind]
    return verify_artefact(data, trust=_local(world), registry=reg, at=at,
                           detached=CONTENT if kind == "ses_signature" else None)


KINDS = ["cms", "seal", "ses_signature", "pdf"]
RULE = {"cms": "gd-documents", "pdf": "gd-documents", "seal": "gd-seals", "ses_signature": "gd-seals"}


def _names(r: Any) -> set[str]:
    return {c.name for c in r.checks}


# --- library -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_imported_and_recognised_passes_naming_region_list_and_rule(world, kind) -> None:
    r = _verify(world, kind, _registry(world))
    assert r.indication is Indication.TOTAL_PASSED, r.reason
    ctx = r.trust_context
    assert (ctx["region"], ctx["trust_list_version"], ctx["recognised"]) == ("440000", 1, True)
    assert ctx["rule"] == RULE[kind] and len(ctx["list_digest"]) == 64
    assert {"trust_list", "recognition"} <= {n.rsplit(".", 1)[-1] for n in _names(r)}
    assert r.to_dict()["trust_context"]["rule"] == RULE[kind]
    if kind == "ses_signature":  # two roles: the signer's and the seal maker's anchor
        assert [x["role"] for x in ctx["roles"]] == ["seal_signer", "seal_maker"]
        assert all(x["recognised"] for x in ctx["roles"])


@pytest.mark.parametrize("kind", KINDS)
def test_not_imported_is_indeterminate_no_chain(world, kind) -> None:
    r = _verify(world, kind, _registry(world, imported=False))
    assert r.indication is Indication.INDETERMINATE
    assert r.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    assert r.trust_context["region"] is None and r.trust_context["recognised"] is False


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("policy", "rule"), [(REFUSE, "no-gd"), (LOCAL_ONLY, "default-deny")])
def test_imported_but_not_recognised_fails_with_rule(world, kind, policy, rule) -> None:
    r = _verify(world, kind, _registry(world, policy))
    assert r.indication is Indication.INDETERMINATE and r.sub_indication is SubIndication.SIG_CONSTRAINTS_FAILURE
    assert rule in r.reason.en and r.trust_context["rule"] == rule and r.trust_context["recognised"] is False


@pytest.mark.parametrize("kind", KINDS)
def test_stale_list_is_indeterminate_with_reason(world, kind) -> None:
    r = _verify(world, kind, _registry(world), at=STALE)
    assert r.indication is Indication.INDETERMINATE and r.sub_indication is SubIndication.TRY_LATER, r.reason
    assert "stale trust list" in r.reason.en and "440000" in r.reason.en and "esign trust refresh" in r.reason.hint_en


def test_tampered_list_refused_and_broken_held_list_is_indeterminate(world, tmp_path) -> None:
    env = json.loads(world["raw"])
    env["signed"]["entries"][1]["name"] = "someone else"
    store = TrustListStore(tmp_path / "trust-lists")
    with pytest.raises(TrustListSignatureError):
        store.import_list(json.dumps(env).encode(), at=AT, source="file:x", pins=[world["list_key"].public_key()],
                          threshold=1)
    store.import_list(world["raw"], at=AT, source="file:gd.json", region="440000",
                      pins=[world["list_key"].public_key()], threshold=1)
    p = load_policy(json.dumps(ACCEPT))
    reg = store.registry(local_region="510000", at=AT, recognition=p.recognition)
    assert _verify(world, "cms", reg).passed
    (tmp_path / "trust-lists" / "440000" / "current.json").write_bytes(json.dumps(env).encode())
    reg = store.registry(local_region="510000", at=AT, recognition=p.recognition)
    r = _verify(world, "cms", reg)
    assert r.indication is Indication.INDETERMINATE
    assert "could not be consulted: 440000" in r.reason.en and "does not verify" in r.reason.en


def test_own_region_artefacts_pass_by_local_rule(world) -> None:
    r = verify_artefact(world["b_chain"], trust=_local(world), registry=_registry(world, LOCAL_ONLY), at=AT)
    assert r.passed, r.reason
    assert r.trust_context["rule"] == "local-region" and r.trust_context["local"] is True
    # A's root is in A's list (root_ca), but B's policy does not recognise foreign roots.
    a_chain = world["a"].ca().issue(subject="C=CN,CN=x", profile="enterprise_signer",
                                    public_key=generate_key("sm2").public_key(), at=T0).pem + world["a"].chain_pem()
    refused = verify_artefact(a_chain, registry=_registry(world, LOCAL_ONLY), at=AT)
    assert refused.indication is Indication.INDETERMINATE and "default-deny" in refused.reason.en


def test_withdrawn_entry_and_wrong_service_type(world) -> None:
    env = json.loads(world["raw"])
    entries = env["signed"]["entries"]
    seal_maker_only = [entries[0], entries[2]]  # the issuing CA listed only as a seal maker
    tsa_only = [entries[0], dict(entries[2], id="tsa", service_type="tsa", seal_types=[])]
    for n, (ents, kind, why) in enumerate([(seal_maker_only, "cms", "vouches for the signer"),
                                           (tsa_only, "seal", "listed only as 440000:tsa")]):
        raw = publish(region="440000", version=2 + n, issued_at=T0, expires_at=T0 + timedelta(days=30),
                      signers=[world["list_key"]], entries=ents, threshold=1)
        reg = TrustRegistry(local_region="510000", recognition=load_policy(json.dumps(ACCEPT)).recognition)
        reg.add(parse_and_verify(raw, pinned_keys=[world["list_key"].public_key()], threshold=1, previous=None,
                                 at=AT), at=AT)
        r = _verify(world, kind, reg)
        assert r.indication is Indication.INDETERMINATE and why in r.reason.en, r.reason.en
        assert r.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    withdrawn = dict(entries[1], status="withdrawn",
                     status_history=[*entries[1]["status_history"],
                                     {"status": "withdrawn", "from": (T0 + timedelta(hours=12)).strftime(
                                         "%Y-%m-%dT%H:%M:%SZ")}])
    raw = publish(region="440000", version=3, issued_at=T0, expires_at=T0 + timedelta(days=30),
                  signers=[world["list_key"]], entries=[entries[0], withdrawn], threshold=1)
    reg = TrustRegistry(local_region="510000", recognition=load_policy(json.dumps(ACCEPT)).recognition)
    reg.add(parse_and_verify(raw, pinned_keys=[world["list_key"].public_key()], threshold=1, previous=None, at=AT),
            at=AT)
    r = _verify(world, "cms", reg)
    assert r.indication is Indication.INDETERMINATE and "withdrawn since" in r.reason.en


def test_qr_through_the_registry(world) -> None:
    ok = verify_qr(world["qr"], trust=_registry(world), at=AT)
    assert ok.passed, ok.reason
    assert ok.trust_context["region"] == "440000" and ok.trust_context["rule"] == "gd-qr"
    assert verify_qr(world["qr"], trust=_registry(world, imported=False), at=AT).indication is Indication.INDETERMINATE
    assert verify_qr(world["qr"], trust=_registry(world, REFUSE), at=AT).indication is Indication.INDETERMINATE
    stale = verify_qr(world["qr"], trust=_registry(world), at=STALE)
    assert stale.indication is Indication.INDETERMINATE and stale.sub_indication is SubIndication.TRY_LATER


def test_tampered_artefact_still_fails_with_trust(world) -> None:
    data = bytearray(world["artefacts"]["cms"])
    i = data.find(CONTENT)
    data[i] ^= 1
    r = verify_artefact(bytes(data), registry=_registry(world), at=AT)
    assert r.indication is Indication.TOTAL_FAILED


# --- CLI ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def b_dir(world) -> Path:
    d = world["dir"] / "b-data"
    TrustListStore(d / "trust-lists").import_list(world["raw"], at=AT, source="file:gd.json",
                                                  pins=[world["list_key"].public_key()], threshold=1)
    for name, pol in (("accept", ACCEPT), ("refuse", REFUSE)):
        (world["dir"] / f"{name}.json").write_text(json.dumps(pol))
    # The policy's default layer requires revocation data: A's CRL travels with the artefact.
    (world["dir"] / "a.crl").write_bytes(world["a"].ca().issue_crl(at=T0 + timedelta(minutes=30)))
    return d


@pytest.mark.parametrize("kind", KINDS)
def test_cli_trust_lists_and_policy(world, b_dir, kind) -> None:
    f = world["dir"] / f"artefact-{kind}"
    f.write_bytes(world["artefacts"][kind])
    extra = ["--data", str(world["dir"] / "content.txt")] if kind == "ses_signature" else []
    (world["dir"] / "content.txt").write_bytes(CONTENT)
    runner = CliRunner()

    extra += ["--crl", str(world["dir"] / "a.crl")]

    def run(*opts: str) -> Any:
        return runner.invoke(verify_cli, [str(f), "--at", AT.isoformat(), *extra, *opts])

    ok = run("--trust-lists", str(b_dir), "--policy", str(world["dir"] / "accept.json"))
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["trust_context"]["rule"] == RULE[kind]
    refused = run("--trust-lists", str(b_dir), "--policy", str(world["dir"] / "refuse.json"))
    assert refused.exit_code == 2 and "no-gd" in json.loads(refused.output)["reason"]["en"]
    assert run().exit_code == 2  # nothing trusted
    stale = runner.invoke(verify_cli, [str(f), "--at", STALE.isoformat(), *extra, "--trust-lists", str(b_dir),
                                       "--policy", str(world["dir"] / "accept.json")])
    assert stale.exit_code == 2 and "stale trust list" in json.loads(stale.output)["reason"]["en"]


def test_cli_qr_and_bad_options(world, b_dir) -> None:
    runner = CliRunner()
    ok = runner.invoke(verify_cli, ["--qr", world["qr"], "--at", AT.isoformat(), "--trust-lists", str(b_dir),
                                    "--policy", str(world["dir"] / "accept.json"), "--format", "text"])
    assert ok.exit_code == 0 and "rule gd-qr" in ok.output
    bad = runner.invoke(verify_cli, ["--qr", world["qr"], "--policy", str(world["dir"] / "accept.json")])
    assert bad.exit_code == 3  # --policy without --trust-lists
    (world["dir"] / "broken.json").write_text("{")
    assert runner.invoke(verify_cli, ["--qr", world["qr"], "--trust-lists", str(b_dir), "--policy",
                                      str(world["dir"] / "broken.json")]).exit_code == 3


# --- HTTP --------------------------------------------------------------------------------------


def _service(world: dict[str, Any], name: str, policy: dict[str, Any] | None) -> Any:
    pol = None
    if policy is not None:
        pol = world["dir"] / f"service-{name}.json"
        pol.write_text(json.dumps(policy))
    return open_app(make_settings(world["dir"] / f"svc-{name}", region="510000", policy_file=pol))


def _post(h: Any, world: dict[str, Any], kind: str, at: datetime = AT) -> dict[str, Any]:
    files = {"file": ("f", world["artefacts"][kind]),
             "crls": ("a.crl", world["a"].ca().issue_crl(at=T0 + timedelta(minutes=30)))}
    if kind == "ses_signature":
        files["data"] = ("d", CONTENT)
    r = h.client.post("/v1/verify", headers=h.auth("verifier"), files=files,
                      data={"at": at.isoformat(), "require_revocation": "false"})
    assert r.status_code == 200, r.text
    return r.json()


def test_http_import_then_verify_every_kind(world) -> None:
    pin = pem.armor("PUBLIC KEY", world["list_key"].public_key().spki_der()).decode()
    for h in _service(world, "accept", ACCEPT):
        before = _post(h, world, "cms")
        assert before["indication"] == "INDETERMINATE" and before["sub_indication"] == "NO_CERTIFICATE_CHAIN_FOUND"
        env = json.loads(world["raw"])
        env["signed"]["version"] = 9  # tampered: refused with a typed error
        r = h.client.post("/v1/trust-lists", json={"list": env, "pins": [pin], "threshold": 1}, headers=h.auth())
        assert r.status_code == 422 and "trust_list_bad_signature" in r.text
        r = h.client.post("/v1/trust-lists", json={"list": json.loads(world["raw"]), "pins": [pin], "threshold": 1},
                          headers=h.auth())
        assert r.status_code == 201, r.text
        for kind in KINDS:
            body = _post(h, world, kind)
            assert body["indication"] == "TOTAL_PASSED", (kind, body["reason"])
            assert body["trust_context"]["region"] == "440000" and body["trust_context"]["rule"] == RULE[kind]
            assert any(c["name"].endswith("recognition") for c in body["checks"])
            stale = _post(h, world, kind, at=STALE)
            assert stale["indication"] == "INDETERMINATE" and stale["sub_indication"] == "TRY_LATER"
        qr = h.client.post("/v1/verify", headers=h.auth("staff"), json={"qr": world["qr"], "at": AT.isoformat()})
        assert qr.json()["indication"] == "TOTAL_PASSED" and qr.json()["trust_context"]["rule"] == "gd-qr"
        # The held copy is changed on disk: it no longer verifies, so nothing it vouched for passes.
        cur = h.settings.data_dir / "trust-lists" / "440000" / "current.json"
        cur.write_text(json.dumps(env))
        broken = _post(h, world, "cms")
        assert broken["indication"] == "INDETERMINATE" and "440000" in broken["reason"]["en"]


def test_http_policy_without_recognition_refuses(world) -> None:
    for h in _service(world, "local", None):
        TrustListStore.for_settings(h.settings).import_list(world["raw"], at=AT, source="file:gd.json",
                                                            pins=[world["list_key"].public_key()], threshold=1)
        body = _post(h, world, "pdf")
        assert body["indication"] == "INDETERMINATE" and body["trust_context"]["rule"] == "default-deny"


def test_trust_list_errors_are_typed(world) -> None:
    with pytest.raises(TrustListError):
        parse_and_verify(world["raw"], pinned_keys=[generate_key("sm2").public_key()], threshold=1, previous=None,
                         at=AT)


# --- OFD: every signature judged -------------------------------------------------------------------

OFD_POLICY = {"recognition": {"local_region": "510000", "rules": [
    {"id": "gd-ofd", "region": "440000", "artefact_types": ["ofd"], "decision": "accept"}]}}


def test_ofd_every_signature_judged_worst_wins(world) -> None:
    from esign.ofd import sign_ofd
    from tests.test_ofd_sign_verify import UNSIGNED

    c = Region.init(world["dir"] / "c", region="320000", passphrase=b"region-c-pass", at=T0, scrypt_n=1 << 10)
    c_ca = c.ca()
    c_key, c_maker_key = generate_key("sm2"), generate_key("sm2")
    c_signer = c_ca.issue(subject="C=CN,O=Jiangsu Example,CN=Signer", profile="enterprise_signer",
                          public_key=c_key.public_key(), at=T0)
    c_maker = c_ca.issue(subject="C=CN,O=Jiangsu PSB,CN=Seal maker", profile="seal_maker",
                         public_key=c_maker_key.public_key(), at=T0)
    c_seal = make_seal(maker_key=c_maker_key, maker_cert_der=c_maker.der, seal_id="32000020250101000001",
                       seal_type=1, name="江苏示例公司合同专用章", signer_certs=[c_signer.der], valid_from=T0,
                       valid_to=T0 + timedelta(days=365), picture=_png(), width_mm=40, height_mm=40, at=T0)
    c_list_key = generate_key("sm2")
    c_raw = publish(region="320000", version=1, issued_at=T0, expires_at=T0 + timedelta(days=30),
                    signers=[c_list_key], threshold=1, entries=[
                        make_entry(id="root", service_type="root_ca", name="320000 Root CA", since=T0,
                                   certificates=[c.root.cert.der]),
                        make_entry(id="ca", service_type="enterprise_signer", name="320000 issuing CA", since=T0,
                                   certificates=[c_ca.cert.der])])
    a_key, a_der = world["signer"]
    when = T0 + timedelta(hours=1)
    once = sign_ofd(UNSIGNED, seal_der=world["artefacts"]["seal"], signer_key=a_key, signer_cert_der=a_der, page=1,
                    x_mm=10, y_mm=10, at=when, protect="continue")
    twice = sign_ofd(once, seal_der=c_seal, signer_key=c_key, signer_cert_der=c_signer.der, page=1, x_mm=100,
                     y_mm=150, at=when + timedelta(minutes=5))

    def verify(data: bytes, policy: dict[str, Any]) -> Any:
        reg = _registry(world, policy)
        reg.add(parse_and_verify(c_raw, pinned_keys=[c_list_key.public_key()], threshold=1, previous=None, at=AT),
                at=AT)
        return verify_artefact(data, trust=_local(world), registry=reg, at=AT)

    single = verify(once, OFD_POLICY)
    assert single.passed, single.reason.en
    assert single.trust_context["rule"] == "gd-ofd" and single.signatures[0].trust_context["region"] == "440000"
    r = verify(twice, OFD_POLICY)
    first, second = r.signatures
    assert first.passed and first.trust_context["rule"] == "gd-ofd" and first.trust_context["recognised"]
    assert second.indication is Indication.INDETERMINATE
    assert second.trust_context["region"] == "320000" and second.trust_context["rule"] == "default-deny"
    assert r.indication is Indication.INDETERMINATE and r.sub_indication is SubIndication.SIG_CONSTRAINTS_FAILURE
    assert r.reason.en.startswith("Signature 2") and "default-deny" in r.reason.en
    by = {ch.name: ch.status.value for ch in r.checks}
    assert by["signature[1].recognition"] == "passed" and by["signature[2].recognition"] == "failed"
    assert [x["rule"] for x in r.trust_context["signatures"]] == ["gd-ofd", "default-deny"]
    both = {"recognition": {"local_region": "510000", "rules": [
        *OFD_POLICY["recognition"]["rules"],
        {"id": "js-ofd", "region": "320000", "artefact_types": ["ofd"], "decision": "accept"}]}}
    ok = verify(twice, both)
    assert ok.passed, ok.reason.en
    assert [x["rule"] for x in ok.trust_context["signatures"]] == ["gd-ofd", "js-ofd"]
