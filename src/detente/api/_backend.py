"""The store behind the API, and how each request gets its own view of it.

    >>> backend = Backend(None, data_dir=Path("/tmp/detente"))        # doctest: +SKIP
    >>> with backend.session() as s:                                  # doctest: +SKIP
    ...     s.store.count()
    ...     with s.db.transaction():
    ...         s.db.execute("INSERT INTO finding_reports …")

DuckDB is embedded: one process holds the file, through one connection. Each request gets its
own cursor on it (a cursor is a connection to the same database, with its own transaction), so
reads run side by side; writes are serialised by one lock, because DuckDB's optimistic
concurrency would otherwise fail one of two transactions writing the same table. The lock is
taken inside the session's :class:`Database` (every ``execute`` and ``transaction``) and around
the evidence store's ingest, so code written for :class:`Database` (users, hotline, webhooks)
is serialised without knowing it.

PostgreSQL is a server that handles concurrency itself: each request opens its own connection
(connections are cheap on loopback, and a pool would be a new dependency) and writes in its own
transactions.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detente.store import EvidenceStore, open_store
from detente.store._db import Database, is_postgres_url, redact_url
from detente.store.duckdb import DuckDBStore

if TYPE_CHECKING:
    from detente.api.agreements import AgreementCache
    from detente.api.findings import Deliverer, ReportCache


class _LockedDatabase(Database):
    """A DuckDB cursor whose writes (``execute``, ``executemany``, ``transaction``) hold the
    process-wide write lock; reads do not wait for it."""

    def __init__(self, con: Any, lock: threading.RLock) -> None:
        super().__init__(con, "duckdb")
        self._write = lock

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self._write:
            super().execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._write:
            super().executemany(sql, rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._write, super().transaction():
            yield


@dataclass
class Session:
    """One request's connection: the evidence store and the server's own tables, same database."""

    store: EvidenceStore
    db: Database
    backend: Backend


class Backend:
    """Opens sessions on one database: a DuckDB file (``None``: in memory) or a PostgreSQL URL."""

    #: Set by :func:`detente.api.create_app`: stored agreement versions, loaded once.
    agreements: AgreementCache
    #: Set by :func:`detente.api.create_app`: sends queued webhook alerts.
    deliverer: Deliverer
    #: Set by :func:`detente.api.create_app`: stored finding reports, parsed once.
    reports: ReportCache

    def __init__(self, db: str | None, data_dir: Path) -> None:
        self.url = db
        self.data_dir = data_dir
        self.postgres = is_postgres_url(db)
        # Re-entrant: a transaction's own statements take it again.
        self.write_lock: threading.RLock = threading.RLock()
        self._base: DuckDBStore | None = None
        if not self.postgres:
            base = open_store(db)  # creates or upgrades the schema once, before any request
            assert isinstance(base, DuckDBStore)
            self._base = base

    @property
    def label(self) -> str:
        """The database for messages, without a password."""
        if self.url is None:
            return "DuckDB in memory"
        if self.postgres:
            return f"PostgreSQL {redact_url(self.url)}"
        return f"DuckDB {self.url}"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A connection (PostgreSQL) or cursor (DuckDB) for one request; closed afterwards."""
        if self._base is None:
            store = open_store(str(self.url))
            try:
                yield Session(store, store.db, self)
            finally:
                store.close()
            return
        cursor = self._base.con.cursor()
        try:
            cursor.execute("SET TimeZone = 'UTC'")
            # The same store, reading and writing through the cursor; its writes (ingest
            # included: it writes through store.db) hold the write lock.
            view = copy.copy(self._base)
            view.con = cursor
            view.db = _LockedDatabase(cursor, self.write_lock)
            yield Session(view, view.db, self)
        finally:
            cursor.close()

    def close(self) -> None:
        if self._base is not None:
            self._base.close()
