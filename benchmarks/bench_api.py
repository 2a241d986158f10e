"""API load: requests per second and latency of reads and writes against `detente serve`.

    python benchmarks/bench_api.py                      # DuckDB, and PostgreSQL if it can start
    BENCH_API_SECONDS=5 BENCH_API_N=20000 BENCH_API_PG=0 python benchmarks/bench_api.py

For each store (a DuckDB file; a throwaway PostgreSQL server from ``tests/pg_server.py`` when
PostgreSQL and PostGIS are installed), ``detente serve`` runs in a subprocess on 127.0.0.1 (a
free port, loopback only). The store is seeded before the server starts with ``BENCH_API_N``
(default 100,000) SYNTHETIC sightings around the Minsk II lines (``detente.synth``), the Minsk II
agreement is uploaded through the API and evaluated once. Then, for ``BENCH_API_SECONDS``
(default 10) each, 8 client threads (one keep-alive connection each) send as fast as they can:

- ``GET /findings?agreement=minsk2`` — the latest report (read);
- ``GET /evidence/observations?bbox=…&limit=100`` — a 0.5° box near the contact line (read);
- ``POST /evidence/observations/batch`` — 100 new observations as JSON (write: validated,
  hashed and stored in one transaction).

Requests per second are the responses (all must be 2xx) divided by the wall time; p50 and p99
are over every request's latency. Client and server share the machine's cores, so these are
the numbers of one box serving itself; the 1-minute load average is recorded beside them.
Results go to ``benchmarks/results/api.json`` and ``api.md``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import count
from pathlib import Path
from threading import Lock
from typing import Any

import httpx
import numpy as np
from _results import write_results  # benchmarks/ is on sys.path when run as a script

from detente.agreement import load_agreement
from detente.store import open_store
from detente.store._db import Database
from detente.synth import synthesize
from detente.users import Users

ROOT = Path(__file__).resolve().parent.parent
MINSK = ROOT / "examples" / "minsk2"
sys.path.insert(0, str(ROOT / "tests"))  # the servers and fixtures the tests use
from dashboard_server import upload_and_evaluate  # noqa: E402

THREADS = 8
BATCH = 100
BBOX = "37.5,47.8,38.0,48.3"  # around Donetsk, by the contact line


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def seed(db: str, folder: Path, n: int) -> tuple[str, str]:
    """Users and ``n`` SYNTHETIC sightings, stored before the server opens the store."""
    csv = folder / "synthetic.csv"
    synthesize(load_agreement(MINSK / "agreement.yaml"), n=n, seed=3).to_csv(csv, index=False)
    with open_store(db) as store:
        store.ingest_observations(csv)
    database = Database.open(db)
    try:
        users = Users(database)
        return users.add("bench-admin", "admin"), users.add("bench-monitor", "monitor")
    finally:
        database.close()


class Server:
    """``detente serve`` in a subprocess on loopback."""

    def __init__(self, db: str, folder: Path) -> None:
        self.url = f"http://127.0.0.1:{_free_port()}"
        command = [sys.executable, "-m", "detente", "serve", "--db", db, "--host", "127.0.0.1",
                   "--port", self.url.rsplit(":", 1)[1], "--data-dir", str(folder / "data"),
                   "--log-level", "warning"]  # fmt: skip
        self.log = (folder / "server.log").open("wb")
        self.proc = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError((folder / "server.log").read_text()[-3000:])
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError("the server did not start")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def load(
    url: str, token: str, seconds: float, request: Callable[[httpx.Client, int], httpx.Response]
) -> dict[str, Any]:
    """THREADS clients sending ``request`` back to back for ``seconds``; rate and latency."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = Lock()
    numbers = count()
    stop_at = time.perf_counter() + seconds

    def client(_: int) -> None:
        mine: list[float] = []
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=120) as http:
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                r = request(http, next(numbers))
                mine.append(time.perf_counter() - started)
                if not r.is_success:
                    with lock:
                        failures.append(f"{r.status_code} {r.text[:200]}")
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(client, range(THREADS)))
    wall = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} failed requests, e.g. {failures[0]}")
    ms = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "seconds": round(wall, 2),
        "requests_per_s": round(len(latencies) / wall, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "load_1min": round(os.getloadavg()[0], 1),
    }


def _batch(n: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(n)
    return [
        {"id": f"bench-{n}-{i}", "time": "2016-05-01T12:00:00Z",
         "lon": round(float(rng.uniform(37.5, 38.5)), 5),
         "lat": round(float(rng.uniform(47.8, 48.6)), 5), "actor": "", "kind": "equipment",
         "category": "tank", "count": 1, "source": "SYNTHETIC bench_api", "reliability": "C",
         "credibility": 3, "note": "SYNTHETIC"}
        for i in range(BATCH)
    ]  # fmt: skip


CASES: dict[str, tuple[str, Callable[[httpx.Client, int], httpx.Response]]] = {
    "GET /findings": ("read", lambda c, n: c.get("/findings?agreement=minsk2")),
    "GET /evidence/observations?bbox": (
        "read",
        lambda c, n: c.get(f"/evidence/observations?bbox={BBOX}&limit=100"),
    ),
    f"POST /evidence/observations/batch ({BATCH})": (
        "write",
        lambda c, n: c.post("/evidence/observations/batch", json=_batch(n)),
    ),
}


def run_store(name: str, db: str, folder: Path, n: int, seconds: float) -> list[dict[str, Any]]:
    print(f"{name}: seeding {n:,} observations …", flush=True)
    admin, monitor = seed(db, folder, n)
    server = Server(db, folder)
    try:
        upload_and_evaluate(server.url, admin)
        rows = []
        for case, (kind, request) in CASES.items():
            token = monitor if kind == "write" else admin
            result = load(server.url, token, seconds, request)
            rows.append({"store": name, "case": case, "kind": kind, **result})
            print(f"  {case}: {result['requests_per_s']:,.0f} req/s, "
                  f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms", flush=True)  # fmt: skip
        return rows
    finally:
        server.stop()


def main() -> None:
    n = int(os.environ.get("BENCH_API_N", "100000"))
    seconds = float(os.environ.get("BENCH_API_SECONDS", "10"))
    want_pg = os.environ.get("BENCH_API_PG", "1") != "0"
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        folder = Path(tmp)
        (folder / "duckdb").mkdir()
        rows += run_store("DuckDB", str(folder / "duckdb" / "bench.duckdb"), folder / "duckdb",
                          n, seconds)  # fmt: skip
        skipped = None
        if want_pg:
            from pg_server import PgCluster, PgUnavailable

            try:
                cluster = PgCluster.start()
            except PgUnavailable as exc:
                skipped = str(exc).splitlines()[0]
            else:
                try:
                    (folder / "pg").mkdir()
                    rows += run_store("PostgreSQL", cluster.create_database(), folder / "pg", n,
                                      seconds)  # fmt: skip
                finally:
                    cluster.stop()
    lines = [
        f"API load, {n:,} stored observations, {THREADS} client threads, {seconds:g} s per case, "
        "loopback (client and server on the same machine)",
        "",
        "| store | case | kind | requests | req/s | p50 (ms) | p99 (ms) | load |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['store']} | {r['case']} | {r['kind']} | {r['requests']:,} | "
                     f"{r['requests_per_s']:,.1f} | {r['p50_ms']} | {r['p99_ms']} | "
                     f"{r['load_1min']} |")  # fmt: skip
    if want_pg and skipped:
        lines += ["", f"PostgreSQL not measured: {skipped}"]
    data = {"observations": n, "threads": THREADS, "seconds_per_case": seconds, "cases": rows}
    path = write_results("api", data, "\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
