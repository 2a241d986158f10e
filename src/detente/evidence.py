"""Evidence: the canonical observation record, Admiralty grades, precision, content hashes.

Evidence travels through Detente as columns, never as per-row Python objects: a pandas
DataFrame with the columns of :data:`OBSERVATION_COLUMNS` (an "observation frame").

    >>> meets_grade(np.array(["B", "D"]), np.array([2, 2]), "C", 3)
    array([ True, False])
"""

from __future__ import annotations

import functools
import hashlib

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from detente._threads import parallel_map
from detente._threads import workers as _workers

#: Columns a user writes in a canonical observation CSV (see docs/evidence-format.md).
CSV_REQUIRED = (
    "id", "time", "lon", "lat", "actor", "kind", "category",
    "count", "source", "reliability", "credibility", "note",
)  # fmt: skip
#: Optional columns of the canonical CSV.
CSV_OPTIONAL = (
    "count_low", "count_high", "place_uncertainty_km", "time_uncertainty_days",
    "place_precision", "time_precision",
)  # fmt: skip

#: Columns of an observation frame, in order, with their pandas dtypes.
OBSERVATION_COLUMNS: dict[str, str] = {
    "id": "string",
    "time": "datetime64[us, UTC]",
    "lon": "float64",
    "lat": "float64",
    "actor": "string",
    "kind": "string",
    "category": "string",
    "count_low": "Int64",
    "count_best": "Int64",
    "count_high": "Int64",
    "source": "string",
    "reliability": "string",
    "credibility": "int8",
    "note": "string",
    "place_uncertainty_km": "float64",
    "time_uncertainty_days": "float64",
    # The source's own precision codes (e.g. "ucdp:2", "acled:1"), kept beside the uncertainty
    # they were translated into, so a reader can always go back to what the source said.
    "place_precision": "string",
    "time_precision": "string",
    "content_hash": "string",
    "prov_file": "string",
    "prov_row": "int64",
}

#: Columns whose values make up the content hash (provenance is deliberately excluded, so the
#: same sighting reported in two files is recognised as the same record).
HASHED_COLUMNS = tuple(
    c for c in OBSERVATION_COLUMNS if c not in ("content_hash", "prov_file", "prov_row")
)
#: Hashed columns added after the first release: they enter the canonical text only when given
#: (tagged with their name), so a record without them keeps the hash it always had and stores
#: written before them stay consistent. A frame may lack them; they are then NULL.
TAGGED_COLUMNS = ("place_precision", "time_precision")

RELIABILITY = ("A", "B", "C", "D", "E", "F")
CREDIBILITY = (1, 2, 3, 4, 5, 6)
#: ``message`` and ``ack`` are hotline records (see :func:`detente.hotline.messages_as_evidence`):
#: the actor sent them to the party in ``category``; an ack's note is the id of its message.
KINDS = (
    "equipment", "troops", "fire", "incident", "presence", "movement", "patrol", "message", "ack",
)  # fmt: skip
UNKNOWN_ACTOR = "unknown"

#: Weight of a grade in the confidence of a finding (Admiralty: A reliable … F cannot be judged;
#: 1 confirmed … 6 cannot be judged). E/F and 5/6 carry almost nothing.
RELIABILITY_WEIGHT = {"A": 0.95, "B": 0.85, "C": 0.7, "D": 0.45, "E": 0.2, "F": 0.1}
CREDIBILITY_WEIGHT = {1: 0.95, 2: 0.85, 3: 0.7, 4: 0.45, 5: 0.2, 6: 0.1}


def empty_observations() -> pd.DataFrame:
    """An observation frame with no rows and the right dtypes."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in OBSERVATION_COLUMNS.items()})


def meets_grade(
    rel: np.ndarray | pd.Series, cred: np.ndarray | pd.Series, min_rel: str, max_cred: int
) -> np.ndarray:
    """True where a record is graded at or above the threshold (e.g. B2 meets C3, D2 does not)."""
    rel_arr = np.asarray(rel, dtype=object).astype(str)
    cred_arr = np.asarray(cred, dtype=np.int64)
    return (rel_arr <= min_rel) & (cred_arr <= max_cred)


#: Evidence digests are built day by day (UTC), so that adding a record rehashes one day only.
DAY_NS = 86_400 * 10**9


def evidence_digest(time_ns: np.ndarray, hashes: pa.Array | pd.Series) -> str:
    """sha256 identifying an evidence set: its records' content hashes, day by day.

    ``time_ns`` and ``hashes`` describe the records in canonical order (time, id, content hash;
    see :class:`detente.engine._columns.Columns`), so the digest depends on the set of records
    only, never on the order they came in. Each UTC day with records gets the sha256 of its
    content hashes (their lengths, then their bytes); the digest is the sha256 of every such day
    as (day number, record count, day digest).

    >>> len(evidence_digest(np.array([0, 5]), pa.array(["ab", "cd"])))
    64
    """
    days, counts, digests = day_digests(time_ns, hashes)
    return combine_day_digests(days, counts, digests)


def day_digests(
    time_ns: np.ndarray, hashes: pa.Array | pd.Series
) -> tuple[np.ndarray, np.ndarray, list[bytes]]:
    """``(days, counts, digests)``: one entry per UTC day that has records (see above)."""
    text = _large_text(hashes)
    day = np.floor_divide(np.asarray(time_ns, dtype=np.int64), DAY_NS)
    cuts = np.flatnonzero(np.diff(day)) + 1
    starts = np.r_[0, cuts].astype(np.int64) if len(day) else np.zeros(0, dtype=np.int64)
    stops = np.r_[cuts, len(day)].astype(np.int64) if len(day) else starts
    first = text.offset
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int64)[first : first + len(text) + 1]
    data = memoryview(text.buffers()[2]) if len(text) else memoryview(b"")
    lengths = np.diff(offsets).astype("<i8")

    def one(span: tuple[int, int]) -> bytes:
        a, b = span
        digest = hashlib.sha256(lengths[a:b].tobytes())
        digest.update(data[offsets[a] : offsets[b]])
        return digest.digest()

    spans = list(zip(starts.tolist(), stops.tolist(), strict=True))
    if len(spans) < 64:
        return day[starts], stops - starts, [one(s) for s in spans]
    # One contiguous run of days per thread: hashlib releases the GIL on large inputs, and a
    # task per day would cost more to hand out than to hash.
    groups = np.array_split(np.arange(len(spans)), _workers())
    parts = parallel_map(lambda g: [one(spans[i]) for i in g.tolist()], groups)
    return day[starts], stops - starts, [d for part in parts for d in part]


def combine_day_digests(days: np.ndarray, counts: np.ndarray, digests: list[bytes]) -> str:
    """The evidence digest from its days (see :func:`evidence_digest`)."""
    top = hashlib.sha256()
    for day, count, digest in zip(days.tolist(), counts.tolist(), digests, strict=True):
        top.update(int(day).to_bytes(8, "little", signed=True))
        top.update(int(count).to_bytes(8, "little"))
        top.update(digest)
    return top.hexdigest()


def _large_text(hashes: pa.Array | pa.ChunkedArray | pd.Series) -> pa.LargeStringArray:
    """Content hashes as one Arrow large-string array (nulls hash as empty text)."""
    if isinstance(hashes, pd.Series):
        hashes = pa.array(hashes, from_pandas=True)
    if isinstance(hashes, pa.ChunkedArray):
        hashes = hashes.combine_chunks()
    if not pa.types.is_large_string(hashes.type):
        hashes = hashes.cast(pa.large_string())
    return hashes.fill_null("") if hashes.null_count else hashes


# --------------------------------------------------------------------------- content hash


def _hash_sql() -> str:
    """SQL for the hash of the canonical text of a row: its fields joined by ``|``.

    Text fields are written ``<bytes>:<text>`` (the length prefix makes the whole unambiguous
    whatever they contain, so nothing needs escaping), numbers as DuckDB's shortest round-trip
    text, the time as ISO with microseconds and ``Z``; NULL is ``-``, which no written field can
    be. The :data:`TAGGED_COLUMNS` follow as ``name=<bytes>:<text>`` when not NULL and are left
    out when NULL. So the hash can be recomputed from the stored values anywhere.
    """
    parts = []
    for col in HASHED_COLUMNS:
        name = f'"{col}"'
        if col in TAGGED_COLUMNS:  # NULL makes the whole part NULL, which concat_ws skips
            parts.append(f"'{col}=' || strlen({name}) || ':' || {name}")
            continue
        if col == "time":  # passed as epoch microseconds: no time zone setting can interfere
            text = f"strftime(make_timestamp({name}), '%Y-%m-%dT%H:%M:%S.%fZ')"
        elif OBSERVATION_COLUMNS[col] == "string":
            text = f"strlen({name}) || ':' || {name}"
        else:
            text = f"CAST({name} AS VARCHAR)"
        parts.append(f"coalesce({text}, '-')")
    return f"sha256(concat_ws('|', {', '.join(parts)}))"


HASH_SQL = _hash_sql()


@functools.cache
def _hash_database() -> duckdb.DuckDBPyConnection:
    # One in-memory database per process; each call takes its own cursor (thread-safe), which
    # saves a connect per file.
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    return con


def content_hashes(frame: pd.DataFrame) -> pd.Series:
    """sha256 hex of each row's :data:`HASHED_COLUMNS`, computed by DuckDB over the whole frame.

    >>> content_hashes(parsed.frame).equals(parsed.frame["content_hash"])   # doctest: +SKIP
    True
    """
    absent = pd.Series(pd.NA, index=frame.index, dtype="string")
    data = pd.DataFrame(
        {c: frame[c] if c in frame or c not in TAGGED_COLUMNS else absent for c in HASHED_COLUMNS}
    )
    data["time"] = (
        frame["time"].dt.tz_convert(None).astype("datetime64[us]").to_numpy().view(np.int64)
    )
    table = pa.Table.from_pandas(data, preserve_index=False)
    with _hash_database().cursor() as con:
        con.register("hash_input", table)
        # preserve_insertion_order (DuckDB's default) keeps the output in the frame's order.
        hashes = con.execute(f"SELECT {HASH_SQL} AS h FROM hash_input").to_arrow_table()
    # Kept as Arrow text: no Python string object per row.
    array = pd.arrays.ArrowStringArray(hashes.column("h").cast(pa.large_string()))
    return pd.Series(array, index=frame.index).astype("string")
