"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.errors import problem_response
from api.schemas import Health, Problem, Readiness
from keys.errors import BackendUnavailableError

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers (checks nothing else)")
def healthz() -> Health:
    """Always ``{"status": "ok"}`` while the process runs."""
    return Health()


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: database (SELECT 1) and cache (PING) reachable",
    responses={503: {"model": Problem, "content": {"application/problem+json": {}}}},
)
def readyz(request: Request) -> Readiness | JSONResponse:
    """200 when every dependency answers; otherwise a 503 problem listing the checks."""
    checks: dict[str, str] = {}
    for name, probe in (("database", request.app.state.db.ping), ("cache", request.app.state.cache.ping)):
        try:
            probe()
            checks[name] = "ok"
        except BackendUnavailableError as exc:
            checks[name] = exc.message
    if all(v == "ok" for v in checks.values()):
        return Readiness(status="ready", checks=checks)
    failing = ", ".join(k for k, v in checks.items() if v != "ok")
    return problem_response(request, status=503, code="not_ready", title="Service not ready",
                            detail=f"not ready: {failing} unavailable", detail_zh="服务尚未就绪：依赖服务不可用",
                            checks=checks)
