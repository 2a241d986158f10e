"""Validate and normalise the canonical fields of a source, column by column, into a Parsed.

Only the bad rows are visited (to word their messages); the valid ones make the observation frame,
each with its content hash (:func:`detente.evidence.content_hashes`). A large file is validated
in chunks (:func:`_validate`, one per chunk) that :func:`_join` puts together, checking ids
across the whole file:

    >>> parsed = _join([_validate(src, values, origin) for src, values in chunks], "id")
    ... # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from detente.evidence import (
    KINDS,
    OBSERVATION_COLUMNS,
    RELIABILITY,
    UNKNOWN_ACTOR,
    content_hashes,
)
from detente.ingest._sources import FIELDS, RowProblem, _Source

#: Kinds for which a count makes no sense, so ``count`` may be empty.
COUNTLESS_KINDS = ("fire", "incident", "patrol")
IDENT = r"[a-z][a-z0-9_]*"
TIME_RE = (
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?"
)
NUM_RE = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
DATE_RE = r"\d{4}-\d{2}-\d{2}"
#: A precision code: letters and digits in runs joined by single ``: _ . / -`` (``ucdp:2``).
CODE_RE = r"[A-Za-z0-9]+(?:[_.:/-][A-Za-z0-9]+)*"
MAX_CODE = 64
#: strftime directives that give a time of day; a format without any gives a date alone.
TIME_OF_DAY_RE = r"%[HIMSfXcTRrp]"
MAX_COUNT = 10**15  # beyond this a float can no longer hold every integer exactly


@dataclass(frozen=True)
class Parsed:
    """The outcome of reading one file: its valid rows, and a problem per bad field."""

    frame: pd.DataFrame
    problems: list[RowProblem]
    rows: int
    #: The source text of every row read (columns as in the file), indexed by line/feature.
    raw: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    unit: str = "line"
    #: sha256 of the file's bytes, computed while they were read ("" when not known)
    file_sha256: str = ""


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
        if required:
            self.required(f)
        given = (s != "").to_numpy()
        if not given.any():  # an absent optional column (the usual case): nothing to parse
            return np.full(len(s), np.nan)
        # A regex then a cast: much faster than pd.to_numeric on text, and "inf"/"nan" are
        # rejected for free.
        x = s.where(s.str.fullmatch(NUM_RE)).astype("float64").to_numpy(na_value=np.nan)
        self.add(
            f,
            given & ~np.isfinite(x),
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


def _validate(
    src: _Source,
    v: dict[str, pd.Series],
    origin: dict[str, str],
    time_formats: tuple[str, ...] = (),
) -> Parsed:
    """Validate one source (or one chunk of it); ids are checked across chunks by :func:`_join`.

    ``time_formats`` are strptime formats tried, in order, on times that are not ISO 8601.
    """
    checks = _Checks(v)
    cols = _normalise(checks, v, time_formats)
    problems, bad = checks.problems(src, origin)
    frame = _frame(cols, src, ~bad)
    raw = src.raw.set_axis(pd.Index(src.lines, name=src.unit))
    return Parsed(frame, src.problems + problems, len(src.lines), raw, src.unit)


def _join(parts: list[Parsed], file: str, id_origin: str) -> Parsed:
    """One Parsed from the chunks of a file: rows in file order, ids checked across chunks.

    >>> _join([first, second], "s.csv", "id").rows == first.rows + second.rows  # doctest: +SKIP
    True
    """
    unit = parts[0].unit
    if len(parts) == 1:
        frame, raw = parts[0].frame, parts[0].raw
    else:
        frame = pd.concat([p.frame for p in parts], ignore_index=True)
        raw = pd.concat([p.raw for p in parts])
    frame, conflicts = _drop_id_conflicts(frame, file, unit, id_origin)
    problems = [q for p in parts for q in p.problems] + conflicts
    problems.sort(key=lambda p: (p.line, _order(p.field)))
    return Parsed(frame, problems, sum(p.rows for p in parts), raw, unit)


def _order(name: str) -> int:
    return FIELDS.index(name) if name in FIELDS else len(FIELDS)


def _normalise(
    c: _Checks, v: dict[str, pd.Series], time_formats: tuple[str, ...]
) -> dict[str, Any]:
    """Check every field and return the normalised columns (valid where the row is valid)."""
    c.required("id")
    time, date_only = _times(c, v["time"], time_formats)
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
    place_code, time_code = _code(c, "place_precision"), _code(c, "time_precision")
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
        "place_precision": place_code,
        "time_precision": time_code,
    }


def _times(c: _Checks, s: pd.Series, formats: tuple[str, ...] = ()) -> tuple[pd.Series, np.ndarray]:
    """UTC times of a text column, and where each is a date alone (a day wide).

    ISO 8601 first; then each of ``formats`` (strptime, e.g. ``%d %B %Y``) on what is left.
    """
    shaped = s.str.fullmatch(TIME_RE).to_numpy(dtype=bool)
    parsed = pd.to_datetime(s.where(shaped), utc=True, format="ISO8601", errors="coerce")
    time = parsed.astype("datetime64[us, UTC]")
    date_only = s.str.fullmatch(DATE_RE).to_numpy(dtype=bool)
    for fmt in formats:
        todo = (s != "").to_numpy() & time.isna().to_numpy()
        if not todo.any():
            break
        other = pd.to_datetime(s.where(todo), utc=True, format=fmt, errors="coerce")
        time = time.fillna(other.astype("datetime64[us, UTC]"))
        if not re.search(TIME_OF_DAY_RE, fmt):
            date_only = date_only | (todo & other.notna().to_numpy())
    c.required("time")
    expected = "an ISO 8601 time (e.g. 2015-03-01T14:30:00Z or 2015-03-01)"
    if formats:
        expected += f" or a time in the mapping's formats ({', '.join(formats)})"
    c.add(
        "time",
        (s != "").to_numpy() & time.isna().to_numpy(),
        lambda i: f"{s.iat[i]!r} is not {expected}",
    )
    return time, date_only


def _code(c: _Checks, f: str) -> pd.Series:
    """A source's own precision code (``ucdp:2``); empty -> NULL."""
    s = c.values[f]
    c.add(
        f,
        (s != "") & (~s.str.fullmatch(CODE_RE) | (s.str.len() > MAX_CODE)),
        lambda i: (
            f"{s.iat[i]!r} is not a precision code (letters and digits joined by : _ . / -, "
            f"at most {MAX_CODE} characters, e.g. ucdp:2)"
        ),
    )
    return s.where(s != "")


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
    frame: pd.DataFrame, file: str, unit: str, id_origin: str
) -> tuple[pd.DataFrame, list[RowProblem]]:
    """Rows sharing an id with different content are all bad (which one is right is unknown)."""
    # Most files repeat no id: finding that out with one hash pass is much cheaper than
    # grouping every row, so only the repeated ids are grouped.
    repeated = frame["id"].duplicated(keep=False).to_numpy(dtype=bool)
    if not repeated.any():
        return frame, []
    kinds = frame.loc[repeated].groupby("id")["content_hash"].transform("nunique")
    conflict = np.zeros(len(frame), dtype=bool)
    conflict[np.flatnonzero(repeated)] = (kinds > 1).to_numpy(dtype=bool)
    if not conflict.any():
        return frame, []
    clash = frame.loc[conflict, ["id", "prov_row"]]
    where = clash.groupby("id")["prov_row"].agg(lambda rows: ", ".join(map(str, rows)))
    units = "lines" if unit == "line" else "features"
    problems = [
        RowProblem(
            file,
            int(row),
            id_origin,
            ident,
            f"id {ident!r} is used with different content on {units} {where[ident]}",
            unit,
        )
        for ident, row in zip(clash["id"], clash["prov_row"], strict=True)
    ]
    return frame.loc[~conflict].reset_index(drop=True), problems
