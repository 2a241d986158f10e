"""Evidence prepared once per evaluation: projected coordinates, grades, zone membership."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from detente.agreement import Agreement
from detente.evidence import UNKNOWN_ACTOR, grade_weight, meets_grade
from detente.zones import ZoneSet


@dataclass
class Context:
    """Column arrays of the evidence an evaluation sees (``time <= as_of``) and cached masks.

    All masks are boolean NumPy arrays over the rows of ``frame``; nothing here loops over rows.
    """

    agreement: Agreement
    zones: ZoneSet
    frame: pd.DataFrame
    as_of: datetime
    x: np.ndarray = field(init=False)
    y: np.ndarray = field(init=False)
    time_ns: np.ndarray = field(init=False)
    ids: np.ndarray = field(init=False)
    actor: np.ndarray = field(init=False)
    kind: np.ndarray = field(init=False)
    category: np.ndarray = field(init=False)
    grade: np.ndarray = field(init=False)
    grade_ok: np.ndarray = field(init=False)
    weight: np.ndarray = field(init=False)
    uncertainty_m: np.ndarray = field(init=False)
    _inside: dict[str, tuple[np.ndarray, np.ndarray]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        f = self.frame
        self.x, self.y = self.zones.project(
            f["lon"].to_numpy(dtype=float), f["lat"].to_numpy(dtype=float)
        )
        self.time_ns = f["time"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
        self.ids = f["id"].to_numpy(dtype=object)
        self.actor = f["actor"].fillna(UNKNOWN_ACTOR).to_numpy(dtype=object)
        self.kind = f["kind"].to_numpy(dtype=object)
        self.category = f["category"].fillna("").to_numpy(dtype=object)
        rel = f["reliability"].astype(str)
        self.grade = (rel + f["credibility"].astype(str)).to_numpy(dtype=object)
        threshold = self.agreement.grade_threshold
        self.grade_ok = meets_grade(
            rel, f["credibility"], threshold.reliability, threshold.credibility
        )
        self.weight = grade_weight(rel, f["credibility"])
        self.uncertainty_m = f["place_uncertainty_km"].fillna(0.0).to_numpy(dtype=float) * 1000.0

    def __len__(self) -> int:
        return len(self.ids)

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

    def is_actor(self, party: str) -> np.ndarray:
        return np.asarray(self.actor == party)
