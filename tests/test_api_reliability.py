"""The server under load and under a crash, and fuzzed from its own OpenAPI document.

Real servers: ``python -m detente serve`` in a subprocess on 127.0.0.1 and a free port (loopback
only), against a fresh PostgreSQL database or DuckDB file.

1. 50 concurrent writers × 2,000 observations (4 batches of 500; some batches sent twice):
   every acknowledged record is stored exactly once.
2. The server is killed with SIGKILL in the middle of a large batch ingest and restarted: no
   acknowledged record is lost, the killed batch is there entirely or not at all, the store
   opens cleanly and takes new batches.
3. schemathesis generates requests from the OpenAPI document (a bounded number per operation)
   with an admin token: none gets a server error.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode

from detente.store import open_store
from detente.store._db import Database, is_postgres_url
from detente.users import Users
from serve_process import free_port, start_serve
from test_api import Api, make_api, obs, upload_toy

WRITERS = 50
PER_WRITER = 2_000
BATCH = 500
BIG = 200_000
#: Generated requests per operation (schemathesis): valid ones reach the handlers, invalid
#: ones test the refusals.
EXAMPLES = {GenerationMode.POSITIVE: 12, GenerationMode.NEGATIVE: 8}
COLUMNS = ["id", "time", "lon", "lat", "actor", "kind", "category", "count", "source",
           "reliability", "credibility", "note"]  # fmt: skip


class Server:
    """``detente serve`` in a subprocess; started, killed and restarted on the same store."""

    def __init__(self, db: str, data_dir: Path, log: Path) -> None:
        self.db, self.data_dir, self.log = db, data_dir, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.proc = start_serve(self.db, port, self.data_dir, self.log)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, no rollback; the database must cope."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def _admin_and_monitor(db: str) -> tuple[str, str]:
    """Users made before the server starts (a DuckDB file has one process at a time)."""
    database = Database.open(db)
    try:
        users = Users(database)
        return users.add("admin", "admin"), users.add("monitor", "monitor")
    finally:
        database.close()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[Server] = []

    def make(db: str) -> Server:
        server = Server(db, tmp_path / "data", tmp_path / "server.log")
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def _csv(ids: list[str], seed: int) -> bytes:
    """Canonical observation CSV of SYNTHETIC sightings with the given ids."""
    rng = np.random.default_rng(seed)
    n = len(ids)
    days = np.datetime64("2020-01-01") + rng.integers(0, 365, n).astype("timedelta64[D]")
    frame = pd.DataFrame(
        {
            "id": ids,
            "time": pd.to_datetime(days).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "lon": rng.uniform(37.0, 39.0, n).round(5),
            "lat": rng.uniform(47.5, 49.5, n).round(5),
            "actor": rng.choice(["west", "east"], n),
            "kind": "equipment",
            "category": rng.choice(["tank", "acv"], n),
            "count": rng.integers(1, 20, n),
            "source": "SYNTHETIC reliability test",
            "reliability": "B",
            "credibility": 2,
            "note": "SYNTHETIC",
        },
        columns=COLUMNS,
    )
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def _stored_ids(db: str, prefix: str = "") -> Counter[str]:
    """Every stored id (with how often it is stored), read straight from the database."""
    with open_store(db) as store:
        rows = store.db.rows(
            "SELECT id FROM observations WHERE id LIKE ?", [prefix.replace("%", "") + "%"]
        )
    return Counter(str(r[0]) for r in rows)


# ---------------------------------------------------------------------- 1. concurrent writers


def test_fifty_concurrent_writers_store_every_record_exactly_once(
    pg_url: str, server_factory: Any
) -> None:
    _, monitor = _admin_and_monitor(pg_url)
    server: Server = server_factory(pg_url)
    server.start()
    started = time.perf_counter()

    def writer(w: int) -> list[str]:
        acked: list[str] = []
        ids = [f"w{w:02d}-{i:04d}" for i in range(PER_WRITER)]
        batches = [ids[i : i + BATCH] for i in range(0, PER_WRITER, BATCH)]
        # Every fifth writer sends its second batch again once acknowledged: nothing twice.
        order = [0, 1, 2, 1, 3] if w % 5 == 0 else [0, 1, 2, 3]
        sent: set[int] = set()
        headers = {"Authorization": f"Bearer {monitor}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=300) as client:
            for b in order:
                if w % 2:  # half the writers send JSON, half CSV
                    body = [obs(id=i, lat=48 + (n % 100) / 100, time="2020-03-01T00:00:00Z")
                            for n, i in enumerate(batches[b])]  # fmt: skip
                    r = client.post("/evidence/observations/batch", json=body)
                else:
                    r = client.post("/evidence/observations/batch", content=_csv(batches[b], w),
                                    headers={"Content-Type": "text/csv"})  # fmt: skip
                assert r.status_code in (200, 201), r.text
                result = r.json()
                if b in sent:
                    assert (result["stored"], result["duplicates"]) == (0, BATCH)
                else:
                    assert (result["stored"], result["duplicates"]) == (BATCH, 0)
                sent.add(b)
                acked += result["ids"]
        return acked

    with ThreadPoolExecutor(WRITERS) as pool:
        acknowledged = [i for ids in pool.map(writer, range(WRITERS)) for i in ids]
    seconds = time.perf_counter() - started
    stored = _stored_ids(pg_url, "w")
    assert sum(stored.values()) == WRITERS * PER_WRITER
    assert set(acknowledged) == set(stored)  # every acknowledged id is stored …
    assert max(stored.values()) == 1  # … exactly once
    with open_store(pg_url) as store:
        assert store.count() == WRITERS * PER_WRITER
    print(f"\n{WRITERS} writers x {PER_WRITER} observations in {seconds:.1f} s")


# ---------------------------------------------------------------------- 2. SIGKILL mid-batch


def _post_csv(url: str, token: str, body: bytes) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
    return httpx.post(url + "/evidence/observations/batch", content=body, headers=headers,
                      timeout=600)  # fmt: skip


def _upload_received(data_dir: Path, size: int, timeout: float = 120) -> None:
    """Wait until the server holds a whole upload on disk: it is now ingesting it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in (data_dir / "uploads").glob("api-*.csv"):
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_size >= size:
                    return
        time.sleep(0.005)
    raise AssertionError("the server never received the whole batch")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _writing(db: str, timeout: float = 120) -> None:
    """Wait until the server is inside the batch's database transaction.

    DuckDB: the database file or its write-ahead log grows (rows are written out as the
    transaction commits). PostgreSQL: a session of the server's is in a transaction.
    """
    deadline = time.monotonic() + timeout
    if is_postgres_url(db):
        with psycopg.connect(db, autocommit=True) as watcher:
            while time.monotonic() < deadline:
                row = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
                ).fetchone()
                if row and row[0]:
                    return
                time.sleep(0.002)
    else:
        files = [Path(db), Path(db + ".wal")]
        before = [_size(f) for f in files]
        while time.monotonic() < deadline:
            if [_size(f) for f in files] != before:
                return
            time.sleep(0.002)
    raise AssertionError("the server never started writing the batch")


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_sigkill_mid_batch_loses_nothing_acknowledged_and_shows_no_partial_batch(
    backend: str, tmp_path: Path, server_factory: Any, request: pytest.FixtureRequest
) -> None:
    db = request.getfixturevalue("pg_url") if backend == "postgres" else str(tmp_path / "x.duckdb")
    _, monitor = _admin_and_monitor(db)
    server: Server = server_factory(db)
    server.start()
    acked: set[str] = set()
    for b in range(3):  # earlier batches, acknowledged
        r = _post_csv(server.url, monitor, _csv([f"small-{b}-{i}" for i in range(1_000)], b))
        assert r.status_code == 201, r.text
        acked |= set(r.json()["ids"])

    # A large batch, killed while its transaction writes (after reading and checking it).
    big = _csv([f"big-{i}" for i in range(BIG)], 11)
    failed: list[BaseException] = []

    def send() -> None:
        try:
            r = _post_csv(server.url, monitor, big)
            failed.append(AssertionError(f"answered {r.status_code} before the kill"))
        except httpx.TransportError:  # the server died under it: expected
            failed.append(ConnectionAbortedError())

    sender = threading.Thread(target=send)
    sender.start()
    _upload_received(server.data_dir, len(big))
    _writing(db)
    server.kill()
    sender.join(timeout=60)
    assert len(failed) == 1 and isinstance(failed[0], ConnectionAbortedError), failed

    server.start()  # the same store: it must open cleanly and answer
    auth = {"Authorization": f"Bearer {monitor}"}
    r = httpx.get(server.url + "/evidence/observations?limit=1", headers=auth, timeout=60)
    assert r.status_code == 200
    killed = r.json()["total"] - len(acked)
    assert killed in (0, BIG), f"a partial batch is visible: {killed} of {BIG} rows"
    server.stop()

    stored = _stored_ids(db)  # the store itself, opened directly
    assert max(stored.values()) == 1
    assert acked <= set(stored)  # nothing acknowledged is lost
    assert sum(1 for i in stored if i.startswith("big-")) == killed
    assert sum(stored.values()) == len(acked) + killed
    print(f"\n{backend}: the killed batch was {'whole' if killed else 'absent'} after restart")


# ---------------------------------------------------------------------- 3. schemathesis


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """An app with an agreement, evidence and a report, so that generated ids sometimes hit."""
    api = make_api(None, tmp_path_factory.mktemp("fuzz"))
    upload_toy(api)
    api.post("monitor", "/evidence/observations", json=obs())
    api.post("admin", "/findings/evaluate", json={"agreement": "toy"})
    yield api
    api.app.state.backend.close()


@schemathesis.serializer("text/csv")
def _csv_body(ctx: Any, value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("utf-8")


def _fuzz(
    operation: Any, mode: GenerationMode, headers: dict[str, str], calls: Counter[str]
) -> Any:
    """A Hypothesis test sending generated requests (``mode``: valid or invalid by the
    document) for one operation."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES[mode], deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate])  # fmt: skip
    def check(case: Any) -> None:
        calls[f"{case.operation.label} {mode.value}"] += 1
        case.call_and_validate(headers=headers, checks=[not_a_server_error])

    return check


def test_no_server_errors_from_generated_requests(fuzzed: Api) -> None:
    """Every operation, a bounded number of generated requests each (schemathesis' pytest
    plugin does not run under this pytest, so each operation's strategy is driven here)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzzed.app)
    admin = {"Authorization": f"Bearer {fuzzed.tokens['admin']}"}
    # Only parties reach the hotline's handlers; the admin reaches everything else.
    west = {"Authorization": f"Bearer {fuzzed.tokens['west']}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    started = time.perf_counter()
    calls = Counter[str]()
    for operation in operations:
        headers = west if operation.path.startswith("/hotline") else admin
        for mode in EXAMPLES:
            try:
                _fuzz(operation, mode, headers, calls)()
            except Unsatisfiable:  # nothing can break a schema without parameters or body
                assert mode is GenerationMode.NEGATIVE
                calls[f"{operation.label} {mode.value}"] += 0
    print(f"\n{sum(calls.values())} generated requests over {len(calls)} operations in "
          f"{time.perf_counter() - started:.1f} s")  # fmt: skip
    assert len(calls) == len(operations) * len(EXAMPLES)
