"""The trust registry: imported, verified trust lists, and validation of what they vouch for.

Nothing is trusted unless it is an entry of a list that :func:`keys.trustlist.parse_and_verify`
accepted. The registry keeps, per region, the last verified list (even after it expires, so a
report can say *which* list went stale) and the last import error; a list is only used while it
is unexpired at the validation time.

Procedure of :meth:`TrustRegistry.validate_certificate` (steps tagged in the code):

  1. Find the entry that vouches: look up the authority key ids of the leaf and intermediates,
     and the leaf itself, in every held list's index (O(1)); else match issuer names among the
     entries of the service type. None found -> INDETERMINATE / NO_CERTIFICATE_CHAIN_FOUND, naming
     lists that could not be consulted (broken or missing).
  2. The vouching list must be unexpired at ``at``: else INDETERMINATE / TRY_LATER with the expiry.
  3. The entry must be ``granted`` at ``at``: else INDETERMINATE / NO_CERTIFICATE_CHAIN_FOUND with
     its status and since when.
  4. Path validation (:func:`verifier.pki.validate_path`) to the entry's certificates as anchors.
  5. Recognition policy: (region, service type, artefact type, level) must be accepted; else
     INDETERMINATE / SIG_CONSTRAINTS_FAILURE (EN 319 102-1 lists that sub-indication under
     INDETERMINATE only). The rule that applied is a check in the report.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from keys.errors import EsignError
from keys.trustlist import TrustEntry, TrustList
from keys.x509 import Certificate, Crl, parse_certificate
from verifier.pki import PathPolicy, TrustStore, validate_path
from verifier.policy import RecognitionPolicy, RuleMatch, ValidationPolicy, ValidationSettings
from verifier.report import Check, CheckStatus, Indication, Reason, SubIndication, ValidationReport, reason_for

__all__ = ["MAX_CACHED_CERTS", "AnchorSource", "KidResolution", "ListRecord", "TrustRegistry"]

#: Most parsed anchor certificates kept in memory (shared by every registry: the service builds
#: one per request, and parsing 10,000 anchors again each time would cost about half a second).
MAX_CACHED_CERTS = 200_000
_CERTS: dict[bytes, Certificate] = {}


@dataclass(frozen=True)
class ListRecord:
    """What the registry holds for one region."""

    region: str
    """Region code."""
    trust_list: TrustList | None
    """Last verified list (``None`` if none could be verified)."""
    source: str = ""
    """Where it came from (file or URL)."""
    last_refresh: datetime | None = None
    """Last attempt to import or refresh."""
    last_good: datetime | None = None
    """When :attr:`trust_list` was verified."""
    error_en: str | None = None
    """Why the last attempt failed, if it did."""
    error_zh: str | None = None
    """Same, in Chinese."""

    def status(self, at: datetime) -> str:
        """``current``, ``expired`` or ``broken`` (no verified list)."""
        if self.trust_list is None:
            return "broken"
        return "expired" if self.trust_list.is_expired(at) else "current"

    def to_dict(self, at: datetime) -> dict[str, object]:
        """JSON-safe summary."""
        tl = self.trust_list
        return {"region": self.region, "status": self.status(at), "source": self.source,
                "version": tl.version if tl else None, "digest": tl.digest if tl else None,
                "issued_at": tl.issued_at.isoformat() if tl else None,
                "expires_at": tl.expires_at.isoformat() if tl else None,
                "entries": len(tl.entries) if tl else 0,
                "last_refresh": self.last_refresh.isoformat() if self.last_refresh else None,
                "last_good": self.last_good.isoformat() if self.last_good else None,
                "error": None if self.error_en is None else {"en": self.error_en, "zh": self.error_zh}}


@dataclass(frozen=True)
class KidResolution:
    """What the registry says about a QR signer key id."""

    certificate_der: bytes | None
    """The signer certificate, when a usable list vouches for it."""
    region: str | None
    """Region whose list vouches."""
    label: str | None
    """``<region> trust list v<N>: <entry name>`` for reports."""
    problem: tuple[Indication, SubIndication, str, str] | None
    """Why it cannot be used (stale list, withdrawn entry), if so."""
    checks: tuple[Check, ...] = ()
    """Checks to add to the report."""
    trust_list: TrustList | None = None
    """The list that names the signer (usable or not)."""
    entry: TrustEntry | None = None
    """Its entry."""


@dataclass(frozen=True)
class AnchorSource:
    """Where one anchor certificate comes from: a list entry (usable or not at a given time)."""

    trust_list: TrustList
    """The verified list naming it."""
    entry: TrustEntry
    """The entry whose certificates include it."""


def _indet(sub: SubIndication, en: str, zh: str, hint_en: str, hint_zh: str) -> tuple[Reason, Check]:
    return Reason(en=en, zh=zh, hint_en=hint_en, hint_zh=hint_zh), Check("trust_list", CheckStatus.INDETERMINATE,
                                                                         en, zh)


class TrustRegistry:
    """Imported trust lists (the local region's own included) plus the policies that use them."""

    def __init__(self, *, local_region: str, recognition: RecognitionPolicy | None = None,
                 validation: ValidationPolicy | None = None) -> None:
        self.local_region = local_region
        self.recognition = recognition or RecognitionPolicy(local_region=local_region)
        self.validation = validation or ValidationPolicy()
        self._records: dict[str, ListRecord] = {}

    # -- holding lists ----------------------------------------------------------------------------

    def add(self, tl: TrustList, *, at: datetime, source: str = "") -> None:
        """Hold ``tl`` (from :func:`~keys.trustlist.parse_and_verify`) for its region."""
        if not isinstance(tl, TrustList) or not tl.signed_by:
            raise TypeError("only verified TrustList objects can be added")
        self._records[tl.region] = ListRecord(tl.region, tl, source, at, at)

    def mark_failed(self, region: str, *, at: datetime, en: str, zh: str, source: str = "") -> None:
        """Record a failed import/refresh; the last verified list (if any) stays for offline use."""
        old = self._records.get(region)
        self._records[region] = ListRecord(region, old.trust_list if old else None,
                                           source or (old.source if old else ""), at,
                                           old.last_good if old else None, en, zh)

    def record(self, region: str) -> ListRecord | None:
        """What is held for ``region``."""
        return self._records.get(region)

    def records(self) -> list[ListRecord]:
        """Every region held, by region code."""
        return [self._records[k] for k in sorted(self._records)]

    def lists(self) -> list[TrustList]:
        """Every verified list held (expired ones included)."""
        return [r.trust_list for r in self.records() if r.trust_list is not None]

    # -- policy -----------------------------------------------------------------------------------

    def recognise(self, region: str, service_type: str, artefact_type: str | None, level: str | None) -> RuleMatch:
        """The recognition rule that applies."""
        return self.recognition.decide(region, service_type, artefact_type, level)

    def validation_policy(self, *, region: str | None, licence_type: str | None) -> ValidationSettings:
        """Technical constraints for (region, licence type)."""
        return self.validation.effective(region=region, licence_type=licence_type)

    # -- anchors ----------------------------------------------------------------------------------

    def _cert(self, der: bytes) -> Certificate:
        c = _CERTS.get(der)
        if c is None:
            c = parse_certificate(der)
            if len(_CERTS) < MAX_CACHED_CERTS:
                _CERTS[der] = c
        return c

    def unconsulted(self) -> list[str]:
        """``region (why)`` for every region whose list could not be verified (broken or missing)."""
        return [f"{r.region} ({r.error_en or 'no verified list'})" for r in self.records() if r.trust_list is None]

    def anchor_sources(self, service_types: Iterable[str]) -> tuple[list[Certificate], dict[str, list[AnchorSource]]]:
        """Certificates of every entry of ``service_types`` in every held list, and where each comes from.

        Expired lists and entries not granted are included on purpose: the caller validates with
        all of them and then says *why* the anchor that vouched cannot be used (stale list,
        withdrawn entry) instead of a bare "no chain". A certificate our parser refuses is left out.
        """
        wanted = frozenset(service_types)
        certs: list[Certificate] = []
        where: dict[str, list[AnchorSource]] = {}
        for tl in self.lists():
            for e in tl.entries:
                if e.service_type not in wanted:
                    continue
                for info in e.cert_info:
                    key = info.sha256.hex()
                    if key not in where:
                        try:
                            certs.append(self._cert(info.der))
                        except EsignError:
                            continue
                    where.setdefault(key, []).append(AnchorSource(tl, e))
        return certs, where

    def trust_store(self, service_type: str, *, at: datetime, regions: Iterable[str] | None = None) -> TrustStore:
        """Anchors: certificates of entries of ``service_type`` granted at ``at`` in unexpired lists."""
        wanted = None if regions is None else set(regions)
        certs = []
        for tl in self.lists():
            if (wanted is not None and tl.region not in wanted) or tl.is_expired(at):
                continue
            for e in tl.entries_of(service_type):
                if e.status_at(at) == "granted":
                    certs.extend(self._cert(d) for d in e.certificates)
        return TrustStore.of(certs, label=f"trust lists ({service_type})")

    def _candidates(self, leaf: Certificate, intermediates: Sequence[Certificate],
                    service_type: str) -> list[tuple[TrustList, TrustEntry]]:
        # Step 1: O(1) index look-ups first, then issuer names among the entries of the type.
        out: list[tuple[TrustList, TrustEntry]] = []
        keys = [k for k in (c.aki for c in (leaf, *intermediates)) if k]
        for tl in self.lists():
            hits = [e for k in keys for e in tl.find("ski", k)]
            hits += tl.find("cert_sha256", bytes.fromhex(leaf.sha256))
            if not hits:
                issuers = {c.issuer.dump() for c in (leaf, *intermediates)}
                hits = [e for e in tl.entries_of(service_type)
                        if any(self._cert(d).subject.dump() in issuers for d in e.certificates)]
            out.extend((tl, e) for e in dict.fromkeys(hits) if e.service_type == service_type)
        return out

    # -- validation -------------------------------------------------------------------------------

    def validate_certificate(
        self,
        leaf: Certificate,
        *,
        service_type: str,
        artefact_type: str | None,
        level: str | None,
        at: datetime,
        intermediates: Sequence[Certificate] = (),
        crls: Sequence[Crl] = (),
        policy: PathPolicy | None = None,
        artefact: str = "certificate",
    ) -> ValidationReport:
        """Validate ``leaf`` as a ``service_type`` signer vouched for by an imported list (see module doc)."""
        base = {"artefact": artefact, "validation_time": at,
                "signer": {"subject": leaf.subject_str, "sha256": leaf.sha256}}
        cands = self._candidates(leaf, intermediates, service_type)
        if not cands:
            unusable = [f"{r.region} ({r.error_en or 'no verified list'})" for r in self.records()
                        if r.trust_list is None]
            extra = f"; lists that could not be consulted: {', '.join(unusable)}" if unusable else ""
            reason, check = _indet(
                SubIndication.NO_CERTIFICATE_CHAIN_FOUND,
                f"no imported trust list vouches for the issuer of {leaf.subject_str} as {service_type}{extra}",
                f"没有任何已导入的信任列表将 {leaf.subject_str} 的签发者列为 {service_type}",
                "Import the issuing region's trust list (esign trust import) and pin its list-signing key.",
                "请导入签发地区的信任列表（esign trust import）并固定其列表签名公钥。")
            return ValidationReport(indication=Indication.INDETERMINATE,
                                    sub_indication=SubIndication.NO_CERTIFICATE_CHAIN_FOUND, reason=reason,
                                    checks=(check,), **base)
        first: ValidationReport | None = None
        for tl, entry in cands:
            report = self._one(tl, entry, leaf, intermediates, crls, policy, service_type, artefact_type, level,
                               at, base)
            if report.passed:
                return report
            first = first or report
        assert first is not None
        return first

    def _one(self, tl: TrustList, entry: TrustEntry, leaf: Certificate, intermediates: Sequence[Certificate],
             crls: Sequence[Crl], policy: PathPolicy | None, service_type: str, artefact_type: str | None,
             level: str | None, at: datetime, base: dict[str, object]) -> ValidationReport:
        label = f"{tl.region} trust list v{tl.version}: {entry.name}"
        # Step 2: the list must be unexpired.
        if tl.is_expired(at):
            reason, check = _indet(
                SubIndication.TRY_LATER,
                f"the trust list of region {tl.region} (version {tl.version}) expired at {tl.expires_at.isoformat()}",
                f"地区 {tl.region} 的信任列表（版本 {tl.version}）已于 {tl.expires_at.isoformat()} 过期",
                "Refresh the trust list (esign trust refresh) and verify again.",
                "请刷新信任列表（esign trust refresh）后重新验证。")
            return ValidationReport(indication=Indication.INDETERMINATE, sub_indication=SubIndication.TRY_LATER,
                                    reason=reason, checks=(check,), trust_anchor=label, **base)
        list_check = Check("trust_list", CheckStatus.PASSED,
                           f"vouched for by region {tl.region} trust list v{tl.version} (sha256 {tl.digest[:16]}…), "
                           f"entry '{entry.id}', list valid until {tl.expires_at.isoformat()}",
                           f"由地区 {tl.region} 信任列表 v{tl.version} 的条目 '{entry.id}' 担保")
        # Step 3: the entry must be granted at `at`.
        status = entry.status_at(at)
        if status != "granted":
            since = max((t for s, t in entry.status_history if t <= at), default=None)
            when = f" since {since.isoformat()}" if since else " (not yet listed at that time)"
            reason, check = _indet(
                SubIndication.NO_CERTIFICATE_CHAIN_FOUND,
                f"entry '{entry.id}' of region {tl.region} is {status or 'not listed'}{when}",
                f"地区 {tl.region} 的条目 '{entry.id}' 状态为 {status or '未列入'}",
                "The region no longer vouches for this issuer; ask the holder for a currently valid document.",
                "该地区已不再担保此签发者，请获取当前有效的文件。")
            return ValidationReport(indication=Indication.INDETERMINATE,
                                    sub_indication=SubIndication.NO_CERTIFICATE_CHAIN_FOUND, reason=reason,
                                    checks=(list_check, replace(check, name="trust_entry")), trust_anchor=label,
                                    **base)
        # Step 4: path validation to the entry's certificates.
        try:
            anchors = TrustStore.of([self._cert(d) for d in entry.certificates], label=label)
        except EsignError as exc:
            return ValidationReport(indication=Indication.INDETERMINATE,
                                    sub_indication=SubIndication.NO_CERTIFICATE_CHAIN_FOUND,
                                    reason=reason_for(SubIndication.NO_CERTIFICATE_CHAIN_FOUND,
                                                      detail_en=exc.message, detail_zh=exc.message_zh),
                                    checks=(list_check,), **base)
        path = validate_path(leaf, trust=anchors, at=at, intermediates=intermediates, crls=crls, policy=policy,
                             artefact=str(base["artefact"]))
        checks = (list_check, *path.checks)
        if not path.passed:
            return replace(path, checks=checks, trust_anchor=label)
        # Step 5: recognition policy.
        match = self.recognise(tl.region, service_type, artefact_type, level)
        if not match.accepted:
            sub = SubIndication.SIG_CONSTRAINTS_FAILURE
            reason = Reason(en=f"Not recognised here: {match.reason_en}.", zh=f"本地区不予承认：{match.reason_zh}。",
                            hint_en="Only types the recognition policy lists are accepted from other regions.",
                            hint_zh="仅接受互认策略列明的其他地区类型。")
            return replace(path, indication=Indication.INDETERMINATE, sub_indication=sub, reason=reason,
                           checks=(*checks, match.check()), trust_anchor=label)
        return replace(path, checks=(*checks, match.check()), trust_anchor=label)

    def resolve_kid(self, kid: bytes, *, at: datetime, service_type: str = "qr_signer") -> KidResolution:
        """The QR signer certificate with DCC key id ``kid`` and whether its list and entry are usable."""
        for tl in self.lists():
            for e in tl.find("kid", kid):
                if e.service_type != service_type:
                    continue
                der = next(c.der for c in e.cert_info if c.sha256[:8] == kid)
                label = f"{tl.region} trust list v{tl.version}: {e.name}"
                if tl.is_expired(at):
                    en = (f"the trust list of region {tl.region} (version {tl.version}) expired at "
                          f"{tl.expires_at.isoformat()}")
                    zh = f"地区 {tl.region} 的信任列表已于 {tl.expires_at.isoformat()} 过期"
                    return KidResolution(None, tl.region, label, (Indication.INDETERMINATE, SubIndication.TRY_LATER,
                                                                  en, zh), trust_list=tl, entry=e)
                status = e.status_at(at)
                if status != "granted":
                    en = f"entry '{e.id}' of region {tl.region} is {status or 'not listed'}"
                    zh = f"条目 '{e.id}' 未授权"
                    return KidResolution(None, tl.region, label, (Indication.INDETERMINATE,
                                                                  SubIndication.NO_CERTIFICATE_CHAIN_FOUND, en, zh),
                                         trust_list=tl, entry=e)
                ok = Check("trust_list", CheckStatus.PASSED,
                           f"vouched for by region {tl.region} trust list v{tl.version} entry '{e.id}'",
                           f"由地区 {tl.region} 信任列表 v{tl.version} 条目 '{e.id}' 担保")
                return KidResolution(der, tl.region, label, None, (ok,), trust_list=tl, entry=e)
        return KidResolution(None, None, None, None)
