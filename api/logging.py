"""Structured logging: one JSON object per line on stderr, with the request context attached.

Every line carries ``ts``, ``level``, ``logger``, ``msg`` and, inside a request, ``request_id``
and ``principal``. The access line adds ``method``, ``path`` (the route *template*, e.g.
``/v1/principals/{principal_id}``, so identifiers in URLs never reach the log), ``status`` and
``duration_ms``. Tokens, keys and personal data are never logged; a value that must be
correlated across lines is logged as :func:`pii_hash` (HMAC-SM3 under a deployment key).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
import sys
import time
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keys.audit import pii_digest

__all__ = [
    "REQUEST_ID_HEADER",
    "JsonFormatter",
    "RequestContextMiddleware",
    "configure_logging",
    "current_request_id",
    "pii_hash",
    "set_pii_key",
    "set_principal",
]

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("esign_request_id", default=None)
_principal: contextvars.ContextVar[str | None] = contextvars.ContextVar("esign_principal", default=None)
_pii_key: bytes = secrets.token_bytes(32)  # replaced at start-up by the deployment key
_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "color_message"}
_access = logging.getLogger("esign.access")


def set_pii_key(key: bytes) -> None:
    """Install the deployment's PII hashing key (called once at start-up)."""
    global _pii_key
    _pii_key = key


def pii_hash(value: str) -> str:
    """A stable, non-reversible stand-in for a personal value, safe to log and to audit."""
    return pii_digest(value, key=_pii_key)


def current_request_id() -> str | None:
    """The id of the request being handled, if any."""
    return _request_id.get()


def set_principal(scope: Scope, principal_id: str | None) -> None:
    """Record the authenticated principal for this request's access line and log lines.

    ``scope`` is the ASGI scope (``request.scope``); the id is kept there because sync
    dependencies run in a worker thread whose context variables do not flow back.
    """
    scope.setdefault("state", {})["principal_id"] = principal_id
    _principal.set(principal_id)


class JsonFormatter(logging.Formatter):
    """Format records as single-line JSON; ``extra={...}`` fields become top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = _request_id.get()
        if rid:
            out["request_id"] = rid
        who = _principal.get()
        if who:
            out["principal"] = who
        for k, v in record.__dict__.items():
            if k not in _RESERVED and not k.startswith("_"):
                out[k] = v
        if record.exc_info:
            out["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Send ``esign.*``, ``uvicorn`` and ``alembic`` logs to stderr as JSON lines at ``level``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("esign", "uvicorn", "uvicorn.error", "alembic"):
        lg = logging.getLogger(name)
        lg.handlers = [handler]
        lg.propagate = False
        lg.setLevel(level if name != "alembic" else max(logging.getLevelName(level), logging.WARNING))
    logging.getLogger("uvicorn.access").disabled = True  # our access line replaces it


class RequestContextMiddleware:
    """Assign a request id, expose it as ``X-Request-ID``, and write one access log line per request.

    A client-supplied ``X-Request-ID`` is kept only when it is 8-64 safe characters.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = ""
        for k, v in scope.get("headers", ()):
            if k == REQUEST_ID_HEADER.encode():
                given = v.decode("latin-1")
                break
        rid = given if _REQUEST_ID_OK.match(given) else secrets.token_hex(8)
        t_rid = _request_id.set(rid)
        t_who = _principal.set(None)
        scope.setdefault("state", {})["request_id"] = rid
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (REQUEST_ID_HEADER.encode(), rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or ("(unmatched)" if status == 404 else scope.get("path", ""))
            _access.info(
                "request",
                extra={
                    "method": scope.get("method"),
                    "path": path,
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "principal": scope.get("state", {}).get("principal_id"),
                },
            )
            _request_id.reset(t_rid)
            _principal.reset(t_who)
