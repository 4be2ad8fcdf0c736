"""OCSP responder and checking: statuses, OpenSSL interop both ways, path validation with OCSP, HTTP."""

from __future__ import annotations

import base64
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import ocsp as aocsp

from esign.ocsp import CaStatusSource, OcspResponder, OcspResponderSet, make_ocsp_request
from keys.errors import KeyFormatError
from keys.pkcs8 import encrypt_private_key
from keys.x509 import parse_certificate, parse_crl
from tests._lt_pki import NOW, Pki, make_pki, write_pems
from verifier.ocsp import check_ocsp_response
from verifier.pki import PathPolicy, validate_path
from verifier.report import Indication, SubIndication


@pytest.fixture(scope="module", params=["p256", "sm2"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    pki = make_pki(tmp_path_factory.mktemp(f"ocsp-{request.param}"), request.param)
    ca = pki.ca
    _, good = pki.issue("enterprise_signer", cn="good")
    _, bad = pki.issue("enterprise_signer", cn="revoked")
    ca.revoke(parse_certificate(bad).serial, reason="key_compromise", at=NOW - timedelta(minutes=30))
    okey, ocert = pki.issue("ocsp", cn="OCSP responder")
    responder = OcspResponder(ca_index=CaStatusSource(ca), responder_key=okey, responder_cert=ocert,
                              issuer_cert=pki.ca_cert.der)
    rkey, rcert = pki.issue("ocsp", cn="root OCSP", ca=pki.region.root)
    root_responder = OcspResponder(ca_index=CaStatusSource(pki.region.root), responder_key=rkey,
                                   responder_cert=rcert, issuer_cert=pki.root_cert.der)
    return {"pki": pki, "good": parse_certificate(good), "revoked": parse_certificate(bad), "responder": responder,
            "root_responder": root_responder, "ocsp_cert": ocert, "ocsp_key": okey}


def _ask(world: dict[str, Any], name: str, *, at: datetime = NOW, nonce: bytes | None = None) -> bytes:
    cert = world[name]
    return world["responder"].respond(make_ocsp_request(cert, world["pki"].ca_cert, nonce=nonce), at=at)


def test_good_revoked_unknown(world: dict[str, Any]) -> None:
    pki: Pki = world["pki"]
    good = check_ocsp_response(_ask(world, "good"), cert=world["good"], issuer=pki.ca_cert, at=NOW)
    assert good.status == "good" and good.responder and "OCSP responder" in good.responder
    rev = check_ocsp_response(_ask(world, "revoked"), cert=world["revoked"], issuer=pki.ca_cert, at=NOW)
    assert rev.status == "revoked" and rev.reason == "key_compromise"
    assert rev.revocation_time == NOW - timedelta(minutes=30)
    # before the revocation time the same response says "good at that time"
    earlier = check_ocsp_response(_ask(world, "revoked"), cert=world["revoked"], issuer=pki.ca_cert,
                                  at=NOW - timedelta(hours=1))
    assert earlier.status == "good"
    stranger = parse_certificate(world["ocsp_cert"])
    fake = make_ocsp_request(stranger, pki.ca_cert)
    # a serial the CA never issued: re-number the request
    req = aocsp.OCSPRequest.load(fake)
    req["tbs_request"]["request_list"][0]["req_cert"]["serial_number"] = 12345
    resp = world["responder"].respond(req.dump(force=True), at=NOW)
    single = aocsp.OCSPResponse.load(resp).basic_ocsp_response["tbs_response_data"]["responses"][0]
    assert single["cert_status"].name == "unknown"
    stale = check_ocsp_response(_ask(world, "good"), cert=world["good"], issuer=pki.ca_cert, at=NOW + timedelta(days=2))
    assert stale.status == "stale"
    other = check_ocsp_response(_ask(world, "good"), cert=world["revoked"], issuer=pki.ca_cert, at=NOW)
    assert other.status == "no_match"


def test_nonce_echo_and_bad_requests(world: dict[str, Any]) -> None:
    resp = aocsp.OCSPResponse.load(_ask(world, "good", nonce=b"0123456789abcdef"))
    assert resp.nonce_value.native == b"0123456789abcdef"
    r: OcspResponder = world["responder"]
    for junk in (b"", b"junk", b"\x30\x00", b"\x30" * 20000):
        assert aocsp.OCSPResponse.load(r.respond(junk, at=NOW))["response_status"].native == "malformed_request"
    # a certificate of another issuer (the issuing CA itself, issued by the root) -> unauthorized
    pki: Pki = world["pki"]
    foreign = make_ocsp_request(pki.ca_cert, pki.root_cert)
    assert aocsp.OCSPResponse.load(r.respond(foreign, at=NOW))["response_status"].native == "unauthorized"
    both = OcspResponderSet([r, world["root_responder"]])
    answered = aocsp.OCSPResponse.load(both.respond(foreign, at=NOW))
    assert answered["response_status"].native == "successful"


def test_unauthorised_responder_rejected(world: dict[str, Any]) -> None:
    """A responder certificate without id-kp-OCSPSigning is refused when built, and its responses are invalid."""
    pki: Pki = world["pki"]
    key, der = pki.issue("enterprise_signer", cn="not a responder")
    with pytest.raises(KeyFormatError):
        OcspResponder(ca_index=CaStatusSource(pki.ca), responder_key=key, responder_cert=der,
                      issuer_cert=pki.ca_cert.der)
    # forge one anyway by bypassing the constructor check
    forged = OcspResponder.__new__(OcspResponder)
    forged.__dict__.update(world["responder"].__dict__)
    forged._key, forged.cert = key, parse_certificate(der)
    import hashlib

    from esign.ocsp import _bits

    forged._responder_key_id = hashlib.sha1(_bits(forged.cert), usedforsecurity=False).digest()
    resp = forged.respond(make_ocsp_request(world["good"], pki.ca_cert), at=NOW)
    assert aocsp.OCSPResponse.load(resp)["response_status"].native == "successful"
    out = check_ocsp_response(resp, cert=world["good"], issuer=pki.ca_cert, at=NOW)
    assert out.status == "invalid"


def test_ca_signed_response(world: dict[str, Any]) -> None:
    """The CA may answer for itself (no delegated certificate)."""
    pki: Pki = world["pki"]
    ca_key = pki.ca._key(pki.ca.state())
    self_resp = OcspResponder(ca_index=CaStatusSource(pki.ca), responder_key=ca_key, responder_cert=pki.ca_cert.der,
                              issuer_cert=pki.ca_cert.der)
    resp = self_resp.respond(make_ocsp_request(world["revoked"], pki.ca_cert), at=NOW)
    assert check_ocsp_response(resp, cert=world["revoked"], issuer=pki.ca_cert, at=NOW).status == "revoked"


def test_path_validation_with_ocsp(world: dict[str, Any]) -> None:
    pki: Pki = world["pki"]
    inter = [pki.ca_cert]
    ca_resp = world["root_responder"].respond(make_ocsp_request(pki.ca_cert, pki.root_cert), at=NOW)
    required = PathPolicy(require_revocation=True)
    ok = validate_path(world["good"], trust=pki.trust, at=NOW, intermediates=inter,
                       ocsp_responses=[_ask(world, "good"), ca_resp], policy=required)
    assert ok.passed, ok.to_dict()
    assert any("OCSP" in c.detail_en for c in ok.checks if c.name.startswith("revocation"))
    rev = validate_path(world["revoked"], trust=pki.trust, at=NOW, intermediates=inter,
                        ocsp_responses=[_ask(world, "revoked"), ca_resp], policy=required)
    assert (rev.indication, rev.sub_indication) == (Indication.TOTAL_FAILED, SubIndication.REVOKED)
    stale = validate_path(world["good"], trust=pki.trust, at=NOW + timedelta(days=2), intermediates=inter,
                          ocsp_responses=[_ask(world, "good"), ca_resp], policy=required)
    assert (stale.indication, stale.sub_indication) == (Indication.INDETERMINATE, SubIndication.TRY_LATER)
    # not required: a stale response does not block, but nothing claims it was checked
    lax = validate_path(world["good"], trust=pki.trust, at=NOW + timedelta(days=2), intermediates=inter,
                        ocsp_responses=[_ask(world, "good")])
    assert lax.passed and any(c.status.value == "skipped" for c in lax.checks if c.name.startswith("revocation"))
    # OCSP for the leaf, CRL for the intermediate
    root_crl = parse_crl(pki.region.root.issue_crl(at=NOW))
    mixed = validate_path(world["good"], trust=pki.trust, at=NOW, intermediates=inter, crls=[root_crl],
                          ocsp_responses=[_ask(world, "good")], policy=required)
    assert mixed.passed, mixed.to_dict()


def test_openssl_interop(tmp_path: Path) -> None:
    """openssl ocsp accepts our responses; our checker accepts openssl's responder output (ECDSA)."""
    now = datetime.now(UTC).replace(microsecond=0)
    pki = make_pki(tmp_path / "pki", "p256", at=now)
    ca = pki.ca
    _, good = pki.issue("enterprise_signer", cn="good", at=now - timedelta(hours=1))
    _, bad = pki.issue("enterprise_signer", cn="bad", at=now - timedelta(hours=1))
    ca.revoke(parse_certificate(bad).serial, reason="key_compromise", at=now - timedelta(minutes=5))
    okey, ocert = pki.issue("ocsp", cn="OCSP", at=now - timedelta(hours=1))
    responder = OcspResponder(ca_index=CaStatusSource(ca), responder_key=okey, responder_cert=ocert,
                              issuer_cert=pki.ca_cert.der)
    pems = write_pems(tmp_path, issuer=pki.ca_cert, root=pki.root_cert, good=good, bad=bad, ocsp=ocert)
    (tmp_path / "chain.pem").write_bytes(pems["root"].read_bytes() + pems["issuer"].read_bytes())
    for name, want in (("good", "good"), ("bad", "revoked")):
        req, resp = tmp_path / f"{name}.req", tmp_path / f"{name}.resp"
        subprocess.run(["openssl", "ocsp", "-issuer", str(pems["issuer"]), "-cert", str(pems[name]), "-reqout",
                        str(req)], check=True, capture_output=True)
        resp.write_bytes(responder.respond(req.read_bytes(), at=now))
        out = subprocess.run(["openssl", "ocsp", "-respin", str(resp), "-reqin", str(req), "-CAfile",
                              str(tmp_path / "chain.pem"), "-resp_text"], capture_output=True, text=True)
        assert out.returncode == 0 and "Response verify OK" in out.stderr + out.stdout, out.stderr
        assert f"Cert Status: {want}" in out.stdout
    # reverse: OpenSSL as the responder, our checker
    (tmp_path / "okey.pem").write_bytes(encrypt_private_key(okey, passphrase=b"password1", scrypt_n=2**10))
    g, b = parse_certificate(good), parse_certificate(bad)
    exp = "301231235959Z"
    rev = (now - timedelta(minutes=5)).strftime("%y%m%d%H%M%SZ")
    (tmp_path / "index.txt").write_text(f"V\t{exp}\t\t{g.serial:X}\tunknown\t/CN=good\n"
                                        f"R\t{exp}\t{rev},keyCompromise\t{b.serial:X}\tunknown\t/CN=bad\n")
    for name, cert, want in (("good", g, "good"), ("bad", b, "revoked")):
        subprocess.run(["openssl", "ocsp", "-index", str(tmp_path / "index.txt"), "-rsigner", str(pems["ocsp"]),
                        "-rkey", str(tmp_path / "okey.pem"), "-passin", "pass:password1", "-CA",
                        str(pems["issuer"]), "-reqin", str(tmp_path / f"{name}.req"), "-respout",
                        str(tmp_path / f"{name}.ossl"), "-ndays", "1"], check=True, capture_output=True)
        out = check_ocsp_response((tmp_path / f"{name}.ossl").read_bytes(), cert=cert, issuer=pki.ca_cert,
                                  at=now + timedelta(minutes=1))
        assert out.status == want, out


def test_http_endpoints(tmp_path: Path) -> None:
    from api.bootstrap_tsa import bootstrap
    from api.routes.ca import open_region
    from api.routes.tsa import router
    from keys.ca import Region
    from keys.keypairs import generate_key
    from tests._lt_pki import FixedClock
    from tests.conftest import make_settings, open_app

    settings = make_settings(tmp_path / "var", keystore_scrypt_n=2**10)
    Region.init(settings.pki_dir / settings.region, region=settings.region,
                passphrase=settings.keystore_passphrase_bytes(create=True), at=NOW - timedelta(days=1), alg="sm2",
                scrypt_n=2**10)
    bootstrap(settings, at=NOW - timedelta(hours=1))
    region = open_region(settings)
    issued = region.ca().issue(subject={"CN": "leaf"}, profile="enterprise_signer",
                               public_key=generate_key("sm2").public_key(), at=NOW - timedelta(hours=1))
    leaf = parse_certificate(issued.der)
    req = make_ocsp_request(leaf, region.ca().cert, nonce=b"n" * 16)
    gen = open_app(settings, extra_routers=[router])
    handle = next(gen)
    try:
        handle.app.state.clock = FixedClock(NOW)
        c = handle.client
        r = c.post("/v1/ocsp", content=req, headers={"Content-Type": "application/ocsp-request"})
        assert r.status_code == 200 and r.headers["content-type"] == "application/ocsp-response"
        out = check_ocsp_response(r.content, cert=leaf, issuer=region.ca().cert, at=NOW)
        assert out.status == "good", out
        r2 = c.get("/v1/ocsp/" + base64.b64encode(req).decode().replace("/", "%2F"))
        assert r2.status_code == 200
        assert check_ocsp_response(r2.content, cert=leaf, issuer=region.ca().cert, at=NOW).status == "good"
        junk = c.get("/v1/ocsp/!!notbase64")
        assert aocsp.OCSPResponse.load(junk.content)["response_status"].native == "malformed_request"
        wrong_type = c.post("/v1/ocsp", content=req, headers={"Content-Type": "text/plain"})
        assert wrong_type.status_code == 400
        region.ca().revoke(leaf.serial, reason="superseded", at=NOW)
        r3 = c.post("/v1/ocsp", content=req, headers={"Content-Type": "application/ocsp-request"})
        assert check_ocsp_response(r3.content, cert=leaf, issuer=region.ca().cert,
                                   at=NOW + timedelta(seconds=1)).status == "revoked"
        root_req = make_ocsp_request(region.ca().cert, region.root.cert)
        r4 = c.post("/v1/ocsp", content=root_req, headers={"Content-Type": "application/ocsp-request"})
        assert check_ocsp_response(r4.content, cert=region.ca().cert, issuer=region.root.cert, at=NOW).status == "good"
    finally:
        gen.close()
