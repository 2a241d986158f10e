"""Geometry for agreements: zones from GeoJSON, bands, buffers and set operations, in metres.

    >>> from detente.agreement import load_agreement
    >>> ag = load_agreement("examples/minsk2/agreement.yaml")            # doctest: +SKIP
    >>> zs = build_zones(ag)                                             # doctest: +SKIP
    >>> x, y = zs.project(np.array([37.80]), np.array([48.00]))          # doctest: +SKIP
    >>> zs.contains("ngca", x, y), zs.distance_to_boundary_m("ngca", x, y)  # doctest: +SKIP
    (array([ True]), array([9932.4]))

**Projection.** Every zone is built and queried in one projected CRS. With ``crs: auto`` that is a
transverse Mercator (:func:`local_crs`) fitted to the *metric extent*: the region where distances
matter, i.e. the bounds of every ``band`` line and ``buffer`` input grown by their width (or, when
an agreement has neither, the bounds of all its file zones). Fitting to the metric extent rather
than to every file keeps the scale error small when a zone such as "Ukraine without Crimea" is
much wider than the bands drawn in it: membership in a polygon does not depend on scale, distances
do. The scale factor k0 splits the error +/- over the extent, so a distance measured inside it is
within ``max_scale_error`` (relative) of the geodesic distance; for the Minsk II zones (bands up
to 140 km from the Donbas contact line) that is about 0.04 %.

**Buffers** use 32 segments per quarter circle (``quad_segs=32``). The polygon is inscribed in
the true circle, so a buffer is at most ``1 - cos(pi / 128)`` = 0.030 % of its radius too small
(3 m for a 10 km buffer, 15 m for 50 km); with 16 segments it would be 0.12 %.

**Membership** counts the boundary as inside (``shapely.intersects_xy`` on prepared geometry).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyproj
import shapely
from pyproj.crs import ProjectedCRS
from pyproj.crs.coordinate_operation import TransverseMercatorConversion
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from detente._zonegrid import DistanceField, ZoneGrid
from detente.agreement import Agreement, ZoneSpec
from detente.errors import InputError, Problem

__all__ = ["ZoneSet", "build_zones", "local_crs"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Bounds = tuple[float, float, float, float]  # lon_min, lat_min, lon_max, lat_max
Loc = tuple[str | int, ...]

QUAD_SEGS = 32  # inscribed polygon: radius error <= 1 - cos(pi / (4 * 32)) = 0.030 %
_GRID = 21  # samples per axis when measuring the scale error over an extent
_LINEAL = ("LineString", "MultiLineString", "LinearRing")
_POLYGONAL = ("Polygon", "MultiPolygon")
_WGS84 = pyproj.CRS.from_epsg(4326)
_SEGMENT_KERNEL_MAX = 4096  # vertices: lines up to this size are measured in NumPy
_BLOCK = 1024  # neighbouring points measured together
_BRUTE_PAIRS = 1 << 17  # point-segment pairs measured without blocks
_CACHE: dict[str, ZoneSet] = {}
_CACHE_SIZE = 16


# --------------------------------------------------------------------------- CRS


def local_crs(
    lon_min: float, lat_min: float, lon_max: float, lat_max: float
) -> tuple[pyproj.CRS, str, float]:
    """A transverse Mercator fitted to an extent: (crs, description, max relative scale error).

    Centred on the extent's central meridian and middle latitude; the scale factor k0 < 1 makes
    the scale error equal and opposite on the central meridian and at the extent's edges.

    >>> crs, text, err = local_crs(37.0, 47.0, 40.0, 49.0)
    >>> crs.is_projected, f"{err:.5f}", text.split(" (")[0]
    (True, '0.00008', 'transverse Mercator lon_0=38.50 lat_0=48.00 k0=0.99992005')
    """
    lon0 = round((lon_min + lon_max) / 2, 2)
    lat0 = round((lat_min + lat_max) / 2, 2)
    bounds = (lon_min, lat_min, lon_max, lat_max)
    k_edge = 1.0 + _scale_error(_tmerc(lon0, lat0, 1.0), bounds)
    k0 = round(2.0 / (1.0 + k_edge), 8)
    crs = _tmerc(lon0, lat0, k0)
    error = _scale_error(crs, bounds)
    text = (
        f"transverse Mercator lon_0={lon0:.2f} lat_0={lat0:.2f} k0={k0:.8f} "
        f"(max scale error {error * 100:.3f} % over lon {lon_min:.2f}..{lon_max:.2f}, "
        f"lat {lat_min:.2f}..{lat_max:.2f})"
    )
    return crs, text, error


def _tmerc(lon0: float, lat0: float, k0: float) -> pyproj.CRS:
    conversion = TransverseMercatorConversion(
        latitude_natural_origin=lat0,
        longitude_natural_origin=lon0,
        scale_factor_natural_origin=k0,
    )
    name = f"Detente local transverse Mercator lon_0={lon0} lat_0={lat0} k0={k0}"
    return ProjectedCRS(conversion=conversion, name=name, geodetic_crs=_WGS84)


def _scale_error(crs: pyproj.CRS, bounds: Bounds) -> float:
    """Largest |scale - 1| in any direction (Tissot's axes) on a grid over ``bounds``."""
    lon, lat = np.meshgrid(
        np.linspace(bounds[0], bounds[2], _GRID), np.linspace(bounds[1], bounds[3], _GRID)
    )
    factors = pyproj.Proj(crs).get_factors(lon.ravel(), lat.ravel())
    axes = np.concatenate([factors.tissot_semimajor, factors.tissot_semiminor])
    finite = axes[np.isfinite(axes)]
    return float(np.abs(finite - 1.0).max()) if finite.size else float("inf")


# --------------------------------------------------------------------------- ZoneSet


@dataclass(frozen=True)
class ZoneSet:
    """Every zone of an agreement, projected to metres and ready for vectorised queries.

    >>> zs = build_zones(agreement)                                   # doctest: +SKIP
    >>> x, y = zs.project(lon, lat)                                   # doctest: +SKIP
    >>> inside = zs.contains("band_gov_25", x, y)                     # doctest: +SKIP
    """

    crs: pyproj.CRS
    crs_description: str
    max_scale_error: float
    geoms: dict[str, BaseGeometry]
    extent: Bounds = (-180.0, -90.0, 180.0, 90.0)  # lon/lat where max_scale_error holds
    _wgs84: dict[str, BaseGeometry] = field(default_factory=dict, repr=False, compare=False)
    _edges: dict[str, shapely.STRtree] = field(default_factory=dict, repr=False, compare=False)
    _grids: dict[tuple[str, ...], ZoneGrid] = field(default_factory=dict, repr=False, compare=False)
    _fields: dict[str, DistanceField] = field(default_factory=dict, repr=False, compare=False)
    _local: threading.local = field(default_factory=threading.local, repr=False, compare=False)
    _segs: dict[str, npt.NDArray[np.float64]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @property
    def _forward(self) -> pyproj.Transformer:
        return self._transformer("forward")

    @property
    def _inverse(self) -> pyproj.Transformer:
        return self._transformer("inverse")

    def _transformer(self, direction: str) -> pyproj.Transformer:
        """One transformer per thread and direction: a pyproj transformer shared between
        threads gives wrong coordinates when both use it at once."""
        made: dict[str, pyproj.Transformer] = self._local.__dict__.setdefault("made", {})
        if direction not in made:
            src, dst = (_WGS84, self.crs) if direction == "forward" else (self.crs, _WGS84)
            made[direction] = pyproj.Transformer.from_crs(src, dst, always_xy=True)
        return made[direction]

    def project(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Lon/lat degrees (WGS84) to x/y metres in :attr:`crs`, vectorised.

        >>> x, y = zs.project(np.array([37.8]), np.array([48.0]))     # doctest: +SKIP
        """
        x, y = self._forward.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        return np.asarray(x, dtype=float), np.asarray(y, dtype=float)

    def to_lonlat(self, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """x/y metres in :attr:`crs` back to lon/lat degrees, vectorised."""
        lon, lat = self._inverse.transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)

    def grid(self, zone_ids: Iterable[str]) -> ZoneGrid:
        """A :class:`~detente._zonegrid.ZoneGrid` for these zones, built once and kept.

        >>> inside, edge = zs.grid(["ngca"]).lookup(lon, lat)        # doctest: +SKIP
        """
        key = tuple(dict.fromkeys(zone_ids))
        if key not in self._grids:
            self._grids[key] = ZoneGrid.build(self, key)
        return self._grids[key]

    def distance_field(self, zone_id: str) -> DistanceField:
        """Bounds on distances to a zone or line, about 1 km cells, built once and kept."""
        if zone_id not in self._fields:
            self._fields[zone_id] = DistanceField.build(self, zone_id)
        return self._fields[zone_id]

    def contains(self, zone_id: str, x: npt.ArrayLike, y: npt.ArrayLike) -> BoolArray:
        """Whether each projected point lies in the zone; the boundary counts as inside.

        NaN coordinates are never inside.

        >>> zs.contains("ngca", *zs.project([37.8], [48.0]))           # doctest: +SKIP
        array([ True])
        """
        inside = shapely.intersects_xy(
            self.geoms[zone_id], np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        )
        return np.asarray(inside, dtype=bool)

    def distance_to_boundary_m(
        self, zone_id: str, x: npt.ArrayLike, y: npt.ArrayLike
    ) -> FloatArray:
        """Metres from each projected point to the zone's edge (to the line itself if lineal).

        The same for points inside and outside; combine with :meth:`contains` for a signed
        distance. Uses a spatial index over the edge's segments; NaN for NaN coordinates.

        >>> zs.distance_to_boundary_m("contact_line", *zs.project([37.8], [48.0]))  # doctest: +SKIP
        array([9932.4])
        """
        xs, ys = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        out = np.full(xs.shape, np.nan)
        ok = np.isfinite(xs) & np.isfinite(ys)
        tree = self._edge_tree(zone_id)
        if ok.any() and len(tree) > 0:
            points = shapely.points(xs[ok], ys[ok])
            (index, _), dist = tree.query_nearest(points, return_distance=True, all_matches=False)
            found = np.full(points.shape, np.nan)
            found[index] = dist
            out[ok] = found
        return out

    def distance_m(self, zone_id: str, x: npt.ArrayLike, y: npt.ArrayLike) -> FloatArray:
        """Metres from each projected point to the zone (0 inside a polygon), vectorised.

        For a line of a few hundred segments (a line of contact), the distance to every segment
        is computed in NumPy, which is several times faster than building point geometries;
        otherwise shapely measures it. Either way the result is exact to rounding.

        >>> zs.distance_m("contact_line", *zs.project([37.8], [48.0]))  # doctest: +SKIP
        array([9932.4])
        """
        geom = self.geoms[zone_id]
        xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        if geom.geom_type in _LINEAL and shapely.get_num_coordinates(geom) <= _SEGMENT_KERNEL_MAX:
            if zone_id not in self._segs:
                self._segs[zone_id] = _segments_xy(geom)
            return _distance_to_segments(self._segs[zone_id], xs, ys)
        return np.asarray(shapely.distance(geom, shapely.points(xs, ys)), dtype=float)

    def wgs84(self, zone_id: str) -> BaseGeometry:
        """The zone back in lon/lat degrees (for maps and GeoJSON output), cached.

        >>> zs.wgs84("ngca").bounds                                     # doctest: +SKIP
        """
        if zone_id not in self._wgs84:
            self._wgs84[zone_id] = _transform(self.geoms[zone_id], self._inverse)
        return self._wgs84[zone_id]

    def _edge_tree(self, zone_id: str) -> shapely.STRtree:
        if zone_id not in self._edges:
            self._edges[zone_id] = shapely.STRtree(_segments(self.geoms[zone_id]))
        return self._edges[zone_id]


def _segments(geom: BaseGeometry) -> npt.NDArray[np.object_]:
    """The 2-point segments of a geometry's edge: polygons' boundaries, lines themselves."""
    parts = shapely.get_parts(geom)
    polygons = shapely.get_type_id(parts) == 3
    parts[polygons] = shapely.boundary(parts[polygons])
    parts = shapely.get_parts(parts)
    lines = parts[np.isin(shapely.get_type_id(parts), (1, 2))]  # LineString, LinearRing
    if len(lines) == 0:
        return np.asarray(parts, dtype=object)  # points: distance to the points themselves
    coords, which = shapely.get_coordinates(lines, return_index=True)
    same = which[:-1] == which[1:]
    starts, ends = coords[:-1][same], coords[1:][same]
    return np.asarray(shapely.linestrings(np.stack([starts, ends], axis=1)), dtype=object)


def _segments_xy(geom: BaseGeometry) -> npt.NDArray[np.float64]:
    """``(m, 4)`` array of a lineal geometry's segments: x0, y0, x1, y1."""
    coords, which = shapely.get_coordinates(shapely.get_parts(geom), return_index=True)
    same = which[:-1] == which[1:]
    return np.column_stack([coords[:-1][same], coords[1:][same]])


def _distance_to_segments(seg: npt.NDArray[np.float64], x: FloatArray, y: FloatArray) -> FloatArray:
    """Distance from each point to the nearest of the segments.

    Points are taken in blocks of neighbours (sorted along a Z-order curve); for each block only
    the segments that can be nearest to some point of it are measured: a segment whose distance
    to the block's bounding box exceeds another segment's farthest distance from that box
    cannot be nearest. The result is the same as measuring every segment.
    """
    out = np.full(x.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    if len(ok) == 0 or len(seg) == 0:
        return out
    if len(ok) * len(seg) <= _BRUTE_PAIRS:  # few: measuring everything is cheapest
        out[ok] = _point_segment(x[ok], y[ok], seg).min(axis=1)
        return out
    order = ok[np.argsort(_zorder(x[ok], y[ok]), kind="stable")]
    for i in range(0, len(order), _BLOCK):
        rows = order[i : i + _BLOCK]
        bx, by = x[rows], y[rows]
        box = (bx.min(), by.min(), bx.max(), by.max())
        near = seg[_candidates(seg, box)]
        out[rows] = _point_segment(bx, by, near).min(axis=1)
    return out


def _point_segment(
    x: FloatArray, y: FloatArray, seg: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Distances, points × segments."""
    dx, dy = seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1]
    px, py = x[:, None] - seg[:, 0], y[:, None] - seg[:, 1]
    t = np.clip((px * dx + py * dy) / np.maximum(dx * dx + dy * dy, 1e-300), 0.0, 1.0)
    ex, ey = px - t * dx, py - t * dy
    return np.asarray(np.sqrt(ex * ex + ey * ey))


def _candidates(seg: npt.NDArray[np.float64], box: tuple[float, ...]) -> npt.NDArray[np.bool_]:
    """Segments that may be nearest to some point of the box."""
    x0, y0, x1, y1 = box
    # Lower bound: box to the segment's own bounding box.
    gx = np.maximum(0.0, np.maximum(np.minimum(seg[:, 0], seg[:, 2]) - x1,
                                    x0 - np.maximum(seg[:, 0], seg[:, 2])))  # fmt: skip
    gy = np.maximum(0.0, np.maximum(np.minimum(seg[:, 1], seg[:, 3]) - y1,
                                    y0 - np.maximum(seg[:, 1], seg[:, 3])))  # fmt: skip
    lower = np.hypot(gx, gy)
    # Upper bound: distance to a segment is convex, so over the box it peaks at a corner.
    corners_x, corners_y = np.array([x0, x0, x1, x1]), np.array([y0, y1, y0, y1])
    upper = _point_segment(corners_x, corners_y, seg).max(axis=0)
    # The slack keeps a segment whose two bounds are equal but rounded apart.
    return np.asarray(lower <= upper.min() * (1 + 1e-9) + 1e-6)


def _zorder(x: FloatArray, y: FloatArray) -> npt.NDArray[np.uint64]:
    """Z-order (Morton) code of each point on a 2^16 grid over the points' extent."""

    def spread(v: FloatArray) -> npt.NDArray[np.uint64]:
        span = max(float(v.max() - v.min()), 1e-9)
        q: npt.NDArray[np.uint64] = ((v - v.min()) / span * 65535).astype(np.uint64)
        for shift, mask in ((8, 0x00FF00FF), (4, 0x0F0F0F0F), (2, 0x33333333), (1, 0x55555555)):
            q = (q | (q << np.uint64(shift))) & np.uint64(mask)
        return q

    code: npt.NDArray[np.uint64] = spread(x) | (spread(y) << np.uint64(1))
    return code


def _transform(geom: BaseGeometry, transformer: pyproj.Transformer) -> BaseGeometry:
    return shapely.transform(geom, transformer.transform, interleaved=False)


# --------------------------------------------------------------------------- building


def build_zones(agreement: Agreement) -> ZoneSet:
    """Resolve every zone of ``agreement`` into one :class:`ZoneSet`; raise :class:`InputError`.

    Results are cached by :attr:`Agreement.sha256` (the agreement file plus every geometry file).

    >>> from detente.agreement import load_agreement
    >>> zs = build_zones(load_agreement("examples/minsk2/agreement.yaml"))  # doctest: +SKIP
    >>> sorted(zs.geoms)[:3]                                                # doctest: +SKIP
    """
    key = agreement.sha256
    if key and key in _CACHE:
        return _CACHE[key]
    zones = _Builder(agreement).build()
    if key:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = zones
    return zones


class _Builder:
    """One pass over an agreement's zones, collecting every problem before raising."""

    def __init__(self, agreement: Agreement) -> None:
        self.ag = agreement
        self.problems: list[Problem] = []
        self.geoms: dict[str, BaseGeometry] = {}
        self.failed: set[str] = set()

    def fail(self, loc: Loc, message: str) -> None:
        self.problems.append(self.ag.problem(loc, message))
        self.failed.add(str(loc[1]))

    def build(self) -> ZoneSet:
        order = self._order()
        lonlat = {zid: g for zid in order if (g := self._file_zone(zid)) is not None}
        crs_info = self._crs(lonlat)
        if crs_info is None:
            raise InputError(self.problems)
        crs, text, error, extent = crs_info
        self._project(lonlat, crs)
        for zid in order:
            if self.ag.zones[zid].file is None:
                self._derived(zid)
        if self.problems:
            raise InputError(self.problems)
        for geom in self.geoms.values():
            shapely.prepare(geom)
        return ZoneSet(crs, text, error, self.geoms, extent)

    def _order(self) -> list[str]:
        graph = {zid: spec.references() for zid, spec in self.ag.zones.items()}
        try:
            return [z for z in TopologicalSorter(graph).static_order() if z in self.ag.zones]
        except CycleError as exc:
            self.fail(("zones", exc.args[1][0]), "zone is derived from itself (a cycle)")
            raise InputError(self.problems) from exc

    # ------------------------------------------------------------------ files

    def _file_zone(self, zid: str) -> BaseGeometry | None:
        spec = self.ag.zones[zid]
        if spec.file is None:
            return None
        loc: Loc = ("zones", zid, "file")
        path = (self.ag.base_dir / spec.file).resolve()
        try:
            geom = _read_geojson(path, spec.where)
        except _GeoError as exc:
            at = ("zones", zid, "where") if exc.where else loc
            self.fail(at, f"{exc} (file {path})")
            return None
        return self._checked(loc, geom, f"in {path}")

    def _checked(self, loc: Loc, geom: BaseGeometry, where: str) -> BaseGeometry | None:
        if geom.is_empty:
            self.fail(loc, f"zone {loc[1]} is empty ({where})")
            return None
        if not geom.is_valid:
            reason = shapely.is_valid_reason(geom)
            self.fail(loc, f"invalid geometry {where}: {reason} (fix the file, e.g. in QGIS)")
            return None
        return geom

    # ------------------------------------------------------------------ CRS

    def _crs(self, lonlat: dict[str, BaseGeometry]) -> tuple[pyproj.CRS, str, float, Bounds] | None:
        if self.problems and not lonlat:
            return None  # every file failed: nothing to measure
        extent = _metric_extent(self.ag, lonlat)
        if self.ag.crs == "auto":
            crs, text, error = local_crs(*extent)
            return crs, text, error, extent
        try:
            crs = pyproj.CRS.from_user_input(self.ag.crs)
        except pyproj.exceptions.CRSError as exc:
            self.problems.append(self.ag.problem(("crs",), f"unknown CRS: {exc}"))
            return None
        if not _is_metric(crs):
            msg = f"CRS {crs.name!r} must be projected with metre units (or use 'auto')"
            self.problems.append(self.ag.problem(("crs",), msg))
            return None
        error = _scale_error(crs, extent)
        return (
            crs,
            f"{crs.name} (max scale error {error * 100:.3f} % over the zones)",
            error,
            extent,
        )

    def _project(self, lonlat: dict[str, BaseGeometry], crs: pyproj.CRS) -> None:
        forward = pyproj.Transformer.from_crs(_WGS84, crs, always_xy=True)
        for zid, geom in lonlat.items():
            projected = _transform(geom, forward)
            if not np.isfinite(shapely.get_coordinates(projected)).all():
                self.fail(("zones", zid, "file"), f"zone {zid} cannot be projected to {crs.name}")
            elif (
                ok := self._checked(("zones", zid, "file"), projected, "once projected")
            ) is not None:
                self.geoms[zid] = ok

    # ------------------------------------------------------------------ derived

    def _derived(self, zid: str) -> None:
        spec = self.ag.zones[zid]
        if any(ref in self.failed or ref not in self.geoms for ref in spec.references()):
            self.failed.add(zid)  # the cause is reported where it happened
            return
        geom = _DERIVE[spec.form](self, zid, spec)
        if geom is not None:
            self._store(zid, spec.form, geom)

    def _store(self, zid: str, form: str, geom: BaseGeometry) -> None:
        loc: Loc = ("zones", zid, form)
        if geom.is_empty:
            self.fail(loc, f"zone {zid} is empty (check the inputs and distances of this {form})")
            return
        if not geom.is_valid:
            geom = shapely.make_valid(geom)  # floating-point slivers of set operations
        self.geoms[zid] = geom

    def _need(self, loc: Loc, ref: str, kinds: tuple[str, ...], what: str) -> BaseGeometry | None:
        geom = self.geoms[ref]
        if geom.geom_type in kinds:
            return geom
        self.fail(loc, f"zone {ref!r} must be {what}, but it is a {geom.geom_type}")
        return None

    def _band(self, zid: str, spec: ZoneSpec) -> BaseGeometry | None:
        band = spec.band
        assert band is not None
        at: Loc = ("zones", zid, "band")
        line = self._need((*at, "line"), band.line, _LINEAL, "a line (LineString/MultiLineString)")
        side = self._need((*at, "side"), band.side, _POLYGONAL, "polygonal (Polygon/MultiPolygon)")
        if line is None or side is None:
            return None
        ring = _buffer(line, band.to_km)
        if band.from_km > 0:
            ring = shapely.difference(ring, _buffer(line, band.from_km))
        return _polygonal(shapely.intersection(ring, side))

    def _buffer(self, zid: str, spec: ZoneSpec) -> BaseGeometry:
        assert spec.buffer is not None
        return _buffer(self.geoms[spec.buffer.zone], spec.buffer.km)

    def _setop(self, zid: str, spec: ZoneSpec) -> BaseGeometry | None:
        refs = spec.union or spec.difference or spec.intersection or []
        if spec.union is not None:
            return shapely.union_all([self.geoms[r] for r in refs])
        form = spec.form
        inputs = [
            self._need(("zones", zid, form, i), ref, _POLYGONAL, "polygonal")
            for i, ref in enumerate(refs)
        ]
        if any(g is None for g in inputs):
            return None
        if spec.difference is not None:
            return _polygonal(shapely.difference(inputs[0], shapely.union_all(inputs[1:])))
        return _polygonal(shapely.intersection_all(inputs))


_DERIVE: dict[str, Callable[[_Builder, str, ZoneSpec], BaseGeometry | None]] = {
    "band": _Builder._band,
    "buffer": _Builder._buffer,
    "union": _Builder._setop,
    "difference": _Builder._setop,
    "intersection": _Builder._setop,
}


def _buffer(geom: BaseGeometry, km: float) -> BaseGeometry:
    return shapely.buffer(geom, km * 1000.0, quad_segs=QUAD_SEGS)


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    """Only the polygons of a set operation's result (drops touching lines and points)."""
    if geom.geom_type in _POLYGONAL or geom.is_empty:
        return geom
    parts = shapely.get_parts(geom)
    return shapely.union_all(parts[np.isin(shapely.get_type_id(parts), (3, 6))])


def _is_metric(crs: pyproj.CRS) -> bool:
    units = {axis.unit_name for axis in crs.axis_info}
    return bool(crs.is_projected) and units <= {"metre", "meter"}


# --------------------------------------------------------------------------- GeoJSON


class _GeoError(ValueError):
    """A problem with a GeoJSON file; ``where`` when it is the filter that matched nothing."""

    def __init__(self, message: str, *, where: bool = False) -> None:
        super().__init__(message)
        self.where = where


_LONLAT_CRS = ("CRS84", "4326", "CRS:84")


def _read_geojson(path: Path, where: dict[str, str | int | float] | None) -> BaseGeometry:
    """The union of the (matching) features of a GeoJSON file, in lon/lat."""
    if not path.is_file():
        raise _GeoError("file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _GeoError(f"not a JSON file: {exc}") from exc
    if not isinstance(data, dict) or "type" not in data:
        raise _GeoError("not GeoJSON: expected an object with a 'type'")
    _check_crs_member(data)
    features = _features(data)
    if where:
        features = [f for f in features if _matches(f, where)]
        if not features:
            raise _GeoError(f"no feature matches {where}{_seen(data, where)}", where=True)
    geoms = [_geometry(f, i) for i, f in enumerate(features) if f.get("geometry") is not None]
    if not geoms:
        raise _GeoError("the file has no geometry")
    _check_lonlat(geoms)
    return shapely.union_all(geoms) if len(geoms) > 1 else geoms[0]


def _features(data: dict[str, Any]) -> list[dict[str, Any]]:
    kind = data["type"]
    if kind == "FeatureCollection":
        feats = data.get("features")
        if not isinstance(feats, list) or not all(isinstance(f, dict) for f in feats):
            raise _GeoError("not GeoJSON: 'features' must be a list of Feature objects")
        return feats
    if kind == "Feature":
        return [data]
    return [{"type": "Feature", "properties": {}, "geometry": data}]


def _geometry(feature: dict[str, Any], index: int) -> BaseGeometry:
    try:
        return shape(feature["geometry"])
    except Exception as exc:  # shapely raises many kinds for malformed input
        raise _GeoError(f"not GeoJSON: feature {index} has a bad geometry ({exc})") from exc


def _matches(feature: dict[str, Any], where: dict[str, str | int | float]) -> bool:
    props = feature.get("properties") or {}
    return all(props.get(key) == value for key, value in where.items())


def _seen(data: dict[str, Any], where: dict[str, str | int | float]) -> str:
    """A hint listing the values the filtered properties do take."""
    props = [f.get("properties") or {} for f in _features(data)]
    hints = []
    for key in where:
        values = sorted({repr(p[key]) for p in props if key in p})
        shown = ", ".join(values[:8]) + (", ..." if len(values) > 8 else "")
        hints.append(f"{key}: {shown}" if values else f"no feature has {key!r}")
    return f" (values in the file: {'; '.join(hints)})"


def _check_crs_member(data: dict[str, Any]) -> None:
    name = str(((data.get("crs") or {}).get("properties") or {}).get("name", "CRS84"))
    if not name.upper().endswith(_LONLAT_CRS):
        raise _GeoError(f"GeoJSON must be in lon/lat WGS84 (RFC 7946); the file declares {name}")


def _check_lonlat(geoms: Iterable[BaseGeometry]) -> None:
    xy = shapely.get_coordinates(list(geoms))
    if len(xy) and (np.abs(xy[:, 0]).max() > 180 or np.abs(xy[:, 1]).max() > 90):
        raise _GeoError("coordinates are not lon/lat degrees (RFC 7946 GeoJSON is WGS84)")


# --------------------------------------------------------------------------- extent


def _metric_extent(ag: Agreement, lonlat: dict[str, BaseGeometry]) -> Bounds:
    """Lon/lat bounds of the region where distances are measured (see the module docstring)."""
    bounds: dict[str, Bounds | None] = {zid: tuple(g.bounds) for zid, g in lonlat.items()}
    for zid, spec in ag.zones.items():
        _zone_bounds(ag, zid, spec, bounds)
    metric = [bounds[z] for z, s in ag.zones.items() if s.band is not None or s.buffer is not None]
    chosen = [b for b in metric if b is not None] or [b for b in bounds.values() if b is not None]
    if not chosen:
        return (0.0, 0.0, 0.0, 0.0)  # no zones: any CRS will do
    return _merge(chosen)


def _zone_bounds(ag: Agreement, zid: str, spec: ZoneSpec, memo: dict[str, Bounds | None]) -> None:
    """Rough lon/lat bounds of a derived zone, from those of its inputs (memoised)."""
    if zid in memo:
        return
    memo[zid] = None  # guards against cycles
    for ref in spec.references():
        if ref in ag.zones:
            _zone_bounds(ag, ref, ag.zones[ref], memo)
    inputs = [b for r in spec.references() if (b := memo.get(r)) is not None]
    if not inputs:
        return
    if spec.band is not None and memo.get(spec.band.line) is not None:
        memo[zid] = _grow(memo[spec.band.line], spec.band.to_km)  # type: ignore[arg-type]
    elif spec.buffer is not None:
        memo[zid] = _grow(inputs[0], spec.buffer.km)
    elif spec.difference is not None:
        memo[zid] = memo.get(spec.difference[0])
    else:
        memo[zid] = _merge(inputs)


def _grow(b: Bounds, km: float) -> Bounds:
    dlat = km / 110.574
    lat_min, lat_max = max(b[1] - dlat, -90.0), min(b[3] + dlat, 90.0)
    coslat = max(np.cos(np.radians(max(abs(lat_min), abs(lat_max)))), 0.01)
    dlon = km / (111.320 * coslat)
    return (b[0] - dlon, lat_min, b[2] + dlon, lat_max)


def _merge(boxes: list[Bounds]) -> Bounds:
    arr = np.asarray(boxes, dtype=float)
    lo, hi = arr[:, :2].min(axis=0), arr[:, 2:].max(axis=0)
    return (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
