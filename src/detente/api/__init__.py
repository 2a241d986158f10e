"""The HTTP API: ``detente serve`` runs :func:`create_app` under uvicorn.

    >>> from detente.api import create_app
    >>> app = create_app("work.duckdb", data_dir=Path("server-data"))    # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=8000)                      # doctest: +SKIP

One module per resource: :mod:`~detente.api.agreements`, :mod:`~detente.api.evidence`,
:mod:`~detente.api.findings`, :mod:`~detente.api.claims`, :mod:`~detente.api.hotline`,
:mod:`~detente.api.webhooks` (webhooks and users); :mod:`~detente.api._deps` turns a bearer token
into a principal and asks :func:`detente.users.can`; :mod:`~detente.api._errors` gives every
error one JSON shape; :mod:`~detente.api._backend` gives each request its own connection or
cursor. The OpenAPI document is at ``/openapi.json``, the interactive docs at ``/docs``;
``docs/server.md`` lists every endpoint and the role it needs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from pydantic import BaseModel

from detente import __version__, web
from detente.api import _errors, agreements, claims, evidence, findings, hotline, webhooks
from detente.api._backend import Backend

__all__ = ["create_app"]

DESCRIPTION = """\
Detente makes security agreements verifiable: agreements as code, evidence, and findings
(compliant / violation / unverified / pending / inactive) with the evidence that decides them.

Every operation but `/health` needs `Authorization: Bearer dtk_…`. Errors are JSON:
`{"error": {"message": …, "problems": [{"file", "line", "field", "message"}]}}`.
"""


class HealthOut(BaseModel):
    status: str
    version: str
    store: str


def create_app(db: str | None = None, *, data_dir: Path) -> FastAPI:
    """The API on a DuckDB file (``None``: in memory) or a ``postgresql://`` database.

    ``data_dir`` holds uploads while they are ingested and unpacked agreement versions; the
    database holds everything that matters. The server's tables are created here, once, so
    that requests never race to create them.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    _clear_scratch(data_dir)
    backend = Backend(db, data_dir)
    backend.agreements = agreements.AgreementCache(data_dir)
    backend.deliverer = findings.Deliverer(backend)
    backend.reports = findings.ReportCache()
    _create_tables(backend)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        import threading

        # Alerts queued before a stop (or a crash) go out now, not at the next evaluation.
        threading.Thread(target=backend.deliverer.run, name="webhooks", daemon=True).start()
        yield
        backend.close()

    app = FastAPI(
        title="Detente",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.backend = backend
    _errors.install(app)
    for module in (agreements, evidence, findings, claims, hotline, webhooks):
        app.include_router(module.router)
    web.install(app)  # the dashboard: pages at / and /ui/…, their data under /ui/api

    @app.get("/health", response_model=HealthOut, tags=["health"])
    def health() -> HealthOut:
        """Whether the server is up and its store answers (no token needed)."""
        with backend.session() as s:
            s.db.one("SELECT 1")
        return HealthOut(status="ok", version=__version__, store=backend.label)

    return app


def _clear_scratch(data_dir: Path) -> None:
    """Remove what a server stopped mid-request left behind: upload files and half-unpacked
    folders. The database never holds a partial batch; these are only its inputs."""
    import shutil

    for leftover in (
        *data_dir.glob("uploads/api-*.csv"),
        *data_dir.glob("tmp/.upload-*"),
        *data_dir.glob("agreements/.unpack-*"),
    ):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


def _create_tables(backend: Backend) -> None:
    from detente.alerts import Webhooks
    from detente.hotline import Hotline
    from detente.users import Users

    with backend.session() as s:
        agreements.create_schema(s.db)
        findings.create_schema(s.db)
        Users(s.db)
        Hotline(s.db)
        Webhooks(s.db)
