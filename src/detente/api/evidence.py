"""Evidence over HTTP: submit observations one at a time or in batches, and query them.

    curl -H "Authorization: Bearer $TOKEN" -H "Content-Type: text/csv" \\
         --data-binary @sightings.csv http://127.0.0.1:8000/evidence/observations/batch
    curl -H "Authorization: Bearer $TOKEN" \\
         "http://127.0.0.1:8000/evidence/observations?bbox=37,47.5,39,49.5&min_grade=B2&limit=50"

A batch (a JSON list of records, a CSV body, or a CSV file uploaded as form part ``file``) is
written to a temporary CSV and ingested by the store's own ``ingest_observations``: the same
validation as ``detente ingest observations``, the same idempotence (a record already stored is
a duplicate, not stored twice; an id stored with other content is a 409), all or nothing (one
bad row: 400 with every problem, nothing stored). The response counts what was stored and what
was already there, and returns the ids.

Who may submit what: a monitor (``submit_observation``) any record; a party only records whose
``actor`` is its own party. Detente has no separate declaration record yet, so a party's own
records stand for its declarations (``submit_declaration``), graded like any other evidence.
"""

from __future__ import annotations

import contextlib
import csv
import math
import re
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from detente.api._deps import Call, authenticated, needs
from detente.api._errors import ERROR_RESPONSES, BadRequest, Forbidden
from detente.api._frames import records
from detente.errors import InputError, Problem
from detente.evidence import CSV_OPTIONAL, CSV_REQUIRED, UNKNOWN_ACTOR
from detente.ingest import read_observations
from detente.store.duckdb import IngestResult

router = APIRouter(prefix="/evidence", tags=["evidence"], responses=ERROR_RESPONSES)

#: Most records in one JSON batch (CSV batches are streamed to disk and have no limit).
MAX_JSON_RECORDS = 100_000
#: Most records one query returns.
MAX_LIMIT = 10_000
FIELDS = CSV_REQUIRED + CSV_OPTIONAL
_GRADE = re.compile(r"([A-F])([1-6])")


class ObservationIn(BaseModel):
    """One observation in the canonical layout (docs/evidence-format.md)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"id": "smm-2016-0412", "time": "2016-04-12T09:40:00Z", "lon": 37.62,
                 "lat": 48.17, "actor": "ukr", "kind": "equipment",
                 "category": "artillery_100mm_plus", "count": 3,
                 "source": "OSCE SMM daily report 12 Apr 2016", "reliability": "B",
                 "credibility": 2, "note": "3 x 2S1 near Avdiivka"}
            ]
        },
    )  # fmt: skip

    id: str = Field(description="Unique within the source; what findings cite.")
    time: str = Field(description="ISO 8601; no offset means UTC; a date alone means that day.")
    lon: float
    lat: float
    actor: str = Field("", description="A party id; empty means unknown.")
    kind: str = Field(description="equipment, troops, fire, incident, presence, movement, patrol")
    category: str = ""
    count: int | None = None
    source: str
    reliability: str = Field(description="Admiralty source reliability A–F.")
    credibility: int = Field(description="Admiralty information credibility 1–6.")
    note: str = ""
    count_low: int | None = None
    count_high: int | None = None
    place_uncertainty_km: float | None = None
    time_uncertainty_days: float | None = None
    place_precision: str = ""
    time_precision: str = ""


_BATCH = TypeAdapter(list[ObservationIn])


class IngestOut(BaseModel):
    """What a submission stored."""

    rows: int
    stored: int
    duplicates: int = Field(description="Records already stored (nothing stored twice).")
    ids: list[str]


class ObservationsOut(BaseModel):
    total: int = Field(description="Records matching the query (before limit and offset).")
    limit: int
    offset: int
    items: list[dict[str, Any]]


# ---------------------------------------------------------------------- writing


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "nan"/"inf": the store names the field and refuses it
    return str(value)


def _json_to_csv(items: list[ObservationIn], path: Path) -> list[int]:
    """Write records as a canonical CSV; return each record's first CSV line (for messages)."""
    lines, line = [], 2
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(FIELDS)
        for item in items:
            row = [_cell(getattr(item, name)) for name in FIELDS]
            writer.writerow(row)
            lines.append(line)
            line += 1 + sum(cell.count("\n") for cell in row)
    return lines


def _upload_path(call: Call) -> Path:
    folder = call.session.backend.data_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    # The name is kept as each record's prov_file: who sent it and when.
    return folder / f"api-{call.principal.name}-{stamp}-{uuid.uuid4().hex[:8]}.csv"


def _json_problems(exc: InputError, path: Path, lines: list[int]) -> list[Problem]:
    """Store problems about the temporary CSV, renamed to the JSON records they concern."""
    index = {line: i for i, line in enumerate(lines)}
    out = []
    for p in exc.problems:
        record = index.get(p.line) if p.line is not None else None
        field = p.field if record is None else f"{record}.{p.field}"
        out.append(Problem("body", field, p.message.replace(str(path), "body")))
    return out


def _csv_problems(exc: InputError, path: Path, name: str) -> list[Problem]:
    return [
        Problem(name if p.file == str(path) else p.file.replace(str(path), name), p.field,
                p.message.replace(str(path), name), p.line, p.column)
        for p in exc.problems
    ]  # fmt: skip


def _check_submitter(call: Call, actors: list[str], first_line: int = 0) -> None:
    """403 unless the principal may submit records about every actor given."""
    if call.may("submit_observation"):
        return
    for i, raw in enumerate(actors):
        actor = raw.strip() or UNKNOWN_ACTOR
        if not (call.may("submit_declaration", party=actor)):
            where = f"line {first_line + i}" if first_line else f"record {i}"
            own = call.principal.party
            raise Forbidden(
                f"{call.principal.name} may submit only its own party's records "
                f"(actor {own!r}); {where} has actor {actor!r}",
                [Problem("body", "actor" if first_line else f"{i}.actor",
                         f"{actor!r} is not {own!r}", first_line + i if first_line else None)],
            )  # fmt: skip


def _may_submit(call: Annotated[Call, Depends(authenticated)]) -> Call:
    """A monitor, or a party (for its own records; checked once the records are read)."""
    own = call.principal.party
    if call.may("submit_observation") or (
        own is not None and call.may("submit_declaration", party=own)
    ):
        return call
    raise Forbidden(f"{call.principal.name} (role {call.principal.role}) may not submit evidence")


Submitter = Annotated[Call, Depends(_may_submit)]


def _ingest(call: Call, path: Path) -> IngestResult:
    """The store's ingest of one file: read and checked first, then stored in one transaction
    (on DuckDB holding the write lock, which the session's database takes)."""
    return call.session.store.ingest_observations(path)


def _answer(result: IngestResult, ids: list[str], response: Response) -> IngestOut:
    response.status_code = 201 if result.stored else 200
    return IngestOut(rows=result.rows, stored=result.stored, duplicates=result.duplicates, ids=ids)


def _store_json(call: Call, items: list[ObservationIn], response: Response) -> IngestOut:
    _check_submitter(call, [o.actor for o in items])
    path = _upload_path(call)
    try:
        lines = _json_to_csv(items, path)
        try:
            result = _ingest(call, path)
        except InputError as exc:
            raise InputError(_json_problems(exc, path, lines)) from None
    finally:
        path.unlink(missing_ok=True)
    return _answer(result, [o.id.strip() for o in items], response)


@router.post("/observations", status_code=201, response_model=IngestOut)
def submit_observation(call: Submitter, record: ObservationIn, response: Response) -> IngestOut:
    """Submit one observation (201 stored, 200 already stored)."""
    return _store_json(call, [record], response)


def _read_ids_actors(path: Path) -> tuple[list[str], list[str]] | None:
    """The id and actor columns of a CSV (every row), to check who may submit it; None if
    pandas cannot read it."""
    try:
        head = pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns
        cols = [c for c in head if str(c).strip() in ("id", "actor")]
        frame = pd.read_csv(path, usecols=cols, dtype=str, keep_default_na=False,
                            encoding="utf-8-sig", skip_blank_lines=True)  # fmt: skip
    except (ValueError, OSError, pd.errors.EmptyDataError):
        return None
    frame.columns = [str(c).strip() for c in frame.columns]
    ids = frame["id"].str.strip().tolist() if "id" in frame else []
    actors = frame["actor"].tolist() if "actor" in frame else [""] * len(frame)
    return ids, actors


async def _save_csv(request: Request, path: Path) -> str:
    """The CSV of a request (its body, or form part ``file``) saved to ``path``; its name."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        form = await request.form()
        part = form.get("file")
        if not isinstance(part, UploadFile):
            raise BadRequest("send the CSV as form part 'file'",
                             [Problem("body", "file", "missing")])  # fmt: skip
        with path.open("wb") as fh:
            await run_in_threadpool(shutil.copyfileobj, part.file, fh)
        return part.filename or "upload.csv"
    with path.open("wb") as fh:  # streamed: a large batch never sits in memory
        async for chunk in request.stream():
            fh.write(chunk)
    return "body"


def _store_csv(call: Call, path: Path, name: str, response: Response) -> IngestOut:
    try:
        columns = _read_ids_actors(path)
        if columns is None and not call.may("submit_observation"):
            # Whose records these are cannot be checked: the store's reader says why (or, if
            # it could read what pandas could not, the batch is refused all the same).
            read_observations(path)
            raise BadRequest("cannot read the CSV to check its actors",
                             [Problem(name, "actor", "unreadable")])  # fmt: skip
        ids, actors = columns or ([], [])
        _check_submitter(call, actors, first_line=2)
        result = _ingest(call, path)
    except InputError as exc:
        raise InputError(_csv_problems(exc, path, name)) from None
    return _answer(result, ids, response)


_BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"type": "array", "items": {"$ref": "#/components/schemas/ObservationIn"}}
            },
            "text/csv": {"schema": {"type": "string"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }
}


@router.post(
    "/observations/batch", status_code=201, response_model=IngestOut, openapi_extra=_BATCH_BODY
)
async def submit_batch(call: Submitter, request: Request, response: Response) -> IngestOut:
    """Submit many observations at once: all stored or none (a JSON list, or CSV)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in ("application/json", ""):
        body = await request.body()
        try:
            items = _BATCH.validate_json(body or b"null")
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
            ) from None
        if len(items) > MAX_JSON_RECORDS:
            raise BadRequest(f"at most {MAX_JSON_RECORDS} records per JSON batch; send CSV")
        if not items:
            raise BadRequest("an empty batch", [Problem("body", "", "no records")])
        return await run_in_threadpool(_store_json, call, items, response)
    if kind not in ("text/csv", "application/csv", "text/plain", "multipart/form-data"):
        raise BadRequest(f"unsupported content type {kind!r}: send application/json or text/csv")
    path = _upload_path(call)
    try:
        name = await _save_csv(request, path)
        return await run_in_threadpool(_store_csv, call, path, name, response)
    finally:
        with contextlib.suppress(OSError):
            path.unlink()


# ---------------------------------------------------------------------- reading


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    """``"w,s,e,n"`` in degrees → a tuple; 400 if malformed.

    >>> parse_bbox("37,47.5,39,49.5")
    (37.0, 47.5, 39.0, 49.5)
    """
    if text is None:
        return None
    problem = Problem("query", "bbox", "west,south,east,north in degrees, e.g. 37,47.5,39,49.5")
    try:
        w, s, e, n = (float(v) for v in text.split(","))
    except ValueError:
        raise BadRequest(f"bad bbox {text!r}", [problem]) from None
    if not all(math.isfinite(v) for v in (w, s, e, n)) or not (
        -180 <= w <= e <= 180 and -90 <= s <= n <= 90
    ):
        raise BadRequest(f"bad bbox {text!r}", [problem])
    return w, s, e, n


def parse_grade(text: str | None) -> tuple[str, int] | None:
    """``"B2"`` → ``("B", 2)``: records graded at or above it; 400 if malformed."""
    if text is None:
        return None
    found = _GRADE.fullmatch(text.strip().upper())
    if not found:
        problem = Problem("query", "min_grade", "a letter A–F and a digit 1–6, e.g. B2")
        raise BadRequest(f"bad min_grade {text!r}", [problem])
    return found[1], int(found[2])


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@router.get("/observations", response_model=ObservationsOut)
def query_observations(
    call: Annotated[Call, Depends(needs("read_evidence"))],
    start: Annotated[datetime | None, Query(description="From this time (no offset: UTC).")] = None,
    end: Annotated[datetime | None, Query(description="Up to this time (inclusive).")] = None,
    bbox: Annotated[str | None, Query(description="west,south,east,north in degrees.")] = None,
    actor: Annotated[str | None, Query(description="Party id (or 'unknown').")] = None,
    category: Annotated[str | None, Query()] = None,
    min_grade: Annotated[
        str | None, Query(description="Graded at or above, e.g. B2 (B or better, 2 or better).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ObservationsOut:
    """Observations by time, bounding box, actor, category and grade, in time order."""
    box, grade = parse_bbox(bbox), parse_grade(min_grade)
    begin, until = _utc(start), _utc(end)
    if begin is not None and until is not None and begin > until:
        raise BadRequest("start is after end", [Problem("query", "start", "must not be after end")])
    frame = call.session.store.observations_in(
        bbox=box, start=begin, end=until, actor=actor, category=category, min_grade=grade
    )
    page = frame.iloc[offset : offset + limit]
    return ObservationsOut(total=len(frame), limit=limit, offset=offset, items=records(page))
