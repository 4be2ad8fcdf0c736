"""``esign verify``: check a signed artefact or certificate chain and print an ETSI-style report.

The artefact kind is detected from the bytes and dispatched to one handler per kind
(certificate chains, CMS, PDF, OFD, GB/T 38540 seals and seal signatures; ``--qr`` for QR text).

Trust: ``--trust PEM`` gives plain anchors; ``--trust-lists DATA_DIR`` uses the trust lists
imported into that data directory (``esign trust import``) with the recognition policy of
``--policy FILE`` (default: the local region's own artefacts only), for every kind. With both,
the ``--trust`` anchors count as the local region's own.

Licences (files and ``ESL1:`` QR text) need the issuer's signed status list for a definite verdict:
``--status-list FILE`` (repeatable, as ``esign licence status-list`` or ``GET
/v1/status-lists/<authority>`` wrote it); the newest one of the licence's authority is used.

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
from verifier.pki import PathPolicy, TrustStore
from verifier.policy import MAX_POLICY_BYTES, Policy, load_policy
from verifier.report import Indication, ValidationReport
from verifier.trust import TrustRegistry
from verifier.verifier import MAX_INPUT_BYTES, MAX_STATUS_LISTS, verify_artefact

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


def _policy(path: str | None) -> Policy | None:
    if path is None:
        return None
    return load_policy(_read(path, "policy")[: MAX_POLICY_BYTES + 1])


def _registry(lists_dir: str | None, policy: Policy | None, at: datetime) -> TrustRegistry | None:
    """The imported trust lists of ``lists_dir`` (re-verified) with ``policy``; ``None`` without a directory."""
    if lists_dir is None:
        if policy is not None:
            raise BadInputError("--policy needs --trust-lists DATA_DIR (the lists it applies to)",
                                message_zh="--policy 须与 --trust-lists 一起使用", field="policy")
        return None
    from api.settings import Settings
    from api.trust_store import TrustListStore

    if not Path(lists_dir).is_dir():
        raise BadInputError(f"{lists_dir} is not a directory", message_zh="信任列表目录不存在", field="trust_lists")
    settings = Settings(data_dir=Path(lists_dir))
    region = policy.recognition.local_region if policy else settings.region
    return TrustListStore.for_settings(settings).registry(
        local_region=region, at=at, recognition=policy.recognition if policy else None,
        validation=policy.validation if policy else None)


def _status_lists(paths: tuple[str, ...]) -> list[bytes]:
    if len(paths) > MAX_STATUS_LISTS:
        raise BadInputError(f"at most {MAX_STATUS_LISTS} --status-list files", field="status_list",
                            message_zh=f"状态列表最多 {MAX_STATUS_LISTS} 个")
    return [_read(p, "status_list") for p in paths]


def _verify_qr(text: str, trust_paths: tuple[str, ...], lists_dir: str | None, policy_path: str | None,
               at_: str | None, fmt: str, status_paths: tuple[str, ...], cert_paths: tuple[str, ...],
               crl_paths: tuple[str, ...]) -> None:
    from verifier.verifier import verify_qr

    try:
        at = _at(at_)
        registry = _registry(lists_dir, _policy(policy_path), at)
        trust: Any = registry if registry is not None else (
            load_trust_store(trust_paths) if trust_paths else TrustStore(anchors=()))
        certs = [c for p in cert_paths for c in parse_certificates(_read(p, "cert"))]
        report = verify_qr(text, trust=trust, at=at, status_lists=_status_lists(status_paths), certs=certs,
                           crls=load_crls(crl_paths))
    except EsignError as exc:
        fail(exc, exit_code=_BAD_INPUT)
    _show(report, fmt)
    raise SystemExit(EXIT_CODES[report.indication])


def _show(report: ValidationReport, fmt: str) -> None:
    if fmt == "html":
        from verifier.render import report_to_html

        click.echo(report_to_html(report))
    else:
        emit(report.to_dict(), fmt, text=_text)


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
    ctx = report.get("trust_context")
    if ctx:
        lines.append(f"  trust: region {ctx.get('region')}, list v{ctx.get('trust_list_version')}, "
                     f"rule {ctx.get('rule')}, recognised {ctx.get('recognised')}")
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
    help="A data directory whose imported trust lists (esign trust import) vouch for signers, seal makers, "
    "TSAs and QR signers, with the recognition policy of --policy. Any kind.",
)
@click.option(
    "--policy",
    "policy_path",
    type=click.Path(dir_okay=False),
    help="Recognition / validation policy JSON (docs/trust-lists.md); needs --trust-lists.",
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
    help="Untrusted extra certificates (intermediates; signer of a plain OFD signature; a QR token's issuer). "
    "Repeatable.",
)
@click.option(
    "--status-list",
    "status_paths",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Signed licence status list (repeatable): for a licence file or ESL1: QR text, the newest list of the "
    "licence's authority decides revoked / suspended / superseded.",
)
@click.option("--at", "at_", help="Validation time, ISO 8601 (default: now).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "text", "html"]),
    default="json",
    show_default=True,
    help="json for machines, text for a terminal, html for a printable report (zh + en).",
)
def verify(
    file: str | None,
    qr_text: str | None,
    trust_lists_dir: str | None,
    policy_path: str | None,
    trust_paths: tuple[str, ...],
    crl_paths: tuple[str, ...],
    require_revocation: bool,
    data_path: str | None,
    cert_paths: tuple[str, ...],
    status_paths: tuple[str, ...],
    at_: str | None,
    fmt: str,
) -> None:
    """Verify FILE and print the validation report.

    FILE may be a certificate or PEM chain (leaf first), a CMS/PKCS#7 signature (.p7s; give the
    signed data with --data when detached), a PDF, a GB/T 38540 seal (.esl) or seal signature
    (SignedValue.dat; --data checks its data hash) or an OFD file.

    Trust: --trust PEM (plain anchors) and/or --trust-lists DATA_DIR (imported trust lists, with
    --policy FILE deciding which foreign types are recognised; every report names the rule).

    A signed licence (or ESL1: QR text) needs --status-list FILE for a definite verdict.

    Exit codes: 0 passed, 1 failed, 2 indeterminate, 3 bad input.
    """
    if (file is None) == (qr_text is None):
        usage = BadInputError("give either FILE or --qr TEXT", message_zh="请提供文件或 --qr 二维码内容")
        fail(usage, exit_code=_BAD_INPUT)
    if qr_text is not None:
        _verify_qr(qr_text, trust_paths, trust_lists_dir, policy_path, at_, fmt, status_paths, cert_paths, crl_paths)
    assert file is not None
    try:
        try:
            data = Path(file).read_bytes()[: MAX_INPUT_BYTES + 1]
        except OSError as exc:
            raise BadInputError(f"cannot read {file}: {exc.strerror}", message_zh="无法读取文件", field="file") from exc
        if len(data) > MAX_INPUT_BYTES:
            raise BadInputError("input file too large", message_zh="文件过大", field="file")
        at = _at(at_)
        policy = _policy(policy_path)
        registry = _registry(trust_lists_dir, policy, at)
        trust = load_trust_store(trust_paths) if trust_paths else None
        path_policy: PathPolicy | None = policy.validation.effective().path_policy() if policy else None
        crls = load_crls(crl_paths)
        detached = _read(data_path, "data") if data_path else None
        extra = [c for p in cert_paths for c in parse_certificates(_read(p, "cert"))]
        report = verify_artefact(
            data,
            trust=trust,
            registry=registry,
            policy=path_policy,
            crls=crls,
            at=at,
            require_revocation=require_revocation,
            detached=detached,
            extra_certs=extra,
            validation=policy.validation if policy else None,
            status_lists=_status_lists(status_paths),
        )
    except EsignError as exc:
        fail(exc, exit_code=_BAD_INPUT)
    _show(report, fmt)
    raise SystemExit(EXIT_CODES[report.indication])
