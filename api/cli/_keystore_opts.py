"""Shared ``--keystore`` / ``--passphrase-file`` options so any CLI command can sign with store keys.

Usage in a command module::

    @click.command()
    @keystore_options
    @click.option("--key", "key_ref", required=True, help="key id, optionally key-id#vN")
    def sign(keystore: str | None, passphrase_file: str | None, key_ref: str) -> None:
        try:
            provider = open_keystore(keystore, passphrase_file)
            key_id, version = split_key_ref(key_ref)
            signer = provider.signing_key(key_id, version=version)
        except EsignError as exc:
            fail(exc)

The URL comes from ``--keystore`` or ``ESIGN_KEYSTORE``; the passphrase (file store) or PIN
(PKCS#11 URI without ``pin-source``) from the file named by ``--passphrase-file`` or
``ESIGN_KEYSTORE_PASSPHRASE_FILE``. Secrets are never accepted on the command line itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import click

from keys.errors import BadInputError
from keys.provider import KeyProvider, open_provider, parse_pkcs11_url, read_passphrase_file

__all__ = ["ENV_KEYSTORE", "ENV_PASSPHRASE_FILE", "keystore_options", "open_keystore", "split_key_ref"]

ENV_KEYSTORE = "ESIGN_KEYSTORE"
ENV_PASSPHRASE_FILE = "ESIGN_KEYSTORE_PASSPHRASE_FILE"  # noqa: S105 (a variable name, not a secret)
_REF = re.compile(r"(?P<id>[^#]+)(?:#v(?P<v>[1-9][0-9]{0,5}))?")

F = TypeVar("F", bound=Callable[..., Any])


def keystore_options(f: F) -> F:
    """Add ``--keystore`` and ``--passphrase-file`` (with their environment variables) to a command."""
    f = click.option(
        "--passphrase-file",
        "passphrase_file",
        envvar=ENV_PASSPHRASE_FILE,
        type=click.Path(dir_okay=False),
        help=f"File holding the key-store passphrase or token PIN (mode 0600) [env {ENV_PASSPHRASE_FILE}].",
    )(f)
    f = click.option(
        "--keystore",
        "keystore",
        envvar=ENV_KEYSTORE,
        help=(
            "Key store URL: file:///dir or pkcs11:token=...;module-path=...;pin-source=file:/path "
            f"[env {ENV_KEYSTORE}]."
        ),
    )(f)
    return f


def open_keystore(keystore: str | None, passphrase_file: str | None) -> KeyProvider:
    """Open the provider named by the options; raises an EsignError subclass on any problem."""
    if not keystore:
        raise BadInputError(
            f"no key store given: use --keystore or set {ENV_KEYSTORE}",
            message_zh=f"未指定密钥库：请使用 --keystore 或设置 {ENV_KEYSTORE}",
            field="keystore",
        )
    if keystore.startswith("pkcs11:"):
        pin = None
        if "pin-source" not in parse_pkcs11_url(keystore) and passphrase_file:
            pin = read_passphrase_file(passphrase_file).decode("utf-8")
        return open_provider(keystore, pin=pin)
    if not passphrase_file:
        raise BadInputError(
            f"the file key store needs --passphrase-file or {ENV_PASSPHRASE_FILE}",
            message_zh=f"文件密钥库需要 --passphrase-file 或 {ENV_PASSPHRASE_FILE}",
            field="passphrase_file",
        )
    return open_provider(keystore, passphrase=read_passphrase_file(passphrase_file))


def split_key_ref(ref: str) -> tuple[str, int | None]:
    """``ca-root`` -> ``("ca-root", None)``; ``ca-root#v2`` -> ``("ca-root", 2)``."""
    m = _REF.fullmatch(ref)
    if m is None:
        raise BadInputError(f"bad key reference {ref!r}: use KEY_ID or KEY_ID#vN", field="key")
    return m.group("id"), int(m.group("v")) if m.group("v") else None
