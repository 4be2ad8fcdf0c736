"""Bearer-token authentication and role checks.

Tokens look like ``esk_<43 base64url chars>`` (256 random bits). Only ``SM3(token)`` is stored
(``principals.token_hash``); tokens are high-entropy, so an unsalted hash is enough and lets a
lookup use the unique index. Each principal has exactly one role and one region (``*`` for a
deployment-wide admin). A successful lookup is cached for ``ESIGN_AUTH_CACHE_TTL`` seconds;
revoking a principal deletes its cache entry at once (in every worker when the cache is Redis).

Roles (see ``docs/service.md``): ``admin`` manages principals and reads the audit log;
``issuer`` issues licences/certificates; ``signer`` signs documents; ``verifier`` calls the
verification API; ``staff`` checks licences shown by holders; ``holder`` holds licences;
``wallet`` is a peer deployment's wallet service asking for a holder's licences (system to system).
Roles are not hierarchical: ``require_role("issuer")`` does not admit an admin. System roles
(:data:`SYSTEM_ROLES`) are admitted only where named alone: ``require_role(*Role)`` excludes them.
"""

from __future__ import annotations

import enum
import json
import logging
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.errors import AuthenticationError
from api.logging import set_principal
from api.storage.models import Principal as PrincipalRow
from api.storage.models import utc
from keys.errors import BackendUnavailableError, BadInputError, PermissionDeniedError
from keys.hashing import sm3

__all__ = [
    "ALL_REGIONS",
    "SYSTEM_ROLES",
    "TOKEN_PREFIX",
    "AuthPrincipal",
    "Role",
    "authenticate",
    "create_principal",
    "current_principal",
    "forget_token_hash",
    "hash_token",
    "new_token",
    "require_region",
    "require_role",
]

TOKEN_PREFIX = "esk_"  # noqa: S105 -- a prefix, not a secret
#: Region value of a principal not bound to one region.
ALL_REGIONS = "*"
_MAX_TOKEN_CHARS = 200
_CACHE_NS = "auth:"
_log = logging.getLogger("esign.auth")


class Role(enum.StrEnum):
    """What a principal may do."""

    ADMIN = "admin"
    ISSUER = "issuer"
    SIGNER = "signer"
    VERIFIER = "verifier"
    STAFF = "staff"
    HOLDER = "holder"
    WALLET = "wallet"
    """A peer deployment's wallet service (system to system, any region): only ``GET /v1/holders/{id}/licences``."""


#: Roles of other systems rather than people or service windows: admitted only by a ``require_role`` that names
#: nothing else, so "any principal" (``require_role(*Role)``) never lets a peer deployment in.
SYSTEM_ROLES: frozenset[Role] = frozenset({Role.WALLET})


@dataclass(frozen=True)
class AuthPrincipal:
    """The authenticated caller of a request."""

    id: str
    """Principal id (``p_`` + 24 hex)."""
    name: str
    """Display name."""
    role: Role
    """Its single role."""
    region: str
    """GB/T 2260 region code, or ``*``."""
    subject: str | None = None
    """For a ``holder``: the holder ID its licences carry (personal data: never logged)."""


def new_token() -> str:
    """A fresh random bearer token."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Hex SM3 of the token, as stored."""
    return sm3(token.encode("utf-8")).hex()


def create_principal(
    session: Session, *, name: str, role: Role, region: str, created_by: str, at: datetime, token: str | None = None,
    subject: str | None = None,
) -> tuple[PrincipalRow, str]:
    """Insert a principal; return the row and its token (shown once, never stored in clear)."""
    tok = token or new_token()
    if not tok.startswith(TOKEN_PREFIX) or len(tok) < 24:
        raise BadInputError("tokens must start with 'esk_' and be at least 24 characters", field="token")
    row = PrincipalRow(id="p_" + uuid.uuid4().hex[:24], name=name, role=role.value, region=region,
                       token_hash=hash_token(tok), token_hint=tok[:8], created_at=at, created_by=created_by,
                       subject=subject)
    session.add(row)
    session.flush()
    return row, tok


def _from_cache(raw: bytes) -> AuthPrincipal | None:
    try:
        d = json.loads(raw)
        return AuthPrincipal(id=d["id"], name=d["name"], role=Role(d["role"]), region=d["region"],
                             subject=d.get("subject"))
    except (ValueError, KeyError, TypeError):
        return None


def authenticate(request: Request, token: str) -> AuthPrincipal:
    """Resolve a bearer token to its principal (cache first, then the database).

    Raises:
        AuthenticationError: unknown or revoked token.
    """
    state = request.app.state
    key = _CACHE_NS + hash_token(token)
    ttl = state.settings.auth_cache_ttl
    if ttl > 0:
        try:
            cached = state.cache.get(key)
        except BackendUnavailableError:
            cached = None  # the database is the source of truth; the cache is only a shortcut
        if cached is not None and (p := _from_cache(cached)) is not None:
            return p
    with state.db.session() as s:
        row = s.scalars(select(PrincipalRow).where(PrincipalRow.token_hash == hash_token(token))).one_or_none()
        if row is None or utc(row.revoked_at) is not None:
            raise AuthenticationError("unknown or revoked token", message_zh="访问令牌无效或已吊销")
        p = AuthPrincipal(id=row.id, name=row.name, role=Role(row.role), region=row.region, subject=row.subject)
    if ttl > 0:
        try:
            state.cache.set(key, json.dumps(p.__dict__ | {"role": p.role.value}).encode(), ttl=ttl)
        except BackendUnavailableError:
            _log.warning("auth cache unavailable; continuing without it")
    return p


def forget_token_hash(request: Request, token_hash: str) -> None:
    """Drop a cached lookup (after revocation)."""
    try:
        request.app.state.cache.delete(_CACHE_NS + token_hash)
    except BackendUnavailableError:
        _log.warning("auth cache unavailable while revoking; entry expires within the TTL")


def current_principal(request: Request) -> AuthPrincipal:
    """FastAPI dependency: the principal behind ``Authorization: Bearer <token>`` (or ``X-API-Key``).

    Raises:
        AuthenticationError: no credentials, malformed header, unknown or revoked token.
    """
    header = request.headers.get("authorization")
    token: str | None = None
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthenticationError("Authorization header must be 'Bearer <token>'",
                                      message_zh="Authorization 头格式应为 Bearer <令牌>", field="Authorization")
        token = value.strip()
    else:
        token = request.headers.get("x-api-key")
    if not token:
        raise AuthenticationError("missing bearer token", message_zh="缺少访问令牌", field="Authorization")
    if len(token) > _MAX_TOKEN_CHARS or not token.startswith(TOKEN_PREFIX):
        raise AuthenticationError("unknown or revoked token", message_zh="访问令牌无效或已吊销")
    p = authenticate(request, token)
    set_principal(request.scope, p.id)
    return p


def require_role(*roles: Role | str) -> Callable[..., AuthPrincipal]:
    """Dependency factory: admit only principals holding one of ``roles``.

    Usage: ``principal: AuthPrincipal = Depends(require_role(Role.ISSUER))``.
    """
    allowed = frozenset(Role(r) for r in roles)
    if not allowed:
        raise ValueError("require_role needs at least one role")
    if allowed - SYSTEM_ROLES:  # a person's or window's endpoint: never a peer system's credential
        allowed -= SYSTEM_ROLES

    def _dep(principal: AuthPrincipal = Depends(current_principal)) -> AuthPrincipal:  # noqa: B008
        if principal.role not in allowed:
            raise PermissionDeniedError(
                f"role '{principal.role.value}' may not do this; needs one of: "
                + ", ".join(sorted(r.value for r in allowed)),
                message_zh="当前角色无权执行此操作",
            )
        return principal

    _dep.__name__ = "require_" + "_or_".join(sorted(r.value for r in allowed))
    return _dep


def require_region(principal: AuthPrincipal, region: str) -> None:
    """Raise :class:`PermissionDeniedError` unless ``principal`` may act in ``region``."""
    if principal.region not in (ALL_REGIONS, region):
        raise PermissionDeniedError(f"principal is bound to region {principal.region}, not {region}",
                                    message_zh="无权操作其他地区的数据", field="region")
