"""The embedded evidence store: one DuckDB file, append-only, idempotent, with provenance.

    >>> with open_store("evidence.duckdb") as store:                        # doctest: +SKIP
    ...     result = store.ingest_observations(Path("sightings.csv"))
    ...     frame = store.observations(until=datetime(2015, 3, 1, tzinfo=UTC))

Rules:

- Tables are only ever INSERTed into. One file is ingested in one transaction: it is stored
  whole or not at all.
- A row whose content hash is already stored is a duplicate and is not stored again, so
  re-ingesting a file stores nothing new. A row whose id is already stored with a different
  content hash is a bad row ("id already stored with different content"): nothing is overwritten.
- Without ``skip_bad`` any bad row makes the ingest fail with an InputError (one problem per bad
  field, the first 50 and a count of the rest) and nothing is stored. With ``skip_bad`` the bad
  rows go to a rejects CSV (default ``<stem>.rejects.csv`` next to the input, e.g.
  ``sightings.csv`` -> ``sightings.rejects.csv``): its columns are ``reject_line``,
  ``reject_field``, ``reject_value``, ``reject_reason`` and then the row's source columns as
  read, one line per bad field; the good rows are stored.
- Times are stored as TIMESTAMPTZ and the session time zone is UTC, so they come back as
  ``datetime64[us, UTC]``.
- A store written by an older Detente is upgraded when opened (:data:`_MIGRATIONS`: columns are
  only ever added, existing rows keep their values and hashes); one written by a newer Detente
  is refused with a message.
- ``progress(stage, done, total)`` is called while a file is read (stage ``"reading"``, rows
  read and validated, total estimated from the bytes read) and stored (``"storing"``).

These rules are implemented once, in :class:`~detente.store._ingest.EvidenceStore`, for this
store and :class:`~detente.store.postgres.PostgresStore` alike; this module holds what is
DuckDB's own: the schema and its migrations, registering the incoming rows as a view, the
chunked INSERT, reading through Arrow.
"""

from __future__ import annotations

import glob
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from detente.errors import InputError, Problem
from detente.evidence import OBSERVATION_COLUMNS
from detente.store._db import Database
from detente.store._ingest import (
    MAX_PROBLEMS,
    OBS_COLS,
    SCHEMA_VERSION,
    STORE_CHUNK_ROWS,
    EvidenceStore,
    IngestResult,
    StageProgress,
    to_frame,
)

__all__ = [
    "MAX_PROBLEMS",
    "SCHEMA_VERSION",
    "STORE_CHUNK_ROWS",
    "DuckDBStore",
    "IngestResult",
    "StageProgress",
    "open_store",
    "spatial_extension",
]

_SQL_TYPES = {
    "string": "VARCHAR",
    "datetime64[us, UTC]": "TIMESTAMPTZ",
    "float64": "DOUBLE",
    "Int64": "BIGINT",
    "int8": "TINYINT",
    "int64": "BIGINT",
}
_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS meta (key VARCHAR, value VARCHAR)",
    """CREATE TABLE IF NOT EXISTS batches (
        batch_id BIGINT, file VARCHAR, file_sha256 VARCHAR, rows BIGINT, stored BIGINT,
        duplicates BIGINT, rejected BIGINT, ingested_at TIMESTAMPTZ)""",
    "CREATE TABLE IF NOT EXISTS observations ("
    + ", ".join(f'"{c}" {_SQL_TYPES[t]}' for c, t in OBSERVATION_COLUMNS.items())
    + ", batch_id BIGINT, ingested_at TIMESTAMPTZ)",
]
#: Statements taking a store from schema version k to k + 1, run in one transaction when an
#: older store is opened; afterwards every _SCHEMA statement runs too (they are all IF NOT
#: EXISTS), which creates tables added since.
_MIGRATIONS: dict[int, list[str]] = {
    # 2: the sources' own precision codes (ALTER TABLE appends them after ingested_at; every
    # statement names its columns, so the order does not matter).
    1: [
        "ALTER TABLE observations ADD COLUMN place_precision VARCHAR",
        "ALTER TABLE observations ADD COLUMN time_precision VARCHAR",
    ],
}


def open_store(db: str | Path | None) -> EvidenceStore:
    """Open (creating if needed) a store: a ``postgresql://…`` URL is a
    :class:`~detente.store.postgres.PostgresStore`, anything else a DuckDB file (``None`` or
    ``":memory:"``: in memory).

    >>> open_store(None).count()
    0
    """
    from detente.store import open_store as open_any  # one implementation, in the package

    return open_any(db)


def spatial_extension() -> str | None:
    """Path of the spatial extension shipped by the ``duckdb_extension_spatial`` wheel, if any."""
    try:
        import duckdb_extension_spatial
    except ImportError:
        return None
    base = os.path.dirname(duckdb_extension_spatial.__file__)
    found = sorted(glob.glob(os.path.join(base, "extensions", "*", "*.duckdb_extension")))
    wanted = [f for f in found if f"v{duckdb.__version__}" in f] or found
    return wanted[-1] if wanted else None


class DuckDBStore(EvidenceStore):
    """Evidence in one DuckDB database (see the module docstring for the rules)."""

    def __init__(self, db: str | Path | None) -> None:
        self.path = ":memory:" if db is None else str(db)
        try:
            self.con = duckdb.connect(self.path)
        except duckdb.Error as exc:
            raise InputError(
                [Problem(self.path, "", f"cannot open as a DuckDB database: {exc}")]
            ) from exc
        self.location = self.path
        self.db = Database(self.con, "duckdb")
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute("SET enable_progress_bar = false")
        self._spatial: bool | None = None  # loaded on first use: LOAD costs ~0.3–1 s per open
        self._init_schema()

    # ------------------------------------------------------------------ lifecycle

    def load_spatial(self) -> bool:
        """Load DuckDB's spatial extension (from its PyPI wheel, no network) for ``ST_*`` SQL;
        False when it is unavailable. Nothing Detente stores needs it: columns stay plain.

        >>> open_store(None).load_spatial()   # doctest: +SKIP
        True
        """
        if self._spatial is None:
            self._spatial = self._load(spatial_extension())
        return self._spatial

    def _load(self, extension: str | None) -> bool:
        if extension is None:
            return False
        try:
            self.con.execute(f"LOAD '{extension}'")
        except duckdb.Error:
            return False
        return True

    def _init_schema(self) -> None:
        tables = {
            r[0] for r in self.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        }
        if "meta" in tables:
            row = self.con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                self.close()
                message = (
                    f"store has schema version {version}, written by a newer Detente; "
                    f"this version reads up to {SCHEMA_VERSION}"
                )
                raise InputError([Problem(self.path, "schema_version", message)])
            if version < SCHEMA_VERSION:
                self._upgrade(version)
            return
        self.con.begin()
        for statement in _SCHEMA:
            self.con.execute(statement)
        self.con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
        self.con.commit()

    def _upgrade(self, version: int) -> None:
        """Bring a store written by an older Detente to SCHEMA_VERSION, all or nothing."""
        self.con.begin()
        try:
            for step in range(version, SCHEMA_VERSION):
                for statement in _MIGRATIONS.get(step, []):
                    self.con.execute(statement)
            for statement in _SCHEMA:
                self.con.execute(statement)
            self.con.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION)]
            )
            self.con.commit()
        except duckdb.Error as exc:
            self.con.rollback()
            self.close()
            message = (
                f"cannot upgrade the store from schema version {version} to {SCHEMA_VERSION} "
                f"({exc}); open it with the Detente that wrote it, or ingest into a new store"
            )
            raise InputError([Problem(self.path, "schema_version", message)]) from exc

    def close(self) -> None:
        """Close the database (the store cannot be used afterwards)."""
        self.con.close()

    # ------------------------------------------------------------------ backend hooks

    def _select(self, where: str, params: list[Any]) -> pd.DataFrame:
        sql = f"SELECT {OBS_COLS} FROM observations WHERE {where} ORDER BY time, id"
        return to_frame(self.con.execute(sql, params).to_arrow_table())

    def _bbox_sql(
        self, west: float, south: float, east: float, north: float
    ) -> tuple[str, list[Any]]:
        return "(lon BETWEEN ? AND ? AND lat BETWEEN ? AND ?)", [west, east, south, north]

    def _stage(self, incoming: pa.Table, progress: StageProgress) -> None:
        self.con.register("incoming", incoming)

    def _unstage(self) -> None:
        self.con.unregister("incoming")

    def _insert(
        self, batch_id: int, now: datetime, incoming: pa.Table, progress: StageProgress
    ) -> int:
        """Append the new incoming rows, STORE_CHUNK_ROWS per INSERT; return how many.

        New = content hash not stored yet, id not stored (else it is a conflict, reported
        before), and the first of identical rows within the file. They are found with one
        query against the store before anything is inserted, so the chunks do not each join
        the whole store again.
        """
        new = self.con.execute(
            "SELECT _r FROM incoming i "
            "WHERE NOT EXISTS (SELECT 1 FROM observations o WHERE o.content_hash = i.content_hash) "
            "AND NOT EXISTS (SELECT 1 FROM observations o WHERE o.id = i.id) "
            "AND i._r IN (SELECT min(_r) FROM incoming GROUP BY content_hash) ORDER BY _r"
        ).fetchnumpy()["_r"]
        total = len(incoming)
        progress("storing", 0, total)
        for start in range(0, total, STORE_CHUNK_ROWS):
            end = min(start + STORE_CHUNK_ROWS, total)
            lo, hi = np.searchsorted(new, [start, end])
            if hi > lo:  # a slice costs nothing; take() copies, so only when rows are left out
                whole = hi - lo == end - start
                part = incoming.slice(start, end - start) if whole else incoming.take(new[lo:hi])
                self.con.register("part", part)
                try:
                    self.con.execute(
                        f"INSERT INTO observations ({OBS_COLS}, batch_id, ingested_at) "
                        f"SELECT {OBS_COLS}, ?, ? FROM part",
                        [batch_id, now],
                    )
                finally:
                    self.con.unregister("part")
            progress("storing", end, total)
        return len(new)
