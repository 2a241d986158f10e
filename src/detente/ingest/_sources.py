"""Read an observation file (CSV or GeoJSON) as text: one column per source column, one row each.

    >>> src = _read_csv(Path("sightings.csv"))  # doctest: +SKIP
    >>> src.raw.columns.tolist()[:3], src.lines[:2].tolist()  # doctest: +SKIP
    (['id', 'time', 'lon'], [2, 3])

:class:`RowProblem` (one bad field of one row) lives here because reading may already find some.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from detente.errors import InputError, Problem
from detente.evidence import CSV_OPTIONAL, CSV_REQUIRED

#: The canonical fields of an observation file, required ones first.
FIELDS = CSV_REQUIRED + CSV_OPTIONAL


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


def _cannot_read(file: str, message: str, line: int | None = None) -> InputError:
    return InputError([Problem(file, "", message, line=line)])


def _read_csv(path: Path) -> _Source:
    file = str(path)
    try:
        # header=None keeps duplicate header names visible (pandas would rename them "x.1");
        # skip_blank_lines=False keeps line numbers countable (blank rows are dropped below).
        table = pd.read_csv(
            path,
            header=None,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            encoding="utf-8-sig",
        )
    except pd.errors.EmptyDataError:
        raise _cannot_read(
            file, f"the file is empty; expected a header with {_expected()}", 1
        ) from None
    except (OSError, ValueError) as exc:  # ParserError and UnicodeDecodeError are ValueErrors
        found = re.search(r"line (\d+)", str(exc))
        raise _cannot_read(
            file, f"not a readable CSV file: {exc}", int(found[1]) if found else None
        ) from exc
    starts = _line_starts(path, table)
    header = [str(h).strip() for h in table.iloc[0]]
    body = table.iloc[1:]
    body = body.set_axis(header, axis=1).reset_index(drop=True)
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise InputError(
            [Problem(file, h, "the column appears more than once", line=1) for h in dupes]
        )
    body = body.apply(lambda col: col.str.strip())
    keep = (body != "").any(axis=1).to_numpy()  # blank lines are not rows
    return _Source(file, body.loc[keep].reset_index(drop=True), starts[1:][keep], "line")


def _line_starts(path: Path, table: pd.DataFrame) -> np.ndarray:
    """1-based line on which each record (header included) starts."""
    # A quoted value may span lines. Counting newlines in every value is costly, so do it only
    # when the file has more newlines than records.
    records = np.ones(len(table), dtype=np.int64)
    if path.read_bytes().count(b"\n") > len(table):
        newlines = sum(
            (table[c].str.count("\n") for c in table.columns),
            start=pd.Series(0, index=table.index),
        )
        records += newlines.to_numpy(dtype=np.int64)
    return 1 + np.concatenate([[0], np.cumsum(records)[:-1]]).astype(np.int64)


def _text(col: pd.Series) -> pd.Series:
    """Any JSON-ish values as stripped text; null -> ''. Numbers keep their JSON text."""
    obj = col.astype(object)
    return obj.where(obj.notna(), "").astype(str).str.strip()


def _read_geojson(path: Path) -> _Source:
    file = str(path)
    try:
        # parse_int/parse_float=str keep numbers as written: "12" stays an id, not 12.0.
        data = json.loads(
            path.read_text(encoding="utf-8-sig"), parse_int=str, parse_float=str, parse_constant=str
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
        return _text(flat[name]) if name in flat else pd.Series([""] * n, dtype=str)

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
