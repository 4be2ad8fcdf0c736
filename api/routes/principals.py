"""Admin endpoints to create, list and revoke principals (API tokens)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, status
from sqlalchemy import select

from api.auth import ALL_REGIONS, AuthPrincipal, Role, create_principal, forget_token_hash, require_role
from api.deps import SystemClock, get_audit, get_clock, get_db
from api.schemas import PROBLEM_RESPONSES, PrincipalCreate, PrincipalCreated, PrincipalOut
from api.storage.audit import SqlAuditLog
from api.storage.db import Database
from api.storage.models import Principal, utc
from keys.errors import BadInputError, ConflictError, NotFoundError

__all__ = ["router"]

router = APIRouter(prefix="/v1/principals", tags=["principals"], responses=PROBLEM_RESPONSES)
_admin = require_role(Role.ADMIN)


def _out(row: Principal) -> dict[str, object]:
    return {"id": row.id, "name": row.name, "role": row.role, "region": row.region, "token_hint": row.token_hint,
            "created_at": utc(row.created_at), "created_by": row.created_by, "revoked_at": utc(row.revoked_at)}


def _subject(role: Role, subject: str | None) -> str | None:
    """A holder needs the ID its licences carry (checked, check character included); other roles have none."""
    if role is not Role.HOLDER:
        if subject:
            raise BadInputError("only holders have a subject", message_zh="仅持证人需要绑定证件号码", field="subject")
        return None
    if not subject:
        raise BadInputError("a holder needs its subject: a resident ID number or a USCC",
                            message_zh="持证人须绑定公民身份号码或统一社会信用代码", field="subject")
    from licences.identifiers import validate_id_number, validate_uscc

    if subject.strip()[:17].isdigit():  # a resident ID number is 17 digits and a check character
        return validate_id_number(subject, field="subject").number
    return validate_uscc(subject, field="subject").code


@router.post("", response_model=PrincipalCreated, status_code=status.HTTP_201_CREATED,
             summary="Create a principal; the response holds its token, shown once")
def create(
    body: PrincipalCreate,
    admin: AuthPrincipal = Depends(_admin),  # noqa: B008
    db: Database = Depends(get_db),  # noqa: B008
    audit: SqlAuditLog = Depends(get_audit),  # noqa: B008
    clock: SystemClock = Depends(get_clock),  # noqa: B008
) -> PrincipalCreated:
    """Only admins; an admin bound to a region creates principals of that region only."""
    if body.region == ALL_REGIONS and body.role is not Role.ADMIN:
        raise BadInputError("only admins may have region '*'", message_zh="仅管理员可不绑定地区", field="region")
    if admin.region != ALL_REGIONS and body.region != admin.region:
        raise BadInputError(f"you may only create principals in region {admin.region}",
                            message_zh="只能在本地区创建主体", field="region")
    subject = _subject(body.role, body.subject)
    with db.write_session() as s:
        row, token = create_principal(s, name=body.name, role=body.role, region=body.region,
                                      created_by=admin.id, at=clock.now(), subject=subject)
        audit.append(session=s, actor=admin.id, action="principal.create", object_type="principal",
                     object_id=row.id, details={"role": row.role, "region": row.region})
        out = _out(row)
    return PrincipalCreated(**out, token=token)


@router.get("", response_model=list[PrincipalOut], summary="List principals (never their tokens)")
def list_principals(
    admin: AuthPrincipal = Depends(_admin),  # noqa: B008
    db: Database = Depends(get_db),  # noqa: B008
) -> list[PrincipalOut]:
    """All principals visible to this admin, oldest first."""
    with db.session() as s:
        q = select(Principal).order_by(Principal.created_at, Principal.id)
        if admin.region != ALL_REGIONS:
            q = q.where(Principal.region == admin.region)
        return [PrincipalOut(**_out(r)) for r in s.scalars(q)]  # type: ignore[arg-type]


@router.delete("/{principal_id}", response_model=PrincipalOut, summary="Revoke a principal's token")
def revoke(
    principal_id: str,
    request: Request,
    admin: AuthPrincipal = Depends(_admin),  # noqa: B008
    db: Database = Depends(get_db),  # noqa: B008
    audit: SqlAuditLog = Depends(get_audit),  # noqa: B008
    clock: SystemClock = Depends(get_clock),  # noqa: B008
) -> PrincipalOut:
    """Marks the principal revoked (the row is kept for the audit trail). Revoking yourself is refused."""
    with db.write_session() as s:
        row = s.get(Principal, principal_id)
        if row is None or (admin.region != ALL_REGIONS and row.region != admin.region):
            raise NotFoundError("no such principal", message_zh="主体不存在", field="principal_id")
        if row.id == admin.id:
            raise ConflictError("an admin cannot revoke itself", message_zh="不能吊销自己的令牌")
        if row.revoked_at is not None:
            raise ConflictError("principal already revoked", message_zh="该主体已被吊销")
        row.revoked_at = clock.now()
        audit.append(session=s, actor=admin.id, action="principal.revoke", object_type="principal",
                     object_id=row.id, details={"role": row.role, "region": row.region})
        out = _out(row)
        token_hash = row.token_hash
    forget_token_hash(request, token_hash)
    return PrincipalOut(**out)  # type: ignore[arg-type]
