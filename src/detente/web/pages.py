"""The dashboard's pages: HTML shells that need no token; their scripts fetch the data with one.

    GET /               map, timeline, compliance matrix and the finding panel
    GET /ui/agreement   each clause beside its encoded parameters (the literate view)
    GET /ui/claims      the claims review queue (analysts and admins)
    GET /ui/hotline     the caller's hotline channels (parties)

A page holds no data: the token lives in the browser tab (sessionStorage) and every data call
sends it, so a page can be served to anyone. The Content-Security-Policy allows scripts, styles
and connections to this server only: no CDN, no tile server, no inline script.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from detente import __version__

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)

#: path -> (template, title, name of the navigation entry)
PAGES: dict[str, tuple[str, str, str]] = {
    "/": ("dashboard.html", "Dashboard", "dashboard"),
    "/ui/agreement": ("agreement.html", "Agreement", "agreement"),
    "/ui/claims": ("claims.html", "Claims review", "claims"),
    "/ui/hotline": ("hotline.html", "Hotline", "hotline"),
}
#: Leaflet sets styles from script and its marker-cluster icons carry inline style attributes,
#: hence 'unsafe-inline' for styles only; images include data: URIs from Leaflet's CSS.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def _render(request: Request, path: str) -> HTMLResponse:
    template, title, nav = PAGES[path]
    response = templates.TemplateResponse(
        request, template, {"title": title, "nav": nav, "version": __version__}
    )
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request) -> HTMLResponse:
    """The map, the timeline and the compliance matrix."""
    return _render(request, "/")


@router.get("/ui/agreement", response_class=HTMLResponse)
def agreement_page(request: Request) -> HTMLResponse:
    """The literate view of an agreement."""
    return _render(request, "/ui/agreement")


@router.get("/ui/claims", response_class=HTMLResponse)
def claims_page(request: Request) -> HTMLResponse:
    """The claims review queue."""
    return _render(request, "/ui/claims")


@router.get("/ui/hotline", response_class=HTMLResponse)
def hotline_page(request: Request) -> HTMLResponse:
    """The caller's hotline channels."""
    return _render(request, "/ui/hotline")
