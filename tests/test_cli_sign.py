"""``esign sign FILE``: PDF, OFD, SES seal signature and CMS, each verified by ``esign verify``."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from api.cli import main
from keys.pkcs8 import encrypt_private_key
from keys.x509 import cert_to_pem
from tests.test_pdf_sign import blank_pdf
from tests.test_ses_sign_verify import T0, Pki, make_pki, new_seal

INTEROP = Path(__file__).resolve().parents[1].parent / "shared" / "interop"
AT = (T0 + timedelta(hours=2)).isoformat()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("sign")
    pki: Pki = make_pki()
    (d / "pass").write_text("sign-test-passphrase\n")
    (d / "key.pem").write_bytes(
        encrypt_private_key(pki.signer_key, passphrase=b"sign-test-passphrase", scrypt_n=1 << 10)
    )
    (d / "cert.pem").write_bytes(cert_to_pem(pki.signer))
    (d / "root.pem").write_bytes(cert_to_pem(pki.root))
    (d / "seal.esl").write_bytes(new_seal(pki))
    (d / "doc.txt").write_bytes("申请书 application form\n".encode())
    (d / "doc.pdf").write_bytes(blank_pdf())
    (d / "doc.ofd").write_bytes((INTEROP / "ofd-ses-seals/ofd/helloworld-unsigned.ofd").read_bytes())
    return {"dir": d, "pki": pki}


def _sign(files: dict[str, Any], name: str, out: str, *extra: str) -> Any:
    d = files["dir"]
    args = [
        "sign",
        str(d / name),
        "--out",
        str(d / out),
        "--key",
        str(d / "key.pem"),
        "--passphrase-file",
        str(d / "pass"),
        "--cert",
        str(d / "cert.pem"),
        "--at",
        AT,
        *extra,
    ]
    return CliRunner().invoke(main, args)


def _verify(files: dict[str, Any], name: str, *extra: str) -> tuple[int, dict[str, Any]]:
    d = files["dir"]
    r = CliRunner().invoke(main, ["verify", str(d / name), "--trust", str(d / "root.pem"), "--at", AT, *extra])
    return r.exit_code, json.loads(r.output) if r.output.startswith("{") else {}


def test_data_with_seal_is_ses_signature(files: dict[str, Any]) -> None:
    d = files["dir"]
    r = _sign(files, "doc.txt", "doc.sig", "--seal", str(d / "seal.esl"))
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["kind"] == "ses_signature"
    code, rep = _verify(files, "doc.sig", "--data", str(d / "doc.txt"))
    assert (code, rep["indication"], rep["artefact"]) == (0, "TOTAL_PASSED", "ses_signature"), rep.get("reason")
    code, rep = _verify(files, "doc.sig", "--data", str(d / "pass"))  # other data: hash failure
    assert code == 1 and rep["sub_indication"] == "HASH_FAILURE"


def test_data_without_seal_is_cms(files: dict[str, Any]) -> None:
    d = files["dir"]
    assert _sign(files, "doc.txt", "doc.p7s").exit_code == 0
    code, rep = _verify(files, "doc.p7s", "--data", str(d / "doc.txt"))
    assert (code, rep["indication"], rep["artefact"]) == (0, "TOTAL_PASSED", "cms"), rep.get("reason")
    assert _sign(files, "doc.txt", "doc-att.p7s", "--attached").exit_code == 0
    assert _verify(files, "doc-att.p7s")[0] == 0


def test_ofd_with_seal(files: dict[str, Any]) -> None:
    d = files["dir"]
    r = _sign(files, "doc.ofd", "signed.ofd", "--seal", str(d / "seal.esl"), "--page", "1", "--x", "30", "--y", "40")
    assert r.exit_code == 0, r.output
    code, rep = _verify(files, "signed.ofd")
    assert (code, rep["indication"]) == (0, "TOTAL_PASSED"), rep.get("reason")
    # an OFD needs a seal; nothing is written on refusal
    r = _sign(files, "doc.ofd", "unsealed.ofd")
    assert r.exit_code == 2 and not (d / "unsealed.ofd").exists()


def test_pdf_with_seal_picture_as_stamp(files: dict[str, Any]) -> None:
    d = files["dir"]
    r = _sign(files, "doc.pdf", "signed.pdf", "--seal", str(d / "seal.esl"), "--page", "1")
    assert r.exit_code == 0, r.output
    body = (d / "signed.pdf").read_bytes()
    assert body.startswith(b"%PDF-") and b"/ByteRange" in body and b"/Subtype /Image" in body


def test_bad_input_writes_nothing(files: dict[str, Any]) -> None:
    d = files["dir"]
    (d / "broken.pdf").write_bytes(b"%PDF-1.7\n garbage")
    r = _sign(files, "broken.pdf", "broken-out.pdf")
    assert r.exit_code == 2 and not (d / "broken-out.pdf").exists()
    assert json.loads(r.stderr)["error"]["zh"]
    (d / "wrong").write_text("not the passphrase\n")
    args = [
        "sign",
        str(d / "doc.txt"),
        "--out",
        str(d / "x.p7s"),
        "--key",
        str(d / "key.pem"),
        "--passphrase-file",
        str(d / "wrong"),
        "--cert",
        str(d / "cert.pem"),
    ]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2 and json.loads(r.stderr)["error"]["code"] == "wrong_passphrase"
    assert not (d / "x.p7s").exists()
