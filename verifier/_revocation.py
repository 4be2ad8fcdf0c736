"""Certificate status from CRLs (RFC 5280 §6.3), with CRLs passed in; nothing is fetched.

Handled: CRL signature (by the certificate's issuer or by another certificate of the same name
with cRLSign that itself validates), CRL issuer and indirect CRLs (certificateIssuer entry
extension), issuingDistributionPoint scope (distribution point names, onlyContainsUserCerts /
CACerts / AttributeCerts, onlySomeReasons with reason masks), thisUpdate/nextUpdate window,
unknown critical CRL and entry extensions (the CRL is not used), and delta CRLs.

OCSP responses (RFC 6960, :mod:`verifier.ocsp`) travel with the CRLs in a :class:`RevocationData`
(a sequence of CRLs that also carries parsed OCSP responses), so path validation passes both
through unchanged. A certificate is revoked if either source says so at the validation time, and
good if either gives a current "good".

Past validation (ETSI EN 319 102-1 §5.6.2.4: the validation time is a proven earlier time, years
ago): a :class:`RevocationData` marked ``retroactive`` also accepts CRLs issued *after* the
validation time, which still tell the status then (not revoked, or revoked since a given date),
but for each certificate only those issued no later than its notAfter (:func:`tells_status_at`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asn1crypto import core, x509

from keys.algorithms import AlgorithmPolicy
from keys.errors import EsignError
from keys.x509 import Certificate, Crl

__all__ = ["RevocationData", "RevocationOutcome", "check_revocation", "tells_status_at"]

_ALL_REASONS = frozenset(
    {
        "key_compromise",
        "ca_compromise",
        "affiliation_changed",
        "superseded",
        "cessation_of_operation",
        "certificate_hold",
        "privilege_withdrawn",
        "aa_compromise",
    }
)
_KNOWN_CRL_EXTS = {"2.5.29.20", "2.5.29.27", "2.5.29.28", "2.5.29.35", "2.5.29.18", "2.5.29.46", "2.5.29.60"}
_KNOWN_ENTRY_EXTS = {"2.5.29.21", "2.5.29.24", "2.5.29.29"}


@dataclass(frozen=True)
class RevocationOutcome:
    """What the CRLs say about one certificate at the validation time."""

    status: str
    """``good``, ``revoked``, ``unknown`` (no usable CRL covers it) or ``stale`` (only expired CRLs)."""
    detail_en: str
    """Explanation in English."""
    detail_zh: str
    """Explanation in Chinese."""


def tells_status_at(issued: datetime, *, at: datetime, not_after: datetime | None) -> bool:
    """Revocation data issued at ``issued`` tells a certificate's status at an earlier, proven time ``at``.

    Data issued by ``at`` does. Data issued later still does (not revoked at ``at``, or revoked
    since a given date), but only if issued no later than the certificate's ``not_after``: a CA
    may drop a revoked certificate from its CRLs once it has expired (RFC 5280 §3.3), so later
    data says nothing about it. Used by our CRL checker (a ``retroactive`` :class:`RevocationData`)
    and by the pyHanko path's past validation (:class:`verifier._pdf_sig.PastContext`).
    """
    return issued <= at or (not_after is not None and issued <= not_after)


class RevocationData(tuple):  # type: ignore[type-arg]
    """CRLs (the tuple items) plus OCSP responses (``ocsp_responses``), passed where CRLs go."""

    ocsp_responses: tuple[Any, ...]
    retroactive: bool
    """CRLs issued after the validation time are used as :func:`tells_status_at` allows (past validation)."""
    issued_since: datetime | None
    """Only revocation data issued at or after this counts (a policy's maximum revocation age); the
    items here are already filtered, and handlers whose artefact carries its own revocation data
    (a PDF's DSS and CMS) apply the same cut to it. ``None``: no cut."""

    def __new__(cls, crls: Sequence[Crl] = (), ocsp_responses: Sequence[Any] = (), *,
                retroactive: bool | None = None, issued_since: datetime | None = None) -> RevocationData:
        self = super().__new__(cls, tuple(crls))
        self.ocsp_responses = tuple(ocsp_responses)
        self.retroactive = bool(getattr(crls, "retroactive", False)) if retroactive is None else retroactive
        self.issued_since = getattr(crls, "issued_since", None) if issued_since is None else issued_since
        return self

    @classmethod
    def for_past(cls, crls: Sequence[Crl]) -> RevocationData:
        """``crls`` (and their OCSP responses, if any) for validation at a proven earlier time."""
        return cls(crls, getattr(crls, "ocsp_responses", ()), retroactive=True)

    def __bool__(self) -> bool:
        return len(self) > 0 or bool(self.ocsp_responses)


@dataclass(frozen=True)
class _Dp:
    names: tuple[x509.GeneralName, ...] | None
    relative: x509.RelativeDistinguishedName | None
    reasons: frozenset[str]
    crl_issuers: tuple[x509.Name, ...]


def _dps(cert: Certificate) -> list[_Dp]:
    out = []
    value = cert.asn1.crl_distribution_points_value
    for dp in value or ():
        reasons = frozenset(dp["reasons"].native) if not isinstance(dp["reasons"], core.Void) else _ALL_REASONS
        issuers: tuple[x509.Name, ...] = ()
        if not isinstance(dp["crl_issuer"], core.Void):
            issuers = tuple(gn.chosen for gn in dp["crl_issuer"] if gn.name == "directory_name")
        name = dp["distribution_point"]
        full, rel = None, None
        if not isinstance(name, core.Void):
            if name.name == "full_name":
                full = tuple(name.chosen)
            else:
                rel = name.chosen
        out.append(_Dp(full, rel, reasons & _ALL_REASONS or _ALL_REASONS, issuers))
    # §6.3.3: CRLs not named by a DP but issued by the certificate issuer are also tried.
    out.append(_Dp((x509.GeneralName(name="directory_name", value=cert.issuer),), None, _ALL_REASONS, ()))
    return out


def _with_rdn(base: x509.Name, rdn: x509.RelativeDistinguishedName) -> x509.GeneralName:
    seq = x509.RDNSequence([*list(base.chosen), rdn])
    return x509.GeneralName(name="directory_name", value=x509.Name(name="", value=seq))


def _gn_equal(a: x509.GeneralName, b: x509.GeneralName) -> bool:
    if a.name != b.name:
        return False
    if a.name == "directory_name":
        return bool(a.chosen == b.chosen)
    return bool(a.native == b.native)


def _scope_ok(cert: Certificate, crl: Crl, dp: _Dp, crl_issuer: x509.Name) -> bool:
    idp = crl.asn1.issuing_distribution_point_value
    if idp is None:
        return True
    if idp["only_contains_attribute_certs"].native:
        return False
    if idp["only_contains_user_certs"].native and cert.is_ca:
        return False
    if idp["only_contains_ca_certs"].native and not cert.is_ca:
        return False
    point = idp["distribution_point"]
    if isinstance(point, core.Void):
        return True
    idp_names = tuple(point.chosen) if point.name == "full_name" else (_with_rdn(crl_issuer, point.chosen),)
    if dp.names is not None or dp.relative is not None:
        rel_base = dp.crl_issuers[0] if dp.crl_issuers else cert.issuer
        dp_names = dp.names if dp.names is not None else (_with_rdn(rel_base, dp.relative),)  # type: ignore[arg-type]
    else:
        dp_names = tuple(x509.GeneralName(name="directory_name", value=n) for n in dp.crl_issuers)
    return any(_gn_equal(a, b) for a in idp_names for b in dp_names)


def _idp_reasons(crl: Crl) -> frozenset[str]:
    idp = crl.asn1.issuing_distribution_point_value
    if idp is None or isinstance(idp["only_some_reasons"], core.Void):
        return _ALL_REASONS
    return frozenset(idp["only_some_reasons"].native) & _ALL_REASONS


def _idp_key(crl: Crl) -> bytes:
    idp = crl.asn1.issuing_distribution_point_value
    return b"" if idp is None else bytes(idp.dump())


def _usable_extensions(crl: Crl) -> bool:
    if any(crit and oid not in _KNOWN_CRL_EXTS for oid, crit in crl.extension_oids.items()):
        return False
    for entry in crl.asn1["tbs_cert_list"]["revoked_certificates"]:
        exts = entry["crl_entry_extensions"]
        if isinstance(exts, core.Void):
            continue
        if any(e["critical"].native and e["extn_id"].dotted not in _KNOWN_ENTRY_EXTS for e in exts):
            return False
    return True


def _lookup(crl: Crl, cert: Certificate) -> tuple[str, datetime] | None:
    """(reason, revocation date) of ``cert`` in ``crl``, tracking indirect-CRL entry issuers."""
    current = crl.issuer
    for entry in crl.asn1["tbs_cert_list"]["revoked_certificates"]:
        ci = entry.certificate_issuer_value
        if ci is not None:
            dirs = [gn.chosen for gn in ci if gn.name == "directory_name"]
            current = dirs[0] if dirs else current
        if entry["user_certificate"].native == cert.serial and current == cert.issuer:
            reason = entry.crl_reason_value
            return (reason.native if reason is not None else "unspecified"), entry["revocation_date"].native
    return None


def _crl_status(
    cert: Certificate,
    issuer: Certificate,
    *,
    crls: Sequence[Crl],
    at: datetime,
    signers: Sequence[Certificate],
    signer_ok: Callable[[Certificate], bool],
    policy: AlgorithmPolicy,
    use_deltas: bool = True,
) -> RevocationOutcome:
    """Status of ``cert`` (issued by ``issuer``) from the CRLs in ``crls`` at ``at``.

    ``signers`` are other certificates that may have signed a CRL (same name as the CRL
    issuer); ``signer_ok`` validates such a certificate's own path before its CRL is trusted.
    """
    reasons_mask: set[str] = set()
    saw_stale = False
    notes: list[str] = []
    retroactive = bool(getattr(crls, "retroactive", False))

    def in_time(c: Crl) -> bool:
        return c.this_update <= at or (retroactive and tells_status_at(c.this_update, at=at, not_after=cert.not_after))

    def crl_trusted(c: Crl) -> bool:
        for cand in [issuer, *signers]:
            if not (cand.subject == c.issuer):
                continue
            ku = cand.key_usage
            if ku is not None and "crl_sign" not in ku:
                continue
            try:
                c.verify_issued_by(cand.public_key(), policy=policy)
            except EsignError:
                continue
            # The issuer is already being validated as part of the path; a CRL signer whose own
            # status is in the CRL it signed (PKITS 4.14.30) is being validated by our caller.
            if cand.der in (issuer.der, cert.der) or signer_ok(cand):
                return True
        return False

    complete = [c for c in crls if c.delta_base is None]
    deltas = [c for c in crls if c.delta_base is not None]
    for dp in _dps(cert):
        for c in complete:
            # Step 1: CRL issuer (direct, or named in cRLIssuer of an indirect CRL).
            if dp.crl_issuers:
                idp = c.asn1.issuing_distribution_point_value
                indirect = idp is not None and bool(idp["indirect_crl"].native)
                if not (indirect and any(c.issuer == n for n in dp.crl_issuers)):
                    continue
            elif not (c.issuer == cert.issuer):
                continue
            # Step 2: scope and reasons.
            if not _scope_ok(cert, c, dp, c.issuer):
                continue
            interim = set(dp.reasons & _idp_reasons(c))
            if interim <= reasons_mask:
                continue
            # Step 3: usable (extensions, window, signature).
            if not _usable_extensions(c):
                notes.append("a CRL has an unknown critical extension and was not used")
                continue
            if not in_time(c):
                notes.append("a CRL was issued after the certificate expired" if retroactive
                             else "a CRL was issued after the validation time")
                continue
            if c.next_update is not None and c.next_update < at:
                saw_stale = True
                continue
            if not crl_trusted(c):
                notes.append("a CRL signature could not be verified by an authorised signer")
                continue
            # Step 4: delta CRL, if any, for the same scope and a matching base.
            delta = None
            if use_deltas:
                for d in deltas:
                    if (
                        d.issuer == c.issuer
                        and _idp_key(d) == _idp_key(c)
                        and c.crl_number is not None
                        and d.delta_base is not None
                        and d.delta_base <= c.crl_number
                        and (d.crl_number or 0) > c.crl_number
                        and _usable_extensions(d)
                        and in_time(d)
                        and (d.next_update is None or d.next_update >= at)
                        and crl_trusted(d)
                    ):
                        delta = d
            # Step 5: look the serial up.
            hit = _lookup(delta, cert) if delta is not None else None
            if hit is not None and hit[0] == "remove_from_crl":
                hit = None
            elif hit is None:
                hit = _lookup(c, cert)
            if hit is not None and hit[0] != "remove_from_crl":
                reason, when = hit
                if when <= at:
                    return RevocationOutcome(
                        "revoked",
                        f"revoked on {when.isoformat()} (reason: {reason})",
                        f"已于 {when.isoformat()} 被吊销（原因：{reason}）",
                    )
                notes.append(f"revoked later, on {when.isoformat()}")
            reasons_mask |= interim
            if reasons_mask >= _ALL_REASONS:
                break
        if reasons_mask >= _ALL_REASONS:
            break
    if reasons_mask >= _ALL_REASONS:
        extra = f" ({'; '.join(notes)})" if notes else ""
        return RevocationOutcome("good", "not revoked according to the CRLs" + extra, "依据 CRL 未被吊销")
    if saw_stale and not reasons_mask:
        return RevocationOutcome("stale", "only out-of-date CRLs were available", "仅有过期的 CRL")
    why = "; ".join(notes) or "no CRL covers this certificate"
    return RevocationOutcome("unknown", f"revocation status unknown: {why}", "无法确定吊销状态：没有可用的 CRL")


def check_revocation(
    cert: Certificate,
    issuer: Certificate,
    *,
    crls: Sequence[Crl],
    at: datetime,
    signers: Sequence[Certificate],
    signer_ok: Callable[[Certificate], bool],
    policy: AlgorithmPolicy,
    use_deltas: bool = True,
) -> RevocationOutcome:
    """Status of ``cert`` (issued by ``issuer``) at ``at`` from CRLs and, in a :class:`RevocationData`, OCSP.

    ``signers`` are other certificates that may have signed a CRL (same name as the CRL
    issuer); ``signer_ok`` validates such a certificate's own path before its CRL is trusted.
    """
    from_crls = _crl_status(
        cert, issuer, crls=crls, at=at, signers=signers, signer_ok=signer_ok, policy=policy, use_deltas=use_deltas
    )
    responses = getattr(crls, "ocsp_responses", ())
    if not responses or from_crls.status == "revoked":
        return from_crls
    from verifier.ocsp import status_from_responses

    o = status_from_responses(cert, issuer, responses, at=at, policy=policy, crls=list(crls))
    if o.status in ("revoked", "good"):
        return RevocationOutcome(o.status, o.detail_en, o.detail_zh)
    if from_crls.status == "good":
        return from_crls
    if o.status == "stale" or from_crls.status == "stale":
        detail = o.detail_en if o.status == "stale" else from_crls.detail_en
        return RevocationOutcome("stale", detail, "仅有过期的吊销信息（CRL/OCSP）")
    if o.status == "no_match":
        return from_crls
    return RevocationOutcome(
        "unknown", f"{from_crls.detail_en}; OCSP: {o.detail_en}", f"{from_crls.detail_zh}；OCSP：{o.detail_zh}"
    )
