"""Every error leaves the service as RFC 9457 ``application/problem+json``; never a traceback.

Body members: ``type`` (``<problem_base_uri><code>``, default the relative URI
``/problems/<code>``, which this service serves as a page), ``title``, ``status``, ``detail``
(English), ``detail_zh`` (Chinese), ``code`` (stable machine code), ``field`` (the input at
fault, or null), ``instance`` (request path) and ``request_id``. Validation problems add
``errors`` (location, message, type; the offending input value is never echoed, as it may be
personal data). See ``docs/service.md`` for the catalogue.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import keys.errors as _errs
from keys.errors import EsignError

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "AuthenticationError",
    "BodySizeLimitMiddleware",
    "BodyTooLargeError",
    "RateLimitedError",
    "install_error_handlers",
    "problem_catalogue",
    "problem_response",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"
_log = logging.getLogger("esign.errors")


class AuthenticationError(EsignError):
    """No valid credentials: the bearer token is missing, unknown or revoked."""

    code = "unauthenticated"
    http_status = 401
    exit_code = 2
    default_zh = "未认证：缺少或无效的访问令牌"


class RateLimitedError(EsignError):
    """Too many requests from this principal in the current window (429, ``Retry-After``)."""

    code = "rate_limited"
    http_status = 429
    exit_code = 2
    default_zh = "请求过于频繁，请稍后再试"

    def __init__(self, message: str, *, retry_after: int, message_zh: str | None = None,
                 field: str | None = None) -> None:
        super().__init__(message, message_zh=message_zh, field=field)
        self.retry_after = max(1, int(retry_after))


class BodyTooLargeError(StarletteHTTPException):
    """The request body exceeds ``ESIGN_MAX_UPLOAD_BYTES`` (raised while the body is read)."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"request body larger than {limit} bytes")


# Problems that do not come from an EsignError subclass: code -> (status, title, zh).
_HTTP_PROBLEMS: dict[str, tuple[int, str, str]] = {
    "validation_failed": (422, "The request did not validate", "请求参数校验失败"),
    "body_too_large": (413, "Request body too large", "请求体过大"),
    "route_not_found": (404, "No such endpoint", "接口不存在"),
    "method_not_allowed": (405, "Method not allowed", "不支持该请求方法"),
    "not_ready": (503, "Service not ready", "服务尚未就绪"),
    "internal_error": (500, "Internal error", "内部错误，请凭 request_id 联系管理员"),
}
_STATUS_CODES = {401: "unauthenticated", 403: "permission_denied", 404: "route_not_found",
                 405: "method_not_allowed", 413: "body_too_large", 422: "validation_failed",
                 500: "internal_error", 503: "not_ready"}


def _esign_error_classes() -> list[type[EsignError]]:
    out: list[type[EsignError]] = []
    stack: list[type[EsignError]] = [EsignError]
    while stack:
        cls = stack.pop()
        out.append(cls)
        stack.extend(cls.__subclasses__())
    return out


def problem_catalogue() -> dict[str, dict[str, Any]]:
    """Every problem ``code`` this service can emit, with status, title and Chinese title."""
    _ = _errs  # the family lives there; subclasses defined elsewhere are found too
    cat: dict[str, dict[str, Any]] = {}
    for cls in _esign_error_classes():
        title = (cls.__doc__ or cls.__name__).strip().splitlines()[0].rstrip(".")
        cat.setdefault(cls.code, {"status": cls.http_status, "title": title, "title_zh": cls.default_zh})
    for code, (status, title, zh) in _HTTP_PROBLEMS.items():
        cat.setdefault(code, {"status": status, "title": title, "title_zh": zh})
    return dict(sorted(cat.items()))


def _base(request: Request) -> str:
    settings = getattr(request.app.state, "settings", None)
    return getattr(settings, "problem_base_uri", "/problems/")


def problem_response(
    request: Request,
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    detail_zh: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """Build one ``application/problem+json`` response."""
    body: dict[str, Any] = {
        "type": f"{_base(request)}{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "detail_zh": detail_zh,
        "code": code,
        "field": field,
        "instance": request.url.path,
        "request_id": request.scope.get("state", {}).get("request_id"),
        **extra,
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def _title(code: str, fallback: str) -> str:
    return problem_catalogue().get(code, {}).get("title", fallback)


async def _esign_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EsignError)
    status = exc.http_status
    level = logging.ERROR if status >= 500 else logging.INFO
    _log.log(level, "request failed", extra={"code": exc.code, "status": status})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if isinstance(exc, RateLimitedError):
        headers = {"Retry-After": str(exc.retry_after)}
    extra: dict[str, Any] = {}
    for attr in ("index", "seq"):  # AuditChainError carries where the chain breaks
        if isinstance(getattr(exc, attr, None), int):
            extra[attr] = getattr(exc, attr)
    return problem_response(request, status=status, code=exc.code, title=_title(exc.code, "Error"),
                            detail=exc.message, detail_zh=exc.message_zh, field=exc.field, headers=headers, **extra)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in exc.errors()
    ]
    first = errors[0] if errors else None
    field = ".".join(first["loc"][1:] or first["loc"]) if first else None
    detail = f"{field}: {first['msg']}" if first else "request did not validate"
    return problem_response(request, status=422, code="validation_failed", title=_HTTP_PROBLEMS["validation_failed"][1],
                            detail=detail, detail_zh="请求参数校验失败", field=field, errors=errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    code = _STATUS_CODES.get(status, f"http_{status}")
    _, title, zh = _HTTP_PROBLEMS.get(code, (status, "HTTP error", "请求错误"))
    if status in (401, 403):
        title = _title(code, title)
        zh = "未认证" if status == 401 else "无权执行此操作"
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail, default=str)
    return problem_response(request, status=status, code=code, title=title, detail=detail, detail_zh=zh,
                            headers=dict(exc.headers) if exc.headers else None)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    _log.error("unhandled exception", exc_info=exc)
    return problem_response(request, status=500, code="internal_error", title="Internal error",
                            detail="An unexpected error occurred; quote the request_id to the operator.",
                            detail_zh=_HTTP_PROBLEMS["internal_error"][2])


def install_error_handlers(app: FastAPI) -> None:
    """Register the problem+json handlers on ``app``."""
    app.add_exception_handler(EsignError, _esign_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


class BodySizeLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with a 413 problem.

    A declared ``Content-Length`` over the limit is refused before the app runs; a chunked body
    is counted as it is read and the read raises :class:`BodyTooLargeError`, which the HTTP error
    handler turns into the same 413 problem. Anything escaping the app afterwards is logged and
    answered with a 500 problem (if no response has started), never a traceback.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        declared = request.headers.get("content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                too_big = False
            if too_big:
                resp = await _http_error(request, BodyTooLargeError(self.max_bytes))
                await resp(scope, receive, send)
                return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLargeError(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLargeError as exc:
            if started:
                raise
            resp = await _http_error(request, exc)
            await resp(scope, receive, send)
        except Exception as exc:
            if started:
                _log.error("unhandled exception after the response started", exc_info=exc)
                return
            resp = await _unexpected(request, exc)
            await resp(scope, receive, send)
