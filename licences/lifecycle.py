"""Lifecycle of issued licences: suspend, reinstate, revoke, correct (a new version supersedes the old).

Transitions (anything else is :class:`~licences.errors.LicenceStateError`, HTTP 409; nothing changes):

=============  ==========================  ==========================================
operation      from                        to
=============  ==========================  ==========================================
suspend        valid                       suspended
reinstate      suspended                   valid
revoke         valid, suspended            revoked (final)
correct        valid, suspended            old: superseded (final); new version: valid
=============  ==========================  ==========================================

``expired`` is derived from the validity window (:func:`licences.model.effective_status`), never
stored, so an expired licence can still be revoked. A correction issues a NEW version: same
serial, ``version + 1``, a new identifier and check character, a new status-list index, signed
anew; the old version's ``superseded_by`` and the new version's ``supersedes`` link both ways.
Every change writes a :class:`~licences.model.LicenceEvent` and its audit entry (who, why) in the
same transaction as the change itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from licences.catalogue import LicenceType
from licences.errors import InvalidFieldError, LicenceStateError
from licences.issuance import AuthoritySigner, LicenceService
from licences.model import IssuingAuthority, Licence, LicenceEvent, LicenceStatus
from licences.ports import LicenceTransaction

__all__ = ["TRANSITIONS", "PreparedCorrection", "change_in", "correct", "correct_in", "prepare_correction",
           "reinstate", "revoke", "suspend"]

#: operation -> (statuses it may start from, status it leads to).
TRANSITIONS: dict[str, tuple[frozenset[LicenceStatus], LicenceStatus]] = {
    "suspend": (frozenset({LicenceStatus.VALID}), LicenceStatus.SUSPENDED),
    "reinstate": (frozenset({LicenceStatus.SUSPENDED}), LicenceStatus.VALID),
    "revoke": (frozenset({LicenceStatus.VALID, LicenceStatus.SUSPENDED}), LicenceStatus.REVOKED),
    "correct": (frozenset({LicenceStatus.VALID, LicenceStatus.SUSPENDED}), LicenceStatus.SUPERSEDED),
}
_ZH = {LicenceStatus.VALID: "有效", LicenceStatus.SUSPENDED: "已暂停", LicenceStatus.REVOKED: "已注销",
       LicenceStatus.SUPERSEDED: "已被新版本取代"}


def _check(op: str, lic: Licence) -> LicenceStatus:
    allowed, to = TRANSITIONS[op]
    if lic.status not in allowed:
        already = " already" if lic.status is to else ""
        raise LicenceStateError(f"cannot {op} licence {lic.licence_id}: it is{already} {lic.status.value}",
                                message_zh=f"证照当前状态为{_ZH[lic.status]}，不能执行该操作", field="status")
    return to


def change_in(tx: LicenceTransaction, service: LicenceService, op: str, licence_id: str, *, actor: str, reason: str,
              at: datetime, region: str | None, extra: Mapping[str, Any] | None = None) -> Licence:
    """Apply ``op`` (suspend, reinstate, revoke) inside an open transaction; ``extra`` goes to the audit details."""
    lic = tx.get_licence(licence_id, for_update=True)
    service.check_region(service.repo.get_authority(lic.authority_id), region)
    to = _check(op, lic)
    tx.set_status(licence_id, to, reason=reason)
    tx.add_event(LicenceEvent(licence_id, op, lic.status, to, actor, reason, at),
                 details=service.audit_details(lic, reason=reason, **{"from": lic.status.value, "to": to.value},
                                               **(extra or {})))
    return tx.get_licence(licence_id)


def _change(service: LicenceService, op: str, licence_id: str, *, actor: str, reason: str, at: datetime,
            region: str | None) -> Licence:
    reason = service.check_reason(reason)
    with service.repo.transaction() as tx:
        return change_in(tx, service, op, licence_id, actor=actor, reason=reason, at=at, region=region)


def suspend(service: LicenceService, licence_id: str, *, actor: str, reason: str, at: datetime,
            region: str | None) -> Licence:
    """Suspend a valid licence (暂停); 409 otherwise."""
    return _change(service, "suspend", licence_id, actor=actor, reason=reason, at=at, region=region)


def reinstate(service: LicenceService, licence_id: str, *, actor: str, reason: str, at: datetime,
              region: str | None) -> Licence:
    """Reinstate a suspended licence; 409 otherwise."""
    return _change(service, "reinstate", licence_id, actor=actor, reason=reason, at=at, region=region)


def revoke(service: LicenceService, licence_id: str, *, actor: str, reason: str, at: datetime,
           region: str | None) -> Licence:
    """Revoke (注销/吊销) a valid or suspended licence; final; 409 if already revoked or superseded."""
    return _change(service, "revoke", licence_id, actor=actor, reason=reason, at=at, region=region)


@dataclass(frozen=True)
class PreparedCorrection:
    """A checked correction, ready to be written (see :func:`prepare_correction`)."""

    licence_id: str
    authority: IssuingAuthority
    licence_type: LicenceType
    fields: Mapping[str, str | int]
    start: date
    end: date | None
    signer: AuthoritySigner


def prepare_correction(service: LicenceService, licence_id: str, changes: Mapping[str, Any], *, at: datetime,
                       region: str | None, valid_from: date | str | None = None) -> PreparedCorrection:
    """Validate a correction of ``licence_id`` (merged fields, rights, state); writes nothing."""
    if not isinstance(changes, Mapping) or not changes:
        raise InvalidFieldError("a correction needs at least one changed field", message_zh="更正至少需要修改一个字段",
                                field="fields")
    old = service.repo.get_licence(licence_id)
    authority = service.repo.get_authority(old.authority_id)
    _check("correct", old)
    merged = {**old.fields, **changes}
    merged = {k: v for k, v in merged.items() if v is not None}
    t, fields, start, end = service.prepare(authority, old.type_code, merged, at=at, region=region,
                                            valid_from=valid_from or old.valid_from)
    if old.version >= 999:
        raise LicenceStateError("the licence has reached version 999", message_zh="证照版本号已达上限", field="version")
    return PreparedCorrection(licence_id, authority, t, fields, start, end, service.signer(authority, at=at))


def correct_in(tx: LicenceTransaction, service: LicenceService, p: PreparedCorrection, *, actor: str, reason: str,
               at: datetime, extra: Mapping[str, Any] | None = None) -> tuple[Licence, Licence]:
    """Write a prepared correction inside an open transaction: ``(old now superseded, new version)``."""
    current = tx.get_licence(p.licence_id, for_update=True)
    _check("correct", current)  # re-checked under the lock: a concurrent change wins, this one fails
    new = service.build(tx, p.authority, p.licence_type, p.fields, start=p.start, end=p.end, at=at, signer=p.signer,
                        serial=current.serial, version=current.version + 1, supersedes=current.licence_id)
    tx.set_status(p.licence_id, LicenceStatus.SUPERSEDED, reason=reason, superseded_by=new.licence_id)
    changed = sorted(k for k in set(p.fields) | set(current.fields) if p.fields.get(k) != current.fields.get(k))
    tx.add_event(LicenceEvent(p.licence_id, "supersede", current.status, LicenceStatus.SUPERSEDED, actor, reason, at,
                              related_id=new.licence_id),
                 details=service.audit_details(current, reason=reason, superseded_by=new.licence_id, **(extra or {})))
    tx.add_event(LicenceEvent(new.licence_id, "correct", None, LicenceStatus.VALID, actor, reason, at,
                              related_id=p.licence_id),
                 details=service.audit_details(new, reason=reason, supersedes=p.licence_id, changed_fields=changed,
                                               **(extra or {})))
    return tx.get_licence(p.licence_id), new


def correct(service: LicenceService, licence_id: str, changes: Mapping[str, Any], *, actor: str, reason: str,
            at: datetime, region: str | None, valid_from: date | str | None = None) -> tuple[Licence, Licence]:
    """Correct or change a licence by issuing version ``n + 1`` that supersedes version ``n``.

    Args:
        changes: field values to change (merged over the old fields; ``None`` removes an optional field).
        valid_from: new start of validity (default: the old one).

    Returns:
        ``(old version now superseded, new version)``.

    Raises:
        LicenceStateError: the licence is revoked or already superseded (409).
        InvalidFieldError (and subclasses): the merged fields do not validate; nothing is written.
    """
    reason = service.check_reason(reason)
    p = prepare_correction(service, licence_id, changes, at=at, region=region, valid_from=valid_from)
    with service.repo.transaction() as tx:
        return correct_in(tx, service, p, actor=actor, reason=reason, at=at)
