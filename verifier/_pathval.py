"""RFC 5280 §6.1 basic path validation of ONE candidate path (path building is elsewhere).

Steps (tagged in the code as ``# Step N``), for the path anchor -> c1 -> ... -> cn (leaf):

  0. The trust anchor is usable: a CA (if it says), keyCertSign (if keyUsage present), in validity.
  For each certificate ci, i = 1..n:
  1. Signature of ci verifies with the working public key (SM2 with ID 1234567812345678) and an
     allowed algorithm (§6.1.3 (a)(1)).
  2. ci is within its validity period at the validation time (§6.1.3 (a)(2)).
  3. Name chaining: ci's issuer equals the working issuer name (§6.1.3 (a)(4)).
  4. Revocation status from the CRLs given (§6.1.3 (a)(3), §6.3).
  5. Name constraints: ci's names are inside the permitted and outside the excluded subtrees,
     unless ci is a self-issued intermediate (§6.1.3 (b), (c)).
  6. Certificate policies (§6.1.3 (d)-(f), §6.1.4 (a)-(b), (h)-(j), §6.1.5 (a)-(b), (g)).
  For each intermediate (i < n), preparing for the next certificate (§6.1.4):
  7. Name constraints of ci are merged into the state (g).
  8. ci is a CA: v3 with basicConstraints cA TRUE (k).
  9. Path length: max_path_length > 0 for non-self-issued ci, then decrement; pathLen (l), (m).
  10. keyUsage, if present, has keyCertSign (n).
  11. No unrecognised critical extension (o); same for the leaf (§6.1.5 (f)).
  12. Extended key usage, if the caller asked for one (leaf, and intermediates that carry EKU).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from keys.algorithms import DEFAULT_POLICY, AlgorithmPolicy
from keys.errors import AlgorithmNotAllowedError, EsignError, KeyFormatError, SignatureFormatError
from keys.x509 import Certificate, Crl
from verifier._names import NameConstraintsState
from verifier._policy import ANY_POLICY, PolicyState
from verifier._revocation import check_revocation
from verifier.report import Check, CheckStatus, Indication, SubIndication

__all__ = ["MAX_CHAIN_DEPTH", "PathFailure", "PathPolicy", "validate_candidate"]

#: Most certificates in a path, trust anchor included. Longer chains fail, they never hang.
MAX_CHAIN_DEPTH = 10

_RECOGNISED = {
    "2.5.29.15",  # keyUsage
    "2.5.29.19",  # basicConstraints
    "2.5.29.17",  # subjectAltName
    "2.5.29.18",  # issuerAltName
    "2.5.29.14",  # subjectKeyIdentifier
    "2.5.29.35",  # authorityKeyIdentifier
    "2.5.29.30",  # nameConstraints
    "2.5.29.31",  # cRLDistributionPoints
    "2.5.29.37",  # extendedKeyUsage
    "2.5.29.32",  # certificatePolicies
    "2.5.29.33",  # policyMappings
    "2.5.29.36",  # policyConstraints
    "2.5.29.54",  # inhibitAnyPolicy
    "2.5.29.46",  # freshestCRL
    "1.3.6.1.5.5.7.1.1",  # authorityInfoAccess
    "1.3.6.1.5.5.7.1.11",  # subjectInfoAccess
    "1.3.6.1.5.5.7.48.1.5",  # id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1)
}
_ANY_EKU = "2.5.29.37.0"


@dataclass(frozen=True)
class PathPolicy:
    """How strict path validation is. Passed in by the caller; nothing is ambient."""

    require_revocation: bool = False
    """Every certificate below the anchor needs a usable CRL; otherwise INDETERMINATE."""
    algorithms: AlgorithmPolicy = DEFAULT_POLICY
    """Signature algorithms and key sizes accepted on every link and CRL."""
    max_depth: int = MAX_CHAIN_DEPTH
    """Most certificates in a path, anchor included (capped at :data:`MAX_CHAIN_DEPTH`)."""
    required_eku: str | None = None
    """Dotted EKU OID the leaf must allow (e.g. 1.3.6.1.5.5.7.3.8 timeStamping), if any."""
    check_anchor_validity: bool = True
    """The trust anchor certificate must itself be within its validity period."""
    use_delta_crls: bool = True
    """Apply delta CRLs found among the CRLs given."""
    initial_policy_set: frozenset[str] = field(default_factory=lambda: frozenset({ANY_POLICY}))
    """RFC 5280 §6.1.1 (c) user-initial-policy-set (dotted OIDs)."""
    initial_explicit_policy: bool = False
    """§6.1.1 (g) initial-explicit-policy."""
    initial_policy_mapping_inhibit: bool = False
    """§6.1.1 (e) initial-policy-mapping-inhibit."""
    initial_any_policy_inhibit: bool = False
    """§6.1.1 (i) initial-any-policy-inhibit."""


class PathFailure(Exception):
    """One candidate path did not validate (internal; turned into a report by the caller)."""

    def __init__(self, indication: Indication, sub: SubIndication, check: Check, checks: Sequence[Check]) -> None:
        super().__init__(check.detail_en)
        self.indication = indication
        self.sub = sub
        self.check = check
        self.checks = tuple(checks)


def _ok(name: str, en: str, zh: str) -> Check:
    return Check(name, CheckStatus.PASSED, en, zh)


def validate_candidate(
    path: Sequence[Certificate],
    *,
    at: datetime,
    crls: Sequence[Crl],
    signers: Sequence[Certificate],
    signer_ok: Callable[[Certificate], bool],
    policy: PathPolicy,
) -> list[Check]:
    """Validate ``path`` (leaf first, trust anchor last). Returns the checks or raises PathFailure."""
    checks: list[Check] = []

    def fail(
        ind: Indication, sub: SubIndication, name: str, en: str, zh: str, status: CheckStatus | None = None
    ) -> None:
        st = status or (CheckStatus.INDETERMINATE if ind is Indication.INDETERMINATE else CheckStatus.FAILED)
        check = Check(name, st, en, zh)
        raise PathFailure(ind, sub, check, [*checks, check])

    anchor = path[-1]
    certs = list(reversed(path[:-1]))  # c1 .. cn
    n = len(certs)
    # Step 0: the trust anchor.
    if n and anchor.asn1.basic_constraints_value is not None and not anchor.is_ca:
        fail(
            Indication.TOTAL_FAILED,
            SubIndication.CHAIN_CONSTRAINTS_FAILURE,
            "trust_anchor",
            f"trust anchor {anchor.subject_str} is not a CA",
            f"信任锚 {anchor.subject_str} 不是 CA 证书",
        )
    if n and anchor.key_usage is not None and "key_cert_sign" not in anchor.key_usage:
        fail(
            Indication.TOTAL_FAILED,
            SubIndication.CHAIN_CONSTRAINTS_FAILURE,
            "trust_anchor",
            "trust anchor keyUsage lacks keyCertSign",
            "信任锚的密钥用途不含证书签发",
        )
    if policy.check_anchor_validity:
        if at > anchor.not_after:
            fail(
                Indication.TOTAL_FAILED,
                SubIndication.EXPIRED,
                "trust_anchor",
                f"trust anchor expired on {anchor.not_after.isoformat()}",
                "信任锚证书已过期",
            )
        if at < anchor.not_before:
            fail(
                Indication.TOTAL_FAILED,
                SubIndication.NOT_YET_VALID,
                "trust_anchor",
                "trust anchor not yet valid",
                "信任锚证书尚未生效",
            )
    checks.append(_ok("trust_anchor", f"trust anchor {anchor.subject_str}", f"信任锚 {anchor.subject_str}"))

    if n == 0:  # the certificate itself is a trust anchor
        return checks
    try:
        working_key = anchor.public_key()
    except KeyFormatError as exc:
        fail(
            Indication.INDETERMINATE,
            SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
            "trust_anchor",
            f"trust anchor key not supported: {exc.message}",
            "不支持信任锚的公钥",
        )
    working_issuer = anchor.subject
    max_path_length = n
    names = NameConstraintsState()
    pol = PolicyState(
        n,
        initial_policy_set=policy.initial_policy_set,
        explicit=policy.initial_explicit_policy,
        mapping_inhibit=policy.initial_policy_mapping_inhibit,
        any_inhibit=policy.initial_any_policy_inhibit,
    )
    issuer_cert = anchor
    for i, cert in enumerate(certs, start=1):
        tag = f"[{n - i}]"  # index from the leaf, as in the chain summary
        leaf = i == n
        # Step 1: signature.
        try:
            cert.verify_issued_by(working_key, policy=policy.algorithms)
        except AlgorithmNotAllowedError as exc:
            fail(
                Indication.INDETERMINATE,
                SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
                f"signature{tag}",
                f"{cert.subject_str}: {exc.message}",
                f"{cert.subject_str}：{exc.message_zh}",
            )
        except (SignatureFormatError, EsignError) as exc:
            fail(
                Indication.TOTAL_FAILED,
                SubIndication.SIG_CRYPTO_FAILURE,
                f"signature{tag}",
                f"signature on {cert.subject_str} does not verify with the key of {issuer_cert.subject_str}: {exc}",
                f"{cert.subject_str} 的签名无法用 {issuer_cert.subject_str} 的公钥验证",
            )
        checks.append(
            _ok(
                f"signature{tag}",
                f"{cert.subject_str} signed by {issuer_cert.subject_str}",
                f"{cert.subject_str} 由 {issuer_cert.subject_str} 签发，签名有效",
            )
        )
        # Step 2: validity.
        if at < cert.not_before:
            fail(
                Indication.TOTAL_FAILED,
                SubIndication.NOT_YET_VALID,
                f"validity{tag}",
                f"{cert.subject_str} is valid only from {cert.not_before.isoformat()}",
                f"{cert.subject_str} 自 {cert.not_before.isoformat()} 起才生效",
            )
        if at > cert.not_after:
            fail(
                Indication.TOTAL_FAILED,
                SubIndication.EXPIRED,
                f"validity{tag}",
                f"{cert.subject_str} expired on {cert.not_after.isoformat()}",
                f"{cert.subject_str} 已于 {cert.not_after.isoformat()} 过期",
            )
        checks.append(
            _ok(f"validity{tag}", f"valid until {cert.not_after.isoformat()}", f"有效期至 {cert.not_after.isoformat()}")
        )
        # Step 3: name chaining.
        if not (cert.issuer == working_issuer):
            fail(
                Indication.TOTAL_FAILED,
                SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE,
                f"name_chaining{tag}",
                f"issuer of {cert.subject_str} does not match {issuer_cert.subject_str}",
                "签发者名称不匹配",
            )
        # Step 4: revocation.
        if crls or policy.require_revocation:
            outcome = check_revocation(
                cert,
                issuer_cert,
                crls=crls,
                at=at,
                signers=signers,
                signer_ok=signer_ok,
                policy=policy.algorithms,
                use_deltas=policy.use_delta_crls,
            )
            if outcome.status == "revoked":
                fail(
                    Indication.TOTAL_FAILED,
                    SubIndication.REVOKED,
                    f"revocation{tag}",
                    f"{cert.subject_str} {outcome.detail_en}",
                    f"{cert.subject_str} {outcome.detail_zh}",
                )
            if outcome.status != "good":
                if policy.require_revocation:
                    sub = (
                        SubIndication.TRY_LATER
                        if outcome.status == "stale"
                        else (SubIndication.REVOCATION_OUT_OF_BOUNDS_NO_POE)
                    )
                    fail(
                        Indication.INDETERMINATE,
                        sub,
                        f"revocation{tag}",
                        f"{cert.subject_str}: {outcome.detail_en}",
                        f"{cert.subject_str}：{outcome.detail_zh}",
                    )
                checks.append(Check(f"revocation{tag}", CheckStatus.SKIPPED, outcome.detail_en, outcome.detail_zh))
            else:
                checks.append(_ok(f"revocation{tag}", outcome.detail_en, outcome.detail_zh))
        else:
            checks.append(
                Check(
                    f"revocation{tag}",
                    CheckStatus.SKIPPED,
                    "no CRL given and none required",
                    "未提供 CRL，且策略不要求吊销检查",
                )
            )
        # Step 5: name constraints.
        if leaf or not cert.self_issued:
            bad = names.violation(cert.asn1)
            if bad is not None:
                fail(
                    Indication.TOTAL_FAILED,
                    SubIndication.CHAIN_CONSTRAINTS_FAILURE,
                    f"name_constraints{tag}",
                    f"{cert.subject_str}: {bad}",
                    f"{cert.subject_str} 的名称不符合名称约束",
                )
        # Step 6: policies.
        perr = pol.process(cert, i)
        if perr is None and leaf:
            perr = pol.wrap_up(cert)
        if perr is not None:
            fail(
                Indication.TOTAL_FAILED,
                SubIndication.POLICY_PROCESSING_ERROR,
                f"policies{tag}",
                f"{cert.subject_str}: {perr}",
                f"{cert.subject_str} 的证书策略不满足要求",
            )
        # Step 11: critical extensions.
        unknown = sorted(o for o, crit in cert.extension_oids.items() if crit and o not in _RECOGNISED)
        if unknown:
            fail(
                Indication.TOTAL_FAILED,
                SubIndication.CHAIN_CONSTRAINTS_FAILURE,
                f"critical_extensions{tag}",
                f"{cert.subject_str} has unrecognised critical extension(s) {', '.join(unknown)}",
                f"{cert.subject_str} 含有无法识别的关键扩展 {', '.join(unknown)}",
            )
        # Step 12: EKU.
        eku = cert.extended_key_usage
        if policy.required_eku and eku is not None and policy.required_eku not in eku and _ANY_EKU not in eku:
            fail(
                Indication.TOTAL_FAILED,
                SubIndication.CHAIN_CONSTRAINTS_FAILURE,
                f"extended_key_usage{tag}",
                f"{cert.subject_str} does not allow purpose {policy.required_eku}",
                f"{cert.subject_str} 的扩展密钥用途不允许 {policy.required_eku}",
            )
        if leaf:
            break
        # Step 7: name constraints of this CA.
        nc = cert.asn1.name_constraints_value
        if nc is not None:
            names.update(nc)
        # Step 8: CA.
        if not cert.is_ca:
            fail(
                Indication.TOTAL_FAILED,
                SubIndication.CHAIN_CONSTRAINTS_FAILURE,
                f"basic_constraints{tag}",
                f"{cert.subject_str} issued a certificate but is not a CA (basicConstraints cA missing)",
                f"{cert.subject_str} 不是 CA 证书，却签发了证书",
            )
        # Step 9: path length.
        if not cert.self_issued:
            if max_path_length <= 0:
                fail(
                    Indication.TOTAL_FAILED,
                    SubIndication.CHAIN_CONSTRAINTS_FAILURE,
                    f"path_length{tag}",
                    f"path length constraint exceeded at {cert.subject_str}",
                    f"在 {cert.subject_str} 处超出路径长度约束",
                )
            max_path_length -= 1
        if cert.path_len is not None and cert.path_len < max_path_length:
            max_path_length = cert.path_len
        # Step 10: keyCertSign.
        if cert.key_usage is not None and "key_cert_sign" not in cert.key_usage:
            fail(
                Indication.TOTAL_FAILED,
                SubIndication.CHAIN_CONSTRAINTS_FAILURE,
                f"key_usage{tag}",
                f"{cert.subject_str} keyUsage lacks keyCertSign",
                f"{cert.subject_str} 的密钥用途不含证书签发",
            )
        checks.append(_ok(f"ca_constraints{tag}", "CA constraints satisfied", "CA 约束满足"))
        perr = pol.prepare_next(cert, i)
        if perr is not None:
            fail(
                Indication.TOTAL_FAILED,
                SubIndication.POLICY_PROCESSING_ERROR,
                f"policies{tag}",
                f"{cert.subject_str}: {perr}",
                f"{cert.subject_str} 的策略映射无效",
            )
        try:
            working_key = cert.public_key()
        except KeyFormatError as exc:
            fail(
                Indication.INDETERMINATE,
                SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
                f"public_key{tag}",
                f"key of {cert.subject_str} not supported: {exc.message}",
                f"不支持 {cert.subject_str} 的公钥",
            )
        working_issuer = cert.subject
        issuer_cert = cert
    return checks
