"""The one front door: detect what was handed in and dispatch to the check for that kind.

Every caller (library, ``esign verify``, ``POST /v1/verify``) goes through
:func:`verify_artefact` (files) or :func:`verify_qr` (QR text), so all of them give the same
verdict for the same bytes. Kinds: certificate chains, CMS/PKCS#7, PDF, OFD, GB/T 38540 seals
and seal signatures (:data:`_HANDLERS`), ``HC1:`` QR text.

Trust comes in two forms. Plain anchors (``trust=``, a :class:`TrustStore`) are trusted as they
are. A :class:`~verifier.trust.TrustRegistry` (``registry=``: imported, verified trust lists plus
the recognition policy) makes the verdict cross-region: anchors come from the lists for the
service types the kind needs, and after the cryptographic checks the recognition policy decides;
every report then carries ``trust_list`` / ``recognition`` checks and a ``trust_context``
(:mod:`verifier.crossregion`). With both, the plain anchors count as the local region's own.

Licences need their issuer's signed status list for a definite verdict: ``status_lists=`` takes
any number of published lists (bytes); the newest one of the licence's authority that verifies
against the same anchors is used (:func:`verifier.licence.verify_licence`), for signed licence
files and ``ESL1:`` QR tokens alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from esign.formats.ofd_zip import is_ofd_zip
from esign.formats.ses import detect_ses_kind
from keys.errors import BadInputError, EsignError
from keys.x509 import Certificate, Crl, parse_certificates
from verifier.chain import verify_certificate_bundle
from verifier.cms import is_cms_signature, verify_cms
from verifier.crossregion import describe_layers, handler_inputs, run_layered, verify_with_registry
from verifier.licence import (
    CLOCK_SKEW,
    StatusList,
    is_signed_licence,
    peek_status_list_authority,
    verify_licence,
    verify_status_list,
)
from verifier.licence_qr import LicenceQrFormatError, decode_licence_qr, status_views, verify_licence_qr
from verifier.ofd import verify_ofd
from verifier.pdf import verify_pdf
from verifier.pki import PathPolicy, TrustStore
from verifier.policy import ValidationPolicy, ValidationSettings
from verifier.qr import dcc_kid, verify_hc1, verify_qr_text
from verifier.report import Check, CheckStatus, ValidationReport
from verifier.ses import verify_ses
from verifier.trust import TrustRegistry

__all__ = ["MAX_INPUT_BYTES", "MAX_STATUS_LISTS", "UnsupportedArtefactError", "detect_kind", "verify_artefact",
           "verify_qr"]

#: Largest artefact accepted by the front door.
MAX_INPUT_BYTES = 64 << 20
#: Most status lists accepted in one call.
MAX_STATUS_LISTS = 32


class UnsupportedArtefactError(BadInputError):
    """The bytes are not of a kind esign can verify (yet)."""

    code = "unsupported_artefact"
    default_zh = "暂不支持该类型的文件"


def detect_kind(data: bytes) -> str:
    """The artefact kind, from the bytes alone (never the file name).

    Order matters: container magic numbers first (``%PDF-``, ZIP), then DER/PEM structures from
    the most specific to the most general: CMS SignedData with a SignerInfo, GB/T 38540 seal or
    seal signature, then certificates (PEM, DER or certs-only PKCS#7).
    """
    head = data[:1024]
    if is_signed_licence(data):
        return "licence"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return "ofd" if is_ofd_zip(data) else "unknown"
    if head[:1] == b"\x30" or b"-----BEGIN PKCS7-----" in head or b"-----BEGIN CMS-----" in head:
        if is_cms_signature(data):
            return "cms"
    if head[:1] == b"\x30":
        ses = detect_ses_kind(data)
        if ses:
            return ses
    if b"-----BEGIN CERTIFICATE-----" in data or b"-----BEGIN PKCS7-----" in data:
        return "certificate"
    if head[:1] == b"\x30":
        try:
            parse_certificates(data)
        except EsignError:
            return "unknown"
        return "certificate"
    return "unknown"


def _certificate(
    data: bytes, *, trust: TrustStore, at: datetime, crls: Sequence[Crl], require_revocation: bool,
    policy: PathPolicy | None,
) -> ValidationReport:
    parse_certificates(data)  # malformed input is bad input (exit 3 / HTTP 400), not a verdict
    return verify_certificate_bundle(
        data, trust=trust, at=at, crls=crls, require_revocation=require_revocation, policy=policy
    )


def _pdf(data: bytes, **kw: object) -> ValidationReport:
    # A file that starts like a PDF but has no end-of-file marker anywhere is truncated or only a
    # header: bad input (a typed error), like every other truncated file.
    if b"%%EOF" not in data[-(1 << 20):]:
        raise UnsupportedArtefactError(
            "this is a truncated PDF (no %%EOF end-of-file marker): PDF fragments are not supported yet; "
            "send the complete file", message_zh="PDF 文件不完整（缺少 %%EOF 结束标记），请提供完整文件", field="file")
    return verify_pdf(data, **kw)  # type: ignore[arg-type]


_HANDLERS: dict[str, Callable[..., ValidationReport]] = {
    "certificate": _certificate,
    "pdf": _pdf,
    "cms": verify_cms,
    "ofd": verify_ofd,
    "seal": verify_ses,
    "ses_signature": verify_ses,
    "licence": verify_licence,
}


#: How the front door's optional inputs reach each handler (each names them its own way).
_EXTRAS: dict[str, Callable[[bytes | None, Sequence[Certificate]], dict[str, object]]] = {
    "cms": lambda detached, certs: {"detached_content": detached, "extra_certs": certs},
    "seal": lambda detached, certs: {"signed_data": detached, "intermediates": certs},
    "ses_signature": lambda detached, certs: {"signed_data": detached, "intermediates": certs},
    "ofd": lambda detached, certs: {"certs": certs},
    "licence": lambda detached, certs: {"intermediates": certs},
}


def verify_artefact(
    data: bytes,
    *,
    trust: TrustStore | None = None,
    registry: TrustRegistry | None = None,
    at: datetime,
    crls: Sequence[Crl] = (),
    require_revocation: bool = False,
    policy: PathPolicy | None = None,
    detached: bytes | None = None,
    extra_certs: Sequence[Certificate] = (),
    validation: ValidationPolicy | None = None,
    status_lists: Sequence[bytes] = (),
) -> ValidationReport:
    """Verify any supported artefact and return its report.

    Args:
        data: the artefact's bytes.
        trust: plain anchors to trust (nothing else is trusted; no OS store). With ``registry``
            they count as the local region's own anchors (recognised by the rule ``local-region``
            unless the policy says otherwise).
        registry: imported trust lists and the recognition policy: anchors per service type and
            the cross-region decision (:mod:`verifier.crossregion`). Neither given: nothing is trusted.
        at: the validation time.
        crls: revocation data supplied by the caller.
        require_revocation: fail closed (INDETERMINATE) without covering revocation data.
        policy: path-validation policy; the default applies RFC 5280 with the default allow-list.
        detached: the signed data, for detached signatures (``.p7s``, SES ``SignedValue.dat``).
        extra_certs: untrusted certificates that help build paths (intermediates, or the
            signer certificate of a plain OFD signature, which carries none).
        validation: the policy's technical constraints (``Policy.validation``). Each signature is
            then judged under its effective layers -- default, overridden by the layer of the
            region whose trust list vouches for it (with ``registry``), then by the licence
            type's layer for licences -- which decide the algorithms and key sizes, whether
            revocation is required (``require_revocation`` can only add to that) and the minimum
            PAdES level; each report's ``policy`` check and ``trust_context["policy"]`` name the
            layers (:func:`verifier.crossregion.run_layered`), and enforce the layers' clock skew
            (seals, seal signatures, licences) and maximum revocation and signature ages.
            ``None``: ``policy`` and ``require_revocation`` as given.
        status_lists: signed status lists as published (``GET /v1/status-lists/<authority>``),
            for a licence: the newest that verifies and is of the licence's authority decides its
            status; none of that authority -> INDETERMINATE naming what was given. Ignored for
            other kinds.

    Raises:
        BadInputError: too large, unrecognised, or malformed input (no verdict can be given).
    """
    if len(data) > MAX_INPUT_BYTES:
        raise BadInputError("input larger than 64 MiB", message_zh="文件过大", field="file")
    kind = detect_kind(data)
    handler = _HANDLERS.get(kind)
    if handler is None:
        what = "an unrecognised file" if kind == "unknown" else f"a {kind.upper()} file"
        raise UnsupportedArtefactError(
            f"this is {what}: not supported yet; supported: certificates and chains, CMS/PKCS#7, PDF, "
            "OFD, GB/T 38540 seals and seal signatures",
            message_zh="目前支持验证证书、证书链、CMS、PDF、OFD 文件和电子印章/签章",
            field="file",
        )
    if detached is not None and kind not in ("cms", "seal", "ses_signature"):
        raise BadInputError(
            f"detached data applies to CMS and seal signatures, not to a {kind}",
            message_zh="仅 CMS 和电子签章支持分离的原文",
            field="data",
        )
    extras = _EXTRAS[kind](detached, extra_certs) if kind in _EXTRAS else {}
    if kind == "licence":
        extras["status_lists"] = _status_list_bytes(status_lists)
    if registry is not None:
        return verify_with_registry(handler, data, kind=kind, registry=registry, local=trust, at=at, crls=crls,
                                    require_revocation=require_revocation, policy=policy, extras=extras,
                                    intermediates=extra_certs, validation=validation)
    store = trust or TrustStore(anchors=())
    if validation is not None:  # plain anchors belong to no region: default < licence type
        def run(settings: ValidationSettings | None, revocation: Sequence[Crl] | None = None) -> ValidationReport:
            return handler(data, trust=store, at=at, crls=crls if revocation is None else revocation,
                           **handler_inputs(kind, policy, require_revocation, settings), **extras)

        return run_layered(run, validation, kind=kind, region_of=None, at=at, crls=crls)[0]
    return handler(data, trust=store, at=at, crls=crls, require_revocation=require_revocation, policy=policy, **extras)


#: Longest QR text accepted (a version-40 QR code holds at most 4,296 alphanumeric characters).
MAX_QR_TEXT = 8192


def _status_list_bytes(lists: Sequence[bytes]) -> tuple[bytes, ...]:
    if isinstance(lists, (bytes, bytearray, str)) or len(lists) > MAX_STATUS_LISTS:
        raise BadInputError(f"status_lists is a list of at most {MAX_STATUS_LISTS} signed status lists",
                            message_zh=f"状态列表最多 {MAX_STATUS_LISTS} 个", field="status_list")
    if not all(isinstance(x, (bytes, bytearray)) for x in lists):
        raise BadInputError("each status list is the published bytes", message_zh="状态列表格式错误",
                            field="status_list")
    return tuple(bytes(x) for x in lists)


def _qr_anchors(trust: TrustRegistry | TrustStore) -> TrustStore:
    """Anchors a status list's signer may chain to: the store, or the registry's licence issuers and QR signers."""
    if isinstance(trust, TrustStore):
        return trust
    certs, _ = trust.anchor_sources(("licence_issuer", "qr_signer"))
    return TrustStore.of(certs, label="trust lists (licence issuers and QR signers)")


def _esl1(text: str, *, trust: TrustRegistry | TrustStore, at: datetime, status_lists: Sequence[bytes],
          certs: Sequence[Certificate], crls: Sequence[Crl], validation: ValidationPolicy | None) -> ValidationReport:
    """An ``ESL1:`` licence token with the layer of its region and type and the status lists given."""
    try:
        claims = decode_licence_qr(text)  # NOT verified: only to pick the layer and the status list
    except LicenceQrFormatError:
        claims = None
    vp = validation if validation is not None else trust.validation if isinstance(trust, TrustRegistry) else None
    settings = None if vp is None else vp.effective(
        region=claims.region if claims is not None and isinstance(trust, TrustRegistry) else None,
        licence_type=claims.type_code if claims is not None else None)
    lists: list[StatusList] = []
    pool = list(certs)
    wanted = None if claims is None or claims.status_uri is None else \
        claims.status_uri.rstrip("/").rsplit("/", 1)[-1]
    unusable: list[str] = []
    for raw in status_lists:
        who = peek_status_list_authority(raw)
        if who is None or who != wanted:
            if who is not None:
                unusable.append(who)
            continue
        try:
            sl = verify_status_list(raw, trust=_qr_anchors(trust), at=at, intermediates=certs, crls=crls,
                                    clock_skew=settings.clock_skew if settings is not None else CLOCK_SKEW)
        except EsignError:
            unusable.append(f"{who} (does not verify)")
            continue
        lists.append(sl)
        pool.append(_embedded_signer(raw))
    views = status_views(lists, claims.status_uri if claims is not None else None)
    for name in unusable:
        views.setdefault(f"authority {name}", _NoList(f"authority {name}"))
    kw: dict[str, object] = {}
    if settings is not None:  # revocation of the signer's path as before: not required for QR tokens
        kw = {"clock_skew": settings.clock_skew, "algorithms": settings.algorithms,
              "max_age": settings.max_signature_age}
    report = verify_licence_qr(text, trust=trust, at=at, status_list=views, certs=[c for c in pool if c is not None],
                               crls=crls, **kw)  # type: ignore[arg-type]
    if settings is None:
        return report
    en, zh = describe_layers(settings)
    return replace(report, checks=(*report.checks, Check("policy", CheckStatus.PASSED, f"validation policy: {en}",
                                                         f"验证策略：{zh}")),
                   trust_context={**dict(report.trust_context or {}), "policy": en,
                                  "policy_layers": list(settings.applied)})


class _NoList:
    """A status list that was given but cannot be used for this token (shown in the report, never consulted)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def status(self, index: int) -> int:
        """Never consulted."""
        raise IndexError(index)


def _embedded_signer(raw: bytes) -> Certificate | None:
    """The certificate a verified status list embeds (the issuer's: a candidate for the token's KID)."""
    import cbor2

    from keys.x509 import parse_certificate

    try:
        return parse_certificate(cbor2.loads(raw)["cert"])
    except Exception:  # already verified once; anything odd just adds no candidate
        return None


def verify_qr(text: str, *, trust: TrustRegistry | TrustStore, at: datetime, status_lists: Sequence[bytes] = (),
              certs: Sequence[Certificate] = (), crls: Sequence[Crl] = (),
              validation: ValidationPolicy | None = None) -> ValidationReport:
    """Verify QR text (``HC1:`` or ``ESL1:``) against an imported-trust-list registry or plain anchors.

    With a :class:`TrustStore` (``esign verify --qr --trust dsc.pem``) each anchor is a QR
    signer certificate, looked up by its key identifier (first 8 bytes of its SHA-256).

    ``ESL1:`` licence tokens also take the issuer's signed status lists (``status_lists``, as
    published; the one whose authority is the last segment of the token's status URI is used,
    after verification against the same trust; its embedded certificate is a candidate for the
    token's KID), untrusted ``certs`` (the issuer certificate, intermediates), ``crls`` and the
    validation policy (``validation``, else the registry's): the layers of the token's region (with
    a registry) and licence type give the clock skew, algorithms and the maximum token age
    (``max_signature_age_seconds``).

    Raises:
        BadInputError: text too long, or not a QR format esign knows.
    """
    if len(text) > MAX_QR_TEXT:
        raise BadInputError("QR text longer than 8192 characters", message_zh="二维码内容过长", field="qr")
    lists = _status_list_bytes(status_lists)
    if text.lstrip().startswith("ESL1:"):
        return _esl1(text.strip(), trust=trust, at=at, status_lists=lists, certs=certs, crls=crls,
                     validation=validation)
    if isinstance(trust, TrustRegistry):
        return verify_qr_text(text, registry=trust, at=at)
    keyed = {dcc_kid(c.der): c for c in trust.anchors}
    return verify_hc1(text.strip(), trust=keyed, at=at)
