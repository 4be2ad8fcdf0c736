"""Issue licences: validate field data, build the canonical document, sign it, persist it -- all or nothing.

:class:`LicenceService` is the entry point for issuance and (through :mod:`licences.lifecycle`)
every later change. The steps of :meth:`LicenceService.issue`:

  1. The authority may issue: the caller's region is the authority's region, the type is in
     its allowed types (else :class:`~licences.errors.NotAuthorisedToIssueError`, 403).
  2. The type exists for the region (:class:`~licences.errors.UnknownLicenceTypeError`).
  3. The holder ID is of the holder kind (person: resident ID number; organisation: USCC)
     (:class:`~licences.errors.HolderKindError`), then every field is validated against the
     schema, check characters included (:func:`licences.catalogue.validate_fields`).
  4. Validity from the type's rule; the end may not precede the start.
  5. In one transaction: allocate the status-list index; build the identifier (serial = year +
     index, version 001, MOD 37,36 check); encode the canonical document; sign it (GB/T 38540 seal
     signature by default, CMS where the authority's policy says so); insert; record the event
     and the audit entry (holder ID only as ``pii_hash``).

Signing material (key handle, certificate, seal) is resolved once per authority and reused,
with the seal's maker signature, the key/certificate match and the signer list checked once
(:class:`esign.ses.SealSigner`); the seal's register status is checked at the start of every
:meth:`issue` / bulk batch, and the seal's and certificate's validity at every signature.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import cached_property
from typing import Any

from esign.cms import sign_cms
from esign.ports import SealRegister, SealStatus
from esign.ses import SealSigner, SealStatusError
from keys.errors import BadInputError, ConflictError, KeyStoreError
from keys.interfaces import SigningKey
from keys.provider import KeyProvider
from licences.canonical import encode_document, encode_signed
from licences.catalogue import Catalogue, HolderKind, LicenceType, validate_fields
from licences.errors import HolderKindError, InvalidFieldError, NotAuthorisedToIssueError
from licences.identifiers import make_licence_id, validate_id_number, validate_uscc
from licences.model import IssuingAuthority, Licence, LicenceEvent, LicenceStatus, SignatureFormat
from licences.ports import LicenceRepository, LicenceTransaction

__all__ = ["ALL_REGIONS", "CATALOGUE_TTL", "MAX_REASON_CHARS", "AuthoritySigner", "LicenceService", "PiiHasher"]

#: Region value of a caller bound to no region (deployment-wide admin).
ALL_REGIONS = "*"
#: Longest reason accepted with a change.
MAX_REASON_CHARS = 500
#: Seconds the merged catalogue is reused before regional types are read again (other workers' additions).
CATALOGUE_TTL = 30.0

#: ``pii_hash(value) -> str``: keyed, non-reversible stand-in for personal data in audit entries.
PiiHasher = Callable[[str], str]


@dataclass(frozen=True)
class AuthoritySigner:
    """What an authority signs with (resolved from the key store and the seal register)."""

    key: SigningKey
    """Handle of the authority's private key (never the key itself)."""
    cert_der: bytes
    """Its certificate."""
    seal_der: bytes | None
    """The authority's seal (``SESeal``) for SES signatures."""
    signature_format: SignatureFormat
    """SES or CMS."""

    @cached_property
    def seal_signer(self) -> SealSigner:
        """The seal, key and certificate checked once (:class:`esign.ses.SealSigner`), made at first use."""
        assert self.seal_der is not None
        return SealSigner(seal_der=self.seal_der, signer_key=self.key, signer_cert_der=self.cert_der)

    def sign(self, document: bytes, *, at: datetime, property_info: str) -> bytes:
        """Signature over the exact document bytes (the same bytes :func:`esign.ses.sign_with_seal` gives)."""
        if self.signature_format is SignatureFormat.SES:
            return self.seal_signer.sign(data=document, at=at, property_info=property_info)
        return sign_cms(document, key=self.key, cert_der=self.cert_der, detached=True, at=at)


class LicenceService:
    """Issuance and lifecycle over a repository, a key store and a seal register.

    Args:
        repo: where licences live (:class:`licences.ports.LicenceRepository`).
        keys: the key store holding the authorities' keys.
        seals: the seal register (``get(seal_id).der`` and ``status_at``); needed for SES.
        pii_hash: keyed hash for personal data in audit entries (``api.logging.pii_hash``).
    """

    def __init__(self, repo: LicenceRepository, *, keys: KeyProvider, seals: SealRegister | Any | None,
                 pii_hash: PiiHasher) -> None:
        self.repo = repo
        self.keys = keys
        self.seals = seals
        self.pii_hash = pii_hash
        self._signers: dict[tuple[str, str, str | None], AuthoritySigner] = {}
        self._catalogue: tuple[float, Catalogue] | None = None
        self._lock = threading.Lock()

    # -- helpers shared with lifecycle and bulk ---------------------------------------------
    def catalogue(self) -> Catalogue:
        """National types plus the repository's regional ones (re-read at most every :data:`CATALOGUE_TTL` s)."""
        now = time.monotonic()
        with self._lock:
            hit = self._catalogue
        if hit is not None and now - hit[0] < CATALOGUE_TTL:
            return hit[1]
        cat = Catalogue(self.repo.list_types())
        with self._lock:
            self._catalogue = (now, cat)
        return cat

    def add_type(self, licence_type: LicenceType, *, actor: str, at: datetime) -> None:
        """Add a regional licence type (clash with a national code refused) and refresh the catalogue."""
        Catalogue([*self.repo.list_types(), licence_type])
        self.repo.add_type(licence_type, actor=actor, at=at)
        with self._lock:
            self._catalogue = None

    def signer(self, authority: IssuingAuthority, *, at: datetime) -> AuthoritySigner:
        """The authority's signing material; checks the seal is listed in the register at ``at``."""
        fmt = SignatureFormat(authority.signature_format)
        cache_key = (authority.id, authority.key_id, authority.seal_id)
        if fmt is SignatureFormat.SES:
            if authority.seal_id is None or self.seals is None:
                raise KeyStoreError(f"issuing authority {authority.id} has no seal for SES signatures",
                                    message_zh="发证机构未配置电子印章")
            status = self.seals.status_at(authority.seal_id, at)
            if status is not SealStatus.LISTED:
                raise SealStatusError(f"the authority's seal {authority.seal_id} is "
                                      f"{'not registered' if status is None else status.value}",
                                      message_zh="发证机构的电子印章未备案、已挂起或已注销", field="seal_id")
        with self._lock:
            hit = self._signers.get(cache_key)
        if hit is not None:
            return hit
        key = self.keys.signing_key(authority.key_id)
        cert = self.keys.certificate(authority.key_id)
        seal = self.seals.get(authority.seal_id).der if fmt is SignatureFormat.SES else None  # type: ignore[union-attr]
        signer = AuthoritySigner(key=key, cert_der=cert, seal_der=seal, signature_format=fmt)
        with self._lock:
            self._signers[cache_key] = signer
        return signer

    @staticmethod
    def check_reason(reason: object) -> str:
        """A change reason: a string of at most :data:`MAX_REASON_CHARS`."""
        if not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS:
            raise InvalidFieldError(f"reason must be a string of at most {MAX_REASON_CHARS} characters",
                                    message_zh="原因过长", field="reason")
        return reason

    @staticmethod
    def check_region(authority: IssuingAuthority, region: str | None) -> None:
        """The caller (bound to ``region``) may act for the authority."""
        if region is not None and region not in (ALL_REGIONS, authority.region):
            raise NotAuthorisedToIssueError(
                f"issuing authority {authority.id} belongs to region {authority.region}, not {region}",
                message_zh="不能代其他地区的发证机构操作", field="region")

    def prepare(self, authority: IssuingAuthority, type_code: str, data: Mapping[str, Any], *, at: datetime,
                region: str | None, valid_from: date | str | None = None,
                catalogue: Catalogue | None = None) -> tuple[LicenceType, dict[str, str | int], date, date | None]:
        """Steps 1-4: authorisation, type, holder kind, fields, validity. Writes nothing."""
        # Step 1: authority, region and type.
        self.check_region(authority, region)
        t = (catalogue or self.catalogue()).get(type_code, region=authority.region)
        if t.code not in authority.allowed_types:
            raise NotAuthorisedToIssueError(f"issuing authority {authority.id} may not issue {t.code} ({t.name_en})",
                                            message_zh="该发证机构无权签发此类证照", field="type_code")
        # Step 3: holder kind, then the schema.
        _check_holder_kind(t, data)
        fields = validate_fields(t, data, today=at.date())
        # Step 4: validity.
        start = _start_date(valid_from, at)
        end = t.validity.valid_until(start, fields)
        if end is not None and end < start:
            raise InvalidFieldError(f"the licence would end ({end}) before it starts ({start})",
                                    message_zh="证照有效期截止日期早于起始日期", field=t.validity.field or "valid_from")
        return t, fields, start, end

    def build(self, tx: LicenceTransaction, authority: IssuingAuthority, t: LicenceType,
              fields: Mapping[str, str | int], *, start: date, end: date | None, at: datetime,
              signer: AuthoritySigner, serial: str | None = None, version: int = 1,
              supersedes: str | None = None) -> Licence:
        """Step 5 inside ``tx``: index, identifier, document, signature, insert (no event)."""
        at = at.replace(microsecond=0)
        index = tx.allocate_indices(authority.id)
        serial = serial or f"{at:%Y}{index:08d}"
        lid = make_licence_id(t.code, authority.uscc, serial, version, codes_checked=True)
        number = str(fields[t.number_field]) if t.number_field and t.number_field in fields else serial
        lic = Licence(
            licence_id=str(lid), type_code=t.code, type_name=t.name_zh, number=number,
            holder_name=str(fields[t.holder_name_field]), holder_id=str(fields[t.holder_id_field]),
            holder_id_type=t.holder_kind.id_type_code, authority_id=authority.id, issuer_name=authority.name,
            issuer_code=authority.uscc, region=authority.region, serial=serial, version=version, issued_at=at,
            valid_from=start, valid_until=end, status=LicenceStatus.VALID, status_index=index, fields=dict(fields),
            document=b"", signed=b"", signature_format=signer.signature_format, supersedes=supersedes)
        document = encode_document(lic)
        signature = signer.sign(document, at=at, property_info=lic.licence_id)
        lic = replace(lic, document=document, signed=encode_signed(document, signature, signer.signature_format))
        tx.add_licence(lic)
        return lic

    def audit_details(self, lic: Licence, **extra: Any) -> dict[str, Any]:
        """Audit details of a licence: no personal data in clear."""
        return {"type": lic.type_code, "authority": lic.authority_id, "version": lic.version,
                "index": lic.status_index, "holder": self.pii_hash(lic.holder_id), **extra}

    # -- issuance -------------------------------------------------------------------------------
    def issue(self, authority: IssuingAuthority | str, type_code: str, data: Mapping[str, Any], *, actor: str,
              at: datetime, region: str | None, valid_from: date | str | None = None) -> Licence:
        """Issue one licence (steps 1-5 of the module docstring); nothing is written on error.

        Args:
            authority: the issuing authority or its id.
            type_code: licence type code.
            data: field values (names as in the type's schema).
            actor: principal id, for the audit log.
            at: issuing time (timezone-aware).
            region: the caller's region (``"*"`` or ``None``: any).
            valid_from: start of validity (default: the issuing date).
        """
        if at.tzinfo is None:
            raise BadInputError("at must be timezone-aware", message_zh="时间必须带时区", field="at")
        auth = authority if isinstance(authority, IssuingAuthority) else self.repo.get_authority(authority)
        t, fields, start, end = self.prepare(auth, type_code, data, at=at, region=region, valid_from=valid_from)
        signer = self.signer(auth, at=at)
        with self.repo.transaction() as tx:
            lic = self.build(tx, auth, t, fields, start=start, end=end, at=at, signer=signer)
            tx.add_event(LicenceEvent(lic.licence_id, "issue", None, LicenceStatus.VALID, actor, "", lic.issued_at),
                         details=self.audit_details(lic))
        return lic

    def register_authority(self, authority: IssuingAuthority, *, actor: str, at: datetime) -> IssuingAuthority:
        """Check and register an issuing authority (key with a matching certificate, seal listing it).

        Raises:
            InvalidFieldError / CheckCharacterError: bad USCC, region, id or types.
            KeyStoreError / NotFoundError: key or certificate missing.
            ConflictError: id or USCC already registered.
        """
        import re

        from licences.identifiers import validate_area_code

        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{2,63}", authority.id or ""):
            raise InvalidFieldError("authority id: 3..64 characters a-z 0-9 -", message_zh="发证机构标识格式错误",
                                    field="id")
        validate_area_code(authority.region, field="region")
        uscc = validate_uscc(authority.uscc, field="uscc").code
        if not authority.name or len(authority.name) > 200:
            raise InvalidFieldError("name must be 1..200 characters", message_zh="发证机构名称长度错误", field="name")
        cat = self.catalogue()
        if not authority.allowed_types:
            raise InvalidFieldError("allowed_types must name at least one type", message_zh="至少需要一种证照类型",
                                    field="allowed_types")
        for code in authority.allowed_types:
            cat.get(code, region=authority.region)
        if any(a.uscc == uscc for a in self.repo.list_authorities()):
            raise ConflictError(f"an issuing authority with USCC {uscc} exists",
                                message_zh="该统一社会信用代码的发证机构已存在", field="uscc")
        cert = self.keys.certificate(authority.key_id)
        auth = replace(authority, uscc=uscc, certificate=cert, created_at=at)
        signer = self.signer(auth, at=at)  # key, certificate and seal resolve and match
        if signer.seal_der is not None:
            from esign.ses import load_checked_seal, signer_in_seal

            if not signer_in_seal(load_checked_seal(signer.seal_der), cert):
                raise InvalidFieldError("the authority's certificate is not in its seal's signer list",
                                        message_zh="发证机构证书不在其印章的授权签章人列表中", field="seal_id")
        self.repo.add_authority(auth, actor=actor)
        return auth


def _start_date(valid_from: date | str | None, at: datetime) -> date:
    if valid_from is None or valid_from == "":
        return at.date()
    if isinstance(valid_from, date):
        return valid_from
    try:
        if not isinstance(valid_from, str) or len(valid_from) != 10:
            raise ValueError(valid_from)
        return date.fromisoformat(valid_from)
    except ValueError:
        raise InvalidFieldError("valid_from must be a date YYYY-MM-DD", message_zh="有效期起始日期格式错误",
                                field="valid_from") from None


def _check_holder_kind(t: LicenceType, data: Mapping[str, Any]) -> None:
    """A holder ID of the other kind gets a clear error, before the generic field checks."""
    value = data.get(t.holder_id_field) if isinstance(data, Mapping) else None
    if not isinstance(value, str) or not value.strip():
        return
    try:
        if t.holder_kind is HolderKind.PERSON:
            validate_uscc(value, field=t.holder_id_field)
            other_en, other_zh = "a unified social credit code (organisation)", "统一社会信用代码（组织）"
        else:
            validate_id_number(value, field=t.holder_id_field)
            other_en, other_zh = "a resident identity number (person)", "公民身份号码（个人）"
    except InvalidFieldError:
        return
    want = "a resident identity number" if t.holder_kind is HolderKind.PERSON else "a unified social credit code"
    raise HolderKindError(f"{t.holder_id_field}: {t.name_en} is held by a {t.holder_kind.value}; the holder ID "
                          f"must be {want}, not {other_en}",
                          message_zh=f"持证主体代码应与持证主体类型相符，不能是{other_zh}", field=t.holder_id_field)
