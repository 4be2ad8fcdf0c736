"""HTTP (/v1/sign/pdf, prepare/finish, /v1/pdf/extend) and CLI (``esign pdf``) for PDF signing."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography import x509

from api.cli.pdf import pdf as pdf_cli
from api.routes.pdf import router
from keys.keypairs import generate_key
from keys.pkcs8 import encrypt_private_key
from keys.x509 import cert_to_pem, crl_to_pem
from tests.conftest import make_settings, open_app
from tests.test_pdf_sign import (
    Pki,
    blank_pdf,
    check_sm2_signature,
    encrypted_pdf,
    first_signature_block,
    pdfsig,
    reader,
    seal_png,
)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Any:
    settings = make_settings(tmp_path_factory.mktemp("pdfapi") / "var", demo_pki=True, max_upload_bytes=4 << 20)
    for handle in open_app(settings, extra_routers=[router]):
        from api.deps import SystemClock
        from api.routes.ca import open_region
        from esign.tsa import TimeStampAuthority

        region = open_region(settings)
        key = generate_key("p256")
        now = datetime.now(UTC)
        cert = region.ca().issue(subject={"CN": "test TSA"}, profile="timestamping", public_key=key.public_key(),
                                 at=now).der
        handle.app.state.tsa = TimeStampAuthority(key=key, cert_der=cert, chain=[region.ca().cert.der],
                                                  policy_oid="1.2.156.112233.1.1", clock=SystemClock())
        yield handle


def _key(api: Any, name: str, alg: str) -> str:
    r = api.client.post("/v1/keys", headers=api.auth("signer"), json={"name": name, "alg": alg})
    assert r.status_code == 201, r.text
    return r.json()["key_id"]


def _sign(api: Any, pdf: bytes, **form: Any) -> Any:
    files: dict[str, Any] = {"file": ("in.pdf", pdf, "application/pdf")}
    if "stamp" in form:
        files["stamp"] = ("seal.png", form.pop("stamp"), "image/png")
    return api.client.post("/v1/sign/pdf", headers=api.auth("signer"), files=files,
                           data={k: str(v) for k, v in form.items()})


def test_sign_with_a_store_key_and_a_seal_stamp(api: Any) -> None:
    kid = _key(api, "pdf-seal", "sm2")
    r = _sign(api, blank_pdf(), key_id=kid, level="b-t", page=1, x_mm=120, y_mm=40, stamp=seal_png())
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    cert_pem = api.client.get(f"/v1/keys/{kid}", headers=api.auth("signer")).json()["versions"][0]["certificate_pem"]
    assert cert_pem  # issued on the fly by the demo region and attached
    from keys.x509 import parse_certificate

    check_sm2_signature(r.content, parse_certificate(cert_pem.encode()).der)


def test_sign_b_lta_with_ecdsa_verifies_in_pdfsig(api: Any, tmp_path: Path) -> None:
    kid = _key(api, "pdf-ec", "p256")
    r = _sign(api, blank_pdf(), key_id=kid, level="b-lta")
    assert r.status_code == 200, r.text
    rd = reader(r.content)
    assert "/DSS" in rd.root and len(rd.embedded_timestamp_signatures) == 1
    path = tmp_path / "lta.pdf"
    path.write_bytes(r.content)
    assert "Signature is Valid" in first_signature_block(pdfsig(path))


def test_bad_pdfs_are_400_and_roles_are_enforced(api: Any) -> None:
    kid = _key(api, "pdf-bad", "p256")
    r = _sign(api, b"not a pdf at all", key_id=kid)
    assert r.status_code == 400 and r.json()["code"] == "not_a_pdf", r.text
    r = _sign(api, encrypted_pdf(), key_id=kid)
    assert r.status_code == 400 and r.json()["code"] == "encrypted_pdf"
    r = api.client.post("/v1/sign/pdf", headers=api.auth("verifier"),
                        files={"file": ("a.pdf", blank_pdf(), "application/pdf")}, data={"key_id": kid})
    assert r.status_code == 403
    r = api.client.post("/v1/sign/pdf", files={"file": ("a.pdf", blank_pdf(), "application/pdf")},
                        data={"key_id": kid})
    assert r.status_code == 401


def test_remote_signing_with_late_certificate(api: Any) -> None:
    key = generate_key("p256")
    # The certificate exists before signing (a certificate must be valid at the signing time; X.509
    # notBefore has one-second precision), but the prepare step is not given it: it arrives late.
    issued = api.client.post("/v1/ca/certificates", headers=api.auth("issuer"), json={
        "profile": "enterprise_signer", "subject": {"CN": "remote signer"},
        "public_key_pem": cert_to_pem(key.public_key().spki_der()).decode().replace("CERTIFICATE", "PUBLIC KEY")})
    assert issued.status_code == 201, issued.text
    not_before = x509.load_pem_x509_certificate(issued.json()["certificate_pem"].encode()).not_valid_before_utc
    while datetime.now(UTC) < not_before:  # bounded: at most one second of clock rounding
        time.sleep(0.05)
    r = api.client.post("/v1/sign/pdf/prepare", headers=api.auth("signer"),
                        files={"file": ("a.pdf", blank_pdf(), "application/pdf")},
                        data={"key_type": "p256", "level": "b-t", "page": "1"})
    assert r.status_code == 200, r.text
    prep = r.json()
    sig = key.sign(base64.b64decode(prep["data_to_sign_b64"]))
    cert_pem = issued.json()["certificate_pem"]
    body = {"id": prep["id"], "state": prep["state"], "signature_b64": base64.b64encode(sig).decode(),
            "cert_pem": cert_pem}
    tampered = dict(body, state=prep["state"][:-3] + "AAA")
    assert api.client.post("/v1/sign/pdf/finish", headers=api.auth("signer"), json=tampered).status_code == 400
    r = api.client.post("/v1/sign/pdf/finish", headers=api.auth("signer"), json=body)
    assert r.status_code == 200, r.text
    s = reader(r.content).embedded_signatures[0]
    assert s.sig_object["/SubFilter"] == "/adbe.pkcs7.detached"
    assert api.client.post("/v1/sign/pdf/finish", headers=api.auth("signer"), json=body).status_code == 404


def test_extend_over_http(api: Any) -> None:
    kid = _key(api, "pdf-ext", "p256")
    signed = _sign(api, blank_pdf(), key_id=kid).content
    r = api.client.post("/v1/pdf/extend", headers=api.auth("signer"),
                        files={"file": ("s.pdf", signed, "application/pdf")}, data={"level": "lta"})
    assert r.status_code == 200, r.text
    assert len(reader(r.content).embedded_timestamp_signatures) == 1
    r = api.client.post("/v1/pdf/extend", headers=api.auth("signer"),
                        files={"file": ("s.pdf", blank_pdf(), "application/pdf")}, data={"level": "lta"})
    assert r.status_code == 400


# -- CLI --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("pdfcli")
    pki = Pki(base)
    key, cert = pki.keys["p256"]
    tkey, tcert = pki.issue("p256", at=datetime.now(UTC) - timedelta(hours=1), profile="timestamping")
    skey, scert = pki.issue("p256", at=datetime.now(UTC) - timedelta(hours=1))
    out = {"pdf": base / "in.pdf", "key": base / "k.pem", "cert": base / "c.pem", "chain": base / "chain.pem",
           "tsa_key": base / "tk.pem", "tsa_cert": base / "tc.pem", "crl": base / "ca.crl", "pw": base / "pw",
           "state_key": base / "sk", "png": base / "seal.png", "enc": base / "enc.pdf", "dir": base}
    out["pdf"].write_bytes(blank_pdf())
    out["enc"].write_bytes(encrypted_pdf())
    out["pw"].write_bytes(b"cli-passphrase\n")
    out["pw"].chmod(0o600)
    out["key"].write_bytes(encrypt_private_key(skey, passphrase=b"cli-passphrase", scrypt_n=2**10))
    out["cert"].write_bytes(cert_to_pem(scert))
    out["chain"].write_bytes(b"".join(cert_to_pem(c) for c in pki.chain))
    out["tsa_key"].write_bytes(encrypt_private_key(tkey, passphrase=b"cli-passphrase", scrypt_n=2**10))
    out["tsa_cert"].write_bytes(cert_to_pem(tcert))
    out["crl"].write_bytes(crl_to_pem(pki.ca.issue_crl(at=datetime.now(UTC))))
    out["state_key"].write_bytes(b"s" * 32)
    out["png"].write_bytes(seal_png())
    del key, cert
    return out


def _tsa(f: dict[str, Path]) -> list[str]:
    return ["--tsa-key", str(f["tsa_key"]), "--tsa-cert", str(f["tsa_cert"]), "--passphrase-file", str(f["pw"])]


def test_cli_sign_lta_then_renew(files: dict[str, Path]) -> None:
    f = files
    out = f["dir"] / "lta.pdf"
    res = CliRunner().invoke(pdf_cli, ["sign", str(f["pdf"]), "--key", str(f["key"]), "--cert", str(f["cert"]),
                                       "--chain", str(f["chain"]), "--level", "b-lta", "--crl", str(f["crl"]),
                                       "--page", "1", "--stamp", str(f["png"]), "--out", str(out), *_tsa(f)])
    assert res.exit_code == 0, res.output
    assert len(reader(out.read_bytes()).embedded_signatures) == 2
    renewed = f["dir"] / "renewed.pdf"
    res = CliRunner().invoke(pdf_cli, ["extend", str(out), "--level", "lta", "--crl", str(f["crl"]),
                                       "--out", str(renewed), *_tsa(f)])
    assert res.exit_code == 0, res.output
    assert len(reader(renewed.read_bytes()).embedded_timestamp_signatures) == 2


def test_cli_bad_input_exits_2_and_writes_nothing(files: dict[str, Path]) -> None:
    f = files
    out = f["dir"] / "never.pdf"
    res = CliRunner().invoke(pdf_cli, ["sign", str(f["enc"]), "--key", str(f["key"]), "--cert", str(f["cert"]),
                                       "--passphrase-file", str(f["pw"]), "--out", str(out)])
    assert res.exit_code == 2
    assert "encrypted" in res.output
    assert not out.exists() and not list(f["dir"].glob(".never.pdf*"))


def test_cli_prepare_and_finish(files: dict[str, Path]) -> None:
    f = files
    prepared, state = f["dir"] / "prep.pdf", f["dir"] / "state.json"
    res = CliRunner().invoke(pdf_cli, ["prepare", str(f["pdf"]), "--key-type", "p256", "--state-key-file",
                                       str(f["state_key"]), "--out", str(prepared), "--state-out", str(state)])
    assert res.exit_code == 0, res.output
    doc = json.loads(state.read_text())
    from keys.pkcs8 import load_private_key

    key = load_private_key(f["key"].read_bytes(), passphrase=b"cli-passphrase")
    sig = f["dir"] / "sig.der"
    sig.write_bytes(key.sign(base64.b64decode(doc["data_to_sign_b64"])))
    out = f["dir"] / "remote.pdf"
    res = CliRunner().invoke(pdf_cli, ["finish", str(prepared), "--state", str(state), "--signature", str(sig),
                                       "--cert", str(f["cert"]), "--chain", str(f["chain"]), "--state-key-file",
                                       str(f["state_key"]), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert reader(out.read_bytes()).embedded_signatures[0].sig_object["/SubFilter"] == "/adbe.pkcs7.detached"
