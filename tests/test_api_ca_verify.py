"""HTTP: the region CA (issue, revoke, CRL) and POST /v1/verify, on the demo region's real PKI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from keys.keypairs import generate_key
from keys.x509 import parse_certificate, parse_crl
from tests.conftest import make_settings, open_app


def _pem(der: bytes, label: str = "PUBLIC KEY") -> str:
    import base64

    b = base64.b64encode(der).decode()
    return (
        f"-----BEGIN {label}-----\n"
        + "\n".join(b[i : i + 64] for i in range(0, len(b), 64))
        + f"\n-----END {label}-----\n"
    )


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Any:
    # one demo region with real SM2 PKI for the module (CA key generation is the slow part)
    settings = make_settings(tmp_path_factory.mktemp("ca") / "var", demo_pki=True)
    yield from open_app(settings)


def _issue(api: Any, alg: str = "sm2") -> dict[str, Any]:
    key = generate_key(alg)
    r = api.client.post(
        "/v1/ca/certificates",
        headers=api.auth("issuer"),
        json={
            "profile": "enterprise_signer",
            "subject": {"C": "CN", "O": "深圳示例科技有限公司", "CN": "示例企业签名"},
            "public_key_pem": _pem(key.public_key().spki_der()),
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


def _verify(api: Any, bundle: str, **form: str) -> Any:
    return api.client.post(
        "/v1/verify",
        headers=api.auth("verifier"),
        files={"file": ("chain.pem", bundle.encode(), "application/x-pem-file")},
        data=form,
    )


def test_region_is_public_and_sm2(api: Any) -> None:
    r = api.client.get("/v1/ca")
    assert r.status_code == 200
    body = r.json()
    assert body["region"] == "440000" and {c["name"] for c in body["cas"]} == {"root", "issuing"}
    assert all(c["algorithm"] == "sm2" for c in body["cas"])
    root = parse_certificate(body["trust_anchors_pem"].encode())
    assert root.signature_algorithm["algorithm"].dotted == "1.2.156.10197.1.501"


@pytest.mark.parametrize("alg", ["sm2", "p256"])
def test_issue_then_verify_passes(api: Any, alg: str) -> None:
    issued = _issue(api, alg)
    cert = x509.load_pem_x509_certificate(issued["certificate_pem"].encode())  # pyca parses SM2 certs
    cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [n.value for dp in cdp for n in dp.full_name] == ["http://127.0.0.1:8000/v1/ca/crl/issuing.crl"]
    r = _verify(api, issued["certificate_pem"] + issued["chain_pem"])
    assert r.status_code == 200, r.text
    rep = r.json()
    assert rep["indication"] == "TOTAL_PASSED", rep
    assert rep["reason"]["zh"] and rep["reason"]["en"]
    assert any(c["name"].startswith("revocation") for c in rep["checks"])


def test_revocation_publishes_crl_and_verify_fails(api: Any) -> None:
    issued = _issue(api)
    serial = issued["serial"]
    r = api.client.post(
        f"/v1/ca/certificates/{serial}/revoke", json={"reason": "key_compromise"}, headers=api.auth("issuer")
    )
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    assert (
        api.client.post(f"/v1/ca/certificates/{serial}/revoke", json={}, headers=api.auth("issuer")).status_code == 409
    )
    der = api.client.get("/v1/ca/crl/issuing.crl").content
    parse_crl(der)  # our parser accepts it
    assert int(serial, 16) in {r.serial_number for r in x509.load_der_x509_crl(der)}
    rep = _verify(api, issued["certificate_pem"] + issued["chain_pem"]).json()
    assert rep["indication"] == "TOTAL_FAILED" and rep["sub_indication"] == "REVOKED"


def test_validation_time_outside_validity(api: Any) -> None:
    issued = _issue(api)
    past = (datetime.now(UTC) - timedelta(days=400)).isoformat()
    rep = _verify(api, issued["certificate_pem"] + issued["chain_pem"], at=past).json()
    assert rep["indication"] != "TOTAL_PASSED"


def test_foreign_chain_is_not_trusted(api: Any, tmp_path: Path) -> None:
    from keys.ca import Region

    other = Region.init(
        tmp_path / "pki", region="510000", passphrase=b"another passphrase", at=datetime.now(UTC), scrypt_n=1 << 10
    )
    issued = other.ca().issue(
        subject="C=CN,CN=Sichuan signer",
        profile="enterprise_signer",
        public_key=generate_key("sm2").public_key(),
        at=datetime.now(UTC),
    )
    rep = _verify(api, issued.pem.decode() + other.chain_pem().decode()).json()
    assert rep["indication"] != "TOTAL_PASSED"


def test_bad_input_is_problem_not_500(api: Any) -> None:
    for payload in (b"", b"garbage", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", b"%PDF-1.7\n"):
        r = api.client.post("/v1/verify", headers=api.auth("verifier"), files={"file": ("x", payload)})
        assert r.status_code == 400, (payload, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    r = _verify(api, "x", at="yesterday")
    assert r.status_code == 400 and r.json()["field"] == "at"
    assert api.client.post("/v1/verify", files={"file": ("x", b"x")}).status_code == 401
    r = api.client.post(
        "/v1/ca/certificates", headers=api.auth("verifier"), json={"profile": "x", "subject": {}, "public_key_pem": ""}
    )
    assert r.status_code == 403
    r = api.client.post(
        "/v1/ca/certificates",
        headers=api.auth("issuer"),
        json={
            "profile": "no_such_profile",
            "subject": {"CN": "x"},
            "public_key_pem": _pem(generate_key("sm2").public_key().spki_der()),
        },
    )
    assert r.status_code == 400
    assert api.client.get("/v1/ca/certificates/abcdef", headers=api.auth("staff")).status_code == 404
    assert api.client.get("/v1/ca/crl/nope.crl").status_code == 404


INTEROP = Path(__file__).resolve().parents[1].parent / "shared" / "interop"


def test_front_door_dispatches_every_kind(api: Any) -> None:
    """One endpoint, the same verdicts as the library, for each artefact kind."""
    samples = INTEROP / "sm2-sm3" / "emmansun-gmsm-samples"
    cases = [
        # (file, extra form files, expected indication, expected artefact)
        ("ofd-ses-seals/seals/SESealData.DER", {}, "TOTAL_FAILED", "seal"),
        ("ofd-ses-seals/ofd/helloworld-unsigned.ofd", {}, "INDETERMINATE", "ofd"),
        (
            "sm2-sm3/emmansun-gmsm-samples/cfca_sadk_signeddata_detached.p7",
            {"data": ("c.txt", (samples / "cfca_sadk_detached_content.txt").read_bytes())},
            "INDETERMINATE",  # signature valid, but its CA is not in this region's trust
            "cms",
        ),
    ]
    for rel, extra, indication, artefact in cases:
        files = {"file": ("f", (INTEROP / rel).read_bytes()), **extra}
        r = api.client.post("/v1/verify", headers=api.auth("staff"), files=files)
        assert r.status_code == 200, (rel, r.text)
        body = r.json()
        assert (body["indication"], body["artefact"]) == (indication, artefact), (rel, body["reason"])
    # detached content that does not match: the CFCA signature no longer verifies
    r = api.client.post(
        "/v1/verify",
        headers=api.auth("staff"),
        files={"file": ("f", (samples / "cfca_sadk_signeddata_detached.p7").read_bytes()), "data": ("c", b"tampered")},
    )
    assert r.json()["indication"] == "TOTAL_FAILED"
    # detached data with a certificate makes no sense: a clear 400
    pem = api.client.get("/v1/ca").json()["trust_anchors_pem"].encode()
    r = api.client.post("/v1/verify", headers=api.auth("staff"), files={"file": ("f", pem), "data": ("d", b"x")})
    assert r.status_code == 400 and r.json()["field"] == "data"


def test_printable_html_report(api: Any) -> None:
    issued = _issue(api)
    bundle = (issued["certificate_pem"] + issued["chain_pem"]).encode()
    r = api.client.post("/v1/verify?format=html", headers=api.auth("verifier"),
                        files={"file": ("chain.pem", bundle, "application/x-pem-file")})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "验证通过 / VALID" in r.text and "示例企业签名" in r.text
    revoked = api.client.post(f"/v1/ca/certificates/{issued['serial']}/revoke", json={"reason": "key_compromise"},
                              headers=api.auth("issuer"))
    assert revoked.status_code == 200
    bad = api.client.post("/v1/verify?format=html", headers=api.auth("verifier"),
                          files={"file": ("chain.pem", bundle, "application/x-pem-file")})
    assert "验证失败 / INVALID" in bad.text and "REVOKED" in bad.text
    qr = api.client.post("/v1/verify?format=html", headers=api.auth("verifier"), json={"qr": "HC1:not-a-code"})
    assert qr.status_code in (200, 400)
    assert api.client.post("/v1/verify?format=pdf", headers=api.auth("verifier"),
                           files={"file": ("chain.pem", bundle)}).status_code == 422
