"""Pages for people: the landing page at ``/`` and the problem-type pages under ``/problems``.

Templates are plain HTML files (``templates/*.html``, shipped as package data) filled with
:class:`string.Template`; every substituted value is HTML-escaped.
"""

from __future__ import annotations

import html
from importlib import resources
from importlib.metadata import PackageNotFoundError, version
from string import Template

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.errors import problem_catalogue
from keys.errors import NotFoundError

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}
td{{padding:.15rem .8rem .15rem 0;vertical-align:top}}code{{background:#f4f4f4;padding:0 .25rem}}</style>
</head><body>{body}<p><a href="/">esign</a> · <a href="/problems">/problems</a></p></body></html>"""


def _template(name: str) -> Template:
    return Template(resources.files("api.web").joinpath("templates", name).read_text(encoding="utf-8"))


def _version() -> str:
    try:
        return version("esign")
    except PackageNotFoundError:
        return "dev"


@router.get("/", response_class=HTMLResponse)
def landing(request: Request) -> HTMLResponse:
    """What this service is, which region it serves, where the API documentation is."""
    settings = request.app.state.settings
    demo = ""
    if settings.demo:
        demo = ('<div class="box demo"><strong>演示环境 Demo.</strong> 本实例的地区 CA 与令牌均为演示用途，'
                "不具法律效力。 The region's CA and the tokens of this instance were generated for a demo and carry "
                "no legal effect. Demo tokens are in <code>&lt;data_dir&gt;/secrets/</code> on the server.</div>")
    page = _template("index.html").safe_substitute(
        demo_block=demo,
        region=html.escape(settings.region),
        region_name=html.escape(settings.region_name),
        version=html.escape(_version()),
    )
    return HTMLResponse(page)


@router.get("/problems", response_class=HTMLResponse)
def problems() -> HTMLResponse:
    """The catalogue of problem types."""
    rows = "".join(
        f'<tr><td><a href="/problems/{html.escape(code)}"><code>{html.escape(code)}</code></a></td>'
        f"<td>{p['status']}</td><td>{html.escape(p['title'])}<br>{html.escape(p['title_zh'])}</td></tr>"
        for code, p in problem_catalogue().items()
    )
    body = f"<h1>Problem types 错误类型</h1><table>{rows}</table>"
    return HTMLResponse(_PAGE.format(title="esign problem types", body=body))


@router.get("/problems/{code}", response_class=HTMLResponse)
def problem(code: str) -> HTMLResponse:
    """One problem type, as the ``type`` URI of a problem+json body points to."""
    p = problem_catalogue().get(code)
    if p is None:
        raise NotFoundError("no such problem type", message_zh="没有该错误类型", field="code")
    body = (f"<h1><code>{html.escape(code)}</code></h1><p>HTTP {p['status']}</p>"
            f"<p>{html.escape(p['title'])}</p><p>{html.escape(p['title_zh'])}</p>")
    return HTMLResponse(_PAGE.format(title=f"esign problem {html.escape(code)}", body=body))
