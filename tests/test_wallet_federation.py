"""The holder's wallet across deployments (issue 5 part 6): two deployments, 440000 and 510000.

The home deployment (440000) lists its own licences and asks its peers over HTTP with an
administratively issued ``wallet`` credential; the peer 510000 is a second in-process app
(``app.state.peer_clients``), the peer 520000 is a closed port (down). Also: the merge rules
without HTTP (``licences.federation``), the HTTP client's bounds (``api.peers`` with
``httpx.MockTransport``), the ``wallet`` role's reach, the peer endpoint's validation and audit,
and the CLI.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from fastapi.routing import APIRoute

from api.routes.licences import router as licences_router
from esign.ses import make_seal
from keys.keypairs import generate_key
from licences.errors import InvalidFieldError
from licences.federation import (
    FederatedWallet,
    PeerRefusedError,
    PeerUnreachableError,
    check_peer_items,
    federate,
    validate_holder_id,
)
from licences.identifiers import make_id_number, make_uscc
from tests.conftest import AppHandle, closed_port, make_settings, open_app, use_service_env
from tests.test_issuance import DRIVING, ID_CARD, T0, World, _png, issue_cert, make_world, person_fields

HOLDER = person_fields()["id_number"]
OTHER = make_id_number("440106", date(1985, 3, 2), 456)
GD = {"id": "gd-psb", "name": "广东省公安厅", "uscc": "11440000MB2C93715B", "allowed_types": [ID_CARD],
      "key_id": "440000.gd-psb", "seal_id": "440000SEALPSB"}
SC = {"id": "sc-psb", "name": "四川省公安厅", "uscc": make_uscc("1", "1", "510000", "MB123456"),
      "allowed_types": [DRIVING], "key_id": "510000.sc-psb", "seal_id": "510000SEALPSB"}


def _driving(holder_id: str = HOLDER, **over: Any) -> dict[str, Any]:
    d = {"name": "张三", "sex": "男", "nationality": "中国", "id_number": holder_id, "address": "四川省成都市武侯区",
         "birth_date": "1990-05-17", "first_issued_on": "2012-01-01", "vehicle_class": "C1"}
    return {**d, **over}


def _register_authority(h: AppHandle, w: World, auth: dict[str, Any], region: str, cert_name: str) -> None:
    """An issuing authority with a service key, its certificate and a registered seal (as tests/test_api_licences)."""
    from api.bootstrap_ses import open_service_keystore
    from api.storage.seals import SqlSealRegister

    store = open_service_keystore(h.settings)
    info = store.create_key(auth["key_id"], alg="sm2")
    start = T0 - timedelta(days=1)
    cert = issue_cert(w.root_key, cert_name, store.public_key(auth["key_id"]), start=start)
    store.attach_certificate(auth["key_id"], info.version, cert)
    maker_key = generate_key("sm2")
    maker = issue_cert(w.root_key, "seal maker", maker_key, start=start)
    seal = make_seal(maker_key=maker_key, maker_cert_der=maker, seal_id=auth["seal_id"], seal_type=2,
                     name=auth["name"] + "证照专用章", signer_certs=[cert], valid_from=start,
                     valid_to=start + timedelta(days=700), picture=_png(), width_mm=40, height_mm=40, at=start)
    SqlSealRegister(h.app.state.db, audit=h.app.state.audit).add(seal, region=region, enterprise=auth["uscc"],
                                                                   at=start, actor="test")
    store.close()
    r = h.client.post("/v1/issuing-authorities", json=auth, headers=h.auth("admin"))
    assert r.status_code == 201, r.text


def _principal(h: AppHandle, name: str, role: str, region: str, subject: str | None = None) -> tuple[str, str]:
    body: dict[str, Any] = {"name": name, "role": role, "region": region}
    if subject is not None:
        body["subject"] = subject
    r = h.client.post("/v1/principals", json=body, headers=h.auth("admin"))
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()["token"]


def _issue(h: AppHandle, authority: str, type_code: str, fields: dict[str, Any]) -> str:
    r = h.client.post("/v1/licences", json={"authority": authority, "type_code": type_code, "fields": fields},
                      headers=h.auth("issuer"))
    assert r.status_code == 201, r.text
    return str(r.json()["licence_id"])


@dataclass
class Fed:
    """Home deployment (440000), peer deployment (510000) and what the tests need of them."""

    home: AppHandle
    peer: AppHandle
    holder: dict[str, str]
    wallet_id: str
    wallet: dict[str, str]
    home_ids: list[str]
    peer_ids: list[str]


@pytest.fixture
def fed(tmp_path: Path) -> Iterator[Fed]:
    w = make_world()
    token_510 = tmp_path / "peer-510000.token"
    token_520 = tmp_path / "peer-520000.token"
    token_520.write_text("esk_" + "x" * 43 + "\n", encoding="utf-8")
    home_settings = make_settings(tmp_path / "home", region="440000", peers={
        "510000": {"url": "http://esign-510000.test/", "token_file": str(token_510)},
        "520000": {"url": f"http://127.0.0.1:{closed_port()}", "token_file": str(token_520)},
    })
    peer_settings = make_settings(tmp_path / "peer", region="510000")
    home_gen = open_app(home_settings, extra_routers=[licences_router])
    peer_gen = open_app(peer_settings, extra_routers=[licences_router])
    home = next(home_gen)
    try:
        peer = next(peer_gen)
        try:
            _register_authority(home, w, GD, "440000", "广东省公安厅 电子证照")
            _register_authority(peer, w, SC, "510000", "四川省公安厅 电子证照")
            home_ids = [_issue(home, "gd-psb", ID_CARD, person_fields()),
                        _issue(home, "gd-psb", ID_CARD, person_fields(id_number=OTHER, name="李四"))]
            peer_ids = [_issue(peer, "sc-psb", DRIVING, _driving()),
                        _issue(peer, "sc-psb", DRIVING, _driving(OTHER, name="李四"))]
            _, holder = _principal(home, "张三", "holder", "440000", subject=HOLDER)
            # The peer's admin issues the home deployment's wallet service a credential, handed over out of band.
            wallet_id, wallet_token = _principal(peer, "广东省政务服务平台 证照夹", "wallet", "440000")
            token_510.write_text(wallet_token + "\n", encoding="utf-8")
            home.app.state.peer_clients = {"510000": peer.client}
            yield Fed(home=home, peer=peer, holder={"Authorization": f"Bearer {holder}"}, wallet_id=wallet_id,
                      wallet={"Authorization": f"Bearer {wallet_token}"}, home_ids=home_ids, peer_ids=peer_ids)
        finally:
            peer_gen.close()
    finally:
        home_gen.close()


# --- over HTTP, two deployments ----------------------------------------------------------------


def test_holder_sees_licences_of_both_deployments(fed: Fed) -> None:
    sent: list[httpx.Request] = []
    fed.peer.client.event_hooks = {"request": [sent.append], "response": []}
    r = fed.home.client.get("/v1/wallet/licences", params={"federated": "true"},
                            headers={**fed.holder, "X-Request-ID": "wallet-fed-0001"})
    assert r.status_code == 200, r.text
    # The home deployment asked the peer with its wallet credential, under the holder request's id.
    assert len(sent) == 1 and sent[0].headers["x-request-id"] == "wallet-fed-0001"
    assert sent[0].headers["authorization"] == fed.wallet["Authorization"]
    body = r.json()
    by_id = {x["licence_id"]: x for x in body["licences"]}
    # The holder's ID card (issued here) and driving licence (issued in 510000); nobody else's.
    assert set(by_id) == {fed.home_ids[0], fed.peer_ids[0]}
    assert by_id[fed.home_ids[0]]["source"] == "local" and by_id[fed.home_ids[0]]["region"] == "440000"
    dl = by_id[fed.peer_ids[0]]
    assert dl["source"] == "510000" and dl["region"] == "510000" and dl["type_code"] == DRIVING
    assert dl["authority"] == "sc-psb" and dl["status"] == "valid" and dl["metadata"]["CZZTDM"] == HOLDER
    assert dl["fields"]["vehicle_class"] == "C1"
    # The peer that is down is named, and does not fail the request.
    assert body["regions"]["510000"] == "ok"
    assert body["regions"]["520000"].startswith("unreachable: ")
    # Without the flag the answer is exactly the local listing, a list, as before.
    plain = fed.home.client.get("/v1/wallet/licences", headers=fed.holder)
    assert plain.status_code == 200 and isinstance(plain.json(), list)
    assert [x["licence_id"] for x in plain.json()] == [fed.home_ids[0]]
    assert [{k: v for k, v in x.items() if k != "source"} for x in body["licences"] if x["source"] == "local"] \
        == plain.json()


def test_peer_down_is_marked_and_local_licences_still_listed(fed: Fed) -> None:
    def down(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=req)

    fed.home.app.state.peer_clients = {"510000": httpx.Client(transport=httpx.MockTransport(down))}
    r = fed.home.client.get("/v1/wallet/licences", params={"federated": "true"}, headers=fed.holder)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [x["licence_id"] for x in body["licences"]] == [fed.home_ids[0]]
    assert body["regions"] == {"510000": "unreachable: request failed (ConnectError)",
                               "520000": "unreachable: request failed (ConnectError)"}


def test_revoked_peer_credential_is_refused_401(fed: Fed) -> None:
    r = fed.peer.client.delete(f"/v1/principals/{fed.wallet_id}", headers=fed.peer.auth("admin"))
    assert r.status_code == 200, r.text
    body = fed.home.client.get("/v1/wallet/licences", params={"federated": "true"}, headers=fed.holder).json()
    assert body["regions"]["510000"] == "refused: 401"
    assert [x["licence_id"] for x in body["licences"]] == [fed.home_ids[0]]


def test_peer_endpoint_answers_the_wallet_role_only(fed: Fed) -> None:
    c = fed.peer.client
    r = c.get(f"/v1/holders/{HOLDER}/licences", headers=fed.wallet)
    assert r.status_code == 200, r.text
    assert [x["licence_id"] for x in r.json()] == [fed.peer_ids[0]]
    for role in ("admin", "issuer", "verifier", "staff", "holder", "signer"):
        assert c.get(f"/v1/holders/{HOLDER}/licences", headers=fed.peer.auth(role)).status_code == 403, role
    assert c.get(f"/v1/holders/{HOLDER}/licences").status_code == 401


def test_wallet_role_cannot_call_anything_else(fed: Fed) -> None:
    c, lid = fed.peer.client, fed.peer_ids[0]
    for method, path in [("GET", f"/v1/licences/{lid}"), ("GET", f"/v1/licences/{lid}/signed"),
                         ("GET", "/v1/licence-types"), ("GET", "/v1/issuing-authorities"),
                         ("GET", "/v1/wallet/licences"), ("GET", "/v1/objections"), ("GET", "/v1/consents"),
                         ("GET", "/v1/trust-lists"), ("GET", "/v1/principals"), ("GET", "/v1/audit"),
                         ("POST", "/v1/licences")]:
        r = c.request(method, path, headers=fed.wallet, json={} if method == "POST" else None)
        assert r.status_code == 403, (method, path, r.status_code)
    # Structurally: the only route whose role check admits `wallet` is the peer endpoint.
    from api.routes import ROUTERS

    admitting, checked = set(), 0
    for route in (r for router in ROUTERS for r in router.routes):
        if not isinstance(route, APIRoute):
            continue
        checked += 1
        stack = list(route.dependant.dependencies)
        while stack:
            d = stack.pop()
            name = getattr(d.call, "__name__", "")
            if name.startswith("require_") and "wallet" in name.removeprefix("require_").split("_or_"):
                admitting.add(route.path)
            stack.extend(d.dependencies)
    assert checked > 50 and admitting == {"/v1/holders/{holder_id}/licences"}


@pytest.mark.parametrize("bad", [
    HOLDER[:17] + ("0" if HOLDER[17] != "0" else "1"),  # wrong MOD 11-2 check character
    "12345",
    "not-an-id",
    SC["uscc"][:17] + ("0" if SC["uscc"][17] != "0" else "1"),  # wrong GB 32100 check character
])
def test_bad_holder_id_at_peer_endpoint_is_422(fed: Fed, bad: str) -> None:
    r = fed.peer.client.get(f"/v1/holders/{bad}/licences", headers=fed.wallet)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "holder_id"


def test_peer_audit_entry_has_no_clear_holder_id(fed: Fed) -> None:
    from api.logging import pii_hash

    assert fed.peer.client.get(f"/v1/holders/{HOLDER}/licences", headers=fed.wallet).status_code == 200
    entries = fed.peer.client.get("/v1/audit", params={"limit": 500}, headers=fed.peer.auth("admin")).json()["items"]
    mine = [e for e in entries if e["action"] == "licence.wallet.federated"]
    assert len(mine) == 1
    e = mine[0]
    assert e["actor"] == fed.wallet_id and e["details"]["caller_region"] == "440000"
    assert e["details"]["holder"] == pii_hash(HOLDER) and e["details"]["licences"] == 1
    assert HOLDER not in json.dumps(e, ensure_ascii=False)


def test_peer_endpoint_is_rate_limited_per_peer(fed: Fed) -> None:
    # Two calls per window for this test; the third is refused with Retry-After and leaves no audit row,
    # and the home deployment's federated wallet names the refusal and still lists the local licences.
    fed.peer.app.state.settings = fed.peer.app.state.settings.model_copy(
        update={"peer_rate_limit": 2, "peer_rate_window": 3600.0})
    c = fed.peer.client
    assert [c.get(f"/v1/holders/{HOLDER}/licences", headers=fed.wallet).status_code for _ in range(2)] == [200, 200]
    refused = c.get(f"/v1/holders/{HOLDER}/licences", headers=fed.wallet)
    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
    assert 3500 <= int(refused.headers["Retry-After"]) <= 3600
    entries = c.get("/v1/audit", params={"limit": 500}, headers=fed.peer.auth("admin")).json()["items"]
    assert len([e for e in entries if e["action"] == "licence.wallet.federated"]) == 2
    body = fed.home.client.get("/v1/wallet/licences", params={"federated": "true"}, headers=fed.holder).json()
    assert body["regions"]["510000"] == "refused: 429"
    assert [x["licence_id"] for x in body["licences"]] == [fed.home_ids[0]]


def test_cli_wallet_federated(fed: Fed, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from api.cli.objection import consent

    use_service_env(monkeypatch, fed.home.settings)
    token = tmp_path / "cli-peer.token"
    token.write_text("esk_" + "y" * 43, encoding="utf-8")
    monkeypatch.setenv("ESIGN_PEERS", json.dumps({"530000": {"url": f"http://127.0.0.1:{closed_port()}",
                                                             "token_file": str(token)}}))
    run = CliRunner()
    r = run.invoke(consent, ["wallet", "--holder-id", HOLDER, "--federated"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert [x["licence_id"] for x in out["licences"]] == [fed.home_ids[0]]
    assert out["regions"]["530000"].startswith("unreachable: ")
    plain = json.loads(run.invoke(consent, ["wallet", "--holder-id", HOLDER]).output)
    assert isinstance(plain, list) and [x["licence_id"] for x in plain] == [fed.home_ids[0]]
    monkeypatch.setenv("ESIGN_PEERS", json.dumps({"51": {"url": "http://x", "token_file": str(token)}}))
    r = run.invoke(consent, ["wallet", "--holder-id", HOLDER, "--federated"])
    assert r.exit_code == 2 and "peers" in r.output


# --- merge rules without HTTP --------------------------------------------------------------------


def _item(lid: str, *, holder: str = HOLDER, issued: str = "2026-01-01", **over: Any) -> dict[str, Any]:
    return {"licence_id": lid, "region": "510000", "authority": "sc-psb", "type_code": DRIVING,
            "type_name": "Driving licence", "version": 1, "status": "valid", "supersedes": None,
            "superseded_by": None, "metadata": {"CZZTDM": holder, "ZZBFRQ": issued}, "fields": {"name": "张三"}, **over}


class FakePeers:
    """A directory answering from a table: a payload, or an exception to raise."""

    def __init__(self, answers: dict[str, object]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, str]] = []

    def regions(self) -> list[str]:
        return list(self.answers)

    def fetch(self, region: str, holder_id: str) -> object:
        self.asked.append((region, holder_id))
        a = self.answers[region]
        if isinstance(a, Exception):
            raise a
        return a


def test_federate_merges_deduplicates_and_fails_soft(fed_ids: list[str]) -> None:
    a, b, c = fed_ids
    local = [_item(a, issued="2026-03-01", region="440000")]
    peers = FakePeers({
        "510000": [_item(b, issued="2026-04-01"), _item(a, issued="2026-03-01", fields={"name": "peer copy"})],
        "520000": PeerRefusedError(403),
        "530000": PeerUnreachableError("timed out after 3 s"),
        "540000": [_item(c, holder=OTHER)],  # a peer that mixes holders up: its whole answer is dropped
        "550000": {"licences": []},
    })
    got = federate(local, HOLDER, peers)
    assert isinstance(got, FederatedWallet)
    assert [(x["licence_id"], x["source"]) for x in got.licences] == [(b, "510000"), (a, "local")]
    assert got.licences[1]["fields"] == {"name": "张三"}  # the local copy wins
    assert got.regions == {"510000": "ok", "520000": "refused: 403", "530000": "unreachable: timed out after 3 s",
                           "540000": "unreachable: invalid response (a licence of another holder)",
                           "550000": "unreachable: invalid response (not a list)"}
    assert sorted(peers.asked) == [(r, HOLDER) for r in ("510000", "520000", "530000", "540000", "550000")]
    assert federate(local, HOLDER, FakePeers({})).to_dict() == {"licences": [{**local[0], "source": "local"}],
                                                                "regions": {}}


@pytest.fixture
def fed_ids() -> list[str]:
    """Three well-formed licence identifiers (the peer check parses them)."""
    from licences.identifiers import make_licence_id

    return [str(make_licence_id(DRIVING, SC["uscc"], f"{n:08d}", 1)) for n in (1, 2, 3)]


@pytest.mark.parametrize(("mutate", "why"), [
    (lambda x: x.pop("licence_id"), "licence_id"),
    (lambda x: x.update(licence_id="1.2.156.3005.2.bogus"), "licence identifier"),
    (lambda x: x.update(version=True), "version"),
    (lambda x: x.update(status="maybe"), "status"),
    (lambda x: x.update(fields={"name": {"nested": 1}}), "fields.name"),
    (lambda x: x.update(metadata=[]), "metadata"),
])
def test_peer_items_are_checked(fed_ids: list[str], mutate: Any, why: str) -> None:
    item = _item(fed_ids[0])
    assert check_peer_items([item], HOLDER)[0]["licence_id"] == fed_ids[0]
    mutate(item)
    with pytest.raises(PeerUnreachableError, match=why):
        check_peer_items([item], HOLDER)


def test_peer_items_keep_known_keys_only(fed_ids: list[str]) -> None:
    got = check_peer_items([_item(fed_ids[0], injected="<script>")], HOLDER)
    assert "injected" not in got[0]


def test_validate_holder_id() -> None:
    assert validate_holder_id(HOLDER) == HOLDER
    assert validate_holder_id(SC["uscc"]) == SC["uscc"]
    for bad in ("", None, 42, HOLDER[:-1] + ("0" if HOLDER[-1] != "0" else "1")):
        with pytest.raises(InvalidFieldError) as info:
            validate_holder_id(bad)
        assert info.value.field == "holder_id" and info.value.http_status == 422


# --- the HTTP client's bounds (api.peers) --------------------------------------------------------


def _directory(tmp_path: Path, handler: Any, **kw: Any) -> Any:
    from api.peers import HttpPeerDirectory
    from api.settings import PeerDeployment

    tok = tmp_path / "t.token"
    tok.write_text("esk_" + "z" * 43 + "\n", encoding="utf-8")
    peer = PeerDeployment(url="https://esign.sc.example/base/", token_file=tok)
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return HttpPeerDirectory({"510000": peer}, clients={"510000": client}, **kw)


def test_http_directory_sends_token_and_reads_json(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(200, json=[{"a": 1}])

    d = _directory(tmp_path, handler)
    assert d.fetch("510000", HOLDER) == [{"a": 1}]
    assert str(seen[0].url) == f"https://esign.sc.example/base/v1/holders/{HOLDER}/licences"
    assert seen[0].headers["authorization"] == "Bearer esk_" + "z" * 43


@pytest.mark.parametrize(("response", "error", "text"), [
    (httpx.Response(401, json={}), PeerRefusedError, "401"),
    (httpx.Response(403, json={}), PeerRefusedError, "403"),
    (httpx.Response(500, json={}), PeerUnreachableError, "HTTP 500"),
    (httpx.Response(302, headers={"location": "https://elsewhere.example/"}), PeerUnreachableError, "HTTP 302"),
    (httpx.Response(200, text="<html>", headers={"content-type": "text/html"}), PeerUnreachableError, "not JSON"),
    (httpx.Response(200, content=b"[1,", headers={"content-type": "application/json"}), PeerUnreachableError,
     "not valid JSON"),
    (httpx.Response(200, content=b"[" + b"1," * 600 + b"1]", headers={"content-type": "application/json"}),
     PeerUnreachableError, "larger than 1000 bytes"),
])
def test_http_directory_failures(tmp_path: Path, response: httpx.Response, error: type, text: str) -> None:
    d = _directory(tmp_path, lambda req: response, max_response_bytes=1000)
    with pytest.raises(error) as info:
        d.fetch("510000", HOLDER)
    assert text in (str(info.value.status) if isinstance(info.value, PeerRefusedError) else info.value.reason)


def test_http_directory_connection_and_token_failures(tmp_path: Path) -> None:
    def boom(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("slow", request=req)

    with pytest.raises(PeerUnreachableError, match="timed out"):
        _directory(tmp_path, boom).fetch("510000", HOLDER)
    d = _directory(tmp_path, lambda req: httpx.Response(200, json=[]))
    (tmp_path / "t.token").write_text("\n", encoding="utf-8")
    with pytest.raises(PeerUnreachableError, match="no usable token"):
        d.fetch("510000", HOLDER)
    (tmp_path / "t.token").unlink()
    with pytest.raises(PeerUnreachableError, match="unreadable"):
        d.fetch("510000", HOLDER)
