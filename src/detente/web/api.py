"""The dashboard's data, under ``/ui/api``: only what each view draws, aggregated on the server.

    curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/ui/api/matrix?agreement=minsk2
    curl -H "Authorization: Bearer $TOKEN" \\
         "http://127.0.0.1:8000/ui/api/observations?agreement=minsk2&bbox=36,46,41,50"

Every endpoint takes the same token and asks the same permission table as the rest of the API
(:func:`detente.api._deps.needs`). Findings are read from the latest stored report (the
:class:`~detente.api.findings.ReportCache` behind ``GET /findings``); nothing here evaluates.

- ``/me``: who the token belongs to and what its role may do (the page hides what it may not).
- ``/agreements/{id}/map``: zones, lines, bands and the shipped base map as GeoJSON.
- ``/agreements/{id}/clauses``: each obligation's clause beside its encoded parameters.
- ``/observations``: the observations in a box and time range — each one when there are at
  most ``max_points``, else counts per grid cell computed in SQL; each coloured by the status
  of the finding it decides.
- ``/timeline``: how many observations fall in each time bin (the brush's histogram).
- ``/matrix``: obligation × party × window → status, without evidence lists or explanations.
- ``/finding``: one finding with its explanation, clause, citation and (the first) evidence.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from detente.agreement import Agreement, ZoneSpec
from detente.api._backend import Session
from detente.api._deps import Call, authenticated, needs
from detente.api._errors import ERROR_RESPONSES, BadRequest, NotFound
from detente.api._frames import records
from detente.api.agreements import AgreementCache, CitationOut, PartyOut, StoredVersion
from detente.api.evidence import parse_bbox
from detente.api.findings import latest_reports, parse_time
from detente.errors import Problem
from detente.users import ACTIONS, PERMISSIONS
from detente.web._grid import (
    CELL_SQL,
    EPOCH_SQL,
    BBox,
    cell_bounds,
    cell_size,
    cells_of,
    time_bin_width,
)
from detente.web._state import (
    EMPTY_INDEX,
    STATUS_NAMES,
    UNCITED,
    DashboardState,
    EvidenceIndex,
)
from detente.web._zonemap import zone_map

router = APIRouter(prefix="/ui/api", tags=["dashboard"], responses=ERROR_RESPONSES)

WORLD: BBox = (-180.0, -90.0, 180.0, 90.0)
#: Most cells one bins answer may span (a box divided by a cell size the caller chose).
MAX_CELLS = 40_000
#: Smallest cell a caller may ask for (2^-10 degrees, about 100 m).
MIN_CELL = 2.0**-10
_POINT_COLUMNS = "id, time, lon, lat, actor, kind, category, count_best, reliability, credibility"
_RECORD_COLUMNS = _POINT_COLUMNS + ", source, note"


def state_of(request: Request) -> DashboardState:
    """The app's dashboard caches (made by :func:`detente.web.install`)."""
    state: DashboardState = request.app.state.dashboard
    return state


StateDep = Annotated[DashboardState, Depends(state_of)]


def _agreements(s: Session) -> AgreementCache:
    cache: AgreementCache = s.backend.agreements
    return cache


def _json(value: Any) -> Response:
    """Straight to JSON: the shapes are built here from plain values, and validating large
    answers against their models on every request would cost more than building them."""
    return JSONResponse(value)


# ---------------------------------------------------------------------- who am I


class MeOut(BaseModel):
    name: str
    role: str
    party: str | None
    actions: dict[str, str] = Field(
        description="The actions the role may perform at all, each with its scope "
        "(always, own_party, own_channel), as in the permission table."
    )


@router.get("/me", response_model=MeOut)
def me(call: Annotated[Call, Depends(authenticated)]) -> MeOut:
    """The caller's name, role, party and permitted actions (what the page may offer)."""
    p = call.principal
    actions = {a: PERMISSIONS[a][p.role] for a in ACTIONS if p.role in PERMISSIONS[a]}
    return MeOut(name=p.name, role=p.role, party=p.party, actions=actions)


# ---------------------------------------------------------------------- the zone map


class ZoneMapOut(BaseModel):
    """A GeoJSON FeatureCollection: the shipped base map, then one feature per zone."""

    type: str
    bbox: list[float]
    focus: list[float] = Field(description="Bounds of the lines and bands: where the map opens.")
    features: list[dict[str, Any]]


@router.get("/agreements/{agreement_id}/map", response_model=ZoneMapOut)
def agreement_map(
    agreement_id: str,
    call: Annotated[Call, Depends(needs("read_agreements"))],
    state: StateDep,
) -> Response:
    """The agreement's zones, lines and bands, and the base map, as GeoJSON (lon/lat)."""
    s = call.session
    ag, stored = _agreements(s).load(s.db, agreement_id)
    key = (stored.id, str(stored.version_no), stored.sha256)
    body = state.zone_map(key, lambda: json.dumps(zone_map(ag), separators=(",", ":")).encode())
    return Response(body, media_type="application/json")


# ---------------------------------------------------------------------- the literate view


class ClauseOut(BaseModel):
    """One obligation: the treaty text beside what encodes it."""

    obligation: str
    title: str | None
    kind: str
    clause: str
    citation: CitationOut
    window: str
    parameters: dict[str, Any] = Field(description="The obligation's encoded fields.")
    zones: dict[str, dict[str, Any]] = Field(
        description="The zones it uses and those they are built from, with their definitions."
    )
    categories: dict[str, str] = Field(description="Equipment categories it names, labelled.")
    yaml: str = Field(description="The obligation as written in the agreement file.")
    line: int | None = Field(description="Its first line in the agreement file.")
    note: str | None


class ClausesOut(BaseModel):
    agreement: str
    title: str
    version: str
    version_no: int
    sha256: str
    file: str
    timezone: str
    parties: list[PartyOut]
    sources: list[dict[str, Any]]
    clauses: list[ClauseOut]


@router.get("/agreements/{agreement_id}/clauses", response_model=ClausesOut)
def agreement_clauses(
    agreement_id: str, call: Annotated[Call, Depends(needs("read_agreements"))]
) -> ClausesOut:
    """Each clause of the agreement next to its encoded parameters and its YAML."""
    s = call.session
    ag, stored = _agreements(s).load(s.db, agreement_id)
    clauses = [_clause(ag, stored, i) for i in range(len(ag.obligations))]
    return ClausesOut(
        agreement=ag.id, title=ag.title, version=ag.version, version_no=stored.version_no,
        sha256=stored.sha256, file=stored.yaml_name, timezone=ag.timezone,
        parties=[PartyOut(id=p.id, name=p.name, aliases=list(p.aliases)) for p in ag.parties],
        sources=[src.model_dump(mode="json", exclude_none=True) for src in ag.sources],
        clauses=clauses,
    )  # fmt: skip


def _citation(ag: Agreement, ref: str, article: str | None) -> CitationOut:
    src = next((x for x in ag.sources if x.id == ref), None)
    return CitationOut(source=ref, article=article, title=src.title if src else None,
                       url=src.url if src else None)  # fmt: skip


def _clause(ag: Agreement, stored: StoredVersion, index: int) -> ClauseOut:
    ob = ag.obligations[index]
    params = ob.model_dump(
        mode="json", by_alias=True, exclude_none=True,
        exclude={"id", "title", "clause", "source", "note"},
    )  # fmt: skip
    used = _zones_used(params)
    names = params.get("categories", [])
    labels = ag.definitions.categories
    first, text = _yaml_of(ag, stored.yaml, index)
    return ClauseOut(
        obligation=ob.id, title=ob.title, kind=ob.kind, clause=ob.clause,
        citation=_citation(ag, ob.source.ref, ob.source.article),
        window=ag.window_of(ob).value, parameters=params,
        zones={z: _zone_spec(ag.zones[z]) for z in _with_parts(ag, used)},
        categories={c: labels[c].label if c in labels else c for c in names},
        yaml=text, line=first, note=ob.note,
    )  # fmt: skip


def _zones_used(params: dict[str, Any]) -> list[str]:
    """The zone ids an obligation's parameters name (``zone`` and the values of ``zones``)."""
    found = [params["zone"]] if isinstance(params.get("zone"), str) else []
    if isinstance(params.get("zones"), dict):
        found += [str(z) for z in params["zones"].values()]
    return found


def _zone_parts(spec: ZoneSpec) -> list[str]:
    """The zones a derived zone is built from."""
    parts: list[str] = []
    if spec.band is not None:
        parts += [spec.band.line, spec.band.side]
    if spec.buffer is not None:
        parts.append(spec.buffer.zone)
    for members in (spec.union, spec.difference, spec.intersection):
        parts += members or []
    return parts


def _with_parts(ag: Agreement, zone_ids: list[str]) -> list[str]:
    """``zone_ids`` and, depth first, every zone they are built from; each once."""
    out: list[str] = []
    todo = list(zone_ids)
    while todo:
        zid = todo.pop(0)
        if zid in out or zid not in ag.zones:
            continue
        out.append(zid)
        todo += _zone_parts(ag.zones[zid])
    return out


def _zone_spec(spec: ZoneSpec) -> dict[str, Any]:
    found: dict[str, Any] = spec.model_dump(mode="json", exclude_none=True)
    return found


def _yaml_of(ag: Agreement, text: str, index: int) -> tuple[int | None, str]:
    """The lines of the agreement file that write obligation ``index``, and the first one.

    An obligation runs from its list item's line to the next item's (or, for the last, to the
    next top-level key or the end of the file); trailing blank and comment lines are dropped.
    """
    lines = text.splitlines()
    first = ag.problem(("obligations", index), "").line
    if first is None:
        return None, ""
    if index + 1 < len(ag.obligations):
        nxt = ag.problem(("obligations", index + 1), "").line or len(lines) + 1
    else:
        after = (n for n in range(first, len(lines)) if _top_level(lines[n]))
        nxt = next(after, len(lines)) + 1
    chunk = lines[first - 1 : nxt - 1]
    while chunk and (not chunk[-1].strip() or chunk[-1].lstrip().startswith("#")):
        chunk.pop()
    return first, "\n".join(chunk)


def _top_level(line: str) -> bool:
    return bool(line) and not line[0].isspace() and line[0] not in "#-"


# ---------------------------------------------------------------------- reports


def _latest(s: Session, agreement: str) -> dict[str, Any]:
    """The latest stored report of ``agreement``; 404 if unknown or never evaluated."""
    _agreements(s).load(s.db, agreement)  # 404 for an unknown agreement
    reports = latest_reports(s, agreement)
    if not reports:
        raise NotFound(f"agreement {agreement!r} has not been evaluated: POST /findings/evaluate")
    return reports[0]


def _index(s: Session, state: DashboardState, agreement: str | None) -> EvidenceIndex:
    """The evidence index of the agreement's latest report (empty without one)."""
    if agreement is None:
        return EMPTY_INDEX
    _agreements(s).load(s.db, agreement)
    reports = latest_reports(s, agreement)
    if not reports:
        return EMPTY_INDEX
    report = reports[0]
    return state.evidence_index(s.db, report["report_id"], report["findings"])


# ---------------------------------------------------------------------- observations


class ObservationPoint(BaseModel):
    id: str
    time: str
    lon: float
    lat: float
    actor: str | None
    kind: str | None
    category: str | None
    count: int | None
    grade: str
    status: str = Field(description="The most severe status among the findings citing it.")


class ObservationBin(BaseModel):
    i: int
    j: int
    n: int
    lon: float = Field(description="Mean longitude of the cell's observations.")
    lat: float
    bounds: list[float]
    counts: dict[str, int] = Field(description="Observations per status (uncited included).")
    status: str = Field(description="The most severe status present in the cell.")


class ObservationsView(BaseModel):
    mode: str = Field(description="points (each observation) or bins (counts per grid cell)")
    total: int
    cell: float | None = Field(description="Cell size in degrees (bins only).")
    statuses: list[str]
    points: list[ObservationPoint]
    bins: list[ObservationBin]


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _where(box: BBox | None, start: datetime | None, end: datetime | None) -> tuple[str, list[Any]]:
    """SQL filter on a box (edges included) and a time range, and its parameters."""
    parts: list[str] = []
    params: list[Any] = []
    if box is not None:
        west, south, east, north = box
        parts.append("lon BETWEEN ? AND ? AND lat BETWEEN ? AND ?")
        params += [west, east, south, north]
    if start is not None:
        parts.append("time >= ?")
        params.append(start)
    if end is not None:
        parts.append("time <= ?")
        params.append(end)
    return " AND ".join(parts) or "TRUE", params


def _range(start: datetime | None, end: datetime | None) -> tuple[datetime | None, datetime | None]:
    begin, until = _utc(start), _utc(end)
    if begin is not None and until is not None and begin > until:
        raise BadRequest("start is after end", [Problem("query", "start", "must not be after end")])
    return begin, until


def _epoch(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


@router.get("/observations", response_model=ObservationsView)
def observations(
    call: Annotated[Call, Depends(needs("read_evidence"))],
    state: StateDep,
    agreement: Annotated[
        str | None, Query(description="Colour by this agreement's latest findings.")
    ] = None,
    bbox: Annotated[str | None, Query(description="west,south,east,north in degrees.")] = None,
    start: Annotated[datetime | None, Query(description="From this time (no offset: UTC).")] = None,
    end: Annotated[datetime | None, Query(description="Up to this time (inclusive).")] = None,
    max_points: Annotated[
        int, Query(ge=0, le=10_000, description="Most single points; beyond, bins.")
    ] = 2000,
    cell: Annotated[
        float | None,
        Query(ge=MIN_CELL, le=16, description="Bin size in degrees (default: from the box)."),
    ] = None,
) -> Response:
    """Observations in a box and time range: each one, or counts per grid cell (SQL)."""
    s = call.session
    box = parse_bbox(bbox)
    begin, until = _range(start, end)
    where, params = _where(box, begin, until)
    total = int(_scalar(s, f"SELECT count(*) FROM observations WHERE {where}", params))
    index = _index(s, state, agreement)
    view: dict[str, Any] = {"total": total, "statuses": list(STATUS_NAMES), "points": [],
                            "bins": [], "cell": None}  # fmt: skip
    if total <= max_points:
        view |= {"mode": "points", "points": _points(s, index, where, params, max_points)}
        return _json(view)
    size = cell if cell is not None else cell_size(box or WORLD)
    _check_cells(box or WORLD, size)
    selected = index.select(box, _epoch(begin), _epoch(until))
    view |= {"mode": "bins", "cell": size, "bins": _bins(s, index, selected, where, params, size)}
    return _json(view)


def _scalar(s: Session, sql: str, params: list[Any]) -> Any:
    row = s.db.one(sql, params)
    return row[0] if row else None


def _check_cells(box: BBox, size: float) -> None:
    west, south, east, north = box
    cells = (math.floor((east - west) / size) + 2) * (math.floor((north - south) / size) + 2)
    if cells > MAX_CELLS:
        raise BadRequest(
            f"cell {size:g}° cuts the box into {cells:,} cells; at most {MAX_CELLS:,}",
            [Problem("query", "cell", "a larger cell or a smaller bbox")],
        )


def _points(
    s: Session, index: EvidenceIndex, where: str, params: list[Any], limit: int
) -> list[dict[str, Any]]:
    sql = f"SELECT {_POINT_COLUMNS} FROM observations WHERE {where} ORDER BY time, id LIMIT ?"
    frame = s.db.table(sql, [*params, limit]).to_pandas()
    out = []
    for row in records(frame):
        rank = index.ranks.get(row["id"], UNCITED)
        out.append({
            "id": row["id"], "time": row["time"], "lon": row["lon"], "lat": row["lat"],
            "actor": row["actor"], "kind": row["kind"], "category": row["category"],
            "count": _int(row["count_best"]), "grade": f"{row['reliability']}{row['credibility']}",
            "status": STATUS_NAMES[rank],
        })  # fmt: skip
    return out


def _int(value: Any) -> int | None:
    """A count as an integer (a nullable integer column reaches pandas as floats)."""
    return None if value is None else int(value)


def _bins(
    s: Session,
    index: EvidenceIndex,
    selected: np.ndarray[Any, np.dtype[np.bool_]],
    where: str,
    params: list[Any],
    size: float,
) -> list[dict[str, Any]]:
    """Counts per cell from SQL; per status from the evidence index, binned alike."""
    sql = (
        f"SELECT i, j, count(*) AS n, avg(lon) AS lon, avg(lat) AS lat FROM "
        f"(SELECT {CELL_SQL}, lon, lat FROM observations WHERE {where}) AS c "
        "GROUP BY i, j ORDER BY i, j"
    )
    rows = s.db.rows(sql, [size, size, *params])
    by_status = _status_counts(index, selected, size)
    out = []
    for i, j, n, lon, lat in rows:
        cited = by_status.get((int(i), int(j)), [0] * UNCITED)
        counts = {STATUS_NAMES[r]: c for r, c in enumerate(cited) if c}
        uncited = int(n) - sum(cited)
        if uncited > 0:
            counts["uncited"] = uncited
        worst = next((STATUS_NAMES[r] for r, c in enumerate(cited) if c), "uncited")
        out.append({"i": int(i), "j": int(j), "n": int(n), "lon": round(float(lon), 5),
                    "lat": round(float(lat), 5), "bounds": list(cell_bounds(int(i), int(j), size)),
                    "counts": counts, "status": worst})  # fmt: skip
    return out


def _status_counts(
    index: EvidenceIndex, selected: np.ndarray[Any, np.dtype[np.bool_]], size: float
) -> dict[tuple[int, int], list[int]]:
    """(i, j) -> observations per status rank (0 … UNCITED - 1), of the selected ones."""
    if not selected.any():
        return {}
    i, j = cells_of(index.lon[selected], index.lat[selected], size)
    keys = np.stack([i, j, index.rank[selected]], axis=1)
    found, counts = np.unique(keys, axis=0, return_counts=True)
    out: dict[tuple[int, int], list[int]] = {}
    for (ci, cj, rank), count in zip(found.tolist(), counts.tolist(), strict=True):
        out.setdefault((ci, cj), [0] * UNCITED)[rank] += count
    return out


# ---------------------------------------------------------------------- the timeline


class TimelineOut(BaseModel):
    width: int = Field(description="Seconds per bin.")
    start: float | None = Field(description="Start of the first bin, seconds since 1970 (UTC).")
    first: float | None = Field(description="Time of the earliest observation (seconds).")
    last: float | None
    counts: list[int] = Field(description="Observations per bin, from start on.")
    violations: list[int] = Field(description="Of which cited by a violation (with agreement).")


@router.get("/timeline", response_model=TimelineOut)
def timeline(
    call: Annotated[Call, Depends(needs("read_evidence"))],
    state: StateDep,
    agreement: Annotated[str | None, Query(description="Count violations of this one.")] = None,
    bbox: Annotated[str | None, Query(description="west,south,east,north in degrees.")] = None,
    bins: Annotated[int, Query(ge=1, le=1000, description="Most bins.")] = 120,
) -> TimelineOut:
    """Observations per time bin (the width chosen to give at most ``bins`` bins)."""
    s = call.session
    box = parse_bbox(bbox)
    where, params = _where(box, None, None)
    span = s.db.one(
        f"SELECT min(epoch), max(epoch) FROM (SELECT {EPOCH_SQL} AS epoch FROM observations "
        f"WHERE {where}) AS t",
        params,
    )
    if span is None or span[0] is None:
        return TimelineOut(width=86400, start=None, first=None, last=None, counts=[],
                           violations=[])  # fmt: skip
    first, last = float(span[0]), float(span[1])
    width = time_bin_width(first, last, bins)
    rows = s.db.rows(
        f"SELECT CAST(floor({EPOCH_SQL} / ?) AS BIGINT) AS b, count(*) FROM observations "
        f"WHERE {where} GROUP BY b ORDER BY b",
        [width, *params],
    )
    lo, hi = int(rows[0][0]), int(rows[-1][0])
    counts = [0] * (hi - lo + 1)
    for b, n in rows:
        counts[int(b) - lo] = int(n)
    index = _index(s, state, agreement)
    chosen = index.select(box, None, None) & (index.rank == 0)
    found = np.floor(index.epoch[chosen] / width).astype(np.int64) - lo
    violations = np.bincount(found[(found >= 0) & (found <= hi - lo)], minlength=len(counts))
    return TimelineOut(width=width, start=float(lo * width), first=first, last=last,
                       counts=counts, violations=[int(v) for v in violations])  # fmt: skip


# ---------------------------------------------------------------------- the matrix


class MatrixOut(BaseModel):
    agreement: str
    agreement_version: int
    report_id: str
    as_of: str
    obligations: list[dict[str, Any]] = Field(description="id, title, kind; rows in this order.")
    parties: list[dict[str, Any]] = Field(description="id, name.")
    windows: list[dict[str, Any]] = Field(description="start, end (ISO); columns, by start.")
    cells: list[list[Any]] = Field(
        description="[obligation index, party index, window index, status, confidence, "
        "evidence count]"
    )
    counts: dict[str, int] = Field(description="Findings per status.")


@router.get("/matrix", response_model=MatrixOut)
def matrix(
    call: Annotated[Call, Depends(needs("read_findings"))],
    agreement: Annotated[str, Query(description="The agreement's id.")],
) -> Response:
    """Obligations × parties × windows of the latest report, each cell a status."""
    s = call.session
    report = _latest(s, agreement)
    ag, _ = _agreements(s).load(s.db, agreement, report["agreement_version"])
    findings = report["findings"]
    obligations = [{"id": o.id, "title": o.title or o.id, "kind": o.kind} for o in ag.obligations]
    parties = [{"id": p.id, "name": p.name} for p in ag.parties]
    _append_unknown(obligations, parties, findings)
    windows = _windows(findings)
    column = {w["start"]: n for n, w in enumerate(windows)}
    row_of = {o["id"]: n for n, o in enumerate(obligations)}
    party_of = {p["id"]: n for n, p in enumerate(parties)}
    cells = [
        [row_of[f["obligation"]], party_of[f["party"]], column[f["window"]["start"]], f["status"],
         f["confidence"], len(list(f["evidence"]))]
        for f in findings
    ]  # fmt: skip
    counts: dict[str, int] = {}
    for f in findings:
        counts[f["status"]] = counts.get(f["status"], 0) + 1
    return _json({"agreement": agreement, "agreement_version": report["agreement_version"],
                  "report_id": report["report_id"], "as_of": report["as_of"],
                  "obligations": obligations, "parties": parties, "windows": windows,
                  "cells": cells, "counts": counts})  # fmt: skip


def _append_unknown(
    obligations: list[dict[str, Any]], parties: list[dict[str, Any]], findings: list[Any]
) -> None:
    """Rows for obligations and parties a report names that the agreement does not (a party
    'unknown', say), after the agreement's own."""
    known_o, known_p = {o["id"] for o in obligations}, {p["id"] for p in parties}
    for f in findings:
        if f["obligation"] not in known_o:
            known_o.add(f["obligation"])
            obligations.append({"id": f["obligation"], "title": f["obligation"], "kind": ""})
        if f["party"] not in known_p:
            known_p.add(f["party"])
            parties.append({"id": f["party"], "name": f["party"]})


def _windows(findings: list[Any]) -> list[dict[str, Any]]:
    """Distinct windows by start time (the latest end seen for a start)."""
    ends: dict[str, str | None] = {}
    for f in findings:
        start, end = f["window"]["start"], f["window"]["end"]
        if start not in ends or (end is not None and (ends[start] or "") < end):
            ends[start] = end
    ordered = sorted(ends, key=lambda t: parse_time(t, "window"))
    return [{"start": t, "end": ends[t]} for t in ordered]


# ---------------------------------------------------------------------- one finding


class FindingDetail(BaseModel):
    agreement: str
    report_id: str
    as_of: str
    finding: dict[str, Any] = Field(
        description="The finding as in the report, its evidence list cut to ``limit`` ids."
    )
    evidence_total: int
    obligation: ClauseOut
    evidence: list[dict[str, Any]] | None = Field(
        description="The first ``limit`` cited records (null when the caller may not read "
        "evidence)."
    )


@router.get("/finding", response_model=FindingDetail)
def finding(
    call: Annotated[Call, Depends(needs("read_findings"))],
    agreement: Annotated[str, Query()],
    obligation: Annotated[str, Query()],
    party: Annotated[str, Query()],
    window_start: Annotated[
        str | None, Query(description="ISO time of the window's start (default: the latest).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=5000, description="Most evidence records.")] = 500,
) -> Response:
    """One finding: explanation, clause, citation and the evidence it cites (first ``limit``)."""
    s = call.session
    report = _latest(s, agreement)
    chosen = _choose(report["findings"], obligation, party, window_start, agreement)
    ag, stored = _agreements(s).load(s.db, agreement, report["agreement_version"])
    index = next((i for i, o in enumerate(ag.obligations) if o.id == obligation), None)
    if index is None:
        raise NotFound(f"no obligation {obligation!r} in {agreement!r}")
    ids = list(chosen["evidence"])
    evidence = _records(s, ag, ids[:limit]) if call.may("read_evidence") else None
    return _json({"agreement": agreement, "report_id": report["report_id"],
                  "as_of": report["as_of"], "finding": {**chosen, "evidence": ids[:limit]},
                  "evidence_total": len(ids),
                  "obligation": _clause(ag, stored, index).model_dump(mode="json"),
                  "evidence": evidence})  # fmt: skip


def _choose(
    findings: list[Any], obligation: str, party: str, window_start: str | None, agreement: str
) -> dict[str, Any]:
    """The finding of ``obligation`` for ``party`` starting at ``window_start`` (or the latest)."""
    found = [f for f in findings if f["obligation"] == obligation and f["party"] == party]
    if window_start is not None:
        wanted = parse_time(window_start, "window_start")
        found = [f for f in found if parse_time(f["window"]["start"], "window") == wanted]
    if not found:
        what = f"{obligation}/{party}" + (f" from {window_start}" if window_start else "")
        raise NotFound(f"no finding {what} in the latest report of {agreement!r}")
    chosen: dict[str, Any] = max(found, key=lambda f: parse_time(f["window"]["start"], "window"))
    return chosen


def _records(s: Session, ag: Agreement, ids: list[str]) -> list[dict[str, Any]]:
    """The cited records, in the order cited: stored observations, then claims."""
    if not ids:
        return []
    marks = ", ".join("?" for _ in ids)
    sql = f"SELECT {_RECORD_COLUMNS} FROM observations WHERE id IN ({marks})"
    by_id = {r["id"]: r for r in records(s.db.table(sql, ids).to_pandas())}
    missing = [i for i in ids if i not in by_id]
    if missing:
        by_id |= _claim_records(s, ag, missing)
    return [by_id[i] for i in ids if i in by_id]


def _claim_records(s: Session, ag: Agreement, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Cited ids that are claims counted as evidence (see ``detente check --db``)."""
    from detente.store.claims import ClaimStore, has_claims

    if not has_claims(s.store):
        return {}
    frame = ClaimStore(s.store).evidence(ag.claims, ag.parties)
    frame = frame[frame["id"].isin(ids)][_RECORD_COLUMNS.split(", ")]
    return {r["id"]: r for r in records(frame)}
