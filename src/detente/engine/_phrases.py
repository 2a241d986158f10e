"""Small pieces of wording shared by the obligation kinds' explanations."""

from __future__ import annotations

from detente.agreement import Agreement, _ObligationBase


def zone_label(agreement: Agreement, zone_id: str) -> str:
    spec = agreement.zones.get(zone_id)
    return f"{spec.label} ({zone_id})" if spec is not None and spec.label else f"zone {zone_id}"


def plural(count: int, noun: str) -> str:
    """``plural(3, "record")`` -> ``'3 records'``."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def records(count: int, noun: str, rest: str) -> str:
    return f"{plural(count, noun)} {rest}"


def period(agreement: Agreement, ob: _ObligationBase) -> str:
    start = ob.effective.start.astimezone(agreement.tz)
    text = f"while the obligation binds (from {start:%Y-%m-%d %H:%M} {agreement.timezone}"
    if ob.effective.until is not None:
        text += f" until {ob.effective.until.astimezone(agreement.tz):%Y-%m-%d %H:%M}"
    return text + ")"
