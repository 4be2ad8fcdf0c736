"""Front door for certificate bundles: parse untrusted bytes, validate, always return a report.

``verify_certificate_bundle`` takes a PEM bundle (leaf first, then any intermediates in any
order), a single DER certificate or a certs-only PKCS#7, plus trust anchors and CRLs passed in.
Malformed input becomes a TOTAL_FAILED / FORMAT_FAILURE report, never an exception or a crash.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from keys.errors import BadInputError, CertificateError, EsignError
from keys.x509 import Certificate, Crl, parse_certificates, parse_crl
from verifier.pki import PathPolicy, TrustStore, validate_path
from verifier.report import Check, CheckStatus, Indication, SubIndication, ValidationReport, reason_for

__all__ = ["MAX_TRUST_FILES", "load_crls", "load_trust_store", "verify_certificate_bundle"]

#: Most files read from one trust directory.
MAX_TRUST_FILES = 1000
_CERT_SUFFIXES = (".pem", ".crt", ".cer", ".der")


def _format_failure(at: datetime, en: str, zh: str) -> ValidationReport:
    sub = SubIndication.FORMAT_FAILURE
    return ValidationReport(
        artefact="certificate",
        indication=Indication.TOTAL_FAILED,
        sub_indication=sub,
        reason=reason_for(sub, detail_en=en, detail_zh=zh),
        checks=(Check("parse", CheckStatus.FAILED, en, zh),),
        validation_time=at,
    )


def verify_certificate_bundle(
    data: bytes,
    *,
    trust: TrustStore,
    at: datetime,
    crls: Sequence[Crl] = (),
    require_revocation: bool = False,
    policy: PathPolicy | None = None,
) -> ValidationReport:
    """Validate the first certificate of ``data`` using the rest as untrusted intermediates.

    Args:
        data: PEM bundle (leaf first), DER certificate, or certs-only PKCS#7 (PEM).
        trust: the trust anchors to end in.
        at: validation time (timezone-aware).
        crls: parsed CRLs (see :func:`load_crls`).
        require_revocation: every certificate below the anchor needs a covering CRL, else INDETERMINATE.
        policy: full policy; ``require_revocation`` overrides its field of the same name when True.
    """
    try:
        certs = parse_certificates(data)
    except EsignError as exc:
        return _format_failure(at, exc.message, exc.message_zh)
    pol = policy or PathPolicy()
    if require_revocation and not pol.require_revocation:
        pol = replace(pol, require_revocation=True)
    leaf, rest = certs[0], certs[1:]
    report = validate_path(leaf, trust=trust, at=at, intermediates=rest, crls=crls, policy=pol)
    parse_check = Check(
        "parse", CheckStatus.PASSED, f"{len(certs)} certificate(s) parsed", f"已解析 {len(certs)} 张证书"
    )
    return replace(report, checks=(parse_check, *report.checks))


def _read_cert_files(paths: Iterable[Path]) -> list[Certificate]:
    out: list[Certificate] = []
    for p in paths:
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise BadInputError(
                f"cannot read {p}: {exc.strerror}", message_zh=f"无法读取文件 {p}", field="trust"
            ) from exc
        try:
            out.extend(parse_certificates(data))
        except CertificateError as exc:
            raise CertificateError(f"{p}: {exc.message}", message_zh=f"{p}：{exc.message_zh}", field="trust") from exc
    return out


def load_trust_store(sources: Iterable[str | Path]) -> TrustStore:
    """Trust anchors from PEM/DER files and directories (``*.pem``, ``*.crt``, ``*.cer``, ``*.der``).

    Raises:
        BadInputError / CertificateError: a source is unreadable or holds a malformed certificate.
    """
    files: list[Path] = []
    labels: list[str] = []
    for src in sources:
        p = Path(src)
        labels.append(str(p))
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in _CERT_SUFFIXES)
            files.extend(found)
        else:
            files.append(p)
        if len(files) > MAX_TRUST_FILES:
            raise BadInputError(f"more than {MAX_TRUST_FILES} trust files", message_zh="信任文件过多", field="trust")
    return TrustStore.of(_read_cert_files(files), label=", ".join(labels))


def load_crls(sources: Iterable[str | Path]) -> list[Crl]:
    """Parse CRL files (PEM ``X509 CRL`` or DER). Raises CertificateError / BadInputError."""
    out = []
    for src in sources:
        p = Path(src)
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise BadInputError(
                f"cannot read {p}: {exc.strerror}", message_zh=f"无法读取文件 {p}", field="crl"
            ) from exc
        out.append(parse_crl(data))
    return out
