"""A lon/lat grid that answers "which zones is this point in?" for millions of points at once.

    >>> grid = ZoneGrid.build(zones, ["band_gov_25", "donbas"])      # doctest: +SKIP
    >>> words = grid.lookup(lon, lat)                                 # doctest: +SKIP
    >>> grid.inside("donbas", words), grid.edge("donbas", words)      # doctest: +SKIP

Testing a point against a polygon with thousands of vertices costs far more than reading one
cell of an array. Each cell of the grid records, per zone (one bit each), whether the cell lies
wholly inside the zone, wholly outside it, or near its edge. Only points in edge cells need the
exact test (:meth:`ZoneSet.contains` on projected coordinates), so the answer is the same as the
exact test for every point, and the grid only decides how much work it takes.

Why it is exact: the zone's edge, densified along its straight segments in the projected CRS to
a spacing far below the cell size, is carried back to lon/lat; the cells holding those vertices
and their eight neighbours are the *edge cells*. No point of the edge can lie in any other cell
(it is within half a spacing of a vertex). The remaining cells fall into connected regions that
the edge does not cross, so one exact test of one cell centre decides each whole region.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import shapely
from scipy import ndimage

from detente._threads import parallel_map

if TYPE_CHECKING:
    from detente.zones import ZoneSet

#: Cells along the longer side of the grid (about 200 m for the Minsk II bands).
CELLS = 2048
#: The edge is densified to this fraction of a cell before it is carried to lon/lat.
_SPACING = 0.25
_METRES_PER_DEGREE = 111_320.0
MAX_ZONES = 32  # two bits per zone in at most a uint64 word
_WORDS = (np.uint8, np.uint16, np.uint32, np.uint64)
_CHUNK = 1 << 18


@dataclass(frozen=True)
class LonLatCells:
    """A regular lon/lat grid: ``nx`` × ``ny`` cells from (``lon0``, ``lat0``)."""

    lon0: float
    lat0: float
    cell_lon: float
    cell_lat: float
    nx: int
    ny: int

    def cells_of(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Cell number of each point, ``-1`` outside the grid (or for NaN coordinates)."""
        fx = (np.asarray(lon, dtype=float) - self.lon0) * (1.0 / self.cell_lon)
        fy = (np.asarray(lat, dtype=float) - self.lat0) * (1.0 / self.cell_lat)
        ok = (fx >= 0) & (fx < self.nx) & (fy >= 0) & (fy < self.ny)  # False for NaN
        fx[~ok] = 0  # NaN and far-away values must not reach the integer cast
        fy[~ok] = 0
        # Truncation is floor here: only non-negative values are left.
        cell = fy.astype(np.int64) * self.nx + fx.astype(np.int64)
        cell[~ok] = -1
        return cell


@dataclass(frozen=True)
class ZoneGrid(LonLatCells):
    """Per cell, one word: bit k set if the cell lies wholly in zone k, bit ``half + k`` if the
    cell is near zone k's edge (``half``: half the word's width)."""

    zone_ids: tuple[str, ...]
    words: npt.NDArray[np.unsignedinteger]  # shape (ny * nx,)

    @classmethod
    def build(cls, zones: ZoneSet, zone_ids: Sequence[str], cells: int = CELLS) -> ZoneGrid:
        """The grid for ``zone_ids`` over their joint lon/lat extent."""
        ids = tuple(dict.fromkeys(zone_ids))
        if not 0 < len(ids) <= MAX_ZONES:
            raise ValueError(f"a zone grid holds 1 to {MAX_ZONES} zones, not {len(ids)}")
        lonlat = {z: _edge_lonlat(zones, z, cells) for z in ids}
        points = [c for c in lonlat.values() if len(c)] or [np.zeros((1, 2))]
        lon0, lat0, cell_lon, cell_lat, nx, ny = _frame(np.concatenate(points), cells)
        # The narrowest word with two bits per zone keeps the cell array small enough to cache.
        word = next(t for t in _WORDS if 2 * len(ids) <= 8 * np.dtype(t).itemsize)
        words: Any = np.zeros(ny * nx, dtype=word)  # one unsigned width or another
        grid = cls(lon0, lat0, cell_lon, cell_lat, nx, ny, zone_ids=ids, words=words)
        half = 4 * words.itemsize
        for bit, zone_id in enumerate(ids):
            edge, inside = grid._classify(zones, zone_id, lonlat[zone_id])
            flags: Any = (inside.ravel().astype(word), edge.ravel().astype(word))
            words |= (flags[0] << word(bit)) | (flags[1] << word(half + bit))
        return grid

    def inside(self, zone_id: str, words: npt.NDArray[np.unsignedinteger]) -> npt.NDArray[np.bool_]:
        """Whether each point (by its word from :meth:`lookup`) lies surely inside the zone."""
        return self._bit(words, self.zone_ids.index(zone_id))

    def edge(self, zone_id: str, words: npt.NDArray[np.unsignedinteger]) -> npt.NDArray[np.bool_]:
        """Whether each point lies in a cell near the zone's edge (needs the exact test)."""
        return self._bit(words, 4 * self.words.itemsize + self.zone_ids.index(zone_id))

    def lookup(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> npt.NDArray[np.unsignedinteger]:
        """The word of each point's cell (0 outside the grid), in chunks on every core: the
        arithmetic is memory-bound, and chunks that fit in cache halve its cost."""
        lon_a, lat_a = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
        out = np.empty(lon_a.shape, dtype=self.words.dtype)
        spans = [slice(i, i + _CHUNK) for i in range(0, len(lon_a), _CHUNK)]

        def work(span: slice) -> None:
            cell = self.cells_of(lon_a[span], lat_a[span])
            found = self.words[np.maximum(cell, 0)]
            found[cell < 0] = 0
            out[span] = found

        parallel_map(work, spans)
        return out

    @staticmethod
    def _bit(words: npt.NDArray[np.unsignedinteger], k: int) -> npt.NDArray[np.bool_]:
        return np.asarray(np.bitwise_and(words, words.dtype.type(1 << k)) != 0)

    def _centres(self, cells: npt.NDArray[np.int64]) -> tuple[np.ndarray, np.ndarray]:
        iy, ix = np.divmod(cells, self.nx)
        return self.lon0 + (ix + 0.5) * self.cell_lon, self.lat0 + (iy + 0.5) * self.cell_lat

    def _classify(
        self, zones: ZoneSet, zone_id: str, lonlat: np.ndarray
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """``(edge, inside)`` cell masks of one zone, each of shape ``(ny, nx)``."""
        marked = np.zeros((self.ny, self.nx), dtype=bool)
        if len(lonlat):
            cells = self.cells_of(lonlat[:, 0], lonlat[:, 1])
            marked.ravel()[cells[cells >= 0]] = True
        edge = ndimage.binary_dilation(marked, structure=np.ones((3, 3), dtype=bool))
        # Regions of cells the edge does not touch (4-connected: a path between the centres of
        # side-by-side cells stays inside those two cells, so it cannot cross the edge).
        regions, count = ndimage.label(~edge)
        inside = np.zeros((self.ny, self.nx), dtype=bool)
        if count:
            # One cell of each region: whichever write lands last, it is a cell of that region.
            flat = regions.ravel()
            sample = np.zeros(count + 1, dtype=np.int64)
            sample[flat] = np.arange(flat.size)
            lon, lat = self._centres(sample[1:])
            verdict = np.zeros(count + 1, dtype=bool)
            verdict[1:] = zones.contains(zone_id, *zones.project(lon, lat))
            inside = verdict[regions]  # region 0 is the edge itself: False
        return edge, inside


def _edge_lonlat(zones: ZoneSet, zone_id: str, cells: int) -> np.ndarray:
    """The zone's edge as densely spaced lon/lat vertices (``(n, 2)``)."""
    geom = zones.geoms[zone_id]
    parts = shapely.get_parts(geom)
    polygonal = np.isin(shapely.get_type_id(parts), (3, 6))
    parts[polygonal] = shapely.boundary(parts[polygonal])
    coarse = shapely.get_coordinates(parts)
    if len(coarse) == 0:
        return np.zeros((0, 2))
    # The spacing follows from the zone's own size and the grid's cell count; the frame built
    # from every zone is at least as large, so its cells are at least this big.
    lon, lat = zones.to_lonlat(coarse[:, 0], coarse[:, 1])
    span = max(np.ptp(lon) * np.cos(np.radians(np.mean(lat))), np.ptp(lat), 1e-6)
    spacing = _SPACING * span * _METRES_PER_DEGREE / cells
    dense = shapely.get_coordinates(shapely.segmentize(parts, max(spacing, 0.5)))
    lon, lat = zones.to_lonlat(dense[:, 0], dense[:, 1])
    return np.column_stack([lon, lat])


def _frame(lonlat: np.ndarray, cells: int) -> tuple[float, float, float, float, int, int]:
    """Origin, cell size and shape of a grid over the points, with cells about square on the
    ground and two spare cells on every side."""
    lon_min, lat_min = lonlat.min(axis=0)
    lon_max, lat_max = lonlat.max(axis=0)
    coslat = max(np.cos(np.radians((lat_min + lat_max) / 2)), 0.01)
    size = max((lon_max - lon_min) * coslat, lat_max - lat_min, 1e-6) / (cells - 4)
    cell_lat, cell_lon = size, size / coslat
    nx = int(np.ceil((lon_max - lon_min) / cell_lon)) + 4
    ny = int(np.ceil((lat_max - lat_min) / cell_lat)) + 4
    return float(lon_min - 2 * cell_lon), float(lat_min - 2 * cell_lat), cell_lon, cell_lat, nx, ny


@dataclass(frozen=True)
class DistanceField(LonLatCells):
    """Distances from cell centres to one geometry on a coarse lon/lat grid (about 1 km cells),
    with a bound on how far any point of a cell can differ from its centre.

    Distance is 1-Lipschitz: a point ``p`` of a cell with centre ``c`` lies within
    ``|p - c| <= radius`` of ``c`` (in projected metres), so ``|d(p) - d(c)| <= radius``. That
    bounds every record's distance without measuring it, and only the records whose bounds
    allow them to be nearest or farthest need the exact distance.
    """

    centre_km: npt.NDArray[np.float64]
    radius_km: float

    @classmethod
    def build(cls, zones: ZoneSet, zone_id: str, margin_deg: float = 3.0) -> DistanceField:
        """The field over the geometry's extent grown by ``margin_deg`` degrees."""
        lon_a, lat_a, lon_b, lat_b = zones.wgs84(zone_id).bounds
        lat0, lat1 = max(lat_a - margin_deg, -89.0), min(lat_b + margin_deg, 89.0)
        coslat = max(np.cos(np.radians((lat0 + lat1) / 2)), 0.05)
        lon0, lon1 = lon_a - margin_deg / coslat, lon_b + margin_deg / coslat
        cell_lat = 1.0 / 111.32  # about a kilometre
        cell_lon = cell_lat / coslat
        nx = int(np.ceil((lon1 - lon0) / cell_lon))
        ny = int(np.ceil((lat1 - lat0) / cell_lat))
        iy, ix = np.divmod(np.arange(nx * ny, dtype=np.int64), nx)
        lon_c, lat_c = lon0 + (ix + 0.5) * cell_lon, lat0 + (iy + 0.5) * cell_lat
        x_c, y_c = zones.project(lon_c, lat_c)
        centre = zones.distance_m(zone_id, x_c, y_c) / 1000.0
        # The farthest a cell's corner lies from its centre, over every cell, with a margin for
        # the cell's slight curvature once projected.
        reach = np.zeros(len(x_c))
        for dx, dy in ((-0.5, -0.5), (-0.5, 0.5), (0.5, -0.5), (0.5, 0.5)):
            xk, yk = zones.project(lon_c + dx * cell_lon, lat_c + dy * cell_lat)
            reach = np.maximum(reach, np.hypot(xk - x_c, yk - y_c))
        radius = float(reach.max()) * 1.01 / 1000.0
        return cls(lon0, lat0, cell_lon, cell_lat, nx, ny, centre_km=centre, radius_km=radius)

    def bounds_km(
        self, lon: npt.ArrayLike, lat: npt.ArrayLike
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """``(inside the field, low, high)``: each point's distance lies in ``[low, high]``."""
        cell = self.cells_of(lon, lat)
        ok = cell >= 0
        centre = self.centre_km[np.maximum(cell, 0)]
        return ok, centre - self.radius_km, centre + self.radius_km
