"""Disputes (异议) and consent (用证授权) in the library, on memory, SQLite and PostgreSQL.

The licence changes only through an accepted decision, atomically with it; a refused step writes
nothing; a relying party sees exactly the granted fields of the CURRENT version, signed by the
issuer, and every use is visible to the holder.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from keys.errors import BadInputError, PermissionDeniedError
from licences.consent import RelyingParty, fetch, grant, revoke_grant, uses_of_holder, wallet
from licences.errors import (
    CheckCharacterError,
    ConsentError,
    InvalidFieldError,
    LicenceStateError,
    NotAuthorisedToIssueError,
    ObjectionStateError,
)
from licences.identifiers import make_id_number, make_uscc
from licences.lifecycle import revoke
from licences.model import LicenceStatus, ObjectionState, Resolution
from licences.objections import Actor, EvidenceFile, decide, file_objection, withdraw
from tests.test_issuance import ID_CARD, T0, World, person_fields
from tests.test_lifecycle import world  # noqa: F401  (fixture: memory, sqlite, postgresql)
from verifier.licence_qr import read_licence_qr
from verifier.report import Indication

T1 = T0 + timedelta(hours=1)
T2 = T0 + timedelta(days=2)
DRIVING = "11100000000013127D002"
SC_STAFF = Actor("p_sc_window", "staff", "510000")
GD_ISSUER = "p_gd_issuer"


def _issue(w: World, **over: Any) -> Any:
    return w.service.issue(w.authority, ID_CARD, person_fields(**over), actor=GD_ISSUER, at=T0, region="440000")


def _holder(lic: Any) -> Actor:
    return Actor("p_holder", "holder", "440000", subject=lic.holder_id)


def _queue(w: World, state: ObjectionState | None = ObjectionState.FILED) -> list[str]:
    return [o.id for o in w.repo.list_objections(authority_ids=[w.authority.id], state=state)]


# --- objections --------------------------------------------------------------------------------


def test_cross_region_objection_is_corrected_atomically(world: World) -> None:  # noqa: F811
    lic = _issue(world)
    proof = EvidenceFile("hukou.pdf", "application/pdf", b"%PDF-1")
    obj = file_objection(world.service, lic.licence_id, actor=SC_STAFF, ground="wrong_data",
                         reason="住址与户籍系统不一致", evidence=[proof], at=T1)
    assert obj.state is ObjectionState.FILED and obj.region == "440000" and obj.filer_region == "510000"
    assert _queue(world) == [obj.id]  # it reached the issuing authority's queue
    assert world.repo.get_licence(lic.licence_id).status is LicenceStatus.VALID  # nothing changed yet
    assert world.repo.evidence(obj.id, 0) == b"%PDF-1"
    assert len(obj.evidence[0].sm3) == 64

    # A correction that does not validate writes nothing: objection still open, licence untouched.
    bad_id = person_fields()["id_number"][:-1] + ("0" if person_fields()["id_number"][-1] != "0" else "1")
    with pytest.raises(CheckCharacterError):
        decide(world.service, obj.id, accept=True, resolution="corrected", changes={"id_number": bad_id},
               reason="更正", actor=GD_ISSUER, at=T2, region="440000")
    assert world.repo.get_objection(obj.id).state is ObjectionState.FILED
    assert world.repo.get_licence(lic.licence_id).status is LicenceStatus.VALID

    # Only the authority's region decides.
    with pytest.raises(NotAuthorisedToIssueError):
        decide(world.service, obj.id, accept=False, reason="no", actor="p_sc", at=T2, region="510000")

    done, new = decide(world.service, obj.id, accept=True, resolution="corrected",
                       changes={"address": "广东省广州市天河区体育东路2号"}, reason="核实后更正住址", actor=GD_ISSUER,
                       at=T2, region="440000")
    assert done.state is ObjectionState.ACCEPTED and done.resolution is Resolution.CORRECTED
    assert new is not None and done.new_licence_id == new.licence_id and new.version == 2
    old = world.repo.get_licence(lic.licence_id)
    assert old.status is LicenceStatus.SUPERSEDED and old.superseded_by == new.licence_id
    assert new.fields["address"] == "广东省广州市天河区体育东路2号"
    # The lifecycle events say which objection caused the change.
    assert [e.action for e in world.repo.events(lic.licence_id)][-1] == "supersede"
    assert obj.id in world.repo.events(lic.licence_id)[-1].reason
    assert obj.id in world.repo.events(new.licence_id)[0].reason
    assert _queue(world) == []
    # Deciding again is refused and changes nothing.
    with pytest.raises(ObjectionStateError):
        decide(world.service, obj.id, accept=True, resolution="revoked", reason="again", actor=GD_ISSUER, at=T2,
               region="440000")
    assert world.repo.get_licence(new.licence_id).status is LicenceStatus.VALID
    # The old version cannot be objected to any more; the message names the current one.
    with pytest.raises(LicenceStateError) as info:
        file_objection(world.service, lic.licence_id, actor=SC_STAFF, ground="other", reason="x", at=T2)
    assert new.licence_id in info.value.message


def test_reject_and_revoke(world: World) -> None:  # noqa: F811
    a, b = _issue(world), _issue(world, name="李四")
    oa = file_objection(world.service, a.licence_id, actor=SC_STAFF, ground="wrong_status", reason="应已注销", at=T1)
    ob = file_objection(world.service, b.licence_id, actor=SC_STAFF, ground="suspected_forgery", reason="冒用",
                        at=T1)
    with pytest.raises(InvalidFieldError) as info:  # a rejection needs a reason
        decide(world.service, oa.id, accept=False, reason="  ", actor=GD_ISSUER, at=T2, region="440000")
    assert info.value.field == "reason"
    with pytest.raises(InvalidFieldError):  # accepting needs a resolution
        decide(world.service, oa.id, accept=True, reason="ok", actor=GD_ISSUER, at=T2, region="440000")
    rejected, none = decide(world.service, oa.id, accept=False, reason="经核实证照状态正确", actor=GD_ISSUER, at=T2,
                            region="440000")
    assert rejected.state is ObjectionState.REJECTED and none is None
    assert world.repo.get_licence(a.licence_id).status is LicenceStatus.VALID
    accepted, revoked = decide(world.service, ob.id, accept=True, resolution=Resolution.REVOKED, reason="确认冒用",
                               actor=GD_ISSUER, at=T2, region="440000")
    assert accepted.resolution is Resolution.REVOKED and revoked is not None
    assert world.repo.get_licence(b.licence_id).status is LicenceStatus.REVOKED
    assert ob.id in world.repo.events(b.licence_id)[-1].reason


def test_filing_rules(world: World) -> None:  # noqa: F811
    lic = _issue(world)
    stranger = Actor("p_other_holder", "holder", "440000", subject=make_id_number("440106", T0.date().replace(
        year=1985), 7))
    with pytest.raises(PermissionDeniedError):
        file_objection(world.service, lic.licence_id, actor=stranger, ground="wrong_data", reason="x", at=T1)
    with pytest.raises(InvalidFieldError) as info:
        file_objection(world.service, lic.licence_id, actor=SC_STAFF, ground="because", reason="x", at=T1)
    assert info.value.field == "ground"
    with pytest.raises(BadInputError) as big:
        file_objection(world.service, lic.licence_id, actor=SC_STAFF, ground="other", reason="x", at=T1,
                       evidence=[EvidenceFile("a", "text/plain", b"x")] * 6)
    assert big.value.field == "evidence"
    with pytest.raises(BadInputError):
        file_objection(world.service, lic.licence_id, actor=SC_STAFF, ground="other", reason="x", at=T1,
                       evidence=[EvidenceFile("a", "not a type", b"x")])
    assert world.repo.list_objections(licence_id=lic.licence_id) == []  # nothing written by any refusal
    mine = file_objection(world.service, lic.licence_id, actor=_holder(lic), ground="wrong_data", reason="姓名错字",
                          at=T1)
    with pytest.raises(ObjectionStateError):  # one open objection per filer and version
        file_objection(world.service, lic.licence_id, actor=_holder(lic), ground="other", reason="again", at=T1)
    with pytest.raises(PermissionDeniedError):
        withdraw(world.service, mine.id, actor=SC_STAFF, at=T2)
    gone = withdraw(world.service, mine.id, actor=_holder(lic), at=T2)
    assert gone.state is ObjectionState.WITHDRAWN
    with pytest.raises(ObjectionStateError):
        decide(world.service, mine.id, accept=False, reason="late", actor=GD_ISSUER, at=T2, region="440000")


def test_racing_filings_cannot_both_land(world: World) -> None:  # noqa: F811
    # Two filings by one filer that both passed the service's check (a race) reach the store: the
    # store refuses the second (a partial unique index in SQL), and writes nothing for it.
    from dataclasses import replace

    lic = _issue(world)
    first = file_objection(world.service, lic.licence_id, actor=SC_STAFF, ground="wrong_data", reason="x", at=T1)
    twin = replace(first, id="obj-" + "0" * 24)
    with pytest.raises(ObjectionStateError), world.repo.transaction() as tx:
        tx.add_objection(twin, [b"evidence"])
    assert [o.id for o in world.repo.list_objections(licence_id=lic.licence_id)] == [first.id]
    # another filer, or the same filer once the first is no longer open, may file
    other = file_objection(world.service, lic.licence_id, actor=Actor("p_bj_window", "staff", "110000"),
                           ground="other", reason="y", at=T1)
    withdraw(world.service, first.id, actor=SC_STAFF, at=T2)
    with world.repo.transaction() as tx:
        tx.add_objection(twin, [])
    assert {o.id for o in world.repo.list_objections(licence_id=lic.licence_id)} == {first.id, other.id, twin.id}


# --- consent -----------------------------------------------------------------------------------


RP = RelyingParty("p_sc_bank_window", "四川某银行网点", "510000")


def _grant(w: World, lic: Any, **kw: Any) -> Any:
    args: dict[str, Any] = {"holder": _holder(lic), "relying_party": RP, "fields": ["name", "address"],
                            "purpose": "开户核验", "at": T1, "expires_at": T1 + timedelta(days=30)}
    args.update(kw)
    return grant(w.service, lic.licence_id, **args)


def test_relying_party_fetches_granted_fields_of_the_current_version(world: World) -> None:  # noqa: F811
    lic = _issue(world)
    g = _grant(world, lic)
    shared = fetch(world.service, g.id, relying_party=RP.principal, at=T1 + timedelta(minutes=5),
                   status_uri="https://gd.example/v1/status-lists/gd-psb")
    assert shared.disclosed == {"name": "张三", "address": lic.fields["address"]}
    certs = [world.authority.certificate]  # in another region: vouched for by the issuer region's trust list
    got = read_licence_qr(shared.token, trust=world.trust, certs=certs, at=T1 + timedelta(minutes=6),
                          require_status=False)
    assert got.report.indication is Indication.TOTAL_PASSED, got.report.reason.en
    assert got.claims is not None and dict(got.claims.disclosed) == shared.disclosed  # exactly the granted fields
    assert got.claims.identifier == lic.licence_id
    # The token is short-lived.
    late = read_licence_qr(shared.token, trust=world.trust, certs=certs, at=T1 + timedelta(hours=2),
                           require_status=False)
    assert late.report.indication is not Indication.TOTAL_PASSED

    # After a correction the same grant serves the new version.
    from licences.lifecycle import correct

    _, new = correct(world.service, lic.licence_id, {"address": "广东省深圳市福田区1号"}, actor=GD_ISSUER,
                     reason="迁居", at=T2, region="440000")
    again = fetch(world.service, g.id, relying_party=RP.principal, at=T2, status_uri=None)
    assert again.licence.licence_id == new.licence_id and again.disclosed["address"] == "广东省深圳市福田区1号"

    # Someone else with the grant id gets nothing; the attempt is logged for the holder.
    with pytest.raises(ConsentError):
        fetch(world.service, g.id, relying_party="p_intruder", at=T2, status_uri=None)
    # Revoked by the holder: refused.
    revoke_grant(world.service, g.id, holder=_holder(lic), at=T2)
    with pytest.raises(ConsentError):
        fetch(world.service, g.id, relying_party=RP.principal, at=T2 + timedelta(seconds=1), status_uri=None)
    with pytest.raises(LicenceStateError):
        revoke_grant(world.service, g.id, holder=_holder(lic), at=T2)
    outcomes = [u.outcome for _, u in uses_of_holder(world.service, lic.holder_id)]
    assert outcomes[:4] == ["refused: revoked by the holder", "refused: not the relying party of this grant",
                            "served", "served"]


def test_grant_rules(world: World) -> None:  # noqa: F811
    lic = _issue(world)
    stranger = Actor("p_x", "holder", "440000", subject=make_id_number("440106", T0.date().replace(year=1980), 3))
    with pytest.raises(PermissionDeniedError):
        _grant(world, lic, holder=stranger)
    with pytest.raises(InvalidFieldError) as info:
        _grant(world, lic, fields=["name", "salary"])
    assert info.value.field == "fields.salary"
    with pytest.raises(InvalidFieldError) as info:
        _grant(world, lic, expires_at=T1 + timedelta(days=400))
    assert info.value.field == "expires_at"
    with pytest.raises(InvalidFieldError):
        _grant(world, lic, purpose="")
    assert world.repo.list_consents(holder_id=lic.holder_id) == []  # nothing written
    # A field the type does not allow to share (a driving licence's internal archive number).
    uscc = make_uscc("1", "1", "440000", "MB2C9372")
    dl_auth = world.add_authority("gd-tpb", uscc, types=(DRIVING,))
    dl = world.service.issue(dl_auth, DRIVING, {
        "name": "张三", "sex": "男", "nationality": "中国", "id_number": lic.holder_id, "address": "广东省广州市",
        "birth_date": "1990-05-17", "first_issued_on": "2012-01-01", "vehicle_class": "C1",
        "archive_number": "440100123456"}, actor=GD_ISSUER, at=T0, region="440000")
    with pytest.raises(InvalidFieldError) as info:
        _grant(world, dl, fields=["name", "archive_number"])
    assert info.value.field == "fields.archive_number"
    # An expired grant and a revoked licence are refused at fetch time, and logged.
    g = _grant(world, lic, expires_at=T1 + timedelta(days=1))
    with pytest.raises(ConsentError):
        fetch(world.service, g.id, relying_party=RP.principal, at=T1 + timedelta(days=2), status_uri=None)
    g2 = _grant(world, lic)
    revoke(world.service, lic.licence_id, actor=GD_ISSUER, reason="注销", at=T2, region="440000")
    with pytest.raises(LicenceStateError):
        fetch(world.service, g2.id, relying_party=RP.principal, at=T2, status_uri=None)
    with pytest.raises(LicenceStateError):  # no new grants for a revoked licence
        _grant(world, lic)
    assert {u.outcome for _, u in uses_of_holder(world.service, lic.holder_id)} == {
        "refused: expired", "refused: licence revoked"}
    # The wallet shows the holder's licences from every authority (both 440000 ones here).
    assert {x.licence_id for x in wallet(world.service, lic.holder_id)} >= {lic.licence_id, dl.licence_id}
