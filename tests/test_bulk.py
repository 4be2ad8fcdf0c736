"""Bulk issuance from CSV / JSON lines: per-row report; a bad row neither stops nor corrupts the others."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from keys.errors import BadInputError
from licences.bulk import issue_bulk, parse_rows
from licences.errors import NotAuthorisedToIssueError
from licences.identifiers import parse_licence_id
from tests.test_issuance import BUSINESS, DRIVING, ID_CARD, T0, World, make_world, person_fields


def _csv(rows: list[dict[str, object]]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=sorted({k for r in rows for k in r}))
    w.writeheader()
    w.writerows(rows)
    return ("\ufeff" + buf.getvalue()).encode()


def _rows() -> list[dict[str, object]]:
    ok = person_fields()
    return [ok, {**ok, "id_number": ok["id_number"][:-1] + ("0" if ok["id_number"][-1] != "0" else "1")},
            {**ok, "name": ""}, {**ok, "sex": "?"}, ok, {**ok, "valid_from": "2025-13-01"}, ok]


def _sql_world(tmp_path: Path) -> World:
    from api.storage.audit import SqlAuditLog
    from api.storage.db import Database, run_migrations
    from api.storage.licences import SqlLicenceRepository

    db = Database(f"sqlite:///{tmp_path / 'bulk.db'}")
    run_migrations(db)
    w = make_world(SqlLicenceRepository(db, audit=SqlAuditLog(db, clock=lambda: datetime.now(UTC))))
    w.db = db  # type: ignore[attr-defined]
    return w


@pytest.mark.parametrize("batch", [1, 3, 200])
@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_csv_per_row_report(backend: str, batch: int, tmp_path: Path) -> None:
    w = make_world() if backend == "memory" else _sql_world(tmp_path)
    report = issue_bulk(w.service, w.authority, ID_CARD, _csv(_rows()), fmt="csv", actor="p", at=T0,
                        region="440000", batch_size=batch)
    got = [(r.row, r.ok, r.field, r.code) for r in report.rows]
    assert got == [(1, True, None, None), (2, False, "id_number", "wrong_check_character"),
                   (3, False, "name", "invalid_field"), (4, False, "sex", "invalid_field"), (5, True, None, None),
                   (6, False, "valid_from", "invalid_field"), (7, True, None, None)]
    assert (report.issued, report.failed) == (3, 4)
    ids = [r.licence_id for r in report.rows if r.ok]
    for lid in ids:
        assert w.repo.get_licence(lid).licence_id == lid and parse_licence_id(lid).version == 1
    # indices are dense: failed rows consumed none
    assert sorted(w.repo.get_licence(i).status_index for i in ids) == [0, 1, 2]
    assert w.repo.status_size(w.authority.id)[0] == 3
    assert report.to_dict()["rows"][1]["reason_zh"]


def test_jsonl_and_malformed_lines() -> None:
    w = make_world()
    ok = person_fields()
    lines = [json.dumps(ok, ensure_ascii=False), "not json", "[1,2]", "", json.dumps({**ok, "extra": 1}),
             json.dumps(ok)]
    report = issue_bulk(w.service, w.authority.id, ID_CARD, "\n".join(lines).encode(), fmt="jsonl", actor="p",
                        at=T0, region="440000")
    assert [(r.row, r.ok, r.field) for r in report.rows] == [(1, True, None), (2, False, "row"), (3, False, "row"),
                                                              (5, False, "extra"), (6, True, None)]


def test_a_failing_write_undoes_only_its_row(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    w = _sql_world(tmp_path)
    real = w.service.build
    calls = {"n": 0}

    def flaky(*a: object, **kw: object) -> object:
        calls["n"] += 1
        lic = real(*a, **kw)  # the licence row and its index are written ...
        if calls["n"] == 2:
            raise BadInputError("simulated failure after the insert", field="simulated")  # ... then undone
        return lic

    monkeypatch.setattr(w.service, "build", flaky)
    rows = [person_fields(), person_fields(), person_fields()]
    report = issue_bulk(w.service, w.authority, ID_CARD, _csv(rows), fmt="csv", actor="p", at=T0, region="440000")
    assert [(r.ok, r.field) for r in report.rows] == [(True, None), (False, "simulated"), (True, None)]
    stored = w.repo.list_licences(authority_id=w.authority.id)
    assert len(stored) == 2 and {x.licence_id for x in stored} == {r.licence_id for r in report.rows if r.ok}
    from api.storage.audit import SqlAuditLog

    log = SqlAuditLog(w.db, clock=lambda: T0)  # type: ignore[attr-defined]
    assert log.verify().intact
    batches = [e for e in log.page(limit=1000) if e.action == "licence.bulk_issue"]
    assert len(batches) == 1 and [r[0] for r in batches[0].details["rows"]] == [1, 3]  # the undone row is not audited
    assert [e.action for e in w.repo.events(report.rows[0].licence_id)] == ["issue"]


def test_whole_file_refusals() -> None:
    w = make_world()
    with pytest.raises(NotAuthorisedToIssueError):
        issue_bulk(w.service, w.authority, DRIVING, _csv([person_fields()]), fmt="csv", actor="p", at=T0,
                   region="440000")
    with pytest.raises(NotAuthorisedToIssueError):
        issue_bulk(w.service, w.authority, ID_CARD, _csv([person_fields()]), fmt="csv", actor="p", at=T0,
                   region="110000")
    for data, fmt in [(b"\xff\xfe", "csv"), (b"", "csv"), (b"a,a\n1,2\n", "csv"), (b"x", "xml")]:
        with pytest.raises(BadInputError):
            list(parse_rows(data, fmt=fmt))
    assert not w.repo.list_licences()
    r = issue_bulk(w.service, w.authority, BUSINESS, b"uscc,name\n", fmt="csv", actor="p", at=T0, region="440000")
    assert r.rows == ()
