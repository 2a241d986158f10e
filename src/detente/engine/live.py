"""Findings kept up to date as evidence arrives: only the windows new records fall in are judged
again.

    >>> live = LiveFindings(agreement, store.observations(), as_of)   # doctest: +SKIP
    >>> changed = live.add(new_records)                                # doctest: +SKIP
    >>> full = evaluate(agreement, everything, as_of)                  # doctest: +SKIP
    >>> live.report().to_json() == full.to_json()                      # doctest: +SKIP
    True

Why this is the same as a full evaluation: a finding of a zone obligation (``ceasefire``,
``exclusion_zone``) depends only on the records inside its window, so a window without new
records keeps its findings. Everything else is redone whole when it may have changed: an
obligation whose trigger now fires at another time, and kinds that judge across windows (a
hotline message answered in the next window). The evidence digest is kept per UTC day
(see :func:`detente.evidence.evidence_digest`), so one new record rehashes one day.

Records are kept per UTC day, coded against shared dictionaries, so the records of a window are
a join of a few days rather than a search through all of them. Records after ``as_of`` are
kept but count only once :meth:`LiveFindings.advance` moves the as-of time past them.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from detente.agreement import Agreement, Obligation
from detente.engine import (
    KINDS,
    Plan,
    assemble,
    dependency_order,
    evaluate_obligation,
    fired_at,
    judge_windows,
    plan,
)
from detente.engine._columns import Columns
from detente.engine._context import Context
from detente.engine._judge import Rule
from detente.engine._windows import Windows
from detente.evidence import DAY_NS, combine_day_digests, day_digests
from detente.findings import Finding, FindingsReport
from detente.zones import build_zones

__all__ = ["LiveFindings"]


class LiveFindings:
    """An agreement's findings over a growing evidence set, at a fixed as-of time."""

    def __init__(
        self, agreement: Agreement, evidence: pd.DataFrame | pa.Table | Columns, as_of: datetime
    ) -> None:
        if as_of.tzinfo is None:
            raise ValueError("as_of must be timezone-aware")
        self.agreement = agreement
        self.zones = build_zones(agreement)
        self._uniques: dict[str, list[str]] = {}
        cols = evidence if isinstance(evidence, Columns) else Columns.of(evidence)
        self._days: dict[int, Columns] = {}
        self._day_digest: dict[int, tuple[int, bytes]] = {}
        self._store(cols.recoded(self._uniques))
        self.advance(as_of)

    # ------------------------------------------------------------------ public

    def advance(self, as_of: datetime) -> FindingsReport:
        """Evaluate everything again at a new as-of time (windows and calendars move with it)."""
        self.as_of = as_of
        self._as_of_ns = pd.Timestamp(as_of).value
        ctx = self._context(self._known())
        self._plans: dict[str, Plan] = {}
        self._found: dict[str, list[Finding]] = {}
        self._windowed = {ob.id: self._window_local(ob) for ob in self.agreement.obligations}
        for ob in dependency_order(self.agreement):
            self._plans[ob.id] = plan(self.agreement, ob, self._found, as_of)
            self._found[ob.id] = evaluate_obligation(ctx, ob, self._found)
        return self.report()

    def add(self, evidence: pd.DataFrame | pa.Table | Columns) -> list[Finding]:
        """Take new records in and bring the findings up to date; return the findings that
        changed. A record already held (same id and content hash) is ignored."""
        new = evidence if isinstance(evidence, Columns) else Columns.of(evidence)
        if len(new) == 0:
            return []
        added = self._store(new.recoded(self._uniques))
        if added is None:
            return []
        contexts: dict[tuple[int, int], Context] = {}
        probe = self._context(added)  # zone membership of the new records, computed once
        changed: list[Finding] = []
        for ob in dependency_order(self.agreement):
            changed += self._update(ob, probe, contexts)
        return changed

    def report(self) -> FindingsReport:
        """The findings now, exactly as :func:`detente.engine.evaluate` would write them."""
        known = [d for d in sorted(self._day_digest) if d * DAY_NS <= self._as_of_ns]
        days, counts, digests = [], [], []
        for day in known:
            count, digest = self._day_digest[day]
            if (day + 1) * DAY_NS > self._as_of_ns + 1:  # the as-of time cuts this day
                cut = self._days[day].upto(self._as_of_ns)
                if len(cut) == 0:
                    continue
                _, (count,), (digest,) = day_digests(cut.time_ns, cut.text["content_hash"])
            days.append(day)
            counts.append(count)
            digests.append(digest)
        total = int(sum(counts))
        top = combine_day_digests(np.array(days, dtype=np.int64), np.array(counts), digests)
        return assemble(self.agreement, self.as_of, self._found, total, top)

    # ------------------------------------------------------------------ updating

    def _update(
        self, ob: Obligation, probe: Context, contexts: dict[tuple[int, int], Context]
    ) -> list[Finding]:
        before = now = self._plans[ob.id]
        # At a fixed as-of time only a trigger can move an obligation's calendar.
        if ob.when is not None and fired_at(ob.when, self._found, self.as_of) != before.fired:
            now = plan(self.agreement, ob, self._found, self.as_of)
            self._plans[ob.id] = now
        if not _same_plan(before, now) or not self._windowed[ob.id]:
            old = self._found[ob.id]
            self._found[ob.id] = evaluate_obligation(self._context(self._known()), ob, self._found)
            return _differences(old, self._found[ob.id])
        if now.wins is None or not _touches(ob, probe):
            return []
        times = probe.time_ns
        starts = now.wins.starts_ns
        bounds = now.wins.row_bounds(np.sort(times[times <= self._as_of_ns]))
        hit = np.flatnonzero(np.diff(bounds) > 0)
        changed: list[Finding] = []
        for i in hit.tolist():
            lo = int(starts[i])
            end = now.wins.ends[i]
            hi = (
                self._as_of_ns + 1
                if end is None
                else min(pd.Timestamp(end).value, self._as_of_ns + 1)
            )
            key = (lo, hi)
            if key not in contexts:
                contexts[key] = self._context(self._between(lo, hi))
            one = Windows([now.wins.starts[i]], [end])
            fresh = judge_windows(contexts[key], ob, now, one)
            changed += self._replace(ob, now.wins.starts[i], fresh)
        return changed

    def _window_local(self, ob: Obligation) -> bool:
        """Whether a finding of ``ob`` depends on its own window's records only (zone rules)."""
        return isinstance(KINDS[ob.kind](self._context(self._empty()), ob), Rule)

    def _replace(self, ob: Obligation, start: datetime, fresh: list[Finding]) -> list[Finding]:
        # Calendar findings (before a trigger fired) start earlier than any judged window.
        found = self._found[ob.id]
        old = [f for f in found if f.window_start == start]
        self._found[ob.id] = [*(f for f in found if f.window_start != start), *fresh]
        return _differences(old, fresh)

    # ------------------------------------------------------------------ records

    def _store(self, cols: Columns) -> Columns | None:
        """Add records to their days (kept in canonical order); return the records that were
        new (``None`` if none were)."""
        day = np.floor_divide(cols.time_ns, DAY_NS)
        order = np.argsort(day, kind="stable")
        cols, day = cols.take(order), day[order]
        cuts = np.flatnonzero(np.diff(day)) + 1
        added = []
        for a, b in zip(np.r_[0, cuts].tolist(), np.r_[cuts, len(day)].tolist(), strict=True):
            if a == b:
                continue
            d = int(day[a])
            part = cols.slice(a, b)
            if d in self._days:
                part = _without_known(self._days[d], part)
                if len(part) == 0:
                    continue
                added.append(part)
                part = Columns.concat([self._days[d], part])
            else:
                added.append(part)
            order_in_day = part.disorder()
            self._days[d] = part if order_in_day is None else part.take(order_in_day)
            kept = self._days[d]
            _, (count,), (digest,) = day_digests(kept.time_ns, kept.text["content_hash"])
            self._day_digest[d] = (int(count), digest)
        return Columns.concat(added) if added else None

    def _between(self, lo_ns: int, hi_ns: int) -> Columns:
        """Records with ``lo_ns <= time < hi_ns`` (and at or before the as-of time)."""
        hi_ns = min(hi_ns, self._as_of_ns + 1)
        first, last = lo_ns // DAY_NS, (hi_ns - 1) // DAY_NS
        parts = [self._days[d] for d in sorted(self._days) if first <= d <= last]
        if not parts:
            return self._empty()
        joined = Columns.concat(parts)
        a = int(np.searchsorted(joined.time_ns, lo_ns, side="left"))
        b = int(np.searchsorted(joined.time_ns, hi_ns, side="left"))
        return joined.slice(a, b)

    def _known(self) -> Columns:
        return self._between(min(self._days, default=0) * DAY_NS, self._as_of_ns + 1)

    def _empty(self) -> Columns:
        any_part = next(iter(self._days.values()), None)
        if any_part is not None:
            return any_part.slice(0, 0)
        return Columns.of(pa.table({"time": pa.array([], pa.timestamp("ns", tz="UTC"))}))

    def _context(self, cols: Columns) -> Context:
        return Context(self.agreement, self.zones, cols, self.as_of, use_grid=True)


def _without_known(held: Columns, new: Columns) -> Columns:
    """The new records that are not already held (same id and content hash)."""

    def keys(cols: Columns) -> pa.Array:
        return pc.binary_join_element_wise(
            cols.text["id"].fill_null(""),
            cols.text["content_hash"].fill_null(""),
            pa.scalar("\x00", pa.large_string()),
        )

    known = pc.is_in(keys(new), value_set=keys(held))
    return new.take(np.flatnonzero(~np.asarray(known.to_numpy(zero_copy_only=False))))


def _touches(ob: Obligation, probe: Context) -> bool:
    """Whether a new record lies possibly inside one of a zone rule's zones: the findings of
    such a rule depend on no other record (see ``_judge``)."""
    rule = KINDS[ob.kind](probe, ob)
    assert isinstance(rule, Rule)
    return any(bool(probe.inside(zone)[0].any()) for zone in set(rule.zones.values()))


def _same_plan(a: Plan, b: Plan) -> bool:
    same_windows = (a.wins is None) == (b.wins is None) and (
        a.wins is None
        or b.wins is None
        or (a.wins.starts, a.wins.ends) == (b.wins.starts, b.wins.ends)
    )
    return same_windows and a.fired == b.fired and a.start == b.start


def _differences(old: list[Finding], new: list[Finding]) -> list[Finding]:
    """The new findings that differ from the old ones.

    Records are only ever added, so a finding whose status stays the same can only gain
    evidence: comparing the number of deciding records (with the status, confidence and
    explanation) tells a changed finding without comparing the evidence lists themselves.
    """

    def signature(f: Finding) -> tuple[object, ...]:
        return (f.obligation, f.party, f.status, f.confidence, f.window_start, f.window_end,
                len(f.evidence), f.explanation, f.triggered_at)  # fmt: skip

    before = {signature(f) for f in old}
    return [f for f in new if signature(f) not in before]
