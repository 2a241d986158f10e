"""``response_deadline``: hotline messages to a bearer acknowledged within a number of hours.

Hotlines and the Vienna Document 2011 ch. III (a state asked about unusual military activity
answers within 48 hours). The evidence is the hotline's records as observation rows (see
:func:`detente.hotline.messages_as_evidence`): kind ``message`` or ``ack``, actor the sender,
category the recipient, and for an ack the acknowledged message's id in ``note``.

For each bearer and window, over the messages sent to the bearer in the window (by
``from_parties`` if given, else by anyone but the bearer), checked in this order:

* ``violation``  — a message graded at or above the threshold was not acknowledged by its
  deadline (sent + ``hours``), and the deadline has passed: no acknowledgement by the as-of time,
  or one that came late;
* ``unverified`` — the same, but only for messages graded below the threshold;
* ``pending``    — otherwise, some message is unacknowledged and its deadline is still ahead;
* ``compliant``  — every message was acknowledged in time;
* ``unverified`` — no message at all: nothing was due, and silence is not compliance.

An acknowledgement answers a message when it names the message, comes from the message's
recipient and goes to its sender; the earliest such one counts, whatever its grade.

    >>> judged = rule(ctx, obligation)                  # doctest: +SKIP
    >>> findings = judged(wins, active)                 # one per bearer and window
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import numpy as np
import pandas as pd

from detente.agreement import ResponseDeadline, Status
from detente.engine._context import Context
from detente.engine._phrases import plural
from detente.engine._windows import Windows
from detente.findings import Finding

HOUR_NS = 3_600 * 10**9
#: Messages named one by one in an explanation; the rest are counted.
LISTED = 5

# What became of a message by the as-of time.
IN_TIME, LATE, OVERDUE, OPEN = "in_time", "late", "overdue", "open"


def rule(ctx: Context, ob: ResponseDeadline) -> Callable[[Windows, np.ndarray], list[Finding]]:
    """A judge of the obligation's windows. Messages have no place, so the zone rules of
    ``_judge`` do not apply: this kind decides its statuses itself."""

    def judged(wins: Windows, active: np.ndarray) -> list[Finding]:
        msgs = messages(ctx, ob, active)
        msgs["window"] = wins.index_of(msgs["sent"].to_numpy(dtype=np.int64))
        groups = msgs.groupby(["party", "window"], sort=False).indices
        empty = msgs.iloc[:0]
        return [
            _decide(ctx, ob, party, wins, i, msgs.iloc[groups[(party, i)]] if (party, i) in groups
                    else empty)
            for party in ob.bearers
            for i in range(len(wins))
        ]  # fmt: skip

    return judged


def messages(ctx: Context, ob: ResponseDeadline, active: np.ndarray) -> pd.DataFrame:
    """Every message that binds a bearer, with its deadline and what became of it.

    Columns: ``row`` (in the context), ``id``, ``sender``, ``party`` (the bearer it was sent to),
    ``sent``, ``deadline``, ``ack_row`` (-1 if none), ``acked`` (ns, -1 if none), ``state`` (one
    of ``in_time``, ``late``, ``overdue``, ``open``) and ``late_ns`` (how late; 0 if not).
    """
    wanted = ctx.is_in("kind", ("message",)) & active & ctx.is_in("category", ob.bearers)
    if ob.from_parties is not None:
        wanted &= ctx.is_in("actor", ob.from_parties)
    rows = np.flatnonzero(wanted)
    msgs = pd.DataFrame({
        "row": rows, "id": ctx.text("id", rows), "sender": ctx.values("actor", rows),
        "party": ctx.values("category", rows), "sent": ctx.time_ns[rows],
    })  # fmt: skip
    msgs = msgs[msgs["sender"] != msgs["party"]]  # a note to oneself asks nothing of anyone
    ack_rows = np.flatnonzero(ctx.is_in("kind", ("ack",)))
    acks = pd.DataFrame({
        "ack_row": ack_rows, "id": ctx.text("note", ack_rows),
        "party": ctx.values("actor", ack_rows), "sender": ctx.values("category", ack_rows),
        "acked": ctx.time_ns[ack_rows],
    })  # fmt: skip
    # The acker is the message's recipient (the bearer) and the ack goes back to its sender.
    matched = msgs[["row", "id", "party", "sender"]].merge(acks, on=["id", "party", "sender"])
    first = matched.sort_values(["acked", "ack_row"]).drop_duplicates("row")
    msgs = msgs.merge(first[["row", "ack_row", "acked"]], on="row", how="left")
    msgs["ack_row"] = msgs["ack_row"].fillna(-1).astype(np.int64)
    msgs["acked"] = msgs["acked"].fillna(-1).astype(np.int64)
    sent = msgs["sent"].to_numpy(dtype=np.int64)
    deadline = sent + round(ob.hours * HOUR_NS)
    acked = msgs["acked"].to_numpy(dtype=np.int64)
    has_ack = msgs["ack_row"].to_numpy() >= 0
    as_of = pd.Timestamp(ctx.as_of).value
    msgs["deadline"] = deadline
    msgs["state"] = np.select(
        [has_ack & (acked <= deadline), has_ack, as_of > deadline],
        [IN_TIME, LATE, OVERDUE],
        OPEN,
    )
    msgs["late_ns"] = np.select(
        [msgs["state"] == LATE, msgs["state"] == OVERDUE], [acked - deadline, as_of - deadline], 0
    )
    return msgs


def _decide(
    ctx: Context, ob: ResponseDeadline, party: str, wins: Windows, i: int, sub: pd.DataFrame
) -> Finding:
    hours = f"{ob.hours:g} h"
    breached = sub[sub["state"].isin([LATE, OVERDUE])]
    strong = breached[ctx.grade_ok[breached["row"].to_numpy(dtype=np.int64)]]
    first: datetime | None = None
    if len(strong):
        status, deciding = Status.violation, strong
        first = _moment(int(strong["deadline"].min()))
        text = (
            f"{_count(strong)} to {party} not acknowledged within {hours}: "
            f"{_listing(ctx, strong)}; graded {_grades(ctx, strong)}."
        )
    elif len(breached):
        status, deciding = Status.unverified, breached
        text = (
            f"{_count(breached)} to {party} not acknowledged within {hours} "
            f"({_listing(ctx, breached)}), but only graded {_grades(ctx, breached)}: not enough "
            "to establish a violation."
        )
    elif (sub["state"] == OPEN).any():
        status, deciding = Status.pending, sub[sub["state"] == OPEN]
        done = len(sub) - len(deciding)
        text = (
            f"{_count(deciding)} to {party} awaiting acknowledgement; the earliest deadline "
            f"is {_when(ctx, int(deciding['deadline'].min()))}, after the as-of time"
            + (f" ({done} other{'s' if done > 1 else ''} acknowledged in time)." if done else ".")
        )
    elif len(sub):
        status, deciding = Status.compliant, sub
        slowest = int((sub["acked"] - sub["sent"]).max())
        if len(sub) == 1:
            text = (
                f"The one hotline message to {party} in this window was acknowledged within "
                f"{hours} (after {_duration(slowest)})."
            )
        else:
            text = (
                f"All {_count(sub)} to {party} in this window were acknowledged within {hours} "
                f"(the slowest after {_duration(slowest)})."
            )
    else:
        status, deciding = Status.unverified, sub
        text = (
            f"No hotline message to {party} in this window: nothing was due, and silence is "
            "not compliance."
        )
    rows = deciding["row"].to_numpy(dtype=np.int64)
    if status is not Status.pending:  # the acknowledgements decide too (late or in time)
        acks = deciding["ack_row"].to_numpy(dtype=np.int64)
        rows = np.concatenate([rows, acks[acks >= 0]])
    rows = np.unique(rows)  # sorted: the context's (time, id) order
    if first is None and rows.size:
        first = _moment(int(ctx.time_ns[rows].min()))
    if status is Status.pending:
        score = 1.0  # decided by the calendar, as pending always is
    else:
        score = ctx.confidence(deciding["row"].to_numpy(dtype=np.int64))
    return Finding(
        obligation=ob.id,
        party=party,
        status=status,
        confidence=score,
        window_start=wins.starts[i],
        window_end=wins.ends[i],
        evidence=tuple(ctx.text("id", rows).tolist()),
        explanation=text,
        first_evidence_time=first,
    )


def _count(msgs: pd.DataFrame) -> str:
    return plural(len(msgs), "hotline message")


def _listing(ctx: Context, msgs: pd.DataFrame) -> str:
    """``hotline-rus--ukr-1 from ukr (sent 2022-02-10 10:00, no acknowledgement, 3 d 4 h
    overdue)``, for the first few messages, then how many more."""
    head = msgs.head(LISTED)  # a handful, for words only
    parts = []
    for mid, sender, sent, state, late in zip(
        head["id"].tolist(), head["sender"].tolist(), head["sent"].to_numpy(dtype=np.int64),
        head["state"].tolist(), head["late_ns"].to_numpy(dtype=np.int64), strict=True,
    ):  # fmt: skip
        if state == LATE:
            what = f"acknowledged {_duration(int(late))} late"
        else:
            what = f"no acknowledgement, {_duration(int(late))} overdue"
        parts.append(f"{mid} from {sender} (sent {_when(ctx, int(sent))}, {what})")
    more = len(msgs) - LISTED
    return ", ".join(parts) + (f" and {more} more" if more > 0 else "")


def _grades(ctx: Context, msgs: pd.DataFrame) -> str:
    graded = ctx.grade_counts(msgs["row"].to_numpy(dtype=np.int64))
    return ", ".join(g if n == 1 else f"{g} ×{n}" for g, n in graded)


def _when(ctx: Context, ns: int) -> str:
    tz = ctx.agreement.tz
    return f"{pd.Timestamp(ns, tz='UTC').tz_convert(tz):%Y-%m-%d %H:%M} {ctx.agreement.timezone}"


def _moment(ns: int) -> datetime:
    return pd.Timestamp(ns, tz="UTC").to_pydatetime()


def _duration(ns: int) -> str:
    """``3 d 4 h``, ``5 h 30 min``, ``12 min``, ``40 s``: two units at most, rounded down.

    >>> _duration(3 * 86_400 * 10**9 + 4 * HOUR_NS + 59 * 60 * 10**9)
    '3 d 4 h'
    """
    seconds = max(ns, 0) // 10**9
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    units = [(days, "d"), (hours, "h"), (minutes, "min"), (secs, "s")]
    start = next((k for k, (v, _) in enumerate(units) if v), len(units) - 1)
    shown = [f"{v} {u}" for v, u in units[start : start + 2] if v]
    return " ".join(shown) or "0 s"
