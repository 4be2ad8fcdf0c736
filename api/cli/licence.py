"""``esign licence``: issue, show, change and bulk-issue licences; catalogue; status lists.

Works on the service database and key store (the same ``ESIGN_*`` settings as ``esign serve``),
as the local operator (audited as actor ``cli``). Output is JSON.

Exit codes: 0 success; 1 ``status-list --check`` failed verification; 2 bad input or a refused
operation (the error JSON on stderr names the field), and ``bulk`` when at least one row failed
(the per-row report is still printed); 3 backend failure.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click

from api.cli import emit, fail
from api.cli._lt_common import read_file
from api.cli._lt_common import write_atomic as _write
from keys.errors import BadInputError, EsignError

__all__ = ["MAX_FILE_BYTES", "licence"]

#: Largest input file read.
MAX_FILE_BYTES = 64 << 20


def _now() -> datetime:
    return datetime.now(UTC)  # the CLI boundary is where "now" comes from


def _read(path: str, what: str) -> bytes:
    return read_file(path, limit=MAX_FILE_BYTES, what=what)


def _service() -> Any:
    from api.bootstrap_ses import open_service_keystore
    from api.logging import pii_hash, set_pii_key
    from api.settings import Settings
    from api.storage.audit import SqlAuditLog
    from api.storage.db import Database, run_migrations
    from api.storage.licences import SqlLicenceRepository
    from api.storage.seals import SqlSealRegister
    from licences.issuance import LicenceService

    settings = Settings()
    set_pii_key(settings.pii_hash_key())
    db = Database(settings.resolved_database_url())
    if settings.run_migrations:
        run_migrations(db)
    audit = SqlAuditLog(db, clock=_now)
    return LicenceService(SqlLicenceRepository(db, audit=audit), keys=open_service_keystore(settings),
                          seals=SqlSealRegister(db, audit=audit), pii_hash=pii_hash)


def _fields(fields_json: str | None, pairs: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if fields_json:
        raw = _read(fields_json[1:], "fields").decode("utf-8") if fields_json.startswith("@") else fields_json
        try:
            obj = json.loads(raw)
        except ValueError:
            raise BadInputError("--fields must be a JSON object (or @file)", message_zh="字段数据应为 JSON 对象",
                                field="fields") from None
        if not isinstance(obj, dict):
            raise BadInputError("--fields must be a JSON object", message_zh="字段数据应为 JSON 对象", field="fields")
        out.update(obj)
    for p in pairs:
        key, sep, value = p.partition("=")
        if not sep or not key:
            raise BadInputError(f"--field expects name=value, got {p[:40]!r}", field="field")
        out[key] = value
    return out


def _out(lic: Any) -> dict[str, Any]:
    from licences.model import effective_status, metadata

    now = _now()
    return {"licence_id": lic.licence_id, "metadata": metadata(lic, at=now), "fields": dict(lic.fields),
            "status": effective_status(lic, now).value, "version": lic.version, "supersedes": lic.supersedes,
            "superseded_by": lic.superseded_by, "status_list": {"authority": lic.authority_id,
                                                                 "index": lic.status_index}}


@click.group("licence")
def licence() -> None:
    """Electronic licences (电子证照): issue, show, revoke, suspend, reinstate, correct, bulk, status lists."""


@licence.command("types")
@click.option("--region", help="Also the types of this region (default: all regions).")
def types_cmd(region: str | None) -> None:
    """List licence types (national and regional) with their field schemas."""
    from licences.catalogue import licence_type_to_dict

    try:
        svc = _service()
        emit([licence_type_to_dict(t) for t in svc.catalogue().types(region=region)])
    except EsignError as exc:
        fail(exc, exit_code=3 if exc.http_status >= 500 else 2)


@licence.command("issue")
@click.option("--authority", required=True, help="Issuing authority id.")
@click.option("--type", "type_code", required=True, help="Licence type code (21 characters).")
@click.option("--fields", "fields_json", help="Field values: a JSON object, or @file.json.")
@click.option("--field", "pairs", multiple=True, help="One field: name=value (repeatable).")
@click.option("--valid-from", help="Start of validity YYYY-MM-DD (default: today).")
@click.option("--out", help="Also write the canonical signed licence here.")
def issue_cmd(authority: str, type_code: str, fields_json: str | None, pairs: tuple[str, ...],
              valid_from: str | None, out: str | None) -> None:
    """Issue one licence; prints its metadata."""
    try:
        svc = _service()
        lic = svc.issue(authority, type_code, _fields(fields_json, pairs), actor="cli", at=_now(), region=None,
                        valid_from=valid_from)
        if out:
            _write(out, lic.signed)
    except EsignError as exc:
        fail(exc, exit_code=3 if exc.http_status >= 500 else 2)
    emit(_out(lic))


@licence.command("show")
@click.argument("licence_id")
@click.option("--signed", "signed_out", help="Write the canonical signed licence to this file.")
def show_cmd(licence_id: str, signed_out: str | None) -> None:
    """Show a licence version (metadata, fields, effective status, links)."""
    try:
        svc = _service()
        lic = svc.repo.get_licence(licence_id)
        if signed_out:
            _write(signed_out, lic.signed)
        events = [{"action": e.action, "to": e.to_status.value, "actor": e.actor, "reason": e.reason,
                   "at": e.at.isoformat(), "related_id": e.related_id} for e in svc.repo.events(licence_id)]
    except EsignError as exc:
        fail(exc, exit_code=3 if exc.http_status >= 500 else 2)
    emit({**_out(lic), "events": events})


def _change_cmd(name: str, help_text: str) -> None:
    @licence.command(name, help=help_text)
    @click.argument("licence_id")
    @click.option("--reason", default="", help="Why (no personal data).")
    def _cmd(licence_id: str, reason: str) -> None:
        from licences import lifecycle

        try:
            svc = _service()
            lic = getattr(lifecycle, name)(svc, licence_id, actor="cli", reason=reason, at=_now(), region=None)
        except EsignError as exc:
            fail(exc, exit_code=3 if exc.http_status >= 500 else 2)
        emit(_out(lic))


_change_cmd("revoke", "Revoke a licence (final; refused if already revoked).")
_change_cmd("suspend", "Suspend a valid licence.")
_change_cmd("reinstate", "Reinstate a suspended licence.")


@licence.command("correct")
@click.argument("licence_id")
@click.option("--fields", "fields_json", help="Changed fields: a JSON object, or @file.json.")
@click.option("--field", "pairs", multiple=True, help="One changed field: name=value (repeatable).")
@click.option("--reason", default="", help="Why (no personal data).")
def correct_cmd(licence_id: str, fields_json: str | None, pairs: tuple[str, ...], reason: str) -> None:
    """Issue a corrected new version that supersedes LICENCE_ID."""
    from licences.lifecycle import correct

    try:
        svc = _service()
        old, new = correct(svc, licence_id, _fields(fields_json, pairs), actor="cli", reason=reason, at=_now(),
                           region=None)
    except EsignError as exc:
        fail(exc, exit_code=3 if exc.http_status >= 500 else 2)
    emit({"superseded": _out(old), "licence": _out(new)})


@licence.command("bulk")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--type", "type_code", required=True, help="Licence type code of every row.")
@click.option("--authority", required=True, help="Issuing authority id.")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), help="Default: from the file extension.")
@click.option("--batch-size", default=200, show_default=True, type=int, help="Rows per commit (1: one per row).")
def bulk_cmd(file: str, type_code: str, authority: str, fmt: str | None, batch_size: int) -> None:
    """Issue one licence per row of a CSV or JSON-lines file; prints the per-row report."""
    import sys

    from licences.bulk import issue_bulk

    try:
        data = _read(file, "file")
        svc = _service()
        report = issue_bulk(svc, authority, type_code, data, fmt=fmt or ("csv" if file.lower().endswith(".csv")
                                                                         else "jsonl"),
                            actor="cli", at=_now(), region=None, batch_size=batch_size)
    except EsignError as exc:
        fail(exc, exit_code=3 if exc.http_status >= 500 else 2)
    emit(report.to_dict())
    if report.failed:
        sys.exit(2)


@licence.command("status-list")
@click.argument("authority", required=False)
@click.option("--out", help="Write the signed status list here (default: print a summary only).")
@click.option("--check", "check_file", help="Verify this status list file instead of publishing.")
@click.option("--trust", "trust_files", multiple=True, help="Trust anchors (PEM/DER) for --check.")
@click.option("--index", "indices", multiple=True, type=int, help="With --check: print the status at this index.")
def status_list_cmd(authority: str | None, out: str | None, check_file: str | None, trust_files: tuple[str, ...],
                    indices: tuple[int, ...]) -> None:
    """Publish AUTHORITY's signed status list, or --check a status list file against --trust."""
    from licences.status import load_status_list, publish_status_list

    try:
        if check_file:
            from keys.x509 import parse_certificates
            from verifier.pki import TrustStore

            certs = [c for f in trust_files for c in parse_certificates(_read(f, "trust"))]
            if not certs:
                raise BadInputError("--check needs --trust anchors", message_zh="请提供信任锚证书", field="trust")
            try:
                sl = load_status_list(_read(check_file, "file"), trust=TrustStore.of(certs), at=_now())
            except EsignError as exc:
                if exc.http_status == 422:
                    fail(exc, exit_code=1)
                raise
            emit({"authority": sl.authority, "issuer": sl.issuer, "version": sl.version, "size": sl.size,
                  "issued_at": sl.issued_at.isoformat(), "expires_at": sl.expires_at.isoformat(),
                  "statuses": {str(i): sl.status(i) for i in indices}})
            return
        if not authority:
            raise BadInputError("give AUTHORITY (or --check FILE)", field="authority")
        svc = _service()
        auth = svc.repo.get_authority(authority)
        data = publish_status_list(svc.repo, auth, key=svc.keys.signing_key(auth.key_id), at=_now())
        if out:
            _write(out, data)
        size, changes = svc.repo.status_size(authority)
    except EsignError as exc:
        fail(exc, exit_code=3 if exc.http_status >= 500 else 2)
    emit({"authority": authority, "entries": size, "version": changes, "bytes": len(data), "out": out})
