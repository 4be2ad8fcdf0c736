"""Checks of one CMS SignerInfo, shared by CMS signatures and RFC 3161 time-stamp tokens.

Steps (tagged ``# Step S<n>``):

  S1. Find the signer certificate among the embedded (and caller-supplied) certificates by
      issuerAndSerialNumber or subjectKeyIdentifier.
  S2. digestAlgorithm and signatureAlgorithm are known, fit each other and the key, and are allowed.
  S3. With signed attributes: exactly one contentType equal to eContentType and exactly one
      messageDigest equal to the digest of the content (HASH_FAILURE otherwise); signingTime read
      if present; an ESS signingCertificate(V2) attribute, if present, names the signer certificate.
      Without signed attributes: the content must be plain data and is what is signed.
  S4. The signature value verifies (SM2 with ID 1234567812345678) over DER(SET OF signed
      attributes) or over the content.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from asn1crypto import cms, core, tsp

from esign.formats.cms_asn1 import (
    ATTR_CONTENT_TYPE,
    ATTR_MESSAGE_DIGEST,
    ATTR_SIGNING_CERT,
    ATTR_SIGNING_CERT_V2,
    ATTR_SIGNING_TIME,
    DATA_OIDS,
    PARSE_ERRORS,
    digest,
    digest_name,
    signature_algorithm_for_signer_info,
    signed_attrs_to_be_signed,
)
from keys.algorithms import AlgorithmPolicy, SignatureAlgorithm
from keys.errors import AlgorithmNotAllowedError, CertificateError, EsignError, KeyFormatError
from keys.x509 import Certificate, parse_certificate
from verifier.report import Check, CheckStatus, Indication, Reason, SubIndication, reason_for

__all__ = ["MAX_EMBEDDED_CERTS", "SignerOutcome", "Verdict", "check_signer_info", "embedded_certificates", "verdict"]

#: Most certificates read from one SignedData.
MAX_EMBEDDED_CERTS = 64

_EXTRA_REASONS = {
    SubIndication.NO_SIGNING_CERTIFICATE_FOUND: (
        "The signer's certificate was not found or does not match the signature.",
        "未找到签名者证书，或证书与签名不匹配。",
        "Ask the signer for a signature that embeds its certificate.",
        "请签名方提供内嵌签名证书的签名文件。",
    ),
    SubIndication.SIGNED_DATA_NOT_FOUND: (
        "The signed data is not available.",
        "缺少被签名的原文。",
        "Provide the original file (detached signature).",
        "请提供原文文件（分离式签名）。",
    ),
    SubIndication.SIG_CONSTRAINTS_FAILURE: (
        "The signature does not meet the constraints for its kind.",
        "签名不满足该类签名的约束要求。",
        "Ask the issuer for a conforming signature.",
        "请向签发方索取符合规范的签名。",
    ),
    SubIndication.NO_POE: (
        "The time of signing cannot be proven.",
        "无法证明签名时间。",
        "Use a signature with a trusted time-stamp.",
        "请使用带有可信时间戳的签名。",
    ),
}


@dataclass(frozen=True)
class Verdict:
    """A failing verdict: indication, sub-indication, and a specific reason."""

    indication: Indication
    """Main indication."""
    sub: SubIndication
    """Sub-indication."""
    en: str
    """Specific detail, English."""
    zh: str
    """Specific detail, Chinese."""

    def reason(self) -> Reason:
        """Stock wording for the sub-indication plus the specific detail."""
        stock = _EXTRA_REASONS.get(self.sub)
        if stock is None:
            return reason_for(self.sub, detail_en=self.en, detail_zh=self.zh)
        en, zh, hen, hzh = stock
        return Reason(en=f"{en} {self.en}", zh=f"{zh}{self.zh}", hint_en=hen, hint_zh=hzh)

    @property
    def check_status(self) -> CheckStatus:
        """FAILED for TOTAL_FAILED, INDETERMINATE otherwise."""
        return CheckStatus.FAILED if self.indication is Indication.TOTAL_FAILED else CheckStatus.INDETERMINATE


def verdict(ind: Indication, sub: SubIndication, en: str, zh: str) -> Verdict:
    """Shorthand constructor."""
    return Verdict(ind, sub, en, zh)


@dataclass(frozen=True)
class SignerOutcome:
    """What the SignerInfo checks found."""

    checks: tuple[Check, ...]
    """Checks in order."""
    failure: Verdict | None
    """The first failure (``None`` when every step passed)."""
    signer_cert: Certificate | None = None
    """The signer certificate, once found."""
    algorithm: SignatureAlgorithm | None = None
    """The signature algorithm, once known."""
    digest_name: str | None = None
    """The digest algorithm name, once known."""
    signing_time: datetime | None = None
    """The signingTime attribute (claimed by the signer, not proven)."""
    signature: bytes = b""
    """The signature value (what a signature time-stamp covers)."""
    ess_present: bool = False
    """An ESS signingCertificate(V2) attribute was present and matched."""
    signed_attr_oids: frozenset[str] = field(default_factory=frozenset)
    """OIDs of the signed attributes present."""


def embedded_certificates(sd: cms.SignedData) -> list[Certificate]:
    """The X.509 certificates in ``certificates`` (other choices ignored); CertificateError if malformed."""
    out: list[Certificate] = []
    for choice in sd["certificates"]:
        if len(out) >= MAX_EMBEDDED_CERTS:
            raise CertificateError(f"more than {MAX_EMBEDDED_CERTS} embedded certificates")
        if choice.name == "certificate":
            out.append(parse_certificate(choice.chosen.dump()))
    return out


def _find_signer(si: cms.SignerInfo, certs: Sequence[Certificate]) -> Certificate | None:
    sid = si["sid"]
    if sid.name == "issuer_and_serial_number":
        issuer = sid.chosen["issuer"]
        serial = sid.chosen["serial_number"].native
        for c in certs:
            if c.serial == serial and c.issuer == issuer:
                return c
        return None
    ski = bytes(sid.chosen.native)
    for c in certs:
        if c.ski is not None and hmac.compare_digest(c.ski, ski):
            return c
    return None


def _attr_values(attrs: cms.CMSAttributes, oid: str) -> list[core.Asn1Value]:
    out: list[core.Asn1Value] = []
    for a in attrs:
        if a["type"].dotted == oid:
            out.extend(list(a["values"]))
    return out


def _count(attrs: cms.CMSAttributes, oid: str) -> int:
    return sum(1 for a in attrs if a["type"].dotted == oid)


def _ess_matches(value: core.Asn1Value, cert: Certificate, *, v2: bool) -> bool:
    """The first ESSCertID(v2) of the attribute names ``cert`` (hash, and issuerSerial if given)."""
    parsed = tsp.SigningCertificateV2.load(value.dump()) if v2 else tsp.SigningCertificate.load(value.dump())
    ids = list(parsed["certs"])
    if not ids:
        return False
    first = ids[0]
    if v2:
        hname = digest_name(first["hash_algorithm"])
        ok = hmac.compare_digest(digest(hname, cert.der), bytes(first["cert_hash"].native))
    else:  # ESSCertID v1 always hashes with SHA-1 (RFC 2634)
        ok = hmac.compare_digest(hashlib.sha1(cert.der, usedforsecurity=False).digest(),
                                 bytes(first["cert_hash"].native))
    iss = first["issuer_serial"]
    if ok and iss.native is not None:
        names = [gn.chosen for gn in iss["issuer"] if gn.name == "directory_name"]
        ok = iss["serial_number"].native == cert.serial and any(n == cert.issuer for n in names)
    return ok


def check_signer_info(
    si: cms.SignerInfo,
    *,
    content: bytes,
    econtent_type: str,
    certs: Sequence[Certificate],
    policy: AlgorithmPolicy,
    name: str = "signer",
) -> SignerOutcome:
    """Run steps S1-S4 on ``si`` over ``content``; never raises for a bad signature."""
    checks: list[Check] = []
    state: dict[str, object] = {}

    def out(failure: Verdict | None) -> SignerOutcome:
        if failure is not None:
            checks.append(Check(f"{name}.{state.get('step', 'format')}", failure.check_status, failure.en, failure.zh))
        return SignerOutcome(checks=tuple(checks), failure=failure, **state.get("fields", {}))  # type: ignore[arg-type]

    fields: dict[str, object] = {}
    state["fields"] = fields
    # Step S1: signer certificate.
    state["step"] = "signer_certificate"
    cert = _find_signer(si, certs)
    if cert is None:
        return out(verdict(Indication.INDETERMINATE, SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
                           "no certificate matching the SignerInfo's signer identifier",
                           "找不到与签名者标识匹配的证书"))
    fields["signer_cert"] = cert
    checks.append(Check(f"{name}.signer_certificate", CheckStatus.PASSED, cert.subject_str, cert.subject_str))
    # Step S2: algorithms.
    state["step"] = "algorithm"
    try:
        key = cert.public_key()
        alg = signature_algorithm_for_signer_info(si["digest_algorithm"], si["signature_algorithm"], key.key_type)
        policy.check(alg, key_bits=key.key_bits)
        dname = digest_name(si["digest_algorithm"])
    except (AlgorithmNotAllowedError, KeyFormatError) as exc:
        return out(verdict(Indication.INDETERMINATE, SubIndication.CRYPTO_CONSTRAINTS_FAILURE, exc.message,
                           exc.message_zh))
    fields.update(algorithm=alg, digest_name=dname)
    checks.append(Check(f"{name}.algorithm", CheckStatus.PASSED, f"{alg.algo_name} with {dname}",
                        f"{alg.algo_name}，摘要 {dname}"))
    signature = bytes(si["signature"].native)
    fields["signature"] = signature
    attrs = si["signed_attrs"]
    # Step S3: signed attributes.
    state["step"] = "signed_attributes"
    if isinstance(attrs, core.Void) or len(attrs) == 0:
        if econtent_type not in DATA_OIDS:
            return out(verdict(Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE,
                               "signed attributes are required when the content is not plain data",
                               "内容类型不是 data 时必须包含签名属性"))
        to_verify = content
        checks.append(Check(f"{name}.signed_attributes", CheckStatus.SKIPPED,
                            "no signed attributes: the signature is directly over the content",
                            "无签名属性：签名直接覆盖原文"))
    else:
        try:
            fields["signed_attr_oids"] = frozenset(a["type"].dotted for a in attrs)
            if _count(attrs, ATTR_CONTENT_TYPE) != 1 or _count(attrs, ATTR_MESSAGE_DIGEST) != 1:
                return out(verdict(Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE,
                                   "signed attributes must hold exactly one contentType and one messageDigest",
                                   "签名属性必须各含一个 contentType 和 messageDigest"))
            ctypes = _attr_values(attrs, ATTR_CONTENT_TYPE)
            mds = _attr_values(attrs, ATTR_MESSAGE_DIGEST)
            if len(ctypes) != 1 or len(mds) != 1:
                raise ValueError("attribute with several values")
            ctype = core.ObjectIdentifier.load(ctypes[0].dump()).dotted
            md = bytes(core.OctetString.load(mds[0].dump()).native)
            st_vals = _attr_values(attrs, ATTR_SIGNING_TIME)
            if st_vals:
                fields["signing_time"] = cms.Time.load(st_vals[0].dump()).native
            ess_v2 = _attr_values(attrs, ATTR_SIGNING_CERT_V2)
            ess_v1 = _attr_values(attrs, ATTR_SIGNING_CERT)
            ess_ok = None
            if ess_v2:
                ess_ok = _ess_matches(ess_v2[0], cert, v2=True)
            elif ess_v1:
                ess_ok = _ess_matches(ess_v1[0], cert, v2=False)
        except AlgorithmNotAllowedError as exc:
            return out(verdict(Indication.INDETERMINATE, SubIndication.CRYPTO_CONSTRAINTS_FAILURE, exc.message,
                               exc.message_zh))
        except PARSE_ERRORS as exc:
            return out(verdict(Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE,
                               f"malformed signed attribute: {exc}", "签名属性格式错误"))
        if ctype != econtent_type:
            return out(verdict(Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE,
                               f"contentType attribute {ctype} differs from eContentType {econtent_type}",
                               "contentType 属性与实际内容类型不一致"))
        if not hmac.compare_digest(md, digest(dname, content)):
            state["step"] = "message_digest"
            return out(verdict(Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE,
                               "the messageDigest attribute does not match the content",
                               "messageDigest 属性与原文摘要不一致"))
        checks.append(Check(f"{name}.message_digest", CheckStatus.PASSED, f"{dname} digest of the content matches",
                            "原文摘要一致"))
        if ess_ok is False:
            state["step"] = "signing_certificate"
            return out(verdict(Indication.INDETERMINATE, SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
                               "the signingCertificate attribute names a different certificate",
                               "signingCertificate 属性指向其他证书"))
        fields["ess_present"] = ess_ok is True
        if ess_ok:
            checks.append(Check(f"{name}.signing_certificate", CheckStatus.PASSED,
                                "ESS signingCertificate attribute matches the signer certificate",
                                "ESS 签名证书属性与签名者证书一致"))
        to_verify = signed_attrs_to_be_signed(si)
    # Step S4: signature value.
    state["step"] = "signature"
    try:
        key.verify(signature, to_verify, algorithm=alg)
    except EsignError as exc:
        return out(verdict(Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE,
                           f"the signature value does not verify with the signer's key ({exc.message})",
                           "签名值验证失败"))
    checks.append(Check(f"{name}.signature", CheckStatus.PASSED, f"{alg.algo_name} signature verifies",
                        f"{alg.algo_name} 签名值有效"))
    return out(None)

