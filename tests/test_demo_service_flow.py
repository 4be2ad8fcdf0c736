"""The main job on the embedded default, as a deployment runs it: the demo region's own PKI, issuing
authority and verifier, with nothing supplied by the caller but the artefact.

A licence signed by the service's own authority carries only its end-entity certificate; the
service offers its region's CA certificates to path building and its own current status list, so
window staff get a definite verdict for a local licence and a local consent token.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import make_settings, open_app
from tests.test_issuance import ID_CARD, person_fields

AUTHORITY = "demo-440000"


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    settings = make_settings(tmp_path_factory.mktemp("demoflow") / "var", demo_pki=True)
    yield from open_app(settings)


def _verify(h: Any, data: bytes) -> dict:
    r = h.client.post("/v1/verify", files={"file": ("licence.json", data)}, headers=h.auth("verifier"))
    assert r.status_code == 200, r.text
    return r.json()


def test_local_licence_and_consent_token_get_a_definite_verdict(h: Any) -> None:
    r = h.client.post("/v1/licences", json={"authority": AUTHORITY, "type_code": ID_CARD, "fields": person_fields()},
                      headers=h.auth("issuer"))
    assert r.status_code == 201, r.text
    lid = r.json()["licence_id"]
    signed = h.client.get(f"/v1/licences/{lid}/signed", headers=h.auth("issuer")).content
    ok = _verify(h, signed)
    assert ok["indication"] == "TOTAL_PASSED", ok["reason"]
    assert any(c["name"] == "status" and c["status"] == "passed" for c in ok["checks"])

    # Consent: the token a relying party fetches verifies at this service without any upload.
    rp = h.client.post("/v1/principals", json={"name": "bank", "role": "verifier", "region": "510000"},
                       headers=h.auth("admin")).json()
    holder = h.client.post("/v1/principals", json={"name": "张三", "role": "holder", "region": "440000",
                                                   "subject": person_fields()["id_number"]},
                           headers=h.auth("admin")).json()
    g = h.client.post("/v1/consents", json={"licence_id": lid, "relying_party": rp["id"], "fields": ["name"],
                                            "purpose": "开户"},
                      headers={"Authorization": f"Bearer {holder['token']}"})
    assert g.status_code == 201, g.text
    rp_auth = {"Authorization": f"Bearer {rp['token']}"}
    token = h.client.post(f"/v1/consents/{g.json()['id']}/fetch", headers=rp_auth).json()["token"]
    q = h.client.post("/v1/verify", json={"qr": token}, headers=rp_auth).json()
    assert q["indication"] == "TOTAL_PASSED", q["reason"]
    assert any(c["name"].startswith("signer.revocation") and c["status"] == "passed" for c in q["checks"])

    # Revoked: the same bytes now fail at once, with nothing uploaded but the licence.
    assert h.client.post(f"/v1/licences/{lid}/revoke", json={"reason": "注销"},
                         headers=h.auth("issuer")).status_code == 200
    bad = _verify(h, signed)
    assert bad["indication"] == "TOTAL_FAILED" and bad["sub_indication"] == "REVOKED"
