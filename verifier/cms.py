"""CMS / PKCS#7 / GM/T 0010 SignedData verification (``.p7s``, ``.p7m``, CFCA and GmSSL output).

Procedure of :func:`verify_cms` (tagged ``# Step C<n>``):

  C1. Parse DER or PEM ContentInfo with content type signedData, PKCS#7 (1.2.840.113549.1.7.2) or
      GM/T 0010 (1.2.156.10197.6.1.4.2.2). Not CMS at all -> BadInputError; a broken SignedData
      -> TOTAL_FAILED / FORMAT_FAILURE. A time-stamp token (eContentType TSTInfo) is handed to
      :func:`verifier.tsp.verify_timestamp_token` instead.
  C2. The content: attached eContent, or ``detached_content``; both given must be equal
      (HASH_FAILURE otherwise); neither -> INDETERMINATE / SIGNED_DATA_NOT_FOUND.
  C3. For each SignerInfo (at most :data:`MAX_SIGNERS`): steps S1-S4 of
      :mod:`verifier._cms_signer` (signer certificate by issuerAndSerial or SKI; algorithms,
      SM2 with SM3 under the PKCS#7, GM/T 0006 1.2.156.10197.1.301.1 or 1.501 OIDs; signed
      attributes with messageDigest, or none and the signature directly over the content;
      signature value).
  C4. The signer certificate's keyUsage, if present, allows digitalSignature or nonRepudiation.
  C5. An unsigned signatureTimeStampToken, if present, must verify over the signature value
      (:mod:`verifier.tsp`); its genTime is then the proof of existence.
  C6. Path validation of the signer certificate (:func:`verifier.pki.validate_path`, CRLs and
      OCSP) at the time-stamp's genTime when one verified, else at ``at``. The signingTime
      attribute is reported but, being the signer's own claim, never used as the validation time.
  C7. The worst signer verdict is the verdict.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from asn1crypto import cms, core

from esign.formats.cms_asn1 import (
    ATTR_SIGNATURE_TIMESTAMP,
    PARSE_ERRORS,
    TST_INFO,
    econtent_bytes,
    load_signed_data,
)
from keys.errors import BadInputError, EsignError
from keys.x509 import Certificate, Crl
from verifier._cms_signer import Verdict, check_signer_info, embedded_certificates, verdict
from verifier.pki import PathPolicy, TrustStore, validate_path
from verifier.report import Check, CheckStatus, Indication, SubIndication, ValidationReport, reason_for
from verifier.tsp import verify_timestamp_token

__all__ = ["MAX_SIGNERS", "is_cms_signature", "verify_cms"]

#: Most SignerInfos checked in one SignedData.
MAX_SIGNERS = 8
_SEVERITY = {Indication.TOTAL_PASSED: 0, Indication.INDETERMINATE: 1, Indication.TOTAL_FAILED: 2}


def _report(
    checks: Sequence[Check],
    v: Verdict | None,
    at: datetime,
    *,
    signer: Mapping[str, Any] | None = None,
    path: ValidationReport | None = None,
) -> ValidationReport:
    return ValidationReport(
        artefact="cms",
        indication=Indication.TOTAL_PASSED if v is None else v.indication,
        sub_indication=None if v is None else v.sub,
        reason=reason_for(None) if v is None else v.reason(),
        checks=tuple(checks),
        validation_time=at,
        signer=dict(signer or {}),
        trust_anchor=None if path is None else path.trust_anchor,
        chain=() if path is None else path.chain,
    )


def is_cms_signature(data: bytes) -> bool:
    """Detection rule for the front door: a (DER or PEM) SignedData with at least one SignerInfo.

    Certificates-only PKCS#7 bundles are not signatures (False: treat them as certificates). A
    damaged SignedData is still a CMS signature (True: its verification reports FORMAT_FAILURE).
    """
    try:
        return len(load_signed_data(data).signed_data["signer_infos"]) > 0
    except BadInputError:
        return False
    except PARSE_ERRORS:
        return True


def verify_cms(
    data: bytes,
    *,
    detached_content: bytes | None = None,
    trust: TrustStore,
    at: datetime,
    crls: Sequence[Crl] = (),
    ocsp: Sequence[bytes] = (),
    require_revocation: bool = False,
    policy: PathPolicy | None = None,
    extra_certs: Sequence[Certificate] = (),
    **_front_door: Any,
) -> ValidationReport:
    """Verify a CMS SignedData (DER or PEM) and return its report.

    Args:
        data: the ``.p7s``/``.p7m`` bytes.
        detached_content: the signed file, for a detached signature.
        trust: trust anchors.
        at: validation time (used unless a signature time-stamp proves an earlier time of existence).
        crls: CRLs for the signer's and the TSA's paths.
        ocsp: DER OCSP responses for the same.
        require_revocation: fail closed (INDETERMINATE) without covering revocation data.
        policy: path-validation policy.
        extra_certs: certificates to use besides the embedded ones (e.g. a missing intermediate).

    Raises:
        BadInputError: not CMS SignedData at all, or a certificates-only bundle with no signer.
    """
    policy = policy or PathPolicy()
    policy = replace(policy, require_revocation=require_revocation or policy.require_revocation)
    # Step C1: parse.
    try:
        loaded = load_signed_data(data)
        sd = loaded.signed_data
        econtent_type = sd["encap_content_info"]["content_type"].dotted
        attached = econtent_bytes(sd["encap_content_info"])
        signer_infos = list(sd["signer_infos"])
        certs = [*embedded_certificates(sd), *extra_certs]
    except BadInputError:
        raise
    except (EsignError, *PARSE_ERRORS) as exc:
        v = verdict(Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE, f"malformed SignedData: {exc}",
                    "CMS SignedData 格式错误")
        return _report([Check("format", CheckStatus.FAILED, v.en, v.zh)], v, at)
    if econtent_type == TST_INFO:
        return verify_timestamp_token(loaded.der, data=detached_content, trust=trust, at=at, crls=crls, ocsp=ocsp,
                                      require_revocation=require_revocation, policy=policy,
                                      extra_certs=extra_certs).report
    if not signer_infos:
        raise BadInputError("this PKCS#7 holds certificates only and no signature; verify it as a certificate bundle",
                            message_zh="该 PKCS#7 只含证书、没有签名，请按证书链验证", field="file")
    checks: list[Check] = [Check("format", CheckStatus.PASSED,
                                 f"SignedData ({'GM/T 0010' if loaded.outer_type.startswith('1.2.156') else 'PKCS#7'}"
                                 f" OIDs), {len(signer_infos)} signer(s), {len(certs)} certificate(s)",
                                 f"SignedData，{len(signer_infos)} 个签名者")]
    if len(signer_infos) > MAX_SIGNERS:
        v = verdict(Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE,
                    f"more than {MAX_SIGNERS} signers", f"签名者超过 {MAX_SIGNERS} 个")
        return _report([*checks, Check("format", CheckStatus.FAILED, v.en, v.zh)], v, at)
    # Step C2: content.
    if attached is not None and detached_content is not None and not hmac.compare_digest(attached, detached_content):
        v = verdict(Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE,
                    "the data given differs from the content embedded in the signature", "所给原文与签名内嵌内容不一致")
        return _report([*checks, Check("content", CheckStatus.FAILED, v.en, v.zh)], v, at)
    content = attached if attached is not None else detached_content
    if content is None:
        v = verdict(Indication.INDETERMINATE, SubIndication.SIGNED_DATA_NOT_FOUND,
                    "detached signature: give the signed file to check it", "分离式签名：请提供原文文件")
        return _report([*checks, Check("content", CheckStatus.INDETERMINATE, v.en, v.zh)], v, at)
    checks.append(Check("content", CheckStatus.PASSED, "attached" if attached is not None else "detached (given)",
                        "内嵌原文" if attached is not None else "分离式原文（已提供）"))
    worst: tuple[Verdict | None, Mapping[str, Any], ValidationReport | None] | None = None
    for i, si in enumerate(signer_infos):
        v, signer, path = _one_signer(si, i, content=content, econtent_type=econtent_type, certs=certs, trust=trust,
                                      at=at, crls=crls, ocsp=ocsp, policy=policy, checks=checks)
        # Step C7: the worst verdict wins (the first signer's details on a tie).
        sev = 0 if v is None else _SEVERITY[v.indication]
        if worst is None or sev > (0 if worst[0] is None else _SEVERITY[worst[0].indication]):
            worst = (v, signer, path)
    assert worst is not None
    return _report(checks, worst[0], at, signer=worst[1], path=worst[2])


def _one_signer(
    si: cms.SignerInfo,
    i: int,
    *,
    content: bytes,
    econtent_type: str,
    certs: Sequence[Certificate],
    trust: TrustStore,
    at: datetime,
    crls: Sequence[Crl],
    ocsp: Sequence[bytes],
    policy: PathPolicy,
    checks: list[Check],
) -> tuple[Verdict | None, dict[str, Any], ValidationReport | None]:
    name = f"signer[{i}]"
    # Step C3: SignerInfo.
    out = check_signer_info(si, content=content, econtent_type=econtent_type, certs=certs, policy=policy.algorithms,
                            name=name)
    checks.extend(out.checks)
    signer: dict[str, Any] = {}
    if out.signer_cert is not None:
        c = out.signer_cert
        signer = {"subject": c.subject_str, "issuer": c.issuer_str, "serial": format(c.serial, "x"),
                  "sha256": c.sha256}
    if out.algorithm is not None:
        signer["algorithm"] = out.algorithm.algo_name
    if out.signing_time is not None:
        signer["signing_time"] = out.signing_time.isoformat()
    if out.failure is not None:
        return out.failure, signer, None
    cert = out.signer_cert
    assert cert is not None
    # Step C4: key usage.
    ku = cert.key_usage
    if ku is not None and not ku & {"digital_signature", "non_repudiation"}:
        v = verdict(Indication.TOTAL_FAILED, SubIndication.CHAIN_CONSTRAINTS_FAILURE,
                    "the signer certificate's keyUsage allows neither digitalSignature nor nonRepudiation",
                    "签名者证书的密钥用途不允许数字签名")
        checks.append(Check(f"{name}.key_usage", CheckStatus.FAILED, v.en, v.zh))
        return v, signer, None
    # Step C5: signature time-stamp.
    when = at
    tokens: list[bytes] = []
    unsigned = si["unsigned_attrs"]
    if not isinstance(unsigned, core.Void):
        for a in unsigned:
            if a["type"].dotted == ATTR_SIGNATURE_TIMESTAMP:
                tokens.extend(bytes(t.dump()) for t in a["values"])
    if tokens:
        try:
            tv = verify_timestamp_token(tokens[0], data=out.signature, trust=trust, at=at, crls=crls, ocsp=ocsp,
                                        require_revocation=policy.require_revocation, policy=policy, extra_certs=certs)
        except BadInputError as exc:
            v = verdict(Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE,
                        f"the signature time-stamp is malformed: {exc.message}", "签名时间戳格式错误")
            checks.append(Check(f"{name}.timestamp", CheckStatus.FAILED, v.en, v.zh))
            return v, signer, None
        checks.extend(Check(f"{name}.timestamp.{c.name}", c.status, c.detail_en, c.detail_zh)
                      for c in tv.report.checks)
        if not tv.passed:
            rep = tv.report
            assert rep.sub_indication is not None
            last = rep.checks[-1] if rep.checks else Check("timestamp", CheckStatus.FAILED, "", "")
            v = verdict(rep.indication, rep.sub_indication, f"Signature time-stamp: {last.detail_en}",
                        f"签名时间戳：{last.detail_zh}")
            return v, signer, None
        assert tv.gen_time is not None
        when = tv.gen_time
        signer["timestamp"] = tv.gen_time.isoformat()
        checks.append(Check(f"{name}.timestamp", CheckStatus.PASSED,
                            f"time-stamped at {tv.gen_time.isoformat()} by {tv.tsa_subject}",
                            f"时间戳时间 {tv.gen_time.isoformat()}"))
    if out.signing_time is not None:
        checks.append(Check(f"{name}.signing_time", CheckStatus.PASSED,
                            f"claimed signing time {out.signing_time.isoformat()} (not used as proof)",
                            f"签名者声明的签名时间 {out.signing_time.isoformat()}（不作为时间证据）"))
    # Step C6: path.
    path = validate_path(cert, trust=trust, at=when, intermediates=certs, crls=crls, ocsp_responses=ocsp,
                         policy=policy, artefact="cms")
    checks.extend(Check(f"{name}.path.{c.name}", c.status, c.detail_en, c.detail_zh) for c in path.checks)
    signer.update({k: v for k, v in path.signer.items() if k not in signer})
    signer["validated_at"] = when.isoformat()
    if not path.passed:
        assert path.sub_indication is not None
        last = path.checks[-1]
        return (verdict(path.indication, path.sub_indication, f"Signer certificate: {last.detail_en}",
                        f"签名者证书：{last.detail_zh}"), signer, path)
    return None, signer, path
