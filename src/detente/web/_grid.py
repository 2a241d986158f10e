"""Grid and time bins shared by the SQL aggregation and the in-memory evidence index.

    >>> cell_size((37.0, 47.0, 40.0, 49.0))
    0.125
    >>> cell_of(37.1, 47.3, 0.5)
    (434, 274)
    >>> time_bin_width(0.0, 86400.0 * 400, target=120)
    432000

The map's bins are squares of ``size`` degrees on one global grid anchored at (-180°, -90°):
cell ``(i, j)`` spans ``[-180 + i·size, -180 + (i+1)·size)`` in longitude and the same from
-90° in latitude. A global grid keeps bins still while the user pans (a grid anchored at the
view's corner would reshuffle every point at each move), and sizes are powers of two so that
the division is exact in floating point: SQL and NumPy then put every point in the same cell.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

BBox = tuple[float, float, float, float]

#: Smallest and largest cell, in degrees (2^-10° is about 100 m; 2^4° is a region).
MIN_CELL_LOG2 = -10
MAX_CELL_LOG2 = 4

#: Candidate widths of a timeline bin, in seconds: an hour up to a year.
_HOUR, _DAY = 3600, 86400
TIME_WIDTHS = (
    _HOUR, 6 * _HOUR, 12 * _HOUR, _DAY, 2 * _DAY, 5 * _DAY, 7 * _DAY, 14 * _DAY, 30 * _DAY,
    61 * _DAY, 91 * _DAY, 182 * _DAY, 365 * _DAY,
)  # fmt: skip


def cell_size(bbox: BBox, columns: int = 24) -> float:
    """The power-of-two cell size (degrees) that cuts the box's width into about ``columns``.

    The wider of the box's two sides decides, so that a tall narrow view is not over-binned.
    """
    west, south, east, north = bbox
    span = max(east - west, north - south, 1e-9)
    exponent = round(math.log2(span / max(columns, 1)))
    return float(2.0 ** min(max(exponent, MIN_CELL_LOG2), MAX_CELL_LOG2))


def cell_of(lon: float, lat: float, size: float) -> tuple[int, int]:
    """The grid cell ``(i, j)`` holding a point (the same formula as :data:`CELL_SQL`)."""
    return math.floor((lon + 180.0) / size), math.floor((lat + 90.0) / size)


def cells_of(
    lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64], size: float
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """:func:`cell_of` for arrays."""
    i = np.floor((lon + 180.0) / size).astype(np.int64)
    j = np.floor((lat + 90.0) / size).astype(np.int64)
    return i, j


def cell_bounds(i: int, j: int, size: float) -> BBox:
    """``(west, south, east, north)`` of cell ``(i, j)``."""
    west, south = -180.0 + i * size, -90.0 + j * size
    return west, south, west + size, south + size


#: The cell of each row in SQL (DuckDB and PostgreSQL alike); parameters: size, size.
CELL_SQL = (
    "CAST(floor((lon + 180.0) / ?) AS BIGINT) AS i, CAST(floor((lat + 90.0) / ?) AS BIGINT) AS j"
)
#: A row's time as seconds since 1970 (a double: fractions of a second kept).
EPOCH_SQL = "CAST(extract(epoch FROM time) AS DOUBLE)"


def time_bin_width(first: float, last: float, target: int = 120) -> int:
    """The narrowest of :data:`TIME_WIDTHS` giving at most ``target`` bins over the span."""
    span = max(last - first, 1.0)
    for width in TIME_WIDTHS:
        if span / width <= target:
            return width
    return TIME_WIDTHS[-1]
