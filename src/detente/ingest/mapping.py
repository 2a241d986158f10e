"""Mappings: read a foreign layout's columns as canonical observation fields (YAML mapping files).

    >>> parse_mapping("columns: {id: event_id, time: date_start}", "m.yaml").columns["time"]
    'date_start'

The file format is described in the docstring of :mod:`detente.ingest`.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from detente._yaml import Positions, YamlError, format_path, load_with_positions
from detente.errors import InputError, Problem
from detente.ingest._sources import FIELDS, RowProblem, _Source

SECTIONS = ("columns", "id_prefix", "constants", "templates", "values")
#: Fields a mapped file must provide (the others may be empty and take their defaults).
MAPPED_REQUIRED = ("id", "time", "lon", "lat", "kind", "source", "reliability", "credibility")


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


# --------------------------------------------------------------------------- applying a mapping


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
