"""Verify the signatures of an OFD file (GB/T 33190 §18, GM/T 0099, GB/T 38540 seals).

Procedure of :func:`verify_ofd` (steps tagged ``[n]`` in the code):

  1. Open the ZIP safely and parse OFD.xml (:func:`esign.formats.ofd.read_package`). Input that
     is not an OFD file, or cannot be opened within the limits, is bad input (raises).
  2. Find the signatures: ``OFD.xml DocBody/Signatures`` -> Signatures.xml. No signatures (and no
     integrity protection) -> INDETERMINATE / SIGNED_DATA_NOT_FOUND ("not signed").
  For each signature listed:
  3. Parse its Signature.xml (missing or malformed -> TOTAL_FAILED / FORMAT_FAILURE).
  4. References: CheckMethod must be SM3; every referenced file must be present (else MISSING) and
     ``SM3(file) == CheckValue`` (else CHANGED) -> TOTAL_FAILED / HASH_FAILURE naming the files.
  5. The StampAnnot PageRef must name a page of the document.
  6. SignedValue.dat must be present, then by Type:
     a. ``Seal``: :func:`verifier.ses.verify_ses_signature` over the exact Signature.xml bytes (format,
        signature value, signer in the seal's list, seal maker, validity windows, signer
        certificate, timestamp, ``dataHash``); if Seal/BaseLoc is given, Seal.esl must be the seal
        embedded in the signature.
     b. ``Sign``: the SM2 signature (DER, 64-byte r||s, or GB/T 35275 signedData) over Signature.xml,
        checked with an embedded certificate or one of ``certs``; then that certificate's path at
        ``at`` (no certificate that verifies -> SIG_CRYPTO_FAILURE; none at all ->
        NO_SIGNING_CERTIFICATE_FOUND).
  Then for the document:
  7. Integrity protection (``/OFDEntries.xml`` + its signed value), when present (see
     :mod:`verifier._ofd_crypto`).
  8. Unprotected files: every file in the ZIP must be covered by the References of at least one
     signature, or be part of a listed signature's own files (Signatures.xml, Signature.xml,
     SignedValue.dat, Seal.esl) or of the integrity protection. Anything else was added after
     signing or never protected and fails the document (TOTAL_FAILED / HASH_FAILURE): an
     unprotected file can shadow a protected one for a lenient reader (a differently-cased
     ``TPLS/`` next to ``Tpls/``), fill a resource a protected page names but was absent at
     signing, or smuggle content (GM/T 0099 "夹带").
  9. Verdict: TOTAL_FAILED if any signature or step 7/8 failed; else INDETERMINATE if any is;
     else TOTAL_PASSED. A document protected only by an integrity list (no signature over file
     contents) is at best INDETERMINATE / SIGNED_DATA_NOT_FOUND.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from esign.formats.ofd import (
    OfdDocument,
    OfdFormatError,
    OfdPackage,
    SignatureInfo,
    SignatureListEntry,
    check_value,
    parse_document,
    parse_ofd_root,
    parse_signature_list,
    parse_signature_xml,
    read_package,
)
from keys.x509 import Certificate, Crl, parse_certificates
from verifier._ofd_crypto import OfdCheck, verify_integrity, verify_plain_sign, verify_seal_sign
from verifier.pki import PathPolicy, TrustStore
from verifier.report import (
    Check,
    CheckStatus,
    Indication,
    Reason,
    SubIndication,
    ValidationReport,
    reason_for,
)

__all__ = ["verify_ofd"]

_EN_NOT_SIGNED = "The OFD file is not signed: it has no Signatures.xml."
_ZH_NOT_SIGNED = "该 OFD 文件未签名：没有 Signatures.xml。"


@dataclass
class _Sig:
    entry: SignatureListEntry
    checks: list[Check] = field(default_factory=list)
    indication: Indication = Indication.TOTAL_PASSED
    sub: SubIndication | None = None
    detail_en: str = ""
    detail_zh: str = ""
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    covered: set[str] = field(default_factory=set)
    own: set[str] = field(default_factory=set)
    extra: dict[str, Any] = field(default_factory=dict)
    crypto: OfdCheck | None = None

    def fail(self, ind: Indication, sub: SubIndication, en: str, zh: str) -> None:
        if self.indication is Indication.TOTAL_FAILED:
            return  # keep the first definite failure
        if ind is Indication.INDETERMINATE and self.indication is Indication.INDETERMINATE:
            return
        self.indication, self.sub, self.detail_en, self.detail_zh = ind, sub, en, zh

    def add(self, name: str, status: CheckStatus, en: str, zh: str) -> None:
        self.checks.append(Check(f"signature[{self.entry.id}].{name}", status, en, zh))


def _to_certs(certs: Sequence[Certificate | bytes]) -> list[Certificate]:
    out: list[Certificate] = []
    for c in certs:
        out.extend([c] if isinstance(c, Certificate) else parse_certificates(c))
    return out


def _references(sig: _Sig, info: SignatureInfo, pkg: OfdPackage) -> None:
    # [4] References.
    try:
        for ref in info.references:
            body = pkg.get(ref.path)
            sig.covered.add(ref.path)
            if body is None:
                sig.missing.append(ref.path)
            elif check_value(info.check_method, body) != ref.check_value:
                sig.changed.append(ref.path)
    except OfdFormatError as exc:
        sig.add("references", CheckStatus.FAILED, exc.message, exc.message_zh)
        sig.fail(Indication.TOTAL_FAILED, SubIndication.CRYPTO_CONSTRAINTS_FAILURE, exc.message, exc.message_zh)
        return
    n = len(info.references)
    if sig.changed or sig.missing:
        en = "; ".join(x for x in (
            f"changed after signing: {', '.join(sig.changed)}" if sig.changed else "",
            f"missing: {', '.join(sig.missing)}" if sig.missing else "") if x)
        zh = "；".join(x for x in (
            f"签名后被修改：{'、'.join(sig.changed)}" if sig.changed else "",
            f"缺失：{'、'.join(sig.missing)}" if sig.missing else "") if x)
        sig.add("references", CheckStatus.FAILED, f"{n} reference(s); {en}", f"{n} 个引用；{zh}")
        sig.fail(Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE, en, zh)
    else:
        sig.add("references", CheckStatus.PASSED, f"all {n} protected file(s) match their SM3 check values",
                f"全部 {n} 个受保护文件的 SM3 校验值一致")


def _stamps(sig: _Sig, info: SignatureInfo, doc: OfdDocument | None) -> None:
    # [5] StampAnnot PageRef.
    if not info.stamp_annots:
        return
    page_ids = {p.id for p in doc.pages} if doc is not None else set()
    bad = [s.page_ref for s in info.stamp_annots if s.page_ref not in page_ids]
    if bad:
        en = f"StampAnnot names page(s) {', '.join(bad)} that the document lacks"
        zh = f"印章外观引用了不存在的页面 {'、'.join(bad)}"
        sig.add("stamp", CheckStatus.FAILED, en, zh)
        sig.fail(Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE, en, zh)
    else:
        sig.add("stamp", CheckStatus.PASSED, f"{len(info.stamp_annots)} stamp(s) on existing pages",
                "印章外观位于有效页面")
    sig.extra["stamps"] = [{"page_ref": s.page_ref, "boundary_mm": list(s.boundary)} for s in info.stamp_annots]


def _one(entry: SignatureListEntry, pkg: OfdPackage, doc: OfdDocument | None, *, trust: TrustStore, at: datetime,
         certs: list[Certificate], crls: Sequence[Crl], policy: PathPolicy, seal_status: Any,
         clock_skew: timedelta = timedelta(0)) -> _Sig:
    sig = _Sig(entry=entry)
    sig.own.add(entry.path)
    # [3] Signature.xml.
    raw = pkg.get(entry.path)
    try:
        if raw is None:
            raise OfdFormatError(f"{entry.path} is missing", message_zh=f"缺少 {entry.path}")
        info = parse_signature_xml(raw, path=entry.path)
    except OfdFormatError as exc:
        sig.add("signature_xml", CheckStatus.FAILED, exc.message, exc.message_zh)
        sig.fail(Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE, exc.message, exc.message_zh)
        return sig
    sig.add("signature_xml", CheckStatus.PASSED, f"{entry.path} parsed ({info.provider or 'no provider'})",
            f"已解析 {entry.path}")
    sig.own.add(info.signed_value_path)
    if info.seal_path:
        sig.own.add(info.seal_path)
    sig.extra.update(provider=info.provider, signature_method=info.signature_method,
                     signature_datetime=info.signature_datetime, references=len(info.references))
    _references(sig, info, pkg)
    _stamps(sig, info, doc)
    # [6] SignedValue.dat.
    value = pkg.get(info.signed_value_path)
    if value is None:
        en, zh = f"{info.signed_value_path} is missing", f"缺少签名值文件 {info.signed_value_path}"
        sig.missing.append(info.signed_value_path)
        sig.add("signed_value", CheckStatus.FAILED, en, zh)
        sig.fail(Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE, en, zh)
        return sig
    if entry.type == "Seal":  # [6a]
        out = verify_seal_sign(value, info.raw, seal_esl=pkg.get(info.seal_path) if info.seal_path else None,
                               trust=trust, at=at, certs=certs, crls=crls, policy=policy, seal_status=seal_status,
                               clock_skew=clock_skew)
    else:  # [6b]
        out = verify_plain_sign(value, info.raw, certs=certs, trust=trust, at=at, crls=crls, policy=policy)
    sig.crypto = out
    for c in out.checks:
        sig.add(c.name, c.status, c.detail_en, c.detail_zh)
    if out.indication is not Indication.TOTAL_PASSED:
        assert out.sub is not None
        want = CheckStatus.FAILED if out.indication is Indication.TOTAL_FAILED else CheckStatus.INDETERMINATE
        bad = next((c for c in out.checks if c.status is want), None)
        en, zh = (bad.detail_en, bad.detail_zh) if bad is not None else (out.reason.en, out.reason.zh)
        sig.fail(out.indication, out.sub, en, zh)
    return sig


def _summary(s: _Sig) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": s.entry.id, "type": s.entry.type, "path": s.entry.path, "indication": s.indication.value,
        "sub_indication": None if s.sub is None else s.sub.value, "reason_en": s.detail_en, "reason_zh": s.detail_zh,
        "changed_files": sorted(s.changed), "missing_files": sorted(s.missing),
    }
    d.update(s.extra)
    if s.crypto is not None:
        d["signer"] = dict(s.crypto.signer)
        d.update(s.crypto.extra)
    return d


def verify_ofd(
    data: bytes,
    *,
    trust: TrustStore,
    at: datetime,
    certs: Sequence[Certificate | bytes] = (),
    crls: Sequence[Crl] = (),
    require_revocation: bool = False,
    policy: PathPolicy | None = None,
    seal_status: Any = None,
    clock_skew: timedelta = timedelta(0),
    **_ignored: Any,
) -> ValidationReport:
    """Verify every signature of an OFD file; the document passes only if all of them pass.

    Args:
        data: the OFD file.
        trust: trust anchors for signer certificates (and seal makers).
        at: validation time.
        certs: extra certificates: signers of plain ``Sign`` signatures (which carry none) and
            intermediates.
        crls: revocation data.
        require_revocation: INDETERMINATE without covering revocation data.
        policy: path-validation policy.
        seal_status: seal register lookup for seal signatures (see :data:`verifier.ses.SealStatusSource`).
        clock_skew: tolerance for seal signatures' not-yet-valid checks (the policy layer's).

    Returns:
        One report with a check per step, prefixed ``signature[<ID>].``; ``report.signer`` holds
        ``signatures`` (per-signature verdict, changed/missing files, signer, stamp) and
        ``unprotected_files``, ``changed_files``, ``missing_files`` for the document;
        ``report.signatures`` one report per signature (its own checks, signer and path), which the
        front door judges one by one against the trust lists (:mod:`verifier.crossregion`).

    Raises:
        OfdFormatError: not an OFD file, or the container breaks a limit (bad input).
    """
    pol = policy or PathPolicy()
    if require_revocation and not pol.require_revocation:
        pol = replace(pol, require_revocation=True)
    extra_certs = _to_certs(certs)
    # [1] Container and OFD.xml.
    pkg = read_package(data)
    root = parse_ofd_root(pkg.files["OFD.xml"])
    checks: list[Check] = [Check("container", CheckStatus.PASSED, f"{len(pkg.files)} file(s) in the package",
                                 f"包内共 {len(pkg.files)} 个文件")]
    doc = None
    doc_bytes = pkg.get(root.doc_root)
    if doc_bytes is not None:
        try:
            doc = parse_document(doc_bytes, path=root.doc_root)
        except OfdFormatError:
            doc = None  # a broken Document.xml is caught by the references / stamp checks
    # [2] Signatures.
    sigs: list[_Sig] = []
    list_ok = True
    infra: set[str] = set()
    if root.signatures is not None:
        infra.add(root.signatures)
        raw_list = pkg.get(root.signatures)
        try:
            if raw_list is None:
                raise OfdFormatError(f"{root.signatures} is missing", message_zh=f"缺少 {root.signatures}")
            sl = parse_signature_list(raw_list, path=root.signatures)
            checks.append(Check("signatures", CheckStatus.PASSED, f"{len(sl.entries)} signature(s) listed",
                                f"列出 {len(sl.entries)} 个签名"))
            for entry in sl.entries:
                sigs.append(_one(entry, pkg, doc, trust=trust, at=at, certs=extra_certs, crls=crls, policy=pol,
                                 seal_status=seal_status, clock_skew=clock_skew))
        except OfdFormatError as exc:
            list_ok = False
            checks.append(Check("signatures", CheckStatus.FAILED, exc.message, exc.message_zh))
    # [7] Integrity protection.
    integ = verify_integrity(pkg, trust=trust, at=at, certs=extra_certs, crls=crls, policy=pol)
    if integ is not None:
        checks.extend(integ.checks)
        infra |= integ.own
    for s in sigs:
        checks.extend(s.checks)
    # [8] Unprotected files.
    covered = set().union(*(s.covered for s in sigs)) if sigs else set()
    own = set().union(*(s.own for s in sigs)) if sigs else set()
    unprotected = sorted(p for p in pkg.files if p not in covered and p not in own and p not in infra)
    if integ is not None and integ.listed is not None:
        unlisted = sorted(p for p in pkg.files if p not in integ.listed and p not in integ.own)
    else:
        unlisted = []
    if sigs or integ is not None:
        if unprotected and sigs:
            checks.append(Check("unprotected_files", CheckStatus.FAILED,
                                f"not covered by any signature: {', '.join(unprotected)}",
                                f"未受任何签名保护的文件：{'、'.join(unprotected)}"))
        elif sigs:
            checks.append(Check("unprotected_files", CheckStatus.PASSED, "every file is covered by a signature",
                                "所有文件均受签名保护"))
    changed = sorted({p for s in sigs for p in s.changed})
    missing = sorted({p for s in sigs for p in s.missing})
    summary: dict[str, Any] = {
        "signatures": [_summary(s) for s in sigs],
        "unprotected_files": unprotected if sigs else [],
        "changed_files": changed,
        "missing_files": missing,
    }
    if integ is not None:
        summary["integrity"] = integ.summary
    # [9] Verdict.
    ind, sub, en, zh = _verdict(sigs, list_ok, unprotected if sigs else [], integ, unlisted)
    first = next((s.crypto for s in sigs if s.crypto is not None and s.crypto.signer), None)
    if first is not None:
        summary = {**dict(first.signer), **summary}
    return ValidationReport(
        artefact="ofd",
        indication=ind,
        sub_indication=sub,
        reason=_reason(sub, en, zh),
        checks=tuple(checks),
        validation_time=at,
        signer=summary,
        trust_anchor=first.trust_anchor if first is not None else None,
        chain=first.chain if first is not None else (),
        signatures=tuple(_sub_report(s, at) for s in sigs),
    )


def _sub_report(s: _Sig, at: datetime) -> ValidationReport:
    """One signature's own report (its checks, signer, path), for per-signature trust decisions."""
    en = s.detail_en or "all checks of this signature passed"
    zh = s.detail_zh or "该签名的全部检查通过"
    return ValidationReport(
        artefact="ofd",
        indication=s.indication,
        sub_indication=s.sub,
        reason=_reason(s.sub, f"Signature {s.entry.id}: {en}", f"签名 {s.entry.id}：{zh}"),
        checks=tuple(s.checks),
        validation_time=at,
        signer=_summary(s),
        trust_anchor=s.crypto.trust_anchor if s.crypto is not None else None,
        chain=s.crypto.chain if s.crypto is not None else (),
    )


_OWN_REASONS = {
    SubIndication.SIGNED_DATA_NOT_FOUND: ("Ask the issuer for the signed copy of this document.",
                                          "请向签发方索取已签名的文件。"),
    SubIndication.NO_SIGNING_CERTIFICATE_FOUND: ("Supply the signer's certificate (plain signatures carry none).",
                                                 "请提供签名者证书（纯数字签名不携带证书）。"),
}


def _reason(sub: SubIndication | None, en: str, zh: str) -> Reason:
    if sub in _OWN_REASONS:
        hen, hzh = _OWN_REASONS[sub]
        return Reason(en=en, zh=zh, hint_en=hen, hint_zh=hzh)
    return reason_for(sub, detail_en=en, detail_zh=zh)


def _verdict(sigs: list[_Sig], list_ok: bool, unprotected: list[str], integ: Any,
             unlisted: list[str]) -> tuple[Indication, SubIndication | None, str, str]:
    if not list_ok:
        return (Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE, "Signatures.xml is missing or malformed.",
                "Signatures.xml 缺失或格式错误。")
    for s in sigs:
        if s.indication is Indication.TOTAL_FAILED:
            return s.indication, s.sub, f"Signature {s.entry.id}: {s.detail_en}", f"签名 {s.entry.id}：{s.detail_zh}"
    if unprotected:
        return (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE,
                f"File(s) not covered by any signature (added after signing?): {', '.join(unprotected)}.",
                f"存在未受签名保护的文件（可能为签名后添加）：{'、'.join(unprotected)}。")
    if integ is not None and integ.indication is Indication.TOTAL_FAILED:
        return integ.indication, integ.sub, integ.detail_en, integ.detail_zh
    if integ is not None and unlisted:
        return (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE,
                f"File(s) not listed in OFDEntries.xml (smuggled): {', '.join(unlisted)}.",
                f"存在未列入完整性保护清单的文件（夹带）：{'、'.join(unlisted)}。")
    for s in sigs:
        if s.indication is Indication.INDETERMINATE:
            return s.indication, s.sub, f"Signature {s.entry.id}: {s.detail_en}", f"签名 {s.entry.id}：{s.detail_zh}"
    if integ is not None and integ.indication is Indication.INDETERMINATE:
        return integ.indication, integ.sub, integ.detail_en, integ.detail_zh
    if not sigs:
        if integ is not None:
            return (Indication.INDETERMINATE, SubIndication.SIGNED_DATA_NOT_FOUND,
                    "Only integrity protection (a signed list of file names) is present; no signature covers the "
                    "contents of the files.", "仅有完整性保护（签名的文件清单），没有覆盖文件内容的签名。")
        return Indication.INDETERMINATE, SubIndication.SIGNED_DATA_NOT_FOUND, _EN_NOT_SIGNED, _ZH_NOT_SIGNED
    return Indication.TOTAL_PASSED, None, "", ""

