"""Synthetic equipment sightings for demos and benchmarks — always labelled SYNTHETIC.

    >>> frame = synthesize(agreement, n=1000, seed=7)   # doctest: +SKIP
    >>> frame["source"].iloc[0]                          # doctest: +SKIP
    'SYNTHETIC (detente synth, seed 7)'

Points fall within 100 km of the lines the agreement's bands are measured from, on the side of
the party that holds the ground (a tenth are left unattributed). Most are equipment sightings
of the agreement's categories; a fifth are monitors' patrol records (coverage without a breach).
Everything is drawn with NumPy in bulk; the ids start with ``synthetic-``.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pyproj
import shapely

from detente.agreement import Agreement
from detente.evidence import CSV_REQUIRED, UNKNOWN_ACTOR
from detente.zones import ZoneSet, build_zones

GRADE_P = np.array([0.05, 0.35, 0.3, 0.15, 0.1, 0.05])
SPREAD_KM = 100.0


def synthesize(
    agreement: Agreement,
    n: int,
    seed: int = 7,
    start: datetime = datetime.fromisoformat("2015-02-15T00:00:00+00:00"),
    end: datetime = datetime.fromisoformat("2021-12-31T23:59:59+00:00"),
) -> pd.DataFrame:
    """``n`` synthetic observations as a canonical-CSV frame (columns of ``CSV_REQUIRED``)."""
    rng = np.random.default_rng(seed)
    zones = build_zones(agreement)
    x, y = _points_near_lines(agreement, zones, n, rng)
    lon, lat = pyproj.Transformer.from_crs(zones.crs, 4326, always_xy=True).transform(x, y)
    actor = _actors(agreement, zones, x, y, rng)
    patrol = rng.random(n) < 0.2
    categories = np.array(sorted(agreement.definitions.categories) or ["tank"], dtype=object)
    seconds = rng.integers(int(start.timestamp()), int(end.timestamp()), n)
    count = rng.integers(1, 9, n)
    frame = pd.DataFrame(
        {
            "id": "synthetic-" + pd.Series(np.arange(1, n + 1)).astype(str).str.zfill(len(str(n))),
            "time": pd.to_datetime(seconds, unit="s", utc=True).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "lon": np.round(lon, 5),
            "lat": np.round(lat, 5),
            "actor": np.where(patrol, "smm", actor),
            "kind": np.where(patrol, "patrol", "equipment"),
            "category": np.where(patrol, "", rng.choice(categories, n)),
            "count": np.where(patrol, "", count.astype(str)),
            "source": f"SYNTHETIC (detente synth, seed {seed})",
            "reliability": rng.choice(list("ABCDEF"), n, p=GRADE_P),
            "credibility": rng.choice(np.arange(1, 7), n, p=GRADE_P),
            "note": "synthetic record, not a real sighting",
        }
    )
    return frame[list(CSV_REQUIRED)]


def _band_lines(agreement: Agreement) -> list[str]:
    lines = sorted({z.band.line for z in agreement.zones.values() if z.band is not None})
    if not lines:
        raise ValueError(f"agreement {agreement.id!r} has no band zones to place sightings near")
    return lines


def _points_near_lines(
    agreement: Agreement, zones: ZoneSet, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points within SPREAD_KM of the band lines, by rejection in batches."""
    area = shapely.buffer(
        shapely.union_all([zones.geoms[z] for z in _band_lines(agreement)]), SPREAD_KM * 1000
    )
    shapely.prepare(area)
    x0, y0, x1, y1 = area.bounds
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    got = 0
    while got < n:
        bx = rng.uniform(x0, x1, 2 * n)
        by = rng.uniform(y0, y1, 2 * n)
        keep = shapely.contains_xy(area, bx, by)
        xs.append(bx[keep])
        ys.append(by[keep])
        got += int(keep.sum())
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def _actors(
    agreement: Agreement, zones: ZoneSet, x: np.ndarray, y: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """The party whose side a point is on; a tenth of the points stay unattributed."""
    actor = np.full(len(x), UNKNOWN_ACTOR, dtype=object)
    for party in agreement.parties:
        if party.side is not None:
            actor[zones.contains(party.side, x, y)] = party.id
    actor[rng.random(len(x)) < 0.1] = UNKNOWN_ACTOR
    return actor
