"""The ``esign`` command line.

Every command has ``--help``; machine output is JSON (``--format json``). Exit codes are
documented in ``docs/cli.md``: in general 0 success, 1 a check failed (invalid), 2 bad input
(or indeterminate for ``esign verify``), 3 bad input for ``esign verify`` / backend failure.
Subcommands live in their own modules and are loaded lazily, so ``esign --help`` is fast and a
broken optional dependency affects only its own command.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click

from keys.errors import EsignError

__all__ = ["emit", "fail", "main"]

# command name -> (module, attribute, one-line help)
_COMMANDS: dict[str, tuple[str, str, str]] = {
    "key": ("api.cli.key", "key", "Generate keys; sign and verify raw data (SM2, P-256, RSA, Ed25519)."),
    "cms": ("api.cli.cms", "cms", "CMS/PKCS#7 SignedData (.p7s): sign and verify."),
    "ca": ("api.cli.ca", "ca", "Run a region's certificate authorities: init, issue, revoke, crl."),
    "trust": ("api.cli.trust", "trust", "Publish, import, pin, show and refresh signed regional trust lists."),
    "tsa": ("api.cli.tsa", "tsa", "RFC 3161 time-stamps: request from a TSA and verify."),
    "verify": ("api.cli.verify", "verify", "Verify a signed artefact or certificate chain; ETSI-style report."),
    "serve": ("api.cli.serve", "serve", "Run the HTTP service (bootstraps a demo region on first run)."),
    "audit": ("api.cli.audit", "audit", "Inspect and verify the hash-chained audit log."),
    "ofd": ("api.cli.ofd", "ofd", "Sign OFD files with a seal; inspect and verify their signatures."),
    "licence": (
        "api.cli.licence",
        "licence",
        "Electronic licences: issue, show, revoke, suspend, reinstate, correct, bulk, status lists, types.",
    ),
    "objection": ("api.cli.objection", "objection", "Objections against licences: file, list, show, decide, withdraw."),
    "consent": ("api.cli.objection", "consent", "Holder consent: grant, revoke, list, fetch, uses, wallet."),
    "pdf": ("api.cli.pdf", "pdf", "Sign PDFs (PAdES B-B..B-LTA, SM2), extend to B-LTA, remote signing."),
    "seal": ("api.cli.seal", "seal", "GB/T 38540 seals: make, show, sign, verify; register, list, suspend, revoke."),
    "sign": ("api.cli.sign", "sign", "Sign a PDF (PAdES), an OFD (seal) or any file (SES seal signature or CMS)."),
    "speed": ("api.cli.speed", "speed", "Measure SM2/SM3 speed through esign next to `openssl speed`."),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = _COMMANDS.get(cmd_name)
        if spec is None:
            return None
        module, attr, _ = spec
        cmd = getattr(importlib.import_module(module), attr)
        assert isinstance(cmd, click.Command)
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, _COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="esign")
def main() -> None:
    """esign: electronic licences, seals and signatures with SM2/SM3 and standard PKI."""


def emit(obj: Any, fmt: str = "json", *, text: Callable[[Any], str] | None = None) -> None:
    """Print ``obj`` as JSON (default) or through ``text`` for people."""
    if fmt == "text" and text is not None:
        click.echo(text(obj))
    else:
        click.echo(json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=False, default=str))


def fail(exc: EsignError, *, exit_code: int | None = None) -> NoReturn:
    """Report a typed error as JSON on stderr and exit (no traceback, ever)."""
    click.echo(json.dumps({"error": exc.to_dict()}, ensure_ascii=False), err=True)
    sys.exit(exc.exit_code if exit_code is None else exit_code)
