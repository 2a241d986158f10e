"""Read an observation file (CSV or GeoJSON) as text: one column per source column, one row each.

A CSV file is read in chunks of :data:`CHUNK_ROWS` records, so that a large file can be
validated, and its progress shown, while it is being read:

    >>> src = next(_iter_csv(Path("sightings.csv")))  # doctest: +SKIP
    >>> src.raw.columns.tolist()[:3], src.lines[:2].tolist()  # doctest: +SKIP
    (['id', 'time', 'lon'], [2, 3])

:class:`RowProblem` (one bad field of one row) lives here because reading may already find some.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa

from detente.errors import InputError, Problem
from detente.evidence import CSV_OPTIONAL, CSV_REQUIRED

#: The canonical fields of an observation file, required ones first.
FIELDS = CSV_REQUIRED + CSV_OPTIONAL
#: Records per chunk of a CSV file: large enough that per-chunk overheads vanish (pandas reads
#: 100,000 records in chunks as fast as in one piece), small enough for frequent progress.
CHUNK_ROWS = 100_000


@dataclass(frozen=True)
class RowProblem:
    """One bad field of one row; ``line`` is the CSV line (header = 1) or the feature number."""

    file: str
    line: int
    field: str
    value: str
    reason: str
    unit: str = "line"  # "line" (CSV) or "feature" (GeoJSON)

    def __str__(self) -> str:
        """``sightings.csv:14: field 'lat': 97.5 is outside -90..90``."""
        where = (
            f"{self.file}:{self.line}"
            if self.unit == "line"
            else f"{self.file}: feature {self.line}"
        )
        return f"{where}: field '{self.field}': {self.reason}"

    def to_problem(self) -> Problem:
        """The same fact as a :class:`~detente.errors.Problem` for an InputError."""
        if self.unit == "line":
            return Problem(self.file, self.field, self.reason, line=self.line)
        return Problem(self.file, f"feature {self.line}: {self.field}", self.reason)


@dataclass
class _Source:
    """A file read as text: one column per source column, one row per record."""

    file: str
    raw: pd.DataFrame  # str columns, stripped, RangeIndex
    lines: np.ndarray  # int64 line (CSV) or feature number (GeoJSON) of each row
    unit: str
    #: (canonical field, rows) already reported while reading, so they are not reported twice
    reported: list[tuple[str, np.ndarray]] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    #: bytes of the file read so far (how far through the file this chunk ends; 0: unknown)
    end_byte: int = 0


def _filled(text: str, n: int) -> pd.Series:
    """A text column of ``n`` copies of ``text`` (a broadcast scalar: ~10x faster than a list)."""
    return pd.Series(text, index=pd.RangeIndex(n), dtype=str)


def _cannot_read(file: str, message: str, line: int | None = None) -> InputError:
    return InputError([Problem(file, "", message, line=line)])


class _HashingReader(io.RawIOBase):
    """A binary file that feeds every byte it gives pandas to a sha256: one pass, two uses."""

    def __init__(self, raw: BinaryIO, digest: hashlib._Hash) -> None:
        super().__init__()
        self.raw = raw
        self.digest = digest
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.raw.read(len(view))
        view[: len(data)] = data
        self.digest.update(data)
        self.bytes_read += len(data)
        return len(data)


def _iter_csv(
    path: Path, chunk_rows: int = CHUNK_ROWS, digest: hashlib._Hash | None = None
) -> Iterator[_Source]:
    """The records of a CSV file in chunks of at most ``chunk_rows``, each with its line numbers.

    The header is checked with the first chunk; a file that cannot be parsed raises InputError
    when the bad part is reached (nothing has been stored by then: storing comes after). Once
    the iteration is over, ``digest`` has seen every byte of the file (the store's file_sha256
    without reading the file again).
    """
    file = str(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise _cannot_read(file, f"not a readable CSV file: {exc}") from exc
    with handle:
        reader = _HashingReader(handle, digest or hashlib.sha256())
        header: list[str] | None = None
        next_line = 1
        for table in _csv_tables(reader, file, chunk_rows):
            records = _record_lines(table)
            starts = next_line + np.concatenate([[0], np.cumsum(records)[:-1]]).astype(np.int64)
            next_line += int(records.sum())
            if header is None:
                header = _header(file, table.iloc[0])
                table, starts = table.iloc[1:], starts[1:]
            yield _csv_source(file, table, header, starts, reader.bytes_read)


def _csv_tables(handle: _HashingReader, file: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """pandas' chunks of the raw text (header row included), read errors as InputError."""
    try:
        # header=None keeps duplicate header names visible (pandas would rename them "x.1");
        # skip_blank_lines=False keeps line numbers countable (blank rows are dropped later).
        reader = pd.read_csv(
            handle,
            header=None,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            encoding="utf-8-sig",
            chunksize=chunk_rows,
        )
        with reader:
            yield from reader
    except pd.errors.EmptyDataError:
        raise _cannot_read(
            file, f"the file is empty; expected a header with {_expected()}", 1
        ) from None
    except (OSError, ValueError) as exc:  # ParserError and UnicodeDecodeError are ValueErrors
        found = re.search(r"line (\d+)", str(exc))
        raise _cannot_read(
            file, f"not a readable CSV file: {exc}", int(found[1]) if found else None
        ) from exc


def _header(file: str, row: pd.Series) -> list[str]:
    header = [str(h).strip() for h in row]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise InputError(
            [Problem(file, h, "the column appears more than once", line=1) for h in dupes]
        )
    return header


def _csv_source(
    file: str, table: pd.DataFrame, header: list[str], starts: np.ndarray, end_byte: int
) -> _Source:
    body = table.set_axis(header, axis=1).reset_index(drop=True)
    body = body.apply(lambda col: col.str.strip())
    keep = (body != "").any(axis=1).to_numpy()  # blank lines are not rows
    raw = body.loc[keep].reset_index(drop=True)
    return _Source(file, raw, starts[keep], "line", end_byte=end_byte)


def _record_lines(table: pd.DataFrame) -> np.ndarray:
    """How many lines each record spans: one, plus the newlines inside its quoted values."""
    records = np.ones(len(table), dtype=np.int64)
    for name in table.columns:
        values = table[name]
        # Counting newlines value by value costs as much as reading the file, so only in a
        # column that has one somewhere.
        if _may_hold_newline(values):
            records += values.str.count("\n").fillna(0).to_numpy(dtype=np.int64)
    return records


def _may_hold_newline(values: pd.Series) -> bool:
    """False when no value of a text column holds a newline (one scan of Arrow's bytes).

    >>> _may_hold_newline(pd.Series(["a", "b\\nc"], dtype=str))
    True
    """
    data = pa.array(values)  # zero-copy: the column is Arrow text already
    if not (pa.types.is_string(data.type) or pa.types.is_large_string(data.type)):
        return True  # cannot tell cheaply: count
    chunks = data.chunks if isinstance(data, pa.ChunkedArray) else [data]
    # A chunk's values lie in one byte buffer: a newline anywhere in it (even in bytes a slice
    # does not use) only costs an exact count.
    buffers = [c.buffers()[2] for c in chunks]
    return any(b is not None and (np.frombuffer(b, dtype=np.uint8) == 10).any() for b in buffers)


def _text(col: pd.Series) -> pd.Series:
    """Any JSON-ish values as stripped text; null -> ''. Numbers keep their JSON text."""
    obj = col.astype(object)
    return obj.where(obj.notna(), "").astype(str).str.strip()


def _read_geojson(path: Path, digest: hashlib._Hash | None = None) -> _Source:
    file = str(path)
    try:
        content = path.read_bytes()
        (digest or hashlib.sha256()).update(content)
        # parse_int/parse_float=str keep numbers as written: "12" stays an id, not 12.0.
        data = json.loads(
            content.decode("utf-8-sig"), parse_int=str, parse_float=str, parse_constant=str
        )
    except json.JSONDecodeError as exc:
        raise _cannot_read(file, f"not valid JSON: {exc.msg}", exc.lineno) from exc
    except (OSError, ValueError) as exc:
        raise _cannot_read(file, f"cannot read: {exc}") from exc
    features = data.get("features") if isinstance(data, dict) else None
    if (
        not isinstance(data, dict)
        or data.get("type") != "FeatureCollection"
        or not isinstance(features, list)
    ):
        raise _cannot_read(file, "expected a GeoJSON FeatureCollection with a 'features' list")
    try:
        flat = pd.json_normalize(features) if features else pd.DataFrame(index=range(0))
    except (AttributeError, TypeError, ValueError) as exc:
        raise _cannot_read(file, f"every feature must be a JSON object ({exc})") from exc
    return _geojson_source(file, flat.reset_index(drop=True))


def _geojson_source(file: str, flat: pd.DataFrame) -> _Source:
    n = len(flat)

    def col(name: str) -> pd.Series:
        return _text(flat[name]) if name in flat else _filled("", n)

    names = [str(c) for c in flat.columns]
    props = {
        c.removeprefix("properties."): _text(flat[c]) for c in names if c.startswith("properties.")
    }
    raw = pd.DataFrame(props, index=range(n))
    if "id" not in raw:  # a Feature may carry its id outside the properties
        raw["id"] = col("id")
    # Coordinates were parsed as text, so a list prints as "['30.5', '50.4']".
    coords = col("geometry.coordinates").str.extract(r"^\['([^']*)', '([^']*)'(?:, '[^']*')?\]$")
    point = (col("geometry.type") == "Point") & coords[0].notna()
    src = _Source(file, raw, np.arange(1, n + 1, dtype=np.int64), "feature")
    clash = [c for c in ("lon", "lat") if c in raw]
    if clash:
        raise InputError(
            [
                Problem(file, c, "lon and lat come from the geometry, not the properties")
                for c in clash
            ]
        )
    for name, i in (("lon", 0), ("lat", 1)):
        raw[name] = coords[i].where(point, "").fillna("")
    bad = np.flatnonzero(~point.to_numpy(dtype=bool))
    src.reported += [("lon", bad), ("lat", bad)]
    src.problems += [
        RowProblem(
            file, int(src.lines[i]), "geometry", "", "expected a Point with [lon, lat]", "feature"
        )
        for i in bad
    ]
    return src


def _expected() -> str:
    return f"columns {','.join(CSV_REQUIRED)} (optional: {','.join(CSV_OPTIONAL)})"
