"""Mappings: read a foreign layout's columns as canonical observation fields (YAML mapping files).

    >>> parse_mapping("columns: {id: event_id, time: date_start}", "m.yaml").columns["time"]
    'date_start'
    >>> resolve_mapping("acled", "actor=actor1").columns["actor"]
    'actor1'

The file format is described in the docstring of :mod:`detente.ingest`. A mapping comes from a
file, from a built-in preset (:data:`PRESETS`, shipped in ``detente/ingest/presets/``), from the
command line (``--map "time=date_start,kind='fire'"``, see :func:`parse_map_option`), or from a
file or preset with command-line items on top (:func:`resolve_mapping`).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from detente._yaml import Positions, YamlError, format_path, load_with_positions
from detente.errors import InputError, Problem
from detente.ingest._sources import FIELDS, RowProblem, _filled, _Source

SECTIONS = ("columns", "id_prefix", "constants", "templates", "values", "formats")
#: Fields a mapped file must provide (the others may be empty and take their defaults).
MAPPED_REQUIRED = ("id", "time", "lon", "lat", "kind", "source", "reliability", "credibility")
#: Built-in mappings: ``--mapping ucdp`` reads ``detente/ingest/presets/ucdp.yaml``.
PRESETS = ("acled", "ucdp")
#: How many keys of a ``values`` table a message about an unknown value lists.
SHOWN_KEYS = 8
#: The "file" named by problems in a mapping given with ``--map``.
COMMAND_LINE = "<command line>"


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
    #: strptime formats tried, in order, on times that are not ISO 8601 (``formats: {time: …}``)
    time_formats: tuple[str, ...] = ()
    #: fields given on the command line (``--map``), which messages name as such
    command_line: frozenset[str] = frozenset()
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
    except FileNotFoundError:
        message = f"no such mapping file (built-in mappings: {', '.join(PRESETS)})"
        raise InputError([Problem(str(path), "", message)]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError([Problem(str(path), "", f"cannot read mapping: {exc}")]) from exc
    return parse_mapping(text, str(path))


def preset_file(name: str) -> Path:
    """Where a built-in mapping is installed (``detente/ingest/presets/NAME.yaml``).

    >>> preset_file("acled").name
    'acled.yaml'
    """
    return Path(str(resources.files("detente.ingest").joinpath("presets", f"{name}.yaml")))


def load_preset(name: str) -> Mapping:
    """A built-in mapping by name (one of :data:`PRESETS`).

    >>> load_preset("ucdp").id_prefix
    'ucdp-'
    """
    if name not in PRESETS:
        message = f"unknown built-in mapping {name!r}; built-in mappings: {', '.join(PRESETS)}"
        raise InputError([Problem(COMMAND_LINE, "--mapping", message)])
    preset = resources.files("detente.ingest").joinpath("presets", f"{name}.yaml")
    return parse_mapping(preset.read_text(encoding="utf-8"), str(preset))


def resolve_mapping(name: str | Path | None, items: str | None = None) -> Mapping | None:
    """The mapping of ``--mapping NAME`` (a built-in name or a file) and ``--map ITEMS``.

    A bare built-in name (``ucdp``, ``acled``) is the preset even if a file of that name exists
    (write ``./ucdp`` for the file). ``--map`` items replace whatever the file says about
    the same fields.

    >>> resolve_mapping("ucdp", "kind='incident'").constants["kind"]
    'incident'
    >>> resolve_mapping(None, None) is None
    True
    """
    base: Mapping | None = None
    if name is not None:
        text = str(name)
        base = load_preset(text) if text in PRESETS else load_mapping(Path(text))
    if items is not None:
        base = combine(base, parse_map_option(items))
    return base


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
        time_formats=_formats(data, bad),
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


def _formats(data: dict[str, Any], bad: Bad) -> tuple[str, ...]:
    section = data.get("formats") or {}
    if not isinstance(section, dict) or set(section) - {"time"}:
        bad(("formats",), "expected {time: strptime format or list of formats}")
        return ()
    given = section.get("time", [])
    formats = [given] if isinstance(given, str) else given
    if not isinstance(formats, list) or not all(isinstance(f, str) and "%" in f for f in formats):
        bad(("formats", "time"), "expected a strptime format such as '%d %B %Y', or a list of them")
        return ()
    return tuple(formats)


def _check_fields_once(mapping: Mapping, bad: Bad) -> None:
    seen: dict[str, str] = {}
    for section in ("columns", "constants", "templates", "values"):
        for key in getattr(mapping, section):
            if key in seen:
                bad((section, key), f"field already given in section '{seen[key]}'")
            seen[key] = section


# --------------------------------------------------------------------------- --map and combining
# ``--map "time=date_start,lon=longitude,kind='fire'"``: comma-separated ``field=column`` and
# ``field='constant'`` (or "constant") items. A quoted constant may hold commas; a column name
# may not. The command line is short, so it is parsed character by character.


def parse_map_option(text: str) -> Mapping:
    """The mapping given by a ``--map`` option; every bad item is an InputError naming it.

    >>> m = parse_map_option("time=date_start, kind='fire', source='ACLED, 2024'")
    >>> m.columns, m.constants
    ({'time': 'date_start'}, {'kind': 'fire', 'source': 'ACLED, 2024'})
    """
    problems: list[Problem] = []
    columns: dict[str, str] = {}
    constants: dict[str, str] = {}
    items = _split_items(text)
    for number, item in enumerate(items, start=1):
        try:
            name, value, quoted = _map_item(item, len(items))
            if name in columns or name in constants:
                raise ValueError(f"field {name!r} is given twice")
        except ValueError as exc:
            problems.append(Problem(COMMAND_LINE, "--map", f"item {number} {item!r}: {exc}"))
            continue
        (constants if quoted else columns)[name] = value
    if problems:
        raise InputError(problems)
    return Mapping(
        file=COMMAND_LINE,
        columns=columns,
        constants=constants,
        command_line=frozenset(columns) | frozenset(constants),
    )


def _split_items(text: str) -> list[str]:
    """Split at the commas outside quotes; an unclosed quote is an InputError."""
    items: list[str] = []
    current: list[str] = []
    quote = ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == ",":
            items.append("".join(current))
            current = []
            continue
        current.append(char)
    if quote:
        message = f"a {quote} quote is not closed in {text!r}"
        raise InputError([Problem(COMMAND_LINE, "--map", message)])
    items.append("".join(current))
    return items


_ITEM_RE = re.compile(r"\s*([^=]*?)\s*=\s*(.*?)\s*", re.DOTALL)
_QUOTED_RE = re.compile(r"'([^']*)'|\"([^\"]*)\"", re.DOTALL)


def _map_item(item: str, count: int) -> tuple[str, str, bool]:
    """``(field, column or constant, is_constant)`` of one item, or ValueError saying why not."""
    if not item.strip():
        where = "the option" if count == 1 else "the item (check for stray commas)"
        raise ValueError(f"{where} is empty; expected field=column or field='constant'")
    found = _ITEM_RE.fullmatch(item)
    if found is None:
        raise ValueError("expected field=column or field='constant'")
    name, value = found[1], found[2]
    if name not in FIELDS:
        raise ValueError(f"unknown field {name!r}; canonical fields are {', '.join(FIELDS)}")
    if value[:1] in ("'", '"'):
        quoted = _QUOTED_RE.fullmatch(value)
        if quoted is None:
            raise ValueError("text after the closing quote (quote the whole constant)")
        return name, quoted[1] if quoted[1] is not None else quoted[2], True
    if not value:
        raise ValueError(f"no column after '{name}='; write {name}='' for an empty constant")
    if any(q in value for q in "'\""):
        raise ValueError("a column name cannot contain quotes; quote a constant from its start")
    return name, value, False


def combine(base: Mapping | None, extra: Mapping) -> Mapping:
    """``base`` with the fields of ``extra`` (from ``--map``) replacing what it says of them.

    >>> combine(parse_mapping("constants: {kind: fire}", "m.yaml"),
    ...         parse_map_option("kind=event")).columns
    {'kind': 'event'}
    """
    if base is None:
        return extra
    given = set(extra.columns) | set(extra.constants)

    def keep(section: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in section.items() if k not in given}

    return replace(
        base,
        columns=keep(base.columns) | extra.columns,
        constants=keep(base.constants) | extra.constants,
        templates=keep(base.templates),
        values=keep(base.values),
        command_line=base.command_line | extra.command_line,
    )


# --------------------------------------------------------------------------- applying a mapping


def _apply_mapping(src: _Source, m: Mapping) -> tuple[dict[str, pd.Series], dict[str, str]]:
    raw, n = src.raw, len(src.raw)
    missing = [
        Problem(COMMAND_LINE, f"--map {path[1]}", f"source column '{col}' is not in {src.file}")
        if path[0] == "columns" and path[1] in m.command_line
        else Problem(
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
        how = "--map" if f in m.command_line else "mapping"
        values[f], origin[f] = _filled(const, n), f"{f} ({how} constant)"
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
    empty = _filled("", n)
    return {f: values.get(f, empty).reset_index(drop=True) for f in FIELDS}, origin


def _fill_template(raw: pd.DataFrame, parts: list[tuple[str, str | None]], n: int) -> pd.Series:
    """The template filled in for every row, stripped (one Arrow join: no per-part copies)."""
    if not parts:
        return _filled("", n)
    text = pa.large_string()
    pieces = [pa.array(raw[col], type=text) if col else pa.scalar(lit, text) for lit, col in parts]
    if all(isinstance(p, pa.Scalar) for p in pieces):  # a constant written as a template
        pieces.append(pa.array(_filled("", n), type=text))
    joined = pc.binary_join_element_wise(*pieces, pa.scalar("", text))
    return pd.Series(joined, index=pd.RangeIndex(n), dtype=str).str.strip()


def _translate(src: _Source, f: str, vmap: ValueMap) -> pd.Series:
    """Source values through the table; unknown ones take the default or are reported."""
    given = src.raw[vmap.column]
    out = given.map(vmap.table)
    unknown = out.isna() & (given != "")
    if vmap.default is not None:
        return out.fillna(vmap.default).astype(str)
    rows = np.flatnonzero(unknown.to_numpy(dtype=bool))
    keys = ", ".join(list(vmap.table)[:SHOWN_KEYS])
    if len(vmap.table) > SHOWN_KEYS:
        keys += f", … {len(vmap.table)} in all"
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
