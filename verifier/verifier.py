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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from esign.formats.ofd_zip import is_ofd_zip
from esign.formats.ses import detect_ses_kind
from keys.errors import BadInputError, EsignError
from keys.x509 import Certificate, Crl, parse_certificates
from verifier.chain import verify_certificate_bundle
from verifier.cms import is_cms_signature, verify_cms
from verifier.crossregion import handler_inputs, run_layered, verify_with_registry
from verifier.licence import is_signed_licence, verify_licence
from verifier.licence_qr import verify_licence_qr
from verifier.ofd import verify_ofd
from verifier.pdf import verify_pdf
from verifier.pki import PathPolicy, TrustStore
from verifier.policy import ValidationPolicy, ValidationSettings
from verifier.qr import dcc_kid, verify_hc1, verify_qr_text
from verifier.report import ValidationReport
from verifier.ses import verify_ses
from verifier.trust import TrustRegistry

__all__ = ["MAX_INPUT_BYTES", "UnsupportedArtefactError", "detect_kind", "verify_artefact", "verify_qr"]

#: Largest artefact accepted by the front door.
MAX_INPUT_BYTES = 64 << 20


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
            layers (:func:`verifier.crossregion.run_layered`). ``None``: ``policy`` and
            ``require_revocation`` as given.

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
    if registry is not None:
        return verify_with_registry(handler, data, kind=kind, registry=registry, local=trust, at=at, crls=crls,
                                    require_revocation=require_revocation, policy=policy, extras=extras,
                                    intermediates=extra_certs, validation=validation)
    store = trust or TrustStore(anchors=())
    if validation is not None:  # plain anchors belong to no region: default < licence type
        def run(settings: ValidationSettings | None) -> ValidationReport:
            return handler(data, trust=store, at=at, crls=crls,
                           **handler_inputs(kind, policy, require_revocation, settings), **extras)

        return run_layered(run, validation, kind=kind, region_of=None)[0]
    return handler(data, trust=store, at=at, crls=crls, require_revocation=require_revocation, policy=policy, **extras)


#: Longest QR text accepted (a version-40 QR code holds at most 4,296 alphanumeric characters).
MAX_QR_TEXT = 8192


def verify_qr(text: str, *, trust: TrustRegistry | TrustStore, at: datetime) -> ValidationReport:
    """Verify QR text (``HC1:`` so far) against an imported-trust-list registry or plain anchors.

    With a :class:`TrustStore` (``esign verify --qr --trust dsc.pem``) each anchor is a QR
    signer certificate, looked up by its key identifier (first 8 bytes of its SHA-256).

    Raises:
        BadInputError: text too long, or not a QR format esign knows.
    """
    if len(text) > MAX_QR_TEXT:
        raise BadInputError("QR text longer than 8192 characters", message_zh="二维码内容过长", field="qr")
    if isinstance(trust, TrustRegistry):
        return verify_qr_text(text, registry=trust, at=at)
    if text.lstrip().startswith("ESL1:"):
        return verify_licence_qr(text.strip(), trust=trust, at=at)
    keyed = {dcc_kid(c.der): c for c in trust.anchors}
    return verify_hc1(text.strip(), trust=keyed, at=at)
