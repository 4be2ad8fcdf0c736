"""`esign ca` and `esign verify` through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import main

AT = "2025-05-01T00:00:00+00:00"


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "pw").write_text("region passphrase\n")
    (tmp_path / "kpw").write_text("holder passphrase\n")
    return {"d": tmp_path / "region", "pw": tmp_path / "pw", "kpw": tmp_path / "kpw", "tmp": tmp_path}


def _ok(result) -> dict:
    assert result.exit_code == 0, (result.output, result.stderr if hasattr(result, "stderr") else "")
    return json.loads(result.stdout)


def test_init_issue_revoke_crl_verify(env: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    r = CliRunner()
    d, pw = str(env["d"]), str(env["pw"])
    out = _ok(r.invoke(main, ["ca", "init", "--dir", d, "--region", "Sichuan", "--passphrase-file", pw, "--at", AT]))
    assert out["alg"] == "sm2" and "Sichuan Root CA" in out["root"]["subject"]
    bundle = env["tmp"] / "bundle.pem"
    out = _ok(
        r.invoke(
            main,
            [
                "ca",
                "issue",
                "--dir",
                d,
                "--passphrase-file",
                pw,
                "--subject",
                "C=CN,O=Org,CN=Lic",
                "--profile",
                "licence_issuer",
                "--generate",
                "sm2",
                "--key-out",
                str(env["tmp"] / "k.pem"),
                "--key-passphrase-file",
                str(env["kpw"]),
                "--out",
                str(bundle),
                "--at",
                AT,
            ],
        )
    )
    serial = out["certificate"]["serial"]
    assert (env["tmp"] / "k.pem").read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    root = str(env["d"] / "root" / "cert.pem")
    res = r.invoke(main, ["verify", str(bundle), "--trust", root, "--at", "2025-05-02T00:00:00Z"])
    rep = json.loads(res.stdout)
    assert res.exit_code == 0, res.output
    assert rep["indication"] == "TOTAL_PASSED" and rep["sub_indication"] is None
    assert set(rep["reason"]) >= {"zh", "en"} and rep["checks"]
    # Passphrase from the environment variable works too; revoke, then CRL.
    monkeypatch.setenv("ESIGN_CA_PASSPHRASE_FILE", pw)
    _ok(
        r.invoke(
            main,
            [
                "ca",
                "revoke",
                "--dir",
                d,
                "--serial",
                serial,
                "--reason",
                "key_compromise",
                "--at",
                "2025-05-03T00:00:00Z",
            ],
        )
    )
    crl = env["tmp"] / "ca.crl"
    out = _ok(r.invoke(main, ["ca", "crl", "--dir", d, "--out", str(crl), "--at", "2025-05-03T01:00:00Z"]))
    assert out["crl_number"] == 1
    res = r.invoke(main, ["verify", str(bundle), "--trust", root, "--crl", str(crl), "--at", "2025-05-04T00:00:00Z"])
    assert res.exit_code == 1, res.output
    rep = json.loads(res.stdout)
    assert rep["indication"] == "TOTAL_FAILED" and rep["sub_indication"] == "REVOKED"
    # Revocation required but no CRL for the CA level: indeterminate (exit 2), text format readable.
    res = r.invoke(
        main,
        [
            "verify",
            str(bundle),
            "--trust",
            str(env["d"] / "root"),
            "--require-revocation",
            "--at",
            "2025-05-02T00:00:00Z",
            "--format",
            "text",
        ],
    )
    assert res.exit_code == 2 and "INDETERMINATE" in res.stdout
    # No trust anchor at all: indeterminate, never passed.
    assert r.invoke(main, ["verify", str(bundle), "--at", "2025-05-02T00:00:00Z"]).exit_code == 2
    out = _ok(r.invoke(main, ["ca", "show", "--dir", d]))
    assert out["cas"]["issuing"]["issued"][serial]["status"] == "revoked"
    out = _ok(r.invoke(main, ["ca", "rotate", "--dir", d, "--at", "2025-05-05T00:00:00Z"]))
    assert out["ca"] == "issuing"


def test_bad_input_exits_3(env: dict[str, Path]) -> None:
    r = CliRunner()
    garbage = env["tmp"] / "garbage.bin"
    garbage.write_bytes(b"\x00\x01not a certificate at all")
    res = r.invoke(main, ["verify", str(garbage)])
    assert res.exit_code == 3 and "error" in res.stderr
    pdf = env["tmp"] / "doc.pdf"
    pdf.write_bytes(b"%PDF-1.7\n...")
    res = r.invoke(main, ["verify", str(pdf)])
    assert res.exit_code == 3 and "not supported yet" in json.loads(res.stderr)["error"]["en"]
    broken = env["tmp"] / "broken.pem"
    broken.write_bytes(b"-----BEGIN CERTIFICATE-----\nMIIBAA==\n-----END CERTIFICATE-----\n")
    assert r.invoke(main, ["verify", str(broken)]).exit_code == 3
    assert r.invoke(main, ["verify", str(env["tmp"] / "missing.pem")]).exit_code == 3
    # The CA refuses to run without a passphrase file (never on the command line).
    res = r.invoke(main, ["ca", "init", "--dir", str(env["d"]), "--region", "X"])
    assert res.exit_code != 0 and "passphrase" in res.stderr


@pytest.mark.parametrize(
    "cmd",
    [
        [],
        ["ca"],
        ["ca", "init"],
        ["ca", "issue"],
        ["ca", "revoke"],
        ["ca", "crl"],
        ["ca", "rotate"],
        ["ca", "show"],
        ["verify"],
    ],
)
def test_help(cmd: list[str]) -> None:
    res = CliRunner().invoke(main, [*cmd, "--help"])
    assert res.exit_code == 0 and "Usage" in res.output


def test_verify_front_door_kinds_from_the_cli() -> None:
    """esign verify dispatches on the bytes: CMS with --data, seals, OFD; exit codes follow the indication."""
    from pathlib import Path

    from click.testing import CliRunner

    from api.cli import main

    interop = Path(__file__).resolve().parents[1].parent / "shared" / "interop"
    samples = interop / "sm2-sm3" / "emmansun-gmsm-samples"
    runner = CliRunner()
    detached = str(samples / "cfca_sadk_signeddata_detached.p7")
    content = str(samples / "cfca_sadk_detached_content.txt")
    # signature valid, no trust anchor given: INDETERMINATE (exit 2); with the wrong data: FAILED (exit 1)
    assert runner.invoke(main, ["verify", detached, "--data", content]).exit_code == 2
    tampered = runner.invoke(main, ["verify", detached, "--data", str(samples / "kms_signed_digest.b64")])
    assert tampered.exit_code == 1
    assert runner.invoke(main, ["verify", str(interop / "ofd-ses-seals/seals/SESealData.DER")]).exit_code == 1
    # --data on something that is not a detached signature is bad input (exit 3)
    ofd = str(interop / "ofd-ses-seals/ofd/helloworld-unsigned.ofd")
    assert runner.invoke(main, ["verify", ofd, "--data", content]).exit_code == 3


def test_verify_qr_from_cli_and_http(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """esign verify --qr and POST /v1/verify {"qr": ...} give the HC1 verdict the corpus expects."""

    import json
    from pathlib import Path

    from click.testing import CliRunner

    from api.cli import main
    from tests.conftest import make_settings, open_app

    case = json.loads(
        (Path(__file__).resolve().parents[1].parent / "shared/interop/dgc-testdata/AT/2DCode/raw/1.json").read_text()
    )
    assert case["EXPECTEDRESULTS"]["EXPECTEDVERIFY"] is True
    clock = case["TESTCTX"]["VALIDATIONCLOCK"]
    cert = tmp_path / "dsc.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\n" + case["TESTCTX"]["CERTIFICATE"] + "\n-----END CERTIFICATE-----\n")
    runner = CliRunner()
    ok = runner.invoke(main, ["verify", "--qr", case["PREFIX"], "--trust", str(cert), "--at", clock])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["indication"] == "TOTAL_PASSED"
    # without the signer certificate nothing vouches for the KID: not PASSED
    assert runner.invoke(main, ["verify", "--qr", case["PREFIX"], "--at", clock]).exit_code in (1, 2)
    # a flipped Base45 character breaks the signature or the decoding, never PASSED
    bad = case["PREFIX"][:-6] + ("A" if case["PREFIX"][-6] != "A" else "B") + case["PREFIX"][-5:]
    assert runner.invoke(main, ["verify", "--qr", bad, "--trust", str(cert), "--at", clock]).exit_code != 0
    assert runner.invoke(main, ["verify", "--qr", "NOT-A-QR"]).exit_code == 3
    assert runner.invoke(main, ["verify"]).exit_code == 3
    # HTTP: this region imported no trust list vouching for that signer, so it is not PASSED
    for handle in open_app(make_settings(tmp_path / "var")):
        r = handle.client.post("/v1/verify", headers=handle.auth("staff"), json={"qr": case["PREFIX"], "at": clock})
        assert r.status_code == 200 and r.json()["indication"] != "TOTAL_PASSED"
        r = handle.client.post("/v1/verify", headers=handle.auth("staff"), json={"qr": "garbage"})
        assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")
        r = handle.client.post("/v1/verify", headers=handle.auth("staff"), json={"nope": 1})
        assert r.status_code == 400 and r.json()["field"] == "qr"



def test_verify_html_report() -> None:
    """--format html prints a self-contained page with the verdict in Chinese and English."""
    from pathlib import Path

    from click.testing import CliRunner

    from api.cli import main

    seal = Path(__file__).resolve().parents[1].parent / "shared/interop/ofd-ses-seals/seals/SESealData.DER"
    r = CliRunner().invoke(main, ["verify", str(seal), "--format", "html"])
    assert r.exit_code == 1
    assert r.output.lstrip().lower().startswith("<!doctype html")
    assert "验证失败" in r.output and "INVALID" in r.output
    assert "<script" not in r.output.lower()
