"""Trust lists through HTTP and the CLI: publish in region A, import by URL in region B, refresh, rollback,
tampered copies, roles, and the scheduled refresher."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from asn1crypto import pem
from click.testing import CliRunner

from api.cli.trust import trust
from api.routes.trust import router
from api.trust_store import HttpFetcher, TrustListStore, start_refresher, stop_refresher
from keys.keypairs import generate_key
from tests._trust_fixtures import RegionPki
from tests.conftest import make_settings, open_app


@pytest.fixture(scope="module")
def material(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    keys = [generate_key("sm2") for _ in range(2)]
    for i, k in enumerate(keys):
        (d / f"k{i}.pem").write_bytes(pem.armor("PRIVATE KEY", k.private_der()))
        (d / f"k{i}.pub").write_bytes(pem.armor("PUBLIC KEY", k.public_key().spki_der()))
    other = generate_key("sm2")
    (d / "other.pub").write_bytes(pem.armor("PUBLIC KEY", other.public_key().spki_der()))
    pki = RegionPki("110000")
    entries = pki.entries()
    (d / "entries.json").write_text(json.dumps(entries))
    return d


def _publish(data_dir: Path, m: Path, *extra: str) -> dict:
    res = CliRunner().invoke(trust, ["publish", "--data-dir", str(data_dir), "--region", "110000", "--key",
                                     str(m / "k0.pem"), "--key", str(m / "k1.pem"), "--threshold", "2",
                                     "--entries", str(m / "entries.json"), *extra])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


@pytest.fixture
def two_regions(tmp_path, material):
    sa = make_settings(tmp_path / "a", region="110000")
    sb = make_settings(tmp_path / "b", region="440000")
    ga, gb = open_app(sa, extra_routers=[router]), open_app(sb, extra_routers=[router])
    a, b = next(ga), next(gb)
    b.app.state.trust_fetcher = HttpFetcher(client=a.client)
    yield a, b
    for g in (ga, gb):
        with pytest.raises(StopIteration):
            next(g)


def _pins(m: Path, *names: str) -> list[str]:
    return [(m / n).read_text() for n in names]


def test_publish_import_refresh_rollback(two_regions, material) -> None:
    a, b = two_regions
    assert a.client.get("/v1/trust-list").status_code == 404
    _publish(a.settings.data_dir, material)
    served = a.client.get("/v1/trust-list")
    assert served.status_code == 200
    assert json.loads(served.content)["signed"]["version"] == 1
    url = "http://testserver/v1/trust-list"
    # No pin: refused.
    r = b.client.post("/v1/trust-lists", json={"url": url}, headers=b.auth())
    assert r.status_code == 400, r.text
    # Wrong pin: bad signature.
    r = b.client.post("/v1/trust-lists", json={"url": url, "pins": _pins(material, "other.pub"), "threshold": 1},
                      headers=b.auth())
    assert r.status_code == 422 and "trust_list_bad_signature" in r.text
    # One of two pins with threshold 2: threshold not met.
    r = b.client.post("/v1/trust-lists", json={"url": url, "pins": _pins(material, "k0.pub", "k1.pub"),
                                               "threshold": 2}, headers=b.auth())
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 1 and len(r.json()["signed_by"]) == 2
    lists = b.client.get("/v1/trust-lists", headers=b.auth("verifier")).json()["lists"]
    assert [(x["region"], x["version"], x["status"]) for x in lists] == [("110000", 1, "current")]
    assert lists[0]["last_refresh"] and lists[0]["expires_at"]
    # A publishes v2; B refreshes.
    _publish(a.settings.data_dir, material)
    r = b.client.post("/v1/trust-lists/110000/refresh", headers=b.auth())
    assert r.status_code == 200 and r.json()["version"] == 2
    # A (wrongly) republishes version 1: rollback refused, v2 kept, error recorded.
    _publish(a.settings.data_dir, material, "--version", "1")
    r = b.client.post("/v1/trust-lists/110000/refresh", headers=b.auth())
    assert r.status_code == 409 and "trust_list_rollback" in r.text
    lists = b.client.get("/v1/trust-lists", headers=b.auth()).json()["lists"]
    assert lists[0]["version"] == 2 and lists[0]["status"] == "current" and "version 1" in lists[0]["error"]["en"]
    # Non-admins may not import.
    r = b.client.post("/v1/trust-lists", json={"url": url}, headers=b.auth("verifier"))
    assert r.status_code == 403


def test_upload_and_tampered_copies(two_regions, material) -> None:
    a, b = two_regions
    _publish(a.settings.data_dir, material)
    envelope = json.loads(a.client.get("/v1/trust-list").content)
    r = b.client.post("/v1/trust-lists", json={"list": envelope, "pins": _pins(material, "k0.pub", "k1.pub"),
                                               "threshold": 2}, headers=b.auth())
    assert r.status_code == 201, r.text
    _publish(a.settings.data_dir, material)
    envelope2 = json.loads(a.client.get("/v1/trust-list").content)
    assert b.client.post("/v1/trust-lists", json={"list": envelope2}, headers=b.auth()).status_code == 201
    d = b.settings.data_dir / "trust-lists" / "110000"
    # Tamper with the current copy on disk: the last good copy (v1) is used instead.
    cur = json.loads((d / "current.json").read_text())
    cur["signed"]["entries"][1]["licence_types"].append("pharmacy")
    (d / "current.json").write_text(json.dumps(cur))
    lists = b.client.get("/v1/trust-lists", headers=b.auth()).json()["lists"]
    assert (lists[0]["version"], lists[0]["status"]) == (1, "current")
    # Tamper with both: the region is broken and says so.
    (d / "last_good.json").write_text(json.dumps(cur))
    lists = b.client.get("/v1/trust-lists", headers=b.auth()).json()["lists"]
    assert lists[0]["status"] == "broken" and "does not verify" in lists[0]["error"]["en"]
    # A tampered upload is refused.
    envelope2["signed"]["region_name"] = "evil"
    r = b.client.post("/v1/trust-lists", json={"list": envelope2}, headers=b.auth())
    assert r.status_code in (400, 422)


def test_cli_import_show_pin_refresh(tmp_path, material) -> None:
    src = tmp_path / "src"
    _publish(src, material, "--out", str(tmp_path / "bj.json"))
    dd = str(tmp_path / "b")
    cli = CliRunner()
    res = cli.invoke(trust, ["import", "--data-dir", dd, str(tmp_path / "bj.json")])
    assert res.exit_code == 2 and "pin" in res.output + (res.stderr if hasattr(res, "stderr") else "")
    res = cli.invoke(trust, ["pin", "--data-dir", dd, "110000", "--key", str(material / "k0.pub"), "--key",
                             str(material / "k1.pub"), "--threshold", "2"])
    assert res.exit_code == 0, res.output
    res = cli.invoke(trust, ["import", "--data-dir", dd, str(tmp_path / "bj.json")])
    assert res.exit_code == 0 and json.loads(res.output)["version"] == 1
    res = cli.invoke(trust, ["show", "--data-dir", dd])
    assert json.loads(res.output)["lists"][0]["status"] == "current"
    res = cli.invoke(trust, ["show", "--data-dir", dd, "--at", "2099-01-01T00:00:00Z"])
    assert json.loads(res.output)["lists"][0]["status"] == "expired"
    res = cli.invoke(trust, ["refresh", "--data-dir", dd, "110000"])
    assert res.exit_code == 2  # imported from a file: nothing to refresh from
    res = cli.invoke(trust, ["import", "--data-dir", dd, str(tmp_path / "bj.json"), "--at", "2099-01-01T00:00:00Z"])
    assert res.exit_code == 1  # expired


def test_refresher_task(two_regions, material) -> None:
    a, b = two_regions
    _publish(a.settings.data_dir, material)
    store = TrustListStore.for_settings(b.settings)
    r = b.client.post("/v1/trust-lists", json={"url": "http://testserver/v1/trust-list",
                                               "pins": _pins(material, "k0.pub", "k1.pub"), "threshold": 2},
                      headers=b.auth())
    assert r.status_code == 201
    _publish(a.settings.data_dir, material)
    fake = SimpleNamespace(state=SimpleNamespace(settings=b.settings, clock=b.app.state.clock,
                                                 trust_fetcher=HttpFetcher(client=a.client)))

    async def run() -> None:
        start_refresher(fake, interval=0.01)
        for _ in range(300):
            await asyncio.sleep(0.01)
            held = store.held("110000")
            if held is not None and held.version == 2:
                break
        await stop_refresher(fake)

    asyncio.run(run())
    assert store.held("110000").version == 2
    assert fake.state.trust_refresher is None
