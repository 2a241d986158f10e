"""Evidence prepared once per evaluation: grades, zone membership, cached masks.

    >>> ctx = Context(agreement, build_zones(agreement), Columns.of(frame), as_of)  # doctest: +SKIP
    >>> possibly, surely = ctx.inside("band_gov_25")                                # doctest: +SKIP

All masks are boolean arrays over the records of :attr:`Context.cols` (canonical order, known
at ``as_of``); nothing loops over records. Zone membership uses the agreement's
:class:`~detente._zonegrid.ZoneGrid` for large evidence sets (same answers, far fewer exact
point-in-polygon tests) and the exact test on projected coordinates otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from detente._threads import parallel_map
from detente._zonegrid import MAX_ZONES, ZoneGrid
from detente.agreement import Agreement
from detente.engine._columns import Columns
from detente.evidence import CREDIBILITY_WEIGHT, RELIABILITY_WEIGHT, meets_grade
from detente.zones import ZoneSet

BoolArray = npt.NDArray[np.bool_]
Rows = npt.NDArray[np.int64]

#: From this many records on, zone membership goes through the zone grid.
GRID_MIN_ROWS = 200_000
#: Below this many records a distance range is measured record by record.
_EXACT_ROWS = 256
#: Records per chunk of work handed to a thread.
_CHUNK = 1 << 17
#: Grade codes: reliability code * 8 + credibility (0-7).
_CRED_SLOTS = 8


@dataclass
class Context:
    """The evidence an evaluation sees (``time <= as_of``) and masks cached over it."""

    agreement: Agreement
    zones: ZoneSet
    cols: Columns
    as_of: datetime
    use_grid: bool | None = None  # None: decided by the number of records
    grade_ok: BoolArray = field(init=False)
    grade_code: npt.NDArray[np.int32] = field(init=False)
    _masks: dict[tuple[str, tuple[str, ...]], BoolArray] = field(init=False, default_factory=dict)
    _inside: dict[str, tuple[BoolArray, BoolArray]] = field(init=False, default_factory=dict)
    _distance: dict[str, npt.NDArray[np.float64]] = field(init=False, default_factory=dict)
    _bounds: dict[str, tuple[BoolArray, npt.NDArray[np.float64], npt.NDArray[np.float64]]] = field(
        init=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        rel = self.cols.codes["reliability"]
        rel_values = self.cols.uniques["reliability"]
        threshold = self.agreement.grade_threshold
        ok = meets_grade(np.array(rel_values, dtype=object), np.ones(len(rel_values)),
                         threshold.reliability, 6)  # fmt: skip
        cred = self.cols.credibility
        self.grade_ok = np.asarray(ok)[rel] & (cred <= threshold.credibility)
        self.grade_code = rel * _CRED_SLOTS + np.clip(cred, 0, _CRED_SLOTS - 1).astype(np.int32)
        if self.use_grid is None:
            self.use_grid = len(self.cols) >= GRID_MIN_ROWS

    def __len__(self) -> int:
        return len(self.cols)

    @property
    def time_ns(self) -> npt.NDArray[np.int64]:
        return self.cols.time_ns

    # ------------------------------------------------------------------ text columns

    def is_in(self, column: str, values: list[str] | tuple[str, ...]) -> BoolArray:
        """Records whose ``column`` (actor, kind, category, reliability) is one of ``values``."""
        key = (column, tuple(values))
        if key not in self._masks:
            uniques = self.cols.uniques[column]
            table = np.array([u in values for u in uniques] or [False], dtype=bool)
            self._masks[key] = table[self.cols.codes[column]]
        return self._masks[key]

    def is_actor(self, party: str) -> BoolArray:
        return self.is_in("actor", (party,))

    def values(self, column: str, rows: Rows) -> npt.NDArray[np.object_]:
        """The text of ``column`` for a few records (for explanations)."""
        uniques = np.array(self.cols.uniques[column], dtype=object)
        return np.asarray(uniques[self.cols.codes[column][rows]])

    def code_counts(self, column: str, rows: Rows) -> dict[str, int]:
        """How many of the records have each value of ``column``, by value: ``{'mlrs': 3}``."""
        counts = np.bincount(self.cols.codes[column][rows])
        uniques = self.cols.uniques[column]
        return dict(sorted((uniques[c], int(counts[c])) for c in np.flatnonzero(counts)))

    def text(self, column: str, rows: Rows) -> npt.NDArray[np.object_]:
        """``id`` or ``note`` of a few records as Python strings (missing: ``""``)."""
        taken = self.cols.text[column].take(np.asarray(rows, dtype=np.int64))
        if pa.types.is_dictionary(taken.type):
            taken = taken.dictionary_decode()
        return np.array(taken.fill_null("").to_pylist(), dtype=object)

    # ------------------------------------------------------------------ grades

    def grade_counts(self, rows: Rows) -> list[tuple[str, int]]:
        """Grades of the records with their counts, best first: ``[('B2', 3), ('C3', 1)]``."""
        counts = np.bincount(self.grade_code[rows]) if len(rows) else np.zeros(0, dtype=np.int64)
        uniques = self.cols.uniques["reliability"]
        found = np.flatnonzero(counts)
        graded = [(f"{uniques[c // _CRED_SLOTS]}{c % _CRED_SLOTS}", int(counts[c])) for c in found]
        return sorted(graded)

    def confidence(self, rows: Rows) -> float:
        """1 − Π(1 − wᵢ) over the records' grade weights: how strongly independent records
        together support a status. Summed per grade, so millions of records cost one pass."""
        if len(rows) == 0:
            return 0.0
        counts = np.bincount(self.grade_code[rows], minlength=len(self._log_miss))
        return float(1.0 - np.exp(np.dot(counts, self._log_miss)))

    @cached_property
    def _log_miss(self) -> npt.NDArray[np.float64]:
        """log(1 − w) for every grade code."""
        rel = np.array([RELIABILITY_WEIGHT.get(r, 0.1) for r in self.cols.uniques["reliability"]])
        cred = np.array([CREDIBILITY_WEIGHT.get(c, 0.1) for c in range(_CRED_SLOTS)])
        weight = np.clip(np.outer(rel, cred).ravel(), 0.0, 0.999)
        return np.asarray(np.log1p(-weight), dtype=float)

    # ------------------------------------------------------------------ places

    def project(self, rows: Rows) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Projected x/y metres of some records (in chunks on every core when there are many)."""
        lon, lat = self.cols.lon[rows], self.cols.lat[rows]
        if len(rows) < _CHUNK:
            return self.zones.project(lon, lat)
        spans = [slice(i, i + _CHUNK) for i in range(0, len(rows), _CHUNK)]
        parts = parallel_map(lambda s: self.zones.project(lon[s], lat[s]), spans)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def distance_range_km(self, geometry_id: str, rows: Rows) -> tuple[float, float]:
        """Nearest and farthest of some records from a line or zone, in kilometres, exact.

        Only the records that can be nearest or farthest are measured: a coarse field of
        distances (:meth:`ZoneSet.distance_field`) bounds every record's distance within the
        field's cell size, and a record whose bounds cannot beat another's is skipped.
        """
        candidates = rows
        if len(rows) > _EXACT_ROWS:
            near, low, high = (b[rows] for b in self._distance_bounds(geometry_id))
            if near.all():
                keep = (low <= high.min()) | (high >= low.max())
                candidates = rows[keep]
        km = self.distance_km(geometry_id, candidates)
        return float(km.min()), float(km.max())

    def _distance_bounds(
        self, geometry_id: str
    ) -> tuple[BoolArray, npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Every record's bounds from the distance field, computed once per geometry."""
        if geometry_id not in self._bounds:
            field = self.zones.distance_field(geometry_id)
            self._bounds[geometry_id] = field.bounds_km(self.cols.lon, self.cols.lat)
        return self._bounds[geometry_id]

    def distance_km(self, geometry_id: str, rows: Rows) -> npt.NDArray[np.float64]:
        """Kilometres from some records to a zone or line (computed once per record and zone)."""
        if geometry_id not in self._distance:
            self._distance[geometry_id] = np.full(len(self), np.nan)
        cache = self._distance[geometry_id]
        todo = rows[np.isnan(cache[rows])]
        if len(todo):
            spans = [todo[i : i + _CHUNK] for i in range(0, len(todo), _CHUNK)]

            def measure(part: Rows) -> None:
                cache[part] = self.zones.distance_m(geometry_id, *self.project(part)) / 1000.0

            parallel_map(measure, spans)
        return cache[rows]

    def inside(self, zone_id: str) -> tuple[BoolArray, BoolArray]:
        """``(possibly, surely)`` inside the zone, given each record's place uncertainty.

        A record is *surely* inside when its uncertainty is within the agreement's tolerance
        (``max_place_uncertainty_km``) or its whole uncertainty disc lies inside the zone.
        """
        if zone_id not in self._inside:
            possibly = self._contains(zone_id)
            surely = possibly.copy()
            tolerance = self.agreement.max_place_uncertainty_km
            vague = np.flatnonzero(possibly & (self.cols.uncertainty_km > tolerance))
            if len(vague):
                margin = self.zones.distance_to_boundary_m(zone_id, *self.project(vague))
                surely[vague] = margin >= self.cols.uncertainty_km[vague] * 1000.0
            self._inside[zone_id] = (possibly, surely)
        return self._inside[zone_id]

    def preset(
        self,
        inside: dict[str, tuple[BoolArray, BoolArray]],
        distance_km: dict[str, npt.NDArray[np.float64]],
    ) -> None:
        """Take zone membership and distances computed elsewhere (the Spark engine computes
        them on its executors with the same functions); anything not given is computed here."""
        self._inside.update(inside)
        self._distance.update(distance_km)

    def _contains(self, zone_id: str) -> BoolArray:
        grid = self._grid
        if grid is None or zone_id not in grid.zone_ids:
            x, y = self._xy
            return self.zones.contains(zone_id, x, y)
        words = self._words
        inside = grid.inside(zone_id, words)
        edge = np.flatnonzero(grid.edge(zone_id, words))
        if len(edge):
            inside[edge] = self.zones.contains(zone_id, *self.project(edge))
        return inside

    @cached_property
    def _xy(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        return self.zones.project(self.cols.lon, self.cols.lat)

    @cached_property
    def _grid(self) -> ZoneGrid | None:
        if not self.use_grid:
            return None
        wanted = [z for z in _zones_of(self.agreement) if z in self.zones.geoms]
        return self.zones.grid(wanted[:MAX_ZONES]) if wanted else None

    @cached_property
    def _words(self) -> npt.NDArray[np.unsignedinteger]:
        assert self._grid is not None
        return self._grid.lookup(self.cols.lon, self.cols.lat)

    # ------------------------------------------------------------------ time

    def between(self, start: datetime, end: datetime | None) -> BoolArray:
        lo = pd.Timestamp(start).value
        mask = self.time_ns >= lo
        if end is not None:
            mask &= self.time_ns < pd.Timestamp(end).value
        return np.asarray(mask)


def _zones_of(agreement: Agreement) -> list[str]:
    """Every zone an obligation refers to (``zone:`` or ``zones:``), in order of appearance."""
    found: list[str] = []
    for ob in agreement.obligations:
        one = getattr(ob, "zone", None)
        many = getattr(ob, "zones", None)
        found += [one] if isinstance(one, str) else []
        found += list(many.values()) if isinstance(many, dict) else []
    return list(dict.fromkeys(found))
