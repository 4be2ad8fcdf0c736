"""HTTP routers. ``create_app`` includes every router in :data:`ROUTERS`, in order.

Adding a router is one line here, e.g. ``from api.routes.keys import router as keys_router``
and ``keys_router`` appended to the list; or pass ``extra_routers=[...]`` to ``create_app``.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.routes.audit import router as audit_router
from api.routes.ca import router as ca_router
from api.routes.health import router as health_router
from api.routes.keys import router as keys_router
from api.routes.licences import router as licences_router
from api.routes.ofd import router as ofd_router
from api.routes.pdf import router as pdf_router
from api.routes.principals import router as principals_router
from api.routes.seals import router as seals_router
from api.routes.sharing import router as sharing_router
from api.routes.sign import router as sign_router
from api.routes.trust import router as trust_router
from api.routes.tsa import router as tsa_router
from api.routes.verify import router as verify_router
from api.web import router as web_router

__all__ = ["ROUTERS"]

ROUTERS: list[APIRouter] = [
    health_router,
    principals_router,
    keys_router,
    ca_router,
    verify_router,
    ofd_router,
    seals_router,
    sign_router,
    tsa_router,
    trust_router,
    pdf_router,
    licences_router,
    sharing_router,
    audit_router,
    web_router,
]
