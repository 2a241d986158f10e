"""The status rules shared by every "nothing forbidden inside a zone" obligation.

For one party, zone and window (see docs/status-semantics.md):

* ``violation``  — evidence attributed to the party, graded at or above the threshold and surely
  inside the zone, shows a breach;
* ``unverified`` — only low-graded (or vaguely located) evidence shows a breach, or a breach of
  unknown attribution happened in the party's zone, or nothing at all was observed there;
* ``compliant``  — the zone was observed (records surely inside it) and no breach was seen.

Breaches whose actor is unknown give findings for the party ``unknown``; they are never guessed
onto a named party.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from detente.agreement import Status
from detente.engine._context import Context
from detente.engine._phrases import plural
from detente.engine._windows import Windows
from detente.evidence import UNKNOWN_ACTOR
from detente.findings import Finding

#: Describes a set of rows in words, e.g. ``"3 sightings of tank"``.
Describe = Callable[[np.ndarray], str]


@dataclass(frozen=True)
class Rule:
    """What one obligation forbids, in row masks over the context's evidence."""

    obligation: str
    forbidden: np.ndarray  # rows of a forbidden kind/category, wherever and whoever
    zones: dict[str, str]  # party -> zone id
    zone_labels: dict[str, str]  # party -> readable zone name
    describe: Describe  # "3 reports of fire"
    locate: Describe  # " 11–19 km from the line" or ""
    period: str  # "since 2015-02-15 00:00 (Europe/Kyiv)"


def judge(ctx: Context, rule: Rule, wins: Windows, active: np.ndarray) -> list[Finding]:
    """Findings for every bearer and window, plus ``unknown`` where unattributed breaches occur."""
    w = np.where(active, wins.index_of(ctx.time_ns), -1)
    findings: list[Finding] = []
    any_possibly = np.zeros(len(ctx), dtype=bool)
    any_surely = np.zeros(len(ctx), dtype=bool)
    unknown = ctx.is_actor(UNKNOWN_ACTOR)
    for party, zone in rule.zones.items():
        possibly, surely = ctx.inside(zone)
        any_possibly |= possibly
        any_surely |= surely
        own = rule.forbidden & possibly & ctx.is_actor(party)
        strong = own & surely & ctx.grade_ok
        groups = {
            "strong": _by_window(w, strong),
            "weak": _by_window(w, own & ~(surely & ctx.grade_ok)),
            "unattributed": _by_window(w, rule.forbidden & possibly & unknown),
            "coverage": _by_window(w, surely),
        }
        for i in range(len(wins)):
            findings.append(_decide(ctx, rule, party, wins, i, groups))
    strong_u = rule.forbidden & unknown & any_surely & ctx.grade_ok
    weak_u = rule.forbidden & unknown & any_possibly & ~(any_surely & ctx.grade_ok)
    strong_groups, weak_groups = _by_window(w, strong_u), _by_window(w, weak_u)
    for i in sorted(set(strong_groups) | set(weak_groups)):
        findings.append(_decide_unknown(ctx, rule, wins, i, strong_groups, weak_groups))
    return findings


def _by_window(w: np.ndarray, mask: np.ndarray) -> dict[int, np.ndarray]:
    """Row numbers of ``mask`` grouped by window; rows keep the context's (time, id) order."""
    rows = np.flatnonzero(mask & (w >= 0))
    if rows.size == 0:
        return {}
    order = np.argsort(w[rows], kind="stable")
    rows, keys = rows[order], w[rows][order]
    cuts = np.flatnonzero(np.diff(keys)) + 1
    return dict(zip(keys[np.r_[0, cuts]].tolist(), np.split(rows, cuts), strict=True))


def _decide(
    ctx: Context,
    rule: Rule,
    party: str,
    wins: Windows,
    i: int,
    groups: dict[str, dict[int, np.ndarray]],
) -> Finding:
    empty = np.empty(0, dtype=np.int64)
    strong, weak = groups["strong"].get(i, empty), groups["weak"].get(i, empty)
    unattributed, coverage = groups["unattributed"].get(i, empty), groups["coverage"].get(i, empty)
    zone = rule.zone_labels[party]
    if strong.size:
        status, rows = Status.violation, strong
        text = (
            f"{rule.describe(strong)} attributed to {party} inside {zone}{rule.locate(strong)}, "
            f"graded {_grades(ctx, strong)} (at or above the threshold) {rule.period}."
        )
    elif weak.size:
        status, rows = Status.unverified, weak
        text = (
            f"{rule.describe(weak)} attributed to {party} inside {zone}{rule.locate(weak)}, but "
            f"only graded {_grades(ctx, weak)} or located too vaguely to establish a violation."
        )
    elif unattributed.size:
        status, rows = Status.unverified, unattributed
        text = (
            f"{rule.describe(unattributed)} of unknown attribution inside {zone}; "
            f"they cannot be attributed to {party} or ruled out, so compliance is not shown."
        )
    elif coverage.size:
        status, rows = Status.compliant, coverage
        text = (
            f"{zone} was observed ({plural(coverage.size, 'record')}, "
            f"graded {_grades(ctx, coverage)}) and no breach by {party} was seen."
        )
    else:
        status, rows = Status.unverified, empty
        text = f"Nothing was observed inside {zone} in this window: silence is not compliance."
    return _finding(ctx, rule.obligation, party, status, wins, i, rows, text)


def _decide_unknown(
    ctx: Context,
    rule: Rule,
    wins: Windows,
    i: int,
    strong: dict[int, np.ndarray],
    weak: dict[int, np.ndarray],
) -> Finding:
    if i in strong:
        rows, status = strong[i], Status.violation
        text = (
            f"{rule.describe(rows)} by an unidentified party inside the zone{rule.locate(rows)}, "
            f"graded {_grades(ctx, rows)}; Detente does not guess who was responsible."
        )
    else:
        rows, status = weak[i], Status.unverified
        text = (
            f"{rule.describe(rows)} by an unidentified party, possibly inside the zone, graded "
            f"{_grades(ctx, rows)} or located too vaguely to establish a violation."
        )
    return _finding(ctx, rule.obligation, UNKNOWN_ACTOR, status, wins, i, rows, text)


def _finding(
    ctx: Context,
    obligation: str,
    party: str,
    status: Status,
    wins: Windows,
    i: int,
    rows: np.ndarray,
    text: str,
) -> Finding:
    first: datetime | None = None
    if rows.size:
        first = _to_datetime(int(ctx.time_ns[rows].min()))
    return Finding(
        obligation=obligation,
        party=party,
        status=status,
        confidence=confidence(ctx.weight[rows]) if rows.size else 0.0,
        window_start=wins.starts[i],
        window_end=wins.ends[i],
        evidence=tuple(ctx.ids[rows].tolist()),
        explanation=text,
        first_evidence_time=first,
    )


def confidence(weights: np.ndarray) -> float:
    """1 − Π(1 − wᵢ): how strongly independent records together support the status."""
    clipped = np.clip(weights, 0.0, 0.999)
    return float(1.0 - np.exp(np.log1p(-clipped).sum()))


def _grades(ctx: Context, rows: np.ndarray) -> str:
    parts = [g if c == 1 else f"{g} ×{c}" for g, c in ctx.grade_counts(rows)]
    return ", ".join(parts[:6]) + (f" and {len(parts) - 6} more grades" if len(parts) > 6 else "")


def _to_datetime(ns: int) -> datetime:
    return pd.Timestamp(ns, tz="UTC").to_pydatetime()
