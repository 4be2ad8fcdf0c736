"""Read and verify the audit log (admin only)."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends, Query

from api.auth import AuthPrincipal, Role, require_role
from api.deps import get_audit
from api.schemas import PROBLEM_RESPONSES, AuditEntryOut, AuditPage, ChainStatusOut
from api.storage.audit import SqlAuditLog

__all__ = ["router"]

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=PROBLEM_RESPONSES)
#: Largest page a client may ask for.
MAX_LIMIT = 500


@router.get("", response_model=AuditPage, summary="Page through the audit log in chain order")
def list_audit(
    after: int = Query(0, ge=0, description="Return entries with seq greater than this"),
    limit: int = Query(100, ge=1, le=MAX_LIMIT),
    _: AuthPrincipal = Depends(require_role(Role.ADMIN)),  # noqa: B008
    audit: SqlAuditLog = Depends(get_audit),  # noqa: B008
) -> AuditPage:
    """Entries ``seq > after``, ascending; ``next_after`` is null on the last page."""
    page = audit.page(after_seq=after, limit=limit + 1)
    items = [AuditEntryOut(**{**asdict(e), "details": dict(e.details)}) for e in page]
    more = len(items) > limit
    items = items[:limit]
    return AuditPage(items=items, next_after=items[-1].seq if more and items else None)


@router.get("/verify", response_model=ChainStatusOut, summary="Walk the hash chain; report the first broken link")
def verify_audit(
    _: AuthPrincipal = Depends(require_role(Role.ADMIN)),  # noqa: B008
    audit: SqlAuditLog = Depends(get_audit),  # noqa: B008
) -> ChainStatusOut:
    """200 with ``intact: true``, or ``intact: false`` and where the chain first breaks.

    A broken chain is a finding to report, not a failed request, so the status stays 200; the
    CLI ``esign audit verify`` exits 1 in that case.
    """
    return ChainStatusOut(**asdict(audit.verify()))
