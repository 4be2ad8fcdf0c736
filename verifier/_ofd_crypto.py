"""The cryptographic part of OFD verification: seal signatures, plain SM2 signatures, integrity lists.

Used by :mod:`verifier.ofd` (steps 6a, 6b and 7 of its procedure). Each function returns an
:class:`OfdCheck` (a verdict with checks, never a bare bool) for one signed value.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from esign.formats.ofd import OfdFormatError, OfdPackage, parse_doc_entries
from esign.formats.ofd_gbt35275 import looks_like_content_info, parse_signed_data
from esign.formats.ses import parse_unverified_ses_signature
from keys.algorithms import KeyType, SignatureAlgorithm
from keys.errors import EsignError
from keys.hashing import sm3
from keys.sigencoding import from_raw
from keys.x509 import Certificate, Crl, parse_certificate
from verifier.pki import PathPolicy, TrustStore, validate_path
from verifier.report import ChainElement, Check, CheckStatus, Indication, Reason, SubIndication, reason_for
from verifier.ses import verify_ses_signature

__all__ = ["MAX_RAW_SIGNATURE_BYTES", "IntegrityResult", "OfdCheck", "verify_integrity", "verify_plain_sign",
           "verify_seal_sign"]

#: A plain signature value at most this long is a bare SM2 signature (DER is 70-72 bytes, raw 64).
MAX_RAW_SIGNATURE_BYTES = 80
_SM2_SIG_OIDS = frozenset({"1.2.156.10197.1.501", "1.2.156.10197.1.301.1", "1.2.156.10197.1.301"})


@dataclass(frozen=True)
class OfdCheck:
    """The verdict on one signed value."""

    indication: Indication
    """Main verdict."""
    sub: SubIndication | None
    """Sub-indication (``None`` when passed)."""
    reason: Reason
    """Why."""
    checks: tuple[Check, ...]
    """Checks run, in order (names without the signature prefix)."""
    signer: Mapping[str, Any] = field(default_factory=dict)
    """Signer certificate summary."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """More facts for the per-signature summary (seal, signing time)."""
    trust_anchor: str | None = None
    """Anchor the signer path ended in."""
    chain: tuple[ChainElement, ...] = ()
    """Signer path."""


def _fail(ind: Indication, sub: SubIndication, name: str, en: str, zh: str, checks: Sequence[Check] = ()) -> OfdCheck:
    st = CheckStatus.FAILED if ind is Indication.TOTAL_FAILED else CheckStatus.INDETERMINATE
    return OfdCheck(ind, sub, reason_for(sub, detail_en=en, detail_zh=zh), (*checks, Check(name, st, en, zh)))


def _signer_path(cert: Certificate, pool: Sequence[Certificate], checks: list[Check], *, trust: TrustStore,
                 at: datetime, crls: Sequence[Crl], policy: PathPolicy, extra: Mapping[str, Any]) -> OfdCheck:
    rep = validate_path(cert, trust=trust, at=at, intermediates=[c for c in pool if c.der != cert.der], crls=crls,
                        policy=policy, artefact="ofd")
    checks.extend(Check(f"signer_certificate.{c.name}", c.status, c.detail_en, c.detail_zh) for c in rep.checks)
    return OfdCheck(rep.indication, rep.sub_indication, rep.reason, tuple(checks), signer=dict(rep.signer),
                    extra=extra, trust_anchor=rep.trust_anchor, chain=rep.chain)


def _find_signer(sig: bytes, tbs: bytes, candidates: Sequence[Certificate],
                 checks: list[Check]) -> Certificate | OfdCheck:
    if not candidates:
        return _fail(Indication.INDETERMINATE, SubIndication.NO_SIGNING_CERTIFICATE_FOUND, "signature_value",
                     "the signature carries no certificate and none was given to check it with",
                     "签名未携带证书，且未提供用于验证的证书", checks)
    for cert in candidates:
        try:
            key = cert.public_key()
            if key.key_type is not KeyType.SM2:
                continue
            key.verify(sig, tbs, algorithm=SignatureAlgorithm.SM2_SM3)
        except EsignError:
            continue
        checks.append(Check("signature_value", CheckStatus.PASSED, f"SM2 signature verifies with {cert.subject_str}",
                            "SM2 签名值验证通过"))
        return cert
    return _fail(Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE, "signature_value",
                 f"the SM2 signature does not verify with any of the {len(candidates)} certificate(s) available",
                 f"SM2 签名值无法用现有的 {len(candidates)} 个证书验证通过", checks)


def _signed_data(value: bytes, digest: bytes, checks: list[Check]) -> tuple[bytes, bytes, list[Certificate]] | OfdCheck:
    """(signature, signed bytes, embedded certs) of a GB/T 35275 value whose content must be ``digest``."""
    try:
        sd = parse_signed_data(value)
        certs = [parse_certificate(c) for c in sd.certificates]
    except EsignError as exc:
        return _fail(Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE, "signed_value", exc.message,
                     exc.message_zh, checks)
    if sd.content not in (digest, base64.b64encode(digest)):
        return _fail(Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE, "data_hash",
                     "the signed digest is not SM3 of the protected file", "签名中的杂凑值与受保护文件的 SM3 不一致",
                     checks)
    signer = sd.signers[0]
    if signer.signature_oid not in _SM2_SIG_OIDS:
        return _fail(Indication.TOTAL_FAILED, SubIndication.CRYPTO_CONSTRAINTS_FAILURE, "signed_value",
                     f"signature algorithm {signer.signature_oid} is not SM2", "签名算法不是 SM2", checks)
    tbs = sd.content
    if signer.signed_attrs_der is not None:
        if signer.message_digest != sm3(sd.content):
            return _fail(Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE, "data_hash",
                         "messageDigest does not match the content", "messageDigest 与内容不一致", checks)
        tbs = signer.signed_attrs_der
    checks.append(Check("data_hash", CheckStatus.PASSED, "the signed digest is SM3 of the protected file",
                        "签名中的杂凑值与受保护文件一致"))
    return signer.signature, tbs, certs


def verify_plain_sign(value: bytes, signature_xml: bytes, *, certs: Sequence[Certificate], trust: TrustStore,
                      at: datetime, crls: Sequence[Crl], policy: PathPolicy) -> OfdCheck:
    """Type="Sign": an SM2 signature (DER / r||s / GB/T 35275) over the exact Signature.xml bytes."""
    checks: list[Check] = []
    pool = list(certs)
    if len(value) <= MAX_RAW_SIGNATURE_BYTES:
        try:
            sig = from_raw(KeyType.SM2, value) if len(value) == 64 else value
        except EsignError as exc:
            return _fail(Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE, "signed_value", exc.message,
                         exc.message_zh)
        tbs = signature_xml
        checks.append(Check("signed_value", CheckStatus.PASSED, f"bare SM2 signature ({len(value)} bytes)",
                            "裸 SM2 签名值"))
    elif looks_like_content_info(value):
        got = _signed_data(value, sm3(signature_xml), checks)
        if isinstance(got, OfdCheck):
            return got
        sig, tbs, embedded = got
        pool = embedded + pool
        checks.insert(0, Check("signed_value", CheckStatus.PASSED, "GB/T 35275 signedData", "GB/T 35275 签名数据"))
    else:
        return _fail(Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE, "signed_value",
                     "SignedValue is neither an SM2 signature nor GB/T 35275 signedData",
                     "签名值既不是 SM2 签名，也不是 GB/T 35275 签名数据")
    found = _find_signer(sig, tbs, pool, checks)
    if isinstance(found, OfdCheck):
        return found
    return _signer_path(found, pool, checks, trust=trust, at=at, crls=crls, policy=policy, extra={})


def verify_seal_sign(value: bytes, signature_xml: bytes, *, seal_esl: bytes | None, trust: TrustStore, at: datetime,
                     certs: Sequence[Certificate], crls: Sequence[Crl], policy: PathPolicy,
                     seal_status: Any = None, clock_skew: timedelta = timedelta(0)) -> OfdCheck:
    """Type="Seal": a GB/T 38540 SES_Signature whose dataHash is SM3 of the exact Signature.xml bytes."""
    try:
        rep = verify_ses_signature(value, data=signature_xml, trust=trust, at=at, seal_status=seal_status,
                                   intermediates=certs, crls=crls, policy=policy, clock_skew=clock_skew)
    except EsignError as exc:  # not an SES_Signature at all: inside an OFD that is a broken signature
        return _fail(Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE, "signed_value",
                     f"SignedValue is not a GB/T 38540 seal signature: {exc.message}",
                     f"签名值不是 GB/T 38540 电子签章：{exc.message_zh}")
    checks = [Check(f"ses.{c.name}", c.status, c.detail_en, c.detail_zh) for c in rep.checks]
    extra: dict[str, Any] = {}
    ind, sub, reason = rep.indication, rep.sub_indication, rep.reason
    try:
        parsed = parse_unverified_ses_signature(value)
    except EsignError:
        parsed = None
    if parsed is not None:
        extra = {"seal": {"id": parsed.seal.seal_id, "name": parsed.seal.name,
                          "valid_from": parsed.seal.valid_from.isoformat(),
                          "valid_to": parsed.seal.valid_to.isoformat()},
                 "signing_time": parsed.signing_time.isoformat() if parsed.signing_time else None}
        if seal_esl is not None:
            if seal_esl == parsed.seal.der:
                checks.append(Check("seal_file", CheckStatus.PASSED, "Seal.esl is the seal inside the signature",
                                    "Seal.esl 与签章中的印章一致"))
            else:
                en, zh = "Seal.esl differs from the seal inside the signature", "Seal.esl 与签章中的印章不一致"
                checks.append(Check("seal_file", CheckStatus.FAILED, en, zh))
                if ind is not Indication.TOTAL_FAILED:
                    ind, sub, reason = Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE, reason_for(
                        SubIndication.FORMAT_FAILURE, detail_en=en, detail_zh=zh)
    return OfdCheck(ind, sub, reason, tuple(checks), signer=dict(rep.signer), extra=extra,
                    trust_anchor=rep.trust_anchor, chain=rep.chain)


@dataclass(frozen=True)
class IntegrityResult:
    """Outcome of the GM/T 0099 integrity protection (OFDEntries.xml)."""

    indication: Indication
    """Verdict on the integrity signature."""
    sub: SubIndication | None
    """Sub-indication."""
    detail_en: str
    """Reason, English."""
    detail_zh: str
    """Reason, Chinese."""
    checks: tuple[Check, ...]
    """Checks, prefixed ``integrity.``."""
    listed: frozenset[str] | None
    """Files listed (``None`` if the list could not be read)."""
    own: frozenset[str]
    """OFDEntries.xml and its signed value."""
    summary: Mapping[str, Any]
    """For the report."""


def verify_integrity(pkg: OfdPackage, *, trust: TrustStore, at: datetime, certs: Sequence[Certificate],
                     crls: Sequence[Crl], policy: PathPolicy) -> IntegrityResult | None:
    """Check ``/OFDEntries.xml`` and its GB/T 35275 signature; ``None`` when the file has none."""
    raw = pkg.get("OFDEntries.xml")
    if raw is None:
        return None
    own = {"OFDEntries.xml"}
    try:
        entries = parse_doc_entries(raw)
    except OfdFormatError as exc:
        c = Check("integrity.entries", CheckStatus.FAILED, exc.message, exc.message_zh)
        return IntegrityResult(Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE, exc.message, exc.message_zh,
                               (c,), None, frozenset(own), {"indication": "TOTAL_FAILED"})
    own.add(entries.signed_value_path)
    value = pkg.get(entries.signed_value_path)
    checks: list[Check] = []
    if value is None:
        out = _fail(Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE, "signed_value",
                    f"{entries.signed_value_path} is missing", f"缺少 {entries.signed_value_path}")
    else:
        got = _signed_data(value, sm3(raw), checks)
        if isinstance(got, OfdCheck):
            out = got
        else:
            sig, tbs, embedded = got
            found = _find_signer(sig, tbs, embedded + list(certs), checks)
            out = found if isinstance(found, OfdCheck) else _signer_path(
                found, embedded + list(certs), checks, trust=trust, at=at, crls=crls, policy=policy, extra={})
    missing = sorted(p for p in entries.files if p not in pkg.files)
    ind, sub, en, zh = out.indication, out.sub, out.reason.en, out.reason.zh
    all_checks = [Check(f"integrity.{c.name}", c.status, c.detail_en, c.detail_zh) for c in out.checks]
    if missing:
        en, zh = f"listed but missing: {', '.join(missing)}", f"清单中的文件缺失：{'、'.join(missing)}"
        all_checks.append(Check("integrity.files", CheckStatus.FAILED, en, zh))
        if ind is not Indication.TOTAL_FAILED:
            ind, sub = Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE
    summary = {"indication": ind.value, "files_listed": len(entries.files), "missing_files": missing,
               "signer": dict(out.signer), "note": "lists file names only; file contents are not digested"}
    return IntegrityResult(ind, sub, en, zh, tuple(all_checks), frozenset(entries.files), frozenset(own), summary)
