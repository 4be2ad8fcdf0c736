"""Certification path building and validation (RFC 5280 §6) with SM2 on every link.

Trust is passed in as a :class:`TrustStore`; the OS trust store is never consulted and nothing is
fetched (no AIA, no CRL download). Procedure of :func:`validate_path`:

  1. Build candidate paths leaf -> intermediates -> trust anchor by name chaining, preferring
     issuers whose subjectKeyIdentifier matches the authorityKeyIdentifier; refuse loops and
     stop at :data:`MAX_CHAIN_DEPTH` certificates and :data:`MAX_CANDIDATE_PATHS` candidates.
  2. Validate each candidate with RFC 5280 §6.1 (see :mod:`verifier._pathval` for the numbered
     steps: every signature including SM2 with ID 1234567812345678, validity, name chaining,
     revocation, name constraints, policies, basicConstraints, pathLen, keyUsage, critical
     extensions, EKU).
  3. The first candidate that validates gives TOTAL_PASSED; otherwise the failure of the most
     preferred candidate is reported (or NO_CERTIFICATE_CHAIN_FOUND if none reached an anchor).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from keys.x509 import Certificate, Crl
from verifier._pathval import MAX_CHAIN_DEPTH, PathFailure, PathPolicy, validate_candidate
from verifier._revocation import RevocationData
from verifier.ocsp import OcspResponse, parse_ocsp_response
from verifier.report import (
    ChainElement,
    Check,
    CheckStatus,
    Indication,
    SubIndication,
    ValidationReport,
    reason_for,
)

__all__ = [
    "MAX_CANDIDATE_PATHS",
    "MAX_CHAIN_DEPTH",
    "PathPolicy",
    "TrustStore",
    "build_paths",
    "validate_path",
]

#: Most candidate paths tried for one leaf.
MAX_CANDIDATE_PATHS = 16
#: Most path-building steps (issuer look-ups) for one leaf.
MAX_BUILD_STEPS = 2000
#: Nesting limit when a CRL signer's own path has to be validated.
_MAX_SIGNER_NESTING = 2


@dataclass(frozen=True)
class TrustStore:
    """Trust anchors, passed in by the caller (never the operating system's store)."""

    anchors: tuple[Certificate, ...]
    """Anchor certificates; their subject name and public key are what is trusted."""
    label: str = ""
    """Where the anchors came from, for reports (e.g. a file name or region)."""

    @classmethod
    def of(cls, certs: Iterable[Certificate], *, label: str = "") -> TrustStore:
        """A store of ``certs`` (duplicates by DER dropped)."""
        seen: dict[bytes, Certificate] = {}
        for c in certs:
            seen.setdefault(c.der, c)
        return cls(anchors=tuple(seen.values()), label=label)

    def contains(self, cert: Certificate) -> bool:
        """``cert`` is one of the anchors (byte-identical)."""
        return any(a.der == cert.der for a in self.anchors)


@dataclass
class _BuildResult:
    paths: list[list[Certificate]]
    loop: bool = False
    too_long: bool = False
    missing_issuer: str = ""


def _issuers(cert: Certificate, pool: Sequence[Certificate]) -> list[Certificate]:
    cands = [c for c in pool if c.subject == cert.issuer]
    aki = cert.aki
    # Preferred first: SKI matches AKI; then the most recent.
    cands.sort(key=lambda c: (not (aki is not None and c.ski == aki), -c.not_after.timestamp()))
    return cands


def build_paths(
    leaf: Certificate, intermediates: Sequence[Certificate], trust: TrustStore, *, max_depth: int = MAX_CHAIN_DEPTH
) -> _BuildResult:
    """Candidate paths (leaf first, anchor last), most preferred first. Never loops, bounded."""
    max_depth = min(max_depth, MAX_CHAIN_DEPTH)
    pool = [c for c in intermediates if not trust.contains(c) and c.der != leaf.der]
    out = _BuildResult(paths=[])
    steps = 0
    if trust.contains(leaf):
        out.paths.append([leaf])

    def dfs(path: list[Certificate]) -> None:
        nonlocal steps
        steps += 1
        if steps > MAX_BUILD_STEPS or len(out.paths) >= MAX_CANDIDATE_PATHS:
            return
        cur = path[-1]
        anchors = _issuers(cur, trust.anchors)
        for a in anchors:
            if len(path) + 1 > max_depth:
                out.too_long = True
                break
            out.paths.append([*path, a])
        nexts = _issuers(cur, pool)
        if not anchors and not nexts and not out.missing_issuer:
            out.missing_issuer = cur.issuer_str
        for c in nexts:
            if any(p.der == c.der or (p.subject == c.subject and p.spki_der == c.spki_der) for p in path):
                out.loop = True
                continue
            if len(path) + 2 > max_depth:
                out.too_long = True
                continue
            dfs([*path, c])

    dfs([leaf])
    return out


def _element(c: Certificate, *, anchor: bool = False) -> ChainElement:
    return ChainElement(
        subject=c.subject_str,
        issuer=c.issuer_str,
        serial_hex=format(c.serial, "x"),
        sha256=c.sha256,
        not_before=c.not_before,
        not_after=c.not_after,
        is_trust_anchor=anchor,
    )


def _signer_info(c: Certificate) -> dict[str, str]:
    return {
        "subject": c.subject_str,
        "issuer": c.issuer_str,
        "serial": format(c.serial, "x"),
        "sha256": c.sha256,
        "not_before": c.not_before.isoformat(),
        "not_after": c.not_after.isoformat(),
    }


def validate_path(
    leaf: Certificate,
    *,
    trust: TrustStore,
    at: datetime,
    intermediates: Sequence[Certificate] = (),
    crls: Sequence[Crl] = (),
    ocsp_responses: Sequence[bytes | OcspResponse] = (),
    policy: PathPolicy | None = None,
    artefact: str = "certificate",
    _nesting: int = 0,
    _stack: frozenset[bytes] = frozenset(),
) -> ValidationReport:
    """Validate ``leaf`` at time ``at`` against ``trust``; always returns a report, never a bool.

    Args:
        leaf: the end-entity (or any) certificate to validate.
        trust: trust anchors.
        at: reference time (timezone-aware).
        intermediates: untrusted certificates that may complete the path (any order).
        crls: CRLs to judge revocation from (complete and delta).
        ocsp_responses: OCSP responses (DER or parsed) to judge revocation from, alongside the CRLs;
            an unparsable one is bad input (:class:`~keys.errors.BadInputError`).
        policy: strictness; defaults to :class:`PathPolicy` ``()``.
        artefact: the artefact kind written into the report.
    """
    policy = policy or PathPolicy()
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    if ocsp_responses:
        parsed = [r if isinstance(r, OcspResponse) else parse_ocsp_response(r) for r in ocsp_responses]
        crls = RevocationData(crls, (*getattr(crls, "ocsp_responses", ()), *parsed))
    signers = [*intermediates, *trust.anchors]
    stack = _stack | {leaf.der}

    # Step 1: build.
    built = build_paths(leaf, intermediates, trust, max_depth=policy.max_depth)
    base = {"artefact": artefact, "validation_time": at, "signer": _signer_info(leaf)}

    def signer_ok(cand: Certificate) -> bool:
        if _nesting >= _MAX_SIGNER_NESTING or cand.der in stack:
            return False
        sub = validate_path(
            cand,
            trust=trust,
            at=at,
            intermediates=intermediates,
            crls=crls,
            policy=replace(policy, required_eku=None),
            artefact=artefact,
            _nesting=_nesting + 1,
            _stack=stack,
        )
        return sub.passed

    if not built.paths:
        if built.too_long:
            ind, sub = Indication.TOTAL_FAILED, SubIndication.CHAIN_CONSTRAINTS_FAILURE
            en = f"the chain is longer than the maximum of {min(policy.max_depth, MAX_CHAIN_DEPTH)} certificates"
            zh = f"证书链长度超过上限 {min(policy.max_depth, MAX_CHAIN_DEPTH)}"
        elif built.loop:
            ind, sub = Indication.INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND
            en, zh = (
                "the certificates form a loop and never reach a trust anchor",
                "证书相互签发形成环路，无法到达信任锚",
            )
        else:
            ind, sub = Indication.INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND
            who = built.missing_issuer or leaf.issuer_str
            en = f"issuer {who} is neither among the certificates given nor a trust anchor"
            zh = f"未找到签发者 {who}，它既不在所给证书中，也不是信任锚"
        check = Check(
            "path_building", CheckStatus.FAILED if ind is Indication.TOTAL_FAILED else CheckStatus.INDETERMINATE, en, zh
        )
        return ValidationReport(
            indication=ind,
            sub_indication=sub,
            reason=reason_for(sub, detail_en=en, detail_zh=zh),
            checks=(check,),
            **base,
        )

    # Step 2: validate candidates.
    first_failure: tuple[PathFailure, list[Certificate]] | None = None
    for path in built.paths:
        try:
            checks = validate_candidate(path, at=at, crls=crls, signers=signers, signer_ok=signer_ok, policy=policy)
        except PathFailure as exc:
            if first_failure is None:
                first_failure = (exc, path)
            continue
        # Step 3: passed.
        chain = tuple(_element(c, anchor=(i == len(path) - 1)) for i, c in enumerate(path))
        build_check = Check(
            "path_building",
            CheckStatus.PASSED,
            f"path of {len(path)} certificate(s) to a trust anchor",
            f"已构建长度为 {len(path)} 的证书路径",
        )
        return ValidationReport(
            indication=Indication.TOTAL_PASSED,
            sub_indication=None,
            reason=reason_for(None),
            checks=(build_check, *checks),
            trust_anchor=path[-1].subject_str,
            chain=chain,
            **base,
        )
    assert first_failure is not None
    exc, path = first_failure
    chain = tuple(_element(c, anchor=(i == len(path) - 1)) for i, c in enumerate(path))
    build_check = Check(
        "path_building",
        CheckStatus.PASSED,
        f"path of {len(path)} certificate(s) to a trust anchor",
        f"已构建长度为 {len(path)} 的证书路径",
    )
    return ValidationReport(
        indication=exc.indication,
        sub_indication=exc.sub,
        reason=reason_for(exc.sub, detail_en=exc.check.detail_en, detail_zh=exc.check.detail_zh),
        checks=(build_check, *exc.checks),
        trust_anchor=path[-1].subject_str,
        chain=chain,
        **base,
    )
