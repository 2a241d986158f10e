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
from datetime import UTC, datetime, timedelta

import numpy as np

from detente.agreement import Status
from detente.engine._context import Context
from detente.engine._phrases import plural
from detente.engine._windows import Windows
from detente.evidence import UNKNOWN_ACTOR
from detente.findings import EvidenceIds, Finding

#: The masks of :class:`Groups` for a bearer, in the order a finding is decided by them.
STRONG, WEAK, UNATTRIBUTED, COVERAGE = range(4)

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


def judge(ctx: Context, rule: Rule, wins: Windows) -> list[Finding]:
    """Findings for every bearer and window, plus ``unknown`` where unattributed breaches occur.

    Records are in time order, so each window is a run of rows (``bounds``); every mask below
    covers only the obligation's rows.
    """
    bounds = wins.row_bounds(ctx.time_ns)
    part = slice(int(bounds[0]), int(bounds[-1]))
    forbidden, grade_ok = rule.forbidden[part], ctx.grade_ok[part]
    unknown = ctx.is_actor(UNKNOWN_ACTOR)[part]
    any_possibly = np.zeros(part.stop - part.start, dtype=bool)
    any_surely = np.zeros_like(any_possibly)
    findings: list[Finding] = []
    for party, zone in rule.zones.items():
        possibly, surely = (mask[part] for mask in ctx.inside(zone))
        any_possibly |= possibly
        any_surely |= surely
        breach = forbidden & possibly
        own = breach & ctx.is_actor(party)[part]
        sure = surely & grade_ok
        groups = Groups(bounds, (own & sure, own & ~sure, breach & unknown, surely))
        findings += [_decide(ctx, rule, party, wins, i, groups) for i in range(len(wins))]
    unknown_breach = forbidden & unknown
    sure_anywhere = any_surely & grade_ok
    unattributed = Groups(
        bounds, (unknown_breach & sure_anywhere, unknown_breach & any_possibly & ~sure_anywhere)
    )
    for i in unattributed.windows_with_rows():
        findings.append(_decide_unknown(ctx, rule, wins, i, unattributed))
    return findings


@dataclass(frozen=True)
class Groups:
    """Masks over an obligation's rows (``bounds[0]:bounds[-1]``), read window by window."""

    bounds: np.ndarray  # row where each window starts, then where the last one ends
    masks: tuple[np.ndarray, ...]

    def rows(self, which: int, i: int) -> np.ndarray:
        """Row numbers (in the context) of mask ``which`` in window ``i``, in time order."""
        lo = int(self.bounds[0])
        a, b = int(self.bounds[i]) - lo, int(self.bounds[i + 1]) - lo
        return np.flatnonzero(self.masks[which][a:b]) + (a + lo)

    def windows_with_rows(self) -> list[int]:
        """Windows in which any mask has a row (counted with one running sum, not per row)."""
        running = np.concatenate([[0], np.cumsum(np.logical_or.reduce(self.masks))])
        edges = self.bounds - self.bounds[0]
        return np.flatnonzero(running[edges[1:]] > running[edges[:-1]]).tolist()


def _decide(ctx: Context, rule: Rule, party: str, wins: Windows, i: int, groups: Groups) -> Finding:
    zone = rule.zone_labels[party]
    strong = groups.rows(STRONG, i)
    if strong.size:
        text = (
            f"{rule.describe(strong)} attributed to {party} inside {zone}{rule.locate(strong)}, "
            f"graded {_grades(ctx, strong)} (at or above the threshold) {rule.period}."
        )
        return _finding(ctx, rule.obligation, party, Status.violation, wins, i, strong, text)
    weak = groups.rows(WEAK, i)
    if weak.size:
        text = (
            f"{rule.describe(weak)} attributed to {party} inside {zone}{rule.locate(weak)}, but "
            f"only graded {_grades(ctx, weak)} or located too vaguely to establish a violation."
        )
        return _finding(ctx, rule.obligation, party, Status.unverified, wins, i, weak, text)
    unattributed = groups.rows(UNATTRIBUTED, i)
    if unattributed.size:
        text = (
            f"{rule.describe(unattributed)} of unknown attribution inside {zone}; "
            f"they cannot be attributed to {party} or ruled out, so compliance is not shown."
        )
        status = Status.unverified
        return _finding(ctx, rule.obligation, party, status, wins, i, unattributed, text)
    coverage = groups.rows(COVERAGE, i)
    if coverage.size:
        text = (
            f"{zone} was observed ({plural(coverage.size, 'record')}, "
            f"graded {_grades(ctx, coverage)}) and no breach by {party} was seen."
        )
        return _finding(ctx, rule.obligation, party, Status.compliant, wins, i, coverage, text)
    text = f"Nothing was observed inside {zone} in this window: silence is not compliance."
    return _finding(ctx, rule.obligation, party, Status.unverified, wins, i, coverage, text)


def _decide_unknown(ctx: Context, rule: Rule, wins: Windows, i: int, groups: Groups) -> Finding:
    rows = groups.rows(STRONG, i)
    if rows.size:
        status = Status.violation
        text = (
            f"{rule.describe(rows)} by an unidentified party inside the zone{rule.locate(rows)}, "
            f"graded {_grades(ctx, rows)}; Detente does not guess who was responsible."
        )
    else:
        rows, status = groups.rows(WEAK, i), Status.unverified
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
    return Finding(
        obligation=obligation,
        party=party,
        status=status,
        confidence=ctx.confidence(rows),
        window_start=wins.starts[i],
        window_end=wins.ends[i],
        evidence=EvidenceIds(ctx.cols.text["id"], rows),
        explanation=text,
        # Rows are in time order: the first is the earliest.
        first_evidence_time=_to_datetime(int(ctx.time_ns[rows[0]])) if rows.size else None,
    )


def _grades(ctx: Context, rows: np.ndarray) -> str:
    parts = [g if c == 1 else f"{g} ×{c}" for g, c in ctx.grade_counts(rows)]
    return ", ".join(parts[:6]) + (f" and {len(parts) - 6} more grades" if len(parts) > 6 else "")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _to_datetime(ns: int) -> datetime:
    """UTC datetime of integer nanoseconds (to the microsecond, as pandas would give it)."""
    return _EPOCH + timedelta(microseconds=ns // 1000)
