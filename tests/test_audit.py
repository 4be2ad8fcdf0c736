"""The audit chain: canonical JSON, entry hash (checked against an independent SM3), tamper detection, CLI."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from gmssl import func as gm_func
from gmssl import sm3 as gm_sm3
from hypothesis import given, settings
from hypothesis import strategies as st

from keys.audit import (
    GENESIS_HASH,
    AuditChainError,
    AuditEntry,
    ChainVerifier,
    canonical_json,
    check_chain,
    compute_entry_hash,
    pii_digest,
    seal_entry,
    verify_chain,
)
from keys.errors import BadInputError

TS = "2025-03-01T08:00:00.000000Z"


def _chain(n: int) -> list[AuditEntry]:
    out: list[AuditEntry] = []
    prev = GENESIS_HASH
    for i in range(1, n + 1):
        e = seal_entry(seq=i, ts=TS, actor=f"p_{i % 3}", action="thing.do", object_type="thing", object_id=str(i),
                       details={"n": i, "tags": ["a", "证照"], "nested": {"z": None, "a": True}}, prev_hash=prev)
        out.append(e)
        prev = e.entry_hash
    return out


# -- canonical JSON and the hash --------------------------------------------------------------


def test_canonical_json_is_sorted_compact_utf8() -> None:
    assert canonical_json({"b": 1, "a": [True, None, "证"], "c": {"y": 2, "x": 1}}) == (
        '{"a":[true,null,"证"],"b":1,"c":{"x":1,"y":2}}'.encode()
    )


@pytest.mark.parametrize("bad", [1.5, float("nan"), {1: "x"}, {"a": b"bytes"}, {"a": {1, 2}}])
def test_canonical_json_refuses_ambiguous_values(bad: Any) -> None:
    with pytest.raises(BadInputError):
        canonical_json({"v": bad} if not isinstance(bad, dict) else bad)


def test_canonical_json_refuses_deep_nesting() -> None:
    deep: Any = "x"
    for _ in range(20):
        deep = [deep]
    with pytest.raises(BadInputError):
        canonical_json(deep)


def test_entry_hash_matches_independent_sm3() -> None:
    # Recompute the documented construction with gmssl's SM3 and the stdlib json module.
    e = seal_entry(seq=1, ts=TS, actor="system", action="principal.create", object_type="principal",
                   object_id="p_1", details={"role": "admin", "区": "440000"}, prev_hash=GENESIS_HASH)
    body = {"seq": 1, "ts": TS, "actor": "system", "action": "principal.create", "object_type": "principal",
            "object_id": "p_1", "details": {"role": "admin", "区": "440000"}}
    msg = (b"esign-audit-v1\x00" + bytes(32)
           + json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())
    assert e.entry_hash == gm_sm3.sm3_hash(gm_func.bytes_to_list(msg))
    assert len(e.entry_hash) == 64


def test_seal_refuses_oversized_or_bad_fields() -> None:
    with pytest.raises(BadInputError):
        seal_entry(seq=1, ts=TS, actor="a", action="b", object_type="c", object_id="d",
                   details={"blob": "x" * 20_000}, prev_hash=GENESIS_HASH)
    with pytest.raises(BadInputError):
        seal_entry(seq=0, ts=TS, actor="a", action="b", object_type="c", object_id="d", details={},
                   prev_hash=GENESIS_HASH)
    with pytest.raises(BadInputError):
        seal_entry(seq=1, ts=TS, actor="a" * 500, action="b", object_type="c", object_id="d", details={},
                   prev_hash=GENESIS_HASH)
    with pytest.raises(BadInputError):
        seal_entry(seq=1, ts=TS, actor="a", action="b", object_type="c", object_id="d", details={},
                   prev_hash="zz")


# -- chain checks -------------------------------------------------------------------------------


def test_intact_chain_verifies() -> None:
    chain = _chain(10)
    st_ = verify_chain(chain)
    assert st_.intact and st_.count == 10 and st_.head_seq == 10 and st_.head_hash == chain[-1].entry_hash
    assert check_chain([]).intact and check_chain([]).head_hash == GENESIS_HASH


def test_modified_details_is_reported_at_its_index() -> None:
    chain = _chain(6)
    chain[3] = replace(chain[3], details={**chain[3].details, "n": 999})
    st_ = check_chain(chain)
    assert not st_.intact
    assert (st_.first_bad_index, st_.first_bad_seq) == (3, 4)
    assert "modified" in (st_.reason or "")
    with pytest.raises(AuditChainError) as ei:
        verify_chain(chain)
    assert ei.value.index == 3 and ei.value.seq == 4 and ei.value.code == "audit_chain_broken"


def test_rehashed_entry_still_breaks_the_next_link() -> None:
    # An attacker who recomputes the changed entry's hash breaks the following entry's prev_hash.
    chain = _chain(5)
    forged = replace(chain[2], actor="someone-else")
    chain[2] = replace(forged, entry_hash=compute_entry_hash(forged))
    st_ = check_chain(chain)
    assert (st_.first_bad_index, st_.first_bad_seq) == (3, 4)
    assert "prev_hash" in (st_.reason or "")


@pytest.mark.parametrize("mutation", ["delete_middle", "swap", "duplicate", "start_late"])
def test_structural_tampering_is_detected(mutation: str) -> None:
    chain = _chain(6)
    if mutation == "delete_middle":
        del chain[2]
        want = 2
    elif mutation == "swap":
        chain[1], chain[2] = chain[2], chain[1]
        want = 1
    elif mutation == "duplicate":
        chain.insert(3, chain[2])
        want = 3
    else:
        chain = chain[1:]
        want = 0
    st_ = check_chain(chain)
    assert not st_.intact and st_.first_bad_index == want


def test_truncation_is_detected_against_the_head() -> None:
    chain = _chain(5)
    v = ChainVerifier()
    for e in chain[:3]:
        v.feed(e)
    v.expect_head(seq=5, entry_hash=chain[-1].entry_hash)
    st_ = v.status()
    assert not st_.intact and st_.first_bad_index == 3 and "removed" in (st_.reason or "")


_FIELDS = ("seq", "ts", "actor", "action", "object_type", "object_id", "details", "prev_hash", "entry_hash")


@settings(max_examples=150, deadline=None)
@given(idx=st.integers(0, 7), fld=st.sampled_from(_FIELDS), salt=st.text(min_size=1, max_size=8))
def test_any_single_field_change_is_detected(idx: int, fld: str, salt: str) -> None:
    chain = _chain(8)
    e = chain[idx]
    if fld == "seq":
        new: Any = e.seq + 1 + len(salt)
    elif fld == "details":
        new = {**e.details, "x": salt}
    elif fld in ("prev_hash", "entry_hash"):
        cur = getattr(e, fld)
        new = ("f" if cur[0] != "f" else "e") + cur[1:]
    else:
        new = getattr(e, fld) + salt
    chain[idx] = replace(e, **{fld: new})
    st_ = check_chain(chain)
    assert not st_.intact
    assert st_.first_bad_index in (idx, idx + 1)


def test_pii_digest_is_keyed_and_stable() -> None:
    k1, k2 = b"k" * 32, b"j" * 32
    assert pii_digest("440106199001011234", key=k1) == pii_digest("440106199001011234", key=k1)
    assert pii_digest("440106199001011234", key=k1) != pii_digest("440106199001011234", key=k2)
    assert "440106" not in pii_digest("440106199001011234", key=k1)
    with pytest.raises(BadInputError):
        pii_digest("x", key=b"short")


# -- SQL log + CLI ------------------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.t = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.t += timedelta(seconds=1)
        return self.t


def _make_log(data_dir: Path, n: int) -> None:
    from api.storage.audit import SqlAuditLog
    from api.storage.db import Database, run_migrations

    db = Database(f"sqlite:///{data_dir / 'esign.db'}")
    run_migrations(db)
    log = SqlAuditLog(db, clock=_Clock())
    for i in range(n):
        log.append(actor="p_test", action="thing.do", object_type="thing", object_id=str(i), details={"i": i})
    db.dispose()


def test_cli_verify_exit_codes(tmp_path: Path) -> None:
    from api.cli import main

    data = tmp_path / "var"
    data.mkdir()
    _make_log(data, 5)
    runner = CliRunner()

    ok = runner.invoke(main, ["audit", "verify", "--data-dir", str(data)])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["intact"] is True and json.loads(ok.output)["count"] == 5

    shown = runner.invoke(main, ["audit", "show", "--data-dir", str(data), "--after", "3"])
    assert shown.exit_code == 0 and [e["seq"] for e in json.loads(shown.output)] == [4, 5]

    with sqlite3.connect(data / "esign.db") as conn:
        conn.execute("""UPDATE audit_log SET details = '{"i":42}' WHERE seq = 3""")
    bad = runner.invoke(main, ["audit", "verify", "--data-dir", str(data)])
    assert bad.exit_code == 1
    report = json.loads(bad.output)
    assert report["intact"] is False and report["first_bad_index"] == 2 and report["first_bad_seq"] == 3

    text = runner.invoke(main, ["audit", "verify", "--data-dir", str(data), "--format", "text"])
    assert text.exit_code == 1 and "index 2" in text.output


def test_cli_verify_detects_truncation(tmp_path: Path) -> None:
    from api.cli import main

    data = tmp_path / "var"
    data.mkdir()
    _make_log(data, 4)
    with sqlite3.connect(data / "esign.db") as conn:
        conn.execute("DELETE FROM audit_log WHERE seq = 4")
    res = CliRunner().invoke(main, ["audit", "verify", "--data-dir", str(data)])
    assert res.exit_code == 1 and json.loads(res.output)["first_bad_index"] == 3


def test_cli_verify_without_database_is_bad_input(tmp_path: Path) -> None:
    from api.cli import main

    res = CliRunner().invoke(main, ["audit", "verify", "--data-dir", str(tmp_path / "nothing")])
    assert res.exit_code == 2
    assert "Traceback" not in res.output
