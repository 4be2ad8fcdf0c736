"""``esign trust``: publish this region's signed trust list; import, pin, show and refresh others.

State lives in ``<data-dir>/trust-lists/`` (``--data-dir`` or ``ESIGN_DATA_DIR``, default ``./var``),
the same files the service uses. Exit codes: 0 success, 1 verification failed (bad signature,
threshold not met, expired), 2 bad input / rollback, 3 backend failure (download).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from api.cli import emit, fail
from api.trust_store import HttpFetcher, TrustListStore
from keys.errors import BadInputError, EsignError
from keys.keypairs import load_private_key_der, load_public_key, pem_blocks
from keys.trustlist import MAX_LIST_BYTES, make_entry, publish
from keys.x509 import parse_certificate

__all__ = ["trust"]

_MAX_FILE = MAX_LIST_BYTES
_data_dir = click.option("--data-dir", envvar="ESIGN_DATA_DIR", default="./var", show_default=True,
                         type=click.Path(file_okay=False), help="Service data directory.")


def _read(path: str, what: str) -> bytes:
    try:
        data = Path(path).read_bytes()[: _MAX_FILE + 1]
    except OSError as exc:
        raise BadInputError(f"cannot read {what} {path}: {exc.strerror}", message_zh="无法读取文件",
                            field=what) from exc
    if len(data) > _MAX_FILE:
        raise BadInputError(f"{what} {path} is too large", message_zh="文件过大", field=what)
    return data


def _now(at: str | None) -> datetime:
    if at is None:
        return datetime.now(UTC).replace(microsecond=0)  # the CLI boundary is where "now" comes from
    try:
        t = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        raise BadInputError(f"--at {at!r} is not ISO 8601", message_zh="时间格式错误", field="at") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _signing_key(path: str, passphrase_file: str | None) -> Any:
    data = _read(path, "key")
    blocks = pem_blocks(data) if b"-----BEGIN" in data else [("PRIVATE KEY", data)]
    label, der = blocks[0] if blocks else ("", b"")
    if label == "ENCRYPTED PRIVATE KEY":
        from keys.pkcs8 import decrypt_private_key

        if not passphrase_file:
            raise BadInputError(f"{path} is encrypted: pass --passphrase-file", message_zh="私钥已加密，需要口令文件",
                                field="passphrase")
        return decrypt_private_key(data, passphrase=_read(passphrase_file, "passphrase").rstrip(b"\r\n"))
    if label != "PRIVATE KEY":
        raise BadInputError(f"{path} holds no PKCS#8 private key", message_zh="文件中没有私钥", field="key")
    return load_private_key_der(der)


def _ca_entries(ca_dir: Path, at: datetime) -> list[dict[str, Any]]:
    meta = json.loads(_read(str(ca_dir / "region.json"), "ca-dir"))
    root = parse_certificate(_read(str(ca_dir / "root" / "cert.pem"), "ca-dir"))
    out = [make_entry(id="root", service_type="root_ca", name=root.subject_str, since=at, certificates=[root.der])]
    for name in meta.get("issuing", []):
        c = parse_certificate(_read(str(ca_dir / name / "cert.pem"), "ca-dir"))
        for st in ("licence_issuer", "seal_maker"):
            out.append(make_entry(id=f"{name}-{st}", service_type=st, name=c.subject_str, since=at,
                                  certificates=[c.der]))
    return out


@click.group()
def trust() -> None:
    """Signed, versioned trust lists: publish this region's, import and refresh other regions'."""


@trust.command("publish")
@_data_dir
@click.option("--region", required=True, help="This region's code (GB/T 2260).")
@click.option("--region-name", default="", help="Human name of the region.")
@click.option("--key", "key_files", multiple=True, required=True, type=click.Path(dir_okay=False),
              help="List-signing private key (PKCS#8 PEM, clear or encrypted); repeat for a threshold.")
@click.option("--passphrase-file", type=click.Path(dir_okay=False), help="Passphrase of encrypted key files.")
@click.option("--next-key", "next_files", multiple=True, type=click.Path(dir_okay=False),
              help="Public key allowed to sign the NEXT version (default: the signing keys); repeat. Use to rotate.")
@click.option("--threshold", type=int, default=1, show_default=True, help="Signatures the next version needs.")
@click.option("--entries", "entries_file", type=click.Path(dir_okay=False), help="JSON array of entries.")
@click.option("--ca-dir", type=click.Path(file_okay=False), help="Region CA directory: list its root and issuing CAs.")
@click.option("--version", "version", type=int, help="Version (default: the last published + 1).")
@click.option("--days", type=int, default=90, show_default=True, help="Validity of the list.")
@click.option("--at", "at_", help="Issue time, ISO 8601 (default: now).")
@click.option("--out", type=click.Path(dir_okay=False), help="Also write the list to this file.")
def publish_cmd(data_dir: str, region: str, region_name: str, key_files: tuple[str, ...], passphrase_file: str | None,
                next_files: tuple[str, ...], threshold: int, entries_file: str | None, ca_dir: str | None,
                version: int | None, days: int, at_: str | None, out: str | None) -> None:
    """Sign this region's trust list and store it for GET /v1/trust-list."""
    try:
        at = _now(at_)
        store = TrustListStore(Path(data_dir) / "trust-lists")
        entries: list[dict[str, Any]] = []
        if ca_dir:
            entries.extend(_ca_entries(Path(ca_dir), at))
        if entries_file:
            extra = json.loads(_read(entries_file, "entries"))
            if not isinstance(extra, list):
                raise BadInputError("--entries must hold a JSON array", message_zh="条目文件须为 JSON 数组",
                                    field="entries")
            entries.extend(extra)
        if version is None:
            try:
                version = int(json.loads(store.published())["signed"]["version"]) + 1
            except EsignError:
                version = 1
        signers = [_signing_key(f, passphrase_file) for f in key_files]
        nxt = [load_public_key(_read(f, "next-key")) for f in next_files] or None
        data = publish(region=region, region_name=region_name, version=version, issued_at=at,
                       expires_at=at + timedelta(days=days), signers=signers, entries=entries, threshold=threshold,
                       next_keys=nxt)
        store.save_published(data)
        if out:
            Path(out).write_bytes(data)
    except (EsignError, ValueError) as exc:
        fail(exc if isinstance(exc, EsignError) else BadInputError(str(exc), field="entries"))
    emit({"region": region, "version": version, "entries": len(entries), "expires_at": (at + timedelta(days=days))
          .isoformat(), "out": out})


@trust.command("import")
@_data_dir
@click.argument("source")
@click.option("--pin", "pin_files", multiple=True, type=click.Path(dir_okay=False),
              help="List-signing public key or certificate (PEM/DER) to pin; required on the first import.")
@click.option("--threshold", type=int, help="Signatures by pinned keys required (default 1).")
@click.option("--at", "at_", help="Time to verify at, ISO 8601 (default: now).")
def import_cmd(data_dir: str, source: str, pin_files: tuple[str, ...], threshold: int | None, at_: str | None) -> None:
    """Import SOURCE (a file or an http(s) URL) after checking its signatures against the pins."""
    try:
        at = _now(at_)
        pins = [load_public_key(_read(f, "pin")) for f in pin_files]
        if source.startswith(("http://", "https://")):
            data = HttpFetcher().fetch(source, max_bytes=MAX_LIST_BYTES)
        else:
            data, source = _read(source, "source"), str(Path(source).resolve())
        tl = TrustListStore(Path(data_dir) / "trust-lists").import_list(
            data, at=at, source=source, pins=pins or None, threshold=threshold)
    except EsignError as exc:
        fail(exc)
    emit({"region": tl.region, "version": tl.version, "digest": tl.digest, "expires_at": tl.expires_at.isoformat(),
          "entries": len(tl.entries)})


@trust.command("pin")
@_data_dir
@click.argument("region")
@click.option("--key", "key_files", multiple=True, required=True, type=click.Path(dir_okay=False),
              help="List-signing public key or certificate to pin; repeat.")
@click.option("--threshold", type=int, default=1, show_default=True)
def pin_cmd(data_dir: str, region: str, key_files: tuple[str, ...], threshold: int) -> None:
    """Pin REGION's list-signing keys (out of band) before the first import."""
    try:
        keys = [load_public_key(_read(f, "key")) for f in key_files]
        TrustListStore(Path(data_dir) / "trust-lists").pin(region, keys, threshold)
    except EsignError as exc:
        fail(exc)
    emit({"region": region, "pinned": len(keys), "threshold": threshold})


@trust.command("show")
@_data_dir
@click.option("--region", "local_region", default="local", help="This region's code (for the report).")
@click.option("--at", "at_", help="Judge expiry at this time, ISO 8601 (default: now).")
def show_cmd(data_dir: str, local_region: str, at_: str | None) -> None:
    """Imported lists: version, expiry, status (current / expired / broken), last refresh and error."""
    try:
        at = _now(at_)
        reg = TrustListStore(Path(data_dir) / "trust-lists").registry(local_region=local_region, at=at)
    except EsignError as exc:
        fail(exc)
    emit({"lists": [r.to_dict(at) for r in reg.records()]})


@trust.command("refresh")
@_data_dir
@click.argument("region")
@click.option("--at", "at_", help="Time to verify at, ISO 8601 (default: now).")
def refresh_cmd(data_dir: str, region: str, at_: str | None) -> None:
    """Fetch REGION's list again from the URL it was imported from."""
    try:
        tl = TrustListStore(Path(data_dir) / "trust-lists").refresh(region, fetcher=HttpFetcher(), at=_now(at_))
    except EsignError as exc:
        fail(exc)
    emit({"region": tl.region, "version": tl.version, "digest": tl.digest, "expires_at": tl.expires_at.isoformat()})
