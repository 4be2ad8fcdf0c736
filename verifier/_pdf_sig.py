"""One PDF signature -> one ValidationReport: pyHanko for standard algorithms, our checks for SM2.

Steps per signature (tagged ``# Step S<n>`` here and in :mod:`verifier.pdf`):

  S1. The signature dictionary and its CMS parse (pyHanko ``EmbeddedPdfSignature``).
  S2. Type and SubFilter are ones we verify (``/Sig`` with adbe.pkcs7.detached, ETSI.CAdES.detached,
      adbe.pkcs7.sha1; ``/DocTimeStamp`` with ETSI.RFC3161).
  S3. /ByteRange coverage: the whole file, or the whole revision it was made in; anything else
      (gaps, a tail outside, a single range) fails.
  S4. Integrity and signature value: pyHanko's CMS validation, or :mod:`verifier._pdf_cms` for
      SM2 and adbe.pkcs7.sha1.
  S5. Signer certificate path at the validation time: pyHanko's certvalidator over a
      ValidationContext built from our TrustStore (no fetching), or :func:`verifier.pki.validate_path`
      for SM2 (SM2 on every link); revocation from the CRLs passed in and the document's DSS.
  S6. Signature timestamp (pyHanko path): intact, valid and trusted, else the verdict says so.
  S6a. Past validation (ETSI EN 319 102-1 §5.6.2.4), pyHanko path: when the signer's path fails
      only for a time reason (expired, revoked, stale revocation data), a trusted timestamp is
      proof of existence (POE) and the path is validated again at the proven time, offline,
      from the revocation data in the file (DSS, CMS) and passed in. Document timestamps chain
      POE backwards: each one valid now, or proven by a later one, lets the timestamps it covers
      be checked at its own time (see :func:`prove_existence`). The SM2 path (:func:`sm2_checks`)
      applies the same rules with our own path and CRL checks (retroactive CRLs as
      :func:`verifier._revocation.tells_status_at` allows). Document timestamps by SM2 TSAs
      (pyHanko cannot read SM2 keys) are checked with :func:`verifier.tsp.verify_timestamp_token`
      over their byte ranges (:attr:`PastContext.check_token`) and take part in the same chain.
  S7. Signature policy identifier and seed-value constraints.
  S8. Changes after signing (see :mod:`verifier._pdf_diff`), DocMDP and FieldMDP.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from asn1crypto import core
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from pyhanko.sign.ades.report import AdESStatus
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation.pdf_embedded import async_validate_pdf_signature, async_validate_pdf_timestamp
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import DocumentTimestampStatus, PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from keys.errors import EsignError
from keys.x509 import Certificate, Crl
from verifier._pdf_cms import CmsCheck
from verifier._pdf_diff import Review
from verifier._pdf_read import certificate_once
from verifier._revocation import RevocationData, tells_status_at
from verifier.pki import PathPolicy, TrustStore, validate_path
from verifier.report import ChainElement, Check, CheckStatus, Indication, Reason, SubIndication, ValidationReport

__all__ = [
    "PastContext",
    "PastProof",
    "SigVerdict",
    "StampCheck",
    "chain_from_asn1",
    "map_ades",
    "own_doc_timestamp_checks",
    "policy_check",
    "prove_existence",
]

_POLICY_ATTR = "1.2.840.113549.1.9.16.2.15"
_KNOWN_HASHES = {
    "1.3.14.3.2.26",
    "2.16.840.1.101.3.4.2.1",
    "2.16.840.1.101.3.4.2.2",
    "2.16.840.1.101.3.4.2.3",
    "1.2.156.10197.1.401",
}

_HINTS: dict[SubIndication | None, tuple[str, str]] = {
    SubIndication.FORMAT_FAILURE: (
        "Do not rely on this document; ask the sender for the original.",
        "请勿依赖此文件，并向发送方索取原件。",
    ),
    SubIndication.HASH_FAILURE: (
        "The signed content was altered; ask the sender for the original.",
        "签名内容已被篡改，请向发送方索取原件。",
    ),
    SubIndication.SIG_CRYPTO_FAILURE: (
        "Do not trust this signature; ask the signer for a fresh copy.",
        "请勿信任该签名，请向签名者重新索取。",
    ),
    SubIndication.NO_CERTIFICATE_CHAIN_FOUND: (
        "Import the signer's region trust list or add its root CA to the trust store.",
        "请导入签名方所属地区的信任列表，或将其根证书加入信任库。",
    ),
    SubIndication.REVOCATION_OUT_OF_BOUNDS_NO_POE: (
        "Supply current CRLs (or a B-LT file with embedded revocation data).",
        "请提供最新 CRL，或使用内嵌吊销信息的 B-LT 文件。",
    ),
}


def _hint(sub: SubIndication | None) -> tuple[str, str]:
    return _HINTS.get(
        sub, ("Check the details below, or contact the signer.", "请查看下方详细检查结果，或联系签名者。")
    )


@dataclass(frozen=True)
class PastProof:
    """The earlier time a signature or timestamp was validated at, and what proves it existed then."""

    time: datetime
    """Control time of the re-validation (the proven time of existence)."""
    en: str
    """What proves existence at :attr:`time`, in English (``"proven by ..."``)."""
    zh: str
    """The same in Chinese."""
    revoked: bool = False
    """The certificate was already revoked at :attr:`time`: the signature fails."""
    timestamp_checked_at: datetime | None = None
    """When the signature timestamp's own TSA path was validated at a document timestamp's time."""


@dataclass
class SigVerdict:
    """Accumulates checks and the worst outcome for one signature."""

    checks: list[Check] = field(default_factory=list)
    """Checks so far, in order."""
    failed: tuple[SubIndication, str, str] | None = None
    """First TOTAL_FAILED: sub-indication, English and Chinese reason."""
    indeterminate: tuple[SubIndication, str, str] | None = None
    """First INDETERMINATE."""
    proof: PastProof | None = None
    """Set by :func:`prove_existence` when the status was re-validated at a proven earlier time."""
    covered_by: tuple[datetime, ...] = ()
    """Proven times of the document timestamps after this signature, earliest first (set by
    :func:`prove_existence` for the signatures :func:`sm2_checks` validates)."""

    def ok(self, name: str, en: str, zh: str) -> None:
        """Record a passed check."""
        self.checks.append(Check(name, CheckStatus.PASSED, en, zh))

    def skip(self, name: str, en: str, zh: str) -> None:
        """Record a check that did not apply."""
        self.checks.append(Check(name, CheckStatus.SKIPPED, en, zh))

    def bad(self, ind: Indication, sub: SubIndication, name: str, en: str, zh: str) -> None:
        """Record a failed or indeterminate check and remember the first of each."""
        status = CheckStatus.FAILED if ind is Indication.TOTAL_FAILED else CheckStatus.INDETERMINATE
        self.checks.append(Check(name, status, en, zh))
        if ind is Indication.TOTAL_FAILED and self.failed is None:
            self.failed = (sub, en, zh)
        elif ind is Indication.INDETERMINATE and self.indeterminate is None:
            self.indeterminate = (sub, en, zh)

    def report(
        self,
        *,
        at: datetime,
        label: str,
        signer: Mapping[str, Any],
        chain: tuple[ChainElement, ...],
        anchor: str | None,
    ) -> ValidationReport:
        """The report for this signature."""
        if self.failed is not None:
            ind, (sub, en, zh) = Indication.TOTAL_FAILED, self.failed
        elif self.indeterminate is not None:
            ind, (sub, en, zh) = Indication.INDETERMINATE, self.indeterminate
        else:
            ind, sub = Indication.TOTAL_PASSED, None
            en, zh = (
                "the signature is valid and the document is unchanged or changed only as allowed",
                "签名有效，文件未被修改或仅有允许的修改",
            )
        hen, hzh = _hint(sub) if ind is not Indication.TOTAL_PASSED else ("", "")
        return ValidationReport(
            artefact="pdf-signature",
            indication=ind,
            sub_indication=sub,
            reason=Reason(en=f"{label}: {en}", zh=f"{label}：{zh}", hint_en=hen, hint_zh=hzh),
            checks=tuple(self.checks),
            validation_time=at,
            signer=signer,
            trust_anchor=anchor,
            chain=chain,
        )


def map_ades(indic: object) -> tuple[Indication, SubIndication]:
    """pyHanko's AdES sub-indication -> ours."""
    name = getattr(indic, "name", "")
    sub = SubIndication.__members__.get(name, SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE)
    status = getattr(indic, "status", None)
    return (Indication.TOTAL_FAILED if status is AdESStatus.FAILED else Indication.INDETERMINATE), sub


def _element(c: Certificate, anchor: bool) -> ChainElement:
    return ChainElement(c.subject_str, c.issuer_str, format(c.serial, "x"), c.sha256, c.not_before, c.not_after, anchor)


def chain_from_asn1(path: Sequence[asn1_x509.Certificate]) -> tuple[ChainElement, ...]:
    """pyHanko's ValidationPath (anchor first) -> our chain (leaf first)."""
    out = []
    certs = [c for c in path if isinstance(c, asn1_x509.Certificate)]
    for i, c in enumerate(reversed(certs)):
        try:
            out.append(_element(certificate_once(c.dump()), i == len(certs) - 1))
        except EsignError:
            continue
    return tuple(out)


def policy_check(v: SigVerdict, signed_attrs: object) -> None:
    """Step S7: a signature-policy-identifier we can check offline, or say why not."""
    if isinstance(signed_attrs, core.Void) or signed_attrs is None:
        return
    try:
        attrs = {a["type"].dotted: a["values"] for a in signed_attrs}  # type: ignore[attr-defined]
        values = attrs.get(_POLICY_ATTR)
        if values is None:
            return
        native = values[0].native  # SignaturePolicyIdentifier (RFC 5126 5.8.1), read generically
        if native is None:
            v.ok("signature_policy", "signature policy implied", "签名策略为隐含策略")
            return
        hash_info = native["1"] if "1" in native else native["sig_policy_hash"]
        alg = hash_info["0"]["0"]
        value = hash_info["1"]
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        v.bad(
            Indication.INDETERMINATE,
            SubIndication.POLICY_PROCESSING_ERROR,
            "signature_policy",
            "the signature policy identifier is unreadable",
            "签名策略标识无法解析",
        )
        return
    if alg not in _KNOWN_HASHES:
        v.bad(
            Indication.INDETERMINATE,
            SubIndication.POLICY_PROCESSING_ERROR,
            "signature_policy",
            f"the signature policy digest uses an invalid algorithm {alg}",
            f"签名策略摘要算法无效 {alg}",
        )
    elif not any(value or b"\x01"):
        v.ok(
            "signature_policy",
            "signature policy with a zero digest: the digest is not checked (as EU DSS does)",
            "签名策略摘要为零，不校验摘要（与 EU DSS 相同）",
        )
    else:
        v.bad(
            Indication.INDETERMINATE,
            SubIndication.SIGNATURE_POLICY_NOT_AVAILABLE,
            "signature_policy",
            "the signature policy document is not available offline, so its digest cannot be checked",
            "离线状态下无法获取签名策略文件，无法校验其摘要",
        )


def coverage_check(v: SigVerdict, coverage: SignatureCoverageLevel | None) -> None:
    """Step S3."""
    if coverage == SignatureCoverageLevel.ENTIRE_FILE:
        v.ok("byte_range", "the signature covers the whole file", "签名覆盖整个文件")
    elif coverage == SignatureCoverageLevel.ENTIRE_REVISION:
        v.ok(
            "byte_range",
            "the signature covers the whole revision it was made in; later updates are analysed below",
            "签名覆盖其所在修订版本的全部内容；其后的增量更新见下方分析",
        )
    elif coverage == SignatureCoverageLevel.CONTIGUOUS_BLOCK_FROM_START:
        v.bad(
            Indication.TOTAL_FAILED,
            SubIndication.FORMAT_FAILURE,
            "byte_range",
            "the signature does not cover its whole revision: bytes outside /ByteRange belong to the signed revision",
            "签名未覆盖其所在修订版本的全部内容",
        )
    else:
        v.bad(
            Indication.TOTAL_FAILED,
            SubIndication.FORMAT_FAILURE,
            "byte_range",
            "the /ByteRange is non-standard (gaps, overlaps or a single range): the signature does not cover the file",
            "/ByteRange 不规范（存在空隙、重叠或仅一段），签名未覆盖文件",
        )


def pyhanko_checks(
    v: SigVerdict, st: PdfSignatureStatus | DocumentTimestampStatus
) -> tuple[tuple[ChainElement, ...], str | None]:
    """Steps S4-S6 from a pyHanko status. Returns (chain, anchor subject)."""
    if st.intact:
        v.ok(
            "digest",
            f"the {st.md_algorithm} digest of the signed bytes matches",
            f"签名数据的 {st.md_algorithm} 摘要一致",
        )
    else:
        v.bad(
            Indication.TOTAL_FAILED,
            SubIndication.HASH_FAILURE,
            "digest",
            "the signed bytes do not match the digest in the signature",
            "签名数据与签名中的摘要不一致",
        )
    if st.valid:
        v.ok("signature_value", f"the {st.pkcs7_signature_mechanism} signature value verifies", "签名值验证通过")
    else:
        v.bad(
            Indication.TOTAL_FAILED,
            SubIndication.SIG_CRYPTO_FAILURE,
            "signature_value",
            "the signature value does not verify or its algorithm is not supported",
            "签名值验证失败或签名算法不受支持",
        )
    chain: tuple[ChainElement, ...] = ()
    anchor = None
    if st.validation_path is not None:
        chain = chain_from_asn1(list(st.validation_path))
        anchor = chain[-1].subject if chain else None
    tpi = st.trust_problem_indic
    proof = v.proof
    if tpi is None and st.validation_path is not None:
        if proof is None:
            v.ok(
                "certificate_path",
                f"path of {len(chain)} certificate(s) to a trust anchor, valid at the validation time",
                f"已验证长度为 {len(chain)} 的证书路径",
            )
        else:
            v.ok(
                "certificate_path",
                f"path of {len(chain)} certificate(s) to a trust anchor, valid at {proof.time:%Y-%m-%d %H:%M:%S}Z "
                f"(not at the validation time), {proof.en}",
                f"已验证长度为 {len(chain)} 的证书路径，在 {proof.time:%Y-%m-%d %H:%M:%S}Z 有效（{proof.zh}）",
            )
    elif tpi is not None:
        ind, sub = map_ades(tpi)
        extra = ""
        if st.revocation_details is not None:
            rd = st.revocation_details
            extra = f" (revoked {rd.revocation_date:%Y-%m-%d %H:%M:%S}Z, {rd.revocation_reason.native})"
        if proof is not None and proof.revoked:
            v.bad(
                Indication.TOTAL_FAILED,
                SubIndication.REVOKED,
                "certificate_path",
                f"the certificate was revoked before the earliest time the signature is proven to exist "
                f"({proof.time:%Y-%m-%d %H:%M:%S}Z, {proof.en}){extra}",
                f"证书在签名被证明存在的最早时间（{proof.time:%Y-%m-%d %H:%M:%S}Z）之前已被吊销",
            )
        elif sub in _POE_CURABLE:
            v.bad(
                ind,
                sub,
                "certificate_path",
                f"the certificate could not be validated at the validation time ({sub.value}{extra}) and no "
                "trusted timestamp proves the signature existed while it was valid",
                f"签名证书在验证时间无法通过验证（{sub.value}），且没有受信任的时间戳证明签名早于失效时间",
            )
        else:
            v.bad(
                ind,
                sub,
                "certificate_path",
                f"the signer certificate could not be validated: {sub.value}{extra}",
                f"签名证书验证未通过：{sub.value}",
            )
    if isinstance(st, PdfSignatureStatus):
        ts = st.timestamp_validity
        if ts is not None:
            if not (ts.intact and ts.valid):
                v.bad(
                    Indication.TOTAL_FAILED,
                    SubIndication.SIG_CRYPTO_FAILURE,
                    "timestamp",
                    "the signature timestamp is broken",
                    "签名时间戳无效",
                )
            elif not ts.trusted:
                ind, sub = (
                    map_ades(ts.trust_problem_indic)
                    if ts.trust_problem_indic
                    else (Indication.INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND)
                )
                v.bad(
                    Indication.INDETERMINATE,
                    sub,
                    "timestamp",
                    f"the signature timestamp ({ts.timestamp:%Y-%m-%d %H:%M:%SZ}) is intact but its TSA is not trusted",
                    "签名时间戳完整，但时间戳机构不受信任",
                )
            elif proof is not None and proof.timestamp_checked_at is not None:
                v.ok(
                    "timestamp",
                    f"signature timestamp {ts.timestamp:%Y-%m-%d %H:%M:%SZ}, valid; its TSA certificate was valid at "
                    f"{proof.timestamp_checked_at:%Y-%m-%d %H:%M:%SZ}, proven by a later document timestamp",
                    "签名时间戳有效；其时间戳机构证书在后续文档时间戳证明的时间有效",
                )
            else:
                v.ok(
                    "timestamp",
                    f"signature timestamp {ts.timestamp:%Y-%m-%d %H:%M:%SZ}, valid and trusted",
                    "签名时间戳有效且受信任",
                )
        if st.seed_value_constraint_error is not None:
            v.bad(
                Indication.INDETERMINATE,
                SubIndication.SIG_CONSTRAINTS_FAILURE,
                "seed_values",
                f"the field's seed-value constraints are not met: {st.seed_value_constraint_error}",
                "签名域的种子值约束未满足",
            )
    return chain, anchor


#: pyHanko sub-indications (by name) that validating at an earlier, proven time can cure: time
#: bounds, revocation after the proven time, revocation data too old now, and pyHanko's general
#: failure (what it reports for an expired CA or TSA certificate).
_POE_CURABLE = frozenset(
    {
        SubIndication.OUT_OF_BOUNDS_NO_POE,
        SubIndication.OUT_OF_BOUNDS_NOT_REVOKED,
        SubIndication.REVOKED_NO_POE,
        SubIndication.REVOKED_CA_NO_POE,
        SubIndication.REVOCATION_OUT_OF_BOUNDS_NO_POE,
        SubIndication.TRY_LATER,
        SubIndication.NO_POE,
        SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE,
    }
)
#: Key usage a PDF signer certificate must allow (either bit).
SIGNER_KEY_USAGE = KeyUsageConstraints(key_usage={"digital_signature", "non_repudiation"}, match_all_key_usages=False)


def _curable(indic: object) -> bool:
    return indic is not None and map_ades(indic)[1] in _POE_CURABLE


def _trusted(st: Any) -> bool:
    return bool(st is not None and st.intact and st.valid and st.trust_problem_indic is None
                and st.validation_path is not None)


def _not_after(*certs: Any) -> datetime | None:
    """Earliest notAfter of the certificates given (None when none is readable)."""
    times = []
    for c in certs:
        try:
            times.append(c["tbs_certificate"]["validity"]["not_after"].native)
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
    return min(times) if times else None


def _revoked_by(st: Any, when: datetime) -> bool:
    rd = getattr(st, "revocation_details", None)
    return rd is not None and rd.revocation_date <= when


def revinfo_issued(item: Any) -> datetime | None:
    """When an asn1crypto CRL (thisUpdate) or OCSP response (producedAt) was issued (``None``: unreadable)."""
    try:
        if isinstance(item, asn1_ocsp.OCSPResponse):
            return item["response_bytes"]["response"].parsed["tbs_response_data"]["produced_at"].native
        return item["tbs_cert_list"]["this_update"].native
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def issued_before(items: Sequence[Any], cutoff: datetime | None) -> list[Any]:
    """The items of ``items`` issued before ``cutoff`` (unreadable times count as before: not fresh)."""
    if cutoff is None:
        return []
    return [i for i in items if (t := revinfo_issued(i)) is None or t < cutoff]


#: ``check(embedded_signature, when, past)`` -> :class:`verifier.tsp.TimestampVerification` of a
#: document timestamp's token over its signed byte ranges at ``when`` (``None``: not a token at all).
#: ``past`` validates at a proven earlier time: revocation data issued after ``when`` counts as
#: :meth:`verifier._revocation.RevocationData.for_past` allows.
StampCheck = Callable[[Any, datetime, bool], Any]


@dataclass(frozen=True)
class PastContext:
    """What a re-validation at an earlier time is given (the same material as the current-time one)."""

    trust_roots: Sequence[Any]
    """Trust anchors (asn1crypto certificates)."""
    certs: Sequence[Any]
    """Other certificates (DSS)."""
    crls: Sequence[Any]
    """CRLs given plus the DSS's (asn1crypto)."""
    ocsps: Sequence[Any]
    """OCSP responses from the DSS (asn1crypto)."""
    require_revocation: bool
    """Revocation data is required for every certificate (else soft-fail, as at the current time)."""
    check_token: StampCheck | None = None
    """Checks a document timestamp we verify ourselves (SM2 TSA) at a given time; ``None``: none are checked."""
    issued_since: datetime | None = None
    """Revocation data issued before this is not used (a policy's maximum revocation age)."""
    time_tolerance: timedelta | None = None
    """pyHanko's tolerance for certificate validity and revocation freshness (a policy's clock
    skew); ``None``: pyHanko's default (1 s)."""

    def latest(self, at: datetime) -> datetime:
        """The latest time a timestamp may show and still count as before ``at`` (clock skew)."""
        return at + (self.time_tolerance or timedelta(0))

    def at(self, moment: datetime, *, cutoff: datetime | None, strict: bool | None = None) -> ValidationContext:
        """A fresh, offline validation context at ``moment`` (revocation required if ``strict``; default: policy).

        Revocation data issued after ``moment`` still tells the status at ``moment`` (not revoked
        then, or revoked since a given date), so it is accepted (``retroactive_revinfo``), but
        only if issued no later than ``cutoff``, the earliest notAfter of the certificates being
        checked: a CA may drop a revoked certificate from its CRLs once it has expired
        (RFC 5280 §3.3), so later data says nothing about it.
        """

        def keep(item: Any) -> bool:
            when = revinfo_issued(item)
            if when is None or (self.issued_since is not None and when < self.issued_since):
                return False
            return cutoff is None or tells_status_at(when, at=moment, not_after=cutoff)

        return ValidationContext(
            trust_roots=list(self.trust_roots),
            other_certs=list(self.certs),
            crls=[c for c in self.crls if keep(c)],
            ocsps=[o for o in self.ocsps if keep(o)],
            allow_fetching=False,
            moment=moment,
            revocation_mode="require" if (self.require_revocation if strict is None else strict) else "soft-fail",
            retroactive_revinfo=True,
            **({} if self.time_tolerance is None else {"time_tolerance": self.time_tolerance}),
        )


async def prove_existence(sigs: Sequence[Any], *, ctx: PastContext, at: datetime) -> None:
    """Step S6a: re-validate pyHanko-path signatures and timestamps at proven earlier times.

    ``sigs`` are the document's signatures (objects with ``emb``, ``kind``, ``own_cms``, ``status``
    and ``verdict``) after their current-time validation. Proofs of existence (ETSI EN 319 102-1
    §5.6.2.4, §5.6.3):

    * a document timestamp that is trusted at ``at`` proves everything in the revisions before it
      existed at its genTime; one that is not (expired TSA certificate) is validated at the
      earliest time a later, proven document timestamp gives, and then proves its own genTime;
    * a signature timestamp trusted at ``at`` proves the signature value existed at its genTime;
      one whose TSA is no longer valid is validated at the time of the earliest proven document
      timestamp after the signature;
    * a signature without a usable signature timestamp but covered by a proven document
      timestamp existed at that document timestamp's time.

    The signer's path is then validated at the proven time. Passing replaces the status (and
    records :class:`PastProof` in the verdict); a certificate revoked at the proven time records a
    revoked proof (the signature fails); otherwise the current-time status stands. A timestamp
    whose TSA is not trusted, or that is not intact, proves nothing.

    Document timestamps by SM2 TSAs (``own_cms``) go through ``ctx.check_token`` instead of
    pyHanko, with the same rules: trusted now, or proven by a later document timestamp at whose
    time their TSA path validates (retroactive CRLs as for signatures); their result is left in
    ``status`` (a :class:`verifier.tsp.TimestampVerification`) for :func:`own_doc_timestamp_checks`.
    """

    def rev(s: Any) -> int:
        return int(s.emb.signed_revision)

    crls, ocsps = cms_revinfo(sigs)
    if crls or ocsps:
        ctx = replace(ctx, crls=[*ctx.crls, *crls], ocsps=[*ctx.ocsps, *ocsps])
    usable = [s for s in sigs if s.emb is not None and not s.own_cms and s.status is not None and s.verdict.failed
              is None and s.status.intact and s.status.valid]
    own_stamps = [s for s in sigs if s.emb is not None and s.own_cms and s.kind == "/DocTimeStamp"
                  and s.verdict.failed is None and s.coverage is not None]
    proven: dict[int, datetime] = {}  # signed revision of a document timestamp -> its proven genTime
    for d in sorted([*(s for s in usable if s.kind == "/DocTimeStamp"), *own_stamps], key=rev, reverse=True):
        if d.own_cms:
            when = _prove_own_stamp(d, ctx=ctx, at=at, later=sorted(t for r, t in proven.items() if r > rev(d)))
            if when is not None:
                proven[rev(d)] = when
            continue
        st = d.status
        if _trusted(st) and not ctx.require_revocation and (ctx.crls or ctx.ocsps):
            # Revocation data is at hand but soft-fail may have skipped the TSA (see _validate_sig).
            now = await _validate_ts(d, ctx, at, None)
            if now.revocation_details is not None:
                d.status = st = now
        if _trusted(st):
            if st.timestamp <= ctx.latest(at):
                proven[rev(d)] = st.timestamp
            continue
        later = sorted(t for r, t in proven.items() if r > rev(d))
        if not _curable(st.trust_problem_indic) or not later:
            continue
        past = await _validate_ts(d, ctx, later[0], _not_after(d.emb.signer_cert))
        if _trusted(past) and past.timestamp <= later[0]:
            d.status = past
            d.verdict.proof = PastProof(later[0], "proven by a later document timestamp", "由后续文档时间戳证明")
            proven[rev(d)] = past.timestamp
    for s in usable:
        if s.kind != "/Sig":
            continue
        await _prove_signature(s, ctx=ctx, at=at, proven=proven, rev=rev(s))
    for s in sigs:  # signatures we check ourselves (SM2): sm2_checks takes it from here
        if s.emb is not None and s.own_cms and s.kind == "/Sig":
            s.verdict.covered_by = tuple(sorted(t for r, t in proven.items() if r > rev(s)))


def _stamp_intact(tv: Any) -> bool:
    """The token verified up to its TSA's path (signature value and imprint good)."""
    return tv is not None and (tv.passed or any(c.name.startswith("tsa_path.") for c in tv.report.checks))


def _prove_own_stamp(d: Any, *, ctx: PastContext, at: datetime, later: Sequence[datetime]) -> datetime | None:
    """A document timestamp by an SM2 TSA: checked now and, if its TSA fails only for a time reason,
    at the earliest of the ``later`` proven document timestamps. Returns the genTime it proves."""
    if ctx.check_token is None:
        return None
    now = ctx.check_token(d.emb, at, False)
    d.status = now
    if now is None or not _stamp_intact(now):
        return None
    if now.passed:
        return now.gen_time if now.gen_time <= ctx.latest(at) else None
    if now.report.sub_indication not in _TIME_BOUND or not later:
        return None
    past = ctx.check_token(d.emb, later[0], True)
    if past is not None and past.passed and past.gen_time <= later[0]:
        d.status = past
        d.verdict.proof = PastProof(later[0], "proven by a later document timestamp", "由后续文档时间戳证明")
        return past.gen_time
    return None


def own_doc_timestamp_checks(v: SigVerdict, tv: Any, *, at: datetime) -> tuple[tuple[ChainElement, ...], str | None]:
    """Steps S4-S6a for a document timestamp we check ourselves (SM2 TSA), from :func:`prove_existence`'s result.

    ``tv`` is the :class:`verifier.tsp.TimestampVerification` at the validation time, or at the
    proven time recorded in ``v.proof``; ``None`` when the content is not a time-stamp token.
    Returns (chain, anchor subject).
    """
    if tv is None:
        v.bad(Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE, "cms",
              "the document timestamp is not a readable RFC 3161 time-stamp token",
              "文档时间戳不是有效的 RFC 3161 时间戳令牌")
        return (), None
    rep = tv.report
    if not _stamp_intact(tv):
        sub = rep.sub_indication or SubIndication.FORMAT_FAILURE
        if sub is SubIndication.HASH_FAILURE:
            v.bad(Indication.TOTAL_FAILED, sub, "digest",
                  "the signed bytes do not match the document timestamp's message imprint",
                  "签名数据与文档时间戳的消息摘要不一致")
        else:
            v.bad(rep.indication, sub, "signature_value", f"the document timestamp does not verify: {rep.reason.en}",
                  f"文档时间戳验证未通过：{rep.reason.zh}")
        return rep.chain, rep.trust_anchor
    v.ok("digest", f"the {tv.hash_name} digest of the signed bytes matches the timestamp's message imprint",
         f"签名数据的 {tv.hash_name} 摘要与时间戳消息摘要一致")
    v.ok("signature_value", "the TSA's signature value verifies", "时间戳机构签名值验证通过")
    n = len(rep.chain)
    proof = v.proof
    if tv.passed and proof is not None:
        v.ok("certificate_path",
             f"path of {n} certificate(s) to a trust anchor, valid at {proof.time:%Y-%m-%d %H:%M:%S}Z (not at the "
             f"validation time), {proof.en}; revocation status at that time from the file's and the given CRLs",
             f"已验证长度为 {n} 的证书路径，在 {proof.time:%Y-%m-%d %H:%M:%S}Z 有效（{proof.zh}）")
    elif tv.passed and tv.gen_time <= at:
        v.ok("certificate_path", f"path of {n} certificate(s) to a trust anchor, valid at the validation time",
             f"已验证长度为 {n} 的证书路径")
    elif tv.passed:
        v.bad(Indication.INDETERMINATE, SubIndication.TIMESTAMP_ORDER_FAILURE, "certificate_path",
              f"the document timestamp's genTime {tv.gen_time:%Y-%m-%d %H:%M:%S}Z is after the validation time",
              "文档时间戳的时间晚于验证时间")
    else:
        sub = rep.sub_indication or SubIndication.NO_CERTIFICATE_CHAIN_FOUND
        ind = rep.indication
        if sub in _TIME_BOUND:  # a time reason: nothing later proves the timestamp existed while its TSA was valid
            ind = Indication.INDETERMINATE
            sub = {SubIndication.EXPIRED: SubIndication.OUT_OF_BOUNDS_NO_POE,
                   SubIndication.REVOKED: SubIndication.REVOKED_NO_POE}.get(sub, sub)
            why = " and no later document timestamp proves it existed while the TSA certificate was valid"
        else:
            why = ""
        v.bad(ind, sub, "certificate_path",
              f"the TSA certificate could not be validated at the validation time{why}: {rep.reason.en}",
              f"时间戳机构证书在验证时间无法通过验证：{rep.reason.zh}")
    return rep.chain, rep.trust_anchor


_OCSP_FORMAT = "1.3.6.1.5.5.7.16.2"  # id-ri-ocsp-response (RFC 5940)


def cms_revinfo(sigs: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """CRLs and OCSP responses carried inside the signatures' CMS: SignedData ``crls`` (RFC 5652,
    RFC 5940) and Adobe's signed ``adbe-revocationInfoArchival`` attribute (ISO 32000-1 §12.8.3.3.2)."""
    crls: list[Any] = []
    ocsps: list[Any] = []
    for s in sigs:
        if s.emb is None or s.own_cms:
            continue
        try:
            for choice in s.emb.signed_data["crls"] or ():
                if choice.name == "crl":
                    crls.append(choice.chosen)
                elif choice.name == "other" and choice.chosen["other_rev_info_format"].dotted == _OCSP_FORMAT:
                    ocsps.append(asn1_ocsp.OCSPResponse.load(choice.chosen["other_rev_info"].dump()))
            attrs = s.emb.signer_info["signed_attrs"]
            for a in attrs if not isinstance(attrs, core.Void) else ():
                if a["type"].native != "adobe_revocation_info_archival":
                    continue
                archival = a["values"][0]
                crls.extend(archival["crl"] or ())
                ocsps.extend(archival["ocsp"] or ())
        except (ValueError, KeyError, TypeError, AttributeError):
            continue  # unreadable revocation data is not used; the signature's own checks report the CMS
    return crls, ocsps


async def _validate_sig(s: Any, ctx: PastContext, moment: datetime, cutoff: datetime | None) -> tuple[Any, bool]:
    """The signature validated at ``moment``: (status, revocation checked).

    Revocation data is always looked at: pyHanko's soft-fail mode skips certificates that name no
    CRL distribution point or OCSP responder, even when the file carries CRLs for them. So the
    status is first computed with revocation required; only when that fails for want of data and
    the policy does not require revocation is it computed again without.
    """
    strict = await async_validate_pdf_signature(s.emb, ctx.at(moment, cutoff=cutoff, strict=True), skip_diff=True,
                                                key_usage_settings=SIGNER_KEY_USAGE)
    if ctx.require_revocation or _trusted(strict) or strict.revocation_details is not None:
        return strict, True
    soft = await async_validate_pdf_signature(s.emb, ctx.at(moment, cutoff=cutoff, strict=False), skip_diff=True,
                                              key_usage_settings=SIGNER_KEY_USAGE)
    return soft, False


async def _validate_ts(d: Any, ctx: PastContext, moment: datetime, cutoff: datetime | None) -> Any:
    """The document timestamp validated at ``moment``, revocation looked at first as in :func:`_validate_sig`."""
    strict = await async_validate_pdf_timestamp(d.emb, ctx.at(moment, cutoff=cutoff, strict=True), skip_diff=True)
    if ctx.require_revocation or _trusted(strict) or strict.revocation_details is not None:
        return strict
    return await async_validate_pdf_timestamp(d.emb, ctx.at(moment, cutoff=cutoff, strict=False), skip_diff=True)


async def _prove_signature(s: Any, *, ctx: PastContext, at: datetime, proven: Mapping[int, datetime],
                           rev: int) -> None:
    st = s.status
    ts = st.timestamp_validity
    path_ok = _trusted(st)
    if path_ok and not ctx.require_revocation and (ctx.crls or ctx.ocsps):
        # Revocation data is at hand but soft-fail may have skipped it (see _validate_sig).
        now, _ = await _validate_sig(s, ctx, at, None)
        if now.revocation_details is not None:
            st, path_ok = now, False
            s.status = now
    ts_now = ts is not None and ts.intact and ts.valid and ts.trusted and ts.timestamp <= ctx.latest(at)
    if path_ok and (ts is None or ts_now):
        return
    if not path_ok and not _curable(st.trust_problem_indic):
        return
    if ts is not None and not (ts.intact and ts.valid):
        return  # a broken timestamp fails the signature; it proves nothing
    covering = sorted(t for r, t in proven.items() if r > rev)
    cutoff = _not_after(s.emb.signer_cert, getattr(ts, "signing_cert", None))
    ts_checked_at = None
    if ts_now:
        poe = ts.timestamp
        en, zh = "proven by its signature timestamp", "由签名时间戳证明"
    elif covering:
        if ts is not None and not _curable(ts.trust_problem_indic):
            return  # the TSA is not trusted (not a matter of time): its timestamp proves nothing
        first, _ = await _validate_sig(s, ctx, covering[0], cutoff)
        tsv = first.timestamp_validity
        if ts is not None and tsv is not None and tsv.intact and tsv.valid and tsv.trusted \
                and tsv.timestamp <= covering[0]:
            poe, ts_checked_at = tsv.timestamp, covering[0]
            en = "proven by its signature timestamp, itself proven by a later document timestamp"
            zh = "由签名时间戳证明（该时间戳由后续文档时间戳证明）"
        elif ts is None:
            poe = covering[0]
            en, zh = "proven by a later document timestamp", "由后续文档时间戳证明"
        else:
            return
    else:
        return
    past, checked = await _validate_sig(s, ctx, poe, cutoff)
    if not (past.intact and past.valid):
        return
    if _trusted(past):
        if ts is not None and not (past.timestamp_validity is not None and past.timestamp_validity.trusted):
            return
        en += ("; revocation status at that time from the file's and the given revocation data" if checked
               else " (no revocation data covers that time; not required by the policy)")
        s.status = past
        s.verdict.proof = PastProof(poe, en, zh, timestamp_checked_at=ts_checked_at)
    elif _revoked_by(past, poe):
        s.status = past
        s.verdict.proof = PastProof(poe, en, zh, revoked=True, timestamp_checked_at=ts_checked_at)


def sm2_checks(
    v: SigVerdict,
    cc: CmsCheck,
    *,
    trust: TrustStore,
    at: datetime,
    intermediates: Sequence[Certificate],
    crls: Sequence[Crl],
    policy: PathPolicy,
    skew: timedelta = timedelta(0),
) -> tuple[tuple[ChainElement, ...], str | None]:
    """Steps S4-S6a for signatures we check ourselves (SM2, adbe.pkcs7.sha1).

    ``skew`` (a policy's clock skew): a path that is not yet valid at ``at`` but valid ``skew``
    later passes (a certificate issued moments ago by a CA whose clock runs ahead).

    S5 validates the signer's path at ``at`` with our own path and CRL checks. S6: a signature
    timestamp must be an intact token over the signature value (else TOTAL_FAILED) from a TSA
    whose path validates (else INDETERMINATE), at ``at`` or at the time of a later proven
    document timestamp (``v.covered_by``, from :func:`prove_existence`). S6a, as on the pyHanko
    path: when the signer's path fails only for a time reason (expired, revoked, revocation data
    out of date), the earliest proof of existence -- the signature timestamp, or failing that the
    first proven document timestamp after the signature -- is the time the path is validated at
    again, with CRLs issued after it accepted up to each certificate's notAfter
    (:meth:`RevocationData.for_past`). Revoked at that time: TOTAL_FAILED / REVOKED.
    """
    v.checks.extend(cc.checks)
    if cc.failure is not None:
        ind, sub = cc.failure
        last = cc.checks[-1]
        if ind is Indication.TOTAL_FAILED and v.failed is None:
            v.failed = (sub, last.detail_en, last.detail_zh)
        elif ind is Indication.INDETERMINATE and v.indeterminate is None:
            v.indeterminate = (sub, last.detail_en, last.detail_zh)
        return (), None
    signer = cc.signer
    assert signer is not None
    certs = [*cc.certs, *intermediates]

    def path_at(when: datetime, *, past: bool) -> ValidationReport:
        return validate_path(signer, trust=trust, at=when, intermediates=certs,
                             crls=RevocationData.for_past(crls) if past else crls, policy=policy,
                             artefact="pdf-signature")

    path = path_at(at, past=False)
    skewed = False
    if not path.passed and path.sub_indication is SubIndication.NOT_YET_VALID and skew > timedelta(0):
        later = path_at(at + skew, past=False)
        if later.passed:
            path, skewed = later, True
    st = _Sm2Stamp.check(cc, trust=trust, at=at, crls=crls, policy=policy, certs=certs, covering=v.covered_by)
    poe, how_en, how_zh = st.poe()
    if poe is None and cc.timestamp_token is None and v.covered_by:
        poe, how_en, how_zh = v.covered_by[0], "proven by a later document timestamp", "由后续文档时间戳证明"
    proven_at = None
    revoked_at_poe: ValidationReport | None = None
    if not path.passed and path.sub_indication in _TIME_BOUND and poe is not None:
        past = path_at(poe, past=True)
        if past.passed:
            path, proven_at = past, poe
        elif past.sub_indication is SubIndication.REVOKED:
            revoked_at_poe = past
    n = len(path.chain)
    if revoked_at_poe is not None:
        assert poe is not None
        v.bad(
            Indication.TOTAL_FAILED,
            SubIndication.REVOKED,
            "certificate_path",
            f"the certificate was revoked before the earliest time the signature is proven to exist "
            f"({poe:%Y-%m-%d %H:%M:%S}Z, {how_en}): {revoked_at_poe.reason.en}",
            f"证书在签名被证明存在的最早时间（{poe:%Y-%m-%d %H:%M:%S}Z）之前已被吊销：{revoked_at_poe.reason.zh}",
        )
    elif path.passed and proven_at is None and skewed:
        v.ok("certificate_path", f"path of {n} certificate(s) to a trust anchor, valid within the policy's clock "
             f"skew of {int(skew.total_seconds())} s after the validation time (a certificate not yet valid then)",
             f"已验证长度为 {n} 的证书路径（在验证策略允许的时钟偏差内有效）")
    elif path.passed and proven_at is None:
        v.ok("certificate_path", f"path of {n} certificate(s) to a trust anchor, valid at the validation time",
             f"已验证长度为 {n} 的证书路径")
    elif path.passed:
        v.ok(
            "certificate_path",
            f"path of {n} certificate(s) to a trust anchor, valid at {proven_at:%Y-%m-%d %H:%M:%S}Z "
            f"(not at the validation time), {how_en}; revocation status at that time from the file's and the "
            "given CRLs",
            f"已验证长度为 {n} 的证书路径，在 {proven_at:%Y-%m-%d %H:%M:%S}Z 有效（{how_zh}）",
        )
    elif path.sub_indication is SubIndication.EXPIRED:
        # Expired now, and nothing proves the signature existed while it was valid: ETSI gives
        # INDETERMINATE / OUT_OF_BOUNDS_NO_POE, not a failure of the signature itself.
        v.bad(
            Indication.INDETERMINATE,
            SubIndication.OUT_OF_BOUNDS_NO_POE,
            "certificate_path",
            f"the signer certificate has expired and no valid timestamp proves the signature is older: "
            f"{path.reason.en}",
            f"签名证书已过期，且没有有效时间戳证明签名早于过期时间：{path.reason.zh}",
        )
    else:
        assert path.sub_indication is not None
        v.bad(
            path.indication,
            path.sub_indication,
            "certificate_path",
            f"the signer certificate could not be validated: {path.reason.en}",
            f"签名证书验证未通过：{path.reason.zh}",
        )
    st.report_to(v, proven_at=proven_at)
    return path.chain, path.trust_anchor


#: Path failures (our checker) that validating at an earlier, proven time can cure.
_TIME_BOUND = frozenset({
    SubIndication.EXPIRED,
    SubIndication.OUT_OF_BOUNDS_NO_POE,
    SubIndication.REVOKED,
    SubIndication.TRY_LATER,
    SubIndication.REVOCATION_OUT_OF_BOUNDS_NO_POE,
})


@dataclass
class _Sm2Stamp:
    """The signature timestamp of a signature we check ourselves, verified now or at a document timestamp's time."""

    token: bytes | None
    now: Any = None
    """:class:`verifier.tsp.TimestampVerification` at the validation time (None: not a token at all)."""
    past: Any = None
    """The same at the first proven document timestamp after the signature, when needed and it passed."""
    checked_at: datetime | None = None
    """That document timestamp's proven time."""
    at: datetime | None = None

    @classmethod
    def check(cls, cc: CmsCheck, *, trust: TrustStore, at: datetime, crls: Sequence[Crl], policy: PathPolicy,
              certs: Sequence[Certificate], covering: Sequence[datetime]) -> _Sm2Stamp:
        """Verify the token at ``at``; if its TSA fails there for a time reason, at ``covering[0]``."""
        out = cls(cc.timestamp_token, at=at)
        if cc.timestamp_token is None:
            return out

        def verify(when: datetime, revinfo: Sequence[Crl]) -> Any:
            from verifier.tsp import verify_timestamp_token

            try:
                return verify_timestamp_token(cc.timestamp_token or b"", data=cc.signature_value, trust=trust, at=when,
                                              crls=revinfo, policy=policy, extra_certs=certs)
            except EsignError:
                return None

        out.now = verify(at, crls)
        if out.broken or out.valid_now or not covering or out.now.report.sub_indication not in _TIME_BOUND:
            return out
        past = verify(covering[0], RevocationData.for_past(crls))
        if past is not None and past.passed and past.gen_time <= covering[0]:
            out.past, out.checked_at = past, covering[0]
        return out

    @property
    def broken(self) -> bool:
        """A token that is not intact: unreadable, not over the signature value, or failing before its TSA path."""
        if self.token is None:
            return False
        return self.now is None or not (self.now.passed or any(c.name.startswith("tsa_path.")
                                                               for c in self.now.report.checks))

    @property
    def valid_now(self) -> bool:
        """Valid and trusted at the validation time."""
        return bool(self.now is not None and self.now.passed and self.at is not None and self.now.gen_time <= self.at)

    def poe(self) -> tuple[datetime | None, str, str]:
        """(genTime, how in English, how in Chinese) when the token proves existence, else (None, "", "")."""
        if self.valid_now:
            return self.now.gen_time, "proven by its signature timestamp", "由签名时间戳证明"
        if self.past is not None:
            return (self.past.gen_time, "proven by its signature timestamp, itself proven by a later document "
                    "timestamp", "由签名时间戳证明（该时间戳由后续文档时间戳证明）")
        return None, "", ""

    def report_to(self, v: SigVerdict, *, proven_at: datetime | None) -> None:
        """Step S6: the ``timestamp`` check."""
        if self.token is None:
            return
        if self.broken:
            why = "not an RFC 3161 time-stamp token" if self.now is None else self.now.report.reason.en
            v.bad(Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE, "timestamp",
                  f"the signature timestamp is broken: {why}", "签名时间戳无效")
            return
        gen = self.now.gen_time
        if self.valid_now and proven_at is not None:
            v.ok("timestamp", f"the signature timestamp verifies and proves existence at {gen:%Y-%m-%d %H:%M:%S}Z",
                 "签名时间戳验证通过，证明签名在该时间之前已存在")
        elif self.valid_now:
            v.ok("timestamp", f"signature timestamp {gen:%Y-%m-%d %H:%M:%SZ}, valid and trusted",
                 "签名时间戳有效且受信任")
        elif self.past is not None:
            assert self.checked_at is not None
            v.ok("timestamp",
                 f"signature timestamp {gen:%Y-%m-%d %H:%M:%SZ}, valid; its TSA certificate was valid at "
                 f"{self.checked_at:%Y-%m-%d %H:%M:%SZ}, proven by a later document timestamp",
                 "签名时间戳有效；其时间戳机构证书在后续文档时间戳证明的时间有效")
        else:
            sub = self.now.report.sub_indication or SubIndication.NO_CERTIFICATE_CHAIN_FOUND
            sub = {SubIndication.EXPIRED: SubIndication.OUT_OF_BOUNDS_NO_POE,
                   SubIndication.REVOKED: SubIndication.REVOKED_NO_POE}.get(sub, sub)
            v.bad(Indication.INDETERMINATE, sub, "timestamp",
                  f"the signature timestamp ({gen:%Y-%m-%d %H:%M:%SZ}) is intact but its TSA could not be validated "
                  f"at the validation time, and no later document timestamp proves it: {self.now.report.reason.en}",
                  "签名时间戳完整，但时间戳机构证书在验证时间无法通过验证，且没有后续文档时间戳证明")


def modification_checks(
    v: SigVerdict, review: Review | None, coverage: SignatureCoverageLevel | None, docmdp: object, fieldmdp: object
) -> ModificationLevel | None:
    """Step S8 from the difference analysis (``None`` review = covers the whole file)."""
    if coverage == SignatureCoverageLevel.ENTIRE_FILE:
        v.ok(
            "modifications",
            "no change after signing: the signature covers the whole file",
            "签名后文件未被修改（签名覆盖整个文件）",
        )
        level = ModificationLevel.NONE
    elif review is None:
        v.skip(
            "modifications",
            "not analysed: the signature does not cover a whole revision",
            "未分析：签名未覆盖完整修订版本",
        )
        return None
    else:
        level = review.level
        what = "; ".join(c.en for c in review.changes[:12]) or "none"
        what_zh = "；".join(c.zh for c in review.changes[:12]) or "无"
        if review.out_of_budget:
            v.bad(
                Indication.INDETERMINATE,
                SubIndication.CUSTOM,
                "modifications",
                f"the difference analysis did not finish within its time budget; changes seen: {what}",
                f"修改分析未在时间预算内完成；已发现的修改：{what_zh}",
            )
        elif review.unanalysable and not review.problems:
            v.bad(
                Indication.INDETERMINATE,
                SubIndication.FORMAT_FAILURE,
                "modifications",
                f"an update after signing could not be analysed: {' | '.join(review.unanalysable)[:600]}. "
                f"Changes: {what}",
                f"签名后的增量更新无法分析：{what_zh}",
            )
        elif review.problems:
            v.bad(
                Indication.TOTAL_FAILED,
                SubIndication.FORMAT_FAILURE,
                "modifications",
                f"the document was changed after signing in a way that is not allowed. Changes: {what}. "
                f"Why rejected: {' | '.join(review.problems)[:600]}",
                f"签名后文件被以不允许的方式修改：{what_zh}",
            )
        else:
            v.ok(
                "modifications",
                f"changes after signing are allowed ({level.name}): {what}",
                f"签名后的修改属于允许范围（{level.name}）：{what_zh}",
            )
    if docmdp is None:
        v.skip("docmdp", "approval signature (no DocMDP permission)", "审批签名（无 DocMDP 权限设置）")
    elif review is not None and review.docmdp_violation:
        v.bad(
            Indication.TOTAL_FAILED,
            SubIndication.FORMAT_FAILURE,
            "docmdp",
            f"DocMDP P={getattr(docmdp, 'value', docmdp)} broken: {review.docmdp_violation}",
            f"违反认证签名的 DocMDP 权限 P={getattr(docmdp, 'value', docmdp)}",
        )
    else:
        v.ok(
            "docmdp",
            f"DocMDP permission P={getattr(docmdp, 'value', docmdp)} respected",
            f"符合 DocMDP 权限 P={getattr(docmdp, 'value', docmdp)}",
        )
    if fieldmdp is not None:
        if review is not None and review.fieldmdp_violation:
            v.bad(
                Indication.TOTAL_FAILED,
                SubIndication.FORMAT_FAILURE,
                "fieldmdp",
                f"FieldMDP lock broken: {review.fieldmdp_violation}",
                "违反 FieldMDP 字段锁定",
            )
        else:
            v.ok("fieldmdp", "no locked field changed", "锁定的表单域未被修改")
    return level
