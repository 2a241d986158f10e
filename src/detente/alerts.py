"""Alerts: when a finding changes status, registered webhooks get a signed JSON payload.

    >>> hooks = Webhooks(Database.open(None))
    >>> hooks.add("https://example.org/hook", "long-random-secret", created_by="admin")
    1
    >>> changes = hooks.record(report)           # compare with the stored states  # doctest: +SKIP
    >>> hooks.deliver()                          # POST what record() queued       # doctest: +SKIP
    2

Flow: :meth:`Webhooks.record` compares a :class:`~detente.findings.FindingsReport` with the
last stored status of each finding — keyed by (agreement, obligation, party, window start) —
stores the new states and queues one delivery per webhook per change, all in one transaction.
:meth:`Webhooks.deliver` then POSTs the queued payloads, retrying with exponential back-off, and
records every attempt.

What counts as a change. A finding seen before alerts whenever its status changes or its
trigger fires (``triggered_at`` becomes set). A finding never seen before — every finding the
first time an agreement is evaluated, and each new window later (a new month, the stretch that
starts when a trigger fires) — alerts only if it is a ``violation`` or a fired trigger: a new
month opening as ``unverified`` or ``compliant`` is news to nobody, and alerting on every
finding of a first evaluation would bury the few that matter.

Receivers check ``X-Detente-Signature`` (``sha256=`` + hex HMAC-SHA256 of the raw body with the
webhook's secret, see :func:`signature`) and may deduplicate on ``X-Detente-Delivery``: a retry
sends the very same bytes with the same delivery id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, overload
from urllib.parse import urlsplit

import httpx

from detente.agreement import Status
from detente.errors import InputError, Problem
from detente.findings import Finding, FindingsReport, iso
from detente.store._db import Database

__all__ = ["EVENTS", "MAX_DELAY_S", "Webhooks", "signature"]

#: Events a webhook can subscribe to.
EVENTS = ("status_changed",)
#: The longest wait between two attempts, however many there are.
MAX_DELAY_S = 60.0
#: Status codes that mean "try again later" although they are 4xx.
_RETRY_4XX = frozenset({408, 429})
_SOURCE = "webhooks"
#: Records as dicts (an alias: inside Webhooks, ``list`` is the method).
_Dicts = list[dict[str, Any]]

_SCHEMA = (
    "CREATE SEQUENCE IF NOT EXISTS webhook_ids",
    "CREATE SEQUENCE IF NOT EXISTS finding_state_seq",
    "CREATE SEQUENCE IF NOT EXISTS delivery_seq",
    """CREATE TABLE IF NOT EXISTS webhooks (
        id BIGINT PRIMARY KEY,
        url VARCHAR NOT NULL,
        secret VARCHAR NOT NULL,
        events VARCHAR NOT NULL,
        created_by VARCHAR NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        removed_at TIMESTAMPTZ
    )""",
    # Append-only: a row per (first sighting or change of) a finding's status; the current
    # state of a finding is its row with the highest seq. The table is the status history.
    """CREATE TABLE IF NOT EXISTS finding_states (
        seq BIGINT PRIMARY KEY,
        agreement VARCHAR NOT NULL,
        agreement_sha256 VARCHAR NOT NULL,
        obligation VARCHAR NOT NULL,
        party VARCHAR NOT NULL,
        window_start TIMESTAMPTZ NOT NULL,
        window_end TIMESTAMPTZ,
        status VARCHAR NOT NULL,
        triggered_at TIMESTAMPTZ,
        as_of TIMESTAMPTZ NOT NULL,
        recorded_at TIMESTAMPTZ NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS deliveries (
        seq BIGINT PRIMARY KEY,
        delivery_id VARCHAR NOT NULL UNIQUE,
        webhook_id BIGINT NOT NULL,
        event VARCHAR NOT NULL,
        payload VARCHAR NOT NULL,
        state VARCHAR NOT NULL,
        created_at TIMESTAMPTZ NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS delivery_attempts (
        delivery_id VARCHAR NOT NULL,
        webhook_id BIGINT NOT NULL,
        attempt BIGINT NOT NULL,
        attempted_at TIMESTAMPTZ NOT NULL,
        status_code BIGINT,
        error VARCHAR,
        state VARCHAR NOT NULL,
        PRIMARY KEY (delivery_id, attempt)
    )""",
)


def signature(secret: str, body: bytes) -> str:
    """``sha256=`` and the hex HMAC-SHA256 of ``body`` keyed with ``secret``.

    >>> signature("s3cret", b'{"event":"status_changed"}')[:15]
    'sha256=f0040ce4'

    A receiver recomputes it over the raw request body and compares with
    :func:`hmac.compare_digest`.
    """
    mac = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


@overload
def _utc(moment: datetime) -> datetime: ...
@overload
def _utc(moment: datetime | None) -> datetime | None: ...
def _utc(moment: datetime | None) -> datetime | None:
    """A plain ``datetime`` in UTC (the engine hands out pandas Timestamps)."""
    if moment is None:
        return None
    m = moment.astimezone(UTC)
    return datetime(m.year, m.month, m.day, m.hour, m.minute, m.second, m.microsecond, UTC)


@dataclass(frozen=True)
class _State:
    status: str
    triggered: bool


class Webhooks:
    """Registered webhooks, the last known status of every finding, and the delivery log.

    >>> hooks = Webhooks(Database.open(None))
    >>> hooks.add("http://127.0.0.1:9/x", "0123456789abcdef", created_by="root")
    1
    >>> [(h["id"], h["url"], h["events"]) for h in hooks.list()]
    [(1, 'http://127.0.0.1:9/x', ['status_changed'])]

    Secrets are stored as given (signing needs the secret itself, so it cannot be hashed) and
    never returned by :meth:`list`.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        for statement in _SCHEMA:
            db.execute(statement)

    # ------------------------------------------------------------------------------ webhooks

    def add(
        self,
        url: str,
        secret: str,
        *,
        created_by: str,
        events: Sequence[str] = ("status_changed",),
    ) -> int:
        """Register a webhook; returns its id. InputError for a bad url, secret or event."""
        problems = []
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append(Problem(_SOURCE, "url", f"{url!r}: an http:// or https:// URL"))
        if len(secret) < 8:  # short secrets can be guessed from one signed payload
            problems.append(Problem(_SOURCE, "secret", "at least 8 characters"))
        unknown = [e for e in events if e not in EVENTS]
        if unknown or not events:
            problems.append(
                Problem(_SOURCE, "events", f"{unknown or '[]'}: choose from {', '.join(EVENTS)}")
            )
        if problems:
            raise InputError(problems)
        with self.db.transaction():
            row = self.db.one("SELECT nextval('webhook_ids')")
            assert row is not None
            hook_id = int(row[0])
            self.db.execute(
                "INSERT INTO webhooks (id, url, secret, events, created_by, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [hook_id, url, secret, ",".join(events), created_by, datetime.now(UTC)],
            )
        return hook_id

    def list(self) -> list[dict[str, Any]]:
        """Active webhooks (id, url, events, created_by, created_at), without their secrets."""
        found = self.db.rows(
            "SELECT id, url, events, created_by, created_at FROM webhooks"
            " WHERE removed_at IS NULL ORDER BY id"
        )
        return [
            {"id": int(i), "url": u, "events": e.split(","), "created_by": c, "created_at": t}
            for i, u, e, c, t in found
        ]

    def remove(self, webhook_id: int) -> bool:
        """Stop sending to a webhook (its queued deliveries fail); False if there is none."""
        with self.db.transaction():
            if (
                self.db.one(
                    "SELECT 1 FROM webhooks WHERE id = ? AND removed_at IS NULL", [webhook_id]
                )
                is None
            ):
                return False
            self.db.execute(
                "UPDATE webhooks SET removed_at = ? WHERE id = ?", [datetime.now(UTC), webhook_id]
            )
            self.db.execute(
                "UPDATE deliveries SET state = 'failed' WHERE webhook_id = ? AND state = 'pending'",
                [webhook_id],
            )
        return True

    # ------------------------------------------------------------------------- state changes

    def record(self, report: FindingsReport) -> _Dicts:
        """Store the report's finding states; queue and return the changes worth an alert.

        Each change is the payload sent (without ``delivery_id``): ``event``, ``agreement``,
        ``obligation``, ``party``, ``window``, ``from`` (None for a finding not seen before),
        ``to``, ``triggered_at`` (fired triggers only), ``as_of``, ``explanation``,
        ``evidence``. Call it with each new evaluation as of now; an evaluation of the past
        would be compared with the newer stored states.
        """
        now = datetime.now(UTC)
        changes: _Dicts = []
        with self.db.transaction():
            before = self._states(report.agreement_id)
            new_rows = []
            for f in report.findings:
                start = _utc(f.window_start)
                old = before.get((f.obligation, f.party, start))
                now_state = _State(f.status.value, f.triggered_at is not None)
                if old == now_state:
                    continue
                new_rows.append(
                    [report.agreement_id, report.agreement_sha256, f.obligation, f.party, start,
                     _utc(f.window_end), f.status.value, _utc(f.triggered_at),
                     _utc(report.as_of), now]
                )  # fmt: skip
                if _alerts(old, f):
                    changes.append(_change(report, f, old))
            if new_rows:
                self.db.executemany(
                    "INSERT INTO finding_states (seq, agreement, agreement_sha256, obligation,"
                    " party, window_start, window_end, status, triggered_at, as_of, recorded_at)"
                    " VALUES (nextval('finding_state_seq'), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    new_rows,
                )
            self._queue(changes, now)
        return changes

    def _states(self, agreement: str) -> dict[tuple[str, str, datetime], _State]:
        """The current state of each finding of ``agreement`` (its latest row)."""
        found = self.db.rows(
            "SELECT obligation, party, window_start, status, triggered_at FROM finding_states"
            " WHERE agreement = ? ORDER BY seq",
            [agreement],
        )
        out: dict[tuple[str, str, datetime], _State] = {}
        for obligation, party, start, status, triggered in found:  # later rows overwrite
            out[(obligation, party, _utc(start))] = _State(status, triggered is not None)
        return out

    def _queue(self, changes: _Dicts, now: datetime) -> None:
        hooks = [h["id"] for h in self.list() if "status_changed" in h["events"]]
        rows = []
        for change in changes:
            for hook_id in hooks:
                delivery_id = uuid.uuid4().hex
                body = _body({**change, "delivery_id": delivery_id})
                rows.append([delivery_id, hook_id, change["event"], body, now])
        if rows:
            self.db.executemany(
                "INSERT INTO deliveries (seq, delivery_id, webhook_id, event, payload, state,"
                " created_at) VALUES (nextval('delivery_seq'), ?, ?, ?, ?, 'pending', ?)",
                rows,
            )

    # ---------------------------------------------------------------------------- delivering

    def deliver(
        self,
        *,
        client: httpx.Client | None = None,
        max_attempts: int = 5,
        base_delay_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> int:
        """POST every pending delivery; returns how many were delivered (2xx) now.

        A connection error, a timeout, a 5xx, a 408 or a 429 is retried after
        ``base_delay_s × 2^n`` seconds (n = 0, 1, …; at most :data:`MAX_DELAY_S`), up to
        ``max_attempts`` attempts in all; any other status is final (a 4xx means the receiver
        refuses this payload and will refuse it again). Every attempt is recorded. Deliveries
        are sent one after the other, in the order they were queued; run this in a background
        worker, not in a request handler.

        >>> hooks.deliver(client=httpx.Client(timeout=5), sleep=lambda s: None)  # doctest: +SKIP
        3
        """
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        own = client is None
        http = httpx.Client(timeout=10.0) if client is None else client
        delivered = 0
        try:
            pending = self.db.rows(
                "SELECT d.delivery_id, d.webhook_id, d.payload, w.url, w.secret"
                " FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id"
                " WHERE d.state = 'pending' ORDER BY d.seq"
            )
            for delivery_id, hook_id, payload, url, secret in pending:
                done = self._attempts_so_far(delivery_id)
                ok = self._send(http, delivery_id, int(hook_id), payload.encode("utf-8"), url,
                                secret, done, max_attempts, base_delay_s, sleep)  # fmt: skip
                delivered += ok
        finally:
            if own:
                http.close()
        return delivered

    def _attempts_so_far(self, delivery_id: str) -> int:
        row = self.db.one(
            "SELECT COUNT(*) FROM delivery_attempts WHERE delivery_id = ?", [delivery_id]
        )
        return int(row[0]) if row else 0

    def _send(
        self,
        http: httpx.Client,
        delivery_id: str,
        hook_id: int,
        body: bytes,
        url: str,
        secret: str,
        done: int,
        max_attempts: int,
        base_delay_s: float,
        sleep: Callable[[float], None],
    ) -> bool:
        headers = {
            "Content-Type": "application/json",
            "X-Detente-Signature": signature(secret, body),
            "X-Detente-Delivery": delivery_id,
        }
        # `done` attempts may survive from a run that stopped half-way: keep counting from there.
        for attempt in range(done + 1, max_attempts + 1):
            code: int | None = None
            error: str | None = None
            try:
                response = http.post(url, content=body, headers=headers)
                code = response.status_code
            except httpx.TransportError as exc:
                error = f"{type(exc).__name__}: {exc}"
            if code is not None and 200 <= code < 300:
                state = "delivered"
            elif (code is None or code >= 500 or code in _RETRY_4XX) and attempt < max_attempts:
                state = "pending"
            else:
                state = "failed"
            self._log(delivery_id, hook_id, attempt, code, error, state)
            if state != "pending":
                return state == "delivered"
            sleep(min(base_delay_s * 2 ** (attempt - 1), MAX_DELAY_S))
        self.db.execute(  # only reached when earlier runs used up every attempt
            "UPDATE deliveries SET state = 'failed' WHERE delivery_id = ?", [delivery_id]
        )
        return False

    def _log(self, delivery_id: str, hook_id: int, attempt: int, code: int | None,
             error: str | None, state: str) -> None:  # fmt: skip
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO delivery_attempts (delivery_id, webhook_id, attempt, attempted_at,"
                " status_code, error, state) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [delivery_id, hook_id, attempt, datetime.now(UTC), code, error, state],
            )
            self.db.execute(
                "UPDATE deliveries SET state = ? WHERE delivery_id = ?", [state, delivery_id]
            )

    def deliveries(self) -> _Dicts:
        """Every delivery in the order queued, with its payload, state and attempts.

        Each is ``{"delivery_id", "webhook_id", "event", "state", "created_at", "payload"
        (parsed), "attempts": [{"attempt", "at", "status_code", "error", "state"}, …]}``.
        """
        found = self.db.rows(
            "SELECT delivery_id, webhook_id, event, state, created_at, payload FROM deliveries"
            " ORDER BY seq"
        )
        tries: dict[str, _Dicts] = {}
        for d, attempt, at, code, error, state in self.db.rows(
            "SELECT delivery_id, attempt, attempted_at, status_code, error, state"
            " FROM delivery_attempts ORDER BY delivery_id, attempt"
        ):
            tries.setdefault(d, []).append(
                {"attempt": int(attempt), "at": at,
                 "status_code": None if code is None else int(code), "error": error,
                 "state": state}
            )  # fmt: skip
        return [
            {"delivery_id": d, "webhook_id": int(w), "event": e, "state": s, "created_at": c,
             "payload": json.loads(p), "attempts": tries.get(d, [])}
            for d, w, e, s, c, p in found
        ]  # fmt: skip


def _alerts(old: _State | None, f: Finding) -> bool:
    """Whether a finding whose state differs from ``old`` is worth an alert (see module doc)."""
    fired = f.triggered_at is not None and (old is None or not old.triggered)
    if old is None:
        return f.status is Status.violation or fired
    return old.status != f.status.value or fired


def _change(report: FindingsReport, f: Finding, old: _State | None) -> dict[str, Any]:
    change: dict[str, Any] = {
        "event": "status_changed",
        "agreement": report.agreement_id,
        "obligation": f.obligation,
        "party": f.party,
        "window": {"start": iso(f.window_start), "end": iso(f.window_end)},
        "from": None if old is None else old.status,
        "to": f.status.value,
        "as_of": iso(report.as_of.astimezone(UTC)),
        "explanation": f.explanation,
        "evidence": list(f.evidence),
    }
    if f.triggered_at is not None:
        change["triggered_at"] = iso(f.triggered_at)
    return change


def _body(payload: dict[str, Any]) -> str:
    # Serialised once, when queued: every retry sends (and signs) exactly the same bytes.
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
