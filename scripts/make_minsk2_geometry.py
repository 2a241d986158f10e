"""Derive the shipped geometry of ``examples/minsk2/geo/`` from the source data in ``data/``.

Run once by developers after the source data changes; users never need it::

    python scripts/make_minsk2_geometry.py            # defaults: data/ -> examples/minsk2/geo/
    python scripts/make_minsk2_geometry.py --natural-earth data/natural_earth \\
        --minregion data/minregion --out examples/minsk2/geo

Inputs (see each folder's SOURCE.txt):

* ``data/natural_earth/ne_50m_donbas_contact_line.geojson``: Natural Earth 1:50m line of
  contact (public domain), and ``ne_10m_v4_russia_ukraine_border.geojson`` (the RU-UA border).
* ``data/minregion/oblast.geojson``: Minregion oblast polygons (CC BY-SA, "© Мінрегіон") and
  ``ukraine_oblast_bounds_en.json`` for English names.

The oblasts are simplified as one *coverage* (shared edges stay shared, so no slivers or gaps
appear between neighbouring oblasts, nor between ``ukraine_mainland`` and ``ngca``) with a
Visvalingam-Whyatt tolerance of 0.002 degrees (about 200 m) everywhere: one tolerance keeps the
coverage consistent, and the mainland outline still fits in < 300 KB. The NGCA is the part of
the two (simplified) oblasts cut off by the contact line on the Russian side. Every output is
checked (valid geometry, known towns on the right side, NGCA area) before it is written.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import Geod
from shapely.geometry import LineString, Point, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import linemerge, split, unary_union

REPO = Path(__file__).resolve().parents[1]
SCRIPT = "derived by scripts/make_minsk2_geometry.py"
NE_SOURCE = "Natural Earth (naturalearthdata.com)"
NE_LICENCE = "public domain"
MR_SOURCE = (
    "Minregion of Ukraine, atu.decentralization.gov.ua (via justinelliotmeyers/Ukraine_2020)"
)
MR_LICENCE = "CC BY-SA, © Мінрегіон; this derived file is shared under the same licence"
DONBAS_UK = {"Донецька область": "Donetsk Oblast", "Луганська область": "Luhansk Oblast"}
EXCLUDED_UK = ("Автономна Республіка Крим", "Місто Севастополь")
KYIV_OBLAST, KYIV_CITY = "Київська область", "Місто Київ"
TOLERANCE = 0.002  # degrees (Visvalingam-Whyatt, about 200 m; see oblasts())
EXTEND_DEG = 0.1  # how far the contact line's ends are pushed outwards so that the split closes
GEOD = Geod(ellps="WGS84")
Feature = tuple[BaseGeometry, dict[str, Any]]

LINE_NAME = "line of contact in Donetsk and Luhansk oblasts, 2015-2022 (approximate)"
BORDER_NAME = "Russia-Ukraine international land border"
GCA_NAME = "government-controlled areas of Donetsk and Luhansk oblasts, 2015-2022 (approximate)"
MAINLAND_NAME = "Ukraine without the AR of Crimea and Sevastopol"
NE_LINE = (
    "Natural Earth 1:50m breakaway boundaries 'Donestsk' + 'Luhansk' merged (not the DPR/LPR "
    "divider); generalised, use a tolerance of >= 5 km"
)
NE_BORDER = "Natural Earth 10m v4.0 land boundary RUS-UKR; the Crimea isthmus feature left out"
SPLIT_NOTE = "Donetsk + Luhansk oblasts split by the Natural Earth contact line; "

NGCA_TOWNS = {"Donetsk": (37.80, 48.00), "Luhansk": (39.31, 48.57)}
NGCA_TOWNS |= {"Horlivka": (38.05, 48.30), "Debaltseve": (38.41, 48.34)}
GCA_TOWNS = {"Kramatorsk": (37.56, 48.74), "Mariupol": (37.55, 47.10)}
GCA_TOWNS |= {"Sievierodonetsk": (38.49, 48.95), "Avdiivka": (37.75, 48.14)}


def read_features(path: Path) -> list[dict[str, Any]]:
    """The features of a GeoJSON FeatureCollection."""
    features: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["features"]
    return features


def contact_line(ne_dir: Path) -> LineString:
    """The Donetsk and Luhansk line-of-contact features merged into one line (no divider)."""
    feats = read_features(ne_dir / "ne_50m_donbas_contact_line.geojson")
    parts = [shape(f["geometry"]) for f in feats if f["properties"]["role"] == "contact_line"]
    assert len(parts) == 2, f"expected the Donetsk and Luhansk features, got {len(parts)}"
    merged = linemerge(shapely.remove_repeated_points(unary_union(parts)))
    assert merged.geom_type == "LineString", "the two contact-line features do not touch"
    return merged


def ru_ua_border(ne_dir: Path) -> BaseGeometry:
    """The RU-UA international land border (not the Crimea isthmus feature)."""
    feats = read_features(ne_dir / "ne_10m_v4_russia_ukraine_border.geojson")
    kept = [f for f in feats if f["properties"]["featurecla"] == "International boundary (verify)"]
    assert len(kept) == 1, "expected exactly one international RU-UA boundary feature"
    return shape(kept[0]["geometry"])


def oblasts(mr_dir: Path) -> dict[str, BaseGeometry]:
    """Mainland oblasts (Ukrainian name -> polygon), simplified as one coverage.

    Kyiv city is merged into Kyiv oblast first (the two do not edge-match in the source, which
    would open gaps when simplified), and the slivers left between them (holes < 0.01 km²) are
    filled. Visvalingam-Whyatt with a tolerance of 0.002 degrees moves
    the Donetsk and Luhansk boundaries by at most ~0.004 degrees (~400 m, asserted); elsewhere a
    few narrow coastal spits are cut (up to ~0.05 degrees, Zaporizhzhia's Azov spits).
    """
    geoms = {
        f["properties"]["ADMIN_1"]: shape(f["geometry"])
        for f in read_features(mr_dir / "oblast.geojson")
    }
    for name in EXCLUDED_UK:
        del geoms[name]
    kyiv = unary_union([geoms[KYIV_OBLAST], geoms.pop(KYIV_CITY)])
    geoms[KYIV_OBLAST] = fill_holes(kyiv, max_area=1e-4)  # source gaps along Kyiv city's edge
    assert len(geoms) == 24, f"expected 24 oblasts, got {len(geoms)}"
    coverage = np.array(list(geoms.values()))
    assert shapely.coverage_is_valid(coverage), "the oblasts do not form a clean coverage"
    simplified = dict(zip(geoms, shapely.coverage_simplify(coverage, TOLERANCE), strict=True))
    for name, geom in simplified.items():
        moved = geom.hausdorff_distance(geoms[name])
        assert geom.is_valid and moved < (0.005 if name in DONBAS_UK else 0.05), (name, moved)
    return simplified


def fill_holes(geom: BaseGeometry, max_area: float) -> BaseGeometry:
    """``geom`` without the interior rings enclosing less than ``max_area`` (square degrees)."""
    polygons = [
        Polygon(p.exterior, [r for r in p.interiors if Polygon(r).area >= max_area])
        for p in getattr(geom, "geoms", [geom])
    ]
    return unary_union(polygons)


def extend(line: LineString, by: float) -> LineString:
    """``line`` with both end segments prolonged by ``by`` degrees (straight on)."""
    xy = np.asarray(line.coords)

    def beyond(end: np.ndarray, before: np.ndarray) -> list[float]:
        step = end - before
        return [float(v) for v in end + step / np.hypot(*step) * by]

    return LineString([beyond(xy[0], xy[1]), *xy, beyond(xy[-1], xy[-2])])


def split_ngca(donbas: BaseGeometry, line: LineString, border: BaseGeometry) -> BaseGeometry:
    """The pieces of ``donbas`` cut off by ``line`` that touch the Russian border south-east of it.

    The Luhansk end of the line meets the border at about 48.59 N, and the GCA of Luhansk oblast
    also borders Russia north of it; so only the border between 47.3 N and 48.4 N, which lies
    entirely in the NGCA, is used to pick the pieces.
    """
    pieces = list(split(donbas, extend(line, EXTEND_DEG)).geoms)
    assert len(pieces) >= 2, "the contact line does not split the two oblasts"
    south_east = border.intersection(shapely.box(37.0, 47.3, 41.0, 48.4))
    near = south_east.buffer(0.02)  # the two datasets' borders differ by up to ~1 km
    ngca = unary_union([p for p in pieces if p.intersects(near)])
    assert 0 < len(getattr(ngca, "geoms", [ngca])) < len(pieces), "NGCA pick failed"
    return ngca


def geodesic_area_km2(geom: BaseGeometry) -> float:
    """Area on the WGS84 ellipsoid in km²."""
    area, _ = GEOD.geometry_area_perimeter(geom)
    return abs(area) / 1e6


def check_ngca(ngca: BaseGeometry, gca: BaseGeometry) -> float:
    """Assert the known towns fall on the right side; return the NGCA area in km²."""
    for name, (lon, lat) in NGCA_TOWNS.items():
        assert ngca.contains(Point(lon, lat)), f"{name} should be in the NGCA"
        assert not gca.contains(Point(lon, lat)), f"{name} should not be in the GCA"
    for name, (lon, lat) in GCA_TOWNS.items():
        assert not ngca.contains(Point(lon, lat)), f"{name} should not be in the NGCA"
        assert gca.contains(Point(lon, lat)), f"{name} should be in the GCA"
    area = geodesic_area_km2(ngca)
    assert 16_000 <= area <= 18_000, f"NGCA area {area:.0f} km² is outside 16,000-18,000 km²"
    return area


def rounded(geom: BaseGeometry) -> BaseGeometry:
    """Coordinates on a 1e-5 degree grid (about 1 m), keeping the geometry valid."""
    out = shapely.set_precision(geom, 1e-5)
    assert out.is_valid and not out.is_empty, shapely.is_valid_reason(out)
    return out


def write(path: Path, features: list[Feature]) -> None:
    """Write a GeoJSON FeatureCollection, one feature per line, coordinates to 5 decimals."""
    rows = [
        json.dumps(
            {"type": "Feature", "properties": props, "geometry": mapping(rounded(geom))},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        for geom, props in features
    ]
    text = '{"type":"FeatureCollection","features":[\n' + ",\n".join(rows) + "\n]}\n"
    path.write_text(text, encoding="utf-8")
    print(f"{path}: {len(text.encode()) / 1024:.0f} KB")


def attribution(
    name: str, source: str, licence: str, note: str, name_uk: str | None = None
) -> dict[str, Any]:
    """The properties every shipped feature carries: name, source, licence and how it was made."""
    uk = {"name_uk": name_uk} if name_uk else {}
    return {"name": name, **uk, "source": source, "licence": licence, "note": f"{note}; {SCRIPT}"}


def outputs(ne_dir: Path, mr_dir: Path) -> dict[str, list[Feature]]:
    """Every shipped file name -> its features, after the sanity checks."""
    line, border, obl = contact_line(ne_dir), ru_ua_border(ne_dir), oblasts(mr_dir)
    donbas = unary_union([obl[name] for name in DONBAS_UK])
    ngca = split_ngca(donbas, line, border)
    gca = donbas.difference(ngca)
    area = check_ngca(ngca, gca)
    length = GEOD.geometry_length(line) / 1e3
    print(f"NGCA geodesic area: {area:,.0f} km²; contact line length {length:.0f} km")
    simplified = f"coverage-simplified (tolerance {TOLERANCE} deg, ~200 m)"
    mr_obl = (MR_SOURCE, MR_LICENCE, f"Minregion oblast polygon, {simplified}")
    both = (f"{MR_SOURCE}; {NE_SOURCE}", MR_LICENCE, SPLIT_NOTE + simplified)
    return {
        "contact_line": [(line, attribution(LINE_NAME, NE_SOURCE, NE_LICENCE, NE_LINE))],
        "ru_ua_border": [(border, attribution(BORDER_NAME, NE_SOURCE, NE_LICENCE, NE_BORDER))],
        "donbas_oblasts": [(obl[uk], attribution(en, *mr_obl, uk)) for uk, en in DONBAS_UK.items()],
        "ngca": [(ngca, attribution(f"non-{GCA_NAME}", *both))],
        "gca_donbas": [(gca, attribution(GCA_NAME, *both))],
        "ukraine_mainland": [
            (unary_union(list(obl.values())), attribution(MAINLAND_NAME, *mr_obl[:2], simplified))
        ],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--natural-earth", type=Path, default=REPO / "data" / "natural_earth")
    parser.add_argument("--minregion", type=Path, default=REPO / "data" / "minregion")
    parser.add_argument("--out", type=Path, default=REPO / "examples" / "minsk2" / "geo")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, features in outputs(args.natural_earth, args.minregion).items():
        write(args.out / f"{name}.geojson", features)


if __name__ == "__main__":
    main()
