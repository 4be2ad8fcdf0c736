"""``esign verify``: check a signed artefact or certificate chain and print an ETSI-style report.

The artefact kind is detected from the bytes and dispatched to one handler per kind.
Certificate chains are the only kind so far; PDF, OFD, seals and licences come later and
exit with code 3 ("not supported yet") until then.

Exit codes: 0 TOTAL_PASSED, 1 TOTAL_FAILED, 2 INDETERMINATE, 3 bad input (unreadable or
unparsable file, unsupported kind, bad option).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from api.cli import emit, fail
from keys.errors import BadInputError, EsignError
from keys.x509 import parse_certificates
from verifier.chain import load_crls, load_trust_store
from verifier.pki import TrustStore
from verifier.report import Indication
from verifier.verifier import MAX_INPUT_BYTES, verify_artefact

__all__ = ["EXIT_CODES", "verify"]

#: Exit code per indication; 3 is bad input.
EXIT_CODES = {Indication.TOTAL_PASSED: 0, Indication.TOTAL_FAILED: 1, Indication.INDETERMINATE: 2}
_BAD_INPUT = 3


def _at(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC).replace(microsecond=0)  # the CLI boundary is where "now" comes from
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadInputError(f"--at {value!r} is not ISO 8601", message_zh="时间格式错误", field="at") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _verify_qr(text: str, trust_paths: tuple[str, ...], lists_dir: str | None, at_: str | None, fmt: str) -> None:
    from api.settings import Settings
    from api.trust_store import TrustListStore
    from verifier.verifier import verify_qr

    try:
        at = _at(at_)
        if lists_dir is not None:
            settings = Settings(data_dir=Path(lists_dir))
            store = TrustListStore.for_settings(settings)
            trust: Any = store.registry(local_region=settings.region, at=at)
        else:
            trust = load_trust_store(trust_paths) if trust_paths else TrustStore(anchors=())
        report = verify_qr(text, trust=trust, at=at)
    except EsignError as exc:
        fail(exc, exit_code=_BAD_INPUT)
    emit(report.to_dict(), fmt, text=_text)
    raise SystemExit(EXIT_CODES[report.indication])


def _read(path: str, field: str) -> bytes:
    try:
        p = Path(path)
        if p.stat().st_size > MAX_INPUT_BYTES:
            raise BadInputError(f"{path} is larger than 64 MiB", message_zh="文件过大", field=field)
        return p.read_bytes()
    except OSError as exc:
        raise BadInputError(f"cannot read {path}: {exc.strerror}", message_zh="无法读取文件", field=field) from exc


def _text(report: dict[str, Any]) -> str:
    lines = [
        f"{report['indication']}" + (f" / {report['sub_indication']}" if report["sub_indication"] else ""),
        f"  {report['reason']['en']}",
        f"  {report['reason']['zh']}",
    ]
    if report["reason"]["hint_en"]:
        lines.append(f"  hint: {report['reason']['hint_en']}")
    for c in report["checks"]:
        lines.append(f"  [{c['status']:>13}] {c['name']}: {c['detail_en']}")
    return "\n".join(lines)


@click.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False, allow_dash=False))
@click.option("--qr", "qr_text", help="Verify QR text (HC1:...) instead of a file.")
@click.option(
    "--trust-lists",
    "trust_lists_dir",
    type=click.Path(file_okay=False),
    help="With --qr: a data directory whose imported trust lists vouch for QR signers (default: --trust PEMs).",
)
@click.option(
    "--trust",
    "trust_paths",
    multiple=True,
    type=click.Path(),
    help="Trust anchor PEM/DER file or directory (repeatable). No OS trust store is used.",
)
@click.option("--crl", "crl_paths", multiple=True, type=click.Path(dir_okay=False), help="CRL file (repeatable).")
@click.option("--require-revocation", is_flag=True, help="Fail closed (INDETERMINATE) without a covering CRL.")
@click.option("--data", "data_path", type=click.Path(dir_okay=False), help="Signed data for a detached signature.")
@click.option(
    "--cert",
    "cert_paths",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Untrusted extra certificates (intermediates; signer of a plain OFD signature). Repeatable.",
)
@click.option("--at", "at_", help="Validation time, ISO 8601 (default: now).")
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="json", show_default=True)
def verify(
    file: str | None,
    qr_text: str | None,
    trust_lists_dir: str | None,
    trust_paths: tuple[str, ...],
    crl_paths: tuple[str, ...],
    require_revocation: bool,
    data_path: str | None,
    cert_paths: tuple[str, ...],
    at_: str | None,
    fmt: str,
) -> None:
    """Verify FILE and print the validation report.

    FILE may be a certificate or PEM chain (leaf first), a CMS/PKCS#7 signature (.p7s; give the
    signed data with --data when detached), a GB/T 38540 seal (.esl) or seal signature
    (SignedValue.dat; --data checks its data hash) or an OFD file.

    Exit codes: 0 passed, 1 failed, 2 indeterminate, 3 bad input.
    """
    if (file is None) == (qr_text is None):
        usage = BadInputError("give either FILE or --qr TEXT", message_zh="请提供文件或 --qr 二维码内容")
        fail(usage, exit_code=_BAD_INPUT)
    if qr_text is not None:
        _verify_qr(qr_text, trust_paths, trust_lists_dir, at_, fmt)
    assert file is not None
    try:
        try:
            data = Path(file).read_bytes()[: MAX_INPUT_BYTES + 1]
        except OSError as exc:
            raise BadInputError(f"cannot read {file}: {exc.strerror}", message_zh="无法读取文件", field="file") from exc
        if len(data) > MAX_INPUT_BYTES:
            raise BadInputError("input file too large", message_zh="文件过大", field="file")
        at = _at(at_)
        trust = load_trust_store(trust_paths) if trust_paths else TrustStore(anchors=())
        crls = load_crls(crl_paths)
        detached = _read(data_path, "data") if data_path else None
        extra = [c for p in cert_paths for c in parse_certificates(_read(p, "cert"))]
        report = verify_artefact(
            data,
            trust=trust,
            crls=crls,
            at=at,
            require_revocation=require_revocation,
            detached=detached,
            extra_certs=extra,
        )
    except EsignError as exc:
        fail(exc, exit_code=_BAD_INPUT)
    out = report.to_dict()
    emit(out, fmt, text=_text)
    raise SystemExit(EXIT_CODES[report.indication])
