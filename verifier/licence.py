"""Verify a canonical signed licence (and the issuer's signed status list), offline.

Signed licence (produced by :mod:`licences.canonical`): canonical JSON
``{"format":"esign.signed-licence/1","licence":<b64 document>,"signature":{"format":"ses"|"cms","value":<b64>}}``.
Front-door detection rule: the bytes start with ``{"format":"esign.signed-licence/1"`` (see
:func:`is_signed_licence`).

Steps of :func:`verify_licence`:

  1. Format: the envelope and the document parse; the document has every required element.
  2. Signature: the GB/T 38540 seal signature (:func:`verifier.ses.verify_ses_signature`, every
     step) or the CMS signature (:func:`verifier.cms.verify_cms`) over the exact document bytes.
  3. Identifier: the ``id`` has the licence root, the MOD 37,36 check character holds, and its
     type, issuer and version parts equal the document's.
  4. Validity window: ``valid_from <= day(at) <= valid_until``.
  5. Status: from a verified status list of the same authority signed by the same issuer
     (certificate subject): 0 valid, 1 revoked (TOTAL_FAILED), 2 suspended (INDETERMINATE),
     3 superseded (TOTAL_FAILED). Without a status list the verdict is at best INDETERMINATE.
     Several lists may be given (``status_lists``, e.g. every list a window terminal holds): only
     those whose (unverified) ``authority`` is the licence's are verified, and of those that verify
     the newest (highest ``version``) is used; none of the licence's authority -> INDETERMINATE /
     REVOCATION_OUT_OF_BOUNDS_NO_POE naming the authorities that were given.

Clock skew (``clock_skew``, default :data:`CLOCK_SKEW`; a validation policy layer's
``clock_skew_seconds`` at the front door): a licence whose ``valid_from`` day starts at most that
long after ``at``, a status list issued at most that long after ``at``, and (SES) a signing time or
certificate that many seconds early still count as valid; expiry has no tolerance.

Status list (:func:`verify_status_list`): a deterministic CBOR envelope
``{typ, payload, alg, cert, sig}``; ``payload`` is CBOR with ``authority``, ``issuer``, ``list_id``,
``version``, ``iat``, ``exp``, ``ttl``, ``size`` and ``status_list = {bits: 2, lst: zlib(bytes)}``
(IETF Token Status List layout: entry ``i`` is bits ``2*(i%4)..`` of byte ``i//4``). Steps: S1 parse,
S2 signature with the embedded certificate, S3 certificate path to ``trust`` at ``at``, S4 time
window ``iat <= at < exp``, S5 bounded decompression to exactly ``ceil(size/4)`` bytes.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from keys.algorithms import by_oid
from keys.errors import BadInputError, EsignError, VerificationError
from keys.x509 import Certificate, Crl, parse_certificate
from verifier.cms import verify_cms
from verifier.pki import PathPolicy, TrustStore, validate_path
from verifier.report import Check, CheckStatus, Indication, Reason, SubIndication, ValidationReport, reason_for
from verifier.ses import verify_ses_signature

__all__ = [
    "DOCUMENT_FORMAT",
    "MAX_SIGNED_LICENCE_BYTES",
    "MAX_STATUS_LIST_BYTES",
    "MAX_STATUS_LIST_SIZE",
    "SIGNED_FORMAT",
    "STATUS_LIST_TYPE",
    "SignedLicence",
    "StatusList",
    "StatusListError",
    "StatusListExpiredError",
    "is_signed_licence",
    "parse_unverified_signed_licence",
    "peek_status_list_authority",
    "verify_licence",
    "verify_status_list",
]

DOCUMENT_FORMAT = "esign.licence/1"
SIGNED_FORMAT = "esign.signed-licence/1"
STATUS_LIST_TYPE = "esign-status-list/1"
#: Largest signed licence accepted.
MAX_SIGNED_LICENCE_BYTES = 1 << 20
#: Largest signed status list accepted (compressed).
MAX_STATUS_LIST_BYTES = 4 << 20
#: Most entries in one status list (2 bits each: 16 MiB decompressed at most).
MAX_STATUS_LIST_SIZE = 1 << 26
#: Tolerance for a status list issued slightly after the reference time.
CLOCK_SKEW = timedelta(minutes=5)
_PREFIX = ('{"format":"' + SIGNED_FORMAT + '"').encode()
_ID_ROOT = "1.2.156.3005.2."
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_REQUIRED = ("id", "type", "number", "holder", "issuer", "issued_at", "valid_from", "version", "status_list", "fields")


@dataclass(frozen=True)
class SignedLicence:
    """A signed licence split into its parts (nothing verified)."""

    document: bytes
    """The exact canonical document bytes that were signed."""
    content: Mapping[str, Any]
    """The document parsed."""
    signature_format: str
    """``ses`` or ``cms``."""
    signature: bytes
    """DER ``SES_Signature`` or CMS ``ContentInfo``."""


def is_signed_licence(data: bytes) -> bool:
    """Front-door detection: the bytes start with the signed-licence format marker."""
    return data[: len(_PREFIX)] == _PREFIX


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise BadInputError(f"{what} must be base64 text", message_zh="签名证照编码错误", field=what)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadInputError(f"{what} is not valid base64", message_zh="签名证照编码错误", field=what) from None


def parse_unverified_signed_licence(data: bytes) -> SignedLicence:
    """Split a signed licence; checks the structure only.

    Raises:
        BadInputError: not a signed licence, or its envelope/document is malformed.
    """
    if len(data) > MAX_SIGNED_LICENCE_BYTES:
        raise BadInputError("signed licence larger than 1 MiB", message_zh="签名证照过大", field="file")
    if not is_signed_licence(data):
        raise BadInputError("not an esign signed licence", message_zh="不是签名电子证照", field="file")
    try:
        env = json.loads(data.decode("utf-8"))
        sig = env["signature"]
        document = _b64(env["licence"], "licence")
        signature = _b64(sig["value"], "signature")
        fmt = sig["format"]
        content = json.loads(document.decode("utf-8"))
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError) as exc:
        if isinstance(exc, BadInputError):
            raise
        raise BadInputError(f"malformed signed licence ({type(exc).__name__})", message_zh="签名证照格式错误",
                            field="file") from None
    if fmt not in ("ses", "cms"):
        raise BadInputError(f"unknown signature format {str(fmt)[:20]!r}", message_zh="未知的签名格式",
                            field="signature")
    if not isinstance(content, dict) or content.get("format") != DOCUMENT_FORMAT:
        raise BadInputError("the signed content is not an esign licence document", message_zh="签名内容不是电子证照",
                            field="licence")
    missing = [k for k in _REQUIRED if k not in content]
    if missing:
        raise BadInputError(f"the licence document lacks {', '.join(missing)}", message_zh="证照文档缺少必要元素",
                            field=missing[0])
    return SignedLicence(document=document, content=content, signature_format=fmt, signature=signature)


# --- status lists ------------------------------------------------------------------------------


class StatusListError(VerificationError):
    """A status list's signature, signer or content does not check out."""

    code = "status_list_invalid"
    default_zh = "证照状态列表验证失败"


class StatusListExpiredError(StatusListError):
    """A status list is past its expiry (or not yet valid) at the reference time."""

    code = "status_list_expired"
    default_zh = "证照状态列表已过期"


@dataclass(frozen=True)
class StatusList:
    """A verified status list of one issuing authority."""

    authority: str
    """Issuing authority id."""
    issuer: str
    """Issuer's USCC."""
    list_id: str
    """List identifier (``<authority>``)."""
    version: int
    """Increases with every publication."""
    issued_at: datetime
    """``iat``."""
    expires_at: datetime
    """``exp``: do not use after this."""
    ttl: int
    """Seconds a verifier may cache it before fetching again."""
    size: int
    """Number of entries."""
    bits: int
    """Bits per entry (2)."""
    raw: bytes
    """The decompressed bitstring."""
    signer_subject: str
    """Subject of the certificate that signed it."""

    def status(self, index: int) -> int:
        """The 2-bit code at ``index`` in O(1) (0 valid, 1 revoked, 2 suspended, 3 superseded).

        Raises:
            BadInputError: index outside the list.
        """
        if isinstance(index, bool) or not isinstance(index, int) or not (0 <= index < self.size):
            raise BadInputError(f"status index {index!r} outside the list (size {self.size})",
                                message_zh="状态索引超出列表范围", field="index")
        return (self.raw[index >> 2] >> ((index & 3) << 1)) & 3


def verify_status_list(
    data: bytes,
    *,
    trust: TrustStore,
    at: datetime,
    intermediates: Sequence[Certificate] = (),
    crls: Sequence[Crl] = (),
    policy: PathPolicy | None = None,
    clock_skew: timedelta = CLOCK_SKEW,
) -> StatusList:
    """Verify a signed status list (steps S1-S5 in the module docstring) and return it.

    ``clock_skew``: a list issued at most this long after ``at`` is still accepted.

    Raises:
        BadInputError: not a status list at all.
        StatusListError: bad signature, untrusted signer, malformed content.
        StatusListExpiredError: outside ``iat .. exp``.
    """
    import cbor2

    def fail(msg: str, zh: str, *, expired: bool = False) -> EsignError:
        cls = StatusListExpiredError if expired else StatusListError
        return cls(msg, message_zh=zh, field="status_list")

    # Step S1: parse.
    if len(data) > MAX_STATUS_LIST_BYTES:
        raise BadInputError("status list larger than 4 MiB", message_zh="状态列表过大", field="status_list")
    try:
        env = cbor2.loads(data)
        ok = isinstance(env, dict) and env.get("typ") == STATUS_LIST_TYPE
    except Exception:  # cbor2 raises several unrelated types on garbage
        ok = False
    if not ok:
        raise BadInputError("not an esign status list", message_zh="不是证照状态列表", field="status_list")
    try:
        payload_bytes, alg_oid, cert_der, sig = env["payload"], env["alg"], env["cert"], env["sig"]
        if not all(isinstance(x, bytes) for x in (payload_bytes, cert_der, sig)) or not isinstance(alg_oid, str):
            raise TypeError("envelope types")
        cert = parse_certificate(cert_der)
        alg = by_oid(alg_oid)
    except (KeyError, TypeError, EsignError) as exc:
        raise fail(f"malformed status list envelope ({type(exc).__name__})", "状态列表格式错误") from None
    # Step S2: signature.
    try:
        cert.public_key().verify(sig, payload_bytes, algorithm=alg)
    except EsignError:
        raise fail("the status list signature does not verify", "状态列表签名验证失败") from None
    # Step S3: the signer's certificate path.
    path = validate_path(cert, trust=trust, at=at, intermediates=intermediates, crls=crls, policy=policy)
    if not path.passed:
        raise fail(f"the status list signer is not trusted: {path.reason.en}",
                   f"状态列表签名者不受信任：{path.reason.zh}")
    try:
        p = cbor2.loads(payload_bytes)
        sl = p["status_list"]
        size, bits, lst = p["size"], sl["bits"], sl["lst"]
        iat = datetime.fromtimestamp(p["iat"], UTC)
        exp = datetime.fromtimestamp(p["exp"], UTC)
        if bits != 2 or not isinstance(lst, bytes) or not (0 <= size <= MAX_STATUS_LIST_SIZE):
            raise ValueError("bits/size")
        fields = (str(p["authority"]), str(p["issuer"]), str(p["list_id"]), int(p["version"]), int(p["ttl"]))
    except Exception as exc:
        raise fail(f"malformed status list payload ({type(exc).__name__})", "状态列表内容格式错误") from None
    # Step S4: time window.
    if not (iat <= at + clock_skew and at < exp):
        raise fail(f"the status list is valid {iat:%Y-%m-%d %H:%M}..{exp:%Y-%m-%d %H:%M}Z, not at {at:%Y-%m-%d %H:%M}Z",
                   "状态列表不在有效期内", expired=True)
    # Step S5: bounded decompression.
    want = (size + 3) // 4
    try:
        d = zlib.decompressobj()
        raw = d.decompress(lst, want + 1)
        if not d.eof or d.unconsumed_tail or d.unused_data:
            raise zlib.error("trailing or incomplete data")
    except zlib.error as exc:
        raise fail(f"the status list bitstring is corrupt ({exc})", "状态列表数据损坏") from None
    if len(raw) != want:
        raise fail(f"the status list holds {len(raw)} bytes, not {want}", "状态列表长度错误")
    return StatusList(authority=fields[0], issuer=fields[1], list_id=fields[2], version=fields[3], issued_at=iat,
                      expires_at=exp, ttl=fields[4], size=size, bits=bits, raw=raw, signer_subject=cert.subject_str)


def peek_status_list_authority(data: bytes) -> str | None:
    """The ``authority`` a status list claims, NOT verified (to pick which list to verify); ``None`` if unreadable."""
    import cbor2

    if not isinstance(data, (bytes, bytearray)) or len(data) > MAX_STATUS_LIST_BYTES:
        return None
    try:
        env = cbor2.loads(bytes(data))
        if not isinstance(env, dict) or env.get("typ") != STATUS_LIST_TYPE or not isinstance(env.get("payload"), bytes):
            return None
        payload = cbor2.loads(env["payload"])
        authority = payload.get("authority") if isinstance(payload, dict) else None
    except Exception:  # cbor2 raises several unrelated types on garbage
        return None
    return authority if isinstance(authority, str) else None


# --- verification ------------------------------------------------------------------------------


def _mod37_36(s: str) -> str | None:
    """ISO 7064 MOD 37,36 check character (same algorithm as :mod:`licences.identifiers`, which sits above us)."""
    p = 36
    for ch in s:
        v = _ALNUM.find(ch)
        if v < 0:
            return None
        t = (p + v) % 36 or 36
        p = (t * 2) % 37
    return _ALNUM[(37 - p) % 36]


class _Run:
    def __init__(self) -> None:
        self.checks: list[Check] = []
        self.fails: list[tuple[Indication, SubIndication, Reason]] = []

    def ok(self, name: str, en: str, zh: str) -> None:
        self.checks.append(Check(name, CheckStatus.PASSED, en, zh))

    def bad(self, name: str, ind: Indication, sub: SubIndication, en: str, zh: str,
            hint: tuple[str, str] = ("", "")) -> None:
        self.checks.append(Check(name, CheckStatus.FAILED if ind is Indication.TOTAL_FAILED
                                 else CheckStatus.INDETERMINATE, en, zh))
        base = reason_for(sub)
        self.fails.append((ind, sub, Reason(en=en, zh=zh, hint_en=hint[0] or base.hint_en,
                                            hint_zh=hint[1] or base.hint_zh)))

    def verdict(self) -> tuple[Indication, SubIndication | None, Reason]:
        for ind in (Indication.TOTAL_FAILED, Indication.INDETERMINATE):
            for i, sub, reason in self.fails:
                if i is ind:
                    return i, sub, reason
        return Indication.TOTAL_PASSED, None, reason_for(None)


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        return None


def verify_licence(
    data: bytes,
    *,
    trust: TrustStore,
    at: datetime,
    status_list: StatusList | bytes | None = None,
    intermediates: Sequence[Certificate] = (),
    crls: Sequence[Crl] = (),
    policy: PathPolicy | None = None,
    require_revocation: bool = False,
    seal_status: Any = None,
    status_lists: Sequence[StatusList | bytes] = (),
    clock_skew: timedelta | None = None,
    **_: Any,
) -> ValidationReport:
    """Verify a signed licence at ``at`` (steps 1-5 in the module docstring).

    Args:
        data: the signed licence bytes.
        trust: trust anchors for the issuer's (and seal maker's) certificates.
        at: validation time.
        status_list: the issuer's status list, verified (:class:`StatusList`) or as published bytes
            (verified here against ``trust`` at ``at``).
        intermediates: CA certificates that complete the signer's path.
        seal_status: the seal register (``status_at``) for the SES seal, if available.
        status_lists: candidate status lists of any authorities (with or instead of
            ``status_list``): the newest verified one of the licence's authority is used.
        clock_skew: tolerance of the not-yet-valid checks (default :data:`CLOCK_SKEW`).

    Raises:
        BadInputError: the bytes are not a signed licence at all.
    """
    if not is_signed_licence(data):
        raise BadInputError("not an esign signed licence", message_zh="不是签名电子证照", field="file")
    skew = CLOCK_SKEW if clock_skew is None else clock_skew
    if skew < timedelta(0):
        raise BadInputError("clock_skew must not be negative", message_zh="时钟偏差不能为负", field="clock_skew")
    run = _Run()
    # Step 1: format.
    try:
        sl = parse_unverified_signed_licence(data)
    except BadInputError as exc:
        run.bad("format", Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE, exc.message, exc.message_zh)
        return _report(run, at, {}, None)
    doc = sl.content
    run.ok("format", f"signed licence ({sl.signature_format}) with a {DOCUMENT_FORMAT} document",
           "签名电子证照格式正确")
    # Step 2: signature over the exact document bytes.
    try:
        if sl.signature_format == "ses":
            sig = verify_ses_signature(sl.signature, data=sl.document, trust=trust, at=at, seal_status=seal_status,
                                       intermediates=intermediates, crls=crls, policy=policy,
                                       require_revocation=require_revocation, clock_skew=skew)
        else:
            sig = verify_cms(sl.signature, detached_content=sl.document, trust=trust, at=at, crls=crls,
                             require_revocation=require_revocation, policy=policy, extra_certs=intermediates)
    except BadInputError as exc:
        run.bad("signature", Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE,
                f"the signature cannot be read: {exc.message}", "证照签名无法解析")
        return _report(run, at, {}, None)
    run.checks.extend(Check(f"signature.{c.name}", c.status, c.detail_en, c.detail_zh) for c in sig.checks)
    if sig.passed:
        run.ok("signature", "the issuer's signature over the licence verifies", "发证机构签名验证通过")
    else:
        run.fails.append((sig.indication, sig.sub_indication or SubIndication.CUSTOM, sig.reason))
        run.checks.append(Check("signature", CheckStatus.FAILED if sig.indication is Indication.TOTAL_FAILED
                                else CheckStatus.INDETERMINATE, sig.reason.en, sig.reason.zh))
    # Step 3: identifier.
    _identifier(run, doc)
    # Step 4: validity window (a start up to the clock skew after ``at`` still counts).
    day = at.astimezone(UTC).date()
    start, end = _day(doc.get("valid_from")), _day(doc.get("valid_until"))
    if start is None or ("valid_until" in doc and end is None):
        run.bad("validity", Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE, "unreadable validity dates",
                "有效期日期无法解析")
    elif (at + skew).astimezone(UTC).date() < start:
        run.bad("validity", Indication.TOTAL_FAILED, SubIndication.NOT_YET_VALID,
                f"the licence is valid from {start.isoformat()}", "证照尚未生效")
    elif end is not None and day > end:
        run.bad("validity", Indication.TOTAL_FAILED, SubIndication.EXPIRED, f"the licence expired on {end.isoformat()}",
                "证照已过有效期", ("Ask the holder for a renewed licence.", "请持证人提供换发后的证照。"))
    else:
        run.ok("validity", f"within the validity period from {start.isoformat()}"
               + (f" to {end.isoformat()}" if end else " (long-term)"), "在证照有效期内")
    # Step 5: status.
    chosen = _choose_status_list(run, doc, status_list, status_lists, trust=trust, at=at, intermediates=intermediates,
                                 crls=crls, policy=policy, skew=skew)
    if chosen is not False:
        _status(run, doc, chosen, sig, trust=trust, at=at, intermediates=intermediates, crls=crls, policy=policy,
                skew=skew)
    signer = {**dict(sig.signer), "licence_id": doc.get("id"), "type": doc.get("type"),
              "issuer": doc.get("issuer"), "version": doc.get("version")}
    return _report(run, at, signer, sig)


def _identifier(run: _Run, doc: Mapping[str, Any]) -> None:
    lid = doc.get("id")
    parts = lid[len(_ID_ROOT):].split(".") if isinstance(lid, str) and lid.startswith(_ID_ROOT) else []
    if len(parts) != 5:
        run.bad("identifier", Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE,
                "the licence identifier is malformed", "证照标识格式错误")
        return
    typ, issuer, serial, version, check = parts
    if _mod37_36(typ + issuer + serial + version) != check:
        run.bad("identifier", Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE,
                "the licence identifier's check character is wrong", "证照标识校验位错误")
        return
    t, i = doc.get("type"), doc.get("issuer")
    same = (isinstance(t, dict) and t.get("code") == typ and isinstance(i, dict) and i.get("code") == issuer
            and version.isdigit() and doc.get("version") == int(version))
    if not same:
        run.bad("identifier", Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE,
                "the identifier's type, issuer or version differs from the document", "证照标识与证照内容不一致")
        return
    run.ok("identifier", f"identifier {lid} is well-formed and matches the document", "证照标识校验通过")


def _choose_status_list(run: _Run, doc: Mapping[str, Any], status_list: StatusList | bytes | None,
                        candidates: Sequence[StatusList | bytes], *, trust: TrustStore, at: datetime,
                        intermediates: Sequence[Certificate], crls: Sequence[Crl], policy: PathPolicy | None,
                        skew: timedelta) -> StatusList | bytes | Literal[False] | None:
    """The status list to use: ``status_list`` if given, else the newest verified candidate of the licence's authority.

    ``False`` after recording why none of several candidates can be used.
    """
    if status_list is not None or not candidates:
        return status_list
    ref = doc.get("status_list")
    wanted = ref.get("authority") if isinstance(ref, dict) else None
    seen: list[str] = []
    good: list[StatusList] = []
    errors: list[EsignError] = []
    for cand in candidates:
        name = cand.authority if isinstance(cand, StatusList) else peek_status_list_authority(cand)
        seen.append(name or "unreadable")
        if name is None or name != wanted:
            continue
        if isinstance(cand, StatusList):
            good.append(cand)
            continue
        try:
            good.append(verify_status_list(bytes(cand), trust=trust, at=at, intermediates=intermediates, crls=crls,
                                           policy=policy, clock_skew=skew))
        except EsignError as exc:
            errors.append(exc)
    if good:
        return max(good, key=lambda s: (s.version, s.issued_at))
    if errors:
        run.bad("status", Indication.INDETERMINATE, SubIndication.TRY_LATER,
                f"the status list of authority {wanted} is unusable: {errors[0].message}",
                f"发证机构 {wanted} 的状态列表不可用：{errors[0].message_zh}",
                ("Fetch the authority's current status list and verify again.",
                 "请获取发证机构最新的状态列表后重新验证。"))
        return False
    given = ", ".join(sorted(set(seen)))
    run.bad("status", Indication.INDETERMINATE, SubIndication.REVOCATION_OUT_OF_BOUNDS_NO_POE,
            f"the licence's status was not checked: it is listed by authority {wanted}, and the "
            f"{len(candidates)} status list(s) given are of {given}",
            f"未提供发证机构 {wanted} 的状态列表（所给状态列表属于 {given}），无法确认证照状态",
            (f"Fetch the status list of authority {wanted} (GET /v1/status-lists/{wanted}) and verify again.",
             f"请获取发证机构 {wanted} 的状态列表后重新验证。"))
    return False


def _status(run: _Run, doc: Mapping[str, Any], status_list: StatusList | bytes | None, sig: ValidationReport, *,
            trust: TrustStore, at: datetime, intermediates: Sequence[Certificate], crls: Sequence[Crl],
            policy: PathPolicy | None, skew: timedelta = CLOCK_SKEW) -> None:
    ref = doc.get("status_list")
    if status_list is None:
        run.bad("status", Indication.INDETERMINATE, SubIndication.REVOCATION_OUT_OF_BOUNDS_NO_POE,
                "the licence's status was not checked: no status list was supplied", "未提供状态列表，无法确认证照状态",
                ("Fetch the issuer's status list (GET /v1/status-lists/<authority>) and verify again.",
                 "请获取发证机构的状态列表后重新验证。"))
        return
    if isinstance(status_list, (bytes, bytearray)):
        try:
            status_list = verify_status_list(bytes(status_list), trust=trust, at=at, intermediates=intermediates,
                                             crls=crls, policy=policy, clock_skew=skew)
        except EsignError as exc:
            run.bad("status", Indication.INDETERMINATE, SubIndication.TRY_LATER,
                    f"the status list is unusable: {exc.message}", f"状态列表不可用：{exc.message_zh}")
            return
    if not isinstance(ref, dict) or ref.get("authority") != status_list.authority:
        run.bad("status", Indication.INDETERMINATE, SubIndication.TRY_LATER,
                "the status list is not the one of this licence's issuing authority", "状态列表不属于该证照的发证机构")
        return
    if sig.signer.get("subject") != status_list.signer_subject:
        run.bad("status", Indication.INDETERMINATE, SubIndication.TRY_LATER,
                "the status list was signed by a different issuer certificate subject than the licence",
                "状态列表与证照的签发者不一致")
        return
    try:
        code = status_list.status(ref.get("index"))  # type: ignore[arg-type]
    except BadInputError as exc:
        run.bad("status", Indication.INDETERMINATE, SubIndication.TRY_LATER, exc.message, exc.message_zh)
        return
    when = f"(status list version {status_list.version} of {status_list.issued_at:%Y-%m-%d %H:%M}Z)"
    if code == 0:
        run.ok("status", f"valid {when}", "证照状态正常")
    elif code == 1:
        run.bad("status", Indication.TOTAL_FAILED, SubIndication.REVOKED, f"the licence has been revoked {when}",
                "证照已被注销（吊销）", ("Do not accept this licence.", "请勿接受该证照。"))
    elif code == 2:
        run.bad("status", Indication.INDETERMINATE, SubIndication.TRY_LATER, f"the licence is suspended {when}",
                "证照已被暂停使用",
                ("Ask the issuing authority; it may be reinstated.", "请联系发证机构核实，证照可能恢复。"))
    else:
        run.bad("status", Indication.TOTAL_FAILED, SubIndication.REVOKED,
                f"this version was superseded by a newer version of the licence {when}", "该版本证照已被新版本取代",
                ("Ask the holder for the current version.", "请持证人出示最新版本的证照。"))


def _report(run: _Run, at: datetime, signer: Mapping[str, Any], sig: ValidationReport | None) -> ValidationReport:
    ind, sub, reason = run.verdict()
    return ValidationReport(artefact="licence", indication=ind, sub_indication=sub, reason=reason,
                            checks=tuple(run.checks), validation_time=at, signer=dict(signer),
                            trust_anchor=None if sig is None else sig.trust_anchor,
                            chain=() if sig is None else sig.chain, signatures=() if sig is None else (sig,))
