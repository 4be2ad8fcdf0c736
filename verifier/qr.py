"""The compact QR verifier profile ``HC1:`` (EU DCC: CWT in COSE_Sign1, zlib, Base45).

Procedure of :func:`verify_hc1` (each step tagged ``# Step n`` below):

  1. Prefix: the text starts with ``HC1:``; anything else is not this artefact kind
     (:class:`QrFormatError`, a :class:`~keys.errors.BadInputError`).
  2. Base45 decode (RFC 9285, strict, our own decoder in :mod:`verifier._base45`).
  3. zlib decompress with a named output limit (:data:`MAX_COSE_BYTES`): bombs stop at the limit.
  4. COSE_Sign1 decode (tag 18, optionally inside CWT tag 61, or untagged) with cbor2; size,
     nesting and trailing bytes bounded.
  5. KID from the protected header (else the unprotected one) and the algorithm from the
     protected header: -7 ES256 (raw r||s turned into DER) or -37 PS256; the signer certificate
     is the one the trust gives for that KID. A KID that names no certificate is INDETERMINATE
     (NO_SIGNING_CERTIFICATE_FOUND): the signature is never tried against any other key.
  6. Signature over ``Sig_structure = ['Signature1', protected, b'', payload]``.
  7. CWT claims: issuer (1), issued-at (6) and expiry (4) against ``at`` (± ``clock_skew``).
  8. Key usage: a signer certificate with a non-empty extendedKeyUsage may sign only the
     certificate types (``t``/``v``/``r`` in the payload) whose DCC purpose OID it lists
     (1.3.6.1.4.1.1847.2021.1.1/2/3 test/vaccination/recovery, or the 1.3.6.1.4.1.0.1847...
     spelling the test data uses); without an extendedKeyUsage (or an empty one) it may sign
     every type. An EKU naming only other purposes therefore allows none (dgc-testdata IS 3).
  9. With a :class:`~verifier.trust.TrustRegistry`: the trust list that vouches for the signer
     must be imported, verified and unexpired, the entry granted at ``at``, and the recognition
     policy must accept (region, ``qr_signer``, certificate type); the rule applied is reported.

Steps 1-4 stop at the first failure (nothing after can be read). Steps 5-9 all run, so the
report lists every finding. DCC JSON-schema validation is out of scope (reported as SKIPPED).
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from keys.algorithms import DEFAULT_POLICY, AlgorithmPolicy, SignatureAlgorithm
from keys.errors import BadInputError, EsignError
from keys.x509 import Certificate, parse_certificate
from verifier._base45 import MAX_BASE45_CHARS, b45decode
from verifier._cose import (
    COSE_ALG_ES256,
    COSE_ALG_PS256,
    HDR_ALG,
    HDR_KID,
    MAX_COSE_BYTES,
    CoseFormatError,
    decode_claims,
    decode_sign1,
    sig_structure,
)
from verifier.report import Check, CheckStatus, Indication, SubIndication, ValidationReport, reason_for

if TYPE_CHECKING:
    from verifier.trust import KidResolution, TrustRegistry

__all__ = [
    "ARTEFACT",
    "DCC_EKU",
    "HC1_PREFIX",
    "MAX_COSE_BYTES",
    "MAX_QR_TEXT_CHARS",
    "Hc1Content",
    "QrFormatError",
    "dcc_kid",
    "dcc_types_allowed",
    "decode_hc1",
    "verify_hc1",
    "verify_qr_text",
]

HC1_PREFIX = "HC1:"
ARTEFACT = "qr-hc1"
#: Longest QR text accepted (a version-40 QR code holds 4,296 alphanumeric characters).
MAX_QR_TEXT_CHARS = len(HC1_PREFIX) + MAX_BASE45_CHARS
#: Most signer certificates whose parsed form is kept in memory.
MAX_CACHED_SIGNERS = 4096
#: Certificate type letter -> the DCC extended-key-usage purpose OIDs that allow it.
DCC_EKU: dict[str, frozenset[str]] = {
    "t": frozenset({"1.3.6.1.4.1.1847.2021.1.1", "1.3.6.1.4.1.0.1847.2021.1.1"}),
    "v": frozenset({"1.3.6.1.4.1.1847.2021.1.2", "1.3.6.1.4.1.0.1847.2021.1.2"}),
    "r": frozenset({"1.3.6.1.4.1.1847.2021.1.3", "1.3.6.1.4.1.0.1847.2021.1.3"}),
}
_TYPE_NAMES = {"t": "test", "v": "vaccination", "r": "recovery"}
_CWT_ISS, _CWT_EXP, _CWT_IAT, _CWT_HCERT = 1, 4, 6, -260
_ES256 = ec.ECDSA(hashes.SHA256())
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
# Checks whose text never varies are built once (a report is immutable, so sharing them is safe).
_OK_PREFIX = Check("prefix", CheckStatus.PASSED, "HC1: prefix present", "前缀 HC1: 正确")
_OK_COSE = Check("cose_structure", CheckStatus.PASSED, "well-formed COSE_Sign1", "COSE_Sign1 结构正确")
_OK_CWT = Check("cwt_payload", CheckStatus.PASSED, "CWT claims decoded", "CWT 声明已解码")
_OK_SIG = Check("signature", CheckStatus.PASSED, "COSE_Sign1 signature verifies", "COSE_Sign1 签名验证通过")
_OK_KU = Check("key_usage", CheckStatus.PASSED, "the signer certificate may sign this certificate type",
               "签名证书允许签发该类型")
_SKIP_SCHEMA = Check("schema", CheckStatus.SKIPPED, "DCC JSON-schema validation is out of scope for this profile",
                     "不校验 DCC JSON 模式")


class QrFormatError(BadInputError):
    """The text is not an ``HC1:`` QR payload at all."""

    code = "not_hc1"
    default_zh = "不是 HC1 格式的二维码内容"


def dcc_kid(cert_der: bytes) -> bytes:
    """The DCC key identifier of a signer certificate: the first 8 bytes of SHA-256 of its DER."""
    return hashlib.sha256(cert_der).digest()[:8]


@dataclass(frozen=True)
class _Signer:
    subject: str
    sha256: str
    key: Any  # pyca public key
    eku: frozenset[str]

    @cached_property
    def ec_sig_len(self) -> int:
        """Length of a raw r||s signature for an EC key (0 for other keys)."""
        key = self.key
        return 2 * ((key.curve.key_size + 7) // 8) if isinstance(key, ec.EllipticCurvePublicKey) else 0

    @cached_property
    def allowed(self) -> frozenset[str]:
        """Certificate types this signer may sign (step 8 rule)."""
        eku = self.eku
        return frozenset(t for t, oids in DCC_EKU.items() if oids & eku) if eku else frozenset(DCC_EKU)


@lru_cache(maxsize=MAX_CACHED_SIGNERS)
def _signer_facts(der: bytes) -> tuple[_Signer, frozenset[str], Check, dict[str, str]]:
    """The signer, its allowed types, its ``kid`` check and its report identity (all fixed per certificate)."""
    signer = _signer(der)
    kid = dcc_kid(der).hex()
    check = Check("kid", CheckStatus.PASSED, f"KID {kid} names {signer.subject}",
                  f"KID {kid} 对应证书 {signer.subject}")
    return signer, signer.allowed, check, {"subject": signer.subject, "sha256": signer.sha256}


def _signer_asn1crypto(der: bytes) -> _Signer:
    cert = parse_certificate(der)
    try:
        key = serialization.load_der_public_key(cert.spki_der)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise BadInputError(f"signer key unsupported: {exc}", message_zh="签名证书公钥不受支持",
                            field="certificate") from exc
    return _Signer(cert.subject_str, cert.sha256, key, cert.extended_key_usage or frozenset())


def _signer_pyca(der: bytes) -> _Signer:
    try:
        cert = x509.load_der_x509_certificate(der)
        key = cert.public_key()
        try:
            ext = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            eku = frozenset(o.dotted_string for o in ext)
        except x509.ExtensionNotFound:
            eku = frozenset()
        subject = cert.subject.rfc4514_string()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise BadInputError(f"signer certificate unusable: {exc}", message_zh="签名证书无法解析",
                            field="certificate") from exc
    return _Signer(subject, hashlib.sha256(der).hexdigest(), key, eku)


@lru_cache(maxsize=MAX_CACHED_SIGNERS)
def _signer(der: bytes) -> _Signer:
    # Only the key, the EKU and the names are needed. asn1crypto reads DER with encoded DEFAULTs
    # and empty EKU sequences (FI, CO15) that pyca refuses; pyca reads names asn1crypto's strict
    # parser refuses (IS: surname as PrintableString). A certificate neither can read is refused.
    try:
        return _signer_asn1crypto(der)
    except EsignError:
        return _signer_pyca(der)


def dcc_types_allowed(cert_der: bytes) -> frozenset[str]:
    """Certificate types (``t``, ``v``, ``r``) the DCC signer certificate may sign (step 8 rule)."""
    return _signer_facts(cert_der)[1]


class _Run:
    """Collects checks and the first definite / indeterminate failure."""

    def __init__(self) -> None:
        self.checks: list[Check] = []
        self.failed: tuple[SubIndication, str, str] | None = None
        self.indet: tuple[SubIndication, str, str] | None = None

    def ok(self, name: str, en: str, zh: str) -> None:
        self.checks.append(Check(name, CheckStatus.PASSED, en, zh))

    def fail(self, name: str, sub: SubIndication, en: str, zh: str) -> None:
        self.checks.append(Check(name, CheckStatus.FAILED, en, zh))
        if self.failed is None:
            self.failed = (sub, en, zh)

    def unsure(self, name: str, sub: SubIndication, en: str, zh: str) -> None:
        self.checks.append(Check(name, CheckStatus.INDETERMINATE, en, zh))
        if self.indet is None:
            self.indet = (sub, en, zh)

    def skip(self, name: str, en: str, zh: str) -> None:
        self.checks.append(Check(name, CheckStatus.SKIPPED, en, zh))

    def report(self, at: datetime, signer: Mapping[str, Any], anchor: str | None,
               context: Mapping[str, Any] | None = None) -> ValidationReport:
        if self.failed is not None:
            ind, (sub, en, zh) = Indication.TOTAL_FAILED, self.failed
        elif self.indet is not None:
            ind, (sub, en, zh) = Indication.INDETERMINATE, self.indet
        else:
            return ValidationReport(ARTEFACT, Indication.TOTAL_PASSED, None, _PASSED, tuple(self.checks),
                                    at, signer, anchor, trust_context=context)
        return ValidationReport(ARTEFACT, ind, sub, reason_for(sub, detail_en=en, detail_zh=zh), tuple(self.checks),
                                at, signer, anchor, trust_context=context)


_PASSED = reason_for(None)


def _epoch(v: Any) -> datetime | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        return datetime.fromtimestamp(v, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _cert_types(claims: Mapping[Any, Any]) -> set[str] | None:
    hcert = claims.get(_CWT_HCERT)
    dgc = hcert.get(1) if isinstance(hcert, dict) else None
    if not isinstance(dgc, dict):
        return None
    return {k for k in ("v", "t", "r") if dgc.get(k)}


def _check_signature(run: _Run, msg: Any, alg: Any, signer: _Signer, algorithms: AlgorithmPolicy) -> None:
    key = signer.key
    try:
        # Step 5 (algorithm): ES256 with an EC key, PS256 with an RSA key, on the allow-list.
        if alg == COSE_ALG_ES256 and signer.ec_sig_len:
            algorithms.check(SignatureAlgorithm.ECDSA_SHA256)
            n = len(msg.signature)
            if n != 64 and n != signer.ec_sig_len:
                raise InvalidSignature
            half = n // 2
            r, s = int.from_bytes(msg.signature[:half], "big"), int.from_bytes(msg.signature[half:], "big")
            # Step 6: signature over the Sig_structure.
            key.verify(encode_dss_signature(r, s), sig_structure(msg), _ES256)
        elif alg == COSE_ALG_PS256 and isinstance(key, rsa.RSAPublicKey):
            algorithms.check(SignatureAlgorithm.RSA_PSS_SHA256, key_bits=key.key_size)
            key.verify(msg.signature, sig_structure(msg), _PSS, hashes.SHA256())
        else:
            run.fail("signature", SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
                     f"COSE algorithm {alg!r} does not fit the signer's {type(key).__name__} key or is not supported",
                     f"COSE 算法 {alg!r} 与签名证书密钥不匹配或不受支持")
            return
    except EsignError as exc:
        run.fail("signature", SubIndication.CRYPTO_CONSTRAINTS_FAILURE, exc.message, exc.message_zh)
        return
    except InvalidSignature:
        run.fail("signature", SubIndication.SIG_CRYPTO_FAILURE, "the COSE signature does not verify",
                 "COSE 签名验证失败")
        return
    run.checks.append(_OK_SIG)


@lru_cache(maxsize=2 * MAX_COSE_BYTES // 64)
def _size_check(step: str, n: int) -> Check:
    """The passed ``base45`` / ``zlib`` check for ``n`` bytes (identical values, so built once per size)."""
    if step == "base45":
        return Check("base45", CheckStatus.PASSED, f"{n} bytes decoded", f"已解码 {n} 字节")
    return Check("zlib", CheckStatus.PASSED, f"{n} bytes after decompression", f"解压后 {n} 字节")


def _decode(run: _Run, text: str) -> Any:
    """Steps 2-4; returns the COSE_Sign1 or None after recording the failure."""
    # Step 2: Base45.
    try:
        compressed = b45decode(text[len(HC1_PREFIX):])
    except ValueError as exc:
        run.fail("base45", SubIndication.FORMAT_FAILURE, f"Base45 decoding failed: {exc}", "Base45 解码失败")
        return None
    run.checks.append(_size_check("base45", len(compressed)))
    # Step 3: zlib, bounded output.
    try:
        dec = zlib.decompressobj()
        cose = dec.decompress(compressed, MAX_COSE_BYTES + 1)
        if len(cose) > MAX_COSE_BYTES or dec.unconsumed_tail:
            run.fail("zlib", SubIndication.FORMAT_FAILURE,
                     f"decompressed data exceeds the limit of {MAX_COSE_BYTES} bytes", "解压后数据超过上限")
            return None
        if not dec.eof or dec.unused_data:
            run.fail("zlib", SubIndication.FORMAT_FAILURE, "the zlib stream is truncated or has trailing data",
                     "zlib 数据流不完整或有多余数据")
            return None
    except zlib.error as exc:
        run.fail("zlib", SubIndication.FORMAT_FAILURE, f"zlib decompression failed: {exc}", "zlib 解压失败")
        return None
    run.checks.append(_size_check("zlib", len(cose)))
    # Step 4: COSE_Sign1.
    try:
        msg = decode_sign1(cose)
    except CoseFormatError as exc:
        run.fail("cose_structure", SubIndication.FORMAT_FAILURE, str(exc), "COSE_Sign1 结构错误")
        return None
    run.checks.append(_OK_COSE)
    return msg


def verify_hc1(
    text: str,
    *,
    trust: TrustRegistry | Mapping[bytes, Certificate | bytes],
    at: datetime,
    clock_skew: timedelta = timedelta(0),
    algorithms: AlgorithmPolicy = DEFAULT_POLICY,
) -> ValidationReport:
    """Verify an ``HC1:`` QR text and return the report (see the module docstring for the steps).

    Args:
        text: the QR content, ``HC1:`` + Base45.
        trust: a :class:`~verifier.trust.TrustRegistry` (signers vouched for as ``qr_signer`` by an
            imported, unexpired trust list), or a mapping KID (8 bytes) -> signer certificate.
        at: validation time (timezone-aware).
        clock_skew: tolerance applied to the CWT issued-at and expiry times.
        algorithms: allow-list for the COSE algorithm.

    Raises:
        QrFormatError: the text is not ``HC1:`` content at all (no verdict can be given).
    """
    if at.tzinfo is None:
        raise BadInputError("at must be timezone-aware", field="at")
    if not isinstance(text, str) or len(text) > MAX_QR_TEXT_CHARS:
        raise QrFormatError(f"QR text must be a string of at most {MAX_QR_TEXT_CHARS} characters", field="qr")
    # Step 1: prefix.
    if not text.startswith(HC1_PREFIX):
        raise QrFormatError("the QR text does not start with 'HC1:'", message_zh="二维码内容不以 'HC1:' 开头",
                            field="qr")
    run = _Run()
    run.checks.append(_OK_PREFIX)
    msg = _decode(run, text)
    if msg is None:
        return run.report(at, {}, None)
    try:
        claims = decode_claims(msg.payload)
    except CoseFormatError as exc:
        run.fail("cwt_payload", SubIndication.FORMAT_FAILURE, str(exc), "CWT 负载格式错误")
        claims = None
    else:
        run.checks.append(_OK_CWT)
    # Step 5: KID and signer certificate.
    prot, unprot = msg.protected, msg.unprotected
    kid = prot.get(HDR_KID) if HDR_KID in prot else unprot.get(HDR_KID)
    alg = prot.get(HDR_ALG, unprot.get(HDR_ALG))
    registry = None if type(trust) is dict or isinstance(trust, Mapping) else trust
    signer_info: dict[str, Any] = {}
    signer: _Signer | None = None
    allowed: frozenset[str] = frozenset()
    region: str | None = None
    anchor: str | None = None
    res: KidResolution | None = None
    if not isinstance(kid, bytes) or not kid:
        run.fail("kid", SubIndication.FORMAT_FAILURE, "no key identifier (KID) in the COSE headers",
                 "COSE 头中没有密钥标识 (KID)")
    else:
        signer_info["kid"] = kid.hex()
        der: bytes | None = None
        if registry is None:
            found = trust.get(kid)  # type: ignore[union-attr]
            der = found.der if isinstance(found, Certificate) else found
            if der is not None and dcc_kid(der) != kid:
                der = None
        else:
            res = registry.resolve_kid(kid, at=at)
            run.checks.extend(res.checks)
            if res.problem is not None:
                ind, sub, en, zh = res.problem
                (run.fail if ind is Indication.TOTAL_FAILED else run.unsure)("trust_list", sub, en, zh)
            der, region, anchor = res.certificate_der, res.region, res.label
        if der is None:
            run.unsure("kid", SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
                       f"no trusted signer certificate has KID {kid.hex()}",
                       f"没有 KID 为 {kid.hex()} 的受信任签名证书")
        else:
            try:
                signer, allowed, kid_check, identity = _signer_facts(der)
            except EsignError as exc:
                run.fail("kid", SubIndication.FORMAT_FAILURE, exc.message, exc.message_zh)
            else:
                run.checks.append(kid_check)
                signer_info.update(identity)
                anchor = anchor or signer.subject
    # Step 6: signature.
    if signer is not None:
        _check_signature(run, msg, alg, signer, algorithms)
    else:
        run.skip("signature", "not checked: no signer certificate", "未检查：没有签名证书")
    types = None if claims is None else _cert_types(claims)
    # Step 7: CWT claims against `at`.
    if claims is not None:
        iss = claims.get(_CWT_ISS)
        if iss is not None:
            signer_info["issuer_country"] = str(iss)[:8]
        iat, exp = _epoch(claims.get(_CWT_IAT)), _epoch(claims.get(_CWT_EXP))
        if exp is None or iat is None:
            run.fail("cwt_validity", SubIndication.FORMAT_FAILURE, "the CWT lacks a numeric iat (6) or exp (4)",
                     "CWT 缺少数值型签发时间 (6) 或过期时间 (4)")
        elif at + clock_skew < iat:
            run.fail("cwt_validity", SubIndication.NOT_YET_VALID,
                     f"issued at {iat.isoformat()}, after {at.isoformat()}",
                     f"签发时间 {iat.isoformat()} 晚于验证时间")
        elif at - clock_skew > exp:
            run.fail("cwt_validity", SubIndication.EXPIRED, f"expired at {exp.isoformat()}",
                     f"已于 {exp.isoformat()} 过期")
        else:
            span = f"{iat.isoformat()} / {exp.isoformat()}"
            run.ok("cwt_validity", f"valid {span}", f"有效期 {span}")
    # Step 8: key usage of the signer certificate vs the certificate type.
    if signer is None or types is None:
        run.skip("key_usage", "not checked: signer certificate or certificate type unknown",
                 "未检查：签名证书或证书类型未知")
    elif not types or not types <= allowed:
        what = ", ".join(_TYPE_NAMES[t] for t in sorted(types)) or "none"
        run.fail("key_usage", SubIndication.CHAIN_CONSTRAINTS_FAILURE,
                 f"the signer certificate may not sign certificate type(s): {what}",
                 f"签名证书无权签发该类型证书：{what}")
    else:
        run.checks.append(_OK_KU)
    # Step 9: recognition policy (trust registry only).
    context: dict[str, Any] | None = None
    if registry is not None:
        context = _context(res, region)
        if region is not None and types:
            artefact_type = "dcc-" + _TYPE_NAMES[sorted(types)[0]]
            match = registry.recognise(region, "qr_signer", artefact_type, None)
            context.update(rule=match.rule_id, recognised=match.accepted, artefact_type=artefact_type)
            if match.accepted:
                run.ok("recognition", match.reason_en, match.reason_zh)
            else:
                run.unsure("recognition", SubIndication.SIG_CONSTRAINTS_FAILURE, match.reason_en, match.reason_zh)
    run.checks.append(_SKIP_SCHEMA)
    return run.report(at, signer_info, anchor, context)


def _context(res: KidResolution | None, region: str | None) -> dict[str, Any]:
    tl, e = (res.trust_list, res.entry) if res is not None else (None, None)
    return {"role": "qr_signer", "region": region, "trust_list_version": tl.version if tl else None,
            "list_digest": tl.digest if tl else None, "list_expires_at": tl.expires_at.isoformat() if tl else None,
            "entry": e.id if e else None, "service_type": "qr_signer", "artefact_type": None, "level": None,
            "rule": None, "recognised": False}


@dataclass(frozen=True)
class Hc1Content:
    """What an ``HC1:`` text decodes to (nothing verified)."""

    cose: bytes
    """The COSE_Sign1 bytes after Base45 and zlib."""
    kid: bytes | None
    """KID as step 5 picks it (protected header first)."""
    alg: Any
    """COSE algorithm from the protected header."""
    claims: dict[Any, Any]
    """The CWT claims (1 iss, 4 exp, 6 iat, -260 hcert); holds personal data, never log it."""


def decode_hc1(text: str) -> Hc1Content:
    """Steps 1-4 and the CWT claims, without any trust decision.

    Raises:
        QrFormatError: the step that failed is in ``field`` (``qr``, ``base45``, ``zlib``,
            ``cose_structure`` or ``cwt_payload``).
    """
    if not isinstance(text, str) or not text.startswith(HC1_PREFIX) or len(text) > MAX_QR_TEXT_CHARS:
        raise QrFormatError("the QR text does not start with 'HC1:'", message_zh="二维码内容不以 'HC1:' 开头",
                            field="qr")
    run = _Run()
    msg = _decode(run, text)
    if msg is None:
        bad = run.checks[-1]
        raise QrFormatError(bad.detail_en, message_zh=bad.detail_zh, field=bad.name)
    try:
        claims = decode_claims(msg.payload)
    except CoseFormatError as exc:
        raise QrFormatError(str(exc), message_zh="CWT 负载格式错误", field="cwt_payload") from None
    kid = msg.protected.get(HDR_KID) if HDR_KID in msg.protected else msg.unprotected.get(HDR_KID)
    cose = zlib.decompress(b45decode(text[len(HC1_PREFIX):]))
    return Hc1Content(cose=cose, kid=kid if isinstance(kid, bytes) else None,
                      alg=msg.protected.get(HDR_ALG, msg.unprotected.get(HDR_ALG)), claims=claims)


def verify_qr_text(text: str, *, registry: TrustRegistry, at: datetime) -> ValidationReport:
    """Front door for QR text (``esign verify --qr``, ``POST /v1/verify {"qr": ...}``).

    Dispatches on the prefix (``HC1:`` EU health certificates, ``ESL1:`` esign licence tokens)
    and uses the registry's validation policy
    for clock skew and algorithms.

    Raises:
        QrFormatError: unknown QR content.
    """
    text = text.strip() if isinstance(text, str) else text
    vp = registry.validation_policy(region=None, licence_type=None)
    if isinstance(text, str) and text.startswith("ESL1:"):
        from verifier.licence_qr import verify_licence_qr  # lazy: licence_qr imports this module

        return verify_licence_qr(text, trust=registry, at=at, clock_skew=vp.clock_skew, algorithms=vp.algorithms)
    return verify_hc1(text, trust=registry, at=at, clock_skew=vp.clock_skew, algorithms=vp.algorithms)
