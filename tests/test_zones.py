"""Zones: band membership against an independent geodesic computation, CRS error, set operations,
errors that point at the agreement file, and the shipped Minsk II geometry."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import LineString, Point, Polygon, box, shape

from detente.agreement import Agreement, load_agreement
from detente.errors import InputError
from detente.zones import QUAD_SEGS, ZoneSet, build_zones, local_crs

GEO = Path(__file__).resolve().parents[1] / "examples" / "minsk2" / "geo"
GEOD = Geod(ellps="WGS84")

HEADER = """\
id: t
title: test
version: "1"
timezone: Europe/Kyiv
sources: [{id: s, title: test source}]
parties:
  - {id: ukr, name: Ukraine}
  - {id: dpr_lpr, name: armed formations}
"""
OBLIGATION = """\
obligations:
  - id: cf
    kind: ceasefire
    clause: "x"
    source: {ref: s}
    bearers: [ukr]
    zone: %s
    effective: {from: 2015-02-15T00:00:00}
"""
MINSK_ZONES = f"""\
zones:
  line: {{file: {GEO}/contact_line.geojson}}
  ngca: {{file: {GEO}/ngca.geojson}}
  mainland: {{file: {GEO}/ukraine_mainland.geojson}}
  gov: {{difference: [mainland, ngca]}}
  band_0_25: {{band: {{line: line, side: gov, from_km: 0, to_km: 25}}}}
  band_25_35: {{band: {{line: line, side: gov, from_km: 25, to_km: 35}}}}
"""


def write_agreement(folder: Path, zones: str, *, zone: str = "z", extra: str = "") -> Path:
    path = folder / "agreement.yaml"
    path.write_text(HEADER + extra + zones + OBLIGATION % zone, encoding="utf-8")
    return path


def write_geojson(
    folder: Path, name: str, *geoms: Any, props: list[dict[str, Any]] | None = None
) -> str:
    feats = [
        {
            "type": "Feature",
            "properties": (props or [{}] * len(geoms))[i],
            "geometry": g.__geo_interface__,
        }
        for i, g in enumerate(geoms)
    ]
    (folder / name).write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return name


@pytest.fixture(scope="module")
def minsk(tmp_path_factory: pytest.TempPathFactory) -> ZoneSet:
    folder = tmp_path_factory.mktemp("minsk")
    return build_zones(load_agreement(write_agreement(folder, MINSK_ZONES, zone="band_0_25")))


# --------------------------------------------------------------------------- independent check


def densify_lonlat(coords: np.ndarray, max_step_m: float) -> np.ndarray:
    """Vertices along each geodesic segment, at most ``max_step_m`` apart (Geod.npts)."""
    out = [coords[:1]]
    for (lon1, lat1), (lon2, lat2) in itertools.pairwise(coords):
        _, _, dist = GEOD.inv(lon1, lat1, lon2, lat2)
        n = int(np.ceil(dist / max_step_m)) - 1
        inner = GEOD.npts(lon1, lat1, lon2, lat2, n) if n > 0 else []
        out += [np.asarray(inner, dtype=float).reshape(-1, 2), np.array([[lon2, lat2]])]
    return np.concatenate(out)


def geodesic_distance_to_vertices(
    lon: np.ndarray, lat: np.ndarray, verts: np.ndarray
) -> np.ndarray:
    """Min geodesic distance (m) from each point to any vertex, Geod.inv on broadcast arrays."""
    best = np.empty(len(lon))
    chunk = max(1, 400_000 // len(verts))
    for start in range(0, len(lon), chunk):
        plon, plat = lon[start : start + chunk, None], lat[start : start + chunk, None]
        a, b = np.broadcast_arrays(plon, verts[None, :, 0])
        c, d = np.broadcast_arrays(plat, verts[None, :, 1])
        _, _, dist = GEOD.inv(a.ravel(), c.ravel(), b.ravel(), d.ravel())
        best[start : start + chunk] = np.asarray(dist).reshape(a.shape).min(axis=1)
    return best


def lonlat_zone(name: str) -> Any:
    return shapely.union_all(
        [shape(f["geometry"]) for f in json.loads((GEO / name).read_text())["features"]]
    )


def test_band_membership_matches_independent_geodesic_distance(minsk: ZoneSet) -> None:
    rng = np.random.default_rng(20150212)
    n = 3000
    lon, lat = rng.uniform(36.9, 40.4, n), rng.uniform(46.95, 49.2, n)
    line = np.asarray(lonlat_zone("contact_line.geojson").coords)
    verts = densify_lonlat(line, 200.0)
    steps = GEOD.inv(verts[:-1, 0], verts[:-1, 1], verts[1:, 0], verts[1:, 1])[2]
    assert steps.max() <= 200.0 + 1e-6
    # Nearest vertex overestimates the distance to the line by at most half a step (100 m).
    dist = geodesic_distance_to_vertices(lon, lat, verts)

    # The side, independently: the shipped polygons in lon/lat (no projection).
    gov_ll = shapely.difference(
        lonlat_zone("ukraine_mainland.geojson"), lonlat_zone("ngca.geojson")
    )
    on_gov = shapely.contains_xy(gov_ll, lon, lat)
    deg_m = 111_320.0 * np.cos(np.radians(lat))  # rough metres per degree, only to skip points
    near_side = shapely.distance(gov_ll.boundary, shapely.points(lon, lat)) * deg_m < 300.0

    x, y = minsk.project(lon, lat)
    checked_total = 0
    for zone, lo, hi in (("band_0_25", 0.0, 25_000.0), ("band_25_35", 25_000.0, 35_000.0)):
        tol = 0.001 * dist + 150.0
        near_edge = (np.abs(dist - hi) <= tol) | ((lo > 0) & (np.abs(dist - lo) <= tol))
        checked = ~near_edge & ~near_side
        expected = on_gov & (dist >= lo) & (dist <= hi)
        got = minsk.contains(zone, x, y)
        bad = np.flatnonzero(checked & (got != expected))
        assert bad.size == 0, [(lon[i], lat[i], dist[i], got[i]) for i in bad[:5]]
        skipped = int((~checked).sum())
        inside = expected[checked].sum()
        print(f"{zone}: checked {checked.sum()} points ({inside} inside), skipped {skipped}")
        assert checked.sum() > 2000 and skipped < 0.03 * n
        assert expected[checked].sum() > 150  # the band is actually exercised
        checked_total += int(checked.sum())
    assert checked_total > 4000


def test_distance_to_boundary_matches_geodesic_distance_to_line(minsk: ZoneSet) -> None:
    rng = np.random.default_rng(7)
    line = np.asarray(lonlat_zone("contact_line.geojson").coords)
    lon, lat = rng.uniform(37.3, 39.8, 300), rng.uniform(47.2, 48.9, 300)
    expected = geodesic_distance_to_vertices(lon, lat, densify_lonlat(line, 100.0))
    got = minsk.distance_to_boundary_m("line", *minsk.project(lon, lat))
    assert np.all(np.abs(got - expected) <= 0.001 * expected + 60.0)


# --------------------------------------------------------------------------- CRS


def test_projected_distances_match_geodesic_within_claimed_scale_error(minsk: ZoneSet) -> None:
    lon_min, lat_min, lon_max, lat_max = minsk.extent
    rng = np.random.default_rng(3)
    n = 4000
    lon1, lat1 = rng.uniform(lon_min, lon_max, n), rng.uniform(lat_min, lat_max, n)
    az, length = rng.uniform(0, 360, n), rng.uniform(1_000, 150_000, n)
    lon2, lat2, _ = GEOD.fwd(lon1, lat1, az, length)
    inside = (lon2 >= lon_min) & (lon2 <= lon_max) & (lat2 >= lat_min) & (lat2 <= lat_max)
    x1, y1 = minsk.project(lon1[inside], lat1[inside])
    x2, y2 = minsk.project(lon2[inside], lat2[inside])
    rel = np.abs(np.hypot(x2 - x1, y2 - y1) / length[inside] - 1.0)
    print(f"{minsk.crs_description}; observed max {rel.max():.6f} over {inside.sum()} pairs")
    assert rel.max() < 0.001
    assert rel.max() <= minsk.max_scale_error * 1.01 + 1e-7
    assert rel.max() >= 0.6 * minsk.max_scale_error  # the claim is not wildly pessimistic
    assert "transverse Mercator" in minsk.crs_description
    assert minsk.crs.is_projected


def test_local_crs_splits_the_error() -> None:
    crs, text, err = local_crs(36.0, 46.0, 41.0, 50.0)
    assert crs.is_projected and "lon_0=38.50" in text
    assert crs.coordinate_operation is not None
    params = crs.coordinate_operation.params
    k0 = float(next(p.value for p in params if p.name.startswith("Scale factor")))
    assert k0 < 1 and abs((1 - k0) - err) < 2e-5  # error on the central meridian = at the edge
    assert local_crs(30.0, 50.0, 30.0, 50.0)[2] < 1e-9


# --------------------------------------------------------------------------- operations


SQ_A = box(30.0, 50.0, 30.4, 50.3)
SQ_B = box(30.2, 50.1, 30.7, 50.5)


def geodesic_area(geom: Any) -> float:
    return abs(GEOD.geometry_area_perimeter(geom)[0])


@pytest.fixture
def ops(tmp_path: Path) -> ZoneSet:
    write_geojson(tmp_path, "a.geojson", SQ_A)
    write_geojson(tmp_path, "b.geojson", SQ_B)
    write_geojson(tmp_path, "p.geojson", Point(30.35, 50.25))
    write_geojson(tmp_path, "l.geojson", LineString([(30.0, 50.6), (30.6, 50.6)]))
    zones = """\
zones:
  a: {file: a.geojson}
  b: {file: b.geojson}
  p: {file: p.geojson}
  l: {file: l.geojson}
  u: {union: [a, b]}
  d: {difference: [a, b]}
  i: {intersection: [a, b]}
  circle: {buffer: {zone: p, km: 10}}
  sausage: {buffer: {zone: l, km: 5}}
  z: {band: {line: l, side: u, from_km: 5, to_km: 20}}
"""
    return build_zones(load_agreement(write_agreement(tmp_path, zones)))


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("u", lambda: geodesic_area(SQ_A.union(SQ_B))),
        ("d", lambda: geodesic_area(SQ_A.difference(SQ_B))),
        ("i", lambda: geodesic_area(SQ_A.intersection(SQ_B))),
        ("circle", lambda: np.pi * 10_000.0**2),
        (
            "sausage",
            lambda: 2 * 5_000.0 * GEOD.line_length([30.0, 30.6], [50.6, 50.6]) + np.pi * 5_000.0**2,
        ),
    ],
)
def test_set_operations_and_buffers_have_the_geodesic_area(
    ops: ZoneSet, zone: str, expected: Callable[[], float]
) -> None:
    got = geodesic_area(ops.wgs84(zone))
    assert got == pytest.approx(expected(), rel=0.005)


def test_buffer_polygon_error_is_below_half_a_permille(ops: ZoneSet) -> None:
    assert 1 - np.cos(np.pi / (4 * QUAD_SEGS)) < 0.0005
    centre = ops.geoms["p"]
    radii = shapely.distance(centre, shapely.points(shapely.get_coordinates(ops.geoms["circle"])))
    assert np.allclose(radii, 10_000.0, rtol=1e-9)  # vertices on the circle, chords inside


def test_band_with_inner_cut(ops: ZoneSet) -> None:
    lon, lat = np.array([30.3, 30.3, 30.3]), np.array([50.59, 50.50, 50.30])  # ~1, 11, 33 km
    inside = ops.contains("z", *ops.project(lon, lat))
    assert inside.tolist() == [False, True, False]


def test_contains_counts_the_boundary_and_rejects_nan(ops: ZoneSet) -> None:
    vx, vy = shapely.get_coordinates(ops.geoms["a"])[0]  # a corner: on the boundary
    assert ops.contains("a", np.array([vx]), np.array([vy])).tolist() == [True]
    assert ops.distance_to_boundary_m("a", np.array([vx]), np.array([vy]))[0] < 1e-6
    assert ops.contains("a", np.array([np.nan]), np.array([vy])).tolist() == [False]
    assert np.isnan(ops.distance_to_boundary_m("a", np.array([np.nan]), np.array([vy]))).all()


# --------------------------------------------------------------------------- errors


def line_of(path: Path, key: str) -> int:
    lines = path.read_text().splitlines()
    return next(i for i, text in enumerate(lines, 1) if text.startswith(f"  {key}:"))


def raises_at(path: Path, field: str, zone: str, message: str) -> InputError:
    with pytest.raises(InputError) as info:
        load_agreement(path)
    text = str(info.value)
    assert re.search(
        rf"{re.escape(str(path))}:{line_of(path, zone)}:\d+: {re.escape(field)}: ", text
    ), text
    assert message in text, text
    return info.value


def test_missing_file_names_the_resolved_path(tmp_path: Path) -> None:
    path = write_agreement(tmp_path, "zones:\n  z: {file: nowhere.geojson}\n")
    raises_at(
        path, "zones.z.file", "z", f"file not found (file {tmp_path.resolve()}/nowhere.geojson)"
    )


def test_bad_geojson(tmp_path: Path) -> None:
    (tmp_path / "x.geojson").write_text("{not json")
    (tmp_path / "y.geojson").write_text('{"hello": 1}')
    zones = "zones:\n  x: {file: x.geojson}\n  y: {file: y.geojson}\n  z: {union: [x, y]}\n"
    path = write_agreement(tmp_path, zones)
    err = raises_at(path, "zones.x.file", "x", "not a JSON file")
    assert len(err.problems) == 2  # both files are reported, the union is not blamed
    raises_at(path, "zones.y.file", "y", "not GeoJSON")


def test_where_matching_nothing_lists_the_values(tmp_path: Path) -> None:
    write_geojson(tmp_path, "o.geojson", SQ_A, SQ_B, props=[{"name": "A"}, {"name": "B"}])
    zones = (
        "zones:\n  z: {file: o.geojson, where: {name: C}}\n  k: {file: o.geojson, where: {name: B}}"
    )
    zones += "\n"
    path = write_agreement(tmp_path, zones)
    raises_at(
        path,
        "zones.z.where",
        "z",
        "no feature matches {'name': 'C'} (values in the file: name: 'A', 'B')",
    )


def test_band_line_must_be_lineal(tmp_path: Path) -> None:
    write_geojson(tmp_path, "a.geojson", SQ_A)
    zones = "zones:\n  a: {file: a.geojson}\n  z: {band: {line: a, side: a, to_km: 5}}\n"
    path = write_agreement(tmp_path, zones)
    raises_at(
        path,
        "zones.z.band.line",
        "z",
        "zone 'a' must be a line (LineString/MultiLineString), but it is a Polygon",
    )


def test_difference_inputs_must_be_polygonal(tmp_path: Path) -> None:
    write_geojson(tmp_path, "a.geojson", SQ_A)
    write_geojson(tmp_path, "l.geojson", LineString([(30.0, 50.0), (31.0, 51.0)]))
    zones = "zones:\n  a: {file: a.geojson}\n  l: {file: l.geojson}\n  z: {difference: [a, l]}\n"
    path = write_agreement(tmp_path, zones)
    raises_at(path, "zones.z.difference[1]", "z", "zone 'l' must be polygonal")


def test_invalid_polygon_says_why_and_where(tmp_path: Path) -> None:
    bowtie = Polygon([(30.0, 50.0), (31.0, 51.0), (31.0, 50.0), (30.0, 51.0), (30.0, 50.0)])
    write_geojson(tmp_path, "bow.geojson", bowtie)
    path = write_agreement(tmp_path, "zones:\n  z: {file: bow.geojson}\n")
    raises_at(path, "zones.z.file", "z", "invalid geometry in ")
    raises_at(path, "zones.z.file", "z", "Self-intersection[30.5 50.5]")


def test_empty_derived_zone(tmp_path: Path) -> None:
    write_geojson(tmp_path, "a.geojson", SQ_A)
    write_geojson(tmp_path, "c.geojson", box(35.0, 45.0, 35.1, 45.1))
    zones = "zones:\n  a: {file: a.geojson}\n  c: {file: c.geojson}\n  z: {intersection: [a, c]}\n"
    path = write_agreement(tmp_path, zones)
    raises_at(path, "zones.z.intersection", "z", "zone z is empty")


def test_crs_must_be_projected_in_metres(tmp_path: Path) -> None:
    write_geojson(tmp_path, "a.geojson", SQ_A)
    path = write_agreement(tmp_path, "zones:\n  z: {file: a.geojson}\n", extra="crs: EPSG:4326\n")
    with pytest.raises(InputError, match=r"crs: CRS 'WGS 84' must be projected with metre units"):
        load_agreement(path)
    path = write_agreement(tmp_path, "zones:\n  z: {file: a.geojson}\n", extra="crs: EPSG:32636\n")
    zs = build_zones(load_agreement(path))
    assert "UTM zone 36N" in zs.crs_description and zs.max_scale_error < 0.001


# --------------------------------------------------------------------------- Minsk II geometry


@pytest.mark.parametrize(
    ("town", "lon", "lat", "in_ngca"),
    [
        ("Donetsk", 37.80, 48.00, True),
        ("Luhansk", 39.31, 48.57, True),
        ("Horlivka", 38.05, 48.30, True),
        ("Debaltseve", 38.41, 48.34, True),
        ("Kramatorsk", 37.56, 48.74, False),
        ("Mariupol", 37.55, 47.10, False),
        ("Sievierodonetsk", 38.49, 48.95, False),
        ("Avdiivka", 37.75, 48.14, False),
    ],
)
def test_ngca_towns(minsk: ZoneSet, town: str, lon: float, lat: float, in_ngca: bool) -> None:
    x, y = minsk.project(np.array([lon]), np.array([lat]))
    assert minsk.contains("ngca", x, y)[0] == in_ngca, town
    assert minsk.contains("gov", x, y)[0] != in_ngca, town


def test_gov_side_has_no_slivers_along_the_ngca(minsk: ZoneSet) -> None:
    gov, mainland, ngca = (minsk.geoms[z] for z in ("gov", "mainland", "ngca"))
    # The cut adds no piece (a sliver would be one) and loses no area.
    assert len(shapely.get_parts(gov)) == len(shapely.get_parts(mainland))
    assert gov.area + ngca.area == pytest.approx(mainland.area, rel=1e-7)
    assert geodesic_area(minsk.wgs84("ngca")) / 1e6 == pytest.approx(17_800, rel=0.05)


def test_build_zones_is_cached_by_hash(tmp_path: Path) -> None:
    ag: Agreement = load_agreement(write_agreement(tmp_path, MINSK_ZONES, zone="band_0_25"))
    assert build_zones(ag) is build_zones(ag)
