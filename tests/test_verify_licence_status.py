"""Licence status at the front door: status lists through the library, ``esign verify`` and ``POST /v1/verify``.

A licence verified without its issuer's signed status list is at best INDETERMINATE. Here the
same licences -- one revoked, one superseded by a correction, its valid successor -- are verified
with the issuer's list (TOTAL_FAILED naming revoked / superseded, or PASSED), without any list,
and with another authority's list (both INDETERMINATE, saying why), as files and as ``ESL1:``
QR tokens. Over HTTP, a licence of an authority registered in the service gets the service's
own current list without uploading anything.
"""

from __future__ import annotations

import base64
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from api.cli.verify import verify as verify_cli
from api.trust_store import TrustListStore
from esign.qr import make_licence_qr
from keys.errors import BadInputError
from keys.keypairs import generate_key
from keys.trustlist import make_entry, publish
from keys.x509 import cert_to_pem, parse_certificate
from licences.identifiers import make_id_number
from licences.lifecycle import correct, revoke
from licences.render import qr_claims_of
from licences.status import publish_status_list
from tests.conftest import AppHandle, make_settings, open_app
from tests.test_api_licences import env  # noqa: F401  (fixture)
from tests.test_issuance import ID_CARD, T0, World, _issue, make_world, person_fields
from verifier.report import CheckStatus, Indication, SubIndication
from verifier.verifier import verify_artefact, verify_qr

AT = T0 + timedelta(days=1)
URI = "https://gd.example/v1/status-lists/gd-psb"
OTHER_USCC = "91350100M000100Y43"


@pytest.fixture(scope="module")
def story() -> dict[str, Any]:
    """gd-psb issues three identity cards: one revoked, one corrected (old version superseded); sz-psb one."""
    w = make_world()
    other = w.add_authority("sz-psb", OTHER_USCC)
    revoked = _issue(w)
    old = _issue(w, person_fields(id_number=make_id_number("440106", date(1990, 5, 17), 124)))
    before = publish_status_list(w.repo, w.authority, key=w.keys.signing_key("440000.gd-psb"), at=AT)
    revoke(w.service, revoked.licence_id, actor="p_issuer", reason="fraud", at=T0 + timedelta(hours=2),
           region="440000")
    superseded, new = correct(w.service, old.licence_id, {"address": "广东省深圳市福田区"}, actor="p_issuer",
                              reason="moved", at=T0 + timedelta(hours=3), region="440000")
    lists = {
        "gd": publish_status_list(w.repo, w.authority, key=w.keys.signing_key("440000.gd-psb"), at=AT),
        "gd-before": before,
        "sz": publish_status_list(w.repo, other, key=w.keys.signing_key("440000.sz-psb"), at=AT),
    }
    t = w.service.catalogue().get(ID_CARD)

    def token(lic: Any) -> str:
        return make_licence_qr(qr_claims_of(lic, t, status_uri=URI, issued_at=T0 + timedelta(hours=4)),
                               key=w.keys.signing_key("440000.gd-psb"), cert_der=w.authority.certificate)

    return {"w": w, "revoked": revoked, "superseded": superseded, "new": new, "lists": lists,
            "tokens": {k: token(v) for k, v in (("revoked", revoked), ("superseded", superseded), ("new", new))}}


def _lib(story: dict[str, Any], which: str, *lists: str) -> Any:
    w: World = story["w"]
    lic = w.repo.get_licence(story[which].licence_id)
    return verify_artefact(lic.signed, trust=w.trust, at=AT, status_lists=[story["lists"][n] for n in lists])


def _status(r: Any) -> Any:
    return next(c for c in r.checks if c.name == "status")


# --- library -------------------------------------------------------------------------------------


def test_revoked_and_superseded_fail_with_the_issuers_list(story) -> None:
    r = _lib(story, "revoked", "gd")
    assert (r.indication, r.sub_indication) == (Indication.TOTAL_FAILED, SubIndication.REVOKED)
    assert "revoked" in r.reason.en and _status(r).status is CheckStatus.FAILED
    s = _lib(story, "superseded", "gd")
    assert (s.indication, s.sub_indication) == (Indication.TOTAL_FAILED, SubIndication.REVOKED)
    assert "superseded" in s.reason.en
    ok = _lib(story, "new", "gd")
    assert ok.passed, ok.reason.en
    assert _status(ok).status is CheckStatus.PASSED


def test_without_a_list_or_with_another_authoritys_list_it_is_indeterminate(story) -> None:
    none = _lib(story, "revoked")
    assert (none.indication, none.sub_indication) == (Indication.INDETERMINATE,
                                                      SubIndication.REVOCATION_OUT_OF_BOUNDS_NO_POE)
    assert "no status list was supplied" in none.reason.en
    other = _lib(story, "revoked", "sz")
    assert other.indication is Indication.INDETERMINATE
    assert "gd-psb" in other.reason.en and "sz-psb" in other.reason.en, other.reason.en


def test_the_newest_list_of_the_authority_decides_whatever_the_order(story) -> None:
    # the list published before the revocation still says valid; the newer one says revoked
    assert _lib(story, "revoked", "gd-before").passed
    for order in (("gd-before", "sz", "gd"), ("gd", "gd-before")):
        assert _lib(story, "revoked", *order).indication is Indication.TOTAL_FAILED


def test_a_list_that_does_not_verify_is_not_used(story) -> None:
    w: World = story["w"]
    lic = w.repo.get_licence(story["revoked"].licence_id)
    raw = bytearray(story["lists"]["gd"])
    raw[-5] ^= 1  # the signature
    r = verify_artefact(lic.signed, trust=w.trust, at=AT, status_lists=[bytes(raw)])
    assert r.indication is Indication.INDETERMINATE and "unusable" in r.reason.en
    assert verify_artefact(lic.signed, trust=w.trust, at=AT + timedelta(days=2),
                           status_lists=[story["lists"]["gd"]]).indication is Indication.INDETERMINATE  # expired


def test_esl1_tokens_with_the_status_list(story) -> None:
    w: World = story["w"]
    tokens, lists = story["tokens"], story["lists"]
    at = AT
    r = verify_qr(tokens["revoked"], trust=w.trust, at=at, status_lists=[lists["sz"], lists["gd"]])
    assert (r.indication, r.sub_indication) == (Indication.TOTAL_FAILED, SubIndication.REVOKED)
    assert "revoked" in r.reason.en
    s = verify_qr(tokens["superseded"], trust=w.trust, at=at, status_lists=[lists["gd"]])
    assert s.indication is Indication.TOTAL_FAILED and "superseded" in s.reason.en
    # the issuer certificate comes with the list; the path is still validated to the anchors
    ok = verify_qr(tokens["new"], trust=w.trust, at=at, status_lists=[lists["gd"]])
    assert ok.passed, ok.reason.en
    cert = parse_certificate(w.authority.certificate)
    none = verify_qr(tokens["revoked"], trust=w.trust, at=at, certs=[cert])
    assert (none.indication, none.sub_indication) == (Indication.INDETERMINATE,
                                                      SubIndication.REVOCATION_OUT_OF_BOUNDS_NO_POE)
    other = verify_qr(tokens["revoked"], trust=w.trust, at=at, certs=[cert], status_lists=[lists["sz"]])
    assert other.indication is Indication.INDETERMINATE and "sz-psb" in other.reason.en, other.reason.en


def test_status_lists_are_bounded(story) -> None:
    w: World = story["w"]
    lic = w.repo.get_licence(story["new"].licence_id)
    with pytest.raises(BadInputError):
        verify_artefact(lic.signed, trust=w.trust, at=AT, status_lists=[story["lists"]["gd"]] * 40)
    with pytest.raises(BadInputError):
        verify_artefact(lic.signed, trust=w.trust, at=AT, status_lists=story["lists"]["gd"])  # type: ignore[arg-type]


# --- CLI -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(story, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("status")
    w: World = story["w"]
    out = {"root": d / "root.pem"}
    out["root"].write_bytes(cert_to_pem(w.trust.anchors[0].der))
    for name in ("revoked", "superseded", "new"):
        out[name] = d / f"{name}.json"
        out[name].write_bytes(w.repo.get_licence(story[name].licence_id).signed)
    for name, raw in story["lists"].items():
        out[f"list-{name}"] = d / f"{name}.cbor"
        out[f"list-{name}"].write_bytes(raw)
    return out


def _cli(*args: str) -> Any:
    r = CliRunner().invoke(verify_cli, [*args, "--at", AT.isoformat()])
    return r, json.loads(r.output) if r.output.startswith("{") else None


def test_cli_status_list(files) -> None:
    r, rep = _cli(str(files["revoked"]), "--trust", str(files["root"]), "--status-list", str(files["list-sz"]),
                  "--status-list", str(files["list-gd"]))
    assert r.exit_code == 1, r.output
    assert rep["sub_indication"] == "REVOKED" and "revoked" in rep["reason"]["en"]
    r, rep = _cli(str(files["superseded"]), "--trust", str(files["root"]), "--status-list", str(files["list-gd"]))
    assert r.exit_code == 1 and "superseded" in rep["reason"]["en"]
    r, rep = _cli(str(files["new"]), "--trust", str(files["root"]), "--status-list", str(files["list-gd"]))
    assert r.exit_code == 0, r.output
    r, rep = _cli(str(files["revoked"]), "--trust", str(files["root"]))
    assert r.exit_code == 2 and "no status list" in rep["reason"]["en"]
    r, rep = _cli(str(files["revoked"]), "--trust", str(files["root"]), "--status-list", str(files["list-sz"]))
    assert r.exit_code == 2 and "sz-psb" in rep["reason"]["en"]
    r, _ = _cli(str(files["revoked"]), "--trust", str(files["root"]), "--status-list", str(files["root"].parent))
    assert r.exit_code != 0 and r.exit_code in (2, 3)  # a directory is not a list: bad input


def test_cli_qr_status_list(story, files) -> None:
    runner = CliRunner()
    at = AT.isoformat()
    r = runner.invoke(verify_cli, ["--qr", story["tokens"]["revoked"], "--trust", str(files["root"]), "--at", at,
                                   "--status-list", str(files["list-gd"])])
    assert r.exit_code == 1, r.output
    assert json.loads(r.output)["sub_indication"] == "REVOKED"
    r = runner.invoke(verify_cli, ["--qr", story["tokens"]["new"], "--trust", str(files["root"]), "--at", at,
                                   "--status-list", str(files["list-gd"])])
    assert r.exit_code == 0, r.output
    r = runner.invoke(verify_cli, ["--qr", story["tokens"]["new"], "--trust", str(files["root"]), "--at", at])
    assert r.exit_code == 2, r.output


# --- HTTP ----------------------------------------------------------------------------------------


def _trust_dir(h: AppHandle, w: World) -> None:
    d = h.settings.data_dir / "trust"
    d.mkdir(parents=True, exist_ok=True)
    (d / "licence-root.pem").write_bytes(cert_to_pem(w.trust.anchors[0].der))


def _post(h: AppHandle, signed: bytes, *lists: bytes, at: str | None = AT.isoformat()) -> dict[str, Any]:
    files = [("file", ("l.json", signed)), *[("status_list", (f"{i}.cbor", x)) for i, x in enumerate(lists)]]
    data = {"require_revocation": "false", **({"at": at} if at else {})}
    r = h.client.post("/v1/verify", headers=h.auth("staff"), files=files, data=data)
    assert r.status_code == 200, r.text
    return r.json()


def test_http_status_list_upload(story, tmp_path: Path) -> None:
    w: World = story["w"]
    for h in open_app(make_settings(tmp_path / "svc")):
        _trust_dir(h, w)
        signed = {k: w.repo.get_licence(story[k].licence_id).signed for k in ("revoked", "superseded", "new")}
        gd, sz = story["lists"]["gd"], story["lists"]["sz"]
        r = _post(h, signed["revoked"], sz, gd)
        assert (r["indication"], r["sub_indication"]) == ("TOTAL_FAILED", "REVOKED") and "revoked" in r["reason"]["en"]
        r = _post(h, signed["superseded"], gd)
        assert r["indication"] == "TOTAL_FAILED" and "superseded" in r["reason"]["en"]
        assert _post(h, signed["new"], gd)["indication"] == "TOTAL_PASSED"
        r = _post(h, signed["revoked"])  # gd-psb of this world is not registered in the service: no list
        assert r["indication"] == "INDETERMINATE" and "no status list" in r["reason"]["en"]
        r = _post(h, signed["revoked"], sz)
        assert r["indication"] == "INDETERMINATE" and "sz-psb" in r["reason"]["en"]
        bad = h.client.post("/v1/verify", headers=h.auth("staff"), data={"status_list": "text"},
                            files={"file": ("l.json", signed["new"])})
        assert bad.status_code == 400 and bad.json()["field"] == "status_list"


def test_http_qr_with_status_lists_b64(story, tmp_path: Path) -> None:
    w: World = story["w"]
    list_key = generate_key("sm2")
    raw = publish(region="440000", version=1, issued_at=T0, expires_at=T0 + timedelta(days=3650), signers=[list_key],
                  entries=[make_entry(id="issuers", service_type="licence_issuer", name="440000 licence issuers",
                                      since=T0 - timedelta(days=2), certificates=[w.trust.anchors[0].der])],
                  threshold=1)
    at = AT.isoformat()
    for h in open_app(make_settings(tmp_path / "svc")):
        TrustListStore.for_settings(h.settings).import_list(raw, at=T0 + timedelta(hours=1), source="file:440000",
                                                            pins=[list_key.public_key()], threshold=1)
        b64 = [base64.b64encode(story["lists"]["gd"]).decode()]

        def post(token: str, lists: list[str], h: AppHandle = h) -> dict[str, Any]:
            r = h.client.post("/v1/verify", headers=h.auth("staff"),
                              json={"qr": token, "at": at, "status_lists_b64": lists})
            assert r.status_code == 200, r.text
            return r.json()

        r = post(story["tokens"]["revoked"], b64)
        assert (r["indication"], r["sub_indication"]) == ("TOTAL_FAILED", "REVOKED"), r["reason"]
        assert post(story["tokens"]["new"], b64)["indication"] == "TOTAL_PASSED"
        assert post(story["tokens"]["new"], [])["indication"] == "INDETERMINATE"
        bad = h.client.post("/v1/verify", headers=h.auth("staff"), json={"qr": story["tokens"]["new"],
                                                                          "status_lists_b64": ["not base64!"]})
        assert bad.status_code == 400 and bad.json()["field"] == "status_lists_b64"


def test_http_uses_the_local_authoritys_current_list(env) -> None:  # noqa: F811
    h, w = env
    _trust_dir(h, w)
    req = {"authority": "gd-psb", "type_code": ID_CARD, "fields": person_fields()}
    lid = h.client.post("/v1/licences", json=req, headers=h.auth("issuer")).json()["licence_id"]
    signed = h.client.get(f"/v1/licences/{lid}/signed", headers=h.auth("verifier")).content
    ok = _post(h, signed, at=None)
    assert ok["indication"] == "TOTAL_PASSED", ok["reason"]
    assert next(c for c in ok["checks"] if c["name"] == "status")["status"] == "passed"
    assert h.client.post(f"/v1/licences/{lid}/revoke", json={"reason": "fraud"},
                         headers=h.auth("issuer")).status_code == 200
    r = _post(h, signed, at=None)  # nothing uploaded: the service's own list, refreshed after the change
    assert (r["indication"], r["sub_indication"]) == ("TOTAL_FAILED", "REVOKED"), r["reason"]
    # the same list as GET /v1/status-lists serves (one cache)
    served = h.client.get("/v1/status-lists/gd-psb").content
    assert h.app.state.licence_status_cache["gd-psb"][2] == served
