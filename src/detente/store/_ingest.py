"""What every evidence store shares: the ingest rules, the result, rejects files, queries.

    >>> class MyStore(EvidenceStore): ...     # implement the hooks below     # doctest: +SKIP

:class:`EvidenceStore` reads and validates a file (:func:`~detente.ingest.read_observations`),
decides which rows are bad, duplicates or new, writes the rejects file and records the batch;
a backend (:class:`~detente.store.duckdb.DuckDBStore`,
:class:`~detente.store.postgres.PostgresStore`) only supplies the SQL that differs: how the
incoming rows reach the database (``_stage``), how concurrent writers are kept apart
(``_lock``), how new rows are appended (``_insert``) and how a frame is read back
(``_select``). Everything else is written once here, so the two stores cannot drift apart:
the same file gives the same stored rows, counts, problems and rejects file on both.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import numpy as np
import pandas as pd
import pyarrow as pa

from detente.errors import InputError, Problem
from detente.evidence import OBSERVATION_COLUMNS, RELIABILITY
from detente.ingest import Mapping, Parsed, RowProblem, read_observations
from detente.store._db import Database

SCHEMA_VERSION = 2
MAX_PROBLEMS = 50
#: Rows per INSERT (or COPY) when storing (one transaction whatever the size): progress between.
STORE_CHUNK_ROWS = 100_000

#: Columns of observations as SQL, in frame order (quoted: ``time`` is a keyword in places).
OBS_COLS = ", ".join(f'"{c}"' for c in OBSERVATION_COLUMNS)
#: ``batches()`` columns and their dtypes, the same from every store.
BATCH_DTYPES: dict[str, str] = {
    "batch_id": "int64", "file": "string", "file_sha256": "string", "rows": "int64",
    "stored": "int64", "duplicates": "int64", "rejected": "int64",
    "ingested_at": "datetime64[us, UTC]",
}  # fmt: skip

#: ``progress(stage, done, total)``: stage "reading" or "storing", done and total in rows.
StageProgress = Callable[[str, int, int], None]
#: A bounding box ``(west, south, east, north)`` in degrees (WGS 84).
BBox = tuple[float, float, float, float]


@dataclass(frozen=True)
class IngestResult:
    """What one ingest did: rows read, stored, already present, and rejected."""

    file: str
    rows: int
    stored: int
    duplicates: int
    rejected: int
    rejects_file: Path | None


class EvidenceStore(ABC):
    """An append-only, idempotent observation store (rules: :mod:`detente.store.duckdb`).

    ``db`` is a :class:`~detente.store._db.Database` on the same connection, for the tables
    beside the observations (claims, reviews, the API's own). A store is used from one thread
    at a time; open one per thread.
    """

    db: Database
    #: Where the store lives, for messages: a file path, ``:memory:`` or a URL without password.
    location: str

    # ------------------------------------------------------------------ lifecycle

    @abstractmethod
    def close(self) -> None:
        """Close the connection (the store cannot be used afterwards)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ reading

    def count(self) -> int:
        """Number of stored observations."""
        row = self.db.one("SELECT count(*) FROM observations")
        return int(row[0]) if row else 0

    def observations(self, until: datetime | None = None) -> pd.DataFrame:
        """The observation frame of rows with ``time <= until`` (naive = UTC), by time then id.

        >>> open_store(None).observations().columns.tolist()[:3]       # doctest: +SKIP
        ['id', 'time', 'lon']
        """
        if until is None:
            return self._select("TRUE", [])
        return self._select("time <= ?", [_utc(until)])

    def observations_in(
        self,
        bbox: BBox | None = None,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        actor: str | Sequence[str] | None = None,
        category: str | Sequence[str] | None = None,
        min_grade: tuple[str, int] | None = None,
    ) -> pd.DataFrame:
        """Observations matching every filter given, as an observation frame by time then id.

        ``bbox`` is ``(west, south, east, north)`` in degrees, edges included; west > east
        means the box crosses the antimeridian. ``start <= time <= end`` (naive = UTC).
        ``actor`` and ``category`` are one value or several (any of them). ``min_grade``
        ``("C", 3)`` keeps rows graded C3 or better (reliability A–C and credibility 1–3).

        >>> store.observations_in((37.0, 47.5, 39.0, 49.5), actor="east",      # doctest: +SKIP
        ...                       start=datetime(2015, 3, 1), min_grade=("B", 2))
        """
        where: list[str] = []
        params: list[Any] = []
        if bbox is not None:
            west, south, east, north = _check_bbox(bbox)
            spans = [(west, east)] if west <= east else [(west, 180.0), (-180.0, east)]
            parts = [self._bbox_sql(w, south, e, north) for w, e in spans]
            where.append("(" + " OR ".join(sql for sql, _ in parts) + ")")
            params += [p for _, ps in parts for p in ps]
        if start is not None:
            where.append("time >= ?")
            params.append(_utc(start))
        if end is not None:
            where.append("time <= ?")
            params.append(_utc(end))
        for column, wanted in (("actor", actor), ("category", category)):
            if wanted is None:
                continue
            values = [wanted] if isinstance(wanted, str) else list(wanted)
            where.append(f"{column} IN ({', '.join('?' for _ in values)})" if values else "FALSE")
            params += values
        if min_grade is not None:
            rel, cred = _check_grade(min_grade)
            where.append(f"reliability IN ({', '.join('?' for _ in rel)}) AND credibility <= ?")
            params += [*rel, cred]
        return self._select(" AND ".join(where) or "TRUE", params)

    def batches(self) -> pd.DataFrame:
        """One row per ingest: batch_id, file, file_sha256, rows, stored, duplicates, rejected,
        ingested_at."""
        frame = self.db.frame(f"SELECT {', '.join(BATCH_DTYPES)} FROM batches ORDER BY batch_id")
        if len(frame):
            frame["ingested_at"] = pd.to_datetime(frame["ingested_at"], utc=True)
        return frame.astype(BATCH_DTYPES)

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
        file_sha = parsed.file_sha256 or file_sha256(path)
        frame = parsed.frame
        # Rows the backend cannot hold are bad rows like any other, and never reach it.
        unstorable = self._unstorable(frame, str(path), parsed.unit)
        held_back = frame["prov_row"].isin([p.line for p in unstorable]).to_numpy()
        if held_back.any():
            frame = frame.loc[~held_back].reset_index(drop=True)
        # _r (row order) decides which of two identical rows in one file is the one stored.
        incoming = to_arrow(frame).append_column("_r", pa.array(np.arange(len(frame))))
        with self.db.transaction():
            self._stage(incoming, report)
            try:
                self._lock()
                conflicts = self._id_conflicts(str(path), parsed.unit)
                problems = sorted(parsed.problems + unstorable + conflicts, key=lambda p: p.line)
                if problems and not skip_bad:
                    raise InputError(capped(problems))
                rejects_file = write_rejects(parsed, problems, path, rejects) if problems else None
                batch_id, now = self._next_batch(), datetime.now(UTC)
                stored = self._insert(batch_id, now, incoming, report)
            finally:
                self._unstage()
            # every other valid row is already stored
            duplicates = len(frame) - len(conflicts) - stored
            rejected = len({p.line for p in problems})
            self.db.execute(
                "INSERT INTO batches (batch_id, file, file_sha256, rows, stored, duplicates, "
                "rejected, ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [batch_id, str(path), file_sha, parsed.rows, stored, duplicates, rejected, now],
            )
        return IngestResult(str(path), parsed.rows, stored, duplicates, rejected, rejects_file)

    def _id_conflicts(self, file: str, unit: str) -> list[RowProblem]:
        """Incoming rows whose id is stored with another content hash: never overwritten."""
        rows = self.db.rows(
            "SELECT i.prov_row, i.id FROM incoming i "
            "WHERE EXISTS (SELECT 1 FROM observations o WHERE o.id = i.id) "
            "AND NOT EXISTS (SELECT 1 FROM observations o WHERE o.content_hash = i.content_hash) "
            "ORDER BY 1"
        )
        reason = "id {!r} already stored with different content"
        return [RowProblem(file, int(n), "id", i, reason.format(i), unit) for n, i in rows]

    def _next_batch(self) -> int:
        row = self.db.one("SELECT coalesce(max(batch_id), 0) + 1 FROM batches")
        return int(row[0]) if row else 1

    # ------------------------------------------------------------------ backend hooks

    @abstractmethod
    def _select(self, where: str, params: list[Any]) -> pd.DataFrame:
        """The observation frame of ``SELECT … WHERE <where> ORDER BY time, id`` (``?``
        placeholders), with the dtypes of OBSERVATION_COLUMNS."""

    @abstractmethod
    def _bbox_sql(
        self, west: float, south: float, east: float, north: float
    ) -> tuple[str, list[Any]]:
        """A condition true for rows inside the box (edges included; west <= east)."""

    @abstractmethod
    def _stage(self, incoming: pa.Table, progress: StageProgress) -> None:
        """Make ``incoming`` queryable as table ``incoming`` inside the open transaction."""

    @abstractmethod
    def _unstage(self) -> None:
        """Undo :meth:`_stage` (called whether or not the ingest succeeded)."""

    def _lock(self) -> None:
        """Keep other writers out until the transaction ends (nothing to do for one writer)."""
        return None

    def _unstorable(self, frame: pd.DataFrame, file: str, unit: str) -> list[RowProblem]:
        """Valid rows the backend cannot hold, one problem per field (none by default)."""
        return []

    @abstractmethod
    def _insert(
        self, batch_id: int, now: datetime, incoming: pa.Table, progress: StageProgress
    ) -> int:
        """Append the new incoming rows and return how many.

        New = content hash not stored yet, id not stored (else it is a conflict, reported
        before), and the first of identical rows within the file (smallest ``_r``).
        """


# ---------------------------------------------------------------------- helpers


def _no_progress(stage: str, done: int, total: int) -> None:
    """The progress callback when nobody is watching."""


def _utc(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _check_bbox(bbox: Sequence[float]) -> BBox:
    values = list(bbox)
    problem = ""
    if len(values) != 4:
        problem = "four numbers: west, south, east, north"
    elif not np.isfinite(np.asarray(values, dtype=float)).all():
        problem = "finite numbers"
    else:
        west, south, east, north = (float(v) for v in values)
        if not (-180 <= west <= 180 and -180 <= east <= 180):
            problem = "west and east within -180..180"
        elif not -90 <= south <= north <= 90:
            problem = "-90 <= south <= north <= 90"
        else:
            return west, south, east, north
    raise InputError([Problem("<query>", "bbox", f"{values!r}: must be {problem}")])


def _check_grade(grade: tuple[str, int]) -> tuple[list[str], int]:
    """The reliabilities at or above ``grade[0]`` and the credibility bound."""
    rel, cred = grade
    if rel not in RELIABILITY or not (isinstance(cred, int) and 1 <= cred <= 6):
        message = f"{grade!r}: must be (A–F, 1–6), e.g. ('C', 3)"
        raise InputError([Problem("<query>", "min_grade", message)])
    # A list of letters, not ``reliability <= ?``: text comparison would follow the database's
    # collation, which need not be byte order on a server.
    return list(RELIABILITY[: RELIABILITY.index(rel) + 1]), cred


def to_arrow(frame: pd.DataFrame) -> pa.Table:
    """An observation frame as Arrow (the form both stores take their rows in)."""
    return pa.Table.from_pandas(frame, preserve_index=False)


def to_frame(table: pa.Table) -> pd.DataFrame:
    """Arrow result -> observation frame with the exact dtypes of OBSERVATION_COLUMNS."""
    frame: pd.DataFrame = table.to_pandas()
    return frame.astype(OBSERVATION_COLUMNS)


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def capped(problems: list[RowProblem]) -> list[Problem]:
    """The first MAX_PROBLEMS problems and a line counting the rest."""
    out = [p.to_problem() for p in problems[:MAX_PROBLEMS]]
    if len(problems) > MAX_PROBLEMS:
        more = len(problems) - MAX_PROBLEMS
        out.append(
            Problem(problems[0].file, "", f"… and {more} more problems (nothing was stored)")
        )
    return out


def write_rejects(
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
