"""The zone grid and the columnar engine give exactly the answers of the exact tests."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from detente._zonegrid import ZoneGrid
from detente.agreement import load_agreement
from detente.engine import Columns, evaluate
from detente.findings import EvidenceIds
from detente.synth import synthesize
from detente.zones import ZoneSet, build_zones

ROOT = Path(__file__).resolve().parent.parent
MINSK = ROOT / "examples" / "minsk2" / "agreement.yaml"
AS_OF = datetime.fromisoformat("2021-12-31T23:59:59+02:00")


@pytest.fixture(scope="module")
def minsk() -> tuple[ZoneSet, ZoneGrid]:
    zones = build_zones(load_agreement(MINSK))
    ids = ["donbas", "ngca", "band_gov_15", "band_ngca_70", "contact_line"]
    return zones, ZoneGrid.build(zones, ids, cells=512)  # coarse: many points in edge cells


def near_edges(zones: ZoneSet, zone_id: str, n: int, jitter_m: float, seed: int) -> np.ndarray:
    """Points on the zone's edge moved by up to ``jitter_m`` metres: the hardest cases."""
    edge = shapely.boundary(zones.geoms[zone_id]) if zone_id != "contact_line" else None
    line = edge if edge is not None else zones.geoms[zone_id]
    rng = np.random.default_rng(seed)
    at = shapely.line_interpolate_point(line, rng.uniform(0, line.length, n))
    xy = shapely.get_coordinates(at) + rng.uniform(-jitter_m, jitter_m, (n, 2))
    return xy


def grid_answer(grid: ZoneGrid, zones: ZoneSet, zone_id: str, lon: np.ndarray, lat: np.ndarray):
    words = grid.lookup(lon, lat)
    inside = grid.inside(zone_id, words)
    edge = np.flatnonzero(grid.edge(zone_id, words))
    inside[edge] = zones.contains(zone_id, *zones.project(lon[edge], lat[edge]))
    return inside


@settings(max_examples=25, deadline=None)
@given(
    zone=st.sampled_from(["donbas", "ngca", "band_gov_15", "band_ngca_70", "contact_line"]),
    jitter=st.sampled_from([0.01, 1.0, 50.0, 400.0, 5_000.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_grid_membership_equals_the_exact_test(
    minsk: tuple[ZoneSet, ZoneGrid], zone: str, jitter: float, seed: int
) -> None:
    zones, grid = minsk
    xy = near_edges(zones, zone, 2_000, jitter, seed)
    lon, lat = zones.to_lonlat(xy[:, 0], xy[:, 1])
    exact = zones.contains(zone, *zones.project(lon, lat))
    assert np.array_equal(grid_answer(grid, zones, zone, lon, lat), exact)
    # Points away from every edge are decided by the grid alone, and decided right.
    words = grid.lookup(lon, lat)
    settled = ~grid.edge(zone, words)
    assert np.array_equal(grid.inside(zone, words)[settled], exact[settled])


def test_grid_cells_away_from_edges_are_most_of_the_area(minsk: tuple[ZoneSet, ZoneGrid]) -> None:
    zones, grid = minsk
    rng = np.random.default_rng(5)
    lon = rng.uniform(grid.lon0, grid.lon0 + grid.nx * grid.cell_lon, 50_000)
    lat = rng.uniform(grid.lat0, grid.lat0 + grid.ny * grid.cell_lat, 50_000)
    words = grid.lookup(lon, lat)
    assert grid.edge("donbas", words).mean() < 0.1
    exact = zones.contains("donbas", *zones.project(lon, lat))
    assert np.array_equal(grid_answer(grid, zones, "donbas", lon, lat), exact)


def test_points_outside_the_grid_or_without_coordinates_are_in_no_zone(
    minsk: tuple[ZoneSet, ZoneGrid],
) -> None:
    _, grid = minsk
    words = grid.lookup(np.array([np.nan, 0.0, 179.0, 37.8]), np.array([48.0, np.nan, 0.0, 48.0]))
    assert words[:3].tolist() == [0, 0, 0]
    assert grid.inside("donbas", words)[3] or grid.edge("donbas", words)[3]


@pytest.mark.parametrize("seed", [1, 2])
def test_grid_and_exact_engines_write_identical_findings(seed: int) -> None:
    agreement = load_agreement(MINSK)
    raw = synthesize(agreement, n=4_000, seed=seed)
    frame = raw.assign(
        time=pd.to_datetime(raw["time"], utc=True),
        count_high=pd.to_numeric(raw["count"], errors="coerce"),
        content_hash=raw["id"].str.pad(64, fillchar="0"),
        # Some records placed vaguely, so the uncertainty rule is exercised too.
        place_uncertainty_km=np.where(np.arange(len(raw)) % 7 == 0, 12.0, 0.0),
    )
    exact = evaluate(agreement, frame, AS_OF, use_grid=False)
    gridded = evaluate(agreement, frame, AS_OF, use_grid=True)
    assert gridded.to_json() == exact.to_json()
    assert exact.counts()  # something was found


def test_columns_accept_arrow_with_dictionary_text_and_shuffled_rows() -> None:
    frame = pd.DataFrame(
        {
            "id": ["b", "a", "c"],
            "time": pd.to_datetime(["2020-01-02", "2020-01-02", "2020-01-01"], utc=True),
            "lon": [37.0, 37.1, 37.2],
            "lat": [48.0, 48.1, 48.2],
            "actor": ["ukr", None, "ukr"],
            "kind": ["fire", "fire", "equipment"],
            "content_hash": ["h2", "h1", "h3"],
        }
    )
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.set_column(4, "actor", table.column("actor").dictionary_encode())
    cols = Columns.of(table)
    assert cols.text["id"].to_pylist() == ["c", "a", "b"]  # by time, then id
    actors = [cols.uniques["actor"][c] for c in cols.codes["actor"]]
    assert actors == ["ukr", "unknown", "ukr"]
    assert cols.count_high.tolist() == [1, 1, 1] and cols.uncertainty_km.tolist() == [0, 0, 0]


def test_evidence_ids_read_lazily_and_compare_like_tuples() -> None:
    ids = EvidenceIds(pa.array(["x", "y", "z"]), np.array([2, 0]))
    assert len(ids) == 2 and ids[0] == "z" and ids[-1] == "x"
    assert ids == ("z", "x") and ids != ("x", "z") and list(ids) == ["z", "x"]
    assert hash(ids) == hash(("z", "x"))


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), spread_km=st.sampled_from([0.5, 20.0, 300.0]))
def test_distance_to_a_line_equals_shapely(
    minsk: tuple[ZoneSet, ZoneGrid], seed: int, spread_km: float
) -> None:
    zones, _ = minsk
    xy = near_edges(zones, "contact_line", 3_000, spread_km * 1000, seed)
    xy[7] = np.nan  # no place, no distance
    got = zones.distance_m("contact_line", xy[:, 0], xy[:, 1])
    placed = np.flatnonzero(np.isfinite(xy[:, 0]))
    want = shapely.distance(zones.geoms["contact_line"], shapely.points(xy[placed]))
    assert np.isnan(got[7])
    assert np.allclose(got[placed], want, rtol=0, atol=1e-6)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.sampled_from([300, 5_000]))
def test_distance_range_measures_few_records_but_equals_measuring_all(
    minsk: tuple[ZoneSet, ZoneGrid], seed: int, n: int
) -> None:
    from detente.engine._context import Context

    zones, _ = minsk
    xy = near_edges(zones, "band_gov_70", n, 30_000.0, seed)
    lon, lat = zones.to_lonlat(xy[:, 0], xy[:, 1])
    table = pa.table(
        {
            "time": pa.array(np.zeros(n, "datetime64[ns]")).cast(pa.timestamp("ns", "UTC")),
            "lon": lon,
            "lat": lat,
            "id": [f"p{i:05d}" for i in range(n)],
            "content_hash": [f"h{i}" for i in range(n)],
        }
    )
    ctx = Context(load_agreement(MINSK), zones, Columns.of(table), AS_OF)
    rows = np.arange(n)
    every = zones.distance_m("contact_line", *zones.project(lon, lat)) / 1000.0
    assert ctx.distance_range_km("contact_line", rows) == (every.min(), every.max())


def test_nested_parallel_work_finishes() -> None:
    """Tasks that hand out work themselves must not wait for each other forever."""
    import threading

    from detente._threads import parallel_map

    out: list[list[int]] = []

    def outer(i: int) -> int:
        return sum(parallel_map(lambda j: i * j, range(50)))

    worker = threading.Thread(target=lambda: out.append(parallel_map(outer, range(64))))
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "nested parallel_map deadlocked"
    assert out == [[i * 1225 for i in range(64)]]


def test_distances_of_many_records_in_chunks_equal_one_call(
    minsk: tuple[ZoneSet, ZoneGrid],
) -> None:
    """Over 2**17 records the work is split across threads (projection nested inside)."""
    import threading

    from detente.engine._context import Context

    zones, _ = minsk
    n = 300_000
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(36.5, 40.5, n), rng.uniform(46.5, 50.0, n)
    table = pa.table(
        {
            "time": pa.array(np.zeros(n, "datetime64[ns]")).cast(pa.timestamp("ns", "UTC")),
            "lon": lon,
            "lat": lat,
            "id": pa.array(np.char.add("p", np.arange(n).astype(str))),
            "content_hash": pa.array(np.char.add("h", np.arange(n).astype(str))),
        }
    )
    ctx = Context(load_agreement(MINSK), zones, Columns.of(table), AS_OF)
    out: list[np.ndarray] = []
    worker = threading.Thread(
        target=lambda: out.append(ctx.distance_km("contact_line", np.arange(n)))
    )
    worker.start()
    worker.join(timeout=120)
    assert not worker.is_alive(), "chunked distances deadlocked"
    # Rows are in canonical order (here: by id), so measure the context's own coordinates.
    want = zones.distance_m("contact_line", *zones.project(ctx.cols.lon, ctx.cols.lat)) / 1000.0
    assert np.array_equal(out[0], want)
