"""RFC 3161 time-stamp token verification (SM2, ECDSA, RSA, Ed25519 TSAs).

Procedure of :func:`verify_timestamp_token` (tagged ``# Step T<n>``):

  T1. Parse: a TimeStampToken (ContentInfo SignedData, eContentType id-ct-TSTInfo, content
      attached, one SignerInfo) or a granted TimeStampResp holding one; TSTInfo version 1.
  T2. SignerInfo checks S1-S4 (:mod:`verifier._cms_signer`); RFC 3161 §2.4.1 / RFC 5816 require an
      ESS signingCertificate(V2) attribute naming the TSA certificate.
  T3. Message imprint: the hash of ``data`` (or the ``digest`` given) equals hashedMessage.
  T4. TSA certificate: extendedKeyUsage is timeStamping only and critical (RFC 3161 §2.3); the
      TSTInfo ``tsa`` name, if given as a directoryName, is the certificate's subject; genTime lies
      within the certificate's validity.
  T5. Path of the TSA certificate to a trust anchor at ``at`` (EKU timeStamping required), with
      CRLs and OCSP responses when given.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from asn1crypto import cms, core, tsp

from esign.formats.cms_asn1 import (
    DIGESTS,
    PARSE_ERRORS,
    TST_INFO,
    TimeStampResp,
    digest,
    digest_name,
    econtent_bytes,
    load_signed_data,
)
from keys.errors import AlgorithmNotAllowedError, BadInputError, EsignError
from keys.x509 import Certificate, Crl
from verifier._cms_signer import Verdict, check_signer_info, embedded_certificates, verdict
from verifier.pki import PathPolicy, TrustStore, validate_path
from verifier.report import Check, CheckStatus, Indication, SubIndication, ValidationReport, reason_for

__all__ = ["EKU_TIME_STAMPING", "TimestampVerification", "token_from_response", "verify_timestamp_token"]

EKU_TIME_STAMPING = "1.3.6.1.5.5.7.3.8"
_EKU_EXT = "2.5.29.37"


@dataclass(frozen=True)
class TimestampVerification:
    """A verified (or not) time-stamp token: the report plus what the token says."""

    report: ValidationReport
    """The validation report (``artefact='timestamp'``)."""
    gen_time: datetime | None = None
    """TSTInfo genTime (only meaningful when the report passed)."""
    hash_name: str | None = None
    """Imprint hash algorithm."""
    imprint: bytes = b""
    """hashedMessage."""
    serial: int | None = None
    """TSTInfo serialNumber."""
    policy_oid: str | None = None
    """TSA policy."""
    nonce: int | None = None
    """Nonce echoed, if any."""
    tsa_subject: str | None = None
    """Subject of the TSA certificate."""
    accuracy_seconds: float | None = None
    """Stated accuracy, if any."""

    @property
    def passed(self) -> bool:
        """The token is valid and trusted."""
        return self.report.passed


def token_from_response(data: bytes) -> bytes:
    """The TimeStampToken of a TimeStampResp, or ``data`` itself if it is already a token.

    Raises:
        BadInputError: a rejection response, or neither a response nor a token.
    """
    try:
        resp = TimeStampResp.load(data, strict=True)
        status = resp["status"]["status"].native
    except PARSE_ERRORS:
        return data
    if status not in ("granted", "granted_with_mods"):
        texts = "; ".join(resp["status"]["status_string"].native or [])
        raise BadInputError(f"the response is a {status} without a token ({texts})", message_zh="时间戳响应未包含令牌")
    token = resp["time_stamp_token"]
    if isinstance(token, core.Void) or token.native is None:
        raise BadInputError("granted response without a token", message_zh="时间戳响应未包含令牌")
    return bytes(token.dump())


def _accuracy(acc: tsp.Accuracy) -> float | None:
    if isinstance(acc, core.Void) or acc.native is None:
        return None
    n = acc.native
    return (n.get("seconds") or 0) + (n.get("millis") or 0) / 1000 + (n.get("micros") or 0) / 1e6


def verify_timestamp_token(
    token_der: bytes,
    *,
    data: bytes | None = None,
    digest: bytes | None = None,
    trust: TrustStore,
    at: datetime,
    crls: Sequence[Crl] = (),
    ocsp: Sequence[bytes] = (),
    require_revocation: bool = False,
    policy: PathPolicy | None = None,
    extra_certs: Sequence[Certificate] = (),
) -> TimestampVerification:
    """Verify a time-stamp token over ``data`` (or its ``digest``) at ``at``.

    Raises:
        BadInputError: the bytes are not a time-stamp token or response at all.
    """
    policy = policy or PathPolicy()
    checks: list[Check] = []
    info: dict[str, object] = {}

    def done(v: Verdict | None, path: ValidationReport | None = None) -> TimestampVerification:
        if v is not None and not (checks and checks[-1].detail_en == v.en):
            checks.append(Check("timestamp", v.check_status, v.en, v.zh))
        rep = ValidationReport(
            artefact="timestamp",
            indication=Indication.TOTAL_PASSED if v is None else v.indication,
            sub_indication=None if v is None else v.sub,
            reason=reason_for(None) if v is None else v.reason(),
            checks=tuple(checks),
            validation_time=at,
            signer=path.signer if path is not None else {},
            trust_anchor=path.trust_anchor if path is not None else None,
            chain=path.chain if path is not None else (),
        )
        return TimestampVerification(report=rep, **info)  # type: ignore[arg-type]

    # Step T1: parse.
    loaded = load_signed_data(token_from_response(token_der))
    sd = loaded.signed_data
    try:
        encap = sd["encap_content_info"]
        if encap["content_type"].dotted != TST_INFO:
            raise BadInputError("SignedData does not hold a TSTInfo", message_zh="不是时间戳令牌", field="file")
        econtent = econtent_bytes(encap)
        if econtent is None:
            return done(verdict(Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE,
                                "the token has no TSTInfo content", "时间戳令牌缺少 TSTInfo"))
        content = econtent
        tst = tsp.TSTInfo.load(content, strict=True)
        _ = tst.native
        if tst["version"].native != "v1":
            raise ValueError("TSTInfo version is not 1")
        info.update(
            gen_time=tst["gen_time"].native,
            imprint=bytes(tst["message_imprint"]["hashed_message"].native),
            serial=tst["serial_number"].native,
            policy_oid=tst["policy"].dotted,
            nonce=tst["nonce"].native,
            accuracy_seconds=_accuracy(tst["accuracy"]),
        )
        signer_infos = list(sd["signer_infos"])
        certs = [*embedded_certificates(sd), *extra_certs]
    except BadInputError:
        raise
    except (EsignError, *PARSE_ERRORS) as exc:
        return done(verdict(Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE,
                            f"malformed time-stamp token: {exc}", "时间戳令牌格式错误"))
    try:
        hname = digest_name(tst["message_imprint"]["hash_algorithm"])
        info["hash_name"] = hname
    except AlgorithmNotAllowedError as exc:
        return done(verdict(Indication.INDETERMINATE, SubIndication.CRYPTO_CONSTRAINTS_FAILURE, exc.message,
                            exc.message_zh))
    if len(signer_infos) != 1:
        return done(verdict(Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE,
                            f"a time-stamp token has exactly one SignerInfo, not {len(signer_infos)}",
                            "时间戳令牌必须只有一个签名者"))
    checks.append(Check("format", CheckStatus.PASSED, f"TSTInfo serial {info['serial']}, genTime "
                        f"{info['gen_time']}", f"时间戳序列号 {info['serial']}"))
    # Step T2: SignerInfo.
    outcome = check_signer_info(signer_infos[0], content=content, econtent_type=TST_INFO, certs=certs,
                                policy=policy.algorithms, name="tsa")
    checks.extend(outcome.checks)
    if outcome.failure is not None:
        return done(outcome.failure)
    tsa_cert = outcome.signer_cert
    assert tsa_cert is not None
    info["tsa_subject"] = tsa_cert.subject_str
    if not outcome.ess_present:
        return done(verdict(Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE,
                            "RFC 3161 requires an ESS signingCertificate(V2) signed attribute",
                            "时间戳令牌缺少 ESS signingCertificate 签名属性"))
    # Step T3: imprint.
    if data is None and digest is None:
        return done(verdict(Indication.INDETERMINATE, SubIndication.SIGNED_DATA_NOT_FOUND,
                            "no data or digest given: the message imprint was not checked",
                            "未提供原文或摘要，未核对时间戳消息摘要"))
    want = digest if digest is not None else _hash(hname, data)
    if want is None or len(want) != DIGESTS[hname].size or not hmac.compare_digest(want, info["imprint"]):  # type: ignore[arg-type]
        return done(verdict(Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE,
                            "the time-stamp covers different data (message imprint mismatch)",
                            "时间戳消息摘要与数据不一致"))
    checks.append(Check("imprint", CheckStatus.PASSED, f"{hname} imprint matches", "消息摘要一致"))
    # Step T4: TSA certificate constraints.
    if tsa_cert.extended_key_usage != frozenset({EKU_TIME_STAMPING}) or not tsa_cert.extension_oids.get(_EKU_EXT):
        return done(verdict(Indication.TOTAL_FAILED, SubIndication.CHAIN_CONSTRAINTS_FAILURE,
                            "the TSA certificate's extendedKeyUsage must be timeStamping only and critical",
                            "TSA 证书的扩展密钥用途必须为关键且仅含 timeStamping"))
    tsa_name = tst["tsa"]
    if not isinstance(tsa_name, core.Void) and tsa_name.name == "directory_name" and not (
        tsa_name.chosen == tsa_cert.subject
    ):
        return done(verdict(Indication.TOTAL_FAILED, SubIndication.SIG_CONSTRAINTS_FAILURE,
                            "the TSTInfo tsa name is not the TSA certificate's subject",
                            "TSTInfo 中的 TSA 名称与证书主体不一致"))
    gen = info["gen_time"]
    assert isinstance(gen, datetime)
    if not (tsa_cert.not_before <= gen <= tsa_cert.not_after):
        return done(verdict(Indication.TOTAL_FAILED, SubIndication.EXPIRED,
                            "genTime lies outside the TSA certificate's validity", "时间戳时间不在 TSA 证书有效期内"))
    checks.append(Check("tsa_certificate", CheckStatus.PASSED, "critical EKU timeStamping; genTime within validity",
                        "扩展密钥用途为 timeStamping；时间在证书有效期内"))
    # Step T5: path.
    path = validate_path(tsa_cert, trust=trust, at=at, intermediates=certs, crls=crls, ocsp_responses=ocsp,
                         policy=replace(policy, required_eku=EKU_TIME_STAMPING,
                                        require_revocation=require_revocation or policy.require_revocation),
                         artefact="timestamp")
    checks.extend(Check(f"tsa_path.{c.name}", c.status, c.detail_en, c.detail_zh) for c in path.checks)
    if not path.passed:
        assert path.sub_indication is not None
        last = path.checks[-1]
        return done(verdict(path.indication, path.sub_indication, f"TSA certificate: {last.detail_en}",
                            f"TSA 证书：{last.detail_zh}"), path)
    return done(None, path)


def _hash(hname: str, data: bytes | None) -> bytes | None:
    return None if data is None else digest(hname, data)


def tst_info_of(token: cms.ContentInfo) -> tsp.TSTInfo:
    """The TSTInfo of a parsed token (no checks)."""
    return tsp.TSTInfo.load(bytes(token["content"]["encap_content_info"]["content"].contents))
