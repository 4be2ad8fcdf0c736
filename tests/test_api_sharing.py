"""Disputes and consent over HTTP and the CLI, and the issue's full story.

Story: a licence is issued in region 440000; a service window in region 510000 objects; the
issuing authority corrects it; the old version then shows as superseded everywhere -- the
licence record, the public status list (so an offline verifier in another region fails it), the
holder's wallet, the objection the filer follows, and a relying party's consent fetch, which
serves the new version.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import AppHandle, use_service_env
from tests.test_api_licences import env  # noqa: F401  (fixture: app + authority gd-psb in 440000)
from tests.test_issuance import ID_CARD, World, person_fields
from verifier.licence import verify_licence
from verifier.licence_qr import read_licence_qr
from verifier.report import Indication, SubIndication


def _principal(h: AppHandle, name: str, role: str, region: str, subject: str | None = None) -> tuple[str, dict]:
    body: dict[str, Any] = {"name": name, "role": role, "region": region}
    if subject is not None:
        body["subject"] = subject
    r = h.client.post("/v1/principals", json=body, headers=h.auth("admin"))
    assert r.status_code == 201, r.text
    return r.json()["id"], {"Authorization": f"Bearer {r.json()['token']}"}


def _issue(h: AppHandle, **over: Any) -> dict:
    r = h.client.post("/v1/licences", json={"authority": "gd-psb", "type_code": ID_CARD,
                                            "fields": person_fields(**over)}, headers=h.auth("issuer"))
    assert r.status_code == 201, r.text
    return r.json()


def test_story_object_from_another_region_correct_superseded_everywhere(env: tuple[AppHandle, World]) -> None:  # noqa: F811
    h, w = env
    now = h.app.state.clock.now()
    holder_id = person_fields()["id_number"]
    _, sc_window = _principal(h, "四川政务服务窗口", "staff", "510000")
    bank_id, sc_bank = _principal(h, "四川某银行", "verifier", "510000")
    _, holder = _principal(h, "张三", "holder", "440000", subject=holder_id)
    lic = _issue(h)
    lid = lic["licence_id"]
    old_signed = h.client.get(f"/v1/licences/{lid}/signed", headers=h.auth("verifier")).content

    # The holder grants a bank in 510000 two fields, before any dispute.
    r = h.client.post("/v1/consents", json={"licence_id": lid, "relying_party": bank_id,
                                            "fields": ["name", "address"], "purpose": "开户核验"}, headers=holder)
    assert r.status_code == 201, r.text
    grant_id = r.json()["id"]
    assert r.json()["relying_party_region"] == "510000" and r.json()["active"] is True

    # 1. Object from another region, with evidence.
    r = h.client.post("/v1/objections", data={"licence_id": lid, "ground": "wrong_data",
                                              "reason": "住址与户籍登记不一致"},
                      files=[("evidence", ("hukou.pdf", b"%PDF-1.7 evidence", "application/pdf"))],
                      headers=sc_window)
    assert r.status_code == 201, r.text
    obj = r.json()
    assert obj["state"] == "filed" and obj["region"] == "440000" and obj["filer_region"] == "510000"
    assert obj["evidence"][0]["size"] == len(b"%PDF-1.7 evidence")
    # It is in the issuing authority's queue; the filer sees it too; others do not.
    queue = h.client.get("/v1/objections", params={"state": "filed"}, headers=h.auth("issuer")).json()
    assert [o["id"] for o in queue] == [obj["id"]]
    assert h.client.get(f"/v1/objections/{obj['id']}", headers=sc_window).json()["state"] == "filed"
    assert h.client.get(f"/v1/objections/{obj['id']}", headers=sc_bank).status_code == 404
    ev = h.client.get(f"/v1/objections/{obj['id']}/evidence/0", headers=h.auth("issuer"))
    assert ev.content == b"%PDF-1.7 evidence" and ev.headers["x-content-sm3"] == obj["evidence"][0]["sm3"]
    # The filer's region cannot decide, and the licence has not changed.
    r = h.client.post(f"/v1/objections/{obj['id']}/decision", json={"accept": False, "reason": "x"},
                      headers=sc_window)
    assert r.status_code == 403
    assert h.client.get(f"/v1/licences/{lid}", headers=h.auth("verifier")).json()["status"] == "valid"

    # 2. The issuing authority corrects.
    r = h.client.post(f"/v1/objections/{obj['id']}/decision",
                      json={"accept": True, "resolution": "corrected", "reason": "核实后更正住址",
                            "fields": {"address": "广东省广州市天河区体育东路2号"}}, headers=h.auth("issuer"))
    assert r.status_code == 200, r.text
    new_id = r.json()["new_licence_id"]
    assert r.json()["state"] == "accepted" and r.json()["licence"]["version"] == 2
    again = h.client.post(f"/v1/objections/{obj['id']}/decision", json={"accept": False, "reason": "again"},
                          headers=h.auth("issuer"))
    assert again.status_code == 409 and again.json()["field"] == "objection_id"

    # 3. Superseded everywhere.
    followed = h.client.get(f"/v1/objections/{obj['id']}", headers=sc_window).json()
    assert followed["state"] == "accepted" and followed["new_licence_id"] == new_id
    old = h.client.get(f"/v1/licences/{lid}", headers=sc_bank).json()
    assert old["status"] == "superseded" and old["superseded_by"] == new_id
    events = h.client.get(f"/v1/licences/{lid}/events", headers=sc_bank).json()
    assert events[-1]["action"] == "supersede" and obj["id"] in events[-1]["reason"]
    status_list = h.client.get("/v1/status-lists/gd-psb").content
    offline = verify_licence(old_signed, trust=w.trust, at=now, status_list=status_list)
    assert offline.indication is Indication.TOTAL_FAILED and offline.sub_indication is SubIndication.REVOKED
    assert "superseded" in offline.reason.en
    new_signed = h.client.get(f"/v1/licences/{new_id}/signed", headers=sc_bank).content
    assert verify_licence(new_signed, trust=w.trust, at=now, status_list=status_list).passed
    mine = h.client.get("/v1/wallet/licences", headers=holder).json()
    assert {(x["licence_id"], x["status"]) for x in mine} == {(lid, "superseded"), (new_id, "valid")}

    # 4. The bank fetches under the grant: the corrected version, only the granted fields, signed by the issuer.
    r = h.client.post(f"/v1/consents/{grant_id}/fetch", headers=sc_bank)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["licence_id"] == new_id
    assert got["disclosed"] == {"name": "张三", "address": "广东省广州市天河区体育东路2号"}
    cert = base64.b64decode(got["signer_certificate_b64"])
    checked = read_licence_qr(got["token"], trust=w.trust, certs=[cert], at=h.app.state.clock.now(),
                              require_status=False)  # verified after it was made
    assert checked.report.indication is Indication.TOTAL_PASSED, checked.report.reason.en
    assert checked.claims is not None and set(checked.claims.disclosed) == {"name", "address"}
    # Another system cannot use the grant; the holder sees both attempts.
    assert h.client.post(f"/v1/consents/{grant_id}/fetch", headers=h.auth("verifier")).status_code == 403
    uses = h.client.get("/v1/wallet/uses", headers=holder).json()
    assert [u["outcome"] for u in uses] == ["refused: not the relying party of this grant", "served"]
    assert uses[1]["licence_id"] == new_id and uses[1]["relying_party_name"] == "四川某银行"
    # The holder revokes; the bank is refused from then on.
    assert h.client.post(f"/v1/consents/{grant_id}/revoke", headers=holder).status_code == 200
    assert h.client.post(f"/v1/consents/{grant_id}/fetch", headers=sc_bank).status_code == 403
    assert h.client.post(f"/v1/consents/{grant_id}/revoke", headers=holder).status_code == 409


def test_bad_input_is_refused_and_writes_nothing(env: tuple[AppHandle, World]) -> None:  # noqa: F811
    h, _ = env
    bank_id, _ = _principal(h, "bank", "verifier", "510000")
    lic = _issue(h)
    lid = lic["licence_id"]
    other = person_fields()["id_number"][:-4] + "0019"  # fix the check character below
    from licences.identifiers import id_number_check

    other = other[:17] + id_number_check(other[:17])
    _, stranger = _principal(h, "someone", "holder", "440000", subject=other)
    _, holder = _principal(h, "张三", "holder", "440000", subject=person_fields()["id_number"])
    # A holder principal needs a valid subject; other roles may not have one.
    bad = h.client.post("/v1/principals", json={"name": "x", "role": "holder", "region": "440000",
                                                "subject": other[:17] + ("0" if other[17] != "0" else "1")},
                        headers=h.auth("admin"))
    assert bad.status_code == 422 and bad.json()["field"] == "subject"
    assert h.client.post("/v1/principals", json={"name": "x", "role": "staff", "region": "440000",
                                                 "subject": other}, headers=h.auth("admin")).status_code == 400
    cases = [
        ({"licence_id": lid, "relying_party": bank_id, "fields": ["name", "salary"], "purpose": "p"}, holder,
         422, "fields.salary"),
        ({"licence_id": lid, "relying_party": bank_id, "fields": ["name"], "purpose": "p"}, stranger, 403,
         "licence_id"),
        ({"licence_id": lid, "relying_party": "p_nobody", "fields": ["name"], "purpose": "p"}, holder, 404,
         "relying_party"),
        ({"licence_id": lid, "relying_party": bank_id, "fields": ["name"], "purpose": "p",
          "expires_at": "2099-01-01T00:00:00Z"}, holder, 422, "expires_at"),
    ]
    for body, who, code, field in cases:
        r = h.client.post("/v1/consents", json=body, headers=who)
        assert (r.status_code, r.json().get("field")) == (code, field), r.text
    assert h.client.get("/v1/consents", headers=holder).json() == []
    r = h.client.post("/v1/objections", data={"licence_id": lid, "ground": "bad", "reason": "x"},
                      headers=h.auth("staff"))
    assert r.status_code == 422 and r.json()["field"] == "ground"
    r = h.client.post("/v1/objections", data={"licence_id": lid, "ground": "wrong_data", "reason": "x"},
                      headers=stranger)
    assert r.status_code == 403
    r = h.client.post("/v1/objections", data={"licence_id": "1.2.156.3005.2.nope", "ground": "other",
                                              "reason": "x"}, headers=h.auth("staff"))
    assert r.status_code == 404
    assert h.client.get("/v1/objections", headers=h.auth("issuer")).json() == []


def test_cli(env: tuple[AppHandle, World], monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:  # noqa: F811
    from api.cli.objection import consent, objection

    h, _ = env
    use_service_env(monkeypatch, h.settings)
    bank_id, _ = _principal(h, "bank", "verifier", "510000")
    lid = _issue(h)["licence_id"]
    holder_id = person_fields()["id_number"]
    run = CliRunner()
    proof = tmp_path / "proof.txt"
    proof.write_text("户籍证明", encoding="utf-8")
    r = run.invoke(objection, ["file", lid, "--ground", "wrong_data", "--reason", "住址错误", "--evidence", str(proof),
                               "--role", "staff", "--region", "510000", "--filer", "sc-window-7"])
    assert r.exit_code == 0, r.output
    oid = json.loads(r.output)["id"]
    r = run.invoke(objection, ["list", "--authority", "gd-psb", "--state", "filed"])
    assert [o["id"] for o in json.loads(r.output)] == [oid]
    r = run.invoke(objection, ["decide", oid, "--accept", "--resolution", "corrected", "--reason", "更正"])
    assert r.exit_code == 2 and '"field": "fields"' in r.output  # a correction needs the corrected fields
    r = run.invoke(objection, ["decide", oid, "--accept", "--resolution", "corrected", "--reason", "更正",
                               "--field", "address=广东省广州市越秀区1号"])
    assert r.exit_code == 0, r.output
    new_id = json.loads(r.output)["new_licence_id"]
    r = run.invoke(objection, ["show", oid])
    assert json.loads(r.output)["state"] == "accepted"
    r = run.invoke(consent, ["grant", new_id, "--holder-id", holder_id, "--relying-party", bank_id, "--field",
                             "name", "--purpose", "开户", "--days", "7"])
    assert r.exit_code == 0, r.output
    gid = json.loads(r.output)["id"]
    r = run.invoke(consent, ["grant", new_id, "--holder-id", holder_id, "--relying-party", bank_id, "--field",
                             "nope", "--purpose", "开户"])
    assert r.exit_code == 2 and '"field": "fields.nope"' in r.output
    r = run.invoke(consent, ["fetch", gid, "--relying-party", bank_id])
    assert r.exit_code == 0 and json.loads(r.output)["token"].startswith("ESL1:")
    r = run.invoke(consent, ["uses", "--holder-id", holder_id])
    assert [u["outcome"] for u in json.loads(r.output)] == ["served"]
    r = run.invoke(consent, ["wallet", "--holder-id", holder_id])
    assert {x["status"] for x in json.loads(r.output)} == {"superseded", "valid"}
    assert run.invoke(consent, ["revoke", gid, "--holder-id", holder_id]).exit_code == 0
    r = run.invoke(consent, ["fetch", gid, "--relying-party", bank_id])
    assert r.exit_code == 2 and "consent_refused" in r.output
