"""``ceasefire``: no fire by a bearer inside a zone once the ceasefire holds (Minsk II, point 1)."""

from __future__ import annotations

import numpy as np

from detente.agreement import Ceasefire
from detente.engine._context import Context
from detente.engine._judge import Rule
from detente.engine._phrases import period, records, zone_label


def rule(ctx: Context, ob: Ceasefire) -> Rule:
    """Fire of the listed kinds anywhere in the one zone the ceasefire covers."""
    forbidden = ctx.is_in("kind", ob.fire_kinds)
    label = zone_label(ctx.agreement, ob.zone)
    return Rule(
        obligation=ob.id,
        forbidden=np.asarray(forbidden),
        zones=dict.fromkeys(ob.bearers, ob.zone),
        zone_labels=dict.fromkeys(ob.bearers, label),
        describe=lambda rows: records(rows.size, "report", "of fire"),
        locate=lambda rows: "",
        period=period(ctx.agreement, ob),
    )
