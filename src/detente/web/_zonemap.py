"""An agreement's zones, lines and bands as one GeoJSON FeatureCollection for the map.

    >>> zone_map(agreement)["features"][0]["properties"]               # doctest: +SKIP
    {'id': 'contact_line', 'label': 'the line of contact', 'role': 'line', 'form': 'file', …}

There is no tile server: the base map is what ships. It is made of the agreement's own given
geometry (the boundaries and lines its files hold) and the shipped base-map files in
``detente/web/basemap/`` (e.g. the Natural Earth Russia–Ukraine border) that overlap the
agreement. One feature per zone, so that the map draws exactly one shape per zone; geometry is
simplified to about 300 m (the lines themselves are accurate to about 5 km) and rounded to 4
decimals (about 10 m) to keep the answer small.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from detente.agreement import Agreement, ZoneSpec
from detente.web._grid import BBox
from detente.zones import build_zones

#: Simplification tolerance and grid, in degrees.
SIMPLIFY_DEG = 0.003
PRECISION_DEG = 1e-4
#: A base-map file is drawn when it comes this close (degrees) to the agreement's zones.
BASEMAP_MARGIN_DEG = 2.0

#: Drawing order on the map, bottom to top.
ROLES = ("basemap", "area", "zone", "band", "line")


def zone_map(ag: Agreement) -> dict[str, Any]:
    """The FeatureCollection of ``ag``'s zones and the base-map features near them, with
    ``bbox`` (everything) and ``focus`` (the lines and bands: where the map opens)."""
    zones = build_zones(ag)
    features = []
    for zid, spec in ag.zones.items():
        geom = _display(zones.wgs84(zid))
        props = {"id": zid, "label": spec.label or zid, "role": _role(spec, geom),
                 "form": _form(spec), **_party_and_width(ag, zid, spec)}  # fmt: skip
        features.append(_feature(geom, props))
    extent = _bounds([zones.wgs84(z) for z in ag.zones])
    focus_ids = [
        f["properties"]["id"] for f in features if f["properties"]["role"] in ("band", "line")
    ]
    focus = _bounds([zones.wgs84(z) for z in focus_ids]) if focus_ids else extent
    base = basemap_features(extent)
    return {"type": "FeatureCollection", "bbox": extent, "focus": focus,
            "features": base + features}  # fmt: skip


def _role(spec: ZoneSpec, geom: BaseGeometry) -> str:
    if geom.geom_type in ("LineString", "MultiLineString"):
        return "line"
    if spec.band is not None:
        return "band"
    return "area" if spec.file is not None else "zone"


def _form(spec: ZoneSpec) -> str:
    """How the zone is defined: ``file``, ``band``, ``buffer``, ``union``, ``difference``…"""
    for name in ("file", "band", "buffer", "union", "difference", "intersection"):
        if getattr(spec, name) is not None:
            return name
    return "unknown"


def _party_and_width(ag: Agreement, zid: str, spec: ZoneSpec) -> dict[str, Any]:
    """The party whose side the zone is (or whose side a band lies on), and a band's widths."""
    side = spec.band.side if spec.band is not None else zid
    party = next((p.id for p in ag.parties if p.side == side), None)
    out: dict[str, Any] = {"party": party}
    if spec.band is not None:
        out |= {"from_km": spec.band.from_km, "to_km": spec.band.to_km, "line": spec.band.line}
    return out


def _display(geom: BaseGeometry) -> BaseGeometry:
    """Simplified and rounded for display; one Polygon/MultiPolygon or (Multi)LineString."""
    simple = shapely.set_precision(
        shapely.simplify(geom, SIMPLIFY_DEG, preserve_topology=True), PRECISION_DEG
    )
    if simple.geom_type == "GeometryCollection":
        # A set operation can leave stray lines or points beside the area: keep the area, so
        # that the zone is one shape (Leaflet draws one layer per simple feature).
        polygons = [g for g in simple.geoms if g.geom_type in ("Polygon", "MultiPolygon")]
        simple = shapely.union_all(polygons) if polygons else shapely.union_all(list(simple.geoms))
    return simple if not simple.is_empty else geom


def _feature(geom: BaseGeometry, props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "properties": props, "geometry": mapping(geom)}


def _bounds(geoms: list[BaseGeometry]) -> list[float]:
    w, s, e, n = shapely.total_bounds(geoms)
    return [round(float(v), 4) for v in (w, s, e, n)]


def _near(bounds: BBox, extent: list[float], margin: float) -> bool:
    w, s, e, n = bounds
    return not (
        e < extent[0] - margin
        or w > extent[2] + margin
        or n < extent[1] - margin
        or s > extent[3] + margin
    )


def basemap_features(extent: list[float]) -> list[dict[str, Any]]:
    """The shipped base-map features within :data:`BASEMAP_MARGIN_DEG` of ``extent``."""
    out = []
    folder = files("detente.web") / "basemap"
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".geojson"):
            continue
        data = json.loads(entry.read_text(encoding="utf-8"))
        for raw in data.get("features", []):
            geom = shape(raw["geometry"])
            if not _near(geom.bounds, extent, BASEMAP_MARGIN_DEG):
                continue
            props = raw.get("properties") or {}
            keep = {k: props[k] for k in ("name", "source", "licence") if k in props}
            props_out = {"id": f"basemap:{entry.name}", "role": "basemap", **keep}
            out.append(_feature(_display(geom), props_out))
    return out
