"""``esign speed``: SM2 / SM3 through esign next to ``openssl speed``, in one command.

Targets are printed for reference and never enforced; see ``docs/benchmarks.md``.
"""

from __future__ import annotations

import click

from api.cli import emit, fail
from keys.errors import EsignError
from keys.speed import MAX_SECONDS, MAX_THREADS, SpeedReport, run

__all__ = ["speed"]

_LABELS = {
    "sm2_sign": "SM2 sign",
    "sm2_verify": "SM2 verify",
    "sm2_sign_threads": "SM2 sign, N threads",
    "sm3": "SM3 16 KiB blocks",
}


def _text(report: SpeedReport) -> str:
    lines = [
        f"esign speed: libcrypto {report.libcrypto}; pyca {report.pyca_openssl}; "
        f"reference {report.openssl_cli or 'none'}",
        f"machine: {report.machine['cpu']}, {report.machine['logical_cpus']} CPUs, "
        f"load {report.machine['loadavg_at_start']}; {report.seconds:g} s x {report.rounds} round(s), best kept",
        f"{'figure':<24}{'esign':>12}{'reference':>12}{'ratio':>8}{'target':>9}  reference is",
    ]
    for f in report.figures:
        label = _LABELS.get(f.name, f.name).replace("N threads", f"{f.detail.get('threads', 'N')} threads")
        ref = f"{f.reference:,.1f}" if f.reference is not None else "-"
        ratio = f"{f.ratio:.2f}" if f.ratio is not None else "-"
        target = f">={f.target:.2f}" if f.target is not None else ""
        lines.append(f"{label + ' ' + f.unit:<24}{f.ours:>12,.1f}{ref:>12}{ratio:>8}{target:>9}  {f.reference_name}")
        if "openssl_multi_sign" in f.detail:
            scaling = f.detail["openssl_multi_scaling"]
            lines.append(
                f"{'  openssl -multi ' + str(f.detail['threads']):<24}{'':>12}{f.detail['openssl_multi_sign']:>12,.1f}"
                f"{scaling if scaling is not None else '-':>8}{'':>9}  openssl's own scaling now (vs 1 process)"
            )
    return "\n".join(lines)


@click.command("speed", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("which", type=click.Choice(["sm2", "sm3", "all"]), default="all")
@click.option("--seconds", type=click.FloatRange(0.1, MAX_SECONDS), default=3.0, show_default=True,
              help="Seconds per figure per round (openssl speed rounds it to whole seconds).")  # fmt: skip
@click.option("--threads", type=click.IntRange(1, MAX_THREADS), default=2, show_default=True,
              help="Threads for the multi-thread SM2 sign figure (1 = skip it).")  # fmt: skip
@click.option("--rounds", type=click.IntRange(1, 20), default=1, show_default=True,
              help="Alternate esign and openssl this many times; keep the best of each.")  # fmt: skip
@click.option("--msg-bytes", type=click.IntRange(0, 1 << 20), default=20, show_default=True,
              help="SM2 message size (openssl speed sm2 signs 20 bytes).")  # fmt: skip
@click.option("--no-openssl", is_flag=True, help="Measure esign only (no reference, no ratios).")
@click.option("--json", "as_json", is_flag=True, help="Print every figure, versions and machine info as JSON.")
def speed(
    which: str, seconds: float, threads: int, rounds: int, msg_bytes: int, no_openssl: bool, as_json: bool
) -> None:
    """Measure SM2 sign/verify and SM3 through esign next to `openssl speed`, with ratios.

    WHICH is sm2, sm3 or all (default). Exit 0 on success, 3 if the SM2 backend is unusable.
    """
    try:
        report = run(which, seconds=seconds, threads=threads, rounds=rounds, message_bytes=msg_bytes,
                     with_openssl=not no_openssl)  # fmt: skip
    except EsignError as exc:
        fail(exc)
    emit(report.to_dict(), "json" if as_json else "text", text=lambda _: _text(report))
