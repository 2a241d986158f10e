"""DataFrames to JSON-ready records (times as ISO 8601 with ``Z``, missing values as null).

>>> records(store.observations().head(2))                     # doctest: +SKIP
[{'id': 'smm-1', 'time': '2016-04-12T09:40:00.000000Z', 'count_best': 3, …}, …]
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import pandas as pd


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """One dict per row, every value a plain JSON type; dates stay ``YYYY-MM-DD``.

    Through pandas' own JSON writer: it turns NumPy and nullable types, NaN and NA into JSON in
    one pass, which per-cell Python conversion would do many times slower.
    """
    if frame.empty:
        return []
    dates = [c for c in frame.columns if frame[c].dtype == object and _holds_dates(frame[c])]
    if dates:
        frame = frame.assign(**{c: frame[c].map(_date_text) for c in dates})
    text = frame.to_json(orient="records", date_format="iso", date_unit="us")
    out: list[dict[str, Any]] = json.loads(text)
    return out


def _holds_dates(column: pd.Series) -> bool:
    return any(isinstance(v, date) and not isinstance(v, datetime) for v in column)


def _date_text(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value
