"""Domain objects of electronic licences: issuing authorities, licences, lifecycle events.

Everything here is immutable and free of I/O. Storage goes through :mod:`licences.ports`; the
exact bytes that are signed come from :mod:`licences.canonical`.

Status model (``docs/licences.md``):

- stored status (:class:`LicenceStatus`): ``valid``, ``suspended``, ``revoked`` (final),
  ``superseded`` (a newer version replaced this one; final);
- ``expired`` is never stored: :func:`effective_status` derives it from the validity window at a
  reference time ``at`` for a licence that is otherwise ``valid``.

In a status list each licence version has a stable index (assigned at issuance) and a 2-bit code
(:class:`StatusCode`, IETF Token Status List values 0 valid, 1 invalid = revoked, 2 suspended,
3 application-specific = superseded).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

__all__ = [
    "GBT36903_CODES",
    "ConsentGrant",
    "Evidence",
    "IssuingAuthority",
    "Licence",
    "LicenceEvent",
    "LicenceStatus",
    "LicenceUse",
    "Objection",
    "ObjectionGround",
    "ObjectionState",
    "Resolution",
    "SignatureFormat",
    "StatusCode",
    "effective_status",
    "metadata",
    "status_code",
]


class LicenceStatus(enum.StrEnum):
    """Status of one licence version (``expired`` is derived, see :func:`effective_status`)."""

    VALID = "valid"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    SUPERSEDED = "superseded"
    EXPIRED = "expired"


class StatusCode(enum.IntEnum):
    """2-bit values in a status list (IETF Token Status List: 0x00 valid, 0x01 invalid, 0x02 suspended, 0x03 app)."""

    VALID = 0
    REVOKED = 1
    SUSPENDED = 2
    SUPERSEDED = 3


class SignatureFormat(enum.StrEnum):
    """How the canonical licence is signed."""

    SES = "ses"
    """GB/T 38540 seal signature (SM2) with the authority's registered seal -- the default."""
    CMS = "cms"
    """Detached CMS SignedData with the authority's key (e.g. ECDSA P-256, where a policy says so)."""


def status_code(status: LicenceStatus) -> StatusCode:
    """The status-list code of a stored status (``expired`` licences are listed as valid: expiry is in the licence)."""
    return {LicenceStatus.REVOKED: StatusCode.REVOKED, LicenceStatus.SUSPENDED: StatusCode.SUSPENDED,
            LicenceStatus.SUPERSEDED: StatusCode.SUPERSEDED}.get(status, StatusCode.VALID)


@dataclass(frozen=True)
class IssuingAuthority:
    """A body that issues licences (发证机构): a principal with the ``issuer`` role in one region."""

    id: str
    """Stable id, ``[a-z0-9-]{3,64}`` (used in URLs and status-list ids)."""
    region: str
    """GB/T 2260 code of the region it belongs to; it issues only there."""
    name: str
    """Name printed as 证照颁发机构 (ZZBFJG)."""
    uscc: str
    """Its unified social credit code (ZZBFJGDM; the issuer field of identifiers)."""
    allowed_types: tuple[str, ...]
    """Licence type codes it may issue."""
    key_id: str
    """Its signing key in the service key store (certificate attached, profile ``licence_issuer``)."""
    seal_id: str | None
    """Its seal in the seal register (required for :attr:`SignatureFormat.SES`)."""
    certificate: bytes
    """DER certificate of the signing key (copied at registration, shown to verifiers)."""
    signature_format: SignatureFormat = SignatureFormat.SES
    """Default signature format for its licences (policy)."""
    created_at: datetime = datetime(1970, 1, 1, tzinfo=UTC)
    """When it was registered."""


@dataclass(frozen=True)
class Licence:
    """One version of one licence, as stored (the signed bytes included)."""

    licence_id: str
    """证照标识 ZZBS (full identifier with version and check character)."""
    type_code: str
    """证照类型代码 ZZLXDM."""
    type_name: str
    """证照名称 ZZMC."""
    number: str
    """证照编号 ZZBH (number printed on the licence)."""
    holder_name: str
    """持证主体 CZZT (personal data for persons)."""
    holder_id: str
    """持证主体代码 CZZTDM (resident ID number or USCC)."""
    holder_id_type: str
    """持证主体代码类型代码: ``111`` 公民身份号码 or ``001`` 统一社会信用代码."""
    authority_id: str
    """Issuing authority id."""
    issuer_name: str
    """证照颁发机构 ZZBFJG."""
    issuer_code: str
    """证照颁发机构代码 ZZBFJGDM (USCC)."""
    region: str
    """证照所属管辖属地 (GB/T 2260)."""
    serial: str
    """流水号 (same for every version of the licence)."""
    version: int
    """版本号, from 1."""
    issued_at: datetime
    """Signing time (UTC); ``issued_on`` is its date."""
    valid_from: date
    """证照有效期起始日期 ZZYXQQSRQ."""
    valid_until: date | None
    """证照有效期截止日期 ZZYXQJZRQ (``None``: long-term)."""
    status: LicenceStatus
    """Stored status (never ``expired``)."""
    status_index: int
    """Index in the authority's status list."""
    fields: Mapping[str, str | int]
    """Type-specific fields (照面信息), normalised."""
    document: bytes
    """The canonical licence document (what is signed)."""
    signed: bytes
    """The signed licence (envelope with the signature)."""
    signature_format: SignatureFormat = SignatureFormat.SES
    """How it was signed."""
    supersedes: str | None = None
    """Identifier of the version this one replaced."""
    superseded_by: str | None = None
    """Identifier of the version that replaced this one."""
    status_reason: str = ""
    """Reason given with the last status change."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Room for later features (not signed)."""

    @property
    def issued_on(self) -> date:
        """证照颁发日期 ZZBFRQ."""
        return self.issued_at.astimezone(UTC).date()


@dataclass(frozen=True)
class LicenceEvent:
    """One change in a licence's life (mirrored in the audit log, same transaction)."""

    licence_id: str
    """The licence version changed."""
    action: str
    """``issue``, ``suspend``, ``reinstate``, ``revoke``, ``correct`` or ``supersede``."""
    from_status: LicenceStatus | None
    """Status before (``None`` for ``issue``)."""
    to_status: LicenceStatus
    """Status after."""
    actor: str
    """Principal id who made the change."""
    reason: str
    """Why (free text; must not carry personal data)."""
    at: datetime
    """When."""
    related_id: str | None = None
    """The other version for ``correct``/``supersede`` (new or old identifier)."""


def effective_status(licence: Licence, at: datetime) -> LicenceStatus:
    """The status at ``at``: the stored one, or ``expired`` for a valid licence outside its window."""
    if licence.status is not LicenceStatus.VALID:
        return licence.status
    day = at.astimezone(UTC).date()
    if day < licence.valid_from or (licence.valid_until is not None and day > licence.valid_until):
        return LicenceStatus.EXPIRED
    return LicenceStatus.VALID


#: GB/T 36903 element codes -> attribute of :class:`Licence` (see standards notes §4.3).
GBT36903_CODES: dict[str, str] = {
    "ZZBS": "licence_id", "ZZMC": "type_name", "ZZLXDM": "type_code", "ZZBH": "number",
    "ZZBFJG": "issuer_name", "ZZBFJGDM": "issuer_code", "ZZBFRQ": "issued_on", "CZZT": "holder_name",
    "CZZTDM": "holder_id", "CZZTDMLXDM": "holder_id_type", "ZZYXQQSRQ": "valid_from",
    "ZZYXQJZRQ": "valid_until", "BBH": "version", "ZZZT": "status", "ZZSSSD": "region",
}


def metadata(licence: Licence, *, at: datetime | None = None) -> dict[str, Any]:
    """GB/T 36903 core metadata, keyed by element code (status is the effective one at ``at`` if given)."""
    out: dict[str, Any] = {}
    for code, attr in GBT36903_CODES.items():
        value = getattr(licence, attr)
        if attr == "status":
            value = (effective_status(licence, at) if at is not None else licence.status).value
        elif isinstance(value, date):
            value = value.isoformat()
        out[code] = value
    out["CZZTDMLX"] = "公民身份号码" if licence.holder_id_type == "111" else "统一社会信用代码"
    return out


# --- disputes (异议处理) and consent (用证授权) ------------------------------------------------------


class ObjectionState(enum.StrEnum):
    """Where an objection stands: ``filed`` until the authority decides or the filer withdraws."""

    FILED = "filed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class ObjectionGround(enum.StrEnum):
    """Why a licence is disputed."""

    WRONG_DATA = "wrong_data"
    """信息有误: a field is wrong (the usual case; leads to a correction)."""
    WRONG_STATUS = "wrong_status"
    """状态有误: shown valid although withdrawn, or the other way round."""
    NOT_HOLDER = "not_holder"
    """非本人证照: issued to the wrong person or organisation."""
    SUSPECTED_FORGERY = "suspected_forgery"
    """疑似伪造或冒用."""
    OTHER = "other"
    """其他."""


class Resolution(enum.StrEnum):
    """What an accepted objection led to."""

    CORRECTED = "corrected"
    """A new version was issued and supersedes the disputed one."""
    REVOKED = "revoked"
    """The disputed licence was revoked."""


@dataclass(frozen=True)
class Evidence:
    """One evidence file of an objection (the bytes are stored apart; this is what is shown)."""

    name: str
    """File name as given (sanitised, at most 100 characters)."""
    media_type: str
    """Declared media type."""
    size: int
    """Bytes."""
    sm3: str
    """Hex SM3 of the bytes (so the filer and the authority can agree on what was sent)."""


@dataclass(frozen=True)
class Objection:
    """An objection against one licence version, in the issuing authority's queue."""

    id: str
    """``obj-`` + 24 hex."""
    licence_id: str
    """The disputed version."""
    authority_id: str
    """Its issuing authority (whose queue it is in)."""
    region: str
    """The authority's region."""
    filer: str
    """Principal id of the filer (or ``cli``)."""
    filer_role: str
    """Role of the filer (``holder``, ``staff``, ``verifier``, ``issuer`` or ``operator``)."""
    filer_region: str
    """Region the filer acts from (may differ from :attr:`region`: cross-region objections are the point)."""
    ground: ObjectionGround
    """Why."""
    reason: str
    """Free text (at most 500 characters)."""
    evidence: tuple[Evidence, ...]
    """Evidence files (digests; the bytes through the repository)."""
    state: ObjectionState
    """Where it stands."""
    filed_at: datetime
    """When it was filed."""
    decided_at: datetime | None = None
    """When it was decided or withdrawn."""
    decided_by: str | None = None
    """Who decided (or withdrew)."""
    decision_reason: str = ""
    """The authority's reason (required for a rejection)."""
    resolution: Resolution | None = None
    """For an accepted objection: corrected or revoked."""
    new_licence_id: str | None = None
    """For a correction: the new version."""


@dataclass(frozen=True)
class ConsentGrant:
    """A holder's consent (用证授权): one relying party may fetch chosen fields of one licence until a time."""

    id: str
    """``cg-`` + 24 hex."""
    holder_id: str
    """The holder's ID (resident ID number or USCC; personal data, never logged)."""
    granted_by: str
    """Principal id of the holder (or ``cli`` for an operator acting on a written consent)."""
    authority_id: str
    """Issuing authority of the licence."""
    serial: str
    """The licence's serial: the grant follows corrections to the current version."""
    licence_id: str
    """The version current when the grant was made."""
    type_code: str
    """Licence type."""
    relying_party: str
    """Principal id of the relying system or window."""
    relying_party_name: str
    """Its display name (shown to the holder)."""
    relying_party_region: str
    """Its region (any)."""
    fields: tuple[str, ...]
    """Fields it may see (all allowed by the type for sharing)."""
    purpose: str
    """Why (shown to the holder and logged with every use)."""
    created_at: datetime
    """When granted."""
    expires_at: datetime
    """End of the grant."""
    revoked_at: datetime | None = None
    """When the holder revoked it."""

    def active(self, at: datetime) -> bool:
        """Not revoked and not expired at ``at``."""
        return self.revoked_at is None and self.created_at <= at < self.expires_at


@dataclass(frozen=True)
class LicenceUse:
    """One use of a licence by a relying party under a grant (visible to the holder)."""

    grant_id: str
    """The grant."""
    relying_party: str
    """Who fetched."""
    licence_id: str
    """The version served (empty when refused before one was found)."""
    fields: tuple[str, ...]
    """Fields disclosed (empty when refused)."""
    purpose: str
    """The grant's purpose."""
    at: datetime
    """When."""
    outcome: str
    """``served``, or ``refused: <reason>``."""
