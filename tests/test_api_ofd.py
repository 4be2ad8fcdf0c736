"""``POST /v1/sign/ofd`` and ``esign ofd``: sign with a seal through HTTP and the CLI, verify the result."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from api.cli.ofd import ofd
from api.routes.ofd import router
from api.storage.seals import SqlSealRegister
from esign.ports import SealStatus
from esign.ses import make_seal
from keys.interfaces import SigningKey
from keys.keypairs import generate_key
from keys.pkcs8 import encrypt_private_key
from keys.x509 import build_certificate, cert_to_pem, ext_basic_constraints, ext_key_usage, make_name, parse_certificate
from tests.conftest import open_app
from tests.test_ofd_sign_verify import PNG, UNSIGNED
from verifier.ofd import verify_ofd
from verifier.pki import TrustStore
from verifier.report import Indication

NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class Ca:
    key: SigningKey
    cert: bytes
    name: Any

    def issue(self, spki: bytes, cn: str) -> bytes:
        return build_certificate(subject=make_name(f"C=CN,O=esign api test,CN={cn}"), issuer=self.name,
                                 subject_spki=spki, issuer_key=self.key, not_before=NOW - timedelta(days=1),
                                 not_after=NOW + timedelta(days=365),
                                 extensions=[ext_basic_constraints(ca=False),
                                             ext_key_usage(["digital_signature", "non_repudiation"])])


@pytest.fixture(scope="module")
def ca() -> Ca:
    k = generate_key("sm2")
    name = make_name("C=CN,O=esign api test,CN=API Test Root")
    cert = build_certificate(subject=name, issuer=name, subject_spki=k.public_key().spki_der(), issuer_key=k,
                             not_before=NOW - timedelta(days=2), not_after=NOW + timedelta(days=3650),
                             extensions=[ext_basic_constraints(ca=True), ext_key_usage(["key_cert_sign"])])
    return Ca(key=k, cert=cert, name=name)


def _seal(ca: Ca, signer_cert: bytes, seal_id: str) -> bytes:
    mk = generate_key("sm2")
    mc = ca.issue(mk.public_key().spki_der(), "API Seal Maker")
    return make_seal(maker_key=mk, maker_cert_der=mc, seal_id=seal_id, seal_type=1, name="接口测试章",
                     signer_certs=[signer_cert], valid_from=NOW - timedelta(hours=1), valid_to=NOW + timedelta(days=30),
                     picture=PNG, width_mm=40, height_mm=40, at=NOW)


@pytest.fixture
def handle(settings: Any, ca: Ca) -> Iterator[Any]:
    settings = settings.model_copy(update={"max_upload_bytes": 1 << 20})
    for h in open_app(settings, extra_routers=[router]):
        r = h.client.post("/v1/keys", json={"name": "ofd-signer", "alg": "sm2", "region": "440000"},
                          headers=h.auth("admin"))
        assert r.status_code == 201, r.text
        store = h.app.state.keystore
        spki = store.public_key("440000.ofd-signer").spki_der()
        store.attach_certificate("440000.ofd-signer", 1, ca.issue(spki, "API Signer"))
        yield h


def _post(h: Any, seal: dict[str, Any], *, data: bytes = UNSIGNED, role: str = "signer", **form: Any) -> Any:
    fields = {"key_id": "440000.ofd-signer", "page": "1", "x": "100", "y": "150", **form}
    files: dict[str, Any] = {"file": ("doc.ofd", data, "application/ofd")}
    if "seal_file" in seal:
        files["seal_file"] = ("seal.esl", seal["seal_file"], "application/octet-stream")
    else:
        fields["seal_id"] = seal["seal_id"]
    return h.client.post("/v1/sign/ofd", data=fields, files=files, headers=h.auth(role))


def test_sign_with_uploaded_seal_then_verify(handle: Any, ca: Ca) -> None:
    cert = handle.app.state.keystore.certificate("440000.ofd-signer")
    seal = _seal(ca, cert, "API-UPLOAD-1")
    r = _post(handle, {"seal_file": seal})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/ofd"
    assert r.headers["x-esign-signature-id"] == "1"
    report = verify_ofd(r.content, trust=TrustStore.of([parse_certificate(ca.cert)]), at=NOW + timedelta(minutes=1))
    assert report.indication is Indication.TOTAL_PASSED, report.reason.en
    assert report.signer["signatures"][0]["stamps"][0]["boundary_mm"] == [100.0, 150.0, 40.0, 40.0]


def test_sign_with_registered_seal_records_use_and_refuses_revoked(handle: Any, ca: Ca) -> None:
    cert = handle.app.state.keystore.certificate("440000.ofd-signer")
    seal = _seal(ca, cert, "API-REG-1")
    reg = SqlSealRegister(handle.app.state.db, audit=handle.app.state.audit)
    reg.add(seal, region="440000", enterprise="91440300TEST00001X", at=NOW - timedelta(minutes=5), actor="test")
    r = _post(handle, {"seal_id": "API-REG-1"}, protect="continue")
    assert r.status_code == 200, r.text
    uses = reg.query(seal_id="API-REG-1")
    assert len(uses) == 1 and uses[0].data_hash_hex == r.headers["x-esign-data-hash-sm3"]
    reg.set_status("API-REG-1", SealStatus.REVOKED, reason="test", at=NOW - timedelta(minutes=1), actor="test")
    r = _post(handle, {"seal_id": "API-REG-1"})
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "seal_revoked"
    # The uploaded bytes of a registered, revoked seal are refused too.
    assert _post(handle, {"seal_file": seal}).status_code == 409


@pytest.mark.parametrize(("case", "status", "code"), [
    ("corrupt", 400, "bad_ofd"), ("page", 400, "bad_input"), ("other_signer", 403, "signer_not_in_seal"),
    ("unknown_seal", 404, "not_found"), ("verifier_role", 403, None),
])
def test_bad_requests(handle: Any, ca: Ca, case: str, status: int, code: str | None) -> None:
    cert = handle.app.state.keystore.certificate("440000.ofd-signer")
    seal = _seal(ca, cert, "API-BAD-1")
    if case == "corrupt":
        r = _post(handle, {"seal_file": seal}, data=UNSIGNED[: len(UNSIGNED) // 2])
    elif case == "page":
        r = _post(handle, {"seal_file": seal}, page="3")
    elif case == "other_signer":
        other = ca.issue(generate_key("sm2").public_key().spki_der(), "Other")
        r = _post(handle, {"seal_file": _seal(ca, other, "API-BAD-2")})
    elif case == "unknown_seal":
        r = _post(handle, {"seal_id": "NO-SUCH-SEAL"})
    else:
        r = _post(handle, {"seal_file": seal}, role="verifier")
    assert r.status_code == status, r.text
    if code is not None:
        assert r.json()["code"] == code


# ---------------------------------------------------------------------------------------------- CLI


def test_cli_sign_inspect_verify(tmp_path: Path, ca: Ca) -> None:
    key = generate_key("sm2")
    cert = ca.issue(key.public_key().spki_der(), "CLI Signer")
    seal = _seal(ca, cert, "CLI-1")
    (tmp_path / "doc.ofd").write_bytes(UNSIGNED)
    (tmp_path / "seal.esl").write_bytes(seal)
    (tmp_path / "pass.txt").write_bytes(b"correct horse\n")
    (tmp_path / "key.pem").write_bytes(encrypt_private_key(key, passphrase=b"correct horse", scrypt_n=1 << 10))
    (tmp_path / "cert.pem").write_bytes(cert_to_pem(cert))
    (tmp_path / "root.pem").write_bytes(cert_to_pem(ca.cert))
    runner = CliRunner()
    args = ["sign", str(tmp_path / "doc.ofd"), "--seal", str(tmp_path / "seal.esl"), "--key", str(tmp_path / "key.pem"),
            "--passphrase-file", str(tmp_path / "pass.txt"), "--cert", str(tmp_path / "cert.pem"), "--page", "1",
            "--x", "100", "--y", "150", "--out", str(tmp_path / "out.ofd")]
    res = runner.invoke(ofd, args)
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["signature_id"] == "1"
    res = runner.invoke(ofd, ["inspect", str(tmp_path / "out.ofd")])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["signatures"][0]["stamps"][0]["page_ref"] == "1"
    assert "/OFD.xml".lstrip("/") in info["signatures"][0]["protected_files"]
    res = runner.invoke(ofd, ["verify", str(tmp_path / "out.ofd"), "--trust", str(tmp_path / "root.pem")])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["indication"] == "TOTAL_PASSED"
    # Refusals leave nothing behind.
    bad = [*args[:-1], str(tmp_path / "never.ofd")]
    bad[bad.index("--page") + 1] = "9"
    res = runner.invoke(ofd, bad)
    assert res.exit_code == 2 and not (tmp_path / "never.ofd").exists()
    assert json.loads(res.stderr)["error"]["field"] == "page"
    res = runner.invoke(ofd, [*args[:-1], str(tmp_path / "late.ofd"), "--at", (NOW + timedelta(days=60)).isoformat()])
    assert res.exit_code == 1 and not (tmp_path / "late.ofd").exists()
    (tmp_path / "junk.ofd").write_bytes(b"PK\x03\x04junk")
    res = runner.invoke(ofd, ["verify", str(tmp_path / "junk.ofd")])
    assert res.exit_code == 3


def test_cli_verify_plain_signature_with_cert() -> None:
    corpus = Path(__file__).resolve().parents[1].parent / "shared" / "interop" / "ofd-ses-seals"
    res = CliRunner().invoke(ofd, ["verify", str(corpus / "ofd" / "DigitalSign.ofd"), "--cert",
                                   str(corpus / "certs" / "ofdrw-test-cert-2020-extracted.der"),
                                   "--at", "2020-05-01T00:00:00Z"])
    assert res.exit_code == 2, res.output  # crypto valid, no anchor: INDETERMINATE
    assert json.loads(res.output)["sub_indication"] == "NO_CERTIFICATE_CHAIN_FOUND"
