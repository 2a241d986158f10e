"""Webhooks against a real HTTP receiver on 127.0.0.1: signed payloads, retries, back-off, the
delivery log, and which status changes alert.

The receiver is http.server in a thread; it checks each request's signature with the secret, as
a real receiver would. Nothing is mocked; only ``sleep`` is replaced, by one that records the
delays asked for, so that the back-off can be asserted without waiting for it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from conftest import CONDITIONAL, frame
from detente.agreement import Agreement, Status, load_agreement
from detente.alerts import MAX_DELAY_S, Webhooks, signature
from detente.engine import evaluate
from detente.errors import InputError
from detente.findings import FindingsReport
from detente.store._db import Database

SECRET = "a-long-shared-secret"
AS_OF = datetime.fromisoformat("2020-06-30T23:59:59+03:00")
W10, E10 = 37.865, 38.135  # ~10 km west / east of the toy line at 48.5°N
PATROLS = [  # a monitor's patrol in both bands every month: the tank bans are compliant
    {"id": f"patrol-{side}-{m}", "time": f"2020-0{m}-03T08:00Z", "lon": lon, "lat": 48.4,
     "actor": "monitor", "kind": "patrol", "category": None}
    for m in range(1, 7) for side, lon in (("w", W10), ("e", E10))
]  # fmt: skip
APRIL_TANK = {"id": "apr-tank", "time": "2020-04-10T10:00Z", "lon": W10, "lat": 48.5}
EAST_FIRE = {"id": "fire", "time": "2020-03-10T06:00Z", "lon": E10, "lat": 48.5,
             "actor": "east", "kind": "fire", "category": None}  # fmt: skip


# ------------------------------------------------------------------------------------ fixtures


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]
    signature_ok: bool


@dataclass
class Receiver:
    """A webhook endpoint answering with ``codes`` in turn (the last one repeats)."""

    codes: list[int]
    secret: str = SECRET
    received: list[Received] = field(default_factory=list)
    url: str = ""

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in self.received]


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    servers: list[ThreadingHTTPServer] = []

    def start(*codes: int, secret: str = SECRET) -> Receiver:
        rec = Receiver(list(codes) or [200], secret)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                # What a receiver does: recompute the HMAC over the raw body with its copy of
                # the secret, compare in constant time.
                mine = "sha256=" + hmac.new(rec.secret.encode(), body, hashlib.sha256).hexdigest()
                given = self.headers.get("X-Detente-Signature", "")
                rec.received.append(
                    Received(body, dict(self.headers.items()), hmac.compare_digest(mine, given))
                )
                code = rec.codes[min(len(rec.received), len(rec.codes)) - 1]
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output clean

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
        servers.append(server)
        rec.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        return rec

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def unreachable_url() -> str:
    """A port on 127.0.0.1 that nothing listens on (bound once, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


class Sleeps(list[float]):
    """A ``sleep`` that records the delays instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def agreement(toy: Callable[..., Path]) -> Agreement:
    return load_agreement(toy(CONDITIONAL))


def report(ag: Agreement, rows: list[dict[str, Any]], as_of: datetime = AS_OF) -> FindingsReport:
    return evaluate(ag, frame(rows), as_of)


def with_hook(db: Database, url: str) -> Webhooks:
    """Webhooks with one hook (id 1) at ``url``."""
    hooks = Webhooks(db)
    hooks.add(url, SECRET, created_by="root")
    return hooks


def queue_violation(hooks: Webhooks, agreement: Agreement) -> None:
    changes = hooks.record(report(agreement, [*PATROLS, APRIL_TANK]))
    assert [(c["obligation"], c["party"], c["to"]) for c in changes] == [
        ("tanks", "west", "violation")
    ]


# ----------------------------------------------------------------------------- change detection


def test_the_same_evidence_twice_changes_nothing(db: Database, agreement: Agreement) -> None:
    hooks = Webhooks(db)
    first = hooks.record(report(agreement, PATROLS))
    assert first == []  # all compliant, unverified or inactive: recorded, not alerted
    assert db.one("SELECT COUNT(*) FROM finding_states") == (
        len(report(agreement, PATROLS).findings),
    )
    assert hooks.record(report(agreement, PATROLS)) == []
    assert db.one("SELECT COUNT(*) FROM finding_states") == (
        len(report(agreement, PATROLS).findings),
    )


def test_a_violating_observation_is_exactly_one_change(db: Database, agreement: Agreement) -> None:
    hooks = Webhooks(db)
    before = report(agreement, PATROLS)
    hooks.record(before)
    april = [f for f in before.findings if f.obligation == "tanks" and f.party == "west"
             and f.window_start.month == 4]  # fmt: skip
    assert april[0].status is Status.compliant

    changes = hooks.record(report(agreement, [*PATROLS, APRIL_TANK]))
    assert len(changes) == 1
    change = changes[0]
    assert change["event"] == "status_changed"
    assert (change["agreement"], change["obligation"], change["party"]) == ("toy", "tanks", "west")
    assert (change["from"], change["to"]) == ("compliant", "violation")
    assert change["window"] == {
        "start": "2020-04-01T00:00:00+03:00",
        "end": "2020-05-01T00:00:00+03:00",
    }
    assert change["evidence"] == ["apr-tank"]
    assert "attributed to west" in change["explanation"]
    assert "triggered_at" not in change
    assert hooks.record(report(agreement, [*PATROLS, APRIL_TANK])) == []  # and only once


def test_unverified_to_violation_and_back(db: Database, agreement: Agreement) -> None:
    # A West tank 40 km back in April: outside the band, so nothing is known of the band
    # itself (tanks: unverified), but it shows someone was looking (ceasefire: compliant).
    far = {**APRIL_TANK, "id": "apr-far", "lon": 37.46}
    hooks = Webhooks(db)
    hooks.record(report(agreement, [far]))
    changes = hooks.record(report(agreement, [far, APRIL_TANK]))
    assert [(c["obligation"], c["from"], c["to"]) for c in changes] == [
        ("tanks", "unverified", "violation")
    ]
    # The sighting withdrawn (say, a retracted report): the status change alerts too.
    back = hooks.record(report(agreement, [far]))
    assert [(c["obligation"], c["from"], c["to"]) for c in back] == [
        ("tanks", "violation", "unverified")
    ]


def test_first_evaluation_alerts_only_violations_and_fired_triggers(
    db: Database, agreement: Agreement
) -> None:
    hooks = Webhooks(db)
    first = report(agreement, [*PATROLS, APRIL_TANK, EAST_FIRE])
    assert len(first.findings) > 20
    changes = hooks.record(first)
    summary = [(c["obligation"], c["party"], c["to"], "triggered_at" in c) for c in changes]
    violations = [("cf", "east", "violation", False), ("tanks", "west", "violation", False)]
    assert [s for s in summary if not s[3]] == violations
    fired = [s for s in summary if s[3]]
    assert fired and all(s[:2] == ("freeze", "west") for s in fired)
    assert all(c["from"] is None for c in changes)
    assert all(c["triggered_at"] == "2020-03-10T06:00:00Z" for c in changes if "triggered_at" in c)


def test_a_trigger_firing_later_alerts(db: Database, agreement: Agreement) -> None:
    hooks = Webhooks(db)
    hooks.record(report(agreement, PATROLS))
    changes = hooks.record(report(agreement, [*PATROLS, EAST_FIRE]))
    assert ("cf", "east", "violation") in [(c["obligation"], c["party"], c["to"]) for c in changes]
    fired = [c for c in changes if c["obligation"] == "freeze"]
    assert fired and all(c["triggered_at"] == "2020-03-10T06:00:00Z" for c in fired)
    assert fired[0]["window"]["start"] == "2020-03-10T08:00:00+02:00"  # from the trigger on


def test_states_survive_reopening_the_database(tmp_path: Path, agreement: Agreement) -> None:
    path = str(tmp_path / "server.duckdb")
    first = Database.open(path)
    Webhooks(first).record(report(agreement, PATROLS))
    first.close()
    again = Database.open(path)
    assert Webhooks(again).record(report(agreement, PATROLS)) == []
    assert len(Webhooks(again).record(report(agreement, [*PATROLS, APRIL_TANK]))) == 1
    again.close()


def test_changes_queue_one_delivery_per_webhook(db: Database, agreement: Agreement) -> None:
    hooks = Webhooks(db)
    hooks.add("http://127.0.0.1:9/a", SECRET, created_by="root")
    hooks.add("https://example.org/b", SECRET, created_by="root")
    hooks.record(report(agreement, PATROLS))
    assert hooks.deliveries() == []
    queue_violation(hooks, agreement)
    queued = hooks.deliveries()
    assert [(d["webhook_id"], d["state"], d["attempts"]) for d in queued] == [
        (1, "pending", []), (2, "pending", [])
    ]  # fmt: skip
    assert queued[0]["delivery_id"] != queued[1]["delivery_id"]
    assert queued[0]["payload"]["delivery_id"] == queued[0]["delivery_id"]


# ------------------------------------------------------------------------------------ delivery


def test_payload_and_signature_verified_by_the_receiver(
    db: Database, agreement: Agreement, receiver: Callable[..., Receiver]
) -> None:
    rec = receiver(200)
    hooks = with_hook(db, rec.url)
    hooks.record(report(agreement, PATROLS))
    queue_violation(hooks, agreement)
    sleeps = Sleeps()
    assert hooks.deliver(sleep=sleeps) == 1
    assert sleeps == []
    [got] = rec.received
    assert got.signature_ok
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["X-Detente-Signature"] == signature(SECRET, got.body)
    payload = json.loads(got.body)
    assert got.headers["X-Detente-Delivery"] == payload["delivery_id"]
    assert set(payload) == {"event", "agreement", "obligation", "party", "window", "from", "to",
                            "as_of", "explanation", "evidence", "delivery_id"}  # fmt: skip
    assert (payload["event"], payload["from"], payload["to"]) == (
        "status_changed",
        "compliant",
        "violation",
    )
    assert payload["evidence"] == ["apr-tank"]
    [delivery] = hooks.deliveries()
    assert delivery["state"] == "delivered" and delivery["payload"] == payload
    assert [
        (a["attempt"], a["status_code"], a["error"], a["state"]) for a in delivery["attempts"]
    ] == [(1, 200, None, "delivered")]
    assert hooks.deliver(sleep=sleeps) == 0  # delivered once, never again
    assert len(rec.received) == 1


def test_a_receiver_with_another_secret_sees_a_bad_signature(
    db: Database, agreement: Agreement, receiver: Callable[..., Receiver]
) -> None:
    rec = receiver(200, secret="not-the-secret-we-share")
    hooks = with_hook(db, rec.url)
    queue_violation(hooks, agreement)
    hooks.deliver(sleep=Sleeps())
    assert [r.signature_ok for r in rec.received] == [False]


def test_two_500s_then_success_is_three_attempts(
    db: Database, agreement: Agreement, receiver: Callable[..., Receiver]
) -> None:
    rec = receiver(500, 500, 200)
    hooks = with_hook(db, rec.url)
    queue_violation(hooks, agreement)
    sleeps = Sleeps()
    assert hooks.deliver(sleep=sleeps, base_delay_s=0.5) == 1
    assert sleeps == [0.5, 1.0]
    [delivery] = hooks.deliveries()
    assert delivery["state"] == "delivered"
    attempts = delivery["attempts"]
    assert [(a["attempt"], a["status_code"], a["state"]) for a in attempts] == [
        (1, 500, "pending"), (2, 500, "pending"), (3, 200, "delivered")
    ]  # fmt: skip
    assert all(isinstance(a["at"], datetime) for a in attempts)
    # A retry is the same delivery: same bytes, same id, so the receiver can deduplicate.
    assert len({r.body for r in rec.received}) == 1
    assert len({r.headers["X-Detente-Delivery"] for r in rec.received}) == 1
    assert all(r.signature_ok for r in rec.received)


def test_a_400_fails_after_one_attempt(
    db: Database, agreement: Agreement, receiver: Callable[..., Receiver]
) -> None:
    rec = receiver(400, 200)
    hooks = with_hook(db, rec.url)
    queue_violation(hooks, agreement)
    sleeps = Sleeps()
    assert hooks.deliver(sleep=sleeps) == 0
    assert sleeps == []
    [delivery] = hooks.deliveries()
    assert delivery["state"] == "failed"
    assert [(a["attempt"], a["status_code"], a["state"]) for a in delivery["attempts"]] == [
        (1, 400, "failed")
    ]
    assert hooks.deliver(sleep=sleeps) == 0 and len(rec.received) == 1  # failed is final


def test_a_429_is_retried(
    db: Database, agreement: Agreement, receiver: Callable[..., Receiver]
) -> None:
    rec = receiver(429, 200)
    hooks = with_hook(db, rec.url)
    queue_violation(hooks, agreement)
    assert hooks.deliver(sleep=Sleeps()) == 1
    assert [a["status_code"] for a in hooks.deliveries()[0]["attempts"]] == [429, 200]


def test_an_unreachable_receiver_fails_after_max_attempts(
    db: Database, agreement: Agreement
) -> None:
    hooks = with_hook(db, unreachable_url())
    queue_violation(hooks, agreement)
    sleeps = Sleeps()
    assert hooks.deliver(sleep=sleeps, max_attempts=5, base_delay_s=0.5) == 0
    assert sleeps == [0.5, 1.0, 2.0, 4.0]  # none after the last attempt
    [delivery] = hooks.deliveries()
    assert delivery["state"] == "failed"
    attempts = delivery["attempts"]
    assert [a["attempt"] for a in attempts] == [1, 2, 3, 4, 5]
    assert [a["state"] for a in attempts] == ["pending"] * 4 + ["failed"]
    assert all(a["status_code"] is None and "ConnectError" in a["error"] for a in attempts)


def test_back_off_is_capped(db: Database, agreement: Agreement) -> None:
    hooks = with_hook(db, unreachable_url())
    queue_violation(hooks, agreement)
    sleeps = Sleeps()
    hooks.deliver(sleep=sleeps, max_attempts=6, base_delay_s=10.0)
    assert sleeps == [10.0, 20.0, 40.0, MAX_DELAY_S, MAX_DELAY_S]


def test_one_failing_webhook_does_not_stop_the_others(
    db: Database, agreement: Agreement, receiver: Callable[..., Receiver]
) -> None:
    bad, good = receiver(400), receiver(200)
    hooks = Webhooks(db)
    hooks.add(bad.url, SECRET, created_by="root")
    hooks.add(good.url, SECRET, created_by="root")
    queue_violation(hooks, agreement)
    assert hooks.deliver(sleep=Sleeps()) == 1
    assert [d["state"] for d in hooks.deliveries()] == ["failed", "delivered"]
    assert len(good.received) == 1 and good.received[0].signature_ok


def test_a_removed_webhook_gets_nothing(
    db: Database, agreement: Agreement, receiver: Callable[..., Receiver]
) -> None:
    rec = receiver(200)
    hooks = with_hook(db, rec.url)
    queue_violation(hooks, agreement)
    assert hooks.remove(1) is True and hooks.remove(1) is False
    assert hooks.list() == []
    assert hooks.deliver(sleep=Sleeps()) == 0
    assert rec.received == []
    assert [d["state"] for d in hooks.deliveries()] == ["failed"]


# ------------------------------------------------------------------------------------ webhooks


def test_list_never_shows_the_secret(db: Database) -> None:
    hooks = Webhooks(db)
    assert hooks.add("https://example.org/hook", SECRET, created_by="root") == 1
    assert hooks.add("http://127.0.0.1:8080/x", SECRET + "2", created_by="ana") == 2
    listed = hooks.list()
    assert [(h["id"], h["url"], h["events"], h["created_by"]) for h in listed] == [
        (1, "https://example.org/hook", ["status_changed"], "root"),
        (2, "http://127.0.0.1:8080/x", ["status_changed"], "ana"),
    ]
    assert SECRET not in repr(listed)
    assert all(isinstance(h["created_at"], datetime) for h in listed)


@pytest.mark.parametrize(
    ("url", "secret", "events", "bad"),
    [
        ("ftp://example.org/x", SECRET, ("status_changed",), ["url"]),
        ("example.org/x", SECRET, ("status_changed",), ["url"]),
        ("https://example.org/x", "short", ("status_changed",), ["secret"]),
        ("https://example.org/x", SECRET, ("finding_deleted",), ["events"]),
        ("https://example.org/x", SECRET, (), ["events"]),
        ("http://", "", (), ["url", "secret", "events"]),
    ],
)
def test_bad_webhooks_are_refused(
    db: Database, url: str, secret: str, events: tuple[str, ...], bad: list[str]
) -> None:
    hooks = Webhooks(db)
    with pytest.raises(InputError) as exc:
        hooks.add(url, secret, created_by="root", events=events)
    assert [p.field for p in exc.value.problems] == bad
    assert hooks.list() == []


def test_signature_is_hmac_sha256_of_the_body() -> None:
    body = b'{"a":1}'
    expected = hmac.new(b"k" * 16, body, hashlib.sha256).hexdigest()
    assert signature("k" * 16, body) == "sha256=" + expected
    assert re.fullmatch(r"sha256=[0-9a-f]{64}", signature("k" * 16, body))
