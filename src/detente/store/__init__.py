"""Evidence stores: the embedded DuckDB file (default) or PostgreSQL with PostGIS (a server).

>>> from detente.store import open_store
>>> with open_store(None) as store:
...     store.count()
0

``open_store("work.duckdb")`` opens (or creates) a DuckDB file; ``open_store(
"postgresql://user@host/db")`` a PostgreSQL database, for many concurrent writers (see
docs/server.md). Both follow the same rules and give the same frames
(:class:`~detente.store._ingest.EvidenceStore`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from detente.store._db import is_postgres_url
from detente.store._ingest import SCHEMA_VERSION, EvidenceStore, IngestResult
from detente.store.duckdb import DuckDBStore

if TYPE_CHECKING:
    from detente.store.postgres import PostgresStore

__all__ = [
    "SCHEMA_VERSION",
    "DuckDBStore",
    "EvidenceStore",
    "IngestResult",
    "PostgresStore",
    "is_postgres_url",
    "open_store",
]


def open_store(db: str | Path | None) -> EvidenceStore:
    """Open (creating tables if needed) the store ``db`` names.

    A ``postgresql://…`` URL gives a :class:`PostgresStore`; a path, ``None`` or
    ``":memory:"`` (both in memory) a :class:`DuckDBStore`.

    >>> open_store(None).count()
    0
    """
    if is_postgres_url(db):
        from detente.store.postgres import PostgresStore

        return PostgresStore(str(db))
    return DuckDBStore(db)


def __getattr__(name: str) -> Any:
    # psycopg is imported only when PostgreSQL is used: the command line starts faster without.
    if name == "PostgresStore":
        from detente.store.postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
