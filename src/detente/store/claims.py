"""Documents, the claims extracted from them, and their review, kept in the evidence store.

    >>> with open_store("work.duckdb") as store:                           # doctest: +SKIP
    ...     claims = ClaimStore(store)
    ...     claims.add_document(doc, claim_list, source="Example News", grade=("C", 3))
    ...     claims.review(["claim-3f2a…"], "accept", reviewer="ana")
    ...     frame = claims.evidence(policy=agreement.claims, parties=agreement.parties)

Rules (the same as for observations): tables are only ever INSERTed into. A review is a new row
(who, when, what); a claim's current state is its extracted values overlaid with its latest edit
of each field, and its status is its latest accept, reject or reopen (pending before any).
Re-adding a document whose clean text is already stored adds nothing.

The tables live beside the observations, in DuckDB or PostgreSQL alike: the SQL is portable
(:class:`~detente.store._db.Database`), and concurrent writers on PostgreSQL queue on a table
lock where a write depends on what is stored (the next review id, whether a document is new).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa

from detente.agreement import ClaimPolicy, Party
from detente.documents import Document
from detente.errors import InputError, Problem
from detente.evidence import OBSERVATION_COLUMNS, RELIABILITY, content_hashes, meets_grade
from detente.extract._types import Claim
from detente.store._ingest import EvidenceStore

ACTIONS = ("accept", "reject", "reopen", "edit")
STATUSES = ("pending", "accepted", "rejected")
#: Fields a reviewer may edit, with the type a value is checked against.
EDITABLE: dict[str, type] = {
    "event_type": str, "modality": str, "actor": str, "party": str, "target": str,
    "place_name": str, "lon": float, "lat": float, "place_uncertainty_km": float,
    "time_start": date, "time_end": date, "category": str, "count_low": int,
    "count_best": int, "count_high": int, "reliability": str, "credibility": int,
}  # fmt: skip
MODALITIES = ("observed", "rule", "intent")
#: Place uncertainty (km) a claim's place gets from its gazetteer kind, unless edited.
PLACE_KIND_KM = {"city": 15.0, "region": 150.0, "country": 500.0}

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS documents (
        doc_id VARCHAR, file VARCHAR, format VARCHAR, title VARCHAR, published DATE,
        source VARCHAR, reliability VARCHAR, credibility TINYINT, text VARCHAR, sha256 VARCHAR,
        ingested_at TIMESTAMPTZ)""",
    """CREATE TABLE IF NOT EXISTS claims (
        claim_id VARCHAR, doc_id VARCHAR, span_start INTEGER, span_end INTEGER,
        sentence VARCHAR, event_type VARCHAR, modality VARCHAR, actor VARCHAR, target VARCHAR,
        confidence DOUBLE, trigger VARCHAR, action VARCHAR, place_name VARCHAR, lon DOUBLE,
        lat DOUBLE,
        place_kind VARCHAR, time_start DATE, time_end DATE, time_text VARCHAR,
        quantities VARCHAR, extracted_at TIMESTAMPTZ)""",
    """CREATE TABLE IF NOT EXISTS claim_reviews (
        review_id BIGINT, claim_id VARCHAR, action VARCHAR, field VARCHAR, value VARCHAR,
        reviewer VARCHAR, reviewed_at TIMESTAMPTZ, note VARCHAR)""",
)


@dataclass(frozen=True)
class AddResult:
    """What adding one document stored."""

    doc_id: str
    claims: int
    new: bool  # False when the same clean text was already stored


class ClaimStore:
    """Documents, claims and reviews in an evidence store (tables created on first use).

    >>> claims = ClaimStore(open_store("work.duckdb"))                     # doctest: +SKIP
    """

    def __init__(self, store: EvidenceStore) -> None:
        self.store = store
        self.db = store.db
        self.db.create(_SCHEMA)

    # ------------------------------------------------------------------ writing

    def add_document(
        self,
        doc: Document,
        claims: Sequence[Claim],
        *,
        source: str,
        grade: tuple[str, int] = ("F", 6),
    ) -> AddResult:
        """Store a document and its claims in one transaction (nothing if already stored)."""
        now = datetime.now(UTC)
        with self.db.transaction():
            self.db.lock("documents")  # two writers of one text: the second finds it stored
            known = self.db.one("SELECT doc_id FROM documents WHERE sha256 = ?", [doc.sha256])
            if known:
                return AddResult(str(known[0]), 0, False)
            self.db.execute(
                "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    doc.doc_id,
                    doc.file,
                    doc.format,
                    doc.title,
                    doc.published,
                    source,
                    grade[0],
                    grade[1],
                    doc.text,
                    doc.sha256,
                    now,
                ],
            )
            rows = claim_rows(doc.doc_id, claims, now)
            if len(rows):
                names = ", ".join(rows.columns)
                marks = ", ".join("?" for _ in rows.columns)
                # Through Arrow: NaN becomes NULL and NumPy scalars plain Python values.
                records = pa.Table.from_pandas(rows, preserve_index=False).to_pylist()
                self.db.executemany(
                    f"INSERT INTO claims ({names}) VALUES ({marks})",
                    [list(r.values()) for r in records],
                )
        return AddResult(doc.doc_id, len(rows), True)

    def review(
        self,
        claim_ids: Sequence[str],
        action: str,
        *,
        reviewer: str,
        changes: dict[str, str] | None = None,
        note: str = "",
    ) -> int:
        """Record a review of each claim (all or none); returns the number of rows written."""
        self._check_review(claim_ids, action, changes or {})
        pairs = sorted((changes or {}).items()) if action == "edit" else [(None, None)]
        now = datetime.now(UTC)
        with self.db.transaction():
            self.db.lock("claim_reviews")  # review ids: one writer at a time takes the next
            row = self.db.one("SELECT coalesce(max(review_id), 0) FROM claim_reviews")
            first = int(row[0]) + 1 if row else 1
            values = [
                (first + i, cid, action, fld, val, reviewer, now, note)
                for i, (cid, (fld, val)) in enumerate((c, p) for c in claim_ids for p in pairs)
            ]
            self.db.executemany("INSERT INTO claim_reviews VALUES (?, ?, ?, ?, ?, ?, ?, ?)", values)
        return len(values)

    def _check_review(self, claim_ids: Sequence[str], action: str, changes: dict[str, str]) -> None:
        problems: list[Problem] = []
        if action not in ACTIONS:
            problems.append(Problem("<review>", "action", f"one of {', '.join(ACTIONS)}"))
        if not claim_ids:
            problems.append(Problem("<review>", "claim", "name at least one claim id"))
        known = set(self.claims()["claim_id"])
        problems += [
            Problem("<review>", "claim", f"no claim {cid!r} in this store")
            for cid in claim_ids
            if cid not in known
        ]
        if action == "edit" and not changes:
            problems.append(Problem("<review>", "--set", "an edit needs field=value pairs"))
        problems += [Problem("<review>", f"--set {k}", m) for k, m in check_changes(changes)]
        if problems:
            raise InputError(problems)

    # ------------------------------------------------------------------ reading

    def documents(self) -> pd.DataFrame:
        """One row per stored document (text included)."""
        return self._frame("SELECT * FROM documents ORDER BY ingested_at, doc_id")

    def history(self, claim_id: str) -> pd.DataFrame:
        """Every review of one claim, oldest first."""
        sql = "SELECT * FROM claim_reviews WHERE claim_id = ? ORDER BY review_id"
        return self._frame(sql, [claim_id])

    def claims(self, status: str | None = None) -> pd.DataFrame:
        """Claims as they stand after review: edited fields overlaid, with ``status``,
        ``reviewer`` and ``reviewed_at``; plus each document's source, grade and publication."""
        sql = _current_claims_sql()
        params: list[object] = []
        if status is not None:
            sql = f"SELECT * FROM ({sql}) AS current WHERE status = ?"
            params.append(status)
        return self._frame(sql + " ORDER BY doc_id, span_start", params)

    def _frame(self, sql: str, params: list[object] | None = None) -> pd.DataFrame:
        # Through Arrow, typed alike from both backends (DuckDB's own .df() also trips pandas 3
        # deprecation warnings). Credibility is TINYINT in DuckDB, SMALLINT in PostgreSQL.
        table = self.db.table(sql, params or [])
        if "credibility" in table.column_names:
            where = table.column_names.index("credibility")
            table = table.set_column(where, "credibility", table["credibility"].cast(pa.int8()))
        frame: pd.DataFrame = table.to_pandas()
        return frame

    def evidence(
        self, policy: ClaimPolicy | None = None, parties: Sequence[Party] = ()
    ) -> pd.DataFrame:
        """Observation frame of the claims that count as evidence (see :func:`claims_evidence`)."""
        return claims_evidence(self.claims(), policy, parties)


def has_claims(store: EvidenceStore) -> bool:
    """Whether the store has ever held documents (so reading it need not create tables)."""
    return store.db.has_table("claims")


# ---------------------------------------------------------------------- claims as rows


def claim_id(doc_id: str, claim: Claim) -> str:
    """Stable id: the document and the sentence's span (one claim per sentence)."""
    return f"claim-{doc_id.removeprefix('doc-')}-{claim.span[0]}"


def claim_rows(doc_id: str, claims: Sequence[Claim], now: datetime) -> pd.DataFrame:
    """The ``claims`` table rows of one document's claims."""
    return pd.DataFrame(
        {
            "claim_id": [claim_id(doc_id, c) for c in claims],
            "doc_id": doc_id,
            "span_start": [c.span[0] for c in claims],
            "span_end": [c.span[1] for c in claims],
            "sentence": [c.sentence for c in claims],
            "event_type": [c.event_type for c in claims],
            "modality": [c.modality for c in claims],
            "actor": [c.actor for c in claims],
            "target": [c.target for c in claims],
            "confidence": [c.confidence for c in claims],
            "trigger": [c.trigger for c in claims],
            "action": [c.action for c in claims],
            "place_name": [c.place.name if c.place else None for c in claims],
            "lon": [c.place.lon if c.place else None for c in claims],
            "lat": [c.place.lat if c.place else None for c in claims],
            "place_kind": [c.place.kind if c.place else None for c in claims],
            "time_start": [date.fromisoformat(c.time.start) if c.time else None for c in claims],
            "time_end": [date.fromisoformat(c.time.end) if c.time else None for c in claims],
            "time_text": [c.time.text if c.time else None for c in claims],
            "quantities": [json.dumps(c.to_dict()["quantities"]) for c in claims],
            "extracted_at": now,
        },
        index=pd.RangeIndex(len(claims)),
    )


def check_changes(changes: dict[str, str]) -> list[tuple[str, str]]:
    """(field, message) for each edit that is not allowed or does not parse."""
    bad: list[tuple[str, str]] = []
    for name, value in changes.items():
        kind = EDITABLE.get(name)
        if kind is None:
            bad.append((name, f"not an editable field; one of {', '.join(EDITABLE)}"))
            continue
        try:
            parsed = date.fromisoformat(value) if kind is date else kind(value)
        except ValueError:
            bad.append((name, f"{value!r} is not a valid {kind.__name__}"))
            continue
        message = _domain_error(name, parsed)
        if message:
            bad.append((name, message))
    return bad


def _domain_error(name: str, value: object) -> str | None:
    checks: dict[str, tuple[bool, str]] = {
        "modality": (value in MODALITIES, f"one of {', '.join(MODALITIES)}"),
        "reliability": (value in RELIABILITY, "one of A–F"),
        "credibility": (isinstance(value, int) and 1 <= value <= 6, "1–6"),
        "lon": (isinstance(value, float) and -180 <= value <= 180, "within -180..180"),
        "lat": (isinstance(value, float) and -90 <= value <= 90, "within -90..90"),
    }
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value!r}: must be a finite number"
    ok, need = checks.get(name, (True, ""))
    if name.startswith("count_") or name == "place_uncertainty_km":
        ok, need = isinstance(value, int | float) and value >= 0, "not negative"
    return None if ok else f"{value!r}: must be {need}"


def _current_claims_sql() -> str:
    """Claims overlaid with each field's latest edit, with their review status.

    Portable SQL (DuckDB and PostgreSQL): the latest row of a group is ``row_number() OVER
    (… ORDER BY review_id DESC) = 1`` and the pivot ``max(CASE WHEN …)``.
    """
    cast = {str: "VARCHAR", float: "DOUBLE", int: "BIGINT", date: "DATE"}
    pivot = ", ".join(f"max(CASE WHEN field = '{f}' THEN value END) AS e_{f}" for f in EDITABLE)
    edit_only = {"party", "place_uncertainty_km", "category", "count_low", "count_best",
            "count_high", "reliability", "credibility"}  # fmt: skip
    overlay = ", ".join(
        f"CAST(e.e_{f} AS {cast[t]}) AS {f}"
        if f in edit_only
        else f"coalesce(CAST(e.e_{f} AS {cast[t]}), c.{f}) AS {f}"
        for f, t in EDITABLE.items()
        if f not in ("reliability", "credibility")
    )
    return f"""
    WITH latest AS (
        SELECT claim_id, field, value FROM (
            SELECT claim_id, field, value, row_number() OVER (
                PARTITION BY claim_id, field ORDER BY review_id DESC) AS n
            FROM claim_reviews WHERE action = 'edit') AS ranked
        WHERE n = 1),
    edits AS (SELECT claim_id, {pivot} FROM latest GROUP BY claim_id),
    verdicts AS (
        SELECT claim_id, action, reviewer, reviewed_at FROM (
            SELECT claim_id, action, reviewer,
                   max(reviewed_at) OVER (PARTITION BY claim_id) AS reviewed_at,
                   row_number() OVER (PARTITION BY claim_id ORDER BY review_id DESC) AS n
            FROM claim_reviews WHERE action <> 'edit') AS ranked
        WHERE n = 1)
    SELECT c.claim_id, c.doc_id, c.span_start, c.span_end, c.sentence, c.confidence,
           c.trigger, c.action, c.place_kind, c.time_text, c.quantities, {overlay},
           CASE v.action WHEN 'accept' THEN 'accepted' WHEN 'reject' THEN 'rejected'
                ELSE 'pending' END AS status,
           v.reviewer, v.reviewed_at, d.file AS doc_file, d.title AS doc_title,
           d.published, d.source,
           coalesce(e.e_reliability, d.reliability) AS reliability,
           coalesce(CAST(e.e_credibility AS TINYINT), d.credibility) AS credibility
    FROM claims c
    JOIN documents d USING (doc_id)
    LEFT JOIN edits e USING (claim_id)
    LEFT JOIN verdicts v USING (claim_id)"""


# ---------------------------------------------------------------------- claims as evidence


def counts_as_evidence(claims: pd.DataFrame, policy: ClaimPolicy | None) -> np.ndarray:
    """Accepted claims count; so do pending ones graded and scored at or above the policy.

    A claim must also report something seen (modality ``observed``) at a place and a time.
    """
    status = claims["status"].to_numpy(dtype=object)
    counted = status == "accepted"
    if policy is not None and policy.accept_grade is not None:
        grade = policy.accept_grade
        auto = meets_grade(
            claims["reliability"], claims["credibility"], grade.reliability, grade.credibility
        ) & (claims["confidence"].to_numpy(dtype=float) >= policy.min_confidence)
        counted |= (status == "pending") & auto
    usable = (
        (claims["modality"].to_numpy(dtype=object) == "observed")
        & claims["lon"].notna().to_numpy()
        & claims["lat"].notna().to_numpy()
        & (claims["time_start"].notna() | claims["published"].notna()).to_numpy()
    )
    return np.asarray(counted & usable, dtype=bool)


def claims_evidence(
    claims: pd.DataFrame, policy: ClaimPolicy | None = None, parties: Sequence[Party] = ()
) -> pd.DataFrame:
    """Observation rows for the claims that count: one per quantity, each linked to its span.

    The kind follows the event type (ASSAULT/FIGHT fire, MOBILIZE troops or equipment,
    RETREAT movement, anything else incident); the actor is a party only when the reviewer set
    one or the claim's actor names exactly one party (see :func:`match_parties`).
    """
    kept = claims.loc[counts_as_evidence(claims, policy)].reset_index(drop=True)
    rows = _explode_quantities(kept)
    start = pd.to_datetime(rows["time_start"].fillna(rows["published"]))
    end = pd.to_datetime(rows["time_end"]).fillna(start)
    actor = rows["party"].fillna(match_parties(rows["actor"], parties))
    data = {
        "id": rows["obs_id"],
        "time": (start + pd.Timedelta(hours=12)).dt.tz_localize(UTC),
        "lon": rows["lon"],
        "lat": rows["lat"],
        "actor": actor,
        "kind": _kinds(rows),
        "category": rows["q_category"].fillna(""),
        "count_low": rows["q_low"],
        "count_best": rows["q_best"],
        "count_high": rows["q_high"],
        "source": rows["source"] + " — " + rows["doc_title"],
        "reliability": rows["reliability"],
        "credibility": rows["credibility"],
        "note": rows["doc_id"] + "#chars=" + rows["span_start"].astype(str) + "-"
        + rows["span_end"].astype(str) + ": " + rows["sentence"],
        "place_uncertainty_km": rows["place_uncertainty_km"].fillna(
            rows["place_kind"].map(PLACE_KIND_KM)
        ).fillna(PLACE_KIND_KM["city"]),
        "time_uncertainty_days": (end - start).dt.days.astype(float),
        "prov_file": rows["doc_file"],
        "prov_row": rows["span_start"],
    }  # fmt: skip
    frame = pd.DataFrame(
        {c: data.get(c, pd.Series(pd.NA, index=rows.index)) for c in OBSERVATION_COLUMNS}
    ).astype(OBSERVATION_COLUMNS)
    frame["content_hash"] = content_hashes(frame)
    return frame


def match_parties(actors: pd.Series, parties: Sequence[Party]) -> pd.Series:
    """The party id each actor text names, when it names exactly one party; else ``unknown``.

    A party is named by its id, its name or one of its aliases, as whole words, ignoring case:
    ``"Russian forces"`` names a party with the alias ``Russian``.
    """
    text = actors.fillna("").astype(str).str.lower()
    found = pd.Series("", index=actors.index, dtype=object)
    hits = np.zeros(len(actors), dtype=np.int64)
    for party in parties:
        names = sorted({party.id, party.name, *party.aliases}, key=len, reverse=True)
        pattern = r"\b(?:" + "|".join(re.escape(n.lower()) for n in names) + r")\b"
        named = text.str.contains(pattern, regex=True).to_numpy(dtype=bool)
        found[named] = party.id
        hits += named
    return found.where(hits == 1, "unknown").astype("string")


def _explode_quantities(claims: pd.DataFrame) -> pd.DataFrame:
    """One row per (claim, quantity); an edited count or category replaces the extracted ones."""
    parsed = claims["quantities"].map(json.loads) if len(claims) else claims["quantities"]
    edited = claims[["category", "count_low", "count_best", "count_high"]].notna().any(axis=1)
    lists = parsed.where(~edited, [[]] * len(claims)) if len(claims) else parsed
    lists = lists.map(lambda qs: [q for q in qs if q["category"] not in ("killed", "wounded")])
    lists = lists.map(lambda qs: qs or [None])
    rows = claims.assign(_q=lists).explode("_q", ignore_index=True)
    quantity = pd.json_normalize(rows["_q"].map(lambda q: q or {}).tolist())
    for part in ("category", "low", "best", "high"):
        values = quantity[part] if part in quantity else pd.Series(pd.NA, index=rows.index)
        rows[f"q_{part}"] = values.to_numpy()
    rows["q_category"] = rows["category"].fillna(rows["q_category"])
    for part in ("low", "best", "high"):
        extracted = pd.to_numeric(rows[f"q_{part}"]).astype("Int64")
        rows[f"q_{part}"] = rows[f"count_{part}"].astype("Int64").fillna(extracted)
    rank = rows.groupby("claim_id").cumcount()
    many = rows.groupby("claim_id")["claim_id"].transform("size") > 1
    rows["obs_id"] = rows["claim_id"].where(~many, rows["claim_id"] + "-q" + rank.astype(str))
    return rows


def _kinds(rows: pd.DataFrame) -> np.ndarray:
    event = rows["event_type"].to_numpy(dtype=object)
    troops = rows["q_category"].isna().to_numpy() | (rows["q_category"] == "troops").to_numpy()
    return np.select(
        [np.isin(event, ["ASSAULT", "FIGHT"]), (event == "MOBILIZE") & troops,
         event == "MOBILIZE", event == "RETREAT"],
        ["fire", "troops", "equipment", "movement"],
        default="incident",
    )  # fmt: skip
