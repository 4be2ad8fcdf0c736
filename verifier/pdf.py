"""Verify signed PDFs: every signature, what changed after it, and one verdict for the document.

:func:`verify_pdf` returns a :class:`~verifier.report.ValidationReport` for the document
(``artefact="pdf"``) whose ``signatures`` field holds one report per signature, in signing order.
The document is TOTAL_PASSED only if every signature is; otherwise it takes the first
TOTAL_FAILED signature's sub-indication, else the first INDETERMINATE one.

Trust is passed in; nothing is fetched. Standard signatures go through pyHanko (integrity,
signature value, certvalidator path with a ValidationContext built from our TrustStore, the
CRLs given and the document's DSS); SM2 and adbe.pkcs7.sha1 signatures through our own CMS check
and :func:`verifier.pki.validate_path`, and document timestamps by SM2 TSAs through
:func:`verifier.tsp.verify_timestamp_token`. The difference analysis is pyHanko's rules run once per
revision (:mod:`verifier._pdf_diff`). Steps of the document procedure (tagged ``# Step D<n>``;
per-signature steps S1-S8 are in :mod:`verifier._pdf_sig`):

  D1. Input is bytes (or a path) of at most :data:`MAX_PDF_BYTES` starting with ``%PDF-``
      (anything else is bad input, not a verdict).
  D2. The file parses (pyHanko reader with its decoding limits); a broken file is TOTAL_FAILED /
      FORMAT_FAILURE; an encrypted one INDETERMINATE.
  D3. At most :data:`MAX_REVISIONS` revisions and :data:`MAX_SIGNATURES` signatures.
  D4. At least one signature; none is TOTAL_FAILED / FORMAT_FAILURE.
  D5. Per signature S1-S3 (parse, SubFilter, coverage).
  D6. Revocation data: the CRLs passed in plus the DSS (at most :data:`MAX_DSS_ITEMS` items).
  D7. Per signature S4-S7 (pyHanko in one event loop, or our CMS / time-stamp token checks for SM2).
  D8. Per signature S8: the chained difference analysis within :data:`DIFF_BUDGET_SECONDS`.
  D9. Document verdict, with a check naming what (if anything) was written after the last signature.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import parser as asn1_parser
from pyhanko.pdf_utils import misc
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.sign.validation import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError, SignatureValidationError
from pyhanko.sign.validation.pdf_embedded import (
    EmbeddedPdfSignature,
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from keys.algorithms import AlgorithmPolicy
from keys.errors import BadInputError, EsignError
from keys.x509 import Certificate, Crl, parse_certificate, parse_crl
from verifier._pdf_cms import check_cms, is_sm2_cms
from verifier._pdf_diff import DiffEngine, Review
from verifier._pdf_level import apply_level, pades_levels
from verifier._pdf_read import (
    BoundedReader,
    Deadline,
    SigField,
    certificate_once,
    enumerate_signature_fields,
    new_file_memo,
)
from verifier._pdf_sig import (
    PastContext,
    SigVerdict,
    StampCheck,
    cms_revinfo,
    coverage_check,
    issued_before,
    map_ades,
    modification_checks,
    own_doc_timestamp_checks,
    policy_check,
    prove_existence,
    pyhanko_checks,
    revinfo_issued,
    sm2_checks,
)
from verifier._revocation import RevocationData
from verifier.ocsp import parse_ocsp_response
from verifier.pki import PathPolicy, TrustStore
from verifier.report import Check, CheckStatus, Indication, Reason, SubIndication, ValidationReport

__all__ = [
    "DIFF_BUDGET_SECONDS",
    "MAX_DSS_ITEMS",
    "MAX_PDF_BYTES",
    "MAX_REVISIONS",
    "MAX_SIGNATURES",
    "PdfPolicy",
    "is_pdf",
    "verify_pdf",
]

#: Largest PDF accepted (bytes).
MAX_PDF_BYTES = 128 << 20
#: Most incremental-update revisions in one file.
MAX_REVISIONS = 200
#: Most signatures (incl. document timestamps) in one file.
MAX_SIGNATURES = 64
#: Wall-clock budget (seconds) for the difference analysis of one revision; once spent, later
#: revisions are not analysed and the signatures before them are INDETERMINATE.
DIFF_BUDGET_SECONDS = 20.0
#: Most certificates + CRLs + OCSP responses read from the DSS.
MAX_DSS_ITEMS = 2000

_SIG_SUBFILTERS = {"/adbe.pkcs7.detached", "/ETSI.CAdES.detached", "/adbe.pkcs7.sha1"}
_TS_SUBFILTERS = {"/ETSI.RFC3161"}
_KEY_USAGE = KeyUsageConstraints(key_usage={"digital_signature", "non_repudiation"}, match_all_key_usages=False)
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PdfPolicy:
    """How strict PDF verification is. Passed in; nothing is ambient."""

    path: PathPolicy = field(default_factory=PathPolicy)
    """Path validation policy for SM2 signers (algorithms, depth, EKU...)."""
    require_revocation: bool = False
    """Every certificate needs covering revocation data (CRLs given or DSS); else INDETERMINATE."""
    allow_value_replacement: bool = False
    """Accept replacing a form value that was already set when signed (pyHanko does; DSS warns)."""
    diff_budget_seconds: float = DIFF_BUDGET_SECONDS
    """Wall-clock budget for the difference analysis of one revision."""
    min_pades_level: str = "B-B"
    """Weakest PAdES level accepted (:mod:`verifier._pdf_level`); below it INDETERMINATE."""
    signer_algorithms: AlgorithmPolicy | None = None
    """Key types and sizes accepted for the signer's own key (``None``: pyHanko's defaults only)."""
    clock_skew: timedelta | None = None
    """Tolerance for certificates not yet valid, revocation data and timestamps slightly after the
    validation time (a validation policy's clock skew); ``None``: pyHanko's default of 1 s."""


def is_pdf(data: bytes) -> bool:
    """The detection rule the front door uses: ``%PDF-`` within the first 1024 bytes."""
    return b"%PDF-" in data[:1024]


def _doc_report(
    at: datetime,
    ind: Indication,
    sub: SubIndication | None,
    en: str,
    zh: str,
    checks: Sequence[Check],
    hint: tuple[str, str] = ("", ""),
) -> ValidationReport:
    return ValidationReport(
        artefact="pdf",
        indication=ind,
        sub_indication=sub,
        reason=Reason(en=en, zh=zh, hint_en=hint[0], hint_zh=hint[1]),
        checks=tuple(checks),
        validation_time=at,
    )


def _read_input(data: bytes | str | Path) -> bytes:
    if isinstance(data, (str, Path)):
        p = Path(data)
        try:
            size = p.stat().st_size
            if size > MAX_PDF_BYTES:
                raise BadInputError(
                    f"PDF larger than {MAX_PDF_BYTES >> 20} MiB", message_zh="PDF 文件过大", field="file"
                )
            return p.read_bytes()
        except OSError as exc:
            raise BadInputError(f"cannot read {p}: {exc.strerror}", message_zh="无法读取文件", field="file") from exc
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise BadInputError("PDF input must be bytes or a path", message_zh="PDF 输入须为字节或路径", field="file")
    return bytes(data)


def _run_async(coro_factory: Any) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro_factory())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:  # called from inside an event loop
        return pool.submit(lambda: asyncio.run(coro_factory())).result()


@dataclass
class _Sig:
    field: SigField
    emb: EmbeddedPdfSignature | None = None
    verdict: SigVerdict = field(default_factory=SigVerdict)
    kind: str = "/Sig"
    subfilter: str = ""
    own_cms: bool = False
    coverage: SignatureCoverageLevel | None = None
    status: Any = None
    review: Review | None = None


def _dss(reader: BoundedReader) -> tuple[list[Any], list[Any], list[Any]]:
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        return [], [], []
    if len(dss.certs) + len(dss.crls) + len(dss.ocsps) > MAX_DSS_ITEMS:
        raise misc.PdfReadError(f"DSS holds more than {MAX_DSS_ITEMS} items")
    certs = list(dss.load_certs())
    crls = [asn1_crl.CertificateList.load(r.get_object().read_data(DecodePurpose.CRL)) for r in dss.crls]
    ocsps = [asn1_ocsp.OCSPResponse.load(r.get_object().read_data(DecodePurpose.OCSP_RESPONSE)) for r in dss.ocsps]
    return certs, crls, ocsps


def verify_pdf(
    data: bytes | str | Path,
    *,
    trust: TrustStore,
    at: datetime,
    crls: Sequence[Crl] = (),
    policy: PdfPolicy | PathPolicy | None = None,
    allow_fetch: bool = False,
    require_revocation: bool = False,
) -> ValidationReport:
    """Verify every signature of a PDF and return the document report (per-signature in ``signatures``).

    Args:
        data: the PDF bytes, or a path to it.
        trust: the trust anchors (nothing else is trusted).
        at: validation time (timezone-aware).
        crls: revocation data supplied by the caller (the document's DSS is added).
        policy: a :class:`PdfPolicy`, or a :class:`PathPolicy` (then the other settings default).
        allow_fetch: must be False: the core never opens sockets (fetching lives in ``api``).
        require_revocation: shorthand for ``PdfPolicy.require_revocation=True``.

    Raises:
        BadInputError: not a PDF at all, larger than :data:`MAX_PDF_BYTES`, or ``allow_fetch``.
    """
    if at.tzinfo is None:
        raise BadInputError("the validation time must be timezone-aware", message_zh="验证时间须带时区", field="at")
    if allow_fetch:
        raise BadInputError(
            "fetching revocation data is not done by the verifier core; pass CRLs in",
            message_zh="验证核心不联网获取吊销信息，请传入 CRL",
            field="allow_fetch",
        )
    pol = policy if isinstance(policy, PdfPolicy) else PdfPolicy(path=policy or PathPolicy())
    if require_revocation and not pol.require_revocation:
        pol = replace(pol, require_revocation=True)
    path_policy = replace(pol.path, require_revocation=pol.require_revocation or pol.path.require_revocation)
    # Step D1
    new_file_memo()  # certificates parsed once per file (verifier._pdf_read.certificate_once)
    raw = _read_input(data)
    if len(raw) > MAX_PDF_BYTES:
        raise BadInputError(f"PDF larger than {MAX_PDF_BYTES >> 20} MiB", message_zh="PDF 文件过大", field="file")
    if not is_pdf(raw):
        raise BadInputError(
            "this is not a PDF file (no %PDF- header)", message_zh="不是 PDF 文件（缺少 %PDF- 文件头）", field="file"
        )
    checks: list[Check] = []
    fail_hint = ("Ask the sender for an intact copy of the signed PDF.", "请向发送方索取完整的已签名 PDF。")
    # Step D2
    deadline = Deadline()
    try:
        reader = BoundedReader(raw, deadline=deadline)
        revisions = reader.xrefs.total_revisions
        encrypted = reader.encrypted
    except Exception as exc:
        en = f"the PDF is broken and cannot be read: {str(exc)[:200]}"
        checks.append(Check("parse", CheckStatus.FAILED, en, "PDF 文件损坏，无法解析"))
        return _doc_report(
            at, Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE, en, "PDF 文件损坏，无法解析", checks, fail_hint
        )
    if encrypted:
        en = "the PDF is encrypted; encrypted PDFs are not verified"
        checks.append(Check("parse", CheckStatus.INDETERMINATE, en, "PDF 已加密，不支持验证加密的 PDF"))
        return _doc_report(
            at,
            Indication.INDETERMINATE,
            SubIndication.CUSTOM,
            en,
            "PDF 已加密，不支持验证加密的 PDF",
            checks,
            ("Ask for an unencrypted copy.", "请索取未加密的副本。"),
        )
    # Step D3
    if revisions > MAX_REVISIONS:
        en = f"{revisions} revisions: more than the limit of {MAX_REVISIONS}"
        checks.append(Check("parse", CheckStatus.INDETERMINATE, en, f"修订版本数超过上限 {MAX_REVISIONS}"))
        return _doc_report(
            at, Indication.INDETERMINATE, SubIndication.CUSTOM, en, f"修订版本数超过上限 {MAX_REVISIONS}", checks
        )
    checks.append(
        Check(
            "parse", CheckStatus.PASSED, f"PDF parsed: {revisions} revision(s)", f"PDF 解析成功：{revisions} 个修订版本"
        )
    )
    # Step D4 / D5
    sigs: list[_Sig] = []
    try:
        for sf in enumerate_signature_fields(reader):
            sigs.append(_Sig(field=sf))
            if len(sigs) > MAX_SIGNATURES:
                en = f"more than {MAX_SIGNATURES} signatures"
                checks.append(Check("signatures", CheckStatus.INDETERMINATE, en, f"签名数量超过上限 {MAX_SIGNATURES}"))
                return _doc_report(
                    at, Indication.INDETERMINATE, SubIndication.CUSTOM, en, f"签名数量超过上限 {MAX_SIGNATURES}", checks
                )
    except Exception as exc:
        en = f"the form (signature fields) is malformed: {str(exc)[:200]}"
        checks.append(Check("signatures", CheckStatus.FAILED, en, "表单（签名域）结构错误"))
        return _doc_report(
            at, Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE, en, "表单（签名域）结构错误", checks, fail_hint
        )
    if not sigs:
        en = "the PDF carries no signature"
        checks.append(Check("signatures", CheckStatus.FAILED, en, "PDF 中没有签名"))
        return _doc_report(
            at,
            Indication.TOTAL_FAILED,
            SubIndication.FORMAT_FAILURE,
            en,
            "PDF 中没有签名",
            checks,
            ("Sign the document first, or ask for the signed copy.", "请先签署文件，或索取已签名的版本。"),
        )
    for s in sigs:
        _prepare(s, reader, raw)
    sigs.sort(key=lambda s: s.emb.signed_revision if s.emb is not None else 10**9)
    # Step D6
    try:
        dss_certs, dss_crls, dss_ocsps = _dss(reader)
    except Exception as exc:
        _log.info("unreadable DSS: %s", exc)
        dss_certs, dss_crls, dss_ocsps = [], [], []
        checks.append(
            Check(
                "dss",
                CheckStatus.INDETERMINATE,
                "the document security store (DSS) is unreadable; its data was not used",
                "文档安全存储（DSS）无法读取，未使用其中数据",
            )
        )
    since = getattr(crls, "issued_since", None)  # a policy's maximum revocation age, cut by the caller
    if since is not None:
        checks.append(_set_aside(since, dss_crls, dss_ocsps, sigs))
        stale = {id(i) for i in issued_before([*dss_crls, *dss_ocsps], since)}
        dss_crls = [c for c in dss_crls if id(c) not in stale]
        dss_ocsps = [o for o in dss_ocsps if id(o) not in stale]
    if pol.clock_skew is not None and pol.clock_skew < timedelta(0):
        raise BadInputError("clock_skew must not be negative", message_zh="时钟偏差不能为负", field="clock_skew")
    tolerance = {} if pol.clock_skew is None else {"time_tolerance": pol.clock_skew}
    vc = ValidationContext(
        trust_roots=[a.asn1 for a in trust.anchors if not _is_sm2_cert(a)],
        other_certs=dss_certs,
        crls=[c.asn1 for c in crls] + dss_crls,
        ocsps=dss_ocsps,
        allow_fetching=False,
        moment=at,
        revocation_mode="require" if pol.require_revocation else "soft-fail",
        **tolerance,
    )
    # Step D7
    _run_async(lambda: _validate_all(sigs, vc))
    own_intermediates = _to_certs(dss_certs)
    # our own path checks (SM2 signers and TSAs) get the file's OCSP responses as well as its CRLs
    own_crls = RevocationData([*crls, *_to_crls(dss_crls)],
                              [*getattr(crls, "ocsp_responses", ()), *_parsed(dss_ocsps, parse_ocsp_response)],
                              retroactive=False)
    past = PastContext([a.asn1 for a in trust.anchors if not _is_sm2_cert(a)], dss_certs,
                       [c.asn1 for c in crls] + dss_crls, dss_ocsps, pol.require_revocation,
                       check_token=_stamp_checker(raw, trust=trust, crls=own_crls, certs=own_intermediates,
                                                  policy=path_policy),
                       issued_since=since, time_tolerance=pol.clock_skew)
    # Step S6a: timestamps as proof of existence; SM2 document timestamps are checked here too
    _run_async(lambda: prove_existence(sigs, ctx=past, at=at))
    for s in sigs:
        if s.emb is not None and s.own_cms and s.kind == "/Sig" and s.verdict.failed is None:
            signed = _signed_bytes(raw, s.emb.byte_range)
            if signed is None:
                s.verdict.bad(
                    Indication.TOTAL_FAILED,
                    SubIndication.FORMAT_FAILURE,
                    "byte_range",
                    "/ByteRange points outside the file",
                    "/ByteRange 超出文件范围",
                )
                continue
            cc = check_cms(s.emb.pkcs7_content, signed, subfilter=s.subfilter)
            s.status = sm2_checks(
                s.verdict, cc, trust=trust, at=at, intermediates=own_intermediates, crls=own_crls, policy=path_policy,
                skew=pol.clock_skew or timedelta(0),
            )
            s.status = (s.status, cc)
    # Step D8
    bases = [
        s.emb.signed_revision
        for s in sigs
        if s.emb is not None and s.coverage is not None and s.coverage >= SignatureCoverageLevel.ENTIRE_REVISION
    ]
    engine = (
        DiffEngine(reader, bases=bases, deadline=deadline, budget_seconds=pol.diff_budget_seconds) if bases else None
    )
    reports = [_finish(i, s, engine, pol, at) for i, s in enumerate(sigs)]
    levels = pades_levels(reader, [(s.kind, s.emb) for s in sigs])  # PAdES level and the policy's minimum
    reports = [apply_level(r, lv, min_level=pol.min_pades_level, algorithms=pol.signer_algorithms)
               for r, lv in zip(reports, levels, strict=True)]
    # Step D9
    return _document(reports, sigs, checks, at, revisions)


def _set_aside(since: datetime, dss_crls: Sequence[Any], dss_ocsps: Sequence[Any], sigs: Sequence[Any]) -> Check:
    """The document check saying which revocation data in the file is older than ``since`` (and not used)."""
    cms_crls, cms_ocsps = cms_revinfo(sigs)
    old = issued_before([*dss_crls, *dss_ocsps, *cms_crls, *cms_ocsps], since)
    if not old:
        return Check("revocation_cutoff", CheckStatus.PASSED,
                     f"all revocation data in the file was issued at or after {since.isoformat()}",
                     "文件内的吊销信息均在时效内")
    dates = ", ".join(sorted({t.isoformat() if (t := revinfo_issued(i)) is not None else "unknown" for i in old}))
    return Check("revocation_cutoff", CheckStatus.SKIPPED,
                 f"{len(old)} revocation item(s) (DSS or signatures) issued {dates}, before {since.isoformat()}, "
                 "set aside",
                 f"文件内 {len(old)} 项吊销信息超过验证策略允许的时效，未采用")


def _stamp_checker(raw: bytes, *, trust: TrustStore, crls: Sequence[Crl], certs: Sequence[Certificate],
                   policy: PathPolicy) -> StampCheck:
    """How :func:`prove_existence` checks a document timestamp by an SM2 TSA: the token over the signed
    byte ranges, with the CRLs given and the DSS's (retroactive ones at a proven earlier time)."""

    def check(emb: EmbeddedPdfSignature, when: datetime, past: bool) -> Any:
        from verifier.tsp import verify_timestamp_token

        signed = _signed_bytes(raw, emb.byte_range)
        if signed is None:
            return None
        try:
            # /Contents is padded after the token: keep the outer DER element only
            _cls, _method, _tag, header, body, _rest = asn1_parser.parse(bytes(emb.pkcs7_content))
            return verify_timestamp_token(header + body, data=signed, trust=trust, at=when,
                                          crls=RevocationData.for_past(crls) if past else crls, policy=policy,
                                          extra_certs=certs)
        except (EsignError, ValueError, TypeError):
            return None

    return check


def _is_sm2_cert(c: Certificate) -> bool:
    return b"\x06\x08\x2a\x81\x1c\xcf\x55\x01\x82\x2d" in c.spki_der  # OID 1.2.156.10197.1.301


def _parsed(items: Sequence[Any], parse: Any) -> list[Any]:
    """asn1crypto items re-read by one of our parsers; unreadable ones are left out."""
    out = []
    for c in items:
        try:
            out.append(parse(c.dump()))
        except EsignError:
            continue
    return out


def _to_certs(items: Sequence[Any]) -> list[Certificate]:
    return _parsed(items, parse_certificate)


def _to_crls(items: Sequence[Any]) -> list[Crl]:
    return _parsed(items, parse_crl)


def _signed_bytes(raw: bytes, br: Any) -> bytes | None:
    try:
        nums = [int(x) for x in br]
    except (TypeError, ValueError):
        return None
    if len(nums) % 2 or any(n < 0 for n in nums):
        return None
    parts = []
    for off, ln in zip(nums[::2], nums[1::2], strict=True):
        if off + ln > len(raw):
            return None
        parts.append(raw[off : off + ln])
    return b"".join(parts)


def _prepare(s: _Sig, reader: BoundedReader, raw: bytes) -> None:
    v = s.verdict
    # Step S1
    try:
        s.emb = EmbeddedPdfSignature(reader, s.field.field, s.field.name)
        s.kind = str(s.emb.sig_object_type)
        s.subfilter = str(s.emb.sig_object.get("/SubFilter", ""))
        v.ok(
            "parse",
            f"signature dictionary and CMS read ({s.kind.lstrip('/')}, {s.subfilter.lstrip('/')})",
            "签名字典和 CMS 读取成功",
        )
    except Exception as exc:
        s.emb = None
        v.bad(
            Indication.TOTAL_FAILED,
            SubIndication.FORMAT_FAILURE,
            "parse",
            f"the signature cannot be read: {str(exc)[:200] or type(exc).__name__}",
            "无法读取该签名（签名字典或 CMS 结构错误）",
        )
        return
    # Step S2
    allowed = _TS_SUBFILTERS if s.kind == "/DocTimeStamp" else _SIG_SUBFILTERS if s.kind == "/Sig" else set()
    if s.subfilter not in allowed:
        v.bad(
            Indication.TOTAL_FAILED,
            SubIndication.FORMAT_FAILURE,
            "subfilter",
            f"{s.kind} with SubFilter {s.subfilter or '(none)'} is not supported",
            f"不支持的签名类型或 SubFilter：{s.subfilter}",
        )
        return
    # SM2 signatures and SM2 document timestamps (pyHanko cannot read SM2 keys) go through our own checks
    s.own_cms = s.subfilter == "/adbe.pkcs7.sha1" or is_sm2_cms(s.emb.pkcs7_content)
    # Step S3
    try:
        s.coverage = s.emb.evaluate_signature_coverage()
    except Exception as exc:
        v.bad(
            Indication.TOTAL_FAILED,
            SubIndication.FORMAT_FAILURE,
            "byte_range",
            f"the /ByteRange cannot be evaluated: {str(exc)[:200]}",
            "无法评估 /ByteRange",
        )
        return
    coverage_check(v, s.coverage)


async def _validate_all(sigs: list[_Sig], vc: ValidationContext) -> None:
    for s in sigs:
        if s.emb is None or s.own_cms or s.coverage is None:
            continue
        try:
            if s.kind == "/DocTimeStamp":
                s.status = await async_validate_pdf_timestamp(s.emb, vc, skip_diff=True)
            else:
                s.status = await async_validate_pdf_signature(s.emb, vc, skip_diff=True, key_usage_settings=_KEY_USAGE)
        except SignatureValidationError as exc:
            ind, sub = map_ades(exc.ades_subindication)
            s.verdict.bad(
                ind, sub, "cms", f"the signature does not validate: {str(exc)[:300]}", f"签名验证未通过：{sub.value}"
            )
        except Exception as exc:
            s.verdict.bad(
                Indication.TOTAL_FAILED,
                SubIndication.FORMAT_FAILURE,
                "cms",
                f"the signature cannot be validated: {type(exc).__name__}: {str(exc)[:200]}",
                "签名无法验证（格式或算法不受支持）",
            )


def _finish(i: int, s: _Sig, engine: DiffEngine | None, pol: PdfPolicy, at: datetime) -> ValidationReport:
    v = s.verdict
    label = f"signature {i + 1} ({'document timestamp ' if s.kind == '/DocTimeStamp' else ''}field '{s.field.name}')"
    signer: dict[str, Any] = {"field": s.field.name, "type": s.kind.lstrip("/"), "subfilter": s.subfilter.lstrip("/")}
    chain: tuple = ()
    anchor = None
    if s.emb is not None and s.status is not None and not s.own_cms:
        chain, anchor = pyhanko_checks(v, s.status)
        cert = s.status.signing_cert
        signer.update(_cert_info(cert))
        ts = getattr(s.status, "timestamp_validity", None)
        if s.kind == "/DocTimeStamp":
            signer.update(
                signing_time=s.status.timestamp.isoformat(), signing_time_source="document timestamp (RFC 3161)"
            )
        elif ts is not None and ts.intact and ts.valid:
            signer.update(signing_time=ts.timestamp.isoformat(), signing_time_source="signature timestamp (RFC 3161)")
        elif getattr(s.status, "signer_reported_dt", None) is not None:
            signer.update(
                signing_time=s.status.signer_reported_dt.isoformat(),
                signing_time_source="claimed by the signer (not proven)",
            )
    elif s.own_cms and s.kind == "/DocTimeStamp" and s.emb is not None and s.coverage is not None \
            and v.failed is None:
        chain, anchor = own_doc_timestamp_checks(v, s.status, at=at + (pol.clock_skew or timedelta(0)))
        if chain:
            leaf = chain[0]
            signer.update(subject=leaf.subject, issuer=leaf.issuer, serial=leaf.serial_hex, sha256=leaf.sha256,
                          not_before=leaf.not_before.isoformat(), not_after=leaf.not_after.isoformat())
        if v.failed is None and s.status is not None and s.status.gen_time is not None:  # an intact token
            signer.update(signing_time=s.status.gen_time.isoformat(),
                          signing_time_source="document timestamp (RFC 3161)")
    elif s.own_cms and isinstance(s.status, tuple):
        (chain, anchor), cc = s.status
        if cc.signer is not None:
            signer.update(_cert_info(cc.signer.asn1), algorithm=cc.algorithm)
        if cc.claimed_time is not None:
            signer.update(
                signing_time=cc.claimed_time.isoformat(), signing_time_source="claimed by the signer (not proven)"
            )
    if s.emb is not None and s.kind == "/Sig":
        try:
            policy_check(v, s.emb.signer_info["signed_attrs"])
        except Exception:
            v.bad(
                Indication.INDETERMINATE,
                SubIndication.POLICY_PROCESSING_ERROR,
                "signature_policy",
                "signature attributes unreadable",
                "签名属性无法读取",
            )
    # Step S8
    if s.emb is not None and s.coverage is not None and s.coverage >= SignatureCoverageLevel.ENTIRE_REVISION:
        try:
            docmdp, fieldmdp = s.emb.docmdp_level, s.emb.fieldmdp
        except Exception:
            docmdp = fieldmdp = None
            v.bad(
                Indication.TOTAL_FAILED,
                SubIndication.FORMAT_FAILURE,
                "docmdp",
                "the DocMDP / FieldMDP settings are unreadable",
                "DocMDP / FieldMDP 设置无法读取",
            )
        review = None
        if s.coverage == SignatureCoverageLevel.ENTIRE_REVISION and engine is not None:
            review = engine.review(
                s.emb.signed_revision,
                docmdp=docmdp,
                fieldmdp=fieldmdp,
                allow_value_replacement=pol.allow_value_replacement,
            )
        s.review = review
        level = modification_checks(v, review, s.coverage, docmdp, fieldmdp)
        signer["revision"] = s.emb.signed_revision
        signer["modification_level"] = level.name if level is not None else None
    return v.report(at=at, label=label, signer=signer, chain=chain, anchor=anchor)


def _cert_info(cert: Any) -> dict[str, str]:
    try:
        c = certificate_once(cert.dump())
    except (EsignError, AttributeError):
        return {}
    return {
        "subject": c.subject_str,
        "issuer": c.issuer_str,
        "serial": format(c.serial, "x"),
        "sha256": c.sha256,
        "not_before": c.not_before.isoformat(),
        "not_after": c.not_after.isoformat(),
    }


def _document(
    reports: list[ValidationReport], sigs: list[_Sig], checks: list[Check], at: datetime, revisions: int
) -> ValidationReport:
    checks.append(
        Check("signatures", CheckStatus.PASSED, f"{len(reports)} signature(s) found", f"发现 {len(reports)} 个签名")
    )
    for i, r in enumerate(reports):
        st = {Indication.TOTAL_PASSED: CheckStatus.PASSED, Indication.TOTAL_FAILED: CheckStatus.FAILED}.get(
            r.indication, CheckStatus.INDETERMINATE
        )
        checks.append(Check(f"signature[{i + 1}]", st, r.reason.en, r.reason.zh))
    last = sigs[-1]
    if last.coverage == SignatureCoverageLevel.ENTIRE_FILE:
        checks.append(
            Check(
                "file_coverage",
                CheckStatus.PASSED,
                "the last signature covers the whole file",
                "最后一个签名覆盖整个文件",
            )
        )
    elif last.review is not None:
        after = [c.en for c in last.review.changes if c.revision > (last.emb.signed_revision if last.emb else 0)]
        st = CheckStatus.FAILED if last.review.problems else CheckStatus.PASSED
        checks.append(
            Check(
                "file_coverage",
                st,
                f"the file was updated after the last signature: {'; '.join(after)[:600]}",
                "最后一个签名之后文件有增量更新",
            )
        )
    else:
        checks.append(
            Check(
                "file_coverage",
                CheckStatus.FAILED,
                "the last signature does not cover the file",
                "最后一个签名未覆盖文件",
            )
        )
    failed = [r for r in reports if r.indication is Indication.TOTAL_FAILED]
    indet = [r for r in reports if r.indication is Indication.INDETERMINATE]
    first = reports[0]
    if failed:
        ind, worst = Indication.TOTAL_FAILED, failed[0]
    elif indet:
        ind, worst = Indication.INDETERMINATE, indet[0]
    else:
        ind, worst = Indication.TOTAL_PASSED, None
    if worst is None:
        n = len(reports)
        reason = Reason(
            en=f"all {n} signature(s) are valid and trusted; no disallowed change after signing",
            zh=f"全部 {n} 个签名有效且受信任，签名后无不允许的修改",
        )
        sub = None
    else:
        reason = worst.reason
        sub = worst.sub_indication
    return ValidationReport(
        artefact="pdf",
        indication=ind,
        sub_indication=sub,
        reason=reason,
        checks=tuple(checks),
        validation_time=at,
        signer=dict(first.signer),
        trust_anchor=first.trust_anchor,
        chain=first.chain,
        signatures=tuple(reports),
    )
