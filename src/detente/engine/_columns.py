"""The evidence an evaluation reads, as arrays in canonical (time, id, content hash) order.

    >>> cols = Columns.of(frame)                       # doctest: +SKIP
    >>> cols = Columns.of(arrow_table)                 # an Arrow table or record batch too
    >>> cols.upto(as_of_ns).time_ns[-1] <= as_of_ns    # doctest: +SKIP
    True

Only the columns the engine needs are kept; text columns with few distinct values (actor, kind,
category, reliability) become integer codes, so that every test on them is a NumPy comparison;
ids, notes and content hashes stay Arrow arrays and become Python strings only for the few rows
an explanation or a report names. Nothing here loops over rows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from detente.evidence import UNKNOWN_ACTOR

#: Coded text columns and the value a missing entry stands for.
CODED = {"actor": UNKNOWN_ACTOR, "kind": "", "category": "", "reliability": "F"}
#: Columns kept as Arrow strings.
TEXT = ("id", "content_hash", "note")


@dataclass(frozen=True)
class Columns:
    """Evidence columns; every array has one entry per record, records in canonical order."""

    time_ns: npt.NDArray[np.int64]
    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    uncertainty_km: npt.NDArray[np.float64]  # 0 where unknown
    count_high: npt.NDArray[np.int64]  # 1 where unknown: a sighting is at least one item
    credibility: npt.NDArray[np.int8]
    codes: dict[str, npt.NDArray[np.int32]]
    uniques: dict[str, list[str]]
    text: dict[str, pa.Array]

    @classmethod
    def of(cls, evidence: pd.DataFrame | pa.Table | pa.RecordBatch) -> Columns:
        """The columns of an observation frame or Arrow table, in canonical order."""
        if isinstance(evidence, pd.DataFrame):
            evidence = _arrow(evidence)
        cols = cls._read(evidence)
        order = cols.disorder()
        return cols if order is None else cols.take(order)

    @classmethod
    def _read(cls, table: pa.Table | pa.RecordBatch) -> Columns:
        n = table.num_rows
        codes, uniques = {}, {}
        for name, missing in CODED.items():
            codes[name], uniques[name] = _codes(_column(table, name, n), missing)
        # An empty actor is no actor: it must never read as a party named "".
        codes["actor"], uniques["actor"] = _empty_is(
            codes["actor"], uniques["actor"], UNKNOWN_ACTOR
        )
        # Notes are read for a few hotline acks at most: a dictionary stays one until then.
        text = {name: _plain(_column(table, name, n)) for name in TEXT if name != "note"}
        text["note"] = _text_or_dictionary(_column(table, "note", n))
        return cls(
            time_ns=_times(_column(table, "time", n)),
            lon=_floats(_column(table, "lon", n), np.nan),
            lat=_floats(_column(table, "lat", n), np.nan),
            uncertainty_km=_floats(_column(table, "place_uncertainty_km", n), 0.0),
            count_high=_floats(_column(table, "count_high", n), 1.0).astype(np.int64),
            credibility=_floats(_column(table, "credibility", n), 6.0).astype(np.int8),
            codes=codes,
            uniques=uniques,
            text=text,
        )

    def __len__(self) -> int:
        return len(self.time_ns)

    def disorder(self) -> npt.NDArray[np.int64] | None:
        """The permutation into canonical order, or ``None`` when the rows are in it already
        (as the stores return them): checking costs one pass, sorting far more."""
        step = np.diff(self.time_ns)
        if (step >= 0).all():
            ties = np.flatnonzero(step == 0)
            if ties.size == 0 or _ties_in_order(self.text, ties):
                return None
        keys = pa.table({"t": self.time_ns, "id": self.text["id"], "h": self.text["content_hash"]})
        order = pc.sort_indices(keys, sort_keys=[(k, "ascending") for k in ("t", "id", "h")])
        return np.asarray(order.to_numpy(), dtype=np.int64)

    def take(self, rows: npt.NDArray[np.int64]) -> Columns:
        """The given rows, in the given order (codes and their uniques are kept as they are)."""
        index = pa.array(rows)
        return replace(
            self,
            time_ns=self.time_ns[rows],
            lon=self.lon[rows],
            lat=self.lat[rows],
            uncertainty_km=self.uncertainty_km[rows],
            count_high=self.count_high[rows],
            credibility=self.credibility[rows],
            codes={k: v[rows] for k, v in self.codes.items()},
            text={k: v.take(index) for k, v in self.text.items()},
        )

    def slice(self, start: int, stop: int) -> Columns:
        """Rows ``start:stop`` without copying."""
        return replace(
            self,
            time_ns=self.time_ns[start:stop],
            lon=self.lon[start:stop],
            lat=self.lat[start:stop],
            uncertainty_km=self.uncertainty_km[start:stop],
            count_high=self.count_high[start:stop],
            credibility=self.credibility[start:stop],
            codes={k: v[start:stop] for k, v in self.codes.items()},
            text={k: v.slice(start, stop - start) for k, v in self.text.items()},
        )

    def recoded(self, uniques: dict[str, list[str]]) -> Columns:
        """The same records with codes into ``uniques`` (extended in place with new values), so
        that columns coded against one shared dictionary can be joined by :meth:`concat`."""
        codes = {}
        for name, mine in self.uniques.items():
            shared = uniques.setdefault(name, [])
            for value in mine:
                if value not in shared:
                    shared.append(value)
            index = {v: i for i, v in enumerate(shared)}
            table = np.array([index[v] for v in mine] or [0], dtype=np.int32)
            codes[name] = table[self.codes[name]]
        text = {**self.text, "note": _plain(self.text["note"])}  # dictionaries cannot be joined
        return replace(self, codes=codes, uniques={k: uniques[k] for k in self.uniques}, text=text)

    @staticmethod
    def concat(parts: list[Columns]) -> Columns:
        """Records of several parts coded against the same dictionaries, one after another."""
        first = parts[0]
        if len(parts) == 1:
            return first
        return Columns(
            time_ns=np.concatenate([p.time_ns for p in parts]),
            lon=np.concatenate([p.lon for p in parts]),
            lat=np.concatenate([p.lat for p in parts]),
            uncertainty_km=np.concatenate([p.uncertainty_km for p in parts]),
            count_high=np.concatenate([p.count_high for p in parts]),
            credibility=np.concatenate([p.credibility for p in parts]),
            codes={k: np.concatenate([p.codes[k] for p in parts]) for k in first.codes},
            uniques=first.uniques,
            text={k: pa.concat_arrays([p.text[k] for p in parts]) for k in first.text},
        )

    def upto(self, as_of_ns: int) -> Columns:
        """The records known at ``as_of_ns`` (time at or before it)."""
        end = int(np.searchsorted(self.time_ns, as_of_ns, side="right"))
        return self if end == len(self) else self.slice(0, end)


def _arrow(frame: pd.DataFrame) -> pa.Table:
    wanted = ["time", "lon", "lat", "place_uncertainty_km", "count_high", "credibility"]
    wanted += [*CODED, *TEXT]
    present = [c for c in wanted if c in frame.columns]
    return pa.Table.from_pandas(frame[present], preserve_index=False)


def _column(table: pa.Table | pa.RecordBatch, name: str, n: int) -> pa.Array:
    if name not in table.column_names:
        return pa.nulls(n)
    column = table.column(name)
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return column


def _times(column: pa.Array) -> npt.NDArray[np.int64]:
    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.timestamp("ns", tz="UTC"))
    return np.asarray(column.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


def _floats(column: pa.Array, missing: float) -> npt.NDArray[np.float64]:
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    filled = column.cast(pa.float64()).fill_null(missing) if column.null_count else column
    return np.asarray(filled.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=float)


def _codes(column: pa.Array, missing: str) -> tuple[npt.NDArray[np.int32], list[str]]:
    """Integer codes and the text of each code; null becomes ``missing``."""
    if column.null_count == len(column):
        return np.zeros(len(column), dtype=np.int32), [missing]
    encoded = column if pa.types.is_dictionary(column.type) else pc.dictionary_encode(column)
    uniques = [str(v) for v in encoded.dictionary.to_pylist()]
    indices = encoded.indices
    if indices.null_count:
        if missing not in uniques:
            uniques.append(missing)
        indices = indices.fill_null(uniques.index(missing))
    codes = np.asarray(indices.to_numpy(zero_copy_only=False), dtype=np.int32)
    # The same text under two codes (a dictionary may repeat values) must compare equal.
    if len(set(uniques)) != len(uniques):
        first = {u: uniques.index(u) for u in uniques}
        codes = np.array([first[u] for u in uniques], dtype=np.int32)[codes]
    return codes, uniques


def _empty_is(
    codes: npt.NDArray[np.int32], uniques: list[str], missing: str
) -> tuple[npt.NDArray[np.int32], list[str]]:
    """Codes where the empty (or blank) value counts as ``missing``."""
    blank = [i for i, u in enumerate(uniques) if not u.strip()]
    if not blank:
        return codes, uniques
    if missing not in uniques:
        uniques = [*uniques, missing]
    table = np.arange(len(uniques), dtype=np.int32)
    table[blank] = uniques.index(missing)
    return table[codes], uniques


def _plain(column: pa.Array) -> pa.Array:
    """A string column without dictionary encoding (nulls stay null)."""
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if pa.types.is_null(column.type):
        return column.cast(pa.string())
    return column if pa.types.is_large_string(column.type) else column.cast(pa.large_string())


def _text_or_dictionary(column: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(column.type):
        return column
    return _plain(column)


def _ties_in_order(text: dict[str, Any], ties: npt.NDArray[np.int64]) -> bool:
    """Whether rows with equal times are in (id, content hash) order."""
    here, after = pa.array(ties), pa.array(ties + 1)
    id_a, id_b = text["id"].take(here), text["id"].take(after)
    h_a, h_b = text["content_hash"].take(here), text["content_hash"].take(after)
    ok = pc.or_(pc.less(id_a, id_b), pc.and_(pc.equal(id_a, id_b), pc.less_equal(h_a, h_b)))
    return bool(pc.all(ok.fill_null(True)).as_py())
