"""``exclusion_zone``: no equipment of given categories inside each bearer's own zone.

Minsk II point 2 and its 29 Sep 2015 addendum: each side keeps weapons of a category out of a
band of a given width on its side of the line.
"""

from __future__ import annotations

import numpy as np

from detente.agreement import ExclusionZone
from detente.engine._context import Context
from detente.engine._judge import Rule
from detente.engine._phrases import period, records, zone_label


def rule(ctx: Context, ob: ExclusionZone) -> Rule:
    """Sightings of listed equipment (a count of zero is a sighting of absence, not a breach)."""
    count = ctx.cols.count_high
    equipment = ctx.is_in("kind", ("equipment",))
    forbidden = equipment & ctx.is_in("category", ob.categories) & (count > 0)
    labels = {party: zone_label(ctx.agreement, zone) for party, zone in ob.zones.items()}

    def describe(rows: np.ndarray) -> str:
        counts = ctx.code_counts("category", rows)  # {text: count}, sorted by text
        what = ", ".join(f"{c} ({n})" if len(counts) > 1 else c for c, n in counts.items())
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
    line = _band_line(ctx, ob)
    if line is None or rows.size == 0:
        return ""
    lo, hi = ctx.distance_range_km(line, rows)
    span = f"{lo:.0f} km" if round(lo) == round(hi) else f"{lo:.0f}–{hi:.0f} km"
    return f" {span} from {zone_label(ctx.agreement, line)}"


def _band_line(ctx: Context, ob: ExclusionZone) -> str | None:
    """The one line every zone of the obligation is a band from, if there is one."""
    bands = [ctx.agreement.zones[z].band for z in ob.zones.values()]
    lines = {b.line for b in bands if b is not None}
    return lines.pop() if len(lines) == 1 and None not in bands else None
