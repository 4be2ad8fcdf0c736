"""``esign key``: generate / sign / verify / show, exit codes, and interop with the OpenSSL CLI."""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from api.cli import main
from keys.keypairs import load_public_key
from tests._services import require_service

ID = "1234567812345678"
INTEROP = Path(__file__).resolve().parents[1].parent / "shared" / "interop"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["key", *args], catch_exceptions=False)


def err(result: Result) -> dict:
    """The JSON error object on stderr (the last JSON line)."""
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    errors = [obj["error"] for obj in lines if "error" in obj]
    assert errors, result.stderr
    return errors[-1]


def ok(result: Result) -> dict:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return json.loads(result.stdout)


@pytest.fixture
def pw(tmp_path: Path) -> Path:
    p = tmp_path / "pass.txt"
    p.write_text("correct horse battery\n")
    return p


@pytest.fixture
def msg(tmp_path: Path) -> Path:
    p = tmp_path / "msg.bin"
    p.write_bytes(b"licence 0001: permit to operate\n" * 10)
    return p


def gen(tmp_path: Path, alg: str, *extra: str) -> tuple[Path, Path]:
    k, p = tmp_path / f"{alg}.key", tmp_path / f"{alg}.pub"
    ok(run("generate", "--alg", alg, "--out", str(k), "--pub-out", str(p), *extra))
    return k, p


# --- help and generate ------------------------------------------------------------------------


@pytest.mark.parametrize("cmd", [[], ["generate"], ["sign"], ["verify"], ["show"]])
def test_help(cmd: list[str]) -> None:
    r = run(*cmd, "--help")
    assert r.exit_code == 0 and "Usage" in r.stdout


@pytest.mark.parametrize("alg", ["sm2", "p256", "rsa2048", "ed25519"])
def test_generate_unencrypted(tmp_path: Path, alg: str) -> None:
    k, p = tmp_path / "k.pem", tmp_path / "p.pem"
    r = run("generate", "--alg", alg, "--out", str(k), "--pub-out", str(p))
    out = ok(r)
    assert stat.S_IMODE(k.stat().st_mode) == 0o600
    assert k.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert "UNENCRYPTED" in r.stderr and "warning" in json.loads(r.stderr.splitlines()[0])
    assert out["encrypted"] is False
    assert out["key_type"] == {"sm2": "sm2", "p256": "p256", "rsa2048": "rsa", "ed25519": "ed25519"}[alg]
    pub = load_public_key(p.read_bytes())
    assert out["spki_sha256"] == hashlib.sha256(pub.spki_der()).hexdigest()
    r_show = run("show", str(k))
    shown = ok(r_show)
    assert shown["spki_sha256"] == out["spki_sha256"] and shown["kind"] == "private key"
    assert ok(run("show", str(p)))["spki_sha256"] == out["spki_sha256"]
    body = b"".join(k.read_bytes().splitlines()[1:-1]).decode()
    for chunk in (body[i : i + 16] for i in range(16, len(body) - 16, 16)):
        assert chunk not in r.stdout + r_show.stdout + r_show.stderr  # no private material printed


def test_generate_rsa3072_bits(tmp_path: Path) -> None:
    k, _ = gen(tmp_path, "rsa3072")
    assert ok(run("show", str(k)))["key_bits"] == 3072


def test_generate_refuses_to_overwrite(tmp_path: Path) -> None:
    k, _ = gen(tmp_path, "sm2")
    before = k.read_bytes()
    r = run("generate", "--alg", "sm2", "--out", str(k))
    assert r.exit_code == 2 and err(r)["field"] == "out" and k.read_bytes() == before
    k.chmod(0o644)
    ok(run("generate", "--alg", "sm2", "--out", str(k), "--force"))
    assert k.read_bytes() != before and stat.S_IMODE(k.stat().st_mode) == 0o600


def test_generate_unknown_alg() -> None:
    assert run("generate", "--alg", "dsa", "--out", "x").exit_code == 2


def test_generate_encrypted(tmp_path: Path, pw: Path, msg: Path) -> None:
    k, p = gen(tmp_path, "sm2", "--passphrase-file", str(pw))
    assert k.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert stat.S_IMODE(k.stat().st_mode) == 0o600
    sig = tmp_path / "sig"
    ok(run("sign", "--key", str(k), "--in", str(msg), "--out", str(sig), "--passphrase-file", str(pw)))
    ok(run("verify", "--key", str(p), "--in", str(msg), "--sig", str(sig)))
    shown = ok(run("show", str(k), "--passphrase-file", str(pw)))
    assert shown["encrypted"] is True and shown["key_type"] == "sm2"


def test_short_or_empty_passphrase(tmp_path: Path) -> None:
    short = tmp_path / "short"
    short.write_text("1234567\n")
    r = run("generate", "--alg", "sm2", "--out", str(tmp_path / "k"), "--passphrase-file", str(short))
    assert r.exit_code == 2 and err(r)["field"] == "passphrase"
    empty = tmp_path / "empty"
    empty.write_text("\n")
    r = run("generate", "--alg", "sm2", "--out", str(tmp_path / "k2"), "--passphrase-file", str(empty))
    assert r.exit_code == 2
    assert not (tmp_path / "k").exists() and not (tmp_path / "k2").exists()


# --- sign / verify ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alg", "extra"),
    [
        ("sm2", []),
        ("sm2", ["--raw"]),
        ("sm2", ["--id", "alice@example.cn"]),
        ("p256", []),
        ("p256", ["--raw"]),
        ("rsa2048", []),
        ("rsa2048", ["--alg-variant", "pss"]),
        ("ed25519", []),
    ],
)
def test_round_trip(tmp_path: Path, msg: Path, alg: str, extra: list[str]) -> None:
    k, p = gen(tmp_path, alg)
    sig = tmp_path / "sig"
    out = ok(run("sign", "--key", str(k), "--in", str(msg), "--out", str(sig), *extra))
    if "--raw" in extra:
        assert len(sig.read_bytes()) == 64 and out["encoding"] == "raw"
    res = ok(run("verify", "--key", str(p), "--in", str(msg), "--sig", str(sig), *extra))
    assert res["valid"] is True
    bad = tmp_path / "bad.bin"
    bad.write_bytes(msg.read_bytes() + b"!")
    r = run("verify", "--key", str(p), "--in", str(bad), "--sig", str(sig), *extra)
    assert r.exit_code == 1 and err(r)["code"] == "invalid_signature" and r.stdout == ""


def test_id_must_match(tmp_path: Path, msg: Path) -> None:
    k, p = gen(tmp_path, "sm2")
    sig = tmp_path / "sig"
    ok(run("sign", "--key", str(k), "--in", str(msg), "--out", str(sig), "--id", "alice"))
    assert run("verify", "--key", str(p), "--in", str(msg), "--sig", str(sig)).exit_code == 1
    assert run("verify", "--key", str(p), "--in", str(msg), "--sig", str(sig), "--id", "bob").exit_code == 1
    ok(run("verify", "--key", str(p), "--in", str(msg), "--sig", str(sig), "--id", "alice"))
    r = run("verify", "--key", str(p), "--in", str(msg), "--sig", str(sig), "--id", "")
    assert r.exit_code == 2 and err(r)["field"] == "id"


def test_pss_is_not_pkcs1(tmp_path: Path, msg: Path) -> None:
    k, p = gen(tmp_path, "rsa2048")
    sig = tmp_path / "sig"
    ok(run("sign", "--key", str(k), "--in", str(msg), "--out", str(sig), "--alg-variant", "pss"))
    assert run("verify", "--key", str(p), "--in", str(msg), "--sig", str(sig)).exit_code == 1


class TestBadInputExitCodes:
    """Every bad input of the issue exits 2 with a JSON error on stderr, never a traceback."""

    def test_wrong_passphrase(self, tmp_path: Path, pw: Path, msg: Path) -> None:
        k, _ = gen(tmp_path, "sm2", "--passphrase-file", str(pw))
        wrong = tmp_path / "wrong"
        wrong.write_text("not the passphrase\n")
        r = run(
            "sign", "--key", str(k), "--in", str(msg), "--out", str(tmp_path / "s"), "--passphrase-file", str(wrong)
        )
        assert r.exit_code == 2 and err(r)["code"] == "wrong_passphrase"
        assert not (tmp_path / "s").exists()
        r = run("show", str(k), "--passphrase-file", str(wrong))
        assert r.exit_code == 2 and err(r)["code"] == "wrong_passphrase"

    def test_missing_passphrase(self, tmp_path: Path, pw: Path, msg: Path) -> None:
        k, _ = gen(tmp_path, "sm2", "--passphrase-file", str(pw))
        r = run("sign", "--key", str(k), "--in", str(msg), "--out", str(tmp_path / "s"))
        assert r.exit_code == 2 and err(r)["field"] == "passphrase"

    @pytest.mark.parametrize("cut", [50, 120, -30])
    def test_truncated_pem_key(self, tmp_path: Path, msg: Path, cut: int) -> None:
        k, p = gen(tmp_path, "sm2")
        t = tmp_path / "t.pem"
        t.write_bytes(k.read_bytes()[:cut])
        r = run("sign", "--key", str(t), "--in", str(msg), "--out", str(tmp_path / "s"))
        assert r.exit_code == 2 and err(r)["code"] in ("bad_key", "bad_input")
        t.write_bytes(p.read_bytes()[:cut])
        r = run("verify", "--key", str(t), "--in", str(msg), "--sig", str(msg))
        assert r.exit_code == 2

    def test_truncated_der_key(self, tmp_path: Path, msg: Path) -> None:
        k, _ = gen(tmp_path, "sm2")
        import base64

        der = base64.b64decode(b"".join(k.read_bytes().splitlines()[1:-1]))
        t = tmp_path / "t.der"
        t.write_bytes(der[:-5])
        r = run("sign", "--key", str(t), "--in", str(msg), "--out", str(tmp_path / "s"))
        assert r.exit_code == 2 and err(r)["code"] == "bad_key"
        t.write_bytes(der)  # the full DER works
        ok(run("sign", "--key", str(t), "--in", str(msg), "--out", str(tmp_path / "s")))

    @pytest.mark.parametrize("alg", ["p256", "rsa2048", "ed25519"])
    def test_non_sm2_key_where_sm2_expected(self, tmp_path: Path, msg: Path, alg: str) -> None:
        k, p = gen(tmp_path, alg)
        r = run("sign", "--key", str(k), "--in", str(msg), "--out", str(tmp_path / "s"), "--id", ID)
        assert r.exit_code == 2 and err(r)["field"] == "id" and "not SM2" in err(r)["en"]
        ok(run("sign", "--key", str(k), "--in", str(msg), "--out", str(tmp_path / "s")))
        r = run("verify", "--key", str(p), "--in", str(msg), "--sig", str(tmp_path / "s"), "--id", ID)
        assert r.exit_code == 2 and err(r)["field"] == "id"

    def test_raw_signature_without_raw_flag(self, tmp_path: Path, msg: Path) -> None:
        k, p = gen(tmp_path, "sm2")
        sig = tmp_path / "sig"
        ok(run("sign", "--key", str(k), "--in", str(msg), "--out", str(sig), "--raw"))
        r = run("verify", "--key", str(p), "--in", str(msg), "--sig", str(sig))
        assert r.exit_code == 2 and err(r)["code"] == "bad_signature_encoding" and "--raw" in err(r)["en"]

    @pytest.mark.parametrize("alg", ["sm2", "p256"])
    def test_der_signature_with_raw_flag(self, tmp_path: Path, msg: Path, alg: str) -> None:
        k, p = gen(tmp_path, alg)
        sig = tmp_path / "sig"
        ok(run("sign", "--key", str(k), "--in", str(msg), "--out", str(sig)))
        r = run("verify", "--key", str(p), "--in", str(msg), "--sig", str(sig), "--raw")
        assert r.exit_code == 2 and err(r)["code"] == "bad_signature_encoding"

    @pytest.mark.parametrize("alg", ["sm2", "p256"])
    def test_ber_signature_is_bad_encoding(self, tmp_path: Path, msg: Path, alg: str) -> None:
        k, p = gen(tmp_path, alg)
        sig = tmp_path / "sig"
        ok(run("sign", "--key", str(k), "--in", str(msg), "--out", str(sig)))
        der = sig.read_bytes()
        sig.write_bytes(b"\x30\x81" + der[1:])  # long-form length
        r = run("verify", "--key", str(p), "--in", str(msg), "--sig", str(sig))
        assert r.exit_code == 2 and err(r)["code"] == "bad_signature_encoding"
        sig.write_bytes(der + b"\x00")
        assert run("verify", "--key", str(p), "--in", str(msg), "--sig", str(sig)).exit_code == 2

    @pytest.mark.parametrize("alg", ["rsa2048", "ed25519"])
    def test_raw_flag_for_keys_without_raw_form(self, tmp_path: Path, msg: Path, alg: str) -> None:
        k, _ = gen(tmp_path, alg)
        r = run("sign", "--key", str(k), "--in", str(msg), "--out", str(tmp_path / "s"), "--raw")
        assert r.exit_code == 2 and err(r)["field"] == "raw"

    def test_pss_for_non_rsa(self, tmp_path: Path, msg: Path) -> None:
        k, _ = gen(tmp_path, "sm2")
        r = run("sign", "--key", str(k), "--in", str(msg), "--out", str(tmp_path / "s"), "--alg-variant", "pss")
        assert r.exit_code == 2

    def test_public_key_to_sign_and_private_key_to_verify(self, tmp_path: Path, msg: Path) -> None:
        k, p = gen(tmp_path, "sm2")
        assert run("sign", "--key", str(p), "--in", str(msg), "--out", str(tmp_path / "s")).exit_code == 2
        ok(run("sign", "--key", str(k), "--in", str(msg), "--out", str(tmp_path / "s")))
        r = run("verify", "--key", str(k), "--in", str(msg), "--sig", str(tmp_path / "s"))
        assert r.exit_code == 2 and err(r)["code"] == "bad_key"

    def test_missing_files(self, tmp_path: Path, msg: Path) -> None:
        k, p = gen(tmp_path, "sm2")
        for args in (
            ["sign", "--key", str(tmp_path / "nope"), "--in", str(msg), "--out", str(tmp_path / "s")],
            ["sign", "--key", str(k), "--in", str(tmp_path / "nope"), "--out", str(tmp_path / "s")],
            ["verify", "--key", str(p), "--in", str(msg), "--sig", str(tmp_path / "nope")],
            ["show", str(tmp_path / "nope")],
        ):
            r = run(*args)
            assert r.exit_code == 2 and "error" in json.loads(r.stderr.splitlines()[-1]), args

    def test_garbage_and_parameter_files(self, tmp_path: Path, msg: Path) -> None:
        junk = tmp_path / "junk"
        junk.write_bytes(b"\x00\x01garbage")
        r = run("show", str(junk))
        assert r.exit_code == 2
        params = INTEROP / "sm2-sm3" / "tongsuo-certs" / "ecparam" / "valid" / "sm2-begin-ec-named.pem"
        r = run("show", str(params))
        assert r.exit_code == 2 and err(r)["code"] == "bad_key"
        r = run("verify", "--key", str(params), "--in", str(msg), "--sig", str(msg))
        assert r.exit_code == 2

    def test_empty_signature_file(self, tmp_path: Path, msg: Path) -> None:
        _, p = gen(tmp_path, "sm2")
        empty = tmp_path / "empty"
        empty.write_bytes(b"")
        assert run("verify", "--key", str(p), "--in", str(msg), "--sig", str(empty)).exit_code == 2


def test_verify_with_kms_public_key_and_certificate_style_input(tmp_path: Path) -> None:
    """A third-party SM2 public key file loads in `esign key show`."""
    pem = INTEROP / "sm2-sm3" / "emmansun-gmsm-samples" / "aliyun_kms_sign_pub.pem"
    shown = ok(run("show", str(pem)))
    assert shown["key_type"] == "sm2" and shown["kind"] == "public key"
    cert = INTEROP / "sm2-sm3" / "tongsuo-certs" / "sm2-root-cert.pem"
    shown = ok(run("show", str(cert)))
    assert shown["kind"] == "certificate" and shown["key_type"] == "sm2"


# --- interop with the OpenSSL CLI -----------------------------------------------------------------


def _openssl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60, check=check)


@pytest.fixture
def openssl() -> None:
    require_service("openssl", shutil.which("openssl") is not None, "the openssl command is not on PATH")


@pytest.mark.openssl_cli
@pytest.mark.usefixtures("openssl")
class TestOpensslInterop:
    def test_esign_signs_openssl_verifies(self, tmp_path: Path, msg: Path) -> None:
        k, p = gen(tmp_path, "sm2")
        sig = tmp_path / "sig.der"
        ok(run("sign", "--key", str(k), "--in", str(msg), "--out", str(sig)))
        out = _openssl("dgst", "-sm3", "-verify", str(p), "-sigopt", f"distid:{ID}", "-signature", str(sig), str(msg))
        assert "Verified OK" in out.stdout
        # and OpenSSL's default (empty ID) rejects it: the interop trap, seen from the other side
        bad = _openssl("dgst", "-sm3", "-verify", str(p), "-signature", str(sig), str(msg), check=False)
        assert bad.returncode != 0 and "Verified OK" not in bad.stdout

    def test_openssl_signs_esign_verifies(self, tmp_path: Path, msg: Path) -> None:
        k, p = tmp_path / "o.key", tmp_path / "o.pub"
        _openssl("genpkey", "-algorithm", "SM2", "-out", str(k))
        _openssl("pkey", "-in", str(k), "-pubout", "-out", str(p))
        sig = tmp_path / "sig.der"
        _openssl("dgst", "-sm3", "-sign", str(k), "-sigopt", f"distid:{ID}", "-out", str(sig), str(msg))
        ok(run("verify", "--key", str(p), "--in", str(msg), "--sig", str(sig)))
        _openssl("dgst", "-sm3", "-sign", str(k), "-out", str(sig), str(msg))  # no distid: empty ID
        r = run("verify", "--key", str(p), "--in", str(msg), "--sig", str(sig))
        assert r.exit_code == 1 and err(r)["code"] == "invalid_signature"
        # the OpenSSL key file signs in esign too
        ok(run("sign", "--key", str(k), "--in", str(msg), "--out", str(sig)))
        ok(run("verify", "--key", str(p), "--in", str(msg), "--sig", str(sig)))

    def test_p256_both_ways(self, tmp_path: Path, msg: Path) -> None:
        k, p = gen(tmp_path, "p256")
        sig = tmp_path / "sig.der"
        ok(run("sign", "--key", str(k), "--in", str(msg), "--out", str(sig)))
        out = _openssl("dgst", "-sha256", "-verify", str(p), "-signature", str(sig), str(msg))
        assert "Verified OK" in out.stdout
        _openssl("dgst", "-sha256", "-sign", str(k), "-out", str(sig), str(msg))
        ok(run("verify", "--key", str(p), "--in", str(msg), "--sig", str(sig)))

    def test_encrypted_key_opens_in_openssl(self, tmp_path: Path, pw: Path) -> None:
        k, p = gen(tmp_path, "sm2", "--passphrase-file", str(pw))
        out = _openssl("pkey", "-in", str(k), "-passin", f"file:{pw}", "-pubout")
        assert load_public_key(out.stdout.encode()).spki_der() == load_public_key(p.read_bytes()).spki_der()

    def test_verify_against_certificate(self, tmp_path: Path, msg: Path) -> None:
        k, _ = gen(tmp_path, "sm2")
        cert = tmp_path / "c.pem"
        _openssl("req", "-x509", "-new", "-key", str(k), "-sm3", "-sigopt", f"distid:{ID}", "-subj", "/CN=t",
                 "-days", "1", "-out", str(cert))  # fmt: skip
        sig = tmp_path / "sig"
        ok(run("sign", "--key", str(k), "--in", str(msg), "--out", str(sig)))
        assert ok(run("verify", "--key", str(cert), "--in", str(msg), "--sig", str(sig)))["valid"] is True


# --- esign speed (smoke: figures exist and are positive; timing is never asserted) ---------------

_MR_SAMPLE = """+DTP:256:sign:CurveSM2:1
+R10:1036:256:CurveSM2:1.00
+DTP:256:verify:CurveSM2:1
+R11:981:256:CurveSM2:1.00
+F7:0:256:CurveSM2:1036.000000:981.000000
+DT:sm3:1:16384
+R:9906:sm3:1.000000
+H:16384
+F:25:sm3:162299904.00
"""


def test_parse_openssl_speed_mr() -> None:
    from keys.speed import parse_openssl_speed

    assert parse_openssl_speed(_MR_SAMPLE) == {"sm2_sign": 1036.0, "sm2_verify": 981.0, "sm3": 162299904.0}
    assert parse_openssl_speed("garbage") == {}


def test_speed_help() -> None:
    r = CliRunner().invoke(main, ["speed", "--help"])
    assert r.exit_code == 0 and "openssl speed" in r.stdout


def test_speed_json_without_openssl() -> None:
    r = CliRunner().invoke(
        main, ["speed", "all", "--seconds", "0.1", "--threads", "2", "--no-openssl", "--json"], catch_exceptions=False
    )
    assert r.exit_code == 0, r.stderr
    rep = json.loads(r.stdout)
    names = [f["name"] for f in rep["figures"]]
    assert names == ["sm2_sign", "sm2_verify", "sm2_sign_threads", "sm3"]
    assert all(f["ours"] > 0 for f in rep["figures"])
    assert rep["figures"][0]["reference"] is None and rep["openssl_cli"] is None
    assert rep["libcrypto"].startswith("OpenSSL 3") and rep["machine"]["logical_cpus"]


@pytest.mark.openssl_cli
@pytest.mark.usefixtures("openssl")
def test_speed_text_with_openssl() -> None:
    r = CliRunner().invoke(main, ["speed", "sm3", "--seconds", "0.2"], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    assert "SM3 16 KiB blocks" in r.stdout and "openssl speed -evp sm3" in r.stdout


def test_speed_bad_options() -> None:
    assert CliRunner().invoke(main, ["speed", "sm9"]).exit_code == 2
    assert CliRunner().invoke(main, ["speed", "--threads", "0"]).exit_code == 2
    assert CliRunner().invoke(main, ["speed", "--seconds", "0"]).exit_code == 2
