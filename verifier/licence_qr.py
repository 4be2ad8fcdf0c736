"""Verify an ``ESL1:`` licence QR token offline (profile: :mod:`esign.formats.licence_qr`).

Made for 亮证: a window terminal scans the code on a citizen's phone or printed licence and needs a
verdict in well under a second, with no network. Everything comes from the token and what the
terminal holds: trust lists or anchors, signer certificates and cached status lists.

Procedure of :func:`verify_licence_qr` (each step tagged ``# Step n`` below):

  1. Prefix ``ESL1:`` and length; anything else is not this artefact kind (:class:`LicenceQrFormatError`).
  2. Base45 decode (strict, RFC 9285).
  3. zlib decompress, bounded: more than :data:`MAX_TOKEN_BYTES` is a bomb -> :class:`LicenceQrFormatError`.
  4. COSE_Sign1 decode (bounded CBOR; no trailing bytes).
  5. Headers: ``alg`` and an 8-byte ``kid`` in the protected header; the unprotected header empty.
  6. CWT claims read strictly (unknown claims refused, types and sizes bounded).
     Steps 2-6 stop at the first failure (TOTAL_FAILED / FORMAT_FAILURE): nothing after can be read.
  7. Signer: the certificate with that KID, from a trust list entry (``qr_signer`` or
     ``licence_issuer``) or from ``certs``; then its path at ``at`` (trust registry: list,
     entry, path, recognition; trust store: RFC 5280 path to the anchors). No certificate with
     that KID -> INDETERMINATE / NO_SIGNING_CERTIFICATE_FOUND (never tried against another key).
  8. Signature: the algorithm must fit the key (-65537 SM2-SM3 with SM2, -7 ES256 with P-256) and
     the allow-list; the signature over the Sig_structure must verify.
  9. Region: the region in the token must be the region whose trust list vouches for the signer.
 10. Times: ``iat`` not after ``at`` and ``exp`` (if any) not before it (± ``clock_skew``); with
     ``max_age`` (a validation policy's ``max_signature_age_seconds``), a token made longer ago than
     that is INDETERMINATE / SIG_CONSTRAINTS_FAILURE (check ``age``: "show a fresh code").
 11. Status: the cached status list for the token's URI, unexpired at ``at``, must say 0 (valid)
     at the index: 1 revoked and 3 superseded are TOTAL_FAILED / REVOKED, 2 suspended
     INDETERMINATE / TRY_LATER; no list for that URI (or an index outside it) is INDETERMINATE
     unless ``require_status=False``. A token without a status reference passes this step only if it
     lives at most :data:`MAX_UNLISTED_LIFETIME` (a dynamic 亮证 code). A list that names its signer
     (``signer_subject``, as :class:`VerifiedStatusList` does) must have been signed by the token's
     signer. :func:`status_views` turns verified :class:`~verifier.licence.StatusList` objects
     into views keyed by the token's URI (its last path segment is the authority).

Steps 7-11 all run, so the report lists every finding. The verdict is TOTAL_FAILED if any step
failed, else INDETERMINATE if any was indeterminate, else TOTAL_PASSED.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import cbor2

from esign.formats.licence_qr import (
    COSE_ALG_ES256,
    COSE_ALG_SM2_SM3,
    LICENCE_QR_PREFIX,
    MAX_TOKEN_BYTES,
    LicenceQrClaims,
    LicenceQrClaimsError,
    claims_from_cbor,
    licence_qr_kid,
)
from keys.algorithms import DEFAULT_POLICY, AlgorithmPolicy, KeyType, SignatureAlgorithm
from keys.errors import AlgorithmNotAllowedError, BadInputError, EsignError
from keys.sigencoding import p1363_to_der
from keys.x509 import Certificate, Crl, parse_certificate
from verifier._base45 import b45decode
from verifier._cose import HDR_ALG, HDR_KID, CoseFormatError, decode_sign1, sig_structure
from verifier.licence import StatusList
from verifier.pki import PathPolicy, TrustStore, validate_path
from verifier.qr import _Run
from verifier.report import Check, Indication, SubIndication, ValidationReport

if TYPE_CHECKING:
    from verifier.trust import TrustRegistry

__all__ = [
    "ARTEFACT",
    "LICENCE_QR_PREFIX",
    "MAX_QR_TEXT_CHARS",
    "MAX_TOKEN_BYTES",
    "MAX_UNLISTED_LIFETIME",
    "LicenceQrFormatError",
    "LicenceQrResult",
    "StatusListView",
    "StatusSnapshot",
    "VerifiedStatusList",
    "decode_licence_qr",
    "read_licence_qr",
    "status_views",
    "verify_licence_qr",
]

ARTEFACT = "licence-qr"
#: Longest QR text accepted (Base45 of the largest token, plus the prefix).
MAX_QR_TEXT_CHARS = len(LICENCE_QR_PREFIX) + (MAX_TOKEN_BYTES * 3) // 2 + 3
#: Longest token lifetime accepted without a status reference.
MAX_UNLISTED_LIFETIME = timedelta(minutes=10)
_ALGS = {COSE_ALG_SM2_SM3: (KeyType.SM2, SignatureAlgorithm.SM2_SM3),
         COSE_ALG_ES256: (KeyType.P256, SignatureAlgorithm.ECDSA_SHA256)}
_STATUS_WORDS = {1: ("revoked", "已吊销"), 2: ("suspended", "已暂停"),
                 3: ("superseded by a newer version", "已被新版本取代")}


class LicenceQrFormatError(BadInputError):
    """The text is not an ``ESL1:`` licence QR token (or breaks a size limit)."""

    code = "not_licence_qr"
    default_zh = "不是证照二维码内容"


@runtime_checkable
class StatusListView(Protocol):
    """A status list the caller has fetched and verified (signature, issuer) and keeps for offline use."""

    uri: str
    """The URI tokens name it by."""

    def status(self, index: int) -> int:
        """The status value at ``index`` (IndexError outside the list)."""


@dataclass(frozen=True)
class StatusSnapshot:
    """A decompressed IETF Token Status List (``bits`` per entry, least significant bits first)."""

    uri: str
    """The list's URI."""
    lst: bytes = field(repr=False)
    """The decompressed byte array."""
    bits: int = 2
    """Bits per entry: 1, 2, 4 or 8."""
    expires_at: datetime | None = None
    """After this the cached copy is stale (``None``: the caller keeps it fresh)."""

    def status(self, index: int) -> int:
        """Value at ``index``; IndexError outside the list."""
        per = 8 // self.bits
        byte, slot = divmod(index, per)
        if index < 0 or byte >= len(self.lst):
            raise IndexError(index)
        return (self.lst[byte] >> (slot * self.bits)) & ((1 << self.bits) - 1)


@dataclass(frozen=True)
class VerifiedStatusList:
    """A verified :class:`~verifier.licence.StatusList` as a :class:`StatusListView` (signer subject included)."""

    uri: str
    """The URI tokens name it by."""
    status_list: StatusList = field(repr=False)
    """The verified list."""

    @property
    def expires_at(self) -> datetime:
        """The list's ``exp``."""
        return self.status_list.expires_at

    @property
    def signer_subject(self) -> str:
        """Subject of the certificate that signed the list (must be the token's signer)."""
        return self.status_list.signer_subject

    def status(self, index: int) -> int:
        """Value at ``index``; IndexError outside the list."""
        try:
            return self.status_list.status(index)
        except BadInputError:
            raise IndexError(index) from None


def status_views(lists: Sequence[StatusList], status_uri: str | None) -> dict[str, StatusListView]:
    """Views of ``lists`` for a token whose status reference is ``status_uri``.

    A list belongs to the URI when the URI's last path segment (``.../v1/status-lists/<authority>``)
    is its ``authority``; the newest such list (highest version) is keyed by the URI. Lists of
    other authorities are kept under ``authority <id>`` so that a report can say what was given.
    """
    out: dict[str, StatusListView] = {}
    last = (status_uri or "").split("?", 1)[0].split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    mine = [sl for sl in lists if status_uri and sl.authority == last]
    if mine and status_uri:
        out[status_uri] = VerifiedStatusList(status_uri, max(mine, key=lambda sl: (sl.version, sl.issued_at)))
    for sl in lists:
        if sl not in mine:
            out.setdefault(f"authority {sl.authority}", VerifiedStatusList(f"authority {sl.authority}", sl))
    return out


@dataclass(frozen=True)
class LicenceQrResult:
    """A verdict and, only when it passed, what the token says."""

    report: ValidationReport
    """The validation report."""
    claims: LicenceQrClaims | None
    """The claims (personal data: display, never log), ``None`` unless the report passed."""


def _decode(run: _Run, text: str) -> tuple[Any, LicenceQrClaims] | None:
    """Steps 2-6; ``None`` after recording a failure."""
    fmt = SubIndication.FORMAT_FAILURE
    # Step 2: Base45.
    try:
        compressed = b45decode(text[len(LICENCE_QR_PREFIX):])
    except ValueError as exc:
        run.fail("base45", fmt, f"Base45 decoding failed: {exc}", "Base45 解码失败")
        return None
    run.ok("base45", f"{len(compressed)} bytes decoded", f"已解码 {len(compressed)} 字节")
    # Step 3: zlib, bounded (a bomb is bad input, not a broken token).
    try:
        dec = zlib.decompressobj()
        cose = dec.decompress(compressed, MAX_TOKEN_BYTES + 1)
        complete = dec.eof and not dec.unused_data
    except zlib.error as exc:
        run.fail("zlib", fmt, f"zlib decompression failed: {exc}", "zlib 解压失败")
        return None
    if len(cose) > MAX_TOKEN_BYTES or dec.unconsumed_tail:
        raise LicenceQrFormatError(f"the token decompresses to more than {MAX_TOKEN_BYTES} bytes",
                                   message_zh=f"二维码内容解压后超过 {MAX_TOKEN_BYTES} 字节上限", field="qr")
    if not complete:
        run.fail("zlib", fmt, "the zlib stream is truncated or has trailing data", "zlib 数据流不完整或有多余数据")
        return None
    run.ok("zlib", f"{len(cose)} bytes after decompression", f"解压后 {len(cose)} 字节")
    # Step 4: COSE_Sign1.
    try:
        msg = decode_sign1(cose)
    except CoseFormatError as exc:
        run.fail("cose_structure", fmt, str(exc), "COSE_Sign1 结构错误")
        return None
    run.ok("cose_structure", "well-formed COSE_Sign1", "COSE_Sign1 结构正确")
    # Step 5: headers.
    kid, alg = msg.protected.get(HDR_KID), msg.protected.get(HDR_ALG)
    if msg.unprotected or not isinstance(kid, bytes) or len(kid) != 8 or alg not in _ALGS or set(msg.protected) - {
            HDR_ALG, HDR_KID}:
        run.fail("cose_headers", fmt, "the protected header must hold only alg (-65537 or -7) and an 8-byte kid, "
                 "and the unprotected header must be empty", "COSE 头须仅含受保护的算法和 8 字节 KID")
        return None
    run.ok("cose_headers", f"alg {alg}, kid {kid.hex()}", f"算法 {alg}，KID {kid.hex()}")
    # Step 6: claims.
    try:
        claims = claims_from_cbor(cbor2.loads(msg.payload))
    except LicenceQrClaimsError as exc:
        run.fail("claims", fmt, exc.message, exc.message_zh)
        return None
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError, EOFError):
        run.fail("claims", fmt, "the CWT payload is not valid CBOR", "CWT 负载不是有效的 CBOR")
        return None
    run.ok("claims", "CWT claims well-formed", "CWT 声明格式正确")
    return msg, claims


def _start(text: str) -> _Run:
    # Step 1: prefix and size.
    if not isinstance(text, str) or len(text) > MAX_QR_TEXT_CHARS:
        raise LicenceQrFormatError(f"QR text must be a string of at most {MAX_QR_TEXT_CHARS} characters",
                                   message_zh="二维码内容过长", field="qr")
    if not text.startswith(LICENCE_QR_PREFIX):
        raise LicenceQrFormatError(f"the QR text does not start with {LICENCE_QR_PREFIX!r}",
                                   message_zh=f"二维码内容不以 {LICENCE_QR_PREFIX} 开头", field="qr")
    run = _Run()
    run.ok("prefix", f"{LICENCE_QR_PREFIX} prefix present", f"前缀 {LICENCE_QR_PREFIX} 正确")
    return run


def decode_licence_qr(text: str) -> LicenceQrClaims:
    """Steps 1-6 only: the claims, NOT verified (for display and debugging).

    Raises:
        LicenceQrFormatError: not a licence token, or unreadable (``field`` names the step).
    """
    run = _start(text)
    got = _decode(run, text)
    if got is None:
        bad = run.checks[-1]
        raise LicenceQrFormatError(bad.detail_en, message_zh=bad.detail_zh, field=bad.name)
    return got[1]


def _signer_from(kid: bytes, certs: Sequence[Certificate], trust: TrustStore | TrustRegistry) -> Certificate | None:
    pool = list(certs) + (list(trust.anchors) if isinstance(trust, TrustStore) else [])
    return next((c for c in pool if licence_qr_kid(c.der) == kid), None)


def _resolve(run: _Run, kid: bytes, claims: LicenceQrClaims, *, trust: TrustStore | TrustRegistry,
             certs: Sequence[Certificate], crls: Sequence[Crl], policy: PathPolicy | None,
             at: datetime) -> tuple[Certificate | None, str | None, str | None]:
    """Step 7: (signer certificate, vouching region, trust anchor label)."""
    if not isinstance(trust, TrustStore):
        for service in ("qr_signer", "licence_issuer"):
            res = trust.resolve_kid(kid, at=at, service_type=service)
            if res.certificate_der is None and res.problem is None:
                continue
            run.checks.extend(res.checks)
            if res.problem is not None:
                ind, sub, en, zh = res.problem
                (run.fail if ind is Indication.TOTAL_FAILED else run.unsure)("signer", sub, en, zh)
                return None, res.region, res.label
            assert res.certificate_der is not None
            cert = parse_certificate(res.certificate_der)
            match = trust.recognise(res.region or "", service, claims.type_code, None)
            if match.accepted:
                run.ok("recognition", match.reason_en, match.reason_zh)
            else:
                run.unsure("recognition", SubIndication.SIG_CONSTRAINTS_FAILURE, match.reason_en, match.reason_zh)
            run.ok("signer", f"KID {kid.hex()} names {cert.subject_str}", f"KID {kid.hex()} 对应 {cert.subject_str}")
            return cert, res.region, res.label
    leaf = _signer_from(kid, certs, trust)
    if leaf is None:
        run.unsure("signer", SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
                   f"no known signer certificate has KID {kid.hex()}: the issuer is unknown here",
                   f"没有 KID 为 {kid.hex()} 的已知签名证书：签发者未知")
        return None, None, None
    others = [c for c in certs if c.der != leaf.der]
    if isinstance(trust, TrustStore):
        path = validate_path(leaf, trust=trust, at=at, intermediates=others, crls=crls, policy=policy,
                             artefact=ARTEFACT)
        region = None
    else:
        path = trust.validate_certificate(leaf, service_type="licence_issuer", artefact_type=claims.type_code,
                                          level=None, at=at, intermediates=others, crls=crls, policy=policy,
                                          artefact=ARTEFACT)
        label = path.trust_anchor or ""
        region = label.split(" ", 1)[0] if " trust list " in label else None
    run.checks.extend(Check(f"signer.{c.name}", c.status, c.detail_en, c.detail_zh) for c in path.checks)
    if path.passed:
        run.ok("signer", f"KID {kid.hex()} names {leaf.subject_str}, path valid",
               f"KID {kid.hex()} 对应 {leaf.subject_str}，证书路径有效")
    else:
        sub = path.sub_indication or SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE
        (run.fail if path.indication is Indication.TOTAL_FAILED else run.unsure)(
            "signer", sub, path.reason.en, path.reason.zh)
    return leaf, region, path.trust_anchor


def _check_signature(run: _Run, msg: Any, cert: Certificate, algorithms: AlgorithmPolicy) -> None:
    """Step 8."""
    key_type, sig_alg = _ALGS[msg.protected[HDR_ALG]]
    try:
        key = cert.public_key()
        if key.key_type is not key_type:
            run.fail("signature", SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
                     f"COSE algorithm {msg.protected[HDR_ALG]} does not fit the signer's {key.key_type.value} key",
                     "COSE 算法与签名证书密钥类型不符")
            return
        algorithms.check(sig_alg, key_bits=key.key_bits)
        key.verify(p1363_to_der(msg.signature, 32), sig_structure(msg), algorithm=sig_alg)
    except EsignError as exc:
        if isinstance(exc, AlgorithmNotAllowedError):
            run.fail("signature", SubIndication.CRYPTO_CONSTRAINTS_FAILURE, exc.message, exc.message_zh)
        else:
            run.fail("signature", SubIndication.SIG_CRYPTO_FAILURE, "the token's signature does not verify",
                     "二维码签名验证失败")
        return
    run.ok("signature", f"{sig_alg.algo_name} signature verifies", f"{sig_alg.algo_name} 签名验证通过")


def _check_status(run: _Run, claims: LicenceQrClaims, lists: Mapping[str, StatusListView], *, at: datetime,
                  require: bool, signer: Certificate | None = None) -> None:
    """Step 11."""
    if claims.status_uri is None:
        life = None if claims.expires_at is None else claims.expires_at - claims.issued_at
        if life is not None and life <= MAX_UNLISTED_LIFETIME:
            run.ok("status", f"short-lived token ({int(life.total_seconds())} s) without a status reference",
                   "短时效二维码，无状态列表引用")
        elif require:
            run.unsure("status", SubIndication.REVOCATION_OUT_OF_BOUNDS_NO_POE,
                       "the token has no status reference and is not short-lived", "二维码无状态引用且非短时效")
        else:
            run.skip("status", "not checked: the token has no status reference", "未检查：二维码无状态引用")
        return
    sl = lists.get(claims.status_uri)
    where = f"{claims.status_uri} #{claims.status_index}"
    if sl is None:
        given = f" (status lists held: {', '.join(sorted(lists))})" if lists else ""
        if require:
            run.unsure("status", SubIndication.REVOCATION_OUT_OF_BOUNDS_NO_POE,
                       f"no cached status list for {claims.status_uri}{given}",
                       f"没有缓存 {claims.status_uri} 的状态列表")
        else:
            run.skip("status", f"not checked: no status list for {claims.status_uri}", "未检查：没有状态列表")
        return
    signed_by = getattr(sl, "signer_subject", None)
    if isinstance(signed_by, str) and signer is not None and signed_by != signer.subject_str:
        run.unsure("status", SubIndication.TRY_LATER,
                   f"the status list for {claims.status_uri} was signed by {signed_by}, not by the token's signer "
                   f"{signer.subject_str}", "状态列表与二维码的签发者不一致")
        return
    expires = getattr(sl, "expires_at", None)
    if isinstance(expires, datetime) and at > expires:
        run.unsure("status", SubIndication.TRY_LATER, f"the cached status list expired at {expires.isoformat()}",
                   f"缓存的状态列表已于 {expires.isoformat()} 过期")
        return
    try:
        value = sl.status(claims.status_index)  # type: ignore[arg-type]  # set together with status_uri
    except (IndexError, ValueError, TypeError):
        run.unsure("status", SubIndication.REVOCATION_OUT_OF_BOUNDS_NO_POE, f"{where} is outside the status list",
                   "索引超出状态列表范围")
        return
    if value == 0:
        run.ok("status", f"{where}: valid", f"{where}：有效")
    elif value == 2:
        run.unsure("status", SubIndication.TRY_LATER, f"{where}: the licence is suspended", f"{where}：证照已暂停")
    else:
        en, zh = _STATUS_WORDS.get(value, (f"status {value}", f"状态 {value}"))
        run.fail("status", SubIndication.REVOKED, f"{where}: the licence is {en}", f"{where}：证照{zh}")


def _run_verification(text: str, *, trust: TrustStore | TrustRegistry, at: datetime,
                      status_list: StatusListView | Mapping[str, StatusListView] | Sequence[StatusListView] | None,
                      certs: Sequence[Certificate | bytes], crls: Sequence[Crl], policy: PathPolicy | None,
                      clock_skew: timedelta, algorithms: AlgorithmPolicy,
                      require_status: bool, max_age: timedelta | None = None
                      ) -> tuple[ValidationReport, LicenceQrClaims | None]:
    if at.tzinfo is None:
        raise BadInputError("at must be timezone-aware", field="at")
    run = _start(text)
    got = _decode(run, text)
    if got is None:
        return run.report(at, {}, None), None
    msg, claims = got
    kid = msg.protected[HDR_KID]
    info: dict[str, Any] = {"kid": kid.hex(), "licence_identifier": claims.identifier, "type_code": claims.type_code,
                            "issuer_code": claims.issuer_code, "region": claims.region}
    parsed = [c if isinstance(c, Certificate) else parse_certificate(bytes(c)) for c in certs]
    # Step 7: signer certificate and its trust.
    cert, region, anchor = _resolve(run, kid, claims, trust=trust, certs=parsed, crls=crls, policy=policy, at=at)
    # Step 8: signature.
    if cert is None:
        run.skip("signature", "not checked: no usable signer certificate", "未检查：没有可用的签名证书")
    else:
        info.update(subject=cert.subject_str, sha256=cert.sha256)
        _check_signature(run, msg, cert, algorithms)
    # Step 9: region.
    if region is None:
        run.skip("region", "no trust list region to compare with", "无信任列表地区可比对")
    elif region != claims.region:
        run.fail("region", SubIndication.SIG_CONSTRAINTS_FAILURE,
                 f"the token claims region {claims.region} but its signer is vouched for by region {region}",
                 f"二维码声明地区 {claims.region}，但签名者由地区 {region} 担保")
    else:
        run.ok("region", f"region {region} vouches for the signer", f"地区 {region} 担保该签名者")
    # Step 10: times.
    iat, exp = claims.issued_at, claims.expires_at
    if at + clock_skew < iat:
        run.fail("validity", SubIndication.NOT_YET_VALID, f"made at {iat.isoformat()}, after {at.isoformat()}",
                 f"生成时间 {iat.isoformat()} 晚于验证时间")
    elif exp is not None and at - clock_skew > exp:
        run.fail("validity", SubIndication.EXPIRED, f"expired at {exp.isoformat()}", f"已于 {exp.isoformat()} 过期")
    else:
        span = f"{iat.isoformat()} / {exp.isoformat() if exp else 'long-term'}"
        run.ok("validity", f"valid {span}", f"有效期 {span}")
    if max_age is not None:
        age = at - iat
        if age > max_age:
            run.unsure("age", SubIndication.SIG_CONSTRAINTS_FAILURE,
                       f"the code was made {int(age.total_seconds())} s before the validation time; the validation "
                       f"policy accepts codes at most {int(max_age.total_seconds())} s old",
                       f"二维码生成于 {int(age.total_seconds())} 秒前，超过验证策略允许的 "
                       f"{int(max_age.total_seconds())} 秒，请出示新生成的二维码")
        else:
            run.ok("age", f"made {max(0, int(age.total_seconds()))} s ago (policy: at most "
                   f"{int(max_age.total_seconds())} s)", "二维码在验证策略允许的时效内")
    # Step 11: status.
    if status_list is None:
        lists: Mapping[str, StatusListView] = {}
    elif isinstance(status_list, Mapping):
        lists = status_list
    elif isinstance(status_list, StatusListView):
        lists = {status_list.uri: status_list}
    else:
        lists = {s.uri: s for s in status_list}
    _check_status(run, claims, lists, at=at, require=require_status, signer=cert)
    report = run.report(at, info, anchor)
    return report, claims if report.passed else None


def verify_licence_qr(
    text: str,
    *,
    trust: TrustStore | TrustRegistry,
    at: datetime,
    status_list: StatusListView | Mapping[str, StatusListView] | Sequence[StatusListView] | None = None,
    certs: Sequence[Certificate | bytes] = (),
    crls: Sequence[Crl] = (),
    policy: PathPolicy | None = None,
    clock_skew: timedelta = timedelta(0),
    algorithms: AlgorithmPolicy = DEFAULT_POLICY,
    require_status: bool = True,
    max_age: timedelta | None = None,
) -> ValidationReport:
    """Verify an ``ESL1:`` licence QR token offline (steps in the module docstring).

    Args:
        text: the QR content.
        trust: a :class:`~verifier.trust.TrustRegistry` (signers vouched for as ``qr_signer`` or
            ``licence_issuer``) or a :class:`~verifier.pki.TrustStore` of anchors.
        at: validation time (timezone-aware).
        status_list: cached, verified status list(s): one, a sequence, or a mapping URI -> list.
        certs: signer certificates (looked up by KID) and intermediates the terminal holds.
        crls: revocation data for the signer's path.
        policy: path-validation policy.
        clock_skew: tolerance on ``iat``/``exp``.
        algorithms: allow-list.
        require_status: without a status list for the token, INDETERMINATE (default) or SKIPPED.
        max_age: oldest token accepted (``iat`` this long before ``at``); ``None``: no limit.

    Raises:
        LicenceQrFormatError: not an ``ESL1:`` token, too long, or a decompression bomb.
    """
    return _run_verification(text, trust=trust, at=at, status_list=status_list, certs=certs, crls=crls,
                             policy=policy, clock_skew=clock_skew, algorithms=algorithms,
                             require_status=require_status, max_age=max_age)[0]


def read_licence_qr(text: str, **kwargs: Any) -> LicenceQrResult:
    """:func:`verify_licence_qr` plus the claims when (and only when) the token passed."""
    report, claims = _run_verification(text, **{"status_list": None, "certs": (), "crls": (), "policy": None,
                                                "clock_skew": timedelta(0), "algorithms": DEFAULT_POLICY,
                                                "require_status": True, **kwargs})
    return LicenceQrResult(report=report, claims=claims)

