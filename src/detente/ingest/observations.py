"""Read observation files (canonical CSV, GeoJSON, or any layout through a mapping).

Every row is parsed, validated and normalised column by column (no Python loop over rows; only
the bad rows are visited, to word their messages):

    >>> parsed = read_observations(Path("examples/minsk2/evidence/sightings.csv"))  # doctest: +SKIP
    >>> parsed.rows, len(parsed.frame), [str(p) for p in parsed.problems]  # doctest: +SKIP
    (120, 119, ["sightings.csv:14: field 'lat': 97.5 is outside -90..90"])

Rules (docs/evidence-format.md says the same for users):

- ``time`` is ISO 8601. With an offset or ``Z`` it is converted to UTC; a time without an offset
  is taken as UTC; a date alone means midnight UTC and ``time_uncertainty_days`` defaults to 1.
- ``lon`` in -180..180 and ``lat`` in -90..90, both required and finite.
- ``count`` is the best estimate; ``count_low``/``count_high`` default to it and
  low <= best <= high; counts are non-negative integers. ``count`` may be empty only for the
  kinds fire, incident and patrol (then it is NULL).
- ``kind`` is one of :data:`detente.evidence.KINDS`; ``category`` and ``actor`` are lowercase
  identifiers (an empty actor becomes ``unknown``, an empty category NULL); ``reliability`` is
  A-F (any case), ``credibility`` 1-6; ``source`` and ``id`` are required; an id used twice in
  one file with different content makes all those rows bad.
- ``place_uncertainty_km`` and ``time_uncertainty_days`` are >= 0 (default 0).
- ``place_precision`` and ``time_precision`` are the source's own codes (``ucdp:2``), kept as
  text beside the uncertainties; empty means NULL. They never change what the engine decides.
- With a mapping whose ``formats`` section lists strptime formats (``formats: {time: "%d %B
  %Y"}``), a time that is not ISO 8601 is tried with each in turn; a format without a time of
  day gives a date alone (a day wide), like an ISO date.
- A missing required column, or an unknown column in a file read without a mapping, is an
  :class:`~detente.errors.InputError` for the whole file (a typo must not be silently dropped).

Each valid row gets a ``content_hash``: sha256 over a canonical text of its
:data:`~detente.evidence.HASHED_COLUMNS` (see :func:`~detente.evidence.content_hashes`).

The work is split: :mod:`detente.ingest._sources` reads files, :mod:`detente.ingest.mapping`
applies a mapping, :mod:`detente.ingest._validate` checks and normalises; this module joins them.
A CSV file goes through all three in chunks of :data:`~detente.ingest._sources.CHUNK_ROWS`
records, so ``progress(rows_done, rows_expected)`` is called while a large file is read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pandas as pd

from detente.errors import InputError, Problem
from detente.evidence import CSV_REQUIRED
from detente.ingest._sources import (
    CHUNK_ROWS,
    FIELDS,
    _expected,
    _filled,
    _iter_csv,
    _read_geojson,
    _Source,
)
from detente.ingest._validate import Parsed, _join, _validate
from detente.ingest.mapping import Mapping, _apply_mapping

__all__ = ["read_observations"]

#: ``progress(rows_done, rows_expected)``; the expectation is refined as the file is read.
Progress = Callable[[int, int], None]


def read_observations(
    path: Path,
    mapping: Mapping | None = None,
    *,
    progress: Progress | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Parsed:
    """Read a canonical CSV, a GeoJSON FeatureCollection or a mapped file into observations.

    >>> p = read_observations(Path("tests/data/sightings.csv"))   # doctest: +SKIP
    >>> p.frame.columns.tolist() == list(OBSERVATION_COLUMNS)    # doctest: +SKIP
    True
    """
    path = Path(path)
    size = path.stat().st_size if path.is_file() else 0
    parts: list[Parsed] = []
    id_origin = "id"
    digest = hashlib.sha256()
    for src in _sources(path, chunk_rows, digest):
        values, origin = _to_canonical(src, mapping)
        formats = mapping.time_formats if mapping else ()
        parts.append(_validate(src, values, origin, formats))
        id_origin = origin["id"]
        if progress:
            done = sum(p.rows for p in parts)
            progress(done, _expected_rows(done, src.end_byte, size))
    if not parts:  # pandas raises on an empty file first; this keeps _join's promise anyway
        raise InputError([Problem(str(path), "", f"the file is empty; expected {_expected()}")])
    return replace(_join(parts, str(path), id_origin), file_sha256=digest.hexdigest())


def _sources(path: Path, chunk_rows: int, digest: hashlib._Hash) -> Iterator[_Source]:
    if path.suffix.lower() in (".geojson", ".json"):
        return iter([_read_geojson(path, digest)])  # JSON is parsed whole
    return _iter_csv(path, chunk_rows, digest)


def _expected_rows(done: int, end_byte: int, size: int) -> int:
    """Rows a file probably holds, from the rows in the part of it read so far."""
    if end_byte <= 0 or end_byte >= size:
        return done
    return max(done, round(done * size / end_byte))


# --------------------------------------------------------------------------- canonical fields


def _to_canonical(
    src: _Source, mapping: Mapping | None
) -> tuple[dict[str, pd.Series], dict[str, str]]:
    """Text of every canonical field, and the source name to show for it in messages."""
    if mapping is None:
        _check_columns(src)
        empty = _filled("", len(src.raw))
        return {f: src.raw.get(f, empty) for f in FIELDS}, {f: f for f in FIELDS}
    return _apply_mapping(src, mapping)


def _check_columns(src: _Source) -> None:
    line = 1 if src.unit == "line" else None
    problems = [
        Problem(
            src.file,
            c,
            f"unknown column; expected {_expected()} (use a mapping for other layouts)",
            line=line,
        )
        for c in src.raw.columns
        if c not in FIELDS
    ]
    if src.unit == "line":  # GeoJSON properties may be left out; their values are then empty
        problems += [
            Problem(src.file, c, f"missing required column; expected {_expected()}", line=1)
            for c in CSV_REQUIRED
            if c not in src.raw.columns
        ]
    if problems:
        raise InputError(problems)
