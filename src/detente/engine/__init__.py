"""The engine: ``evaluate(agreement, evidence, as_of) -> FindingsReport``, a pure function.

    >>> report = evaluate(agreement, store.observations(), as_of)  # doctest: +SKIP
    >>> again = evaluate(agreement, store.observations(), as_of)   # doctest: +SKIP
    >>> report.to_json() == again.to_json()                        # doctest: +SKIP
    True

The engine reads the agreement and an observation frame and writes nothing. Each obligation
kind contributes a :class:`~detente.engine._judge.Rule` (row masks over the evidence); the
status rules are shared (see ``_judge``). A kind whose evidence has no place
(``response_deadline``: hotline messages) gives instead a function that judges the windows
itself. Conditional obligations (``when:``) are evaluated after the obligations their triggers
depend on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from detente.agreement import Agreement, Obligation, Status, Trigger
from detente.engine import ceasefire, exclusion_zone, response_deadline
from detente.engine._columns import Columns
from detente.engine._context import Context
from detente.engine._judge import Rule, judge
from detente.engine._windows import Windows, windows
from detente.evidence import UNKNOWN_ACTOR, evidence_digest
from detente.findings import Finding, FindingsReport
from detente.zones import build_zones

__all__ = ["KINDS", "Columns", "evaluate", "evaluate_context"]

#: Findings for every bearer and window (windows, active rows) of a kind that judges itself.
Judged = Callable[[Windows, np.ndarray], list[Finding]]

#: Obligation kind -> the function that turns it into a rule over the evidence (or a judge).
KINDS: dict[str, Callable[[Context, Any], Rule | Judged]] = {
    "ceasefire": ceasefire.rule,
    "exclusion_zone": exclusion_zone.rule,
    "response_deadline": response_deadline.rule,
}


def evaluate(
    agreement: Agreement,
    evidence: pd.DataFrame | pa.Table | Columns,
    as_of: datetime,
    *,
    use_grid: bool | None = None,
) -> FindingsReport:
    """Every finding of ``agreement`` given the observations known up to ``as_of``.

    ``evidence`` is an observation frame, an Arrow table with the same columns (text columns may
    be dictionary-encoded), or :class:`Columns` prepared earlier. ``use_grid`` forces zone
    membership through the zone grid or the exact test (default: by size; same answers).
    """
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    cols = evidence if isinstance(evidence, Columns) else Columns.of(evidence)
    cols = cols.upto(pd.Timestamp(as_of).value)
    ctx = Context(agreement, build_zones(agreement), cols, as_of, use_grid=use_grid)
    return evaluate_context(ctx)


def evaluate_context(ctx: Context) -> FindingsReport:
    """:func:`evaluate` on a prepared context (whose masks another engine may have computed)."""
    done: dict[str, list[Finding]] = {}
    for ob in dependency_order(ctx.agreement):
        done[ob.id] = evaluate_obligation(ctx, ob, done)
    digest = evidence_digest(ctx.cols.time_ns, ctx.cols.text["content_hash"])
    return assemble(ctx.agreement, ctx.as_of, done, len(ctx.cols), digest)


def assemble(
    agreement: Agreement, as_of: datetime, done: dict[str, list[Finding]], count: int, digest: str
) -> FindingsReport:
    """The report of every obligation's findings, in the contract's order."""
    party_rank = {p: i for i, p in enumerate([*agreement.party_ids(), UNKNOWN_ACTOR])}
    findings = tuple(
        f
        for ob in agreement.obligations
        for f in sorted(done[ob.id], key=lambda f: (f.window_start, party_rank.get(f.party, 99)))
    )
    return FindingsReport(
        agreement_id=agreement.id,
        agreement_title=agreement.title,
        agreement_sha256=agreement.sha256,
        as_of=as_of,
        evidence_count=count,
        evidence_sha256=digest,
        findings=findings,
    )


def dependency_order(agreement: Agreement) -> list[Obligation]:
    """Obligations ordered so that a trigger's target is evaluated before it."""
    by_id = {o.id: o for o in agreement.obligations}
    ordered: list[Obligation] = []
    placed: set[str] = set()
    visiting: set[str] = set()

    def visit(ob: Obligation) -> None:
        if ob.id in placed:
            return
        if ob.id in visiting:
            raise ValueError(f"obligation {ob.id!r} triggers on itself through a cycle")
        visiting.add(ob.id)
        if ob.when is not None and ob.when.finding is not None:
            visit(by_id[ob.when.finding.obligation])
        visiting.discard(ob.id)
        placed.add(ob.id)
        ordered.append(ob)

    for ob in agreement.obligations:
        visit(ob)
    return ordered


@dataclass(frozen=True)
class Plan:
    """How an obligation is decided at an as-of time: findings the calendar alone decides
    (``head``: inactive before its trigger, or pending), then ``wins`` judged on evidence."""

    head: list[Finding]
    wins: Windows | None
    start: datetime
    fired: datetime | None


def plan(
    agreement: Agreement, ob: Obligation, done: dict[str, list[Finding]], as_of: datetime
) -> Plan:
    """The :class:`Plan` of ``ob``, given the findings of the obligations its trigger reads."""
    start, fired = ob.effective.start, None
    head: list[Finding] = []
    until = ob.effective.until
    if ob.when is not None:
        fired = fired_at(ob.when, done, as_of)
        if fired is None:
            return Plan(_calendar(agreement, as_of, ob, Status.inactive, start, until, None),
                        None, start, None)  # fmt: skip
        if fired > start:
            head = _calendar(agreement, as_of, ob, Status.inactive, start, fired, fired)
            start = fired
    if as_of < start:
        pending = _calendar(agreement, as_of, ob, Status.pending, start, until, fired)
        return Plan([*head, *pending], None, start, fired)
    wins = windows(start, until, as_of, agreement.window_of(ob), agreement.tz)
    return Plan(head, wins, start, fired)


def evaluate_obligation(
    ctx: Context, ob: Obligation, done: dict[str, list[Finding]]
) -> list[Finding]:
    """Every finding of one obligation."""
    p = plan(ctx.agreement, ob, done, ctx.as_of)
    return p.head if p.wins is None else [*p.head, *judge_windows(ctx, ob, p, p.wins)]


def judge_windows(ctx: Context, ob: Obligation, p: Plan, wins: Windows) -> list[Finding]:
    """Findings of ``ob`` for ``wins`` (all of the plan's windows, or some of them)."""
    made = KINDS[ob.kind](ctx, ob)
    if isinstance(made, Rule):
        found = judge(ctx, made, wins)
    else:
        found = made(wins, ctx.between(p.start, ob.effective.until))
    if p.fired is not None:
        found = [replace(f, triggered_at=p.fired) for f in found]
    return found


def fired_at(trigger: Trigger, done: dict[str, list[Finding]], as_of: datetime) -> datetime | None:
    """When the trigger first held, as far as the evidence up to ``as_of`` shows; else None."""
    if trigger.date is not None:
        return trigger.date if trigger.date <= as_of else None
    assert trigger.finding is not None
    wanted = trigger.finding
    times = [
        f.first_evidence_time or f.window_start
        for f in done[wanted.obligation]
        if f.status is wanted.status and (wanted.party is None or f.party == wanted.party)
    ]
    return min(times) if times else None


def _calendar(
    agreement: Agreement,
    as_of: datetime,
    ob: Obligation,
    status: Status,
    start: datetime,
    end: datetime | None,
    fired: datetime | None,
) -> list[Finding]:
    """One finding per bearer decided by the calendar alone (pending or inactive)."""
    tz = agreement.tz
    if status is Status.pending:
        text = (
            f"Not yet in effect as of {as_of.astimezone(tz):%Y-%m-%d %H:%M}; "
            f"the obligation binds from {start.astimezone(tz):%Y-%m-%d %H:%M} "
            f"{agreement.timezone}."
        )
    else:
        text = f"Conditional obligation, inactive: {_trigger_text(ob.when)}"
        text += f" fired at {fired.astimezone(tz):%Y-%m-%d %H:%M}." if fired else " has not fired."
    return [
        Finding(ob.id, party, status, 1.0, start.astimezone(tz), end, (), text)
        for party in ob.bearers
    ]


def _trigger_text(trigger: Trigger | None) -> str:
    if trigger is None:
        return "no trigger"
    if trigger.date is not None:
        return f"the date trigger ({trigger.date:%Y-%m-%d %H:%M})"
    assert trigger.finding is not None
    who = f" by {trigger.finding.party}" if trigger.finding.party else ""
    return f"the trigger ({trigger.finding.status.value} of {trigger.finding.obligation}{who})"
