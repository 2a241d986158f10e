"""``exclusion_zone``: no equipment of given categories inside each bearer's own zone.

Minsk II point 2 and its 29 Sep 2015 addendum: each side keeps weapons of a category out of a
band of a given width on its side of the line.
"""

from __future__ import annotations

import numpy as np
import shapely

from detente.agreement import ExclusionZone
from detente.engine._context import Context
from detente.engine._judge import Rule
from detente.engine._phrases import period, records, zone_label


def rule(ctx: Context, ob: ExclusionZone) -> Rule:
    """Sightings of listed equipment (a count of zero is a sighting of absence, not a breach)."""
    count = ctx.frame["count_high"].fillna(1).to_numpy(dtype=np.int64)
    equipment = ctx.is_in("kind", ("equipment",))
    forbidden = equipment & ctx.is_in("category", ob.categories) & (count > 0)
    labels = {party: zone_label(ctx.agreement, zone) for party, zone in ob.zones.items()}

    def describe(rows: np.ndarray) -> str:
        cats, counts = np.unique(ctx.values("category", rows).astype(str), return_counts=True)
        what = ", ".join(
            f"{c} ({n})" if len(cats) > 1 else c for c, n in zip(cats, counts, strict=True)
        )
        return records(rows.size, "sighting", f"of {what}")

    def locate(rows: np.ndarray) -> str:
        return _distance_phrase(ctx, ob, rows)

    return Rule(
        obligation=ob.id,
        forbidden=np.asarray(forbidden),
        zones=dict(ob.zones),
        zone_labels=labels,
        describe=describe,
        locate=locate,
        period=period(ctx.agreement, ob),
    )


def _distance_phrase(ctx: Context, ob: ExclusionZone, rows: np.ndarray) -> str:
    """ " 11–19 km from contact_line" when the rows' zones are bands from one line."""
    bands = [ctx.agreement.zones[z].band for z in ob.zones.values()]
    lines = {b.line for b in bands if b is not None}
    if len(lines) != 1 or None in bands or rows.size == 0:
        return ""
    line = lines.pop()
    points = shapely.points(ctx.x[rows], ctx.y[rows])
    km = shapely.distance(ctx.zones.geoms[line], points) / 1000.0
    lo, hi = float(km.min()), float(km.max())
    span = f"{lo:.0f} km" if round(lo) == round(hi) else f"{lo:.0f}–{hi:.0f} km"
    return f" {span} from {zone_label(ctx.agreement, line)}"
