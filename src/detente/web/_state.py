"""What the dashboard keeps between requests: zone maps and the status of cited observations.

    >>> state = DashboardState()
    >>> state.evidence_index(db, report)          # built once per stored report  # doctest: +SKIP

Both caches are keyed by things that never change once stored — an agreement version's sha256,
a report's id — so they never need invalidating, only bounding.

The *evidence index* of a report answers "which finding does this observation decide, and how
badly?" for the map: each observation a finding cites gets the most severe status among the
findings citing it (violation, then unverified, compliant, pending, inactive). It holds only the
cited observations (their coordinates and times as NumPy arrays), so binning their statuses for
a view is a few vectorised operations, while the totals per bin come from SQL over the store.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from detente.findings import STATUS_ORDER
from detente.store._db import Database
from detente.web._grid import EPOCH_SQL, BBox

#: Status names by rank: index 0 is the most severe. Rank len(STATUS_ORDER) means "cited by no
#: finding" (the map draws those in grey).
STATUS_NAMES: tuple[str, ...] = (*(s.value for s in STATUS_ORDER), "uncited")
UNCITED = len(STATUS_ORDER)
_RANK = {name: rank for rank, name in enumerate(STATUS_NAMES)}


def status_rank(status: str) -> int:
    """0 for violation … 4 for inactive; :data:`UNCITED` for anything else."""
    return _RANK.get(status, UNCITED)


def cited_ranks(findings: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Each cited evidence id -> the most severe rank among the findings citing it."""
    ranks: dict[str, int] = {}
    for finding in findings:
        rank = status_rank(str(finding["status"]))
        # list(): evidence is a sequence of ids, whatever container the report gives.
        for evidence_id in list(finding["evidence"]):
            if rank < ranks.get(evidence_id, UNCITED):
                ranks[evidence_id] = rank
    return ranks


@dataclass(frozen=True)
class EvidenceIndex:
    """The stored observations a report cites, with their status rank."""

    ranks: dict[str, int]
    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    epoch: npt.NDArray[np.float64]
    rank: npt.NDArray[np.int64]

    def select(
        self, bbox: BBox | None, start: float | None, end: float | None
    ) -> npt.NDArray[np.bool_]:
        """Which indexed observations lie in the box (edges included) and time range."""
        keep = np.ones(self.lon.shape, dtype=bool)
        if bbox is not None:
            west, south, east, north = bbox
            keep &= (self.lon >= west) & (self.lon <= east)
            keep &= (self.lat >= south) & (self.lat <= north)
        if start is not None:
            keep &= self.epoch >= start
        if end is not None:
            keep &= self.epoch <= end
        return keep


EMPTY_INDEX = EvidenceIndex({}, np.empty(0), np.empty(0), np.empty(0), np.empty(0, dtype=np.int64))


def build_index(db: Database, findings: Sequence[Mapping[str, Any]]) -> EvidenceIndex:
    """The evidence index of a report's findings over the observations stored in ``db``."""
    ranks = cited_ranks(findings)
    if not ranks:
        return EMPTY_INDEX
    # Every stored observation's id and place, then a hash join in pandas: one scan, and the
    # same SQL on both stores (a list of tens of thousands of ids as parameters would not be).
    table = db.table(f"SELECT id, lon, lat, {EPOCH_SQL} AS epoch FROM observations")
    frame = table.to_pandas()
    rank = frame["id"].map(ranks)
    cited = frame[rank.notna()]
    return EvidenceIndex(
        ranks,
        cited["lon"].to_numpy(dtype=np.float64),
        cited["lat"].to_numpy(dtype=np.float64),
        cited["epoch"].to_numpy(dtype=np.float64),
        rank[rank.notna()].to_numpy(dtype=np.int64),
    )


class DashboardState:
    """Bounded, thread-safe caches of the dashboard (one per app, in ``app.state.dashboard``)."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._maps: OrderedDict[tuple[str, ...], bytes] = OrderedDict()
        self._indexes: OrderedDict[str, EvidenceIndex] = OrderedDict()
        self._lock = threading.Lock()

    def zone_map(self, key: tuple[str, ...], make: Callable[[], bytes]) -> bytes:
        """The zone map (GeoJSON bytes) of an agreement version, made once."""
        with self._lock:
            if key in self._maps:
                self._maps.move_to_end(key)
                return self._maps[key]
        made = make()  # outside the lock: a slow build must not hold up other requests
        with self._lock:
            self._maps[key] = made
            while len(self._maps) > self.size:
                self._maps.popitem(last=False)
        return made

    def evidence_index(
        self, db: Database, report_id: str, findings: Sequence[Mapping[str, Any]]
    ) -> EvidenceIndex:
        """The evidence index of a stored report, built once."""
        with self._lock:
            if report_id in self._indexes:
                self._indexes.move_to_end(report_id)
                return self._indexes[report_id]
        made = build_index(db, findings)
        with self._lock:
            self._indexes[report_id] = made
            while len(self._indexes) > self.size:
                self._indexes.popitem(last=False)
        return made
