"""Licences over HTTP and the CLI: issue, read, download and verify, lifecycle, bulk, catalogue, status lists."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner

from api.routes.licences import router
from esign.ses import make_seal
from keys.keypairs import generate_key
from licences.status import load_status_list
from tests.conftest import AppHandle, open_app, use_service_env
from tests.test_issuance import ID_CARD, T0, World, _png, issue_cert, make_world, person_fields
from verifier.licence import verify_licence
from verifier.report import Indication, SubIndication

AUTH = {"id": "gd-psb", "name": "广东省公安厅", "uscc": "11440000MB2C93715B", "allowed_types": [ID_CARD],
        "key_id": "440000.gd-psb", "seal_id": "440000SEALPSB"}


@pytest.fixture
def env(settings: Any) -> Iterator[tuple[AppHandle, World]]:
    """The app with the licence router, an issuing key with a certificate and a registered seal."""
    from api.bootstrap_ses import open_service_keystore
    from api.storage.seals import SqlSealRegister

    w = make_world()  # only its root key and trust store are used
    for h in open_app(settings, extra_routers=[router]):
        store = open_service_keystore(settings)
        info = store.create_key(AUTH["key_id"], alg="sm2")
        start = T0 - timedelta(days=1)
        cert = issue_cert(w.root_key, "广东省公安厅 电子证照", store.public_key(AUTH["key_id"]), start=start)
        store.attach_certificate(AUTH["key_id"], info.version, cert)
        maker_key = generate_key("sm2")
        maker = issue_cert(w.root_key, "seal maker", maker_key, start=start)
        seal = make_seal(maker_key=maker_key, maker_cert_der=maker, seal_id=AUTH["seal_id"], seal_type=2,
                         name="广东省公安厅证照专用章", signer_certs=[cert], valid_from=start,
                         valid_to=start + timedelta(days=700), picture=_png(), width_mm=40, height_mm=40, at=start)
        SqlSealRegister(h.app.state.db, audit=h.app.state.audit).add(seal, region="440000", enterprise=AUTH["uscc"],
                                                                       at=start, actor="test")
        store.close()
        r = h.client.post("/v1/issuing-authorities", json=AUTH, headers=h.auth("admin"))
        assert r.status_code == 201, r.text
        yield h, w


def test_full_story_over_http(env: tuple[AppHandle, World]) -> None:
    h, w = env
    now = h.app.state.clock.now()
    r = h.client.post("/v1/licences", json={"authority": "gd-psb", "type_code": ID_CARD, "fields": person_fields()},
                      headers=h.auth("issuer"))
    assert r.status_code == 201, r.text
    lic = r.json()
    lid = lic["licence_id"]
    assert lic["metadata"]["ZZBS"] == lid and lic["status"] == "valid" and lic["metadata"]["CZZTDMLXDM"] == "111"
    # read it as a verifier, download the signed licence and the status list, verify offline
    assert h.client.get(f"/v1/licences/{lid}", headers=h.auth("verifier")).status_code == 200
    signed = h.client.get(f"/v1/licences/{lid}/signed", headers=h.auth("verifier"))
    assert signed.status_code == 200 and signed.content.startswith(b'{"format":"esign.signed-licence/1"')
    sl = h.client.get("/v1/status-lists/gd-psb")  # public: no token
    assert sl.status_code == 200 and sl.headers["content-type"].startswith("application/vnd.esign.status-list+cbor")
    assert verify_licence(signed.content, trust=w.trust, at=now, status_list=sl.content).passed
    # correct: a new version supersedes the old one
    r = h.client.post(f"/v1/licences/{lid}/correct", json={"fields": {"address": "广东省深圳市福田区"},
                                                           "reason": "holder moved"}, headers=h.auth("issuer"))
    assert r.status_code == 200, r.text
    new_id = r.json()["licence"]["licence_id"]
    assert r.json()["superseded"]["status"] == "superseded" and r.json()["licence"]["supersedes"] == lid
    old = h.client.get(f"/v1/licences/{lid}", headers=h.auth("verifier")).json()
    assert old["status"] == "superseded" and old["superseded_by"] == new_id
    sl2 = h.client.get("/v1/status-lists/gd-psb").content
    assert sl2 != sl.content
    assert verify_licence(signed.content, trust=w.trust, at=now, status_list=sl2).indication is Indication.TOTAL_FAILED
    # revoke the new version; a second revoke is a 409 and changes nothing
    r = h.client.post(f"/v1/licences/{new_id}/revoke", json={"reason": "fraud"}, headers=h.auth("issuer"))
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    r = h.client.post(f"/v1/licences/{new_id}/revoke", json={"reason": "again"}, headers=h.auth("issuer"))
    assert r.status_code == 409 and r.json()["field"] == "status"
    new_signed = h.client.get(f"/v1/licences/{new_id}/signed", headers=h.auth("verifier")).content
    rep = verify_licence(new_signed, trust=w.trust, at=now,
                         status_list=h.client.get("/v1/status-lists/gd-psb").content)
    assert (rep.indication, rep.sub_indication) == (Indication.TOTAL_FAILED, SubIndication.REVOKED)
    events = h.client.get(f"/v1/licences/{new_id}/events", headers=h.auth("issuer")).json()
    assert [(e["action"], e["reason"]) for e in events] == [("correct", "holder moved"), ("revoke", "fraud")]
    audit = h.client.get("/v1/audit?limit=500", headers=h.auth("admin"))
    assert audit.status_code == 200
    body = json.dumps(audit.json(), ensure_ascii=False)
    assert "licence.correct" in body and "licence.revoke" in body
    assert person_fields()["id_number"] not in body and "张三" not in body
    assert h.client.get("/v1/audit/verify", headers=h.auth("admin")).json()["intact"] is True


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"fields": person_fields(id_number="440106199005171235")}, 422, "id_number"),
    ({"fields": person_fields(name=None)}, 422, "name"),
    ({"fields": person_fields(id_number="91350100M000100Y43")}, 422, "id_number"),
    ({"type_code": "11100000000013127D002", "fields": {}}, 403, "type_code"),
    ({"type_code": "11100000000013127D999", "fields": {}}, 422, "type_code"),
    ({"authority": "nobody", "fields": person_fields()}, 404, "authority"),
])
def test_bad_issue_requests(env: tuple[AppHandle, World], body: dict[str, Any], status: int, field: str) -> None:
    h, _ = env
    req = {"authority": "gd-psb", "type_code": ID_CARD, **body}
    r = h.client.post("/v1/licences", json=req, headers=h.auth("issuer"))
    assert r.status_code == status, r.text
    assert r.json()["field"] == field
    assert h.app.state.licence_service.repo.list_licences() == []


def test_roles(env: tuple[AppHandle, World]) -> None:
    h, _ = env
    req = {"authority": "gd-psb", "type_code": ID_CARD, "fields": person_fields()}
    assert h.client.post("/v1/licences", json=req, headers=h.auth("verifier")).status_code == 403
    assert h.client.post("/v1/licences", json=req).status_code == 401
    lid = h.client.post("/v1/licences", json=req, headers=h.auth("issuer")).json()["licence_id"]
    assert h.client.get(f"/v1/licences/{lid}", headers=h.auth("holder")).status_code == 403
    assert h.client.post("/v1/issuing-authorities", json={**AUTH, "id": "x-y"},
                         headers=h.auth("issuer")).status_code == 403
    assert h.client.get("/v1/status-lists/nobody").status_code == 404


def test_bulk_and_types_over_http(env: tuple[AppHandle, World]) -> None:
    h, _ = env
    ok = person_fields()
    lines = "\n".join([json.dumps(ok, ensure_ascii=False), json.dumps({**ok, "sex": "?"}), json.dumps(ok)])
    r = h.client.post("/v1/licences/bulk", data={"authority": "gd-psb", "type_code": ID_CARD},
                      files={"file": ("register.jsonl", lines.encode(), "application/x-ndjson")},
                      headers=h.auth("issuer"))
    assert r.status_code == 200, r.text
    rep = r.json()
    assert (rep["issued"], rep["failed"]) == (2, 1) and rep["rows"][1]["field"] == "sex"
    types = h.client.get("/v1/licence-types", headers=h.auth("verifier")).json()
    assert ID_CARD in {t["code"] for t in types}
    regional = {"code": "11440000MB2C93715B007", "name_zh": "测试证", "name_en": "Test permit",
                "department_zh": "测试局", "department_en": "Test bureau", "holder_kind": "person",
                "holder_name_field": "name", "holder_id_field": "id", "validity": {"kind": "open_ended"},
                "fields": [{"name": "name", "type": "string", "required": True},
                           {"name": "id", "type": "id_number", "required": True}]}
    r = h.client.post("/v1/licence-types", json=regional, headers=h.auth("admin"))
    assert r.status_code == 201, r.text
    assert h.client.post("/v1/licence-types", json=regional, headers=h.auth("admin")).status_code == 409
    bad = {**regional, "code": "11440000MB2C93715C007"}
    r = h.client.post("/v1/licence-types", json=bad, headers=h.auth("admin"))
    assert r.status_code == 422 and r.json()["field"] == "code"
    assert "11440000MB2C93715B007" in {t["code"] for t in h.client.get("/v1/licence-types",
                                                                        headers=h.auth("issuer")).json()}


def test_cli(env: tuple[AppHandle, World], monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    from api.cli.licence import licence

    h, w = env
    use_service_env(monkeypatch, h.settings)
    run = CliRunner()
    out = tmp_path / "l.json"
    r = run.invoke(licence, ["issue", "--authority", "gd-psb", "--type", ID_CARD, "--fields",
                             json.dumps(person_fields(), ensure_ascii=False), "--out", str(out)])
    assert r.exit_code == 0, r.output
    lid = json.loads(r.output)["licence_id"]
    assert out.read_bytes().startswith(b'{"format":"esign.signed-licence/1"')
    r = run.invoke(licence, ["issue", "--authority", "gd-psb", "--type", ID_CARD, "--fields",
                             json.dumps(person_fields(id_number="440106199005171235"))])
    assert r.exit_code == 2 and '"field": "id_number"' in r.output
    assert run.invoke(licence, ["suspend", lid, "--reason", "check"]).exit_code == 0
    assert run.invoke(licence, ["revoke", lid, "--reason", "x"]).exit_code == 0
    r = run.invoke(licence, ["revoke", lid, "--reason", "x"])
    assert r.exit_code == 2 and "licence_state_conflict" in r.output
    r = run.invoke(licence, ["show", lid])
    assert r.exit_code == 0 and json.loads(r.output)["status"] == "revoked"
    sl = tmp_path / "sl.cbor"
    assert run.invoke(licence, ["status-list", "gd-psb", "--out", str(sl)]).exit_code == 0
    assert load_status_list(sl.read_bytes(), trust=w.trust, at=h.app.state.clock.now()).size == 1
    csv_file = tmp_path / "reg.csv"
    ok = person_fields()
    csv_file.write_text(",".join(ok) + "\n" + ",".join(str(v) for v in ok.values()) + "\n", encoding="utf-8")
    r = run.invoke(licence, ["bulk", str(csv_file), "--type", ID_CARD, "--authority", "gd-psb"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["issued"] == 1
    assert run.invoke(licence, ["types"]).exit_code == 0
