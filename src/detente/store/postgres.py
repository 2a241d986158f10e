"""PostgreSQL with PostGIS as the evidence store of a server with many concurrent writers.

    >>> url = "postgresql://detente@db.example/detente"                     # doctest: +SKIP
    >>> with open_store(url) as store:                                      # doctest: +SKIP
    ...     result = store.ingest_observations(Path("sightings.csv"))
    ...     frame = store.observations(until=datetime(2015, 3, 1, tzinfo=UTC))
    ...     near = store.observations_in((37.5, 47.8, 38.5, 48.5), min_grade=("C", 3))

The rules are those of the DuckDB store (:mod:`detente.store.duckdb`), and the reading,
validation, rejects file and batch bookkeeping are the same code
(:class:`~detente.store._ingest.EvidenceStore`): one file is one transaction, stored whole or
not at all; a row whose content hash is stored is a duplicate; a row whose id is stored with
other content is a bad row. ``observations()`` gives the same frame (dtypes, order by time then
id in byte order), so the engine gives byte-identical findings from either store.

Tables: ``observations`` (the columns of :data:`~detente.evidence.OBSERVATION_COLUMNS`, then
``batch_id``, ``ingested_at`` and ``geom geometry(Point, 4326)``, generated from lon/lat so it
can never disagree with them; a GiST index on ``geom``, unique indexes on ``content_hash`` and
``id``, an index on ``time``), ``batches`` and ``meta`` (the schema version). The database needs
PostGIS: it is installed when missing if the user may (``CREATE EXTENSION postgis``).

How rows get in: the validated frame is written as CSV by Arrow and streamed with ``COPY`` into
a temporary table ``incoming`` (no Python loop over rows); one ``INSERT … SELECT`` then appends
the new rows. PostgreSQL cannot store the NUL character in text, so a row holding one is a bad
row here (it would be stored by DuckDB).

Concurrency: each ingest takes ``LOCK TABLE observations IN SHARE ROW EXCLUSIVE MODE`` after
its rows are staged and before it looks for conflicts; the lock is held to COMMIT. Chosen over
``INSERT … ON CONFLICT DO NOTHING`` because the rules need more than skipping duplicates: an id
stored with other content must reject the row (or the file), and with ``ON CONFLICT`` two
writers could each see the id free and one would then fail or silently drop it; the duplicate
and stored counts, and which of two identical rows is kept, must also be exact. Under the lock
the conflict check, the insert and the next batch id all see every earlier commit and nothing
half-done. The mode conflicts with itself and with other writes but not with reads:

- writers queue (the slow part, reading and validating a file and ``COPY``, runs before the
  lock, in parallel); each stores its file exactly once and a second copy of a record is a
  duplicate, whatever the interleaving;
- no deadlock: this is the first lock an ingest takes on the store's tables (the batches row
  it then writes is only ever written under it), so writers wait in one queue, never in a
  cycle;
- readers never wait, and see a batch all at once or not at all (MVCC: rows appear at COMMIT).
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from detente.errors import InputError, Problem
from detente.evidence import OBSERVATION_COLUMNS
from detente.ingest import RowProblem
from detente.store._db import SCHEMA_LOCK, Database, postgres_sql, redact_url
from detente.store._ingest import (
    OBS_COLS,
    SCHEMA_VERSION,
    STORE_CHUNK_ROWS,
    EvidenceStore,
    StageProgress,
    to_frame,
)

_PG_TYPES = {
    "string": "TEXT",
    "datetime64[us, UTC]": "TIMESTAMPTZ",
    "float64": "DOUBLE PRECISION",
    "Int64": "BIGINT",
    "int8": "SMALLINT",
    "int64": "BIGINT",
}
_ARROW_TYPES = {
    "string": pa.large_string(),
    "float64": pa.float64(),
    "Int64": pa.int64(),
    "int8": pa.int8(),
    "int64": pa.int64(),
}
_COLUMNS = ", ".join(f'"{c}" {_PG_TYPES[t]}' for c, t in OBSERVATION_COLUMNS.items())
_STRING_COLUMNS = [c for c, t in OBSERVATION_COLUMNS.items() if t == "string"]
_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)",
    """CREATE TABLE IF NOT EXISTS batches (
        batch_id BIGINT PRIMARY KEY, file TEXT, file_sha256 TEXT, rows BIGINT, stored BIGINT,
        duplicates BIGINT, rejected BIGINT, ingested_at TIMESTAMPTZ)""",
    f"""CREATE TABLE IF NOT EXISTS observations ({_COLUMNS}, batch_id BIGINT,
        ingested_at TIMESTAMPTZ,
        geom geometry(Point, 4326)
            GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)) STORED)""",
    # The rules make both unique (an id has one content); the indexes also serve the checks.
    "CREATE UNIQUE INDEX IF NOT EXISTS observations_content_hash ON observations (content_hash)",
    "CREATE UNIQUE INDEX IF NOT EXISTS observations_id ON observations (id)",
    "CREATE INDEX IF NOT EXISTS observations_time ON observations (time)",
    "CREATE INDEX IF NOT EXISTS observations_geom ON observations USING gist (geom)",
]
#: Statements taking a PostgreSQL store from schema version k to k + 1 (as for DuckDB). The
#: first PostgreSQL stores were written at version 2, so there are none yet.
_MIGRATIONS: dict[int, list[str]] = {}
#: What ``_select`` asks for: the time as epoch microseconds, so no text format or time zone
#: stands between the stored value and the frame.
_SELECT_COLS = ", ".join(
    "(extract(epoch FROM time) * 1000000)::bigint" if c == "time" else f'"{c}"'
    for c in OBSERVATION_COLUMNS
)


class PostgresStore(EvidenceStore):
    """Evidence in a PostgreSQL database with PostGIS (see the module docstring for the rules).

    >>> store = PostgresStore("postgresql://detente@/ev?host=/tmp/pg")       # doctest: +SKIP
    >>> store.count()                                                       # doctest: +SKIP
    0
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.location = redact_url(url)
        self.db = Database.open(url)  # autocommit outside db.transaction(); time zone UTC
        self.con: psycopg.Connection[Any] = self.db.con
        try:
            self._init_schema()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ lifecycle

    def _version(self) -> int | None:
        if not self.db.has_table("meta"):
            return None
        row = self.db.one("SELECT value FROM meta WHERE key = 'schema_version'")
        return int(row[0]) if row else 0

    def _init_schema(self) -> None:
        version = self._version()
        if version == SCHEMA_VERSION:
            return  # the usual case: no lock, no DDL
        if version is not None and version > SCHEMA_VERSION:
            message = (
                f"store has schema version {version}, written by a newer Detente; "
                f"this version reads up to {SCHEMA_VERSION}"
            )
            raise InputError([Problem(self.location, "schema_version", message)])
        try:
            self._create_schema()
        except psycopg.Error as exc:
            message = f"cannot create the store's tables: {str(exc).strip()}"
            raise InputError([Problem(self.location, "", message)]) from exc

    def _create_schema(self) -> None:
        with self.db.transaction():
            # Several servers may open a new database at once: one creates, the rest wait.
            self.db.execute("SELECT pg_advisory_xact_lock(?)", [SCHEMA_LOCK])
            version = self._version()  # again: another session may have done it meanwhile
            if version == SCHEMA_VERSION:
                return
            self._ensure_postgis()
            # A new database (no meta, or no version in it) starts at SCHEMA_VERSION.
            for step in range(version or SCHEMA_VERSION, SCHEMA_VERSION):
                for statement in _MIGRATIONS.get(step, []):
                    self.db.execute(statement)
            for statement in _SCHEMA:
                self.db.execute(statement)
            self.db.execute(
                "INSERT INTO meta VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [str(SCHEMA_VERSION)],
            )

    def _ensure_postgis(self) -> None:
        if self.db.one("SELECT 1 FROM pg_extension WHERE extname = 'postgis'"):
            return
        try:  # inside _create_schema's transaction: a failure rolls all of it back
            self.db.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        except psycopg.Error as exc:
            message = (
                f"PostGIS is not installed in this database and cannot be installed ({exc}); "
                "as a superuser run: CREATE EXTENSION postgis"
            )
            raise InputError([Problem(self.location, "postgis", message)]) from exc

    def close(self) -> None:
        """Close the connection (the store cannot be used afterwards)."""
        self.db.close()

    # ------------------------------------------------------------------ backend hooks

    def _select(self, where: str, params: list[Any]) -> pd.DataFrame:
        sql = postgres_sql(
            f"COPY (SELECT {_SELECT_COLS} FROM observations WHERE {where} "
            # Byte order, as DuckDB sorts: a server's default collation may be a language's.
            'ORDER BY time, id COLLATE "C") TO STDOUT (FORMAT csv)'
        )
        with self.con.cursor() as cur, cur.copy(sql, params) as copy:
            data = b"".join(copy)
        return to_frame(_parse_csv(data))

    def _bbox_sql(
        self, west: float, south: float, east: float, north: float
    ) -> tuple[str, list[Any]]:
        # && finds candidates through the GiST index. It compares float4 boxes rounded
        # outward, so it may also pass points a hair outside; the exact range on lon/lat then
        # decides, edges included, exactly as DuckDB does.
        sql = (
            "(geom && ST_MakeEnvelope(?, ?, ?, ?, 4326) "
            "AND lon BETWEEN ? AND ? AND lat BETWEEN ? AND ?)"
        )
        return sql, [west, south, east, north, west, east, south, north]

    def _unstorable(self, frame: pd.DataFrame, file: str, unit: str) -> list[RowProblem]:
        reason = "contains a NUL character (\\x00), which PostgreSQL cannot store"
        problems = []
        for column in _STRING_COLUMNS:
            # Arrow's substring search: no Python string object per row.
            hits = pc.match_substring(pa.array(frame[column], from_pandas=True), "\x00")
            if not pc.any(hits).as_py():
                continue
            bad = hits.fill_null(False).to_numpy(zero_copy_only=False)
            for line, value in zip(frame["prov_row"][bad], frame[column][bad], strict=True):
                shown = str(value).replace("\x00", "\\x00")
                problems.append(RowProblem(file, int(line), column, shown, reason, unit))
        return problems

    def _stage(self, incoming: pa.Table, progress: StageProgress) -> None:
        columns = f"{_COLUMNS}, _r BIGINT"
        self.db.execute(f"CREATE TEMPORARY TABLE incoming ({columns}) ON COMMIT DROP")
        total = incoming.num_rows
        progress("storing", 0, total)
        copy_sql = f"COPY incoming ({OBS_COLS}, _r) FROM STDIN (FORMAT csv)"
        with self.con.cursor() as cur, cur.copy(copy_sql) as copy:
            for start in range(0, total, STORE_CHUNK_ROWS):
                end = min(start + STORE_CHUNK_ROWS, total)
                copy.write(_csv_bytes(incoming.slice(start, end - start)))
                if end < total:  # the last step is reported once the rows are in the table
                    progress("storing", end, total)
        # Temporary tables are never analysed automatically; without statistics the planner
        # guesses their size and may join a large file against the store badly.
        self.db.execute("ANALYZE incoming")

    def _unstage(self) -> None:
        """Nothing: ``incoming`` goes with the transaction (ON COMMIT DROP, or rollback)."""

    def _lock(self) -> None:
        self.db.lock("observations")

    def _insert(
        self, batch_id: int, now: datetime, incoming: pa.Table, progress: StageProgress
    ) -> int:
        with self.con.cursor() as cur:
            cur.execute(
                postgres_sql(
                    f"INSERT INTO observations ({OBS_COLS}, batch_id, ingested_at) "
                    f"SELECT {OBS_COLS}, ?, ? FROM incoming i "
                    "WHERE NOT EXISTS (SELECT 1 FROM observations o "
                    "                  WHERE o.content_hash = i.content_hash) "
                    "AND NOT EXISTS (SELECT 1 FROM observations o WHERE o.id = i.id) "
                    "AND i._r IN (SELECT min(_r) FROM incoming GROUP BY content_hash) "
                    "ORDER BY i._r"
                ),
                [batch_id, now],
            )
            stored = cur.rowcount
        progress("storing", incoming.num_rows, incoming.num_rows)
        return stored


def _csv_bytes(table: pa.Table) -> bytes:
    """Rows as PostgreSQL CSV: text always quoted (``""`` is an empty text, an unquoted empty
    field NULL), numbers in shortest round-trip form, times ISO with ``Z``."""
    sink = io.BytesIO()
    pcsv.write_csv(table, sink, pcsv.WriteOptions(include_header=False))
    return sink.getvalue()


def _parse_csv(data: bytes) -> pa.Table:
    """``COPY … TO STDOUT (FORMAT csv)`` output of ``_SELECT_COLS`` -> Arrow, exact types."""
    names = list(OBSERVATION_COLUMNS)
    types = {c: _ARROW_TYPES.get(t, pa.int64()) for c, t in OBSERVATION_COLUMNS.items()}
    if data:
        table = pcsv.read_csv(
            io.BytesIO(data),
            read_options=pcsv.ReadOptions(column_names=names),
            parse_options=pcsv.ParseOptions(newlines_in_values=True),
            convert_options=pcsv.ConvertOptions(
                column_types=types,
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,  # "" is an empty text, not NULL
            ),
        )
    else:
        table = pa.table({c: pa.array([], type=t) for c, t in types.items()})
    micros = table.column("time").combine_chunks()
    time = pc.cast(micros, pa.timestamp("us", tz="UTC"))
    return table.set_column(names.index("time"), "time", time)
