"""The engine against an independent reference, on random evidence (hypothesis).

The toy agreement's line is the meridian 38°E, West holds 37–38°E and East 38–39°E, so whether a
point is in a 25 km band can be decided with pyproj's geodesic distance to the meridian, without
Detente's geometry. The statuses are then derived by the rules of docs/status-semantics.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyproj
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import frame
from detente.agreement import load_agreement
from detente.engine import evaluate

AS_OF = datetime.fromisoformat("2020-06-30T23:59:59+03:00")
GEOD = pyproj.Geod(ellps="WGS84")
EDGE_MARGIN_M = 300.0  # points this close to the 25 km edge are left out: projection error


def random_rows(seed: int, n: int) -> list[dict[str, Any]]:
    """Rows spread evenly over both bands, all actors, kinds and grades.

    Hypothesis draws the seed and the size; NumPy spreads the values (hypothesis alone favours
    the first choice of every ``sampled_from``, so a C2 tank of West's in West's band, the case
    that matters most, would almost never appear together).
    """
    rng = np.random.default_rng(seed)
    return [
        {
            "lon": 38.0 + rng.uniform(-0.45, 0.45),  # ±33 km at 48.5°N
            "lat": rng.uniform(48.0, 49.0),
            "day": int(rng.integers(0, 181)),
            "actor": str(rng.choice(["west", "east", "unknown", "monitor"])),
            "kind": str(rng.choice(["equipment", "patrol"])),
            "category": str(rng.choice(["tank", "acv"])),
            "reliability": str(rng.choice(list("ABCDEF"))),
            "credibility": int(rng.integers(1, 7)),
        }
        for _ in range(n)
    ]


def band_of(lon: float, lat: float) -> str | None:
    """'west', 'east' or None: whose 25 km band the point is in, by geodesic distance."""
    _, _, metres = GEOD.inv(lon, lat, 38.0, lat)
    if abs(metres - 25_000) < EDGE_MARGIN_M or lon == 38.0:
        return "edge"
    if metres > 25_000:
        return None
    return "west" if lon < 38.0 else "east"


def expected(records: list[dict[str, Any]], party: str) -> dict[str, str]:
    """Status per month (Kyiv time) for the ``tanks`` obligation, derived from the rules."""
    out = {}
    for month in range(1, 7):
        here = [r for r in records if r["month"] == month and r["band"] == party]
        breach = [r for r in here if r["kind"] == "equipment" and r["category"] == "tank"]
        own = [r for r in breach if r["actor"] == party]
        good = [r for r in own if r["reliability"] in "ABC" and r["credibility"] <= 3]
        if good:
            status = "violation"
        elif own or any(r["actor"] == "unknown" for r in breach):
            status = "unverified"
        elif here:
            status = "compliant"
        else:
            status = "unverified"
        out[f"2020-{month:02d}"] = status
    return out


@pytest.fixture(scope="module")
def agreement(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from conftest import write_toy

    return load_agreement(write_toy(tmp_path_factory.mktemp("toy")))


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 60))
def test_statuses_match_an_independent_reference(agreement: Any, seed: int, n: int) -> None:
    records = []
    for i, r in enumerate(random_rows(seed, n)):
        band = band_of(r["lon"], r["lat"])
        if band == "edge":
            continue
        time = pd.Timestamp("2020-01-01T06:00Z") + pd.Timedelta(days=r["day"])
        month = time.tz_convert("Europe/Kyiv").month
        if month > 6:
            continue
        records.append({**r, "id": f"r{i}", "time": time, "band": band, "month": month})
    evidence = frame(
        [{k: v for k, v in r.items() if k not in ("day", "band", "month")} for r in records]
    )
    report = evaluate(agreement, evidence, AS_OF)
    for party in ("west", "east"):
        got = {
            f"{f.window_start:%Y-%m}": f.status.value
            for f in report.findings
            if f.obligation == "tanks" and f.party == party
        }
        assert got == expected(records, party), party
