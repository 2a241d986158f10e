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
:data:`~detente.evidence.HASHED_COLUMNS` (see :func:`content_hashes`).
"""

from __future__ import annotations

import functools
import json
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from detente._yaml import Positions, YamlError, format_path, load_with_positions
from detente.errors import InputError, Problem
from detente.evidence import (
    CSV_OPTIONAL,
    CSV_REQUIRED,
    HASHED_COLUMNS,
    KINDS,
    OBSERVATION_COLUMNS,
    RELIABILITY,
    UNKNOWN_ACTOR,
)

FIELDS = CSV_REQUIRED + CSV_OPTIONAL
SECTIONS = ("columns", "id_prefix", "constants", "templates", "values")
#: Fields a mapped file must provide (the others may be empty and take their defaults).
MAPPED_REQUIRED = ("id", "time", "lon", "lat", "kind", "source", "reliability", "credibility")
#: Kinds for which a count makes no sense, so ``count`` may be empty.
COUNTLESS_KINDS = ("fire", "incident", "patrol")
IDENT = r"[a-z][a-z0-9_]*"
TIME_RE = (
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?"
)
NUM_RE = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
DATE_RE = r"\d{4}-\d{2}-\d{2}"
MAX_COUNT = 10**15  # beyond this a float can no longer hold every integer exactly


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


@dataclass(frozen=True)
class Parsed:
    """The outcome of reading one file: its valid rows, and a problem per bad field."""

    frame: pd.DataFrame
    problems: list[RowProblem]
    rows: int
    #: The source text of every row read (columns as in the file), indexed by line/feature.
    raw: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    unit: str = "line"


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


# --------------------------------------------------------------------------- reading files


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


def _apply_mapping(src: _Source, m: Mapping) -> tuple[dict[str, pd.Series], dict[str, str]]:
    raw, n = src.raw, len(src.raw)
    missing = [
        Problem(
            m.file,
            format_path(path),
            f"source column '{col}' is not in {src.file}",
            line=m.where(*path),
        )
        for path, col in m.source_columns().items()
        if col not in raw
    ]
    if missing:
        raise InputError(missing)
    values: dict[str, pd.Series] = {}
    origin: dict[str, str] = {f: f for f in FIELDS}
    for f, col in m.columns.items():
        values[f], origin[f] = raw[col], col
    for f, const in m.constants.items():
        values[f], origin[f] = pd.Series([const] * n, dtype=str), f"{f} (mapping constant)"
    for f, parts in m.templates.items():
        values[f], origin[f] = _fill_template(raw, parts, n), f"{f} (mapping template)"
    for f, vmap in m.values.items():
        values[f], origin[f] = _translate(src, f, vmap), vmap.column
    for f in FIELDS:
        if f not in values and f in raw:
            values[f] = raw[f]
    absent = [f for f in MAPPED_REQUIRED if f not in values]
    if absent:
        raise InputError(
            [
                Problem(
                    m.file,
                    f,
                    f"the mapping gives no source for '{f}' and {src.file} has no column '{f}'",
                )
                for f in absent
            ]
        )
    if m.id_prefix:
        values["id"] = (m.id_prefix + values["id"]).where(values["id"] != "", "")
    empty = pd.Series([""] * n, dtype=str)
    return {f: values.get(f, empty).reset_index(drop=True) for f in FIELDS}, origin


def _fill_template(raw: pd.DataFrame, parts: list[tuple[str, str | None]], n: int) -> pd.Series:
    out = pd.Series([""] * n, dtype=str)
    for literal, col in parts:
        out = out + (raw[col] if col else literal)
    return out.str.strip()


def _translate(src: _Source, f: str, vmap: ValueMap) -> pd.Series:
    """Source values through the table; unknown ones take the default or are reported."""
    given = src.raw[vmap.column]
    out = given.map(vmap.table)
    unknown = out.isna() & (given != "")
    if vmap.default is not None:
        return out.fillna(vmap.default).astype(str)
    rows = np.flatnonzero(unknown.to_numpy(dtype=bool))
    keys = ", ".join(vmap.table)
    src.reported.append((f, rows))
    src.problems.extend(
        RowProblem(
            src.file,
            int(src.lines[i]),
            vmap.column,
            str(given.iat[int(i)]),
            f"{given.iat[int(i)]!r} is not in the mapping's table ({keys})",
            src.unit,
        )
        for i in rows
    )
    return out.fillna("").astype(str)


# --------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class _Check:
    field: str
    mask: np.ndarray
    reason: Callable[[int], str]


class _Checks:
    """Collects (field, bad-row mask, how to word it) while the columns are normalised."""

    def __init__(self, values: dict[str, pd.Series]) -> None:
        self.values = values
        self.items: list[_Check] = []

    def add(self, f: str, mask: pd.Series | np.ndarray, reason: Callable[[int], str] | str) -> None:
        arr = np.asarray(mask, dtype=bool)
        if arr.any():
            self.items.append(_Check(f, arr, reason if callable(reason) else _const(reason)))

    def required(self, f: str) -> None:
        self.add(f, self.values[f] == "", "is required")

    def number(self, f: str, lo: float, hi: float, *, required: bool) -> np.ndarray:
        """Float values of a field; empty -> NaN."""
        s = self.values[f]
        # A regex then a cast: much faster than pd.to_numeric on text, and "inf"/"nan" are
        # rejected for free.
        x = s.where(s.str.fullmatch(NUM_RE)).astype("float64").to_numpy(na_value=np.nan)
        if required:
            self.required(f)
        self.add(
            f,
            (s != "").to_numpy() & ~np.isfinite(x),
            lambda i: f"{s.iat[i]!r} is not a finite number",
        )
        with np.errstate(invalid="ignore"):
            self.add(
                f,
                np.isfinite(x) & ((x < lo) | (x > hi)),
                lambda i: f"{s.iat[i]} is outside {_num(lo)}..{_num(hi)}",
            )
        return x

    def integer(self, f: str, lo: int, hi: int) -> np.ndarray:
        """Integer values of a field as floats (exact below MAX_COUNT); empty -> NaN."""
        x = self.number(f, lo, hi, required=False)
        s = self.values[f]
        self.add(
            f, np.isfinite(x) & (np.floor(x) != x), lambda i: f"{s.iat[i]} is not a whole number"
        )
        return x

    def problems(self, src: _Source, origin: dict[str, str]) -> tuple[list[RowProblem], np.ndarray]:
        """One RowProblem per bad field (looping over bad rows only) and the mask of bad rows."""
        bad = np.zeros(len(src.lines), dtype=bool)
        out: list[RowProblem] = []
        skip = {f: np.zeros(len(bad), dtype=bool) for f in FIELDS}
        for f, rows in src.reported:
            skip[f][rows] = True
            bad[rows] = True
        for check in self.items:
            mask = check.mask & ~skip[check.field]
            skip[check.field] |= mask  # the first reason for a field wins
            bad |= mask
            out.extend(
                RowProblem(
                    src.file,
                    int(src.lines[i]),
                    origin[check.field],
                    str(self.values[check.field].iat[int(i)]),
                    check.reason(int(i)),
                    src.unit,
                )
                for i in np.flatnonzero(mask)
            )
        return out, bad


def _const(text: str) -> Callable[[int], str]:
    return lambda _row: text


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _validate(src: _Source, v: dict[str, pd.Series], origin: dict[str, str]) -> Parsed:
    checks = _Checks(v)
    cols = _normalise(checks, v)
    problems, bad = checks.problems(src, origin)
    frame = _frame(cols, src, ~bad)
    frame, conflicts = _drop_id_conflicts(frame, src, origin)
    problems = sorted(src.problems + problems + conflicts, key=lambda p: (p.line, _order(p.field)))
    raw = src.raw.set_axis(pd.Index(src.lines, name=src.unit))
    return Parsed(frame, problems, len(src.lines), raw, src.unit)


def _order(name: str) -> int:
    return FIELDS.index(name) if name in FIELDS else len(FIELDS)


def _normalise(c: _Checks, v: dict[str, pd.Series]) -> dict[str, Any]:
    """Check every field and return the normalised columns (valid where the row is valid)."""
    c.required("id")
    time, date_only = _times(c, v["time"])
    lon = c.number("lon", -180, 180, required=True)
    lat = c.number("lat", -90, 90, required=True)
    kind = v["kind"]
    c.required("kind")
    c.add(
        "kind",
        (kind != "") & ~kind.isin(KINDS),
        lambda i: f"{kind.iat[i]!r} is not one of {', '.join(KINDS)}",
    )
    actor = _identifier(c, "actor")
    category = _identifier(c, "category")
    counts = _counts(c, kind)
    c.required("source")
    rel = v["reliability"].str.upper()
    c.required("reliability")
    c.add(
        "reliability",
        (rel != "") & ~rel.isin(RELIABILITY),
        lambda i: f"{v['reliability'].iat[i]!r} is not one of A-F",
    )
    c.required("credibility")
    cred = c.integer("credibility", 1, 6)
    place = c.number("place_uncertainty_km", 0, np.inf, required=False)
    tunc = c.number("time_uncertainty_days", 0, np.inf, required=False)
    return {
        "id": v["id"],
        "time": time,
        "lon": lon + 0.0,  # -0.0 -> 0.0: one value, one hash
        "lat": lat + 0.0,
        "actor": actor.where(actor != "", UNKNOWN_ACTOR),
        "kind": kind,
        "category": category.where(category != ""),
        **counts,
        "source": v["source"],
        "reliability": rel,
        "credibility": cred,
        "note": v["note"].where(v["note"] != ""),
        "place_uncertainty_km": np.where(np.isnan(place), 0.0, place) + 0.0,
        "time_uncertainty_days": np.where(np.isnan(tunc), np.where(date_only, 1.0, 0.0), tunc)
        + 0.0,
    }


def _times(c: _Checks, s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    shaped = s.str.fullmatch(TIME_RE).to_numpy(dtype=bool)
    parsed = pd.to_datetime(s.where(shaped), utc=True, format="ISO8601", errors="coerce")
    time = parsed.astype("datetime64[us, UTC]")
    c.required("time")
    c.add(
        "time",
        (s != "").to_numpy() & time.isna().to_numpy(),
        lambda i: f"{s.iat[i]!r} is not an ISO 8601 time (e.g. 2015-03-01T14:30:00Z or 2015-03-01)",
    )
    return time, s.str.fullmatch(DATE_RE).to_numpy(dtype=bool)


def _identifier(c: _Checks, f: str) -> pd.Series:
    s = c.values[f]
    c.add(
        f,
        (s != "") & ~s.str.fullmatch(IDENT),
        lambda i: f"{s.iat[i]!r} is not a lowercase identifier ([a-z][a-z0-9_]*)",
    )
    return s


def _counts(c: _Checks, kind: pd.Series) -> dict[str, np.ndarray]:
    best = c.integer("count", 0, MAX_COUNT)
    low_given = c.integer("count_low", 0, MAX_COUNT)
    high_given = c.integer("count_high", 0, MAX_COUNT)
    needs = kind.isin(KINDS) & ~kind.isin(COUNTLESS_KINDS)
    c.add(
        "count",
        (c.values["count"] == "") & needs,
        lambda i: f"is required for kind {kind.iat[i]!r}",
    )
    low = np.where(np.isnan(low_given), best, low_given)
    high = np.where(np.isnan(high_given), best, high_given)
    with np.errstate(invalid="ignore"):  # NaN comparisons are False, which is what we want
        c.add(
            "count_low",
            low > np.where(np.isnan(best), high, best),
            lambda i: (
                f"{_num(low[i])} is greater than count {_num(best[i])}"
                if not np.isnan(best[i])
                else f"{_num(low[i])} is greater than count_high {_num(high[i])}"
            ),
        )
        c.add(
            "count_high",
            high < best,
            lambda i: f"{_num(high[i])} is less than count {_num(best[i])}",
        )
    return {"count_low": low, "count_best": best, "count_high": high}


def _frame(cols: dict[str, Any], src: _Source, valid: np.ndarray) -> pd.DataFrame:
    """The observation frame of the valid rows, with exact dtypes and a content hash."""
    # Series stay Series (boolean indexing keeps their Arrow-backed text and tz-aware times).
    frame = pd.DataFrame(
        {
            k: val[valid].reset_index(drop=True) if isinstance(val, pd.Series) else val[valid]
            for k, val in cols.items()
        }
    )
    for k in ("count_low", "count_best", "count_high"):
        frame[k] = pd.array(frame[k].to_numpy(), dtype="Float64").astype("Int64")  # NaN -> <NA>
    frame["content_hash"] = ""
    frame["prov_file"] = src.file
    frame["prov_row"] = src.lines[valid]
    frame = frame[list(OBSERVATION_COLUMNS)].astype(OBSERVATION_COLUMNS)
    # Hash the final dtypes (credibility 2, not 2.0), exactly what the store keeps.
    if not frame.empty:
        frame["content_hash"] = content_hashes(frame)
    return frame


def _drop_id_conflicts(
    frame: pd.DataFrame, src: _Source, origin: dict[str, str]
) -> tuple[pd.DataFrame, list[RowProblem]]:
    """Rows sharing an id with different content are all bad (which one is right is unknown)."""
    kinds = frame.groupby("id")["content_hash"].transform("nunique")
    conflict = (kinds > 1).to_numpy(dtype=bool)
    if not conflict.any():
        return frame, []
    clash = frame.loc[conflict, ["id", "prov_row"]]
    where = clash.groupby("id")["prov_row"].agg(lambda rows: ", ".join(map(str, rows)))
    unit = "lines" if src.unit == "line" else "features"
    problems = [
        RowProblem(
            src.file,
            int(row),
            origin["id"],
            ident,
            f"id {ident!r} is used with different content on {unit} {where[ident]}",
            src.unit,
        )
        for ident, row in zip(clash["id"], clash["prov_row"], strict=True)
    ]
    return frame.loc[~conflict].reset_index(drop=True), problems


# --------------------------------------------------------------------------- content hash


def _hash_sql() -> str:
    """SQL for the hash of the canonical text of a row: its fields joined by ``|``.

    Text fields are written ``<bytes>:<text>`` (the length prefix makes the whole unambiguous
    whatever they contain, so nothing needs escaping), numbers as DuckDB's shortest round-trip
    text, the time as ISO with microseconds and ``Z``; NULL is ``-``, which no written field can
    be. So the hash can be recomputed from the stored values anywhere.
    """
    parts = []
    for col in HASHED_COLUMNS:
        name = f'"{col}"'
        if col == "time":  # passed as epoch microseconds: no time zone setting can interfere
            text = f"strftime(make_timestamp({name}), '%Y-%m-%dT%H:%M:%S.%fZ')"
        elif OBSERVATION_COLUMNS[col] == "string":
            text = f"strlen({name}) || ':' || {name}"
        else:
            text = f"CAST({name} AS VARCHAR)"
        parts.append(f"coalesce({text}, '-')")
    return f"sha256(concat_ws('|', {', '.join(parts)}))"


HASH_SQL = _hash_sql()


@functools.cache
def _hash_database() -> duckdb.DuckDBPyConnection:
    # One in-memory database per process; each call takes its own cursor (thread-safe), which
    # saves a connect per file.
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    return con


def content_hashes(frame: pd.DataFrame) -> pd.Series:
    """sha256 hex of each row's :data:`HASHED_COLUMNS`, computed by DuckDB over the whole frame.

    >>> content_hashes(parsed.frame).equals(parsed.frame["content_hash"])   # doctest: +SKIP
    True
    """
    data = pd.DataFrame({c: frame[c] for c in HASHED_COLUMNS})
    data["time"] = (
        frame["time"].dt.tz_convert(None).astype("datetime64[us]").to_numpy().view(np.int64)
    )
    table = pa.Table.from_pandas(data, preserve_index=False)
    with _hash_database().cursor() as con:
        con.register("hash_input", table)
        # preserve_insertion_order (DuckDB's default) keeps the output in the frame's order.
        hashes = con.execute(f"SELECT {HASH_SQL} AS h FROM hash_input").to_arrow_table()
    # Kept as Arrow text: no Python string object per row.
    array = pd.arrays.ArrowStringArray(hashes.column("h").cast(pa.large_string()))
    return pd.Series(array, index=frame.index).astype("string")


# --------------------------------------------------------------------------- mappings
# A mapping is a small YAML file saying where each canonical field comes from in a foreign
# layout (see the module docstring of detente.ingest). Each canonical field may appear in one
# section only; canonical fields it does not name are read from a same-named source column if
# the file has one, and other source columns are ignored.


@dataclass(frozen=True)
class ValueMap:
    """A source column whose values are translated through a table."""

    column: str
    table: dict[str, str]
    default: str | None = None


@dataclass(frozen=True)
class Mapping:
    """Where each canonical field of an observation comes from in a foreign layout."""

    file: str = "<mapping>"
    columns: dict[str, str] = field(default_factory=dict)
    id_prefix: str = ""
    constants: dict[str, str] = field(default_factory=dict)
    #: canonical field -> list of (literal text, source column or None)
    templates: dict[str, list[tuple[str, str | None]]] = field(default_factory=dict)
    values: dict[str, ValueMap] = field(default_factory=dict)
    positions: Positions = field(default_factory=dict, repr=False, compare=False)

    def where(self, *path: str | int) -> int | None:
        """1-based line of an entry of the mapping file (for error messages)."""
        pos = self.positions.get(tuple(path))
        return pos[0] if pos else None

    def source_columns(self) -> dict[tuple[str, ...], str]:
        """Every source column the mapping reads, keyed by its path in the mapping file."""
        out: dict[tuple[str, ...], str] = {("columns", k): v for k, v in self.columns.items()}
        out |= {("values", k): v.column for k, v in self.values.items()}
        for name, parts in self.templates.items():
            out |= {("templates", name, str(i)): c for i, (_, c) in enumerate(parts) if c}
        return out


def load_mapping(path: Path) -> Mapping:
    """Read a YAML mapping file; every mistake is an InputError with file and line.

    >>> load_mapping(Path("data/ucdp/mapping.yaml")).constants["kind"]   # doctest: +SKIP
    'fire'
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError([Problem(str(path), "", f"cannot read mapping: {exc}")]) from exc
    return parse_mapping(text, str(path))


def parse_mapping(text: str, file: str) -> Mapping:
    """Parse the text of a mapping file (see :func:`load_mapping`)."""
    try:
        data, pos = load_with_positions(text)
    except YamlError as exc:
        raise InputError([Problem(file, "", str(exc), exc.line, exc.column)]) from exc
    problems: list[Problem] = []

    def bad(path: tuple[str | int, ...], message: str) -> None:
        line_col = pos.get(path) or pos.get(path[:-1]) or (None, None)
        problems.append(Problem(file, format_path(path), message, *line_col))

    if not isinstance(data, dict):
        raise InputError([Problem(file, "", "a mapping file is a YAML mapping of sections", 1)])
    for key in data:
        if key not in SECTIONS:
            bad((key,), f"unknown section; expected one of {', '.join(SECTIONS)}")
    mapping = Mapping(
        file=file,
        columns=_text_table(data, "columns", bad),
        id_prefix=_prefix(data, bad),
        constants=_text_table(data, "constants", bad),
        templates=_templates(data, bad),
        values=_values(data, bad),
        positions=pos,
    )
    _check_fields_once(mapping, bad)
    if problems:
        raise InputError(problems)
    return mapping


Bad = Any  # the ``bad(path, message)`` callback of parse_mapping


def _section(data: dict[str, Any], name: str, bad: Bad) -> dict[str, Any]:
    section = data.get(name) or {}
    if not isinstance(section, dict):
        bad((name,), "expected a mapping of canonical field: value")
        return {}
    for key in section:
        if key not in FIELDS:
            bad((name, key), f"unknown field; canonical fields are {', '.join(FIELDS)}")
    return {k: v for k, v in section.items() if k in FIELDS}


def _scalar(value: Any) -> str | None:
    # YAML turns 2 into an int and B into a str; a mapping always yields text, like a CSV cell.
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return None
    return str(value)


def _text_table(data: dict[str, Any], name: str, bad: Bad) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in _section(data, name, bad).items():
        text = _scalar(value)
        if text is None:
            bad((name, key), "expected a text or number value")
        else:
            out[key] = text
    return out


def _prefix(data: dict[str, Any], bad: Bad) -> str:
    value = data.get("id_prefix", "")
    if not isinstance(value, str):
        bad(("id_prefix",), "expected text")
        return ""
    return value


def _templates(data: dict[str, Any], bad: Bad) -> dict[str, list[tuple[str, str | None]]]:
    out: dict[str, list[tuple[str, str | None]]] = {}
    for key, value in _section(data, "templates", bad).items():
        if not isinstance(value, str):
            bad(("templates", key), "expected a template text such as '{col_a}; {col_b}'")
            continue
        try:
            parts = list(string.Formatter().parse(value))
        except ValueError as exc:
            bad(("templates", key), f"invalid template: {exc}")
            continue
        if any(conv or spec for _, name, spec, conv in parts if name is not None):
            bad(("templates", key), "only plain {column} placeholders are supported")
            continue
        out[key] = [
            piece
            for lit, name, _, _ in parts
            for piece in ((lit, None), ("", name))
            if piece[0] or piece[1]
        ]
    return out


def _values(data: dict[str, Any], bad: Bad) -> dict[str, ValueMap]:
    out: dict[str, ValueMap] = {}
    for key, spec in _section(data, "values", bad).items():
        where = ("values", key)
        if not isinstance(spec, dict) or not isinstance(spec.get("column"), str):
            bad(where, "expected {column: source column, map: {...}, default: value}")
            continue
        if set(spec) - {"column", "map", "default"}:
            bad(where, "allowed keys are column, map, default")
            continue
        table = spec.get("map") or {}
        if not isinstance(table, dict) or any(_scalar(v) is None for v in table.values()):
            bad((*where, "map"), "expected a mapping of source value: canonical value")
            continue
        default = _scalar(spec["default"]) if "default" in spec else None
        out[key] = ValueMap(spec["column"], {str(k): str(v) for k, v in table.items()}, default)
    return out


def _check_fields_once(mapping: Mapping, bad: Bad) -> None:
    seen: dict[str, str] = {}
    for section in ("columns", "constants", "templates", "values"):
        for key in getattr(mapping, section):
            if key in seen:
                bad((section, key), f"field already given in section '{seen[key]}'")
            seen[key] = section
