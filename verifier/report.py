"""The validation report: one shape for every artefact esign checks (ETSI EN 319 102-1 style).

A report carries the main indication (TOTAL_PASSED, TOTAL_FAILED, INDETERMINATE), an ETSI
sub-indication, a plain reason with a hint to fix it in English and Chinese, and every check
that ran. It is immutable and turns into JSON with :meth:`ValidationReport.to_dict`.

How we map outcomes for a certificate checked at one time ``at`` (no signature, so no proof of
existence can rescue an expired or revoked certificate):

- definite violations (bad signature, revoked, expired, not yet valid, constraint broken,
  malformed input) are TOTAL_FAILED with the matching sub-indication;
- missing information (no path to a trust anchor, no usable CRL when revocation is required,
  stale CRL, unsupported algorithm) is INDETERMINATE.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "ChainElement",
    "Check",
    "CheckStatus",
    "Indication",
    "Reason",
    "SubIndication",
    "ValidationReport",
    "reason_for",
]


class Indication(enum.Enum):
    """ETSI EN 319 102-1 §5.1.3 main indication."""

    TOTAL_PASSED = "TOTAL_PASSED"
    TOTAL_FAILED = "TOTAL_FAILED"
    INDETERMINATE = "INDETERMINATE"


class SubIndication(enum.Enum):
    """ETSI EN 319 102-1 §5.1.3 sub-indications (names as the standard spells them)."""

    FORMAT_FAILURE = "FORMAT_FAILURE"
    HASH_FAILURE = "HASH_FAILURE"
    SIG_CRYPTO_FAILURE = "SIG_CRYPTO_FAILURE"
    REVOKED = "REVOKED"
    SIG_CONSTRAINTS_FAILURE = "SIG_CONSTRAINTS_FAILURE"
    CHAIN_CONSTRAINTS_FAILURE = "CHAIN_CONSTRAINTS_FAILURE"
    CERTIFICATE_CHAIN_GENERAL_FAILURE = "CERTIFICATE_CHAIN_GENERAL_FAILURE"
    CRYPTO_CONSTRAINTS_FAILURE = "CRYPTO_CONSTRAINTS_FAILURE"
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"
    POLICY_PROCESSING_ERROR = "POLICY_PROCESSING_ERROR"
    SIGNATURE_POLICY_NOT_AVAILABLE = "SIGNATURE_POLICY_NOT_AVAILABLE"
    TIMESTAMP_ORDER_FAILURE = "TIMESTAMP_ORDER_FAILURE"
    NO_SIGNING_CERTIFICATE_FOUND = "NO_SIGNING_CERTIFICATE_FOUND"
    NO_CERTIFICATE_CHAIN_FOUND = "NO_CERTIFICATE_CHAIN_FOUND"
    REVOKED_NO_POE = "REVOKED_NO_POE"
    REVOKED_CA_NO_POE = "REVOKED_CA_NO_POE"
    OUT_OF_BOUNDS_NO_POE = "OUT_OF_BOUNDS_NO_POE"
    OUT_OF_BOUNDS_NOT_REVOKED = "OUT_OF_BOUNDS_NOT_REVOKED"
    REVOCATION_OUT_OF_BOUNDS_NO_POE = "REVOCATION_OUT_OF_BOUNDS_NO_POE"
    CRYPTO_CONSTRAINTS_FAILURE_NO_POE = "CRYPTO_CONSTRAINTS_FAILURE_NO_POE"
    NO_POE = "NO_POE"
    TRY_LATER = "TRY_LATER"
    SIGNED_DATA_NOT_FOUND = "SIGNED_DATA_NOT_FOUND"
    CUSTOM = "CUSTOM"


class CheckStatus(enum.Enum):
    """Outcome of one check."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    INDETERMINATE = "indeterminate"


@dataclass(frozen=True)
class Check:
    """One check that ran (or was skipped) and what it found."""

    name: str
    """Stable machine name, e.g. ``signature[1]`` or ``revocation[0]``."""
    status: CheckStatus
    """Outcome."""
    detail_en: str = ""
    """What was found, in English."""
    detail_zh: str = ""
    """What was found, in Chinese."""

    def to_dict(self) -> dict[str, str]:
        """JSON-safe form."""
        return {
            "name": self.name,
            "status": self.status.value,
            "detail_en": self.detail_en,
            "detail_zh": self.detail_zh,
        }


@dataclass(frozen=True)
class Reason:
    """Why the verdict is what it is, and what to do about it."""

    en: str
    """Plain-language reason in English."""
    zh: str
    """Plain-language reason in Chinese."""
    hint_en: str = ""
    """What the user can do, in English."""
    hint_zh: str = ""
    """What the user can do, in Chinese."""

    def to_dict(self) -> dict[str, str]:
        """JSON-safe form."""
        return {"en": self.en, "zh": self.zh, "hint_en": self.hint_en, "hint_zh": self.hint_zh}


@dataclass(frozen=True)
class ChainElement:
    """One certificate of the path that was validated (leaf first)."""

    subject: str
    """Subject DN for people."""
    issuer: str
    """Issuer DN for people."""
    serial_hex: str
    """Serial number, hex."""
    sha256: str
    """SHA-256 fingerprint of the DER certificate."""
    not_before: datetime
    """Validity start."""
    not_after: datetime
    """Validity end."""
    is_trust_anchor: bool = False
    """This element is the trust anchor."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "serial": self.serial_hex,
            "sha256": self.sha256,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "trust_anchor": self.is_trust_anchor,
        }


# Default wording per sub-indication: (en, zh, hint_en, hint_zh).
_REASONS: dict[SubIndication | None, tuple[str, str, str, str]] = {
    None: ("All checks passed.", "全部检查通过。", "", ""),
    SubIndication.FORMAT_FAILURE: (
        "The input is malformed or not of a supported kind.",
        "输入数据格式错误或类型不受支持。",
        "Check that the file is a complete, unmodified certificate or signed document.",
        "请确认文件是完整且未被修改的证书或签名文件。",
    ),
    SubIndication.HASH_FAILURE: (
        "The signed data was changed after signing.",
        "签名后数据被修改。",
        "Obtain the original document from the issuer.",
        "请向签发方索取原始文件。",
    ),
    SubIndication.SIG_CRYPTO_FAILURE: (
        "A signature does not verify: the data or a certificate was altered or signed by someone else.",
        "签名值验证失败：数据或证书被篡改，或并非由声称的签发者签名。",
        "Do not trust this item; ask the issuer for a fresh copy.",
        "请勿信任该内容，并向签发方重新索取。",
    ),
    SubIndication.REVOKED: (
        "A certificate in the chain has been revoked.",
        "证书链中的证书已被吊销。",
        "The issuer withdrew this certificate; ask for a currently valid one.",
        "签发方已撤销该证书，请获取有效的新证书。",
    ),
    SubIndication.EXPIRED: (
        "A certificate in the chain had expired at the validation time.",
        "验证时间点证书链中的证书已过期。",
        "Renew the certificate, or validate at a time when it was valid.",
        "请更新证书，或在证书有效期内的时间点进行验证。",
    ),
    SubIndication.NOT_YET_VALID: (
        "A certificate in the chain was not yet valid at the validation time.",
        "验证时间点证书链中的证书尚未生效。",
        "Check the system clock and the validation time.",
        "请检查系统时间和验证时间。",
    ),
    SubIndication.CHAIN_CONSTRAINTS_FAILURE: (
        "The certificate chain breaks a constraint (CA flag, path length, key usage, names or a critical extension).",
        "证书链违反约束（CA 标志、路径长度、密钥用途、名称约束或关键扩展）。",
        "The certificate was issued outside what its CA is allowed to issue; contact the issuer.",
        "该证书超出其 CA 的签发权限，请联系签发方。",
    ),
    SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE: (
        "The certificate chain could not be validated.",
        "证书链无法验证。",
        "Provide the complete chain and current revocation lists.",
        "请提供完整的证书链和最新的吊销列表。",
    ),
    SubIndication.NO_CERTIFICATE_CHAIN_FOUND: (
        "No chain to a trusted root could be built.",
        "无法构建到受信任根证书的证书链。",
        "Add the missing intermediate certificates, or the region's root to the trust list.",
        "请补充缺失的中间证书，或将所属地区的根证书加入信任列表。",
    ),
    SubIndication.CRYPTO_CONSTRAINTS_FAILURE: (
        "An algorithm or key size used in the chain is not accepted.",
        "证书链使用的算法或密钥长度不被接受。",
        "Ask the issuer for a certificate using SM2, ECDSA P-256, RSA >= 2048 or Ed25519.",
        "请向签发方索取使用 SM2、ECDSA P-256、RSA 2048 位以上或 Ed25519 的证书。",
    ),
    SubIndication.REVOCATION_OUT_OF_BOUNDS_NO_POE: (
        "No usable revocation information covers the validation time.",
        "没有覆盖验证时间点的可用吊销信息。",
        "Supply a current CRL from the issuing CA.",
        "请提供签发 CA 的最新 CRL。",
    ),
    SubIndication.TRY_LATER: (
        "The revocation information is out of date.",
        "吊销信息已过期。",
        "Fetch a fresh CRL and try again.",
        "请获取最新的 CRL 后重试。",
    ),
    SubIndication.POLICY_PROCESSING_ERROR: (
        "The certificate policies do not satisfy the validation policy.",
        "证书策略不满足验证策略要求。",
        "Use a certificate issued under the required policy.",
        "请使用在所需策略下签发的证书。",
    ),
}


def reason_for(sub: SubIndication | None, *, detail_en: str = "", detail_zh: str = "") -> Reason:
    """The stock reason for ``sub``, with a specific detail appended when given."""
    en, zh, hen, hzh = _REASONS.get(sub, _REASONS[SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE])
    if detail_en:
        en = f"{en} {detail_en}"
    if detail_zh:
        zh = f"{zh}{detail_zh}"
    return Reason(en=en, zh=zh, hint_en=hen, hint_zh=hzh)


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of validating one artefact."""

    artefact: str
    """What was validated: ``certificate``, later ``pdf``, ``ofd``, ``seal``, ``licence``, ..."""
    indication: Indication
    """Main verdict."""
    sub_indication: SubIndication | None
    """ETSI sub-indication (``None`` when passed)."""
    reason: Reason
    """Why, and what to do."""
    checks: tuple[Check, ...]
    """Every check, in the order it ran."""
    validation_time: datetime
    """The reference time used."""
    signer: Mapping[str, Any] = field(default_factory=dict)
    """Who signed / whom the certificate names (subject, serial, fingerprint, ...)."""
    trust_anchor: str | None = None
    """Subject of the trust anchor the path ended in, if one was found."""
    chain: tuple[ChainElement, ...] = ()
    """The path validated, leaf first, anchor last."""
    signatures: tuple[ValidationReport, ...] = ()
    """Per-signature reports when one artefact carries several signatures (a PDF); else empty."""
    trust_context: Mapping[str, Any] | None = None
    """Which trust vouched, when a trust registry was used: ``region``, ``trust_list_version``,
    ``list_digest``, ``entry``, ``service_type``, ``rule``, ``recognised`` (see docs/trust-lists.md);
    ``None`` when plain anchors were given."""

    @property
    def passed(self) -> bool:
        """True only for TOTAL_PASSED."""
        return self.indication is Indication.TOTAL_PASSED

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form with keys indication, sub_indication, reason, checks, ..."""
        return {
            "artefact": self.artefact,
            "indication": self.indication.value,
            "sub_indication": None if self.sub_indication is None else self.sub_indication.value,
            "reason": self.reason.to_dict(),
            "checks": [c.to_dict() for c in self.checks],
            "validation_time": self.validation_time.isoformat(),
            "signer": dict(self.signer),
            "trust_anchor": self.trust_anchor,
            "chain": [e.to_dict() for e in self.chain],
            **({"signatures": [s.to_dict() for s in self.signatures]} if self.signatures else {}),
            **({"trust_context": dict(self.trust_context)} if self.trust_context is not None else {}),
        }
