"""The dashboard of ``detente serve``: pages at ``/`` and ``/ui/…``, their data at ``/ui/api``.

    >>> from detente.web import install
    >>> install(app)          # create_app does this                       # doctest: +SKIP

- :mod:`~detente.web.pages`: the HTML shells (Jinja2 templates in ``templates/``), no token;
- :mod:`~detente.web.api`: the JSON the pages draw, behind the API's tokens and permissions;
- ``static/``: plain JavaScript and CSS, no build step; Leaflet and its marker-cluster plugin
  are served from the ``xstatic-leaflet`` and ``xstatic-leaflet-markercluster`` packages;
- ``basemap/``: shipped base-map GeoJSON (there is no tile server); see ``docs/dashboard.md``.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from detente.web import api, pages
from detente.web._state import DashboardState

__all__ = ["install"]

HERE = Path(__file__).resolve().parent
#: URL prefix -> xstatic package whose data folder it serves.
VENDOR = {
    "/ui/vendor/leaflet": "xstatic.pkg.leaflet",
    "/ui/vendor/markercluster": "xstatic.pkg.leaflet_markercluster",
}


def _xstatic_dir(package: str) -> str:
    """The data folder of an xstatic package (its ``BASE_DIR``)."""
    base: str = str(importlib.import_module(package).BASE_DIR)
    return base


def install(app: FastAPI) -> None:
    """Add the dashboard's pages, data endpoints, caches and static files to ``app``."""
    app.state.dashboard = DashboardState()
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")
    for prefix, package in VENDOR.items():
        app.mount(prefix, StaticFiles(directory=_xstatic_dir(package)), name=prefix)
