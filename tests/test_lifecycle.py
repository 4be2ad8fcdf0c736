"""Lifecycle: suspend, reinstate, revoke (409 twice), corrections as new versions; on memory, SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from licences.errors import CheckCharacterError, LicenceNotFoundError, LicenceStateError, NotAuthorisedToIssueError
from licences.identifiers import parse_licence_id
from licences.lifecycle import correct, reinstate, revoke, suspend
from licences.model import LicenceStatus, effective_status
from tests.test_issuance import ID_CARD, T0, World, make_world, person_fields

T1 = T0 + timedelta(days=1)


def _sql_repo(url: str) -> Any:
    from api.storage.audit import SqlAuditLog
    from api.storage.db import Database, run_migrations
    from api.storage.licences import SqlLicenceRepository

    db = Database(url)
    run_migrations(db)
    return db, SqlLicenceRepository(db, audit=SqlAuditLog(db, clock=lambda: datetime.now(UTC)))


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    if request.param == "memory":
        yield make_world()
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'lic.db'}"
    else:
        request.applymarker(pytest.mark.services)
        url = request.getfixturevalue("pg_url")
    db, repo = _sql_repo(url)
    try:
        w = make_world(repo)
        w.db = db  # type: ignore[attr-defined]
        yield w
    finally:
        db.dispose()


def _issue(w: World, **over: Any) -> Any:
    return w.service.issue(w.authority, ID_CARD, person_fields(**over), actor="p_issuer", at=T0, region="440000")


def _audit_actions(w: World, licence_id: str) -> list[str]:
    db = getattr(w, "db", None)
    if db is None:
        return [e["action"] for e in w.repo.audit if e["object_id"] == licence_id]
    from api.storage.audit import SqlAuditLog

    log = SqlAuditLog(db, clock=lambda: T0)
    assert log.verify().intact  # the hash chain is intact after every change
    return [e.action for e in log.page(limit=1000) if e.object_id == licence_id]


def test_suspend_reinstate_revoke(world: World) -> None:
    lic = _issue(world)
    kw = {"actor": "p_officer", "at": T1, "region": "440000"}
    assert suspend(world.service, lic.licence_id, reason="investigation", **kw).status is LicenceStatus.SUSPENDED
    with pytest.raises(LicenceStateError):
        suspend(world.service, lic.licence_id, reason="again", **kw)
    assert reinstate(world.service, lic.licence_id, reason="cleared", **kw).status is LicenceStatus.VALID
    with pytest.raises(LicenceStateError):
        reinstate(world.service, lic.licence_id, reason="x", **kw)
    assert revoke(world.service, lic.licence_id, reason="fraud", **kw).status is LicenceStatus.REVOKED
    with pytest.raises(LicenceStateError) as info:
        revoke(world.service, lic.licence_id, reason="twice", **kw)
    assert info.value.http_status == 409 and "already revoked" in info.value.message
    assert world.repo.get_licence(lic.licence_id).status is LicenceStatus.REVOKED  # nothing changed by the refusal
    events = world.repo.events(lic.licence_id)
    assert [(e.action, e.actor, e.reason) for e in events] == [
        ("issue", "p_issuer", ""), ("suspend", "p_officer", "investigation"), ("reinstate", "p_officer", "cleared"),
        ("revoke", "p_officer", "fraud")]
    assert _audit_actions(world, lic.licence_id) == ["licence.issue", "licence.suspend", "licence.reinstate",
                                                     "licence.revoke"]


def test_correction_issues_a_new_version(world: World) -> None:
    old = _issue(world)
    sup, new = correct(world.service, old.licence_id, {"address": "广东省深圳市南山区科技园"}, actor="p_officer",
                       reason="address changed", at=T1, region="440000")
    assert sup.status is LicenceStatus.SUPERSEDED and sup.superseded_by == new.licence_id
    assert new.supersedes == old.licence_id and new.version == 2 and new.serial == old.serial
    assert new.fields["address"] == "广东省深圳市南山区科技园" and new.fields["name"] == old.fields["name"]
    pid = parse_licence_id(new.licence_id)
    assert pid.version == 2 and new.licence_id != old.licence_id and new.status_index != old.status_index
    assert json.loads(new.document)["supersedes"] == old.licence_id
    assert world.repo.get_licence(old.licence_id).superseded_by == new.licence_id
    with pytest.raises(LicenceStateError):  # a superseded version cannot be corrected or revoked again
        correct(world.service, old.licence_id, {"address": "x"}, actor="p", reason="r", at=T1, region="440000")
    with pytest.raises(LicenceStateError):
        revoke(world.service, old.licence_id, actor="p", reason="r", at=T1, region="440000")
    assert [e.action for e in world.repo.events(old.licence_id)] == ["issue", "supersede"]
    assert [e.action for e in world.repo.events(new.licence_id)] == ["correct"]


def test_bad_correction_writes_nothing(world: World) -> None:
    old = _issue(world)
    before = world.service.repo.status_size(world.authority.id)
    with pytest.raises(CheckCharacterError) as info:
        correct(world.service, old.licence_id, {"id_number": "440106199005171235"}, actor="p", reason="r", at=T1,
                region="440000")
    assert info.value.field == "id_number"
    assert world.repo.get_licence(old.licence_id).status is LicenceStatus.VALID
    assert world.service.repo.status_size(world.authority.id) == before


def test_other_region_and_unknown(world: World) -> None:
    lic = _issue(world)
    with pytest.raises(NotAuthorisedToIssueError):
        revoke(world.service, lic.licence_id, actor="p", reason="r", at=T1, region="110000")
    with pytest.raises(LicenceNotFoundError):
        revoke(world.service, lic.licence_id[:-1] + "0", actor="p", reason="r", at=T1, region="440000")
    assert world.repo.get_licence(lic.licence_id).status is LicenceStatus.VALID


def test_expired_is_derived() -> None:
    w = make_world()
    lic = _issue(w, valid_until="2025-04-01")
    assert effective_status(lic, datetime(2025, 4, 1, 23, tzinfo=UTC)) is LicenceStatus.VALID
    assert effective_status(lic, datetime(2025, 4, 2, tzinfo=UTC)) is LicenceStatus.EXPIRED
    # an expired licence can still be revoked (status is stored, expiry derived)
    assert revoke(w.service, lic.licence_id, actor="p", reason="r", at=datetime(2025, 5, 1, tzinfo=UTC),
                  region="440000").status is LicenceStatus.REVOKED
