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
- A missing required column, or an unknown column in a file read without a mapping, is an
  :class:`~detente.errors.InputError` for the whole file (a typo must not be silently dropped).

Each valid row gets a ``content_hash``: sha256 over a canonical text of its
:data:`~detente.evidence.HASHED_COLUMNS` (see :func:`~detente.evidence.content_hashes`).

The work is split: :mod:`detente.ingest._sources` reads files, :mod:`detente.ingest.mapping`
applies a mapping, :mod:`detente.ingest._validate` checks and normalises; this module joins them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from detente.errors import InputError, Problem
from detente.evidence import CSV_REQUIRED
from detente.ingest._sources import FIELDS, _expected, _read_csv, _read_geojson, _Source
from detente.ingest._validate import Parsed, _validate
from detente.ingest.mapping import Mapping, _apply_mapping

__all__ = ["read_observations"]


def read_observations(path: Path, mapping: Mapping | None = None) -> Parsed:
    """Read a canonical CSV, a GeoJSON FeatureCollection or a mapped file into observations.

    >>> p = read_observations(Path("tests/data/sightings.csv"))   # doctest: +SKIP
    >>> p.frame.columns.tolist() == list(OBSERVATION_COLUMNS)    # doctest: +SKIP
    True
    """
    path = Path(path)
    geojson = path.suffix.lower() in (".geojson", ".json")
    src = _read_geojson(path) if geojson else _read_csv(path)
    values, origin = _to_canonical(src, mapping)
    return _validate(src, values, origin)


# --------------------------------------------------------------------------- canonical fields


def _to_canonical(
    src: _Source, mapping: Mapping | None
) -> tuple[dict[str, pd.Series], dict[str, str]]:
    """Text of every canonical field, and the source name to show for it in messages."""
    if mapping is None:
        _check_columns(src)
        empty = pd.Series([""] * len(src.raw), dtype=str)
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
