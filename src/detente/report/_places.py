"""The nearest named place of each record, from the gazetteer Detente already ships for claims.

    >>> name, region, km = nearest_places(zones, [37.75], [48.14])  # doctest: +SKIP
    >>> name[0], region[0]                                          # doctest: +SKIP
    ('Avdiivka', 'Donetsk Oblast')

A monitoring report says where things happened in words ("near Avdiivka, Donetsk Oblast"); the
agreement's zones say on which side. The places are the gazetteer's settlements
(:mod:`detente.extract._gazetteer`: in Ukraine from 500 inhabitants up), measured in the
agreement's projected CRS. A record farther than :data:`MAX_KM` from every settlement gets no
name rather than a misleading one.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import shapely

from detente.zones import ZoneSet

__all__ = ["MAX_KM", "nearest_places"]

#: Beyond this distance a record is not said to be "near" a settlement.
MAX_KM = 25.0
#: Degrees added around the zones' extent when choosing candidate settlements (a transverse
#: Mercator stays well-behaved that far from its centre).
_MARGIN_DEG = 10.0
_TREES: dict[str, tuple[shapely.STRtree, npt.NDArray[np.object_], npt.NDArray[np.object_]]] = {}

ObjectArray = npt.NDArray[np.object_]
FloatArray = npt.NDArray[np.float64]


def nearest_places(
    zones: ZoneSet, lon: npt.ArrayLike, lat: npt.ArrayLike
) -> tuple[ObjectArray, ObjectArray, FloatArray]:
    """``(name, region, km)`` of the settlement nearest each point; ``""`` and NaN when none is
    within :data:`MAX_KM` (or the point has no coordinates). ``region`` is the Ukrainian oblast
    ("Donetsk Oblast") or, outside Ukraine, the country code."""
    lon_arr, lat_arr = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    name = np.full(lon_arr.shape, "", dtype=object)
    region = np.full(lon_arr.shape, "", dtype=object)
    km = np.full(lon_arr.shape, np.nan)
    ok = np.isfinite(lon_arr) & np.isfinite(lat_arr)
    tree, names, regions = _tree(zones)
    if not ok.any() or len(tree) == 0:
        return name, region, km
    x, y = zones.project(lon_arr[ok], lat_arr[ok])
    (query, found), dist = tree.query_nearest(
        shapely.points(x, y), return_distance=True, all_matches=False
    )
    rows = np.flatnonzero(ok)[query]
    near = dist / 1000.0 <= MAX_KM
    name[rows[near]] = names[found[near]]
    region[rows[near]] = regions[found[near]]
    km[rows[near]] = dist[near] / 1000.0
    return name, region, km


def _tree(zones: ZoneSet) -> tuple[shapely.STRtree, ObjectArray, ObjectArray]:
    """Settlements around the zones, projected and indexed once per CRS (cached)."""
    key = zones.crs_description
    if key not in _TREES:
        from detente.extract._gazetteer import OBLASTS, gazetteer

        oblast = {k: f"{spellings[0]} Oblast" for k, spellings in OBLASTS.values() if spellings}
        oblast["crimea"] = "Crimea"
        lon_min, lat_min, lon_max, lat_max = zones.extent
        cities = [
            e
            for e in gazetteer().entries
            if e.kind == "city"
            and lon_min - _MARGIN_DEG <= e.lon <= lon_max + _MARGIN_DEG
            and lat_min - _MARGIN_DEG <= e.lat <= lat_max + _MARGIN_DEG
        ]  # a one-off pass over the gazetteer (not over evidence), cached per CRS
        x, y = zones.project([e.lon for e in cities], [e.lat for e in cities])
        names = np.array([e.name for e in cities], dtype=object)
        regions = np.array(
            [oblast.get(e.region, "") if e.country == "UA" else e.country for e in cities],
            dtype=object,
        )
        _TREES[key] = (shapely.STRtree(shapely.points(x, y)), names, regions)
    return _TREES[key]
