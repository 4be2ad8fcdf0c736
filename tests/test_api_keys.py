"""HTTP: the service key store (create, list, rotate, sign, verify) with roles, regions and audit."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import pytest

from keys.keypairs import load_public_key
from tests._services import needs_tool
from tests.conftest import make_settings, open_app

B64 = lambda b: base64.b64encode(b).decode()  # noqa: E731


@pytest.fixture
def api(tmp_path: Path) -> Any:
    yield from open_app(make_settings(tmp_path / "var", keystore_scrypt_n=1 << 10))


@pytest.mark.parametrize("alg", ["sm2", "p256", "rsa2048", "ed25519"])
def test_create_sign_verify(api: Any, alg: str) -> None:
    r = api.client.post("/v1/keys", json={"name": f"k-{alg}", "alg": alg}, headers=api.auth("signer"))
    assert r.status_code == 201, r.text
    key = r.json()
    assert key["key_id"] == f"440000.k-{alg}" and key["current_version"] == 1
    pem = key["versions"][0]["public_key_pem"]
    assert "PRIVATE" not in r.text

    r = api.client.post(
        f"/v1/keys/{key['key_id']}/sign", json={"data_b64": B64(b"application form")}, headers=api.auth("signer")
    )
    assert r.status_code == 200, r.text
    sig = base64.b64decode(r.json()["signature_b64"])
    load_public_key(pem.encode()).verify(sig, b"application form")  # independent of the route

    ok = api.client.post(
        "/v1/keys/verify",
        headers=api.auth("verifier"),
        json={"public_key_pem": pem, "data_b64": B64(b"application form"), "signature_b64": B64(sig)},
    )
    assert ok.json()["valid"] is True
    bad = api.client.post(
        "/v1/keys/verify",
        headers=api.auth("verifier"),
        json={"public_key_pem": pem, "data_b64": B64(b"application f0rm"), "signature_b64": B64(sig)},
    )
    assert bad.status_code == 200 and bad.json()["valid"] is False and bad.json()["reason"]["zh"]


@pytest.mark.openssl_cli
@needs_tool("openssl")
def test_raw_sm2_signature_round_trips_and_verifies_in_openssl(api: Any, tmp_path: Path) -> None:
    key = api.client.post("/v1/keys", json={"name": "raw", "alg": "sm2"}, headers=api.auth("issuer")).json()
    r = api.client.post(
        f"/v1/keys/{key['key_id']}/sign", json={"data_b64": B64(b"m"), "raw": True}, headers=api.auth("issuer")
    )
    raw = base64.b64decode(r.json()["signature_b64"])
    assert len(raw) == 64
    v = api.client.post(
        "/v1/keys/verify",
        headers=api.auth("staff"),
        json={
            "public_key_pem": key["versions"][0]["public_key_pem"],
            "data_b64": B64(b"m"),
            "signature_b64": B64(raw),
            "raw": True,
        },
    )
    assert v.json()["valid"] is True
    # the DER form verifies with OpenSSL and the standard ID
    der = api.client.post(f"/v1/keys/{key['key_id']}/sign", json={"data_b64": B64(b"m")}, headers=api.auth("issuer"))
    (tmp_path / "pub.pem").write_text(key["versions"][0]["public_key_pem"])
    (tmp_path / "sig").write_bytes(base64.b64decode(der.json()["signature_b64"]))
    (tmp_path / "m").write_bytes(b"m")
    out = subprocess.run(
        [
            "openssl",
            "dgst",
            "-sm3",
            "-verify",
            str(tmp_path / "pub.pem"),
            "-sigopt",
            "distid:1234567812345678",
            "-signature",
            str(tmp_path / "sig"),
            str(tmp_path / "m"),
        ],
        capture_output=True,
        text=True,
    )
    assert "Verified OK" in out.stdout


def test_rotation_keeps_old_version_for_verification(api: Any) -> None:
    key = api.client.post("/v1/keys", json={"name": "rot", "alg": "p256"}, headers=api.auth("admin")).json()
    old_pem = key["versions"][0]["public_key_pem"]
    r = api.client.post(f"/v1/keys/{key['key_id']}/rotate", headers=api.auth("admin"))
    assert r.status_code == 200
    body = r.json()
    assert body["current_version"] == 2
    assert {v["version"]: v["status"] for v in body["versions"]} == {1: "retired", 2: "active"}
    sig = base64.b64decode(
        api.client.post(
            f"/v1/keys/{key['key_id']}/sign", json={"data_b64": B64(b"x")}, headers=api.auth("signer")
        ).json()["signature_b64"]
    )
    new_pem = body["versions"][1]["public_key_pem"]
    load_public_key(new_pem.encode()).verify(sig, b"x")
    assert old_pem != new_pem


def test_roles_regions_and_bad_input(api: Any) -> None:
    c = api.client
    assert c.post("/v1/keys", json={"name": "x"}).status_code == 401
    assert c.post("/v1/keys", json={"name": "x"}, headers=api.auth("verifier")).status_code == 403
    r = c.post("/v1/keys", json={"name": "x", "region": "510000"}, headers=api.auth("signer"))
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    r = c.post("/v1/keys", json={"name": "x", "alg": "dsa"}, headers=api.auth("signer"))
    assert r.status_code == 400 and r.json()["code"] == "algorithm_not_allowed"
    assert c.post("/v1/keys", json={"name": "../etc"}, headers=api.auth("signer")).status_code == 422
    assert c.get("/v1/keys/440000.nope", headers=api.auth("signer")).status_code == 404
    assert c.get("/v1/keys/510000.other", headers=api.auth("signer")).status_code == 403
    c.post("/v1/keys", json={"name": "dup"}, headers=api.auth("signer"))
    assert c.post("/v1/keys", json={"name": "dup"}, headers=api.auth("signer")).status_code == 409
    r = c.post("/v1/keys/440000.dup/sign", json={"data_b64": "***"}, headers=api.auth("signer"))
    assert r.status_code == 400 and r.json()["field"] == "data_b64"
    r = c.post(
        "/v1/keys/verify",
        headers=api.auth("verifier"),
        json={
            "public_key_pem": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            "data_b64": "",
            "signature_b64": "",
        },
    )
    assert r.status_code == 400 and r.json()["code"] == "bad_key"


def test_signing_is_audited_without_the_data(api: Any) -> None:
    c = api.client
    c.post("/v1/keys", json={"name": "aud"}, headers=api.auth("signer"))
    secret = b"citizen 440106199001011234"
    c.post("/v1/keys/440000.aud/sign", json={"data_b64": B64(secret)}, headers=api.auth("signer"))
    page = c.get("/v1/audit", headers=api.auth("admin")).text
    assert "key.sign" in page and "key.create" in page
    assert "440106199001011234" not in page and B64(secret) not in page
    assert c.get("/v1/audit/verify", headers=api.auth("admin")).json()["intact"] is True
