"""Pydantic request/response models of the service's own endpoints (health, principals, audit)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.auth import Role

__all__ = [
    "PROBLEM_RESPONSES",
    "AuditEntryOut",
    "AuditPage",
    "ChainStatusOut",
    "Health",
    "PrincipalCreate",
    "PrincipalCreated",
    "PrincipalOut",
    "Problem",
    "Readiness",
]


class Problem(BaseModel):
    """RFC 9457 problem details, as every error of this service is returned."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["/problems/permission_denied"])
    title: str
    status: int
    detail: str
    detail_zh: str
    code: str
    field: str | None = None
    instance: str | None = None
    request_id: str | None = None


class Health(BaseModel):
    """Liveness answer."""

    status: str = "ok"


class Readiness(BaseModel):
    """Readiness answer: every dependency checked."""

    status: str
    checks: dict[str, str]


class PrincipalCreate(BaseModel):
    """A new principal."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    role: Role
    region: str = Field(pattern=r"^(\d{6}|\*)$", description="GB/T 2260 code, or * (admins only)")
    subject: str | None = Field(default=None, max_length=32,
                                description="For a holder (required): the resident ID number or USCC its licences "
                                            "carry; not allowed for other roles")


class PrincipalOut(BaseModel):
    """A principal as listed (never with its token)."""

    id: str
    name: str
    role: Role
    region: str
    token_hint: str = Field(description="First 8 characters of the token, to tell tokens apart")
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None


class PrincipalCreated(PrincipalOut):
    """A principal just created: the only response that ever contains its token."""

    token: str = Field(description="Bearer token; shown once, store it now")


class AuditEntryOut(BaseModel):
    """One sealed audit entry."""

    seq: int
    ts: str
    actor: str
    action: str
    object_type: str
    object_id: str
    details: dict[str, Any]
    prev_hash: str
    entry_hash: str


class AuditPage(BaseModel):
    """A page of the audit log; pass ``next_after`` as ``after`` to continue."""

    items: list[AuditEntryOut]
    next_after: int | None


class ChainStatusOut(BaseModel):
    """Result of walking the audit chain."""

    intact: bool
    count: int
    head_seq: int
    head_hash: str
    first_bad_index: int | None
    first_bad_seq: int | None
    reason: str | None
    algorithm: str


_PROBLEM_CONTENT: dict[str, Any] = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
#: OpenAPI ``responses=`` for routers behind authentication: every error is a :class:`Problem`.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": desc, "content": _PROBLEM_CONTENT}
    for status, desc in ((400, "Bad input"), (401, "Missing, unknown or revoked token"),
                         (403, "Role or region not allowed"), (404, "Not found"), (409, "Conflict"),
                         (422, "Request did not validate"), (500, "Internal error (no details)"))
}
