"""Figures of a periodic report, drawn with matplotlib's Agg renderer (no tiles, no network).

    >>> pngs = figures(report, agreement)        # doctest: +SKIP
    >>> sorted(pngs)                             # doctest: +SKIP
    ['daily', 'map']

* **map**: the parties' areas, the ceasefire zones, the withdrawal bands and the lines drawn from
  the agreement's own geometry, with the period's records coloured by what they are
  (:data:`~detente.report.periodic.LAYERS`: weapons by the status of the finding citing them);
* **daily**: records per local day in the period (bars) and on the same day number of the
  previous period (a line), for ceasefire violations, weapons sightings and restrictions.

Figures are built on :class:`matplotlib.figure.Figure` with an explicit Agg canvas: no pyplot
state, so reports can be drawn from several threads (the API server) without interference.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable

import numpy as np
import shapely
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.patches import PathPatch
from matplotlib.path import Path as MplPath
from shapely.geometry.base import BaseGeometry

from detente.agreement import Agreement, Ceasefire, ExclusionZone
from detente.report.periodic import LAYERS, PeriodicReport, area_zone_ids, zone_name
from detente.zones import ZoneSet, build_zones

__all__ = ["STYLE", "daily_png", "figures", "map_png"]

#: Marker, colour and size of each map layer; the colours stay apart in greyscale print too.
STYLE: dict[str, tuple[str, str, float]] = {
    "other record": (".", "#8c8c8c", 10.0),
    "restriction": ("s", "#1f5fbf", 36.0),
    "ceasefire violation": ("o", "#f28e2b", 22.0),
    "weapons: unverified": ("^", "#d4b000", 44.0),
    "weapons: violation": ("^", "#c8102e", 54.0),
}
_AREA_FILLS = ("#dfe9f5", "#f5e3df", "#e3f0dc", "#efe3f3", "#f3efd9")
_DPI = 120
_GROW = 0.08  # fraction of the zones' extent added around the map
_MIN_RATIO = 0.75  # the map's shorter side on the ground, relative to its longer side


def figures(report: PeriodicReport, agreement: Agreement) -> dict[str, bytes]:
    """Both figures as PNG bytes, keyed ``map`` and ``daily``."""
    return {"map": map_png(report, agreement), "daily": daily_png(report)}


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    FigureCanvasAgg(fig)  # Agg, explicitly: no pyplot, no backend chosen by the environment
    fig.savefig(buffer, format="png", metadata={"Software": None})  # no version: stable bytes
    return buffer.getvalue()


# ---------------------------------------------------------------------------------- map


def map_png(report: PeriodicReport, agreement: Agreement) -> bytes:
    """The map of the period's records over the agreement's zones."""
    zones = build_zones(agreement)
    extent = _extent(zones, report)
    fig = Figure(figsize=(8.0, 8.5), dpi=_DPI, layout="constrained")
    ax = fig.add_subplot()
    _draw_zones(ax, agreement, zones, extent)
    outside = _draw_points(ax, report, extent)
    lon_min, lat_min, lon_max, lat_max = extent
    ax.set_xlim(lon_min, lon_max)
    ax.set_ylim(lat_min, lat_max)
    # Degrees of longitude shrink with latitude: keep the map's shapes true at its centre.
    ax.set_aspect(1.0 / math.cos(math.radians((lat_min + lat_max) / 2)))
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.grid(color="#dddddd", linewidth=0.5)
    title = f"{report.agreement_id}: records of {report.period} ({report.period.timezone})"
    if outside:
        title += (
            f"\n{outside:,} {'record lies' if outside == 1 else 'records lie'} outside this frame"
        )
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncols=2, fontsize=8, frameon=False)
    return _png(fig)


def _extent(zones: ZoneSet, report: PeriodicReport) -> tuple[float, float, float, float]:
    """The zones' metric extent and the records the report is about (not "other record": a
    patrol far away must not shrink the zones to a dot), grown by :data:`_GROW` on each side
    and widened to a shape no narrower than :data:`_MIN_RATIO` on the ground."""
    lon_min, lat_min, lon_max, lat_max = zones.extent
    points = report.points[report.points["layer"] != "other record"]
    if len(points):
        lon, lat = points["lon"].to_numpy(dtype=float), points["lat"].to_numpy(dtype=float)
        lon_min, lon_max = min(lon_min, float(lon.min())), max(lon_max, float(lon.max()))
        lat_min, lat_max = min(lat_min, float(lat.min())), max(lat_max, float(lat.max()))
    dx, dy = (lon_max - lon_min) * _GROW, (lat_max - lat_min) * _GROW
    lon_min, lon_max, lat_min, lat_max = lon_min - dx, lon_max + dx, lat_min - dy, lat_max + dy
    shrink = math.cos(math.radians((lat_min + lat_max) / 2))  # km per degree east vs north
    wide, tall = (lon_max - lon_min) * shrink, lat_max - lat_min
    if wide < _MIN_RATIO * tall:
        grow = (_MIN_RATIO * tall / shrink - (lon_max - lon_min)) / 2
        lon_min, lon_max = lon_min - grow, lon_max + grow
    elif tall < _MIN_RATIO * wide:
        grow = (_MIN_RATIO * wide - tall) / 2
        lat_min, lat_max = lat_min - grow, lat_max + grow
    return lon_min, lat_min, lon_max, lat_max


def _draw_zones(
    ax: Axes, agreement: Agreement, zones: ZoneSet, extent: tuple[float, float, float, float]
) -> None:
    """Areas filled, ceasefire zones outlined, bands dashed, lines in black."""
    tolerance = (extent[2] - extent[0]) / 1500.0  # below a pixel: faster, looks the same

    def clipped(zone_id: str) -> BaseGeometry:
        return shapely.simplify(shapely.clip_by_rect(zones.wgs84(zone_id), *extent), tolerance)

    for i, zid in enumerate(area_zone_ids(agreement)):
        colour = _AREA_FILLS[i % len(_AREA_FILLS)]
        _polygon(ax, clipped(zid), facecolor=colour, edgecolor="none",
                 label=f"area: {zone_name(agreement, zid)}")  # fmt: skip
    ceasefire = dict.fromkeys(ob.zone for ob in agreement.obligations if isinstance(ob, Ceasefire))
    for zid in ceasefire:
        _polygon(ax, clipped(zid), facecolor="none", edgecolor="#444444", linewidth=1.2,
                 label=f"ceasefire zone: {zone_name(agreement, zid)}")  # fmt: skip
    bands = dict.fromkeys(
        z
        for ob in agreement.obligations
        if isinstance(ob, ExclusionZone)
        for z in ob.zones.values()
    )
    for i, zid in enumerate(bands):
        _polygon(ax, clipped(zid), facecolor="none", edgecolor="#7a7a7a", linewidth=0.6,
                 linestyle="--", label="withdrawal zones" if i == 0 else None)  # fmt: skip
    for zid in agreement.zones:
        geom = zones.wgs84(zid)
        if geom.geom_type in ("LineString", "MultiLineString"):
            for part in shapely.get_parts(clipped(zid)):
                xy = shapely.get_coordinates(part)
                ax.plot(xy[:, 0], xy[:, 1], color="black", linewidth=1.6, label=None)
            ax.plot(
                [], [], color="black", linewidth=1.6, label=f"line: {zone_name(agreement, zid)}"
            )


def _polygon(ax: Axes, geom: BaseGeometry, *, label: str | None, **style: object) -> None:
    """A (multi)polygon as one patch, holes included (rings oriented for the non-zero rule)."""
    rings: list[np.ndarray] = []
    for part in shapely.get_parts(geom):
        if part.geom_type != "Polygon" or part.is_empty:
            continue
        oriented = shapely.geometry.polygon.orient(part, 1.0)  # shell CCW, holes CW
        rings += [np.asarray(r.coords) for r in (oriented.exterior, *oriented.interiors)]
    if not rings:
        return
    ax.add_patch(PathPatch(_path(rings), label=label, **style))


def _path(rings: Iterable[np.ndarray]) -> MplPath:
    vertices, codes = [], []
    for ring in rings:
        vertices.append(ring)
        codes.append(
            np.r_[MplPath.MOVETO, np.full(len(ring) - 2, MplPath.LINETO), MplPath.CLOSEPOLY]
        )
    return MplPath(np.concatenate(vertices), np.concatenate(codes).astype(np.uint8))


def _draw_points(
    ax: Axes, report: PeriodicReport, extent: tuple[float, float, float, float]
) -> int:
    """The period's records by layer (weapons on top); returns how many fall outside."""
    points = report.points
    lon, lat = points["lon"].to_numpy(dtype=float), points["lat"].to_numpy(dtype=float)
    inside = (lon >= extent[0]) & (lon <= extent[2]) & (lat >= extent[1]) & (lat <= extent[3])
    layer = points["layer"].to_numpy(dtype=object)
    for name in LAYERS:
        chosen = layer == name
        if not chosen.any():
            continue
        marker, colour, size = STYLE[name]
        ax.scatter(lon[chosen & inside], lat[chosen & inside], s=size, marker=marker, c=colour,
                   edgecolors="black" if name == "weapons: violation" else "none",
                   linewidths=0.5, alpha=0.85, label=f"{name} ({int(chosen.sum()):,})",
                   zorder=3 + LAYERS.index(name))  # fmt: skip
    return int((~inside).sum())


# ---------------------------------------------------------------------------------- daily


_SERIES = (
    ("ceasefire", "ceasefire violations", STYLE["ceasefire violation"][1]),
    ("weapons", "weapons sightings in withdrawal zones", STYLE["weapons: violation"][1]),
    ("restrictions", "restrictions of freedom of movement", STYLE["restriction"][1]),
)


def daily_png(report: PeriodicReport) -> bytes:
    """Records per day, this period (bars) against the previous period's same day (line)."""
    daily = report.daily
    days = np.asarray(daily["date"].to_numpy(), dtype="datetime64[D]")
    fig = Figure(figsize=(9.0, 6.5), dpi=_DPI, layout="constrained")
    axes = fig.subplots(len(_SERIES), 1, sharex=True)
    before = report.previous
    for ax, (key, title, colour) in zip(axes, _SERIES, strict=True):
        now, then = daily[f"{key}_this"].to_numpy(), daily[f"{key}_previous"].to_numpy()
        ax.bar(days, now, width=0.8, color=colour, label=f"{report.period} ({now.sum():,})")
        ax.step(days, then, where="mid", color="black", linewidth=1.0,
                label=f"previous: {before} ({then.sum():,})")  # fmt: skip
        ax.set_title(title, fontsize=9, loc="left")
        ax.set_ylim(0, max(1, int(now.max(initial=0)), int(then.max(initial=0))) * 1.15)
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=7, loc="best", frameon=False)
        ax.grid(axis="y", color="#dddddd", linewidth=0.5)
    locator = AutoDateLocator()  # type: ignore[no-untyped-call]
    axes[-1].xaxis.set_major_locator(locator)
    formatter = ConciseDateFormatter(locator)  # type: ignore[no-untyped-call]
    axes[-1].xaxis.set_major_formatter(formatter)
    fig.suptitle(
        f"Records per day ({report.period.timezone}); the line is the previous period's "
        "day of the same number",
        fontsize=9,
    )
    return _png(fig)
