"""The HTTP service on the embedded backend: probes, OpenAPI, auth, problem+json, body limit, demo bootstrap."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter
from pydantic import BaseModel
from starlette.requests import Request

from keys.errors import BackendUnavailableError, ConflictError
from tests.conftest import AppHandle, make_settings, open_app

PROBLEM_KEYS = {"type", "title", "status", "detail", "detail_zh", "code", "field", "instance", "request_id"}


def _assert_problem(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert PROBLEM_KEYS <= body.keys()
    assert body["status"] == status and body["code"] == code and body["type"] == f"/problems/{code}"
    assert body["detail"] and body["detail_zh"] and body["title"]
    assert body["request_id"] == r.headers["x-request-id"]
    assert "Traceback" not in r.text
    return body


class _Item(BaseModel):
    n: int


def _test_router() -> APIRouter:
    router = APIRouter(prefix="/_test")

    @router.get("/conflict")
    def conflict() -> None:
        raise ConflictError("already there", message_zh="已存在", field="thing")

    @router.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2 at /srv/db")

    @router.post("/echo")
    def echo(item: _Item) -> dict[str, int]:
        return {"n": item.n}

    @router.post("/raw")
    async def raw(request: Request) -> dict[str, int]:  # reads the body itself
        return {"len": len(await request.body())}

    return router


@pytest.fixture
def h(settings: Any) -> Iterator[AppHandle]:
    yield from open_app(settings, extra_routers=[_test_router()], raise_server_exceptions=False)


# -- probes and OpenAPI -------------------------------------------------------------------------------


def test_healthz_and_readyz(h: AppHandle) -> None:
    assert h.client.get("/healthz").json() == {"status": "ok"}
    r = h.client.get("/readyz")
    assert r.status_code == 200 and r.json() == {"status": "ready", "checks": {"database": "ok", "cache": "ok"}}


def test_readyz_503_when_database_fails(h: AppHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    def down() -> None:
        raise BackendUnavailableError("database unreachable (OperationalError)")

    monkeypatch.setattr(h.app.state.db, "ping", down)
    body = _assert_problem(h.client.get("/readyz"), 503, "not_ready")
    assert body["checks"]["database"].startswith("database unreachable") and body["checks"]["cache"] == "ok"


def test_openapi_lists_routes(h: AppHandle) -> None:
    r = h.client.get("/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    assert spec["openapi"].startswith("3.") and spec["info"]["title"] == "esign"
    for path in ("/healthz", "/readyz", "/v1/principals", "/v1/principals/{principal_id}", "/v1/audit",
                 "/v1/audit/verify"):
        assert path in spec["paths"], path
    assert "post" in spec["paths"]["/v1/principals"] and "delete" in spec["paths"]["/v1/principals/{principal_id}"]
    assert "/" not in spec["paths"]  # people pages are not part of the API description


def test_landing_page_and_problem_pages(h: AppHandle) -> None:
    r = h.client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    for needle in ("440000", 'href="/docs"', 'href="/openapi.json"', "Demo"):
        assert needle in r.text
    assert h.client.get("/problems").status_code == 200
    assert "permission_denied" in h.client.get("/problems/permission_denied").text
    _assert_problem(h.client.get("/problems/no_such_thing"), 404, "not_found")


# -- authentication and roles -----------------------------------------------------------------------


def test_401_without_or_with_bad_token(h: AppHandle) -> None:
    body = _assert_problem(h.client.get("/v1/audit"), 401, "unauthenticated")
    assert body["field"] == "Authorization"
    for hdr in ({"Authorization": "Bearer esk_not-a-real-token-at-all-000"}, {"Authorization": "Basic abc"},
                {"Authorization": "Bearer nope"}, {"X-API-Key": "esk_wrong-wrong-wrong-wrong"}):
        r = h.client.get("/v1/audit", headers=hdr)
        _assert_problem(r, 401, "unauthenticated")
        assert r.headers["www-authenticate"] == "Bearer"


def test_403_for_wrong_role(h: AppHandle) -> None:
    for role in ("issuer", "signer", "verifier", "staff", "holder"):
        body = _assert_problem(h.client.get("/v1/audit", headers=h.auth(role)), 403, "permission_denied")
        assert role in body["detail"]
    assert h.client.get("/v1/audit", headers=h.auth("admin")).status_code == 200
    assert h.client.get("/v1/audit", headers={"X-API-Key": h.tokens["admin"]}).status_code == 200


def test_principal_lifecycle(h: AppHandle) -> None:
    c = h.client
    r = c.post("/v1/principals", json={"name": "Seal desk", "role": "signer", "region": "440000"}, headers=h.auth())
    assert r.status_code == 201
    p = r.json()
    assert p["token"].startswith("esk_") and p["role"] == "signer" and p["token_hint"] == p["token"][:8]
    listed = c.get("/v1/principals", headers=h.auth()).json()
    assert any(x["id"] == p["id"] for x in listed) and all("token" not in x for x in listed)
    signer = {"Authorization": f"Bearer {p['token']}"}
    _assert_problem(c.get("/v1/audit", headers=signer), 403, "permission_denied")
    assert c.delete(f"/v1/principals/{p['id']}", headers=h.auth()).json()["revoked_at"] is not None
    _assert_problem(c.get("/v1/audit", headers=signer), 401, "unauthenticated")
    _assert_problem(c.delete(f"/v1/principals/{p['id']}", headers=h.auth()), 409, "conflict")
    _assert_problem(c.delete("/v1/principals/p_nonexistent", headers=h.auth()), 404, "not_found")
    actions = [e["action"] for e in c.get("/v1/audit?after=0&limit=500", headers=h.auth()).json()["items"]]
    assert actions[-2:] == ["principal.create", "principal.revoke"]


def test_principal_rules(h: AppHandle) -> None:
    c = h.client
    body = _assert_problem(c.post("/v1/principals", json={"name": "x", "role": "staff", "region": "*"},
                                  headers=h.auth()), 400, "bad_input")
    assert body["field"] == "region"
    me = next(x for x in c.get("/v1/principals", headers=h.auth()).json() if x["role"] == "admin")
    _assert_problem(c.delete(f"/v1/principals/{me['id']}", headers=h.auth()), 409, "conflict")
    _assert_problem(c.post("/v1/principals", json={"name": "x", "role": "staff", "region": "440000"},
                           headers=h.auth("issuer")), 403, "permission_denied")


# -- audit endpoints ----------------------------------------------------------------------------------


def test_audit_pagination_and_verify(h: AppHandle) -> None:
    c = h.client
    first = c.get("/v1/audit?limit=3", headers=h.auth()).json()
    assert [e["seq"] for e in first["items"]] == [1, 2, 3] and first["next_after"] == 3
    rest = c.get(f"/v1/audit?after={first['next_after']}&limit=500", headers=h.auth()).json()
    assert rest["items"][0]["seq"] == 4 and rest["next_after"] is None
    assert rest["items"][-1]["action"] == "demo.bootstrap"
    v = c.get("/v1/audit/verify", headers=h.auth()).json()
    assert v["intact"] is True and v["algorithm"] == "sm3" and v["head_seq"] == rest["items"][-1]["seq"]
    with h.app.state.db.engine.begin() as conn:
        conn.exec_driver_sql("""UPDATE audit_log SET details = '{"role":"admin"}' WHERE seq = 2""")
    v = c.get("/v1/audit/verify", headers=h.auth()).json()
    assert v["intact"] is False and v["first_bad_index"] == 1 and v["first_bad_seq"] == 2


# -- problem+json for every kind of failure ---------------------------------------------------------


def test_domain_error_is_a_problem(h: AppHandle) -> None:
    body = _assert_problem(h.client.get("/_test/conflict"), 409, "conflict")
    assert body["detail"] == "already there" and body["detail_zh"] == "已存在" and body["field"] == "thing"
    assert body["instance"] == "/_test/conflict"


def test_validation_error_is_a_problem_without_echoing_input(h: AppHandle) -> None:
    r = h.client.post("/_test/echo", json={"n": "440106199001011234-not-a-number"})
    body = _assert_problem(r, 422, "validation_failed")
    assert body["field"] == "n" and body["errors"][0]["loc"] == ["body", "n"]
    assert "440106199001011234" not in r.text
    body = _assert_problem(h.client.post("/v1/principals", json={"name": "x", "role": "king", "region": "1"},
                                         headers=h.auth()), 422, "validation_failed")
    assert {tuple(e["loc"]) for e in body["errors"]} >= {("body", "role"), ("body", "region")}
    _assert_problem(h.client.post("/_test/echo", content=b"{not json", headers={"content-type": "application/json"}),
                    422, "validation_failed")


def test_unexpected_exception_is_a_bare_500_problem(h: AppHandle, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="esign"):
        r = h.client.get("/_test/boom")
    body = _assert_problem(r, 500, "internal_error")
    assert "hunter2" not in r.text and "secret internals" not in r.text and "RuntimeError" not in r.text
    logged = [rec for rec in caplog.records if rec.name == "esign.errors" and rec.exc_info]
    assert logged, "the exception must be logged server-side"
    assert body["request_id"]


def test_http_errors_are_problems(h: AppHandle) -> None:
    _assert_problem(h.client.get("/no/such/route"), 404, "route_not_found")
    _assert_problem(h.client.put("/healthz"), 405, "method_not_allowed")


def test_body_over_limit_is_413(h: AppHandle) -> None:
    limit = h.settings.max_upload_bytes
    big = b"x" * (limit + 1)
    body = _assert_problem(h.client.post("/_test/raw", content=big), 413, "body_too_large")
    assert str(limit) in body["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
        for _ in range(4):
            yield b"y" * (limit // 2)

    _assert_problem(h.client.post("/_test/raw", content=chunks()), 413, "body_too_large")
    assert h.client.post("/_test/raw", content=b"z" * limit).json() == {"len": limit}


# -- request ids and logs -----------------------------------------------------------------------------


def test_request_id_and_access_log(h: AppHandle, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="esign"):
        r = h.client.get("/v1/audit", headers={**h.auth(), "X-Request-ID": "req-12345678"})
        bad = h.client.get("/v1/audit", headers={"X-Request-ID": "bad id with spaces"})
    assert r.headers["x-request-id"] == "req-12345678"
    assert bad.headers["x-request-id"] != "bad id with spaces"
    access = [rec for rec in caplog.records if rec.name == "esign.access"]
    first = access[0].__dict__
    assert first["path"] == "/v1/audit" and first["status"] == 200 and first["method"] == "GET"
    assert first["principal"].startswith("p_") and first["duration_ms"] >= 0
    text = caplog.text + " ".join(str(rec.__dict__) for rec in caplog.records)
    for tok in h.tokens.values():
        assert tok not in text


def test_json_formatter_includes_context() -> None:
    import json

    from api.logging import JsonFormatter

    rec = logging.LogRecord("esign.x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    rec.extra_field = "v"
    out = json.loads(JsonFormatter().format(rec))
    assert out["msg"] == "hello world" and out["level"] == "INFO" and out["extra_field"] == "v"


# -- start-up -----------------------------------------------------------------------------------------


def test_demo_bootstrap_is_idempotent(tmp_path: Path) -> None:
    s = make_settings(tmp_path / "var", demo_pki=True)
    for h in open_app(s):
        first = h.client.get("/v1/principals", headers=h.auth()).json()
        tokens = dict(h.tokens)
        assert {p["role"] for p in first} == {"admin", "issuer", "signer", "verifier", "staff", "holder"}
        assert {p["region"] for p in first} == {"*", "440000"}
        demo = h.app.state.demo_result
        assert demo.pki_dir == s.pki_dir / "440000" and demo.pki_note == ""
    region_dir = s.pki_dir / "440000"
    assert (region_dir / "region.json").exists() and (region_dir / "root" / "cert.pem").exists()
    key_files = list(region_dir.rglob("keys/*.pem"))
    assert key_files and all(b"ENCRYPTED PRIVATE KEY" in f.read_bytes() for f in key_files)
    pki_listing = sorted(str(p) for p in region_dir.rglob("*"))
    for f in s.secrets_dir.iterdir():
        assert f.stat().st_mode & 0o777 == 0o600, f
    assert s.secrets_dir.stat().st_mode & 0o777 == 0o700
    assert (s.secrets_dir / "keystore.pass").exists()
    for h in open_app(s):
        assert h.tokens == tokens
        assert h.app.state.demo_result is None
        again = h.client.get("/v1/principals", headers=h.auth()).json()
        assert [p["id"] for p in again] == [p["id"] for p in first]
    assert sorted(str(p) for p in region_dir.rglob("*")) == pki_listing


def test_admin_token_from_settings(tmp_path: Path) -> None:
    token = "esk_" + "A" * 40
    s = make_settings(tmp_path / "var", demo=False, admin_token=token)
    for h in open_app(s):
        assert h.tokens == {}  # no demo files
        r = h.client.get("/v1/principals", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and [p["role"] for p in r.json()] == ["admin"]


def test_refuses_to_start_when_sm2_self_test_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from keys import _sm2

    def broken() -> None:
        raise BackendUnavailableError("SM2/SM3 self-test failed (simulated)")

    monkeypatch.setattr(_sm2, "self_test", broken)
    s = make_settings(tmp_path / "var")
    with pytest.raises(BackendUnavailableError):
        for _ in open_app(s):
            pass
    assert not (s.data_dir / "esign.db").exists()  # nothing touched before the self-test passed
