"""Holder's wallet and consent (用证授权): certificate-free handling (免证办) without uploads.

A holder grants one relying party (a named system or service window, in any region) access to
one licence, to chosen fields, for a purpose, until a time (:func:`grant`); revokes it
(:func:`revoke_grant`). The relying party then fetches the licence straight from the issuing
region (:func:`fetch`): the service checks the grant, takes the CURRENT version of the licence
(a grant follows corrections: it names the licence's serial, not one version), refuses a licence
that is not valid, and returns the granted fields in a short-lived ``ESL1:`` token signed by the
issuing authority's key -- the same format as a licence QR code, so the relying party verifies it
offline with the issuer region's trust list and status list (``esign verify --qr``), and sees
nothing beyond the granted fields.

Every fetch, served or refused, is a :class:`~licences.model.LicenceUse` visible to the holder
(:func:`uses_of_holder`) and an audit entry (holder as ``pii_hash``).

Rules (each refusal is typed, names the field, and writes nothing except the refused use):

- a holder grants only for licences issued to them (403), not for a revoked or superseded version (409);
- the fields exist in the licence type and the type allows sharing them (``share``; 422 naming the field),
  at most :data:`MAX_GRANT_FIELDS`;
- the grant lasts at most :data:`MAX_GRANT_DAYS` days; purpose 1..200 characters;
- only the named relying party may fetch, while the grant is active (403 :class:`ConsentError`).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from esign.formats.licence_qr import MAX_DISCLOSED_FIELDS, LicenceQrClaims
from esign.qr import make_licence_qr
from keys.errors import PermissionDeniedError
from licences.errors import ConsentError, InvalidFieldError, LicenceStateError
from licences.issuance import LicenceService
from licences.model import ConsentGrant, Licence, LicenceStatus, LicenceUse, effective_status
from licences.objections import Actor
from licences.ports import MAX_LIST

__all__ = [
    "MAX_GRANT_DAYS",
    "MAX_GRANT_FIELDS",
    "TOKEN_LIFETIME",
    "RelyingParty",
    "SharedLicence",
    "consent_to_dict",
    "fetch",
    "grant",
    "revoke_grant",
    "use_to_dict",
    "uses_of_holder",
    "wallet",
]

#: Longest grant.
MAX_GRANT_DAYS = 366
#: Most fields in one grant (one token).
MAX_GRANT_FIELDS = MAX_DISCLOSED_FIELDS
#: How long a fetched token stays valid (the relying party verifies it at once).
TOKEN_LIFETIME = timedelta(minutes=10)
_MAX_PURPOSE = 200


@dataclass(frozen=True)
class RelyingParty:
    """The system or window a grant is for (an existing principal of role ``staff`` or ``verifier``)."""

    principal: str
    name: str
    region: str


@dataclass(frozen=True)
class SharedLicence:
    """What a relying party receives."""

    grant: ConsentGrant
    licence: Licence
    """The current version (the caller sees only :attr:`disclosed`)."""
    disclosed: dict[str, str | int]
    """The granted fields."""
    token: str
    """``ESL1:`` token with exactly those fields, signed by the issuing authority."""
    expires_at: datetime
    """End of the token."""


def _holder_of(lic: Licence, holder: Actor) -> None:
    if holder.role not in ("holder", "operator") or holder.subject is None or holder.subject != lic.holder_id:
        raise PermissionDeniedError("only the holder of a licence may grant access to it",
                                    message_zh="只有持证人本人可以授权使用证照", field="licence_id")


def grant(service: LicenceService, licence_id: str, *, holder: Actor, relying_party: RelyingParty,
          fields: Sequence[str], purpose: str, at: datetime, expires_at: datetime) -> ConsentGrant:
    """Record a holder's consent; see the module docstring for the rules."""
    lic = service.repo.get_licence(licence_id)
    _holder_of(lic, holder)
    if lic.status in (LicenceStatus.REVOKED, LicenceStatus.SUPERSEDED):
        raise LicenceStateError(f"licence {lic.licence_id} is {lic.status.value}", message_zh="证照已注销或已被取代",
                                field="licence_id")
    t = service.catalogue().get(lic.type_code, region=lic.region)
    if isinstance(fields, str) or not isinstance(fields, Sequence) or not fields:
        raise InvalidFieldError("fields: name at least one field", message_zh="至少选择一个字段", field="fields")
    if len(fields) > MAX_GRANT_FIELDS:
        raise InvalidFieldError(f"fields: at most {MAX_GRANT_FIELDS}", message_zh="授权字段过多", field="fields")
    chosen: list[str] = []
    for name in fields:
        spec = t.by_name.get(name) if isinstance(name, str) else None
        if spec is None:
            raise InvalidFieldError(f"fields: {str(name)[:40]!r} is not a field of {t.name_en}",
                                    message_zh="该证照类型没有此字段", field=f"fields.{str(name)[:40]}")
        if not spec.share:
            raise InvalidFieldError(f"fields: {t.name_en} does not allow sharing {name} ({spec.label_en})",
                                    message_zh=f"该证照类型不允许授权共享字段“{spec.label_zh}”", field=f"fields.{name}")
        if name not in chosen:
            chosen.append(name)
    if not isinstance(purpose, str) or not purpose.strip() or len(purpose) > _MAX_PURPOSE:
        raise InvalidFieldError(f"purpose must be 1..{_MAX_PURPOSE} characters",
                                message_zh="用途说明不能为空且不超过 200 字", field="purpose")
    if expires_at.tzinfo is None or not at < expires_at <= at + timedelta(days=MAX_GRANT_DAYS):
        raise InvalidFieldError(f"expires_at must be after now and within {MAX_GRANT_DAYS} days",
                                message_zh=f"授权期限应在 {MAX_GRANT_DAYS} 天以内", field="expires_at")
    g = ConsentGrant(id="cg-" + secrets.token_hex(12), holder_id=lic.holder_id, granted_by=holder.principal,
                     authority_id=lic.authority_id, serial=lic.serial, licence_id=lic.licence_id,
                     type_code=lic.type_code, relying_party=relying_party.principal,
                     relying_party_name=relying_party.name[:200], relying_party_region=relying_party.region,
                     fields=tuple(chosen), purpose=purpose.strip(), created_at=at.replace(microsecond=0),
                     expires_at=expires_at)
    with service.repo.transaction() as tx:
        tx.add_consent(g)
        tx.add_audit(actor=holder.principal, action="licence.consent.grant", object_type="consent", object_id=g.id,
                     details={"licence": lic.licence_id, "holder": service.pii_hash(lic.holder_id),
                              "relying_party": relying_party.principal, "rp_region": relying_party.region,
                              "fields": list(chosen), "expires_at": expires_at.isoformat()})
    return g


def revoke_grant(service: LicenceService, grant_id: str, *, holder: Actor, at: datetime) -> ConsentGrant:
    """The holder revokes a grant (idempotent refusal: revoking twice is 409)."""
    g = service.repo.get_consent(grant_id)
    if holder.subject != g.holder_id:
        raise PermissionDeniedError("only the holder who granted it may revoke a consent",
                                    message_zh="只有授权的持证人可以撤销授权", field="grant_id")
    with service.repo.transaction() as tx:
        current = tx.get_consent(grant_id, for_update=True)
        if current.revoked_at is not None:
            raise LicenceStateError(f"consent {grant_id} is already revoked", message_zh="该授权已撤销",
                                    field="grant_id")
        done = replace(current, revoked_at=at.replace(microsecond=0))
        tx.update_consent(done)
        tx.add_audit(actor=holder.principal, action="licence.consent.revoke", object_type="consent",
                     object_id=grant_id, details={"holder": service.pii_hash(g.holder_id)})
    return done


def _refuse(service: LicenceService, g: ConsentGrant, caller: str, at: datetime, why: str,
            licence_id: str = "") -> None:
    use = LicenceUse(grant_id=g.id, relying_party=caller, licence_id=licence_id, fields=(), purpose=g.purpose, at=at,
                     outcome=f"refused: {why}")
    with service.repo.transaction() as tx:
        tx.add_use(use)
        tx.add_audit(actor=caller, action="licence.consent.use", object_type="consent", object_id=g.id,
                     details={"outcome": use.outcome, "holder": service.pii_hash(g.holder_id)})


def fetch(service: LicenceService, grant_id: str, *, relying_party: str, at: datetime,
          status_uri: str | None) -> SharedLicence:
    """A relying party fetches the licence of a grant: the current version, the granted fields, signed.

    Raises:
        NotFoundError: no such grant (404).
        ConsentError: not the grantee, revoked or expired grant (403; the attempt is logged for the holder).
        LicenceStateError: the licence is not valid now (409, naming its status; logged).
    """
    g = service.repo.get_consent(grant_id)
    if g.relying_party != relying_party:
        _refuse(service, g, relying_party, at, "not the relying party of this grant")
        raise ConsentError("this grant is for another relying party", message_zh="该授权不属于当前使用方",
                           field="grant_id")
    if not g.active(at):
        why = "revoked by the holder" if g.revoked_at is not None else "expired"
        _refuse(service, g, relying_party, at, why)
        raise ConsentError(f"the holder's consent is {why}", message_zh="持证人的授权已撤销或已过期", field="grant_id")
    lic = service.repo.current_version(g.authority_id, g.serial)
    status = effective_status(lic, at)
    if status is not LicenceStatus.VALID:
        _refuse(service, g, relying_party, at, f"licence {status.value}", lic.licence_id)
        raise LicenceStateError(f"licence {lic.licence_id} is {status.value}", message_zh="证照当前不是有效状态",
                                field="status")
    authority = service.repo.get_authority(lic.authority_id)
    disclosed = {k: lic.fields[k] for k in g.fields if k in lic.fields}
    until = at.replace(microsecond=0) + TOKEN_LIFETIME
    claims = LicenceQrClaims(identifier=lic.licence_id, region=lic.region, issued_at=at.replace(microsecond=0),
                             expires_at=until, disclosed=disclosed,
                             status_index=lic.status_index if status_uri else None, status_uri=status_uri)
    token = make_licence_qr(claims, key=service.keys.signing_key(authority.key_id), cert_der=authority.certificate)
    use = LicenceUse(grant_id=g.id, relying_party=relying_party, licence_id=lic.licence_id,
                     fields=tuple(disclosed), purpose=g.purpose, at=at, outcome="served")
    with service.repo.transaction() as tx:
        tx.add_use(use)
        tx.add_audit(actor=relying_party, action="licence.consent.use", object_type="consent", object_id=g.id,
                     details={"outcome": "served", "licence": lic.licence_id, "fields": list(disclosed),
                              "holder": service.pii_hash(g.holder_id)})
    return SharedLicence(grant=g, licence=lic, disclosed=disclosed, token=token, expires_at=until)


def wallet(service: LicenceService, holder_id: str, *, limit: int = MAX_LIST) -> list[Licence]:
    """Every licence version issued to ``holder_id``, in every region this service holds, newest first."""
    return list(service.repo.list_licences(holder_id=holder_id, limit=limit))


def uses_of_holder(service: LicenceService, holder_id: str, *, limit: int = 100,
                   offset: int = 0) -> list[tuple[ConsentGrant, LicenceUse]]:
    """Every use of the holder's licences under their grants, newest first."""
    grants = {g.id: g for g in service.repo.list_consents(holder_id=holder_id, limit=MAX_LIST)}
    if not grants:
        return []
    return [(grants[u.grant_id], u) for u in service.repo.uses(grant_ids=list(grants), limit=limit, offset=offset)]


def consent_to_dict(g: ConsentGrant, *, at: datetime) -> dict[str, Any]:
    """JSON form (the holder ID left out)."""
    return {"id": g.id, "licence_id": g.licence_id, "authority": g.authority_id, "serial": g.serial,
            "type_code": g.type_code, "relying_party": g.relying_party, "relying_party_name": g.relying_party_name,
            "relying_party_region": g.relying_party_region, "fields": list(g.fields), "purpose": g.purpose,
            "created_at": g.created_at.isoformat(), "expires_at": g.expires_at.isoformat(),
            "revoked_at": g.revoked_at.isoformat() if g.revoked_at else None, "active": g.active(at)}


def use_to_dict(g: ConsentGrant, u: LicenceUse) -> dict[str, Any]:
    """JSON form of one use, as the holder sees it."""
    return {"grant_id": u.grant_id, "relying_party": u.relying_party, "relying_party_name": g.relying_party_name,
            "licence_id": u.licence_id, "fields": list(u.fields), "purpose": u.purpose, "at": u.at.isoformat(),
            "outcome": u.outcome}
