"""Seals over HTTP and CLI, the SQL seal register (SQLite and PostgreSQL) and the usage log (用印记录)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect, text

from api.bootstrap_ses import DEMO_ENTERPRISE, bootstrap
from api.cli.seal import seal as seal_cli
from api.routes.seals import router
from api.storage.db import Database, run_migrations
from esign.formats.ses import parse_unverified_seal
from esign.ports import SealStatus, SealUsage
from keys.hashing import sm3
from tests.conftest import make_settings, open_app
from tests.test_ses_sign_verify import T0, make_pki, new_seal, png_bytes
from verifier.pki import TrustStore
from verifier.report import Indication
from verifier.ses import verify_ses_signature

SEAL_TABLES = {"seals", "seal_status_history", "seal_usage"}


# --- migration and SQL register on both databases ---------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 's.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    d = Database(url)
    yield d
    d.dispose()


def test_migration_and_register_round_trip(db: Database) -> None:
    from api.storage.audit import SqlAuditLog
    from api.storage.seals import SqlSealRegister

    run_migrations(db)
    run_migrations(db)
    assert set(inspect(db.engine).get_table_names()) >= SEAL_TABLES
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0005_objection_once"
    audit = SqlAuditLog(db, clock=lambda: T0)
    reg = SqlSealRegister(db, audit=audit)
    pki = make_pki()
    der = new_seal(pki, seal_id="SQL-1")
    rec = reg.add(der, region="440000", enterprise="E1", at=T0, actor="p_1")
    assert rec.status is SealStatus.LISTED and reg.get("SQL-1").der == der
    with pytest.raises(Exception) as exc:
        reg.add(der, region="440000", enterprise="E1", at=T0, actor="p_1")
    assert getattr(exc.value, "code", "") == "conflict"
    reg.set_status("SQL-1", SealStatus.SUSPENDED, reason="lost", at=T0 + timedelta(hours=1), actor="p_1")
    reg.set_status("SQL-1", SealStatus.LISTED, reason="found", at=T0 + timedelta(hours=2), actor="p_1")
    reg.set_status("SQL-1", SealStatus.REVOKED, reason="closed", at=T0 + timedelta(hours=3), actor="p_1")
    with pytest.raises(Exception) as exc:
        reg.set_status("SQL-1", SealStatus.LISTED, reason="", at=T0 + timedelta(hours=4), actor="p_1")
    assert getattr(exc.value, "code", "") == "conflict"
    assert reg.status_at("SQL-1", T0 - timedelta(seconds=1)) is None
    assert reg.status_at("SQL-1", T0 + timedelta(minutes=90)) is SealStatus.SUSPENDED
    assert reg.status_at("SQL-1", T0 + timedelta(minutes=150)) is SealStatus.LISTED
    assert reg.status_at("SQL-1", T0 + timedelta(days=1)) is SealStatus.REVOKED
    assert [h.status for h in reg.history("SQL-1")] == [SealStatus.LISTED, SealStatus.SUSPENDED, SealStatus.LISTED,
                                                        SealStatus.REVOKED]
    assert [r.seal_id for r in reg.list(region="440000", enterprise="E1")] == ["SQL-1"]
    assert reg.list(region="510000") == []
    reg.record(SealUsage(seal_id="SQL-1", enterprise="E1", actor="p_2", data_hash_hex="ab" * 32,
                         signature_sha256="cd" * 32, at=T0 + timedelta(minutes=30), client="10.0.0.7",
                         property_info="doc-1", key_id="440000.k"))
    assert [u.client for u in reg.query(enterprise="E1")] == ["10.0.0.7"]
    assert reg.query(seal_id="other") == []
    entries = audit.page(limit=100)
    assert [e.action for e in entries] == ["seal.register", "seal.suspended", "seal.listed", "seal.revoked",
                                           "seal.use"]
    assert "10.0.0.7" not in json.dumps([dict(e.details) for e in entries])  # address only hashed in the chain
    assert audit.verify().intact


# --- HTTP --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Any:
    settings = make_settings(tmp_path_factory.mktemp("seals") / "var", demo_pki=True)
    for handle in open_app(settings, extra_routers=[router]):
        bootstrap(settings, at=datetime.now(UTC))
        bootstrap(settings, at=datetime.now(UTC))  # idempotent
        yield handle


def _demo_seal(api: Any) -> dict[str, Any]:
    r = api.client.get("/v1/seals", params={"enterprise": DEMO_ENTERPRISE}, headers=api.auth("signer"))
    assert r.status_code == 200, r.text
    assert len(r.json()) == 1
    return r.json()[0]


def _trust(api: Any) -> TrustStore:
    from verifier.chain import load_trust_store

    pem = api.client.get("/v1/ca").json()["trust_anchors_pem"]
    p = api.settings.data_dir / "anchors.pem"
    p.write_text(pem)
    return load_trust_store([str(p)])


def _chain(api: Any) -> list[Any]:
    """The region's CA certificates: the intermediates a verifier of this region's seals holds."""
    from keys.x509 import parse_certificate

    return [parse_certificate(ca["certificate_pem"].encode()) for ca in api.client.get("/v1/ca").json()["cas"]]


def test_bootstrap_made_a_demo_seal(api: Any) -> None:
    seal = _demo_seal(api)
    assert seal["status"] == "listed" and seal["version"] == 4 and seal["picture_type"] == "PNG"
    der = api.client.get(f"/v1/seals/{seal['seal_id']}/esl", headers=api.auth("verifier")).content
    from verifier.ses import verify_seal

    rep = verify_seal(der, trust=_trust(api), at=datetime.now(UTC), intermediates=_chain(api))
    assert rep.indication is Indication.TOTAL_PASSED, rep.to_dict()


def test_sign_records_usage_and_verifies(api: Any) -> None:
    seal = _demo_seal(api)
    sid = seal["seal_id"]
    key_id = f"{api.settings.region}.demo-enterprise"
    doc = b"application form v1"
    r = api.client.post(f"/v1/seals/{sid}/sign", headers=api.auth("signer"),
                        json={"key_id": key_id, "data_b64": base64.b64encode(doc).decode(), "property_info": "form-1"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["data_hash_hex"] == sm3(doc).hex()
    der = base64.b64decode(out["signature_b64"])
    rep = verify_ses_signature(der, data=doc, trust=_trust(api), at=datetime.now(UTC) + timedelta(minutes=1),
                               intermediates=_chain(api))
    assert rep.indication is Indication.TOTAL_PASSED, rep.to_dict()
    uses = api.client.get(f"/v1/seals/{sid}/usage", headers=api.auth("admin")).json()
    assert uses[0]["data_hash_hex"] == sm3(doc).hex() and uses[0]["client"] and uses[0]["key_id"] == key_id
    by_ent = api.client.get("/v1/seal-usage", params={"enterprise": DEMO_ENTERPRISE}, headers=api.auth("admin"))
    assert by_ent.status_code == 200 and any(u["signature_sha256"] == out["signature_sha256"] for u in by_ent.json())
    audit = api.client.get("/v1/audit", headers=api.auth("admin"), params={"limit": 500})
    assert audit.status_code == 200, audit.text
    assert any(e["action"] == "seal.use" and e["object_id"] == sid for e in audit.json()["items"])
    # by hash
    r = api.client.post(f"/v1/seals/{sid}/sign", headers=api.auth("signer"),
                        json={"key_id": key_id, "data_hash_hex": sm3(doc).hex()})
    assert r.status_code == 200, r.text


def test_make_suspend_reinstate_revoke(api: Any) -> None:
    key_id = f"{api.settings.region}.demo-enterprise"
    body = {"enterprise": "91440300TEST00002X", "name": "测试公司公章", "signer_key_ids": [key_id],
            "picture_b64": base64.b64encode(png_bytes()).decode(), "valid_days": 30}
    r = api.client.post("/v1/seals", headers=api.auth("issuer"), json=body)
    assert r.status_code == 201, r.text
    sid = r.json()["seal_id"]
    assert api.client.post("/v1/seals", headers=api.auth("signer"), json=body).status_code == 403
    sign = {"key_id": key_id, "data_b64": base64.b64encode(b"x").decode()}
    assert api.client.post(f"/v1/seals/{sid}/suspend", headers=api.auth("issuer"),
                           json={"reason": "lost"}).json()["status"] == "suspended"
    r = api.client.post(f"/v1/seals/{sid}/sign", headers=api.auth("signer"), json=sign)
    assert r.status_code == 409 and r.json()["code"] == "seal_revoked"
    assert api.client.post(f"/v1/seals/{sid}/reinstate", headers=api.auth("issuer"), json={}).status_code == 200
    assert api.client.post(f"/v1/seals/{sid}/sign", headers=api.auth("signer"), json=sign).status_code == 200
    assert api.client.post(f"/v1/seals/{sid}/revoke", headers=api.auth("issuer"), json={}).status_code == 200
    assert api.client.post(f"/v1/seals/{sid}/revoke", headers=api.auth("issuer"), json={}).status_code == 409
    assert api.client.post(f"/v1/seals/{sid}/sign", headers=api.auth("signer"), json=sign).status_code == 409
    detail = api.client.get(f"/v1/seals/{sid}", headers=api.auth("verifier")).json()
    assert [h["status"] for h in detail["history"]] == ["listed", "suspended", "listed", "revoked"]
    revoked = api.client.get("/v1/seals", params={"status": "revoked"}, headers=api.auth("admin")).json()
    assert [s["seal_id"] for s in revoked] == [sid]


def test_bad_input_is_typed(api: Any) -> None:
    key_id = f"{api.settings.region}.demo-enterprise"
    base = {"enterprise": "91440300TEST00003X", "name": "x", "signer_key_ids": [key_id]}
    r = api.client.post("/v1/seals", headers=api.auth("issuer"),
                        json={**base, "picture_b64": base64.b64encode(b"not an image").decode()})
    assert r.status_code == 400 and r.json()["field"] == "picture"
    r = api.client.post("/v1/seals", headers=api.auth("issuer"), json={**base, "signer_key_ids": []})
    assert r.status_code == 400
    assert api.client.get("/v1/seals/NOPE", headers=api.auth("admin")).status_code == 404
    sid = _demo_seal(api)["seal_id"]
    r = api.client.post(f"/v1/seals/{sid}/sign", headers=api.auth("signer"),
                        json={"key_id": f"{api.settings.region}.seal-maker", "data_b64": "eA=="})
    assert r.status_code == 403 and r.json()["code"] == "signer_not_in_seal"
    r = api.client.post(f"/v1/seals/{sid}/sign", headers=api.auth("signer"), json={"key_id": key_id})
    assert r.status_code == 400
    r = api.client.post(f"/v1/seals/{sid}/sign", headers=api.auth("signer"),
                        json={"key_id": key_id, "data_b64": "***"})
    assert r.status_code == 400


# --- CLI (offline, on files) -------------------------------------------------------------------


def test_cli_make_sign_verify_show(tmp_path: Path) -> None:
    from keys.pkcs8 import encrypt_private_key
    from keys.x509 import cert_to_pem

    pki = make_pki(start=datetime.now(UTC) - timedelta(days=1))
    (tmp_path / "pass").write_bytes(b"correct horse battery\n")
    (tmp_path / "maker.key").write_bytes(encrypt_private_key(pki.maker_key, passphrase=b"correct horse battery",
                                                             scrypt_n=1 << 10))
    (tmp_path / "signer.key").write_bytes(encrypt_private_key(pki.signer_key, passphrase=b"correct horse battery",
                                                              scrypt_n=1 << 10))
    (tmp_path / "maker.pem").write_bytes(cert_to_pem(pki.maker))
    (tmp_path / "signer.pem").write_bytes(cert_to_pem(pki.signer))
    (tmp_path / "root.pem").write_bytes(cert_to_pem(pki.root))
    (tmp_path / "pic.png").write_bytes(png_bytes())
    (tmp_path / "doc.txt").write_bytes(b"hello seal")
    run = CliRunner()
    r = run.invoke(seal_cli, ["make", "--maker-key", str(tmp_path / "maker.key"), "--passphrase-file",
                              str(tmp_path / "pass"), "--maker-cert", str(tmp_path / "maker.pem"),
                              "--signer-cert", str(tmp_path / "signer.pem"), "--id", "CLI-1", "--name", "CLI 章",
                              "--picture", str(tmp_path / "pic.png"), "--days", "30",
                              "--out", str(tmp_path / "s.esl")])
    assert r.exit_code == 0, r.output
    assert parse_unverified_seal((tmp_path / "s.esl").read_bytes()).seal_id == "CLI-1"
    r = run.invoke(seal_cli, ["show", str(tmp_path / "s.esl")])
    assert r.exit_code == 0 and json.loads(r.output)["name"] == "CLI 章"
    r = run.invoke(seal_cli, ["sign", str(tmp_path / "doc.txt"), "--seal", str(tmp_path / "s.esl"), "--key",
                              str(tmp_path / "signer.key"), "--passphrase-file", str(tmp_path / "pass"), "--cert",
                              str(tmp_path / "signer.pem"), "--out", str(tmp_path / "doc.sig")])
    assert r.exit_code == 0, r.output
    r = run.invoke(seal_cli, ["verify", str(tmp_path / "doc.sig"), "--data", str(tmp_path / "doc.txt"), "--trust",
                              str(tmp_path / "root.pem")])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["indication"] == "TOTAL_PASSED"
    (tmp_path / "doc2.txt").write_bytes(b"hello seal!")
    r = run.invoke(seal_cli, ["verify", str(tmp_path / "doc.sig"), "--data", str(tmp_path / "doc2.txt"), "--trust",
                              str(tmp_path / "root.pem")])
    assert r.exit_code == 1 and json.loads(r.output)["sub_indication"] == "HASH_FAILURE"
    r = run.invoke(seal_cli, ["verify", str(tmp_path / "doc.txt")])
    assert r.exit_code == 3
    # signer not in the seal: typed error, nothing written
    r = run.invoke(seal_cli, ["sign", str(tmp_path / "doc.txt"), "--seal", str(tmp_path / "s.esl"), "--key",
                              str(tmp_path / "maker.key"), "--passphrase-file", str(tmp_path / "pass"), "--cert",
                              str(tmp_path / "maker.pem"), "--out", str(tmp_path / "bad.sig")])
    assert r.exit_code == 2 and not (tmp_path / "bad.sig").exists()
    assert "signer_not_in_seal" in r.output


def test_cli_register_list_suspend_revoke(tmp_path: Path) -> None:
    settings_env = {"ESIGN_DATA_DIR": str(tmp_path / "var"), "ESIGN_DEMO": "false", "ESIGN_DATABASE_URL": ""}
    pki = make_pki(start=datetime.now(UTC) - timedelta(days=1))
    der = new_seal(pki, seal_id="CLI-REG", at=datetime.now(UTC), valid_from=datetime.now(UTC),
                   valid_to=datetime.now(UTC) + timedelta(days=5))
    (tmp_path / "r.esl").write_bytes(der)
    run = CliRunner(env=settings_env)
    r = run.invoke(seal_cli, ["register", str(tmp_path / "r.esl"), "--enterprise", "E9", "--region", "440000"])
    assert r.exit_code == 0, r.output
    r = run.invoke(seal_cli, ["list", "--enterprise", "E9"])
    assert r.exit_code == 0 and [s["seal_id"] for s in json.loads(r.output)] == ["CLI-REG"]
    r = run.invoke(seal_cli, ["suspend", "CLI-REG", "--reason", "lost"])
    assert r.exit_code == 0 and json.loads(r.output)["status"] == "suspended"
    r = run.invoke(seal_cli, ["revoke", "CLI-REG", "--reason", "closed"])
    assert r.exit_code == 0 and json.loads(r.output)["status"] == "revoked"
    r = run.invoke(seal_cli, ["revoke", "CLI-REG"])
    assert r.exit_code == 2
    assert T0  # shared fixtures imported above
