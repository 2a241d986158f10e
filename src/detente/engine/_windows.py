"""Calendar windows in the agreement's time zone, clipped to an obligation's effective period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from detente.agreement import Window

# Calendar boundaries for each window size (weeks start on Monday, as in ISO 8601).
_FREQ = {Window.day: "D", Window.week: "W-MON", Window.month: "MS", Window.year: "YS"}


@dataclass(frozen=True)
class Windows:
    """``starts[i] <= t < ends[i]``; the last end may be ``None`` (open-ended obligation)."""

    starts: list[datetime]
    ends: list[datetime | None]

    def __len__(self) -> int:
        return len(self.starts)

    @cached_property
    def starts_ns(self) -> np.ndarray:
        """Window starts as integer nanoseconds since the epoch (UTC)."""
        return np.array([pd.Timestamp(s).value for s in self.starts], dtype=np.int64)

    def row_bounds(self, times_ns: np.ndarray) -> np.ndarray:
        """For times in ascending order: the row where each window starts, then the row after
        the last window's end (``len(bounds) == len(self) + 1``); window i is rows
        ``bounds[i]:bounds[i + 1]``. Windows are contiguous, so no row is skipped between."""
        starts = self.starts_ns
        last = self.ends[-1]
        end = len(times_ns) if last is None else np.searchsorted(times_ns, pd.Timestamp(last).value)
        bounds = np.r_[np.searchsorted(times_ns, starts, side="left"), end]
        return np.asarray(bounds, dtype=np.int64)

    def index_of(self, times_ns: np.ndarray) -> np.ndarray:
        """Window number of each time (``-1`` before the first window), vectorised."""
        return np.searchsorted(self.starts_ns, times_ns, side="right") - 1


def windows(
    start: datetime, until: datetime | None, as_of: datetime, size: Window, tz: ZoneInfo
) -> Windows:
    """Windows from ``start`` that have begun by ``as_of``.

    >>> from datetime import timezone
    >>> w = windows(datetime(2015, 2, 15, tzinfo=timezone.utc), None,
    ...             datetime(2015, 4, 2, tzinfo=timezone.utc), Window.month, ZoneInfo("UTC"))
    >>> [s.day for s in w.starts], w.ends[-1].month
    ([15, 1, 1], 5)
    """
    start = start.astimezone(tz)
    last = (as_of if until is None else min(as_of, until)).astimezone(tz)
    if size is Window.whole or last < start:
        return Windows([start], [until])
    # Calendar boundaries after ``start`` up to one past ``last``.
    edges = pd.date_range(
        start=pd.Timestamp(start).floor("D"), end=pd.Timestamp(last), freq=_FREQ[size]
    )
    cuts = [e.to_pydatetime() for e in edges if e.to_pydatetime() > start]
    # From midnight: date_range keeps its start's time of day, which would end the last window
    # at as_of's clock time rather than at the calendar boundary.
    midnight = pd.Timestamp(last).floor("D", ambiguous=False, nonexistent="shift_forward")
    following = pd.date_range(start=midnight, periods=2, freq=_FREQ[size])
    after = next(e.to_pydatetime() for e in following if e.to_pydatetime() > last)
    starts = [start, *cuts]
    ends: list[datetime | None] = [*cuts, after]
    if until is not None:
        starts = [s for s in starts if s < until]
        ends = [min(e, until) if e is not None else until for e in ends[: len(starts)]]
    return Windows(starts, ends)
