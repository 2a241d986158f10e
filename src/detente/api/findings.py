"""Findings over HTTP: evaluate an agreement on the stored evidence, list and explain findings.

    curl -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\
         -d '{"agreement": "minsk2"}' http://127.0.0.1:8000/findings/evaluate
    curl -H "Authorization: Bearer $TOKEN" \\
         "http://127.0.0.1:8000/findings?agreement=minsk2&status=violation"
    curl -H "Authorization: Bearer $TOKEN" \\
         http://127.0.0.1:8000/findings/minsk2/ceasefire/ukr

An evaluation is :func:`detente.engine.evaluate` on the store's observations plus the claims that
count as evidence under the agreement's claim policy (as ``detente check --db`` does), as of the
given time or, by default, as of the latest evidence (so that the same store gives the same
findings). Each report is stored (table ``finding_reports``); the latest one is what
``GET /findings`` shows. An evaluation as of the latest evidence also goes to the webhooks
(:meth:`detente.alerts.Webhooks.record`: status changes are queued in the same transaction as
the report) and the queued alerts are sent after the response, in the background. An
evaluation of the past is stored but not compared: it would look like a change back in time.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, BackgroundTasks, Depends, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from detente.agreement import Agreement, Status
from detente.api._backend import Backend, Session
from detente.api._deps import Call, needs
from detente.api._errors import ERROR_RESPONSES, BadRequest, NotFound
from detente.api._frames import records
from detente.api.agreements import AgreementCache
from detente.errors import InputError, Problem
from detente.findings import iso
from detente.store._db import Database

router = APIRouter(prefix="/findings", tags=["findings"], responses=ERROR_RESPONSES)
log = logging.getLogger("detente.api")

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS finding_reports (
        report_id VARCHAR PRIMARY KEY,
        agreement VARCHAR NOT NULL,
        version BIGINT NOT NULL,
        as_of TIMESTAMPTZ NOT NULL,
        json VARCHAR NOT NULL,
        evaluated_by VARCHAR NOT NULL,
        evaluated_at TIMESTAMPTZ NOT NULL
    )""",
)


def create_schema(db: Database) -> None:
    db.create(SCHEMA)


class EvaluateIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"agreement": "minsk2"}]}
    )

    agreement: str = Field(description="The agreement's id.")
    as_of: str | None = Field(
        None,
        description="ISO 8601 date or time; a date means the end of that day in the "
        "agreement's time zone. Default: the time of the latest evidence.",
    )
    version: int | None = Field(None, ge=1, description="Agreement version (default: latest).")


class ReportOut(BaseModel):
    """A stored evaluation: the JSON contract of ``detente check --format json`` and its
    context."""

    report_id: str
    agreement_version: int
    evaluated_at: datetime
    evaluated_by: str
    alerts: int | None = Field(None, description="Status changes queued for the webhooks.")
    detente: str
    agreement: dict[str, Any]
    as_of: str
    evidence: dict[str, Any]
    findings: list[dict[str, Any]]


class FindingsOut(BaseModel):
    reports: list[ReportOut]


class FindingOut(BaseModel):
    """One finding with its deciding evidence records in full."""

    agreement: str
    agreement_version: int
    report_id: str
    as_of: str
    finding: dict[str, Any]
    evidence: list[dict[str, Any]] | None = Field(
        description="The records the finding cites (null when the caller may not read evidence)."
    )


# ---------------------------------------------------------------------- evaluating


def evidence_for(s: Session, ag: Agreement) -> pd.DataFrame:
    """The store's observations and the claims that count under ``ag``'s claim policy."""
    from detente.store.claims import ClaimStore, has_claims

    frame = s.store.observations()
    if not has_claims(s.store):
        return frame
    claims = ClaimStore(s.store).evidence(ag.claims, ag.parties)
    if claims.empty:
        return frame
    both = pd.concat([frame, claims], ignore_index=True)
    return both.drop_duplicates("content_hash", ignore_index=True)


def _as_of(text: str | None, ag: Agreement, frame: pd.DataFrame) -> datetime:
    from detente.cli import default_as_of, parse_as_of

    if text is None:
        return default_as_of(frame)
    try:
        return parse_as_of(text, ag)
    except InputError as exc:
        raise InputError([Problem("body", "as_of", p.message) for p in exc.problems]) from None


def _cache(backend: Backend) -> AgreementCache:
    cache: AgreementCache = backend.agreements
    return cache


class Deliverer:
    """Sends queued webhook alerts, one run at a time; a run asked for while one is going
    makes that one go round again, so nothing queued meanwhile waits for the next evaluation.

    >>> backend.deliverer.run()        # in a background task or thread      # doctest: +SKIP
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._state = threading.Lock()
        self._running = False
        self._again = False

    def run(self) -> None:
        from detente.alerts import Webhooks

        with self._state:
            if self._running:
                self._again = True
                return
            self._running = True
        try:
            while True:
                with self.backend.session() as s:
                    Webhooks(s.db).deliver()
                with self._state:
                    if not self._again:
                        return
                    self._again = False
        except Exception:  # a background thread has nobody to tell but the log
            log.exception("webhook delivery failed")
        finally:
            with self._state:
                self._running = False


@router.post("/evaluate", status_code=201, response_model=ReportOut)
def evaluate_now(
    body: EvaluateIn,
    call: Annotated[Call, Depends(needs("evaluate"))],
    background: BackgroundTasks,
) -> ReportOut:
    """Evaluate an agreement on the stored evidence, store the report, alert the webhooks."""
    from detente.alerts import Webhooks
    from detente.engine import evaluate

    s = call.session
    ag, stored = _cache(s.backend).load(s.db, body.agreement, body.version)
    frame = evidence_for(s, ag)
    moment = _as_of(body.as_of, ag, frame)
    report = evaluate(ag, frame, moment)
    now = datetime.now(UTC)
    report_id = f"rep-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"
    alerts: int | None = None
    with s.db.transaction():  # the report and its alerts: both or neither
        s.db.execute(
            "INSERT INTO finding_reports (report_id, agreement, version, as_of, json, "
            "evaluated_by, evaluated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [report_id, ag.id, stored.version_no, moment, report.to_json(), call.principal.name,
             now],
        )  # fmt: skip
        if body.as_of is None:
            alerts = len(Webhooks(s.db).record(report))
    if alerts:
        background.add_task(s.backend.deliverer.run)
    return ReportOut(report_id=report_id, agreement_version=stored.version_no, evaluated_at=now,
                     evaluated_by=call.principal.name, alerts=alerts,
                     **report.to_dict())  # fmt: skip


# ---------------------------------------------------------------------- reading


class ReportCache:
    """Stored reports, parsed once each: a report never changes after it is stored, and the
    latest one is what every dashboard polls (a large agreement's is a megabyte of JSON).

    >>> cache.get(db, "rep-20160630T…")                  # doctest: +SKIP
    {'report_id': 'rep-…', 'agreement_version': 1, …, 'findings': […]}
    """

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self._reports: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._texts: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def text(self, db: Database, report_id: str) -> bytes:
        """The report as JSON bytes (serialised once)."""
        report = self.get(db, report_id)
        with self._lock:
            found = self._texts.get(report_id)
        if found is None:
            found = _json_bytes(report)
            with self._lock:
                if report_id in self._reports:
                    self._texts[report_id] = found
        return found

    def get(self, db: Database, report_id: str) -> dict[str, Any]:
        """The report as a dict (parsed once)."""
        with self._lock:
            if report_id in self._reports:
                self._reports.move_to_end(report_id)
                return self._reports[report_id]
        row = db.one(
            "SELECT version, json, evaluated_by, evaluated_at FROM finding_reports "
            "WHERE report_id = ?",
            [report_id],
        )
        if row is None:
            raise NotFound(f"no report {report_id!r}")
        version, text, by, at = row
        report = {"report_id": report_id, "agreement_version": int(version),
                  "evaluated_at": iso(pd.Timestamp(at).to_pydatetime().astimezone(UTC)),
                  "evaluated_by": by, "alerts": None, **json.loads(text)}  # fmt: skip
        with self._lock:
            self._reports[report_id] = report
            while len(self._reports) > self.size:
                old, _ = self._reports.popitem(last=False)
                self._texts.pop(old, None)
        return report


def _json_bytes(value: Any) -> bytes:
    """JSON as JSONResponse writes it."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def _latest_ids(s: Session, agreement: str | None) -> list[str]:
    """The id of the latest report of each agreement (of one, if given), by agreement id."""
    where, params = ("WHERE agreement = ?", [agreement]) if agreement else ("", [])
    rows = s.db.rows(
        "SELECT report_id FROM (SELECT agreement, report_id, row_number() OVER ("
        "PARTITION BY agreement ORDER BY evaluated_at DESC, report_id DESC) AS n "
        f"FROM finding_reports {where}) AS r WHERE n = 1 ORDER BY agreement",
        params,
    )
    return [str(r[0]) for r in rows]


def latest_reports(s: Session, agreement: str | None) -> list[dict[str, Any]]:
    """The latest report of each agreement (of one, if given), by agreement id."""
    return [s.backend.reports.get(s.db, i) for i in _latest_ids(s, agreement)]


def _known(db: Database, agreement: str) -> None:
    if db.one("SELECT 1 FROM agreement_versions WHERE id = ?", [agreement]) is None:
        raise NotFound(f"no agreement {agreement!r}")


@router.get("", response_model=FindingsOut)
def list_findings(
    call: Annotated[Call, Depends(needs("read_findings"))],
    agreement: Annotated[str | None, Query(description="Agreement id (default: all).")] = None,
    status: Annotated[Status | None, Query()] = None,
    party: Annotated[str | None, Query()] = None,
) -> Response:
    """The latest report of each agreement (or of one), its findings filtered."""
    s = call.session
    if agreement is not None:
        _known(s.db, agreement)
    ids = _latest_ids(s, agreement)
    if agreement is not None and not ids:
        raise NotFound(f"agreement {agreement!r} has not been evaluated: POST /findings/evaluate")
    if status is None and party is None:
        # What dashboards poll: each report serialised once, the answer assembled from them.
        texts = [s.backend.reports.text(s.db, i) for i in ids]
        body = b'{"reports":[' + b",".join(texts) + b"]}"
        return Response(body, media_type="application/json")
    reports = [
        {**r, "findings": [
            f for f in r["findings"]
            if (status is None or f["status"] == status.value)
            and (party is None or f["party"] == party)
        ]}
        for r in (s.backend.reports.get(s.db, i) for i in ids)
    ]  # fmt: skip
    # Straight to JSON: the cached reports are already plain JSON values, and validating a
    # large report against the model on every request would cost more than the whole query.
    return JSONResponse({"reports": reports})


def parse_time(text: str, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            f"{field}: {text!r} is not an ISO 8601 time",
            [Problem("query", field, "an ISO 8601 time, e.g. 2016-06-01T00:00:00+03:00")],
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@router.get("/{agreement}/{obligation}/{party}", response_model=FindingOut)
def one_finding(
    agreement: str,
    obligation: str,
    party: str,
    call: Annotated[Call, Depends(needs("read_findings"))],
    window_start: Annotated[
        str | None, Query(description="ISO time of the window's start (default: the latest).")
    ] = None,
) -> FindingOut:
    """One finding of the latest report, with the evidence records it cites in full."""
    s = call.session
    _known(s.db, agreement)
    reports = latest_reports(s, agreement)
    if not reports:
        raise NotFound(f"agreement {agreement!r} has not been evaluated: POST /findings/evaluate")
    report = reports[0]
    found = [f for f in report["findings"] if f["obligation"] == obligation and f["party"] == party]
    if window_start is not None:
        wanted = parse_time(window_start, "window_start")
        found = [f for f in found if parse_time(f["window"]["start"], "window") == wanted]
    if not found:
        what = f"{obligation}/{party}" + (f" from {window_start}" if window_start else "")
        raise NotFound(f"no finding {what} in the latest report of {agreement!r}")
    finding = max(found, key=lambda f: parse_time(f["window"]["start"], "window"))
    evidence = None
    if call.may("read_evidence"):
        ag, _ = _cache(s.backend).load(s.db, agreement, report["agreement_version"])
        evidence = _records_by_id(s, ag, finding["evidence"])
    return FindingOut(agreement=agreement, agreement_version=report["agreement_version"],
                      report_id=report["report_id"], as_of=report["as_of"], finding=finding,
                      evidence=evidence)  # fmt: skip


def _records_by_id(s: Session, ag: Agreement, ids: list[str]) -> list[dict[str, Any]]:
    """The cited records in the order cited (observations and claims alike)."""
    if not ids:
        return []
    frame = evidence_for(s, ag)
    chosen = frame[frame["id"].isin(ids)].drop_duplicates("id").set_index("id", drop=False)
    return records(chosen.reindex([i for i in ids if i in chosen.index]))
