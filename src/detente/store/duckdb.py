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
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from detente.errors import InputError, Problem
from detente.evidence import OBSERVATION_COLUMNS
from detente.ingest import Mapping, Parsed, RowProblem, read_observations

SCHEMA_VERSION = 2
MAX_PROBLEMS = 50
#: Rows per INSERT when storing (one transaction whatever the size): progress between them.
STORE_CHUNK_ROWS = 100_000

_SQL_TYPES = {
    "string": "VARCHAR",
    "datetime64[us, UTC]": "TIMESTAMPTZ",
    "float64": "DOUBLE",
    "Int64": "BIGINT",
    "int8": "TINYINT",
    "int64": "BIGINT",
}
_OBS_COLS = ", ".join(f'"{c}"' for c in OBSERVATION_COLUMNS)
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

#: ``progress(stage, done, total)``: stage "reading" or "storing", done and total in rows.
StageProgress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class IngestResult:
    """What one ingest did: rows read, stored, already present, and rejected."""

    file: str
    rows: int
    stored: int
    duplicates: int
    rejected: int
    rejects_file: Path | None


def open_store(db: str | Path | None) -> DuckDBStore:
    """Open (creating if needed) a store; ``None`` or ``":memory:"`` is in memory.

    >>> open_store(None).count()
    0
    """
    return DuckDBStore(db)


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


class DuckDBStore:
    """Evidence in one DuckDB database (see the module docstring for the rules)."""

    def __init__(self, db: str | Path | None) -> None:
        self.path = ":memory:" if db is None else str(db)
        try:
            self.con = duckdb.connect(self.path)
        except duckdb.Error as exc:
            raise InputError(
                [Problem(self.path, "", f"cannot open as a DuckDB database: {exc}")]
            ) from exc
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute("SET enable_progress_bar = false")
        self.spatial = self._load_spatial()
        self._init_schema()

    # ------------------------------------------------------------------ lifecycle

    def _load_spatial(self) -> bool:
        # Spatial queries come later; plain columns must keep working without the extension.
        path = spatial_extension()
        if path is None:
            return False
        try:
            self.con.execute(f"LOAD '{path}'")
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

    def __enter__(self) -> DuckDBStore:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ reading

    def count(self) -> int:
        """Number of stored observations."""
        row = self.con.execute("SELECT count(*) FROM observations").fetchone()
        return int(row[0]) if row else 0

    def observations(self, until: datetime | None = None) -> pd.DataFrame:
        """The observation frame of rows with ``time <= until`` (naive = UTC), by time then id.

        >>> open_store(None).observations().columns.tolist()[:3]
        ['id', 'time', 'lon']
        """
        sql = f"SELECT {_OBS_COLS} FROM observations"
        params: list[Any] = []
        if until is not None:
            sql += " WHERE time <= ?"
            params.append(until if until.tzinfo else until.replace(tzinfo=UTC))
        table = self.con.execute(sql + " ORDER BY time, id", params).to_arrow_table()
        return _to_frame(table)

    def batches(self) -> pd.DataFrame:
        """One row per ingest: batch_id, file, file_sha256, rows, stored, duplicates, rejected,
        ingested_at."""
        table = self.con.execute("SELECT * FROM batches ORDER BY batch_id").to_arrow_table()
        frame: pd.DataFrame = table.to_pandas()
        return frame.astype({c: "string" for c in ("file", "file_sha256")})

    # ------------------------------------------------------------------ writing

    def ingest_observations(
        self,
        path: Path,
        *,
        mapping: Mapping | None = None,
        skip_bad: bool = False,
        rejects: Path | None = None,
        progress: StageProgress | None = None,
    ) -> IngestResult:
        """Validate a file and append its new rows in one transaction.

        >>> store.ingest_observations(Path("sightings.csv"), skip_bad=True)   # doctest: +SKIP
        IngestResult(file='sightings.csv', rows=120, stored=119, duplicates=0, rejected=1, ...)

        ``progress(stage, done, total)`` is called as rows are read (stage ``"reading"``) and
        stored (``"storing"``).
        """
        path = Path(path)
        report = progress or _no_progress
        report("reading", 0, 0)
        parsed = read_observations(
            path, mapping, progress=lambda done, total: report("reading", done, total)
        )
        file_sha = parsed.file_sha256 or _file_sha256(path)
        self.con.begin()
        try:
            result = self._ingest(parsed, path, file_sha, skip_bad, rejects, report)
            self.con.commit()
        except BaseException:
            self.con.rollback()
            raise
        return result

    def _ingest(
        self,
        parsed: Parsed,
        path: Path,
        file_sha: str,
        skip_bad: bool,
        rejects: Path | None,
        progress: StageProgress,
    ) -> IngestResult:
        frame = parsed.frame
        # _r (row order) decides which of two identical rows in one file is the one stored.
        incoming = _to_arrow(frame).append_column("_r", pa.array(np.arange(len(frame))))
        self.con.register("incoming", incoming)
        try:
            conflicts = self._id_conflicts(str(path), parsed.unit)
            problems = sorted(parsed.problems + conflicts, key=lambda p: p.line)
            if problems and not skip_bad:
                raise InputError(_capped(problems))
            rejects_file = _write_rejects(parsed, problems, path, rejects) if problems else None
            batch_id, now = self._next_batch(), datetime.now(UTC)
            stored = self._insert(batch_id, now, incoming, progress)
        finally:
            self.con.unregister("incoming")
        duplicates = len(frame) - len(conflicts) - stored  # every other valid row is new
        rejected = len({p.line for p in problems})
        self.con.execute(
            "INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [batch_id, str(path), file_sha, parsed.rows, stored, duplicates, rejected, now],
        )
        return IngestResult(str(path), parsed.rows, stored, duplicates, rejected, rejects_file)

    def _id_conflicts(self, file: str, unit: str) -> list[RowProblem]:
        """Incoming rows whose id is stored with another content hash: never overwritten."""
        rows = self.con.execute(
            "SELECT i.prov_row, i.id FROM incoming i "
            "WHERE EXISTS (SELECT 1 FROM observations o WHERE o.id = i.id) "
            "AND NOT EXISTS (SELECT 1 FROM observations o WHERE o.content_hash = i.content_hash) "
            "ORDER BY 1"
        ).fetchall()
        reason = "id {!r} already stored with different content"
        return [RowProblem(file, int(n), "id", i, reason.format(i), unit) for n, i in rows]

    def _next_batch(self) -> int:
        row = self.con.execute("SELECT coalesce(max(batch_id), 0) + 1 FROM batches").fetchone()
        return int(row[0]) if row else 1

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
                        f"INSERT INTO observations ({_OBS_COLS}, batch_id, ingested_at) "
                        f"SELECT {_OBS_COLS}, ?, ? FROM part",
                        [batch_id, now],
                    )
                finally:
                    self.con.unregister("part")
            progress("storing", end, total)
        return len(new)


# ---------------------------------------------------------------------- helpers


def _no_progress(stage: str, done: int, total: int) -> None:
    """The progress callback when nobody is watching."""


def _to_arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


def _to_frame(table: pa.Table) -> pd.DataFrame:
    """Arrow result -> observation frame with the exact dtypes of OBSERVATION_COLUMNS."""
    frame: pd.DataFrame = table.to_pandas()
    return frame.astype(OBSERVATION_COLUMNS)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _capped(problems: list[RowProblem]) -> list[Problem]:
    out = [p.to_problem() for p in problems[:MAX_PROBLEMS]]
    if len(problems) > MAX_PROBLEMS:
        more = len(problems) - MAX_PROBLEMS
        out.append(
            Problem(problems[0].file, "", f"… and {more} more problems (nothing was stored)")
        )
    return out


def _write_rejects(
    parsed: Parsed, problems: list[RowProblem], path: Path, rejects: Path | None
) -> Path:
    """One line per bad field: where, what, why, then the row's source columns as read."""
    target = rejects or path.with_name(path.stem + ".rejects.csv")
    lines = [p.line for p in problems]
    head = pd.DataFrame(
        {
            "reject_line": lines,
            "reject_field": [p.field for p in problems],
            "reject_value": [p.value for p in problems],
            "reject_reason": [p.reason for p in problems],
        }
    )
    source = parsed.raw.reindex(lines).reset_index(drop=True)
    pd.concat([head, source], axis=1).to_csv(target, index=False)
    return target
