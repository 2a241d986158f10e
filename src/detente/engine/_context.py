"""Evidence prepared once per evaluation: projected coordinates, grades, zone membership."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from detente.agreement import Agreement
from detente.evidence import CREDIBILITY_WEIGHT, RELIABILITY_WEIGHT, UNKNOWN_ACTOR, meets_grade
from detente.zones import ZoneSet


@dataclass
class Context:
    """Column arrays of the evidence an evaluation sees (``time <= as_of``) and cached masks.

    Text columns are factorised once into integer codes, so that every test on them is a NumPy
    comparison; all masks are boolean arrays over the rows of ``frame``; nothing loops over rows.
    """

    agreement: Agreement
    zones: ZoneSet
    frame: pd.DataFrame
    as_of: datetime
    x: np.ndarray = field(init=False)
    y: np.ndarray = field(init=False)
    time_ns: np.ndarray = field(init=False)
    ids: np.ndarray = field(init=False)
    credibility: np.ndarray = field(init=False)
    grade_ok: np.ndarray = field(init=False)
    weight: np.ndarray = field(init=False)
    uncertainty_m: np.ndarray = field(init=False)
    _codes: dict[str, tuple[np.ndarray, list[str]]] = field(init=False, default_factory=dict)
    _inside: dict[str, tuple[np.ndarray, np.ndarray]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        f = self.frame
        self.x, self.y = self.zones.project(
            f["lon"].to_numpy(dtype=float), f["lat"].to_numpy(dtype=float)
        )
        self.time_ns = f["time"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
        self.ids = f["id"].to_numpy(dtype=object)
        for column, missing in (("actor", UNKNOWN_ACTOR), ("kind", ""), ("category", "")):
            self._codes[column] = _factorize(f[column], missing)
        self._codes["reliability"] = _factorize(f["reliability"], "F")
        self.credibility = f["credibility"].to_numpy(dtype=np.int64)
        rel_codes, rel_values = self._codes["reliability"]
        threshold = self.agreement.grade_threshold
        ok = meets_grade(np.array(rel_values, dtype=object), np.ones(len(rel_values)),
                         threshold.reliability, 6)  # fmt: skip
        self.grade_ok = np.asarray(ok)[rel_codes] & (self.credibility <= threshold.credibility)
        rel_weight = np.array([RELIABILITY_WEIGHT.get(r, 0.1) for r in rel_values])
        cred_weight = np.array([CREDIBILITY_WEIGHT.get(c, 0.1) for c in range(7)])
        self.weight = rel_weight[rel_codes] * cred_weight[np.clip(self.credibility, 0, 6)]
        self.uncertainty_m = f["place_uncertainty_km"].fillna(0.0).to_numpy(dtype=float) * 1000.0

    def __len__(self) -> int:
        return len(self.ids)

    def is_in(self, column: str, values: list[str] | tuple[str, ...]) -> np.ndarray:
        """Rows whose ``column`` (actor, kind, category) is one of ``values``."""
        codes, uniques = self._codes[column]
        wanted = [i for i, value in enumerate(uniques) if value in values]
        return np.isin(codes, wanted)

    def is_actor(self, party: str) -> np.ndarray:
        return self.is_in("actor", (party,))

    def values(self, column: str, rows: np.ndarray) -> np.ndarray:
        """The text values of ``column`` for a few rows (for explanations)."""
        codes, uniques = self._codes[column]
        return np.asarray(np.array(uniques, dtype=object)[codes[rows]])

    def grade_counts(self, rows: np.ndarray) -> list[tuple[str, int]]:
        """Grades of the rows with their counts, best first: ``[('B2', 3), ('C3', 1)]``."""
        codes, uniques = self._codes["reliability"]
        combined = codes[rows].astype(np.int64) * 8 + np.clip(self.credibility[rows], 0, 7)
        found, counts = np.unique(combined, return_counts=True)
        graded = [(f"{uniques[c // 8]}{c % 8}", int(n)) for c, n in zip(found, counts, strict=True)]
        return sorted(graded)

    def inside(self, zone_id: str) -> tuple[np.ndarray, np.ndarray]:
        """``(possibly, surely)`` inside the zone, given each record's place uncertainty.

        A record is *surely* inside when its uncertainty is within the agreement's tolerance
        (``max_place_uncertainty_km``) or its whole uncertainty disc lies inside the zone.
        """
        if zone_id not in self._inside:
            possibly = self.zones.contains(zone_id, self.x, self.y)
            surely = possibly.copy()
            tolerance = self.agreement.max_place_uncertainty_km * 1000.0
            vague = np.flatnonzero(possibly & (self.uncertainty_m > tolerance))
            if len(vague):
                margin = self.zones.distance_to_boundary_m(zone_id, self.x[vague], self.y[vague])
                surely[vague] = margin >= self.uncertainty_m[vague]
            self._inside[zone_id] = (possibly, surely)
        return self._inside[zone_id]

    def between(self, start: datetime, end: datetime | None) -> np.ndarray:
        lo = pd.Timestamp(start).value
        mask = self.time_ns >= lo
        if end is not None:
            mask &= self.time_ns < pd.Timestamp(end).value
        return np.asarray(mask)


def _factorize(column: pd.Series, missing: str) -> tuple[np.ndarray, list[str]]:
    codes, uniques = pd.factorize(column.fillna(missing))
    return np.asarray(codes), [str(u) for u in uniques]
