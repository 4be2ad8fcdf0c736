"""RFC 3161 TSA: OpenSSL interop, rejections, SM2 tokens, HTTP endpoint, HTTP client, pyHanko adapter, CLI."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import tsp
from click.testing import CliRunner

from esign.formats.cms_asn1 import TimeStampResp
from esign.tsa import (
    LocalTimeStamper,
    PyHankoLocalTimeStamper,
    TimeStampAuthority,
    TimestampRequestError,
    make_request,
)
from keys.errors import CertificateError
from keys.pkcs8 import encrypt_private_key
from tests._lt_pki import NOW, FixedClock, Pki, make_pki, write_pems
from verifier.pki import TrustStore
from verifier.report import Indication, SubIndication
from verifier.tsp import verify_timestamp_token

POLICY = "2.25.329800735698586629295641978511506172918"
DATA = b"time-stamp me\n"


def _tsa(pki: Pki, *, cert_req_chain: bool = True) -> TimeStampAuthority:
    key, der = pki.issue("timestamping", cn="Test TSA")
    return TimeStampAuthority(key=key, cert_der=der, chain=[pki.ca_cert.der] if cert_req_chain else (),
                              policy_oid=POLICY, clock=FixedClock(NOW))


@pytest.fixture(scope="module")
def p256(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("tsa-p256"), "p256")


@pytest.fixture(scope="module")
def sm2(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("tsa-sm2"), "sm2")


def _status(tsr: bytes) -> tuple[str, set[str]]:
    st = TimeStampResp.load(tsr)["status"]
    return st["status"].native, set(st["fail_info"].native or [])


@pytest.mark.parametrize("opts", [["-sha256", "-cert"], ["-sha512", "-cert", "-no_nonce"], ["-sha384"]])
def test_openssl_query_and_verify(p256: Pki, tmp_path: Path, opts: list[str]) -> None:
    tsa = _tsa(p256)
    (tmp_path / "data").write_bytes(DATA)
    subprocess.run(["openssl", "ts", "-query", "-data", str(tmp_path / "data"), *opts, "-out", str(tmp_path / "q")],
                   check=True, capture_output=True)
    tsr = tsa.respond((tmp_path / "q").read_bytes())
    assert _status(tsr)[0] == "granted"
    (tmp_path / "r").write_bytes(tsr)
    pems = write_pems(tmp_path, root=p256.root_cert, ca=p256.ca_cert, tsa=tsa.cert)
    untrusted = pems["ca"].read_bytes() + pems["tsa"].read_bytes()
    (tmp_path / "untrusted.pem").write_bytes(untrusted)
    cmd = ["openssl", "ts", "-verify", "-in", str(tmp_path / "r"), "-CAfile", str(pems["root"]),
           "-untrusted", str(tmp_path / "untrusted.pem"), "-attime", str(int((NOW + timedelta(hours=1)).timestamp()))]
    ok = subprocess.run([*cmd, "-data", str(tmp_path / "data")], capture_output=True, text=True)
    assert ok.returncode == 0 and "Verification: OK" in ok.stdout, ok.stderr
    (tmp_path / "other").write_bytes(DATA + b"x")
    bad = subprocess.run([*cmd, "-data", str(tmp_path / "other")], capture_output=True, text=True)
    assert bad.returncode != 0
    # and our own verifier agrees
    extra = [] if "-cert" in opts else [tsa.cert, p256.ca_cert]  # no certReq: certificates come from elsewhere
    res = verify_timestamp_token(tsr, data=DATA, trust=p256.trust, at=NOW + timedelta(hours=1), extra_certs=extra)
    assert res.passed, res.report.to_dict()
    assert res.gen_time == NOW and res.policy_oid == POLICY


def _req_with(**fields: Any) -> bytes:
    base: dict[str, Any] = {"version": "v1", "message_imprint": {"hash_algorithm": {"algorithm": "sha256"},
                                                                 "hashed_message": b"\x01" * 32}}
    base.update(fields)
    return bytes(tsp.TimeStampReq(base).dump())


@pytest.mark.parametrize(
    ("body", "fail"),
    [
        (b"", "bad_data_format"),
        (b"garbage", "bad_data_format"),
        (b"\x30" * 20000, "bad_data_format"),
        (_req_with(message_imprint={"hash_algorithm": {"algorithm": "sha1"}, "hashed_message": b"\x01" * 20}),
         "bad_alg"),
        (_req_with(message_imprint={"hash_algorithm": {"algorithm": "md5"}, "hashed_message": b"\x01" * 16}),
         "bad_alg"),
        (_req_with(message_imprint={"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": b"\x01" * 31}),
         "bad_data_format"),
        (_req_with(req_policy="1.2.3.4"), "unaccepted_policy"),
        (_req_with(version="v2"), "bad_data_format"),
        (_req_with(extensions=[{"extn_id": "1.2.3.4.5", "critical": False, "extn_value": b"\x05\x00"}]),
         "unaccepted_extensions"),
    ],
)
def test_bad_requests_are_rejected(p256: Pki, body: bytes, fail: str) -> None:
    status, fails = _status(_tsa(p256).respond(body))
    assert status == "rejection" and fails == {fail}


def test_sm2_tokens_and_cert_req(sm2: Pki) -> None:
    tsa = _tsa(sm2)
    token = LocalTimeStamper(tsa).stamp(DATA, hash_name="sm3")
    res = verify_timestamp_token(token, data=DATA, trust=sm2.trust, at=NOW + timedelta(hours=1))
    assert res.passed, res.report.to_dict()
    assert res.hash_name == "sm3" and res.tsa_subject and res.accuracy_seconds == 1.0
    assert verify_timestamp_token(token, data=DATA + b"!", trust=sm2.trust, at=NOW).report.sub_indication is (
        SubIndication.HASH_FAILURE)
    untrusted = verify_timestamp_token(token, data=DATA, trust=TrustStore(anchors=()), at=NOW)
    assert untrusted.report.indication is Indication.INDETERMINATE
    none = verify_timestamp_token(token, trust=sm2.trust, at=NOW)
    assert none.report.sub_indication is SubIndication.SIGNED_DATA_NOT_FOUND
    by_digest = verify_timestamp_token(token, digest=__import__("keys.hashing").hashing.sm3(DATA), trust=sm2.trust,
                                       at=NOW)
    assert by_digest.passed
    # certReq false: no certificates in the token; verification then needs the TSA cert from elsewhere
    tsr = tsa.respond(make_request(hashlib.sha256(DATA).digest(), hash_name="sha256", cert_req=False))
    no_cert = verify_timestamp_token(tsr, data=DATA, trust=sm2.trust, at=NOW)
    assert no_cert.report.sub_indication is SubIndication.NO_SIGNING_CERTIFICATE_FOUND
    with_cert = verify_timestamp_token(tsr, data=DATA, trust=sm2.trust, at=NOW, extra_certs=[tsa.cert, sm2.ca_cert])
    assert with_cert.passed


def test_tsa_refuses_non_timestamping_cert(p256: Pki) -> None:
    key, der = p256.issue("enterprise_signer", cn="not a TSA")
    with pytest.raises(CertificateError):
        TimeStampAuthority(key=key, cert_der=der, policy_oid=POLICY, clock=FixedClock())


def test_pyhanko_adapter(p256: Pki) -> None:
    tsa = _tsa(p256)
    ts = PyHankoLocalTimeStamper(tsa)
    digest = hashlib.sha256(DATA).digest()
    token = asyncio.run(ts.async_timestamp(digest, "sha256"))
    res = verify_timestamp_token(token.dump(), digest=digest, trust=p256.trust, at=NOW)
    assert res.passed, res.report.to_dict()


# -- HTTP ---------------------------------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Any]:
    """The app with a small region PKI and the TSA/OCSP bootstrap, TSA router mounted."""
    from api.bootstrap_tsa import bootstrap
    from api.routes.tsa import router
    from keys.ca import Region
    from tests.conftest import make_settings, open_app

    settings = make_settings(tmp_path / "var", keystore_scrypt_n=2**10)
    Region.init(settings.pki_dir / settings.region, region=settings.region,
                passphrase=settings.keystore_passphrase_bytes(create=True), at=NOW - timedelta(days=1), alg="p256",
                scrypt_n=2**10)
    bootstrap(settings, at=NOW - timedelta(hours=1))
    bootstrap(settings, at=NOW)  # idempotent
    gen = open_app(settings, extra_routers=[router])
    handle = next(gen)
    handle.app.state.clock = FixedClock(NOW)
    try:
        yield handle
    finally:
        gen.close()


def test_http_endpoint_and_client(served: Any) -> None:
    from api.clients.tsa_http import HttpTimeStamper
    from keys.x509 import parse_certificates

    client = served.client
    tsq = make_request(hashlib.sha256(DATA).digest(), hash_name="sha256", nonce=42)
    r = client.post("/v1/tsa", content=tsq, headers={"Content-Type": "application/timestamp-query"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/timestamp-reply"
    assert _status(r.content)[0] == "granted"
    bad = client.post("/v1/tsa", content=b"junk", headers={"Content-Type": "application/timestamp-query"})
    assert bad.status_code == 200 and _status(bad.content) == ("rejection", {"bad_data_format"})
    wrong = client.post("/v1/tsa", content=tsq, headers={"Content-Type": "application/octet-stream"})
    assert wrong.status_code == 400 and wrong.headers["content-type"].startswith("application/problem+json")
    certs = parse_certificates(client.get("/v1/tsa/certs").content)
    trust = TrustStore.of(parse_certificates((served.settings.pki_dir / "440000" / "root" / "cert.pem").read_bytes()))
    token = HttpTimeStamper("/v1/tsa", client=client).stamp(DATA)
    res = verify_timestamp_token(token, data=DATA, trust=trust, at=NOW)
    assert res.passed, res.report.to_dict()
    assert res.tsa_subject == certs[0].subject_str
    with pytest.raises(TimestampRequestError):
        HttpTimeStamper("/v1/nothing-here", client=client).stamp(DATA)
    with pytest.raises(TimestampRequestError):
        HttpTimeStamper("/v1/tsa/certs", client=client).stamp(DATA)  # GET-only route: HTTP 405
    with pytest.raises(TimestampRequestError):
        HttpTimeStamper("http://127.0.0.1:9/tsa", timeout=1.0).stamp(DATA)
    small = HttpTimeStamper("/v1/tsa", client=client, max_response_bytes=100)
    with pytest.raises(TimestampRequestError):
        small.stamp(DATA)


def test_http_cms_sign(served: Any) -> None:
    """POST /v1/cms/sign with a store key whose certificate was issued by the region CA."""
    import base64

    from api.routes.ca import open_region
    from keys.provider import open_provider
    from verifier.cms import verify_cms

    client = served.client
    r = client.post("/v1/keys", json={"name": "cms-signer", "alg": "p256"}, headers=served.auth("signer"))
    assert r.status_code == 201, r.text
    key_id = r.json()["key_id"]
    settings = served.settings
    store = open_provider(f"file://{(settings.data_dir / 'keys').resolve()}",
                          passphrase=settings.keystore_passphrase_bytes(create=True), scrypt_n=2**10)
    region = open_region(settings)
    issued = region.ca().issue(subject={"CN": "cms signer"}, profile="enterprise_signer",
                               public_key=store.public_key(key_id), at=NOW - timedelta(minutes=5))
    store.attach_certificate(key_id, 1, issued.der)
    body = {"key_id": key_id, "data_b64": base64.b64encode(DATA).decode(), "timestamp": True}
    r = client.post("/v1/cms/sign", json=body, headers=served.auth("signer"))
    assert r.status_code == 200, r.text
    p7 = base64.b64decode(r.json()["cms_b64"])
    rep = verify_cms(p7, detached_content=DATA, trust=TrustStore.of([region.root.cert]), at=NOW)
    assert rep.passed, rep.to_dict()
    assert "timestamp" in rep.signer
    assert client.post("/v1/cms/sign", json=body, headers=served.auth("verifier")).status_code == 403


def test_cli_request_local_and_verify(p256: Pki, tmp_path: Path) -> None:
    from api.cli.tsa import tsa as tsa_cli

    key, der = p256.issue("timestamping", cn="CLI TSA")
    (tmp_path / "k.pem").write_bytes(encrypt_private_key(key, passphrase=b"password1", scrypt_n=2**10))
    (tmp_path / "pass").write_bytes(b"password1\n")
    pems = write_pems(tmp_path, tsa=der, ca=p256.ca_cert, root=p256.root_cert)
    (tmp_path / "doc").write_bytes(DATA)
    r = CliRunner().invoke(tsa_cli, ["request", str(tmp_path / "doc"), "--local", "--key", str(tmp_path / "k.pem"),
                                     "--passphrase-file", str(tmp_path / "pass"), "--cert", str(pems["tsa"]),
                                     "--chain", str(pems["ca"]), "--policy", POLICY, "--out", str(tmp_path / "r")])
    assert r.exit_code == 0, r.output
    at = ["--at", (NOW + timedelta(days=1)).isoformat()]
    ok = CliRunner().invoke(tsa_cli, ["verify", str(tmp_path / "r"), "--data", str(tmp_path / "doc"), "--trust",
                                      str(pems["root"]), *at])
    assert ok.exit_code == 0, ok.output
    (tmp_path / "doc2").write_bytes(DATA + b"?")
    bad = CliRunner().invoke(tsa_cli, ["verify", str(tmp_path / "r"), "--data", str(tmp_path / "doc2"), "--trust",
                                       str(pems["root"]), *at])
    assert bad.exit_code == 1
    untrusted = CliRunner().invoke(tsa_cli, ["verify", str(tmp_path / "r"), "--data", str(tmp_path / "doc"), *at])
    assert untrusted.exit_code == 2
    assert CliRunner().invoke(tsa_cli, ["verify", str(tmp_path / "doc"), *at]).exit_code == 3
    neither = CliRunner().invoke(tsa_cli, ["request", str(tmp_path / "doc"), "--out", str(tmp_path / "x")])
    assert neither.exit_code == 3
