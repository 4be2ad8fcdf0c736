"""``esign audit verify|show``: check and read the hash-chained audit log directly in the database.

Exit codes of ``verify``: 0 the chain is intact, 1 it is broken (the JSON names the index and
seq of the first bad entry), 2 bad input (no database), 3 the database failed.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from api.cli import emit, fail
from keys.errors import BadInputError, EsignError

__all__ = ["audit"]


def _open(data_dir: Path | None, database_url: str | None) -> Any:
    from sqlalchemy import inspect

    from api.deps import SystemClock
    from api.settings import Settings
    from api.storage.audit import SqlAuditLog
    from api.storage.db import Database

    overrides: dict[str, Any] = {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    if database_url is not None:
        overrides["database_url"] = database_url
    settings = Settings(**overrides)
    if settings.database_url is None and not (settings.data_dir / "esign.db").exists():
        raise BadInputError(f"no database at {settings.data_dir / 'esign.db'}; pass --data-dir or --database-url",
                            message_zh="找不到数据库", field="data_dir")
    db = Database(settings.resolved_database_url())
    try:
        if not inspect(db.engine).has_table("audit_log"):
            raise BadInputError("the database has no audit log (never migrated)", message_zh="数据库中没有审计日志")
    except EsignError:
        db.dispose()
        raise
    except Exception as exc:  # a driver error connecting: report, never a traceback
        db.dispose()
        raise BadInputError(f"cannot open the database ({type(exc).__name__})", message_zh="无法打开数据库") from exc
    return db, SqlAuditLog(db, clock=SystemClock().now)


_db_options = [
    click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                 help="Data directory (default ESIGN_DATA_DIR or ./var)."),
    click.option("--database-url", default=None, help="Database URL (default ESIGN_DATABASE_URL or the SQLite file)."),
    click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="json", show_default=True),
]


def _with_db_options(f: Any) -> Any:
    for opt in reversed(_db_options):
        f = opt(f)
    return f


@click.group("audit")
def audit() -> None:
    """Inspect and verify the hash-chained audit log."""


@audit.command("verify")
@_with_db_options
def verify(data_dir: Path | None, database_url: str | None, fmt: str) -> None:
    """Walk the chain. Exit 0 intact; 1 broken (index and seq of the first bad entry reported)."""
    try:
        db, log = _open(data_dir, database_url)
        try:
            status = log.verify()
        finally:
            db.dispose()
    except EsignError as exc:
        fail(exc)

    def text(s: dict[str, Any]) -> str:
        if s["intact"]:
            return f"OK: {s['count']} entries, head seq {s['head_seq']} {s['head_hash']} ({s['algorithm']})"
        return (f"BROKEN at index {s['first_bad_index']} (seq {s['first_bad_seq']}): {s['reason']}\n"
                f"审计日志哈希链断裂：第 {s['first_bad_index']} 条（从 0 计）起不可信")

    emit(asdict(status), fmt, text=text)
    if not status.intact:
        raise SystemExit(1)


@audit.command("show")
@_with_db_options
@click.option("--after", default=0, show_default=True, type=click.IntRange(0), help="Show entries with seq > N.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
def show(data_dir: Path | None, database_url: str | None, fmt: str, after: int, limit: int) -> None:
    """Print entries in chain order."""
    try:
        db, log = _open(data_dir, database_url)
        try:
            entries = [asdict(e) | {"details": dict(e.details)} for e in log.page(after_seq=after, limit=limit)]
        finally:
            db.dispose()
    except EsignError as exc:
        fail(exc)

    def text(rows: list[dict[str, Any]]) -> str:
        return "\n".join(f"{r['seq']:>6} {r['ts']} {r['actor']:<28} {r['action']:<20} {r['object_type']}:"
                         f"{r['object_id']} {r['entry_hash'][:16]}" for r in rows) or "(no entries)"

    emit(entries, fmt, text=text)
