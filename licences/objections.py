"""Disputes and corrections (异议处理, 反馈纠错): an objection against a licence reaches its issuer's queue.

Who may file (:class:`Actor`): a relying party that checked the licence (``staff``, ``verifier``),
another authority (``issuer``), the local operator, from ANY region -- the objection lands in the
queue of the licence's issuing authority, whatever region the filer is in; and the holder, only
against a licence issued to them.

States (anything else is :class:`~licences.errors.ObjectionStateError`, 409)::

    filed --decide(accept, corrected)--> accepted  + the licence gets version n+1, n is superseded
          --decide(accept, revoked)----> accepted  + the licence is revoked
          --decide(reject, reason)-----> rejected  (the licence is untouched)
          --withdraw (the filer)-------> withdrawn

Nothing about a licence changes silently: the licence changes only through an accepted
decision, in the SAME transaction as the decision, and its lifecycle events name the objection
(reason ``异议 obj-…: …``, audit details ``objection``). Every step writes an audit entry; the
filer follows the state with :meth:`LicenceRepository.get_objection` (``GET /v1/objections/{id}``).
Evidence files are stored with their SM3 digests so both sides can show what was sent.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from keys.errors import BadInputError, PermissionDeniedError
from keys.hashing import sm3
from licences.errors import InvalidFieldError, LicenceStateError, ObjectionStateError
from licences.issuance import ALL_REGIONS, MAX_REASON_CHARS, LicenceService
from licences.lifecycle import change_in, correct_in, prepare_correction
from licences.model import (
    Evidence,
    Licence,
    LicenceStatus,
    Objection,
    ObjectionGround,
    ObjectionState,
    Resolution,
)

__all__ = [
    "FILER_ROLES",
    "MAX_EVIDENCE_BYTES",
    "MAX_EVIDENCE_FILES",
    "Actor",
    "EvidenceFile",
    "decide",
    "file_objection",
    "objection_to_dict",
    "withdraw",
]

#: Roles that may file an objection.
FILER_ROLES = frozenset({"holder", "staff", "verifier", "issuer", "operator"})
#: Most evidence files per objection.
MAX_EVIDENCE_FILES = 5
#: Largest evidence file, and largest total.
MAX_EVIDENCE_BYTES = 5 << 20
_MAX_EVIDENCE_TOTAL = 10 << 20
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9.+-]{0,62}/[a-z0-9][a-z0-9.+-]{0,62}")
_NAME_BAD = re.compile(r"[\x00-\x1f\x7f/\\]")


@dataclass(frozen=True)
class Actor:
    """Who acts: a principal with its role and region (``subject``: a holder's ID, personal data)."""

    principal: str
    role: str
    region: str
    subject: str | None = None


@dataclass(frozen=True)
class EvidenceFile:
    """An evidence file as handed in."""

    name: str
    media_type: str
    data: bytes


def _text(value: object, field: str, *, required: bool) -> str:
    if not isinstance(value, str) or len(value) > MAX_REASON_CHARS or (required and not value.strip()):
        raise InvalidFieldError(f"{field} must be {'1' if required else '0'}..{MAX_REASON_CHARS} characters",
                                message_zh="说明不能为空且不超过 500 字" if required else "说明过长", field=field)
    return value.strip()


def _evidence(files: Sequence[EvidenceFile]) -> tuple[tuple[Evidence, ...], list[bytes]]:
    if len(files) > MAX_EVIDENCE_FILES:
        raise BadInputError(f"at most {MAX_EVIDENCE_FILES} evidence files", message_zh="证据材料过多",
                            field="evidence")
    shown: list[Evidence] = []
    blobs: list[bytes] = []
    for i, f in enumerate(files):
        where = f"evidence[{i}]"
        if not isinstance(f.data, bytes | bytearray) or not f.data:
            raise BadInputError(f"{where} is empty", message_zh="证据材料为空", field=where)
        if len(f.data) > MAX_EVIDENCE_BYTES:
            raise BadInputError(f"{where} is larger than {MAX_EVIDENCE_BYTES >> 20} MiB", message_zh="证据材料过大",
                                field=where)
        media = (f.media_type or "application/octet-stream").split(";")[0].strip().lower()
        if _MEDIA_TYPE.fullmatch(media) is None:
            raise BadInputError(f"{where}: media type {media[:40]!r} is malformed", message_zh="证据材料类型错误",
                                field=where)
        name = _NAME_BAD.sub("_", (f.name or f"evidence-{i}"))[:100]
        shown.append(Evidence(name=name, media_type=media, size=len(f.data), sm3=sm3(bytes(f.data)).hex()))
        blobs.append(bytes(f.data))
    if sum(len(b) for b in blobs) > _MAX_EVIDENCE_TOTAL:
        raise BadInputError(f"evidence files total more than {_MAX_EVIDENCE_TOTAL >> 20} MiB",
                            message_zh="证据材料总量过大", field="evidence")
    return tuple(shown), blobs


def _ground(value: object) -> ObjectionGround:
    try:
        return ObjectionGround(value)
    except ValueError:
        raise InvalidFieldError("ground must be one of " + ", ".join(g.value for g in ObjectionGround),
                                message_zh="异议类型错误", field="ground") from None


def _may_file(lic: Licence, actor: Actor) -> None:
    if actor.role not in FILER_ROLES:
        raise PermissionDeniedError(f"role {actor.role!r} may not file objections", message_zh="当前角色不能提出异议")
    if actor.role == "holder" and actor.subject != lic.holder_id:
        raise PermissionDeniedError("a holder may object only to a licence issued to them",
                                    message_zh="持证人只能对本人的证照提出异议", field="licence_id")


def file_objection(service: LicenceService, licence_id: str, *, actor: Actor, ground: str, reason: str,
                   evidence: Sequence[EvidenceFile] = (), at: datetime) -> Objection:
    """File an objection against ``licence_id`` into its issuing authority's queue (any filer region).

    Raises:
        LicenceNotFoundError: no such licence (404).
        PermissionDeniedError: a holder objecting to someone else's licence, or a role that may not file (403).
        LicenceStateError: the version is superseded -- object to the current one, which the message names (409).
        ObjectionStateError: this filer already has an open objection against this version (409).
        InvalidFieldError / BadInputError: ground, reason or evidence out of bounds (422/400).
    """
    g = _ground(ground)
    text = _text(reason, "reason", required=True)
    shown, blobs = _evidence(evidence)
    lic = service.repo.get_licence(licence_id)
    _may_file(lic, actor)
    if lic.status is LicenceStatus.SUPERSEDED:
        raise LicenceStateError(f"licence {lic.licence_id} is superseded by {lic.superseded_by}; "
                                "object to that version",
                                message_zh="该版本已被新版本取代，请对现行版本提出异议", field="licence_id")
    open_ = service.repo.list_objections(licence_id=lic.licence_id, filer=actor.principal, state=ObjectionState.FILED)
    if open_:
        raise ObjectionStateError(f"objection {open_[0].id} of this filer is still open for this licence",
                                  message_zh="已有未处理的异议", field="licence_id")
    obj = Objection(id="obj-" + secrets.token_hex(12), licence_id=lic.licence_id, authority_id=lic.authority_id,
                    region=lic.region, filer=actor.principal, filer_role=actor.role, filer_region=actor.region,
                    ground=g, reason=text, evidence=shown, state=ObjectionState.FILED,
                    filed_at=at.replace(microsecond=0))
    with service.repo.transaction() as tx:
        tx.add_objection(obj, blobs)
        tx.add_audit(actor=actor.principal, action="licence.objection.file", object_type="objection",
                     object_id=obj.id, details={"licence": lic.licence_id, "authority": lic.authority_id,
                                                "ground": g.value, "filer_region": actor.region,
                                                "holder": service.pii_hash(lic.holder_id),
                                                "evidence": [e.sm3 for e in shown]})
    return obj


def decide(service: LicenceService, objection_id: str, *, accept: bool, reason: str, actor: str, at: datetime,
           region: str | None, resolution: Resolution | str | None = None,
           changes: Mapping[str, Any] | None = None) -> tuple[Objection, Licence | None]:
    """The issuing authority decides an objection; an accepted one changes the licence in the same transaction.

    Args:
        accept: accept (then ``resolution`` says how) or reject (``reason`` required).
        resolution: ``corrected`` (with ``changes``: the corrected field values) or ``revoked``.
        region: the decider's region; it must be the authority's (``*``: any).

    Returns:
        ``(decided objection, the new version or the revoked licence; None when rejected)``.

    Raises:
        ObjectionStateError: already decided or withdrawn (409); nothing changes.
        LicenceStateError: the licence cannot take the change (e.g. already superseded) (409).
        InvalidFieldError: a missing reason or resolution, or corrected fields that do not validate (422).
    """
    text = _text(reason, "reason", required=True)
    obj = service.repo.get_objection(objection_id)
    authority = service.repo.get_authority(obj.authority_id)
    service.check_region(authority, region)
    res: Resolution | None = None
    if accept:
        try:
            res = Resolution(resolution)
        except ValueError:
            raise InvalidFieldError("an accepted objection needs resolution corrected or revoked",
                                    message_zh="受理异议须选择更正或注销", field="resolution") from None
        if res is Resolution.CORRECTED and not changes:
            raise InvalidFieldError("a correction needs the corrected fields", message_zh="更正须提供更正后的字段",
                                    field="fields")
    if obj.state is not ObjectionState.FILED:
        raise ObjectionStateError(f"objection {obj.id} is already {obj.state.value}",
                                  message_zh="该异议已处理或已撤回", field="objection_id")
    change_reason = f"异议 {obj.id}: {text}"[:MAX_REASON_CHARS]
    prepared = (prepare_correction(service, obj.licence_id, changes or {}, at=at, region=region)
                if res is Resolution.CORRECTED else None)
    extra = {"objection": obj.id}
    with service.repo.transaction() as tx:
        current = tx.get_objection(objection_id, for_update=True)
        if current.state is not ObjectionState.FILED:  # a concurrent decision or withdrawal won
            raise ObjectionStateError(f"objection {obj.id} is already {current.state.value}",
                                      message_zh="该异议已处理或已撤回", field="objection_id")
        changed: Licence | None = None
        new_id: str | None = None
        if prepared is not None:
            _, changed = correct_in(tx, service, prepared, actor=actor, reason=change_reason, at=at, extra=extra)
            new_id = changed.licence_id
        elif res is Resolution.REVOKED:
            changed = change_in(tx, service, "revoke", obj.licence_id, actor=actor, reason=change_reason, at=at,
                                region=region, extra=extra)
        done = replace(current, state=ObjectionState.ACCEPTED if accept else ObjectionState.REJECTED,
                       decided_at=at.replace(microsecond=0), decided_by=actor, decision_reason=text, resolution=res,
                       new_licence_id=new_id)
        tx.update_objection(done)
        tx.add_audit(actor=actor, action="licence.objection.decide", object_type="objection", object_id=obj.id,
                     details={"licence": obj.licence_id, "state": done.state.value,
                              "resolution": None if res is None else res.value, "new_licence": new_id,
                              "reason": text})
    return done, changed


def withdraw(service: LicenceService, objection_id: str, *, actor: Actor, at: datetime) -> Objection:
    """The filer withdraws an open objection (409 once decided; 403 for anyone but the filer)."""
    obj = service.repo.get_objection(objection_id)
    if obj.filer != actor.principal and actor.region != ALL_REGIONS:
        raise PermissionDeniedError("only the filer may withdraw an objection", message_zh="只有异议提出人可以撤回",
                                    field="objection_id")
    with service.repo.transaction() as tx:
        current = tx.get_objection(objection_id, for_update=True)
        if current.state is not ObjectionState.FILED:
            raise ObjectionStateError(f"objection {obj.id} is already {current.state.value}",
                                      message_zh="该异议已处理或已撤回", field="objection_id")
        done = replace(current, state=ObjectionState.WITHDRAWN, decided_at=at.replace(microsecond=0),
                       decided_by=actor.principal)
        tx.update_objection(done)
        tx.add_audit(actor=actor.principal, action="licence.objection.withdraw", object_type="objection",
                     object_id=obj.id, details={"licence": obj.licence_id})
    return done


def objection_to_dict(o: Objection) -> dict[str, Any]:
    """JSON form (no personal data beyond what the filer wrote)."""
    return {"id": o.id, "licence_id": o.licence_id, "authority": o.authority_id, "region": o.region,
            "filer": o.filer, "filer_role": o.filer_role, "filer_region": o.filer_region, "ground": o.ground.value,
            "reason": o.reason, "evidence": [e.__dict__ for e in o.evidence], "state": o.state.value,
            "filed_at": o.filed_at.isoformat(), "decided_at": o.decided_at.isoformat() if o.decided_at else None,
            "decided_by": o.decided_by, "decision_reason": o.decision_reason,
            "resolution": None if o.resolution is None else o.resolution.value, "new_licence_id": o.new_licence_id}
