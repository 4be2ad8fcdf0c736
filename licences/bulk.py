"""Bulk issuance from CSV or JSON lines (a department migrating its register), with a per-row report.

Input:

- CSV (UTF-8, BOM tolerated): a header row of field names of the licence type, one licence per
  row; an optional ``valid_from`` column; empty cells are absent values.
- JSON lines: one object per line with the fields (and optionally ``valid_from``); blank lines skipped.

Each row is validated on its own (nothing written for a bad row) and issued inside its own
savepoint; rows are committed in batches of ``batch_size`` (default :data:`DEFAULT_BATCH`) so
the per-commit cost is shared. Each issued row gets its ``issue`` event; the audit chain gets one
``licence.bulk_issue`` entry per :data:`AUDIT_CHUNK` issued rows (row, serial, index and the
holder's ``pii_hash`` of each -- the identifier follows from type, issuer, serial and version),
written in the same transaction. A failed row is undone alone and reported with its field and
reason; the others go on. If a batch commit itself fails, every row of that batch is reported as
failed (none of them was stored) and the next batch is tried. ``batch_size=1`` gives one
transaction per row.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keys.errors import BadInputError, EsignError
from licences.issuance import LicenceService
from licences.model import IssuingAuthority, LicenceEvent, LicenceStatus

__all__ = ["AUDIT_CHUNK", "DEFAULT_BATCH", "MAX_BULK_BYTES", "MAX_BULK_ROWS", "BulkReport", "RowResult", "issue_bulk",
           "parse_rows"]

#: Largest bulk file.
MAX_BULK_BYTES = 64 << 20
#: Most rows in one bulk file.
MAX_BULK_ROWS = 100_000
#: Rows committed together.
DEFAULT_BATCH = 200
#: Issued rows recorded per audit entry (``[row, serial, index, holder hash]`` each; fits the 16 KiB limit).
AUDIT_CHUNK = 100
_MAX_LINE = 1 << 16


@dataclass(frozen=True)
class RowResult:
    """The outcome of one row."""

    row: int
    """1-based number of the data row (CSV: not counting the header; JSON lines: the line number)."""
    ok: bool
    """Issued."""
    licence_id: str | None = None
    """The new licence's identifier."""
    code: str | None = None
    """Error code (``invalid_field``, ``wrong_check_character``, ...)."""
    field: str | None = None
    """Field at fault."""
    reason: str | None = None
    """Reason, English."""
    reason_zh: str | None = None
    """Reason, Chinese."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        if self.ok:
            return {"row": self.row, "ok": True, "licence_id": self.licence_id}
        return {"row": self.row, "ok": False, "code": self.code, "field": self.field, "reason": self.reason,
                "reason_zh": self.reason_zh}


@dataclass(frozen=True)
class BulkReport:
    """The per-row report of a bulk run."""

    rows: tuple[RowResult, ...]
    """One result per data row, in input order."""

    @property
    def issued(self) -> int:
        """Rows issued."""
        return sum(r.ok for r in self.rows)

    @property
    def failed(self) -> int:
        """Rows refused."""
        return len(self.rows) - self.issued

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form with totals."""
        return {"total": len(self.rows), "issued": self.issued, "failed": self.failed,
                "rows": [r.to_dict() for r in self.rows]}


def _err(row: int, exc: EsignError) -> RowResult:
    return RowResult(row=row, ok=False, code=exc.code, field=exc.field, reason=exc.message, reason_zh=exc.message_zh)


def parse_rows(data: bytes, *, fmt: str) -> Iterator[tuple[int, Mapping[str, Any] | EsignError]]:
    """``(row number, fields or the error of that row)`` for each data row of a CSV or JSON-lines file.

    Raises:
        BadInputError: the file as a whole is unusable (too large, not UTF-8, no CSV header, unknown format).
    """
    if len(data) > MAX_BULK_BYTES:
        raise BadInputError(f"bulk file larger than {MAX_BULK_BYTES} bytes", message_zh="批量文件过大", field="file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadInputError("the bulk file is not UTF-8", message_zh="批量文件必须为 UTF-8 编码",
                            field="file") from None
    if fmt == "csv":
        yield from _csv_rows(text)
    elif fmt in ("jsonl", "ndjson", "json"):
        yield from _jsonl_rows(text)
    else:
        raise BadInputError("format must be csv or jsonl", message_zh="格式必须为 csv 或 jsonl", field="format")


def _csv_rows(text: str) -> Iterator[tuple[int, Mapping[str, Any] | EsignError]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        raise BadInputError("the CSV file has no header row", message_zh="CSV 文件缺少表头", field="file") from None
    header = [h.strip() for h in header]
    if not header or len(set(header)) != len(header) or not all(header):
        raise BadInputError("the CSV header must name each column once", message_zh="CSV 表头列名为空或重复",
                            field="file")
    n = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            n += 1
            yield n, BadInputError(f"unreadable CSV row: {exc}", message_zh="CSV 行格式错误", field="row")
            continue
        if not any(c.strip() for c in cells):
            continue
        n += 1
        if n > MAX_BULK_ROWS:
            raise BadInputError(f"more than {MAX_BULK_ROWS} rows", message_zh="批量行数过多", field="file")
        if len(cells) != len(header):
            yield n, BadInputError(f"row has {len(cells)} cells, the header {len(header)}",
                                   message_zh="该行列数与表头不一致", field="row")
            continue
        yield n, {h: c for h, c in zip(header, cells, strict=True) if c.strip()}


def _jsonl_rows(text: str) -> Iterator[tuple[int, Mapping[str, Any] | EsignError]]:
    n = 0
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        n += 1
        if n > MAX_BULK_ROWS:
            raise BadInputError(f"more than {MAX_BULK_ROWS} rows", message_zh="批量行数过多", field="file")
        if len(line) > _MAX_LINE:
            yield lineno, BadInputError("line too long", message_zh="该行过长", field="row")
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            yield lineno, BadInputError("not a JSON object", message_zh="该行不是 JSON 对象", field="row")
            continue
        if not isinstance(obj, dict):
            yield lineno, BadInputError("not a JSON object", message_zh="该行不是 JSON 对象", field="row")
            continue
        yield lineno, obj


def issue_bulk(service: LicenceService, authority: IssuingAuthority | str, type_code: str, data: bytes, *,
               fmt: str, actor: str, at: datetime, region: str | None,
               batch_size: int = DEFAULT_BATCH) -> BulkReport:
    """Issue one licence per row; see the module docstring.

    Raises:
        BadInputError: the file as a whole is unusable.
        NotAuthorisedToIssueError / UnknownLicenceTypeError: the authority may not issue the type at all
            (checked once, before any row).
    """
    if not (1 <= batch_size <= 10_000):
        raise BadInputError("batch_size must be 1..10000", field="batch_size")
    auth = authority if isinstance(authority, IssuingAuthority) else service.repo.get_authority(authority)
    catalogue = service.catalogue()
    t = catalogue.get(type_code, region=auth.region)
    service.check_region(auth, region)
    if t.code not in auth.allowed_types:
        from licences.errors import NotAuthorisedToIssueError

        raise NotAuthorisedToIssueError(f"issuing authority {auth.id} may not issue {t.code}",
                                        message_zh="该发证机构无权签发此类证照", field="type_code")
    signer = service.signer(auth, at=at)
    results: list[RowResult] = []
    batch: list[tuple[int, Any]] = []

    def flush() -> None:
        if not batch:
            return
        done: list[RowResult] = []
        audited: list[list[Any]] = []
        try:
            with service.repo.transaction() as tx:
                for row, prepared in batch:
                    fields, start, end = prepared
                    try:
                        with tx.savepoint():
                            lic = service.build(tx, auth, t, fields, start=start, end=end, at=at, signer=signer)
                            tx.add_event(LicenceEvent(lic.licence_id, "issue", None, LicenceStatus.VALID, actor,
                                                      "bulk", lic.issued_at), details={}, audit=False)
                        done.append(RowResult(row=row, ok=True, licence_id=lic.licence_id))
                        audited.append([row, lic.serial, lic.status_index, service.pii_hash(lic.holder_id)])
                    except EsignError as exc:
                        done.append(_err(row, exc))
                # One audit entry per chunk of rows, in the same transaction: which licences, for whom (hashed).
                for i in range(0, len(audited), AUDIT_CHUNK):
                    chunk = audited[i:i + AUDIT_CHUNK]
                    tx.add_audit(actor=actor, action="licence.bulk_issue", object_type="licence_batch",
                                 object_id=f"{auth.id}:{chunk[0][2]}-{chunk[-1][2]}",
                                 details={"type": t.code, "authority": auth.id, "issuer": auth.uscc, "version": 1,
                                          "rows": chunk})
        except EsignError as exc:
            done = [_err(row, exc) for row, _ in batch]
        results.extend(done)
        batch.clear()

    pending: list[RowResult] = []
    for row, item in parse_rows(data, fmt=fmt):
        if isinstance(item, EsignError):
            pending.append(_err(row, item))
            continue
        values = dict(item)
        valid_from = values.pop("valid_from", None)
        try:
            _, fields, start, end = service.prepare(auth, t.code, values, at=at, region=region,
                                                    valid_from=valid_from, catalogue=catalogue)
        except EsignError as exc:
            pending.append(_err(row, exc))
            continue
        batch.append((row, (fields, start, end)))
        if len(batch) >= batch_size:
            flush()
    flush()
    return BulkReport(rows=tuple(sorted([*results, *pending], key=lambda r: r.row)))
