"""Verify GB/T 38540 electronic seals and seal signatures, every step, in the standard's order.

Seal signature (:func:`verify_ses_signature`, GB/T 38540-2020 §7.3):

  1. Format: the bytes parse as a v1/v4/v5 ``SES_Signature`` with its embedded seal.
  2. Signature value: SM3withSM2 over ``DER(TBS_Sign)`` with the signer certificate.
  3. The signer certificate is in the seal's certificate list.
  4. The seal: the maker's signature over ``SES_SealInfo`` and the maker's certificate (validity
     and key usage at the seal's ``createDate``, path to a trust anchor); v5 seal timestamp.
  5. The seal's validity window ``validStart..validEnd`` contains the signing time, and the seal
     register (when given) lists the seal at that time.
  6. The signer certificate at the signing time: validity, key usage, path to a trust anchor.
  7. Timestamp, if present: an RFC 3161 token whose messageImprint covers the signature value,
     not earlier than ``timeInfo``, from a trusted TSA (:mod:`verifier.tsp`).
  8. Data hash: ``dataHash`` equals SM3 of the original given by the caller.

Seal alone (:func:`verify_seal`, §6.3): 1 format, 2 maker signature, 3 maker certificate,
4 validity window at ``at``, 5 register status, 6 v5 timestamp.

Every step runs (after a readable format) and is listed in the report. The verdict is the
first definite failure in step order (TOTAL_FAILED with its sub-indication); otherwise the first
step that could not be decided (INDETERMINATE) -- e.g. without trust anchors the signatures are
still checked but the result is INDETERMINATE / NO_CERTIFICATE_CHAIN_FOUND; only when every step
passed is it TOTAL_PASSED. Input that is not a seal or seal signature at all raises
:class:`~keys.errors.BadInputError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from esign.formats.ses import (
    Seal,
    SesFormatError,
    SesSignature,
    detect_ses_kind,
    parse_timestamp_imprint,
    parse_unverified_seal,
    parse_unverified_ses_signature,
    signer_in_seal,
)
from keys.algorithms import SignatureAlgorithm, by_oid
from keys.errors import BadInputError, EsignError
from keys.hashing import sm3
from keys.x509 import Certificate, Crl, parse_certificate
from verifier._revocation import RevocationData
from verifier.pki import PathPolicy, TrustStore, validate_path
from verifier.report import (
    ChainElement,
    Check,
    CheckStatus,
    Indication,
    Reason,
    SubIndication,
    ValidationReport,
    reason_for,
)
from verifier.tsp import verify_timestamp_token

__all__ = ["CLOCK_SKEW", "SealStatusSource", "verify_seal", "verify_ses", "verify_ses_signature"]

#: Default tolerance between a timestamp's genTime and the claimed signing time, for a signing time
#: slightly after the validation time, and for a certificate or seal that becomes valid slightly after
#: the time it is relied on (not-yet-valid checks only; expiry has no tolerance). A validation
#: policy layer's ``clock_skew_seconds`` replaces it (``clock_skew=`` of the entry points).
CLOCK_SKEW = timedelta(minutes=5)
_SIGNING_KU = frozenset({"digital_signature", "non_repudiation"})

#: ``seal_status``: an object with ``status_at(seal_id, at)`` (an ``esign.ports.SealRegister``)
#: or a callable ``(seal_id, at) -> "listed" | "suspended" | "revoked" | None``.
SealStatusSource = Any


@dataclass
class _Run:
    """Checks collected in order, each with the verdict it implies when not passed."""

    checks: list[Check] = field(default_factory=list)
    verdicts: list[tuple[Indication, SubIndication, str, str]] = field(default_factory=list)
    chain: tuple[ChainElement, ...] = ()
    anchor: str | None = None

    def ok(self, name: str, en: str, zh: str) -> None:
        self.checks.append(Check(name, CheckStatus.PASSED, en, zh))

    def fail(self, name: str, sub: SubIndication, en: str, zh: str) -> None:
        self.checks.append(Check(name, CheckStatus.FAILED, en, zh))
        self.verdicts.append((Indication.TOTAL_FAILED, sub, en, zh))

    def unsure(self, name: str, sub: SubIndication, en: str, zh: str) -> None:
        self.checks.append(Check(name, CheckStatus.INDETERMINATE, en, zh))
        self.verdicts.append((Indication.INDETERMINATE, sub, en, zh))

    def report(self, artefact: str, at: datetime, signer: dict[str, Any]) -> ValidationReport:
        failed = [v for v in self.verdicts if v[0] is Indication.TOTAL_FAILED]
        pick = failed[0] if failed else (self.verdicts[0] if self.verdicts else None)
        if pick is None:
            return ValidationReport(artefact=artefact, indication=Indication.TOTAL_PASSED, sub_indication=None,
                                    reason=reason_for(None), checks=tuple(self.checks), validation_time=at,
                                    signer=signer, trust_anchor=self.anchor, chain=self.chain)
        ind, sub, en, zh = pick
        return ValidationReport(artefact=artefact, indication=ind, sub_indication=sub,
                                reason=_reason(sub, en, zh), checks=tuple(self.checks), validation_time=at,
                                signer=signer, trust_anchor=self.anchor, chain=self.chain)


_EXTRA_REASONS = {
    SubIndication.SIGNED_DATA_NOT_FOUND: Reason(
        "The signed original was not supplied, so the data hash could not be checked.",
        "未提供签章原文，无法核对原文杂凑值。",
        "Pass the original document (or its SM3 hash) to the verifier.", "请向验证方提供原文或其 SM3 杂凑值。"),
    SubIndication.SIG_CONSTRAINTS_FAILURE: Reason(
        "The seal signature breaks a rule of GB/T 38540.", "电子签章不符合 GB/T 38540 的要求。",
        "Ask the signer for a new seal signature.", "请要求签章方重新签章。"),
    SubIndication.TIMESTAMP_ORDER_FAILURE: Reason(
        "The timestamp is earlier than the claimed signing time.", "时间戳早于声明的签章时间。",
        "Ask the signer for a new seal signature.", "请要求签章方重新签章。"),
    SubIndication.REVOKED_NO_POE: Reason(
        "The seal was revoked and nothing proves the signature was made before that.",
        "印章已注销，且无法证明签章发生在注销之前。",
        "Ask for a seal signature with a trusted timestamp.", "请获取带可信时间戳的电子签章。"),
}


def _reason(sub: SubIndication, en: str, zh: str) -> Reason:
    base = _EXTRA_REASONS.get(sub)
    if base is None:
        return reason_for(sub, detail_en=en, detail_zh=zh)
    return Reason(en=f"{base.en} {en}", zh=f"{base.zh}{zh}", hint_en=base.hint_en, hint_zh=base.hint_zh)


# --- shared step helpers -----------------------------------------------------------------------


def _sm2_alg(oid: str) -> SignatureAlgorithm | None:
    try:
        alg = by_oid(oid)
    except EsignError:
        return None
    return alg if alg is SignatureAlgorithm.SM2_SM3 else None


def _verify_sig(cert: Certificate, oid: str, sig: bytes, tbs: bytes) -> str | None:
    """``None`` when the SM2 signature holds, else why not."""
    alg = _sm2_alg(oid)
    if alg is None:
        return f"algorithm {oid} is not SM3withSM2"
    try:
        cert.public_key().verify(sig, tbs, algorithm=alg)
    except EsignError as exc:
        return exc.message
    return None


def _cert_window(run: _Run, name: str, cert: Certificate, t: datetime, who_en: str, who_zh: str,
                 skew: timedelta) -> datetime | None:
    """Validity and key usage at ``t``; the time to validate the path at (``None``: stop).

    A ``t`` up to ``skew`` before notBefore counts as notBefore (the signer's clock ran early).
    """
    if t < cert.not_before - skew:
        run.fail(name, SubIndication.NOT_YET_VALID,
                 f"the {who_en} certificate was not yet valid at {t:%Y-%m-%d %H:%M:%S}Z "
                 f"(valid {cert.not_before:%Y-%m-%d}..{cert.not_after:%Y-%m-%d})",
                 f"{who_zh}证书在 {t:%Y-%m-%d %H:%M:%S} 尚未生效")
        return None
    if t > cert.not_after:
        run.fail(name, SubIndication.EXPIRED,
                 f"the {who_en} certificate had expired at {t:%Y-%m-%d %H:%M:%S}Z "
                 f"(valid {cert.not_before:%Y-%m-%d}..{cert.not_after:%Y-%m-%d})",
                 f"{who_zh}证书在 {t:%Y-%m-%d %H:%M:%S} 已过期")
        return None
    ku = cert.key_usage
    if ku is not None and not (ku & _SIGNING_KU):
        run.fail(name, SubIndication.CHAIN_CONSTRAINTS_FAILURE, f"the {who_en} certificate may not sign (keyUsage)",
                 f"{who_zh}证书的密钥用途不允许签名")
        return None
    if t < cert.not_before:
        run.ok(name, f"the {who_en} certificate became valid at {cert.not_before:%Y-%m-%d %H:%M:%S}Z, "
               f"{int((cert.not_before - t).total_seconds())} s after {t:%Y-%m-%d %H:%M:%S}Z: within the "
               f"{int(skew.total_seconds())} s clock skew allowed; it may sign",
               f"{who_zh}证书生效时间晚于 {t:%Y-%m-%d %H:%M:%S}，但在允许的时钟偏差内，且可用于签名")
        return cert.not_before
    run.ok(name, f"the {who_en} certificate was valid at {t:%Y-%m-%d %H:%M:%S}Z and may sign",
           f"{who_zh}证书在 {t:%Y-%m-%d %H:%M:%S} 有效且可用于签名")
    return t


def _path(run: _Run, name: str, cert: Certificate, t: datetime, ctx: _Ctx, who_en: str, who_zh: str,
          *, keep_chain: bool) -> None:
    if ctx.trust is None or not ctx.trust.anchors:
        run.unsure(name, SubIndication.NO_CERTIFICATE_CHAIN_FOUND,
                   f"no trust anchors were given, so the {who_en} certificate's path was not validated",
                   f"未提供信任锚，未验证{who_zh}证书路径")
        return
    rep = validate_path(cert, trust=ctx.trust, at=t, intermediates=ctx.intermediates, crls=ctx.crls,
                        policy=ctx.policy, artefact="ses")
    later_crls = False
    if not rep.passed and rep.sub_indication is SubIndication.REVOCATION_OUT_OF_BOUNDS_NO_POE and t < ctx.at:
        rep, later_crls = _path_with_later_crls(cert, t, ctx, rep), True
    if keep_chain:
        run.chain, run.anchor = rep.chain, rep.trust_anchor
    if rep.passed:
        note = (" (revocation status at that time from CRLs issued later, the certificate not revoked since)"
                if later_crls else "")
        run.ok(name, f"the {who_en} certificate chains to trust anchor {rep.trust_anchor}{note}",
               f"{who_zh}证书路径验证通过")
        return
    sub = rep.sub_indication or SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE
    en, zh = f"{who_en} certificate path: {rep.reason.en}", f"{who_zh}证书路径：{rep.reason.zh}"
    if rep.indication is Indication.TOTAL_FAILED:
        run.fail(name, sub, en, zh)
    else:
        run.unsure(name, sub, en, zh)


def _path_with_later_crls(cert: Certificate, t: datetime, ctx: _Ctx, first: ValidationReport) -> ValidationReport:
    """The path at the earlier time ``t`` when the only CRLs at hand were issued after it.

    A CA's current CRL is usually newer than a signature, and a verifier holds only that one. A
    CRL issued after ``t`` that does not list a certificate says it was not revoked at ``t``
    (:func:`verifier._revocation.tells_status_at`, up to the certificate's expiry). The claimed
    signing time is the signer's word, though: a signer whose certificate has been revoked since
    could date a signature before the revocation. So this holds only when the path also
    validates at the validation time (nothing in it revoked, nothing expired, now). Otherwise the
    first answer stands.
    """
    past = validate_path(cert, trust=ctx.trust, at=t, intermediates=ctx.intermediates,  # type: ignore[arg-type]
                         crls=RevocationData.for_past(ctx.crls), policy=ctx.policy, artefact="ses")
    if not past.passed:
        return first
    now = validate_path(cert, trust=ctx.trust, at=ctx.at, intermediates=ctx.intermediates,  # type: ignore[arg-type]
                        crls=ctx.crls, policy=ctx.policy, artefact="ses")
    return past if now.passed else first


@dataclass(frozen=True)
class _Ctx:
    trust: TrustStore | None
    intermediates: Sequence[Certificate]
    crls: Sequence[Crl]
    policy: PathPolicy | None
    at: datetime
    skew: timedelta = CLOCK_SKEW


def _hash_fn(name: str | None) -> Callable[[bytes], bytes] | None:
    if name == "sm3":
        return sm3
    if name in ("sha256", "sha384", "sha512"):
        return lambda b: hashlib.new(name, b).digest()
    return None


def _timestamp(run: _Run, name: str, token: bytes, covered: bytes, not_before: datetime | None,
               ctx: _Ctx) -> datetime | None:
    """Check a timestamp token over ``covered``; its genTime when the imprint holds."""
    try:
        imp = parse_timestamp_imprint(token)
    except SesFormatError as exc:
        run.fail(name, SubIndication.FORMAT_FAILURE, f"the timestamp is not an RFC 3161 token: {exc.message}",
                 "时间戳不是有效的 RFC 3161 时间戳")
        return None
    fn = _hash_fn(imp.hash_name)
    if fn is None:
        run.unsure(name, SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
                   f"timestamp imprint algorithm {imp.hash_oid} is not supported", "时间戳杂凑算法不受支持")
        return None
    if fn(covered) != imp.hashed_message:
        run.fail(name, SubIndication.HASH_FAILURE, "the timestamp's messageImprint does not cover the signature value",
                 "时间戳的消息摘要与签名值不符")
        return None
    if not_before is not None and imp.gen_time + ctx.skew < not_before:
        run.fail(name, SubIndication.TIMESTAMP_ORDER_FAILURE,
                 f"the timestamp ({imp.gen_time:%Y-%m-%d %H:%M:%S}Z) is earlier than the signing time",
                 "时间戳时间早于签章时间")
        return None
    run.ok(name, f"the timestamp covers the signature value; genTime {imp.gen_time:%Y-%m-%d %H:%M:%S}Z",
           "时间戳覆盖签名值")
    # The TSA's own signature and certificate.
    trust_name = f"{name}.tsa"
    try:
        res = verify_timestamp_token(token, data=covered, trust=ctx.trust or TrustStore(anchors=()), at=ctx.at,
                                         crls=ctx.crls)
        rep = getattr(res, "report", res)
    except EsignError as exc:
        run.fail(trust_name, SubIndication.SIG_CRYPTO_FAILURE, f"timestamp token: {exc.message}",
                 f"时间戳验证失败：{exc.message_zh}")
        return None
    except Exception as exc:
        run.unsure(trust_name, SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE,
                   f"the TSA signature could not be checked ({type(exc).__name__})", "无法验证时间戳机构签名")
        return imp.gen_time
    indication = getattr(rep, "indication", None)
    if indication is Indication.TOTAL_PASSED:
        run.ok(trust_name, "the TSA signature and certificate are valid", "时间戳机构签名与证书有效")
        return imp.gen_time
    sub = getattr(rep, "sub_indication", None) or SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE
    reason = getattr(rep, "reason", None)
    en = f"timestamp: {getattr(reason, 'en', 'not valid')}"
    zh = f"时间戳：{getattr(reason, 'zh', '无效')}"
    if indication is Indication.TOTAL_FAILED:
        run.fail(trust_name, sub, en, zh)
        return None
    run.unsure(trust_name, sub, en, zh)
    return imp.gen_time


def _status(source: SealStatusSource, seal_id: str, t: datetime) -> str | None:
    if hasattr(source, "status_at"):
        value = source.status_at(seal_id, t)
    else:
        value = source(seal_id, t)
    return None if value is None else str(getattr(value, "value", value))


def _check_seal(run: _Run, seal: Seal, ctx: _Ctx, prefix: str, *, relied_at: datetime | None = None) -> None:
    """Maker signature, maker certificate and the v5 seal timestamp.

    The maker certificate is checked at ``relied_at`` when the seal is used in a signature
    (the signing time: the moment a relying party depends on the seal), else at the seal's
    createDate. Real seals exist whose createDate precedes the maker certificate by days (the
    Jiangsu tax seal in ``signedFile.ofd``: created 2019-10-11, maker certificate from
    2019-10-16) while every signature made with them falls inside it.
    """
    maker_time = relied_at or seal.created_at
    try:
        maker = parse_certificate(seal.maker_cert_der)
    except EsignError as exc:
        run.fail(f"{prefix}maker_signature", SubIndication.FORMAT_FAILURE,
                 f"the seal maker certificate cannot be read: {exc.message}", "制章者证书格式错误")
        return
    why = _verify_sig(maker, seal.signature_algorithm, seal.maker_signature, seal.tbs_der)
    if why is None:
        run.ok(f"{prefix}maker_signature", f"the seal maker's signature (v{seal.version} layout) verifies",
               "制章者签名验证通过")
    else:
        run.fail(f"{prefix}maker_signature", SubIndication.SIG_CRYPTO_FAILURE,
                 f"the seal maker's signature does not verify ({why})", "制章者签名验证失败，印章可能被篡改或伪造")
    when = _cert_window(run, f"{prefix}maker_certificate", maker, maker_time, "seal maker", "制章者", ctx.skew)
    if when is not None:
        _path(run, f"{prefix}maker_certificate_path", maker, when, ctx, "seal maker", "制章者", keep_chain=False)
    if seal.timestamp is not None:
        _timestamp(run, f"{prefix}seal_timestamp", seal.timestamp, seal.maker_signature, seal.created_at, ctx)


def _status_step(run: _Run, name: str, source: SealStatusSource, seal: Seal, t: datetime, now: datetime,
                 timestamped: bool) -> None:
    if source is None:
        return
    at_t, now_s = _status(source, seal.seal_id, t), _status(source, seal.seal_id, now)
    if at_t is None and now_s is None:
        run.unsure(name, SubIndication.TRY_LATER, f"seal {seal.seal_id} is not in the register",
                   "该印章不在印章登记库中")
    elif at_t == "revoked":
        run.fail(name, SubIndication.REVOKED, "the seal was revoked at the signing time", "签章时印章已注销")
    elif at_t == "suspended":
        run.fail(name, SubIndication.REVOKED, "the seal was suspended at the signing time", "签章时印章已挂起")
    elif now_s in ("revoked", "suspended") and not timestamped:
        run.unsure(name, SubIndication.REVOKED_NO_POE,
                   f"the seal is now {now_s}, and no timestamp proves the signing time",
                   "印章现已注销或挂起，且没有时间戳证明签章时间")
    else:
        run.ok(name, "the seal register listed the seal at the signing time", "签章时印章处于有效备案状态")


def _context(trust: TrustStore | None, at: datetime, intermediates: Sequence[Certificate], crls: Sequence[Crl],
             policy: PathPolicy | None, require_revocation: bool, skew: timedelta | None) -> _Ctx:
    if at.tzinfo is None:
        raise BadInputError("at must be timezone-aware", message_zh="验证时间必须带时区", field="at")
    if policy is None and require_revocation:
        policy = PathPolicy(require_revocation=True)
    if skew is not None and skew < timedelta(0):
        raise BadInputError("clock_skew must not be negative", message_zh="时钟偏差不能为负", field="clock_skew")
    return _Ctx(trust=trust, intermediates=tuple(intermediates), crls=tuple(crls), policy=policy, at=at,
                skew=CLOCK_SKEW if skew is None else skew)


def _seal_info(seal: Seal) -> dict[str, Any]:
    return {"seal_id": seal.seal_id, "seal_name": seal.name, "seal_type": seal.seal_type,
            "seal_version": seal.version, "seal_valid_from": seal.valid_from.isoformat(),
            "seal_valid_to": seal.valid_to.isoformat()}


# --- public entry points -----------------------------------------------------------------------


def verify_seal(
    der: bytes,
    *,
    trust: TrustStore | None,
    at: datetime,
    seal_status: SealStatusSource = None,
    intermediates: Sequence[Certificate] = (),
    crls: Sequence[Crl] = (),
    policy: PathPolicy | None = None,
    require_revocation: bool = False,
    clock_skew: timedelta | None = None,
) -> ValidationReport:
    """Verify a seal (``SESeal``) at time ``at``; always a report for a seal, never a bool.

    ``clock_skew`` (default :data:`CLOCK_SKEW`) is the tolerance of the not-yet-valid checks.

    Raises:
        BadInputError: the bytes are not a seal at all.
    """
    ctx = _context(trust, at, intermediates, crls, policy, require_revocation, clock_skew)
    if detect_ses_kind(der) != "seal":
        raise BadInputError("this is not a GB/T 38540 / GM/T 0031 seal", message_zh="不是电子印章数据", field="file")
    run = _Run()
    # Step 1: format.
    try:
        seal = parse_unverified_seal(der)
    except SesFormatError as exc:
        run.fail("format", SubIndication.FORMAT_FAILURE, exc.message, "电子印章格式错误")
        return run.report("seal", at, {})
    run.ok("format", f"SESeal v{seal.version} (header version {seal.header_version})",
           f"电子印章格式正确（v{seal.version}）")
    # Steps 2-3: maker signature and certificate; step 6 (v5 timestamp) runs inside.
    _check_seal(run, seal, ctx, "")
    # Step 4: validity window at the validation time.
    if at < seal.valid_from - ctx.skew:
        run.fail("seal_validity", SubIndication.NOT_YET_VALID,
                 f"the seal is valid only from {seal.valid_from:%Y-%m-%d}", "印章尚未生效")
    elif at > seal.valid_to:
        run.fail("seal_validity", SubIndication.EXPIRED, f"the seal expired on {seal.valid_to:%Y-%m-%d}", "印章已过期")
    else:
        run.ok("seal_validity", f"the seal is valid {seal.valid_from:%Y-%m-%d}..{seal.valid_to:%Y-%m-%d}",
               "印章在有效期内")
    # Step 5: register.
    _status_step(run, "seal_status", seal_status, seal, at, at, timestamped=False)
    signer = {**_seal_info(seal), "maker_sha256": hashlib.sha256(seal.maker_cert_der).hexdigest()}
    try:
        signer["maker_subject"] = parse_certificate(seal.maker_cert_der).subject_str
    except EsignError:
        pass
    return run.report("seal", at, signer)


def verify_ses_signature(
    der: bytes,
    *,
    data: bytes | None = None,
    data_hash: bytes | None = None,
    trust: TrustStore | None,
    at: datetime,
    seal_status: SealStatusSource = None,
    intermediates: Sequence[Certificate] = (),
    crls: Sequence[Crl] = (),
    policy: PathPolicy | None = None,
    require_revocation: bool = False,
    clock_skew: timedelta | None = None,
) -> ValidationReport:
    """Verify a seal signature (``SES_Signature``); every GB/T 38540 step, in order (module docstring).

    Args:
        der: the DER ``SES_Signature`` (``SignedValue.dat`` in OFD).
        data: the signed original (for OFD seals: the bytes of ``Signature.xml``).
        data_hash: instead of ``data``, its digest as the verifier computed it (SM3).
        trust: trust anchors for the maker, signer and TSA certificates (``None``: INDETERMINATE at best).
        at: validation time.
        seal_status: the seal register (``status_at``) or a callable; ``None`` skips the register.
        clock_skew: tolerance (default :data:`CLOCK_SKEW`) for a signing time after ``at``, a
            timestamp before the signing time, and a certificate or seal not yet valid at the
            signing time (a validation policy layer's ``clock_skew_seconds``).

    Raises:
        BadInputError: the bytes are not a seal signature at all.
    """
    ctx = _context(trust, at, intermediates, crls, policy, require_revocation, clock_skew)
    if detect_ses_kind(der) != "ses_signature":
        raise BadInputError("this is not a GB/T 38540 seal signature (SES_Signature)",
                            message_zh="不是电子签章数据", field="file")
    run = _Run()
    # Step 1: format.
    try:
        sig = parse_unverified_ses_signature(der)
    except SesFormatError as exc:
        run.fail("format", SubIndication.FORMAT_FAILURE, exc.message, "电子签章格式错误")
        return run.report("ses_signature", at, {})
    try:
        signer_cert = parse_certificate(sig.signer_cert_der)
    except EsignError as exc:
        run.fail("format", SubIndication.FORMAT_FAILURE, f"the signer certificate cannot be read: {exc.message}",
                 "签章人证书格式错误")
        return run.report("ses_signature", at, _seal_info(sig.seal))
    run.ok("format", f"SES_Signature v{sig.version} with a v{sig.seal.version} seal",
           f"电子签章格式正确（v{sig.version}）")
    _steps(run, sig, signer_cert, ctx, data, data_hash, seal_status)
    signer = {"subject": signer_cert.subject_str, "issuer": signer_cert.issuer_str,
              "serial": format(signer_cert.serial, "x"), "sha256": signer_cert.sha256,
              "not_before": signer_cert.not_before.isoformat(), "not_after": signer_cert.not_after.isoformat(),
              "signing_time": sig.signing_time.isoformat() if sig.signing_time else None,
              "property_info": sig.property_info, "data_hash": sig.data_hash.hex(), **_seal_info(sig.seal)}
    return run.report("ses_signature", at, signer)


def _steps(run: _Run, sig: SesSignature, signer_cert: Certificate, ctx: _Ctx, data: bytes | None,
           data_hash: bytes | None, seal_status: SealStatusSource) -> None:
    seal = sig.seal
    # Step 2: the signature value.
    why = _verify_sig(signer_cert, sig.signature_algorithm, sig.signature, sig.tbs_der)
    if why is None:
        run.ok("signature", "the SM2 signature over TBS_Sign verifies with the signer certificate",
               "签章签名值验证通过")
    else:
        run.fail("signature", SubIndication.SIG_CRYPTO_FAILURE, f"the signature over TBS_Sign does not verify ({why})",
                 "签章签名值验证失败")
    # Step 3: signer certificate in the seal's list.
    if signer_in_seal(seal, sig.signer_cert_der):
        run.ok("signer_in_seal", "the signer certificate is in the seal's certificate list",
               "签章人证书在印章证书列表中")
    else:
        run.fail("signer_in_seal", SubIndication.SIG_CONSTRAINTS_FAILURE,
                 "the signer certificate is not in the seal's certificate list", "签章人证书不在印章授权列表中")
    # Step 4: the seal (maker signature, maker certificate at the signing time, v5 seal timestamp).
    t = sig.signing_time
    _check_seal(run, seal, ctx, "seal.", relied_at=t)
    if t is None:
        run.unsure("signing_time", SubIndication.SIG_CONSTRAINTS_FAILURE, "timeInfo holds no readable signing time",
                   "签章时间无法解析")
    elif t > ctx.at + ctx.skew:
        run.fail("signing_time", SubIndication.SIG_CONSTRAINTS_FAILURE,
                 f"the signing time {t:%Y-%m-%d %H:%M:%S}Z is after the validation time "
                 f"{ctx.at:%Y-%m-%d %H:%M:%S}Z by more than the {int(ctx.skew.total_seconds())} s clock skew allowed",
                 "签章时间晚于验证时间（超出允许的时钟偏差）")
    # Step 5: seal validity window (and register) at the signing time.
    if t is not None:
        if not (seal.valid_from - ctx.skew <= t <= seal.valid_to):
            sub = SubIndication.NOT_YET_VALID if t < seal.valid_from else SubIndication.EXPIRED
            run.fail("seal_validity", sub,
                     f"signed at {t:%Y-%m-%d %H:%M:%S}Z, outside the seal's validity "
                     f"{seal.valid_from:%Y-%m-%d}..{seal.valid_to:%Y-%m-%d}", "签章时间不在印章有效期内")
        else:
            run.ok("seal_validity", "the signing time is within the seal's validity", "签章时间在印章有效期内")
        _status_step(run, "seal_status", seal_status, seal, t, ctx.at, timestamped=sig.timestamp is not None)
    # Step 6: signer certificate at the signing time.
    when = None if t is None else _cert_window(run, "signer_certificate", signer_cert, t, "signer", "签章人", ctx.skew)
    if when is not None:
        _path(run, "signer_certificate_path", signer_cert, when, ctx, "signer", "签章人", keep_chain=True)
    # Step 7: timestamp.
    if sig.timestamp is not None:
        _timestamp(run, "timestamp", sig.timestamp, sig.signature, t, ctx)
    # Step 8: data hash.
    if data is not None:
        got = sm3(data)
    elif data_hash is not None:
        got = bytes(data_hash)
    else:
        run.unsure("data_hash", SubIndication.SIGNED_DATA_NOT_FOUND, "the original was not supplied",
                   "未提供原文")
        return
    if got == sig.data_hash:
        run.ok("data_hash", "dataHash equals SM3 of the original", "原文杂凑值一致")
    else:
        run.fail("data_hash", SubIndication.HASH_FAILURE, "dataHash does not match the original given",
                 "原文杂凑值不一致，原文已被修改")


def verify_ses(
    data: bytes,
    *,
    trust: TrustStore,
    at: datetime,
    crls: Sequence[Crl] = (),
    require_revocation: bool = False,
    policy: PathPolicy | None = None,
    signed_data: bytes | None = None,
    seal_status: SealStatusSource = None,
    intermediates: Sequence[Certificate] = (),
    clock_skew: timedelta | None = None,
    **_: Any,
) -> ValidationReport:
    """Front-door handler: a seal (``.esl``) or a seal signature (``SignedValue.dat``), by shape.

    ``signed_data`` is the detached original of a seal signature (``--data`` in the CLI);
    ``intermediates`` are untrusted CA certificates that complete the maker's and signer's paths
    (a seal carries only end-entity certificates).
    """
    kind = detect_ses_kind(data)
    if kind == "seal":
        return verify_seal(data, trust=trust, at=at, crls=crls, require_revocation=require_revocation,
                           policy=policy, seal_status=seal_status, intermediates=intermediates, clock_skew=clock_skew)
    if kind == "ses_signature":
        return verify_ses_signature(data, data=signed_data, trust=trust, at=at, crls=crls,
                                    require_revocation=require_revocation, policy=policy, seal_status=seal_status,
                                    intermediates=intermediates, clock_skew=clock_skew)
    raise BadInputError("not a GB/T 38540 seal or seal signature", message_zh="不是电子印章或电子签章数据",
                        field="file")
